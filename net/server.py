"""The threaded Charla server: listening, admitting connections, shared state and relay.

``ChatServer(config).start()`` binds (all interfaces, IPv4 and IPv6, by default) and
returns at once; ``shutdown()`` says goodbye to every client and stops within about a
second. What a client says is handled by its session (``net.irc_session``,
``net.plain_session``); the state they share (nicknames, channels) lives here, and every
message to more than one person goes through ``_deliver_locked``.

Threading rules:
- One acceptor thread waits on the listening sockets and admits connections; each
  connection has its own reader thread (``net.connection``).
- ``lock`` guards ``nicks``, ``channels``, ``connections``, ``_per_ip``, every ``Channel``
  field and the registry fields of every session (nick, channels, registered). It is held
  to change state and to *queue* the resulting messages for their recipients, so everyone
  sees one order of events; it is never held while a socket is read or written: queued
  bytes are flushed after it is released.
- ``shutdown()`` may be called from any thread, once or more.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import socket
import threading
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from net.connection import Connection, flush_soon
from net.history import ChannelHistory
from net.i18n import tr
from net.protocol import (
    DEFAULT_CHANNEL,
    DEFAULT_PORT,
    Message,
    irc_lower,
    is_valid_nick,
    parse,
)
from net.session import Channel, Outgoing, Session

log = logging.getLogger(__name__)


def _same_client(holder: Session, session: Session | None) -> bool:
    """Two connections of one client: both proved the same session token."""
    return session is not None and holder.token is not None and holder.token == session.token


def alphabetical_key(name: str) -> str:
    """Sort names as a Spanish reader expects: Álvaro next to alba, not after zoe."""
    decomposed = unicodedata.normalize("NFD", irc_lower(name))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass
class ServerConfig:
    """Everything that can be tuned; ``servidor.py`` fills it from the command line."""

    host: str | None = None  # None: every interface, IPv4 and IPv6
    port: int = DEFAULT_PORT
    server_name: str = "charla"
    network: str = "Charla"
    password: str | None = None
    channel: str = DEFAULT_CHANNEL
    motd: str | None = None  # None: the built-in welcome; "": no MOTD at all
    max_clients: int = 1000
    max_per_ip: int = 50  # 0: no limit
    flood_control: bool = True
    flood_burst: int = 40  # lines a client may send at once
    flood_rate: float = 10.0  # lines per second after the burst
    flood_max_queued: int = 1000  # lines held back before "Excess Flood"
    sendq_bytes: int = 1 << 20  # queued output before "SendQ exceeded"
    socket_send_buffer: int | None = None  # SO_SNDBUF per client; None: the system's
    ping_interval: float = 90.0  # silence before the server sends PING
    ping_timeout: float = 60.0  # then this long for any answer
    registration_timeout: float = 120.0
    plain_text_after: float = 1.0  # silence after connecting that means "a person at nc"
    listen_backlog: int = 4096
    history_size: int = 2000  # messages kept per channel (0: none)
    history_replay: int = 50  # messages replayed to whoever joins a channel
    history_db: str | None = None  # SQLite file that keeps history across restarts


class ChatServer:
    """The server; see the module docstring."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.created = time.time()
        self.lock = threading.Lock()  # guards the shared state listed in the module docstring
        self.nicks: dict[str, Session] = {}  # irc_lower(nick) -> registered session
        self.channels: dict[str, Channel] = {}  # irc_lower(name) -> channel
        self.connections: set[Connection] = set()
        self._per_ip: dict[str, int] = {}  # client IP -> open connections from it
        #: guarded by lock (its database has a lock of its own)
        self.history = ChannelHistory(self.config.history_size, self.config.history_db)
        self._boot_id = os.urandom(4).hex()  # makes server-made msgids unique across runs
        self._msgids = itertools.count(1)
        self.default_channel = self._new_channel(self.config.channel)
        self.channels[irc_lower(self.config.channel)] = self.default_channel
        self._listeners: list[socket.socket] = []
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()
        self.stopped = threading.Event()
        self.port = self.config.port

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Bind and start accepting; raises OSError (port in use…) before any thread starts,
        having closed every socket it opened."""
        try:
            self._listeners = self._bind()
            self.port = self._listeners[0].getsockname()[1]
            self.history.open()
        except BaseException:
            for sock in (*self._listeners, self._wake_reader, self._wake_writer):
                sock.close()
            raise
        with self.lock:
            for channel in self.channels.values():
                self._restore_topic(channel)
        self._acceptor = threading.Thread(target=self._accept_loop, name="acceptor", daemon=True)
        self._acceptor.start()
        log.info("listening on %s", [s.getsockname()[:2] for s in self._listeners])

    def _bind(self) -> list[socket.socket]:
        host, port, backlog = self.config.host, self.config.port, self.config.listen_backlog
        if host in (None, ""):
            if socket.has_dualstack_ipv6():
                sockets = [
                    socket.create_server(
                        ("", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=backlog
                    )
                ]
            else:
                sockets = [socket.create_server(("", port), backlog=backlog)]
        else:
            family, *_, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            sockets = [socket.create_server(address[:2], family=family, backlog=backlog)]
        for listener in sockets:
            listener.setblocking(False)
        return sockets

    def shutdown(self, reason: str = "Server shutting down") -> None:
        """Say goodbye to everyone, close every connection and stop; bounded to ~1.5 s."""
        if self._stopping.is_set():
            self.stopped.wait(3)
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(1.0)
        for listener in self._listeners:
            listener.close()
        with self.lock:
            connections = list(self.connections)
        for conn in connections:
            session = conn.session
            conn.send(session.goodbye(reason) if session else Message("ERROR", [reason]).to_bytes())
        deadline = time.monotonic() + 1.0
        for conn in connections:
            conn.wait_drained(max(0.0, deadline - time.monotonic()))
        for conn in connections:
            conn.abort(reason)
        deadline = time.monotonic() + 0.5
        for conn in connections:
            conn.thread.join(max(0.0, deadline - time.monotonic()))
        self._wake_reader.close()
        self._wake_writer.close()
        self.history.close()
        self.stopped.set()
        log.info("stopped")

    # -- admitting connections ---------------------------------------------------------

    def _accept_loop(self) -> None:
        waitables = [*self._listeners, self._wake_reader]
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select(waitables, [], [])
            except (OSError, ValueError):
                return
            for listener in ready:
                if listener is self._wake_reader:
                    return
                for _ in range(256):  # drain the backlog, a bounded batch per wake-up
                    try:
                        sock, address = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # EMFILE and the like: keep serving the others
                        log.warning("accept failed: %s", exc)
                        break
                    self._admit(sock, address)

    def _admit(self, sock: socket.socket, address: tuple) -> None:
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if self.config.socket_send_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.config.socket_send_buffer)
            if hasattr(socket, "TCP_KEEPIDLE"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 60)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 10)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 6)
        conn = Connection(self, sock, address)
        config = self.config
        refusal = None
        with self.lock:
            from_ip = self._per_ip.get(conn.ip, 0)
            if len(self.connections) >= config.max_clients:
                refusal = tr("The server is full ({count} people). Try again later.").format(
                    count=config.max_clients
                )
            elif config.max_per_ip and from_ip >= config.max_per_ip:
                refusal = tr("Too many connections from your address (at most {count}).").format(
                    count=config.max_per_ip
                )
            else:
                self.connections.add(conn)
                self._per_ip[conn.ip] = from_ip + 1
        if refusal is not None:
            log.info("refused %s: %s", conn.ip, refusal)
            with contextlib.suppress(OSError):
                sock.send(Message("ERROR", [refusal]).to_bytes())
            sock.close()
            return
        conn.thread.start()

    def create_session(self, conn: Connection, first_line: str | None) -> Session:
        """An IRC session when the first line is an IRC command, else a plain-text one."""
        from net.irc_session import IrcSession, is_irc_command
        from net.plain_session import PlainSession

        if first_line is not None:
            with contextlib.suppress(ValueError):
                if is_irc_command(parse(first_line).command):
                    return IrcSession(self, conn)
        return PlainSession(self, conn)

    def connection_closed(self, conn: Connection, reason: str) -> None:
        """Called once by the connection's reader thread when it ends, whatever the cause."""
        if conn.session is not None:
            self.quit(conn.session, reason)
        with self.lock:
            self.connections.discard(conn)
            left = self._per_ip.get(conn.ip, 1) - 1
            if left:
                self._per_ip[conn.ip] = left
            else:
                self._per_ip.pop(conn.ip, None)
        log.info("%s closed: %s", conn.ip, reason)

    # -- shared state -------------------------------------------------------------------

    def nick_available(self, nick: str, session: Session | None = None) -> bool:
        """Free, or held by ``session`` itself or by its own earlier connection."""
        folded = irc_lower(nick)
        with self.lock:
            holder = self.nicks.get(folded)
        if self._is_server_name(folded):
            return False
        return holder is None or holder is session or _same_client(holder, session)

    def suggest_nick(self, nick: str) -> str:
        """A free nickname close to ``nick`` (Ana -> Ana2), to offer when it is taken."""
        base = nick[:27] if is_valid_nick(nick) else "invitado"
        with self.lock:
            for number in range(2, 1000):
                candidate = f"{base}{number}"
                if irc_lower(candidate) not in self.nicks:
                    return candidate
        return f"{base}_{int(time.time()) % 1000}"

    def _is_server_name(self, folded_nick: str) -> bool:
        """Nobody may take the server's own name: its notices must stay unfakeable."""
        return folded_nick == irc_lower(self.config.server_name)

    def register(self, session: Session) -> bool:
        """Claim ``session.nick`` for a session finishing registration; False if it is taken.

        If the holder is this client's own earlier connection (same session token), that
        connection is closed and the nick handed over at once.
        """
        folded = irc_lower(session.nick)
        with self.lock:
            holder = self.nicks.get(folded)
        if holder is not None and _same_client(holder, session):
            log.info("%s reclaims %s from its earlier connection", session.conn.ip, session.nick)
            self.quit(holder, "Reconnected")
            holder.conn.send(holder.goodbye("Reconnected"))
            holder.conn.abort("Reconnected")
        with self.lock:
            if folded in self.nicks or self._is_server_name(folded):
                return False
            self.nicks[folded] = session
            session.registered = True
        log.info("%s joined as %s", session.conn.ip, session.nick)
        return True

    def rename(self, session: Session, new_nick: str) -> bool:
        """Change a registered session's nick and tell everyone who shares a channel."""
        folded_new, folded_old = irc_lower(new_nick), irc_lower(session.nick)
        with self.lock:
            holder = self.nicks.get(folded_new)
            if (holder is not None and holder is not session) or self._is_server_name(folded_new):
                return False
            out = Outgoing(Message("NICK", [new_nick], source=session.prefix))
            del self.nicks[folded_old]
            self.nicks[folded_new] = session
            session.nick = new_nick
            recipients = self._neighbours_locked(session)
            recipients[session] = None
            to_flush = self._deliver_locked(recipients, out)
        self._flush(to_flush)
        return True

    def join(self, session: Session, name: str) -> Channel:
        """Add ``session`` to channel ``name`` (created if new); everyone there sees the JOIN."""
        folded = irc_lower(name)
        with self.lock:
            channel = self.channels.get(folded)
            if channel is None:
                channel = self.channels[folded] = self._new_channel(name)
            if session in channel.members:
                return channel
            channel.members[session] = None
            session.channels[folded] = channel
            out = Outgoing(Message("JOIN", [channel.name], source=session.prefix))
            to_flush = self._deliver_locked(channel.members, out)
            session.conn.enqueue(session.joined_replies(channel))
        self._flush([*to_flush, session.conn])
        return channel

    def part(self, session: Session, channel: Channel, reason: str) -> None:
        params = [channel.name, reason] if reason else [channel.name]
        out = Outgoing(Message("PART", params, source=session.prefix))
        with self.lock:
            to_flush = self._deliver_locked(channel.members, out)
            self._leave_locked(session, channel)
        self._flush(to_flush)

    def set_topic(self, session: Session, channel: Channel, topic: str) -> None:
        out = Outgoing(Message("TOPIC", [channel.name, topic], source=session.prefix))
        with self.lock:
            channel.topic, channel.topic_by, channel.topic_at = topic, session.prefix, out.time
            self.history.set_topic(irc_lower(channel.name), topic, session.prefix, out.time)
            to_flush = self._deliver_locked(channel.members, out)
        self._flush(to_flush)

    def quit(self, session: Session, reason: str) -> None:
        """Free the nick, leave every channel and tell the others; safe to call twice."""
        out = Outgoing(Message("QUIT", [reason], source=session.prefix))
        with self.lock:
            if not session.registered:
                return
            session.registered = False
            if self.nicks.get(irc_lower(session.nick)) is session:
                del self.nicks[irc_lower(session.nick)]
            recipients = self._neighbours_locked(session)
            for channel in list(session.channels.values()):
                self._leave_locked(session, channel)
            to_flush = self._deliver_locked(recipients, out)
        self._flush(to_flush)

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
        with self.lock:
            to_flush = self._deliver_locked(
                (member for member in channel.members if member is not sender), out
            )
            if message.command != "TAGMSG":
                self.history.record(irc_lower(channel.name), out)
        self._flush(to_flush)

    def send_to_session(self, target: Session, message: Message) -> None:
        data = target.render(Outgoing(self._with_msgid(message)))
        if data:
            target.conn.enqueue(data)
            self._flush([target.conn])

    def first_delivery(self, alias: str, seq: int) -> bool:
        """Whether message ``seq`` of the Charla client ``alias`` is new (and note it)."""
        with self.lock:
            return not self.history.seen_before(alias, seq)

    def recent_history(self, channel: Channel) -> list[Outgoing]:
        """What a joiner is shown of ``channel``'s past (call with lock held, as joins do)."""
        return self.history.recent(irc_lower(channel.name), self.config.history_replay)

    def find_session(self, nick: str) -> Session | None:
        with self.lock:
            return self.nicks.get(irc_lower(nick))

    def find_channel(self, name: str) -> Channel | None:
        with self.lock:
            return self.channels.get(irc_lower(name))

    # -- the operator at the server's terminal -----------------------------------------

    def announce(self, text: str) -> int:
        """A notice from the server itself to every registered person; returns how many."""
        with self.lock:
            sessions = list(self.nicks.values())
            to_flush = []
            for session in sessions:
                out = Outgoing(Message("NOTICE", [session.nick, text], self.config.server_name))
                to_flush += self._deliver_locked([session], out)
        self._flush(to_flush)
        return len(sessions)

    def kick(self, nick: str, reason: str) -> bool:
        """Remove ``nick`` from every channel (everyone sees the KICK) and disconnect them."""
        with self.lock:
            session = self.nicks.get(irc_lower(nick))
            if session is None:
                return False
            to_flush = []
            for channel in list(session.channels.values()):
                out = Outgoing(
                    Message("KICK", [channel.name, session.nick, reason], self.config.server_name)
                )
                to_flush += self._deliver_locked(channel.members, out)
                self._leave_locked(session, channel)
        self._flush(to_flush)
        self.quit(session, f"Kicked: {reason}")  # frees the nick at once, as QUIT does
        session.conn.send(
            session.goodbye(tr("Kicked by the operator: {reason}").format(reason=reason))
        )
        threading.Thread(
            target=session.conn.close_gracefully, args=("Kicked",), name="kick", daemon=True
        ).start()
        return True

    def user_list(self) -> list[tuple[str, str]]:
        """(nick, address) of everyone registered, sorted by nick."""
        with self.lock:
            people = [(s.nick, s.conn.ip) for s in self.nicks.values()]
        return sorted(people, key=lambda person: alphabetical_key(person[0]))

    # -- helpers (``_locked``: call with ``lock`` held) ------------------------------------

    def _deliver_locked(self, recipients: Iterable[Session], out: Outgoing) -> list[Connection]:
        """Queue ``out`` for each recipient; returns the connections to flush after unlocking."""
        queued = []
        for session in recipients:
            data = session.render(out)
            if data:
                session.conn.enqueue(data)
                queued.append(session.conn)
        return queued

    @staticmethod
    def _flush(connections: Iterable[Connection]) -> None:
        flush_soon(connections)

    def _neighbours_locked(self, session: Session) -> dict[Session, None]:
        """Everyone who shares a channel with ``session``, once each, without it."""
        neighbours: dict[Session, None] = {}
        for channel in session.channels.values():
            neighbours.update(channel.members)
        neighbours.pop(session, None)
        return neighbours

    def _new_channel(self, name: str) -> Channel:
        """A channel, with the topic it had before a restart (call with lock held)."""
        channel = Channel(name)
        self._restore_topic(channel)
        return channel

    def _restore_topic(self, channel: Channel) -> None:
        saved = self.history.topics.get(irc_lower(channel.name))
        if saved is not None and not channel.topic:
            channel.topic, channel.topic_by, channel.topic_at = saved

    def _leave_locked(self, session: Session, channel: Channel) -> None:
        channel.members.pop(session, None)
        folded = irc_lower(channel.name)
        session.channels.pop(folded, None)
        if not channel.members and channel is not self.default_channel:
            self.channels.pop(folded, None)
