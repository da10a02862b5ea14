"""The comforts of the line where the user types: recall, completion, a careful paste.

``EntryComforts`` binds keys on the window's ``tk.Entry``: Enter hands the line to
``submit``; Up and Down bring back what was typed before; Tab completes the nick being
typed from the people in the conversation, ignoring case and accents ("al" finds Álvaro;
": " at the start of the line, as in any chat); Ctrl+A selects the whole line; pasting
several lines asks first, then sends them one by one, ``PASTE_PACE_MS`` apart, so a
paste is never a flood. ``cancel()`` stops a paste still being sent (the window calls it
on close, so no timer outlives the window).

Threading: a helper of Tk widgets; everything runs on the Tk main thread.
"""

from __future__ import annotations

import tkinter as tk
import unicodedata
from collections import deque
from collections.abc import Callable
from tkinter import messagebox

from gui.members import spanish_key
from net.i18n import tr

PASTE_PACE_MS = 400  # between the lines of a multi-line paste


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
