"""What the client connection tells its owner: small immutable events on a ``queue.Queue``.

``net.client.ChatClient`` puts one of these on its queue for everything that happens; the
window (or a test, or a bot) takes them off on its own thread. They carry plain values
only, so they are safe to hand between threads.

Threading: immutable values; create anywhere, read anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Connecting:
    host: str
    port: int
    attempt: int  # 1 for the first try, counting up while the server cannot be reached


@dataclass(frozen=True, slots=True)
class Registered:
    """Logged in: ``nick`` is the nickname the server gave us (it may differ from asked)."""

    nick: str
    server_name: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in: float | None  # seconds until the next try; None: no more tries
    attempt: int  # the attempt that comes next


@dataclass(frozen=True, slots=True)
class Closed:
    """The client stopped for good (``quit()`` or an error no retry can fix)."""

    reason: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message, action (``/me``) or notice, in a channel or private."""

    sender: str
    target: str  # the channel, or our own nick for a private message
    text: str
    time: datetime  # when the server says it was sent (server-time), else when it arrived
    kind: str = "message"  # "message", "action" or "notice"
    private: bool = False
    own: bool = False  # our own message, replayed by the server's history
    history: bool = False  # replayed from the server's history, not said just now
    msgid: str = ""  # the server's id for it ("" when the server gives none)


@dataclass(frozen=True, slots=True)
class Announcement:
    """A notice from the server itself (the operator at its console): nobody can fake it."""

    text: str
    time: datetime


@dataclass(frozen=True, slots=True)
class Joined:
    channel: str
    nick: str
    me: bool


@dataclass(frozen=True, slots=True)
class Parted:
    channel: str
    nick: str
    reason: str
    me: bool


@dataclass(frozen=True, slots=True)
class UserQuit:
    nick: str
    reason: str


@dataclass(frozen=True, slots=True)
class Kicked:
    channel: str
    nick: str
    by: str
    reason: str
    me: bool


@dataclass(frozen=True, slots=True)
class NickChanged:
    old: str
    new: str
    me: bool


@dataclass(frozen=True, slots=True)
class Topic:
    channel: str
    topic: str
    by: str  # who set it ("" when unknown)
    changed: bool  # True when someone changed it just now, False when we were told on join


@dataclass(frozen=True, slots=True)
class Names:
    """The complete member list of a channel, after JOIN or a names request."""

    channel: str
    nicks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delivered:
    """The server has received our message ``message_id`` (returned by ``say``/``action``)."""

    message_id: int


@dataclass(frozen=True, slots=True)
class OutboxChanged:
    """How many of our messages the server has not confirmed yet."""

    pending: int


@dataclass(frozen=True, slots=True)
class ServerError:
    """Something the user should read: a refused nick, a missing channel, a bad password."""

    code: str  # the IRC numeric or command ("433", "ERROR", …)
    text: str
    #: for a nick refused while logging in: the one asked for instead ("ana_", "Begona")
    fallback: str = ""


Event = (
    Connecting
    | Registered
    | Disconnected
    | Closed
    | ChatMessage
    | Announcement
    | Joined
    | Parted
    | UserQuit
    | Kicked
    | NickChanged
    | Topic
    | Names
    | Delivered
    | OutboxChanged
    | ServerError
)
