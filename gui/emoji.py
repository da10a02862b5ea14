"""Emoji: drawn as well as Tk 8.6 can, and a small picker beside the entry.

Tk 8.6 draws one glyph per character and knows nothing of emoji sequences: 👋🏽 comes out
as 👋 and a brown square (the skin tone drawn on its own), 1️⃣ as 1 and a box.
``hidden_parts(text)`` decides which characters of a message the conversation hides (an
elided Text tag, ``gui.conversation``): a skin tone after another character, the
zero-width joiner of sequences such as 👩‍🏫 (shown as 👩🏫), a keycap's frame, the tag
characters of subdivision flags. They stay in the Text, so what is copied or searched is
the message exactly as it was written.

``EmojiPicker`` is the 🙂 button beside the entry and its panel of the emoji a class uses
(``CLASS_EMOJI``): a click, or Ctrl+. in the entry, opens it; the arrows move, Enter or
Space puts the emoji at the entry's cursor, Escape (or the button again) closes it. It
takes the theme's colours each time it opens, and the window's font, so it zooms with the
conversation.

Threading: ``hidden_parts`` is a pure function (any thread); the picker is Tk, main
thread only.
"""

from __future__ import annotations

import re
import tkinter as tk
from collections.abc import Callable
from tkinter import font as tkfont
from tkinter import ttk

from gui.theme import Theme
from net.i18n import tr

#: the emoji a class uses, in the order the panel shows them
CLASS_EMOJI = (
    "👍", "👎", "✋", "👋", "🙏", "👏", "💪", "👀",
    "😀", "😂", "😅", "😊", "😮", "😢", "🤔", "😴",
    "❤️", "🎉", "✅", "❌", "❓", "❗", "🔥", "💡",
    "📎", "📚", "✏️", "💻", "⏰", "☕", "🙂", "🙃",
)  # fmt: skip
COLUMNS = 8  # emoji per row of the panel

#: what Tk 8.6 would draw as a box of its own: a skin tone (after another character), a
#: zero-width joiner, a keycap's frame, tag characters (subdivision flags)
_HIDDEN = re.compile(r"(?<=[^\s])[\U0001F3FB-\U0001F3FF]|[\u200d\u20e3\U000E0020-\U000E007F]")
_MAYBE = re.compile(r"[\U0001F3FB-\U0001F3FF\u200d\u20e3\U000E0020-\U000E007F]")


def hidden_parts(text: str) -> list[tuple[int, int]]:
    """The (start, end) ranges of ``text`` to hide when drawn with Tk 8.6 (none usually).

    >>> hidden_parts("hola 👋🏽"), hidden_parts("👩\u200d🏫"), hidden_parts("🏽 solo")
    ([(6, 7)], [(1, 2)], [])
    """
    if text.isascii() or not _MAYBE.search(text):  # nearly always: nothing to look at
        return []
    return [match.span() for match in _HIDDEN.finditer(text)]


class EmojiPicker:
    """See the module docstring."""

    def __init__(
        self, master: tk.Misc, entry: tk.Entry, font: tkfont.Font, theme: Callable[[], Theme]
    ) -> None:
        self.entry = entry
        self.font = font
        self.theme = theme
        self.button = ttk.Button(master, text="🙂", width=3, command=self.toggle, takefocus=False)
        self.panel = tk.Frame(master, borderwidth=1, relief="solid")
        self.cells: list[tk.Button] = []
        for number, emoji in enumerate(CLASS_EMOJI):
            cell = tk.Button(
                self.panel,
                text=emoji,
                font=font,
                relief="flat",
                borderwidth=0,
                padx=4,
                pady=2,
                command=lambda e=emoji: self.choose(e),
            )
            cell.grid(row=number // COLUMNS, column=number % COLUMNS, padx=1, pady=1)
            for key in ("<Return>", "<KP_Enter>", "<space>"):
                cell.bind(key, lambda _e, e=emoji: self.choose(e) or "break")
            cell.bind("<Escape>", lambda _e: self.close() or "break")
            for key, step in (("Left", -1), ("Right", 1), ("Up", -COLUMNS), ("Down", COLUMNS)):
                cell.bind(f"<{key}>", lambda _e, n=number, s=step: self._move(n + s) or "break")
            self.cells.append(cell)
        self.hint = ttk.Label(self.panel, text=tr("Esc closes"), anchor="e")
        self.hint.grid(row=len(CLASS_EMOJI) // COLUMNS + 1, column=0, columnspan=COLUMNS)
        entry.bind("<Control-period>", lambda _e: self.open() or "break", add=True)

    def is_open(self) -> bool:
        return bool(self.panel.winfo_ismapped())

    def toggle(self) -> None:
        if self.panel.winfo_ismapped():
            self.close()
        else:
            self.open()

    def open(self) -> None:
        """Show the panel above the entry's right end, coloured for the theme now in use,
        with the keyboard on its first emoji."""
        theme = self.theme()
        self.panel.configure(background=theme.panel_background, highlightcolor=theme.muted)
        for cell in self.cells:
            cell.configure(
                background=theme.panel_background,
                foreground=theme.text,
                activebackground=theme.own_background,
                highlightbackground=theme.panel_background,
                highlightcolor=theme.link,
            )
        self.panel.place(in_=self.entry, relx=1.0, rely=0.0, anchor="se", y=-4)
        self.panel.lift()
        self.cells[0].focus_set()

    def close(self) -> None:
        self.panel.place_forget()
        self.entry.focus_set()

    def choose(self, emoji: str) -> None:
        """Put ``emoji`` at the entry's cursor (in place of a selection), and close."""
        if self.entry.selection_present():
            self.entry.delete("sel.first", "sel.last")
        self.entry.insert("insert", emoji)
        self.entry.xview("insert")
        self.close()

    def _move(self, number: int) -> None:
        if 0 <= number < len(self.cells):
            self.cells[number].focus_set()
