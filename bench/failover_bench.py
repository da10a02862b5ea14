"""A window on an IRC network whose server dies: how soon it is back, what it lost or repeated.

A three-server ngIRCd network on 127.0.0.1 (``tests/irc_network.py``, the files of
``docs/network/``): bea is on the first server, which stays up; ana (``net.client``,
the window's connection) is given the two others. Each round the server ana is on is
killed (SIGKILL: no goodbye, as in a power cut) while ana says a numbered line every
``--interval`` seconds, from before the kill until after she is back. Reported:

- the time from the kill to ana's ``JOIN`` confirmed on the other server (median and
  worst of ``--rounds``; target under 3 s);
- the lines bea never got (lost: target 0) and got more than once (repeated: a line the
  dead server relayed but never confirmed is sent again, and a network of servers other
  than Charla cannot tell it is a repeat). Before the next round the killed server is
  started again and links back to the first.

Run from the repository root: ``python bench/failover_bench.py`` (20 rounds, about a
minute), ``--rounds 5`` for a quick run.

Threading: ana's lines are said from one thread, the rest (the events of both clients,
the servers) is read on the main thread. Every wait has a deadline, every loop a bound.
"""

from __future__ import annotations

import argparse
import queue
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository root: net/ and tests.irc_network

from net import events as ev  # noqa: E402
from net.client import ChatClient, ReconnectPolicy  # noqa: E402
from net.network import ServerAddress  # noqa: E402
from tests.irc_network import running_network  # noqa: E402

DEADLINE = 20.0  # seconds any one step may take before the run is called broken


class Listener:
    """One client's events, taken off its queue on the caller's thread."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.heard: list[int] = []  # the numbers of the lines heard, in order
        self.confirmed: set[int] = set()  # the ids of our messages the server confirmed
        self.last: ev.Event | None = None  # the latest event, said when one does not come

    def until(self, wanted, deadline: float = DEADLINE) -> ev.Event:
        end = time.monotonic() + deadline
        while (remaining := end - time.monotonic()) > 0:
            try:
                event = self.client.events.get(timeout=remaining)
            except queue.Empty:
                break
            self.last = event
            if isinstance(event, ev.ChatMessage) and event.text.startswith("línea "):
                self.heard.append(int(event.text.split()[1]))
            if isinstance(event, ev.Delivered):
                self.confirmed.add(event.message_id)
            if wanted(event):
                return event
        raise SystemExit(f"{self.client.nick}: not what was awaited in {deadline} s; {self.last}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between lines")
    args = parser.parse_args()
    policy = ReconnectPolicy()  # the window's own timings
    moves: list[float] = []
    with running_network(3) as network:
        hub, *leaves = network.servers
        bea = ChatClient("127.0.0.1", hub.port, "bea", policy=policy).start()
        ana = ChatClient(
            "127.0.0.1",
            leaves[0].port,
            "ana",
            alternates=[ServerAddress("127.0.0.1", leaves[1].port)],
            policy=policy,
        ).start()
        bea_events, ana_events = Listener(bea), Listener(ana)
        bea_events.until(lambda e: isinstance(e, ev.Joined) and e.me)
        ana_events.until(lambda e: isinstance(e, ev.Joined) and e.me)
        said = 0
        ids: dict[int, int] = {}  # line number -> ana's message id
        try:
            for _round in range(args.rounds):
                on = next(index for index, leaf in enumerate(leaves) if leaf.port == ana.port)
                stop = threading.Event()
                counter = [said]

                def talk(stop: threading.Event = stop, counter: list[int] = counter) -> None:
                    while not stop.wait(args.interval):
                        counter[0] += 1
                        [message_id] = ana.say("#general", f"línea {counter[0]}")
                        ids[counter[0]] = message_id

                talker = threading.Thread(target=talk, daemon=True)
                talker.start()
                time.sleep(1.0)  # lines flowing before the kill
                leaves[on].kill()
                killed = time.monotonic()
                ana_events.until(lambda e: isinstance(e, ev.Joined) and e.me)
                moves.append(time.monotonic() - killed)
                time.sleep(1.0)  # and after it
                stop.set()
                talker.join(5)
                said = counter[0]
                ana_events.until(lambda e: isinstance(e, ev.OutboxChanged) and e.pending == 0)
                last = said
                bea_events.until(
                    lambda _e, last=last: bool(bea_events.heard) and bea_events.heard[-1] >= last
                )
                leaves[on].restart()
                network.wait_linked(1 + on)
        finally:
            ana.quit()
            bea.quit()
    heard = bea_events.heard
    lost = sorted(set(range(1, said + 1)) - set(heard))
    repeated = len(heard) - len(set(heard))
    print(f"ngIRCd network of 3 on 127.0.0.1, {args.rounds} servers killed under the client")
    print(
        f"back in the channel after the kill: median {statistics.median(moves):.2f} s, "
        f"worst {max(moves):.2f} s (target < 3 s)"
    )
    print(f"lines said {said}: lost {len(lost)} (target 0), repeated {repeated}")
    if lost:
        confirmed = [n for n in lost if ids.get(n) in ana_events.confirmed]
        print(f"  lost: {lost[:20]}, of which the server had confirmed: {confirmed[:20]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
