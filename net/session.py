"""What the server's shared state is made of: a person's session, a channel, a message in flight.

``Session`` is the base of ``IrcSession`` (IRC clients: HexChat, irssi, the Charla window)
and ``PlainSession`` (``nc``, telnet). The server relays ``Outgoing`` messages to sessions,
and each kind of session renders them its own way (an IRC line, or ``[hh:mm] nick: text``).

Threading: a session's handlers run on its connection's reader thread. The fields marked
"guarded by ChatServer.lock" are read and written by other threads (relays, the operator)
only while holding that lock. ``render`` is called with the lock held, so it must not
block or do socket I/O: it only builds bytes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from net.protocol import Message

if TYPE_CHECKING:
    from net.connection import Connection
    from net.server import ChatServer


def server_time_tag(timestamp: float) -> str:
    """IRCv3 ``server-time`` value: ``2026-11-23T09:15:02.123Z``."""
    moment = datetime.fromtimestamp(timestamp, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Outgoing:
    """A message on its way to many sessions; each wire form is formatted at most once.

    The message's own tags are client-only tags (``+name``), sent only to clients that
    negotiated ``message-tags``; ``server-time`` clients also get the ``time`` tag.
    """

    __slots__ = ("_wires", "message", "time")

    def __init__(self, message: Message, timestamp: float | None = None) -> None:
        self.message = message
        self.time = time.time() if timestamp is None else timestamp
        self._wires: dict[tuple[bool, bool], bytes] = {}  # (server_time, message_tags) -> line

    def wire(self, server_time: bool = False, message_tags: bool = False) -> bytes:
        key = (server_time, message_tags)
        line = self._wires.get(key)
        if line is None:
            tags = dict(self.message.tags) if message_tags else {}
            if server_time:
                tags["time"] = server_time_tag(self.time)
            message = self.message
            line = Message(message.command, message.params, message.source, tags).to_bytes()
            self._wires[key] = line
        return line

    def replayed(self, batch: str, server_time: bool, message_tags: bool) -> bytes:
        """This message as part of a history batch (not cached: each replay is its own)."""
        tags = {"batch": batch, **(self.message.tags if message_tags else {})}
        if server_time:
            tags["time"] = server_time_tag(self.time)
        message = self.message
        return Message(message.command, message.params, message.source, tags).to_bytes()


@dataclass(eq=False)
class Channel:
    """A channel; every field is guarded by ChatServer.lock."""

    name: str
    created: float = field(default_factory=time.time)
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0
    #: the members, in joining order (a dict used as an ordered set)
    members: dict[Session, None] = field(default_factory=dict)


class Session:
    """One connected person, registered or not (see the module docstring for threading)."""

    #: whether the connection should send this session keepalive PINGs
    pings = True

    def __init__(self, server: ChatServer, conn: Connection) -> None:
        self.server = server
        self.conn = conn
        self.registered = False
        self.nick = ""  # guarded by ChatServer.lock once registered
        self.username = "user"
        self.realname = ""
        self.signon = time.time()
        #: the secret of a client that negotiated charla.chat/session (see net.client),
        #: and its public alias, used in the msgids of its messages
        self.token: str | None = None
        self.alias = ""
        #: irc_lower(channel name) -> Channel; guarded by ChatServer.lock
        self.channels: dict[str, Channel] = {}

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.username}@{self.conn.host}"

    def render(self, out: Outgoing) -> bytes | None:
        """The bytes this session's peer should get for ``out`` (None: nothing)."""
        raise NotImplementedError

    def joined_replies(self, channel: Channel) -> bytes:
        """What the joiner gets right after its own JOIN (topic, names), under the lock."""
        return b""

    def goodbye(self, reason: str) -> bytes:
        """The last line before the server closes this connection."""
        raise NotImplementedError

    def handle_line(self, line: str | None) -> None:
        raise NotImplementedError

    def send_ping(self) -> None:
        """Keepalive probe for a silent peer."""
