"""The Charla server's composition root: listen, admit, pick each client's kind, shut down.

``ChatServer(config).start()`` binds (all interfaces, IPv4 and IPv6, by default) and
returns at once; ``shutdown()`` says goodbye to every client and stops within about a
second and a half. Nothing else in ``net/`` imports this module: it puts the layers
together, from the bottom up:

- ``net.connection``: the transport of each client (its reader thread, flood gate and
  send queue), configured with ``ConnectionLimits`` taken from ``ServerConfig``;
- ``net.history``: the kept messages, opened at start and closed at shutdown;
- ``net.accounts``: the accounts and teachers, kept in the same database file (in memory
  when there is none), opened after the history (which may have set a damaged file aside);
- ``net.state.Rooms``: nicks, channels and the relay, shared by every session;
- ``net.irc_session`` / ``net.plain_session``: one kind of client each. A new
  connection's handler is a ``FirstLineSniffer``: the first line (or a second of silence)
  says which kind it is, and the sniffer makes that session the connection's handler
  (it swaps itself out rather than forwarding, so a line never takes an extra hop);
- ``net.uploads``: pictures and PDFs (``POST /upload``, ``GET /f/<id>``), their files
  beside the history's database, their tokens given to IRC sessions through ``Rooms``;
- ``net.web_session``: browsers. Each connection's framing starts as ``FirstBytes``,
  which tells an HTTP request by its first bytes; the sniffer then hands the connection
  to an ``HttpSession`` (one static file, or the WebSocket upgrade, after which an
  ``IrcSession`` takes over). ``--no-web`` answers requests with a short 404;
  ``--web-port`` adds listeners whose connections are served only if they are HTTP.

The operator's actions (``announce``, ``kick``, ``user_list``, ``name_teacher``,
``teachers``) are thin wrappers over ``Rooms``, for ``servidor.py``'s console and for the
window that hosts a room.

Threading rules:
- One acceptor thread waits on the listening sockets and admits connections; each
  connection has its own reader thread (``net.connection``). The acceptor is also the
  server's one timer: it lifts timed bans and quiets (``Rooms.expire_due``) when they end,
  woken through ``_wake_writer`` when a sooner one is set; no thread per entry.
- ``_connections_lock`` guards ``_connections``, ``_per_ip``, ``_evicted`` and
  ``_refusing`` (admission counts). It is the server's own, not ``Rooms``' lock: admitting
  a connection never waits for the chat, and the rooms know nothing of sockets not yet
  speaking. It is never held with ``Rooms``' lock nor during socket I/O. Whether a
  connection has registered (for ``max_unregistered_per_ip``) is read from its session
  without ``Rooms``' lock: a bool that may be one registration late, so at worst a
  client is closed to make room that would have registered a moment later.
- ``shutdown()`` may be called from any thread, once or more.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import select
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from enum import Enum

from net.accounts import AccountStore
from net.connection import (
    NO_DEADLINE,
    AddressLog,
    BugLog,
    Connection,
    ConnectionHandler,
    ConnectionLimits,
    wait_for_socket,
)
from net.guard import address_key
from net.history import (
    HISTORY_EXPIRY,
    HISTORY_MEMORY,
    ChannelHistory,
    default_database_path,  # noqa: F401 -- for the window's hosted room
)
from net.i18n import ntr, tr
from net.irc_session import VERSION, IrcSession, is_irc_command
from net.lan import shareable_endpoints
from net.mdns import Announcer
from net.plain_session import PlainSession
from net.protocol import DEFAULT_CHANNEL, DEFAULT_PORT, Message, parse
from net.state import CHANNELS_PER_ADDRESS, CHANNELS_PER_PERSON, MAX_CHANNELS, Rooms, Session
from net.uploads import MAX_UPLOAD_BYTES, FileStore, Uploads
from net.web_session import (
    BROWSER_SILENCE_SECONDS,
    HEAD_SECONDS,
    BrowserAddresses,
    FirstBytes,
    HttpSession,
    WebConfig,
)

log = logging.getLogger(__name__)
_bugs = BugLog(log)  # bugs in the timer's work, logged rate-limited

#: refused connections that may be lingering at once (each holds a thread for about a
#: second, so its ERROR line reaches the peer); past this, refusals close at once
MAX_LINGERING_REFUSALS = 64


_LIMITS = ConnectionLimits()


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host.lower() in ("localhost", "localhost.localdomain")


@dataclass
class ServerConfig:
    """Everything that can be tuned; ``servidor.py`` fills it from the command line."""

    host: str | None = None  # None: every interface, IPv4 and IPv6
    port: int = DEFAULT_PORT
    server_name: str = "charla"
    network: str = "Charla"
    password: str | None = None
    channel: str = DEFAULT_CHANNEL
    #: make the room known on the local network by multicast DNS (``net.mdns``); never
    #: on a loopback ``host``, which nobody on the network could reach anyway
    announce: bool = False
    room_name: str | None = None  # the name it is announced by (None: "Sala de <host>")
    motd: str | None = None  # None: the built-in welcome; "": no MOTD at all
    max_clients: int = 1000
    max_per_ip: int = 50  # 0: no limit
    #: connections from one address that have not registered yet (a name, and the
    #: password if there is one); 0: no limit. Each holds a thread until its timeout.
    max_unregistered_per_ip: int = 10
    # what one client may make the server hold or do (defaults and meaning: ConnectionLimits)
    flood_control: bool = _LIMITS.flood_control
    flood_burst: int = _LIMITS.flood_burst
    flood_rate: float = _LIMITS.flood_rate
    flood_max_queued: int = _LIMITS.flood_max_queued
    flood_max_queued_bytes: int = _LIMITS.flood_max_queued_bytes
    sendq_bytes: int = _LIMITS.sendq_bytes
    socket_send_buffer: int | None = None  # SO_SNDBUF per client; None: the system's
    ping_interval: float = 90.0  # silence before the server sends PING
    ping_timeout: float = 60.0  # then this long for any answer
    #: for an IRC client to register: its program sends NICK and USER at once
    registration_timeout: float = 30.0
    #: for a person at nc or telnet to type a name (and the password): a human's pace
    plain_registration_timeout: float = 120.0
    plain_text_after: float = 1.0  # silence after connecting that means "a person at nc"
    #: the same, from an address whose browser asked something lately (it may be a
    #: browser's connection opened ahead of need: ``net.web_session.BrowserAddresses``)
    browser_silence: float = BROWSER_SILENCE_SECONDS
    listen_backlog: int = 4096
    history_size: int = 2000  # messages kept per channel (0: none)
    history_replay: int = 50  # messages replayed to whoever joins a channel
    history_db: str | None = None  # SQLite file that keeps history across restarts
    history_memory: int = HISTORY_MEMORY  # bytes all kept messages may take in memory
    history_expiry: float = HISTORY_EXPIRY  # seconds an empty channel's history is kept (0: ever)
    channels_per_person: int = CHANNELS_PER_PERSON  # channels one person may be in at once
    max_channels: int = MAX_CHANNELS  # channels on the server, the default one included
    #: channels that may have been opened from one address (an IPv6 /64) at once
    channels_per_address: int = CHANNELS_PER_ADDRESS
    #: OPER name -> password: who may become a teacher with ``OPER`` (``--oper``)
    opers: dict[str, str] = field(default_factory=dict)
    #: accounts that are teachers from start-up (``--teacher``), beside those named at the
    #: console, which the database keeps
    teachers: tuple[str, ...] = ()
    #: serve the web chat (HTTP and WebSocket) on the port (``--no-web``: False)
    web: bool = True
    #: also serve the web chat on this port, which takes nothing else (``--web-port``;
    #: 0: one the system picks); None: the one port is enough
    web_port: int | None = None
    #: origins besides the server's own page whose pages may open a WebSocket
    #: (``--web-allow-origin``: ``scheme://host[:port]``)
    web_allowed_origins: tuple[str, ...] = ()
    #: for a browser to send its whole request head (slowloris: closed after this)
    web_request_timeout: float = HEAD_SECONDS
    #: pictures and PDFs over HTTP on the chat's port (``--no-uploads``: False)
    uploads: bool = True
    #: the largest file one may send, in bytes (``--max-upload``, in MB there)
    max_upload: int = MAX_UPLOAD_BYTES

    def web_config(self) -> WebConfig:
        return WebConfig(
            enabled=self.web,
            allowed_origins=frozenset(o.lower().rstrip("/") for o in self.web_allowed_origins),
            head_seconds=self.web_request_timeout,
        )

    def connection_limits(self) -> ConnectionLimits:
        return ConnectionLimits(
            sendq_bytes=self.sendq_bytes,
            flood_control=self.flood_control,
            flood_burst=self.flood_burst,
            flood_rate=self.flood_rate,
            flood_max_queued=self.flood_max_queued,
            flood_max_queued_bytes=self.flood_max_queued_bytes,
        )


class FirstLineSniffer:
    """A new connection's first handler: its first line tells an IRC client (a known IRC
    command) from a person at ``nc`` (anything else, or ``plain_text_after`` seconds of
    silence), and its framing (``net.web_session.FirstBytes``) a browser (an HTTP request).
    It then makes the right session the connection's handler, for good, and gives the
    connection the plain ``LineBuffer`` inside the framing (the same bytes held, one call
    less per read). Bytes that are waiting when the silence ends are no silence (the
    reader thread ran late): they are read first, and the silence is given once more.
    From an address in ``browsers`` (its browser asked something lately) the silence is
    ``browser_silence``: a browser's connection opened ahead of need must get no prompt."""

    def __init__(
        self,
        rooms: Rooms,
        conn: Connection,
        plain_text_after: float,
        web: WebConfig = WebConfig(),  # noqa: B008 -- immutable
        chat_port: int | None = None,
        browsers: BrowserAddresses | None = None,
        browser_silence: float = BROWSER_SILENCE_SECONDS,
    ) -> None:
        """``chat_port``: this connection came to the web-only port (``--web-port``), and
        anything but HTTP is told to go to ``chat_port``."""
        self.rooms = rooms
        self.conn = conn
        self.plain_text_after = plain_text_after
        self.web = web
        self.chat_port = chat_port
        self.browsers = browsers
        self.browser_silence = browser_silence
        self._deadline = conn.opened_at + plain_text_after
        self._waited_for_input = False  # the deadline was put off once for bytes waiting

    def _not_here(self) -> None:
        """On the web-only port, what is not HTTP is sent to the chat's port."""
        self.conn.handler = Refusal(
            self.conn,
            tr("This port is for the web chat (a browser). Connect to port {port}.").format(
                port=self.chat_port
            ),
        )

    def _hand_over(self, session: Session) -> Session:
        framing = self.conn.framing
        if isinstance(framing, FirstBytes):
            framing.settle_as_lines()  # nothing is held back once a line has come
            self.conn.framing = framing.lines
        self.conn.handler = session
        return session

    def _http(self) -> HttpSession | None:
        """The HTTP session, if the framing saw an HTTP request start."""
        framing = self.conn.framing
        if not isinstance(framing, FirstBytes) or framing.http is None:
            return None
        session = HttpSession(
            self.conn, self.web, lambda conn: IrcSession(self.rooms, conn), framing.http
        )
        if self.browsers is not None:
            self.browsers.saw(self.conn.ip)
        self.conn.handler = session
        return session

    def on_line(self, line: str | None) -> None:
        http = self._http()
        if http is not None:
            http.on_line(line)
            return
        if self.chat_port is not None:
            self._not_here()
            return
        kind = PlainSession
        if line is not None:
            with contextlib.suppress(ValueError):
                if is_irc_command(parse(line).command):
                    kind = IrcSession
        self._hand_over(kind(self.rooms, self.conn)).on_line(line)

    def next_deadline(self) -> float:
        return self._deadline

    def on_deadline(self, now: float) -> None:
        if now < self._deadline:
            return
        if self._http() is not None:  # a request under way: its own deadline applies
            return
        if not self._waited_for_input and wait_for_socket(self.conn.sock, write=False, timeout=0):
            # Bytes came in time, but this reader thread first ran after the silence (a
            # loaded server): that is no silence. Read them first; their line decides.
            # Once only, so a trickle of bytes without a line end cannot put it off for ever.
            self._waited_for_input = True
            self._deadline = now + self.plain_text_after
            return
        browser_deadline = self.conn.opened_at + self.browser_silence
        browsers = self.browsers
        if now < browser_deadline and browsers is not None and browsers.lately(self.conn.ip):
            self._deadline = browser_deadline  # then, if still silent, a person after all
            return
        if self.chat_port is not None:
            self._not_here()
            return
        # what the framing held back ("GE", which could have become "GET /") has no line
        # end, so it stays in the LineBuffer and begins the person's first line
        self._hand_over(PlainSession(self.rooms, self.conn))

    def on_batch_done(self) -> None:
        """Nothing: the batch that had a line ended with a session as the handler."""

    def on_closed(self, reason: str) -> None:
        """Nothing: no session yet, so nobody to tell."""

    def goodbye(self, reason: str) -> bytes:
        return Message("ERROR", [reason]).to_bytes()


class Refusal:
    """The handler of a connection the server will not serve: it says why, then closes
    (through ``Connection.finish``, which lets the line out and lingers, so a client that
    already sent something does not lose the line to a reset)."""

    def __init__(self, conn: Connection, text: str) -> None:
        self.conn = conn
        self.text = text

    def on_line(self, line: str | None) -> None:
        """Ignored."""

    def next_deadline(self) -> float:
        return self.conn.opened_at  # due at once

    def on_deadline(self, now: float) -> None:
        self.conn.finish(self.text, tell_peer=True)

    def on_batch_done(self) -> None:
        """Nothing to do."""

    def on_closed(self, reason: str) -> None:
        """Nothing to do."""

    def goodbye(self, reason: str) -> bytes:
        return Message("ERROR", [self.text]).to_bytes()


class TeacherNamed(Enum):
    """What ``ChatServer.name_teacher`` did."""

    DONE = "done"
    NOBODY = "nobody"  # nobody has that nick
    NO_ACCOUNT = "no account"  # they are not logged in to an account
    NOT_SAVED = "not saved"  # the teacher table is full, or the disk refused it


def _registered(conn: Connection) -> bool:
    """Whether ``conn``'s client has registered (read without ``Rooms``' lock: see above)."""
    handler = conn.handler
    return isinstance(handler, Session) and handler.registered


class ChatServer:
    """The server; see the module docstring."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.history = ChannelHistory(
            self.config.history_size,
            self.config.history_db,
            memory=self.config.history_memory,
            expiry=self.config.history_expiry,
        )
        #: accounts live in the history's database file (its own tables and connection);
        #: with no file (``--no-history``), in memory only
        self.accounts = AccountStore(self.config.history_db)
        self.rooms = Rooms(self.config, self.history, self.accounts)
        self._limits = self.config.connection_limits()
        #: the kept files (next to the history's database: ``net.uploads``)
        self.files = FileStore(self.config.history_db)
        self.uploads: Uploads | None = None
        self._web = self.config.web_config()
        #: where browsers asked from lately: their silent connections get no early prompt
        self.browsers = BrowserAddresses()
        if self.config.uploads:
            self.uploads = Uploads(self.rooms, self.files, self.config.max_upload)
            self.rooms.uploads = self.uploads
            self.rooms.on_redacted = self.uploads.redacted
            self.uploads.shareable = lambda: shareable_endpoints(self.config.host, self.port)
            self._web = replace(self._web, uploads=self.uploads)
        self._web_only = replace(self._web, enabled=True)  # the --web-port listener's
        self._connections_lock = threading.Lock()  # guards the three fields below
        self._connections: set[Connection] = set()  # admitted and not yet finished
        #: address_key(ip) -> the open connections from it
        self._per_ip: dict[str, set[Connection]] = {}
        self._refusing = 0  # refused connections still saying why
        #: connections closed to make room for a newcomer from their address, not yet gone
        self._evicted: set[Connection] = set()
        #: refusals and closed connections: a few lines per address and minute, so one
        #: student cannot flood the operator's console (thread-safe on its own)
        self._by_address = AddressLog()
        self.rooms.count_unregistered = self.unregistered_count  # for LUSERS' 253
        self._listeners: list[socket.socket] = []
        #: the listeners of ``--web-port``, which serve the web chat only
        self._web_listeners: list[socket.socket] = []
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_writer.setblocking(False)  # a wake-up already waiting is enough
        self.rooms.on_timer_changed = self._wake_timer
        self._acceptor: threading.Thread | None = None
        self._announcer: Announcer | None = None  # set by start(); closed by shutdown()
        self._stopping = threading.Event()
        self.stopped = threading.Event()
        self.port = self.config.port
        #: the port of the web chat: ``port``, or ``--web-port``'s; None when it is off
        self.web_port: int | None = None

    # -- life cycle -----------------------------------------------------------------

    def start(self) -> None:
        """Bind and start accepting; raises OSError (port in use…) before any thread starts,
        having closed every socket it opened."""
        try:
            self._listeners = self._bind(self.config.port)
            self.port = self._listeners[0].getsockname()[1]
            if self.config.web_port is not None:
                self._web_listeners = self._bind(self.config.web_port)
                self._listeners += self._web_listeners
                self.web_port = self._web_listeners[0].getsockname()[1]
                if not self.config.web:
                    self._web = replace(self._web, elsewhere=self.web_port)
            elif self.config.web:
                self.web_port = self.port
            self.history.open()
            self.accounts.open()
            if self.uploads is not None:
                self.files.open()
        except BaseException:
            for sock in (*self._listeners, self._wake_reader, self._wake_writer):
                sock.close()
            raise
        self.rooms.restore_topics()
        for account in self.config.teachers:
            self._teacher_from_start(account)
        self._acceptor = threading.Thread(target=self._accept_loop, name="acceptor", daemon=True)
        self._acceptor.start()
        self._announcer = self._start_announcer()
        bound = [s.getsockname()[:2] for s in self._listeners]  # ("::", 12345), ("0.0.0.0", …)
        log.info(
            tr("listening on %s"),
            ", ".join(
                f"[{host}]:{port}" if ":" in host else f"{host}:{port}" for host, port in bound
            ),
        )

    def _start_announcer(self) -> Announcer | None:
        """Announce the room on the network (``config.announce``); a failure is only a warning:
        the room works without it, its address typed."""
        if not self.config.announce or _is_loopback(self.config.host):
            return None
        name = self.config.room_name or tr("Room of {name}").format(
            name=socket.gethostname().split(".", 1)[0]
        )
        announcer = Announcer(
            name,
            self.port,
            channel=self.config.channel,
            password=self.config.password is not None,
            version=VERSION,
            web_port=self.web_port,
        )
        try:
            announcer.start()
        except OSError as exc:
            log.warning(tr("cannot announce the room on the network: %s"), exc)
            announcer.close()
            return None
        log.info(tr("announcing the room on the network as %r"), name)
        return announcer

    def announced_name(self) -> str | None:
        """The name the room is announced by now (after any rename), or None."""
        return self._announcer.name if self._announcer is not None else None

    def _teacher_from_start(self, account: str) -> None:
        """``--teacher ACCOUNT``: kept with the others if the account exists; if not yet,
        whoever registers it first becomes a teacher, and the operator is warned."""
        if self.accounts.exists(account):
            self.accounts.add_teacher(account)
        elif self.accounts.name_teacher(account):
            log.warning(
                tr(
                    "teacher %s has no account yet: register it now (whoever registers it "
                    "first will be a teacher)"
                ),
                account,
            )
        else:
            log.warning(tr("teacher %s cannot be named (not a valid nick, or too many)"), account)

    def _bind(self, port: int) -> list[socket.socket]:
        host, backlog = self.config.host, self.config.listen_backlog
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
        if self._announcer is not None:
            self._announcer.close()  # its goodbye first: the room leaves the lists at once
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(1.0)
        for listener in self._listeners:
            listener.close()
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            conn.enqueue(conn.handler.goodbye(reason))
            conn.end_stream(1001)  # a WebSocket's Close: going away
            conn.flush()
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
        self.accounts.close()
        self.files.close()
        self.stopped.set()
        log.info(tr("stopped"))

    def _wake_timer(self) -> None:
        """A timed ban or quiet was set: the acceptor recomputes how long it may sleep."""
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"t")

    # -- admitting connections ---------------------------------------------------------

    def _accept_loop(self) -> None:
        """Accept connections; also the server's one timer: between accepts it sleeps no
        later than the soonest end of a timed ban or quiet (``Rooms.next_expiry``), and
        ``Rooms.on_timer_changed`` wakes it when a sooner one is set."""
        waitables = [*self._listeners, self._wake_reader]
        while not self._stopping.is_set():
            due = self.rooms.next_expiry  # a float written under Rooms' lock: read as is
            timeout = None if due == NO_DEADLINE else max(0.0, due - self.rooms.clock())
            try:
                ready, _, _ = select.select(waitables, [], [], timeout)
            except (OSError, ValueError):
                return
            if self.rooms.clock() >= self.rooms.next_expiry:
                try:
                    self.rooms.expire_due()
                except Exception as exc:  # a bug: it must not stop the accepting
                    _bugs.report("lifting timed bans failed", exc)
            for listener in ready:
                if listener is self._wake_reader:
                    if self._stopping.is_set():
                        return
                    with contextlib.suppress(OSError):
                        self._wake_reader.recv(4096)  # a timer wake-up: look again
                    continue
                for _ in range(256):  # drain the backlog, a bounded batch per wake-up
                    try:
                        sock, address = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # EMFILE and the like: keep serving the others
                        log.warning(tr("accept failed: %s"), exc)
                        break
                    self._admit(sock, address, web_only=listener in self._web_listeners)

    def _admit(self, sock: socket.socket, address: tuple, *, web_only: bool = False) -> None:
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
        conn = Connection(
            sock, address, self._limits, on_finished=self._forget, framing=FirstBytes()
        )
        # Here, once: parsing the address on each reader thread cost 4 KiB of memory per
        # idle client (2,000 clients: 66.4 MiB instead of 58.3, bench/server_bench.py idle)
        conn.counted_as = address_key(conn.ip)
        config = self.config
        refusal = None
        overloaded = False  # no thread could be had for it
        admitted, evicted = False, None  # (evicted: to make room for this one; see below)
        lingering = False
        with self._connections_lock:
            from_ip = self._per_ip.get(conn.counted_as, set())
            if self._stopping.is_set():  # shutdown() has taken its list of connections
                refusal = "Server shutting down"
            elif len(self._connections) >= config.max_clients:
                refusal = ntr(
                    "The server is full ({count} person). Try again later.",
                    "The server is full ({count} people). Try again later.",
                    config.max_clients,
                ).format(count=config.max_clients)
            elif config.max_per_ip and len(from_ip) >= config.max_per_ip:
                refusal = tr("Too many connections from your address (at most {count}).").format(
                    count=config.max_per_ip
                )
            else:
                evicted = self._oldest_waiting_past_cap_locked(from_ip)
                self._count_locked(conn, +1)
                # started under the lock, so shutdown() never sees a connection without
                # its handler; its thread waits for the lock only if it ends at once
                sniffer = FirstLineSniffer(
                    self.rooms,
                    conn,
                    config.plain_text_after,
                    self._web_only if web_only else self._web,
                    chat_port=self.port if web_only else None,
                    browsers=self.browsers,
                    browser_silence=config.browser_silence,
                )
                if self._started(conn, sniffer):
                    admitted = True
                else:
                    self._count_locked(conn, -1)
                    if evicted is not None:
                        self._evicted.discard(evicted)
                        evicted = None
                    refusal, overloaded = "Server overloaded", True
            if not admitted:
                lingering = self._refusing < MAX_LINGERING_REFUSALS and not overloaded
                if lingering:
                    self._refusing += 1
        if admitted:
            if evicted is not None:  # told and closed outside the lock: that is socket I/O
                self._evict(evicted)
            return
        if (more := self._by_address.note(conn.counted_as)) is not None:
            log.info(tr("refused %s: %s%s"), conn.ip, refusal, more)
        if lingering and self._started(conn, Refusal(conn, refusal)):
            return
        if lingering:
            with self._connections_lock:
                self._refusing -= 1
        with contextlib.suppress(OSError):  # no thread for this one: the line may be lost
            sock.send(Message("ERROR", [refusal]).to_bytes())
        sock.close()

    @staticmethod
    def _started(conn: Connection, handler: ConnectionHandler) -> bool:
        """Start ``conn``'s reader thread; False (logged) when the system has no thread to
        give, and the caller turns the client away instead of losing the acceptor."""
        try:
            conn.start(handler)
        except RuntimeError as exc:  # "can't start new thread"
            log.warning(tr("cannot serve %s: %s"), conn.ip, exc)
            return False
        return True

    def _oldest_waiting_past_cap_locked(self, from_ip: set[Connection]) -> Connection | None:
        """When an address already has ``max_unregistered_per_ip`` connections waiting to
        register, the one that has waited longest, which makes room for the newcomer (call
        with ``_connections_lock`` held). Refusing the newcomer instead would let one
        student who holds ten silent sockets lock out everyone behind the same address."""
        cap = self.config.max_unregistered_per_ip
        if not cap:
            return None
        waiting = [
            other for other in from_ip if not _registered(other) and other not in self._evicted
        ]
        if len(waiting) < cap:
            return None
        oldest = min(waiting, key=lambda other: other.opened_at)
        self._evicted.add(oldest)
        return oldest

    def _evict(self, conn: Connection) -> None:
        """Tell ``conn`` why, and close it once that is sent (from the acceptor thread)."""
        reason = tr(
            "Too many connections from your address that have not signed in yet"
            " (at most {count}): the one waiting longest is closed."
        ).format(count=self.config.max_unregistered_per_ip)
        if (more := self._by_address.note(conn.counted_as)) is not None:
            log.info(tr("closing %s: %s%s"), conn.ip, reason, more)
        conn.send(conn.handler.goodbye(reason))
        conn.close_when_sent(reason)

    def _forget(self, conn: Connection, reason: str) -> None:
        """Called once by each connection's reader thread when it ends, whatever the cause."""
        with self._connections_lock:
            self._evicted.discard(conn)
            if conn not in self._connections:  # a refusal
                self._refusing -= 1
                return
            self._count_locked(conn, -1)
        if isinstance(conn.handler, HttpSession):  # a page's file: not news for the operator
            log.debug("%s closed: %s", conn.ip, reason)
        elif (more := self._by_address.note(conn.counted_as)) is not None:
            log.info(tr("%s closed: %s%s"), conn.ip, reason, more)

    def _count_locked(self, conn: Connection, change: int) -> None:
        """Count ``conn`` in (+1) or out (-1) of the connections and of its address's share
        (an IPv6 machine holds its whole /64); call with ``_connections_lock`` held."""
        if change > 0:
            self._connections.add(conn)
        else:
            self._connections.discard(conn)
        source = conn.counted_as
        if change > 0:
            self._per_ip.setdefault(source, set()).add(conn)
        else:
            from_ip = self._per_ip.get(source, set())
            from_ip.discard(conn)
            if not from_ip:
                self._per_ip.pop(source, None)

    # -- the operator at the server's terminal, and tests -------------------------------

    def announce(self, text: str) -> int:
        """An announcement from the server itself in every channel, kept in history for
        latecomers (see ``Rooms.announce_in_channels``); returns how many people it reached."""
        return self.rooms.announce_in_channels(text)

    def kick(self, nick: str, reason: str) -> bool:
        """Remove ``nick`` from every channel (everyone sees the KICK) and disconnect them."""
        session = self.rooms.remove(nick, reason)
        if session is None:
            return False
        session.conn.send(
            session.goodbye(tr("Kicked by the operator: {reason}").format(reason=reason))
        )
        session.conn.close_when_sent("Kicked")
        return True

    def user_list(self) -> list[tuple[str, str]]:
        """(nick, address) of everyone registered, sorted by nick."""
        return self.rooms.user_list()

    def unregistered_count(self) -> int:
        """Connections admitted that have not registered (yet): LUSERS' "unknown"."""
        with self._connections_lock:
            return sum(1 for conn in self._connections if not _registered(conn))

    def name_teacher(self, nick: str) -> tuple[TeacherNamed, str]:
        """Make the account ``nick`` is logged in to a teacher's, for good (the database
        keeps it), and ``nick`` a teacher now; returns what happened and the account."""
        session = self.rooms.find_session(nick)
        if session is None:
            return TeacherNamed.NOBODY, ""
        account = self.rooms.account_of(session)
        if account is None:
            return TeacherNamed.NO_ACCOUNT, ""
        if not self.accounts.add_teacher(account):
            return TeacherNamed.NOT_SAVED, account
        self.rooms.make_teacher(session)
        log.info(tr("%s (account %s) is a teacher"), session.nick, account)
        return TeacherNamed.DONE, account

    def teachers(self) -> list[str]:
        """The teacher accounts' names."""
        return self.accounts.teachers()

    def web_addresses(self) -> list[str]:
        """The web chat's addresses to open in a phone's browser, best first (LAN IPv4
        first: ``http://192.168.1.23:12345``); [] when the web is off. For the start-up
        banner, the operator's ``/usuarios`` and the window that hosts a room."""
        if self.web_port is None:
            return []
        endpoints = shareable_endpoints(self.config.host, self.web_port)
        return [f"http://{endpoint}" for endpoint in endpoints or [f"localhost:{self.web_port}"]]

    def find_session(self, nick: str) -> Session | None:
        """The session registered as ``nick`` (None: nobody)."""
        return self.rooms.find_session(nick)
