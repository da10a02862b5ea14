"""The client's side of the conversation with a server, without sockets or threads.

``ClientProtocol`` is the state machine behind ``net.client.ChatClient``: capability
negotiation, registration, the fallback nick and taking ours back, the member lists of
channels, ``chathistory`` batches, dropping messages already shown, and the ``Outbox`` of
messages waiting for the server's confirmation. Issue 14: roles (ISUPPORT ``PREFIX`` and
``CHANMODES``, status prefixes in NAMES, ``MODE`` changes as ``MemberStatus`` /
``ModeChanged`` events, our user mode ``+o`` = a teacher), the server's own notices (an
``Announcement`` when said to a channel or by a Charla server, else a ``ServerNotice``), a
``404`` naming which of our messages was refused (``Refused``; it leaves the outbox),
channels that refuse us (474, 473…) dropped so nothing rejoins in a loop, ``REDACT`` and
``INVITE`` in, ``OPER`` after the welcome for a hosted room (whose teacher, refused a
reserved nick such as "Profe" at registration, comes in under a stand-in and takes it
right after its OPER), our user's own ``/apodo`` once registered (refused: a
``NickRefused`` at once, never asked again; only a nick the server gave us at registration
is taken back later), and SASL PLAIN: a ``433`` saying the nick is registered makes the
client wait (``awaiting_login``) for ``login(password)``. It performs no I/O: its owner
tells it what happened, and takes what it produced. The server's welcome (MOTD: 375,
372…, 376) comes out as one ``Motd``; the lines of a long message from another Charla
client as one ``ChatMessage`` (``net.text_cuts.Rejoiner``: the lines but the last carry
``CONTINUES_TAG``, ours too).

- Facts in: ``connection_made(now)``, ``heard_from_server(now)`` (bytes arrived),
  ``receive(message, now)`` (one parsed line; returns a reason when the connection must
  end), ``tick(now)`` (timers: the keepalive probe and asking for our nick again; returns
  a reason when the server stopped answering) and ``connection_lost()``.
- Wishes in: ``queue_message``, ``send_pending``, ``join``, ``part``, ``change_nick``,
  ``send_control`` and ``goodbye``, already validated by the caller.
- Out: ``take_events()`` (``net.events`` objects for the owner) and ``take_lines()``
  (lines to write, without CRLF). Every line is built by ``Message.format()`` in
  ``_send``, the one place where text becomes a line.

``checked_name`` and ``check_one_line`` are the checks ``ChatClient``'s public methods run
on the caller's thread, so that a bad name or text raises there (``InvalidNameError``,
``net.protocol.EmbeddedNewlineError``) and never reaches the network thread.

Time comes in as ``now`` (``time.monotonic()`` seconds), so tests drive the timers by
hand. The one clock it reads itself is the wall clock, to date a message that arrives
without a ``time`` tag.

Threading: a ``ClientProtocol`` belongs to the one thread that drives it (ChatClient's
network thread); it takes no lock. Two exceptions: ``Outbox.new_id()``, with which
callers' threads number their messages, under its own lock; and ``nick``, a plain string
attribute that any thread may read. The checks are pure functions.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import logging
import random
import re
import threading
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from net import events as ev
from net import protocol as irc
from net.i18n import tr
from net.protocol import (
    InvalidMessageError,
    InvalidParameterError,
    Message,
    fold_name,
    irc_lower,
    is_valid_nick,
    session_alias,
    session_msgid,
    wire_number,
)
from net.text_cuts import CONTINUES_TAG, Rejoiner

log = logging.getLogger(__name__)

#: IRCv3 message redaction: deleted messages arrive as ``REDACT``, and we may send it
REDACTION_CAP = "draft/message-redaction"
#: IRCv3 away-notify: members going away and coming back are told as ``AWAY`` lines
AWAY_CAP = "away-notify"
#: IRCv3 SASL: asked for only when we have an account password to log in with
SASL_CAP = "sasl"
#: capabilities the client asks for when the server offers them
WANTED_CAPS = tuple(
    dict.fromkeys((*irc.CAPABILITIES, REDACTION_CAP, irc.CHATHISTORY_CAP, AWAY_CAP))
)
#: IRCv3 client tags: a reply names the message it answers, a reaction the message it is on
REPLY_TAGS = ("+reply", "+draft/reply")
REACT_TAG, UNREACT_TAG, TYPING_TAG = "+draft/react", "+draft/unreact", "+typing"
TYPING_STATES = frozenset({"active", "paused", "done"})
#: Charla's client tag on a teacher's quick poll: its options (reactions), comma-separated
POLL_TAG = "+charla.chat/poll"
MAX_POLL_OPTIONS = 10
#: a msgid we keep (to answer or react to): what servers use, and not a whole line
MSGID = re.compile(r"[\x21-\x7e]{1,100}")
#: a reaction: a short text (an emoji and its modifiers), not a sentence
MAX_REACTION_CHARS = 16
#: older messages asked for at once when the server sets no smaller page (CHATHISTORY=)
OLDER_PAGE = 100
#: a SASL payload goes in base64 pieces of this many bytes (IRCv3 ``AUTHENTICATE``)
SASL_CHUNK = 400
#: member status modes and their NAMES prefixes until ISUPPORT ``PREFIX`` says otherwise
#: (Charla's, and RFC 1459's: ``(ov)@+``)
DEFAULT_PREFIX = {"o": "@", "v": "+"}
#: channel mode types A (lists), B (always a parameter), C (a parameter when set), D (none),
#: until ISUPPORT ``CHANMODES`` says otherwise (Charla's)
DEFAULT_CHANMODES = ("bqI", "k", "lS", "imnst")
#: numerics that refuse us a channel: it is forgotten, not joined again at each reconnect
#: (403 no such channel, 405 too many, 471 full, 473 invite only, 474 banned, 475 key, 476)
JOIN_REFUSALS = frozenset({"403", "405", "471", "473", "474", "475", "476"})
#: SASL numerics that end a login attempt for good (902 locked, 904 failed, 905 too long,
#: 906 aborted, 908 mechanisms): the password was wrong, trying again would not help
SASL_FAILURES = frozenset({"902", "904", "905", "906", "908"})
#: a 433 saying the nick belongs to an account ("registered" / "registrado"): log in to it
_REGISTERED_NICK = re.compile(r"regist", re.I)
#: NickServ asking us to prove the nick is ours (Atheme: "…please identify via /msg NickServ
#: identify <password>", Anope alike)
_IDENTIFY = re.compile(r"identif", re.I)
#: a 432 saying the nick is a reserved word ("reserved" / "reservado"): a teacher may take it
_RESERVED_NICK = re.compile(r"reserv", re.I)
#: our own messages remembered, to know them in a history replay without msgids of ours
SAID_REMEMBERED = 500
#: ``PING charla-ack-<id>``: its PONG confirms every message up to ``<id>``
ACK_PREFIX = "charla-ack-"
#: the token of the PING that checks a silent server is still there
KEEPALIVE_TOKEN = "charla-keepalive"
#: how many message ids the client remembers, to drop what history replays twice
REMEMBERED_MSGIDS = 20_000
#: lines of the server's welcome (MOTD) kept, at most: a server may send any number
MAX_MOTD_LINES = 100


#: messages written but not yet confirmed, at most: a server's flood control lets a burst
#: of lines through at once (Charla: 40, then 10 a second; ngIRCd penalises more than a few)
MAX_IN_FLIGHT = 20
#: nicks refused while registering before the client gives up (433 / 437 / 432 in a row)
MAX_NICKS_REFUSED = 8
#: what an ERROR before the welcome says when coming back would be refused just the same
_REFUSED_FOR_GOOD = re.compile(r"password|access denied|not authori[sz]ed|banned|k-?lined", re.I)


def ascii_nick(nick: str) -> str | None:
    """``nick`` in plain ASCII for servers that refuse other letters, or None if nothing
    valid is left: accents dropped, ñ as n, other letters left out.

    >>> ascii_nick("Begoña"), ascii_nick("Álvaro_2"), ascii_nick("李"), ascii_nick("ana")
    ('Begona', 'Alvaro_2', None, 'ana')
    """
    plain = unicodedata.normalize("NFKD", nick).encode("ascii", "ignore").decode()
    return plain if is_valid_nick(plain) else None


class InvalidNameError(InvalidParameterError):
    """A nick or channel name that cannot be one parameter of a line (empty, a space, ':')."""


def check_one_line(*texts: str) -> None:
    """Raise ``EmbeddedNewlineError`` if a text holds CR, LF or NUL, which would end a line.

    >>> check_one_line("#general", "adiós\\nQUIT")
    Traceback (most recent call last):
    ...
    net.protocol.EmbeddedNewlineError: CR, LF or NUL in 'adiós\\nQUIT'
    """
    for text in texts:
        if irc.breaks_a_line(text):
            raise irc.EmbeddedNewlineError(f"CR, LF or NUL in {text!r}")


def checked_name(name: str) -> str:
    """``name`` if it can stand as one middle parameter of a line; else a named error.

    >>> checked_name("#general")
    '#general'
    >>> checked_name("#a b")
    Traceback (most recent call last):
    ...
    net.client_protocol.InvalidNameError: not a nick or channel name: '#a b'
    """
    check_one_line(name)
    if not name or " " in name or name[0] == ":":
        raise InvalidNameError(f"not a nick or channel name: {name!r}")
    return name


def _last(message: Message) -> str:
    """The last parameter (the text, in most replies), or "" when a server sent none."""
    return message.params[-1] if message.params else ""


# ---------------------------------------------------------------------------
# The outbox


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """One of our messages, waiting for the server's confirmation."""

    message_id: int
    command: str  # PRIVMSG or NOTICE
    target: str
    text: str
    continues: bool = False  # a piece of a long message, and not its last
    reply_to: str = ""  # the msgid of the message it answers (IRCv3 ``+reply``)
    poll: tuple[str, ...] = ()  # a poll's options (``POLL_TAG``): votes are reactions


class Outbox:
    """Our messages until the server confirms them, in order.

    A message waits in ``waiting`` until it is written on a registered connection, then in
    ``unconfirmed`` until the PONG of a later ``PING charla-ack-<id>`` proves the server
    read it (a server handles one client's lines in order). When the connection ends,
    ``requeue()`` puts the unconfirmed ones back at the head of ``waiting``.

    >>> box = Outbox()
    >>> for text in ("uno", "dos"):
    ...     box.add(PendingMessage(box.new_id(), "PRIVMSG", "#a", text))
    >>> [item.text for item in box.take_waiting()], box.ack_token()
    (['uno', 'dos'], 'charla-ack-2')
    >>> box.confirm("charla-ack-1"), box.confirm("charla-keepalive"), len(box)
    ([1], None, 1)
    >>> box.requeue()
    >>> [item.text for item in box.waiting]
    ['dos']
    """

    def __init__(self) -> None:
        self._id_lock = threading.Lock()  # guards _last_id: new_id() runs on callers' threads
        self._last_id = 0
        self.waiting: deque[PendingMessage] = deque()  # not yet written on this connection
        self.unconfirmed: deque[PendingMessage] = deque()  # written, waiting for the ack PONG

    def new_id(self) -> int:
        """The next message id (1, 2, …). Any thread."""
        with self._id_lock:
            self._last_id += 1
            return self._last_id

    def add(self, item: PendingMessage) -> None:
        self.waiting.append(item)

    def take_waiting(
        self,
        in_flight: int = MAX_IN_FLIGHT,
        ready: Callable[[PendingMessage], bool] = lambda _item: True,
    ) -> list[PendingMessage]:
        """Waiting messages to be written now, in order, so that at most ``in_flight``
        are unconfirmed, up to the first that is not ``ready`` (its channel is not joined
        yet: it and those after it wait); they become unconfirmed first, so that from now
        on a lost connection sends them again."""
        taken: list[PendingMessage] = []
        room = in_flight - len(self.unconfirmed)
        while self.waiting and len(taken) < room and ready(self.waiting[0]):
            taken.append(self.waiting.popleft())
        self.unconfirmed.extend(taken)
        return taken

    def ack_token(self) -> str:
        """The PING token whose PONG will confirm everything written so far."""
        last = self.unconfirmed[-1].message_id if self.unconfirmed else 0
        return f"{ACK_PREFIX}{last}"

    def confirm(self, token: str) -> list[int] | None:
        """The ids a PONG with ``token`` confirms; None if the token is not an ack."""
        number = wire_number(token[len(ACK_PREFIX) :])
        if not token.startswith(ACK_PREFIX) or number is None:
            return None
        confirmed: list[int] = []
        while self.unconfirmed and self.unconfirmed[0].message_id <= number:
            confirmed.append(self.unconfirmed.popleft().message_id)
        return confirmed

    def requeue(self) -> None:
        """The connection ended: what was not confirmed goes back first, in order."""
        self.waiting.extendleft(reversed(self.unconfirmed))
        self.unconfirmed.clear()

    def __len__(self) -> int:
        return len(self.waiting) + len(self.unconfirmed)


# ---------------------------------------------------------------------------
# The protocol core


class ClientProtocol:
    """One client's protocol state across connections (see the module docstring)."""

    def __init__(
        self,
        nick: str,
        channels: Iterable[str] = (irc.DEFAULT_CHANNEL,),
        *,
        session_token: str,
        password: str | None = None,
        account_password: str | None = None,
        oper: tuple[str, str] | None = None,
        username: str = "charla",
        realname: str = "Charla",
        keepalive_after: float = 15.0,
        keepalive_timeout: float = 10.0,
        nick_retry_interval: float = 10.0,
    ) -> None:
        self.session_token = session_token  # proves to a Charla server we are the same client
        self._alias = session_alias(session_token)  # how our msgids name us
        self.password = password
        #: the password of the account named like our nick, for SASL PLAIN (None: no login)
        self.account_password = account_password
        self.oper = oper  # (name, password) to send OPER with after the welcome
        #: our nick is an account's and we have no password for it: no connection is made
        #: until ``login()`` or ``skip_login()``
        self.awaiting_login = False
        self.username = username
        self.realname = realname
        self.keepalive_after = keepalive_after  # silence before we PING the server
        self.keepalive_timeout = keepalive_timeout  # then this long for an answer
        self.nick_retry_interval = nick_retry_interval  # how often to ask for our own nick
        self.outbox = Outbox()
        self.wanted_nick = nick
        self.nick = nick  # the nick in use, or being asked for
        self.channels: dict[str, str] = {irc_lower(c): c for c in channels}  # folded -> name
        self.fatal: str | None = None  # a reason no retry can fix (a wrong password)
        self._control: deque[Message] = deque()  # TOPIC/NAMES lines waiting for registration
        #: msgids already shown (ours included), oldest first: history replays skip them
        self._seen: OrderedDict[str, None] = OrderedDict()
        #: (folded target, text) of what we sent, newest last: a replay of it without a
        #: msgid we know is ours (see ``_forget_said``); as many as a history replays
        self._said: deque[tuple[str, str]] = deque(maxlen=SAID_REMEMBERED)
        self._last_stamp: tuple[str, datetime | None] = ("", None)  # see _time_of
        self._outbox_grew = False  # messages were queued since the last send_pending()
        self._events: list[ev.Event] = []
        self._lines: list[str] = []
        #: the pieces of long messages received, until their last (``net.text_cuts``)
        self._rejoiner: Rejoiner[ev.ChatMessage] = Rejoiner()
        self._new_connection_state(connected=False, now=0.0)

    def _new_connection_state(self, *, connected: bool, now: float) -> None:
        self.connected = connected
        #: this connection's token for uploading files (ISUPPORT ``charla.chat/UPLOAD``,
        #: a Charla server's); it dies with the connection. Read by other threads: a str
        self.upload_token: str | None = None
        self.registered = False
        self.caps: set[str] = set()  # capabilities the server acknowledged
        self._offered: set[str] = set()  # capabilities the server listed
        self._cap_pending = False
        self._session_sent = False  # SESSION <token> went out on this connection
        #: our nick refused before the server knew our token (see _on_nick_refused)
        self._refused_before_session: Message | None = None
        self.server_name = ""
        #: folded channel -> (nick, status letters) being listed
        self._names: dict[str, list[tuple[str, str]]] = {}
        self._batches: dict[str, str] = {}  # open batch reference -> its type
        self._joined: set[str] = set()  # folded channels our JOIN came back for, here
        #: ISUPPORT CHATHISTORY: older messages may be asked for, this many at once (0: not)
        self.history_page = 0
        #: folded targets whose older messages we asked for, and the batches bringing them:
        #: reference -> (target, the messages, the reactions)
        self._older_asked: set[str] = set()
        self._older: dict[str, _OlderBatch] = {}
        self._motd: list[str] | None = None  # the welcome's lines, between 375 and 376
        self._last_received = now
        self._probe_sent_at: float | None = None
        self._nick_retry_at = 0.0
        self._nicks_refused = 0  # nicks refused while registering on this connection
        self.prefixes = dict(DEFAULT_PREFIX)  # status mode letter -> its NAMES prefix
        self.chanmodes = DEFAULT_CHANMODES  # ISUPPORT CHANMODES: types A, B, C, D
        self.user_modes = ""  # our user modes ("o": a teacher)
        self._sasl_started = False  # AUTHENTICATE went out on this connection
        self._sasl_over = False  # the login ended (903/907) on this connection
        self._logged_in = False  # 900 came on this connection: we are in our account
        self._asked_login = False  # a network's NickServ asked, and our user was asked
        self._identified = False  # IDENTIFY went to NickServ on this connection
        self._nick_after_login = False  # our nick was refused as registered before it
        self._oper_pending = False  # our OPER (hosted room) awaits its answer
        #: the nick our user asked for (``/apodo``) once registered, awaiting the answer:
        #: refused, it is said at once and never asked for again behind their back
        self._asked_nick: str | None = None

    # -- output ------------------------------------------------------------------------------

    def take_events(self) -> list[ev.Event]:
        events, self._events = self._events, []
        return events

    def take_lines(self) -> list[str]:
        lines, self._lines = self._lines, []
        return lines

    def _emit(self, event: ev.Event) -> None:
        self._events.append(event)

    def _send(self, message: Message) -> None:
        """Queue one line. What the server made us echo (a PING token) may be unsendable:
        that line is dropped and logged, the conversation goes on."""
        try:
            self._lines.append(message.format())
        except InvalidMessageError as exc:
            log.warning("not sent: %s", exc)

    # -- facts from the owner ------------------------------------------------------------------

    def connection_made(self, now: float) -> None:
        """A new connection is open: start registering on it."""
        self._new_connection_state(connected=True, now=now)
        self._send(Message("CAP", ["LS", "302"]))
        self._cap_pending = True
        if self.password is not None:
            self._send(Message("PASS", [self.password]))
        self._send(Message("NICK", [self.nick]))
        self._send(Message("USER", [self.username, "0", "*", self.realname]))

    def connection_lost(self) -> None:
        """The connection ended: nothing more may be written until the next welcome."""
        self.outbox.requeue()
        self._emit_rejoined(self._rejoiner.take(lambda _key: True))
        if self.user_modes:  # a teacher's powers end with the connection that had them
            self._emit(ev.UserModes(""))
        self._new_connection_state(connected=False, now=0.0)

    def heard_from_server(self, now: float) -> None:
        """Bytes arrived: the server is alive."""
        self._last_received = now
        self._probe_sent_at = None

    def receive(self, message: Message, now: float) -> str | None:
        """Handle one line from the server; returns why the connection must end, if so."""
        handler = _HANDLERS.get(message.command)
        if handler is not None:
            return handler(self, message, now)
        if message.command.isdigit() and message.command[0] in "45":
            self._on_error_numeric(message)
        return None

    def next_deadline(self) -> float:
        """When ``tick`` has something to do next (``now`` units)."""
        if self._probe_sent_at is not None:
            wake = self._probe_sent_at + self.keepalive_timeout
        else:
            wake = self._last_received + self.keepalive_after
        if self.registered and not self._is_me(self.wanted_nick):
            wake = min(wake, self._nick_retry_at)
        rejoin = self._rejoiner.deadline()
        return wake if rejoin is None else min(wake, rejoin)

    def tick(self, now: float) -> str | None:
        """Run the timers; returns why the connection must end when the server went silent."""
        self._emit_rejoined(self._rejoiner.due(now))  # long messages whose end never came
        if self._probe_sent_at is not None:
            if now >= self._probe_sent_at + self.keepalive_timeout:
                silence = now - self._last_received
                return f"no answer from the server for {silence:.0f} s"
        elif now >= self._last_received + self.keepalive_after:
            self._probe_sent_at = now
            self._send(Message("PING", [KEEPALIVE_TOKEN]))
        if self.registered and not self._is_me(self.wanted_nick) and now >= self._nick_retry_at:
            self._nick_retry_at = now + self.nick_retry_interval
            self._send(Message("NICK", [self.wanted_nick]))
        return None

    # -- wishes from the owner (validated by the caller) ------------------------------------------

    def queue_message(self, item: PendingMessage) -> None:
        """Add a message to the outbox; ``send_pending()`` writes it."""
        self.outbox.add(item)
        self._outbox_grew = True

    def send_pending(self) -> None:
        """After a batch of wishes: write what was queued (one ack PING for them all) and
        tell the owner how many messages are waiting."""
        if self._outbox_grew:
            self._outbox_grew = False
            self._flush_outbox()
            self._emit_outbox()

    def join(self, channel: str) -> None:
        self.channels[irc_lower(channel)] = channel
        if self.registered:
            self._send(Message("JOIN", [channel]))

    def part(self, channel: str, reason: str = "") -> None:
        if self.channels.pop(irc_lower(channel), None) and self.registered:
            self._send(Message("PART", [channel, reason] if reason else [channel]))

    def change_nick(self, nick: str) -> None:
        if self.registered:  # the server answers: a NICK, or a refusal said to the user
            self._asked_nick = nick
            self._send(Message("NICK", [nick]))
            return
        self.wanted_nick = nick
        if self.connected:
            self._send(Message("NICK", [nick]))
        else:
            self.nick = nick

    def send_control(self, message: Message) -> None:
        """A line such as TOPIC that needs registration: sent now, or after the welcome."""
        if self.registered:
            self._send(message)
        else:
            self._control.append(message)

    def send_tags(self, message: Message) -> None:
        """A ``TAGMSG`` (a reaction, typing): sent now if the server reads tags, else
        dropped (it is no message: nothing waits for a reconnect)."""
        if self.registered and "message-tags" in self.caps:
            self._send(message)

    def login(self, password: str) -> None:
        """The user typed the account password our nick needs: the next connection logs in
        with SASL PLAIN (``account_password``); on this one, if a network's NickServ asked,
        we identify to it now."""
        self.account_password = password
        self.awaiting_login = False
        if self.registered and self._asked_login and not self._logged_in:
            self._identified = True
            self._send(Message("PRIVMSG", ["NickServ", f"IDENTIFY {password}"]))

    def skip_login(self) -> None:
        """The user would rather not log in: take the fallback nick instead (on a network,
        where we are in already, its services decide what happens to the nick)."""
        self.awaiting_login = False
        if not self.registered:
            self.wanted_nick = self.nick = f"{self.wanted_nick[: irc.NICKLEN - 1]}_"

    def goodbye(self, reason: str) -> None:
        self._send(Message("QUIT", [reason or "Charla"]))

    # -- the outbox ------------------------------------------------------------------------------

    def _flush_outbox(self) -> None:
        """Write waiting messages, as many as may be unconfirmed at once, then the PING whose
        PONG will confirm them; the PONG lets the next ones go. So a long outbox (a paste
        made offline) goes out at the pace the server reads, never as a flood it drops us
        for, and it never loops."""
        if not self.registered or not self.outbox.waiting:
            return
        taken = self.outbox.take_waiting(ready=self._may_send)
        if not taken:
            return  # the window is full (the next ack lets more go), or a channel not joined
        for item in taken:
            tags = {}
            if irc.SESSION_CAP in self.caps:
                tags[irc.SEQ_TAG] = str(item.message_id)
                self._first_sight(session_msgid(self._alias, item.message_id))
            if item.continues and "message-tags" in self.caps:  # the receiver rejoins them
                tags[CONTINUES_TAG] = ""
            if item.reply_to and "message-tags" in self.caps:
                tags["+reply"] = item.reply_to
            if item.poll and "message-tags" in self.caps:
                tags[POLL_TAG] = ",".join(item.poll)
            self._send(Message(item.command, [item.target, item.text], tags=tags))
            self._said.append((irc_lower(item.target), item.text))
        self._send(Message("PING", [self.outbox.ack_token()]))

    def _may_send(self, item: PendingMessage) -> bool:
        """A message to a channel goes once we are in it on this connection (our JOIN came
        back): sent before, the server would refuse it, or relay it to a channel the
        others of a network are not back in yet, and its confirmation would lie. A
        private message goes at once, and so does one to a channel we do not want (left,
        refused): the server says why it is not relayed (``Refused``)."""
        folded = irc_lower(item.target)
        return (
            item.target[:1] not in irc.CHANTYPES
            or folded in self._joined
            or folded not in self.channels
        )

    def _forget_said(self, target: str, text: str) -> bool:
        """Whether we said ``text`` to ``target`` in this run (and forget it once): a
        server that does not tell us our messages' msgids (no ``echo-message``, not
        Charla), InspIRCd's ``chanhistory`` say, replays them to us when we join again,
        after a reconnect or on another server of the network, as if they were new."""
        said = (irc_lower(target), text)
        if said not in self._said:
            return False
        self._said.remove(said)
        return True

    def _emit_outbox(self) -> None:
        self._emit(ev.OutboxChanged(len(self.outbox)))

    # -- what the server says ----------------------------------------------------------------------

    def _is_me(self, nick: str | None) -> bool:
        return nick is not None and fold_name(nick) == fold_name(self.nick)

    def _time_of(self, message: Message) -> datetime:
        """The server's ``time`` tag (a burst shares one per millisecond: parsed once), or now."""
        stamp = message.tags.get("time")
        if stamp:
            if stamp == self._last_stamp[0] and self._last_stamp[1] is not None:
                return self._last_stamp[1]
            with contextlib.suppress(ValueError, OverflowError, OSError):  # year 1, 99999…
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
                self._last_stamp = (stamp, when)
                return when
        return datetime.now(timezone.utc).astimezone()

    def _on_ping(self, message: Message, now: float) -> None:
        self._send(Message("PONG", [message.param(0, "x")]))

    def _on_pong(self, message: Message, now: float) -> None:
        token = _last(message)
        confirmed = self.outbox.confirm(token)
        if confirmed is not None:
            session = irc.SESSION_CAP in self.caps
            for message_id in confirmed:
                msgid = session_msgid(self._alias, message_id) if session else ""
                self._emit(ev.Delivered(message_id, msgid))
            self._flush_outbox()  # room for the next ones
            self._emit_outbox()

    def _on_cap(self, message: Message, now: float) -> None:
        sub = message.param(1).upper()
        if sub == "LS":
            self._offered |= {cap.split("=", 1)[0] for cap in message.params[-1].split()}
            if message.param(2) == "*":  # more LS lines follow
                return
            wanted = [cap for cap in WANTED_CAPS if cap in self._offered]
            if self.account_password is not None and SASL_CAP in self._offered:
                wanted.append(SASL_CAP)
            if wanted:
                self._send(Message("CAP", ["REQ", " ".join(wanted)]))
            else:
                self._end_cap()
        elif sub == "ACK":
            self.caps |= set(message.params[-1].split())
            if irc.SESSION_CAP in self.caps and not self._session_sent:
                self._session_sent = True
                self._send(Message("SESSION", [self.session_token]))
                if self._refused_before_session is not None:
                    self._refused_before_session = None
                    self._send(Message("NICK", [self.nick]))  # now it knows it is us
            if SASL_CAP in self.caps and self.account_password is not None:
                if not self._sasl_started:
                    self._sasl_started = True
                    self._send(Message("AUTHENTICATE", ["PLAIN"]))
                return  # CAP END once the login is over (903)
            self._end_cap()
        elif sub == "NAK":
            self._end_cap()

    def _end_cap(self) -> None:
        if self._refused_before_session is not None:  # no session after all: fall back
            refused, self._refused_before_session = self._refused_before_session, None
            self._fall_back(refused)
        if self._cap_pending:
            self._cap_pending = False
            self._send(Message("CAP", ["END"]))

    def _on_authenticate(self, message: Message, now: float) -> None:
        """``AUTHENTICATE +``: the server waits for our PLAIN credentials (IRCv3 SASL):
        ``authzid NUL authcid NUL password`` in base64, in pieces of ``SASL_CHUNK``, and a
        lone ``+`` after a last piece that was exactly full."""
        if message.param(0) != "+" or self.account_password is None:
            return
        account = self.wanted_nick
        plain = f"{account}\0{account}\0{self.account_password}".encode()
        encoded = base64.b64encode(plain).decode("ascii")
        pieces = [encoded[i : i + SASL_CHUNK] for i in range(0, len(encoded), SASL_CHUNK)]
        if not pieces or len(pieces[-1]) == SASL_CHUNK:
            pieces.append("+")
        for piece in pieces:
            self._send(Message("AUTHENTICATE", [piece]))

    def _on_sasl_done(self, message: Message, now: float) -> None:
        """903 logged in, 907 already: registration goes on (with our nick, if the server
        refused it before we were logged in)."""
        self._sasl_over = True
        if self._nick_after_login:
            self._nick_after_login = False
            self._send(Message("NICK", [self.nick]))
        self._end_cap()

    def _on_logged_in(self, message: Message, now: float) -> None:
        """900: ``<nick> <mask> <account> :You are now logged in``."""
        self._logged_in = True
        self._emit(ev.LoggedIn(message.param(2) or self.wanted_nick))

    def _services_ask(self, sender: str, text: str) -> bool:
        """A network's NickServ says our nick is registered and asks us to identify (a
        network's services, not Charla's server, which refuses the nick with 433 instead).
        With the password already known (typed earlier, or given), identify at once;
        otherwise ask our user, once per connection (``LoginNeeded``; the connection goes
        on). Returns whether the notice was this."""
        if not self.registered or self._logged_in or irc_lower(sender) != "nickserv":
            return False
        if not (_REGISTERED_NICK.search(text) and _IDENTIFY.search(text)):
            return False
        if self.account_password is not None:
            if not self._identified:
                self._identified = True
                self._send(Message("PRIVMSG", [sender, f"IDENTIFY {self.account_password}"]))
        elif not self._asked_login:
            self._asked_login = True
            self._emit(ev.LoginNeeded(self.nick, text))
        return True

    def _on_sasl_failed(self, message: Message, now: float) -> str:
        """A wrong password (904) and the like: said once, and no retry with it."""
        self.account_password = None
        self.fatal = _last(message) or tr("login failed")
        self._emit(ev.ServerError(message.command, _last(message)))
        return self.fatal

    def _on_welcome(self, message: Message, now: float) -> None:
        self.registered = True
        self._cap_pending = False
        self.nick = message.param(0, self.nick)
        self.server_name = message.source or ""
        self._emit(ev.Registered(self.nick, self.server_name))
        if self.oper is not None:  # first: a teacher joins as one (no +o afterwards)
            self._oper_pending = True
            self._send(Message("OPER", list(self.oper)))
            if not self._is_me(self.wanted_nick):  # a reserved nick, a teacher's once OPER is done
                self._send(Message("NICK", [self.wanted_nick]))
        for channel in self.channels.values():
            self._send(Message("JOIN", [channel]))
        while self._control:
            self._send(self._control.popleft())
        self._flush_outbox()
        if not self._is_me(self.wanted_nick):
            self._nick_retry_at = now + self.nick_retry_interval

    def _on_nick_refused(self, message: Message, now: float) -> str | None:
        registered_nick = (
            not self.registered
            and message.command == irc.ERR_NICKNAMEINUSE
            and _REGISTERED_NICK.search(_last(message)) is not None
        )
        if registered_nick and self.account_password is not None and not self._sasl_over:
            # NICK went out with CAP LS, before we logged in: ask again once we are in
            self._nick_after_login = True
            return None
        if registered_nick and self.account_password is None:
            # An account's nick: ask our user for its password instead of taking another
            # nick; the connection ends and the next one logs in (see ``login``).
            self.awaiting_login = True
            self._emit(ev.LoginNeeded(message.param(1) or self.nick, _last(message)))
            return "the nickname is registered: waiting for its password"
        if self.registered:
            asked = self._asked_nick
            if asked is not None and irc_lower(message.param(1)) == irc_lower(asked):
                self._asked_nick = None  # our user's /apodo: said now, never retried
                self._emit(ev.NickRefused(asked, message.command, _last(message), self.nick))
                return
            if not self._is_me(self.wanted_nick):
                return  # taking our nick back did not work yet: keep the temporary one
            self._emit(ev.ServerError(message.command, _last(message)))
            return
        if (
            message.command == irc.ERR_NICKNAMEINUSE
            and message.param(1) == self.nick
            and self._cap_pending
            and irc.SESSION_CAP in self._offered
            and not self._session_sent
        ):
            # NICK went out with CAP LS, before the server knew our session token; the
            # holder may be our own half-open connection: ask again after SESSION.
            self._refused_before_session = message
            return None
        return self._fall_back(message)

    def _fall_back(self, message: Message) -> str | None:
        """Registration refused our nick: ask for another, tell the user, and give up (the
        reason to hang up) when the server takes none, so nothing loops for ever.

        In use (433, 437): ``nick_``, then the nick and three digits. Not valid there (432:
        many servers refuse ``Begoña``): once, the nick in plain ASCII (``Begona``), which
        then becomes the nick we want on this server; if that is refused too, we stop.
        """
        refused = message.param(1)
        self._nicks_refused += 1
        if self._nicks_refused > MAX_NICKS_REFUSED:
            self.fatal = tr("the server accepted none of the nicknames tried")
            return self.fatal
        wanted = self.wanted_nick
        if (
            message.command == irc.ERR_ERRONEUSNICKNAME
            and self.oper is not None
            and refused == wanted
            and _RESERVED_NICK.search(_last(message)) is not None
        ):
            # a hosting teacher called "Profe", a reserved word: in under a stand-in nick,
            # and the nick it wants right after its OPER (a teacher may take it)
            fallback = f"{wanted[: irc.NICKLEN - 4]}{random.randint(100, 999)}"
        elif message.command == irc.ERR_ERRONEUSNICKNAME:
            plain = ascii_nick(wanted)
            if refused == plain or plain is None or plain == wanted:
                # its own words say why (Charla's: a word kept for teachers), in its language
                self.fatal = tr("the server does not accept the nickname {nick} ({why})").format(
                    nick=wanted, why=_last(message)
                )
                return self.fatal
            self.wanted_nick = fallback = plain
        else:
            fallback = f"{wanted[: irc.NICKLEN - 1]}_" if refused == wanted else ""
            if not fallback or refused == fallback:
                fallback = f"{wanted[: irc.NICKLEN - 4]}{random.randint(100, 999)}"
        self._emit(
            ev.ServerError(message.command, f"{refused}: {_last(message)} -> {fallback}", fallback)
        )
        self.nick = fallback
        self._send(Message("NICK", [fallback]))
        return None

    def _on_password_refused(self, message: Message, now: float) -> str | None:
        if self.registered:  # RFC 2812: the answer to a wrong OPER password, not PASS
            if not self._oper_refused(message):
                self._on_error_numeric(message)
            return None
        self.fatal = tr("wrong password")  # shown as the reason of "Desconectado: …"
        self._emit(ev.ServerError(message.command, _last(message)))
        return self.fatal

    def _oper_refused(self, message: Message) -> bool:
        """Whether ``message`` refuses the OPER we sent for a hosted room (464, 491, or 421
        from a server without operators): logged, not shown, since the user never typed it."""
        refuses = message.command in (irc.ERR_PASSWDMISMATCH, "491") or (
            message.command == irc.ERR_UNKNOWNCOMMAND and message.param(1).upper() == "OPER"
        )
        if not (self._oper_pending and refuses):
            return False
        self._oper_pending = False
        log.warning("the server did not make this window the room's teacher: %s", message)
        return True

    def _on_error_numeric(self, message: Message) -> None:
        if self._oper_refused(message):
            return
        if self.registered or message.command == irc.ERR_INPUTTOOLONG:
            about = message.param(1) if len(message.params) > 2 else ""
            if message.command in JOIN_REFUSALS and about[:1] in irc.CHANTYPES:
                self.channels.pop(irc_lower(about), None)  # refused: no rejoin loop
                self._flush_outbox()  # what waited for it is refused by the server too
            self._emit(ev.ServerError(message.command, " ".join(message.params[1:]), target=about))

    def _on_cannot_send(self, message: Message, now: float) -> None:
        """404: the server did not relay a message of ours to that target. It handles our
        lines in order, so the refused one is the oldest unconfirmed message to that target;
        it leaves the outbox (it must not be sent again) and the user is told which."""
        target = message.param(1)
        for item in self.outbox.unconfirmed:
            if irc_lower(item.target) == irc_lower(target):
                self.outbox.unconfirmed.remove(item)
                self._emit(
                    ev.Refused(item.message_id, item.target, message.command, _last(message))
                )
                self._emit_outbox()
                return
        self._on_error_numeric(message)

    def _on_isupport(self, message: Message, now: float) -> None:
        """005: the status prefixes (``PREFIX=(ov)@+``), mode types (``CHANMODES``) and a
        Charla server's upload token (``charla.chat/UPLOAD``)."""
        for token in message.params[1:-1]:
            name, _, value = token.partition("=")
            if name == "PREFIX":
                match = re.fullmatch(r"\(([A-Za-z]*)\)(\S*)", value)
                if match and len(match.group(1)) == len(match.group(2)):
                    self.prefixes = dict(zip(match.group(1), match.group(2), strict=True))
            elif name == "CHANMODES":
                kinds = value.split(",")
                if len(kinds) >= 4:
                    self.chanmodes = (kinds[0], kinds[1], kinds[2], kinds[3])
            elif name == "charla.chat/UPLOAD" and re.fullmatch(r"[A-Za-z0-9_-]{16,64}", value):
                self.upload_token = value
            elif name == "CHATHISTORY":
                page = wire_number(value) if value else 0
                self.history_page = min(page or OLDER_PAGE, OLDER_PAGE) if page is not None else 0

    def _takes_param(self, letter: str, adding: bool) -> bool:
        lists, always, when_set, _never = self.chanmodes
        return (
            letter in self.prefixes
            or letter in lists
            or letter in always
            or (adding and letter in when_set)
        )

    def _mode_changes(self, modes: str, params: list[str]) -> list[tuple[bool, str, str]]:
        """``+o-v``, ``[ana, bea]`` -> ``[(True, "o", "ana"), (False, "v", "bea")]``."""
        changes: list[tuple[bool, str, str]] = []
        adding, given = True, iter(params)
        for letter in modes:
            if letter in "+-":
                adding = letter == "+"
                continue
            param = next(given, "") if self._takes_param(letter, adding) else ""
            changes.append((adding, letter, param))
        return changes

    def _on_mode(self, message: Message, now: float) -> None:
        target, by = message.param(0), message.source_nick or message.source or ""
        changes = self._mode_changes(message.param(1), message.params[2:])
        if target[:1] not in irc.CHANTYPES:
            if self._is_me(target):
                self._set_user_modes(changes)
            return
        for adding, letter, param in changes:
            if letter in self.prefixes:
                if param:
                    self._emit(ev.MemberStatus(target, param, adding, letter, by))
            else:
                self._emit(
                    ev.ModeChanged(target, adding, letter, param, by, irc.tagged_end(message))
                )

    def _set_user_modes(self, changes: Iterable[tuple[bool, str, str]]) -> None:
        modes = self.user_modes
        for adding, letter, _param in changes:
            modes = modes.replace(letter, "") + (letter if adding else "")
        if modes != self.user_modes:
            self.user_modes = modes
            self._emit(ev.UserModes(modes))

    def _on_user_mode_reply(self, message: Message, now: float) -> None:
        """221: our user modes, all of them."""
        changes = [(False, letter, "") for letter in self.user_modes]
        self._set_user_modes(changes + self._mode_changes(message.param(1), []))

    def _on_oper(self, message: Message, now: float) -> None:
        """381: we are an operator (a teacher)."""
        self._oper_pending = False
        self._set_user_modes([(True, "o", "")])

    def _on_channel_modes(self, message: Message, now: float) -> None:
        """324 ``me #chan +ntS 10``: every mode the channel has."""
        changes = self._mode_changes(message.param(2), message.params[3:])
        modes = tuple((letter, param) for adding, letter, param in changes if adding)
        self._emit(ev.ChannelModes(message.param(1), modes))

    def _on_invite(self, message: Message, now: float) -> None:
        if self._is_me(message.param(0)):
            self._emit(ev.Invited(message.param(1), message.source_nick or ""))

    def _on_inviting(self, message: Message, now: float) -> None:
        """341 ``me nick #chan``: our invitation went out."""
        self._emit(ev.InviteSent(message.param(1), message.param(2)))

    def _on_fail(self, message: Message, now: float) -> None:
        """IRCv3 standard replies, ``FAIL <command> <code> [context…] :text`` (a refused
        ``REDACT``, ``REGISTER``…): the user reads why. A refused ``CHATHISTORY`` (asked
        for behind the user's back) only ends the wait for older messages."""
        command, code = message.param(0), message.param(1)
        if command == "CHATHISTORY":
            self._on_history_failed(message)
            return
        about = message.param(2) if len(message.params) > 3 else ""
        self._emit(ev.ServerError(f"FAIL {command} {code}", _last(message), target=about))

    def _on_redact(self, message: Message, now: float) -> None:
        """``REDACT <target> <msgid> [:reason]`` (IRCv3 message redaction)."""
        target, by = message.param(0), message.source_nick or message.source or ""
        if target[:1] not in irc.CHANTYPES and self._is_me(target):
            target = by  # a private message: the conversation is the other person's
        if message.param(1):
            self._emit(ev.Redacted(target, message.param(1), by, message.param(2)))

    def _on_error(self, message: Message, now: float) -> str:
        """The server closes the connection. Before the welcome, an ``ERROR`` that says we
        may not come in (ngIRCd's "Access denied: Bad password?", InspIRCd's "Access denied
        by configuration", a ban) is final: trying again would only be refused again."""
        reason = message.param(0, "closed by the server")
        if not self.registered and _REFUSED_FOR_GOOD.search(reason):
            self.fatal = reason
        return reason

    def _on_join(self, message: Message, now: float) -> None:
        channel, who = message.param(0), message.source_nick or ""
        if self._is_me(who):
            self.channels.setdefault(irc_lower(channel), channel)
            self._joined.add(irc_lower(channel))
            self._send(Message("MODE", [channel]))  # its modes: the window tells its user
            if AWAY_CAP in self.caps:  # who is away already (G); later ones come as AWAY
                self._send(Message("WHO", [channel]))
        self._emit(ev.Joined(channel, who, self._is_me(who)))
        if self._is_me(who):
            self._flush_outbox()  # what waited for this channel

    def _on_away(self, message: Message, now: float) -> None:
        """``AWAY [:text]`` (away-notify): a member went away, or is back (no text)."""
        text = message.param(0)
        self._emit(ev.Away(message.source_nick or "", bool(text), text))

    def _on_away_reply(self, message: Message, now: float) -> None:
        """301: the one we wrote to privately is away, and why."""
        self._emit(ev.Away(message.param(1), True, _last(message), replying=True))

    def _on_own_away(self, message: Message, now: float) -> None:
        """305 (back) / 306 (away): the server took our own ``AWAY``."""
        self._emit(ev.Away(self.nick, message.command == irc.RPL_NOWAWAY))

    def _on_who_reply(self, message: Message, now: float) -> None:
        """352: ``<me> <channel> <user> <host> <server> <nick> <H|G>… :<hops> <realname>``;
        ``G`` (gone) is away. Only those away are told: everyone starts here."""
        flags = message.param(6)
        if flags.startswith("G"):
            self._emit(ev.Away(message.param(5), True))

    def _on_part(self, message: Message, now: float) -> None:
        channel, who = message.param(0), message.source_nick or ""
        self._rejoined_from(who)
        if self._is_me(who):
            self._left(channel)
        self._emit(ev.Parted(channel, who, message.param(1), self._is_me(who)))

    def _left(self, channel: str) -> None:
        """We are out of ``channel``: not rejoined; what waited for it goes (and is refused)."""
        self.channels.pop(irc_lower(channel), None)
        self._joined.discard(irc_lower(channel))
        self._flush_outbox()

    def _on_kick(self, message: Message, now: float) -> None:
        channel, who = message.param(0), message.param(1)
        if self._is_me(who):
            self._left(channel)  # not rejoined after a reconnect
        by = message.source_nick or ""
        self._emit(ev.Kicked(channel, who, by, message.param(2), self._is_me(who)))

    def _on_quit(self, message: Message, now: float) -> None:
        who = message.source_nick or ""
        self._rejoined_from(who)
        self._emit(ev.UserQuit(who, message.param(0)))
        if irc_lower(who) == irc_lower(self.wanted_nick) and not self._is_me(who):
            self._send(Message("NICK", [self.wanted_nick]))  # our nick was just freed

    def _on_nick(self, message: Message, now: float) -> None:
        old, new = message.source_nick or "", message.param(0)
        self._rejoined_from(old)
        me = self._is_me(old)
        if me:
            self.nick = new
            if self._asked_nick is not None and irc_lower(new) == irc_lower(self._asked_nick):
                self._asked_nick = None
                self.wanted_nick = new  # the name our user chose: the one kept on reconnects
        self._emit(ev.NickChanged(old, new, me))
        if not me and irc_lower(old) == irc_lower(self.wanted_nick):
            self._send(Message("NICK", [self.wanted_nick]))  # its holder took another

    def _on_topic(self, message: Message, now: float) -> None:
        by = message.source_nick or ""
        self._emit(ev.Topic(message.param(0), message.param(1), by, changed=True))

    def _on_topic_reply(self, message: Message, now: float) -> None:
        self._emit(ev.Topic(message.param(1), message.param(2), "", changed=False))

    def _on_names_reply(self, message: Message, now: float) -> None:
        """353: nicks with their status prefixes (``@profe +ana``; several with
        multi-prefix), kept as (nick, letters) until 366."""
        letter_of = {symbol: letter for letter, symbol in self.prefixes.items()}
        entries = self._names.setdefault(irc_lower(message.param(2)), [])
        for word in _last(message).split():
            nick = word.lstrip("~&@%+" + "".join(letter_of))
            letters = "".join(letter_of.get(symbol, "") for symbol in word[: len(word) - len(nick)])
            if nick:
                entries.append((nick, "".join(sorted(letters))))

    def _on_names_end(self, message: Message, now: float) -> None:
        channel = message.param(1)
        entries = self._names.pop(irc_lower(channel), [])
        self._emit(
            ev.Names(
                channel, tuple(nick for nick, _ in entries), tuple(status for _, status in entries)
            )
        )

    def _on_motd_start(self, message: Message, now: float) -> None:
        self._motd = []

    def _on_motd_line(self, message: Message, now: float) -> None:
        """372: one line of the welcome, without the ``- `` every server puts first."""
        if self._motd is not None and len(self._motd) < MAX_MOTD_LINES:
            text = _last(message)
            self._motd.append(text[2:] if text.startswith("- ") else text.removeprefix("-"))

    def _on_motd_end(self, message: Message, now: float) -> None:
        if self._motd is not None:
            lines, self._motd = self._motd, None
            while lines and not lines[-1].strip():
                lines.pop()
            if lines:
                self._emit(ev.Motd(tuple(lines)))

    def _on_batch(self, message: Message, now: float) -> None:
        reference = message.param(0)
        if reference.startswith("+"):
            self._batches[reference[1:]] = message.param(1)
            target = message.param(2)
            if message.param(1) == "chathistory" and irc_lower(target) in self._older_asked:
                self._older_asked.discard(irc_lower(target))
                self._older[reference[1:]] = _OlderBatch(target)
        else:
            self._batches.pop(reference[1:], None)
            older = self._older.pop(reference[1:], None)
            if older is not None:
                self._emit(
                    ev.OlderMessages(older.target, tuple(older.messages), tuple(older.reactions))
                )

    def request_older(self, target: str, before_msgid: str) -> bool:
        """Ask for the messages of ``target`` before ``before_msgid`` (an ``OlderMessages``
        event brings them); False when the server keeps no such history."""
        if not (self.registered and self.history_page and MSGID.fullmatch(before_msgid)):
            return False
        folded = irc_lower(target)
        if folded in self._older_asked:
            return True  # asked already: one answer comes
        self._older_asked.add(folded)
        page = str(self.history_page)
        self._send(Message("CHATHISTORY", ["BEFORE", target, f"msgid={before_msgid}", page]))
        return True

    def _on_history_failed(self, message: Message) -> None:
        """``FAIL CHATHISTORY … <target>``: no older messages will come for it."""
        for param in message.params[2:-1]:
            if irc_lower(param) in self._older_asked:
                self._older_asked.discard(irc_lower(param))
                self._emit(ev.OlderMessages(param, ()))

    def _conversation_of(self, message: Message) -> str:
        """The conversation a line belongs to: its channel, or the other person."""
        target = message.param(0)
        if target[:1] in irc.CHANTYPES:
            return target
        return (message.source_nick or "") if not self._is_me(message.source_nick) else target

    def _on_tagmsg(self, message: Message, now: float) -> None:
        """IRCv3 ``TAGMSG``: a reaction (``+draft/react`` / ``+draft/unreact`` on the
        message its ``+reply`` names) or typing (``+typing``); anything else is ignored."""
        tags, nick = message.tags, message.source_nick or ""
        if not message.params or not nick:
            return
        conversation = self._conversation_of(message)
        typing = tags.get(TYPING_TAG)
        if typing in TYPING_STATES and not self._is_me(nick):
            self._emit(ev.Typing(conversation, nick, typing))
            return
        answered = next((tags[key] for key in REPLY_TAGS if tags.get(key)), "")
        emoji = tags.get(REACT_TAG) or tags.get(UNREACT_TAG) or ""
        if not (MSGID.fullmatch(answered) and 0 < len(emoji) <= MAX_REACTION_CHARS):
            return
        if not emoji.isprintable() or not self._first_sight(tags.get("msgid", "")):
            return
        reaction = ev.Reaction(conversation, nick, answered, emoji, REACT_TAG in tags)
        older = self._older.get(tags.get("batch", ""))
        if older is not None:
            older.reactions.append(reaction)  # given after the messages they are on
        else:
            self._emit(reaction)

    def _first_sight(self, msgid: str) -> bool:
        """Whether the message ``msgid`` is new to us (and remember it)."""
        if not msgid:
            return True
        if msgid in self._seen:
            return False
        self._seen[msgid] = None
        if len(self._seen) > REMEMBERED_MSGIDS:
            self._seen.popitem(last=False)
        return True

    def _server_notice(self, target: str, text: str, when: datetime, history: bool) -> None:
        """A NOTICE from the server itself (no ``nick!user@host`` source, or none at all).
        An announcement (a banner no one can fake) when said to a channel, as Charla's
        console announcements are, or said to us by a Charla server once we are in (the
        console's words to someone in no channel, the history-disk warnings); anything
        else, such as ngIRCd's "Connection statistics" at QUIT, is the server's chatter:
        an ordinary line."""
        if target[:1] in irc.CHANTYPES:
            if self.registered:
                self._emit(ev.Announcement(text, when, target, history))
        elif self.registered and irc.SESSION_CAP in self.caps:
            self._emit(ev.Announcement(text, when, "", history))
        else:
            self._emit(ev.ServerNotice(text, when))

    def _on_text(self, message: Message, now: float) -> None:
        if len(message.params) < 2:
            return  # no target or no text: nothing to show
        target, text = message.params[0], message.params[1]
        msgid = message.tags.get("msgid", "")
        if not self._first_sight(msgid):
            return  # replayed history we already showed, or a repeat after a reconnect
        history = self._batches.get(message.tags.get("batch", "")) == "chathistory"
        sender = message.source_nick or ""
        if history and self._is_me(sender) and self._forget_said(target, text):
            return  # ours, shown when we sent it; a server that gave us no msgid for it
        when = self._time_of(message)
        if message.command == "NOTICE" and "!" not in (message.source or ""):
            self._server_notice(target, text, when, history)
            return
        if message.command == "NOTICE" and not history and self._services_ask(sender, text):
            return  # shown as the window's question, not as a notice
        kind = "notice" if message.command == "NOTICE" else "message"
        if text.startswith("\x01") and text.endswith("\x01") and len(text) > 1:
            verb, _, rest = text[1:-1].partition(" ")
            if verb.upper() != "ACTION":
                return  # other CTCP requests are not for people
            kind, text = "action", rest
        private = target[:1] not in irc.CHANTYPES
        own = self._is_me(sender)
        answered = next((message.tags[k] for k in REPLY_TAGS if message.tags.get(k)), "")
        piece = ev.ChatMessage(
            sender,
            target,
            text,
            when,
            kind,
            private,
            own,
            history,
            msgid,
            reply_to=answered if MSGID.fullmatch(answered) else "",
            poll=poll_options(message.tags.get(POLL_TAG, "")),
        )
        more = CONTINUES_TAG in message.tags
        older = self._older.get(message.tags.get("batch", ""))
        if older is not None:  # asked for: collected, in order, and given at the batch's end
            older.add(piece, more)
            return
        key = (irc_lower(sender), irc_lower(target), kind, history)
        self._emit_rejoined(self._rejoiner.add(key, piece, text, more, now))

    def _emit_rejoined(
        self, messages: list[tuple[ev.ChatMessage, str, tuple[ev.ChatMessage, ...]]]
    ) -> None:
        """Messages put back together (``net.text_cuts.Rejoiner``): the first piece's
        time and id, the whole text, and the later pieces' ids (to delete all of it)."""
        for first, text, later in messages:
            if later:
                more_msgids = tuple(piece.msgid for piece in later if piece.msgid)
                first = dataclasses.replace(first, text=text, more_msgids=more_msgids)
            self._emit(first)

    def _rejoined_from(self, nick: str) -> None:
        """``nick`` leaves or changes name: what it was sending in pieces is shown now."""
        folded = irc_lower(nick)
        self._emit_rejoined(self._rejoiner.take(lambda key: key[0] == folded))


def poll_options(value: str) -> tuple[str, ...]:
    """A poll tag's options: at most ``MAX_POLL_OPTIONS`` short printable ones, no repeats.

    >>> poll_options("👍,👎"), poll_options(""), poll_options("a,a,b")
    (('👍', '👎'), (), ('a', 'b'))
    """
    options = [
        option
        for option in value.split(",")
        if 0 < len(option) <= MAX_REACTION_CHARS and option.isprintable() and " " not in option
    ]
    return tuple(dict.fromkeys(options))[:MAX_POLL_OPTIONS]


@dataclass
class _OlderBatch:
    """Older messages on their way (``ClientProtocol.request_older``): a long message's
    pieces put back together as they come, in order (``+charla.chat/continues``)."""

    target: str
    messages: list[ev.ChatMessage] = dataclasses.field(default_factory=list)
    reactions: list[ev.Reaction] = dataclasses.field(default_factory=list)
    continues: bool = False  # the last message's last piece said more follows

    def add(self, piece: ev.ChatMessage, more: bool) -> None:
        last = self.messages[-1] if self.messages else None
        if last is not None and self.continues and last.sender == piece.sender:
            more_ids = (*last.more_msgids, piece.msgid) if piece.msgid else last.more_msgids
            self.messages[-1] = dataclasses.replace(
                last, text=last.text + piece.text, more_msgids=more_ids
            )
        else:
            self.messages.append(piece)
        self.continues = more


_Handler = Callable[[ClientProtocol, Message, float], "str | None"]

#: what the client does with each command or numeric it understands (others: ignored,
#: except error numerics, which become ``ServerError`` once registered)
_HANDLERS: dict[str, _Handler] = {
    "PING": ClientProtocol._on_ping,
    "PONG": ClientProtocol._on_pong,
    "CAP": ClientProtocol._on_cap,
    irc.RPL_WELCOME: ClientProtocol._on_welcome,
    irc.ERR_NICKNAMEINUSE: ClientProtocol._on_nick_refused,
    irc.ERR_ERRONEUSNICKNAME: ClientProtocol._on_nick_refused,
    "437": ClientProtocol._on_nick_refused,  # ERR_UNAVAILRESOURCE: nick temporarily held
    irc.ERR_PASSWDMISMATCH: ClientProtocol._on_password_refused,
    "ERROR": ClientProtocol._on_error,
    irc.RPL_ISUPPORT: ClientProtocol._on_isupport,
    irc.ERR_CANNOTSENDTOCHAN: ClientProtocol._on_cannot_send,
    "MODE": ClientProtocol._on_mode,
    irc.RPL_UMODEIS: ClientProtocol._on_user_mode_reply,
    irc.RPL_CHANNELMODEIS: ClientProtocol._on_channel_modes,
    "381": ClientProtocol._on_oper,  # RPL_YOUREOPER
    "INVITE": ClientProtocol._on_invite,
    "341": ClientProtocol._on_inviting,  # RPL_INVITING
    "REDACT": ClientProtocol._on_redact,
    "FAIL": ClientProtocol._on_fail,
    "AUTHENTICATE": ClientProtocol._on_authenticate,
    "900": ClientProtocol._on_logged_in,  # RPL_LOGGEDIN
    "903": ClientProtocol._on_sasl_done,  # RPL_SASLSUCCESS
    "907": ClientProtocol._on_sasl_done,  # ERR_SASLALREADY
    **{code: ClientProtocol._on_sasl_failed for code in SASL_FAILURES},
    "JOIN": ClientProtocol._on_join,
    "AWAY": ClientProtocol._on_away,
    "301": ClientProtocol._on_away_reply,  # RPL_AWAY
    "305": ClientProtocol._on_own_away,  # RPL_UNAWAY
    "306": ClientProtocol._on_own_away,  # RPL_NOWAWAY
    "352": ClientProtocol._on_who_reply,  # RPL_WHOREPLY
    "PART": ClientProtocol._on_part,
    "KICK": ClientProtocol._on_kick,
    "QUIT": ClientProtocol._on_quit,
    "NICK": ClientProtocol._on_nick,
    "TOPIC": ClientProtocol._on_topic,
    irc.RPL_TOPIC: ClientProtocol._on_topic_reply,
    irc.RPL_NAMREPLY: ClientProtocol._on_names_reply,
    irc.RPL_ENDOFNAMES: ClientProtocol._on_names_end,
    "BATCH": ClientProtocol._on_batch,
    irc.RPL_MOTDSTART: ClientProtocol._on_motd_start,
    irc.RPL_MOTD: ClientProtocol._on_motd_line,
    irc.RPL_ENDOFMOTD: ClientProtocol._on_motd_end,
    "PRIVMSG": ClientProtocol._on_text,
    "NOTICE": ClientProtocol._on_text,
    "TAGMSG": ClientProtocol._on_tagmsg,
}
