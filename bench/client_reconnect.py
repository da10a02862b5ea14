"""Figures for the client connection (net/client.py): noticing death, coming back, losing nothing.

Three measurements, everything on 127.0.0.1:

1. ``detect``: a fake server registers the client and then goes silent without closing
   (a half-open connection, as when a laptop leaves the Wi-Fi). Reported: seconds from
   the server's last byte to the client's ``Disconnected`` event, with the client's
   default keepalive settings.
2. ``cycles``: a real ``servidor.py`` process and two clients that talk throughout (each
   sends ``--rate`` messages per second). ``--cycles`` times: the server is killed with
   SIGKILL and started again at once on the same port. Reported: for each client, seconds
   from the kill to being back in the channel with the same nick (p50 and max), and at
   the end how many messages were lost, duplicated or out of order at the other client.

Run from the repository root: ``python bench/client_reconnect.py`` (both, about 1.5
minutes), ``--only detect`` or ``--only cycles``, ``--cycles 5`` for a quick run.

Threading: one consumer thread per client drains its event queue into a list with
timestamps; the senders are threads too. Every wait has a deadline and every loop a bound.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import queue
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the repository root: net/ and tests.support

from net import events as ev  # noqa: E402
from net.client import ChatClient  # noqa: E402
from tests.support import running_charla  # noqa: E402

HOST = "127.0.0.1"


@dataclass
class Recorder:
    """A client and every event it produced, with the monotonic time it was taken off."""

    client: ChatClient
    events: list[tuple[float, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)  # guards events
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                event = self.client.events.get(timeout=0.2)
            except queue.Empty:
                continue
            with self.lock:
                self.events.append((time.monotonic(), event))

    def first_after(self, since: float, kind: type, where=lambda e: True, timeout: float = 30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for stamp, event in self.events:
                    if stamp >= since and isinstance(event, kind) and where(event):
                        return stamp, event
            time.sleep(0.01)
        return None


def start_recorder(client: ChatClient) -> Recorder:
    recorder = Recorder(client)
    threading.Thread(target=recorder.run, daemon=True).start()
    client.start()
    return recorder


# -- 1. detection of a silent dead connection ----------------------------------------------


def measure_detection() -> dict:
    listener = socket.create_server((HOST, 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    client = ChatClient(HOST, port, "ana")
    recorder = start_recorder(client)
    try:
        peer, _ = listener.accept()
        peer.settimeout(5)
        received = b""
        while b"USER " not in received:
            received += peer.recv(4096)
        peer.sendall(b":fake CAP * LS :\r\n:fake 001 ana :Welcome\r\n")
        silent_since = time.monotonic()  # from now on the server reads and never answers
        found = recorder.first_after(silent_since, ev.Disconnected, timeout=120)
        peer.close()
    finally:
        client.quit()
        recorder.stop.set()
        listener.close()
    if found is None:
        return {"detected": False}
    stamp, event = found
    return {
        "detected": True,
        "seconds": round(stamp - silent_since, 2),
        "reason": event.reason,
        "keepalive_after": ChatClient.keepalive_after,
        "keepalive_timeout": ChatClient.keepalive_timeout,
    }


# -- 2. kill and restart cycles --------------------------------------------------------------


def sender(client: ChatClient, nick: str, rate: float, stop: threading.Event, sent: list) -> None:
    number = 0
    while not stop.is_set() and number < 1_000_000:
        number += 1
        text = f"{nick} {number}"
        client.say("#general", text)
        sent.append(text)
        stop.wait(1 / rate)


def measure_cycles(cycles: int, rate: float, talk_seconds: float) -> dict:
    servers = contextlib.ExitStack()  # every server started, each stopped at the end
    # One data folder for every restart: the history outlives a kill, as on a real machine.
    data_home = Path(servers.enter_context(tempfile.TemporaryDirectory(prefix="charla-")))
    server_args = ("--no-flood-control", "--log-level", "warning")
    port, server = servers.enter_context(running_charla(*server_args, data_home=data_home))
    clients = {nick: ChatClient(HOST, port, nick) for nick in ("ana", "bea")}
    recorders = {nick: start_recorder(client) for nick, client in clients.items()}
    rejoin_times: dict[str, list[float]] = {nick: [] for nick in clients}
    sent: dict[str, list[str]] = {nick: [] for nick in clients}
    stop_talking = threading.Event()
    try:
        for nick, recorder in recorders.items():
            if recorder.first_after(0, ev.Joined, lambda e: e.me, timeout=10) is None:
                raise RuntimeError(f"{nick} never joined")
        senders = [
            threading.Thread(target=sender, args=(clients[n], n, rate, stop_talking, sent[n]))
            for n in clients
        ]
        for thread in senders:
            thread.start()
        for _cycle in range(cycles):
            time.sleep(talk_seconds)  # the conversation goes on for a while
            killed_at = time.monotonic()
            server.process.kill()  # SIGKILL
            server.wait(5)
            _, server = servers.enter_context(
                running_charla(*server_args, port=port, data_home=data_home)
            )
            for nick, recorder in recorders.items():
                found = recorder.first_after(
                    killed_at, ev.Joined, lambda e, n=nick: e.me and e.nick == n, timeout=30
                )
                if found is not None:
                    rejoin_times[nick].append(found[0] - killed_at)
        time.sleep(talk_seconds)
        stop_talking.set()
        for thread in senders:
            thread.join(5)
        for nick, client in clients.items():
            client.say("#general", f"{nick} fin")
            sent[nick].append(f"{nick} fin")
        results = {}
        for nick, recorder in recorders.items():
            other = "bea" if nick == "ana" else "ana"
            recorder.first_after(0, ev.ChatMessage, lambda e, o=other: e.text == f"{o} fin", 60)
            with recorder.lock:
                got = [
                    e.text
                    for _, e in recorder.events
                    if isinstance(e, ev.ChatMessage) and e.sender == other
                ]
            expected = sent[other]
            position = {text: index for index, text in enumerate(expected)}
            indices = [position[text] for text in got if text in position]
            results[f"{other}->{nick}"] = {
                "sent": len(expected),
                "received": len(got),
                "lost": len(set(expected) - set(got)),
                "duplicated": len(got) - len(set(got)),
                "out_of_order": sum(1 for a, b in itertools.pairwise(indices) if b < a),
            }
    finally:
        stop_talking.set()
        for client in clients.values():
            client.quit()
        for recorder in recorders.values():
            recorder.stop.set()
        servers.close()
    every = [t for times in rejoin_times.values() for t in times]
    return {
        "cycles": cycles,
        "rejoined": {nick: len(times) for nick, times in rejoin_times.items()},
        "rejoin_p50_s": round(statistics.median(every), 3) if every else None,
        "rejoin_max_s": round(max(every), 3) if every else None,
        "messages": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("detect", "cycles"))
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--rate", type=float, default=10.0, help="messages/s per client")
    parser.add_argument("--talk", type=float, default=1.5, help="seconds between kills")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {}
    if args.only in (None, "cycles"):
        results["cycles"] = measure_cycles(args.cycles, args.rate, args.talk)
    if args.only in (None, "detect"):
        results["detect"] = measure_detection()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if "detect" in results:
        detect = results["detect"]
        print(
            f"silent dead connection noticed after {detect.get('seconds')} s "
            f"(keepalive {detect.get('keepalive_after')} s + {detect.get('keepalive_timeout')} s)"
        )
    if "cycles" in results:
        cycle = results["cycles"]
        print(
            f"{cycle['cycles']} kill -9 + restart cycles: back in the channel with the same "
            f"nick after p50 {cycle['rejoin_p50_s']} s, max {cycle['rejoin_max_s']} s "
            f"(rejoined {cycle['rejoined']})"
        )
        for direction, counts in cycle["messages"].items():
            print(f"  {direction}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
