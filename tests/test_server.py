"""The server as a whole: one order of events, shutdown, the operator's powers, thread budget."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from net.connection import Connection
from net.server import ChatServer, FirstLineSniffer, ServerConfig
from tests.support import ROOT, IrcClient, LineClient, WebSocketClient


def test_everyone_sees_the_same_order_of_messages(connect):
    senders = [connect(f"s{n}") for n in range(3)]
    readers = [connect(f"r{n}") for n in range(2)]
    for client in senders + readers:
        client.join("#a")
    for number in range(30):
        for index, sender in enumerate(senders):
            sender.send(f"PRIVMSG #a :{index}-{number}")
    orders = []
    for reader in readers:
        got = [reader.expect(r"PRIVMSG #a :(\d+-\d+)$").group(1) for _ in range(90)]
        orders.append(got)
        for index in range(3):  # and each sender's own messages stay in order
            mine = [g for g in got if g.startswith(f"{index}-")]
            assert mine == [f"{index}-{n}" for n in range(30)]
    assert orders[0] == orders[1]


def test_shutdown_says_goodbye_to_everyone_and_ends_every_thread(start_server):
    server = start_server()
    irc, plain = IrcClient(server.port), LineClient(server.port)
    try:
        irc.register("ana")
        plain.expect(r"What is your name\?")
        plain.send("bego")
        plain.expect("Hello, bego")
        server_threads = [t for t in threading.enumerate() if t.name.startswith("conn-")]
        assert len(server_threads) == 2
        server.shutdown("The server is shutting down. Goodbye!")
        assert irc.expect_closed(timeout=3)[-1].startswith("ERROR :Closing Link")
        assert "*** The server is shutting down. Goodbye!" in plain.expect_closed(timeout=3)
        for thread in server_threads:
            thread.join(2)
            assert not thread.is_alive()
        assert server.stopped.is_set()
    finally:
        irc.close()
        plain.close()


def test_a_first_line_that_came_in_time_decides_even_if_its_reader_starts_late(server):
    """Under load a connection's reader thread may first run after the silence that means
    "a person at nc" has passed (found by tests/test_fuzz.py: an IRC client became a
    plain-text user named after its garbage). Bytes that arrived in time are not silence:
    the line already waiting decides."""
    server_end, client_end = socket.socketpair()
    server_end.setblocking(False)
    client = LineClient.from_socket(client_end)
    conn = Connection(server_end, ("127.0.0.1", 0), server.config.connection_limits())
    try:
        client.send("NICK tarde")
        client.send("USER tarde 0 * :Tarde")
        conn.opened_at -= 1.0  # accepted a second ago: its 0.2 s of silence are long over
        conn.start(FirstLineSniffer(server.rooms, conn, plain_text_after=0.2))
        client.expect(r" 001 tarde ")
    finally:
        client.close()
        conn.thread.join(5)
    assert not conn.thread.is_alive()


def test_announcement_comes_from_the_server_and_cannot_be_faked(connect, server):
    ana, bea = connect("ana"), connect("bea")
    assert server.announce("Recreo de 10 minutos") == 2
    for client in (ana, bea):
        client.expect(r"^:test\.charla NOTICE \S+ :Recreo de 10 minutos$")
    impostor = connect()
    impostor.send("NICK test.charla")
    impostor.send("USER x 0 * :x")
    impostor.expect(r" 432 \* test\.charla ")
    impostor.send("NICK Test.Charla")
    impostor.expect(r" 43[23] \* Test\.Charla ")


def test_an_announcement_lands_in_each_channel_and_stays_for_latecomers(connect, server):
    """In the channel, so every client shows it in that channel's tab (not in a server tab
    nobody looks at, nor in whatever tab happens to be in front); kept, so a student who
    arrives after it still reads it."""
    ana, bea, solo = connect("ana"), connect("bea"), connect("solo")
    ana.join("#general")
    bea.join("#general")
    bea.join("#grupo3")
    assert server.announce("Examen a las 10") == 3
    ana.expect(r"^:test\.charla NOTICE #general :Examen a las 10$")
    bea.expect(r"^:test\.charla NOTICE #general :Examen a las 10$")
    bea.expect(r"^:test\.charla NOTICE #grupo3 :Examen a las 10$")
    solo.expect(r"^:test\.charla NOTICE solo :Examen a las 10$")  # in no channel: in person
    late = connect()
    late.register("late", caps="batch message-tags")
    late.send("JOIN #general")
    late.expect(r"^@batch=\S+ :test\.charla NOTICE #general :Examen a las 10$")


def test_server_name_cannot_be_taken_as_a_nick(start_server, connect):
    server = start_server(server_name="charla")
    impostor = connect(port=server.port)
    impostor.send("NICK Charla")
    impostor.send("USER x 0 * :x")
    impostor.expect(r" 432 \* Charla ")


def test_operator_kick_removes_someone_from_every_channel(connect, server):
    ana, bea = connect("ana"), connect("bea")
    for client in (ana, bea):
        client.join("#a")
        client.join("#b")
    assert server.kick("bea", "molestando")
    ana.expect(r"^:test\.charla KICK #a bea :molestando$")
    ana.expect(r"^:test\.charla KICK #b bea :molestando$")
    lines = bea.expect_closed()
    assert any(line.startswith("ERROR :") and "molestando" in line for line in lines)
    assert server.find_session("bea") is None
    assert not server.kick("nadie", "x")


def test_user_list_for_the_operator(connect, server):
    connect("zoe")
    connect("Álvaro")
    assert server.user_list() == [("Álvaro", "127.0.0.1"), ("zoe", "127.0.0.1")]


def test_an_idle_connection_costs_one_thread(connect, server):
    before = threading.active_count()
    clients = [connect(f"idle{n}") for n in range(20)]
    clients[-1].sync()
    assert threading.active_count() - before <= 20


def test_port_in_use_raises_before_any_thread_starts(server):
    second = ChatServer(server.config.__class__(host="127.0.0.1", port=server.port))
    before = set(threading.enumerate())  # (threads of earlier tests may still be ending)
    try:
        second.start()
    except OSError:
        pass
    else:
        second.shutdown()
        raise AssertionError("a second server bound the same port")
    assert set(threading.enumerate()) <= before


def test_a_bug_in_one_connection_ends_only_that_connection(connect, monkeypatch, caplog):
    from net import irc_session

    def broken(session, message):
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(irc_session.COMMANDS, "LIST", broken)
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    bea.send("LIST")
    ana.expect(r"^:bea!\S+ QUIT :?Internal error$")
    bea.expect_closed()
    assert "a bug in a handler" in caplog.text
    caplog.clear()  # the one error this test expected
    ana.send("PING still")
    ana.expect(r"PONG \S+ :still$")


def test_all_interfaces_means_ipv4_and_ipv6(start_server):
    if not socket.has_dualstack_ipv6():
        pytest.skip("this system cannot listen on IPv4 and IPv6 with one socket")
    server = start_server(host=None)
    for host in ("127.0.0.1", "::1"):
        client = IrcClient(server.port, host=host)
        try:
            client.register("dual")
            client.send("QUIT")
            client.expect_closed()
        finally:
            client.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts open files in /proc")
def test_a_server_that_cannot_listen_leaves_nothing_open(server):
    before = len(os.listdir("/proc/self/fd"))
    clash = ChatServer(ServerConfig(host="127.0.0.1", port=server.port))
    with pytest.raises(OSError):
        clash.start()
    assert len(os.listdir("/proc/self/fd")) == before


def test_no_thread_for_a_client_turns_it_away_and_the_server_goes_on(start_server, monkeypatch):
    server = start_server(max_per_ip=1)
    real_start = threading.Thread.start

    def no_threads_for_clients(thread: threading.Thread) -> None:
        if thread.name.startswith("conn-"):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", no_threads_for_clients)
    turned_away = LineClient(server.port)
    try:
        assert turned_away.expect_closed() == ["ERROR :Server overloaded"]
    finally:
        turned_away.close()
    monkeypatch.undo()
    ana = IrcClient(server.port)  # the acceptor lives, and the address's count was given back
    try:
        ana.register("ana")
    finally:
        ana.close()


NETNS_SCRIPT = """
import json, socket
from net.server import ChatServer, ServerConfig
server = ChatServer(ServerConfig(host="2001:db8:1::1", port=0, max_per_ip=2))
server.start()
answers = {}
sockets = []
try:
    for source in ("2001:db8:1::a", "2001:db8:1::b", "2001:db8:1::c", "2001:db8:2::a"):
        client = socket.socket(socket.AF_INET6)
        sockets.append(client)
        client.settimeout(5)
        client.bind((source, 0))
        client.connect(("2001:db8:1::1", server.port))
        client.sendall(b"PING x\\r\\n")
        answers[source] = client.recv(4096).decode()
finally:
    for client in sockets:
        client.close()
    server.shutdown()
print(json.dumps(answers))
"""


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to make a network namespace of its own",
)
def test_one_ipv6_machine_counts_once_for_its_whole_64():
    """Inside a network namespace made for this test, with two /64s of documentation
    addresses on its loopback: three clients from one /64 under --max-per-ip 2, and one
    from another /64."""
    namespace = f"charla-test-{os.getpid()}"
    setup = [
        ["ip", "netns", "add", namespace],
        ["ip", "-n", namespace, "link", "set", "lo", "up"],
        ["ip", "-n", namespace, "-6", "addr", "add", "2001:db8:1::1/64", "dev", "lo", "nodad"],
        ["ip", "-n", namespace, "-6", "route", "add", "local", "2001:db8:1::/64", "dev", "lo"],
        ["ip", "-n", namespace, "-6", "route", "add", "local", "2001:db8:2::/64", "dev", "lo"],
        ["ip", "netns", "exec", namespace, "sysctl", "-qw", "net.ipv6.ip_nonlocal_bind=1"],
    ]
    try:
        for command in setup:
            subprocess.run(command, check=True, capture_output=True, timeout=30)
        run = subprocess.run(
            ["ip", "netns", "exec", namespace, sys.executable, "-c", NETNS_SCRIPT],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
    answers = json.loads(run.stdout.splitlines()[-1])
    assert "PONG" in answers["2001:db8:1::a"] and "PONG" in answers["2001:db8:1::b"]
    assert "Too many connections from your address (at most 2)" in answers["2001:db8:1::c"]
    assert "PONG" in answers["2001:db8:2::a"]  # another /64 is another machine


def test_a_bug_met_by_many_connections_logs_one_traceback(connect, monkeypatch, caplog):
    """The connection-level catch stays for real bugs, but 20 connections that hit the
    same one leave one traceback on the operator's console, not 20."""
    from net import irc_session

    def broken_who(session, message):
        raise RuntimeError("a bug that many can reach")

    monkeypatch.setitem(irc_session.COMMANDS, "WHO", broken_who)
    watcher = connect("watcher")
    for number in range(20):
        victim = connect(f"v{number}")
        victim.send("WHO")
        victim.expect_closed()
    watcher.send("PING still")
    watcher.expect(r"PONG \S+ :still$")
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert len(tracebacks) == 1
    assert "a bug that many can reach" in caplog.text
    caplog.clear()  # the error this test provoked on purpose


def test_connections_that_have_not_registered_are_capped_per_address(start_server):
    """Past the cap, the connection that has waited longest makes room: a student holding
    silent sockets cannot lock out a classmate behind the same address."""
    server = start_server(max_per_ip=20, max_unregistered_per_ip=3)
    clients: list[IrcClient] = []
    try:
        for nick in ("ana", "bea"):  # registered people do not count
            clients.append(IrcClient(server.port))
            clients[-1].register(nick)
        waiting = [IrcClient(server.port) for _ in range(3)]
        clients += waiting
        for client in waiting:  # each one's handler is a session before the next comes
            client.send("NICK x")
            client.send("PING up")
            client.expect(r"PONG \S+ :up$")
        newcomer = IrcClient(server.port)
        clients.append(newcomer)
        newcomer.register("carla")  # let in: the oldest silent one is closed instead
        assert waiting[0].expect_closed()[-1] == (
            "ERROR :Closing Link: 127.0.0.1 (Too many connections from your address that have"
            " not signed in yet (at most 3): the one waiting longest is closed.)"
        )
        for client in waiting[1:]:  # the others wait on
            client.send("PING still")
            client.expect(r"PONG \S+ :still$")
        waiting[1].send("USER x 0 * :Equis")
        waiting[1].expect(r" 001 x ")
    finally:
        for client in clients:
            client.close()


def test_one_address_cannot_flood_the_operators_console(start_server, caplog):
    """30 refused connections from one student's address: the first few refusals are
    logged, then the 10th says how many (``AddressLog``, tests/test_connection.py)."""
    caplog.set_level(logging.INFO, logger="net.server")
    server = start_server(max_per_ip=1)
    held = IrcClient(server.port)
    try:
        held.register("ana")
        for _ in range(30):
            refused = LineClient(server.port)
            try:
                assert refused.expect_closed()[-1].startswith("ERROR :Too many connections")
            finally:
                refused.close()
    finally:
        held.close()
    refusals = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(refusals) == 5 + 1  # the first five, and the 10th
    assert "(10 such lines about this address in " in refusals[5]


def test_web_addresses_name_the_web_port_lan_ipv4_first(start_server):
    server = start_server()
    assert server.web_addresses() == [f"http://127.0.0.1:{server.port}"]
    assert start_server(web=False).web_addresses() == []
    everywhere = start_server(host=None)
    addresses = everywhere.web_addresses()
    assert addresses and all(a.startswith("http://") for a in addresses)
    assert all(a.endswith(f":{everywhere.port}") for a in addresses)
    versions = [6 if "[" in a else 4 for a in addresses]
    assert versions == sorted(versions)  # IPv4 first


def test_a_separate_web_port_serves_browsers_only(start_server):
    server = start_server(web=False, web_port=0)
    assert server.web_port not in (None, server.port)
    assert server.web_addresses() == [f"http://127.0.0.1:{server.web_port}"]
    page = WebSocketClient(server.web_port)
    irc = IrcClient(server.port)
    wrong = IrcClient(server.web_port)
    try:
        assert page.upgraded
        page.register("movil")
        irc.register("ana")
        irc.send("PRIVMSG movil :hola")
        page.expect(r":ana!\S+ PRIVMSG movil :hola$")
        wrong.send("NICK beto")
        wrong.expect(
            rf"^ERROR :This port is for the web chat \(a browser\)\. "
            rf"Connect to port {server.port}\.$"
        )
        wrong.expect_closed()
    finally:
        for client in (page, irc, wrong):
            client.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 404 ")
    assert f"It is on port {server.web_port}.".encode() in data


def test_a_room_on_a_loopback_address_is_never_announced(start_server):
    # nobody on the network could reach it; and the tests, on 127.0.0.1, multicast nothing
    server = start_server(announce=True, room_name="Sala de prueba")
    assert server.config.host == "127.0.0.1"
    assert server.announced_name() is None
