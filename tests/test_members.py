"""The nick list at class size: Spanish order, the count, the scrollbar (real Tk, Xvfb)."""

from __future__ import annotations

from gui.members import MemberPanel, count_text, order, spanish_key
from net.i18n import set_language


def test_names_sort_as_in_a_spanish_dictionary():
    names = ["Zoe", "Álvaro", "ñu", "nube", "Óscar", "bea", "Ana", "obdulia", "Ñandú"]
    assert order(names, lambda _nick: 0) == [
        "Álvaro", "Ana", "bea", "nube", "Ñandú", "ñu", "obdulia", "Óscar", "Zoe",
    ]  # fmt: skip
    assert spanish_key("Ana") != spanish_key("ana")  # a stable order between the two


def test_operators_first_then_voice_then_everyone_each_group_sorted():
    ranks = {"zoe": 0, "Álvaro": 1}
    assert order(["bea", "zoe", "Álvaro", "ana"], lambda n: ranks.get(n, 2)) == [
        "zoe", "Álvaro", "ana", "bea",
    ]  # fmt: skip


def test_the_count_says_one_person_and_many_people_in_both_languages():
    assert (count_text(1), count_text(33)) == ("1 person", "33 people")
    set_language("es")
    assert (count_text(1), count_text(2), count_text(33)) == (
        "1 persona", "2 personas", "33 personas",
    )  # fmt: skip


def test_a_class_of_33_scrolls_and_says_how_many(tk_root):
    panel = MemberPanel(tk_root, None)
    panel.frame.pack(fill="y", expand=True)
    panel.show([("★ " if i == 0 else "", f"Alumno{i:02}") for i in range(33)])
    tk_root.update()
    assert panel.count.cget("text") == "33 people"
    assert panel.listbox.size() == 33
    assert panel.scrollbar.winfo_ismapped()
    first, last = panel.listbox.yview()
    assert (first, last < 1.0) == (0.0, True)  # 700x400 does not hold 33: there is more
    panel.scrollbar.set(*panel.listbox.yview())
    panel.listbox.yview_moveto(1.0)
    tk_root.update()
    assert panel.listbox.yview()[1] == 1.0  # the last one can be brought into view
    panel.show([])
    assert panel.count.cget("text") == ""
