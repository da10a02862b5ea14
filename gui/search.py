"""Searching a conversation: matching that ignores case and accents, and the search bar.

``find_all(pattern, line)`` finds ``pattern`` in one line the way a Spanish speaker
expects: "lucia" finds "Lucía", "LUCÍA" and "lucía" typed with a combining accent; the
places it returns are in ``line``'s own characters, so the match drawn is exactly the
text as written. ``SearchBar`` is the bar Ctrl+F opens above the status line: Enter goes
to the next (older) match, Shift+Enter back to the newer one, ▲ and ▼ do the same, every
match is highlighted and the one shown stands out, the count reads "3 de 142
resultados", and × or Escape closes it, giving the view back at its newest line if it
was following them before.

Threading: pure functions, and a Tk widget whose methods run on the Tk main thread.
"""

from __future__ import annotations

import tkinter as tk
import unicodedata
from collections.abc import Callable
from tkinter import ttk
from typing import TYPE_CHECKING

from net.i18n import tr

if TYPE_CHECKING:
    from gui.conversation import ConversationView

_folded_chars: dict[str, str] = {}  # a character -> what it matches as (bounded by Unicode)


def fold_char(char: str) -> str:
    """``char`` without case or accents ("Í" -> "i", "ß" -> "ss"; a lone accent -> "")."""
    folded = _folded_chars.get(char)
    if folded is None:
        decomposed = unicodedata.normalize("NFD", char.casefold())
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
        _folded_chars[char] = folded
    return folded


def fold(text: str) -> str:
    """``text`` without case or accents.

    >>> fold("Lucía ÁLVARO ñandú")
    'lucia alvaro nandu'
    """
    return text.lower() if text.isascii() else "".join(map(fold_char, text))


def find_all(pattern: str, line: str) -> list[tuple[int, int]]:
    """Where ``pattern`` is in ``line``, ignoring case and accents: (start, end) of each
    match, in characters of ``line``.

    >>> find_all("lucia", "Lucía y lucia")
    [(0, 5), (8, 13)]
    """
    needle = fold(pattern)
    if not needle:
        return []
    if line.isascii():  # nearly always: folding keeps every position
        folded, origin = line.lower(), None
    else:
        pieces, origin = [], []
        for index, char in enumerate(line):
            piece = fold_char(char)
            pieces.append(piece)
            origin += [index] * len(piece)  # each folded character -> the one it came from
        folded = "".join(pieces)
    found = []
    position = folded.find(needle)
    while position >= 0:
        last = position + len(needle) - 1
        if origin is None:
            start, end = position, last + 1
        else:
            start, end = origin[position], origin[last] + 1
            while end < len(line) and not fold_char(line[end]):  # its accents, typed apart
                end += 1
        if not found or start >= found[-1][1]:  # "ss" inside one "ß" is one match
            found.append((start, end))
        position = folded.find(needle, position + len(needle))
    return found


class SearchBar(ttk.Frame):
    """See the module docstring. ``current_view()`` gives the conversation on show;
    ``closed()`` is called when the bar closes (the window gives the entry its focus)."""

    def __init__(
        self,
        master: tk.Misc,
        current_view: Callable[[], ConversationView],
        closed: Callable[[], None],
    ) -> None:
        super().__init__(master, padding=(10, 2))
        self.current_view = current_view
        self.closed = closed
        #: a search that found nothing: may load older messages and call ``again`` when
        #: they are in (``gui.social.Social.search_older``); True if it does
        self.search_older: Callable[[ConversationView, Callable[[], None]], bool] | None = None
        self.searched: tuple[str, ConversationView] | None = None  # the last search, where
        self.count = 0  # matches of the last search
        self.shown = 0  # which of them is shown: 0 is the oldest
        self.was_following = True  # the view followed the newest line when the bar opened
        ttk.Label(self, text=tr("Search:")).pack(side="left")
        self.entry = ttk.Entry(self, width=30)
        self.entry.pack(side="left", padx=6)
        self.older = ttk.Button(self, text="▲", width=3, command=lambda: self.step(-1))
        self.older.pack(side="left")
        self.newer = ttk.Button(self, text="▼", width=3, command=lambda: self.step(1))
        self.newer.pack(side="left", padx=(2, 6))
        self.result = ttk.Label(self)
        self.result.pack(side="left")
        self.close_button = ttk.Button(self, text="×", width=3, command=self.close)
        self.close_button.pack(side="right")
        self.entry.bind("<Return>", lambda _e: self.step(-1))
        self.entry.bind("<KP_Enter>", lambda _e: self.step(-1))
        self.entry.bind("<Shift-Return>", lambda _e: self.step(1))
        self.entry.bind("<Escape>", lambda _e: self.close())

    def open(self) -> None:
        if not self.winfo_ismapped():
            self.was_following = self.current_view().following
        self.entry.focus_set()
        self.entry.select_range(0, "end")

    def step(self, direction: int) -> str:
        """Enter, ▲ (``-1``: older) or Shift+Enter, ▼ (``1``: newer): a new text is searched,
        its newest match shown; the same text again moves to the next match, round the
        end. Returns "break": Shift+Enter must not also run the Enter binding."""
        view, pattern = self.current_view(), self.entry.get()
        if self.searched != (pattern, view):
            self.searched = (pattern, view)
            self.count = view.find(pattern)
            self.shown = self.count - 1
            older = self.search_older
            if not self.count and pattern and older and older(view, self._search_again):
                self.result.configure(text=tr("Searching older messages…"))
                return "break"
        elif self.count:
            self.shown = (self.shown + direction) % self.count
        if self.count:
            view.show_match(self.shown)
        self._say()
        return "break"

    def _search_again(self) -> None:
        """The older messages are in: the same search, over everything."""
        if self.searched is not None and self.winfo_exists():
            pattern, view = self.searched
            self.count = view.find(pattern)
            self.shown = self.count - 1
            if self.count:
                view.show_match(self.shown)
            self._say()

    def _say(self) -> None:
        if not self.count:
            text = tr("No results") if self.entry.get() else ""
        elif self.count == 1:
            text = tr("1 result")
        else:
            text = tr("{index} of {count} results").format(
                index=self.count - self.shown, count=self.count
            )
        self.result.configure(text=text)

    def close(self) -> None:
        """Unmark the matches; a view that followed the newest line goes back to it."""
        view = self.current_view()
        view.find("")
        if (
            self.searched is not None
            and self.searched[1] is not view
            and self.searched[1].winfo_exists()  # its tab may have been closed since
        ):
            self.searched[1].find("")
        self.searched, self.count = None, 0
        self.result.configure(text="")
        if self.was_following:
            view.scroll_to_end()
        self.grid_remove()
        self.closed()
