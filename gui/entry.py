"""The comforts of the line where the user types: recall, completion, a careful paste.

``EntryComforts`` binds keys on the window's ``tk.Entry``: Enter hands the line to
``submit``; Up and Down bring back what was typed before; Tab completes the nick being
typed from the people in the conversation, ignoring case and accents ("al" finds Álvaro;
": " at the start of the line, as in any chat); Ctrl+A selects the whole line; pasting
several lines asks first, then sends them one by one, ``PASTE_PACE_MS`` apart, so a
paste is never a flood. ``cancel()`` stops a paste still being sent (the window calls it
on close, so no timer outlives the window). ``catch_typing(toplevel)``
sends what is typed anywhere else in the window (after clicking a tab, the nick list or
the conversation to select text) to the entry, so no keystroke is lost; a field that takes
typing itself (search) keeps it, and dialogs are other toplevels, never reached.

Threading: a helper of Tk widgets; everything runs on the Tk main thread.
"""

from __future__ import annotations

import sys
import tkinter as tk
import unicodedata
from collections import deque
from collections.abc import Callable
from tkinter import messagebox, ttk

from gui.members import spanish_key
from net.i18n import tr

PASTE_PACE_MS = 400  # between the lines of a multi-line paste
#: event.state bits of a key meant for the menus, not for the text: Alt (on Windows
#: AltGr, which types "@" on a Spanish keyboard, is Ctrl+Alt and still types)
MENU_KEY_STATE = 0x20000 if sys.platform == "win32" else 0x8
CONTROL_STATE = 0x4


def plain(text: str) -> str:
    """``text`` without case or accents, for completion: "Álvaro" -> "alvaro"."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


class EntryComforts:
    """See the module docstring. ``nicks_here()`` gives the nicks Tab may complete."""

    def __init__(
        self,
        entry: tk.Entry,
        submit: Callable[[str], None],
        nicks_here: Callable[[], list[str]],
    ) -> None:
        self.entry = entry
        self.submit = submit
        self.nicks_here = nicks_here
        self.sent: list[str] = []  # what the user typed, oldest first, for Up/Down
        self.sent_index = 0  # where Up/Down are in ``sent`` (len(sent): a fresh line)
        self._paste_lines: deque[str] = deque()  # pasted lines not sent yet
        self._paste_id: str | None = None  # the after() that sends the next of them
        entry.bind("<Return>", self._on_return)
        entry.bind("<Up>", lambda _e: self.recall(-1))
        entry.bind("<Down>", lambda _e: self.recall(1))
        entry.bind("<Tab>", self._on_tab)
        for key in ("<Control-a>", "<Control-A>"):  # not Tk's "start of line" (Emacs)
            entry.bind(key, self._select_all)
        entry.bind("<<Paste>>", self._on_paste)

    def catch_typing(self, toplevel: tk.Misc) -> None:
        """Keys pressed in any widget of ``toplevel`` that does not take typing go to the
        entry (see the module docstring)."""
        toplevel.bind("<KeyPress>", self._on_stray_key, add=True)

    def _on_stray_key(self, event: tk.Event) -> str | None:
        widget = event.widget
        if widget is self.entry or isinstance(widget, tk.Entry | ttk.Entry):
            return None  # it typed there already
        if isinstance(widget, tk.Text) and str(widget.cget("state")) == "normal":
            return None
        char = event.char
        state = int(event.state) if isinstance(event.state, int) else 0
        if event.keysym in ("Return", "KP_Enter"):
            self.entry.focus_set()
            return self._on_return()
        if event.keysym == "BackSpace":
            self.entry.focus_set()
            index = self.entry.index("insert")
            if index:
                self.entry.delete(index - 1)
            return "break"
        menu_key = state & MENU_KEY_STATE and not state & CONTROL_STATE
        if not char or not char.isprintable() or menu_key:
            return None  # Ctrl+C to copy, arrows, Alt+letter for the menus: theirs
        self.entry.focus_set()
        self.entry.insert("insert", char)
        self.entry.xview("insert")
        return "break"

    def _on_return(self, _event: tk.Event | None = None) -> str:
        line = self.entry.get()
        self.entry.delete(0, "end")
        if line.strip():
            self.sent.append(line)
            self.sent_index = len(self.sent)
        self.submit(line)
        return "break"

    def recall(self, step: int) -> str:
        """Up (-1) or Down (+1) through what was typed before."""
        if self.sent:
            self.sent_index = max(0, min(len(self.sent), self.sent_index + step))
            self.entry.delete(0, "end")
            if self.sent_index < len(self.sent):
                self.entry.insert(0, self.sent[self.sent_index])
        return "break"

    def _on_tab(self, _event: tk.Event) -> str:
        entry = self.entry
        text = entry.get()[: entry.index("insert")]
        word = text.split(" ")[-1]
        if word:
            folded = plain(word)
            matches = [n for n in self.nicks_here() if plain(n).startswith(folded)]
            if matches:
                completion = min(matches, key=spanish_key) + (": " if text == word else " ")
                entry.delete(entry.index("insert") - len(word), "insert")
                entry.insert("insert", completion)
        return "break"

    def _select_all(self, _event: tk.Event) -> str:
        self.entry.selection_range(0, "end")
        self.entry.icursor("end")
        return "break"

    def _on_paste(self, _event: tk.Event) -> str | None:
        try:
            pasted = self.entry.clipboard_get()
        except tk.TclError:
            return None
        lines = [line for line in pasted.splitlines() if line.strip()]
        if len(lines) < 2:
            return None  # one line: Tk pastes it into the entry as usual
        if messagebox.askyesno(
            "Charla",
            tr("Send these {count} lines?").format(count=len(lines)),
            parent=self.entry.winfo_toplevel(),
        ):
            self.send_paced(lines)
        return "break"

    def send_paced(self, lines: list[str]) -> None:
        """Send ``lines`` one by one at a polite pace (after any paste still being sent)."""
        self._paste_lines.extend(lines)
        if self._paste_id is None:
            self._send_next_pasted()

    def _send_next_pasted(self) -> None:
        self._paste_id = None
        if self._paste_lines:
            self.submit(self._paste_lines.popleft())  # "/salir" here calls cancel()
        if self._paste_lines:
            self._paste_id = self.entry.after(PASTE_PACE_MS, self._send_next_pasted)

    def cancel(self) -> None:
        """Forget a paste still being sent; its timer is cancelled."""
        self._paste_lines.clear()
        if self._paste_id is not None:
            self.entry.after_cancel(self._paste_id)
            self._paste_id = None
