"""The nick list: who is in the conversation, how many, sorted as a Spanish speaker expects.

``MemberPanel(parent, font)`` is a frame holding a count line ("33 personas"), the
``Listbox`` of names and its scrollbar (a class of 33 does not fit at 800×600).
``show(entries)`` fills it with ``(badge, nick)`` pairs already in order; ``order(nicks,
rank)`` puts operators (the teacher, helpers) first, then those with voice, then everyone
else, each group by ``spanish_key``: accents do not count (Álvaro is with the As), case
does not count, and ñ comes after n, as in a Spanish dictionary.

Threading: Tk main thread only.
"""

from __future__ import annotations

import tkinter as tk
import unicodedata
from collections.abc import Callable, Container, Iterable
from tkinter import ttk

from net.i18n import ntr, tr

#: what ñ sorts as: after every "n…" and before "o" (a code point no nick can hold)
_ENYE = "n\U0010ffff"


def spanish_key(nick: str) -> tuple[str, str]:
    """The sort key of ``nick`` in a Spanish list: letters without accents and case, ñ as
    its own letter after n; ties (Ana, ana, Àna) broken by the name itself."""
    folded = nick.casefold().replace("ñ", "\0")
    base = "".join(c for c in unicodedata.normalize("NFD", folded) if not unicodedata.combining(c))
    return base.replace("\0", _ENYE), nick


def order(nicks: Iterable[str], rank: Callable[[str], int]) -> list[str]:
    """``nicks`` by ``rank`` (0 first) and then as a Spanish speaker sorts names."""
    return sorted(nicks, key=lambda nick: (rank(nick), spanish_key(nick)))


def count_text(count: int) -> str:
    """ "1 persona", "33 personas"."""
    return ntr("{count} person", "{count} people", count).format(count=count)


class MemberPanel:
    """The count line, the list of names and its scrollbar, in one frame."""

    def __init__(self, parent: tk.Misc, font: object) -> None:
        self.frame = ttk.Frame(parent)
        self.count = ttk.Label(self.frame, anchor="w", padding=(6, 2))
        self.count.grid(row=0, column=0, columnspan=2, sticky="ew")
        self.listbox = tk.Listbox(
            self.frame, width=18, borderwidth=0, activestyle="none", font=font
        )
        self.scrollbar = ttk.Scrollbar(self.frame, orient="vertical", command=self.listbox.yview)
        self.listbox.configure(yscrollcommand=self.scrollbar.set)
        self.listbox.grid(row=1, column=0, sticky="ns")
        self.scrollbar.grid(row=1, column=1, sticky="ns")
        self.frame.rowconfigure(1, weight=1)

    def show(
        self, entries: list[tuple[str, str]], away: Container[str] = (), muted: str = ""
    ) -> None:
        """The list becomes ``entries`` (badge, nick); those whose nick is in ``away``
        say so, in the ``muted`` colour; the count line follows."""
        self.listbox.delete(0, "end")
        for badge, nick in entries:
            if nick in away:
                self.listbox.insert("end", f"{badge}{nick} {tr('(away)')}")
                if muted:
                    self.listbox.itemconfigure("end", foreground=muted)
            else:
                self.listbox.insert("end", badge + nick)
        self.count.configure(text=count_text(len(entries)) if entries else "")
