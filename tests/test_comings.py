"""Comings and goings folded at class size, in a real conversation view under Xvfb."""

from __future__ import annotations

from datetime import datetime

from gui import comings
from gui.conversation import ConversationView
from net import events as ev
from net.client import ChatClient
from net.i18n import set_language
from tests import support
from tests.support import FAST_RETRY, IrcClient


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


def test_leave_and_quit_reasons_are_shown_and_noise_is_not(view, tk_root):
    set_language("es")
    now = datetime.now().astimezone()
    comings.said(view, now, "Ana", joined=False, reason="Quit: se va a casa")
    comings.said(view, now, "Bea", joined=False, reason="Ping timeout: 240 seconds")
    comings.said(view, now, "Carla", joined=False, reason="Client Quit")
    support.wait_until(lambda: view.plain_text(), tick=tk_root.update)
    assert lines(view) == [
        "— Ana se ha ido (se va a casa)",
        "— Bea se ha ido (se perdió la conexión)",
        "— Carla se ha ido",
    ]
    names = ["Dani", "Eva", "Fede", "Gala"]  # a folded run keeps each one's reason
    reasons = ["me voy", "Leaving", "Fede", "irc1.local irc2.local"]
    for nick, reason in zip(names, reasons, strict=True):
        comings.said(view, now, nick, joined=False, reason=reason)
    support.wait_until(lambda: "4 personas" in view.plain_text(), tick=tk_root.update)
    assert lines(view)[-1] == (
        "— 4 personas se han ido: Dani (me voy), Eva, Fede, Gala (se perdió la conexión)"
    )


def test_what_is_noise_in_a_reason():
    noise = [
        "",
        "  ",
        "ana",
        "ANA",
        "Quit",
        "Quit: ",
        "Client Quit",
        "Leaving",
        "Leaving.",
        "Charla",
        "WeeChat 3.8",
        "HexChat 2.16.1",
        "\x02\x02",
    ]
    assert [comings.why("ana", reason) for reason in noise] == [""] * len(noise)
    lost = [
        "Remote host closed the connection",
        "Ping timeout: 240 seconds",
        "Read error: Connection reset by peer",
        "Connection closed",
        "irc1.local irc2.local",
        "*.net *.split",
    ]
    assert {comings.why("ana", reason) for reason in lost} == {"connection lost"}
    assert (
        comings.why("ana", "Quit: \x02adiós\x02, \x0304hasta\x03 mañana") == "adiós, hasta mañana"
    )
    assert comings.why("ana", "Quit: me voy a comer") == "me voy a comer"
    assert comings.why("ana", '"me voy a comer"') == "me voy a comer"  # ngIRCd's quotes
    assert comings.why("ana", '"Client Quit"') == ""
    assert comings.why("ana", "leaving for lunch") == "leaving for lunch"  # words a person wrote
    long = comings.why("ana", "x" * 400)
    assert len(long) == comings.REASON_SHOWN and long.endswith("…")


def test_ngircds_quit_and_part_reasons_read_as_people_wrote_them(ngircd_port):
    client = ChatClient("127.0.0.1", ngircd_port, "ana", ["#general"], policy=FAST_RETRY)
    events = support.Events(client.start())
    others = [IrcClient(ngircd_port) for _ in range(3)]
    try:
        events.wait_for(ev.Joined, lambda e: e.me)
        for other, nick in zip(others, ("bea", "carla", "dani"), strict=True):
            other.register(nick)
            other.send("JOIN #general")
            events.wait_for(ev.Joined, lambda e, n=nick: e.nick == n)
        # one at a time: three connections' lines may reach ana in any order
        others[0].send("QUIT :me voy a comer")
        said = [events.wait_for(ev.UserQuit, lambda e: e.nick == "bea")]
        others[1].send("QUIT")
        said.append(events.wait_for(ev.UserQuit, lambda e: e.nick == "carla"))
        others[2].send("PART #general :vuelvo luego")
        said.append(events.wait_for(ev.Parted, lambda e: e.nick == "dani"))
        shown = [comings.why(event.nick, event.reason) for event in said]
        assert shown == ["me voy a comer", "", "vuelvo luego"], [e.reason for e in said]
    finally:
        for other in others:
            other.close()
        client.quit()
