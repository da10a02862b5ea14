"""The conversation tabs (``gui.tabs``) in real windows under Xvfb, through a real server."""

from __future__ import annotations

from gui.app import ChatWindow
from net.i18n import set_language
from tests.test_app import conversation, open_window, type_line, wait_until

__all__ = ["open_window"]  # the fixture, shared with test_app


def press(window: ChatWindow, key: str) -> None:
    """A key pressed while typing in the entry, and what it changed shown."""
    window.entry.focus_force()
    window.entry.event_generate(key)
    window.root.update()


def test_private_tabs_follow_nick_changes_say_who_left_and_close(open_window):
    set_language("es")
    ana = open_window("ana")
    bea = open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
    type_line(ana, "/privado bea hola")
    wait_until(both, lambda: "hola" in bea.views.get("ana", ana.views["bea"]).plain_text())
    type_line(bea, "/apodo beatriz")
    wait_until(both, lambda: "beatriz" in ana.views)
    assert "bea" not in ana.views
    assert ana.tabs.tab(ana.views["beatriz"], "text") == "beatriz"
    assert "bea ahora se llama beatriz" in ana.views["beatriz"].plain_text()
    assert ana.current_name() == "beatriz"
    type_line(ana, "¿sigues ahí?")  # reaches her under her new name
    wait_until(both, lambda: "¿sigues ahí?" in bea.views["ana"].plain_text())

    press(ana, "<Control-Tab>")  # to the next tab, and back with Alt+2
    assert ana.current_name() == "#general"
    press(ana, "<Alt-Key-2>")
    assert ana.current_name() == "beatriz"
    press(ana, "<Control-Prior>")
    assert ana.current_name() == "#general"
    press(ana, "<Alt-Key-2>")

    bea.close()
    wait_until(
        [ana],
        lambda: "beatriz ha salido del chat" in ana.views["beatriz"].plain_text(),
    )
    type_line(ana, "/dejar")  # in a private tab: closes it
    assert list(ana.views) == ["#general"]
    assert ana.current_name() == "#general"
    type_line(ana, "/privado carla ¿vienes?")
    assert "carla" in ana.views
    press(ana, "<Control-w>")
    assert "carla" not in ana.views
    type_line(ana, "/cerrar")  # the only tab left stays
    assert "#general" in ana.views
    assert "escribe /salir para cerrar Charla" in conversation(ana)
