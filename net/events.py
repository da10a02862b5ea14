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
class Motd:
    """The server's welcome (message of the day), as it sends it at each login."""

    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    retry_in: float | None  # seconds until the next try; None: no more tries
    attempt: int  # the attempt that comes next


@dataclass(frozen=True, slots=True)
class CertificateUntrusted:
    """A TLS server's certificate is not one this computer trusts (``reason`` says why, in
    the user's words; ``changed``: it differs from the one the user trusted before). No
    connection is made to that server until ``ChatClient.trust(key, fingerprint)``."""

    key: str  # the server, as certificates are filed (``ServerAddress.key``)
    fingerprint: str  # SHA-256 of the certificate, "AB:CD:…" ("" if it could not be had)
    reason: str
    changed: bool = False


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
    #: a long message's later lines' ids (``net.text_cuts``): deleting it deletes them too
    more_msgids: tuple[str, ...] = ()
    #: the msgid of the message this one answers (IRCv3 ``+reply``), or ""
    reply_to: str = ""
    #: a teacher's quick poll: its options (votes are reactions to it), or ()
    poll: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Announcement:
    """A notice from the server itself (the operator at its console): nobody can fake it."""

    text: str
    time: datetime
    target: str = ""  # the channel it was said in ("": to us in person)
    history: bool = False  # replayed from the channel's history


@dataclass(frozen=True, slots=True)
class ServerNotice:
    """A notice from the server to us alone that is no announcement: another server's
    own chatter (ngIRCd's "Connection statistics: …", "*** Looking up your hostname"),
    before or after registration. Shown as an ordinary line, not as a banner."""

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
class Away:
    """``nick`` is away (with ``message``, when the server said it) or back. Heard from
    IRCv3 ``away-notify``, a ``WHO`` of a channel just joined (``G``), the reply to a
    private message (301), or about ourselves (305/306: ``nick`` is our own)."""

    nick: str
    away: bool
    message: str = ""
    replying: bool = False  # the server's reply to a private message of ours (301)


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
class NickRefused:
    """Our user asked for ``asked`` (``/apodo``) and the server refused it (``code``: 433
    in use, 432 not valid, 437 held for now); we are still ``nick``."""

    asked: str
    code: str
    text: str  # the server's reason
    nick: str


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
    #: each nick's status letters, in the same order: "o" operator (teacher, helper),
    #: "v" voice, "ov" both, "" none (from the NAMES prefixes the server's PREFIX names)
    statuses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Delivered:
    """The server has received our message ``message_id`` (returned by ``say``/``action``)."""

    message_id: int
    msgid: str = ""  # the id the server relayed it with, when known (Charla: always)


@dataclass(frozen=True, slots=True)
class Refused:
    """The server refused our message ``message_id`` to ``target`` (404: muted, slow mode,
    moderated, banned, not in the channel): it was not relayed and will not be sent again."""

    message_id: int
    target: str
    code: str
    text: str  # the server's reason


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """``MODE #chan +o/-o/+v/-v nick``: someone's status in a channel changed."""

    channel: str
    nick: str
    adding: bool
    mode: str  # "o" (operator) or "v" (voice)
    by: str  # who changed it (a nick, or the server's name)


@dataclass(frozen=True, slots=True)
class ModeChanged:
    """One change of a channel's modes other than status: ``+m``, ``+S 10``, ``+q mask``…"""

    channel: str
    adding: bool
    mode: str  # one letter
    param: str  # "" for modes without one
    by: str
    ends: float | None = None  # a timed ban or mute: when it ends (wall clock), if said


@dataclass(frozen=True, slots=True)
class ChannelModes:
    """All of a channel's modes, as the server answered ``MODE #chan`` (324)."""

    channel: str
    modes: tuple[tuple[str, str], ...]  # (letter, parameter or "")


@dataclass(frozen=True, slots=True)
class UserModes:
    """Our own user modes now: "o" means we are a teacher (an IRC operator)."""

    modes: str


@dataclass(frozen=True, slots=True)
class Redacted:
    """A message was deleted (``REDACT``): by its author or a teacher."""

    target: str  # the channel, or the other person's nick for a private message
    msgid: str
    by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Invited:
    """Someone invited us to a channel (``INVITE``)."""

    channel: str
    by: str


@dataclass(frozen=True, slots=True)
class InviteSent:
    """The server passed our ``INVITE`` on (341)."""

    nick: str
    channel: str


@dataclass(frozen=True, slots=True)
class LoginNeeded:
    """Our nick is a registered account's: the client waits for ``login(password)``."""

    nick: str
    text: str  # the server's words


@dataclass(frozen=True, slots=True)
class LoggedIn:
    account: str


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
    target: str = ""  # the channel or nick it is about, when the server names one


@dataclass(frozen=True, slots=True)
class UploadProgress:
    """A file we send (``ChatClient.upload``) is on its way: ``sent`` of ``total`` bytes."""

    target: str
    name: str
    sent: int
    total: int


@dataclass(frozen=True, slots=True)
class UploadDone:
    """The server kept the file and said so in ``target`` (``link``: its address)."""

    target: str
    name: str
    link: str


@dataclass(frozen=True, slots=True)
class UploadFailed:
    """The file was not sent; ``reason`` says why, for people."""

    target: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileFetched:
    """A file of the server's (``ChatClient.fetch_file``): its bytes, or None if it could
    not be had (gone, too large, the network)."""

    file_id: str
    content_type: str
    data: bytes | None


@dataclass(frozen=True, slots=True)
class Reaction:
    """Someone reacted to a message (IRCv3 ``+draft/react``), or took the reaction back."""

    target: str  # the conversation: a channel, or the other person's nick
    nick: str
    msgid: str  # the message reacted to
    emoji: str
    added: bool  # False: taken back (``+draft/unreact``)


@dataclass(frozen=True, slots=True)
class Typing:
    """Someone is typing (IRCv3 ``+typing``): ``state`` is active, paused or done."""

    target: str  # the conversation: a channel, or the other person's nick
    nick: str
    state: str


@dataclass(frozen=True, slots=True)
class OlderMessages:
    """Messages from before the oldest one shown, asked for (``CHATHISTORY BEFORE``),
    oldest first; none: there are no more (or the server keeps none)."""

    target: str
    messages: tuple[ChatMessage, ...]
    reactions: tuple[Reaction, ...] = ()


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
    | NickRefused
    | Refused
    | MemberStatus
    | ModeChanged
    | ChannelModes
    | UserModes
    | Redacted
    | Invited
    | InviteSent
    | LoginNeeded
    | LoggedIn
    | UploadProgress
    | UploadDone
    | UploadFailed
    | FileFetched
    | Reaction
    | Typing
    | OlderMessages
)
