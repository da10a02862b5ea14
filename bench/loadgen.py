"""IRC load generator: steady, burst and idle scenarios against any IRC server.

Role: the command line (``python bench/loadgen.py --port N [--server-pid PID] SCENARIO
...``) builds one ``RunSpec``; the scenario drives the clients of ``loadgen_engine.py`` and
measures delivery (lost / duplicated / reordered), latency, throughput, registration and,
when the server's pid is given, server CPU time (/proc/<pid>/stat) and memory
(/proc/<pid>/status). It imports nothing from Charla, so the same numbers can be taken
from ngIRCd.

Threading and processes: every process is single-threaded. steady and burst fork
--workers processes (default 2, one per core) that each own the clients with
``gid % workers == worker``; they share nothing and talk to the parent only through a
multiprocessing Pipe (ready -> go -> result -> quit). CLOCK_MONOTONIC is system-wide, so
send/receive timestamps from different workers are comparable. idle runs in the parent
process alone. Every phase has a deadline, so a run always ends by itself.

Network: only loopback addresses (127.0.0.0/8, ::1) are accepted as --host.

Message body: ``<sender-id> <seq> <monotonic_ns at send> <padding>``; latency is receive
time minus send time, both from time.monotonic_ns().
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import multiprocessing
import os
import resource
import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar

from loadgen_engine import (
    CHANNEL,
    JOINED,
    REGISTERED,
    TRANSPORTS,
    Client,
    DeliveryTracker,
    Engine,
    make_message,
)
from procutil import percentile, raise_nofile_limit, require_loopback

LOG = logging.getLogger("loadgen")

CLK_TCK = os.sysconf("SC_CLK_TCK")
# System-wide kernel counters that explain connect/registration stalls: a full accept
# queue (small listen() backlog) drops the client's ACK and the client must retransmit.
TCP_EXT_COUNTERS = ("ListenOverflows", "ListenDrops", "SyncookiesSent", "TCPReqQFullDrop")


# --------------------------------------------------------------------------------------
# server and kernel readings
# --------------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int | None) -> float | None:
    """utime + stime of ``pid`` in seconds (from /proc/<pid>/stat), or None."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    stat = data[data.rindex(b")") + 2 :].split()
    # stat[0] is field 3 (state); utime is field 14 and stime field 15.
    return (int(stat[11]) + int(stat[12])) / CLK_TCK


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


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


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


# --------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------


@dataclass
class RunSpec:
    """One run, as the command line describes it. Each worker process gets a copy and owns
    the clients with ``gid % workers == worker``. Built once, checked on construction."""

    scenario: str  # steady, burst or idle
    host: str
    port: int
    server_pid: int | None  # for the server's CPU and RSS readings (None: not taken)
    clients: int
    senders: int = 0  # steady and burst: how many of the clients send
    rate: float = 0.0  # steady: messages/s per sender
    duration: float = 0.0  # steady: seconds of sending
    messages: int = 0  # burst: messages per sender
    pad: int = 32  # padding bytes per message
    batch: int = 64  # burst: messages per write
    workers: int = 1  # steady and burst: processes
    concurrency: int = 100  # connects in flight
    drain_timeout: float = 30.0  # steady: seconds to wait for the last deliveries
    timeout: float = 60.0  # burst: send + drain deadline
    wave: int = 500  # idle: clients registering at a time
    wave_timeout: float = 30.0  # idle: seconds a wave may take to register
    hold: float = 2.0  # idle: seconds to stay connected
    setup_timeout: float = 60.0
    nick_prefix: str = "lg"
    transport: str = "tcp"  # tcp (IRC lines) or ws (IRC over WebSocket, text.ircv3.net)

    # What the result repeats under "params", per scenario.
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "steady": ("clients", "senders", "rate", "duration", "pad", "workers", "transport"),
        "burst": ("clients", "senders", "messages", "pad", "batch", "workers", "transport"),
        "idle": ("clients", "wave", "wave_timeout", "hold", "transport"),
    }

    def __post_init__(self) -> None:
        if self.scenario != "idle" and not 0 < self.senders < self.clients:
            raise ValueError("need 0 < senders < clients")
        if self.scenario == "steady" and (self.rate <= 0 or self.duration <= 0):
            raise ValueError("rate and duration must be positive")
        self.workers, self.batch = max(1, self.workers), max(1, self.batch)

    @classmethod
    def from_args(cls, args: argparse.Namespace, host: str) -> RunSpec:
        names = {field.name for field in fields(cls)}
        given = {name: value for name, value in vars(args).items() if name in names}
        return cls(**{**given, "host": host})

    @property
    def per_sender(self) -> int:
        """Messages each sender sends."""
        if self.scenario == "steady":
            return max(1, round(self.rate * self.duration))
        return max(1, self.messages)

    @property
    def run_timeout(self) -> float:
        """Deadline of the sending phase (burst: its deliveries too)."""
        return self.duration + 30.0 if self.scenario == "steady" else self.timeout

    @property
    def drain_idle(self) -> float:
        """A phase is over once no delivery has come for this many seconds."""
        return 3.0 if self.scenario == "steady" else 5.0

    def params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.PARAMS[self.scenario]}


# --------------------------------------------------------------------------------------
# steady and burst: worker processes
# --------------------------------------------------------------------------------------


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
    """S senders push M messages each as fast as their sockets accept them. Senders never
    block: writes are non-blocking and driven by writability, and every socket (the
    senders' own included) is read by the same loop."""
    active = set(go["senders"])
    senders = [c for c in engine.clients if c.gid in active and c.state == JOINED]
    messages, batch, pad = spec.per_sender, spec.batch, b"x" * spec.pad
    seq = [0] * spec.senders
    first_send = [0]

    def pump(c: Client) -> None:
        sid = c.gid
        count = min(batch, messages - seq[sid])
        now = time.monotonic_ns()
        if not first_send[0]:
            first_send[0] = now
        chunk = b"".join(make_message(sid, s, now, pad) for s in range(seq[sid], seq[sid] + count))
        seq[sid] += count
        if seq[sid] >= messages:
            c.pump = None
        engine.send(c, chunk)

    def busy() -> bool:
        return any(c.sock is not None and (c.pump is not None or bool(c.wbuf)) for c in senders)

    start_ns: int = go["start_ns"]
    engine.run_until(lambda: time.monotonic_ns() >= start_ns, 5.0, max_wait=0.005)
    for c in senders:
        c.pump = pump
        engine.want_write(c)
    expected = _local_expected(engine, active, messages)
    done = _idle_or_complete(tracker, expected, spec.drain_idle, busy)
    finished = engine.run_until(done, spec.run_timeout)
    return {
        "sent": sum(seq),
        "first_send_ns": first_send[0],
        "finished": finished and tracker.received >= expected,
    }


def _worker_main(conn: Connection, spec: RunSpec, worker: int) -> None:
    """Worker process: own a slice of the clients, run one phase, report, quit."""
    engine: Engine | None = None
    try:
        engine = Engine(spec.host, spec.port, spec.nick_prefix, spec.transport)
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


def run_in_workers(spec: RunSpec) -> dict[str, Any]:
    """steady or burst: fork ``spec.workers`` processes, run the phase in lock-step, merge
    their reports."""
    server_pid = spec.server_pid
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
            # The load generator's own cost per delivery seen (all workers, sending included):
            # what the client side adds to every figure, e.g. WebSocket framing and masking.
            "loadgen_cpu_us_per_delivery": _round(sum(cpu) * 1e6 / received if received else None),
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
# idle: one process
# --------------------------------------------------------------------------------------


def run_idle(spec: RunSpec) -> dict[str, Any]:
    """Register N idle clients, W at a time, in this process; report failures, time, RSS."""
    clients, wave, server_pid = spec.clients, spec.wave, spec.server_pid
    engine = Engine(spec.host, spec.port, spec.nick_prefix, spec.transport)
    result: dict[str, Any] = {}
    rss0 = proc_rss_kib(server_pid)
    tcp0 = tcp_ext_counters()
    srv_cpu0, cpu0 = proc_cpu_seconds(server_pid), self_cpu_seconds()
    t0 = time.monotonic()
    waves: list[dict[str, Any]] = []
    for first in range(0, clients, max(1, wave)):
        batch = engine.new_clients(range(first, min(clients, first + wave)), auto_join=False)
        before_reg, before_fail = engine.n_registered, engine.n_failed
        complete, took = engine.connect_clients(batch, len(batch), spec.wave_timeout)
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
    engine.run_until(lambda: False, spec.hold)
    still_open = sum(1 for c in engine.clients if c.sock is not None and c.state == REGISTERED)
    srv_cpu1, own_cpu = proc_cpu_seconds(server_pid), self_cpu_seconds() - cpu0
    per_client = None
    if rss0 is not None and rss1 is not None and registered:
        per_client = _round((rss1 - rss0) / len(registered), 2)
    wall = setup_wall + spec.hold
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
        "loadgen_cpu_us_per_delivery",
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
        "loadgen_cpu_us_per_delivery",
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
        "--transport",
        choices=TRANSPORTS,
        default="tcp",
        help="tcp: IRC lines; ws: IRC over WebSocket (text.ircv3.net, masked frames)",
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
        spec = RunSpec.from_args(args, host)
        result = {"scenario": spec.scenario, "params": spec.params()}
        result.update(run_idle(spec) if spec.scenario == "idle" else run_in_workers(spec))
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
