"""Rooms on the local network by multicast DNS (RFC 6762) and DNS-SD (RFC 6763).

``Announcer`` makes a server known: ``_irc._tcp`` (and ``_http._tcp`` when the web page is
on) with an instance name people recognise ("Sala de Ana"), SRV to the port, TXT with the
channel, whether a password is needed and Charla's version. It probes its name first and
renames itself when its probes are answered ("Sala de Ana (2)", §9); on losing a
simultaneous probe tie-break it waits a second and probes again (§8.2), and on a
conflicting answer after announcing it probes again under the same name (§9), renaming
only if that name is then defended. It announces twice a second apart,
answers queries (never a record more than once a second per interface, §6, however many
queries come), re-announces when the addresses change, and says goodbye (TTL 0) on stop.
A QU question (§5.4) is answered by unicast to the asker, on the interface it asked on
(read from IP_PKTINFO / IPV6_PKTINFO), for the records multicast there within a quarter
of their TTL; the others are multicast, so that every cache on the link stays fresh.

``Browser`` finds rooms: PTR queries with the §5.2 backoff (1 s, 2 s, 4 s… up to an hour),
the first one QU (so a dialog opened again is answered at once, not a second later),
a bounded table of what it hears (a hostile network can announce thousands of services:
at most 16 are kept from one sender and 256 in all, and a service that has resolved
fully, SRV, TXT and an address, is never pushed out by one that has not),
expiry by TTL and on goodbye, and a callback with the rooms whenever they change.

Both use every interface that has an address, link-local included, never loopback;
packets go only to 224.0.0.251 and ff02::fb port 5353 (TTL 255, they stay on the link).
A packet that is not a DNS message we accept (``DNSError``) is dropped.

Threading: each ``Announcer`` and ``Browser`` owns one daemon thread, started by
``start()`` and stopped and joined by ``close()`` (any thread may call it, once or more);
that thread alone touches the sockets and the tables. ``Browser``'s ``on_change`` runs
on the browser's thread: it must only hand the rooms on (a ``queue.Queue.put``).
``Browser.rooms()`` may be called from any thread (a lock guards the published tuple).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import select
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from net.dns_message import (
    CLASS_IN,
    FLAGS_RESPONSE,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    DNSError,
    Message,
    Name,
    Question,
    Record,
    Srv,
    decode,
    encode,
    name_from_text,
    name_key,
)

log = logging.getLogger(__name__)

MDNS_PORT = 5353
MDNS_IPV4 = "224.0.0.251"
MDNS_IPV6 = "ff02::fb"
IRC_SERVICE = name_from_text("_irc._tcp.local")
HTTP_SERVICE = name_from_text("_http._tcp.local")
SERVICES_ENUMERATION = name_from_text("_services._dns-sd._udp.local")
#: RFC 6762 §10: records naming a host 120 s, the others 75 min
HOST_TTL = 120
OTHER_TTL = 4500
#: §8.1: three probes 250 ms apart
PROBES = 3
PROBE_INTERVAL = 0.25
#: §8.3: announced twice, a second apart
ANNOUNCEMENTS = 2
ANNOUNCE_INTERVAL = 1.0
#: §6: a record is multicast at most once a second per interface
MIN_RECORD_INTERVAL = 1.0
#: §6: an answer waits 20-120 ms (so answers from several hosts and queries aggregate)
ANSWER_DELAY = (0.02, 0.12)
#: §5.4: a QU question is answered by unicast when the record was multicast within this
#: part of its TTL (otherwise by multicast, to keep every cache on the link fresh)
UNICAST_WITHIN_TTL = 0.25
#: unicast answers: waiting at most this many (queriers), one per querier per interval
MAX_UNICAST_PENDING = 16
MIN_UNICAST_INTERVAL = 0.2
#: how often the interfaces are read again to notice new or lost addresses
INTERFACE_POLL = 3.0
#: renames tried before giving up on a name (each after a conflict)
MAX_RENAMES = 30
#: §8.2: a host that loses a simultaneous probe tie-break probes again after a second
TIE_BREAK_WAIT = 1.0
#: §8.1: after 15 conflicts within 10 s, a host waits 5 s before each further probing
CONFLICTS_BEFORE_SLOWING = 15
CONFLICT_WINDOW = 10.0
SLOW_PROBE_WAIT = 5.0
#: §5.2: queries 1 s apart at first, the interval doubling up to an hour
FIRST_QUERY_INTERVAL = 1.0
MAX_QUERY_INTERVAL = 3600.0
#: §10.1: a goodbye (TTL 0) removes a record after one second
GOODBYE_DELAY = 1.0
#: the browser's bounds: services, hosts, and addresses per host it keeps
MAX_ROOMS = 256
#: services kept from one sender: a hostile host cannot fill the table with its names
MAX_SERVICES_PER_SENDER = 16
MAX_HOSTS = 256
MAX_ADDRESSES_PER_HOST = 8
#: interfaces used at most (a machine with more is unusual; the rest are ignored)
MAX_INTERFACES = 64
#: our own packets come back (multicast loop); the last few sent are recognised and ignored
_SENT_REMEMBERED = 32
_RECV_BYTES = 9000
_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address
#: Linux's IP_PKTINFO (Python 3.11's socket module lacks the name): which interface a
#: packet came in on, for the answers sent back by unicast (§5.4)
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8) if sys.platform == "linux" else None
_ANCILLARY_BYTES = 64
_TXT_VALUE_BYTES = 200


@dataclass(frozen=True)
class Interface:
    index: int
    name: str
    ipv4: str | None  # one IPv4 address (what the ioctl gives), or None
    ipv6: tuple[str, ...]  # its IPv6 addresses, link-local included


def interfaces() -> tuple[Interface, ...]:
    """The interfaces with an address, never loopback; on other systems, a best guess."""
    if sys.platform == "linux":
        with contextlib.suppress(OSError, ImportError):
            return _linux_interfaces()
    return _guessed_interfaces()


def _linux_interfaces() -> tuple[Interface, ...]:
    import fcntl

    ipv6: dict[int, list[str]] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            fields = line.split()
            if len(fields) >= 6:
                address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
                if not address.is_loopback:
                    ipv6.setdefault(int(fields[1], 16), []).append(str(address))
    found: list[Interface] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for index, name in socket.if_nameindex()[:MAX_INTERFACES]:
            ipv4 = None
            with contextlib.suppress(OSError):
                request = struct.pack("256s", name.encode()[:15])
                reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                ipv4 = socket.inet_ntoa(reply[20:24])
            if ipv4 is not None and ipaddress.IPv4Address(ipv4).is_loopback:
                continue
            if name == "lo":
                continue
            if ipv4 is not None or ipv6.get(index):
                found.append(Interface(index, name, ipv4, tuple(sorted(ipv6.get(index, [])))))
    return tuple(found)


def _guessed_interfaces() -> tuple[Interface, ...]:
    """Without per-interface addresses: the host's addresses, on the default interface (0)."""
    ipv4: str | None = None
    ipv6: list[str] = []
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_DGRAM):
            text = str(info[4][0]).split("%", 1)[0]
            address = ipaddress.ip_address(text)
            if address.is_loopback:
                continue
            if address.version == 4 and ipv4 is None:
                ipv4 = text
            elif address.version == 6 and text not in ipv6:
                ipv6.append(text)
    if ipv4 is None and not ipv6:
        return ()
    return (Interface(0, "", ipv4, tuple(ipv6)),)


# ---------------------------------------------------------------------------
# The sockets both sides share


class _Link:
    """The two multicast sockets, joined on every interface; owned by one thread."""

    def __init__(self) -> None:
        self.v4: socket.socket | None = None
        self.v6: socket.socket | None = None
        self.joined: dict[int, Interface] = {}  # interface index -> what it had when joined
        self._sent: deque[bytes] = deque(maxlen=_SENT_REMEMBERED)  # our recent packets
        with contextlib.suppress(OSError):
            self.v4 = self._open(socket.AF_INET)
        with contextlib.suppress(OSError):
            self.v6 = self._open(socket.AF_INET6)
        if self.v4 is None and self.v6 is None:
            raise OSError("no multicast socket could be opened")

    @staticmethod
    def _open(family: socket.AddressFamily) -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
                if _IP_PKTINFO is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_IP, _IP_PKTINFO, 1)
                sock.bind(("", MDNS_PORT))
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
                if hasattr(socket, "IPV6_RECVPKTINFO"):
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
                sock.bind(("::", MDNS_PORT))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def refresh(self) -> bool:
        """Join the group on new interfaces, forget lost ones; True when anything changed."""
        current = {interface.index: interface for interface in interfaces()}
        if current == self.joined:
            return False
        for index, interface in current.items():
            if self.joined.get(index) == interface:
                continue
            self._join(interface)
        self.joined = current
        return True

    def _join(self, interface: Interface) -> None:
        if self.v4 is not None and interface.ipv4 is not None:
            request = socket.inet_aton(MDNS_IPV4) + socket.inet_aton(interface.ipv4)
            with contextlib.suppress(OSError):  # already joined (EADDRINUSE) is fine
                self.v4.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
        if self.v6 is not None and interface.ipv6:
            request6 = socket.inet_pton(socket.AF_INET6, MDNS_IPV6) + struct.pack(
                "@I", interface.index
            )
            with contextlib.suppress(OSError):
                self.v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request6)

    def send(self, packet: bytes, interface: Interface) -> None:
        """One packet to both groups on one interface; a send error is logged, not raised."""
        self._sent.append(packet)
        if self.v4 is not None and interface.ipv4 is not None:
            try:
                self.v4.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface.ipv4)
                )
                self.v4.sendto(packet, (MDNS_IPV4, MDNS_PORT))
            except OSError as error:
                log.debug("mDNS send on %s (IPv4): %s", interface.name, error)
        if self.v6 is not None and interface.ipv6:
            try:
                self.v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, interface.index)
                self.v6.sendto(packet, (MDNS_IPV6, MDNS_PORT, 0, interface.index))
            except OSError as error:
                log.debug("mDNS send on %s (IPv6): %s", interface.name, error)

    def send_to(self, packet: bytes, address: tuple) -> None:
        """One packet by unicast to ``address`` (a querier's, §5.4); errors logged."""
        sock = self.v6 if len(address) == 4 else self.v4
        if sock is None:
            return
        try:
            sock.sendto(packet, address)
        except OSError as error:
            log.debug("mDNS unicast to %s: %s", address[0], error)

    def sockets(self) -> list[socket.socket]:
        return [sock for sock in (self.v4, self.v6) if sock is not None]

    def receive(self, sock: socket.socket) -> tuple[Message, tuple, int] | None:
        """The next message on ``sock`` with its source and the index of the interface it
        came in on (0: not known), or None (nothing, ours, or junk)."""
        index = 0
        try:
            if hasattr(sock, "recvmsg"):
                packet, ancillary, _flags, source = sock.recvmsg(_RECV_BYTES, _ANCILLARY_BYTES)
                index = _arrival_interface(ancillary)
            else:  # Windows: no ancillary data
                packet, source = sock.recvfrom(_RECV_BYTES)
        except OSError:
            return None
        if packet in self._sent:
            return None
        if not index and len(source) == 4:
            index = source[3]  # an IPv6 link-local source carries its interface
        try:
            return decode(packet), source, index
        except DNSError:
            return None

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()


def _arrival_interface(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The interface index in IP_PKTINFO (``struct in_pktinfo``: the index first) or
    IPV6_PKTINFO (``struct in6_pktinfo``: the address, then the index); 0 if neither."""
    for level, kind, data in ancillary:
        if level == socket.IPPROTO_IP and kind == _IP_PKTINFO and len(data) >= 4:
            return int(struct.unpack_from("@i", data)[0])
        if level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= 20:
            return int(struct.unpack_from("@I", data, 16)[0])
    return 0


class _Worker:
    """A thread around a ``_Link`` with a wake-up pipe, for ``Announcer`` and ``Browser``."""

    thread_name = "mdns"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread: threading.Thread | None = None
        self._link: _Link | None = None
        self._closed = threading.Lock()  # guards the one close

    def start(self) -> None:
        """Open the sockets (raises ``OSError`` when no multicast socket can be opened)."""
        self._link = _Link()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the thread (after its last words), join it, close every socket."""
        if not self._closed.acquire(blocking=False):
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._link is not None:
            self._link.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        link = self._link
        assert link is not None
        try:
            link.refresh()
            self._started(link)
            next_poll = time.monotonic() + INTERFACE_POLL
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + INTERFACE_POLL
                    if link.refresh():
                        self._interfaces_changed(link)
                timeout = max(0.0, min(next_poll, self._next_due()) - time.monotonic())
                readable, _, _ = select.select(
                    [self._wake_reader, *link.sockets()], [], [], timeout
                )
                for sock in readable:
                    if sock is self._wake_reader:
                        continue
                    # a bounded batch per socket, so the timers still run under a flood
                    for _ in range(64):
                        received = link.receive(sock)
                        if received is None:
                            break
                        self._received(link, *received)
                self._tick(link, time.monotonic())
            self._stopping(link)
        except Exception:  # a worker never dies silently
            log.exception("mDNS thread failed")

    # the parts each side fills in
    def _started(self, link: _Link) -> None: ...
    def _interfaces_changed(self, link: _Link) -> None: ...
    def _next_due(self) -> float:
        return time.monotonic() + INTERFACE_POLL

    def _received(self, link: _Link, message: Message, source: tuple, index: int = 0) -> None:
        """A message from ``source`` that came in on interface ``index`` (0: not known)."""

    def _tick(self, link: _Link, now: float) -> None: ...
    def _stopping(self, link: _Link) -> None: ...


# ---------------------------------------------------------------------------
# Announcer


def _host_label() -> str:
    raw = socket.gethostname().split(".", 1)[0] or "charla"
    cleaned = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in raw)[:40]
    # a token of its own: a classroom's PCs are often clones with one host name
    return f"{cleaned}-charla-{random.getrandbits(16):04x}"


def txt_strings(channel: str, password: bool, version: str) -> tuple[bytes, ...]:
    """The TXT of a room: ``channel=``, ``password=yes|no``, ``version=`` (RFC 6763 §6)."""
    return (
        f"channel={channel}".encode()[:_TXT_VALUE_BYTES],
        b"password=yes" if password else b"password=no",
        f"version={version}".encode()[:_TXT_VALUE_BYTES],
    )


def renamed(name: str, attempt: int) -> str:
    """§9: "Sala de Ana" -> "Sala de Ana (2)" for the second attempt, and so on."""
    return name if attempt <= 1 else f"{name} ({attempt})"


class Announcer(_Worker):
    """Announces one room until ``close()``; ``name`` is the instance name it holds now."""

    thread_name = "mdns-announcer"
    #: the records' TTLs (§10): those naming the host (SRV, A, AAAA), and the others
    host_ttl = HOST_TTL
    other_ttl = OTHER_TTL

    def __init__(
        self,
        room_name: str,
        port: int,
        channel: str,
        password: bool,
        version: str,
        web_port: int | None = None,
    ) -> None:
        super().__init__()
        self.base_name = room_name.replace("\n", " ").strip()[:60] or "Charla"
        self.port = port
        self.web_port = web_port
        self.txt = txt_strings(channel, password, version)
        self.host: Name = (_host_label(), "local")
        self._attempt = 1
        self._lock = threading.Lock()  # guards _name (read by other threads)
        self._name = self.base_name
        self._state = "probing"
        self._step = 0  # probes or announcements sent in this state
        self._announced = False  # whether records were announced under the name it holds
        self._conflicts: deque[float] = deque(maxlen=CONFLICTS_BEFORE_SLOWING)  # when
        self._due = time.monotonic()
        # (record key, interface index) -> when it was last multicast there
        self._last_sent: dict[tuple[Name, int, int], float] = {}
        # interface index -> (when due, the record keys to answer with)
        self._pending: dict[int, tuple[float, set[tuple[Name, int]]]] = {}
        # (querier's address, interface index) -> (when due, the record keys), by unicast
        self._unicast: dict[tuple[tuple, int], tuple[float, set[tuple[Name, int]]]] = {}
        # querier's address -> when it was last answered by unicast (bounded, see _answer)
        self._last_unicast: dict[tuple, float] = {}

    @property
    def name(self) -> str:
        with self._lock:
            return self._name

    # -- the records ----------------------------------------------------------------
    def _services(self) -> list[tuple[Name, int]]:
        services = [(IRC_SERVICE, self.port)]
        if self.web_port is not None:
            services.append((HTTP_SERVICE, self.web_port))
        return services

    def _records(self, interface: Interface, ttl_zero: bool = False) -> list[Record]:
        instance_label = self.name
        records: list[Record] = []
        for service, port in self._services():
            instance = (instance_label, *service)
            txt = self.txt if service == IRC_SERVICE else (b"path=/",)
            records += [
                Record(SERVICES_ENUMERATION, TYPE_PTR, self.other_ttl, service),
                Record(service, TYPE_PTR, self.other_ttl, instance),
                Record(instance, TYPE_SRV, self.host_ttl, Srv(0, 0, port, self.host), True),
                Record(instance, TYPE_TXT, self.other_ttl, txt, True),
            ]
        if interface.ipv4 is not None:
            records.append(Record(self.host, TYPE_A, self.host_ttl, interface.ipv4, True))
        records += [Record(self.host, TYPE_AAAA, self.host_ttl, a, True) for a in interface.ipv6]
        if ttl_zero:
            records = [Record(r.name, r.rtype, 0, r.data, r.cache_flush) for r in records]
        return records

    def _instances(self) -> set[Name]:
        return {name_key((self.name, *service)) for service, _port in self._services()}

    # -- the thread's work ----------------------------------------------------------
    def _started(self, link: _Link) -> None:
        self._begin_probing()

    def _begin_probing(self, wait: float = 0.0) -> None:
        """Probe the name it holds, after ``wait`` seconds and §8.1's random 0-250 ms."""
        now = time.monotonic()
        conflicts = self._conflicts
        if len(conflicts) == CONFLICTS_BEFORE_SLOWING and conflicts[0] > now - CONFLICT_WINDOW:
            wait = max(wait, SLOW_PROBE_WAIT)  # §8.1: too many conflicts: slow down
        self._state, self._step = "probing", 0
        self._pending.clear()
        self._unicast.clear()
        self._due = now + wait + random.uniform(0, PROBE_INTERVAL)

    def _interfaces_changed(self, link: _Link) -> None:
        if self._state == "steady":  # §8.4: new addresses are announced again
            self._state, self._step, self._due = "announcing", 0, time.monotonic()

    def _next_due(self) -> float:
        due = [self._due] if self._state != "steady" else []
        due += [when for when, _keys in self._pending.values()]
        due += [when for when, _keys in self._unicast.values()]
        return min(due, default=time.monotonic() + INTERFACE_POLL)

    def _tick(self, link: _Link, now: float) -> None:
        if self._state == "probing" and now >= self._due:
            if self._step < PROBES:
                self._send_probe(link)
                self._step += 1
                self._due = now + PROBE_INTERVAL
            else:
                self._state, self._step, self._due = "announcing", 0, now
                log.info("mDNS: announcing %r", self.name)
        if self._state == "announcing" and now >= self._due:
            for interface in link.joined.values():
                self._send_records(link, interface, self._records(interface), now)
            self._announced = True
            self._step += 1
            self._due = now + ANNOUNCE_INTERVAL
            if self._step >= ANNOUNCEMENTS:
                self._state = "steady"
        for index, (when, keys) in list(self._pending.items()):
            interface = link.joined.get(index)
            if when > now:
                continue
            del self._pending[index]
            if interface is None or self._state == "probing":
                continue
            chosen = [r for r in self._records(interface) if (name_key(r.name), r.rtype) in keys]
            self._send_records(link, interface, chosen, now)
        for (address, index), (when, keys) in list(self._unicast.items()):
            if when > now:
                continue
            del self._unicast[(address, index)]
            interface = link.joined.get(index)
            if interface is None or self._state == "probing":
                continue
            chosen = [r for r in self._records(interface) if (name_key(r.name), r.rtype) in keys]
            if chosen:
                link.send_to(_response(chosen), address)
                self._last_unicast[address] = now

    def _send_probe(self, link: _Link) -> None:
        for interface in link.joined.values():
            records = [r for r in self._records(interface) if r.rtype in (TYPE_SRV, TYPE_TXT)]
            questions = tuple(
                Question(instance, TYPE_ANY, unicast=True) for instance in {r.name for r in records}
            )
            link.send(encode(Message(questions=questions, authorities=tuple(records))), interface)

    def _send_records(
        self, link: _Link, interface: Interface, records: list[Record], now: float
    ) -> None:
        if not records:
            return
        link.send(_response(records), interface)
        for record in records:
            self._last_sent[(name_key(record.name), record.rtype, interface.index)] = now

    def _received(self, link: _Link, message: Message, source: tuple, index: int = 0) -> None:
        ours = self._instances()
        if message.is_response:
            for record in message.answers + message.additionals:
                if record.ttl == 0 or name_key(record.name) not in ours or self._is_ours(record):
                    continue  # a goodbye, another name, or what we say ourselves
                self._conflicts.append(time.monotonic())
                if self._state == "probing":
                    self._rename()  # §8.1: the name is taken
                else:
                    # §9: a conflict after announcing: probe again, under the same name;
                    # a host that really holds it answers the probes, and then we rename
                    log.info("mDNS: %r answered by another host; probing again", self.name)
                    self._begin_probing()
                return
            return
        # a probe for our name by another host (§8.2): the lexicographically later data
        # wins; the loser waits a second and probes again (the winner may have been a
        # stale packet, or gone), and renames only if the name is then defended
        rivals = [r for r in message.authorities if name_key(r.name) in ours]
        if rivals and self._state == "probing" and not all(self._is_ours(r) for r in rivals):
            mine = sorted(_sort_key(r) for r in self._all_records() if name_key(r.name) in ours)
            theirs = sorted(_sort_key(r) for r in rivals)
            if mine < theirs:
                self._conflicts.append(time.monotonic())
                log.info("mDNS: lost a probe tie-break for %r; probing again in 1 s", self.name)
                self._begin_probing(TIE_BREAK_WAIT)
                return
        if self._state == "probing":
            return
        self._answer(link, message, source, index)

    def _answer(self, link: _Link, message: Message, source: tuple, index: int) -> None:
        """Queue the answers to a query: multicast on every interface (§6), and by unicast
        to the querier for its QU questions (§5.4) when the interface it asked on is known."""
        now = time.monotonic()
        known = {(name_key(r.name), r.rtype, _sort_key(r)) for r in message.answers}
        probe = bool(message.authorities)  # §8.1: someone probing for a name we hold
        arrival = link.joined.get(index)
        asked_unicast = [q for q in message.questions if q.unicast] if arrival else []
        asked_multicast = [q for q in message.questions if not q.unicast or not arrival]
        if asked_unicast and arrival is not None:
            records = self._records(arrival)
            keys = _wanted(records, asked_unicast, known, self.host)
            ttls = {(name_key(r.name), r.rtype): r.ttl for r in records}
            # §5.4: by unicast what was multicast here within a quarter of its TTL, the
            # rest by multicast; a probe gets its unicast answer always, and (§15.1: its
            # host may have other sockets on port 5353 that take the unicast) multicast too
            by_unicast = {
                key
                for key in keys
                if probe or self._multicast_recently(key, ttls[key], arrival.index, now)
            }
            self._queue_unicast(source, arrival.index, by_unicast, now)
            if probe:
                asked_multicast = list(message.questions)
            elif keys - by_unicast:
                self._queue_multicast(arrival, keys - by_unicast, now)
        for interface in link.joined.values():
            keys = _wanted(self._records(interface), asked_multicast, known, self.host)
            if keys:
                self._queue_multicast(interface, keys, now)

    def _multicast_recently(self, key: tuple[Name, int], ttl: int, index: int, now: float) -> bool:
        last = self._last_sent.get((*key, index))
        return last is not None and now - last < ttl * UNICAST_WITHIN_TTL

    def _queue_unicast(
        self, address: tuple, index: int, keys: set[tuple[Name, int]], now: float
    ) -> None:
        if not keys:
            return
        pending = self._unicast.get((address, index))
        if pending is not None:
            self._unicast[(address, index)] = (pending[0], pending[1] | keys)
            return
        if len(self._unicast) >= MAX_UNICAST_PENDING:
            return  # the querier asks again (by multicast, §5.2) and is answered then
        if len(self._last_unicast) > 4 * MAX_UNICAST_PENDING:
            self._last_unicast = {
                a: t for a, t in self._last_unicast.items() if t > now - MIN_UNICAST_INTERVAL
            }
        allowed = self._last_unicast.get(address, now - MIN_UNICAST_INTERVAL) + MIN_UNICAST_INTERVAL
        self._unicast[(address, index)] = (max(allowed, now + random.uniform(*ANSWER_DELAY)), keys)

    def _queue_multicast(
        self, interface: Interface, wanted: set[tuple[Name, int]], now: float
    ) -> None:
        allowed = now  # §6: not before a second after each record's last multicast
        for key_name, rtype in wanted:
            last = self._last_sent.get((key_name, rtype, interface.index))
            if last is not None:
                allowed = max(allowed, last + MIN_RECORD_INTERVAL)
        pending = self._pending.get(interface.index)
        if pending is None:
            when, keys = max(allowed, now + random.uniform(*ANSWER_DELAY)), wanted
        else:
            # one pending answer per interface: new wants join it (bounded by our
            # records) without pushing it later than they need, so a stream of
            # queries cannot postpone the answer for ever
            when, keys = max(pending[0], allowed), pending[1] | wanted
        self._pending[interface.index] = (when, keys)

    def _all_records(self) -> list[Record]:
        return self._records(Interface(0, "", None, ()))

    def _is_ours(self, record: Record) -> bool:
        if record.rtype in (TYPE_A, TYPE_AAAA):
            return True
        return any(_sort_key(record) == _sort_key(mine) for mine in self._all_records())

    def _rename(self) -> None:
        """§9: the name is another host's; probe the next one ("Sala de Ana (2)")."""
        self._attempt += 1
        if self._attempt > MAX_RENAMES:
            log.warning("mDNS: giving up after %d name conflicts", MAX_RENAMES)
            self._stop.set()
            return
        with self._lock:
            self._name = renamed(self.base_name, self._attempt)
        self._announced = False
        log.info("mDNS: name in use, trying %r", self._name)
        self._begin_probing()

    def _stopping(self, link: _Link) -> None:
        if not self._announced:
            return  # nothing said under this name, nothing to take back
        for interface in link.joined.values():  # §10.1 goodbye
            records = [r for r in self._records(interface, ttl_zero=True)]
            link.send(encode(Message(flags=FLAGS_RESPONSE, answers=tuple(records))), interface)


def _wanted(
    records: list[Record],
    questions: list[Question] | tuple[Question, ...],
    known: set[tuple[Name, int, tuple[int, int, bytes]]],
    host: Name,
) -> set[tuple[Name, int]]:
    """The (name, type) of our records that answer ``questions``, with what follows a PTR
    (RFC 6763 §12.1), less the known answers the querier listed (§7.1)."""
    wanted: set[tuple[Name, int]] = set()
    for question in questions:
        key = name_key(question.name)
        for record in records:
            if name_key(record.name) != key:
                continue
            if question.rtype not in (TYPE_ANY, record.rtype):
                continue
            wanted.add((key, record.rtype))
            if record.rtype == TYPE_PTR:
                target = name_key(record.data)  # type: ignore[arg-type]
                wanted |= {(target, TYPE_SRV), (target, TYPE_TXT)}
                wanted |= {(name_key(host), TYPE_A), (name_key(host), TYPE_AAAA)}
    for record in records:
        entry = (name_key(record.name), record.rtype, _sort_key(record))
        if entry in known:
            wanted.discard((entry[0], entry[1]))
    present = {(name_key(r.name), r.rtype) for r in records}
    return wanted & present


def _response(records: list[Record]) -> bytes:
    """A response packet: PTR, SRV and TXT as answers, addresses as additionals."""
    answers = [r for r in records if r.rtype in (TYPE_PTR, TYPE_SRV, TYPE_TXT)]
    extra = [r for r in records if r not in answers]
    if not answers:
        answers, extra = extra, []
    return encode(Message(flags=FLAGS_RESPONSE, answers=tuple(answers), additionals=tuple(extra)))


def _sort_key(record: Record) -> tuple[int, int, bytes]:
    """What §8.2 compares: class, type, then the data as bytes (names uncompressed)."""
    packet = encode(Message(answers=(Record(("x",), record.rtype, 0, record.data),)))
    return (CLASS_IN, record.rtype, packet[12 + 3 + 10 :])


# ---------------------------------------------------------------------------
# Browser


@dataclass(frozen=True)
class Room:
    """A room heard on the network."""

    name: str  # the instance name ("Sala de Ana")
    host: str  # the target host ("aula-3.local")
    port: int
    addresses: tuple[str, ...]  # IPv4 first; an IPv6 link-local with its %scope
    channel: str = ""
    password: bool | None = None  # None: the TXT did not say
    version: str = ""

    @property
    def endpoint(self) -> str:
        """What to type to connect: ``192.168.1.23:12345`` or ``[fe80::1%eth0]:12345``."""
        if not self.addresses:
            return f"{self.host}:{self.port}"
        address = self.addresses[0]
        return f"[{address}]:{self.port}" if ":" in address else f"{address}:{self.port}"


@dataclass
class _Service:
    instance: Name
    ptr_expires: float
    srv: Srv | None = None
    srv_expires: float = 0.0
    txt: tuple[bytes, ...] = ()
    txt_expires: float = 0.0
    source: str = ""  # where its SRV came from, the address when no A/AAAA is heard
    origin: str = ""  # who first told us of it (its PTR's sender), for the per-sender bound
    added: float = field(default_factory=time.monotonic)


class Browser(_Worker):
    """Lists the rooms of one service type; ``on_change(rooms)`` on every change."""

    thread_name = "mdns-browser"

    def __init__(
        self,
        on_change: Callable[[tuple[Room, ...]], None] | None = None,
        service: Name = IRC_SERVICE,
    ) -> None:
        super().__init__()
        self.service = service
        self._on_change = on_change
        self._services: dict[Name, _Service] = {}  # instance name key -> what we know of it
        # host name key -> address -> (when it expires, when it was last heard)
        self._hosts: dict[Name, dict[str, tuple[float, float]]] = {}
        self._published: tuple[Room, ...] = ()
        self._lock = threading.Lock()  # guards _published
        self._query_due = 0.0
        self._query_interval = FIRST_QUERY_INTERVAL
        self._ask_unicast = True  # §5.4: the first query asks for unicast answers (QU)
        self._resolve_due: float | None = None

    def rooms(self) -> tuple[Room, ...]:
        with self._lock:
            return self._published

    def _started(self, link: _Link) -> None:
        self._query_due = time.monotonic()

    def _interfaces_changed(self, link: _Link) -> None:
        self._query_due, self._query_interval = time.monotonic(), FIRST_QUERY_INTERVAL
        self._ask_unicast = True

    def _next_due(self) -> float:
        due = [self._query_due, time.monotonic() + 1.0]  # expiry checked every second
        if self._resolve_due is not None:
            due.append(self._resolve_due)
        return min(due)

    def _tick(self, link: _Link, now: float) -> None:
        if now >= self._query_due:
            known = tuple(
                Record(self.service, TYPE_PTR, int(entry.ptr_expires - now), entry.instance)
                for entry in list(self._services.values())[:20]
                if entry.ptr_expires - now > OTHER_TTL / 2
            )
            # §5.4: a responder that multicast its rooms lately answers a QU question at
            # once by unicast, where a multicast answer might wait out its second (§6)
            question = Question(self.service, TYPE_PTR, unicast=self._ask_unicast)
            self._ask_unicast = False
            query = Message(questions=(question,), answers=known)
            for interface in link.joined.values():
                link.send(encode(query), interface)
            self._query_due = now + self._query_interval
            self._query_interval = min(self._query_interval * 2, MAX_QUERY_INTERVAL)
        if self._resolve_due is not None and now >= self._resolve_due:
            self._resolve_due = None
            self._send_resolve(link)
        self._expire(now)
        self._publish()

    def _send_resolve(self, link: _Link) -> None:
        """Ask for what a listed service still lacks (its SRV, TXT, addresses)."""
        questions: list[Question] = []
        for entry in self._services.values():
            if entry.srv is None:
                questions += [
                    Question(entry.instance, TYPE_SRV),
                    Question(entry.instance, TYPE_TXT),
                ]
            elif not self._hosts.get(name_key(entry.srv.target)):
                questions += [
                    Question(entry.srv.target, TYPE_A),
                    Question(entry.srv.target, TYPE_AAAA),
                ]
            if len(questions) >= 16:
                break
        if questions:
            packet = encode(Message(questions=tuple(questions)))
            for interface in link.joined.values():
                link.send(packet, interface)

    def _received(self, link: _Link, message: Message, source: tuple, index: int = 0) -> None:
        if not message.is_response:
            return
        now = time.monotonic()
        records = message.answers + message.additionals
        service_key = name_key(self.service)
        scope = ""
        if len(source) == 4 and source[3]:
            with contextlib.suppress(OSError):
                scope = socket.if_indextoname(source[3])
        sender = str(source[0]).split("%", 1)[0]
        if scope and ipaddress.ip_address(sender).is_link_local:
            sender = f"{sender}%{scope}"
        for record in records:  # the PTRs first: they say which instances matter
            if record.rtype == TYPE_PTR and name_key(record.name) == service_key:
                self._heard_ptr(record, now, sender)
        for record in records:
            entry = self._services.get(name_key(record.name))
            if entry is not None and record.rtype == TYPE_SRV and isinstance(record.data, Srv):
                entry.srv, entry.srv_expires = record.data, _expiry(record, now)
                entry.source = sender
            elif entry is not None and record.rtype == TYPE_TXT and isinstance(record.data, tuple):
                entry.txt, entry.txt_expires = record.data[:16], _expiry(record, now)  # type: ignore[assignment]
        targets = {name_key(e.srv.target) for e in self._services.values() if e.srv is not None}
        for record in records:
            if record.rtype in (TYPE_A, TYPE_AAAA) and name_key(record.name) in targets:
                self._heard_address(record, now, scope)
        if any(e.srv is None for e in self._services.values()) and self._resolve_due is None:
            self._resolve_due = now + 0.2
        self._expire(now)
        self._publish()

    def _heard_ptr(self, record: Record, now: float, sender: str = "") -> None:
        instance = record.data
        if not isinstance(instance, tuple) or not instance:
            return
        key = name_key(instance)  # type: ignore[arg-type]
        entry = self._services.get(key)
        if entry is not None:
            entry.ptr_expires = _expiry(record, now)
            return
        if record.ttl == 0:
            return
        # bounds: MAX_SERVICES_PER_SENDER from one sender, MAX_ROOMS in all; to make room
        # a service that has not resolved fully (SRV, TXT and an address) goes, never
        # one that has: a flood of names cannot push a real room out
        from_sender = [k for k, e in self._services.items() if e.origin == sender]
        if len(from_sender) >= MAX_SERVICES_PER_SENDER and not self._make_room(from_sender):
            return
        if len(self._services) >= MAX_ROOMS:
            counts: dict[str, int] = {}
            for e in self._services.values():
                counts[e.origin] = counts.get(e.origin, 0) + 1
            everyone = sorted(self._services, key=lambda k: -counts[self._services[k].origin])
            if not self._make_room(everyone):
                return
        self._services[key] = _Service(instance, _expiry(record, now), origin=sender)  # type: ignore[arg-type]

    def _make_room(self, candidates: list[Name]) -> bool:
        """Drop the first of ``candidates`` (instance keys) that has not resolved fully,
        the oldest first among equals; False when every one has."""
        unresolved = [k for k in candidates if not self._resolved(self._services[k])]
        if not unresolved:
            return False
        first = unresolved[0]
        origin = self._services[first].origin
        same = [k for k in unresolved if self._services[k].origin == origin]
        del self._services[min(same, key=lambda k: self._services[k].added)]
        return True

    def _resolved(self, entry: _Service) -> bool:
        return (
            entry.srv is not None
            and bool(entry.txt)
            and bool(self._hosts.get(name_key(entry.srv.target)))
        )

    def _heard_address(self, record: Record, now: float, scope: str) -> None:
        host = name_key(record.name)
        if host not in self._hosts and len(self._hosts) >= MAX_HOSTS:
            return
        addresses = self._hosts.setdefault(host, {})
        text = str(record.data)
        if ":" in text and ipaddress.ip_address(text).is_link_local:
            if not scope:
                return  # heard over IPv4: which interface it is on is not known
            text = f"{text}%{scope}"
        if record.cache_flush:  # §10.2: those heard over a second ago go within a second
            for other, (expires, heard) in addresses.items():
                if heard < now - GOODBYE_DELAY:
                    addresses[other] = (min(expires, now + GOODBYE_DELAY), heard)
        if text in addresses or len(addresses) < MAX_ADDRESSES_PER_HOST:
            addresses[text] = (_expiry(record, now), now)

    def _expire(self, now: float) -> None:
        for key, entry in list(self._services.items()):
            if entry.ptr_expires <= now:
                del self._services[key]
                continue
            if entry.srv is not None and entry.srv_expires <= now:
                entry.srv = None
            if entry.txt and entry.txt_expires <= now:
                entry.txt = ()
        for host, addresses in list(self._hosts.items()):
            for address, (expires, _heard) in list(addresses.items()):
                if expires <= now:
                    del addresses[address]
            if not addresses:
                del self._hosts[host]

    def _publish(self) -> None:
        rooms: list[Room] = []
        for entry in self._services.values():
            if entry.srv is None:
                continue
            addresses = sorted(
                self._hosts.get(name_key(entry.srv.target), {}),
                key=lambda a: (":" in a, a),
            )
            if not addresses and entry.source:
                addresses = [entry.source]
            rooms.append(_room(entry, addresses))
        published = tuple(sorted(rooms, key=lambda room: room.name.casefold()))
        with self._lock:
            if published == self._published:
                return
            self._published = published
        if self._on_change is not None:
            self._on_change(published)


def _expiry(record: Record, now: float) -> float:
    return now + (record.ttl if record.ttl > 0 else GOODBYE_DELAY)


def _room(entry: _Service, addresses: list[str]) -> Room:
    assert entry.srv is not None
    values: dict[str, str] = {}
    for item in entry.txt:
        key, _, value = item.decode("utf-8", "replace").partition("=")
        values.setdefault(key.lower(), value)
    password = {"yes": True, "no": False}.get(values.get("password", ""))
    return Room(
        name=entry.instance[0],
        host=".".join(entry.srv.target),
        port=entry.srv.port,
        addresses=tuple(addresses[:MAX_ADDRESSES_PER_HOST]),
        channel=values.get("channel", "")[:_TXT_VALUE_BYTES],
        password=password,
        version=values.get("version", "")[:_TXT_VALUE_BYTES],
    )
