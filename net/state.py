"""The shared room state: who is here under which nick, in which channels, and the relay.

``Rooms`` is the one object that owns the state the sessions share, and the one lock
that guards it. A session never takes that lock or walks its dicts: it asks ``Rooms`` to
change something (``register``, ``rename``, ``join``, ``part``, ``set_topic``,
``set_away``, ``quit``) or to relay a message (``send_to_channel``, ``send_to_session``),
and it asks for a snapshot when it only wants to read (``counts``, ``lusers``, ``view``,
``list_rows``, ``who``, ``whois``, ``whowas``, ``userhosts``, ``ison``, ``channels_of``…).
It also holds the password ``guard`` (``net.guard``) and the ``accounts``
(``net.accounts``), each with its own lock, never taken inside ours.

Replies are built from those snapshots (``ChannelView``, ``WhoRow``, ``GoneRow``); a
``Channel`` is a handle that sessions pass back, reading only its ``name`` and
``created``, which never change. ``Session`` is the base of every kind of client
(``net.irc_session``, ``net.plain_session``) and the ``ConnectionHandler`` of its
connection (``net.connection``); its subclasses turn lines into calls on ``Rooms``. It
lives here, not in a module of its own, because it is what ``Rooms`` holds and relays
to (``render``, ``joined_replies``, ``goodbye``); the settings ``Rooms`` and sessions
read are described by the ``Settings`` protocol, so nothing here imports ``net.server``.

Nicks: one that is an account's, or looks like it (``net.accounts.skeleton``: "pr0fe",
"profe_" are "profe"'s), is only for a session logged in to that account; a reserved one
(``net.accounts.is_reserved``: the server's name, "profe", "admin", "NickServ"… and
look-alikes) only for a teacher, or for the account of that name if a teacher named with
``--teacher`` registered it (``nick_refusal``, enforced by ``register`` and ``rename``);
a session logged in to the account takes the nick back from its own earlier connection. ``log_in``
records the account a session proved (and makes a teacher account's session a teacher).

The relay, step by step: ``send_to_channel`` builds one ``Outgoing``
(``net.outgoing``), and under the lock asks each recipient's ``render()`` for its bytes,
queues them with ``Connection.enqueue()`` (no socket call) and keeps the message in
history; after releasing the lock it calls ``flush_soon()``, so the bytes are written at
the end of the sender's batch (see ``net.connection``: that is where the socket write
happens), and ``on_batch_done`` saves history before the sender's own client hears back.
When the history stops reaching the disk, and when it reaches it again, ``ChannelHistory``
calls ``_history_saving_changed`` (on the thread that found out, without the lock) and
everyone registered gets a server notice saying so.

Modes and moderation: each ``Channel`` holds its ``ChannelModes`` (``net.modes``, the pure
logic) and its members' status letters (``members``: session -> ``""``, ``"v"``, ``"o"``,
``"ov"``). ``join`` enforces ``+k``, ``+l``, ``+i`` and ``+b``; ``send_to_channel`` enforces
``+n``, ``+b``, ``+q``, ``+m`` and slow mode and answers with a ``SpeakRefused`` (the
sender is told why, never silently dropped); ``set_topic`` enforces ``+t``;
``change_modes``, ``kick`` and ``invite`` answer with what they refused (``ModeRefused``).
A teacher (``make_teacher``) is operator wherever it is.
What a silence covers: a member who may not speak in a channel (muted, banned, or +m
without voice) reaches it by no command: PRIVMSG, NOTICE, CTCP ACTION, TAGMSG and each
channel of a multi-target line go through ``send_to_channel``, its PART and QUIT reasons
are dropped, it may not set the topic of a ``-t`` channel, and a muted or banned one's
away text is not sent there (``_silenced_locked``); slow mode holds every line but a
TAGMSG (typing, a reaction). A mute silences the channel, not private messages: a muted
student must still be able to ask the teacher, so ``send_to_session`` checks no channel; a
teacher who needs more removes the student (KICK, a ban). A ban on ``*!*@host`` holds for
any nick from that host; one on ``nick!*@*`` set while that nick is here also holds the
person (``_note_person_locked``: their host unless it is the setter's, their account), so
reconnecting under another nick does not dodge it; set on an absent nick, or restored from
the database, it names the nick alone.
Timed bans and quiets end at ``next_expiry``; the server's one timer (the acceptor,
``net.server``) calls ``expire_due`` then, and ``on_timer_changed`` wakes it when a sooner
one is set. Slow mode and those ends run on ``clock`` (``time.monotonic``; tests set their
own). Bans and quiets are kept by ``history`` too (``_save_entry_locked``, ends on the
wall clock), and a channel being made gets its own back (``_restore_entries``): they
outlive a restart and the channel itself, so a banned student cannot make an emptied
channel anew to get in. A teacher's claim on a channel (``claim``: the channel becomes the
teachers', as the default one is) is kept the same way, as a ``CLAIM_MODE`` row among
them.

Channels are bounded: one person may be in ``channels_per_person`` channels (ISUPPORT
``CHANLIMIT``), at most ``channels_per_address`` may have been opened from one address
(so one student cannot take them all), the server holds at most ``max_channels`` (the
default one included); past any of these, ``join`` refuses (``JoinRefused``) and
existing channels can still be joined. An empty channel other than the default one is
removed, and its history told so (``ChannelHistory.vacated``), which forgets it after a
while unless someone joins again (``occupied``, asked before the channel is made again,
so a late joiner sees nothing old).

Pictures (``net.uploads``): the server sets ``uploads``, which IRC sessions ask for their
upload token, and ``on_redacted``, which ``redact`` calls (without the lock) with the
deleted message's msgid, so the file it announced goes too.

Threading rules:
- ``_lock`` guards ``_nicks``, ``_channels``, every ``Channel`` field (its ``modes`` too),
  ``next_expiry``, ``_entries_from``, the memory side of ``history``, the WHOWAS memory
  (``_gone``, ``_gone_by_nick``: bounded by ``WHOWAS_SIZE`` in all and
  ``WHOWAS_PER_NICK`` per nick), ``_most_users``, and each session's ``registered``,
  ``left``, ``nick``, ``channels``, ``invited``, ``teacher``, ``account`` and ``away``.
  It is held to change state and to *queue* the resulting messages for their
  recipients, so everyone sees one order of events; it is never held while a socket is
  read or written, or while the history database is written: queued bytes are flushed
  after it is released.
- A session's ``nick`` is written under the lock; another thread reading it without the
  lock (to address a reply) may see it one rename late, which is harmless. The same goes
  for ``away``, read without the lock to answer a private message with ``301``.
- ``render()`` and ``joined_replies()`` are called with the lock held: they only build
  bytes (no blocking, no socket I/O, no call back into ``Rooms``).
- Every public method may be called from any thread; each takes the lock at most once
  and never calls another public method while holding it.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import NamedTuple, Protocol

from net.accounts import AccountStore, is_reserved
from net.chathistory import (
    REACT_TAG,
    REPLY_TAGS,
    UNREACT_TAG,
    PrivateHistory,
    identity_of,
    reaction_of,
)
from net.connection import NO_DEADLINE, AddressLog, BugLog, Connection, flush_soon
from net.guard import PasswordGuard
from net.history import ChannelHistory, footprint
from net.history import ListEntry as SavedEntry
from net.i18n import ntr, tr
from net.modes import (
    LIST_MODES,
    MAX_PARAM_CHANGES,
    ChannelModes,
    Identity,
    InvalidParam,
    ListEntry,
    ModeChange,
    normal_mask,
    status_prefixes,
    with_status,
)
from net.outgoing import KeptMessage, Outgoing
from net.protocol import ENDS_TAG, Message, irc_lower, is_valid_nick, mask_match, nick_key

log = logging.getLogger(__name__)
_bugs = BugLog(log)  # messages that cannot be rendered for a recipient: bugs, rate-limited
_session_serials = itertools.count(1)  # Session.serial

#: channels one person may be in at once (ISUPPORT ``CHANLIMIT``; the default one counts)
CHANNELS_PER_PERSON = 30
#: channels the server holds at once, the default one included; past it no new channel is
#: made (each costs its members' lists and its kept history, which has a budget of its own)
MAX_CHANNELS = 500
#: channels that may exist at once having been opened from one address (an IPv6 /64), so
#: that one student's connections cannot take every channel the server may hold
CHANNELS_PER_ADDRESS = 50
#: people WHOWAS remembers after they quit or change nick, in all (the oldest is forgotten
#: first), and under one nick: a student who reconnects in a loop fills only the latter
WHOWAS_SIZE = 1000
WHOWAS_PER_NICK = 8
#: what a MODE line's changes may take, so the relayed line (with its source, channel
#: and ``server-time`` tag) stays inside 512 bytes; more changes go on another line
MODE_LINE_BYTES = 400
#: channels one person may hold an invitation to at once (the oldest is forgotten first)
MAX_INVITES = 30
#: bans and quiets listed at once that were set from one address (an IPv6 /64), in all
#: channels together, teachers' aside: each list holds 100, but one student opening 50
#: channels could otherwise make the server hold 10,000 (a few KiB each)
ENTRIES_PER_ADDRESS = 300
#: the "mode" under which the history database keeps a teachers' claim on a channel,
#: beside its bans (b) and mutes (q): one row, mask "*" (see ``Rooms.claim``)
CLAIM_MODE = "C"
#: how a QUIT reason a person gave starts ("Quit: bye"); one from someone who may not
#: speak in one of its channels is relayed as plain "Quit"
USER_QUIT_PREFIX = "Quit: "


class Settings(Protocol):
    """What the rooms and the sessions read from the server's configuration
    (``net.server.ServerConfig`` is one)."""

    server_name: str
    network: str
    channel: str  # the default channel, which always exists
    password: str | None
    motd: str | None
    history_size: int
    history_replay: int
    history_expiry: float  # seconds an empty channel's history is kept (0: for ever)
    channels_per_person: int
    max_channels: int
    channels_per_address: int
    ping_interval: float
    ping_timeout: float
    registration_timeout: float
    plain_registration_timeout: float
    opers: dict[str, str]  # OPER name -> password (``--oper NAME:PASSWORD``)


def alphabetical_key(name: str) -> str:
    """Sort names as a Spanish reader expects: Álvaro next to alba, not after zoe.

    >>> sorted(["zoe", "Álvaro", "alba"], key=alphabetical_key)
    ['alba', 'Álvaro', 'zoe']
    """
    decomposed = unicodedata.normalize("NFD", irc_lower(name))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(eq=False)
class Channel:
    """A channel; every field is guarded by ``Rooms``' lock (``name`` and ``created`` never
    change)."""

    name: str
    created: float = field(default_factory=time.time)
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0
    #: the members, in joining order -> their status letters ("", "v", "o", "ov")
    members: dict[Session, str] = field(default_factory=dict)
    #: the address (``Connection.counted_as``) of whoever opened it; "" for the default one
    opened_from: str = ""
    #: flags, key, limit, slow mode, bans and quiets (``net.modes``)
    modes: ChannelModes = field(default_factory=ChannelModes)


@dataclass(frozen=True)
class ChannelView:
    """A snapshot of a channel, for replies built outside the lock (or by ``joined_replies``)."""

    name: str
    created: float
    topic: str
    topic_by: str
    topic_at: float
    nicks: tuple[str, ...]  # the members, in joining order
    statuses: tuple[str, ...] = ()  # their status letters, in the same order
    teachers: frozenset[str] = frozenset()  # the nicks of those who are teachers
    secret: bool = False  # +s


class JoinRefused(Enum):
    """Why ``Rooms.join`` did not let someone in."""

    TOO_MANY_FOR_PERSON = "channels_per_person"  # they are in as many as one may be
    TOO_MANY_ON_SERVER = "max_channels"  # a new channel, and the server holds its maximum
    #: a new channel, and as many as may be were opened from the joiner's address
    TOO_MANY_FROM_ADDRESS = "channels_per_address"
    BANNED = "banned"  # +b names them (474)
    INVITE_ONLY = "invite_only"  # +i and not invited (473)
    BAD_KEY = "bad_key"  # +k and not that key (475)
    FULL = "full"  # +l reached (471)


@dataclass(frozen=True)
class SpeakRefused:
    """Why a message to a channel was not relayed (``send_to_channel``): ``why`` is one of
    ``outside`` (+n), ``moderated`` (+m), ``muted`` (+q), ``banned`` (+b), ``slow`` (+S).
    ``seconds``: how long to wait (slow mode) or until a timed mute or ban ends (0: none)."""

    why: str
    seconds: int = 0

    def text(self) -> str:
        """What the sender reads, in its language (the 404's text, and plain users' line)."""
        if self.why == "slow":
            return tr("Slow mode is on: wait {seconds} s before your next message").format(
                seconds=self.seconds
            )
        if self.why == "muted":
            if self.seconds:
                return tr("You are muted in this channel for {seconds} s more").format(
                    seconds=self.seconds
                )
            return tr("You are muted in this channel")
        if self.why == "banned":
            return tr("You are banned from this channel")
        if self.why == "moderated":
            return tr("The channel is moderated: only the teacher and those with voice speak")
        return tr("Cannot send to channel: you are not in it")


class ModeRefused(NamedTuple):
    """A change of a MODE line (or a KICK, an INVITE) that was not made: ``why`` is one of
    ``chanop`` (482), ``nosuchnick`` (401), ``notinchannel`` (441), ``notonchannel`` (442),
    ``listfull`` (478), ``invalid`` (696), ``onchannel`` (443), ``teacher`` (482: only a
    teacher may remove a teacher or take its status); ``target``: the nick, mask
    or letter concerned; ``detail``: the reason of an ``invalid`` one."""

    why: str
    target: str = ""
    letter: str = ""
    detail: str = ""


class RedactRefused(Enum):
    """Why ``Rooms.redact`` did not delete a message (each a ``FAIL REDACT`` code)."""

    UNKNOWN_MSGID = "UNKNOWN_MSGID"  # not kept in that channel (never, or no longer)
    REDACT_FORBIDDEN = "REDACT_FORBIDDEN"  # neither its author nor a teacher or operator
    #: not a member (nor a teacher): told what a channel that does not exist is told, so
    #: an outsider learns neither that a message exists nor that a +s channel does
    INVALID_TARGET = "INVALID_TARGET"


class WhoRow(NamedTuple):
    """One person as WHO and WHOIS describe them."""

    channel: str  # the channel asked about, or "*"
    nick: str
    username: str
    host: str
    realname: str
    away: str = ""  # their away message ("": here)
    status: str = ""  # its status letters in ``channel`` ("" for "*")
    teacher: bool = False
    account: str = ""  # the account they are logged in to ("": none)


class GoneRow(NamedTuple):
    """Someone who had a nick and no longer has it (quit or renamed), for WHOWAS."""

    nick: str
    username: str
    host: str
    realname: str
    when: float  # time.time() when they left the nick


class Lusers(NamedTuple):
    """The counts LUSERS tells."""

    users: int  # registered people
    teachers: int  # those of them who are teachers (IRC operators)
    channels: int
    most_users: int  # the most registered at once since the server started


class NickRefused(Enum):
    """Why a nick cannot be someone's (``Rooms.nick_refusal``)."""

    RESERVED = "reserved"  # a reserved word or the server's name: 432
    REGISTERED = "registered"  # an account's, and they are not logged in to it: 433
    IN_USE = "in use"  # someone else's now: 433


class Session:
    """One connected person, registered or not (see the module docstring for threading).

    The base of every kind of client and the ``ConnectionHandler`` of its connection:
    subclasses implement ``on_line``, ``render`` and ``goodbye`` (and may add to the
    timers); the base gives every kind the registration timeout, saves history at the end
    of each batch and leaves the rooms when the connection ends.
    """

    def __init__(self, rooms: Rooms, conn: Connection) -> None:
        self.rooms = rooms
        self.settings = rooms.settings
        self.conn = conn
        self.serial = next(_session_serials)  # unique: one end of a private conversation
        self.registered = False  # written under Rooms' lock
        #: it quit, or was removed or replaced: its connection is closing, its timers stop
        #: (written under Rooms' lock)
        self.left = False
        self.nick = ""  # written under Rooms' lock once registered (see the module docstring)
        self.username = "user"
        self.realname = ""
        #: the account it logged in to (SASL/REGISTER), guarded by Rooms' lock
        self.account: str | None = None
        #: a teacher: IRC operator, channel operator wherever it is (Rooms' lock)
        self.teacher = False
        self.away = ""  # its away message ("": here), guarded by Rooms' lock
        #: IRCv3 echo-message: its own PRIVMSG, NOTICE and TAGMSG come back to it once
        #: relayed (a boolean set on its reader thread, read under Rooms' lock)
        self.echo_message = False
        #: irc_lower(channel name) of the channels it was invited to and has not joined
        #: since (a dict as an ordered set, at most MAX_INVITES; Rooms' lock)
        self.invited: dict[str, None] = {}
        #: the secret of a client that negotiated charla.chat/session (see net.client),
        #: and its public alias, used in the msgids of its messages
        self.token: str | None = None
        self.alias = ""
        #: irc_lower(channel name) -> Channel: Rooms' bookkeeping, guarded by its lock
        #: (sessions ask ``rooms.channels_of(self)``)
        self.channels: dict[str, Channel] = {}

    @property
    def prefix(self) -> str:
        return f"{self.nick}!{self.username}@{self.conn.host}"

    # -- what Rooms asks of a session (under its lock: build bytes, nothing else) ---------

    def understands_redaction(self) -> bool:
        """Whether it is told of a deleted message with REDACT (IRCv3 message redaction);
        the others get a notice saying who deleted whose message."""
        return False

    def render(self, out: Outgoing) -> bytes | None:
        """The bytes this session's peer should get for ``out`` (None: nothing)."""
        raise NotImplementedError

    def joined_replies(self, channel: ChannelView, recent: list[Outgoing]) -> bytes:
        """What the joiner gets right after its own JOIN (topic, names, recent history)."""
        return b""

    # -- the ConnectionHandler side (on the connection's reader thread) -------------------

    def on_line(self, line: str | None) -> None:
        raise NotImplementedError

    def goodbye(self, reason: str) -> bytes:
        """The last line before the server closes this connection."""
        raise NotImplementedError

    def registration_timeout(self) -> float:
        """Seconds this kind of client has to register (a program, unless overridden)."""
        return self.settings.registration_timeout

    def next_deadline(self) -> float:
        if self.registered or self.left:
            return NO_DEADLINE
        return self.conn.opened_at + self.registration_timeout()

    def on_deadline(self, now: float) -> None:
        if now >= self.next_deadline():
            self.conn.finish("Registration timed out", tell_peer=True)

    def on_batch_done(self) -> None:
        self.rooms.persist_history()

    def on_closed(self, reason: str) -> None:
        self.rooms.quit(self, reason)


def _same_client(holder: Session, session: Session | None) -> bool:
    """Two connections of one client: both proved the same session token."""
    return session is not None and holder.token is not None and holder.token == session.token


def _owns(session: Session | None, key: str) -> bool:
    """Whether ``session`` is logged in to the account whose name has ``nick_key`` ``key``
    ("": none) (read under Rooms' lock, or by the session's own thread: see ``Rooms.log_in``)."""
    return session is not None and session.account is not None and nick_key(session.account) == key


def _may_take(session: Session | None, refused: NickRefused, owner: str) -> bool:
    """Whether ``session`` may have a nick refused to others: it is logged in to the
    account the nick is (``owner``), or the nick is a reserved word and it is a teacher
    (the hosting window's teacher, made by OPER, may call itself "Profe"); Rooms' lock held."""
    return _owns(session, owner) or (
        refused is NickRefused.RESERVED and session is not None and session.teacher
    )


class UploadTokens(Protocol):
    def token_for(self, session: Session) -> str:
        """The token ``session`` uploads files with (``net.uploads``)."""


class Rooms:
    """Nicks, channels and the relay between sessions (see the module docstring)."""

    def __init__(
        self, settings: Settings, history: ChannelHistory, accounts: AccountStore | None = None
    ) -> None:
        self.settings = settings
        self.created = time.time()
        self._lock = threading.Lock()  # guards the state listed in the module docstring
        self._nicks: dict[str, Session] = {}  # nick_key(nick) -> registered session
        self._channels: dict[str, Channel] = {}  # irc_lower(name) -> channel
        #: Connection.counted_as -> how many of the channels were opened from it
        self._opened_from: dict[str, int] = {}
        #: Connection.counted_as -> how many bans and quiets set from it are listed (not
        #: a teacher's); at most ENTRIES_PER_ADDRESS
        self._entries_from: dict[str, int] = {}
        #: the kept messages; guarded by _lock (its database has a lock of its own)
        self.history = history
        #: the private conversations' messages (memory only: ``net.chathistory``)
        self.private_history = PrivateHistory()
        #: the server's password and who has been guessing it (thread-safe on its own)
        self.guard = PasswordGuard(settings.password)
        #: the accounts and teachers (``net.accounts``; thread-safe on its own, with a lock
        #: never taken together with ours): in memory only unless the server gives one
        self.accounts = accounts if accounts is not None else AccountStore(None)
        #: sign-ins: a few lines per address and minute (one student may sign in and out
        #: in a loop); thread-safe on its own
        self._by_address = AddressLog()
        self._boot_id = os.urandom(4).hex()  # makes server-made msgids unique across runs
        #: WHOWAS: serial number -> nick_key of who left that nick, oldest first; at most
        #: WHOWAS_SIZE entries in all
        self._gone: OrderedDict[int, str] = OrderedDict()
        #: nick_key(nick) -> (serial, row) of the newest WHOWAS_PER_NICK under it, oldest first
        self._gone_by_nick: dict[str, deque[tuple[int, GoneRow]]] = {}
        self._gone_serials = itertools.count()
        self._most_users = 0  # the most registered at once (LUSERS 265/266)
        #: how many connections have not registered yet (LUSERS 253): the server's count,
        #: which the server sets here (it takes the server's own lock, never this one)
        self.count_unregistered: Callable[[], int] = lambda: 0
        self._msgids = itertools.count(1)
        self.default_channel = Channel(settings.channel)
        self._channels[irc_lower(settings.channel)] = self.default_channel
        history.keep_always(irc_lower(settings.channel))
        #: the soonest end of a timed ban or quiet (``time.monotonic()``; NO_DEADLINE: none).
        #: Written under the lock; the server's timer reads it without (a float).
        self.next_expiry = NO_DEADLINE
        #: the clock of slow mode and of timed bans and quiets (tests may set their own)
        self.clock: Callable[[], float] = time.monotonic
        #: called (without the lock) when a timed entry was added, so the timer looks again
        self.on_timer_changed: Callable[[], None] | None = None
        #: the pictures' desk (``net.uploads.Uploads``, set by the server; None: no
        #: uploads): IRC sessions ask it for their upload token (``token_for``)
        self.uploads: UploadTokens | None = None
        #: called (without the lock) with the msgid of each deleted message (REDACT), so
        #: the file it announced is deleted too
        self.on_redacted: Callable[[str], None] | None = None
        history.on_saving_changed = self._history_saving_changed

    def restore_topics(self) -> None:
        """Give the channels the topics history kept (once its database is open)."""
        with self._lock:
            for channel in self._channels.values():
                self._restore_topic(channel)
                self._restore_entries(channel)

    def persist_history(self) -> None:
        """Write the kept messages to disk (never under the lock; see ``net.history``)."""
        self.history.persist()

    # -- nicks ------------------------------------------------------------------------

    def nick_refusal(self, nick: str, session: Session | None = None) -> NickRefused | None:
        """Why ``session`` may not have ``nick`` (None: it may). A reserved nick, or one
        that is an account's, is only for a session logged in to the account of that
        name; otherwise it must be free, or held by ``session`` itself, by its own earlier
        connection, or by an earlier connection logged in to that same account."""
        key = nick_key(nick)
        refused, owner = self._reserved_for_others(nick)
        with self._lock:
            if refused is not None and not _may_take(session, refused, owner):
                return refused
            holder = self._nicks.get(key)
            if holder is None or holder is session or self._may_replace(holder, session, owner):
                return None
        return NickRefused.IN_USE

    def nick_available(self, nick: str, session: Session | None = None) -> bool:
        """Whether ``session`` may have ``nick`` (see ``nick_refusal``)."""
        return self.nick_refusal(nick, session) is None

    def _reserved_for_others(self, nick: str) -> tuple[NickRefused | None, str]:
        """REGISTERED if ``nick`` or a look-alike (``net.accounts.skeleton``) is an
        account's, RESERVED if it is a reserved word's, with the ``nick_key`` of the
        account whose sessions may have it ("": none may; the nick's own key when it is
        nobody's). Asked without our lock: the accounts have their own."""
        owner = self.accounts.owner(nick)
        if owner is not None:
            return NickRefused.REGISTERED, nick_key(owner)
        if is_reserved(nick, self.settings.server_name):
            if self.accounts.is_teacher(nick):  # --teacher profe, not registered yet
                return NickRefused.REGISTERED, nick_key(nick)
            return NickRefused.RESERVED, ""
        return None, nick_key(nick)

    @staticmethod
    def _may_replace(holder: Session, session: Session | None, owner: str) -> bool:
        """``holder`` is ``session``'s own earlier connection: the same session token, or
        both logged in to the account this nick belongs to (``owner``, its ``nick_key``: a
        teacher back after a Wi-Fi blip takes its nick back from its ghost, and nobody can
        snipe it meanwhile)."""
        return _same_client(holder, session) or (_owns(holder, owner) and _owns(session, owner))

    def suggest_nick(self, nick: str) -> str:
        """A free nickname close to ``nick`` (Ana -> Ana2), to offer when it is taken."""
        base = nick[:27] if is_valid_nick(nick) else "invitado"
        with self._lock:
            for number in range(2, 1000):
                candidate = f"{base}{number}"
                if nick_key(candidate) not in self._nicks:
                    return candidate
        return f"{base}_{int(time.time()) % 1000}"

    def register(self, session: Session) -> bool:
        """Claim ``session.nick`` for a session finishing registration; False if it is taken.

        If the holder is this client's own earlier connection (same session token, or
        logged in to the account of that name: ``_may_replace``), it leaves and the nick
        passes to ``session`` in the same lock section, so no third client can take it in
        between; then that old connection is told and closed. A reserved or registered
        nick is refused unless ``session`` is logged in to its account (``nick_refusal``).
        """
        key = nick_key(session.nick)
        refused, owner = self._reserved_for_others(session.nick)
        ghost, to_flush = None, []
        with self._lock:
            if session.left:  # kicked or replaced while its registration was on its way
                return False
            if refused is not None and not _may_take(session, refused, owner):
                return False
            holder = self._nicks.get(key)
            if holder is not None:
                if not self._may_replace(holder, session, owner):
                    return False
                ghost, to_flush = holder, self._quit_locked(holder, "Reconnected")
            self._nicks[key] = session
            session.registered = True
            self._most_users = max(self._most_users, len(self._nicks))
        if ghost is not None:
            if (more := self._by_address.note(session.conn.counted_as)) is not None:
                log.info(
                    tr("%s reclaims %s from its earlier connection%s"),
                    session.conn.ip,
                    session.nick,
                    more,
                )
            flush_soon(to_flush)
            ghost.conn.send(ghost.goodbye("Reconnected"))
            ghost.conn.close_when_sent("Reconnected")
        if (more := self._by_address.note(session.conn.counted_as)) is not None:
            log.info(tr("%s joined as %s%s"), session.conn.ip, session.nick, more)
        return True

    def barred_from_renaming(self, session: Session) -> str | None:
        """The name of a channel where ``session`` is banned or muted (a nick that is not
        a channel operator's), which it may not escape by taking another nick; None when
        it may rename (ERR_BANNICKCHANGE, as Charybdis and Solanum do)."""
        with self._lock:
            if session.teacher:
                return None
            now = self.clock()
            for channel in session.channels.values():
                status = channel.members.get(session, "")
                lists = channel.modes.lists
                if "o" in status or not (lists["b"] or lists["q"]):
                    continue
                tag = (session.nick, session.account)
                if channel.modes.barred(session, tag, partial(_identity, session), now):
                    return channel.name
        return None

    def rename(self, session: Session, new_nick: str) -> bool:
        """Change a registered session's nick and tell everyone who shares a channel."""
        new_key, old_key = nick_key(new_nick), nick_key(session.nick)
        refused, owner = self._reserved_for_others(new_nick)
        with self._lock:
            if refused is not None and not _may_take(session, refused, owner):
                return False
            if session.left or self._nicks.get(old_key) is not session:
                return False  # it has left, and its old nick may be someone else's now
            holder = self._nicks.get(new_key)
            if holder is not None and holder is not session:
                return False
            out = Outgoing(Message("NICK", [new_nick], source=session.prefix))
            self._remember_gone_locked(session, old_key)
            del self._nicks[old_key]
            self._nicks[new_key] = session
            session.nick = new_nick
            recipients = self._neighbours_locked(session)
            recipients[session] = None
            to_flush = self._deliver_locked(recipients, out)
        flush_soon(to_flush)
        return True

    def quit(self, session: Session, reason: str) -> None:
        """Free the nick, leave every channel and tell the others; safe to call twice."""
        with self._lock:
            to_flush = self._quit_locked(session, reason)
        flush_soon(to_flush)

    # -- accounts ---------------------------------------------------------------------

    def log_in(self, session: Session, account: str) -> None:
        """``session`` proved it owns ``account`` (SASL, REGISTER, a plain-text prompt);
        a teacher account makes it a teacher (``make_teacher``)."""
        with self._lock:
            session.account = account
        if self.accounts.is_teacher(account):
            self.make_teacher(session)

    def account_of(self, session: Session) -> str | None:
        """The account ``session`` is logged in to (None: none)."""
        with self._lock:
            return session.account

    # -- channels ---------------------------------------------------------------------

    def join(self, session: Session, name: str, key: str = "") -> Channel | JoinRefused | None:
        """Add ``session`` to channel ``name`` (created if new); everyone there sees the JOIN,
        and the joiner its ``joined_replies``. None if the session has left already; a
        ``JoinRefused`` past the channel limits or its modes (``+k``, ``+l``, ``+i``, ``+b``,
        checked in that order; a teacher passes them all, an invitation passes ``+i`` and
        ``+l``, as Modern IRC has it, never a ban or the key):
        nothing changes, nobody is told. The creator of a new channel is its operator (not
        of the default one, which exists from the start, nor of one teachers claimed: see
        ``claim``); a teacher is operator anywhere."""
        folded = irc_lower(name)
        restored_timed = False  # a timed ban or quiet came back with the channel
        with self._lock:
            if session.left:  # a line it sent before it was kicked or replaced
                return None
            channel = self._channels.get(folded)
            if channel is not None and session in channel.members:
                return channel
            if len(session.channels) >= self.settings.channels_per_person:
                return JoinRefused.TOO_MANY_FOR_PERSON
            status = "o" if session.teacher else ""
            created = channel is None
            if channel is not None and not session.teacher:
                refused = self._join_refused_locked(session, channel, key)
                if refused is not None:
                    return refused
            if channel is None:
                if len(self._channels) >= self.settings.max_channels:
                    return JoinRefused.TOO_MANY_ON_SERVER
                address = session.conn.counted_as
                if self._opened_from.get(address, 0) >= self.settings.channels_per_address:
                    return JoinRefused.TOO_MANY_FROM_ADDRESS
                self.history.occupied(folded)  # forgets it first if it has expired
                channel = self._channels[folded] = Channel(name, opened_from=address)
                self._opened_from[address] = self._opened_from.get(address, 0) + 1
                self._restore_topic(channel)
                restored_timed = self._restore_entries(channel)
                banned = (
                    None if session.teacher else self._join_refused_locked(session, channel, key)
                )
                if banned is not None:  # a ban that outlived the channel: it is not made
                    del self._channels[folded]
                    if self._opened_from[address] > 1:
                        self._opened_from[address] -= 1
                    else:
                        del self._opened_from[address]
                    self.history.vacated(folded)
                    return banned
                if session.teacher or not self._claimed_locked(folded):
                    status = "o"  # the creator rule, but not in a channel teachers claimed
            session.invited.pop(folded, None)
            channel.members[session] = status
            session.channels[folded] = channel
            out = Outgoing(Message("JOIN", [channel.name], source=session.prefix))
            to_flush = self._deliver_locked(channel.members, out)
            if session.away:  # IRCv3 away-notify: those who asked learn it with the JOIN
                away = Outgoing(Message("AWAY", [session.away], source=session.prefix))
                others = (member for member in channel.members if member is not session)
                to_flush += self._deliver_locked(others, away)
            if status and not created:  # a teacher: the others see it is an operator
                mode = Message(
                    "MODE", [channel.name, "+o", session.nick], self.settings.server_name
                )
                to_flush += self._deliver_locked(
                    (m for m in channel.members if m is not session), Outgoing(mode)
                )
            recent = self.history.recent(folded, self.settings.history_replay)
            try:
                session.conn.enqueue(session.joined_replies(self._view_locked(channel), recent))
            except Exception as exc:  # a bug, not the joiner's: it stays in, without these lines
                _bugs.report(f"what {session.nick} sees on joining {name} failed", exc)
        flush_soon([*to_flush, session.conn])
        if restored_timed and self.on_timer_changed is not None:
            self.on_timer_changed()
        return channel

    def part(self, session: Session, channel: Channel, reason: str) -> None:
        """Leave ``channel``; the reason is dropped when ``session`` may not speak there
        (muted, banned, +m without voice), or PART-and-rejoin would be a way to talk."""
        with self._lock:
            if session.left or session not in channel.members:
                return
            if reason and self._silenced_locked(session, channel):
                reason = ""
            params = [channel.name, reason] if reason else [channel.name]
            out = Outgoing(Message("PART", params, source=session.prefix))
            to_flush = self._deliver_locked(channel.members, out)
            self._leave_locked(session, channel)
        flush_soon(to_flush)

    def set_away(self, session: Session, text: str) -> None:
        """Mark ``session`` away with ``text`` ("": back); those who share a channel with it
        and asked for IRCv3 ``away-notify`` see an ``AWAY`` line (the others' ``render``
        drops it)."""
        params = [text] if text else []
        out = Outgoing(Message("AWAY", params, source=session.prefix))
        with self._lock:
            if session.left or not session.registered or session.away == text:
                return  # gone, or nothing changes: nobody is told again
            session.away = text
            # not to a channel where it is muted or banned: an away text is words too
            # (under +m it is: whether someone is away is the class's business)
            recipients: dict[Session, None] = {}
            for channel in session.channels.values():
                if not self._silenced_locked(session, channel, moderated=False):
                    recipients.update(channel.members)
            recipients.pop(session, None)
            to_flush = self._deliver_locked(recipients, out)
        flush_soon(to_flush)

    def set_topic(self, session: Session, channel: Channel, topic: str) -> bool:
        """Set the topic; False (nothing changes) when ``+t`` keeps it to operators and
        ``session`` is none, or when it may not speak there (muted, banned, +m without
        voice: a topic is words to the channel) (482)."""
        out = Outgoing(Message("TOPIC", [channel.name, topic], source=session.prefix))
        with self._lock:
            if session.left or session not in channel.members:  # see send_to_channel
                return True
            if "t" in channel.modes.flags and not self._is_op_locked(session, channel):
                return False
            if self._silenced_locked(session, channel):
                return False
            if topic == channel.topic:  # the same again: nothing to tell anyone
                return True
            channel.topic, channel.topic_by, channel.topic_at = topic, session.prefix, out.time
            self.history.set_topic(irc_lower(channel.name), topic, session.prefix, out.time)
            to_flush = self._deliver_locked(channel.members, out)
        flush_soon(to_flush)
        return True

    def redact(
        self, session: Session, channel: Channel, msgid: str, reason: str
    ) -> RedactRefused | None:
        """Delete a kept message of ``channel`` (IRCv3 message redaction): gone from the
        history (replay and database), and every member told: with ``REDACT`` those who
        understand it, with a notice from the server the others. Its author may delete it
        (the same nick from the same host), and so may a teacher (in the channel or not)
        or a channel operator; None when done. Membership is checked first: an outsider
        gets INVALID_TARGET whether or not the message exists."""
        folded = irc_lower(channel.name)
        params = [channel.name, msgid, reason] if reason else [channel.name, msgid]
        redact = Message("REDACT", params, session.prefix)
        with self._lock:
            if session.left or (session not in channel.members and not session.teacher):
                return RedactRefused.INVALID_TARGET
            kept = self.history.find(folded, msgid)
            if kept is None:
                return RedactRefused.UNKNOWN_MSGID
            author = _Mask.of(kept.message.source or "")
            own = author.nick_key == nick_key(session.nick) and author.host == session.conn.host
            if not (own or self._is_op_locked(session, channel)):
                return RedactRefused.REDACT_FORBIDDEN
            self.history.forget(folded, kept)
            for reaction in list(self.history.messages(folded)):  # its reactions go with it
                if (found := reaction_of(reaction)) is not None and found[0] == msgid:
                    self.history.forget(folded, reaction)
            out = Outgoing(self._with_msgid(redact))
            told = tr("{nick} deleted a message from {author}").format(
                nick=session.nick, author=author.nick
            )
            if reason:
                told = f"{told}: {reason}"
            notice = Outgoing(Message("NOTICE", [channel.name, told], self.settings.server_name))
            members = list(channel.members)
            to_flush = self._deliver_locked((m for m in members if m.understands_redaction()), out)
            to_flush += self._deliver_locked(
                (m for m in members if not m.understands_redaction()), notice
            )
        flush_soon(to_flush)
        if self.on_redacted is not None:
            self.on_redacted(msgid)
        return None

    # -- the relay --------------------------------------------------------------------

    def new_msgid(self) -> str:
        """A unique ``msgid`` for a message whose sender did not give it one."""
        return f"s-{self._boot_id}-{next(self._msgids)}"

    def _with_msgid(self, message: Message) -> Message:
        if "msgid" in message.tags:
            return message
        tags = {**message.tags, "msgid": self.new_msgid()}
        return Message(message.command, message.params, message.source, tags)

    def send_to_channel(
        self, sender: Session, channel: Channel, message: Message
    ) -> SpeakRefused | None:
        """Relay a message to every member of ``channel`` except its sender (and keep it);
        a ``SpeakRefused`` when the channel's modes do not let ``sender`` speak there."""
        out = Outgoing(self._with_msgid(message))
        with self._lock:
            if sender.left:  # said just before it was kicked or replaced: not relayed
                return None
            status = channel.members.get(sender)  # None: an outsider (allowed by -n)
            if status is None or "o" not in status:  # an operator may always speak
                refused = self._speak_refused_locked(
                    sender, channel, status, message.command != "TAGMSG"
                )
                if refused is not None:
                    return refused
            to_flush = self._deliver_locked(
                (
                    member
                    for member in channel.members
                    if member is not sender or sender.echo_message
                ),
                out,
            )
            if message.command != "TAGMSG":
                self.history.record(irc_lower(channel.name), out)
            else:
                self._keep_reaction_locked(sender, irc_lower(channel.name), out)
        flush_soon(to_flush)
        return None

    def _keep_reaction_locked(self, sender: Session, channel_key: str, out: Outgoing) -> None:
        """A reaction (``+draft/react`` on a message's ``+draft/reply``) is kept, once per
        person, message and reaction; an undo (``+draft/unreact``) forgets it. Typing and
        other tag-only lines are only relayed."""
        tags = out.message.tags
        target = next((tags[key] for key in REPLY_TAGS if tags.get(key)), None)
        reaction, undone = tags.get(REACT_TAG), tags.get(UNREACT_TAG)
        if target is None or not (reaction or undone):
            return
        who = nick_key(sender.nick)
        for kept in reversed(self.history.messages(channel_key)):
            if reaction_of(kept) == (target, reaction or undone) and (
                nick_key(kept.message.source_nick or "") == who
            ):
                if undone:
                    self.history.forget(channel_key, kept)
                return  # already kept (or now forgotten)
        if reaction:
            self.history.record(channel_key, out)

    def send_to_session(
        self,
        target: Session,
        message: Message,
        echo_to: Session | None = None,
        sender: Session | None = None,
    ) -> None:
        """Relay a private message (rendered for ``target`` without the lock: one reader),
        and the same line, msgid included, to ``echo_to`` (its sender, with echo-message).
        A PRIVMSG or NOTICE from a ``sender`` is kept in the private conversations'
        history (``net.chathistory``)."""
        out = Outgoing(self._with_msgid(message))
        if sender is not None and message.command in ("PRIVMSG", "NOTICE"):
            try:
                kept = out.kept()
            except Exception as exc:  # what arrives is checked: a bug, not the sender's
                _bugs.report(f"a private {message.command} cannot be kept", exc)
            else:
                with self._lock:
                    self.private_history.record(
                        (identity_of(sender), irc_lower(sender.nick)),
                        (identity_of(target), irc_lower(target.nick)),
                        kept,
                        footprint(kept),
                    )
        for reader in (target, echo_to):
            if reader is None or (reader is echo_to and echo_to is target):
                continue
            try:
                data = reader.render(out)
            except Exception as exc:  # a bug: see _deliver_locked
                _bugs.report(f"{message.command} cannot be rendered for {reader.nick}", exc)
                continue
            if data:
                reader.conn.enqueue(data)
                flush_soon([reader.conn])

    # -- modes, operators and teachers -------------------------------------------------

    def change_modes(
        self,
        session: Session,
        channel: Channel,
        changes: list[ModeChange],
        expires: float | None = None,
    ) -> list[ModeRefused]:
        """Make the changes of one MODE line that ``session`` may make; everyone in the
        channel sees those made as one MODE line. Returns the refused ones (an empty
        list: all made, or nothing to do). ``expires`` (``time.monotonic()``) makes the
        bans and quiets added here timed (``TBAN``, ``TQUIET``)."""
        refused: list[ModeRefused] = []
        made: list[ModeChange] = []
        with self._lock:
            if session.left or not changes:
                return []
            if not self._is_op_locked(session, channel):
                return [ModeRefused("chanop", channel.name)]
            modes = channel.modes
            for change in changes:
                letter, param = change.letter, change.param
                if letter in "ov":
                    target = self._nicks.get(nick_key(param))
                    if target is None:
                        refused.append(ModeRefused("nosuchnick", param, letter))
                        continue
                    old = channel.members.get(target)
                    if old is None:
                        refused.append(ModeRefused("notinchannel", target.nick, letter))
                        continue
                    if target.teacher and not change.adding and not session.teacher:
                        refused.append(ModeRefused("teacher", target.nick, letter))
                        continue
                    new = with_status(old, letter, change.adding)
                    if new != old:
                        channel.members[target] = new
                        made.append(ModeChange(change.adding, letter, target.nick))
                elif letter in LIST_MODES:
                    mask = normal_mask(param)
                    if mask is None:
                        why = tr("not a mask: nick!user@host (* and ? allowed), or $a:account")
                        refused.append(ModeRefused("invalid", param, letter, why))
                    elif change.adding:
                        source = "" if session.teacher else session.conn.counted_as
                        entry = ListEntry(mask, session.prefix, time.time(), expires, source)
                        self._note_person_locked(entry, session)
                        if source and self._entries_from.get(source, 0) >= ENTRIES_PER_ADDRESS:
                            # this address's share of every list is used up
                            refused.append(ModeRefused("listfull", mask, letter, "address"))
                            continue
                        added = modes.add_entry(letter, entry)
                        if added is None:
                            refused.append(ModeRefused("listfull", mask, letter))
                        elif added or expires is not None:
                            if added:
                                self._count_entry_locked(entry, +1)
                            self._save_entry_locked(channel, letter, entry)
                            made.append(ModeChange(True, letter, mask))
                    else:
                        entry = modes.remove_entry(letter, mask) or modes.remove_entry(
                            letter, param
                        )
                        if entry is not None:
                            self._count_entry_locked(entry, -1)
                            self.history.forget_entry(irc_lower(channel.name), letter, entry.mask)
                            made.append(ModeChange(False, letter, entry.mask))
                else:
                    try:
                        done = modes.apply(change)
                    except InvalidParam as exc:
                        refused.append(ModeRefused("invalid", param or "*", letter, str(exc)))
                        continue
                    if done is not None:
                        made.append(done)
            if expires is not None and made:
                self._timer_changed_locked(expires)
            ends = None if expires is None else time.time() + expires - self.clock()
            to_flush = self._tell_modes_locked(channel, made, session.prefix, ends)
        flush_soon(to_flush)
        if expires is not None and made and self.on_timer_changed is not None:
            self.on_timer_changed()
        return refused

    def _note_person_locked(self, entry: ListEntry, setter: Session) -> None:
        """A ban or mute on ``nick!*@*`` while that nick is here holds the person: their
        host (not when it is the setter's own) and account go with the entry, so a student
        does not get round it by coming back under another nick."""
        nick, _, rest = entry.mask.partition("!")
        if rest != "*@*" or any(c in nick for c in "*?"):
            return
        person = self._nicks.get(nick_key(nick))
        if person is None or person is setter:
            return
        if person.conn.host != setter.conn.host:
            entry.person_host = irc_lower(person.conn.host)
        if person.account:
            entry.person_account = irc_lower(person.account)

    def _tell_modes_locked(
        self, channel: Channel, made: list[ModeChange], source: str, ends: float | None = None
    ) -> list[Connection]:
        """Everyone in ``channel`` sees the changes ``made``, as one MODE line (as few as
        keep each inside 512 bytes: four long masks and a long prefix would not fit).
        ``ends`` (wall clock) of a timed ban or mute goes with it as the ``ENDS_TAG`` tag."""
        tags = {} if ends is None else {ENDS_TAG: str(round(ends))}
        to_flush: list[Connection] = []
        room = MODE_LINE_BYTES - len(source.encode()) - len(channel.name.encode())
        while made:
            text, params, sign, size, taken = "", [], "", 0, 0
            for change in made:
                extra = len(change.param.encode()) + 3  # a space, a letter, maybe a sign
                if taken and size + extra > room:
                    break
                wanted = "+" if change.adding else "-"
                if wanted != sign:
                    text += wanted
                    sign = wanted
                text += change.letter
                if change.param:
                    params.append(change.param)
                size += extra
                taken += 1
            made = made[taken:]
            out = Outgoing(Message("MODE", [channel.name, text, *params], source, dict(tags)))
            to_flush += self._deliver_locked(channel.members, out)
        return to_flush

    def mode_reply(self, session: Session, channel: Channel) -> list[str]:
        """The channel's mode string and parameters (324); the key only for its members."""
        with self._lock:
            return channel.modes.describe(with_key=session in channel.members)

    def list_entries(self, channel: Channel, letter: str) -> list[ListEntry]:
        """The bans (``b``), quiets (``q``) or invite exceptions (``I``) of ``channel``
        still in force, oldest first."""
        now = self.clock()
        with self._lock:
            return [
                entry
                for entry in channel.modes.lists[letter].values()
                if entry.expires is None or now < entry.expires
            ]

    def status_in(self, session: Session, channel: Channel) -> str | None:
        """``session``'s status letters in ``channel`` (None: not a member)."""
        with self._lock:
            return channel.members.get(session)

    def kick(
        self, session: Session, channel: Channel, nick: str, reason: str
    ) -> ModeRefused | None:
        """``session`` removes ``nick`` from ``channel`` (everyone there sees the KICK);
        a ``ModeRefused`` (442, 482, 401, 441) when it may not or cannot."""
        with self._lock:
            if session.left:
                return None
            if session not in channel.members and not session.teacher:
                return ModeRefused("notonchannel", channel.name)
            if not self._is_op_locked(session, channel):
                return ModeRefused("chanop", channel.name)
            target = self._nicks.get(nick_key(nick))
            if target is None:
                return ModeRefused("nosuchnick", nick)
            if target not in channel.members:
                return ModeRefused("notinchannel", target.nick)
            if target.teacher and not session.teacher:  # a student's channel is no exception
                return ModeRefused("teacher", target.nick)
            out = Outgoing(
                Message("KICK", [channel.name, target.nick, reason or session.nick], session.prefix)
            )
            to_flush = self._deliver_locked(channel.members, out)
            self._leave_locked(target, channel)
        flush_soon(to_flush)
        return None

    def invite(self, session: Session, nick: str, channel: Channel) -> Session | ModeRefused:
        """``session`` invites ``nick`` to ``channel``: the invitee gets an INVITE and may
        then join past ``+i`` (only that). Refused: 442, 482 (``+i`` and not an
        operator), 401, 443 (already there)."""
        with self._lock:
            if session.left:
                return ModeRefused("notonchannel", channel.name)
            if session not in channel.members and not session.teacher:
                return ModeRefused("notonchannel", channel.name)
            if "i" in channel.modes.flags and not self._is_op_locked(session, channel):
                return ModeRefused("chanop", channel.name)
            target = self._nicks.get(nick_key(nick))
            if target is None:
                return ModeRefused("nosuchnick", nick)
            if target in channel.members:
                return ModeRefused("onchannel", target.nick)
            invited = target.invited
            invited.pop(irc_lower(channel.name), None)
            invited[irc_lower(channel.name)] = None
            while len(invited) > MAX_INVITES:
                del invited[next(iter(invited))]
            out = Outgoing(Message("INVITE", [target.nick, channel.name], session.prefix))
            to_flush = self._deliver_locked([target], out)
        flush_soon(to_flush)
        return target

    def invitations(self, session: Session) -> list[str]:
        """The channels ``session`` was invited to and has not joined since (names)."""
        with self._lock:
            return [
                channel.name
                for key in session.invited
                if (channel := self._channels.get(key)) is not None
            ]

    def make_teacher(self, session: Session) -> None:
        """Mark ``session`` a teacher: an IRC operator, and channel operator in every
        channel it is in (everyone there sees the MODE) and every one it joins."""
        server_name = self.settings.server_name
        with self._lock:
            if session.left:
                return
            session.teacher = True
            to_flush: list[Connection] = []
            for channel in session.channels.values():
                status = channel.members.get(session, "")
                if "o" not in status:
                    channel.members[session] = with_status(status, "o", True)
                    made = [ModeChange(True, "o", session.nick)]
                    to_flush += self._tell_modes_locked(channel, made, server_name)
        flush_soon(to_flush)

    def is_teacher(self, session: Session) -> bool:
        with self._lock:
            return session.teacher

    def is_operator(self, session: Session, channel: Channel) -> bool:
        """Whether ``session`` may moderate ``channel``: a teacher, or its operator."""
        with self._lock:
            return self._is_op_locked(session, channel)

    def claim(self, session: Session, name: str, claiming: bool = True) -> str | None:
        """``CLAIM #chan`` (``claiming``) or ``UNCLAIM #chan`` by a teacher: a claimed
        channel belongs to the teachers, as the default one does: its operators who are
        not teachers lose ``+o`` (everyone there sees the MODE), whoever makes it anew
        after it empties is not its operator, and the claim is kept in the history
        database as bans are (it outlives a restart and an emptied channel, and is
        forgotten with them when the channel's history expires). Everyone in the channel
        is told in words, from the server. Refusals: ``"noprivileges"`` (not a teacher:
        481), ``"nosuchchannel"`` (403), ``"default"`` (the default channel is always
        the teachers'); None when done (or nothing to change)."""
        folded = irc_lower(name)
        server_name = self.settings.server_name
        with self._lock:
            if session.left or not session.teacher:
                return "noprivileges"
            channel = self._channels.get(folded)
            if channel is None:
                return "nosuchchannel"
            if channel is self.default_channel:
                return "default"
            if claiming == self._claimed_locked(folded):
                return None
            to_flush: list[Connection] = []
            if claiming:
                saved = SavedEntry(CLAIM_MODE, "*", session.prefix, time.time(), 0.0)
                self.history.keep_entry(folded, saved)
                made = []
                for member, status in channel.members.items():
                    if "o" in status and not member.teacher:
                        channel.members[member] = with_status(status, "o", False)
                        made.append(ModeChange(False, "o", member.nick))
                to_flush += self._tell_modes_locked(channel, made, server_name)
                told = tr("{teacher} claimed {channel}: it now belongs to the teachers")
            else:
                self.history.forget_entry(folded, CLAIM_MODE, "*")
                told = tr("{teacher} gave {channel} back: it no longer belongs to the teachers")
            told = told.format(teacher=session.nick, channel=channel.name)
            notice = Outgoing(Message("NOTICE", [channel.name, told], server_name))
            recipients = dict.fromkeys(channel.members)
            recipients[session] = None  # a teacher outside the channel hears it too
            to_flush += self._deliver_locked(recipients, notice)
        flush_soon(to_flush)
        return None

    def _claimed_locked(self, folded: str) -> bool:
        return any(saved.mode == CLAIM_MODE for saved in self.history.entries.get(folded, ()))

    def expire_due(self, now: float | None = None) -> None:
        """Remove the timed bans and quiets whose time is up; each channel sees
        ``MODE -b``/``-q`` from the server. Called by the server's timer (``net.server``)
        when ``next_expiry`` has passed; harmless at any other time."""
        now = self.clock() if now is None else now
        server_name = self.settings.server_name
        to_flush: list[Connection] = []
        with self._lock:
            if now < self.next_expiry:
                return
            soonest = NO_DEADLINE
            for channel in self._channels.values():
                gone = channel.modes.expired(now)
                for letter, entry in gone:
                    self._count_entry_locked(entry, -1)
                    self.history.forget_entry(irc_lower(channel.name), letter, entry.mask)
                if gone:
                    made = [ModeChange(False, letter, entry.mask) for letter, entry in gone]
                    for start in range(0, len(made), MAX_PARAM_CHANGES):
                        batch = made[start : start + MAX_PARAM_CHANGES]
                        to_flush += self._tell_modes_locked(channel, batch, server_name)
                later = channel.modes.next_expiry()
                if later is not None:
                    soonest = min(soonest, later)
            self.next_expiry = soonest
        flush_soon(to_flush)

    def _timer_changed_locked(self, expires: float) -> None:
        self.next_expiry = min(self.next_expiry, expires)

    def first_delivery(self, alias: str, seq: int) -> bool:
        """Whether message ``seq`` of the Charla client ``alias`` is new (and note it)."""
        with self._lock:
            return not self.history.seen_before(alias, seq)

    # -- snapshots for replies --------------------------------------------------------

    def find_session(self, nick: str) -> Session | None:
        with self._lock:
            return self._nicks.get(nick_key(nick))

    def find_channel(self, name: str) -> Channel | None:
        with self._lock:
            return self._channels.get(irc_lower(name))

    def history_of(self, session: Session, target: str) -> tuple[str, list[KeptMessage]] | None:
        """For ``CHATHISTORY``: the target's name as shown and its kept messages, oldest
        first (a copy). A channel's only for its members (None otherwise, the same answer
        as for a channel that does not exist); a nick's: the private conversation between
        ``session`` and whoever had that nick (``net.chathistory``)."""
        with self._lock:
            if target[:1] in "#&":
                channel = self._channels.get(irc_lower(target))
                if channel is None or session not in channel.members:
                    return None
                return channel.name, list(self.history.messages(irc_lower(target)))
            if not is_valid_nick(target):
                return None
            return target, self.private_history.conversation(identity_of(session), target)

    def history_targets(self, session: Session) -> dict[str, float]:
        """For ``CHATHISTORY TARGETS``: each channel ``session`` is in and each person it
        talked with in private -> the time of the newest kept message there."""
        with self._lock:
            found = self.private_history.targets(identity_of(session))
            for folded, channel in session.channels.items():
                messages = self.history.messages(folded)
                if messages:
                    found[channel.name] = messages[-1].time
            return found

    def lookup_channel(self, name: str, session: Session) -> tuple[Channel | None, bool]:
        """The channel called ``name`` (None if there is none) and whether ``session`` is in it."""
        with self._lock:
            channel = self._channels.get(irc_lower(name))
            return channel, channel is not None and session in channel.members

    def channels_of(self, session: Session) -> list[Channel]:
        """The channels ``session`` is in, in joining order."""
        with self._lock:
            return list(session.channels.values())

    def view(self, channel: Channel) -> ChannelView:
        with self._lock:
            return self._view_locked(channel)

    def counts(self) -> tuple[int, int]:
        """(registered people, channels)."""
        with self._lock:
            return len(self._nicks), len(self._channels)

    def lusers(self) -> Lusers:
        with self._lock:
            teachers = sum(1 for session in self._nicks.values() if session.teacher)
            return Lusers(len(self._nicks), teachers, len(self._channels), self._most_users)

    def userhosts(self, nicks: Iterable[str]) -> list[tuple[WhoRow, bool]]:
        """Who each of ``nicks`` is and whether they are a teacher, for those registered,
        in the order asked."""
        with self._lock:
            found = [self._nicks.get(nick_key(nick)) for nick in nicks]
            return [(_who_row("*", s), s.teacher) for s in found if s is not None]

    def ison(self, nicks: Iterable[str]) -> list[str]:
        """The nicks, as their holders spell them, of those of ``nicks`` who are here."""
        with self._lock:
            found = [self._nicks.get(nick_key(nick)) for nick in nicks]
            return [session.nick for session in found if session is not None]

    def whowas(self, nick: str, count: int = 0) -> list[GoneRow]:
        """Who had ``nick`` (as ``nick_key`` sees it) and no longer has it, newest first;
        at most ``count`` of them (0 or less: all that are remembered)."""
        with self._lock:
            rows = [row for _, row in reversed(self._gone_by_nick.get(nick_key(nick), ()))]
        return rows[:count] if count > 0 else rows

    def names_view(self, channel: Channel, asker: Session | None) -> ChannelView | None:
        """``view``, or None when ``channel`` is secret (+s) and ``asker`` is not in it."""
        with self._lock:
            return self._view_locked(channel) if self._visible_locked(channel, asker) else None

    def list_rows(
        self, wanted: set[str] | None = None, asker: Session | None = None
    ) -> list[tuple[str, int, str]]:
        """(name, members, topic) of every channel with someone in it, or of those whose
        irc_lower name is wanted (named, even if empty); secret ones only for their members
        (``asker``). The default channel exists before anyone is in it, but a channel
        nobody is in is not one IRC lists (clients and conformance suites expect a fresh
        server's LIST to be empty)."""
        with self._lock:
            return [
                (channel.name, len(channel.members), channel.topic)
                for key, channel in self._channels.items()
                if (key in wanted if wanted is not None else bool(channel.members))
                and self._visible_locked(channel, asker)
            ]

    def who(self, mask: str, asker: Session | None = None) -> list[WhoRow]:
        """The members of the channel ``mask`` (none if it is secret and ``asker`` is not in
        it), else everyone whose nick matches the glob."""
        folded = irc_lower(mask)
        with self._lock:
            channel = self._channels.get(folded)
            if channel is not None:
                if not self._visible_locked(channel, asker):
                    return []
                return [
                    _who_row(channel.name, member, status)
                    for member, status in channel.members.items()
                ]
            return [
                _who_row("*", session)
                for session in self._nicks.values()
                if mask_match(folded, irc_lower(session.nick))
            ]

    def whois(self, nick: str, asker: Session | None = None) -> tuple[WhoRow, list[str]] | None:
        """Who ``nick`` is and the channels they are in, each with the prefix of their
        status there (``@#clase``), secret ones left out unless ``asker`` is in them
        (None: nobody)."""
        with self._lock:
            session = self._nicks.get(nick_key(nick))
            if session is None:
                return None
            channels = [
                status_prefixes(c.members.get(session, "")) + c.name
                for c in session.channels.values()
                if self._visible_locked(c, asker)
            ]
            return _who_row("*", session), channels

    def user_list(self) -> list[tuple[str, str]]:
        """(nick, address) of everyone registered, sorted by nick."""
        with self._lock:
            people = [(s.nick, s.conn.ip) for s in self._nicks.values()]
        return sorted(people, key=lambda person: alphabetical_key(person[0]))

    # -- the operator -----------------------------------------------------------------

    def _history_saving_changed(self, saving: bool, lost: int) -> None:
        """From the history (never under the lock): writing to disk stopped working, or
        works again; everyone connected is told, once each time."""
        if not saving:
            text = tr(
                "History is not being saved to disk right now (the disk may be full): "
                "messages still arrive, but are not saved. The server keeps trying and will "
                "say when it works again."
            )
        elif lost:
            text = ntr(
                "History is being saved to disk again, but {count} message said meanwhile could "
                "not be saved.",
                "History is being saved to disk again, but the {count} oldest messages said "
                "meanwhile could not be saved.",
                lost,
            ).format(count=lost)
        else:
            text = tr("History is being saved to disk again: nothing said meanwhile was lost.")
        self.announce(text)

    def announce(self, text: str) -> int:
        """A notice from the server itself to every registered person; returns how many."""
        server_name = self.settings.server_name
        with self._lock:
            sessions = list(self._nicks.values())
            to_flush = []
            for session in sessions:
                out = Outgoing(Message("NOTICE", [session.nick, text], server_name))
                to_flush += self._deliver_locked([session], out)
        flush_soon(to_flush)
        return len(sessions)

    def announce_in_channels(self, text: str) -> int:
        """An announcement from the server itself in every channel, as a channel NOTICE
        (each client shows it in that channel's tab, not wherever its user looks), kept in
        history so whoever joins later reads it too; returns how many people it reached."""
        server_name = self.settings.server_name
        reached: set[Session] = set()
        with self._lock:
            to_flush = []
            for key, channel in self._channels.items():
                message = self._with_msgid(Message("NOTICE", [channel.name, text], server_name))
                out = Outgoing(message)
                to_flush += self._deliver_locked(channel.members, out)
                self.history.record(key, out)
                reached.update(channel.members)
            for session in self._nicks.values():  # in no channel: told in person
                if not session.channels:
                    out = Outgoing(Message("NOTICE", [session.nick, text], server_name))
                    to_flush += self._deliver_locked([session], out)
                    reached.add(session)
        flush_soon(to_flush)
        return len(reached)

    def remove(self, nick: str, reason: str) -> Session | None:
        """Kick ``nick`` out of every channel (everyone sees the KICK) and free the nick;
        returns the session (whose connection the caller closes), None if nobody has it."""
        server_name = self.settings.server_name
        with self._lock:
            session = self._nicks.get(nick_key(nick))
            if session is None:
                return None
            to_flush = []
            for channel in list(session.channels.values()):
                out = Outgoing(Message("KICK", [channel.name, session.nick, reason], server_name))
                to_flush += self._deliver_locked(channel.members, out)
                self._leave_locked(session, channel)
            to_flush += self._quit_locked(session, f"Kicked: {reason}")
        flush_soon(to_flush)
        return session

    # -- helpers (``_locked``: call with ``_lock`` held) ---------------------------------

    def _count_entry_locked(self, entry: ListEntry, change: int) -> None:
        """Count a ban or quiet in (+1) or out (-1) of its address's share."""
        if entry.set_from:
            left = self._entries_from.pop(entry.set_from, 0) + change
            if left > 0:
                self._entries_from[entry.set_from] = left

    @staticmethod
    def _is_op_locked(session: Session, channel: Channel) -> bool:
        return session.teacher or "o" in channel.members.get(session, "")

    def _join_refused_locked(
        self, session: Session, channel: Channel, key: str
    ) -> JoinRefused | None:
        modes = channel.modes
        if modes.key and key != modes.key:
            return JoinRefused.BAD_KEY
        invited = irc_lower(channel.name) in session.invited
        if modes.limit and len(channel.members) >= modes.limit and not invited:
            return JoinRefused.FULL
        if "i" in modes.flags and not invited:
            # an invite exception (+I) lets in whom it names, as an INVITE would; not
            # past a key, a limit or a ban (Modern IRC, "Invite-Exception Channel Mode")
            exception = modes.lists["I"] and modes.find("I", _identity(session), self.clock())
            if not exception:
                return JoinRefused.INVITE_ONLY
        if modes.lists["b"] and modes.find("b", _identity(session), self.clock()) is not None:
            return JoinRefused.BANNED
        return None

    def _speak_refused_locked(
        self, sender: Session, channel: Channel, status: str | None, counts: bool = True
    ) -> SpeakRefused | None:
        """Whether a non-operator (``status``: its letters, None for an outsider) may speak
        in ``channel``: +n, +b, +q, +m, +S in that order; a teacher always may. A line
        that does not ``count`` (a TAGMSG: typing, a reaction) is not held to slow mode,
        nor takes the turn of the next message."""
        modes = channel.modes
        if sender.teacher:
            return None
        if status is None and ("n" in modes.flags or modes.slow or "m" in modes.flags):
            return SpeakRefused("outside")
        lists = modes.lists
        if lists["b"] or lists["q"]:
            now = self.clock()
            if status is None:  # an outsider: not remembered (only members are, boundedly)
                who = _identity(sender)
                found = next(
                    ((k, e) for k in "bq" if (e := modes.find(k, who, now)) is not None), None
                )
            else:
                tag = (sender.nick, sender.account)  # user and host never change
                found = modes.barred(sender, tag, partial(_identity, sender), now)
            if found is not None:
                letter, entry = found
                left = 0 if entry.expires is None else max(1, round(entry.expires - now))
                return SpeakRefused("banned" if letter == "b" else "muted", left)
        if status:  # voice: +m and slow mode do not apply
            return None
        if "m" in modes.flags:
            return SpeakRefused("moderated")
        if modes.slow and status is not None and counts:
            wait = modes.slow_wait(sender, self.clock())
            if wait:
                return SpeakRefused("slow", wait)
        return None

    def _silenced_locked(
        self, session: Session, channel: Channel, *, moderated: bool = True
    ) -> bool:
        """Whether ``session``'s words may not reach ``channel`` at all: muted, banned, or
        (``moderated``) +m without voice; slow mode only spaces them out."""
        status = channel.members.get(session)
        if status is None or "o" in status:
            return False
        refused = self._speak_refused_locked(session, channel, status, counts=False)
        silencing = ("muted", "banned", "moderated") if moderated else ("muted", "banned")
        return refused is not None and refused.why in silencing

    def _visible_locked(self, channel: Channel, session: Session | None) -> bool:
        """A secret (+s) channel is seen only by its members (and teachers)."""
        return (
            "s" not in channel.modes.flags
            or session is None
            or session in channel.members
            or session.teacher
        )

    def _deliver_locked(self, recipients: Iterable[Session], out: Outgoing) -> list[Connection]:
        """Queue ``out`` for each recipient; returns the connections to flush after unlocking.

        A message that cannot be rendered for someone is a bug (what arrives is checked
        before it is relayed): logged, rate-limited, and it costs nobody their connection,
        neither that recipient nor the sender whose thread is relaying."""
        queued = []
        remaining = iter(recipients)  # after a failure, the loop goes on with the next one
        while True:
            session = None
            try:
                for session in remaining:  # no per-recipient work beyond the render itself
                    data = session.render(out)
                    if data:
                        session.conn.enqueue(data)
                        queued.append(session.conn)
                return queued
            except Exception as exc:
                nick = session.nick if session is not None else "?"
                _bugs.report(f"{out.message.command} cannot be rendered for {nick}", exc)

    def _quit_locked(self, session: Session, reason: str) -> list[Connection]:
        session.left = True
        if not session.registered:
            return []
        session.registered = False
        key = nick_key(session.nick)
        self._remember_gone_locked(session, key)
        if self._nicks.get(key) is session:
            del self._nicks[key]
        recipients = self._neighbours_locked(session)
        if reason.startswith(USER_QUIT_PREFIX) and any(
            self._silenced_locked(session, channel) for channel in session.channels.values()
        ):  # its own words, and it may not speak in one of its channels: not relayed
            reason = USER_QUIT_PREFIX.rstrip(": ")
        for channel in list(session.channels.values()):
            self._leave_locked(session, channel)
        out = Outgoing(Message("QUIT", [reason], source=session.prefix))
        return self._deliver_locked(recipients, out)

    def _remember_gone_locked(self, session: Session, key: str) -> None:
        """Note for WHOWAS that ``session`` leaves its nick (``key``: its ``nick_key``): the
        oldest entry is forgotten past ``WHOWAS_SIZE`` in all, and the oldest under that
        nick past ``WHOWAS_PER_NICK``."""
        row = GoneRow(
            session.nick, session.username, session.conn.host, session.realname, time.time()
        )
        bucket = self._gone_by_nick.get(key)
        if bucket is not None and len(bucket) >= WHOWAS_PER_NICK:
            serial, _ = bucket.popleft()  # this nick's oldest makes room
            del self._gone[serial]
        elif len(self._gone) >= WHOWAS_SIZE:
            _, oldest_key = self._gone.popitem(last=False)  # the oldest of all makes room
            oldest_bucket = self._gone_by_nick[oldest_key]
            oldest_bucket.popleft()  # its oldest is that one: both are in leaving order
            if not oldest_bucket:
                del self._gone_by_nick[oldest_key]
        serial = next(self._gone_serials)
        self._gone[serial] = key
        self._gone_by_nick.setdefault(key, deque()).append((serial, row))

    def _neighbours_locked(self, session: Session) -> dict[Session, None]:
        """Everyone who shares a channel with ``session``, once each, without it."""
        neighbours: dict[Session, None] = {}
        for channel in session.channels.values():
            neighbours.update(channel.members)
        neighbours.pop(session, None)
        return neighbours

    def _save_entry_locked(self, channel: Channel, letter: str, entry: ListEntry) -> None:
        """Keep a ban or quiet across restarts (its end, if any, on the wall clock)."""
        expires = 0.0 if entry.expires is None else time.time() + (entry.expires - self.clock())
        saved = SavedEntry(letter, entry.mask, entry.set_by, entry.set_at, expires)
        self.history.keep_entry(irc_lower(channel.name), saved)

    def _restore_entries(self, channel: Channel) -> bool:
        """Give a channel being made the bans and quiets history kept for it (those whose
        time ran out meanwhile are forgotten); True if a timed one is back, for the timer.
        They count against nobody's share: who set them is not connected any more."""
        folded = irc_lower(channel.name)
        wall, now, timed = time.time(), self.clock(), False
        for saved in list(self.history.entries.get(folded, ())):
            if saved.mode == CLAIM_MODE:  # not a list entry: see claim()
                continue
            if saved.expires and saved.expires <= wall:
                self.history.forget_entry(folded, saved.mode, saved.mask)
                continue
            expires = None if not saved.expires else now + (saved.expires - wall)
            entry = ListEntry(saved.mask, saved.set_by, saved.set_at, expires)
            if channel.modes.add_entry(saved.mode, entry) and expires is not None:
                self._timer_changed_locked(expires)
                timed = True
        return timed

    def _restore_topic(self, channel: Channel) -> None:
        saved = self.history.topics.get(irc_lower(channel.name))
        if saved is not None and not channel.topic:
            channel.topic, channel.topic_by, channel.topic_at = saved

    def _leave_locked(self, session: Session, channel: Channel) -> None:
        channel.members.pop(session, None)
        channel.modes.forget_member(session)
        folded = irc_lower(channel.name)
        session.channels.pop(folded, None)
        if not channel.members and channel is not self.default_channel:
            if self._channels.pop(folded, None) is channel:
                left = self._opened_from.pop(channel.opened_from, 0) - 1
                if left > 0:
                    self._opened_from[channel.opened_from] = left
                for entries in channel.modes.lists.values():
                    for entry in entries.values():
                        self._count_entry_locked(entry, -1)
            self.history.vacated(folded)

    @staticmethod
    def _view_locked(channel: Channel) -> ChannelView:
        return ChannelView(
            channel.name,
            channel.created,
            channel.topic,
            channel.topic_by,
            channel.topic_at,
            tuple(member.nick for member in channel.members),
            tuple(channel.members.values()),
            frozenset(member.nick for member in channel.members if member.teacher),
            "s" in channel.modes.flags,
        )


class _Mask(NamedTuple):
    """The parts of a ``nick!user@host`` source that say who someone is."""

    nick: str
    nick_key: str
    host: str

    @classmethod
    def of(cls, source: str) -> _Mask:
        nick, _, rest = source.partition("!")
        return cls(nick, nick_key(nick), rest.partition("@")[2])


def _identity(session: Session) -> Identity:
    """Who ``session`` is, as ban and quiet masks see it."""
    return Identity.of(session.nick, session.username, session.conn.host, session.account)


def _who_row(channel_name: str, session: Session, status: str = "") -> WhoRow:
    return WhoRow(
        channel_name,
        session.nick,
        session.username,
        session.conn.host,
        session.realname,
        session.away,
        status,
        session.teacher,
        session.account or "",
    )
