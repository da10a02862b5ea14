"""What one attacker can make the server hold: RSS during each memory attack and after.

Role: starts a fresh ``servidor.py`` (its defaults, flood control on, history in a
temporary folder) through the tests' ``running_charla``, connects 200 ordinary IRC users
(each from its own loopback address, 127.0.1.N, as in a classroom) who join ``#general``
and chat a little, and records the server's RSS (``VmRSS`` in ``/proc/PID/status``). Then
it runs each attack in turn from one address, 127.0.0.1, and reports the highest RSS
while the attack is in place and the RSS once the attacker has gone (its connections
closed and their threads ended), beside the 200-user figure:

(a) ``tags``: connections with ``message-tags`` send PRIVMSG with a 4,000-byte client
    tag to four channels at once, at the rate the flood gate allows;
(b) ``channels``: 1,000 throwaway channels, each joined, given a message and left;
(c) ``backlog``: 48 connections each send a full flood-gate backlog of 4.5 KB lines;
(d) ``idle``: 1,000 connections that never register, held open;
(e) ``who``: WHO with thousands of distinct masks.

The target (issue 13): no attack takes the server past twice the 200-user RSS, and the
memory comes back when the attacker leaves. ``--quick`` runs each attack briefly (smoke
test, about 25 s); the full run takes about 50 s. ``--program DIR`` runs the
``servidor.py`` of another checkout (to compare before and after); the server inherits
this process's environment, so ``MALLOC_ARENA_MAX=2 python bench/memory_bench.py`` tries
a glibc setting.

Threading: the main thread runs the phases; one sampler thread reads the server's RSS
every 20 ms, and one drain thread per group of sockets reads and discards what the server
sends them (so no send queue grows on the server for lack of a reader). Everything
connects to 127.0.0.1 only. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from procutil import raise_nofile_limit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository root, for tests.support and nothing else

from tests.support import running_charla  # noqa: E402

SERVER = "127.0.0.1"
ATTACKER = "127.0.0.1"
USERS = 200
#: the server's default flood gate (ConnectionLimits): burst, then lines per second
BURST, RATE = 40, 10.0
TAG = "+x=" + "y" * 4000
PHASE_TIMEOUT = 60.0  # every wait in a phase ends by then


def user_address(n: int) -> str:
    return f"127.0.1.{n + 1}"


def status_field(pid: int, name: str) -> int:
    """A number field of /proc/PID/status (VmRSS in KiB, Threads)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


def mib(kib: float) -> str:
    return f"{kib / 1024:7.1f}"


class Sampler(threading.Thread):
    """The server's RSS every 20 ms; ``peak()`` since the last ``reset()``."""

    def __init__(self, pid: int) -> None:
        super().__init__(name="sampler", daemon=True)
        self.pid = pid
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._peak = 0

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            with contextlib.suppress(OSError, KeyError):
                rss = status_field(self.pid, "VmRSS")
                with self._lock:
                    self._peak = max(self._peak, rss)

    def reset(self) -> None:
        with self._lock:
            self._peak = status_field(self.pid, "VmRSS")

    def peak(self) -> int:
        with self._lock:
            return max(self._peak, status_field(self.pid, "VmRSS"))

    def stop(self) -> None:
        self._stop_event.set()
        self.join(2)


class Drain(threading.Thread):
    """Reads and discards everything the server sends to ``socks`` until ``stop()``."""

    def __init__(self, socks: Iterable[socket.socket]) -> None:
        super().__init__(name="drain", daemon=True)
        self.selector = selectors.DefaultSelector()
        for sock in socks:
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
        self._stop_event = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for key, _ in self.selector.select(0.1):
                try:
                    if not key.fileobj.recv(65536):  # type: ignore[union-attr]
                        self.selector.unregister(key.fileobj)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    self.selector.unregister(key.fileobj)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(2)
        self.selector.close()


def connect(port: int, source: str) -> socket.socket:
    sock = socket.create_connection((SERVER, port), timeout=10, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_until(sock: socket.socket, marker: bytes, timeout: float = PHASE_TIMEOUT) -> bytes:
    """Read (and keep) what arrives until ``marker`` is in it; raises on timeout or close."""
    sock.setblocking(True)
    deadline = time.monotonic() + timeout
    seen = bytearray()
    while marker not in seen:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed before {marker!r}: {bytes(seen[-300:])!r}")
        seen += data
        del seen[: max(0, len(seen) - 65536)]
    return bytes(seen)


def register(port: int, source: str, nick: str, *, tags: bool = False) -> socket.socket:
    """A registered IRC client (with ``message-tags`` if ``tags``), after its MOTD."""
    sock = connect(port, source)
    caps = b"CAP LS 302\r\nCAP REQ :message-tags\r\n" if tags else b""
    end = b"CAP END\r\n" if tags else b""
    sock.sendall(caps + f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode() + end)
    read_until(sock, b" 376 ", 10)  # the end of the MOTD: registered
    return sock


def finish(socks: list[socket.socket], timeout: float = PHASE_TIMEOUT) -> int:
    """Send each a PING and wait for its PONG (every earlier line was handled by then);
    returns how many answered (the others were dropped by the server)."""
    answered = 0
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.sendall(b"PING :bench-done\r\n")
    deadline = time.monotonic() + timeout
    for sock in socks:
        try:
            read_until(sock, b"bench-done", max(0.5, deadline - time.monotonic()))
            answered += 1
        except (OSError, ConnectionError):
            pass
    return answered


def close_all(socks: Iterable[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()


def wait_threads(pid: int, at_most: int, timeout: float = 30.0) -> bool:
    """Wait until the server runs at most ``at_most`` threads (its connections ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status_field(pid, "Threads") <= at_most:
            return True
        time.sleep(0.05)
    return False


def paced(socks: list[socket.socket], lines: list[list[bytes]], cost: float) -> None:
    """Send each socket its lines at the rate the server's flood gate allows (a burst, then
    ``RATE`` tokens a second; each line costs ``cost`` tokens), all sockets in turn."""
    start = time.monotonic()
    sent = [0] * len(socks)
    while any(n < len(todo) for n, todo in zip(sent, lines, strict=True)):
        allowed = int((BURST + (time.monotonic() - start) * RATE * 0.95) / cost)
        for index, sock in enumerate(socks):
            upto = min(allowed, len(lines[index]))
            if sent[index] < upto:
                with contextlib.suppress(OSError):
                    sock.sendall(b"".join(lines[index][sent[index] : upto]))
                sent[index] = upto
        time.sleep(0.05)


# -- the attacks: each returns a note; the sockets it opened are in ``opened`` ------------


def attack_tags(port: int, opened: list[socket.socket], seconds: float) -> str:
    conns = 8
    for n in range(conns):
        sock = register(port, ATTACKER, f"tags{n}", tags=True)
        opened.append(sock)
        sock.sendall(b"JOIN #general,#t1,#t2,#t3\r\n")
    per_conn = int((BURST + seconds * RATE) / 4)
    lines = [
        [f"@{TAG} PRIVMSG #general,#t1,#t2,#t3 :{n} {i}\r\n".encode() for i in range(per_conn)]
        for n in range(conns)
    ]
    drain = Drain(opened)  # they hear each other: unread, they would be dropped (SendQ)
    try:
        paced(opened, lines, cost=4)
    finally:
        drain.stop()
    answered = finish(opened)
    return f"{conns} conns x {per_conn} msgs x 4 targets; {conns - answered} dropped"


def attack_channels(port: int, opened: list[socket.socket], channels: int) -> str:
    conns = 48
    for n in range(conns):
        opened.append(register(port, ATTACKER, f"chan{n}"))
    for n, sock in enumerate(opened):
        lines = b"".join(
            f"JOIN #tira{c}\r\nPRIVMSG #tira{c} :hola {c}\r\nPART #tira{c}\r\n".encode()
            for c in range(n, channels, conns)
        )
        sock.sendall(lines)
    answered = finish(opened)
    return f"{channels} channels over {conns} conns; {conns - answered} dropped"


def attack_backlog(port: int, opened: list[socket.socket], sampler: Sampler) -> str:
    conns = 48
    for n in range(conns):
        opened.append(register(port, ATTACKER, f"park{n}"))
    big = f"@{TAG} PING :{'z' * 400}\r\n".encode()
    dropped = 0
    for sock in opened:
        sock.settimeout(10)
        try:  # the burst, then as many held back as the server keeps (1,000 lines before)
            sock.sendall(b"PING :burst\r\n" * BURST + big * 990)
        except OSError:
            dropped += 1
    time.sleep(2)  # held there: the sampler sees what the backlog costs
    flooded = 0
    for sock in opened:
        with contextlib.suppress(OSError, ConnectionError):
            read_until(sock, b"Excess Flood", 0.2)
            flooded += 1
    return (
        f"{conns} conns x 990 lines of {len(big)} B sent; {dropped} cut off while sending,"
        f" {flooded} told Excess Flood"
    )


def attack_idle(port: int, opened: list[socket.socket], count: int) -> str:
    for _ in range(count):
        try:
            opened.append(connect(port, ATTACKER))
        except OSError:
            break
    time.sleep(2)  # past plain_text_after: the kept ones are sessions at the name prompt
    refused = 0
    for sock in opened:
        sock.settimeout(0.5)
        with contextlib.suppress(OSError):
            if sock.recv(5, socket.MSG_PEEK) == b"ERROR":
                refused += 1
    return f"{len(opened)} opened, {len(opened) - refused} kept by the server"


def attack_who(port: int, opened: list[socket.socket], seconds: float) -> str:
    conns = 48
    for n in range(conns):
        opened.append(register(port, ATTACKER, f"who{n}"))
    per_conn = int(BURST + seconds * RATE)
    for n, sock in enumerate(opened):
        sock.sendall(b"".join(f"WHO *{n}x{i}?*\r\n".encode() for i in range(per_conn)))
    answered = finish(opened, timeout=seconds + PHASE_TIMEOUT)
    return f"{conns * per_conn} distinct masks; {conns - answered} dropped"


@contextlib.contextmanager
def classroom(port: int, pid: int, messages: int) -> Iterator[list[socket.socket]]:
    """200 registered users in #general, each having said ``messages`` lines."""
    users: list[socket.socket] = []
    try:
        for n in range(USERS):
            sock = register(port, user_address(n), f"alumno{n}")
            sock.sendall(b"JOIN #general\r\n")
            read_until(sock, b" 366 ", 10)
            users.append(sock)
        drain = Drain(users)
        try:
            for round_ in range(messages):
                for n, sock in enumerate(users):
                    sock.sendall(f"PRIVMSG #general :hola, soy {n} ({round_})\r\n".encode())
            time.sleep(2)  # the relay of those lines finishes
            yield users
        finally:
            drain.stop()
    finally:
        close_all(users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short attacks (smoke test)")
    parser.add_argument("--program", type=Path, help="the checkout whose servidor.py to run")
    parser.add_argument(
        "--only",
        help="comma-separated attacks, run in that order (one may repeat: idle,idle shows "
        "whether what stays after the first is reused): tags,channels,backlog,idle,who",
    )
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else 15.0
    raise_nofile_limit()
    program = (sys.executable, str((args.program or ROOT) / "servidor.py"))
    with running_charla("--server-name", "bench.charla", program=program) as (port, server):
        pid = server.process.pid
        time.sleep(1)
        idle_rss = status_field(pid, "VmRSS")
        sampler = Sampler(pid)
        sampler.start()
        try:
            with classroom(port, pid, 2 if args.quick else 5):
                base_rss = status_field(pid, "VmRSS")
                base_threads = status_field(pid, "Threads")
                print(f"{'':34} {'RSS MiB':>8} {'x200':>6}")
                print(f"{'idle server':34} {mib(idle_rss):>8}")
                print(f"{'200 users chatting':34} {mib(base_rss):>8} {1.0:6.2f}")
                attacks = {
                    "tags": lambda opened: attack_tags(port, opened, seconds),
                    "channels": lambda opened: attack_channels(port, opened, 1000),
                    "backlog": lambda opened: attack_backlog(port, opened, sampler),
                    "idle": lambda opened: attack_idle(port, opened, 1000),
                    "who": lambda opened: attack_who(port, opened, seconds),
                }
                worst = 0.0
                names = args.only.split(",") if args.only else list(attacks)
                unknown = set(names) - attacks.keys()
                if unknown:
                    parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
                for name in names:
                    attack = attacks[name]
                    sampler.reset()
                    opened: list[socket.socket] = []
                    started = time.monotonic()
                    try:
                        note = attack(opened)
                    except (OSError, ConnectionError) as exc:
                        note = f"failed: {exc}"
                    during = sampler.peak()
                    took = time.monotonic() - started
                    close_all(opened)
                    gone = wait_threads(pid, base_threads + 1)
                    time.sleep(1)
                    after = status_field(pid, "VmRSS")
                    worst = max(worst, during / base_rss)
                    print(f"{f'({name}) during':34} {mib(during):>8} {during / base_rss:6.2f}")
                    label = f"({name}) after" + ("" if gone else " (threads left!)")
                    print(
                        f"{label:34} {mib(after):>8} {after / base_rss:6.2f}   {note}; {took:.0f} s"
                    )
                    sys.stdout.flush()
                print(f"worst: {worst:.2f} x the 200-user RSS (target: at most 2)")
        finally:
            sampler.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
