"""The load generator's engine: many non-blocking IRC clients in one ``selectors`` loop.

Role: ``Engine`` connects, registers (NICK/USER, wait for 001) and joins (JOIN #bench, wait
for 366) ``Client`` objects, answers PING, writes with back-pressure, classifies every
failure (refused / reset / timeout / server_error) and every later drop; ``DeliveryTracker``
counts the PRIVMSG deliveries it sees (unique, duplicated, reordered, latency). It speaks
plain RFC 1459 only and imports nothing from Charla, so it measures any IRC server. The
scenarios that drive it are in ``loadgen.py``.

Threading: none. One engine belongs to one process and is driven by that process's only
thread; message scheduling happens in the same loop, so nothing needs a lock.

Network: connects only to the loopback ``host`` it is given (``procutil.require_loopback``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from procutil import require_loopback

CHANNEL = b"#bench"
RECV_SIZE = 262144

# Client states, in order of progress.
NEW, CONNECTING, REGISTERING, REGISTERED, JOINING, JOINED, QUITTING, CLOSED, FAILED = range(9)
STATE_NAMES = (
    "new",
    "connecting",
    "registering",
    "registered",
    "joining",
    "joined",
    "quitting",
    "closed",
    "failed",
)
NICK_ERRORS = {b"431", b"432", b"433", b"436", b"437", b"484"}
JOIN_ERRORS = {b"403", b"405", b"471", b"473", b"474", b"475", b"476", b"477"}
REGISTER_ERRORS = {b"451", b"461", b"462", b"463", b"464", b"465"}


def classify_oserror(exc: BaseException | int) -> str:
    """Map a socket error to refused / reset / timeout / other:<ERRNO>."""
    code = exc if isinstance(exc, int) else getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED:
        return "refused"
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset"
    if code == errno.ETIMEDOUT:
        return "timeout"
    if isinstance(code, int):
        return f"other:{errno.errorcode.get(code, code)}"
    return f"other:{type(exc).__name__}"


# --------------------------------------------------------------------------------------
# event loop and clients
# --------------------------------------------------------------------------------------


class Client:
    """One IRC connection; all fields are owned by the event-loop thread."""

    __slots__ = (
        "auto_join",
        "error_text",
        "events",
        "gid",
        "idx",
        "nick",
        "pump",
        "rbuf",
        "settled",
        "sock",
        "state",
        "t_joined",
        "t_registered",
        "t_start",
        "wbuf",
    )

    def __init__(self, idx: int, gid: int, nick: str, auto_join: bool) -> None:
        self.idx = idx  # position in this engine's client list
        self.gid = gid  # global client id across worker processes (nick suffix)
        self.nick = nick
        self.sock: socket.socket | None = None
        self.state = NEW
        self.rbuf = b""
        self.wbuf = bytearray()
        self.events = 0
        self.auto_join = auto_join
        self.settled = False
        self.t_start = 0
        self.t_registered = 0
        self.t_joined = 0
        self.error_text = ""
        # Called when the socket is writable and wbuf is empty (burst senders).
        self.pump: Callable[[Client], None] | None = None


PrivmsgHandler = Callable[[Client, bytes, int], None]


class Engine:
    """Single-threaded selector loop driving many non-blocking IRC clients."""

    def __init__(self, host: str, port: int, nick_prefix: str = "lg") -> None:
        self.host = require_loopback(host)
        self.port = port
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.nick_prefix = nick_prefix
        self.sel = selectors.DefaultSelector()
        self.clients: list[Client] = []
        self.on_privmsg: PrivmsgHandler | None = None
        self.failures: Counter[str] = Counter()
        self.failure_details: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.n_started = 0
        self.n_settled = 0
        self.n_registered = 0
        self.n_joined = 0
        self.n_failed = 0
        self.n_open = 0

    # ---- client lifecycle -------------------------------------------------------------

    def new_clients(self, gids: Iterable[int], auto_join: bool) -> list[Client]:
        """Create (not yet connected) clients with global ids ``gids``."""
        base = len(self.clients)
        made = [
            Client(base + i, gid, f"{self.nick_prefix}{gid}", auto_join)
            for i, gid in enumerate(gids)
        ]
        self.clients.extend(made)
        return made

    @property
    def n_inflight(self) -> int:
        return self.n_started - self.n_settled

    def start(self, c: Client) -> None:
        """Begin a non-blocking connect for ``c``."""
        self.n_started += 1
        c.t_start = time.monotonic_ns()
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(c, classify_oserror(exc), f"socket(): {exc}")
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((self.host, self.port))
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            sock.close()
            self._fail(c, classify_oserror(err), f"connect(): {os.strerror(err)}")
            return
        c.sock = sock
        c.state = CONNECTING
        c.events = selectors.EVENT_WRITE
        self.sel.register(sock, selectors.EVENT_WRITE, c)
        self.n_open += 1

    def _finish_connect(self, c: Client) -> None:
        assert c.sock is not None
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(c, classify_oserror(err), f"connect: {os.strerror(err)}")
            return
        c.state = REGISTERING
        self._set_events(c, selectors.EVENT_READ)
        nick = c.nick.encode()
        self.send(c, b"NICK " + nick + b"\r\nUSER " + nick + b" 0 * :charla loadgen\r\n")

    def _settle(self, c: Client) -> None:
        if not c.settled:
            c.settled = True
            self.n_settled += 1

    def _fail(self, c: Client, category: str, detail: str) -> None:
        """Mark a client that never reached its goal (registered / joined) as failed."""
        if c.state in (FAILED, CLOSED):
            return
        self._close_socket(c)
        c.state = FAILED
        self.n_failed += 1
        self.failures[category] += 1
        self.failure_details[f"{category}: {detail}"[:160]] += 1
        self._settle(c)

    def _lost(self, c: Client, reason: str) -> None:
        """The connection ended: a failure before settling, a drop afterwards."""
        if c.state in (FAILED, CLOSED):
            return
        if c.state == QUITTING:
            self._close_socket(c)
            c.state = CLOSED
            return
        if not c.settled:
            category = "server_error" if c.error_text else "reset"
            detail = c.error_text or reason
            self._fail(c, category, f"{detail} (while {STATE_NAMES[c.state]})")
            return
        self.drops[(c.error_text or reason)[:160]] += 1
        self._close_socket(c)
        c.state = CLOSED

    def _close_socket(self, c: Client) -> None:
        sock = c.sock
        if sock is None:
            return
        c.sock = None
        c.events = 0
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        sock.close()
        self.n_open -= 1
        c.wbuf = bytearray()
        c.pump = None

    def _set_events(self, c: Client, events: int) -> None:
        if c.sock is not None and events != c.events:
            c.events = events
            self.sel.modify(c.sock, events, c)

    def want_write(self, c: Client) -> None:
        self._set_events(c, selectors.EVENT_READ | selectors.EVENT_WRITE)

    # ---- I/O -------------------------------------------------------------------------

    def send(self, c: Client, data: bytes) -> bool:
        """Queue ``data``; write immediately when nothing is pending. False if closed."""
        sock = c.sock
        if sock is None:
            return False
        if c.wbuf:
            c.wbuf += data
            return True
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(c, classify_oserror(exc))
            return False
        if sent < len(data):
            c.wbuf += data[sent:]
            self.want_write(c)
        return True

    def _flush(self, c: Client) -> None:
        sock = c.sock
        assert sock is not None
        if c.wbuf:
            try:
                sent = sock.send(c.wbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(c, classify_oserror(exc))
                return
            del c.wbuf[:sent]
            if c.wbuf:
                return
        if c.pump is not None:
            c.pump(c)
            if c.sock is None or c.wbuf or c.pump is not None:
                return
        self._set_events(c, selectors.EVENT_READ)

    def _read(self, c: Client) -> None:
        sock = c.sock
        assert sock is not None
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(c, classify_oserror(exc))
            return
        if not data:
            self._lost(c, "server closed the connection without ERROR")
            return
        now = time.monotonic_ns()
        if c.rbuf:
            data = c.rbuf + data
        lines = data.split(b"\n")
        c.rbuf = lines.pop()
        on_privmsg = self.on_privmsg
        for line in lines:
            parts = line.split(b" ", 3)
            if len(parts) == 4 and parts[1] == b"PRIVMSG":
                if on_privmsg is not None:
                    on_privmsg(c, parts[3], now)
                continue
            self._handle_line(c, line.rstrip(b"\r"), now)
            if c.sock is None:
                return

    def _handle_line(self, c: Client, line: bytes, now: int) -> None:
        if not line:
            return
        rest = line.partition(b" ")[2] if line[:1] == b":" else line
        command, _, params = rest.partition(b" ")
        command = command.upper()
        if command == b"PING":
            self.send(c, b"PONG " + params + b"\r\n")
        elif command == b"001":
            if c.state == REGISTERING:
                c.state = REGISTERED
                c.t_registered = now
                self.n_registered += 1
                if c.auto_join:
                    c.state = JOINING
                    self.send(c, b"JOIN " + CHANNEL + b"\r\n")
                else:
                    self._settle(c)
        elif command == b"366":
            if c.state == JOINING and CHANNEL.lower() in params.lower():
                c.state = JOINED
                c.t_joined = now
                self.n_joined += 1
                self._settle(c)
        elif command == b"ERROR":
            c.error_text = "ERROR " + params.decode("utf-8", "replace").lstrip(":")
        elif command in NICK_ERRORS or command in REGISTER_ERRORS:
            if c.state == REGISTERING:
                self._fail(c, "server_error", line.decode("utf-8", "replace")[:120])
        elif command in JOIN_ERRORS and c.state == JOINING:
            self._fail(c, "server_error", line.decode("utf-8", "replace")[:120])

    def poll(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            c: Client = key.data
            if c.sock is None:
                continue
            if c.state == CONNECTING:
                self._finish_connect(c)
                continue
            if mask & selectors.EVENT_READ:
                self._read(c)
            if mask & selectors.EVENT_WRITE and c.sock is not None:
                self._flush(c)

    def run_until(
        self,
        done: Callable[[], bool],
        timeout: float,
        tick: Callable[[int], float | None] | None = None,
        max_wait: float = 0.05,
    ) -> bool:
        """Run the loop until ``done()`` is true (True) or ``timeout`` seconds pass (False).

        ``tick(now_ns)`` runs every iteration and may return seconds until it wants to run
        again.
        """
        deadline = time.monotonic() + timeout
        while True:
            if done():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            wait = min(max_wait, deadline - now)
            if tick is not None:
                nxt = tick(time.monotonic_ns())
                if nxt is not None:
                    wait = min(wait, max(0.0, nxt))
            self.poll(wait)

    def expire(self, clients: Iterable[Client]) -> None:
        """Fail every started but unsettled client in ``clients`` as a timeout."""
        waiting_for = {
            CONNECTING: "TCP connect not completed",
            REGISTERING: "connected but no 001",
            JOINING: "registered but no 366 for JOIN",
        }
        for c in clients:
            if c.state not in (NEW, FAILED, CLOSED) and not c.settled:
                self._fail(c, "timeout", waiting_for.get(c.state, STATE_NAMES[c.state]))

    # ---- phases ----------------------------------------------------------------------

    def connect_clients(
        self, clients: list[Client], concurrency: int, timeout: float
    ) -> tuple[bool, float]:
        """Connect, register (and join) ``clients`` with at most ``concurrency`` in flight.

        Returns (all settled in time, seconds taken).
        """
        queue = deque(clients)
        started = time.monotonic()

        def tick(_now: int) -> float | None:
            while queue and self.n_inflight < concurrency:
                self.start(queue.popleft())
            return None

        target = self.n_settled + len(clients)
        ok = self.run_until(lambda: self.n_settled >= target, timeout, tick)
        if not ok:
            for c in queue:
                self.n_started += 1
                self._fail(c, "timeout", "never started: setup deadline")
            self.expire(clients)
        return ok, time.monotonic() - started

    def quit_all(self, timeout: float = 3.0) -> None:
        """Send QUIT to every open client, wait (bounded) for the server to close, close all."""
        for c in self.clients:
            if c.sock is not None and c.state != QUITTING:
                c.pump = None
                c.state = QUITTING
                self.send(c, b"QUIT :loadgen done\r\n")
        self.run_until(lambda: self.n_open == 0, timeout)
        for c in self.clients:
            if c.sock is not None:
                self._close_socket(c)
                c.state = CLOSED
        self.sel.close()

    def joined(self) -> list[Client]:
        return [c for c in self.clients if c.state == JOINED]

    def failure_report(self) -> dict[str, Any]:
        return {
            "failed": self.n_failed,
            "failures": dict(self.failures),
            "failure_examples": dict(self.failure_details.most_common(5)),
            "dropped": sum(self.drops.values()),
            "drop_reasons": dict(self.drops.most_common(5)),
        }


# --------------------------------------------------------------------------------------
# delivery bookkeeping
# --------------------------------------------------------------------------------------


class DeliveryTracker:
    """Counts every PRIVMSG delivery seen by this process: unique, dup, reordered, latency."""

    def __init__(self, n_clients: int, n_senders: int, per_sender: int) -> None:
        self.n_senders = n_senders
        self.per_sender = per_sender
        self.seen = bytearray(n_clients * n_senders * per_sender)
        self.last = [-1] * (n_clients * n_senders)
        self.received = 0
        self.duplicated = 0
        self.reordered = 0
        self.invalid = 0
        self.self_echo = 0
        self.latencies_ns = array("q")
        self.first_delivery_ns = 0
        self.last_delivery_ns = 0

    def on_privmsg(self, c: Client, body: bytes, now: int) -> None:
        fields = body.split(None, 3)
        try:
            sid = int(fields[0][1:])
            seq = int(fields[1])
            sent_ns = int(fields[2])
        except (ValueError, IndexError):
            self.invalid += 1
            return
        if not (0 <= sid < self.n_senders and 0 <= seq < self.per_sender):
            self.invalid += 1
            return
        if c.gid == sid:
            self.self_echo += 1
            return
        pair = c.idx * self.n_senders + sid
        key = pair * self.per_sender + seq
        if self.seen[key]:
            self.duplicated += 1
            return
        self.seen[key] = 1
        self.received += 1
        self.latencies_ns.append(now - sent_ns)
        if seq < self.last[pair]:
            self.reordered += 1
        else:
            self.last[pair] = seq
        if not self.first_delivery_ns:
            self.first_delivery_ns = now
        self.last_delivery_ns = now

    def export(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "invalid": self.invalid,
            "self_echo": self.self_echo,
            "first_delivery_ns": self.first_delivery_ns,
            "last_delivery_ns": self.last_delivery_ns,
            "latencies": self.latencies_ns.tobytes(),
        }


def make_message(sid: int, seq: int, now: int, pad: bytes) -> bytes:
    return b"PRIVMSG %s :%d %d %d %s\r\n" % (CHANNEL, sid, seq, now, pad)
