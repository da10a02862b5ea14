"""Which address should the others type? The host's LAN addresses, read from its interfaces.

Nothing here sends a packet: on Linux the addresses are read from the interfaces with
``ioctl`` (IPv4) and ``/proc/net/if_inet6`` (IPv6); elsewhere from the host's own name.
Loopback addresses are left out, and so are IPv6 link-local ones (fe80::, useless without
the interface's name); an IPv4 link-local address (169.254/16, what computers give
themselves on a LAN without a router or DHCP server) counts as a network, after the others.
Private IPv4 addresses (what a classroom LAN uses) come first.

Threading: plain functions, no shared state.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from pathlib import Path

_SIOCGIFADDR = 0x8915  # Linux ioctl: the IPv4 address of an interface


def _linux_ipv4() -> list[str]:
    import fcntl

    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            with contextlib.suppress(OSError):
                request = struct.pack("256s", name.encode()[:15])
                reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
                found.append(socket.inet_ntoa(reply[20:24]))
    return found


def _linux_ipv6() -> list[str]:
    found: list[str] = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hex_address = line.split()[0]
            found.append(str(ipaddress.IPv6Address(bytes.fromhex(hex_address))))
    return found


def _by_host_name() -> list[str]:
    with contextlib.suppress(OSError):
        infos = socket.getaddrinfo(socket.gethostname(), None, type=socket.SOCK_STREAM)
        return [str(info[4][0]).split("%", 1)[0] for info in infos]
    return []


def _is_shareable(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_unspecified:
        return False
    return address.version == 4 or not address.is_link_local


def lan_addresses(include_ipv6: bool = True) -> list[str]:
    """The addresses others on the network can reach this computer at, best first."""
    candidates = _linux_ipv4() + _linux_ipv6() if sys.platform == "linux" else _by_host_name()
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in candidates:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(text)
            if _is_shareable(address) and address not in addresses:
                if address.version == 6 and not include_ipv6:
                    continue
                addresses.append(address)
    addresses.sort(key=lambda a: (a.version, a.is_link_local, not a.is_private))
    return [str(address) for address in addresses]


def shareable_endpoints(host: str | None, port: int) -> list[str]:
    """``address:port`` strings to tell people, for a server bound to ``host`` (None: all)."""
    if host not in (None, "", "0.0.0.0", "::"):
        return [_join(host, port)]
    return [_join(address, port) for address in lan_addresses(include_ipv6=host != "0.0.0.0")]


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
