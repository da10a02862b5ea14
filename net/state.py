"""The shared room state: who is here under which nick, in which channels, and the relay.

``Rooms`` is the one object that owns the state the sessions share, and the one lock
that guards it. A session never takes that lock or walks its dicts: it asks ``Rooms`` to
change something (``register``, ``rename``, ``join``, ``part``, ``set_topic``, ``quit``) or
to relay a message (``send_to_channel``, ``send_to_session``), and it asks for a snapshot
when it only wants to read (``counts``, ``view``, ``list_rows``, ``who``, ``whois``,
``channels_of``…). It also holds the password ``guard`` (``net.guard``) and the
``accounts`` (``net.accounts``), each with its own lock, never taken inside ours.

Replies are built from those snapshots (``ChannelView``, ``WhoRow``); a ``Channel`` is a
handle that sessions pass back, reading only its ``name`` and ``created``, which never
change. ``Session`` is the base of every kind of client (``net.irc_session``,
``net.plain_session``) and the ``ConnectionHandler`` of its connection
(``net.connection``); its subclasses turn lines into calls on ``Rooms``. It lives here,
not in a module of its own, because it is what ``Rooms`` holds and relays to (``render``,
``joined_replies``, ``goodbye``); the settings ``Rooms`` and sessions
read are described by the ``Settings`` protocol, so nothing here imports ``net.server``.

Nicks: a reserved one (``net.accounts.is_reserved``: the server's name, "profesor",
"admin"… and look-alikes) or one that is an account's is only for a session logged in
to the account of that name (``nick_refusal``, enforced by ``register`` and ``rename``);
a session logged in to it takes it back from its own earlier connection. ``log_in``
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

Channels are bounded: one person may be in ``channels_per_person`` channels (ISUPPORT
``CHANLIMIT``), at most ``channels_per_address`` may have been opened from one address
(so one student cannot take them all), the server holds at most ``max_channels`` (the
default one included); past any of these, ``join`` refuses (``JoinRefused``) and
existing channels can still be joined. An empty channel other than the default one is
removed, and its history told so (``ChannelHistory.vacated``), which forgets it after a
while unless someone joins again (``occupied``, asked before the channel is made again,
so a late joiner sees nothing old).

Threading rules:
- ``_lock`` guards ``_nicks``, ``_channels``, every ``Channel`` field, the memory side of
  ``history``, and each session's ``registered``, ``left``, ``nick``, ``channels``,
  ``account``, ``teacher`` and ``away``. It is held to
  change state and to *queue* the resulting messages for their recipients, so everyone
  sees one order of events; it is never held while a socket is read or written, or while
  the history database is written: queued bytes are flushed after it is released.
- A session's ``nick`` is written under the lock; another thread reading it without the
  lock (to address a reply) may see it one rename late, which is harmless.
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple, Protocol

from net.accounts import AccountStore, is_reserved
from net.connection import NO_DEADLINE, AddressLog, BugLog, Connection, flush_soon
from net.guard import PasswordGuard
from net.history import ChannelHistory
from net.i18n import tr
from net.outgoing import Outgoing
from net.protocol import Message, irc_lower, is_valid_nick, mask_match, nick_key

log = logging.getLogger(__name__)
_bugs = BugLog(log)  # messages that cannot be rendered for a recipient: bugs, rate-limited

#: channels one person may be in at once (ISUPPORT ``CHANLIMIT``; the default one counts)
CHANNELS_PER_PERSON = 30
#: channels the server holds at once, the default one included; past it no new channel is
#: made (each costs its members' lists and its kept history, which has a budget of its own)
MAX_CHANNELS = 500
#: channels that may exist at once having been opened from one address (an IPv6 /64), so
#: that one student's connections cannot take every channel the server may hold
CHANNELS_PER_ADDRESS = 50


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
    #: the members, in joining order (a dict used as an ordered set)
    members: dict[Session, None] = field(default_factory=dict)
    #: the address (``Connection.counted_as``) of whoever opened it; "" for the default one
    opened_from: str = ""


@dataclass(frozen=True)
class ChannelView:
    """A snapshot of a channel, for replies built outside the lock (or by ``joined_replies``)."""

    name: str
    created: float
    topic: str
    topic_by: str
    topic_at: float
    nicks: tuple[str, ...]  # the members, in joining order


class JoinRefused(Enum):
    """Why ``Rooms.join`` did not let someone in."""

    TOO_MANY_FOR_PERSON = "channels_per_person"  # they are in as many as one may be
    TOO_MANY_ON_SERVER = "max_channels"  # a new channel, and the server holds its maximum
    #: a new channel, and as many as may be were opened from the joiner's address
    TOO_MANY_FROM_ADDRESS = "channels_per_address"


class WhoRow(NamedTuple):
    """One person as WHO and WHOIS describe them."""

    channel: str  # the channel asked about, or "*"
    nick: str
    username: str
    host: str
    realname: str
    account: str = ""  # the account they are logged in to ("": none)


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
        self.registered = False  # written under Rooms' lock
        #: it quit, or was removed or replaced: its connection is closing, its timers stop
        #: (written under Rooms' lock)
        self.left = False
        self.nick = ""  # written under Rooms' lock once registered (see the module docstring)
        self.username = "user"
        self.realname = ""
        self.account: str | None = (
            None  # the account it logged in to (SASL/REGISTER), guarded by Rooms' lock
        )
        self.teacher = (
            False  # a teacher: IRC operator, channel operator wherever it is (Rooms' lock)
        )
        self.away = ""  # its away message ("": here), guarded by Rooms' lock
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
    (read under Rooms' lock, or by the session's own thread: see ``Rooms.log_in``)."""
    return session is not None and session.account is not None and nick_key(session.account) == key


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
        #: the kept messages; guarded by _lock (its database has a lock of its own)
        self.history = history
        #: the server's password and who has been guessing it (thread-safe on its own)
        self.guard = PasswordGuard(settings.password)
        #: the accounts and teachers (``net.accounts``; thread-safe on its own, with a lock
        #: never taken together with ours): in memory only unless the server gives one
        self.accounts = accounts if accounts is not None else AccountStore(None)
        #: sign-ins: a few lines per address and minute (one student may sign in and out
        #: in a loop); thread-safe on its own
        self._by_address = AddressLog()
        self._boot_id = os.urandom(4).hex()  # makes server-made msgids unique across runs
        self._msgids = itertools.count(1)
        self.default_channel = Channel(settings.channel)
        self._channels[irc_lower(settings.channel)] = self.default_channel
        history.keep_always(irc_lower(settings.channel))
        history.on_saving_changed = self._history_saving_changed

    def restore_topics(self) -> None:
        """Give the channels the topics history kept (once its database is open)."""
        with self._lock:
            for channel in self._channels.values():
                self._restore_topic(channel)

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
        refused = self._reserved_for_others(nick, key)
        with self._lock:
            if refused is not None and not _owns(session, key):
                return refused
            holder = self._nicks.get(key)
            if holder is None or holder is session or self._may_replace(holder, session, key):
                return None
        return NickRefused.IN_USE

    def nick_available(self, nick: str, session: Session | None = None) -> bool:
        """Whether ``session`` may have ``nick`` (see ``nick_refusal``)."""
        return self.nick_refusal(nick, session) is None

    def _reserved_for_others(self, nick: str, key: str) -> NickRefused | None:
        """RESERVED or REGISTERED if ``nick`` is only for a session logged in to its
        account (asked without our lock: the accounts have their own)."""
        if is_reserved(nick, self.settings.server_name):
            return NickRefused.RESERVED
        if self.accounts.exists(nick):
            return NickRefused.REGISTERED
        return None

    @staticmethod
    def _may_replace(holder: Session, session: Session | None, key: str) -> bool:
        """``holder`` is ``session``'s own earlier connection: the same session token, or
        both logged in to the account this nick belongs to (a teacher back after a Wi-Fi
        blip takes its nick back from its ghost, and nobody can snipe it meanwhile)."""
        return _same_client(holder, session) or (_owns(holder, key) and _owns(session, key))

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
        refused = self._reserved_for_others(session.nick, key)
        ghost, to_flush = None, []
        with self._lock:
            if session.left:  # kicked or replaced while its registration was on its way
                return False
            if refused is not None and not _owns(session, key):
                return False
            holder = self._nicks.get(key)
            if holder is not None:
                if not self._may_replace(holder, session, key):
                    return False
                ghost, to_flush = holder, self._quit_locked(holder, "Reconnected")
            self._nicks[key] = session
            session.registered = True
        if ghost is not None:
            if (more := self._by_address.note(session.conn.counted_as)) is not None:
                log.info(
                    "%s reclaims %s from its earlier connection%s",
                    session.conn.ip,
                    session.nick,
                    more,
                )
            flush_soon(to_flush)
            ghost.conn.send(ghost.goodbye("Reconnected"))
            ghost.conn.close_when_sent("Reconnected")
        if (more := self._by_address.note(session.conn.counted_as)) is not None:
            log.info("%s joined as %s%s", session.conn.ip, session.nick, more)
        return True

    def rename(self, session: Session, new_nick: str) -> bool:
        """Change a registered session's nick and tell everyone who shares a channel."""
        new_key, old_key = nick_key(new_nick), nick_key(session.nick)
        refused = self._reserved_for_others(new_nick, new_key)
        with self._lock:
            if refused is not None and not _owns(session, new_key):
                return False
            if session.left or self._nicks.get(old_key) is not session:
                return False  # it has left, and its old nick may be someone else's now
            holder = self._nicks.get(new_key)
            if holder is not None and holder is not session:
                return False
            out = Outgoing(Message("NICK", [new_nick], source=session.prefix))
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

    def make_teacher(self, session: Session) -> None:
        """Mark ``session`` a teacher. # MODES extends this (user mode +o, +o in each of
        its channels, seen by everyone there)."""
        with self._lock:
            session.teacher = True

    # -- channels ---------------------------------------------------------------------

    def join(self, session: Session, name: str) -> Channel | JoinRefused | None:
        """Add ``session`` to channel ``name`` (created if new); everyone there sees the JOIN,
        and the joiner its ``joined_replies``. None if the session has left already; a
        ``JoinRefused`` past the channel limits (nothing changes, nobody is told)."""
        folded = irc_lower(name)
        with self._lock:
            if session.left:  # a line it sent before it was kicked or replaced
                return None
            channel = self._channels.get(folded)
            if channel is not None and session in channel.members:
                return channel
            if len(session.channels) >= self.settings.channels_per_person:
                return JoinRefused.TOO_MANY_FOR_PERSON
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
            channel.members[session] = None
            session.channels[folded] = channel
            out = Outgoing(Message("JOIN", [channel.name], source=session.prefix))
            to_flush = self._deliver_locked(channel.members, out)
            recent = self.history.recent(folded, self.settings.history_replay)
            try:
                session.conn.enqueue(session.joined_replies(self._view_locked(channel), recent))
            except Exception as exc:  # a bug, not the joiner's: it stays in, without these lines
                _bugs.report(f"what {session.nick} sees on joining {name} failed", exc)
        flush_soon([*to_flush, session.conn])
        return channel

    def part(self, session: Session, channel: Channel, reason: str) -> None:
        params = [channel.name, reason] if reason else [channel.name]
        out = Outgoing(Message("PART", params, source=session.prefix))
        with self._lock:
            if session.left or session not in channel.members:
                return
            to_flush = self._deliver_locked(channel.members, out)
            self._leave_locked(session, channel)
        flush_soon(to_flush)

    def set_topic(self, session: Session, channel: Channel, topic: str) -> None:
        out = Outgoing(Message("TOPIC", [channel.name, topic], source=session.prefix))
        with self._lock:
            if session.left or session not in channel.members:  # see send_to_channel
                return
            channel.topic, channel.topic_by, channel.topic_at = topic, session.prefix, out.time
            self.history.set_topic(irc_lower(channel.name), topic, session.prefix, out.time)
            to_flush = self._deliver_locked(channel.members, out)
        flush_soon(to_flush)

    # -- the relay --------------------------------------------------------------------

    def new_msgid(self) -> str:
        """A unique ``msgid`` for a message whose sender did not give it one."""
        return f"s-{self._boot_id}-{next(self._msgids)}"

    def _with_msgid(self, message: Message) -> Message:
        if "msgid" in message.tags:
            return message
        tags = {**message.tags, "msgid": self.new_msgid()}
        return Message(message.command, message.params, message.source, tags)

    def send_to_channel(self, sender: Session, channel: Channel, message: Message) -> None:
        """Relay a message to every member of ``channel`` except its sender (and keep it)."""
        out = Outgoing(self._with_msgid(message))
        with self._lock:
            # said just before it was kicked or replaced, or left the channel: not relayed
            # (nor kept, in a channel that may be empty and expiring by now)
            if sender.left or sender not in channel.members:
                return
            to_flush = self._deliver_locked(
                (member for member in channel.members if member is not sender), out
            )
            if message.command != "TAGMSG":
                self.history.record(irc_lower(channel.name), out)
        flush_soon(to_flush)

    def send_to_session(self, target: Session, message: Message) -> None:
        """Relay a private message (rendered for ``target`` without the lock: one reader)."""
        try:
            data = target.render(Outgoing(self._with_msgid(message)))
        except Exception as exc:  # a bug: see _deliver_locked
            _bugs.report(f"{message.command} cannot be rendered for {target.nick}", exc)
            return
        if data:
            target.conn.enqueue(data)
            flush_soon([target.conn])

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

    def list_rows(self, wanted: set[str] | None = None) -> list[tuple[str, int, str]]:
        """(name, members, topic) of every channel, or of those whose irc_lower name is wanted."""
        with self._lock:
            return [
                (channel.name, len(channel.members), channel.topic)
                for key, channel in self._channels.items()
                if wanted is None or key in wanted
            ]

    def who(self, mask: str) -> list[WhoRow]:
        """The members of the channel ``mask``, else everyone whose nick matches the glob."""
        folded = irc_lower(mask)
        with self._lock:
            channel = self._channels.get(folded)
            if channel is not None:
                return [_who_row(channel.name, member) for member in channel.members]
            return [
                _who_row("*", session)
                for session in self._nicks.values()
                if mask_match(folded, irc_lower(session.nick))
            ]

    def whois(self, nick: str) -> tuple[WhoRow, list[str]] | None:
        """Who ``nick`` is and the names of the channels they are in (None: nobody)."""
        with self._lock:
            session = self._nicks.get(nick_key(nick))
            if session is None:
                return None
            return _who_row("*", session), [c.name for c in session.channels.values()]

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
            text = tr(
                "History is being saved to disk again, but the {count} oldest messages said "
                "meanwhile could not be saved."
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
        if self._nicks.get(key) is session:
            del self._nicks[key]
        recipients = self._neighbours_locked(session)
        for channel in list(session.channels.values()):
            self._leave_locked(session, channel)
        out = Outgoing(Message("QUIT", [reason], source=session.prefix))
        return self._deliver_locked(recipients, out)

    def _neighbours_locked(self, session: Session) -> dict[Session, None]:
        """Everyone who shares a channel with ``session``, once each, without it."""
        neighbours: dict[Session, None] = {}
        for channel in session.channels.values():
            neighbours.update(channel.members)
        neighbours.pop(session, None)
        return neighbours

    def _restore_topic(self, channel: Channel) -> None:
        saved = self.history.topics.get(irc_lower(channel.name))
        if saved is not None and not channel.topic:
            channel.topic, channel.topic_by, channel.topic_at = saved

    def _leave_locked(self, session: Session, channel: Channel) -> None:
        channel.members.pop(session, None)
        folded = irc_lower(channel.name)
        session.channels.pop(folded, None)
        if not channel.members and channel is not self.default_channel:
            if self._channels.pop(folded, None) is channel:
                left = self._opened_from.pop(channel.opened_from, 0) - 1
                if left > 0:
                    self._opened_from[channel.opened_from] = left
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
        )


def _who_row(channel_name: str, session: Session) -> WhoRow:
    return WhoRow(
        channel_name,
        session.nick,
        session.username,
        session.conn.host,
        session.realname,
        session.account or "",
    )
