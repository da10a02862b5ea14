"""What the network does to a connection: framing, bad bytes, slow readers, floods, silence.

Most tests go through a whole server; the send queue's exact bound is tested on a bare
``Connection`` (the transport alone, with a handler that records what it is told).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import re
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator

import pytest

from net.connection import NO_DEADLINE, AddressLog, BugLog, Connection, ConnectionLimits
from net.websocket import OP_CLOSE, OP_PONG, OP_TEXT, WebSocketStream, close_payload, encode_frame
from tests.support import wait_until

TcpPair = tuple[socket.socket, tuple, socket.socket]


@pytest.fixture
def tcp_pair() -> Iterator[Callable[[], TcpPair]]:
    """``tcp_pair()``: (the server's end, the peer's address, the peer's socket), connected
    on 127.0.0.1; every socket is closed at teardown."""
    made: list[socket.socket] = []

    def make() -> TcpPair:
        with socket.create_server(("127.0.0.1", 0)) as listener:
            peer = socket.create_connection(listener.getsockname()[:2])
            ours, address = listener.accept()
        ours.setblocking(False)
        peer.settimeout(5)
        made.extend((ours, peer))
        return ours, address, peer

    yield make
    for sock in made:
        sock.close()


class RecordingHandler:
    """A ``ConnectionHandler`` that keeps what the transport tells it."""

    def __init__(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.closed = threading.Event()
        self.reason = ""

    def on_line(self, line: str | None) -> None:
        self.lines.put(line)

    def next_deadline(self) -> float:
        return NO_DEADLINE

    def on_deadline(self, now: float) -> None:
        raise AssertionError("no deadline was asked for")

    def on_batch_done(self) -> None:
        pass

    def on_closed(self, reason: str) -> None:
        self.reason = reason
        self.closed.set()

    def goodbye(self, reason: str) -> bytes:
        return f"bye: {reason}\r\n".encode()


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_several_lines_in_one_segment_and_one_line_in_many(connect):
    ana, bea = connect("ana"), connect("bea")
    bea.join("#a")
    ana.send_raw(b"JOIN #a\r\nPRIVMSG #a :uno\r\nPRIVMSG #a :dos\nPRIVMSG #a :tres\r\n")
    for word in ("uno", "dos", "tres"):
        bea.expect(rf"PRIVMSG #a :{word}$")
    line = "PRIVMSG #a :cuatro, byte a byte: ñandú 👋\r\n".encode()
    for index in range(len(line)):
        ana.send_raw(line[index : index + 1])
    bea.expect(r"PRIVMSG #a :cuatro, byte a byte: ñandú 👋$")


def test_multibyte_character_split_across_reads(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    data = "PRIVMSG #a :camión 🚌\r\n".encode()
    cut = data.index("🚌".encode()) + 2  # inside the four bytes of the emoji
    ana.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ana.send_raw(data[:cut])  # two segments; LineBuffer's tests cover the exact split
    ana.send_raw(data[cut:])
    bea.expect(r"PRIVMSG #a :camión 🚌$")


def test_invalid_utf8_is_decoded_with_a_fallback(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send_raw(b"PRIVMSG #a :ni\xf1o cp1252 \xff\r\n")
    bea.expect(r"PRIVMSG #a :niño cp1252 ÿ$")
    ana.send_raw(b"PRIVMSG #a :sigue\r\n")
    bea.expect(r"PRIVMSG #a :sigue$")


def test_overlong_line_gets_417_is_not_relayed_and_the_connection_stays(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("PRIVMSG #a :" + "x" * 600)
    ana.expect(r" 417 ana :")
    ana.send("PRIVMSG #a :" + "y" * 20000)  # far past any buffer: must not be kept
    ana.expect(r" 417 ana :")
    ana.send("PRIVMSG #a :still here")
    bea.expect(r"PRIVMSG #a :still here$")
    assert not any("xxx" in line or "yyy" in line for line in bea.lines)


def test_client_that_never_reads_is_dropped_and_others_keep_chatting(start_server, connect):
    server = start_server(sendq_bytes=64 * 1024, socket_send_buffer=16384, flood_control=False)
    talker = connect("talker", port=server.port)
    listener = connect("listener", port=server.port)
    stuck = connect(port=server.port, rcvbuf=4096)
    stuck.register("stuck")
    for client in (talker, listener, stuck):
        client.join("#a")
    text = "z" * 400
    number = 0
    for _batch in range(200):  # ~200 KiB would do; the bound only stops a broken server
        for _ in range(20):
            number += 1
            talker.send(f"PRIVMSG #a :{number} {text}")
        listener.expect(rf"PRIVMSG #a :{number} ")  # the reading client keeps up, in order
        if any(line.endswith("QUIT :SendQ exceeded") for line in listener.lines):
            break
    assert any(line.startswith(":stuck!") and "SendQ exceeded" in line for line in listener.lines)
    assert server.find_session("stuck") is None
    talker.send("PRIVMSG #a :after the stuck one left")
    listener.expect(r"PRIVMSG #a :after the stuck one left$")


def test_a_send_queue_of_exactly_sendq_bytes_is_kept_one_byte_more_is_not(tcp_pair):
    limits = ConnectionLimits(sendq_bytes=4096)
    ours, address, peer = tcp_pair()
    kept = RecordingHandler()
    conn = Connection(ours, address, limits)
    conn.start(kept)
    conn.enqueue(b"x" * 4096)  # nothing written yet: the whole bound is queued at once
    conn.flush()
    received = b""
    while len(received) < 4096 and (chunk := peer.recv(65536)):
        received += chunk
    assert received == b"x" * 4096
    peer.sendall(b"still here\r\n")
    assert kept.lines.get(timeout=5) == "still here"
    assert not kept.closed.is_set()
    conn.abort("test over")
    conn.thread.join(5)
    assert kept.reason == "test over"

    ours, address, peer = tcp_pair()
    dropped = RecordingHandler()
    conn = Connection(ours, address, limits)
    conn.start(dropped)
    conn.enqueue(b"x" * 4097)
    conn.flush()
    assert dropped.closed.wait(5)
    assert dropped.reason == "SendQ exceeded"
    assert read_until_closed(peer) == b""  # none of it: the queue was dropped, not cut
    conn.thread.join(5)


def test_flood_is_delayed_not_lost(start_server, connect):
    server = start_server(flood_burst=5, flood_rate=50.0)
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#a")
    bea.join("#a")
    started = time.monotonic()
    ana.send_raw(b"".join(f"PRIVMSG #a :line {n}\r\n".encode() for n in range(60)))
    for n in range(60):
        bea.expect(rf"PRIVMSG #a :line {n}$")
    # 60 lines past a burst of 5 at 50 lines/s cannot all arrive in under a second
    assert time.monotonic() - started >= (60 - 5) / 50 * 0.9


def test_flood_past_the_hard_bound_disconnects_only_the_flooder(start_server, connect):
    server = start_server(flood_burst=5, flood_rate=1.0, flood_max_queued=100)
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#a")
    bea.join("#a")
    ana.send_raw(b"".join(f"PRIVMSG #a :spam {n}\r\n".encode() for n in range(300)))
    bea.expect(r"^:ana!\S+ QUIT :Excess Flood$")
    assert any(line.startswith("ERROR") or "QUIT" in line for line in ana.expect_closed())
    bea.send("PING alive")
    bea.expect(r"PONG \S+ :alive$")


def test_silent_client_is_pinged_then_dropped_with_the_reason(start_server, connect):
    server = start_server(ping_interval=0.2, ping_timeout=0.2)
    watcher = connect(plain=True, port=server.port)  # nc users are never pinged: it stays
    watcher.expect(r"What is your name\?")
    watcher.send("bea")
    watcher.expect(r"^\*\*\* Hello, bea!")
    ana = connect("ana", port=server.port)
    ana.join("#general")
    ana.expect(r"^PING :?test\.charla$")
    lines = ana.expect_closed()  # ana stays silent
    assert re.fullmatch(r"ERROR :Closing Link: \S+ \(Ping timeout: \d+ seconds\)", lines[-1])
    watcher.expect(r"^\[\d\d:\d\d\] \* ana left \(Ping timeout: \d+ seconds\)$")
    assert server.find_session("ana") is None


def test_a_client_that_answers_pings_stays(start_server, connect):
    # A long timeout: however late this thread answers (a loaded machine), bea is on time.
    server = start_server(ping_interval=0.2, ping_timeout=30)
    bea = connect("bea", port=server.port)
    for _ in range(2):  # pinged after each silence, kept after each answer
        bea.expect(r"^PING :?test\.charla$")
        bea.send("PONG test.charla")
    bea.send("PING still")
    bea.expect(r"PONG \S+ :still$")


def test_unregistered_connection_times_out_and_is_told_why(start_server, connect):
    server = start_server(registration_timeout=0.5)
    idle = connect(port=server.port)
    idle.send("NICK half")
    lines = idle.expect_closed(timeout=5)
    assert lines == ["ERROR :Closing Link: 127.0.0.1 (Registration timed out)"]


def test_max_clients_and_max_per_ip_are_refused_clearly(start_server, connect):
    server = start_server(max_clients=3, max_per_ip=2)
    first, second = connect("uno", port=server.port), connect("dos", port=server.port)
    third = connect(port=server.port)
    lines = third.expect_closed()
    assert lines and lines[0].startswith("ERROR :Too many connections from your address")
    first.send("QUIT")
    first.expect_closed()
    again = connect(port=server.port)  # a place was freed
    again.register("tres")
    second.send("PING ok")
    second.expect("PONG")

    everyone = start_server(max_clients=1, max_per_ip=0)
    inside = connect("dentro", port=everyone.port)
    refused = connect(port=everyone.port)
    assert refused.expect_closed()[0].startswith("ERROR :The server is full")
    inside.send("PING ok")
    inside.expect("PONG")


def test_a_refused_client_that_spoke_first_still_reads_why(start_server, connect):
    server = start_server(max_clients=0)
    for _ in range(10):
        refused = connect(port=server.port)
        refused.send("NICK tarde")  # unread input must not turn the close into a reset
        refused.send("USER tarde 0 * :Tarde")
        assert refused.expect_closed() == ["ERROR :The server is full (0 people). Try again later."]


def test_one_bad_connection_does_not_hurt_the_server(connect, server):
    ana = connect("ana")
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.sendall(b"\x00\xff\xfe garbage \r\n:\r\n@\r\n \r\n\r\n")
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw.close()  # reset, mid-conversation
    ana.send("PING fine")
    ana.expect(r"PONG \S+ :fine$")


def test_a_bug_is_logged_with_its_traceback_once_then_counted_once_a_minute(caplog):
    """2,000 connections that hit one bug must not print 2,000 tracebacks: the first of a
    kind comes with its stack, the rest as one count a minute; another kind is its own."""
    now = [1000.0]
    bugs = BugLog(logging.getLogger("test.bugs"), interval=60.0, clock=lambda: now[0])

    def fail(kind: type[Exception]) -> Exception:
        try:
            raise kind("boom")
        except Exception as exc:
            return exc

    for _ in range(2000):
        bugs.report("connection from 10.0.0.7 failed", fail(RuntimeError))
    bugs.report("connection from 10.0.0.8 failed", fail(KeyError))
    now[0] += 59
    bugs.report("connection from 10.0.0.7 failed", fail(RuntimeError))
    now[0] += 1
    bugs.report("connection from 10.0.0.9 failed", fail(RuntimeError))
    records = [r for r in caplog.records if r.name == "test.bugs"]
    assert [(r.getMessage().split(":")[0], r.exc_info is not None) for r in records] == [
        ("connection from 10.0.0.7 failed", True),
        ("connection from 10.0.0.8 failed", True),
        ("connection from 10.0.0.9 failed", False),
    ]
    assert "again, 2001 times since it was last logged" in records[-1].getMessage()
    caplog.clear()  # the errors this test logged on purpose


def test_lines_held_back_are_bounded_in_bytes_not_only_in_lines(start_server, connect):
    """100 lines of 4.1 KB (long client tags) are far under 1,000 lines, but 400 KB parked
    in the gate: past ``flood_max_queued_bytes`` the flooder is told and dropped, while a
    paced client with the same lines stays."""
    server = start_server(flood_burst=5, flood_rate=1.0, flood_max_queued_bytes=64 * 1024)
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#a")
    bea.join("#a")
    big = "@+x=" + "y" * 4000 + " PRIVMSG #a :{n}\r\n"
    ana.send_raw(b"".join(big.format(n=n).encode() for n in range(100)))
    bea.expect(r"^:ana!\S+ QUIT :Excess Flood$")
    assert "ERROR :Closing Link: 127.0.0.1 (Excess Flood)" in ana.expect_closed()
    bea.send_raw(b"".join(big.format(n=n).encode() for n in range(5)))  # within the burst
    bea.send("PING alive")
    bea.expect(r"PONG \S+ :alive$")


def test_lines_held_back_are_let_go_when_the_client_leaves(tcp_pair):
    """A session and its connection point at each other, so what the connection still holds
    would wait for the cyclic garbage collector: 48 flooders that left kept 230 MiB
    resident for minutes. The held-back lines go as the connection ends."""
    ours, address, peer = tcp_pair()
    handler = RecordingHandler()
    conn = Connection(ours, address, ConnectionLimits(flood_burst=1, flood_rate=0.01))
    handler.conn = conn  # type: ignore[attr-defined]  # the cycle a session makes
    conn.start(handler)
    peer.sendall(b"".join(b"PRIVMSG #a :" + b"x" * 4000 + b"\r\n" for _ in range(20)))
    assert handler.lines.get(timeout=5) is not None  # the first; the others wait
    wait_until(lambda: conn._pending_bytes >= 19 * 4012)
    peer.close()
    assert handler.closed.wait(5)
    conn.thread.join(5)
    assert conn._pending is None and conn._pending_bytes == 0


def test_an_ended_connection_and_its_handler_are_freed_without_the_cycle_collector(tcp_pair):
    """A session and its connection point at each other; when the connection ends it lets
    go of the session, so reference counting frees both at once (1,000 idle connections
    refused and closed had left 12 MiB for the cyclic collector to find)."""
    ours, address, peer = tcp_pair()
    conn = Connection(ours, address, ConnectionLimits())
    handler = RecordingHandler()
    handler.conn = conn  # type: ignore[attr-defined]  # the cycle a session makes
    closed, freed = handler.closed, weakref.ref(handler)
    conn.start(handler)
    del handler
    gc.disable()
    try:
        peer.close()
        assert closed.wait(5)
        conn.thread.join(5)
        assert freed() is None
    finally:
        gc.enable()
    assert conn.handler.goodbye("late") == b""  # shutdown() may still ask it


def test_a_confirmation_waits_for_its_message_on_disk_even_when_others_flush_the_sender(
    start_server, connect, tmp_path
):
    """Bea relays to ana while ana's reader is saving her message: ana's PONG (what a
    Charla client takes as "stored") must not leave with bea's line before the save."""
    database = tmp_path / "h.sqlite3"
    server = start_server(history_db=str(database))
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#general")
    bea.join("#general")
    ana.expect(r":bea!\S+ JOIN #general$")
    ana.sync()
    saving = threading.Semaphore(0)  # released by each reader that reaches the save
    go_on = threading.Event()
    save = server.rooms.persist_history

    def held_save() -> None:
        saving.release()
        go_on.wait(10)
        save()

    server.rooms.persist_history = held_save  # type: ignore[method-assign]
    try:
        ana.send_raw(b"PRIVMSG #general :guardado\r\nPING :confirmado\r\n")
        assert saving.acquire(timeout=5)  # ana's reader: message relayed, not yet on disk
        bea.send("PRIVMSG ana :hola")
        # bea's reader flushes ana's connection before it reaches the save itself
        assert saving.acquire(timeout=5)
        ana.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):  # nothing for ana: her PONG waits
            ana.sock.recv(65536)
    finally:
        go_on.set()
    ana.expect(r"PONG \S+ :?confirmado$")
    with contextlib.closing(sqlite3.connect(database)) as db:
        saved = [line for (line,) in db.execute("SELECT line FROM messages")]
    assert saved == [":ana!~ana@127.0.0.1 PRIVMSG #general :guardado"]
    ana.expect(r"PRIVMSG ana :hola$")


def test_a_writer_thread_does_not_write_past_what_was_queued_before_the_batch(tcp_pair):
    """A writer thread draining a slow reader's queue stops at the hold mark once the
    connection's own reader has queued a reply in its batch; the rest leaves when the
    batch ends."""
    ours, address, peer = tcp_pair()
    before = b"a" * (4 << 20)  # more than the socket buffers: a writer thread takes over
    conn = Connection(ours, address, ConnectionLimits(sendq_bytes=8 << 20, flood_control=False))
    in_batch, go_on = threading.Event(), threading.Event()

    class BatchHolder(RecordingHandler):
        def on_line(self, line: str | None) -> None:
            conn.enqueue(b"reply\r\n")  # say, the PONG that confirms a message
            in_batch.set()
            go_on.wait(10)

    conn.enqueue(before)
    conn.flush()
    conn.start(BatchHolder())
    try:
        peer.sendall(b"x\r\n")
        assert in_batch.wait(5)
        conn.enqueue(b"during the batch\r\n")  # another reader relaying to this client
        conn.flush()
        received = b""
        while len(received) < len(before):
            received += peer.recv(1 << 20)
        assert received == before
        peer.settimeout(0.2)
        with pytest.raises(TimeoutError):
            peer.recv(65536)
        go_on.set()
        peer.settimeout(5)
        expected = b"reply\r\nduring the batch\r\n"
        received = b""
        while len(received) < len(expected):
            received += peer.recv(65536)
        assert received == expected
    finally:
        go_on.set()
        conn.abort("test over")
        conn.thread.join(5)


def test_address_log_says_a_few_lines_per_address_then_counts():
    now = [1000.0]
    quota = AddressLog(interval=60, clock=lambda: now[0])
    notes = [quota.note("10.0.0.7") for _ in range(1000)]
    assert notes[:5] == [""] * 5
    said = {number + 1: note for number, note in enumerate(notes) if note}
    assert said == {
        count: f" ({count} such lines about this address in 0 s; the others not logged)"
        for count in (10, 100, 1000)
    }
    assert notes.count(None) == 1000 - 8
    assert quota.note("10.0.0.8") == ""  # another student: logged as usual
    now[0] += 60  # a new minute: the first lines are logged again
    assert quota.note("10.0.0.7") == ""


def test_a_websocket_stream_wraps_lines_and_nothing_follows_its_close(tcp_pair):
    """After ``use_stream`` every queued line goes out as one frame; once the Close frame
    is queued (``end_stream``), nothing more is, from any thread: RFC 6455 §5.5.1 (a relay
    that reaches the connection as it closes must not put a frame after the Close)."""
    ours, address, peer = tcp_pair()
    handler = RecordingHandler()
    conn = Connection(ours, address, ConnectionLimits())
    conn.start(handler)
    conn.enqueue(b"HTTP/1.1 101 ...\r\n\r\n")  # before the switch: as it is
    conn.use_stream(WebSocketStream())
    conn.enqueue(b"PING a\r\nPING b\r\n")
    conn.end_stream(1001, "adios")
    conn.enqueue(b"PRIVMSG late :too late\r\n")
    conn.enqueue_raw(encode_frame(OP_PONG, b"late"))
    conn.end_stream()  # a second Close: none
    conn.flush()
    expected = (
        b"HTTP/1.1 101 ...\r\n\r\n"
        + encode_frame(OP_TEXT, b"PING a")
        + encode_frame(OP_TEXT, b"PING b")
        + encode_frame(OP_CLOSE, close_payload(1001, "adios"))
    )
    received = b""
    while len(received) < len(expected) and (chunk := peer.recv(65536)):
        received += chunk
    conn.abort("test over")
    conn.thread.join(5)
    assert received + read_until_closed(peer) == expected
