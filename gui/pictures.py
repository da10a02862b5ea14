"""Pictures and PDFs in the window: sending them, and showing the ones others send.

Sending (``Pictures.send_file``): the 📎 button beside the entry and **Ver → Enviar una
foto o un PDF…** open a file chooser; a paste (Ctrl+V) of a file's path, or of a file
copied in a file manager (``file:///…`` lines), asks "¿Enviar foto.png a #general?"
first. A picture copied as an image (not a file) is sent when Tk can read it from the
clipboard (X11: the ``image/png`` target, which Tk hands over as hexadecimal numbers);
elsewhere Tk has no way to. Dropping a file on the window needs the ``tkdnd`` extension,
which plain Tk does not have: not offered. The upload itself runs on the client's files
thread (``net.client.ChatClient.upload``); the status line says how far it is ("Enviando
foto.png… 40 %"), and the conversation says when it fails and why.

Showing: a message carrying a link to a file of the server (``/f/<id>``) named ``*.png``
or ``*.gif`` gets a slot under it (``ConversationView.add_picture_slot``); the file is
fetched from the server we are connected to (never the host written in the link: anyone
can write a link) on the files thread, at most ``THUMBNAIL_BYTES``, decoded by Tk's own
``PhotoImage`` only if its header says at most ``MAX_SIDE`` pixels a side, and shown
subsampled to at most ``THUMBNAIL_SIDE`` pixels; a click fetches it again and opens it
whole in a window of its own (made smaller to fit the screen), kept only while that is
open. At most ``MAX_THUMBNAILS`` thumbnails are kept (the oldest go blank); a file that
is broken, too big or gone leaves only the link. JPEG and PDF stay a named link (Tk reads
neither), which opens in the browser.

Threading: everything here runs on the Tk main thread; the client's files thread only
puts events on the window's queue.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
import tkinter as tk
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from tkinter import filedialog, messagebox, ttk
from typing import Any
from urllib.parse import unquote, urlparse

from net import events as ev
from net.i18n import tr

log = logging.getLogger(__name__)

#: a link to a file of a Charla server, and the name said before it ("📎 foto.png http://…")
FILE_LINK = re.compile(r"(\S+)\s+https?://[^\s/]+/f/([A-Za-z0-9_-]{22})\b")
THUMBNAIL_SIDE = 240
THUMBNAIL_BYTES = 2 * 1024 * 1024
#: a picture is decoded (Tk: 4 bytes a pixel, on the Tk thread) only up to this size
MAX_SIDE = 4096
MAX_PIXELS = 8 * 1024 * 1024
MAX_THUMBNAILS = 60  # thumbnails kept (each at most 240 x 240 x 4 bytes: 14 MB in all)
#: the whole picture, fetched again when clicked (not kept: 32 MB decoded at worst)
FULL_BYTES = 8 * 1024 * 1024
SENDABLE = {".png", ".gif", ".jpg", ".jpeg", ".pdf"}
Window = Any  # a gui.app.ChatWindow (which imports this module)


def picture_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's or GIF's header, without decoding it; None otherwise.

    >>> picture_size(b"GIF89a" + bytes([10, 0, 20, 0]))
    (10, 20)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24 and data[12:16] == b"IHDR":
        return struct.unpack(">II", data[16:24])
    if data.startswith((b"GIF87a", b"GIF89a")) and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def paths_in(text: str) -> list[Path]:
    """Files named by pasted text: one path, or ``file://`` lines (a file manager's copy)."""
    found = []
    for line in text.strip().splitlines()[:20]:
        line = line.strip()
        if line.startswith("file://"):
            line = unquote(urlparse(line).path)
        if line and len(line) < 4096:
            path = Path(line).expanduser()
            try:
                if path.suffix.lower() in SENDABLE and path.is_file():
                    found.append(path)
            except OSError:
                continue
    return found


class Pictures:
    """The window's pictures (see the module docstring)."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.root: tk.Tk = window.root
        #: file id -> its thumbnail, newest last (MAX_THUMBNAILS at most)
        self.images: OrderedDict[str, tk.PhotoImage] = OrderedDict()
        self.asked: set[str] = set()  # file ids fetched or being fetched (bounded below)
        self.opening: set[str] = set()  # file ids clicked: fetched whole, to open
        self.viewers: list[tk.Toplevel] = []  # the pictures open whole
        # like the 🙂 beside it (gui.emoji): a ttk button, so the theme paints it
        self.button = ttk.Button(
            window.root, text="📎", width=3, command=self.choose_file, takefocus=False
        )
        self.button.grid(row=2, column=1, sticky="e", padx=(0, 6), pady=6)
        # before the entry's own bindings (gui.entry asks about a paste of several lines):
        # a paste that names files is ours, and stops there
        entry = self.window.entry
        entry.bindtags(("CharlaPictures", *entry.bindtags()))
        entry.bind_class("CharlaPictures", "<<Paste>>", self._on_paste)

    def add_menu_item(self, menu: tk.Menu) -> None:
        menu.insert_command(0, label=tr("Send a picture or PDF…"), command=self.choose_file)

    # -- sending ---------------------------------------------------------------------

    def choose_file(self) -> None:
        path = filedialog.askopenfilename(
            parent=self.root,
            title=tr("Send a picture or PDF"),
            filetypes=[
                (tr("Pictures and PDF"), "*.png *.gif *.jpg *.jpeg *.pdf"),
                (tr("All files"), "*"),
            ],
        )
        if path:
            self.send_file(Path(path))

    def send_file(self, path: Path) -> bool:
        """Upload ``path`` to the conversation on show."""
        target = self.window.current_name()
        if not self.window.client.upload(target, path):
            self._say(target, tr("Too many files waiting to go; try again in a moment."))
            return False
        self.window.status.configure(text=tr("Sending {name}…").format(name=path.name))
        return True

    def _on_paste(self, _event: tk.Event) -> str | None:
        try:
            text = self.root.clipboard_get()
        except tk.TclError:
            text = ""
        paths = paths_in(text) if text else []
        if paths:
            names = ", ".join(p.name for p in paths)
            question = tr("Send {names} to {target}?").format(
                names=names, target=self.window.current_name()
            )
            if messagebox.askyesno("Charla", question, parent=self.root):
                for path in paths:
                    self.send_file(path)
            return "break"
        data = self._clipboard_picture()
        if data is not None:
            target = self.window.current_name()
            question = tr("Send the copied picture to {target}?").format(target=target)
            if messagebox.askyesno("Charla", question, parent=self.root):
                self.window.client.upload_bytes(target, data, "captura.png")
            return "break"
        return None  # an ordinary paste of text

    def _clipboard_picture(self) -> bytes | None:
        """A PNG copied as an image, where Tk can get it (X11); else None."""
        try:
            raw = self.root.clipboard_get(type="image/png")
        except tk.TclError:
            return None
        try:  # Tk gives a type it does not know as hexadecimal numbers, one per byte
            data = bytes(int(word, 16) for word in raw.split())
        except ValueError:
            return None
        return data if data.startswith(b"\x89PNG") else None

    # -- events from the client ----------------------------------------------------

    def on_progress(self, event: ev.UploadProgress) -> None:
        percent = 100 * event.sent // max(1, event.total)
        self.window.status.configure(
            text=tr("Sending {name}… {percent} %").format(name=event.name, percent=percent)
        )

    def on_done(self, event: ev.UploadDone) -> None:
        self.window.show_status()

    def on_failed(self, event: ev.UploadFailed) -> None:
        self.window.show_status()
        self._say(
            event.target,
            tr("{name} was not sent: {reason}").format(name=event.name, reason=event.reason),
        )

    def _say(self, target: str, text: str) -> None:
        view = self.window.view_for(target)
        view.add_system(datetime.now(timezone.utc), text)

    # -- showing -------------------------------------------------------------------

    def saw_message(self, view: Any, text: str) -> None:
        """A message was added to ``view``: a PNG or GIF of the server's gets a slot."""
        if "/f/" not in text:
            return
        for match in FILE_LINK.finditer(text):
            name, file_id = match.groups()
            if not name.lower().endswith((".png", ".gif")):
                continue
            view.add_picture_slot(file_id)
            if file_id in self.images:
                self.root.after_idle(lambda v=view, f=file_id: self._fill(v, f))
            elif file_id not in self.asked:
                if len(self.asked) > 10 * MAX_THUMBNAILS:
                    self.asked.clear()  # bounded: at worst a picture is fetched twice
                self.asked.add(file_id)
                self.window.client.fetch_file(file_id, THUMBNAIL_BYTES)

    def on_fetched(self, event: ev.FileFetched) -> None:
        full = self._decode(event)
        if event.file_id in self.opening:
            self.opening.discard(event.file_id)
            if full is not None:
                self._show_whole(full)
            return
        if full is None:
            return  # the link alone stays
        factor = -(-max(full.width(), full.height()) // THUMBNAIL_SIDE)  # ceiling
        self.images[event.file_id] = full.subsample(factor) if factor > 1 else full
        del full  # the whole picture is not kept (see the module docstring)
        while len(self.images) > MAX_THUMBNAILS:
            self.images.popitem(last=False)
        for view in list(self.window.views.values()):
            self._fill(view, event.file_id)

    def _decode(self, event: ev.FileFetched) -> tk.PhotoImage | None:
        data = event.data
        if data is None or event.content_type not in ("image/png", "image/gif"):
            return None
        size = picture_size(data)
        if size is None or not (0 < size[0] <= MAX_SIDE and 0 < size[1] <= MAX_SIDE):
            return None
        if size[0] * size[1] > MAX_PIXELS:
            return None
        try:
            return tk.PhotoImage(master=self.root, data=base64.b64encode(data).decode("ascii"))
        except tk.TclError:
            return None  # broken: the link alone

    def _fill(self, view: Any, file_id: str) -> None:
        image = self.images.get(file_id)
        if image is not None and view.winfo_exists():
            view.show_picture(file_id, image, lambda: self.open_full(file_id))

    def open_full(self, file_id: str) -> None:
        """Fetch the picture again, whole, and open it in a window of its own."""
        if file_id not in self.opening and self.window.client.fetch_file(file_id, FULL_BYTES):
            self.opening.add(file_id)

    def _show_whole(self, full: tk.PhotoImage) -> None:
        room_w = max(200, self.root.winfo_screenwidth() - 80)
        room_h = max(200, self.root.winfo_screenheight() - 120)
        factor = max(-(-full.width() // room_w), -(-full.height() // room_h))
        shown = full.subsample(factor) if factor > 1 else full
        top = tk.Toplevel(self.root)
        top.title("Charla")
        label = tk.Label(top, image=shown)
        label.image = shown  # type: ignore[attr-defined]  # kept while shown
        label.pack()
        top.bind("<Escape>", lambda _e: top.destroy())
        top.bind("<Destroy>", lambda e: e.widget is top and self._closed_viewer(top))
        self.viewers.append(top)

    def _closed_viewer(self, top: tk.Toplevel) -> None:
        if top in self.viewers:
            self.viewers.remove(top)
