"""IRC load generator: steady, burst and idle scenarios against any IRC server.

Role: speaks plain RFC 1459 client IRC (NICK, USER, wait for 001, JOIN #bench, wait for
366, PRIVMSG #bench, PONG, QUIT) to a server at --host/--port and measures delivery
(lost / duplicated / reordered), latency, throughput, registration and, when the server's
pid is given, server CPU time (/proc/<pid>/stat) and memory (/proc/<pid>/status). It does
not import anything from Charla, so the same numbers can be taken from ngIRCd.

Threading and processes: every process is single-threaded. In each, one ``selectors``
event loop (epoll on Linux) drives that process's non-blocking client sockets, and message
scheduling happens in the same loop, so no locks are needed. steady and burst fork
--workers processes (default 2, one per core) that each own the clients with
``gid % workers == worker``; they share nothing and talk to the parent only through a
multiprocessing Pipe (ready -> go -> result -> quit). CLOCK_MONOTONIC is system-wide, so
send/receive timestamps from different workers are comparable. idle runs in the parent
process alone. Every phase has a deadline, so a run always ends by itself.

Network: only loopback addresses (127.0.0.0/8, ::1) are accepted as --host.

Message body: ``<sender-id> <seq> <monotonic_ns at send> <padding>``; latency is receive
time minus send time, both from time.monotonic_ns() in this one process.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import ipaddress
import json
import logging
import math
import multiprocessing
import os
import resource
import selectors
import socket
import sys
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.process import BaseProcess
from typing import Any

LOG = logging.getLogger("loadgen")

CHANNEL = b"#bench"
RECV_SIZE = 262144
CLK_TCK = os.sysconf("SC_CLK_TCK")
# System-wide kernel counters that explain connect/registration stalls: a full accept
# queue (small listen() backlog) drops the client's ACK and the client must retransmit.
TCP_EXT_COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop")

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


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def require_loopback(host: str) -> str:
    """Return ``host`` as an IP literal if it is a loopback address, else raise ValueError."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"--host must be a loopback IP literal, got {host!r}") from exc
    if not addr.is_loopback:
        raise ValueError(f"refusing non-loopback address {host!r}")
    return str(addr)


def raise_nofile_limit() -> int:
    """Raise the RLIMIT_NOFILE soft limit to the hard limit and return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        LOG.warning("could not raise RLIMIT_NOFILE to %s: %s", target, exc)
        return soft
    return target


def proc_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of ``pid`` in seconds (from /proc/<pid>/stat), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    # fields[0] is field 3 (state); utime is field 14 and stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_kib(pid: int | None) -> int | None:
    """VmRSS of ``pid`` in KiB (from /proc/<pid>/status), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def tcp_ext_counters(names: Iterable[str] = TCP_EXT_COUNTERS) -> dict[str, int]:
    """Selected system-wide TcpExt counters from /proc/net/netstat (empty if unreadable)."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as fh:
            rows = [line.split() for line in fh if line.startswith("TcpExt:")]
    except OSError:
        return {}
    if len(rows) < 2:
        return {}
    table = dict(zip(rows[0][1:], rows[1][1:], strict=False))
    return {name: int(table[name]) for name in names if name in table}


def counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after if name in before}


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: list[int] | list[float], pct: float) -> float | None:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return None
    rank = math.ceil(pct / 100.0 * len(sorted_values))
    return float(sorted_values[min(len(sorted_values) - 1, max(0, rank - 1))])


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


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


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

    def __init__(
        self, host: str, port: int, nick_prefix: str = "lg", quickack: bool = False
    ) -> None:
        self.host = require_loopback(host)
        # Diagnostic only: re-arm TCP_QUICKACK after every read so delayed ACKs never
        # stall a server that leaves Nagle on (no TCP_NODELAY). Real clients don't do it.
        self.quickack = quickack
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
        if self.quickack:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
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
        # Deliveries per sender seen by one local probe receiver (burst --window).
        self.probe_idx = -1
        self.probe_count = [0] * n_senders

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
        if c.idx == self.probe_idx:
            self.probe_count[sid] += 1

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


def latency_report(latencies_ns: list[int]) -> dict[str, float | None]:
    """p50/p90/p99/max/mean in milliseconds of a list of nanosecond latencies."""
    lat = sorted(latencies_ns)
    out: dict[str, float | None] = {}
    for name, pct in (("p50", 50.0), ("p90", 90.0), ("p99", 99.0)):
        value = percentile(lat, pct)
        out[f"latency_{name}_ms"] = _round(value / 1e6 if value is not None else None)
    out["latency_max_ms"] = _round(lat[-1] / 1e6 if lat else None)
    out["latency_mean_ms"] = _round(sum(lat) / len(lat) / 1e6 if lat else None)
    return out


def make_message(sid: int, seq: int, now: int, pad: bytes) -> bytes:
    return b"PRIVMSG %s :%d %d %d %s\r\n" % (CHANNEL, sid, seq, now, pad)


# --------------------------------------------------------------------------------------
# worker processes (steady and burst)
# --------------------------------------------------------------------------------------


@dataclass
class RunSpec:
    """Everything a worker needs; clients with gid % workers == worker belong to it."""

    scenario: str
    host: str
    port: int
    clients: int
    senders: int
    per_sender: int
    rate: float = 0.0
    pad: int = 32
    batch: int = 64
    window: int = 0
    concurrency: int = 100
    setup_timeout: float = 60.0
    run_timeout: float = 60.0
    drain_idle: float = 3.0
    drain_timeout: float = 30.0
    workers: int = 2
    nick_prefix: str = "lg"
    quickack: bool = False


def _await_control(engine: Engine, conn: Connection, timeout: float) -> dict[str, Any] | None:
    """Keep the socket loop running until the coordinator sends a message (bounded)."""
    if not engine.run_until(conn.poll, timeout):
        return None
    try:
        msg: dict[str, Any] = conn.recv()
    except (EOFError, OSError):
        return None
    return msg


def _local_expected(engine: Engine, active: set[int], per_sender: int) -> int:
    """Deliveries this worker's joined clients should see if every sender sends everything."""
    total = 0
    for c in engine.clients:
        if c.state == JOINED:
            total += per_sender * (len(active) - (1 if c.gid in active else 0))
    return total


def _idle_or_complete(
    tracker: DeliveryTracker, expected: int, idle: float, busy: Callable[[], bool]
) -> Callable[[], bool]:
    """done() predicate: all expected deliveries seen, or nothing new for ``idle`` seconds."""
    state = [-1, time.monotonic()]

    def done() -> bool:
        count = tracker.received + tracker.duplicated
        now = time.monotonic()
        if count != state[0]:
            state[0], state[1] = count, now
        if tracker.received >= expected:
            return True
        return not busy() and now - state[1] >= idle

    return done


def _steady_phase(
    engine: Engine, tracker: DeliveryTracker, spec: RunSpec, go: dict[str, Any]
) -> dict[str, Any]:
    active = set(go["senders"])
    senders = [c for c in engine.clients if c.gid in active and c.state == JOINED]
    period_ns = int(1e9 / spec.rate)
    start_ns: int = go["start_ns"]
    due = [start_ns + (c.gid * period_ns) // max(1, spec.senders) for c in senders]
    seq = [0] * len(senders)
    lag = [0, 0, 0]  # max, sum, count (ns)
    sent = [0, 0]  # messages, last send ns
    per_sender = spec.per_sender
    spec_pad = b"x" * spec.pad

    def tick(now: int) -> float | None:
        nxt = None
        for i, c in enumerate(senders):
            while seq[i] < per_sender and due[i] <= now:
                if c.sock is None:
                    seq[i] = per_sender
                    break
                late = now - due[i]
                lag[0] = max(lag[0], late)
                lag[1] += late
                lag[2] += 1
                stamp = time.monotonic_ns()
                if engine.send(c, make_message(c.gid, seq[i], stamp, spec_pad)):
                    sent[0] += 1
                    sent[1] = stamp
                seq[i] += 1
                due[i] += period_ns
            if seq[i] < per_sender:
                wait = (due[i] - now) / 1e9
                nxt = wait if nxt is None else min(nxt, wait)
        return nxt

    engine.run_until(lambda: all(s >= per_sender for s in seq), spec.run_timeout, tick, 0.01)
    expected = _local_expected(engine, active, per_sender)
    done = _idle_or_complete(tracker, expected, spec.drain_idle, lambda: False)
    engine.run_until(done, spec.drain_timeout)
    return {
        "sent": sent[0],
        "last_send_ns": sent[1],
        "lag_max_ns": lag[0],
        "lag_sum_ns": lag[1],
        "lag_n": lag[2],
        "finished": tracker.received >= expected,
    }


def _burst_phase(
    engine: Engine, tracker: DeliveryTracker, spec: RunSpec, go: dict[str, Any]
) -> dict[str, Any]:
    active = set(go["senders"])
    senders = [c for c in engine.clients if c.gid in active and c.state == JOINED]
    probe = next((c for c in engine.clients if c.state == JOINED and c.gid not in active), None)
    window = spec.window if probe is not None else 0
    tracker.probe_idx = probe.idx if probe is not None else -1
    messages, batch, pad = spec.per_sender, spec.batch, b"x" * spec.pad
    seq = [0] * spec.senders
    blocked: set[int] = set()
    first_send = [0]

    def pump(c: Client) -> None:
        sid = c.gid
        room = batch
        if window > 0:
            room = min(room, window - (seq[sid] - tracker.probe_count[sid]))
            if room <= 0:
                blocked.add(sid)
                c.pump = None  # tick() re-arms it once the window opens
                return
        count = min(room, messages - seq[sid])
        now = time.monotonic_ns()
        if not first_send[0]:
            first_send[0] = now
        chunk = b"".join(make_message(sid, s, now, pad) for s in range(seq[sid], seq[sid] + count))
        seq[sid] += count
        if seq[sid] >= messages:
            c.pump = None
        engine.send(c, chunk)

    by_sid = {c.gid: c for c in senders}

    def tick(_now: int) -> float | None:
        for sid in list(blocked):
            if seq[sid] - tracker.probe_count[sid] < window:
                blocked.discard(sid)
                c = by_sid[sid]
                if c.sock is not None:
                    c.pump = pump
                    engine.want_write(c)
        return None

    def busy() -> bool:
        return bool(blocked) or any(
            c.sock is not None and (c.pump is not None or bool(c.wbuf)) for c in senders
        )

    start_ns: int = go["start_ns"]
    engine.run_until(lambda: time.monotonic_ns() >= start_ns, 5.0, max_wait=0.005)
    for c in senders:
        c.pump = pump
        engine.want_write(c)
    expected = _local_expected(engine, active, messages)
    done = _idle_or_complete(tracker, expected, spec.drain_idle, busy)
    finished = engine.run_until(done, spec.run_timeout, tick if window > 0 else None)
    return {
        "sent": sum(seq),
        "first_send_ns": first_send[0],
        "finished": finished and tracker.received >= expected,
    }


def _worker_main(conn: Connection, spec: RunSpec, worker: int) -> None:
    """Worker process: own a slice of the clients, run one phase, report, quit."""
    engine: Engine | None = None
    try:
        engine = Engine(spec.host, spec.port, spec.nick_prefix, spec.quickack)
        mine = engine.new_clients(range(worker, spec.clients, spec.workers), auto_join=True)
        concurrency = max(1, spec.concurrency // spec.workers)
        complete, took = engine.connect_clients(mine, concurrency, spec.setup_timeout)
        conn.send(
            {
                "type": "ready",
                "joined": [c.gid for c in mine if c.state == JOINED],
                "setup_s": took,
                "complete": complete,
            }
        )
        go = _await_control(engine, conn, spec.setup_timeout + 60.0)
        if go is None or go.get("type") != "go":
            return
        tracker = DeliveryTracker(len(engine.clients), spec.senders, spec.per_sender)
        engine.on_privmsg = tracker.on_privmsg
        cpu0, t0 = self_cpu_seconds(), time.monotonic()
        phase = _steady_phase if spec.scenario == "steady" else _burst_phase
        stats = phase(engine, tracker, spec, go)
        stats.update(tracker.export())
        stats.update(engine.failure_report())
        stats["cpu_s"] = self_cpu_seconds() - cpu0
        stats["wall_s"] = time.monotonic() - t0
        conn.send({"type": "result", **stats})
        _await_control(engine, conn, 60.0)  # "quit": keep reading until everyone is done
    except Exception as exc:
        LOG.exception("worker %d failed", worker)
        with contextlib.suppress(OSError, ValueError):
            conn.send({"type": "error", "error": f"worker {worker}: {exc!r}"})
    finally:
        if engine is not None:
            engine.quit_all()
        conn.close()


def _collect(conns: list[Connection], kind: str, timeout: float) -> list[dict[str, Any]]:
    """Receive one ``kind`` message from every worker within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    replies: dict[int, dict[str, Any]] = {}
    pending = {id(c): i for i, c in enumerate(conns)}
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{len(pending)} worker(s) sent no {kind!r} within {timeout:.0f}s")
        ready = mp_wait([c for c in conns if id(c) in pending], timeout=remaining)
        for c in ready:
            assert isinstance(c, Connection)
            index = pending.pop(id(c))
            try:
                msg = c.recv()
            except (EOFError, OSError) as exc:
                raise RuntimeError(f"worker {index} died before sending {kind!r}") from exc
            if msg.get("type") == "error":
                raise RuntimeError(msg["error"])
            if msg.get("type") != kind:
                raise RuntimeError(f"worker {index} sent {msg.get('type')!r}, wanted {kind!r}")
            replies[index] = msg
    return [replies[i] for i in range(len(conns))]


def _run_workers(spec: RunSpec, server_pid: int | None) -> dict[str, Any]:
    """Fork ``spec.workers`` processes, run the phase in lock-step, merge their reports."""
    ctx = multiprocessing.get_context("fork")
    procs: list[BaseProcess] = []
    conns: list[Connection] = []
    for worker in range(spec.workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main, args=(child, spec, worker), name=f"loadgen-{worker}", daemon=True
        )
        proc.start()
        child.close()
        procs.append(proc)
        conns.append(parent)
    merged: dict[str, Any] = {}
    tcp0 = tcp_ext_counters()
    try:
        t_setup = time.monotonic()
        ready = _collect(conns, "ready", spec.setup_timeout + 30.0)
        joined = sorted(gid for r in ready for gid in r["joined"])
        active = [gid for gid in joined if gid < spec.senders]
        merged["setup_s"] = _round(time.monotonic() - t_setup)
        merged["setup_complete"] = all(r["complete"] for r in ready)
        merged["joined"] = len(joined)
        merged["active_senders"] = len(active)
        LOG.info(
            "setup: %d/%d clients joined %s in %.2fs, %d senders",
            len(joined),
            spec.clients,
            CHANNEL.decode(),
            merged["setup_s"],
            len(active),
        )
        start_ns = time.monotonic_ns() + 200_000_000
        srv_cpu0, t0 = proc_cpu_seconds(server_pid), time.monotonic()
        go = {"type": "go", "start_ns": start_ns, "senders": active, "members": len(joined)}
        for conn in conns:
            conn.send(go)
        budget = spec.run_timeout + spec.drain_timeout + 60.0
        results = _collect(conns, "result", budget)
        srv_cpu1, wall = proc_cpu_seconds(server_pid), time.monotonic() - t0
    finally:
        # Also on errors: workers waiting for "go" or "quit" then exit promptly.
        for conn in conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send({"type": "quit"})
        for proc in procs:
            proc.join(timeout=15.0)
        for proc in procs:
            if proc.is_alive():
                LOG.warning("terminating stuck worker %s", proc.name)
                proc.terminate()
                proc.join(timeout=5.0)
        for conn in conns:
            conn.close()

    latencies: array[int] = array("q")
    for r in results:
        latencies.frombytes(r["latencies"])
    sent = sum(r["sent"] for r in results)
    expected = sent * max(0, len(joined) - 1)
    received = sum(r["received"] for r in results)
    failures: Counter[str] = Counter()
    examples: Counter[str] = Counter()
    drops: Counter[str] = Counter()
    for r in results:
        failures.update(r["failures"])
        examples.update(r["failure_examples"])
        drops.update(r["drop_reasons"])
    cpu = [r["cpu_s"] for r in results]
    merged.update(
        {
            "members": len(joined),
            "messages_sent": sent,
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "duplicated": sum(r["duplicated"] for r in results),
            "reordered": sum(r["reordered"] for r in results),
            "self_echo": sum(r["self_echo"] for r in results),
            "invalid": sum(r["invalid"] for r in results),
            "finished_in_time": all(r["finished"] for r in results),
            "failed": sum(r["failed"] for r in results),
            "failures": dict(failures),
            "failure_examples": dict(examples.most_common(5)),
            "dropped": sum(r["dropped"] for r in results),
            "drop_reasons": dict(drops.most_common(5)),
            "workers": spec.workers,
            "loadgen_cpu_s": _round(sum(cpu)),
            # Only meaningful for phases long enough to measure (>= 0.5 s).
            "loadgen_cpu_pct_max_worker": _round(
                max(
                    (100.0 * r["cpu_s"] / r["wall_s"] for r in results if r["wall_s"] >= 0.5),
                    default=None,
                ),
                1,
            ),
            "phase_wall_s": _round(wall),
            "server_pid": server_pid,
            "server_cpu_s": _round(srv_cpu1 - srv_cpu0)
            if srv_cpu0 is not None and srv_cpu1 is not None
            else None,
            "kernel_tcp": counter_delta(tcp0, tcp_ext_counters()),
            **latency_report(latencies.tolist()),
        }
    )
    if merged["loadgen_cpu_pct_max_worker"] and merged["loadgen_cpu_pct_max_worker"] > 90.0:
        LOG.warning("a load generator worker used >90%% of a core: it may be the bottleneck")
    if spec.scenario == "steady":
        last_send = max(r["last_send_ns"] for r in results)
        send_s = (last_send - start_ns) / 1e9 + 1.0 / spec.rate if last_send else 0.0
        lag_n = sum(r["lag_n"] for r in results)
        merged["send_phase_s"] = _round(send_s)
        merged["deliveries_per_s"] = _round(received / send_s if send_s > 0 else None, 1)
        merged["sender_lag_max_ms"] = _round(max(r["lag_max_ns"] for r in results) / 1e6)
        merged["sender_lag_mean_ms"] = _round(
            sum(r["lag_sum_ns"] for r in results) / lag_n / 1e6 if lag_n else None
        )
    else:
        firsts = [r["first_send_ns"] for r in results if r["first_send_ns"]]
        last = max(r["last_delivery_ns"] for r in results)
        span = (last - min(firsts)) / 1e9 if firsts and last else 0.0
        merged["span_s"] = _round(span)
        merged["deliveries_per_s"] = _round(received / span if span > 0 else None, 1)
        server_cpu = merged["server_cpu_s"]
        # /proc CPU times tick at 1/CLK_TCK s; a zero reading means "too short to measure".
        merged["server_cpu_resolution_s"] = 1.0 / CLK_TCK
        merged["cpu_us_per_delivery"] = (
            _round(server_cpu * 1e6 / received) if server_cpu and received else None
        )
    return merged


# --------------------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------------------


def run_steady(
    host: str,
    port: int,
    *,
    clients: int = 200,
    senders: int = 20,
    rate: float = 20.0,
    duration: float = 10.0,
    pad: int = 32,
    workers: int = 2,
    server_pid: int | None = None,
    concurrency: int = 100,
    setup_timeout: float = 60.0,
    drain_idle: float = 3.0,
    drain_timeout: float = 30.0,
    quickack: bool = False,
) -> dict[str, Any]:
    """N clients in one channel; S of them send R messages/s each for D seconds."""
    if not 0 < senders < clients:
        raise ValueError("need 0 < senders < clients")
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    spec = RunSpec(
        scenario="steady",
        host=require_loopback(host),
        port=port,
        clients=clients,
        senders=senders,
        per_sender=max(1, round(rate * duration)),
        rate=rate,
        pad=pad,
        concurrency=concurrency,
        setup_timeout=setup_timeout,
        run_timeout=duration + 30.0,
        drain_idle=drain_idle,
        drain_timeout=drain_timeout,
        workers=max(1, workers),
        quickack=quickack,
    )
    result: dict[str, Any] = {
        "scenario": "steady",
        "params": {
            "clients": clients,
            "senders": senders,
            "rate": rate,
            "duration": duration,
            "pad": pad,
            "workers": spec.workers,
            "quickack": quickack,
        },
    }
    result.update(_run_workers(spec, server_pid))
    return result


def run_burst(
    host: str,
    port: int,
    *,
    clients: int = 50,
    senders: int = 5,
    messages: int = 2000,
    pad: int = 32,
    batch: int = 64,
    window: int = 0,
    workers: int = 2,
    server_pid: int | None = None,
    concurrency: int = 100,
    setup_timeout: float = 60.0,
    timeout: float = 60.0,
    drain_idle: float = 5.0,
    quickack: bool = False,
) -> dict[str, Any]:
    """S senders push M messages each as fast as their sockets accept them.

    Senders never block: writes are non-blocking and driven by writability, and every
    socket (the senders' own included) is read by the same loop. ``window`` > 0 caps the
    messages in flight per sender (sent but not yet seen by a probe receiver).
    """
    if not 0 < senders < clients:
        raise ValueError("need 0 < senders < clients")
    spec = RunSpec(
        scenario="burst",
        host=require_loopback(host),
        port=port,
        clients=clients,
        senders=senders,
        per_sender=max(1, messages),
        pad=pad,
        batch=max(1, batch),
        window=max(0, window),
        concurrency=concurrency,
        setup_timeout=setup_timeout,
        run_timeout=timeout,
        drain_idle=drain_idle,
        drain_timeout=0.0,
        workers=max(1, workers),
        quickack=quickack,
    )
    result: dict[str, Any] = {
        "scenario": "burst",
        "params": {
            "clients": clients,
            "senders": senders,
            "messages": messages,
            "pad": pad,
            "batch": batch,
            "window": window,
            "workers": spec.workers,
            "quickack": quickack,
        },
    }
    result.update(_run_workers(spec, server_pid))
    return result


def run_idle(
    host: str,
    port: int,
    *,
    clients: int = 2000,
    wave: int = 500,
    wave_timeout: float = 30.0,
    hold: float = 2.0,
    server_pid: int | None = None,
    quickack: bool = False,
) -> dict[str, Any]:
    """Register N idle clients, W at a time, in this process; report failures, time, RSS."""
    engine = Engine(host, port, quickack=quickack)
    result: dict[str, Any] = {
        "scenario": "idle",
        "params": {
            "clients": clients,
            "wave": wave,
            "wave_timeout": wave_timeout,
            "hold": hold,
            "quickack": quickack,
        },
    }
    rss0 = proc_rss_kib(server_pid)
    tcp0 = tcp_ext_counters()
    srv_cpu0, cpu0 = proc_cpu_seconds(server_pid), self_cpu_seconds()
    t0 = time.monotonic()
    waves: list[dict[str, Any]] = []
    for first in range(0, clients, max(1, wave)):
        batch = engine.new_clients(range(first, min(clients, first + wave)), auto_join=False)
        before_reg, before_fail = engine.n_registered, engine.n_failed
        complete, took = engine.connect_clients(batch, len(batch), wave_timeout)
        waves.append(
            {
                "size": len(batch),
                "registered": engine.n_registered - before_reg,
                "failed": engine.n_failed - before_fail,
                "seconds": _round(took),
                "complete": complete,
            }
        )
        LOG.info("idle wave %d: %s", len(waves), waves[-1])
    setup_wall = time.monotonic() - t0
    registered = [c for c in engine.clients if c.t_registered]
    reg_ms = sorted((c.t_registered - c.t_start) / 1e6 for c in registered)
    all_s = None
    if registered:
        first_start = min(c.t_start for c in engine.clients if c.t_start)
        all_s = (max(c.t_registered for c in registered) - first_start) / 1e9
    rss1 = proc_rss_kib(server_pid)
    tcp_delta = counter_delta(tcp0, tcp_ext_counters())
    engine.run_until(lambda: False, hold)
    still_open = sum(1 for c in engine.clients if c.sock is not None and c.state == REGISTERED)
    srv_cpu1, own_cpu = proc_cpu_seconds(server_pid), self_cpu_seconds() - cpu0
    per_client = None
    if rss0 is not None and rss1 is not None and registered:
        per_client = _round((rss1 - rss0) / len(registered), 2)
    wall = setup_wall + hold
    result.update(
        {
            "registered": engine.n_registered,
            "time_to_register_all_s": _round(all_s),
            "setup_wall_s": _round(setup_wall),
            "register_p50_ms": _round(percentile(reg_ms, 50)),
            "register_p99_ms": _round(percentile(reg_ms, 99)),
            "register_max_ms": _round(reg_ms[-1] if reg_ms else None),
            "still_connected_after_hold": still_open,
            "server_rss_before_kib": rss0,
            "server_rss_kib": rss1,
            "server_rss_mib": _round(rss1 / 1024 if rss1 is not None else None, 1),
            "server_kib_per_client": per_client,
            "waves": waves,
            "kernel_tcp": tcp_delta,
            "server_pid": server_pid,
            "server_cpu_s": _round(srv_cpu1 - srv_cpu0)
            if srv_cpu0 is not None and srv_cpu1 is not None
            else None,
            "loadgen_cpu_s": _round(own_cpu),
            "loadgen_cpu_pct_max_worker": _round(
                100.0 * own_cpu / wall if wall >= 0.5 else None, 1
            ),
            "phase_wall_s": _round(wall),
        }
    )
    result.update(engine.failure_report())
    engine.quit_all(timeout=5.0)
    return result


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

SUMMARY_KEYS = {
    "steady": [
        "joined",
        "messages_sent",
        "expected",
        "received",
        "lost",
        "duplicated",
        "reordered",
        "self_echo",
        "latency_p50_ms",
        "latency_p99_ms",
        "latency_max_ms",
        "deliveries_per_s",
        "sender_lag_max_ms",
        "server_cpu_s",
        "loadgen_cpu_pct_max_worker",
        "failed",
        "dropped",
    ],
    "burst": [
        "joined",
        "messages_sent",
        "expected",
        "received",
        "lost",
        "duplicated",
        "reordered",
        "span_s",
        "deliveries_per_s",
        "latency_p50_ms",
        "latency_p99_ms",
        "server_cpu_s",
        "cpu_us_per_delivery",
        "loadgen_cpu_pct_max_worker",
        "finished_in_time",
        "failed",
        "dropped",
    ],
    "idle": [
        "registered",
        "failed",
        "time_to_register_all_s",
        "register_p50_ms",
        "register_p99_ms",
        "still_connected_after_hold",
        "server_rss_before_kib",
        "server_rss_kib",
        "server_kib_per_client",
        "server_cpu_s",
        "dropped",
    ],
}


def format_summary(result: dict[str, Any]) -> str:
    """Human-readable multi-line summary of one scenario result."""
    scenario = result["scenario"]
    lines = [f"scenario {scenario}  params {json.dumps(result['params'])}"]
    lines += [f"  {key:28s} {result.get(key)}" for key in SUMMARY_KEYS[scenario]]
    for key in ("failures", "failure_examples", "drop_reasons", "kernel_tcp"):
        if result.get(key):
            lines.append(f"  {key:28s} {json.dumps(result[key])}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    default_workers = min(2, os.cpu_count() or 1)
    parser = argparse.ArgumentParser(description="IRC load generator (loopback only).")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address of the server")
    parser.add_argument("--port", type=int, default=6667)
    parser.add_argument("--server-pid", type=int, default=None, help="pid for CPU/RSS readings")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--quickack",
        action="store_true",
        help="diagnostic: set TCP_QUICKACK after every read (hides Nagle/delayed-ACK stalls)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="scenario", required=True)

    steady = sub.add_parser("steady", help="N members, S senders at R msg/s for D s")
    steady.add_argument("--clients", type=int, default=200)
    steady.add_argument("--senders", type=int, default=20)
    steady.add_argument("--rate", type=float, default=20.0, help="messages/s per sender")
    steady.add_argument("--duration", type=float, default=10.0)
    steady.add_argument("--pad", type=int, default=32, help="padding bytes per message")
    steady.add_argument("--workers", type=int, default=default_workers, help="processes")
    steady.add_argument("--concurrency", type=int, default=100, help="connects in flight")
    steady.add_argument("--drain-timeout", type=float, default=30.0)

    burst = sub.add_parser("burst", help="S senders x M messages as fast as possible")
    burst.add_argument("--clients", type=int, default=50)
    burst.add_argument("--senders", type=int, default=5)
    burst.add_argument("--messages", type=int, default=2000, help="messages per sender")
    burst.add_argument("--pad", type=int, default=32, help="padding bytes per message")
    burst.add_argument("--batch", type=int, default=64, help="messages per write")
    burst.add_argument(
        "--window", type=int, default=0, help="max in-flight messages per sender (0: no cap)"
    )
    burst.add_argument("--workers", type=int, default=default_workers, help="processes")
    burst.add_argument("--concurrency", type=int, default=100, help="connects in flight")
    burst.add_argument("--timeout", type=float, default=60.0, help="send+drain deadline (s)")

    idle = sub.add_parser("idle", help="register N idle clients, W at a time")
    idle.add_argument("--clients", type=int, default=2000)
    idle.add_argument("--wave", type=int, default=500)
    idle.add_argument(
        "--wave-timeout", type=float, default=30.0, help="seconds a wave may take to register"
    )
    idle.add_argument("--hold", type=float, default=2.0, help="seconds to stay connected")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(processName)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    try:
        host = require_loopback(args.host)
    except ValueError as exc:
        LOG.error("%s", exc)
        return 2
    nofile = raise_nofile_limit()
    LOG.debug("RLIMIT_NOFILE soft limit %s", nofile)
    if args.clients + 64 > nofile:
        LOG.warning("RLIMIT_NOFILE %s is too low for %d clients", nofile, args.clients)
    try:
        if args.scenario == "steady":
            result = run_steady(
                host,
                args.port,
                clients=args.clients,
                senders=args.senders,
                rate=args.rate,
                duration=args.duration,
                pad=args.pad,
                workers=args.workers,
                concurrency=args.concurrency,
                drain_timeout=args.drain_timeout,
                server_pid=args.server_pid,
                quickack=args.quickack,
            )
        elif args.scenario == "burst":
            result = run_burst(
                host,
                args.port,
                clients=args.clients,
                senders=args.senders,
                messages=args.messages,
                pad=args.pad,
                batch=args.batch,
                window=args.window,
                workers=args.workers,
                concurrency=args.concurrency,
                timeout=args.timeout,
                server_pid=args.server_pid,
                quickack=args.quickack,
            )
        else:
            result = run_idle(
                host,
                args.port,
                clients=args.clients,
                wave=args.wave,
                wave_timeout=args.wave_timeout,
                hold=args.hold,
                server_pid=args.server_pid,
                quickack=args.quickack,
            )
    except (RuntimeError, TimeoutError, ValueError) as exc:
        LOG.error("%s run failed: %s", args.scenario, exc)
        if args.json:
            print(json.dumps({"scenario": args.scenario, "error": str(exc)}))
        return 1
    result["host"], result["port"] = host, args.port
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
