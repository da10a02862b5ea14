"""gui/pictures.py: a picture sent from one real window appears in another, under Xvfb.

Two windows on a real server: a PNG chosen in one (as the 📎 button's chooser would
give it) is uploaded off the Tk thread and shows as a thumbnail of at most 240 px in
both; a click opens it whole; a GIF too; a JPEG and a broken PNG leave only the link;
a file path pasted asks first; a refused file says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tkinter as tk
from pathlib import Path

from gui.app import ChatWindow
from gui.pictures import THUMBNAIL_SIDE, paths_in, picture_size
from tests.support import wait_for_windows as wait_until
from tests.test_uploads import tiny_png


def pictures_in(window: ChatWindow) -> list[tuple[int, int]]:
    """The sizes of the pictures shown in #general, in order."""
    text = window.views["#general"].text
    sizes = []
    for _key, name, _index in text.dump("1.0", "end", image=True):
        sizes.append(
            (int(text.tk.call("image", "width", name)), int(text.tk.call("image", "height", name)))
        )
    return sizes


def gif_bytes(root: tk.Misc, width: int, height: int) -> bytes:
    """A real GIF, written by Tk."""
    image = tk.PhotoImage(master=root, width=width, height=height)
    image.put("#1f77b4", to=(0, 0, width, height))
    data = image.tk.call(image, "data", "-format", "gif")
    import base64

    return base64.b64decode(data) if isinstance(data, str) else bytes(data)


def test_a_picture_sent_from_one_window_is_a_thumbnail_in_the_other(
    open_window, tmp_path: Path
) -> None:
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    big = tmp_path / "pizarra.png"
    big.write_bytes(tiny_png(600, 300))
    assert ana.pictures.send_file(big)
    wait_until(both, lambda: pictures_in(bea) == [(200, 100)])
    wait_until(both, lambda: pictures_in(ana) == [(200, 100)])  # its own line, too
    assert max(pictures_in(bea)[0]) <= THUMBNAIL_SIDE
    assert "📎 pizarra.png http://127.0.0.1:" in bea.views["#general"].plain_text()
    text = bea.views["#general"].text
    [(_key, _name, index)] = text.dump("1.0", "end", image=True)
    text.see(index)
    bea.root.update()
    x, y, width, height = text.bbox(index)
    # a click on it: the pointer moves there first (Tk's "current" follows the pointer)
    text.event_generate("<Motion>", x=x + width // 2, y=y + height // 2)
    text.event_generate("<Button-1>", x=x + width // 2, y=y + height // 2)
    wait_until(both, lambda: len(bea.pictures.viewers) == 1)
    top = bea.pictures.viewers[0]
    wait_until(both, lambda: top.winfo_width() >= 600)  # whole
    top.destroy()
    assert bea.pictures.viewers == []
    gif = tmp_path / "dibujo.gif"
    gif.write_bytes(gif_bytes(ana.root, 50, 40))
    ana.pictures.send_file(gif)
    wait_until(both, lambda: pictures_in(bea) == [(200, 100), (50, 40)])
    if shutil.which("import"):  # a picture you look at: docs/pictures-screenshot.png
        out = Path(os.environ.get("CHARLA_SHOT", tmp_path / "pictures.png"))
        bea.root.update()
        subprocess.run(
            ["import", "-window", str(bea.root.winfo_id()), str(out)],
            check=True,
            timeout=20,
            env={**os.environ, "DISPLAY": bea.root.winfo_screen()},
        )


def test_jpeg_and_broken_pictures_stay_links_and_refusals_are_said(
    open_window, tmp_path: Path
) -> None:
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    jpeg = tmp_path / "foto.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    broken = tmp_path / "roto.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(300))
    huge = tmp_path / "enorme.png"
    huge.write_bytes(tiny_png(5000, 2))  # wider than MAX_SIDE: not decoded
    ana.pictures.send_file(jpeg)
    ana.pictures.send_file(broken)
    ana.pictures.send_file(huge)
    wait_until(both, lambda: "enorme.png http://" in bea.views["#general"].plain_text())
    wait_until(both, lambda: not bea.pictures.asked or bea.client._file_jobs.empty())
    bea.root.update()
    assert pictures_in(bea) == []
    assert "foto.jpg http://" in bea.views["#general"].plain_text()
    fake = tmp_path / "tarea.pdf"
    fake.write_bytes(b"no soy un pdf")
    ana.pictures.send_file(fake)
    wait_until(
        both,
        lambda: (
            "tarea.pdf was not sent: Only pictures (PNG, GIF, JPEG) and PDF files."
            in ana.views["#general"].plain_text()
        ),
    )


def test_pasted_paths_and_file_uris_name_files(tmp_path: Path) -> None:
    picture = tmp_path / "mi foto.png"
    picture.write_bytes(tiny_png())
    (tmp_path / "notas.txt").write_text("x")
    assert paths_in(str(picture)) == [picture]
    assert paths_in(f"copy\nfile://{str(picture).replace(' ', '%20')}\n") == [picture]
    assert paths_in(str(tmp_path / "notas.txt")) == []
    assert paths_in("hola, ¿qué tal?") == []
    assert picture_size(tiny_png(7, 3)) == (7, 3)


def test_a_pasted_file_path_asks_then_sends(open_window, tmp_path: Path, monkeypatch) -> None:
    from gui import pictures

    asked: list[str] = []
    monkeypatch.setattr(
        pictures.messagebox,
        "askyesno",
        lambda _title, question, **_kw: asked.append(question) or True,
    )
    ana = open_window("ana")
    wait_until([ana], lambda: ana.nick_list.get(0, "end") == ("ana",))
    picture = tmp_path / "esquema.png"
    picture.write_bytes(tiny_png(30, 20))
    ana.root.clipboard_clear()
    ana.root.clipboard_append(f"file://{picture}\n")
    ana.entry.focus_force()
    ana.entry.event_generate("<<Paste>>")
    assert asked == ["Send esquema.png to #general?"]
    assert ana.entry.get() == ""  # the path was not pasted as text
    wait_until([ana], lambda: pictures_in(ana) == [(30, 20)])
    ana.root.clipboard_clear()
    ana.root.clipboard_append("solo texto")
    ana.entry.event_generate("<<Paste>>")
    assert ana.entry.get() == "solo texto" and len(asked) == 1
