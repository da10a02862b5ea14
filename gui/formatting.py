"""IRC text formatting (bold, italic, underline, strike-through, colours) as text styles.

HexChat, irssi and mIRC users send Ctrl+B, Ctrl+K and friends as control characters in
the text: ``\\x02Importante:\\x02 \\x0304mañana\\x03``. ``styled_pieces(text)`` cuts a
message into pieces of plain text, each with the names of the Text tags that draw its
style; ``configure_tags`` defines those tags for a theme. Colours come from a palette per
theme, so that every one of the 16 IRC colours stays readable on that theme's background
(white text is drawn as ordinary text on the light theme, black on the dark one).
What a chat window cannot show well is left out: background colours (a classmate's
"white on black" would be unreadable on one theme or the other), reverse video,
monospace, hex colours, colours beyond the 16 (drawn as ordinary text), and any other
control character, which Tk would draw as a box.

Threading: pure functions, and ``configure_tags`` on the Tk main thread.
"""

from __future__ import annotations

import re
import tkinter as tk
from tkinter import font as tkfont

from gui.theme import Theme

#: one formatting code, or a control character that would show as a box
CODE = re.compile(
    r"\x03(?:(\d{1,2})(?:,(\d{1,2}))?)?"  # colour: foreground, background (both optional)
    r"|\x04(?:[0-9a-fA-F]{6}(?:,[0-9a-fA-F]{6})?)?"  # hex colour (some clients)
    r"|[\x00-\x08\x0a-\x1f\x7f]"  # bold, italic… and every other control but the tab
)
BOLD, ITALIC, UNDERLINE, STRIKE, RESET = "\x02", "\x1d", "\x1f", "\x1e", "\x0f"

#: the 16 IRC colours (white, black, navy, green, red, maroon, purple, orange, yellow,
#: light green, teal, cyan, blue, pink, grey, light grey), readable on each theme
PALETTES = {
    "light": (
        "#1f2328",  # white: as ordinary text
        "#1f2328",
        "#1a3d99",
        "#1e7a1e",
        "#c62828",
        "#8b3a1a",
        "#7b1fa2",
        "#b35900",
        "#8a6d00",  # yellow, darkened to be read on white
        "#2e7d32",
        "#00796b",
        "#00838f",
        "#1565c0",
        "#c2185b",
        "#5f6368",
        "#6e7781",
    ),
    "dark": (
        "#e6edf3",
        "#e6edf3",  # black: as ordinary text
        "#79a6ff",
        "#56d364",
        "#ff7b72",
        "#e0a070",
        "#d2a8ff",
        "#ffa657",
        "#f2cc60",
        "#7ee787",
        "#39c5cf",
        "#76e3ea",
        "#79c0ff",
        "#ff9bce",
        "#a0a8b0",
        "#c9d1d9",
    ),
}


def has_codes(text: str) -> bool:
    """Whether ``text`` has anything to style or strip (fast: nearly always False)."""
    return not text.isprintable() and CODE.search(text) is not None


def styled_pieces(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """``text`` as pieces of plain text and the tags of their style, codes left out.

    >>> styled_pieces("\\x02Importante:\\x02 \\x0304,01mañana\\x03 ya")
    [('Importante:', ('fmt-b',)), (' ', ()), ('mañana', ('fmt-fg-4',)), (' ya', ())]
    """
    pieces: list[tuple[str, tuple[str, ...]]] = []
    bold = italic = underline = strike = False
    colour: int | None = None
    position = 0

    def add(piece: str) -> None:
        tags = []
        if bold or italic:
            tags.append("fmt-bi" if bold and italic else "fmt-b" if bold else "fmt-i")
        if underline:
            tags.append("fmt-u")
        if strike:
            tags.append("fmt-s")
        if colour is not None:
            tags.append(f"fmt-fg-{colour}")
        pieces.append((piece, tuple(tags)))

    for match in CODE.finditer(text):
        if match.start() > position:
            add(text[position : match.start()])
        position = match.end()
        code = match.group(0)[0]
        if code == BOLD:
            bold = not bold
        elif code == ITALIC:
            italic = not italic
        elif code == UNDERLINE:
            underline = not underline
        elif code == STRIKE:
            strike = not strike
        elif code == RESET:
            bold = italic = underline = strike = False
            colour = None
        elif code == "\x03":
            number = match.group(1)
            if number is None:
                colour = None  # \x03 alone ends the colour
            else:
                colour = int(number) if int(number) < len(PALETTES["light"]) else None
    if position < len(text):
        add(text[position:])
    return pieces


def configure_tags(text: tk.Text, theme: Theme, fonts: dict[str, tkfont.Font]) -> None:
    """Define the ``fmt-…`` tags in ``text`` for ``theme``; ``fonts`` holds the bold,
    italic and bold italic fonts ("b", "i", "bi") that follow the text's size."""
    for name, font in fonts.items():
        text.tag_configure(f"fmt-{name}", font=font)
    text.tag_configure("fmt-u", underline=True)
    text.tag_configure("fmt-s", overstrike=True)
    palette = PALETTES.get(theme.name, PALETTES["light"])
    for number, colour in enumerate(palette):
        text.tag_configure(f"fmt-fg-{number}", foreground=colour)


def derived_fonts(
    master: tk.Misc, base: tkfont.Font, fonts: dict[str, tkfont.Font] | None = None
) -> dict[str, tkfont.Font]:
    """Bold, italic and bold italic versions of ``base``; given ``fonts`` made before,
    they are resized to ``base``'s size instead (after a zoom)."""
    looks = {"b": ("bold", "roman"), "i": ("normal", "italic"), "bi": ("bold", "italic")}
    if fonts is None:
        actual = base.actual()
        fonts = {
            name: tkfont.Font(
                master, family=actual["family"], size=actual["size"], weight=weight, slant=slant
            )
            for name, (weight, slant) in looks.items()
        }
    else:
        for font in fonts.values():
            font.configure(size=base.cget("size"))
    return fonts
