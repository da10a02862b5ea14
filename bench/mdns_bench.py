"""Multicast DNS figures, measured inside two network namespaces (root and ``ip`` needed).

- the time from a browser's start to the room listed: median and worst of ``--runs``
  (each a fresh browser process; the time is counted inside it, from ``Browser.start``),
  back to back and 1.5 s apart;
- the announcer's CPU while idle, over ``--idle`` seconds after its announcements;
- the browser under ``--flood`` junk packets (queries for the room, fake services,
  garbage): its CPU and peak memory, its table's size, whether the room is still listed,
  and the announcer's packets during the flood (RFC 6762 §6: at most one a second).

Nothing is sent outside the namespaces it makes (``tests/mdns_peer.py`` runs each side).
``python bench/mdns_bench.py`` (about 80 s), ``--runs 5 --idle 3`` for a quick look.
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "tests" / "mdns_peer.py"


class Peer:
    def __init__(self, namespace: str, *args: str) -> None:
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, str(PEER), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, prefix: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line.startswith(prefix):
                return line
        raise TimeoutError(f"no {prefix!r} line within {timeout} s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def make_namespaces(tag: str) -> tuple[str, str]:
    a, b = f"charla-bench-a-{tag}", f"charla-bench-b-{tag}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    ip("netns", "add", a)
    ip("netns", "add", b)
    ip(
        "link",
        "add",
        f"v{tag}a",
        "netns",
        a,
        "type",
        "veth",
        "peer",
        "name",
        f"v{tag}b",
        "netns",
        b,
    )
    for namespace, side, ipv4, ipv6 in ((a, "a", "169.254.10.1/16", "fe80::a/64"),
                                         (b, "b", "169.254.10.2/16", "fe80::b/64")):  # fmt: skip
        ip("-n", namespace, "addr", "add", ipv4, "dev", f"v{tag}{side}")
        ip("-n", namespace, "addr", "add", ipv6, "dev", f"v{tag}{side}", "nodad")
        ip("-n", namespace, "link", "set", f"v{tag}{side}", "up")
    return a, b


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idle", type=float, default=10.0)
    parser.add_argument("--flood", type=int, default=10_000)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 1
    tag = uuid.uuid4().hex[:6]
    made: list[str] = []
    peers: list[Peer] = []
    try:
        side_a, side_b = make_namespaces(tag)
        made += [side_a, side_b]
        announcer = Peer(side_a, "announce", "Sala de Ana", "6667")
        peers.append(announcer)
        announcer.expect("name")
        time.sleep(2.5)  # probes and both announcements done: the announcer is idle now

        # back to back, a browser often starts within a second of the last answer, which
        # RFC 6762 §6 holds back until that second is over; spaced out, it never does
        for gap, how in ((0.0, "back to back"), (1.5, "1.5 s apart")):
            times = []
            for _ in range(args.runs):
                time.sleep(gap)
                browser = Peer(side_b, "browse")
                times.append(float(browser.expect("seen").split()[1]))
                browser.stop()
            median, worst = statistics.median(times) * 1000, max(times) * 1000
            print(f"browser start -> room listed, {args.runs} runs {how}: median "
                  f"{median:.0f} ms, worst {worst:.0f} ms")  # fmt: skip

        before = announcer.cpu_seconds()
        time.sleep(args.idle)
        idle = announcer.cpu_seconds() - before
        print(f"announcer idle CPU: {idle * 1000:.0f} ms over {args.idle:g} s "
              f"({idle / args.idle * 100:.2f} %)")  # fmt: skip

        browser = Peer(side_b, "browse")
        peers.append(browser)
        browser.expect("seen")
        counter = Peer(side_b, "count", "169.254.10.1")
        peers.append(counter)
        counter.expect("counting")
        cpu_before = browser.cpu_seconds()
        began = time.monotonic()
        flooder = Peer(side_b, "flood", str(args.flood))
        flooder.expect("flooded", timeout=60)
        seconds = time.monotonic() - began
        flooder.stop()
        time.sleep(1.5)  # the answers the flood drew, held to their second
        counter.stop()
        packets = counter.expect("packets").split()[1]
        cpu = browser.cpu_seconds() - cpu_before
        last_rooms = ""
        while not browser.lines.empty():
            line = browser.lines.get()
            if line.startswith("["):
                last_rooms = line
        browser.stop()
        _, services, hosts, max_rss, _total_cpu = browser.expect("table").split()
        still = "Sala de Ana" in last_rooms or not last_rooms
        print(f"flood of {args.flood} packets in {seconds:.2f} s: browser CPU {cpu * 1000:.0f} ms, "
              f"peak RSS {int(max_rss) / 1024:.1f} MiB, table {services} services / {hosts} hosts, "
              f"room still listed: {still}; announcer sent {packets} packets meanwhile "
              f"(IPv4, {seconds + 1.5:.1f} s)")  # fmt: skip
    finally:
        for peer in peers:
            peer.stop()
        for namespace in made:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
