"""Comings and goings folded at class size, in a real conversation view under Xvfb."""

from __future__ import annotations

from datetime import datetime

from gui import comings
from gui.conversation import ConversationView
from net.i18n import set_language
from tests import support


def lines(view: ConversationView) -> list[str]:
    return [line.split("] ", 1)[1] for line in view.plain_text().splitlines()]


def test_a_class_arriving_at_once_is_one_line_and_leaving_another(view, tk_root):
    set_language("es")
    now = datetime.now().astimezone()
    names = [f"Alumno{i:02}" for i in range(24)]
    for nick in names:
        comings.said(view, now, nick, joined=True)
    for nick in names[:12]:
        comings.said(view, now, nick, joined=False)
    assert view.plain_text() == ""  # the run waits for its end
    support.wait_until(lambda: view.plain_text(), tick=tk_root.update)
    assert lines(view) == [
        "— 24 personas han entrado: " + ", ".join(names[:12]) + ", …",
        "— 12 personas se han ido: " + ", ".join(names[:12]),
    ]


def test_a_few_are_said_one_by_one_and_never_after_what_came_later(view, tk_root):
    now = datetime.now().astimezone()
    comings.said(view, now, "ana", joined=True)
    comings.said(view, now, "bea", joined=False)
    view.add_message(now, "carla", "hola")  # said after them: shown after them, at once
    assert lines(view) == ["— ana joined", "— bea left", "carla: hola"]
    comings.said(view, now, "dani", joined=True)
    support.wait_until(lambda: "dani joined" in view.plain_text(), tick=tk_root.update)
    assert lines(view)[-1] == "— dani joined"
    assert comings.folded(["Eva"], joined=True) == "1 person joined: Eva"
