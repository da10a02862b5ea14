"""Emoji drawn as well as Tk 8.6 can, and the picker beside the entry, under Xvfb."""

from __future__ import annotations

import tkinter as tk
from datetime import datetime
from tkinter import font as tkfont

from gui.emoji import CLASS_EMOJI, COLUMNS, EmojiPicker, hidden_parts
from gui.entry import EntryComforts
from gui.theme import DARK, LIGHT


def test_what_tk_would_draw_as_a_box_of_its_own_is_hidden():
    assert hidden_parts("hola, ¿qué tal?") == [] and hidden_parts("plain") == []
    wave = "👋🏽"
    assert hidden_parts(f"hola {wave}!") == [(6, 7)]  # the skin tone, not the hand
    assert hidden_parts("👩\u200d🏫 y 👨\u200d👩\u200d👧") == [(1, 2), (7, 8), (9, 10)]  # joiners
    assert hidden_parts("👍🏿👍🏻") == [(1, 2), (3, 4)]
    assert hidden_parts("1\ufe0f\u20e3") == [(2, 3)]  # a keycap's frame
    assert hidden_parts("🏽") == []  # a skin tone alone is what was meant


def test_a_toned_emoji_takes_the_room_of_one_and_is_copied_whole(view, tk_root):
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "hola 👋🏽 y 👩\u200d🏫 fin")
    view.add_message(now, "ana", "hola 👋 y 👩🏫 fin")
    view.flush()
    tk_root.update()
    toned, plain = (view.text.dlineinfo(f"{line}.0")[2] for line in (1, 2))
    assert toned == plain  # no brown square, no box: the same width as without them
    assert "hola 👋🏽 y 👩\u200d🏫 fin" in view.plain_text()  # what is copied: as written
    view.text.tag_add("sel", "1.0", "1.end")
    assert "👋🏽" in view.text.get("sel.first", "sel.last")


def press(widget: tk.Misc, *keysyms: str) -> None:
    widget.focus_force()
    widget.update()
    for keysym in keysyms:
        widget.focus_get().event_generate("<KeyPress>", keysym=keysym, when="tail")
        widget.update()


def test_the_picker_puts_an_emoji_at_the_cursor_by_mouse_or_keyboard(tk_root):
    font = tkfont.Font(tk_root, size=11)
    theme = [LIGHT]
    entry = tk.Entry(tk_root, font=font)
    entry.grid(row=1, column=0, sticky="ew")
    typed: list[str] = []
    EntryComforts(entry, typed.append, list).catch_typing(tk_root)  # as in the window
    picker = EmojiPicker(tk_root, entry, font, lambda: theme[0])
    picker.button.grid(row=1, column=1)
    tk_root.rowconfigure(0, weight=1)
    tk_root.columnconfigure(0, weight=1)
    entry.insert(0, "muy bien ")
    entry.icursor(4)  # the cursor after "muy "
    tk_root.update()
    entry.focus_force()  # the window is in front, typing
    tk_root.update()
    assert tk_root.focus_get() is entry
    picker.button.invoke()  # a click on 🙂
    tk_root.update()
    assert picker.is_open() and tk_root.focus_get() is picker.cells[0]
    assert picker.panel.winfo_rooty() + picker.panel.winfo_height() <= entry.winfo_rooty()
    press(picker.cells[0], "Right", "Down", "Return")  # 👎, then the row below: 🙏's column
    assert entry.get() == f"muy {CLASS_EMOJI[1 + COLUMNS]}bien "
    assert not picker.is_open() and tk_root.focus_get() is entry
    press(entry, "period")  # Ctrl+. opens it from the keyboard
    entry.event_generate("<Control-period>")
    tk_root.update()
    assert picker.is_open()
    press(tk_root.focus_get(), "Escape")
    assert not picker.is_open() and tk_root.focus_get() is entry
    assert typed == []  # nothing was sent on the way
    theme[0] = DARK
    picker.toggle()
    tk_root.update()
    assert picker.cells[0].cget("background") == DARK.panel_background
    assert picker.cells[0].cget("foreground") == DARK.text
    width = picker.cells[0].winfo_reqwidth()
    font.configure(size=22)  # Ctrl+plus: the panel grows with the text
    tk_root.update()
    assert picker.cells[0].winfo_reqwidth() > width
    picker.cells[3].invoke()
    assert CLASS_EMOJI[3] in entry.get()
