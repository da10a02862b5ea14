"""A network, not an address: the servers one chat can be reached on, and which to try next.

A class on a Charla server has one address. A class on an IRC network (two linked ngIRCd
or InspIRCd servers, in two buildings) has several, and any of them will do: the channel,
the people and the nicks are the same on all. ``ServerAddress`` is one of them (host,
port, and whether it speaks TLS); ``parse_server`` reads what people type
(``aula:6667``, ``[fe80::1%eth0]:6667``, ``ircs://irc.colegio.es``, ``irc.colegio.es:+6697``);
``ServerRotation`` decides which one ``net.client.ChatClient`` tries next and whether it
must wait first: after a lost connection it tries the same server again, then each of the
others at once, and waits (``net.client.ReconnectPolicy``) only when a whole round failed.
So a window whose server died is back on another one within a connect's time, and a
class on one server still sees a short blip as a blip.

Threading: plain values and one object owned by the client's network thread; no locks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from net.protocol import DEFAULT_PORT, wire_number

#: the usual port of IRC over TLS (RFC 7194)
TLS_PORT = 6697
#: servers in one network list, at most (a typed list is not a way to make us dial the world)
MAX_SERVERS = 16


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """One server of the network: where, and whether the connection is TLS."""

    host: str
    port: int = DEFAULT_PORT
    tls: bool = False

    def __str__(self) -> str:
        """As ``parse_server`` reads it back.

        >>> str(ServerAddress("aula", 6667)), str(ServerAddress("::1", 6697, tls=True))
        ('aula:6667', 'ircs://[::1]:6697')
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'ircs://' if self.tls else ''}{host}:{self.port}"

    @property
    def key(self) -> str:
        """What a remembered certificate is filed under: the host and port, TLS or not.

        >>> ServerAddress("Aula.local", 6697, tls=True).key
        'aula.local:6697'
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host.lower()}:{self.port}"


def parse_server(text: str, default_port: int = DEFAULT_PORT) -> ServerAddress | None:
    """``host``, ``host:port``, ``[v6]:port``, ``host:+port`` (TLS, as IRC clients write
    it), ``irc://…`` or ``ircs://…`` (TLS, port 6697 unless said); None when it is not an
    address (no host, a port that is not 1–65535, spaces).

    >>> [str(parse_server(text)) for text in ("192.168.1.23:6667", "aula", "[::1]:6667")]
    ['192.168.1.23:6667', 'aula:12345', '[::1]:6667']
    >>> [str(parse_server(text)) for text in ("ircs://irc.colegio.es", "irc.colegio.es:+7000")]
    ['ircs://irc.colegio.es:6697', 'ircs://irc.colegio.es:7000']
    >>> parse_server("x:0"), parse_server(":6667"), parse_server("a b"), parse_server("[::1")
    (None, None, None, None)
    >>> parse_server("aula:0localhost:12345"), str(parse_server("fe80::1%eth0"))
    (None, '[fe80::1%eth0]:12345')
    """
    text = text.strip()
    tls = False
    lowered = text.lower()
    if lowered.startswith("ircs://"):
        text, tls, default_port = text[7:], True, TLS_PORT
    elif lowered.startswith("irc://"):
        text = text[6:]
    text = text.rstrip("/")
    host, port_text = text, ""
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if port_text.startswith("+"):
        tls, port_text = True, port_text[1:]
    if not host or len(host) > 255 or any(char.isspace() or char in "/@[]" for char in host):
        return None
    if ":" in host and not _is_ipv6(host):
        return None  # "aula:0localhost:12345": not a host, and not an IPv6 address
    if not port_text:
        return ServerAddress(host, default_port, tls)
    port = wire_number(port_text, maximum=65535)
    return ServerAddress(host, port, tls) if port else None


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])  # fe80::1%eth0: the zone is the OS's
    except ValueError:
        return False
    return True


def parse_servers(texts: list[str]) -> tuple[list[ServerAddress], list[str]]:
    """Each text may hold several servers, separated by commas or spaces; returns the
    servers (the same one once, at most ``MAX_SERVERS``) and the pieces that are not one.

    >>> servers, wrong = parse_servers(["aula:6667, aula2:6667", "aula:6667", "x:0"])
    >>> [str(server) for server in servers], wrong
    (['aula:6667', 'aula2:6667'], ['x:0'])
    """
    servers: list[ServerAddress] = []
    wrong: list[str] = []
    for text in texts:
        for piece in text.replace(",", " ").split():
            server = parse_server(piece)
            if server is None:
                wrong.append(piece)
            elif server not in servers and len(servers) < MAX_SERVERS:
                servers.append(server)
    return servers, wrong


class ServerRotation:
    """Which server to try next (see the module docstring).

    >>> rotation = ServerRotation([ServerAddress("a"), ServerAddress("b"), ServerAddress("c")])
    >>> rotation.current.host
    'a'
    >>> rotation.failed(), rotation.current.host  # a was refused: b at once
    (False, 'b')
    >>> rotation.failed(), rotation.current.host  # b too: c at once
    (False, 'c')
    >>> rotation.failed(), rotation.current.host  # a whole round failed: wait, then a
    (True, 'a')
    >>> rotation.connected(); rotation.failed(), rotation.current.host  # in, then lost
    (False, 'a')
    """

    def __init__(self, servers: list[ServerAddress]) -> None:
        if not servers:
            raise ValueError("a network needs at least one server")
        self.servers = servers[:MAX_SERVERS]
        self._index = 0
        self._tried = 0  # servers tried in a row without getting in
        self._was_in = False  # the last connection got in (registered)

    @property
    def current(self) -> ServerAddress:
        return self.servers[self._index]

    def connected(self) -> None:
        """We got in on the current server: the next loss starts a new round there."""
        self._was_in = True
        self._tried = 0

    def failed(self) -> bool:
        """The connection to ``current`` ended (or never began); moves on and returns
        whether to wait before the next try (a whole round failed)."""
        if self._was_in:
            self._was_in = False  # lost: the same server first, it may have been a blip
            self._tried = 0
            return False
        self._tried += 1
        self._index = (self._index + 1) % len(self.servers)
        if self._tried >= len(self.servers):
            self._tried = 0
            return True
        return False
