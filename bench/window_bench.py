"""Does the window stay responsive? A real server, a real window, a burst of 10,000 messages.

Reported:
- the longest time the Tk main thread was busy in one go during the burst (a 5 ms
  heartbeat ``after()`` measures the gaps between its ticks; target under 50 ms);
- the time from a message leaving the sender to it being in the window's Text, p50 and
  p99 (target p99 under 100 ms) — the sender is another client, so this includes its
  trip through the server;
- the window's CPU use while idle and connected, over ``--idle`` seconds;
- the longest stall while a single 100,000-character message is shown.

Run from the repository root (needs an X display or Debian's xvfb):
``python bench/window_bench.py`` (about 30 s), ``--messages 2000`` for a quick run.

Threading: the window runs on the main thread; the sender is a raw socket fed from a
worker thread; the server is a ``servidor.py`` child process. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import tkinter as tk
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from charla_server import running_charla  # noqa: E402

from gui.app import ChatWindow  # noqa: E402
from gui.conversation import ConversationView  # noqa: E402
from gui.settings import Settings  # noqa: E402
from net.client import ChatClient  # noqa: E402

HEARTBEAT_MS = 5


def raw_sender(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"NICK rafaga\r\nUSER r 0 * :r\r\nJOIN #general\r\n")
    received = b""
    while b" 366 " not in received:
        received += sock.recv(65536)
    sock.settimeout(None)
    threading.Thread(
        target=lambda: [None for _ in iter(lambda: sock.recv(65536), b"")], daemon=True
    ).start()
    return sock


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--steady", type=int, default=300, help="messages at --rate")
    parser.add_argument("--rate", type=float, default=30.0, help="messages/s")
    args = parser.parse_args()
    xvfb = None
    if "DISPLAY" not in os.environ:
        xvfb = subprocess.Popen(["Xvfb", ":94", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        os.environ["DISPLAY"] = ":94"
        time.sleep(1)
    servers = contextlib.ExitStack()
    port, _pid = servers.enter_context(running_charla(extra_args=["--no-history"]))
    root = tk.Tk()
    client = ChatClient("127.0.0.1", port, "lectora", ["#general"], queue.Queue()).start()
    window = ChatWindow(root, client, Settings(nick="lectora"))
    latencies: list[float] = []
    shown = ConversationView.add_message

    def timed_add(view, when, nick, body, **kwargs):
        shown(view, when, nick, body, **kwargs)
        if nick == "rafaga" and body.startswith("t="):
            latencies.append(time.perf_counter() - float(body.split()[0][2:]))

    ConversationView.add_message = timed_add
    gaps: list[float] = []
    last = [time.perf_counter()]
    beating = threading.Event()  # the heartbeat runs while set

    def heartbeat() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now
        if beating.is_set():
            root.after(HEARTBEAT_MS, heartbeat)

    def run(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            root.update()

    def run_until(condition, limit: float) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline and not condition():
            root.update()

    try:
        run_until(lambda: len(window.nick_list.get(0, "end")) >= 1, 10)
        sender = raw_sender(port)
        run(1.0)
        beating.set()
        root.after(HEARTBEAT_MS, heartbeat)
        run(0.5)
        gaps.clear()

        def burst() -> None:
            for number in range(args.messages):
                sender.sendall(
                    f"PRIVMSG #general :t={time.perf_counter()} mensaje {number}\r\n".encode()
                )

        threading.Thread(target=burst, daemon=True).start()
        run_until(lambda: len(latencies) >= args.messages, 120)
        burst_gaps = sorted(gaps)
        burst_latencies, latencies[:] = list(latencies), []
        for number in range(args.steady):  # a lively class: one message every 1/rate s
            sender.sendall(f"PRIVMSG #general :t={time.perf_counter()} ritmo {number}\r\n".encode())
            run(1 / args.rate)
        run_until(lambda: len(latencies) >= args.steady, 10)
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
        if xvfb is not None:
            xvfb.terminate()
    burst_ms = sorted(1000 * value for value in burst_latencies)
    steady_ms = sorted(1000 * value for value in latencies)
    p99_gap = 1000 * burst_gaps[int(len(burst_gaps) * 0.99)]
    print(f"burst of {args.messages} messages: all {len(burst_ms)} on screen")
    print(
        f"  longest main-thread stall {1000 * burst_gaps[-1]:.1f} ms, p99 gap {p99_gap:.1f} ms "
        f"(heartbeat every {HEARTBEAT_MS} ms)"
    )
    print(
        f"  sender -> on screen: p50 {statistics.median(burst_ms):.0f} ms, "
        f"p99 {burst_ms[int(len(burst_ms) * 0.99)]:.0f} ms (the backlog of the burst)"
    )
    print(
        f"{args.steady} messages at {args.rate:.0f}/s: sender -> on screen p50 "
        f"{statistics.median(steady_ms):.1f} ms, p99 {steady_ms[int(len(steady_ms) * 0.99)]:.1f} ms"
    )
    print(
        f"one 100,000-character message: inserted in {1000 * long_insert:.0f} ms, "
        f"longest stall after it {1000 * long_gap:.1f} ms"
    )
    print(f"idle and connected: {idle_pct:.2f} % CPU over {args.idle:.0f} s (the whole process)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
