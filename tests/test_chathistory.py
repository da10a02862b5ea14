"""net/chathistory.py and the server's CHATHISTORY: older messages on request, private
conversations kept for their two people only, reactions kept with their message.

Through raw IRC clients on a real server (127.0.0.1, port 0): each subcommand, with msgid
and timestamp references, the spec's FAIL answers, the limit, privacy, reactions (kept
once, undone, deleted with their message, refused to a muted student), typing never
kept, and older history still readable after a restart of ``servidor.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from net.chathistory import (
    MAX_LIMIT,
    BadRequest,
    PrivateHistory,
    Reference,
    parse_limit,
    parse_reference,
    select,
)
from net.outgoing import KeptMessage
from net.protocol import Message
from tests.support import IrcClient, running_charla

CAPS = "batch server-time message-tags draft/chathistory"
EVER = "timestamp=2000-01-01T00:00:00.000Z timestamp=2999-01-01T00:00:00.000Z"


@pytest.fixture
def server(start_server):
    """A server without flood control: the tests say a hundred lines at once."""
    return start_server(flood_control=False)


# -- the selection, on its own ---------------------------------------------------------


def _kept(count: int) -> list[KeptMessage]:
    """``count`` messages m0…, one a second from t=1000."""
    return [
        KeptMessage(Message("PRIVMSG", ["#a", f"m{n}"], "ana!a@h", {"msgid": f"m{n}"}), 1000.0 + n)
        for n in range(count)
    ]


def _texts(chosen: list[KeptMessage]) -> list[str]:
    return [kept.message.params[1] for kept in chosen]


def test_each_subcommand_picks_what_the_specification_says() -> None:
    kept = _kept(10)
    at = Reference(msgid="m5")
    assert _texts(select(kept, "BEFORE", at, 3)) == ["m2", "m3", "m4"]
    assert _texts(select(kept, "AFTER", at, 3)) == ["m6", "m7", "m8"]
    assert _texts(select(kept, "LATEST", Reference(), 3)) == ["m7", "m8", "m9"]
    assert _texts(select(kept, "LATEST", at, 10)) == ["m6", "m7", "m8", "m9"]
    assert _texts(select(kept, "AROUND", at, 4)) == ["m3", "m4", "m5", "m6"]
    forwards = select(kept, "BETWEEN", Reference(msgid="m1"), 3, Reference(msgid="m8"))
    backwards = select(kept, "BETWEEN", Reference(msgid="m8"), 3, Reference(msgid="m1"))
    assert _texts(forwards) == ["m2", "m3", "m4"]  # counted from the first reference
    assert _texts(backwards) == ["m5", "m6", "m7"]
    # a timestamp falls between messages; one equal to a message's time excludes it
    assert _texts(select(kept, "BEFORE", Reference(time=1003.5), 2)) == ["m2", "m3"]
    assert _texts(select(kept, "AFTER", Reference(time=1003.0), 2)) == ["m4", "m5"]
    assert select(kept, "BEFORE", Reference(msgid="gone"), 5) == []  # deleted or forgotten
    assert _texts(select(kept, "BEFORE", Reference(msgid="m0"), 5)) == []


def test_references_and_limits_are_checked() -> None:
    assert parse_reference("timestamp=2026-12-05T10:42:00.000Z").time == 1796467320.0
    assert parse_reference("*", star=True) == Reference()
    for bad in ("*", "msgid=", "timestamp=ayer", "timestamp=2026-12-05T10:42:00", "id=x", ""):
        with pytest.raises(BadRequest):
            parse_reference(bad)
    assert parse_limit("5") == 5
    assert parse_limit("100000") == MAX_LIMIT
    for bad in ("0", "-1", "x", "", "9" * 20):
        with pytest.raises(BadRequest):
            parse_limit(bad)


def test_private_history_is_bounded_and_belongs_to_its_two_people() -> None:
    private = PrivateHistory(memory=1000)
    for n in range(30):
        kept = KeptMessage(Message("PRIVMSG", ["beto", f"hola {n}"], "ana!a@h"), 1000.0 + n)
        private.record(("s:ana", "ana"), ("s:beto", "beto"), kept, 100)
    assert private.held <= 1000
    assert [k.message.params[1] for k in private.conversation("s:beto", "ana")][-1] == "hola 29"
    assert len(private.conversation("s:beto", "ana")) == 10  # the oldest were forgotten
    assert private.conversation("s:mallory", "ana") == []  # whoever calls themselves beto
    assert private.targets("s:ana") == {"beto": 1029.0}


# -- through the server ------------------------------------------------------------------


def _batch(client: IrcClient, request: str) -> tuple[str, list[str]]:
    """Send a CHATHISTORY request; (the batch's opening line, the lines in it)."""
    client.send(request)
    opening = client.expect(r"BATCH \+(\S+) (\S+)(.*)$")
    ref = opening.group(1)
    inside = []
    while True:
        line = client.expect(r".*")
        if re.search(rf"BATCH -{re.escape(ref)}$", line.group(0)):
            return opening.group(0), inside
        assert f"batch={ref}" in line.group(0)
        inside.append(line.group(0))


def _said(lines: list[str]) -> list[str]:
    return [line.rsplit(" :", 1)[1] for line in lines if " PRIVMSG " in line]


def test_older_messages_than_the_join_replay_come_on_request(
    connect: Callable[..., IrcClient],
) -> None:
    ana = connect()
    ana.register("ana", caps=CAPS)
    ana.join("#clase")
    for n in range(120):
        ana.send(f"PRIVMSG #clase :mensaje {n}")
    ana.sync()
    beto = connect()
    beto.register("beto", caps=CAPS)
    beto.send("JOIN #clase")
    replayed = []
    while not (line := beto.expect(r".*").group(0)).endswith("End of /NAMES list"):
        pass
    opening = beto.expect(r"BATCH \+(\S+) chathistory :?#clase$")
    ref = opening.group(1)
    while not (line := beto.expect(r".*").group(0)).endswith(f"BATCH -{ref}"):
        replayed.append(line)
    assert _said(replayed) == [f"mensaje {n}" for n in range(70, 120)]  # the last 50
    oldest = re.search(r"msgid=([^; ]+)", replayed[0]).group(1)

    opening, older = _batch(beto, f"CHATHISTORY BEFORE #clase msgid={oldest} 1000")
    assert re.search(r"chathistory :?#clase$", opening)
    assert _said(older) == [f"mensaje {n}" for n in range(0, 70)]  # at most 100: all 70
    assert all(re.match(r"@\S*time=\d{4}-\d\d-\d\dT[\d:.]+Z", line) for line in older)
    _, latest = _batch(beto, "CHATHISTORY LATEST #clase * 3")
    assert _said(latest) == ["mensaje 117", "mensaje 118", "mensaje 119"]
    stamp = re.search(r"time=([^; ]+)", older[10]).group(1)
    _, after = _batch(beto, f"CHATHISTORY AFTER #clase timestamp={stamp} 2")
    assert len(after) == 2  # the first two said after that millisecond
    assert all(re.search(r"time=([^; ]+)", line).group(1) > stamp for line in after)
    first = re.search(r"msgid=([^; ]+)", older[0]).group(1)
    last = re.search(r"msgid=([^; ]+)", latest[-1]).group(1)
    _, between = _batch(beto, f"CHATHISTORY BETWEEN #clase msgid={last} msgid={first} 2")
    assert _said(between) == ["mensaje 117", "mensaje 118"]
    _, around = _batch(beto, f"CHATHISTORY AROUND #clase msgid={oldest} 4")
    assert _said(around) == ["mensaje 68", "mensaje 69", "mensaje 70", "mensaje 71"]


def test_the_server_says_what_it_offers_and_answers_bad_requests_as_the_spec_says(
    connect: Callable[..., IrcClient],
) -> None:
    ana = connect()
    ana.send("CAP LS 302")
    ana.expect(r"CAP \* LS :.*\bdraft/chathistory\b")
    ana.register("ana", caps=CAPS)
    assert any(f"CHATHISTORY={MAX_LIMIT}" in line for line in ana.lines)
    assert any("MSGREFTYPES=msgid,timestamp" in line for line in ana.lines)
    ana.join("#clase")
    connect("beto").join("#secreto")
    answers = {
        "CHATHISTORY": r"FAIL CHATHISTORY NEED_MORE_PARAMS :",
        "CHATHISTORY LATEST #clase *": r"FAIL CHATHISTORY NEED_MORE_PARAMS LATEST :",
        "CHATHISTORY FORWARDS #clase * 5": r"FAIL CHATHISTORY UNKNOWN_COMMAND FORWARDS :",
        "CHATHISTORY BEFORE #clase * 5": r"FAIL CHATHISTORY INVALID_PARAMS BEFORE \* :",
        "CHATHISTORY LATEST #clase * 0": r"FAIL CHATHISTORY INVALID_PARAMS LATEST 0 :",
        "CHATHISTORY LATEST #clase ayer 5": r"FAIL CHATHISTORY INVALID_PARAMS LATEST ayer :",
        # a channel one is not in, and one that does not exist: the same answer
        "CHATHISTORY LATEST #secreto * 5": r"FAIL CHATHISTORY INVALID_TARGET LATEST #secreto :",
        "CHATHISTORY LATEST #nada * 5": r"FAIL CHATHISTORY INVALID_TARGET LATEST #nada :",
    }
    for request, answer in answers.items():
        ana.send(request)
        ana.expect(answer)


def test_a_private_conversation_is_read_by_its_two_people_only(
    connect: Callable[..., IrcClient],
) -> None:
    ana = connect()
    ana.register("ana", caps=CAPS, session="a" * 32)
    beto = connect()
    beto.register("beto", caps=CAPS, session="b" * 32)
    ana.send("PRIVMSG beto :¿me pasas los deberes?")
    beto.expect("¿me pasas los deberes")
    beto.send("PRIVMSG ana :toma, página 42")
    ana.expect("página 42")
    _, mine = _batch(ana, "CHATHISTORY LATEST beto * 10")
    assert _said(mine) == ["¿me pasas los deberes?", "toma, página 42"]
    beto.send("QUIT :me voy")
    beto.expect_closed()
    mallory = connect()
    mallory.register("beto", caps=CAPS)  # the nick is free again: someone else takes it
    _, theirs = _batch(mallory, "CHATHISTORY LATEST ana * 10")
    assert theirs == []
    _, still = _batch(ana, "CHATHISTORY LATEST beto * 10")
    assert len(_said(still)) == 2  # ana still has her conversation
    ana.send(f"CHATHISTORY TARGETS {EVER} 10")
    ana.expect(r"BATCH \+\S+ :?draft/chathistory-targets$")
    ana.expect(r"CHATHISTORY TARGETS beto :?\d{4}-")


def test_reactions_are_kept_once_undone_and_deleted_with_their_message(
    connect: Callable[..., IrcClient],
) -> None:
    marta = connect()
    marta.register("marta", caps=CAPS + " draft/message-redaction")
    marta.join("#clase")  # opens it: its teacher
    ana = connect()
    ana.register("ana", caps=CAPS)
    ana.join("#clase")
    marta.send("PRIVMSG #clase :¿Lo habéis entendido?")
    question = ana.expect(r"msgid=([^; ]+)\S* :marta!\S+ PRIVMSG #clase :¿Lo hab").group(1)
    for _ in range(3):  # the same reaction three times: one is kept
        ana.send(f"@+draft/react=👍;+draft/reply={question} TAGMSG #clase")
    ana.send(f"@+draft/react=❓;+draft/reply={question} TAGMSG #clase")
    ana.send(f"@+draft/unreact=❓;+draft/reply={question} TAGMSG #clase")
    ana.send("@+typing=active TAGMSG #clase")
    marta.expect(r"\+typing=active")  # relayed…
    _, kept = _batch(marta, "CHATHISTORY LATEST #clase * 10")
    reactions = [line for line in kept if " TAGMSG " in line]
    assert len(reactions) == 1 and "+draft/react=👍" in reactions[0]  # …never kept
    assert not any("typing" in line for line in kept)

    plain = connect("plain")  # no message-tags: no reaction in its replay
    plain.join("#clase")
    assert not any("TAGMSG" in line for line in plain.sync())

    beto = connect()
    beto.register("beto", caps=CAPS)
    beto.join("#clase")
    marta.send("MODE #clase +q beto!*@*")
    beto.expect(r"MODE #clase \+q")
    beto.send(f"@+draft/react=😂;+draft/reply={question} TAGMSG #clase")
    beto.expect(r" 404 beto #clase ")  # muted: no reactions either

    marta.send(f"REDACT #clase {question}")
    ana.expect(r"NOTICE #clase :marta deleted a message from marta")
    _, after = _batch(marta, "CHATHISTORY LATEST #clase * 10")
    assert not any(" TAGMSG " in line or "entendido" in line for line in after)


def test_older_history_is_still_there_after_a_restart(tmp_path) -> None:
    with running_charla("--no-flood-control", data_home=tmp_path) as (port, _server):
        ana = IrcClient(port)
        try:
            ana.register("ana", caps=CAPS)
            ana.join("#general")
            for n in range(80):
                ana.send(f"PRIVMSG #general :antes {n}")
            ana.sync()
        finally:
            ana.close()
    with running_charla(data_home=tmp_path) as (port, _server):
        beto = IrcClient(port)
        try:
            beto.register("beto", caps=CAPS)
            beto.join("#general")
            beto.sync()  # past the replay of the last 50 on joining
            _, older = _batch(
                beto, "CHATHISTORY BEFORE #general timestamp=2999-01-01T00:00:00.000Z 100"
            )
            assert _said(older) == [f"antes {n}" for n in range(80)]
        finally:
            beto.close()
