"""Charla's icon: drawn here, from shapes, at every size a desktop asks for.

Two speech bubbles on a blue rounded square: a yellow one behind (someone else) and a
white one in front with three dots (someone typing). Each shape is a signed distance
function, so every pixel gets its exact coverage (smooth edges at 16 px and at 512 px)
with nothing but the standard library.

- ``python -m gui.icon`` redraws the PNGs the window uses for its title bar and taskbar
  (``gui/icons/charla-<size>.png``, committed, checked by a test against this drawing);
- ``build.spec`` saves ``ico()`` and ``icns()`` for the Windows and macOS programs;
- ``set_window_icon(root)`` gives a Tk window those PNGs.

Threading: ``set_window_icon`` on the Tk main thread; the rest is pure.
"""

from __future__ import annotations

import functools
import logging
import math
import struct
import sys
import tkinter as tk
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

log = logging.getLogger(__name__)

ICON_DIR = Path(__file__).with_name("icons")
WINDOW_SIZES = (16, 32, 48, 64, 128, 256)  # what title bars, taskbars and docks pick from
ICO_SIZES = (16, 24, 32, 48, 64, 256)
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08", 512: b"ic09"}

Color = tuple[float, float, float]
Distance = Callable[[float, float], float]  # negative inside, in units of the icon's width

TOP_BLUE: Color = (0x3D, 0x7B, 0xE0)
BOTTOM_BLUE: Color = (0x17, 0x47, 0xA6)
YELLOW: Color = (0xFF, 0xD6, 0x6B)
WHITE: Color = (0xFF, 0xFF, 0xFF)
DOT_BLUE: Color = (0x1A, 0x4F, 0xB4)


def rounded_box(left: float, top: float, right: float, bottom: float, radius: float) -> Distance:
    cx, cy = (left + right) / 2, (top + bottom) / 2
    hx, hy = (right - left) / 2 - radius, (bottom - top) / 2 - radius

    def distance(x: float, y: float) -> float:
        qx, qy = abs(x - cx) - hx, abs(y - cy) - hy
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        return outside + min(max(qx, qy), 0.0) - radius

    return distance


def circle(cx: float, cy: float, radius: float) -> Distance:
    return lambda x, y: math.hypot(x - cx, y - cy) - radius


def triangle(*corners: tuple[float, float]) -> Distance:
    """The exact distance to a triangle (after Inigo Quilez's polygon distance)."""

    def distance(x: float, y: float) -> float:
        best = math.inf
        sign = 1.0
        for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1], strict=True):
            ex, ey, wx, wy = bx - ax, by - ay, x - ax, y - ay
            t = max(0.0, min(1.0, (wx * ex + wy * ey) / (ex * ex + ey * ey)))
            best = min(best, math.hypot(wx - ex * t, wy - ey * t))
            crosses = (ay <= y) != (by <= y)
            if crosses and x < ax + (y - ay) * ex / ey:
                sign = -sign
        return -best if sign < 0 else best

    return distance


def union(*shapes: Distance) -> Distance:
    return lambda x, y: min(shape(x, y) for shape in shapes)


def grown(shape: Distance, amount: float) -> Distance:
    return lambda x, y: shape(x, y) - amount


BACKGROUND = rounded_box(0.03, 0.03, 0.97, 0.97, 0.22)
BACK_BUBBLE = union(
    rounded_box(0.40, 0.15, 0.87, 0.53, 0.12),
    triangle((0.68, 0.50), (0.81, 0.50), (0.86, 0.64)),
)
FRONT_BUBBLE = union(
    rounded_box(0.13, 0.33, 0.71, 0.75, 0.14),
    triangle((0.21, 0.70), (0.37, 0.70), (0.16, 0.87)),
)
DOTS = union(*(circle(x, 0.54, 0.048) for x in (0.28, 0.42, 0.56)))


def _blend(under: Color, over: Color, alpha: float) -> Color:
    return tuple(u + (o - u) * alpha for u, o in zip(under, over, strict=True))  # type: ignore[return-value]


def _coverage(shape: Distance, x: float, y: float, pixel: float) -> float:
    """How much of a pixel the shape covers, from its distance (one pixel of smoothing)."""
    return max(0.0, min(1.0, 0.5 - shape(x, y) / pixel))


@functools.cache
def render(size: int) -> bytes:
    """The icon as ``size`` × ``size`` RGBA pixels, row by row."""
    pixel = 1.0 / size
    out = bytearray()
    for row in range(size):
        y = (row + 0.5) * pixel
        blue = _blend(TOP_BLUE, BOTTOM_BLUE, y)
        for column in range(size):
            x = (column + 0.5) * pixel
            alpha = _coverage(BACKGROUND, x, y, pixel)
            if alpha == 0.0:
                out += b"\0\0\0\0"
                continue
            color = blue
            if size >= 24:  # at 16 px the back bubble is only noise
                color = _blend(color, YELLOW, _coverage(BACK_BUBBLE, x, y, pixel))
                # a ring of background keeps the two bubbles apart
                color = _blend(color, blue, _coverage(grown(FRONT_BUBBLE, 0.03), x, y, pixel))
            color = _blend(color, WHITE, _coverage(FRONT_BUBBLE, x, y, pixel))
            color = _blend(color, DOT_BLUE, _coverage(DOTS, x, y, pixel))
            out += bytes(round(channel) for channel in (*color, alpha * 255))
    return bytes(out)


def png(size: int) -> bytes:
    """A PNG file (8-bit RGBA) of the icon at ``size``."""
    pixels = render(size)
    stride = size * 4
    raw = b"".join(b"\0" + pixels[i : i + stride] for i in range(0, len(pixels), stride))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def png_pixels(data: bytes) -> tuple[int, bytes]:
    """Size and RGBA pixels of a PNG written by ``png`` (unfiltered rows, one IDAT)."""
    size = struct.unpack(">I", data[16:20])[0]
    length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41 : 41 + length])
    stride = size * 4 + 1
    return size, b"".join(raw[i + 1 : i + stride] for i in range(0, len(raw), stride))


def ico(sizes: Iterable[int] = ICO_SIZES) -> bytes:
    """A Windows .ico holding a PNG per size (Windows Vista and later read those)."""
    images = [(size, png(size)) for size in sizes]
    offset = 6 + 16 * len(images)
    directory, data = b"", b""
    for size, image in images:
        side = 0 if size >= 256 else size  # 0 means 256 in an icon directory
        directory += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
        data += image
    return struct.pack("<HHH", 0, 1, len(images)) + directory + data


def icns(sizes: Iterable[int] = tuple(ICNS_TYPES)) -> bytes:
    """A macOS .icns holding a PNG per size."""
    body = b"".join(
        ICNS_TYPES[size] + struct.pack(">I", 8 + len(image)) + image
        for size in sizes
        for image in (png(size),)
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def save(data: bytes, path: Path | str) -> str:
    """Write an icon file (``ico()``, ``icns()``), making its folder; its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def window_icon_path(size: int) -> Path:
    return ICON_DIR / f"charla-{size}.png"


def set_window_icon(root: tk.Tk) -> bool:
    """Title bar, taskbar and Alt+Tab icon for this and every later window of ``root``."""
    try:
        images = [tk.PhotoImage(master=root, file=window_icon_path(s)) for s in WINDOW_SIZES]
        root.iconphoto(True, *images)
    except (OSError, tk.TclError):  # a missing file only costs the icon
        log.warning("could not set the window icon", exc_info=True)
        return False
    root._charla_icons = images  # type: ignore[attr-defined]  # Tk forgets unreferenced images
    return True


def main() -> int:
    ICON_DIR.mkdir(exist_ok=True)
    for size in WINDOW_SIZES:
        window_icon_path(size).write_bytes(png(size))
        print(window_icon_path(size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
