"""The client connection: talks to a Charla (or any IRC) server, reconnects, loses no message.

``ChatClient(host, port, nick, channels, events=queue)`` connects in the background,
registers, joins its channels and turns everything it hears into ``net.events`` objects
on ``events``. ``say()``, ``action()``, ``join()`` … return at once, connected or not.

What it guarantees:

- A silent connection is probed with ``PING`` after ``keepalive_after`` seconds and given
  up ``keepalive_timeout`` seconds later, so even a half-open TCP connection is noticed.
- Lost connections are retried with exponential backoff and jitter (``ReconnectPolicy``);
  the client rejoins its channels and keeps its nickname. On a Charla server it proves it
  is the same client (the ``charla.chat/session`` capability below) and gets its nick back
  at once; elsewhere it uses a temporary nick and takes its own back when it is free.
- Every message gets an id (returned by ``say``). It stays in the outbox until the server
  confirms it: after writing messages the client sends ``PING charla-ack-<id>``, and
  since a server handles one client's lines in order, the ``PONG`` proves that every
  message before it was received (``Delivered`` events). Unconfirmed messages are sent
  again after a reconnect, in order. Charla's server drops a repeat it has already seen
  (the ``charla.chat/seq`` tag), so nothing arrives twice; other servers may show a
  message twice if the connection died after they received it but before they confirmed.
- Long messages are split on character boundaries so that every relayed line fits the
  512-byte limit.

The ``charla.chat/session`` capability: a client that negotiated it sends
``SESSION <token>`` before registering, where the token is a random secret it keeps for
its lifetime. When it asks for a nick that a connection with the same token still holds
(the server has not noticed the old connection died), the server closes the old one and
hands the nick over. Its ``PRIVMSG``/``NOTICE`` lines carry ``@charla.chat/seq=<id>``;
the server relays each (token, id) once.

Threading rules: one network thread does all socket work and owns all connection state.
Public methods may be called from any thread: they put a command on ``_commands`` and wake
the network thread through a socket pair; they never block on the network. ``quit()``
waits at most about a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import secrets
import selectors
import socket
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from net import events as ev
from net import protocol as irc
from net.protocol import (
    LineBuffer,
    Message,
    decode_line,
    fold_name,
    irc_lower,
    parse,
    session_alias,
    session_msgid,
    split_utf8,
)

log = logging.getLogger(__name__)

#: capabilities the client asks for when the server offers them
WANTED_CAPS = irc.CAPABILITIES
ACK_PREFIX = "charla-ack-"
#: what the rest of a relayed line may take beside the text, when we do not know our host
HOST_ALLOWANCE = 64
#: how many message ids the client remembers, to drop what history replays twice
REMEMBERED_MSGIDS = 20_000


@dataclass(frozen=True)
class ReconnectPolicy:
    """How long to wait before each new try: ``first`` then ``base`` doubling up to ``most``."""

    first: float = 0.25
    base: float = 1.0
    most: float = 30.0
    jitter: float = 0.2  # each delay is randomly shortened or lengthened by up to this share
    max_attempts: int = 10_000  # tries in a row before giving up (about three days)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1, 2, …)."""
        nominal = self.first if attempt <= 1 else min(self.most, self.base * 2 ** (attempt - 2))
        return nominal * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True)
class _Outgoing:
    """One message waiting for the server's confirmation."""

    message_id: int
    command: str  # PRIVMSG or NOTICE
    target: str
    text: str


class ChatClient:
    """A self-healing connection to one server (see the module docstring)."""

    keepalive_after = 15.0  # silence before we PING the server
    keepalive_timeout = 10.0  # then this long for any answer before we call it dead
    connect_timeout = 5.0
    nick_retry_interval = 10.0  # while using a temporary nick, how often to ask for ours
    close_timeout = 1.0  # quit(): the longest it waits

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        channels: Iterable[str] = (irc.DEFAULT_CHANNEL,),
        events: queue.Queue | None = None,
        *,
        password: str | None = None,
        username: str | None = None,
        realname: str = "Charla",
        policy: ReconnectPolicy | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.events: queue.Queue = events if events is not None else queue.Queue()
        self.password = password
        self.username = username or "charla"
        self.realname = realname
        self.policy = policy or ReconnectPolicy()
        self._token = secrets.token_hex(16)  # proves to a Charla server we are the same client
        self._alias = session_alias(self._token)  # how our msgids name us
        self._commands: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="charla-client", daemon=True)
        self._next_id = 0
        self._id_lock = threading.Lock()  # guards _next_id (say() runs on callers' threads)
        # Everything below belongs to the network thread.
        self._wanted_nick = nick
        self._nick = nick
        self._channels: dict[str, str] = {irc_lower(c): c for c in channels}  # folded -> name
        self._outbox: deque[_Outgoing] = deque()  # not yet written on this connection
        self._unconfirmed: deque[_Outgoing] = deque()  # written, waiting for the ack PONG
        self._control: deque[str] = deque()  # TOPIC/NAMES lines waiting for registration
        #: msgids already shown (ours included), oldest first: history replays skip them
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_stamp: tuple[str, datetime | None] = ("", None)  # see _time_of
        self._stopping = False
        self._quit_reason = ""
        self._fatal: str | None = None  # a reason no retry can fix (a wrong password)
        self._reset_connection_state()

    # -- public API: any thread ------------------------------------------------------------

    def start(self) -> ChatClient:
        self._thread.start()
        return self

    @property
    def nick(self) -> str:
        """The nick in use (or being asked for)."""
        return self._nick

    def say(self, target: str, text: str) -> list[int]:
        """Send ``text`` to a channel or nick; returns the ids of the messages it became."""
        return self._queue_text("PRIVMSG", target, text, action=False)

    def action(self, target: str, text: str) -> list[int]:
        """``/me text``."""
        return self._queue_text("PRIVMSG", target, text, action=True)

    def notice(self, target: str, text: str) -> list[int]:
        return self._queue_text("NOTICE", target, text, action=False)

    def change_nick(self, nick: str) -> None:
        self._command("nick", nick)

    def join(self, channel: str) -> None:
        self._command("join", channel)

    def part(self, channel: str, reason: str = "") -> None:
        self._command("part", channel, reason)

    def set_topic(self, channel: str, topic: str) -> None:
        self._command("raw", Message("TOPIC", [channel, topic]).format())

    def request_names(self, channel: str) -> None:
        self._command("raw", Message("NAMES", [channel]).format())

    def quit(self, reason: str = "") -> None:
        """Say goodbye, stop every thread; returns within about ``close_timeout`` seconds."""
        if self._thread.is_alive():
            self._command("quit", reason)
            self._thread.join(self.close_timeout)
        with contextlib.suppress(OSError):
            self._wake_writer.close()

    def _command(self, *command: object) -> None:
        self._commands.put(command)
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def _queue_text(self, command: str, target: str, text: str, *, action: bool) -> list[int]:
        overhead = len(f":{self._nick}!~{self.username}@ {command} {target} :".encode())
        limit = irc.MAX_LINE_BYTES - 2 - overhead - HOST_ALLOWANCE - (9 if action else 0)
        ids: list[int] = []
        for line in text.replace("\r\n", "\n").split("\n"):
            for piece in split_utf8(line, max(limit, 32)) if line else []:
                with self._id_lock:
                    self._next_id += 1
                    message_id = self._next_id
                body = f"\x01ACTION {piece}\x01" if action else piece
                self._command("send", _Outgoing(message_id, command, target, body))
                ids.append(message_id)
        return ids

    # -- the network thread ------------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        self.events.put(event)

    def _reset_connection_state(self) -> None:
        self._sock: socket.socket | None = None
        self._broken = ""  # why writing failed: the connection is over
        self._out = bytearray()
        self._buffer = LineBuffer()
        self._registered = False
        self._caps: set[str] = set()  # capabilities the server acknowledged
        self._offered: set[str] = set()  # capabilities the server listed
        self._cap_pending = False
        self._server_name = ""
        self._names: dict[str, list[str]] = {}  # folded channel -> nicks being listed
        self._batches: dict[str, str] = {}  # open batch reference -> its type
        self._last_received = time.monotonic()
        self._probe_sent_at: float | None = None
        self._nick_retry_at = 0.0

    def _run(self) -> None:
        attempt = 0
        reason = "quit"
        try:
            while not self._stopping:
                attempt += 1
                self._emit(ev.Connecting(self.host, self.port, attempt))
                reason, registered = self._connect_and_converse()
                if registered:
                    attempt = 1
                if self._stopping or self._fatal:
                    break
                if attempt >= self.policy.max_attempts:
                    reason = f"gave up after {attempt} tries: {reason}"
                    break
                delay = self.policy.delay(attempt)
                self._emit(ev.Disconnected(reason, round(delay, 2), attempt + 1))
                self._wait_offline(delay)
        except Exception as exc:  # a bug must reach the user, not kill the thread silently
            log.exception("client thread failed")
            reason = f"internal error: {exc}"
        self._emit(ev.Closed(self._fatal or reason))

    def _wait_offline(self, delay: float) -> None:
        """Wait before the next try, still taking commands (messages go to the outbox)."""
        deadline = time.monotonic() + delay
        while not self._stopping and (remaining := deadline - time.monotonic()) > 0:
            with selectors.DefaultSelector() as selector:
                selector.register(self._wake_reader, selectors.EVENT_READ)
                selector.select(remaining)
            self._drain_wake()
            self._take_commands()

    def _connect_and_converse(self) -> tuple[str, bool]:
        """One connection's life; returns why it ended and whether we registered."""
        self._reset_connection_state()
        try:
            sock = self._connect()
        except OSError as exc:
            return f"cannot connect: {exc.strerror or exc}", False
        if sock is None:
            return "quit", False
        self._sock = sock
        try:
            return self._converse(), self._registered
        finally:
            self._requeue_unconfirmed()
            with contextlib.suppress(OSError):
                sock.close()
            self._reset_connection_state()  # offline: nothing may be written until the next 001

    def _connect(self) -> socket.socket | None:
        """Connect without blocking the thread past a quit(); None if quit() came first."""
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        error: OSError = OSError("no address")
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                sock.connect_ex(address)
                with selectors.DefaultSelector() as selector:
                    selector.register(sock, selectors.EVENT_WRITE)
                    selector.register(self._wake_reader, selectors.EVENT_READ)
                    deadline = time.monotonic() + self.connect_timeout
                    while (remaining := deadline - time.monotonic()) > 0:
                        ready = {key.fileobj for key, _ in selector.select(remaining)}
                        if self._wake_reader in ready:
                            self._drain_wake()
                            self._take_commands()
                            if self._stopping:
                                sock.close()
                                return None
                        if sock in ready:
                            break
                    else:
                        raise TimeoutError("connection timed out")
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def _converse(self) -> str:
        """Register, then read and write until the connection ends; returns the reason."""
        self._send_line("CAP LS 302")
        self._cap_pending = True
        if self.password is not None:
            self._send_line(Message("PASS", [self.password]).format())
        self._send_line(f"NICK {self._nick}")
        self._send_line(Message("USER", [self.username, "0", "*", self.realname]).format())
        selector = selectors.DefaultSelector()
        selector.register(self._wake_reader, selectors.EVENT_READ)
        selector.register(self._sock, selectors.EVENT_READ)
        try:
            while True:
                want_write = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
                selector.modify(self._sock, want_write)
                for key, mask in selector.select(self._next_timer()):
                    if key.fileobj is self._wake_reader:
                        self._drain_wake()
                        self._take_commands()
                        if self._stopping:
                            self._say_goodbye()
                            return "quit"
                        continue
                    if mask & selectors.EVENT_READ:
                        reason = self._read()
                        if reason:
                            return reason
                    if mask & selectors.EVENT_WRITE:
                        self._write()
                reason = self._check_timers() or self._broken
                if reason:
                    return reason
        except OSError as exc:
            return f"connection error: {exc.strerror or exc}"
        finally:
            selector.close()

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> str | None:
        try:
            data = self._sock.recv(16384)
        except (BlockingIOError, InterruptedError):
            return None
        if not data:
            return "the server closed the connection"
        self._last_received = time.monotonic()
        self._probe_sent_at = None
        for raw in self._buffer.feed(data):
            if raw:
                reason = self._handle(decode_line(raw))
                if reason:
                    return reason
        return None

    def _handle(self, line: str) -> str | None:
        try:
            message = parse(line)
        except ValueError:
            return None
        handler = _HANDLERS.get(message.command)
        if handler is not None:
            return handler(self, message)
        if message.command.isdigit() and message.command[0] in "45":
            self._on_error_numeric(message)
        return None

    def _is_me(self, nick: str | None) -> bool:
        return nick is not None and fold_name(nick) == fold_name(self._nick)

    def _time_of(self, message: Message) -> datetime:
        """The server's ``time`` tag (a burst shares one per millisecond: parsed once), or now."""
        stamp = message.tags.get("time")
        if stamp:
            if stamp == self._last_stamp[0]:
                return self._last_stamp[1]
            with contextlib.suppress(ValueError):
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone()
                self._last_stamp = (stamp, when)
                return when
        return datetime.now(timezone.utc).astimezone()

    def _on_ping(self, message: Message) -> None:
        self._send_line(Message("PONG", [message.param(0, "x")]).format())

    def _on_pong(self, message: Message) -> None:
        token = message.params[-1] if message.params else ""
        if token.startswith(ACK_PREFIX) and token[len(ACK_PREFIX) :].isdigit():
            confirmed = int(token[len(ACK_PREFIX) :])
            while self._unconfirmed and self._unconfirmed[0].message_id <= confirmed:
                self._emit(ev.Delivered(self._unconfirmed.popleft().message_id))
            self._emit_outbox()

    def _on_cap(self, message: Message) -> None:
        sub = message.param(1).upper()
        if sub == "LS":
            self._offered |= {cap.split("=", 1)[0] for cap in message.params[-1].split()}
            if message.param(2) == "*":  # more LS lines follow
                return
            wanted = [cap for cap in WANTED_CAPS if cap in self._offered]
            if wanted:
                self._send_line(f"CAP REQ :{' '.join(wanted)}")
            else:
                self._end_cap()
        elif sub == "ACK":
            self._caps |= set(message.params[-1].split())
            if irc.SESSION_CAP in self._caps:
                self._send_line(f"SESSION {self._token}")
            self._end_cap()
        elif sub == "NAK":
            self._end_cap()

    def _end_cap(self) -> None:
        if self._cap_pending:
            self._cap_pending = False
            self._send_line("CAP END")

    def _on_welcome(self, message: Message) -> None:
        self._registered = True
        self._cap_pending = False
        self._nick = message.param(0, self._nick)
        self._server_name = message.source or ""
        self._emit(ev.Registered(self._nick, self._server_name))
        for channel in self._channels.values():
            self._send_line(f"JOIN {channel}")
        while self._control:
            self._send_line(self._control.popleft())
        self._flush_outbox()
        if not self._is_me(self._wanted_nick):
            self._nick_retry_at = time.monotonic() + self.nick_retry_interval

    def _on_nick_refused(self, message: Message) -> None:
        refused = message.param(1)
        if self._registered:
            if not self._is_me(self._wanted_nick):
                return  # taking our nick back did not work yet: keep the temporary one
            self._emit(ev.ServerError(message.command, message.params[-1]))
            return
        fallback = (
            f"{self._wanted_nick[: irc.NICKLEN - 1]}_" if refused == self._wanted_nick else None
        )
        if fallback is None or refused == fallback:
            fallback = f"{self._wanted_nick[: irc.NICKLEN - 4]}{random.randint(100, 999)}"
        self._emit(
            ev.ServerError(message.command, f"{refused}: {message.params[-1]} -> {fallback}")
        )
        self._nick = fallback
        self._send_line(f"NICK {fallback}")

    def _on_password_refused(self, message: Message) -> str:
        self._fatal = "wrong password"
        self._emit(ev.ServerError(message.command, message.params[-1]))
        return self._fatal

    def _on_error_numeric(self, message: Message) -> None:
        if self._registered or message.command in (irc.ERR_INPUTTOOLONG,):
            text = " ".join(message.params[1:])
            self._emit(ev.ServerError(message.command, text))

    def _on_error(self, message: Message) -> str:
        return message.param(0, "closed by the server")

    def _on_join(self, message: Message) -> None:
        channel, who = message.param(0), message.source_nick or ""
        if self._is_me(who):
            self._channels.setdefault(irc_lower(channel), channel)
        self._emit(ev.Joined(channel, who, self._is_me(who)))

    def _on_part(self, message: Message) -> None:
        channel, who = message.param(0), message.source_nick or ""
        if self._is_me(who):
            self._channels.pop(irc_lower(channel), None)
        self._emit(ev.Parted(channel, who, message.param(1), self._is_me(who)))

    def _on_kick(self, message: Message) -> None:
        channel, who = message.param(0), message.param(1)
        if self._is_me(who):
            self._channels.pop(irc_lower(channel), None)
        by = message.source_nick or ""
        self._emit(ev.Kicked(channel, who, by, message.param(2), self._is_me(who)))

    def _on_quit(self, message: Message) -> None:
        who = message.source_nick or ""
        self._emit(ev.UserQuit(who, message.param(0)))
        if irc_lower(who) == irc_lower(self._wanted_nick) and not self._is_me(who):
            self._send_line(f"NICK {self._wanted_nick}")  # our nick was just freed

    def _on_nick(self, message: Message) -> None:
        old, new = message.source_nick or "", message.param(0)
        me = self._is_me(old)
        if me:
            self._nick = new
        self._emit(ev.NickChanged(old, new, me))
        if not me and irc_lower(old) == irc_lower(self._wanted_nick):
            self._send_line(f"NICK {self._wanted_nick}")

    def _on_topic(self, message: Message) -> None:
        by = message.source_nick or ""
        self._emit(ev.Topic(message.param(0), message.param(1), by, changed=True))

    def _on_topic_reply(self, message: Message) -> None:
        self._emit(ev.Topic(message.param(1), message.param(2), "", changed=False))

    def _on_names_reply(self, message: Message) -> None:
        nicks = [nick.lstrip("~&@%+") for nick in message.params[-1].split()]
        self._names.setdefault(irc_lower(message.param(2)), []).extend(nicks)

    def _on_names_end(self, message: Message) -> None:
        channel = message.param(1)
        nicks = self._names.pop(irc_lower(channel), [])
        self._emit(ev.Names(channel, tuple(nicks)))

    def _on_batch(self, message: Message) -> None:
        reference = message.param(0)
        if reference.startswith("+"):
            self._batches[reference[1:]] = message.param(1)
        else:
            self._batches.pop(reference[1:], None)

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

    def _on_text(self, message: Message) -> None:
        target, text = message.param(0), message.param(1)
        msgid = message.tags.get("msgid", "")
        if not self._first_sight(msgid):
            return  # replayed history we already showed, or a repeat after a reconnect
        history = self._batches.get(message.tags.get("batch", "")) == "chathistory"
        sender = message.source_nick or ""
        when = self._time_of(message)
        if message.command == "NOTICE" and "!" not in (message.source or "!"):
            if self._registered:  # the server itself (its operator): not before we are in
                self._emit(ev.Announcement(text, when))
            return
        kind = "notice" if message.command == "NOTICE" else "message"
        if text.startswith("\x01") and text.endswith("\x01") and len(text) > 1:
            verb, _, rest = text[1:-1].partition(" ")
            if verb.upper() != "ACTION":
                return  # other CTCP requests are not for people
            kind, text = "action", rest
        private = target[:1] not in irc.CHANTYPES
        own = self._is_me(sender)
        self._emit(ev.ChatMessage(sender, target, text, when, kind, private, own, history, msgid))

    # -- writing -----------------------------------------------------------------------------

    def _send_line(self, line: str) -> None:
        self._out += line.encode("utf-8") + b"\r\n"
        self._write()

    def _write(self) -> None:
        """Send what the socket takes now; a dead socket is noted in ``_broken``, not raised,
        so that no caller is interrupted half-way through its bookkeeping."""
        if not self._out or self._sock is None or self._broken:
            return
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._broken = f"connection error: {exc.strerror or exc}"
            return
        del self._out[:sent]

    def _flush_outbox(self) -> None:
        """Write every waiting message, then the PING whose PONG will confirm them."""
        if not self._registered or self._sock is None or not self._outbox:
            return
        last = 0
        while self._outbox:
            item = self._outbox.popleft()
            self._unconfirmed.append(item)  # first: from now on a drop sends it again
            tags = {}
            if irc.SESSION_CAP in self._caps:
                tags[irc.SEQ_TAG] = str(item.message_id)
                self._first_sight(session_msgid(self._alias, item.message_id))
            self._send_line(Message(item.command, [item.target, item.text], tags=tags).format())
            last = item.message_id
        self._send_line(f"PING {ACK_PREFIX}{last}")

    def _emit_outbox(self) -> None:
        self._emit(ev.OutboxChanged(len(self._outbox) + len(self._unconfirmed)))

    def _requeue_unconfirmed(self) -> None:
        """The connection ended: what was not confirmed goes back to the outbox, in order."""
        if self._unconfirmed:
            self._outbox.extendleft(reversed(self._unconfirmed))
            self._unconfirmed.clear()

    def _say_goodbye(self) -> None:
        """Send QUIT and give it a moment to leave (bounded)."""
        self._send_line(Message("QUIT", [self._quit_reason or "Charla"]).format())
        deadline = time.monotonic() + self.close_timeout / 2
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_WRITE)
            while self._out and not self._broken and (remaining := deadline - time.monotonic()) > 0:
                if selector.select(remaining):
                    self._write()

    # -- commands from other threads -----------------------------------------------------------

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass

    def _take_commands(self) -> None:
        changed = False
        while True:
            try:
                name, *args = self._commands.get_nowait()
            except queue.Empty:
                break
            if name == "send":
                self._outbox.append(args[0])
                changed = True
            elif name == "join":
                channel = args[0]
                self._channels[irc_lower(channel)] = channel
                if self._registered:
                    self._send_line(f"JOIN {channel}")
            elif name == "part":
                channel, reason = args
                if self._channels.pop(irc_lower(channel), None) and self._registered:
                    self._send_line(
                        Message("PART", [channel, reason] if reason else [channel]).format()
                    )
            elif name == "nick":
                self._wanted_nick = args[0]
                if self._sock is not None:
                    self._send_line(f"NICK {args[0]}")
                else:
                    self._nick = args[0]
            elif name == "raw":
                if self._registered:
                    self._send_line(args[0])
                else:
                    self._control.append(args[0])
            elif name == "quit":
                self._quit_reason = args[0]
                self._stopping = True
        if changed:
            self._flush_outbox()
            self._emit_outbox()

    # -- timers ------------------------------------------------------------------------------

    def _next_timer(self) -> float:
        now = time.monotonic()
        if self._probe_sent_at is not None:
            wake = self._probe_sent_at + self.keepalive_timeout
        else:
            wake = self._last_received + self.keepalive_after
        if self._registered and not self._is_me(self._wanted_nick):
            wake = min(wake, self._nick_retry_at)
        return max(0.0, wake - now)

    def _check_timers(self) -> str | None:
        now = time.monotonic()
        if self._probe_sent_at is not None:
            if now >= self._probe_sent_at + self.keepalive_timeout:
                silence = now - self._last_received
                return f"no answer from the server for {silence:.0f} s"
        elif now >= self._last_received + self.keepalive_after:
            self._probe_sent_at = now
            self._send_line("PING charla-keepalive")
        if self._registered and not self._is_me(self._wanted_nick) and now >= self._nick_retry_at:
            self._nick_retry_at = now + self.nick_retry_interval
            self._send_line(f"NICK {self._wanted_nick}")
        return None


_HANDLERS = {
    "PING": ChatClient._on_ping,
    "PONG": ChatClient._on_pong,
    "CAP": ChatClient._on_cap,
    irc.RPL_WELCOME: ChatClient._on_welcome,
    irc.ERR_NICKNAMEINUSE: ChatClient._on_nick_refused,
    irc.ERR_ERRONEUSNICKNAME: ChatClient._on_nick_refused,
    "437": ChatClient._on_nick_refused,  # ERR_UNAVAILRESOURCE: nick temporarily held
    irc.ERR_PASSWDMISMATCH: ChatClient._on_password_refused,
    "ERROR": ChatClient._on_error,
    "JOIN": ChatClient._on_join,
    "PART": ChatClient._on_part,
    "KICK": ChatClient._on_kick,
    "QUIT": ChatClient._on_quit,
    "NICK": ChatClient._on_nick,
    "TOPIC": ChatClient._on_topic,
    irc.RPL_TOPIC: ChatClient._on_topic_reply,
    irc.RPL_NAMREPLY: ChatClient._on_names_reply,
    irc.RPL_ENDOFNAMES: ChatClient._on_names_end,
    "BATCH": ChatClient._on_batch,
    "PRIVMSG": ChatClient._on_text,
    "NOTICE": ChatClient._on_text,
}
