"""Charla's icon: the committed PNGs are today's drawing, and the Windows and macOS icon
files hold every size those systems ask for."""

from __future__ import annotations

import re
import struct
import subprocess
import tkinter as tk

import pytest

from gui import icon


@pytest.mark.parametrize("size", icon.WINDOW_SIZES)
def test_the_window_icons_in_the_repository_are_the_drawing(size: int) -> None:
    stored = icon.window_icon_path(size).read_bytes()
    assert icon.png_pixels(stored) == (size, icon.render(size)), "run: python -m gui.icon"


def test_the_icon_is_a_rounded_square_with_a_white_bubble() -> None:
    size = 64
    pixels = icon.render(size)

    def rgba(x: int, y: int) -> tuple[int, ...]:
        start = (y * size + x) * 4
        return tuple(pixels[start : start + 4])

    assert rgba(0, 0)[3] == 0  # the corners are see-through, so any taskbar shows around it
    assert rgba(size // 2, 2)[3] == 255  # the edges are solid
    assert rgba(14, size // 2) == (255, 255, 255, 255)  # the front bubble
    assert rgba(int(0.28 * size), int(0.54 * size))[2] > 150  # a blue dot inside it


def test_the_windows_icon_file_holds_each_size_as_a_png() -> None:
    data = icon.ico()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, len(icon.ICO_SIZES))
    for index, size in enumerate(icon.ICO_SIZES):
        width, height, _, _, planes, bits, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * index : 22 + 16 * index]
        )
        assert (width or 256, height or 256, planes, bits) == (size, size, 1, 32)
        assert icon.png_pixels(data[offset : offset + length])[0] == size


def test_the_macos_icon_file_holds_each_size_as_a_png() -> None:
    sizes = (16, 32, 128)  # the 512-pixel one takes seconds to draw
    data = icon.icns(sizes)
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    found = {}
    position = 8
    while position < len(data):
        kind, length = (
            data[position : position + 4],
            struct.unpack(">I", data[position + 4 : position + 8])[0],
        )
        found[kind] = icon.png_pixels(data[position + 8 : position + length])[0]
        position += length
    assert found == {icon.ICNS_TYPES[size]: size for size in sizes}


def test_a_window_gets_the_icon_in_every_size(tk_root: tk.Tk) -> None:
    """What the desktop reads: the _NET_WM_ICON property of the window's X wrapper (the
    parent of Tk's own window), read with xprop (Debian's x11-utils)."""
    assert icon.set_window_icon(tk_root)
    tk_root.update()
    tree = run_x_tool("xwininfo", "-tree", "-id", hex(tk_root.winfo_id()))
    wrapper = re.search(r"Parent window id: (0x[0-9a-f]+)", tree).group(1)
    shown = run_x_tool("xprop", "-len", "4000000", "-id", wrapper, "_NET_WM_ICON")
    sizes = [(int(w), int(h)) for w, h in re.findall(r"Icon \((\d+) x (\d+)\)", shown)]
    assert sizes == [(size, size) for size in icon.WINDOW_SIZES]


def run_x_tool(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout
