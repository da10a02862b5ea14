"""The client connection against Charla's server and a scripted fake server.

Every wait is on an event from the client's queue or a line from a socket, bounded by a
timeout; every client is quit and every server stopped at teardown.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator

import pytest

from net import events as ev
from net.client import ChatClient, ReconnectPolicy
from net.client_protocol import InvalidNameError
from net.i18n import set_language
from net.network import ServerAddress
from net.protocol import EmbeddedNewlineError, InvalidParameterError
from net.server import ChatServer
from tests.support import (
    FAST_RETRY,
    Events,
    FakeServer,
    FreezableRelay,
    IrcClient,
    LineClient,
    certificate_fingerprint,
    make_certificate,
    started_port,
)


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[ChatClient, Events]]]:
    clients: list[ChatClient] = []

    def make(port: int, nick: str, **kwargs: object) -> tuple[ChatClient, Events]:
        kwargs.setdefault("policy", FAST_RETRY)
        client = ChatClient("127.0.0.1", port, nick, **kwargs)
        clients.append(client)
        client.start()
        return client, Events(client)

    yield make
    for client in clients:
        client.quit()


def test_two_clients_chat_through_charla(server, make_client):
    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Registered)
    ana_events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    bea, bea_events = make_client(server.port, "Begoña")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "Begoña"})
    ana_events.wait_for(ev.Joined, lambda e: e.nick == "Begoña")
    [message_id] = ana.say("#general", "¿Habéis visto el examen? 📚")
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == message_id)
    got = bea_events.wait_for(ev.ChatMessage)
    assert (got.sender, got.target, got.text, got.private) == (
        "ana",
        "#general",
        "¿Habéis visto el examen? 📚",
        False,
    )
    assert abs(time.time() - got.time.timestamp()) < 60  # the server's time, from its tag
    bea.action("#general", "se ríe")
    assert ana_events.wait_for(ev.ChatMessage).kind == "action"
    bea.say("ana", "en privado")
    private = ana_events.wait_for(ev.ChatMessage)
    assert private.private and private.text == "en privado"
    ana.change_nick("Ana")
    bea_events.wait_for(ev.NickChanged, lambda e: (e.old, e.new) == ("ana", "Ana"))
    ana_events.wait_for(ev.NickChanged, lambda e: e.me)
    assert ana.nick == "Ana"
    server.rooms.make_teacher(server.find_session("Ana"))  # #general's topic is theirs (+t)
    ana.set_topic("#general", "Examen el lunes")
    bea_events.wait_for(ev.Topic, lambda e: e.topic == "Examen el lunes" and e.changed)
    bea.part("#general", "me voy")
    ana_events.wait_for(ev.Parted, lambda e: e.nick == "Begoña" and e.reason == "me voy")


def test_announcements_from_the_server(server, make_client):
    _client, events = make_client(server.port, "ana")
    events.wait_for(ev.Joined)
    server.announce("Recreo")
    assert events.wait_for(ev.Announcement).text == "Recreo"


def test_long_message_is_split_in_order_and_shown_whole_to_a_charla_client(server, make_client):
    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    _bea, bea_events = make_client(server.port, "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    watcher = IrcClient(server.port)  # an IRC client without message-tags: the lines
    try:
        watcher.register("watcher")
        watcher.join("#general")
        text = "ñandú 🐦 " * 300  # 3,300 characters, about 4,500 bytes
        ids = ana.say("#general", text)
        assert len(ids) > 8
        whole = bea_events.wait_for(ev.ChatMessage)  # rejoined: one message
        assert (whole.sender, whole.text) == ("ana", text)
        lines = [watcher.expect(r"PRIVMSG #general :(.*)$").group(1) for _ in ids]
        assert "".join(lines) == text and "charla.chat/continues" not in "".join(lines)
        ana.say("#general", "corto")
        assert bea_events.wait_for(ev.ChatMessage).text == "corto"
    finally:
        watcher.close()


@pytest.mark.parametrize("kind", ["charla", "ngircd"])
def test_a_long_message_is_cut_between_words_and_no_space_is_lost(kind, request, make_client):
    """interop review B7: ngIRCd trims a line's trailing spaces, so a cut after a space lost
    it ("programación,¿vale?"); the space now starts the next line, where it survives."""
    if kind == "ngircd":
        port = request.getfixturevalue("ngircd_port")
    else:
        port = request.getfixturevalue("server").port
    ana, ana_events = make_client(port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    _bea, bea_events = make_client(port, "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    watcher = IrcClient(port)  # an IRC client without message-tags: the lines themselves
    try:
        watcher.register("watcher")
        watcher.join("#general")
        text = ("Mañana habrá examen de programación, ¿vale? 👋🏽 👩\u200d🏫 " * 30).strip()
        ids = ana.say("#general", text)
        assert len(ids) > 3
        pieces = [watcher.expect(r"PRIVMSG #general :(.*)$", timeout=20).group(1) for _ in ids]
        got = [bea_events.wait_for(ev.ChatMessage, timeout=20).text]
        if kind == "ngircd":  # no message-tags there: each line is a message of its own
            got += [bea_events.wait_for(ev.ChatMessage, timeout=20).text for _ in ids[1:]]
        assert got == (pieces if kind == "ngircd" else [text])  # Charla: one message again
    finally:
        watcher.close()
    assert "".join(pieces) == text  # not a character lost
    words = set(text.split())
    for piece in pieces:
        assert set(piece.split()) <= words  # every cut between two words
        assert not piece.endswith(" ")


def test_messages_typed_while_offline_are_sent_after_connecting(start_server, make_client):
    with socket.socket() as probe:  # a port where nothing listens yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, events = make_client(port, "ana")
    events.wait_for(ev.Disconnected)
    ids = client.say("#general", "escrito sin conexión")
    assert events.wait_for(ev.OutboxChanged).pending == 1
    server = start_server(port=port)
    watcher = LineClient(server.port)
    watcher.send("NICK watcher")
    watcher.send("USER w 0 * :w")
    watcher.send("JOIN #general")
    watcher.expect(r" 366 watcher ")
    watcher.expect(r"PRIVMSG #general :escrito sin conexión$", timeout=10)
    events.wait_for(ev.Delivered, lambda e: e.message_id == ids[0])
    watcher.close()


def test_a_long_outbox_goes_out_at_the_servers_pace_without_being_dropped(
    start_server, make_client
):
    """300 messages written while offline, a server that lets 10 lines through at once and
    drops whoever has 60 waiting: all arrive, once, in order, on the first connection."""
    with socket.socket() as probe:  # a port where nothing listens yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client, events = make_client(port, "ana")
    events.wait_for(ev.Disconnected)
    texts = [f"línea {number}" for number in range(300)]
    ids = client.say("#general", "\n".join(texts))
    assert len(ids) == 300
    server = start_server(port=port, flood_burst=10, flood_rate=300.0, flood_max_queued=60)
    watcher = IrcClient(server.port)
    try:
        watcher.register("watcher")
        watcher.join("#general")
        for text in texts:
            watcher.expect(rf"PRIVMSG #general :{text}$", timeout=15)
        events.wait_for(ev.Delivered, lambda e: e.message_id == ids[-1], timeout=15)
        watcher.sync()
        assert sum("PRIVMSG #general" in line for line in watcher.lines) == 300
    finally:
        watcher.close()
    assert sum(isinstance(e, ev.Registered) for e in events.seen) == 1  # never dropped


def test_quit_says_goodbye_and_returns_quickly(server, make_client, connect):
    watcher = connect("watcher")
    watcher.join("#general")
    client, events = make_client(server.port, "ana")
    watcher.expect(r"^:ana!\S+ JOIN")
    started = time.monotonic()
    client.quit("hasta mañana")
    assert time.monotonic() - started < 1.5
    watcher.expect(r"^:ana!\S+ QUIT :Quit: hasta mañana$")
    events.wait_for(ev.Closed)
    assert "charla-client" not in {thread.name for thread in threading.enumerate()}


@pytest.fixture
def relay(server: ChatServer) -> Iterator[FreezableRelay]:
    relay = FreezableRelay(server.port)
    yield relay
    relay.close()


def test_reconnect_reclaims_the_nick_from_a_half_open_ghost(server, relay, make_client):
    """The server still holds the old connection; the same client gets its nick at once."""
    client, events = make_client(relay.port, "ana", keepalive_after=0.3, keepalive_timeout=0.5)
    events.wait_for(ev.Names)
    ghost = server.find_session("ana")
    relay.freeze()  # the network dies between them, and nobody is told
    assert "no answer" in events.wait_for(ev.Disconnected).reason
    assert server.find_session("ana") is ghost  # the server still holds the old connection
    registered = events.wait_for(ev.Registered)
    assert registered.nick == "ana"  # not a fallback nick: the ghost gave it up
    assert server.find_session("ana") is not ghost
    events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    assert client.nick == "ana"


def test_history_replayed_on_rejoining_shows_nothing_twice(server, make_client):
    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    bea, bea_events = make_client(server.port, "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    bea.say("#general", "hola")
    ana.say("#general", "mío")  # kept in the history before the PART after it is handled
    ana_events.wait_for(ev.ChatMessage, lambda e: e.text == "hola")
    ana.part("#general")
    ana_events.wait_for(ev.Parted, lambda e: e.me)
    ana.join("#general")  # the server replays the channel's history to whoever joins
    ana_events.wait_for(ev.Names, lambda e: e.channel == "#general")
    bea.say("#general", "después")
    ana_events.wait_for(ev.ChatMessage, lambda e: e.text == "después")
    shown = [e.text for e in ana_events.seen if isinstance(e, ev.ChatMessage)]
    assert shown == ["hola", "después"]


def test_other_client_cannot_steal_a_nick_with_a_guessed_token(server, make_client, connect):
    _client, events = make_client(server.port, "ana")
    events.wait_for(ev.Registered)
    thief = connect()
    thief.send("CAP REQ :charla.chat/session")
    thief.send("SESSION " + "0" * 32)
    thief.send("CAP END")
    thief.send("NICK ana")
    thief.send("USER t 0 * :t")
    thief.expect(r" 433 \* ana ")


def test_server_drops_a_repeated_message_it_already_relayed(server, connect):
    ana, bea = connect(), connect("bea")
    bea.join("#a")
    ana.register("ana", session="a1" * 16)
    ana.join("#a")
    for _ in range(2):  # the second is what a reconnecting client would send again
        ana.send("@charla.chat/seq=7 PRIVMSG #a :una vez")
    ana.send("@charla.chat/seq=8 PRIVMSG #a :otra")
    bea.expect(r"PRIVMSG #a :otra$")
    assert sum("una vez" in line for line in bea.lines) == 1


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def test_server_without_cap_and_lines_split_into_single_bytes(fake, make_client):
    _client, events = make_client(fake.port, "ana")
    peer = fake.accept()
    peer.expect(r"^CAP LS :?302$")  # 302 as a trailing parameter is the same
    peer.expect(r"^NICK ana$")
    peer.expect(r"^USER ")
    peer.send_raw(b":fake 421 * CAP :Unknown command\r\n")  # an old server
    welcome = ":fake 001 ana :Welcome\r\n:bob!b@h PRIVMSG #general :ñandú 🐦\r\n".encode()
    for index in range(len(welcome)):
        peer.send_raw(welcome[index : index + 1])
    events.wait_for(ev.Registered)
    peer.expect(r"^JOIN #general$")
    assert events.wait_for(ev.ChatMessage).text == "ñandú 🐦"
    peer.send_raw(b":fake 999 ana strange :numeric nobody knows\r\n:fake FOO bar\r\n")
    peer.send_raw(b":bob!b@h PRIVMSG #general :bad \xff utf8\r\n")
    assert events.wait_for(ev.ChatMessage).text == "bad ÿ utf8"


def test_caps_refused_then_registration_goes_on(fake, make_client):
    _client, events = make_client(fake.port, "ana")
    peer = fake.accept()
    peer.expect(r"^USER ")
    peer.send_raw(b":fake CAP * LS :server-time message-tags\r\n")
    peer.expect(r"^CAP REQ :server-time message-tags$")
    peer.send_raw(b":fake CAP * NAK :server-time message-tags\r\n")
    peer.expect(r"^CAP END$")
    fake.welcome(peer, "ana")
    events.wait_for(ev.Registered)


def test_nick_in_use_gets_a_fallback_and_is_taken_back_when_free(fake, make_client):
    client, events = make_client(fake.port, "ana", nick_retry_interval=0.2)
    peer = fake.accept()
    peer.expect(r"^USER ")
    peer.send_raw(b":fake CAP * LS :\r\n")
    peer.expect(r"^CAP END$")
    peer.send_raw(b":fake 433 * ana :Nickname is already in use\r\n")
    peer.expect(r"^NICK ana_$")
    error = events.wait_for(ev.ServerError)
    assert error.code == "433" and "ana_" in error.text
    fake.welcome(peer, "ana_")
    assert events.wait_for(ev.Registered).nick == "ana_"
    peer.expect(r"^NICK ana$")  # asks again by itself, on a timer
    peer.send_raw(b":fake 433 ana_ ana :Nickname is already in use\r\n")
    peer.send_raw(b":ana!a@h QUIT :Ping timeout\r\n")  # the holder leaves: ask at once
    peer.expect(r"^NICK ana$")
    peer.send_raw(b":ana_!u@h NICK :ana\r\n")
    events.wait_for(ev.NickChanged, lambda e: e.me and e.new == "ana")
    assert client.nick == "ana"


def test_silent_half_open_server_is_noticed_and_left(fake, make_client):
    _client, events = make_client(fake.port, "ana", keepalive_after=0.3, keepalive_timeout=0.3)
    peer = fake.accept()
    peer.expect(r"^USER ")
    fake.welcome(peer, "ana")
    events.wait_for(ev.Registered)
    peer.expect(r"^PING charla-keepalive$", timeout=5)  # we stay silent, like a dead peer
    gone = events.wait_for(ev.Disconnected, timeout=5)
    assert "no answer" in gone.reason
    fake.accept()  # and it comes back by itself


def test_server_closing_mid_line_and_unconfirmed_messages_are_sent_again(fake, make_client):
    client, events = make_client(fake.port, "ana")
    peer = fake.accept()
    peer.expect(r"^USER ")
    fake.welcome(peer, "ana")
    fake.joined(peer, "ana")
    events.wait_for(ev.Registered)
    ids = client.say("#general", "primero")
    peer.expect(r"^PRIVMSG #general :primero$")
    peer.expect(rf"^PING charla-ack-{ids[0]}$")
    peer.send_raw(b":bob!b@h PRIVMSG #general :half a li")  # and then the server dies
    peer.close()
    events.wait_for(ev.Disconnected)
    again = fake.accept()
    again.expect(r"^USER ")
    fake.welcome(again, "ana")
    fake.joined(again, "ana")
    again.expect(r"^PRIVMSG #general :primero$")  # never confirmed: sent again, once back in
    again.send_raw(f":fake PONG fake :charla-ack-{ids[0]}\r\n".encode())
    events.wait_for(ev.Delivered, lambda e: e.message_id == ids[0])
    assert not any(isinstance(e, ev.ChatMessage) for e in events.seen)


def test_wrong_password_stops_retrying(start_server, make_client):
    server: ChatServer = start_server(password="clase")
    _client, events = make_client(server.port, "ana", password="mal")
    assert events.wait_for(ev.ServerError).code == "464"
    assert events.wait_for(ev.Closed).reason == "wrong password"


def test_kill_and_restart_the_server_mid_conversation(run_server, make_client):
    """Messages before, during and after a crash arrive once each, in order; nicks survive."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = (
        "--host",
        "127.0.0.1",
        "--port",
        port,
        "--no-flood-control",
        "--log-level",
        "warning",
    )
    first = run_server(*command)
    started_port(first)
    ana, ana_events = make_client(int(port), "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    bea, bea_events = make_client(int(port), "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    expected = {"ana": [], "bea": []}

    def talk(phase: str) -> None:
        for number in range(15):
            for client, nick in ((ana, "ana"), (bea, "bea")):
                client.say("#general", f"{nick} {phase} {number}")
                expected[nick].append(f"{nick} {phase} {number}")

    talk("antes")
    first.process.kill()  # SIGKILL: no goodbye, whatever was in flight is in flight
    first.wait()
    talk("durante")
    second = run_server(*command)
    started_port(second)
    talk("después")
    for client in (ana, bea):
        client.say("#general", "fin")
    for events, other in ((bea_events, "ana"), (ana_events, "bea")):
        received = []
        while not received or received[-1] != "fin":
            received.append(
                events.wait_for(ev.ChatMessage, lambda e, o=other: e.sender == o, timeout=20).text
            )
        assert received == [*expected[other], "fin"]
    assert (ana.nick, bea.nick) == ("ana", "bea")
    for events in (ana_events, bea_events):
        assert sum(isinstance(e, ev.Joined) and e.me for e in events.seen) == 2
        assert not any(isinstance(e, ev.ServerError) for e in events.seen)


def test_two_clients_chat_through_ngircd(ngircd_port, make_client):
    ana, ana_events = make_client(ngircd_port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    bea, bea_events = make_client(ngircd_port, "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    [message_id] = ana.say("#general", "hola desde ngIRCd, ¿qué tal? 🐧")
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == message_id)
    assert bea_events.wait_for(ev.ChatMessage).text == "hola desde ngIRCd, ¿qué tal? 🐧"
    bea.say("ana", "privado")
    private = ana_events.wait_for(ev.ChatMessage)
    assert private.private and (private.sender, private.text) == ("bea", "privado")
    ana.change_nick("anita")
    bea_events.wait_for(ev.NickChanged, lambda e: (e.old, e.new) == ("ana", "anita"))
    assert ana_events.wait_for(ev.NickChanged, lambda e: e.me).new == "anita"
    bea.action("#general", "saluda")
    assert ana_events.wait_for(ev.ChatMessage).kind == "action"


def test_nick_held_by_a_ghost_on_ngircd_is_taken_back_when_freed(ngircd_port, make_client):
    ghost = LineClient(ngircd_port)
    try:
        ghost.send("NICK ana")
        ghost.send("USER g 0 * :ghost")
        ghost.expect(r" 001 ana ")
        client, events = make_client(ngircd_port, "ana", nick_retry_interval=0.3)
        assert events.wait_for(ev.Registered).nick == "ana_"
        ghost.send("QUIT :gone")
        ghost.expect_closed()
        events.wait_for(ev.NickChanged, lambda e: e.me and e.new == "ana")
        assert client.nick == "ana"
    finally:
        ghost.close()


def test_bad_arguments_raise_on_the_callers_thread_and_the_client_goes_on(fake, make_client):
    client, events = make_client(fake.port, "ana")
    peer = fake.accept()
    peer.expect(r"^USER ")
    fake.welcome(peer, "ana")
    fake.joined(peer, "ana")
    with pytest.raises(EmbeddedNewlineError):
        client.say("#general", "hola\x00mundo")
    with pytest.raises(EmbeddedNewlineError):
        client.action("#general", "un CR suelto\rQUIT")
    with pytest.raises(InvalidParameterError):
        client.say("#general extra", "hola")
    with pytest.raises(EmbeddedNewlineError):
        client.join("#a\r\nQUIT")
    with pytest.raises(InvalidNameError):
        client.join("#a b")
    client.part("#general adiós")  # /part with a reason typed after it: not a channel of ours
    with pytest.raises(EmbeddedNewlineError):
        client.part("#general", "adiós\nQUIT")
    with pytest.raises(EmbeddedNewlineError):
        client.change_nick("ana\nQUIT")
    with pytest.raises(EmbeddedNewlineError):
        client.set_topic("#general", "tema\r\nQUIT")
    with pytest.raises(EmbeddedNewlineError):
        client.quit("adiós\nQUIT")
    [message_id] = client.say("#general", "sigo aquí")
    peer.expect(r"^PRIVMSG #general :sigo aquí$")
    peer.expect(rf"^PING charla-ack-{message_id}$")
    peer.send_raw(f":fake PONG fake :charla-ack-{message_id}\r\n".encode())
    events.wait_for(ev.Delivered, lambda e: e.message_id == message_id)
    assert not any(word in line for line in peer.lines for word in ("QUIT", "mundo", "PART"))
    assert not any(isinstance(e, ev.Closed) for e in events.seen)


def test_what_registration_would_send_is_checked_by_the_constructor():
    with pytest.raises(InvalidNameError):
        ChatClient("127.0.0.1", 1, "ana", ["#a b"])
    with pytest.raises(EmbeddedNewlineError):
        ChatClient("127.0.0.1", 1, "ana\r\nQUIT")
    with pytest.raises(EmbeddedNewlineError):
        ChatClient("127.0.0.1", 1, "ana", password="clave\nQUIT")
    with pytest.raises(InvalidParameterError):
        ChatClient("127.0.0.1", 1, "ana", username="dos palabras")


def test_quit_does_not_wait_for_a_name_lookup_that_hangs(monkeypatch):
    real_getaddrinfo = socket.getaddrinfo
    asked, release, answered = threading.Event(), threading.Event(), threading.Event()

    def hanging_lookup(host, *args, **kwargs):
        if host != "aula.invalid":
            return real_getaddrinfo(host, *args, **kwargs)
        asked.set()
        release.wait(30)
        answered.set()
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_lookup)
    client = ChatClient("aula.invalid", 12345, "ana", policy=FAST_RETRY, connect_timeout=60)
    events = Events(client)
    client.start()
    try:
        assert asked.wait(10)
        client.quit()
        assert events.wait_for(ev.Closed).reason == "quit"
        assert not answered.is_set()  # the client is gone while the lookup still hangs
    finally:
        release.set()
        assert answered.wait(10)


def test_quit_leaves_no_socket_open(fake):
    gc.collect()  # what earlier tests left behind is not this test's business
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        never_started = ChatClient("127.0.0.1", fake.port, "bea")
        never_started.quit()
        client = ChatClient("127.0.0.1", fake.port, "ana", policy=FAST_RETRY)
        events = Events(client)
        client.start()
        fake.accept().expect(r"^USER ")
        client.quit()
        events.wait_for(ev.Closed)
        del client, events, never_started
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


def test_reconnect_delays_double_up_to_the_most_with_jitter():
    policy = ReconnectPolicy(first=0.25, base=1.0, most=30.0, jitter=0.2)
    nominal = [0.25, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for attempt, expected in enumerate(nominal, start=1):
        for _ in range(20):
            assert expected * 0.8 <= policy.delay(attempt) <= expected * 1.2
    exact = ReconnectPolicy(first=0.1, base=0.5, most=3.0, jitter=0)
    assert [exact.delay(attempt) for attempt in range(1, 7)] == [0.1, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_backoff_grows_while_failing_and_starts_over_after_registering(fake, make_client):
    policy = ReconnectPolicy(first=0.05, base=0.1, most=0.5, jitter=0, max_attempts=200)
    _client, events = make_client(fake.port, "ana", policy=policy)
    drops = []
    for registers in (False, False, True):
        peer = fake.accept()
        peer.expect(r"^USER ")
        if registers:
            fake.welcome(peer, "ana")
            events.wait_for(ev.Registered)
        peer.close()  # the server goes away before (or after) the welcome
        drops.append(events.wait_for(ev.Disconnected))
    assert [(drop.retry_in, drop.attempt) for drop in drops] == [
        (0.05, 2),  # the first delay after the first failed try
        (0.1, 3),  # then growing
        (0.05, 2),  # a registered connection counts as success: the next drop starts over
    ]
    assert events.wait_for(ev.Connecting).attempt == 2


def test_an_accented_nick_on_ngircd_comes_in_as_plain_ascii(ngircd_port, make_client):
    """ngIRCd refuses "Begoña" (432): the client comes in once as Begona and joins."""
    _client, events = make_client(ngircd_port, "Begoña")
    refused = events.wait_for(ev.ServerError, lambda e: e.code == "432")
    assert refused.text.endswith("-> Begona")
    assert events.wait_for(ev.Registered).nick == "Begona"
    events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    assert [e.code for e in events.seen if isinstance(e, ev.ServerError)] == ["432"]


@pytest.mark.parametrize("language", ["en", "es"])
def test_a_hosting_teacher_gets_a_reserved_nick_once_it_is_a_teacher(
    start_server, make_client, language
):
    """A teacher hosting a room calls itself "Profe", a reserved word: refused at
    registration (432), the window registers under a stand-in nick, sends its OPER and
    takes "Profe" right after (a teacher may); before, the window gave up. The room a
    window hosts speaks the window's language: the 432 reads "reservado" in Spanish."""
    set_language(language)
    server = start_server(opers={"charla-host": "s3cr3t"})
    client, events = make_client(server.port, "Profe", oper=("charla-host", "s3cr3t"))
    events.wait_for(ev.Registered)
    events.wait_for(ev.UserModes, lambda e: "o" in e.modes)
    events.wait_for(ev.NickChanged, lambda e: e.me and e.new == "Profe")
    assert client.nick == "Profe" and server.find_session("Profe").teacher
    _student, student_events = make_client(server.port, "Profe")  # a student: no way in
    closed = student_events.wait_for(ev.Closed)
    refused = {
        "en": "the server does not accept the nickname",
        "es": "el servidor no acepta el apodo",
    }
    assert closed.reason.startswith(f"{refused[language]} Profe (")
    assert "reserv" in closed.reason  # the server says why: a word kept for teachers


def test_a_picture_is_uploaded_and_fetched_off_the_callers_thread(server, make_client, tmp_path):
    from tests.test_uploads import tiny_png

    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    bea, bea_events = make_client(server.port, "bea")
    bea_events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    picture = tmp_path / "mi foto.png"
    picture.write_bytes(tiny_png())
    assert ana.upload("#general", picture)
    done = ana_events.wait_for(ev.UploadDone)
    assert done.name == "mi foto.png" and "/f/" in done.link
    # its own line: the server sends it, since the client did not (over the chat's
    # connection, so it may come just before or just after the upload's answer)
    if not any(isinstance(e, ev.ChatMessage) and e.own for e in ana_events.seen):
        ana_events.wait_for(ev.ChatMessage, lambda e: e.own)
    own = [e for e in ana_events.seen if isinstance(e, ev.ChatMessage) and e.own]
    assert [e.text for e in own] == [f"📎 mi foto.png {done.link}"]
    got = bea_events.wait_for(ev.ChatMessage, lambda e: e.sender == "ana")
    assert got.text == f"📎 mi foto.png {done.link}"
    file_id = done.link.rsplit("/", 1)[1]
    assert bea.fetch_file(file_id, 10_000)
    fetched = bea_events.wait_for(ev.FileFetched)
    assert (fetched.file_id, fetched.content_type, fetched.data) == (
        file_id,
        "image/png",
        tiny_png(),
    )
    assert bea.fetch_file(file_id, 10)  # larger than allowed: no bytes
    assert bea_events.wait_for(ev.FileFetched).data is None


def test_an_upload_refused_says_why(server, make_client, tmp_path):
    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    fake = tmp_path / "virus.png"
    fake.write_bytes(b"MZ not a picture")
    ana.upload("#general", fake)
    failed = ana_events.wait_for(ev.UploadFailed)
    assert failed.name == "virus.png" and "PNG, GIF, JPEG" in failed.reason
    ana.upload("#general", tmp_path / "missing.png")
    assert "No such file" in ana_events.wait_for(ev.UploadFailed).reason


# -- a network of several servers, TLS ---------------------------------------------------------


def test_a_lost_server_is_left_for_the_next_one_of_the_network_and_nothing_is_lost(
    start_server, make_client
):
    """Two servers of one network (here two Charla servers; tests/test_irc_network.py
    has real linked ones): when ana's dies she is back on the other within moments,
    in the channel, and what she typed while moving arrives there once."""
    first, second = start_server(), start_server()
    ana, ana_events = make_client(
        first.port, "ana", alternates=[ServerAddress("127.0.0.1", second.port)]
    )
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    _bea, bea_events = make_client(second.port, "bea")
    bea_events.wait_for(ev.Joined, lambda e: e.me)
    first.shutdown()
    ana_events.wait_for(ev.Disconnected)
    [typed] = ana.say("#general", "¿seguís ahí?")  # offline: it waits for #general
    moved = ana_events.wait_for(ev.Connecting, lambda e: e.port == second.port)
    assert moved.host == "127.0.0.1" and ana.port == second.port
    ana_events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == typed)
    got = bea_events.wait_for(ev.ChatMessage)
    assert (got.sender, got.text) == ("ana", "¿seguís ahí?")
    [after] = ana.say("#general", "ya estoy")
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == after)
    assert bea_events.wait_for(ev.ChatMessage).text == "ya estoy"
    assert [e.text for e in bea_events.seen if isinstance(e, ev.ChatMessage)] == [
        "¿seguís ahí?",
        "ya estoy",
    ]


def test_each_server_is_tried_in_turn_and_a_whole_round_failing_waits(make_client):
    """Nobody answers: every server once, at once, then the backoff, then again."""
    ports = []
    for _ in range(3):
        with socket.socket() as probe:  # ports nobody listens on: refused at once
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    _client, events = make_client(
        ports[0],
        "ana",
        alternates=[ServerAddress("127.0.0.1", port) for port in ports[1:]],
        policy=ReconnectPolicy(first=0.3, base=0.3, jitter=0),
    )
    tries = [events.wait_for(ev.Connecting, lambda e, n=n: e.attempt == n) for n in range(1, 5)]
    assert [attempt.port for attempt in tries] == [*ports, ports[0]]
    drops = [event for event in events.seen if isinstance(event, ev.Disconnected)][:3]
    assert [drop.retry_in for drop in drops] == [0.0, 0.0, 0.3]  # the next at once; then wait
    assert all("cannot connect" in drop.reason for drop in drops)


@pytest.fixture
def school_tls(tmp_path) -> Iterator[tuple[FakeServer, str]]:
    """A scripted TLS server with a self-signed certificate, and its fingerprint."""
    certificate, key = make_certificate(tmp_path / "school")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    fake = FakeServer(tls=context)
    yield fake, certificate_fingerprint(certificate)
    fake.close()


def test_a_school_certificate_is_asked_about_once_and_trusted_it_connects(school_tls, make_client):
    fake, fingerprint = school_tls
    client, events = make_client(fake.port, "ana", tls=True)
    asked = events.wait_for(ev.CertificateUntrusted)
    assert (asked.key, asked.fingerprint) == (f"127.0.0.1:{fake.port}", fingerprint)
    assert "not signed by an authority" in asked.reason and not asked.changed
    fake.accept()  # the connection that fetched the certificate to show it, and hung up
    with pytest.raises(TimeoutError):  # then no more tries until the user answers
        fake.accept(timeout=0.5)
    assert fake.connections == 2
    client.trust(asked.key, asked.fingerprint)
    peer = fake.accept()
    peer.expect(r"^USER ")
    fake.welcome(peer, "ana")
    fake.joined(peer, "ana")
    [said] = client.say("#general", "cifrado")
    peer.expect(r"^PRIVMSG #general :cifrado$")
    peer.send_raw(f":fake PONG fake :charla-ack-{said}\r\n".encode())
    events.wait_for(ev.Delivered, lambda e: e.message_id == said)


def test_a_changed_certificate_is_refused_and_said_so(school_tls, make_client):
    fake, fingerprint = school_tls
    before = "00:" * 31 + "00"  # what the user trusted last week
    _client, events = make_client(
        fake.port, "ana", tls=True, trusted={f"127.0.0.1:{fake.port}": before}
    )
    warned = events.wait_for(ev.CertificateUntrusted)
    assert warned.changed and warned.fingerprint == fingerprint
    assert "CHANGED" in warned.reason


def test_a_tls_port_dialled_as_plain_text_says_to_write_ircs(make_client):
    """A TLS server reads our plain ``CAP LS`` as a broken handshake and answers with a
    TLS alert record: the reason says how to write the address instead."""
    fake = FakeServer()

    def answer_like_tls() -> None:
        with contextlib.suppress(OSError):
            peer = fake.accept()
            peer.expect(r"^USER ")
            peer.sock.sendall(b"\x15\x03\x01\x00\x02\x02\x46")  # alert: protocol version

    answering = threading.Thread(target=answer_like_tls, daemon=True)
    answering.start()
    _client, events = make_client(fake.port, "ana")
    drop = events.wait_for(ev.Disconnected)
    answering.join(10)
    fake.close()
    assert f"ircs://127.0.0.1:{fake.port}" in drop.reason
