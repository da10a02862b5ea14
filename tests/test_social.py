"""gui/social.py: replies, reactions, typing and older messages, in real windows (Xvfb) on
a real server (127.0.0.1, port 0), as two students use them; and a saved conversation
read back from its file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from net.protocol import irc_lower
from tests.support import IrcClient
from tests.support import wait_for_windows as wait_until


@pytest.fixture
def server(start_server):
    """Without flood control: a test says two hundred lines at once."""
    return start_server(flood_control=False)


def _line_of(window, text: str) -> int:
    """The Text line (from 1) of #general that holds ``text``."""
    lines = window.views["#general"].plain_text().split("\n")
    return next(number for number, line in enumerate(lines, 1) if text in line)


def _msgid_of(window, text: str) -> str:
    return _msgid_in(window, "#general", text)


def _marta_says(port: int, lines: list[str]) -> None:
    """A raw IRC client, marta, says ``lines`` in #general (kept by the server), and goes."""
    marta = IrcClient(port)
    try:
        marta.register("marta")
        marta.join("#general")
        for line in lines:
            marta.send(f"PRIVMSG #general :{line}")
        marta.sync()
    finally:
        marta.close()


def test_a_reply_quotes_what_it_answers_and_the_quote_leads_to_it(open_window) -> None:
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    ana.send_text("#general", "¿Lo habéis entendido? La fotosíntesis necesita luz", action=False)
    wait_until(both, lambda: "fotosíntesis" in bea.views["#general"].plain_text())
    question = _msgid_of(bea, "fotosíntesis")
    bea.social.start_reply("#general", question, "ana")
    assert bea.social.reply_bar.winfo_manager() == "place"  # "↪ Respondiendo a ana: …"
    assert "ana: ¿Lo habéis entendido?" in bea.social.reply_label.cget("text")
    bea.send_text("#general", "sí, y agua", action=False)
    assert not bea.social.reply_bar.winfo_ismapped()  # the reply is sent: the bar goes
    wait_until(both, lambda: "sí, y agua" in ana.views["#general"].plain_text())
    for window in both:
        text = window.views["#general"].plain_text()
        assert re.search(
            r"↪ ana: ¿Lo habéis entendido\? La fotosíntesis.*\n\[\d\d:\d\d\] bea: sí, y agua", text
        )

    view = ana.views["#general"]
    for _ in range(60):  # the original leaves the screen
        ana.send_text("#general", "relleno", action=False)
    wait_until(both, lambda: view.plain_text().count("relleno") == 60)
    quote = _line_of(ana, "↪ ana:")
    view.show_index(f"{quote}.0")  # scrolled back to it, as a user would
    ana.root.update()
    x, y, _w, h = view.text.bbox(f"{quote}.3")
    # the pointer moves there first (Tk's "current", which tag bindings follow)
    view.text.event_generate("<Motion>", x=x, y=y + h // 2)
    view.text.event_generate("<Button-1>", x=x, y=y + h // 2)
    original = _line_of(ana, "La fotosíntesis necesita luz")
    assert view.text.tag_ranges("found-current")[0].string == f"{original}.0"
    assert view.text.bbox(f"{original}.0") is not None  # in sight


def test_reactions_are_counted_shown_and_taken_back(open_window) -> None:
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    ana.send_text("#general", "¿Vamos al patio?", action=False)
    wait_until(both, lambda: "patio" in bea.views["#general"].plain_text())
    msgid = _msgid_of(bea, "patio")
    bea.social.toggle("#general", msgid, "👍")
    wait_until(both, lambda: "¿Vamos al patio?  👍 1 " in ana.views["#general"].plain_text())
    # ana clicks the chip: hers too
    view = ana.views["#general"]
    line = _line_of(ana, "patio")
    start = view.text.search("👍", f"{line}.0", f"{line}.0 lineend")
    view.text.see(start)
    ana.root.update()
    x, y, _w, h = view.text.bbox(start)
    view.text.event_generate("<Motion>", x=x + 1, y=y + h // 2)
    view.text.event_generate("<Button-1>", x=x + 1, y=y + h // 2)
    wait_until(both, lambda: "👍 2 " in bea.views["#general"].plain_text())
    assert "chip-mine" in view.text.tag_names(view.text.search("👍", f"{line}.0"))
    view.text.event_generate("<Motion>", x=x + 1, y=y + h // 2)
    assert ana.status.cget("text") == "👍 bea, ana"  # who reacted, under the pointer
    bea.social.toggle("#general", msgid, "👍")  # bea takes hers back
    wait_until(both, lambda: "👍 1 " in ana.views["#general"].plain_text())
    bea.social.toggle("#general", msgid, "❓")
    wait_until(both, lambda: "👍 1   ❓ 1 " in ana.views["#general"].plain_text())


def test_typing_is_shown_and_goes_when_the_message_comes(open_window) -> None:
    ana, bea = open_window("ana"), open_window("bea")
    both = [ana, bea]
    wait_until(both, lambda: set(bea.nick_list.get(0, "end")) == {"ana", "bea"})
    bea.entry.focus_force()
    bea.entry.insert(0, "estoy pensan")
    bea.entry.event_generate("<KeyRelease>", keysym="n")
    wait_until(both, lambda: ana.social.typing_label.winfo_ismapped())
    assert ana.social.typing_label.cget("text") == "bea is typing…"
    bea.entry.delete(0, "end")
    bea.send_text("#general", "estoy pensando", action=False)
    wait_until(both, lambda: not ana.social.typing_label.winfo_ismapped())
    bea.social.send_typing.set(False)  # the View menu's setting
    bea.entry.insert(0, "secreto")
    bea.entry.event_generate("<KeyRelease>", keysym="o")
    bea.send_text("#general", "sin avisar", action=False)
    wait_until(both, lambda: "sin avisar" in ana.views["#general"].plain_text())
    assert not ana.social.typing_label.winfo_ismapped()


def test_scrolling_to_the_top_brings_older_messages_and_a_saved_copy_has_them_all(
    server, open_window, tmp_path: Path
) -> None:
    _marta_says(server.port, [f"apunte {number}" for number in range(230)])
    ana = open_window("ana")
    view = ana.views["#general"]
    wait_until([ana], lambda: "apunte 229" in view.plain_text())
    assert "apunte 179" not in view.plain_text()  # the join replays the last 50
    view.show_index("1.0")  # scrolled up to the first line, as with the scrollbar
    ana.root.update()
    top_before = view.text.get("@0,0 linestart", "@0,0 lineend")
    view.text.event_generate("<Button-4>")  # the wheel, up, at the top
    wait_until([ana], lambda: "apunte 80" in view.plain_text())
    assert "apunte 79" not in view.plain_text()  # a page: 100
    assert view.text.get("@0,0 linestart", "@0,0 lineend") == top_before  # no jump
    lines = view.plain_text().split("\n")
    assert lines[0].endswith("marta: apunte 80") and "apunte 179" in view.plain_text()

    saved: list[Path] = []
    ana.social.save(irc_lower("#general"), tmp_path / "clase.txt", saved.append)
    wait_until([ana], lambda: saved)
    copy = saved[0].read_text(encoding="utf-8")
    said = re.findall(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d\] marta: apunte (\d+)$", copy, re.M)
    assert [int(n) for n in said] == list(range(230))  # all of it, in order, dated
    assert irc_lower("#general") in ana.social.exhausted


def test_a_quick_poll_counts_one_vote_each_and_its_result_stays(open_window, server) -> None:
    marta, ana, bea = open_window("marta"), open_window("ana"), open_window("bea")
    windows = [marta, ana, bea]
    for window in windows:  # marta opens #clase first: she runs it
        window.submit("/join #clase")
        wait_until(windows, lambda w=window: "#clase" in w.views)
        window.tabs.select(window.views["#clase"])
    wait_until(windows, lambda: len(marta.members.get("#clase", [])) == 3)
    ana.submit("/poll ¿Hacemos examen?")  # not hers to ask
    wait_until(windows, lambda: "Only whoever runs the room" in ana.views["#clase"].plain_text())
    marta.submit("/poll ¿Lo habéis entendido?")
    clase = {w: w.views["#clase"] for w in windows}
    wait_until(windows, lambda: all("👍 0   👎 0 " in v.plain_text() for v in clase.values()))
    poll = _msgid_in(ana, "#clase", "📊 Poll")
    ana.social.toggle("#clase", poll, "👍")
    ana.social.toggle("#clase", poll, "👎")  # she changes her mind: one vote each
    bea.social.toggle("#clase", poll, "👍")
    wait_until(windows, lambda: "👍 1   👎 1 " in clase[marta].plain_text())
    marta.submit("/poll close")
    result = "📊 Result: ¿Lo habéis entendido? — 👍 1 · 👎 1 (2 votes)"
    wait_until(windows, lambda: all(result in v.plain_text() for v in clase.values()))
    late = IrcClient(server.port)
    try:
        late.register("carla")
        late.join("#clase")  # the result stays in the room's history
        assert any(result in line for line in late.sync())
    finally:
        late.close()


def _msgid_in(window, channel: str, text: str) -> str:
    view = window.views[channel]
    lines = view.plain_text().split("\n")
    number = next(n for n, line in enumerate(lines, 1) if text in line)
    return view._id_at[number + view._trimmed]


def test_a_search_reaches_older_messages_and_a_day_can_be_saved(
    server, open_window, tmp_path: Path
) -> None:
    from datetime import date, timedelta

    _marta_says(server.port, [f"apunte {number} ." for number in range(120)])
    ana = open_window("ana")
    view = ana.views["#general"]
    wait_until([ana], lambda: "apunte 119 ." in view.plain_text())
    ana.show_search()
    ana.search("apunte 7 .")  # said before the 50 replayed: not on screen yet
    wait_until([ana], lambda: ana.search_bar.count == 1)
    assert "apunte 0 ." in view.plain_text()
    saved: list[Path] = []
    ana.social.save("#general", tmp_path / "hoy.txt", saved.append, day=date.today())
    wait_until([ana], lambda: saved)
    assert saved[0].read_text(encoding="utf-8").count(" marta: apunte ") == 120
    ana.social.save(
        "#general", tmp_path / "ayer.txt", saved.append, day=date.today() - timedelta(1)
    )
    wait_until([ana], lambda: len(saved) == 2)
    assert "apunte" not in saved[1].read_text(encoding="utf-8")
    ana.entry.focus_force()
    ana.root.update()
    ana.entry.event_generate("<Alt-r>")  # answer the newest message from someone else
    wait_until([ana], lambda: ana.social.replying is not None)
    assert "apunte 119" in ana.social.reply_label.cget("text")
