"""The client connection against Charla's server and a scripted fake server.

Every wait is on an event from the client's queue or a line from a socket, bounded by a
timeout; every client is quit and every server stopped at teardown.
"""

from __future__ import annotations

import queue
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from net import events as ev
from net.client import ChatClient, ReconnectPolicy
from net.server import ChatServer
from tests.support import LineClient, started_port

FAST_RETRY = ReconnectPolicy(first=0.05, base=0.1, most=0.5, max_attempts=200)


class Events:
    """The events of one client, read as they come with a bounded wait."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.seen: list[ev.Event] = []

    def wait_for(
        self, kind: type, where: Callable[[ev.Event], bool] = lambda e: True, timeout: float = 10
    ):
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.client.events.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(event)
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"no {kind.__name__} within {timeout}s; saw {self.seen[-12:]}")

    def messages(self, sender: str) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, ev.ChatMessage) and e.sender == sender]


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
    ana.set_topic("#general", "Examen el lunes")
    bea_events.wait_for(ev.Topic, lambda e: e.topic == "Examen el lunes" and e.changed)
    bea.part("#general", "me voy")
    ana_events.wait_for(ev.Parted, lambda e: e.nick == "Begoña" and e.reason == "me voy")


def test_announcements_from_the_server(server, make_client):
    _client, events = make_client(server.port, "ana")
    events.wait_for(ev.Joined)
    server.announce("Recreo")
    assert events.wait_for(ev.Announcement).text == "Recreo"


def test_long_message_is_split_on_character_boundaries_in_order(server, make_client):
    ana, ana_events = make_client(server.port, "ana")
    ana_events.wait_for(ev.Joined, lambda e: e.me)
    _bea, bea_events = make_client(server.port, "bea")
    bea_events.wait_for(ev.Names, lambda e: set(e.nicks) == {"ana", "bea"})
    text = "ñandú 🐦 " * 300  # 3,300 characters, about 4,500 bytes
    ids = ana.say("#general", text)
    assert len(ids) > 8
    received = "".join(bea_events.wait_for(ev.ChatMessage).text for _ in ids)
    assert received == text


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
    assert not client._thread.is_alive()


def test_reconnect_reclaims_the_nick_from_a_half_open_ghost(server, make_client, connect):
    """The server still holds the old connection; the same client gets its nick at once."""
    watcher = connect("watcher")
    watcher.join("#general")
    client, events = make_client(server.port, "ana")
    events.wait_for(ev.Names)
    ghost = server.find_session("ana")
    # The network drops the client's side without telling the server (half-open): make
    # the client believe its connection died by closing its socket under it.
    client._sock.shutdown(socket.SHUT_RDWR)
    events.wait_for(ev.Disconnected)
    registered = events.wait_for(ev.Registered)
    assert registered.nick == "ana"
    assert server.find_session("ana") is not ghost
    events.wait_for(ev.Joined, lambda e: e.me and e.channel == "#general")


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
    ana.send("CAP REQ :charla.chat/session")
    ana.send("SESSION " + "a1" * 16)
    ana.send("CAP END")
    ana.register("ana")
    ana.join("#a")
    for _ in range(2):  # the second is what a reconnecting client would send again
        ana.send("@charla.chat/seq=7 PRIVMSG #a :una vez")
    ana.send("@charla.chat/seq=8 PRIVMSG #a :otra")
    bea.expect(r"PRIVMSG #a :otra$")
    assert sum("una vez" in line for line in bea.lines) == 1


class FakeServer:
    """A scripted IRC server: one listening socket, one accepted client at a time."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.peer: LineClient | None = None

    def accept(self) -> LineClient:
        sock, _ = self.listener.accept()
        peer = LineClient.__new__(LineClient)
        peer.sock, peer._buffer, peer.lines, peer._read_upto, peer.closed = sock, b"", [], 0, False
        self.peer = peer
        return peer

    def welcome(self, peer: LineClient, nick: str) -> None:
        peer.send_raw(f":fake 001 {nick} :Welcome {nick}!u@h\r\n".encode())

    def close(self) -> None:
        if self.peer:
            self.peer.close()
        self.listener.close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def test_server_without_cap_and_lines_split_into_single_bytes(fake, make_client):
    _client, events = make_client(fake.port, "ana")
    peer = fake.accept()
    peer.expect(r"^CAP LS 302$")
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
    client, events = make_client(fake.port, "ana")
    client.nick_retry_interval = 0.2
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
    client, events = make_client(fake.port, "ana")
    client.keepalive_after, client.keepalive_timeout = 0.3, 0.3
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
    again.expect(r"^JOIN #general$")
    again.expect(r"^PRIVMSG #general :primero$")  # never confirmed: sent again
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
        client, events = make_client(ngircd_port, "ana")
        client.nick_retry_interval = 0.3
        assert events.wait_for(ev.Registered).nick == "ana_"
        ghost.send("QUIT :gone")
        ghost.expect_closed()
        events.wait_for(ev.NickChanged, lambda e: e.me and e.new == "ana")
        assert client.nick == "ana"
    finally:
        ghost.close()
