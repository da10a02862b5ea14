"""Rooms found on the local network: the announcer and the browser, in their own network.

The network tests build two network namespaces joined by a veth pair with link-local
addresses only (169.254/16 and fe80::/64); every peer runs inside one of them through
``ip netns exec`` (``tests/mdns_peer.py``; the ``netns`` and ``peers`` fixtures of
conftest.py), so no multicast packet ever reaches the machine's real interfaces. They
need root and ``ip``; without them they skip and say so. The table tests feed the
browser messages directly, without sockets.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from net.dns_message import (
    FLAGS_RESPONSE,
    TYPE_A,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    Message,
    Record,
    Srv,
)
from net.mdns import (
    IRC_SERVICE,
    MAX_ROOMS,
    MAX_SERVICES_PER_SENDER,
    Browser,
    Room,
    interfaces,
    renamed,
    txt_strings,
)
from tests.support import wait_until

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


def rooms_in(line: str) -> list[dict]:
    return json.loads(line) if line.startswith("[") else []


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


def answers_after_asking(asker) -> tuple[list[str], list[str]]:
    """The record types of the first unicast and (if any) multicast answer, from an ``ask``
    peer's lines, as they come within 1.2 s of its question (a multicast answer held to
    its record's second, §6, would come within that)."""
    asker.expect(lambda line: line == "asked", timeout=10, what="the question asked")
    unicast: list[str] = []
    multicast: list[str] = []
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        try:
            line = asker.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        how, milliseconds, types = line.split()
        if how == "unicast" and not unicast:
            assert int(milliseconds) < 200, line  # §6: 20-120 ms, the querier waits no more
            unicast = types.split(",")
        elif how == "multicast" and not multicast:
            multicast = types.split(",")
    return unicast, multicast


def test_a_qu_question_is_answered_by_unicast_when_multicast_lately(netns, peers):
    side_a, side_b = netns
    asker = peers(side_b, "ask", "169.254.10.1", "0")
    asker.expect(lambda line: line == "listening")
    peers(side_a, "announce", "Sala de Ana", "6667")
    unicast, multicast = answers_after_asking(asker)
    # everything was multicast in the announcements, a second ago: all of it by unicast,
    # to the asker's own address and port, and nothing multicast again
    assert unicast == ["A", "AAAA", "PTR", "SRV", "TXT"]
    assert multicast == []


def test_a_qu_question_is_answered_by_multicast_for_what_was_not_multicast_lately(netns, peers):
    side_a, side_b = netns
    asker = peers(side_b, "ask", "169.254.10.1", "1.2")
    asker.expect(lambda line: line == "listening")
    # SRV, A and AAAA live 4 s: 1.2 s after the announcements they were not multicast
    # within a quarter of their TTL (§5.4), so they are multicast to refresh every cache;
    # PTR and TXT (75 min) still come by unicast
    peers(side_a, "announce", "Sala de Ana", "6667", "#general", "4")
    unicast, multicast = answers_after_asking(asker)
    assert unicast == ["PTR", "TXT"]
    assert multicast == ["A", "AAAA", "SRV"]


def test_a_browser_opened_again_at_once_is_answered_at_once(netns, peers):
    """A dialog closed and opened again: its first question is QU (§5.4), so the room,
    multicast a moment ago for the first browser, is not held back a second (§6)."""
    side_a, side_b = netns
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    announcer.expect(lambda line: line == "name Sala de Ana")
    first = peers(side_b, "browse")
    first.expect(lambda line: line.startswith("seen"), timeout=3)
    first.stop()
    again = peers(side_b, "browse")
    seen = float(again.expect(lambda line: line.startswith("seen"), timeout=3).split()[1])
    assert seen < 0.5, seen


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


def test_a_lost_probe_tie_break_waits_a_second_and_probes_again(netns, peers):
    """§8.2: a rival probing for the same name at the same moment with data that sorts
    later wins; the loser probes again a second later rather than renaming, and keeps the
    name when the rival (a stale packet, a host gone) does not defend it."""
    side_a, side_b = netns
    rival = peers(side_b, "rival", "Sala de Ana", "probe")
    rival.expect(lambda line: line == "listening")
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    rival.expect(lambda line: line == "rivalled", what="the announcer's first probe")
    again = int(rival.expect(lambda line: line.startswith("probe "), timeout=3).split()[1])
    assert 1000 <= again <= 1000 + 250 + 200, again  # 1 s, §8.1's 0-250 ms, a margin
    rival.expect(lambda line: line.startswith("announced "), timeout=3, what="announced")
    said: list[str] = []
    announcer.expect(lambda line: said.append(line) or line == "steady", timeout=3)
    assert [line for line in said if line.startswith("name ")] == ["name Sala de Ana"]


def test_a_conflict_after_announcing_probes_again_before_renaming(netns, peers):
    """§9: a conflicting answer once announced sends the announcer back to probing under
    the same name; nobody defends it, so it keeps it."""
    side_a, side_b = netns
    rival = peers(side_b, "rival", "Sala de Ana", "answer")
    rival.expect(lambda line: line == "listening")
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    rival.expect(lambda line: line == "rivalled", timeout=3, what="the first announcement")
    # probes for the same name (a renamed room would probe for "Sala de Ana (2)")
    again = int(rival.expect(lambda line: line.startswith("probe "), timeout=2).split()[1])
    assert again <= 250 + 200, again  # at once: §8.1's 0-250 ms, a margin
    rival.expect(lambda line: line.startswith("announced "), timeout=3, what="announced again")
    said: list[str] = []
    announcer.expect(lambda line: said.append(line) or line == "steady", timeout=3)
    assert [line for line in said if line.startswith("name ")] == ["name Sala de Ana"]


def test_two_rooms_probing_at_once_end_with_two_names(netns, peers):
    side_a, side_b = netns
    peers(side_a, "announce", "Sala de Ana", "6667")
    peers(side_b, "announce", "Sala de Ana", "7000")
    browser = peers(side_b, "browse")
    line = browser.expect(
        lambda line: len(rooms_in(line)) == 2, timeout=8, what="both rooms, by two names"
    )
    names = sorted(room["name"] for room in rooms_in(line))
    assert names == ["Sala de Ana", "Sala de Ana (2)"]


def test_a_flood_of_junk_leaves_the_listener_alive_bounded_and_listing(netns, peers):
    side_a, side_b = netns
    announcer = peers(side_a, "announce", "Sala de Ana", "6667")
    browser = peers(side_b, "browse")
    browser.expect(lambda line: [r["name"] for r in rooms_in(line)] == ["Sala de Ana"])
    # its announcements over (they are not answers: they would add to the count below)
    announcer.expect(lambda line: line == "steady")
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


def test_a_thousand_rooms_from_one_address_leave_room_for_the_real_ones(netns, peers):
    """One hostile host announcing 1,000 rooms that resolve fully keeps at most
    MAX_SERVICES_PER_SENDER of them listed: a real room from elsewhere still gets in, and
    a second flood does not push it out."""
    side_a, side_b = netns
    browser = peers(side_b, "browse")
    browser.expect(lambda line: line.startswith("started"))
    peers(side_b, "flood-services", "1000").expect(lambda line: line == "flooded", timeout=30)
    peers(side_a, "announce", "Sala de Ana", "6667")
    line = browser.expect(
        lambda line: "Sala de Ana" in [r["name"] for r in rooms_in(line)], timeout=3
    )
    assert len(rooms_in(line)) <= 1 + MAX_SERVICES_PER_SENDER
    flood = peers(side_b, "flood-services", "1000", "1000")  # 1,000 other names
    flood.expect(lambda line: line == "flooded", timeout=30)
    browser.stop()
    lines = list(browser.lines.queue)  # all it said since, up to its table at the end
    for line in lines:
        assert not line.startswith("[") or "Sala de Ana" in [r["name"] for r in rooms_in(line)]
    services = int(next(line for line in lines if line.startswith("table")).split()[1])
    assert services <= 1 + MAX_SERVICES_PER_SENDER
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
