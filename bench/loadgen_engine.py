"""The load generator's engine: many non-blocking IRC clients in one ``selectors`` loop.

Role: ``Engine`` connects, registers (NICK/USER, wait for 001) and joins (JOIN #bench, wait
for 366) ``Client`` objects, answers PING, writes with back-pressure, classifies every
failure (refused / reset / timeout / server_error) and every later drop; ``DeliveryTracker``
counts the PRIVMSG deliveries it sees (unique, duplicated, reordered, latency). It speaks
plain RFC 1459 only and imports nothing from Charla, so it measures any IRC server. The
scenarios that drive it are in ``loadgen.py``.

Transports: ``tcp`` (IRC lines on the socket) or ``ws`` (IRC over WebSocket as the IRCv3
WebSocket specification says, RFC 6455: an HTTP/1.1 upgrade on ``/`` with an ``Origin`` of
the server's own page, as a browser sends it, subprotocol ``text.ircv3.net``, one IRC line
per text frame). A ``ws`` client masks every frame it sends with a fresh random mask, as
browsers do (taken from an ``os.urandom`` pool refilled 4 KiB at a time, so masking costs
no syscall per frame); the server's frames are cut by ``WsFrames`` (one loop step per frame,
slicing the lines straight out of the received bytes). Pings from the server (WebSocket
control frames) are answered with a masked Pong; its Close frame ends the connection.

Threading: none. One engine belongs to one process and is driven by that process's only
thread; message scheduling happens in the same loop, so nothing needs a lock.

Network: connects only to the loopback ``host`` it is given (``procutil.require_loopback``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import os
import selectors
import socket
import struct
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import Any

from procutil import require_loopback

CHANNEL = b"#bench"
RECV_SIZE = 262144
TRANSPORTS = ("tcp", "ws")

# WebSocket (RFC 6455) constants, kept here so the load generator imports nothing of Charla.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_SUBPROTOCOL = "text.ircv3.net"
WS_MAX_HANDSHAKE = 8192  # bytes of the server's 101 answer we are willing to buffer
WS_OP_TEXT, WS_OP_BINARY, WS_OP_CLOSE, WS_OP_PING = 0x1, 0x2, 0x8, 0x9
MASK_POOL_BYTES = 4096  # random bytes fetched at once for frame masks

# Client states, in order of progress.
NEW, CONNECTING, REGISTERING, REGISTERED, JOINING, JOINED, QUITTING, CLOSED, FAILED = range(9)
STATE_NAMES = (
    "new",
    "connecting",
    "registering",
    "registered",
    "joining",
    "joined",
    "quitting",
    "closed",
    "failed",
)
NICK_ERRORS = {b"431", b"432", b"433", b"436", b"437", b"484"}
JOIN_ERRORS = {b"403", b"405", b"471", b"473", b"474", b"475", b"476", b"477"}
REGISTER_ERRORS = {b"451", b"461", b"462", b"463", b"464", b"465"}


def classify_oserror(exc: BaseException | int) -> str:
    """Map a socket error to refused / reset / timeout / other:<ERRNO>."""
    code = exc if isinstance(exc, int) else getattr(exc, "errno", None)
    if code == errno.ECONNREFUSED:
        return "refused"
    if code in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset"
    if code == errno.ETIMEDOUT:
        return "timeout"
    if isinstance(code, int):
        return f"other:{errno.errorcode.get(code, code)}"
    return f"other:{type(exc).__name__}"


# --------------------------------------------------------------------------------------
# event loop and clients
# --------------------------------------------------------------------------------------


class Client:
    """One IRC connection; all fields are owned by the event-loop thread."""

    __slots__ = (
        "auto_join",
        "error_text",
        "events",
        "gid",
        "idx",
        "nick",
        "pump",
        "rbuf",
        "settled",
        "sock",
        "state",
        "t_joined",
        "t_registered",
        "t_start",
        "wbuf",
        "ws_accept",
        "ws_pending",
    )

    def __init__(self, idx: int, gid: int, nick: str, auto_join: bool) -> None:
        self.idx = idx  # position in this engine's client list
        self.gid = gid  # global client id across worker processes (nick suffix)
        self.nick = nick
        self.sock: socket.socket | None = None
        self.state = NEW
        self.rbuf = b""
        self.wbuf = bytearray()
        self.events = 0
        self.auto_join = auto_join
        self.settled = False
        self.t_start = 0
        self.t_registered = 0
        self.t_joined = 0
        self.error_text = ""
        # Called when the socket is writable and wbuf is empty (burst senders).
        self.pump: Callable[[Client], None] | None = None
        # ws: the Sec-WebSocket-Accept we expect while the upgrade is under way ("" once
        # upgraded, None for tcp), and the IRC lines queued until then.
        self.ws_accept: str | None = None
        self.ws_pending = b""


# --------------------------------------------------------------------------------------
# WebSocket framing, client side
# --------------------------------------------------------------------------------------


class MaskSource:
    """Fresh random 4-byte frame masks (RFC 6455 §5.3), cut from a pool of ``os.urandom``."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def take(self) -> bytes:
        at = self._at
        if at + 4 > len(self._pool):
            self._pool, at = os.urandom(MASK_POOL_BYTES), 0
        self._at = at + 4
        return self._pool[at : at + 4]


def ws_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with ``mask`` repeated: one big-integer XOR, no Python loop per byte."""
    n = len(payload)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


def ws_client_frames(data: bytes, masks: MaskSource, opcode: int = WS_OP_TEXT) -> bytes:
    """Each CRLF-terminated line of ``data`` as one masked frame, without its CRLF."""
    out = []
    for line in data.split(b"\r\n"):
        if not line:
            continue
        n = len(line)
        mask = masks.take()
        if n < 126:
            head = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        out.append(head + mask + ws_mask(line, mask))
    return b"".join(out)


def ws_accept_for(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key`` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + WS_GUID).digest()).decode()


class WsFrameError(Exception):
    """The server broke RFC 6455 framing (a masked frame, a fragment we cannot handle)."""


def ws_split_frames(buf: bytes) -> tuple[list[bytes], list[tuple[int, bytes]], bytes]:
    """Cut the complete server frames off ``buf``: (data lines, [(opcode, payload)] of the
    control frames, rest). A data line is the payload of a text or binary frame.

    Server frames are unmasked (a masked one raises ``WsFrameError``); fragmented messages
    are not expected from an IRC server (one line per message) and raise too. The common
    case (a whole text frame shorter than 126 bytes) takes the first branch alone.

    >>> ws_split_frames(b"\\x81\\x02hi\\x89\\x01p\\x81\\x7e\\x00")
    ([b'hi'], [(9, b'p')], b'\\x81~\\x00')
    """
    lines: list[bytes] = []
    controls: list[tuple[int, bytes]] = []
    append = lines.append
    at, n = 0, len(buf)
    while n - at >= 2:
        first, length = buf[at], buf[at + 1]
        if first == 0x81 and length < 126:  # fast path: a short, whole text frame
            end = at + 2 + length
            if end > n:
                break
            append(buf[at + 2 : end])
            at = end
            continue
        if length < 126:
            start = at + 2
        elif length == 126:
            if n - at < 4:
                break
            length = (buf[at + 2] << 8) | buf[at + 3]
            start = at + 4
        elif length == 127:
            if n - at < 10:
                break
            length = int.from_bytes(buf[at + 2 : at + 10], "big")
            start = at + 10
        else:
            raise WsFrameError("masked frame from the server")
        end = start + length
        if end > n:
            break
        if first & 0xF0 != 0x80:
            raise WsFrameError(f"fragmented or reserved-bit frame (0x{first:02x})")
        if first & 0x0F in (WS_OP_TEXT, WS_OP_BINARY):
            append(buf[start:end])
        else:
            controls.append((first & 0x0F, buf[start:end]))
        at = end
    return lines, controls, buf[at:]


PrivmsgHandler = Callable[[Client, bytes, int], None]


class Engine:
    """Single-threaded selector loop driving many non-blocking IRC clients."""

    def __init__(
        self, host: str, port: int, nick_prefix: str = "lg", transport: str = "tcp"
    ) -> None:
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}")
        self.host = require_loopback(host)
        self.port = port
        self.transport = transport
        self.masks = MaskSource()
        self.family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self.nick_prefix = nick_prefix
        self.sel = selectors.DefaultSelector()
        self.clients: list[Client] = []
        self.on_privmsg: PrivmsgHandler | None = None
        self.failures: Counter[str] = Counter()
        self.failure_details: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.n_started = 0
        self.n_settled = 0
        self.n_registered = 0
        self.n_joined = 0
        self.n_failed = 0
        self.n_open = 0

    # ---- client lifecycle -------------------------------------------------------------

    def new_clients(self, gids: Iterable[int], auto_join: bool) -> list[Client]:
        """Create (not yet connected) clients with global ids ``gids``."""
        base = len(self.clients)
        made = [
            Client(base + i, gid, f"{self.nick_prefix}{gid}", auto_join)
            for i, gid in enumerate(gids)
        ]
        self.clients.extend(made)
        return made

    @property
    def n_inflight(self) -> int:
        return self.n_started - self.n_settled

    def start(self, c: Client) -> None:
        """Begin a non-blocking connect for ``c``."""
        self.n_started += 1
        c.t_start = time.monotonic_ns()
        try:
            sock = socket.socket(self.family, socket.SOCK_STREAM)
        except OSError as exc:
            self._fail(c, classify_oserror(exc), f"socket(): {exc}")
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = sock.connect_ex((self.host, self.port))
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            sock.close()
            self._fail(c, classify_oserror(err), f"connect(): {os.strerror(err)}")
            return
        c.sock = sock
        c.state = CONNECTING
        c.events = selectors.EVENT_WRITE
        self.sel.register(sock, selectors.EVENT_WRITE, c)
        self.n_open += 1

    def _finish_connect(self, c: Client) -> None:
        assert c.sock is not None
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._fail(c, classify_oserror(err), f"connect: {os.strerror(err)}")
            return
        c.state = REGISTERING
        self._set_events(c, selectors.EVENT_READ)
        nick = c.nick.encode()
        if self.transport == "ws":
            self._ws_upgrade(c)
        self.send(c, b"NICK " + nick + b"\r\nUSER " + nick + b" 0 * :charla loadgen\r\n")

    def _ws_upgrade(self, c: Client) -> None:
        """Send the opening handshake as a browser would; IRC lines wait for the 101."""
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        c.ws_accept = ws_accept_for(key)
        host = f"[{self.host}]" if ":" in self.host else self.host
        request = (
            f"GET / HTTP/1.1\r\nHost: {host}:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {WS_SUBPROTOCOL}\r\n"
            f"Origin: http://{host}:{self.port}\r\nUser-Agent: charla-loadgen\r\n\r\n"
        )
        self._send_raw(c, request.encode("ascii"))

    def _settle(self, c: Client) -> None:
        if not c.settled:
            c.settled = True
            self.n_settled += 1

    def _fail(self, c: Client, category: str, detail: str) -> None:
        """Mark a client that never reached its goal (registered / joined) as failed."""
        if c.state in (FAILED, CLOSED):
            return
        self._close_socket(c)
        c.state = FAILED
        self.n_failed += 1
        self.failures[category] += 1
        self.failure_details[f"{category}: {detail}"[:160]] += 1
        self._settle(c)

    def _lost(self, c: Client, reason: str) -> None:
        """The connection ended: a failure before settling, a drop afterwards."""
        if c.state in (FAILED, CLOSED):
            return
        if c.state == QUITTING:
            self._close_socket(c)
            c.state = CLOSED
            return
        if not c.settled:
            category = "server_error" if c.error_text else "reset"
            detail = c.error_text or reason
            self._fail(c, category, f"{detail} (while {STATE_NAMES[c.state]})")
            return
        self.drops[(c.error_text or reason)[:160]] += 1
        self._close_socket(c)
        c.state = CLOSED

    def _close_socket(self, c: Client) -> None:
        sock = c.sock
        if sock is None:
            return
        c.sock = None
        c.events = 0
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        sock.close()
        self.n_open -= 1
        c.wbuf = bytearray()
        c.pump = None

    def _set_events(self, c: Client, events: int) -> None:
        if c.sock is not None and events != c.events:
            c.events = events
            self.sel.modify(c.sock, events, c)

    def want_write(self, c: Client) -> None:
        self._set_events(c, selectors.EVENT_READ | selectors.EVENT_WRITE)

    # ---- I/O -------------------------------------------------------------------------

    def send(self, c: Client, data: bytes) -> bool:
        """Queue IRC lines ``data`` (framed for ws); write at once when nothing is pending.
        False if closed."""
        if c.ws_accept is None:
            return self._send_raw(c, data)
        if c.sock is None:
            return False
        if c.ws_accept:  # upgrade not answered yet
            c.ws_pending += data
            return True
        return self._send_raw(c, ws_client_frames(data, self.masks))

    def _send_raw(self, c: Client, data: bytes) -> bool:
        sock = c.sock
        if sock is None:
            return False
        if c.wbuf:
            c.wbuf += data
            return True
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._lost(c, classify_oserror(exc))
            return False
        if sent < len(data):
            c.wbuf += data[sent:]
            self.want_write(c)
        return True

    def _flush(self, c: Client) -> None:
        sock = c.sock
        assert sock is not None
        if c.wbuf:
            try:
                sent = sock.send(c.wbuf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._lost(c, classify_oserror(exc))
                return
            del c.wbuf[:sent]
            if c.wbuf:
                return
        if c.pump is not None:
            c.pump(c)
            if c.sock is None or c.wbuf or c.pump is not None:
                return
        self._set_events(c, selectors.EVENT_READ)

    def _read(self, c: Client) -> None:
        sock = c.sock
        assert sock is not None
        try:
            data = sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(c, classify_oserror(exc))
            return
        if not data:
            if c.ws_accept:
                self._lost(c, "server closed the connection before answering the WebSocket upgrade")
            else:
                self._lost(c, "server closed the connection without ERROR")
            return
        now = time.monotonic_ns()
        if c.rbuf:
            data = c.rbuf + data
        if c.ws_accept is not None:
            self._ws_read(c, data, now)
            return
        lines = data.split(b"\n")
        c.rbuf = lines.pop()
        self._dispatch(c, lines, now)

    def _dispatch(self, c: Client, lines: list[bytes], now: int) -> None:
        on_privmsg = self.on_privmsg
        for line in lines:
            parts = line.split(b" ", 3)
            if len(parts) == 4 and parts[1] == b"PRIVMSG":
                if on_privmsg is not None:
                    on_privmsg(c, parts[3], now)
                continue
            self._handle_line(c, line.rstrip(b"\r"), now)
            if c.sock is None:
                return

    def _ws_read(self, c: Client, data: bytes, now: int) -> None:
        """The upgrade's answer, then frames: text/binary lines, Ping, Close."""
        if c.ws_accept:
            if len(data) >= 5 and not data.startswith(b"HTTP/"):
                first = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace")[:100]
                self._fail(c, "server_error", f"WebSocket upgrade not answered in HTTP: {first}")
                return
            head, sep, rest = data.partition(b"\r\n\r\n")
            if not sep:
                c.rbuf = data
                if len(data) > WS_MAX_HANDSHAKE:
                    self._fail(c, "server_error", "WebSocket: no end to the 101 answer")
                return
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if not status.startswith("HTTP/1.1 101"):
                self._fail(c, "server_error", f"WebSocket upgrade refused: {status[:100]}")
                return
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            if headers.get(b"sec-websocket-accept") != c.ws_accept.encode("ascii"):
                self._fail(c, "server_error", "WebSocket: wrong Sec-WebSocket-Accept")
                return
            c.ws_accept = ""
            pending, c.ws_pending = c.ws_pending, b""
            if pending:
                self.send(c, pending)
            data = rest
        try:
            lines, controls, c.rbuf = ws_split_frames(data)
        except WsFrameError as exc:
            self._lost(c, f"WebSocket: {exc}")
            return
        for opcode, payload in controls:  # rare: answered after this read's lines
            if opcode == WS_OP_PING:
                mask = self.masks.take()
                pong = bytes((0x8A, 0x80 | len(payload))) + mask + ws_mask(payload, mask)
                self._send_raw(c, pong)
            elif opcode == WS_OP_CLOSE:
                self._dispatch(c, lines, now)
                if c.sock is None:
                    return
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not c.error_text:
                    reason = payload[2:].decode("utf-8", "replace")
                    c.error_text = f"WebSocket Close {code} {reason}"
                self._lost(c, c.error_text)
                return
        self._dispatch(c, lines, now)

    def _handle_line(self, c: Client, line: bytes, now: int) -> None:
        if not line:
            return
        rest = line.partition(b" ")[2] if line[:1] == b":" else line
        command, _, params = rest.partition(b" ")
        command = command.upper()
        if command == b"PING":
            self.send(c, b"PONG " + params + b"\r\n")
        elif command == b"001":
            if c.state == REGISTERING:
                c.state = REGISTERED
                c.t_registered = now
                self.n_registered += 1
                if c.auto_join:
                    c.state = JOINING
                    self.send(c, b"JOIN " + CHANNEL + b"\r\n")
                else:
                    self._settle(c)
        elif command == b"366":
            if c.state == JOINING and CHANNEL.lower() in params.lower():
                c.state = JOINED
                c.t_joined = now
                self.n_joined += 1
                self._settle(c)
        elif command == b"ERROR":
            c.error_text = "ERROR " + params.decode("utf-8", "replace").lstrip(":")
        elif command in NICK_ERRORS or command in REGISTER_ERRORS:
            if c.state == REGISTERING:
                self._fail(c, "server_error", line.decode("utf-8", "replace")[:120])
        elif command in JOIN_ERRORS and c.state == JOINING:
            self._fail(c, "server_error", line.decode("utf-8", "replace")[:120])

    def poll(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            c: Client = key.data
            if c.sock is None:
                continue
            if c.state == CONNECTING:
                self._finish_connect(c)
                continue
            if mask & selectors.EVENT_READ:
                self._read(c)
            if mask & selectors.EVENT_WRITE and c.sock is not None:
                self._flush(c)

    def run_until(
        self,
        done: Callable[[], bool],
        timeout: float,
        tick: Callable[[int], float | None] | None = None,
        max_wait: float = 0.05,
    ) -> bool:
        """Run the loop until ``done()`` is true (True) or ``timeout`` seconds pass (False).

        ``tick(now_ns)`` runs every iteration and may return seconds until it wants to run
        again.
        """
        deadline = time.monotonic() + timeout
        while True:
            if done():
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            wait = min(max_wait, deadline - now)
            if tick is not None:
                nxt = tick(time.monotonic_ns())
                if nxt is not None:
                    wait = min(wait, max(0.0, nxt))
            self.poll(wait)

    def expire(self, clients: Iterable[Client]) -> None:
        """Fail every started but unsettled client in ``clients`` as a timeout."""
        waiting_for = {
            CONNECTING: "TCP connect not completed",
            REGISTERING: "connected but no 001",
            JOINING: "registered but no 366 for JOIN",
        }
        for c in clients:
            if c.state not in (NEW, FAILED, CLOSED) and not c.settled:
                self._fail(c, "timeout", waiting_for.get(c.state, STATE_NAMES[c.state]))

    # ---- phases ----------------------------------------------------------------------

    def connect_clients(
        self, clients: list[Client], concurrency: int, timeout: float
    ) -> tuple[bool, float]:
        """Connect, register (and join) ``clients`` with at most ``concurrency`` in flight.

        Returns (all settled in time, seconds taken).
        """
        queue = deque(clients)
        started = time.monotonic()

        def tick(_now: int) -> float | None:
            while queue and self.n_inflight < concurrency:
                self.start(queue.popleft())
            return None

        target = self.n_settled + len(clients)
        ok = self.run_until(lambda: self.n_settled >= target, timeout, tick)
        if not ok:
            for c in queue:
                self.n_started += 1
                self._fail(c, "timeout", "never started: setup deadline")
            self.expire(clients)
        return ok, time.monotonic() - started

    def quit_all(self, timeout: float = 3.0) -> None:
        """Send QUIT to every open client, wait (bounded) for the server to close, close all."""
        for c in self.clients:
            if c.sock is not None and c.state != QUITTING:
                c.pump = None
                c.state = QUITTING
                self.send(c, b"QUIT :loadgen done\r\n")
        self.run_until(lambda: self.n_open == 0, timeout)
        for c in self.clients:
            if c.sock is not None:
                self._close_socket(c)
                c.state = CLOSED
        self.sel.close()

    def joined(self) -> list[Client]:
        return [c for c in self.clients if c.state == JOINED]

    def failure_report(self) -> dict[str, Any]:
        return {
            "failed": self.n_failed,
            "failures": dict(self.failures),
            "failure_examples": dict(self.failure_details.most_common(5)),
            "dropped": sum(self.drops.values()),
            "drop_reasons": dict(self.drops.most_common(5)),
        }


# --------------------------------------------------------------------------------------
# delivery bookkeeping
# --------------------------------------------------------------------------------------


class DeliveryTracker:
    """Counts every PRIVMSG delivery seen by this process: unique, dup, reordered, latency."""

    def __init__(self, n_clients: int, n_senders: int, per_sender: int) -> None:
        self.n_senders = n_senders
        self.per_sender = per_sender
        self.seen = bytearray(n_clients * n_senders * per_sender)
        self.last = [-1] * (n_clients * n_senders)
        self.received = 0
        self.duplicated = 0
        self.reordered = 0
        self.invalid = 0
        self.self_echo = 0
        self.latencies_ns = array("q")
        self.first_delivery_ns = 0
        self.last_delivery_ns = 0

    def on_privmsg(self, c: Client, body: bytes, now: int) -> None:
        fields = body.split(None, 3)
        try:
            sid = int(fields[0][1:])
            seq = int(fields[1])
            sent_ns = int(fields[2])
        except (ValueError, IndexError):
            self.invalid += 1
            return
        if not (0 <= sid < self.n_senders and 0 <= seq < self.per_sender):
            self.invalid += 1
            return
        if c.gid == sid:
            self.self_echo += 1
            return
        pair = c.idx * self.n_senders + sid
        key = pair * self.per_sender + seq
        if self.seen[key]:
            self.duplicated += 1
            return
        self.seen[key] = 1
        self.received += 1
        self.latencies_ns.append(now - sent_ns)
        if seq < self.last[pair]:
            self.reordered += 1
        else:
            self.last[pair] = seq
        if not self.first_delivery_ns:
            self.first_delivery_ns = now
        self.last_delivery_ns = now

    def export(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "duplicated": self.duplicated,
            "reordered": self.reordered,
            "invalid": self.invalid,
            "self_echo": self.self_echo,
            "first_delivery_ns": self.first_delivery_ns,
            "last_delivery_ns": self.last_delivery_ns,
            "latencies": self.latencies_ns.tobytes(),
        }


def make_message(sid: int, seq: int, now: int, pad: bytes) -> bytes:
    return b"PRIVMSG %s :%d %d %d %s\r\n" % (CHANNEL, sid, seq, now, pad)
