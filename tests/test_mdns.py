"""Rooms found on the local network: the announcer and the browser, in their own network.

The network tests build two network namespaces joined by a veth pair with link-local
addresses only (169.254/16 and fe80::/64); every peer runs inside one of them through
``ip netns exec`` (``tests/mdns_peer.py``), so no multicast packet ever reaches the
machine's real interfaces. They need root and ``ip``; without them they skip and say so.
The table tests feed the browser messages directly, without sockets.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from net.dns_message import (
    FLAGS_RESPONSE,
    TYPE_A,
    TYPE_ANY,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    Message,
    Question,
    Record,
    Srv,
)
from net.mdns import (
    IRC_SERVICE,
    MAX_DEFERRALS,
    MAX_ROOMS,
    MAX_ROOMS_PER_SENDER,
    PROBE_DEFER,
    Announcer,
    Browser,
    Room,
    interfaces,
    renamed,
    txt_strings,
)
from tests.support import ROOT, wait_until

PEER = Path(__file__).with_name("mdns_peer.py")
ADDRESSES = {"a": ("169.254.10.1/16", "fe80::a/64"), "b": ("169.254.10.2/16", "fe80::b/64")}


# ---------------------------------------------------------------------------
# Without the network


def test_names_on_conflict_follow_rfc_6762_section_9():
    assert renamed("Sala de Ana", 1) == "Sala de Ana"
    assert renamed("Sala de Ana", 2) == "Sala de Ana (2)"


def test_txt_says_channel_password_and_version():
    assert txt_strings("#general", True, "1.2") == (
        b"channel=#general",
        b"password=yes",
        b"version=1.2",
    )


def test_interfaces_never_include_loopback():
    for interface in interfaces():
        assert interface.name != "lo"
        assert interface.ipv4 is None or not interface.ipv4.startswith("127.")
        assert "::1" not in interface.ipv6


def test_endpoint_to_type():
    room = Room("Sala", "h.local", 6667, ("fe80::1%eth0",))
    assert room.endpoint == "[fe80::1%eth0]:6667"
    assert Room("Sala", "h.local", 6667, ("169.254.1.2",)).endpoint == "169.254.1.2:6667"


def announcement(name: str, port: int = 6667, ttl: int = 120) -> Message:
    instance = (name, *IRC_SERVICE)
    host = (f"{name}-host", "local")
    return Message(
        flags=FLAGS_RESPONSE,
        answers=(
            Record(IRC_SERVICE, TYPE_PTR, ttl, instance),
            Record(instance, TYPE_SRV, ttl, Srv(0, 0, port, host), True),
            Record(instance, TYPE_TXT, ttl, txt_strings("#general", False, "t"), True),
            Record(host, TYPE_A, ttl, "169.254.3.4", True),
        ),
    )


def test_the_browser_table_stays_bounded_and_keeps_the_real_room():
    seen: list[tuple[Room, ...]] = []
    browser = Browser(seen.append)
    try:
        source = ("169.254.3.4", 5353)
        browser._received(None, announcement("Sala de Ana"), source)  # type: ignore[arg-type]
        for number in range(10_000):
            instance = (f"Junk {number}", *IRC_SERVICE)
            flood = Message(
                flags=FLAGS_RESPONSE, answers=(Record(IRC_SERVICE, TYPE_PTR, 4500, instance),)
            )
            browser._received(None, flood, source)  # type: ignore[arg-type]
        assert len(browser._services) <= MAX_ROOMS
        assert [room.name for room in browser.rooms()] == ["Sala de Ana"]
        room = browser.rooms()[0]
        assert (room.channel, room.password, room.addresses) == (
            "#general",
            False,
            ("169.254.3.4",),
        )
    finally:
        browser.close()


def test_a_flood_of_made_up_rooms_from_one_computer_leaves_room_for_the_real_one():
    """Fake rooms that resolve fully (PTR, SRV, TXT, address) are not pushed out by the
    table's bound, so one computer announcing 1,000 of them could fill it and keep the
    teacher's room out: each address lists at most MAX_ROOMS_PER_SENDER."""
    seen: list[tuple[Room, ...]] = []
    browser = Browser(seen.append)
    try:
        for number in range(1_000):
            browser._received(None, announcement(f"Falsa {number}"), ("169.254.66.6", 5353))  # type: ignore[arg-type]
        assert len(browser.rooms()) == MAX_ROOMS_PER_SENDER
        browser._received(None, announcement("Sala de Marta"), ("169.254.10.1", 5353))  # type: ignore[arg-type]
        assert "Sala de Marta" in [room.name for room in browser.rooms()]
    finally:
        browser.close()


def probing_with_a_rival() -> tuple[Announcer, Record, Message]:
    """An announcer probing for "Sala de Ana", another host's record for that name (whose
    data wins the tie-break: port 65535), and that host's probe."""
    announcer = Announcer("Sala de Ana", 6667, "#general", False, "t")
    announcer._begin_probing()
    instance = ("Sala de Ana", *IRC_SERVICE)
    rival = Record(instance, TYPE_SRV, 120, Srv(0, 0, 65535, ("zz-otro", "local")))
    return (
        announcer,
        rival,
        Message(questions=(Question(instance, TYPE_ANY),), authorities=(rival,)),
    )


def test_a_simultaneous_probe_that_wins_makes_us_wait_and_probe_again_not_rename():
    """RFC 6762 §8.2: two hosts probing for one name at once compare their data; the
    loser waits a second and probes again, and renames only if the winner then answers
    for the name (§9). A passing probe alone never costs the teacher the room's name."""
    announcer, rival, probe = probing_with_a_rival()
    try:
        began = time.monotonic()
        announcer._received(None, probe, ("169.254.66.6", 5353))  # type: ignore[arg-type]
        assert announcer.name == "Sala de Ana"  # deferred, not renamed
        assert announcer._state == "probing" and announcer._step == 0
        assert announcer._due >= began + PROBE_DEFER - 0.01
        claim = Message(flags=FLAGS_RESPONSE, answers=(rival,))  # the winner took the name
        announcer._received(None, claim, ("169.254.66.6", 5353))  # type: ignore[arg-type]
        assert announcer.name == "Sala de Ana (2)"
    finally:
        announcer.close()


def test_a_host_that_probes_for_ever_cannot_keep_us_from_a_name():
    announcer, _rival, probe = probing_with_a_rival()
    try:
        for _ in range(MAX_DEFERRALS):
            announcer._received(None, probe, ("169.254.66.6", 5353))  # type: ignore[arg-type]
        assert announcer.name == "Sala de Ana"
        announcer._received(None, probe, ("169.254.66.6", 5353))  # type: ignore[arg-type]
        assert announcer.name == "Sala de Ana (2)"  # bounded: it moves on to another name
    finally:
        announcer.close()


def test_a_goodbye_removes_the_room_within_a_second():
    browser = Browser()
    try:
        source = ("169.254.3.4", 5353)
        browser._received(None, announcement("Sala de Ana"), source)  # type: ignore[arg-type]
        assert browser.rooms()
        browser._received(None, announcement("Sala de Ana", ttl=0), source)  # type: ignore[arg-type]
        browser._tick(_NoLink(), time.monotonic() + 1.01)  # type: ignore[arg-type]
        assert browser.rooms() == ()
    finally:
        browser.close()


class _NoLink:
    joined: ClassVar[dict] = {}


# ---------------------------------------------------------------------------
# In two network namespaces


def _namespaces_possible() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs the ip command (Debian package iproute2)"
    return None


class Peer:
    """A ``tests/mdns_peer.py`` process in a namespace; its stdout read line by line."""

    def __init__(self, namespace: str, *args: str, program: str = str(PEER), env=None) -> None:
        command = ["ip", "netns", "exec", namespace, sys.executable, program, *args]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.program_is_server = program != str(PEER)
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors = ""  # its stderr, once stopped
        self._error_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self._error_lines.extend(self.process.stderr)

    def expect(self, predicate, timeout: float = 5.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line {what!r} within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(line):
                return line

    def stop(self) -> None:
        """Close its stdin (the peer's signal to finish) and wait for it."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
            if self.program_is_server:
                self.process.terminate()  # servidor.py stops on SIGTERM, as at a console
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        self.errors = "".join(self._error_lines)


def rooms_in(line: str) -> list[dict]:
    return json.loads(line) if line.startswith("[") else []


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """Two namespaces, ``a`` and ``b``, on one veth link; removed (and their peers) after."""
    reason = _namespaces_possible()
    if reason:
        pytest.skip(reason)
    tag = uuid.uuid4().hex[:6]
    names = {side: f"charla-mdns-{side}-{tag}" for side in "ab"}
    made: list[str] = []

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        for namespace in names.values():
            ip("netns", "add", namespace)
            made.append(namespace)
        ip(
            "link", "add", f"v{tag}a", "netns", names["a"], "type", "veth",
            "peer", "name", f"v{tag}b", "netns", names["b"],
        )  # fmt: skip
        for side, namespace in names.items():
            ipv4, ipv6 = ADDRESSES[side]
            device = f"v{tag}{side}"
            ip("-n", namespace, "addr", "add", ipv4, "dev", device)
            ip("-n", namespace, "addr", "add", ipv6, "dev", device, "nodad")
            ip("-n", namespace, "link", "set", device, "up")
        yield names["a"], names["b"]
    finally:
        for namespace in made:  # deleting a namespace deletes its end of the veth too
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10)


@pytest.fixture
def peers() -> Iterator:
    started: list[Peer] = []

    def start(namespace: str, *args: str, **options) -> Peer:
        peer = Peer(namespace, *args, **options)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def test_a_room_is_listed_within_2s_and_gone_within_2s_of_stopping(netns, peers):
    side_a, side_b = netns
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    announcer.expect(lambda line: line == "name Sala de Ana")
    browser = peers(side_b, "browse")
    browser.expect(lambda line: line.startswith("started"))
    began = time.monotonic()
    line = browser.expect(lambda line: rooms_in(line), timeout=2, what="a room")
    assert time.monotonic() - began < 2
    (room,) = rooms_in(line)
    assert (room["name"], room["port"], room["channel"]) == ("Sala de Ana", 6667, "#general")
    assert room["addresses"][0] == "169.254.10.1"
    assert room["password"] is False
    # the IPv6 link-local address carries the interface it is reachable through
    browser.expect(lambda line: any("%" in a for r in rooms_in(line) for a in r["addresses"]))
    announcer.stop()
    stopped = time.monotonic()
    browser.expect(lambda line: line == "[]", timeout=2, what="the room gone")
    assert time.monotonic() - stopped < 2


def test_two_rooms_with_one_name_are_renamed(netns, peers):
    side_a, side_b = netns
    first = peers(side_a, "announce", "Sala de Ana", "6667")
    first.expect(lambda line: line == "name Sala de Ana")
    peers(side_b, "announce", "Sala de Ana", "7000")
    browser = peers(side_b, "browse")
    line = browser.expect(
        lambda line: len(rooms_in(line)) == 2, timeout=6, what="both rooms, by two names"
    )
    names = sorted(room["name"] for room in rooms_in(line))
    assert names == ["Sala de Ana", "Sala de Ana (2)"]


def test_a_flood_of_junk_leaves_the_listener_alive_bounded_and_listing(netns, peers):
    side_a, side_b = netns
    peers(side_a, "announce", "Sala de Ana", "6667")
    browser = peers(side_b, "browse")
    browser.expect(lambda line: [r["name"] for r in rooms_in(line)] == ["Sala de Ana"])
    counter = peers(side_b, "count", "169.254.10.1")
    counter.expect(lambda line: line == "counting")
    began = time.monotonic()
    flooder = peers(side_b, "flood", "10000", "3")  # over 3 s: a query every 1.2 ms
    flooder.expect(lambda line: line == "flooded", timeout=30)
    flood_seconds = time.monotonic() - began
    # the answer the flood draws waits for its record's second (§6): let it come
    time.sleep(1.5)
    counter.stop()
    responses = int(counter.expect(lambda line: line.startswith("packets")).split()[1])
    # 2,500 queries for the room: the announcer answers at most once a second per record
    # and interface (§6); counted over IPv4 from the announcer's address only
    # and it keeps answering: a stream of queries does not postpone the answer for ever
    assert flood_seconds - 1 <= responses <= flood_seconds + 3, (responses, flood_seconds)
    assert browser.process.poll() is None
    browser.stop()
    table = browser.expect(lambda line: line.startswith("table")).split()
    assert int(table[1]) <= MAX_ROOMS
    assert int(table[1]) >= 1
    last_rooms: list[dict] = [{"name": "Sala de Ana"}]  # as last seen before the flood
    while not browser.lines.empty():
        line = browser.lines.get()
        if line.startswith("["):
            last_rooms = rooms_in(line)
    assert "Sala de Ana" in [room["name"] for room in last_rooms]
    assert "Traceback" not in browser.errors


def test_servidor_announces_its_room_by_name_and_says_goodbye(netns, peers, tmp_path):
    side_a, side_b = netns
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    server = peers(
        side_a, "--port", "0", "--room-name", "Sala de Marta", "--password", "x",
        program="servidor.py", env=env,
    )  # fmt: skip
    port = int(server.expect(lambda line: "port" in line).split("port ")[1].rstrip("."))
    browser = peers(side_b, "browse")
    line = browser.expect(lambda line: rooms_in(line), timeout=3, what="the server's room")
    (room,) = rooms_in(line)
    assert (room["name"], room["port"], room["password"]) == ("Sala de Marta", port, True)
    assert room["channel"] == "#general" and room["version"].startswith("charla")
    server.stop()
    stopped = time.monotonic()
    browser.expect(lambda line: line == "[]", timeout=2, what="the room gone")
    assert time.monotonic() - stopped < 2


def test_servidor_no_announce_announces_nothing(netns, peers, tmp_path):
    side_a, side_b = netns
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    counter = peers(side_b, "count", "169.254.10.1")
    counter.expect(lambda line: line == "counting")
    server = peers(side_a, "--port", "0", "--no-announce", program="servidor.py", env=env)
    server.expect(lambda line: "port" in line)
    browser = peers(side_b, "browse")
    browser.expect(lambda line: line.startswith("started"))
    time.sleep(2)  # what an announcing server would have said by now (probes, announcement)
    counter.stop()
    assert counter.expect(lambda line: line.startswith("packets")) == "packets 0"


# ---------------------------------------------------------------------------
# With Avahi, the real thing (inside namespace b, with a D-Bus of its own)

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""
AVAHI_CONFIG = """[server]
use-ipv4=yes
use-ipv6=yes
allow-interfaces={interface}
enable-dbus=yes
[publish]
publish-hinfo=no
publish-workstation=no
"""


@pytest.fixture
def avahi(netns) -> Iterator[dict[str, str]]:
    """avahi-daemon in namespace b, on a D-Bus of its own (avahi-browse and avahi-publish
    speak D-Bus only); its /run is a private tmpfs, so a system Avahi does not mind it.
    Yields the environment that points the Avahi tools at that bus."""
    missing = [
        tool
        for tool in ("avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon")
        if shutil.which(tool) is None
    ]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages avahi-daemon, avahi-utils, dbus)")
    side_b = netns[1]
    interface = "v" + side_b.rsplit("-", 1)[1] + "b"
    folder = Path(tempfile.mkdtemp(prefix="charla-avahi-"))  # short: a socket path
    socket_path = folder / "bus"
    (folder / "bus.conf").write_text(BUS_CONFIG.format(socket=socket_path))
    (folder / "avahi.conf").write_text(AVAHI_CONFIG.format(interface=interface))
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={socket_path}"}
    processes: list[subprocess.Popen] = []
    log_file = (folder / "avahi.log").open("w")
    try:
        bus = subprocess.Popen(
            ["ip", "netns", "exec", side_b, "dbus-daemon", "--nofork",
             f"--config-file={folder / 'bus.conf'}"],
            stdout=subprocess.DEVNULL, stderr=log_file,
        )  # fmt: skip
        processes.append(bus)
        wait_until(socket_path.exists, timeout=5, describe=lambda: "the bus's socket")
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", side_b, "sh", "-c",
             "mount -t tmpfs charla-avahi /run && mkdir /run/avahi-daemon && exec "
             f"avahi-daemon --no-drop-root --no-chroot --no-rlimits -f {folder / 'avahi.conf'}"],
            env=env, stdout=log_file, stderr=log_file,
        )  # fmt: skip
        processes.append(daemon)
        wait_until(
            lambda: "Server startup complete" in (folder / "avahi.log").read_text(),
            timeout=10,
            describe=lambda: (folder / "avahi.log").read_text(),
        )
        yield env
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_file.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_avahi_browse_lists_charlas_room(netns, avahi, peers):
    side_a, side_b = netns
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    announcer.expect(lambda line: line == "name Sala de Ana")
    deadline = time.monotonic() + 6
    resolved: list[str] = []
    while not resolved and time.monotonic() < deadline:
        result = subprocess.run(
            ["ip", "netns", "exec", side_b, "avahi-browse", "-rtp", "_irc._tcp"],
            env=avahi, capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        resolved = [line for line in result.stdout.splitlines() if line.startswith("=")]
    assert resolved, result.stdout + result.stderr
    fields = resolved[0].split(";")
    assert fields[3] == "Sala\\032de\\032Ana" and fields[4] == "_irc._tcp"
    assert fields[7] == "169.254.10.1" or fields[7].startswith("fe80::")
    assert fields[8] == "6667"
    assert '"channel=#general"' in fields[9] and '"password=no"' in fields[9]


def test_a_room_published_with_avahi_is_listed(netns, avahi, peers):
    side_a, side_b = netns
    publisher = subprocess.Popen(
        ["ip", "netns", "exec", side_b, "avahi-publish", "-s", "Sala Avahi", "_irc._tcp", "6668",
         "channel=#avahi", "password=yes"],
        env=avahi, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        browser = peers(side_a, "browse")
        line = browser.expect(lambda line: rooms_in(line), timeout=5, what="Avahi's room")
        (room,) = rooms_in(line)
        assert (room["name"], room["port"], room["channel"]) == ("Sala Avahi", 6668, "#avahi")
        assert room["password"] is True and room["addresses"][0] == "169.254.10.2"
    finally:
        publisher.terminate()
        publisher.wait(timeout=5)
        assert publisher.stdout is not None
        publisher.stdout.close()


def test_a_rooms_new_address_is_announced_by_itself_and_listed_within_seconds(netns, peers):
    """RFC 6762 §8.4: when the announcing computer's address changes (a laptop that got a
    new address), the room is announced again with it, unasked (a listener that never
    queries hears it), and a browser opened then lists the room at its new address only."""
    side_a, side_b = netns
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    announcer.expect(lambda line: line == "name Sala de Ana")
    listener = peers(side_b, "addresses")  # alone on its side: nobody asks anything
    listener.expect(lambda line: line == "listening")
    device = "v" + side_a.rsplit("-", 1)[1] + "a"
    subprocess.run(["ip", "-n", side_a, "-4", "addr", "flush", "dev", device], check=True)
    subprocess.run(
        ["ip", "-n", side_a, "addr", "add", "169.254.30.1/16", "dev", device], check=True
    )
    changed = time.monotonic()
    # the interfaces are read every 3 s, and the announcement follows at once
    listener.expect(lambda line: line == "a 169.254.30.1", timeout=3 + 1, what="re-announced")
    assert time.monotonic() - changed < 4
    browser = peers(side_b, "browse")
    browser.expect(
        lambda line: (
            [a for r in rooms_in(line) for a in r["addresses"] if "." in a] == ["169.254.30.1"]
        ),
        timeout=3,
        what="the room at its new address only",
    )


def test_the_real_dialog_lists_a_servers_room_a_double_click_joins_and_it_goes(
    netns, peers, tmp_path, display
):
    """The connect dialog a student opens, in its own namespace on a real X display: the
    room of a ``servidor.py`` in the other namespace is in its list within 2 s; a
    double-click on it chooses that room's address (the dialog's reachability check
    reaches it); the room is gone from the list within 2 s of the server stopping."""
    side_a, side_b = netns
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path), "HOME": str(tmp_path)}
    server = peers(
        side_a, "--port", "0", "--room-name", "Sala de Marta", program="servidor.py", env=env
    )
    port = int(server.expect(lambda line: "port" in line).split("port ")[1].rstrip("."))
    # a network of link-local addresses only (no router): it counts, and is shown
    server.expect(lambda line: f"169.254.10.1:{port}" in line, what="the address to tell")
    window = peers(side_b, "dialog", env={**env, "DISPLAY": display, "LANGUAGE": "es"})
    listed = window.expect(lambda line: line.startswith("listed "), timeout=5, what="the room")
    seconds, room = float(listed.split()[1]), listed.split(" ", 2)[2]
    assert seconds < 2, listed
    assert room.startswith("Sala de Marta — #general — 169.254.10.1") and f":{port}" in room
    try:
        chose = window.expect(lambda line: line.startswith("chose "), timeout=5, what="joined")
    except AssertionError:
        window.stop()
        raise AssertionError(window.errors[-2000:]) from None
    assert chose == f"chose 169.254.10.1:{port}"
    server.stop()
    assert window.process.stdin is not None
    window.process.stdin.write("stopped\n")
    window.process.stdin.flush()
    gone = window.expect(lambda line: line.startswith("gone "), timeout=5, what="room gone")
    assert float(gone.split()[1]) < 2, gone
