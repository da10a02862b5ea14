"""A peer for tests/test_mdns.py and bench/mdns_bench.py, run inside a network namespace.

``announce NAME PORT [CHANNEL]``: announce a room until stdin closes, printing the name
it holds ("name <NAME>") whenever it changes. ``browse``: print the rooms as one JSON
line each time they change (``seen SECONDS`` before the first room, counted from
the browser's start), and at the end ``table SERVICES HOSTS MAXRSS_KB CPU_S``.
``flood COUNT [SECONDS]``: send COUNT junk packets (over SECONDS) to the mDNS group
(queries for the room, fake
services, garbage) and print ``flooded``. ``count ADDRESS``: count the mDNS packets
heard from ADDRESS (IPv4) until stdin closes, print ``packets N``. ``addresses``: print
``a ADDRESS`` for each IPv4 address record heard in any response, never asking (what an
announcer says by itself). ``dialog``: the real
connect dialog (``gui.connect_dialog``, on ``DISPLAY``) with its live room list; prints
``listed SECONDS LINE`` when a room appears in the list (seconds since the dialog opened),
then double-clicks it and prints ``chose HOST:PORT`` when the dialog is done, then
``gone SECONDS`` when the list is empty again (seconds since ``stopped`` was read on its
stdin). Each stops when stdin closes.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import resource
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from net.dns_message import (
    TYPE_A,
    TYPE_PTR,
    TYPE_SRV,
    DNSError,
    Message,
    Question,
    Record,
    Srv,
    decode,
    encode,
)
from net.mdns import IRC_SERVICE, MDNS_IPV4, MDNS_PORT, Announcer, Browser, interfaces


def flood(count: int, seconds: float) -> None:
    interface = interfaces()[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface.ipv4))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)  # the same side hears
    query = encode(Message(questions=(Question(IRC_SERVICE, TYPE_PTR),)))
    for number in range(count):
        kind = number % 4
        if kind == 0:
            packet = query
        elif kind == 1:
            instance = (f"Junk {number}", *IRC_SERVICE)
            packet = encode(
                Message(
                    flags=0x8400,
                    answers=(Record(IRC_SERVICE, TYPE_PTR, 4500, instance),),
                )
            )
        elif kind == 2:
            instance = (f"Junk srv {number}", *IRC_SERVICE)
            packet = encode(
                Message(
                    flags=0x8400,
                    answers=(
                        Record(IRC_SERVICE, TYPE_PTR, 4500, instance),
                        Record(instance, TYPE_SRV, 120, Srv(0, 0, 1, ("junk", "local"))),
                    ),
                )
            )
        else:
            packet = os.urandom(1 + number % 500)
        sock.sendto(packet, (MDNS_IPV4, MDNS_PORT))
        if seconds and number % 100 == 99:
            time.sleep(seconds / count * 100)
    sock.close()
    print("flooded", flush=True)


def _listening_socket() -> socket.socket:
    """The IPv4 mDNS group on this namespace's one interface, heard without asking."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("", MDNS_PORT))
    request = socket.inet_aton(MDNS_IPV4) + socket.inet_aton(interfaces()[0].ipv4)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
    sock.settimeout(0.1)
    return sock


def listen_addresses(done: threading.Event) -> None:
    """Print ``a ADDRESS`` for every IPv4 address record heard in a response, without ever
    asking: what an announcer says by itself."""
    sock = _listening_socket()
    print("listening", flush=True)
    while not done.is_set():
        try:
            packet, _source = sock.recvfrom(9000)
        except TimeoutError:
            continue
        with contextlib.suppress(DNSError):
            message = decode(packet)
            if message.is_response:
                for record in message.answers + message.additionals:
                    if record.rtype == TYPE_A:
                        print("a", record.data, flush=True)
    sock.close()


def count_responses(done: threading.Event, sender: str) -> None:
    sock = _listening_socket()
    print("counting", flush=True)
    responses = 0  # packets from the sender
    while not done.is_set():
        try:
            _packet, source = sock.recvfrom(9000)
        except TimeoutError:
            continue
        if source[0] == sender:
            responses += 1
    sock.close()
    print("packets", responses, flush=True)


def dialog() -> None:
    """See the module docstring: a person opening Charla, seeing a room, double-clicking it."""
    import tkinter as tk

    from gui.connect_dialog import ConnectDialog
    from gui.settings import Settings

    os.environ.pop("CHARLA_NO_DISCOVERY", None)  # in this namespace, multicast is ours
    root = tk.Tk()
    opened = time.monotonic()
    chosen: list[str] = []
    dialog = ConnectDialog(
        root, Settings(nick="lucia"), lambda c: chosen.append(f"{c.host}:{c.port}")
    )
    dialog.pack()
    stopped_at: list[float] = []
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(line) for line in sys.stdin], daemon=True).start()
    state = {"listed": False, "chose": False}

    def watch() -> None:
        while not lines.empty():
            if lines.get().strip() == "stopped":
                stopped_at.append(time.monotonic())
        items = dialog.room_list.get(0, "end")
        if items and not state["listed"]:
            state["listed"] = True
            print(f"listed {time.monotonic() - opened:.3f} {items[0]}", flush=True)
            x, y, _width, height = dialog.room_list.bbox(0)
            for _ in range(2):  # two clicks in a row on the room: Tk makes it a double-click
                for kind in ("<ButtonPress-1>", "<ButtonRelease-1>"):
                    dialog.room_list.event_generate(kind, x=x + 5, y=y + height // 2)
        if chosen and not state["chose"]:
            state["chose"] = True
            print(f"chose {chosen[0]}", flush=True)
        if stopped_at and not items:
            print(f"gone {time.monotonic() - stopped_at[0]:.3f}", flush=True)
            root.destroy()
            return
        root.after(20, watch)

    root.after(20, watch)
    root.mainloop()  # destroying the root destroyed the dialog, which closed its browser


def main() -> None:
    if sys.argv[1] == "dialog":
        dialog()
        return
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
        return
    if sys.argv[1] == "count":
        count_responses(done, sys.argv[2])
        return
    if sys.argv[1] == "addresses":
        listen_addresses(done)
        return
    if sys.argv[1] == "announce":
        channel = sys.argv[4] if len(sys.argv) > 4 else "#general"
        announcer = Announcer(sys.argv[2], int(sys.argv[3]), channel, False, "test")
        announcer.start()
        said = None
        while not done.wait(0.05):
            if announcer.name != said:
                said = announcer.name
                print("name", said, flush=True)
        announcer.close()
        print("closed", flush=True)
    else:
        lock = threading.Lock()

        seen = threading.Event()

        def changed(rooms):
            with lock:
                if rooms and not seen.is_set():
                    seen.set()
                    print(f"seen {time.monotonic() - started:.4f}", flush=True)
                print(json.dumps([asdict(room) for room in rooms]), flush=True)

        started = time.monotonic()
        browser = Browser(changed)
        browser.start()
        print("started", started, flush=True)
        done.wait()
        browser.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        services, hosts = len(browser._services), len(browser._hosts)
        cpu = usage.ru_utime + usage.ru_stime
        print("table", services, hosts, usage.ru_maxrss, f"{cpu:.2f}", flush=True)


if __name__ == "__main__":
    main()
