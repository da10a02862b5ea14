"""Mentions as a Spanish speaker means them, and the desktop's alert (under Xvfb)."""

from __future__ import annotations

import tkinter as tk

import pytest

from gui.attention import mentions, urgency_hint


@pytest.mark.parametrize(
    ("nick", "text"),
    [
        ("Lucía", "lucia, ¿vienes mañana a clase?"),  # typed without the accent
        ("lucia", "¡LUCÍA!"),
        ("Ana", "Ana: ¿la has visto?"),
        ("ana", "gracias, ANA."),
        ("Álvaro", "alvaro y yo"),
        ("[ana]", "hola {ANA}"),  # IRC folds [ ] into { }
        ("Bego", "¿Bego?"),
    ],
)
def test_a_name_as_a_whole_word_is_a_mention_whatever_its_case_and_accents(nick, text):
    assert mentions(nick, text)


@pytest.mark.parametrize(
    ("nick", "text"),
    [
        ("Ana", "Hasta mañana a todos"),
        ("Ana", "Hay una nueva tarea para mañana"),
        ("Ana", "la semana que viene, la ventana, gana"),
        ("Eva", "Hay una nueva tarea"),
        ("Sol", "soleado"),
        ("ana", "ana_ ya vino"),  # another nick
        ("ana", ""),
    ],
)
def test_a_name_inside_another_word_is_not_a_mention(nick, text):
    assert not mentions(nick, text)


def test_the_urgency_hint_is_set_and_cleared_on_the_windows_frame(display):
    root = tk.Tk()
    try:
        root.update()
        assert urgency_hint(root) is False
        assert urgency_hint(root, True) is True
        assert urgency_hint(root) is True  # read back from the X server
        assert urgency_hint(root, False) is False
        assert urgency_hint(root) is False
    finally:
        root.destroy()
