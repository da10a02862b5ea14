"""Replies, reactions and older messages (issue 17): what they cost, side by side.

Reported, each on a fresh ``servidor.py`` (the launcher's settings, ``servers.py``):

- **relay with reply tags**: one sender says ``--messages`` lines to ``--listeners``
  clients (all with ``message-tags``) as fast as it goes, once plain and once with a
  ``+reply=<msgid>`` tag, alternating which goes first, ``--rounds`` times; deliveries/s
  and the server's CPU per delivery (from ``/proc``), and the ratio tagged/plain;
- **a reaction storm**: 30 people react to one message at the same moment (each a
  ``TAGMSG`` with ``+draft/react``), ``--storms`` times; how long until everyone has seen
  all 29 others' reactions (median and worst), beside the same storm of 30 one-word
  messages;
- **older messages in a window**: a window (under Xvfb) joined to a channel with 1,050
  kept messages scrolls to the top again and again until 1,000 older ones are loaded
  (``CHATHISTORY BEFORE``, a page of 100 at a time): the time it takes and the longest
  time the Tk main thread was busy in one go (a 5 ms heartbeat; target under 50 ms).

Run from the repository root: ``python bench/social_bench.py`` (about a minute),
``--quick`` for small numbers.

Threading: the clients of the first two parts are threads of this process reading their
own sockets; the window runs on the main thread. Everything talks to 127.0.0.1 only, and
every wait is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root: gui/, net/ and tests.support

from servers import running_server  # noqa: E402

from tests.support import x_display  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WAIT = 60.0  # the longest any one part may take


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class Reader:
    """A raw IRC client on its own thread: registers, joins, then counts what arrives."""

    def __init__(self, port: int, nick: str, channel: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.nick = nick
        self.lines = 0
        self.tagmsgs = 0
        self.privmsgs = 0
        self.buffer = b""
        self.sock.sendall(
            f"CAP REQ :message-tags server-time batch\r\nNICK {nick}\r\n"
            f"USER {nick} 0 * :{nick}\r\nCAP END\r\nJOIN {channel}\r\n".encode()
        )
        while b" 366 " not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"{nick} could not join")
            self.buffer += chunk
        self.buffer = b""
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        with contextlib.suppress(OSError):
            while chunk := self.sock.recv(262144):
                data = self.buffer + chunk
                lines = data.split(b"\r\n")
                self.buffer = lines.pop()
                for line in lines:
                    if b" TAGMSG " in line:
                        self.tagmsgs += 1
                    elif b" PRIVMSG " in line:
                        self.privmsgs += 1

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(timeout=5)


def wait_for(condition, limit: float = WAIT) -> bool:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


def relay_part(args: argparse.Namespace) -> None:
    with running_server("charla", "--no-history", "--no-flood-control") as (port, pid):
        listeners = [Reader(port, f"oyente{n}", "#bench") for n in range(args.listeners)]
        sender = Reader(port, "emisor", "#bench")
        results: dict[str, list[tuple[float, float]]] = {"plain": [], "reply": []}
        try:
            for number in range(args.rounds):
                kinds = ("plain", "reply") if number % 2 == 0 else ("reply", "plain")
                for kind in kinds:
                    before = [listener.privmsgs for listener in listeners]
                    tag = "@+reply=s-bench-123456 " if kind == "reply" else ""
                    payload = "".join(
                        f"{tag}PRIVMSG #bench :mensaje de prueba número {n}\r\n"
                        for n in range(args.messages)
                    ).encode()
                    cpu, started = cpu_seconds(pid), time.monotonic()
                    sender.sock.sendall(payload)
                    done = wait_for(
                        lambda before=before: all(
                            listener.privmsgs - start >= args.messages
                            for listener, start in zip(listeners, before, strict=True)
                        )
                    )
                    elapsed = time.monotonic() - started
                    deliveries = args.messages * len(listeners)
                    used = cpu_seconds(pid) - cpu
                    if not done:
                        print(f"  round {number} {kind}: not everything arrived in {WAIT:.0f} s")
                    results[kind].append((deliveries / elapsed, 1e6 * used / deliveries))
        finally:
            for client in (*listeners, sender):
                client.close()
    print(
        f"relay: {args.messages} messages to {args.listeners} clients, "
        f"{args.rounds} rounds, plain and with +reply alternating"
    )
    for index, label in ((0, "deliveries/s"), (1, "server CPU µs/delivery")):
        plain = statistics.median(value[index] for value in results["plain"])
        reply = statistics.median(value[index] for value in results["reply"])
        print(
            f"  {label:24} plain {plain:12,.1f}   +reply {reply:12,.1f}   ratio {reply / plain:.2f}"
        )


def storm_part(args: argparse.Namespace) -> None:
    with running_server("charla", "--no-flood-control") as (port, _pid):
        people = [Reader(port, f"alumno{n}", "#clase") for n in range(30)]
        times: dict[str, list[float]] = {"reactions": [], "messages": []}
        try:
            for number in range(args.storms):
                for kind in ("reactions", "messages"):
                    others = 29
                    field = "tagmsgs" if kind == "reactions" else "privmsgs"
                    before = [getattr(person, field) for person in people]
                    go = threading.Barrier(len(people) + 1)

                    def say(person: Reader, go=go, kind=kind, number=number) -> None:
                        line = (
                            f"@+draft/react=👍;+draft/reply=s-storm-{number} TAGMSG #clase\r\n"
                            if kind == "reactions"
                            else "PRIVMSG #clase :vale\r\n"
                        )
                        go.wait(timeout=WAIT)
                        person.sock.sendall(line.encode())

                    threads = [threading.Thread(target=say, args=(p,)) for p in people]
                    for thread in threads:
                        thread.start()
                    go.wait(timeout=WAIT)
                    started = time.monotonic()
                    done = wait_for(
                        lambda field=field, before=before, others=others: all(
                            getattr(person, field) - start >= others
                            for person, start in zip(people, before, strict=True)
                        )
                    )
                    times[kind].append(time.monotonic() - started)
                    for thread in threads:
                        thread.join(timeout=WAIT)
                    if not done:
                        print(f"  storm {number} {kind}: not everything arrived")
        finally:
            for person in people:
                person.close()
    print(f"storm: 30 people at once, {args.storms} times (until all saw all 29 others)")
    for kind, values in times.items():
        values.sort()
        rate = 30 * 29 / statistics.median(values)
        print(
            f"  {kind:10} median {1000 * statistics.median(values):7.1f} ms   "
            f"worst {1000 * values[-1]:7.1f} ms   ({rate:,.0f} deliveries/s)"
        )


def older_part(args: argparse.Namespace) -> None:
    import tkinter as tk

    from gui.app import ChatWindow
    from gui.settings import Settings
    from net.client import ChatClient

    with contextlib.ExitStack() as stack:
        stack.enter_context(x_display())
        port, _pid = stack.enter_context(running_server("charla", "--no-flood-control"))
        kept = args.older + 50
        writer = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        writer.sendall(b"NICK marta\r\nUSER m 0 * :p\r\nJOIN #clase\r\n")
        writer.sendall(
            "".join(f"PRIVMSG #clase :apunte {n} del tema\r\n" for n in range(kept)).encode()
        )
        writer.sendall(b"PING :hecho\r\n")
        received = b""
        while b"hecho" not in received:
            received += writer.recv(65536)
        writer.close()
        root = tk.Tk()
        client = ChatClient("127.0.0.1", port, "lectora", ["#clase"], queue.Queue()).start()
        window = ChatWindow(root, client, Settings(nick="lectora"), channel="#clase")
        try:
            view = window.views["#clase"]

            def pump_until(condition, limit: float) -> bool:
                deadline = time.monotonic() + limit
                while not condition():
                    if time.monotonic() > deadline:
                        return False
                    root.update()
                    time.sleep(0.001)
                return True

            pump_until(lambda: f"apunte {kept - 1} " in view.plain_text(), WAIT)
            gaps: list[float] = []
            last = [time.perf_counter()]
            beating = [True]

            def heartbeat() -> None:
                now = time.perf_counter()
                gaps.append(now - last[0])
                last[0] = now
                if beating[0]:
                    root.after(5, heartbeat)

            root.after(5, heartbeat)
            pump_until(lambda: len(gaps) > 20, 5)
            gaps.clear()
            started = time.monotonic()
            target = f"apunte {kept - 50 - args.older} del"
            while target not in view.plain_text() and time.monotonic() - started < WAIT:
                view.show_index("1.0")  # the user drags the scrollbar to the top
                view.text.event_generate("<Button-4>")
                root.update()  # the wheel's own handlers, then ours (after_idle)
                pump_until(lambda: "#clase" not in window.social.loading, 10)
            elapsed = time.monotonic() - started
            beating[0] = False
            loaded = target in view.plain_text()
        finally:
            window.close()
    print(f"older messages: {args.older} loaded into a window by scrolling to the top")
    print(
        f"  {'all' if loaded else 'NOT all'} in {1000 * elapsed:.0f} ms; longest main-thread "
        f"stall {1000 * max(gaps):.1f} ms (target under 50 ms; heartbeat every 5 ms)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--listeners", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--storms", type=int, default=20)
    parser.add_argument("--older", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small numbers, a few seconds")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.rounds, args.storms, args.older = 200, 2, 3, 200
    relay_part(args)
    storm_part(args)
    older_part(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
