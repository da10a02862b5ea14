"""IRC formatting drawn as text styles, in a real Tk window under Xvfb."""

from __future__ import annotations

from datetime import datetime
from tkinter import font as tkfont

import pytest

from gui.conversation import ConversationView
from gui.formatting import PALETTES, styled_pieces
from gui.theme import DARK, LIGHT

HEXCHAT = (
    "\x02Importante:\x02 \x0304mañana\x03 traed el \x1flibro\x1f y \x1dla\x1d \x0f\x0312,01ficha"
)


def test_codes_become_styles_and_nothing_else_is_left():
    assert styled_pieces(HEXCHAT) == [
        ("Importante:", ("fmt-b",)),
        (" ", ()),
        ("mañana", ("fmt-fg-4",)),
        (" traed el ", ()),
        ("libro", ("fmt-u",)),
        (" y ", ()),
        ("la", ("fmt-i",)),
        (" ", ()),
        ("ficha", ("fmt-fg-12",)),
    ]
    both = styled_pieces(
        "\x02\x1dya\x0f no, \x0399,99x\x03 \x0304,5 \x1b[1m\x16rev\x11\x04ff0000hex"
    )
    assert "".join(text for text, _ in both) == "ya no, x  [1mrevhex"  # ,5: a background
    assert both[0] == ("ya", ("fmt-bi",))
    assert styled_pieces("sin nada") == [("sin nada", ())]


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("theme", [LIGHT, DARK])
def test_every_colour_is_readable_on_its_theme(theme):
    background = luminance(theme.background)
    for colour in PALETTES[theme.name]:
        light, dark = sorted((luminance(colour), background), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, colour  # WCAG AA for text


def test_a_hexchat_message_shows_bold_red_and_underlined_words(tk_root):
    font = tkfont.Font(tk_root, size=11)
    view = ConversationView(tk_root, LIGHT, font)
    view.pack(fill="both", expand=True)
    view.add_message(datetime.now().astimezone(), "marta", HEXCHAT)
    view.add_announcement(datetime.now().astimezone(), "\x02Cierre\x02 a las 14:00")
    view.flush()
    text = view.plain_text()
    assert "Importante: mañana traed el libro y la ficha" in text
    assert "Cierre a las 14:00" in text
    assert not any(ord(c) < 32 and c != "\n" for c in text)

    def tags_of(word: str) -> tuple[str, ...]:
        line = next(n for n, t in enumerate(text.split("\n"), 1) if word in t)
        return view.text.tag_names(f"{line}.{text.split(chr(10))[line - 1].index(word)}")

    assert "fmt-b" in tags_of("Importante")
    bold = tkfont.Font(tk_root, font=view.text.tag_cget("fmt-b", "font"))
    assert bold.actual("weight") == "bold"
    assert "fmt-u" in tags_of("libro") and view.text.tag_cget("fmt-u", "underline")
    assert "fmt-fg-4" in tags_of("mañana")
    assert view.text.tag_cget("fmt-fg-4", "foreground") == PALETTES["light"][4]
    view.apply_theme(DARK)
    assert view.text.tag_cget("fmt-fg-4", "foreground") == PALETTES["dark"][4]
    font.configure(size=20)  # Ctrl+plus: the bold words grow with the rest
    view.follow_font()
    assert tkfont.Font(tk_root, font=view.text.tag_cget("fmt-b", "font")).actual("size") == 20
