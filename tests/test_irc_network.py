"""Charla on a real IRC network: two linked ngIRCd servers (tests/irc_network.py, built from
docs/network/), clients and windows on different servers, a server killed under one of
them, TLS with a certificate made for the run. Every server, client and window is closed
at teardown; every wait is for an event, a line or a window's state, with a deadline."""

from __future__ import annotations

import os
import queue
import shutil
import time
from collections.abc import Callable, Iterator

import pytest

from net import events as ev
from net.client import ChatClient, ReconnectPolicy
from net.network import parse_server
from tests.irc_network import IrcNetwork, running_network
from tests.support import Events, IrcClient, WebSocketClient

#: retries as quick as the window's first one, so that a test does not wait on backoff
QUICK = ReconnectPolicy(first=0.1, base=0.2, most=1.0)


@pytest.fixture
def network() -> Iterator[IrcNetwork]:
    with running_network(2) as started:
        yield started


def network_client(network: IrcNetwork, nick: str, first: int = 0, **kwargs: object) -> ChatClient:
    """A client (not started) given every server of the network, the ``first``-th tried
    first, in #general, with quick retries."""
    servers = [parse_server(server.address) for server in network.servers]
    servers = servers[first:] + servers[:first]
    home, *others = [server for server in servers if server is not None]
    kwargs.setdefault("policy", QUICK)
    return ChatClient(
        home.host,
        home.port,
        nick,
        ["#general"],
        queue.Queue(),
        tls=home.tls,
        alternates=others,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def make_client() -> Iterator[Callable[..., tuple[ChatClient, Events]]]:
    """``make_client(network, nick, first=0)``: a started ``network_client``; all quit at
    teardown."""
    clients: list[ChatClient] = []

    def make(
        network: IrcNetwork, nick: str, first: int = 0, **kwargs: object
    ) -> tuple[ChatClient, Events]:
        client = network_client(network, nick, first, **kwargs)
        clients.append(client.start())
        return client, Events(client)

    yield make
    for client in clients:
        client.quit()


def test_people_on_two_linked_servers_talk_to_each_other(network):
    one, two = network.servers
    ana, bea = IrcClient(one.port), IrcClient(two.port)
    try:
        for client, nick in ((ana, "ana"), (bea, "bea")):
            client.register(nick)
            client.send("JOIN #general")
            client.expect(rf"^:{nick}!\S+ JOIN :?#general")
        ana.expect(r"^:bea!\S+ JOIN :?#general")  # across the link
        ana.send("PRIVMSG #general :hola desde el aula 1")
        bea.expect(r"^:ana!\S+ PRIVMSG #general :hola desde el aula 1$")
        bea.send("PRIVMSG #general :y yo desde el aula 2")
        ana.expect(r"^:bea!\S+ PRIVMSG #general :y yo desde el aula 2$")
    finally:
        ana.close()
        bea.close()


def test_a_client_whose_server_dies_moves_to_the_other_and_nothing_typed_is_lost_or_repeated(
    network, make_client
):
    """ana is on the first server, bea on the second. The first is killed (no goodbye):
    ana is back in #general on the second within seconds, with her nick, and every line
    she typed before, during and after the move reaches bea once, in order."""
    _bea, bea_events = make_client(network, "bea", first=1)
    bea_events.wait_for(ev.Joined, lambda e: e.me)
    ana, ana_events = make_client(network, "ana", first=0)
    ana_events.wait_for(ev.Names, lambda e: "bea" in e.nicks)  # across the link
    typed = [*ana.say("#general", "antes del corte")]
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == typed[-1])
    network.servers[0].kill()
    killed_at = time.monotonic()
    ana_events.wait_for(ev.Disconnected)
    typed += ana.say("#general", "durante el corte")  # waits in the outbox
    ana_events.wait_for(ev.Connecting, lambda e: e.port == network.servers[1].port)
    back = ana_events.wait_for(ev.Joined, lambda e: e.me, timeout=10)
    moved_in = time.monotonic() - killed_at
    assert back.channel == "#general" and ana.nick == "ana"
    assert ana.port == network.servers[1].port
    typed += ana.say("#general", "después del corte")
    for message_id in typed[1:]:
        ana_events.wait_for(ev.Delivered, lambda e, wanted=message_id: e.message_id == wanted)
    bea_events.wait_for(ev.ChatMessage, lambda e: e.text == "después del corte")
    heard = [e.text for e in bea_events.seen if isinstance(e, ev.ChatMessage)]
    assert heard == ["antes del corte", "durante el corte", "después del corte"]
    assert moved_in < 5, f"back in the channel {moved_in:.1f} s after the server died"


@pytest.mark.parametrize("kind", ["ngircd", "inspircd"])
def test_a_network_with_tls_asks_about_its_certificate_once_then_chats(make_client, kind):
    if shutil.which(kind) is None and not os.access(f"/usr/sbin/{kind}", os.X_OK):
        pytest.skip(f"{kind} is not installed (tests/run.sh installs it)")
    with running_network(2, kind=kind, tls=True) as network:
        ana, events = make_client(network, "ana")
        asked = events.wait_for(ev.CertificateUntrusted)
        assert asked.fingerprint == network.fingerprint
        assert not asked.changed and "not signed by an authority" in asked.reason
        ana.trust(asked.key, asked.fingerprint)
        events.wait_for(ev.Joined, lambda e: e.me)
        bea, bea_events = make_client(network, "bea", first=1, trusted={})
        other = bea_events.wait_for(ev.CertificateUntrusted)  # the other server: its own key
        bea.trust(other.key, other.fingerprint)
        bea_events.wait_for(ev.Joined, lambda e: e.me)
        [said] = ana.say("#general", "cifrado de punta a punta")
        events.wait_for(ev.Delivered, lambda e: e.message_id == said)
        assert bea_events.wait_for(ev.ChatMessage).text == "cifrado de punta a punta"


def test_a_certificate_that_changed_since_it_was_trusted_is_refused(make_client):
    with running_network(2, tls=True) as first_network:
        before = first_network.fingerprint  # what the user trusted last week
    with running_network(2, tls=True) as network:  # a new certificate: another machine
        servers = [parse_server(server.address) for server in network.servers]
        pinned = {server.key: before for server in servers if server is not None}
        _client, events = make_client(network, "ana", trusted=pinned)
        warned = events.wait_for(ev.CertificateUntrusted)
        assert warned.changed and warned.fingerprint == network.fingerprint
        assert "CHANGED" in warned.reason
        second = events.wait_for(ev.CertificateUntrusted)  # the other server: the same
        assert second.changed and second.key != warned.key
        assert not any(isinstance(e, ev.Registered) for e in events.seen)


def test_two_windows_on_two_servers_chat_and_one_moves_when_its_server_dies(
    network, display, no_gc_on_worker_threads
):
    """The window as a student uses it: ana's on the first server, bea's on the second;
    ana's server dies while she types; her window says where it is going, is back in
    #general, and bea's window shows every line once."""
    import tkinter as tk

    from gui.app import ChatWindow
    from gui.settings import Settings
    from tests.support import type_line, wait_for_windows

    windows: list[ChatWindow] = []
    try:
        for nick, first in (("bea", 1), ("ana", 0)):
            client = network_client(network, nick, first)
            windows.append(ChatWindow(tk.Tk(), client.start(), Settings(nick=nick)))
        bea, ana = windows

        def shown(window: ChatWindow) -> str:
            return window.views["#general"].plain_text()

        wait_for_windows(windows, lambda: set(ana.nick_list.get(0, "end")) == {"ana", "bea"})
        type_line(ana, "hola desde el aula 1")
        wait_for_windows(windows, lambda: "hola desde el aula 1" in shown(bea))
        network.servers[0].kill()
        wait_for_windows(windows, lambda: "Connection to the server lost" in shown(ana))
        type_line(ana, "¿se me oye?")
        wait_for_windows(windows, lambda: "¿se me oye?" in shown(bea), timeout=15)
        wait_for_windows(windows, lambda: "(sending…)" not in shown(ana))
        assert str(network.servers[1].port) in str(ana.status.cget("text"))
        type_line(bea, "sí, perfectamente")
        wait_for_windows(windows, lambda: "sí, perfectamente" in shown(ana))
        assert shown(bea).count("¿se me oye?") == 1
        assert shown(bea).count("hola desde el aula 1") == 1
    finally:
        for window in windows:
            window.close()


# -- InspIRCd: history through chanhistory, browsers through websocket ----------------------


@pytest.fixture
def inspircd_network() -> Iterator[IrcNetwork]:
    if not shutil.which("inspircd") and not os.access("/usr/sbin/inspircd", os.X_OK):
        pytest.skip("InspIRCd is not installed (tests/run.sh installs Debian's inspircd)")
    with running_network(2, kind="inspircd") as started:
        yield started


def test_on_inspircd_what_was_said_while_a_window_moved_comes_from_the_history_once(
    inspircd_network, make_client
):
    """InspIRCd replays a channel's last messages to whoever joins (chanhistory, in a
    batch with msgids): ana, moved to the other server, gets what bea said while she was
    away, and none of what she had already seen again, her own lines included (found by
    hand: the replay showed them as new, since that server never told her their ids)."""
    network = inspircd_network
    bea, bea_events = make_client(network, "bea", first=1)
    bea_events.wait_for(ev.Joined, lambda e: e.me)
    ana, ana_events = make_client(network, "ana", first=0)
    ana_events.wait_for(ev.Names, lambda e: "bea" in e.nicks)  # across the link
    [before] = bea.say("#general", "antes")
    bea_events.wait_for(ev.Delivered, lambda e: e.message_id == before)
    ana_events.wait_for(ev.ChatMessage, lambda e: e.text == "antes")
    [own] = ana.say("#general", "lo mío, antes")  # replayed too, with no msgid she knows
    ana_events.wait_for(ev.Delivered, lambda e: e.message_id == own)
    network.servers[0].kill()
    ana_events.wait_for(ev.Disconnected)
    bea_events.wait_for(ev.UserQuit, lambda e: e.nick == "ana")  # the split reached bea
    [meanwhile] = bea.say("#general", "mientras te movías")
    bea_events.wait_for(ev.Delivered, lambda e: e.message_id == meanwhile)
    ana_events.wait_for(ev.Joined, lambda e: e.me, timeout=15)
    replayed = ana_events.wait_for(ev.ChatMessage, lambda e: e.text == "mientras te movías")
    assert replayed.history  # from the server's history, with its own time
    bea.say("#general", "después")
    ana_events.wait_for(ev.ChatMessage, lambda e: e.text == "después")
    texts = [e.text for e in ana_events.seen if isinstance(e, ev.ChatMessage)]
    assert texts == ["antes", "mientras te movías", "después"]


def test_inspircd_takes_a_browser_over_websocket_on_the_same_network(inspircd_network):
    network = inspircd_network
    assert network.servers[0].websocket_port is not None
    page = WebSocketClient(network.servers[0].websocket_port)
    window = IrcClient(network.servers[1].port)
    try:
        assert page.upgraded, page.response
        for client, nick in ((page, "movil"), (window, "ana")):
            client.register(nick)
            client.send("JOIN #general")
            client.expect(rf"^:{nick}!\S+ JOIN :?#general")
        page.expect(r"^:ana!\S+ JOIN :?#general")
        window.send("PRIVMSG #general :hola, móvil")
        page.expect(r"^:ana!\S+ PRIVMSG #general :hola, móvil$")
    finally:
        page.close()
        window.close()


def test_the_window_asks_once_for_a_networks_certificate_and_remembers_it(
    display, no_gc_on_worker_threads, monkeypatch
):
    """Both servers of a school's network show the same self-signed certificate: one
    question, in plain words with the fingerprint; "yes" trusts it on both, and it is
    kept in the settings for next time. A window whose remembered certificate changed is
    warned, "no" is the default, and answering no leaves it unconnected."""
    import tkinter as tk

    from gui.app import ChatWindow
    from gui.settings import Settings
    from tests.support import wait_for_windows

    asked: list[tuple[str, dict]] = []

    def answer(_title: str, text: str, **options: object) -> bool:
        asked.append((text, options))
        return "WARNING" not in text  # yes to a new certificate, no to a changed one

    monkeypatch.setattr("gui.app.messagebox.askyesno", answer)
    windows: list[ChatWindow] = []
    try:
        with running_network(2, tls=True) as network:
            servers = [parse_server(server.address) for server in network.servers]
            settings = Settings(nick="ana")
            client = network_client(network, "ana")
            window = ChatWindow(tk.Tk(), client.start(), settings)
            windows.append(window)
            wait_for_windows(windows, lambda: window.nick_list.get(0, "end") == ("ana",))
            assert len(asked) == 1  # one certificate, one question
            text, options = asked[0]
            assert network.fingerprint.split(":")[0] in text and "not signed" in text
            assert options["default"] == "yes"
            assert set(settings.trusted_certificates.values()) == {network.fingerprint}
            assert set(settings.trusted_certificates) == {server.key for server in servers}
            window.close()
            remembered = dict(settings.trusted_certificates)
        with running_network(2, tls=True) as network:  # new certificate, same names
            servers = [parse_server(server.address) for server in network.servers]
            before = next(iter(remembered.values()))
            client = network_client(
                network, "ana", trusted={server.key: before for server in servers}
            )
            window = ChatWindow(tk.Tk(), client.start(), Settings(nick="ana"))
            windows.append(window)
            wait_for_windows(windows, lambda: "is not trusted" in window.status.cget("text"))
            text, options = asked[-1]
            assert "WARNING" in text and options["default"] == "no"
            assert options["icon"] == "warning"
            assert len(asked) == 2  # the other server has the same new one: not asked again
            assert not window.registered
    finally:
        for window in windows:
            if not window.closed:
                window.close()


def test_with_a_networks_services_a_registered_nick_is_asked_for_then_logs_in_with_sasl(
    make_client,
):
    """A network's accounts are its services' (Debian's Atheme, linked to InspIRCd). ana
    registered her nick with NickServ; her window, which does not know the password yet,
    is asked by NickServ to identify: the user is asked (``LoginNeeded``) and the password
    typed logs her in on that connection. Next time the window knows it and logs in with
    SASL PLAIN as it connects, before the welcome."""
    if shutil.which("atheme-services") is None:
        pytest.skip("Atheme is not installed (tests/run.sh installs Debian's atheme-services)")
    with running_network(2, kind="inspircd", services=True) as network:
        owner = IrcClient(network.servers[1].port)
        try:
            owner.register("ana")
            owner.send("PRIVMSG NickServ :REGISTER secreto ana@example.com")
            owner.expect(r"NOTICE ana :.*registered", timeout=10)
        finally:
            owner.close()
        ana, events = make_client(network, "ana")
        asked = events.wait_for(ev.LoginNeeded, timeout=15)
        assert asked.nick == "ana" and "identif" in asked.text.lower()
        ana.login("secreto")
        assert events.wait_for(ev.LoggedIn, timeout=10).account == "ana"
        ana.quit()
        again, events = make_client(network, "ana", first=1, account_password="secreto")
        logged = events.wait_for(ev.LoggedIn, timeout=10)
        assert logged.account == "ana"
        assert not any(isinstance(e, ev.Registered) for e in events.seen)  # SASL: before 001
        events.wait_for(ev.Registered)
        assert not any(isinstance(e, ev.LoginNeeded) for e in events.seen)
        again.quit()
