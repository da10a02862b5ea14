"""The addresses the server tells people to type."""

from __future__ import annotations

import ipaddress

from net.lan import lan_addresses, shareable_endpoints


def test_lan_addresses_are_real_reachable_kinds_of_address():
    for text in lan_addresses():
        address = ipaddress.ip_address(text)
        assert not (address.is_loopback or address.is_unspecified)
        assert address.version == 4 or not address.is_link_local  # fe80:: needs a zone


def test_private_ipv4_addresses_come_first():
    addresses = [ipaddress.ip_address(text) for text in lan_addresses()]
    versions = [address.version for address in addresses]
    assert versions == sorted(versions)


def test_endpoints_for_a_specific_host_and_for_all_interfaces():
    assert shareable_endpoints("192.168.1.23", 12345) == ["192.168.1.23:12345"]
    assert shareable_endpoints("fd00::5", 80) == ["[fd00::5]:80"]
    for endpoint in shareable_endpoints("0.0.0.0", 12345):
        assert endpoint.endswith(":12345") and not endpoint.startswith("[")
