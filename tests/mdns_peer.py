"""A peer for tests/test_mdns.py and bench/mdns_bench.py, run inside a network namespace.

Each one stops when its stdin closes.

- ``announce NAME PORT [CHANNEL [HOST_TTL]]``: announce a room, printing the name it holds
  (``name NAME``) and its state (``probing``, ``announcing``, ``steady``, looked at every
  50 ms) whenever they change; HOST_TTL: its SRV and address records' TTL, in seconds.
- ``browse``: print the rooms as one JSON line each time they change (``seen SECONDS``
  before the first room, counted from the browser's start), and at the end
  ``table SERVICES HOSTS MAXRSS_KB CPU_S``.
- ``flood COUNT [SECONDS]``: send COUNT junk packets (over SECONDS) to the mDNS group
  (queries for the room, fake services, garbage) and print ``flooded``.
- ``flood-services COUNT [FIRST]``: announce COUNT fake rooms that resolve fully (PTR,
  SRV, TXT and an address, one packet each, numbered from FIRST) from this side's address
  and port 5353, as fast as it can, and print ``flooded``.
- ``count ADDRESS``: count the mDNS packets heard from ADDRESS (IPv4), print ``packets N``.
- ``addresses``: print ``a ADDRESS`` for each IPv4 address record heard in any response,
  never asking (what an announcer says by itself).
- ``ask ADDRESS WAIT``: once ADDRESS has announced twice (two responses with an SRV),
  wait WAIT seconds, ask for the rooms once with a QU question (§5.4) from this side's
  own address, port 5353, and print ``asked``; then, for each packet from ADDRESS,
  ``unicast|multicast MS TYPES`` (how it came, milliseconds since asking, its record types).
- ``rival NAME probe|answer``: a host that wants NAME too, with data that wins §8.2's
  tie-break, says so once and is heard no more: ``probe`` answers the first probe it
  hears for NAME with a probe of its own, ``answer`` the first announcement of NAME with
  a conflicting SRV (§9). It prints ``rivalled``, then ``probe MS`` for each probe for
  NAME heard after (milliseconds since its own word) and ``announced MS`` for each
  announcement of NAME.
"""

from __future__ import annotations

import json
import os
import resource
import select
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from net.dns_message import (
    TYPE_A,
    TYPE_AAAA,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
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


def flood_services(count: int, first: int) -> None:
    own = interfaces()[0].ipv4
    sock = mdns_socket("")
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(own))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)  # the same side hears
    for number in range(first, first + count):
        instance = (f"Fake room {number}", *IRC_SERVICE)
        host = (f"fake-{number}", "local")
        packet = encode(
            Message(
                flags=0x8400,
                answers=(
                    Record(IRC_SERVICE, TYPE_PTR, 4500, instance),
                    Record(instance, TYPE_SRV, 120, Srv(0, 0, 6667, host), True),
                    Record(instance, TYPE_TXT, 4500, (b"channel=#fake",), True),
                ),
                additionals=(Record(host, TYPE_A, 120, own, True),),
            )
        )
        sock.sendto(packet, (MDNS_IPV4, MDNS_PORT))
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
        try:
            message = decode(packet)
        except DNSError:
            continue
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


TYPE_NAMES = {TYPE_A: "A", TYPE_AAAA: "AAAA", TYPE_PTR: "PTR", TYPE_SRV: "SRV", TYPE_TXT: "TXT"}


def mdns_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((address, MDNS_PORT))
    return sock


def ask(done: threading.Event, sender: str, wait: float) -> None:
    own = interfaces()[0].ipv4
    group = mdns_socket("")  # what is multicast
    group.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        socket.inet_aton(MDNS_IPV4) + socket.inet_aton(own),
    )
    direct = mdns_socket(own)  # what is sent to this side's own address only
    print("listening", flush=True)
    announcements = 0
    asked_at: float | None = None
    ask_at: float | None = None
    while not done.is_set():
        now = time.monotonic()
        if ask_at is not None and asked_at is None and now >= ask_at:
            question = Question(IRC_SERVICE, TYPE_PTR, unicast=True)
            direct.sendto(encode(Message(questions=(question,))), (MDNS_IPV4, MDNS_PORT))
            asked_at = time.monotonic()
            print("asked", flush=True)
        readable, _, _ = select.select([group, direct], [], [], 0.02)
        for sock in readable:
            packet, source = sock.recvfrom(9000)
            if source[0] != sender:
                continue
            try:
                message = decode(packet)
            except DNSError:
                continue
            if not message.is_response:
                continue
            records = message.answers + message.additionals
            if asked_at is None:
                if ask_at is None and any(r.rtype == TYPE_SRV for r in records):
                    announcements += 1
                    if announcements == 2:
                        ask_at = time.monotonic() + wait
                continue
            types = ",".join(sorted({TYPE_NAMES.get(r.rtype, str(r.rtype)) for r in records}))
            how = "unicast" if sock is direct else "multicast"
            print(how, f"{(time.monotonic() - asked_at) * 1000:.0f}", types, flush=True)
    group.close()
    direct.close()


def rival(done: threading.Event, name: str, how: str) -> None:
    own = interfaces()[0].ipv4
    sock = mdns_socket("")
    sock.setsockopt(
        socket.IPPROTO_IP,
        socket.IP_ADD_MEMBERSHIP,
        socket.inet_aton(MDNS_IPV4) + socket.inet_aton(own),
    )
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(own))
    instance = (name, *IRC_SERVICE)
    srv = Record(instance, TYPE_SRV, 120, Srv(0, 0, 65535, ("zz-rival", "local")), True)
    txt = Record(instance, TYPE_TXT, 4500, (b"channel=#the-rivals-room",), True)
    print("listening", flush=True)
    said_at: float | None = None
    while not done.is_set():
        readable, _, _ = select.select([sock], [], [], 0.02)
        if not readable:
            continue
        packet, source = sock.recvfrom(9000)
        if source[0] == own:
            continue
        try:
            message = decode(packet)
        except DNSError:
            continue
        about_name = any(
            tuple(label.lower() for label in r.name) == tuple(label.lower() for label in instance)
            for r in message.authorities + message.answers
        )
        if not about_name:
            continue
        probe = not message.is_response and bool(message.authorities)
        announcement = message.is_response and any(r.rtype == TYPE_SRV for r in message.answers)
        if said_at is None:
            if how == "probe" and probe:
                question = Question(instance, 255, unicast=True)
                word = Message(questions=(question,), authorities=(srv, txt))
            elif how == "answer" and announcement:
                word = Message(flags=0x8400, answers=(srv, txt))
            else:
                continue
            sock.sendto(encode(word), (MDNS_IPV4, MDNS_PORT))
            said_at = time.monotonic()
            print("rivalled", flush=True)
            continue
        milliseconds = f"{(time.monotonic() - said_at) * 1000:.0f}"
        if probe:
            print("probe", milliseconds, flush=True)
        elif announcement:
            print("announced", milliseconds, flush=True)
    sock.close()


def main() -> None:
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
        return
    if sys.argv[1] == "flood-services":
        flood_services(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
        return
    if sys.argv[1] == "addresses":
        listen_addresses(done)
        return
    if sys.argv[1] == "count":
        count_responses(done, sys.argv[2])
        return
    if sys.argv[1] == "rival":
        rival(done, sys.argv[2], sys.argv[3])
        return
    if sys.argv[1] == "ask":
        ask(done, sys.argv[2], float(sys.argv[3]))
        return
    if sys.argv[1] == "announce":
        channel = sys.argv[4] if len(sys.argv) > 4 else "#general"
        if len(sys.argv) > 5:
            Announcer.host_ttl = int(sys.argv[5])
        announcer = Announcer(sys.argv[2], int(sys.argv[3]), channel, False, "test")
        announcer.start()
        said = None
        state = None
        while not done.wait(0.05):
            if announcer.name != said:
                said = announcer.name
                print("name", said, flush=True)
            if announcer._state != state:
                state = announcer._state
                print(state, flush=True)
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
