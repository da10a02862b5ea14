"""The client's protocol core, driven by hand: lines in, events and lines out, no socket.

Each test feeds ``ClientProtocol`` what a server would say (and the clock's ``now``) and
asserts the events a window would show and the lines the client would write.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timezone

from net import events as ev
from net.client_protocol import MAX_MOTD_LINES, ClientProtocol, Outbox, PendingMessage
from net.i18n import set_language
from net.protocol import parse, session_alias, session_msgid
from net.text_cuts import REJOIN_WAIT

TOKEN = "0123456789abcdef" * 2
CAPS = "batch server-time message-tags charla.chat/session"


def new_core(
    nick: str = "ana", channels: tuple[str, ...] = ("#general",), **kwargs
) -> ClientProtocol:
    return ClientProtocol(nick, channels, session_token=TOKEN, **kwargs)


def feed(core: ClientProtocol, *lines: str, now: float = 0.0) -> str | None:
    """What the server says, line by line; returns the first reason to hang up."""
    for line in lines:
        core.heard_from_server(now)
        reason = core.receive(parse(line), now)
        if reason:
            return reason
    return None


def registered(nick: str = "ana", caps: str = "", **kwargs) -> ClientProtocol:
    """A core connected, welcomed and in its channels, its output so far taken."""
    core = new_core(nick, **kwargs)
    core.connection_made(0.0)
    feed(core, f":srv CAP * LS :{caps}")
    if caps:
        feed(core, f":srv CAP ana ACK :{caps}")
    feed(core, f":srv 001 {nick} :Welcome")
    for channel in core.channels.values():
        feed(core, f":{nick}!u@h JOIN {channel}")
    core.take_events()
    core.take_lines()
    return core


def texts(events: list[ev.Event]) -> list[str]:
    return [event.text for event in events if isinstance(event, ev.ChatMessage)]


def test_registration_asks_for_caps_and_takes_only_those_it_wants():
    core = new_core(password="clase")
    core.connection_made(0.0)
    assert core.take_lines() == ["CAP LS :302", "PASS clase", "NICK ana", "USER charla 0 * :Charla"]
    feed(core, ":srv CAP * LS * :server-time sasl=PLAIN")  # more LS lines follow
    assert core.take_lines() == []
    feed(core, ":srv CAP * LS :charla.chat/session batch echo-message")
    assert core.take_lines() == ["CAP REQ :batch server-time charla.chat/session"]
    feed(core, ":srv CAP * ACK :batch server-time charla.chat/session")
    assert core.take_lines() == [f"SESSION {TOKEN}", "CAP END"]
    feed(core, ":srv 001 ana :Welcome to Charla")
    assert core.take_events() == [ev.Registered("ana", "srv")]
    assert core.take_lines() == ["JOIN #general"]


def test_caps_refused_or_none_offered_still_end_negotiation_once():
    refused = new_core()
    refused.connection_made(0.0)
    feed(refused, ":srv CAP * LS :server-time", ":srv CAP * NAK :server-time")
    assert refused.take_lines()[-2:] == ["CAP REQ :server-time", "CAP END"]
    nothing = new_core()
    nothing.connection_made(0.0)
    feed(nothing, ":srv CAP * LS :", ":srv CAP * NAK :x")
    assert nothing.take_lines().count("CAP END") == 1


def test_nick_in_use_gets_a_fallback_then_ours_is_asked_for_again():
    core = new_core(nick_retry_interval=5.0)
    core.connection_made(0.0)
    core.take_lines()
    feed(core, ":srv 433 * ana :Nickname is already in use")
    assert core.take_lines() == ["NICK ana_"]
    [error] = core.take_events()
    assert (error.code, error.text) == ("433", "ana: Nickname is already in use -> ana_")
    feed(core, ":srv 433 * ana_ :Nickname is already in use")
    [other] = core.take_lines()
    assert other.startswith("NICK ana") and other[8:].isdigit() and len(other) == 11
    feed(core, f":srv 001 {other[5:]} :Welcome", now=1.0)
    core.take_lines()
    core.take_events()
    assert core.nick == other[5:]
    core.tick(5.9)
    assert core.take_lines() == []
    core.tick(6.0)  # nick_retry_interval after the welcome
    assert core.take_lines() == ["NICK ana"]
    feed(core, f":srv 433 {core.nick} ana :Nickname is already in use")
    assert core.take_events() == []  # not yet: keep the temporary one quietly
    feed(core, ":ana!a@h QUIT :Ping timeout")  # the holder leaves: ask at once
    assert core.take_lines() == ["NICK ana"]
    feed(core, f":{core.nick}!u@h NICK :ana")
    assert core.take_events()[-1] == ev.NickChanged(other[5:], "ana", True)
    assert core.nick == "ana"
    core.tick(100.0)
    assert core.take_lines() == ["PING charla-keepalive"]  # no more asking for the nick


def test_a_holder_renaming_frees_our_nick():
    core = new_core()
    core.connection_made(0.0)
    feed(core, ":srv 433 * ana :Nickname is already in use", ":srv 001 ana_ :Welcome")
    core.take_lines()
    feed(core, ":ana!a@h NICK :ana_away")
    assert core.take_lines() == ["NICK ana"]


def test_a_nick_our_user_asks_for_and_is_refused_is_said_at_once_and_never_retried():
    core = registered("ana", nick_retry_interval=5.0)
    core.change_nick("bea")
    assert core.take_lines() == ["NICK bea"]
    feed(core, ":srv 433 ana bea :Nickname is already in use")
    assert core.take_events() == [ev.NickRefused("bea", "433", "Nickname is already in use", "ana")]
    core.change_nick("b!a")
    core.take_lines()
    feed(core, ":srv 432 ana b!a :Erroneous nickname")
    assert core.take_events() == [ev.NickRefused("b!a", "432", "Erroneous nickname", "ana")]
    core.tick(60.0)
    feed(core, ":bea!b@h QUIT :bye", ":bea!b@h NICK :bea2")
    assert "NICK bea" not in core.take_lines()  # not behind our user's back
    assert core.nick == core.wanted_nick == "ana"
    core.change_nick("Lucia")
    feed(core, ":ana!a@h NICK :Lucia")
    assert core.take_events()[-1] == ev.NickChanged("ana", "Lucia", True)
    assert core.wanted_nick == "Lucia"  # the name kept on the next connection


def test_server_ping_is_answered_with_its_token():
    core = registered()
    feed(core, "PING :irc.example.org")
    feed(core, ":srv PING :two words")
    assert core.take_lines() == ["PONG irc.example.org", "PONG :two words"]
    feed(core, "PING :a\rb")  # cannot be echoed on one line: dropped, nothing breaks
    feed(core, "PING next")
    assert core.take_lines() == ["PONG next"]


def test_silent_server_is_probed_then_given_up():
    core = new_core(keepalive_after=15.0, keepalive_timeout=10.0)
    core.connection_made(100.0)
    core.take_lines()
    assert core.next_deadline() == 115.0
    assert core.tick(114.0) is None and core.take_lines() == []
    assert core.tick(115.0) is None
    assert core.take_lines() == ["PING charla-keepalive"]
    assert core.next_deadline() == 125.0
    core.heard_from_server(120.0)  # an answer: all is well again
    assert core.tick(125.0) is None and core.take_lines() == []
    core.tick(135.0)
    core.take_lines()
    assert core.tick(145.0) == "no answer from the server for 25 s"


def test_error_numerics_after_registration_reach_the_user():
    core = new_core()
    core.connection_made(0.0)
    feed(core, ":srv 401 * x :not yet registered: ignored")
    feed(core, ":srv 417 * :Input line was too long")  # this one always matters
    assert core.take_events() == [ev.ServerError("417", "Input line was too long")]
    feed(core, ":srv 001 ana :Welcome")
    core.take_events()
    feed(core, ":srv 401 ana bob :No such nick/channel", ":srv 482 ana #a :Not operator")
    assert core.take_events() == [
        ev.ServerError("401", "bob No such nick/channel", target="bob"),
        ev.ServerError("482", "#a Not operator", target="#a"),
    ]


def test_wrong_password_and_error_end_the_connection():
    core = new_core(password="mal")
    core.connection_made(0.0)
    assert feed(core, ":srv 464 * :Password incorrect") == "wrong password"
    assert core.fatal == "wrong password"
    assert core.take_events() == [ev.ServerError("464", "Password incorrect")]
    other = registered()
    assert feed(other, "ERROR :Closing Link: ana (Kicked by operator)") == (
        "Closing Link: ana (Kicked by operator)"
    )
    assert other.fatal is None


def test_a_kicked_channel_is_left_and_not_rejoined_after_a_reconnect():
    core = registered(channels=("#general", "#clase"))
    feed(core, ":profe!p@h KICK #clase ana :fuera", ":profe!p@h KICK #general bea :tú también")
    assert core.take_events() == [
        ev.Kicked("#clase", "ana", "profe", "fuera", True),
        ev.Kicked("#general", "bea", "profe", "tú también", False),
    ]
    core.connection_lost()
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome")
    assert [line for line in core.take_lines() if line.startswith("JOIN")] == ["JOIN #general"]


def test_joins_and_parts_decide_what_is_rejoined():
    core = registered()
    core.join("#nuevo")
    core.part("#general", "adiós")
    assert core.take_lines() == ["JOIN #nuevo", "PART #general :adiós"]
    feed(core, ":ana!a@h JOIN #invitada")  # joined by the server on our behalf
    feed(core, ":ana!a@h PART #nuevo")
    assert core.take_lines() == ["MODE #invitada"]  # its modes, to tell the user
    core.connection_lost()
    core.join("#offline")  # remembered, sent after the welcome
    assert core.take_lines() == []
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome")
    assert [line for line in core.take_lines() if line.startswith("JOIN")] == [
        "JOIN #invitada",
        "JOIN #offline",
    ]


def test_member_lists_are_gathered_until_their_end():
    core = registered()
    feed(
        core,
        ":srv 353 ana = #general :@profe +ana",
        ":srv 353 ana = #General :bea",
        ":srv 366 ana #general :End of /NAMES list",
    )
    assert core.take_events() == [ev.Names("#general", ("profe", "ana", "bea"), ("o", "v", ""))]


def test_history_batches_mark_their_messages():
    core = registered()
    feed(
        core,
        ":srv BATCH +h1 chathistory #general",
        "@batch=h1;time=2026-11-23T10:00:00.000Z :bea!b@h PRIVMSG #general :de antes",
        ":srv BATCH -h1",
        "@time=2026-11-23T10:05:00.000Z :bea!b@h PRIVMSG #general :de ahora",
    )
    before, now = core.take_events()
    assert (before.text, before.history) == ("de antes", True)
    assert (now.text, now.history) == ("de ahora", False)
    assert before.time == datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_a_history_replay_of_messages_already_shown_is_dropped():
    core = registered(caps=CAPS)
    feed(core, "@msgid=m1 :bea!b@h PRIVMSG #general :hola")
    item = PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", "mío")
    core.queue_message(item)
    core.send_pending()
    assert core.take_lines()[0] == f"@charla.chat/seq={item.message_id} PRIVMSG #general :mío"
    core.take_events()
    own_msgid = session_msgid(session_alias(TOKEN), item.message_id)
    feed(  # the server replays the channel after a reconnect
        core,
        ":srv BATCH +h2 chathistory #general",
        "@batch=h2;msgid=m1 :bea!b@h PRIVMSG #general :hola",
        f"@batch=h2;msgid={own_msgid} :ana!a@h PRIVMSG #general :mío",
        "@batch=h2;msgid=m2 :bea!b@h PRIVMSG #general :nuevo",
        ":srv BATCH -h2",
        "@msgid=m1 :bea!b@h PRIVMSG #general :hola",
    )
    assert texts(core.take_events()) == ["nuevo"]


def test_actions_notices_private_messages_and_announcements():
    core = new_core()
    core.connection_made(0.0)
    feed(core, ":srv CAP * LS :charla.chat/session", ":srv CAP ana ACK :charla.chat/session")
    feed(core, ":srv 001 ana :Welcome")
    core.take_events()
    feed(
        core,
        ":bea!b@h PRIVMSG #general :\x01ACTION se ríe\x01",
        ":bea!b@h PRIVMSG ana :\x01VERSION\x01",
        ":bea!b@h PRIVMSG ana :en privado",
        ":bea!b@h NOTICE #general :aviso",
        ":srv NOTICE #general :Recreo",
    )
    action, private, notice, announcement = core.take_events()
    assert (action.kind, action.text, action.private) == ("action", "se ríe", False)
    assert (private.kind, private.private, private.own) == ("message", True, False)
    assert (notice.kind, notice.text) == ("notice", "aviso")
    assert isinstance(announcement, ev.Announcement) and announcement.text == "Recreo"
    assert announcement.target == "#general"  # said in the channel: shown in its tab
    feed(
        core,
        ":srv NOTICE ana :A ti",  # a Charla server's console, to someone in no channel
        "FAIL REDACT REDACT_FORBIDDEN #general m1 :You may not delete that message",
    )
    in_person, refused = core.take_events()
    assert isinstance(in_person, ev.Announcement)
    assert (in_person.text, in_person.target) == ("A ti", "")
    assert refused == ev.ServerError(
        "FAIL REDACT REDACT_FORBIDDEN", "You may not delete that message", target="#general"
    )


def test_another_servers_notices_to_us_are_ordinary_lines_not_announcements():
    """ngIRCd's chatter, before the welcome and at QUIT, is no banner (interop.md B5)."""
    core = new_core()
    core.connection_made(0.0)
    feed(core, ":irc.local NOTICE * :*** Looking up your hostname", "NOTICE AUTH :*** Hola")
    feed(core, ":irc.local 001 ana :Welcome")
    feed(core, ":irc.local NOTICE ana :Connection statistics: client 0.1 kb, server 1.4 kb.")
    notices = [e for e in core.take_events() if not isinstance(e, ev.Registered)]
    assert [type(e) for e in notices] == [ev.ServerNotice] * 3
    assert [e.text for e in notices] == [
        "*** Looking up your hostname",
        "*** Hola",
        "Connection statistics: client 0.1 kb, server 1.4 kb.",
    ]


def test_the_outbox_waits_for_the_welcome_and_the_ack():
    core = new_core()
    ids = [core.outbox.new_id() for _ in range(2)]
    for message_id, text in zip(ids, ("uno", "dos"), strict=True):
        core.queue_message(PendingMessage(message_id, "PRIVMSG", "#general", text))
    core.send_pending()  # offline: counted, not written
    assert core.take_events() == [ev.OutboxChanged(2)]
    assert core.take_lines() == []
    core.connection_made(0.0)
    core.take_lines()
    feed(core, ":srv 001 ana :Welcome")
    assert core.take_lines() == ["JOIN #general"]  # not before we are back in the channel
    feed(core, ":ana!u@h JOIN #general")
    assert core.take_lines() == [
        "MODE #general",
        "PRIVMSG #general :uno",
        "PRIVMSG #general :dos",
        f"PING charla-ack-{ids[1]}",
    ]
    core.take_events()
    feed(core, f":srv PONG srv :charla-ack-{ids[0]}")  # an earlier ack: the first only
    assert core.take_events() == [ev.Delivered(ids[0]), ev.OutboxChanged(1)]
    feed(core, ":srv PONG srv :charla-keepalive")
    assert core.take_events() == []
    core.connection_lost()  # the second was never confirmed: it goes out again
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome")
    assert "PRIVMSG #general :dos" not in core.take_lines()
    feed(core, ":ana!u@h JOIN #general")
    assert core.take_lines()[-2:] == ["PRIVMSG #general :dos", f"PING charla-ack-{ids[1]}"]
    feed(core, f":srv PONG srv :charla-ack-{ids[1]}")
    assert core.take_events()[-2:] == [ev.Delivered(ids[1]), ev.OutboxChanged(0)]


def test_one_ack_ping_for_a_batch_of_messages():
    core = registered()
    for text in ("a", "b", "c"):
        core.queue_message(PendingMessage(core.outbox.new_id(), "NOTICE", "bea", text))
    core.send_pending()
    assert core.take_lines() == [
        "NOTICE bea :a",
        "NOTICE bea :b",
        "NOTICE bea :c",
        "PING charla-ack-3",
    ]
    assert core.take_events() == [ev.OutboxChanged(3)]
    core.send_pending()  # nothing new: nothing said
    assert core.take_lines() == [] and core.take_events() == []


def test_topic_waits_for_registration_and_nick_changes_offline_are_remembered():
    core = new_core()
    core.change_nick("anita")  # offline: simply the nick to ask for
    assert core.nick == "anita"
    core.send_control(parse("TOPIC #general :Examen"))
    core.connection_made(0.0)
    assert "NICK anita" in core.take_lines()
    feed(core, ":srv 001 anita :Welcome")
    assert core.take_lines() == ["JOIN #general", "TOPIC #general :Examen"]
    core.take_events()
    core.change_nick("Ana")  # online: asked for, changed when the server says so
    assert core.take_lines() == ["NICK Ana"] and core.nick == "anita"
    feed(
        core, ":anita!a@h NICK Ana", ":bea!b@h TOPIC #general :Otro", ":srv 332 Ana #general :Otro"
    )
    assert core.take_events() == [
        ev.NickChanged("anita", "Ana", True),
        ev.Topic("#general", "Otro", "bea", changed=True),
        ev.Topic("#general", "Otro", "", changed=False),
    ]


def test_outbox_numbers_messages_and_requeues_in_order():
    box = Outbox()
    items = [PendingMessage(box.new_id(), "PRIVMSG", "#a", text) for text in "xyz"]
    box.add(items[0])
    box.add(items[1])
    assert box.take_waiting() == items[:2]
    box.add(items[2])
    box.requeue()
    assert list(box.waiting) == items and len(box) == 3


def test_nick_refused_before_the_session_token_is_asked_for_again_after_it():
    """On a Charla server the holder may be our own half-open connection, which the server
    hands over only once it knows our token: NICK went out before SESSION."""
    core = new_core()
    core.connection_made(0.0)
    core.take_lines()
    feed(core, f":srv CAP * LS :{CAPS}", ":srv 433 * ana :Nickname is already in use")
    assert core.take_lines() == [f"CAP REQ :{CAPS}"]
    feed(core, f":srv CAP * ACK :{CAPS}")
    assert core.take_lines() == [f"SESSION {TOKEN}", "NICK ana", "CAP END"]
    assert core.take_events() == []
    feed(core, ":srv 433 * ana :Nickname is already in use")  # someone else after all
    assert core.take_lines() == ["NICK ana_"]
    assert core.take_events()[0].code == "433"


def test_nick_refused_when_the_session_is_refused_falls_back_before_cap_end():
    core = new_core()
    core.connection_made(0.0)
    core.take_lines()
    feed(core, ":srv CAP * LS :charla.chat/session", ":srv 433 * ana :Nickname is already in use")
    feed(core, ":srv CAP * NAK :charla.chat/session")
    assert core.take_lines() == ["CAP REQ :charla.chat/session", "NICK ana_", "CAP END"]


def test_replies_without_their_parameters_break_nothing():
    core = new_core()
    core.connection_made(0.0)
    for line in (":srv 433", ":srv 353", ":srv 366", ":srv PONG", ":srv CAP", "KICK", "NICK"):
        feed(core, line)
    assert feed(core, ":srv 464") == "wrong password"
    fine = registered()
    for line in (":srv 433", ":srv 401", ":bea!b@h PRIVMSG", ":srv BATCH", "JOIN", "PART", "TOPIC"):
        feed(fine, line)
    feed(fine, ":bea!b@h PRIVMSG #general :sigue")
    assert texts(fine.take_events()) == ["sigue"]


def test_odd_numbers_and_times_from_the_server_break_nothing(monkeypatch):
    """``²`` looks like a digit to ``str.isdigit`` but not to ``int``; year 1 at UTC is
    before year 1 anywhere west of it. Neither may end the connection."""
    monkeypatch.setenv("TZ", "America/Mexico_City")
    time.tzset()
    try:
        core = registered(caps="server-time")
        core.queue_message(PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", "uno"))
        core.send_pending()
        core.take_events()
        for token in ("charla-ack-²", "charla-ack-" + "9" * 40, "charla-ack--1"):
            assert feed(core, f":srv PONG srv :{token}") is None
        assert core.take_events() == []  # nothing confirmed by those
        feed(core, "@time=0001-01-01T00:00:00Z :bea!b@h PRIVMSG #general :del año uno")
        feed(core, "@time=9999-12-31T23:59:59Z :bea!b@h PRIVMSG #general :y del 9999")
        assert texts(core.take_events()) == ["del año uno", "y del 9999"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_nick_the_server_calls_invalid_becomes_plain_ascii_once_then_we_stop():
    """ngIRCd, InspIRCd and Hybrid refuse "Begoña" (432): the client was asking for
    Begoña_, Begoña519 … thousands of times a second."""
    core = new_core("Begoña")
    core.connection_made(0.0)
    core.take_lines()
    feed(core, ":srv 432 * Begoña :Erroneous nickname")
    assert core.take_lines() == ["NICK Begona"]
    feed(core, ":srv 001 Begona :Welcome")
    assert core.nick == "Begona"
    core.tick(core.next_deadline() + 1)  # Begoña is not asked for again
    assert "NICK Begoña" not in core.take_lines()
    strict = new_core("Begoña")
    strict.connection_made(0.0)
    feed(strict, ":srv 432 * Begoña :Erroneous nickname")
    reason = feed(strict, ":srv 432 * Begona :Erroneous nickname")
    assert reason == strict.fatal
    assert reason == "the server does not accept the nickname Begona (Erroneous nickname)"
    chinese = new_core("李")
    chinese.connection_made(0.0)
    assert feed(chinese, ":srv 432 * 李 :Erroneous nickname") == chinese.fatal


def test_registration_gives_up_after_a_bounded_number_of_refused_nicks():
    core = new_core()
    core.connection_made(0.0)
    core.take_lines()
    reasons = [feed(core, f":srv 433 * {core.nick} :Nickname is already in use") for _ in range(9)]
    assert reasons[:8] == [None] * 8
    assert reasons[8] == core.fatal
    assert len([line for line in core.take_lines() if line.startswith("NICK ")]) == 8


def test_an_error_that_refuses_us_for_good_stops_the_retries():
    """ngIRCd answers a wrong password with only ``ERROR :Access denied: Bad password?``."""
    refused = new_core()
    refused.connection_made(0.0)
    assert feed(refused, "ERROR :Access denied: Bad password?") == "Access denied: Bad password?"
    assert refused.fatal == "Access denied: Bad password?"
    dropped = registered()
    assert feed(dropped, "ERROR :Closing link: (Ping timeout: 240 seconds)")
    assert dropped.fatal is None  # that one is worth coming back from
    busy = new_core()
    busy.connection_made(0.0)
    feed(busy, "ERROR :Too many connections from your address")
    assert busy.fatal is None


def test_a_long_outbox_is_written_a_window_at_a_time_each_ack_letting_more_go():
    core = registered(caps="")
    ids = [core.outbox.new_id() for _ in range(45)]
    for message_id in ids:
        core.queue_message(PendingMessage(message_id, "PRIVMSG", "#general", f"n{message_id}"))
    core.send_pending()
    first = core.take_lines()
    assert first[:20] == [f"PRIVMSG #general :n{i}" for i in ids[:20]]
    assert first[20:] == [f"PING charla-ack-{ids[19]}"]
    feed(core, f":srv PONG srv :charla-ack-{ids[19]}")
    second = core.take_lines()
    assert second == [f"PRIVMSG #general :n{i}" for i in ids[20:40]] + [
        f"PING charla-ack-{ids[39]}"
    ]
    feed(core, f":srv PONG srv :charla-ack-{ids[39]}")
    assert core.take_lines()[:-1] == [f"PRIVMSG #general :n{i}" for i in ids[40:]]
    feed(core, f":srv PONG srv :charla-ack-{ids[44]}")
    assert [e.message_id for e in core.take_events() if isinstance(e, ev.Delivered)] == ids


def test_roles_come_from_prefix_names_and_mode_changes():
    core = registered()
    feed(core, ":srv 005 ana PREFIX=(qov)~@+ CHANMODES=bq,k,lS,imnst :are supported")
    feed(core, ":srv 353 ana = #general :~@jefa @profe +ana bea", ":srv 366 ana #general :End")
    assert core.take_events() == [
        ev.Names("#general", ("jefa", "profe", "ana", "bea"), ("oq", "o", "v", ""))
    ]
    feed(
        core,
        ":profe!p@h MODE #general +ov-v+Sm-l+b bea ana ana 10 bob!*@*",
        ":srv 324 ana #general +ntSk 30 clave",
    )
    assert core.take_events() == [
        ev.MemberStatus("#general", "bea", True, "o", "profe"),
        ev.MemberStatus("#general", "ana", True, "v", "profe"),
        ev.MemberStatus("#general", "ana", False, "v", "profe"),
        ev.ModeChanged("#general", True, "S", "10", "profe"),
        ev.ModeChanged("#general", True, "m", "", "profe"),
        ev.ModeChanged("#general", False, "l", "", "profe"),  # -l takes no parameter
        ev.ModeChanged("#general", True, "b", "bob!*@*", "profe"),
        ev.ChannelModes("#general", (("n", ""), ("t", ""), ("S", "30"), ("k", "clave"))),
    ]
    feed(core, ":srv MODE ana +o", ":srv 381 ana :You are now a teacher", ":srv 221 ana +i")
    assert core.take_events() == [ev.UserModes("o"), ev.UserModes("i")]
    feed(core, ":profe!p@h MODE #general +o")  # no nick given: nothing to change
    assert core.take_events() == []
    # a timed ban (TBAN) says when it ends; a tag that is not a time is not believed
    feed(
        core,
        "@charla.chat/ends=1796000000 :profe!p@h MODE #general +b ana!*@*",
        "@charla.chat/ends=ayer :profe!p@h MODE #general +b bea!*@*",
    )
    assert core.take_events() == [
        ev.ModeChanged("#general", True, "b", "ana!*@*", "profe", 1796000000.0),
        ev.ModeChanged("#general", True, "b", "bea!*@*", "profe"),
    ]


def test_a_refused_message_is_named_dropped_from_the_outbox_and_never_sent_again():
    core = registered()
    for text in ("uno", "dos", "tres"):
        core.queue_message(PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", text))
        core.send_pending()
    core.take_lines()
    core.take_events()
    feed(
        core,
        ":srv PONG srv :charla-ack-1",  # "uno" went through
        ":srv 404 ana #General :Slow mode: wait 10 seconds",  # "dos" did not
    )
    assert core.take_events() == [
        ev.Delivered(1),
        ev.OutboxChanged(2),
        ev.Refused(2, "#general", "404", "Slow mode: wait 10 seconds"),
        ev.OutboxChanged(1),
    ]
    core.connection_lost()  # "tres" is sent again after a reconnect, "dos" is not
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome", ":ana!u@h JOIN #general")
    assert [line for line in core.take_lines() if "PRIVMSG" in line] == ["PRIVMSG #general :tres"]
    feed(core, ":srv PONG srv :charla-ack-3")
    feed(core, ":srv 404 ana #general :Cannot send")  # nothing of ours waiting there
    assert core.take_events()[-1] == ev.ServerError(
        "404", "#general Cannot send", target="#general"
    )


def test_messages_wait_for_their_channel_and_a_refused_channel_lets_them_be_refused():
    """After a reconnect (on another server of a network, say) a channel message goes only
    once the JOIN came back: sent before it, a server refuses it (not in the channel) or
    relays it to a channel nobody is back in, and its confirmation would be a lie. A
    private message does not wait; a channel that refuses us lets its messages go, and
    the server says why each is not relayed."""
    core = new_core(channels=("#general", "#cerrada"))
    for target, text in (("#general", "hola"), ("marta", "psst"), ("#cerrada", "¿hay alguien?")):
        core.queue_message(PendingMessage(core.outbox.new_id(), "PRIVMSG", target, text))
    core.send_pending()
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome")
    assert [line for line in core.take_lines() if "PRIVMSG" in line] == []  # #general first
    feed(core, ":ana!u@h JOIN #general")
    sent = [line for line in core.take_lines() if "PRIVMSG" in line]
    assert sent == ["PRIVMSG #general :hola", "PRIVMSG marta :psst"]  # in order, up to #cerrada
    feed(core, ":srv 474 ana #cerrada :Cannot join channel (+b)")
    assert core.take_lines() == ["PRIVMSG #cerrada :¿hay alguien?", "PING charla-ack-3"]


def test_a_channel_that_refuses_us_is_not_joined_again():
    core = registered(channels=("#general", "#cerrada"))
    feed(core, ":srv 474 ana #cerrada :Cannot join channel (+b)")
    assert core.take_events() == [
        ev.ServerError("474", "#cerrada Cannot join channel (+b)", target="#cerrada")
    ]
    core.connection_lost()
    core.connection_made(0.0)
    feed(core, ":srv 001 ana :Welcome")
    assert [line for line in core.take_lines() if line.startswith("JOIN")] == ["JOIN #general"]


def test_invite_redact_and_the_hosts_oper_line():
    core = new_core(oper=("profe", "s3cr3t"))
    core.connection_made(0.0)
    feed(core, ":srv CAP * LS :draft/message-redaction batch")
    assert core.take_lines()[-1] == "CAP REQ :batch draft/message-redaction"
    feed(core, ":srv CAP ana ACK :batch draft/message-redaction", ":srv 001 ana :Hi")
    assert core.take_lines()[-2:] == [
        "OPER profe :s3cr3t",
        "JOIN #general",
    ]  # a teacher joins as one
    core.take_events()
    feed(
        core,
        ":profe!p@h INVITE ana #grupo3",
        ":profe!p@h REDACT #general abc123 :insulto",
        ":bea!b@h REDACT ana m1",
        ":srv 341 ana carla #general",
    )
    assert core.take_events() == [
        ev.Invited("#grupo3", "profe"),
        ev.Redacted("#general", "abc123", "profe", "insulto"),
        ev.Redacted("bea", "m1", "bea", ""),
        ev.InviteSent("carla", "#general"),
    ]


def test_a_registered_nick_waits_for_its_password_then_logs_in_with_sasl_plain():
    core = new_core("profe")
    core.connection_made(0.0)
    feed(core, ":srv CAP * LS :sasl=PLAIN batch")
    reason = feed(core, ":srv 433 * profe :profe is registered: log in with its password")
    assert reason and core.awaiting_login and core.fatal is None
    assert core.take_events() == [
        ev.LoginNeeded("profe", "profe is registered: log in with its password")
    ]
    core.connection_lost()
    core.login("contraseña")
    assert not core.awaiting_login
    core.connection_made(0.0)
    core.take_lines()
    feed(core, ":srv CAP * LS :sasl=PLAIN batch")
    assert core.take_lines() == ["CAP REQ :batch sasl"]
    feed(core, ":srv CAP profe ACK :batch sasl")
    assert core.take_lines() == ["AUTHENTICATE PLAIN"]  # no CAP END before the login
    feed(core, "AUTHENTICATE +")
    payload = base64.b64encode("profe\0profe\0contraseña".encode()).decode()
    assert core.take_lines() == [f"AUTHENTICATE {payload}"]
    feed(core, ":srv 900 profe profe!c@h profe :You are now logged in", ":srv 903 profe :ok")
    assert core.take_lines() == ["CAP END"]
    assert core.take_events() == [ev.LoggedIn("profe")]


def test_a_wrong_account_password_ends_for_good_and_long_ones_go_in_pieces():
    core = new_core("profe", account_password="x" * 600)
    core.connection_made(0.0)
    feed(core, ":srv CAP * LS :sasl", ":srv CAP profe ACK :sasl", "AUTHENTICATE +")
    pieces = [line.split()[1] for line in core.take_lines() if line.startswith("AUTHENTICATE ")]
    assert [len(p) for p in pieces] == [5, 400, 400, 16]  # PLAIN, then 816 base64 characters
    assert feed(core, ":srv 904 profe :Wrong password") == "Wrong password"
    assert core.fatal == "Wrong password" and core.account_password is None
    assert core.take_events() == [ev.ServerError("904", "Wrong password")]
    exact = new_core("ab", account_password="c" * 294)  # "ab\0ab\0" + 294: 300 bytes, 400 base64
    exact.connection_made(0.0)
    feed(exact, ":srv CAP * LS :sasl", ":srv CAP ab ACK :sasl", "AUTHENTICATE +")
    assert exact.take_lines()[-1] == "AUTHENTICATE +"  # a full last piece is followed by "+"


def test_declining_to_log_in_takes_the_fallback_nick():
    core = new_core("profe")
    core.connection_made(0.0)
    feed(core, ":srv 433 * profe :Nick registrado: entra con su contraseña")
    core.connection_lost()
    core.skip_login()
    core.connection_made(0.0)
    assert "NICK profe_" in core.take_lines()


def test_an_oper_the_server_refuses_is_logged_not_fatal_nor_shown(caplog):
    core = registered(oper=("charla-host", "x"))  # the welcome sent OPER
    assert feed(core, ":srv 421 ana OPER :Unknown command") is None  # a server without it
    assert core.take_events() == []
    assert "did not make this window the room's teacher" in caplog.text
    core = registered(oper=("charla-host", "x"))
    assert feed(core, ":srv 464 ana :Password incorrect") is None  # RFC 2812's OPER answer
    assert core.fatal is None and core.take_events() == []
    assert feed(core, ":srv 464 ana :Password incorrect") is None  # not ours: shown
    assert core.take_events() == [ev.ServerError("464", "Password incorrect")]


def test_a_teachers_powers_end_with_the_connection():
    core = registered()
    feed(core, ":srv 381 ana :You are now an IRC operator")
    assert core.take_events() == [ev.UserModes("o")]
    core.connection_lost()
    assert core.take_events() == [ev.UserModes("")]
    core.connection_lost()  # nothing more to say the second time
    assert core.take_events() == []


def test_a_nick_refused_as_registered_before_the_login_is_asked_for_again_after_it():
    core = new_core("profe", account_password="bien")
    core.connection_made(0.0)
    feed(
        core,
        ":srv CAP * LS :sasl",
        ":srv 433 * profe :profe is registered: log in with its password",  # NICK came first
        ":srv CAP profe ACK :sasl",
        "AUTHENTICATE +",
    )
    assert not core.awaiting_login and core.take_events() == []
    core.take_lines()
    feed(core, ":srv 903 profe :SASL authentication successful")
    assert core.take_lines() == ["NICK profe", "CAP END"]


def test_a_wrong_password_is_said_in_the_windows_language():
    """The reason shown as "Desconectado: …" is not English under --lang es."""
    set_language("es")
    core = new_core(password="mal")
    core.connection_made(0.0)
    assert feed(core, ":srv 464 * :Password incorrect") == "contraseña incorrecta"


def test_the_servers_welcome_comes_out_as_one_event_bounded():
    core = registered()
    feed(
        core,
        ":srv 375 ana :- srv Message of the day - ",
        ":srv 372 ana :- Sé amable: lo lee todo el mundo.",
        ":srv 372 ana :-   sangrado",
        ":srv 372 ana :-",
        ":srv 376 ana :End of /MOTD command.",
    )
    assert core.take_events() == [ev.Motd(("Sé amable: lo lee todo el mundo.", "  sangrado"))]
    feed(core, ":srv 372 ana :- a stray line", ":srv 376 ana :End")  # no 375: nothing
    assert core.take_events() == []
    feed(core, ":srv 375 ana :- start", *[f":srv 372 ana :- {n}" for n in range(500)])
    feed(core, ":srv 376 ana :End")
    [motd] = core.take_events()
    assert len(motd.lines) == MAX_MOTD_LINES


def test_the_lines_of_a_long_message_are_marked_and_put_back_together():
    core = registered(caps="message-tags")
    item = PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", "Mañana hay", True)
    core.queue_message(item)
    core.queue_message(PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", " examen"))
    core.send_pending()
    lines = core.take_lines()
    assert lines[:2] == [
        "@+charla.chat/continues PRIVMSG #general :Mañana hay",
        "PRIVMSG #general : examen",
    ]
    more = "@+charla.chat/continues;msgid=m{n} :bea!b@h PRIVMSG #general :"
    core.take_events()
    feed(core, more.format(n=1) + "Mañana hay", now=1.0)
    feed(core, ":carla!c@h PRIVMSG #general :entre medias", now=1.1)  # someone else: at once
    assert texts(core.take_events()) == ["entre medias"]
    feed(core, ":bea!b@h PRIVMSG #general : examen", now=1.2)
    [whole] = core.take_events()
    assert (whole.sender, whole.text, whole.msgid) == ("bea", "Mañana hay examen", "m1")
    feed(core, more.format(n=2) + "sin final", now=2.0)  # the end never comes
    assert core.take_events() == [] and core.next_deadline() <= 2.0 + REJOIN_WAIT
    core.tick(2.0 + REJOIN_WAIT)
    assert texts(core.take_events()) == ["sin final"]
    feed(core, more.format(n=3) + "me voy", now=3.0)
    feed(core, ":bea!b@h QUIT :adiós", now=3.1)  # what she was saying comes before she goes
    events = core.take_events()
    assert texts(events[:1]) == ["me voy"] and isinstance(events[1], ev.UserQuit)


def test_without_message_tags_no_line_is_marked():
    core = registered()
    core.queue_message(PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", "uno", True))
    core.send_pending()
    assert core.take_lines()[0] == "PRIVMSG #general :uno"


# -- issue 17: replies, reactions, typing, older messages -------------------------------


def test_a_reply_carries_the_answered_msgid_both_ways():
    core = registered(caps=CAPS)
    core.queue_message(
        PendingMessage(core.outbox.new_id(), "PRIVMSG", "#general", "sí", reply_to="s-1-7")
    )
    core.send_pending()
    assert any(line.startswith("@") and "+reply=s-1-7" in line for line in core.take_lines())
    feed(core, "@msgid=s-1-8;+draft/reply=s-1-7 :beto!b@h PRIVMSG #general :yo también")
    [message] = [e for e in core.take_events() if isinstance(e, ev.ChatMessage)]
    assert message.reply_to == "s-1-7"
    feed(core, "@msgid=s-1-9;+reply=a\x01b :beto!b@h PRIVMSG #general :raro")
    [odd] = [e for e in core.take_events() if isinstance(e, ev.ChatMessage)]
    assert odd.reply_to == ""  # not a msgid: shown as a plain message


def test_reactions_and_typing_become_events_and_junk_is_dropped():
    core = registered(caps=CAPS)
    feed(
        core,
        "@msgid=s-1-10;+draft/react=👍;+draft/reply=s-1-7 :beto!b@h TAGMSG #general",
        "@+draft/unreact=👍;+draft/reply=s-1-7 :beto!b@h TAGMSG #general",
        "@+typing=active :carla!c@h TAGMSG #general",
        "@+typing=active :carla!c@h TAGMSG ana",  # in private: the conversation is carla
        "@+draft/react=" + "x" * 40 + ";+draft/reply=s-1-7 :beto!b@h TAGMSG #general",
        "@+typing=dancing :carla!c@h TAGMSG #general",
        "@msgid=s-1-10;+draft/react=👍;+draft/reply=s-1-7 :beto!b@h TAGMSG #general",  # again
    )
    assert core.take_events() == [
        ev.Reaction("#general", "beto", "s-1-7", "👍", True),
        ev.Reaction("#general", "beto", "s-1-7", "👍", False),
        ev.Typing("#general", "carla", "active"),
        ev.Typing("carla", "carla", "active"),
    ]


def test_older_messages_come_as_one_event_with_long_ones_put_back_together():
    core = registered(caps=CAPS)
    feed(core, ":srv 005 ana CHATHISTORY=50 :are supported")
    assert core.request_older("#general", "s-1-100")
    assert core.take_lines() == ["CHATHISTORY BEFORE #general msgid=s-1-100 :50"]
    feed(
        core,
        ":srv BATCH +h9 chathistory #general",
        "@batch=h9;msgid=s-1-1;time=2026-12-05T08:00:00.000Z :beto!b@h PRIVMSG #general :hola",
        "@batch=h9;msgid=s-1-2;+charla.chat/continues :carla!c@h PRIVMSG #general :una parte",
        "@batch=h9;msgid=s-1-3 :carla!c@h PRIVMSG #general : y otra",
        "@batch=h9;msgid=s-1-4;+draft/react=❓;+draft/reply=s-1-1 :ana!a@h TAGMSG #general",
        ":srv BATCH -h9",
    )
    [older] = core.take_events()
    assert isinstance(older, ev.OlderMessages) and older.target == "#general"
    assert [(m.sender, m.text) for m in older.messages] == [
        ("beto", "hola"),
        ("carla", "una parte y otra"),
    ]
    assert older.messages[1].more_msgids == ("s-1-3",) and older.messages[0].history
    assert older.reactions == (ev.Reaction("#general", "ana", "s-1-1", "❓", True),)
    assert core.request_older("#general", "s-1-1")
    feed(core, ":srv FAIL CHATHISTORY INVALID_TARGET BEFORE #general :No")
    assert core.take_events() == [ev.OlderMessages("#general", ())]


def test_no_older_messages_are_asked_of_a_server_without_chathistory():
    core = registered(caps=CAPS)
    assert not core.request_older("#general", "s-1-100")
    assert core.take_lines() == []


def test_away_is_heard_from_away_notify_a_who_of_the_channel_and_the_replies():
    core = registered(caps="away-notify")
    feed(core, ":ana!u@h JOIN #clase")
    assert core.take_lines()[-1] == "WHO #clase"  # who is away already
    feed(
        core,
        ":srv 352 ana #clase u h srv bea G :0 Bea",
        ":srv 352 ana #clase u h srv carla H@ :0 Carla",
        ":bea!u@h AWAY",  # back
        ":dani!u@h AWAY :comiendo",
        ":srv 301 ana dani :comiendo",
        ":srv 306 ana :You have been marked as being away",
    )
    assert [e for e in core.take_events() if isinstance(e, ev.Away)] == [
        ev.Away("bea", True),
        ev.Away("bea", False),
        ev.Away("dani", True, "comiendo"),
        ev.Away("dani", True, "comiendo", replying=True),
        ev.Away("ana", True),
    ]


def test_without_away_notify_no_who_is_sent():
    core = registered()
    feed(core, ":ana!u@h JOIN #clase")
    assert "WHO #clase" not in core.take_lines()
