"""The addresses the server tells people to type; on a link-local-only LAN, in a network
namespace of the test's own (the ``netns`` fixture)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from net import lan
from net.lan import lan_addresses, shareable_endpoints
from tests.support import ROOT


def test_lan_addresses_are_real_reachable_kinds_of_address():
    for text in lan_addresses():
        address = ipaddress.ip_address(text)
        assert not (address.is_loopback or address.is_unspecified)
        assert address.version == 4 or not address.is_link_local  # fe80:: needs its %scope


def test_private_ipv4_addresses_come_first():
    addresses = [ipaddress.ip_address(text) for text in lan_addresses()]
    versions = [address.version for address in addresses]
    assert versions == sorted(versions)


def test_endpoints_for_a_specific_host_and_for_all_interfaces():
    assert shareable_endpoints("192.168.1.23", 12345) == ["192.168.1.23:12345"]
    assert shareable_endpoints("fd00::5", 80) == ["[fd00::5]:80"]
    for endpoint in shareable_endpoints("0.0.0.0", 12345):
        assert endpoint.endswith(":12345") and not endpoint.startswith("[")


@pytest.mark.skipif(sys.platform != "linux", reason="the addresses read from Linux interfaces")
def test_a_link_local_address_comes_after_the_lans_own(monkeypatch):
    monkeypatch.setattr(lan, "_linux_ipv4", lambda: ["127.0.0.1", "169.254.3.4", "192.168.1.23"])
    monkeypatch.setattr(lan, "_linux_ipv6", lambda: ["::1", "fe80::3", "fd00::2"])
    assert lan_addresses() == ["192.168.1.23", "169.254.3.4", "fd00::2"]


LINK_LOCAL_SCRIPT = """
import json, sys
from net.i18n import set_language
from net.lan import lan_addresses
from servidor import address_lines
set_language("en")
print(json.dumps([lan_addresses(), address_lines(None, 6667)]))
"""


def test_a_link_local_only_lan_is_a_network_not_no_network(netns):
    """Computers on a LAN without a router or DHCP give themselves 169.254.x.y: the others
    can reach that address, so the banner gives it rather than "No network found"."""
    side_a, _side_b = netns  # a's only addresses: 169.254.10.1 and fe80::a
    result = subprocess.run(
        ["ip", "netns", "exec", side_a, sys.executable, "-c", LINK_LOCAL_SCRIPT],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    addresses, banner = json.loads(result.stdout)
    assert addresses == ["169.254.10.1"]
    assert banner == [
        "Tell the others to connect to: 169.254.10.1:6667",
        "On this computer: localhost:6667",
    ]
