"""Searching a conversation: accent-insensitive matching, and the search bar in a real Tk
window under Xvfb."""

from __future__ import annotations

from datetime import datetime
from tkinter import font as tkfont

import pytest

from gui.conversation import ConversationView
from gui.search import SearchBar, find_all, fold
from gui.theme import LIGHT
from net.i18n import set_language


def test_matching_ignores_case_and_accents_and_keeps_the_text_as_written():
    assert fold("LUCÍA Ñandú") == "lucia nandu"
    assert find_all("lucia", "Hola Lucía, ¿y LUCIA?") == [(5, 10), (15, 20)]
    assert find_all("LUCÍA", "lucia") == [(0, 5)]
    decomposed = "Luci\u0301a llega"  # the accent typed as a combining mark
    assert find_all("lucía", decomposed) == [(0, 6)]
    assert find_all("strasse", "Straße 😀 strasse") == [(0, 6), (9, 16)]
    assert find_all("", "algo") == []


@pytest.fixture
def searching(tk_root):
    font = tkfont.Font(tk_root, size=11)
    view = ConversationView(tk_root, LIGHT, font)
    closed = []
    bar = SearchBar(tk_root, lambda: view, lambda: closed.append(True))
    bar.pack(side="bottom", fill="x")
    view.pack(fill="both", expand=True)
    now = datetime.now().astimezone()
    view.add_message(now, "ana", "Lucía trae el examen")
    for number in range(120):
        view.add_message(now, "bea", f"relleno {number}")
    view.add_message(now, "carla", "😀 ¿dónde está lucia?")
    for number in range(120):
        view.add_message(now, "bea", f"más relleno {number}")
    view.add_message(now, "dani", "LUCIA, pregunta")
    tk_root.update()
    bar.open()
    bar.entry.focus_force()  # key events go where the focus is, as for a person
    tk_root.update()
    return view, bar, closed, font


def shown(view: ConversationView) -> str:
    start, end = view.text.tag_ranges("found-current")
    return view.text.get(f"{start} linestart", f"{end} lineend")


def test_enter_goes_to_the_next_match_and_shift_enter_back(searching, tk_root):
    view, bar, _closed, _font = searching
    set_language("es")
    bar.entry.insert(0, "lucía")
    bar.entry.event_generate("<Return>")
    tk_root.update()
    assert len(view.text.tag_ranges("found")) == 6  # all three highlighted
    assert "dani" in shown(view)
    assert bar.result.cget("text") == "1 de 3 resultados"
    bar.entry.event_generate("<Return>")
    tk_root.update()
    assert "carla" in shown(view) and bar.result.cget("text") == "2 de 3 resultados"
    _top, bottom = view.text.yview()
    assert bottom < 1.0  # the view moved to the match, away from the newest line
    bar.entry.event_generate("<Return>")
    bar.entry.event_generate("<Return>")  # round the end
    tk_root.update()
    assert "dani" in shown(view)
    bar.entry.event_generate("<Shift-Return>")
    tk_root.update()
    assert "ana" in shown(view) and bar.result.cget("text") == "3 de 3 resultados"
    bar.older.invoke()
    assert "carla" not in shown(view) and "ana" not in shown(view)  # ▲ from the oldest: round
    bar.entry.delete(0, "end")
    bar.entry.insert(0, "nadie")
    bar.entry.event_generate("<Return>")
    assert bar.result.cget("text") == "Sin resultados"


def test_closing_the_bar_gives_back_the_newest_line(searching, tk_root):
    view, bar, closed, font = searching
    bar.entry.insert(0, "examen")
    bar.entry.event_generate("<Return>")
    tk_root.update()
    assert not view.at_bottom() and view.below.winfo_ismapped()
    bar.close_button.invoke()
    tk_root.update()
    assert view.at_bottom() and closed == [True]
    assert view.text.tag_ranges("found") == ()
    font.configure(size=20)  # and zoomed afterwards, it stays there
    tk_root.update()
    assert view.at_bottom()


def test_closing_the_bar_after_the_searched_tab_was_closed(tk_root):
    font = tkfont.Font(tk_root, size=11)
    views = [ConversationView(tk_root, LIGHT, font) for _ in range(2)]
    bar = SearchBar(tk_root, lambda: views[-1], lambda: None)
    views[-1].add_message(datetime.now().astimezone(), "ana", "hola")
    bar.entry.insert(0, "hola")
    assert bar.step(-1) == "break" and bar.count == 1
    views.pop().destroy()  # its tab closed (× or /cerrar) while the bar was open
    bar.close()  # must not touch the destroyed view
    assert bar.result.cget("text") == ""
