"""Does the window stay responsive? A real server, a real window, a burst of 10,000 messages.

Reported:
- the longest time the Tk main thread was busy in one go during the burst (a 5 ms
  heartbeat ``after()`` measures the gaps between its ticks; target under 50 ms);
- the time from a message leaving the sender to it being in the window's Text, p50 and
  p99 (target p99 under 100 ms) — the sender is another program (a child process that
  joins as a raw IRC client), so this includes its trip through the server;
- the window's CPU use while idle and connected, over ``--idle`` seconds;
- the longest stall while a single 100,000-character message is shown.

Run from the repository root (needs an X display or Debian's xvfb):
``python bench/window_bench.py`` (about 30 s), ``--messages 2000`` for a quick run.

Threading: the window runs on the main thread; the sender (this script with
``--sender``) and the server (``servidor.py``) are child processes. Everything is on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import resource
import socket
import subprocess
import sys
import threading
import time
import tkinter as tk
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root: gui/, net/ and tests.support

from procutil import percentile  # noqa: E402
from servers import running_server  # noqa: E402

from gui.app import ChatWindow  # noqa: E402
from gui.conversation import ConversationView  # noqa: E402
from gui.settings import Settings  # noqa: E402
from net.client import ChatClient  # noqa: E402
from tests.support import x_display  # noqa: E402

HEARTBEAT_MS = 5


def sender_process(port: int) -> subprocess.Popen:
    """Another program on the LAN: this script with ``--sender PORT``, told what to send on
    its standard input. A separate process, so it does not share the window's GIL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--sender", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the sender could not join #general")
    return process


def order(process: subprocess.Popen, line: str) -> None:
    process.stdin.write(line + "\n")
    process.stdin.flush()


def run_sender(port: int) -> None:
    """Join #general as ``rafaga``; then, per line read: ``burst N`` sends N messages as fast
    as possible, ``steady N RATE`` sends N at RATE per second. Each carries its send time
    (``time.monotonic()``, the same clock in every process)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"NICK rafaga\r\nUSER r 0 * :r\r\nJOIN #general\r\n")
    received = b""
    while b" 366 " not in received:
        received += sock.recv(65536)
    sock.settimeout(None)
    threading.Thread(
        target=lambda: [None for _ in iter(lambda: sock.recv(65536), b"")], daemon=True
    ).start()
    print("ready", flush=True)
    for command in sys.stdin:
        kind, count, *rate = command.split()
        for number in range(int(count)):
            sock.sendall(f"PRIVMSG #general :t={time.monotonic()} {kind} {number}\r\n".encode())
            if rate:
                time.sleep(1 / float(rate[0]))
    sock.close()


def percentiles(pairs: list[tuple[float, float]], which: int) -> str:
    values = sorted(1000 * pair[which] for pair in pairs)
    return f"p50 {percentile(values, 50):.1f} ms, p99 {percentile(values, 99):.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--steady", type=int, default=300, help="messages at --rate")
    parser.add_argument("--rate", type=float, default=30.0, help="messages/s")
    parser.add_argument("--sender", type=int, help=argparse.SUPPRESS)  # the sender's role
    args = parser.parse_args()
    if args.sender:
        run_sender(args.sender)
        return 0
    servers = contextlib.ExitStack()
    servers.enter_context(x_display())
    port, _pid = servers.enter_context(running_server("charla", "--no-history"))
    root = tk.Tk()
    client = ChatClient("127.0.0.1", port, "lectora", ["#general"], queue.Queue()).start()
    window = ChatWindow(root, client, Settings(nick="lectora"))
    latencies: list[tuple[float, float]] = []  # (from the sender, from the server), seconds
    shown, flush = ConversationView.add_message, ConversationView.flush
    unflushed: list[tuple[float, float]] = []  # (sent, relayed) of messages not in the Text

    def timed_add(view, when, nick, body, **kwargs):
        shown(view, when, nick, body, **kwargs)
        if nick == "rafaga" and body.startswith("t="):
            unflushed.append((float(body.split()[0][2:]), when.timestamp()))

    def timed_flush(view):  # in the Text: drawn when Tk is next idle
        flush(view)
        now, wall_now = time.monotonic(), time.time()
        latencies.extend((now - sent, wall_now - relayed) for sent, relayed in unflushed)
        unflushed.clear()

    ConversationView.add_message, ConversationView.flush = timed_add, timed_flush
    gaps: list[float] = []
    last = [time.perf_counter()]
    beating = threading.Event()  # the heartbeat runs while set

    def heartbeat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if beating.is_set():
            root.after(HEARTBEAT_MS, heartbeat)

    def run_until(condition, limit: float) -> None:
        """Tk's own main loop, as the program runs it, until ``condition()`` or ``limit`` s."""
        deadline = time.monotonic() + limit

        def check() -> None:
            if condition() or time.monotonic() >= deadline:
                root.quit()
            else:
                root.after(10, check)

        root.after(10, check)
        root.mainloop()

    def run(seconds: float) -> None:
        run_until(lambda: False, seconds)

    try:
        run_until(lambda: len(window.nick_list.get(0, "end")) >= 1, 10)
        sender = servers.enter_context(sender_process(port))
        run(1.0)
        beating.set()
        root.after(HEARTBEAT_MS, heartbeat)
        run(0.5)
        gaps.clear()
        order(sender, f"burst {args.messages}")
        run_until(lambda: len(latencies) >= args.messages, 120)
        burst_gaps = sorted(gaps)
        burst_latencies, latencies[:] = list(latencies), []
        order(sender, f"steady {args.steady} {args.rate}")  # a lively class
        run_until(lambda: len(latencies) >= args.steady, 10 + args.steady / args.rate)
        gaps.clear()
        started = time.perf_counter()
        window.views["#general"].add_message(datetime.now().astimezone(), "larga", "ñ" * 100_000)
        long_insert = time.perf_counter() - started
        run(1.0)
        long_gap = max(gaps) if gaps else 0.0
        beating.clear()  # idle: only the window's own pump, as a user would have it
        run(0.5)
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        wall_before = time.monotonic()
        root.after(int(args.idle * 1000), root.quit)
        root.mainloop()
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        idle_cpu = (
            cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
        )
        idle_pct = 100 * idle_cpu / (time.monotonic() - wall_before)
    finally:
        window.close()
        servers.close()
    print(f"burst of {args.messages} messages: all {len(burst_latencies)} on screen")
    p99_gap = 1000 * (percentile(burst_gaps, 99) or 0.0)
    print(
        f"  longest main-thread stall {1000 * burst_gaps[-1]:.1f} ms, p99 gap {p99_gap:.1f} ms "
        f"(heartbeat every {HEARTBEAT_MS} ms)"
    )
    print(f"  sender -> on screen: {percentiles(burst_latencies, 0)}")
    print(f"  server -> on screen: {percentiles(burst_latencies, 1)} (server's time tag, 1 ms)")
    print(f"{args.steady} messages at {args.rate:.0f}/s:")
    print(f"  sender -> on screen: {percentiles(latencies, 0)}")
    print(f"  server -> on screen: {percentiles(latencies, 1)}")
    print(
        f"one 100,000-character message: inserted in {1000 * long_insert:.0f} ms, "
        f"longest stall after it {1000 * long_gap:.1f} ms"
    )
    print(f"idle and connected: {idle_pct:.2f} % CPU over {args.idle:.0f} s (the whole process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
