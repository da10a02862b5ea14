"""The conversation tabs (``gui.tabs``) in real windows under Xvfb, through a real server."""

from __future__ import annotations

from gui.app import ChatWindow
from net.i18n import set_language
from tests.support import wait_for_windows as wait_until
from tests.test_app import conversation, type_line


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


def close_button_of(window: ChatWindow, index: int) -> tuple[int, int]:
    """Where the × of tab ``index`` is drawn, found as a person finds it: by looking."""
    window.root.update()
    for y in range(2, 40):
        for x in range(2, window.tabs.winfo_width()):
            if "close" in window.tabs.identify(x, y) and window.tabs.index(f"@{x},{y}") == index:
                return x, y
    raise AssertionError(f"no × on tab {index}")


def test_the_cross_on_a_tab_closes_it_and_a_click_beside_it_only_selects(open_window):
    ana = open_window("ana")
    wait_until([ana], lambda: ana.nick_list.get(0, "end") == ("ana",))
    type_line(ana, "/privado carla hola")
    type_line(ana, "/privado dani hola")
    assert list(ana.views) == ["#general", "carla", "dani"]
    x, y = close_button_of(ana, 1)
    ana.tabs.event_generate("<ButtonPress-1>", x=x, y=y)
    ana.tabs.event_generate("<ButtonRelease-1>", x=x + 40, y=y)  # let go elsewhere: nothing
    ana.root.update()
    assert list(ana.views) == ["#general", "carla", "dani"]
    ana.tabs.event_generate("<ButtonPress-1>", x=x, y=y)
    ana.tabs.event_generate("<ButtonRelease-1>", x=x, y=y)
    ana.root.update()
    assert list(ana.views) == ["#general", "dani"]
    assert ana.tabs.tab(ana.tabs.tabs()[1], "text") == "dani"
