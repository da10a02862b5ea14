"""The entry's comforts in a real Tk window under Xvfb: completion, Ctrl+A."""

from __future__ import annotations

import tkinter as tk

import pytest

from gui.entry import EntryComforts


@pytest.fixture
def entry(tk_root):
    field = tk.Entry(tk_root)
    field.pack()
    sent: list[str] = []
    nicks = ["Álvaro", "alba", "Ñoño", "Zoe"]
    field.comforts = EntryComforts(field, sent.append, lambda: nicks)
    field.focus_force()
    tk_root.update()
    return field


def press(field: tk.Entry, key: str) -> None:
    field.event_generate(key)
    field.update()


def test_tab_completion_ignores_accents_and_case(entry):
    entry.insert(0, "alv")
    press(entry, "<Tab>")
    assert entry.get() == "Álvaro: "
    entry.delete(0, "end")
    entry.insert(0, "hola ñoñ")
    press(entry, "<Tab>")
    assert entry.get() == "hola Ñoño "
    entry.delete(0, "end")
    entry.insert(0, "al")  # Álvaro and alba: the first in Spanish order
    press(entry, "<Tab>")
    assert entry.get() == "alba: "


def test_ctrl_a_selects_the_whole_line(entry):
    entry.insert(0, "todo esto")
    entry.icursor(4)
    press(entry, "<Control-a>")
    assert entry.selection_present()
    assert (entry.index("sel.first"), entry.index("sel.last")) == (0, len("todo esto"))
