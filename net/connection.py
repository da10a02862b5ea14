"""One client connection on the server: its reader thread, bounded send queue, flood gate, timers.

A ``Connection`` moves bytes and knows nothing of IRC: it frames and decodes incoming
lines and hands them to its session (``net.irc_session`` or ``net.plain_session``, chosen
by the server from the first line), and it writes what anyone queues for it.

Threading rules:
- One reader thread per connection runs ``run()``; it is the only thread that reads the
  socket, calls the session's line handlers and timers, and closes the socket at the end.
  An idle connection therefore costs one thread.
- Any thread may call ``enqueue()``, ``flush()``, ``send()`` and ``abort()``. Queued bytes
  are written by whichever thread calls ``flush()`` first, with a non-blocking ``send``;
  if the kernel's buffer is full, a writer thread takes over and lives only until the
  queue is empty. So a client that stops reading never blocks anybody else: its queue
  grows up to ``sendq_bytes`` and then the connection is dropped ("SendQ exceeded").
- ``enqueue()`` does no socket call, so the server may call it while holding its state
  lock; that is how every member of a channel sees messages in the same order.
- While a reader thread handles the lines of one read, ``flush_soon()`` collects the
  connections to flush and flushes them when the batch is done (one write per recipient
  for a burst of lines, in the order they were queued).
- ``_out_lock`` guards ``_out``, ``_flushing``, ``_overflow``, ``_dead`` and ``_close_reason``.
  It is never held during a socket call; ``_flushing`` marks the one thread allowed to
  write the socket.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

from net.protocol import LineBuffer, Message, decode_line

if TYPE_CHECKING:
    from net.server import ChatServer
    from net.session import Session

log = logging.getLogger(__name__)

RECV_BYTES = 16384
#: reader thread id -> the connections to flush when it has handled the lines of one read,
#: so a burst of lines reaches each recipient in one write, not one each. An entry exists
#: only during a batch, and only its own thread touches it.
_deferred: dict[int, dict[Connection, None]] = {}
SEND_CHUNK = 65536
#: after a graceful close, how long to read and discard what the peer still sends, so
#: that closing with unread input does not reset the connection and lose our last line
LINGER_SECONDS = 1.0


def flush_soon(connections: Iterable[Connection]) -> None:
    """Flush now, or at the end of the current batch when called from a reader thread."""
    pending = _deferred.get(threading.get_ident())
    if pending is None:
        for conn in connections:
            conn.flush()
    else:
        pending.update(dict.fromkeys(connections))


def wait_for_socket(sock: socket.socket, *, write: bool, timeout: float | None) -> bool:
    """Wait until ``sock`` is readable (or writable); False on timeout. Any fd number works."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLOUT if write else select.POLLIN)
        return bool(poller.poll(None if timeout is None else max(0, int(timeout * 1000) + 1)))
    ready = (
        select.select([], [sock], [], timeout) if write else select.select([sock], [], [], timeout)
    )
    return bool(ready[0] or ready[1])


class FloodGate:
    """A token bucket: ``burst`` lines at once, then ``rate`` lines per second."""

    def __init__(self, burst: int, rate: float) -> None:
        self.burst = burst
        self.rate = rate
        self._tokens = float(burst)
        self._updated = time.monotonic()

    def allow(self, now: float) -> bool:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    def next_token_at(self, now: float) -> float:
        return now + max(0.0, 1 - self._tokens) / self.rate


class Connection:
    """A client socket on the server side (see the module docstring for its threads)."""

    def __init__(self, server: ChatServer, sock: socket.socket, address: tuple) -> None:
        self.server = server
        self.sock = sock
        self.ip = address[0].removeprefix("::ffff:")
        # A host that starts with ':' would break IRC parameters (``::1``), so prefix a 0.
        self.host = "0" + self.ip if self.ip.startswith(":") else self.ip
        self.session: Session | None = None
        self.opened_at = time.monotonic()
        self.last_received = self.opened_at
        self._ping_sent_at: float | None = None
        config = server.config
        self._gate = (
            FloodGate(config.flood_burst, config.flood_rate) if config.flood_control else None
        )
        #: lines read but not handled yet (held back by the flood gate); None when empty,
        #: so an idle connection does not keep a deque
        self._pending: deque[bytes | None] | None = None
        self._out_lock = threading.Lock()
        #: notified when _out empties; made by the first wait_drained(), most never need one
        self._drained: threading.Condition | None = None
        self._out = bytearray()  # bytes queued for the socket
        self._flushing = False  # some thread is writing _out to the socket
        self._overflow = False  # _out went past sendq_bytes
        self._dead = False  # no more output is accepted
        self._close_reason: str | None = None
        self._linger = False  # set by finish(): half-close and drain input before closing
        self.thread = threading.Thread(target=self.run, name=f"conn-{self.ip}", daemon=True)

    # -- output, from any thread -------------------------------------------------

    def enqueue(self, data: bytes) -> None:
        """Queue bytes without touching the socket (safe under the server's state lock)."""
        with self._out_lock:
            if self._dead:
                return
            self._out += data
            if len(self._out) > self.server.config.sendq_bytes:
                self._overflow = True

    def flush(self) -> None:
        """Write what is queued, unless another thread already is; never blocks on the peer."""
        with self._out_lock:
            overflowed = self._overflow and not self._dead
            if overflowed:  # past the send queue's bound: this client is not reading
                self._dead = True
                self._out.clear()
                self._notify_drained()
            elif self._flushing or not self._out:
                return
            else:
                self._flushing = True
        if overflowed:
            self.abort("SendQ exceeded")
        else:
            self._drain(blocking=False)

    def send(self, data: bytes) -> None:
        self.enqueue(data)
        self.flush()

    def _drain(self, *, blocking: bool) -> None:
        """Write ``_out`` until empty; the caller owns ``_flushing``."""
        while True:
            with self._out_lock:
                if self._dead or not self._out:
                    self._flushing = False
                    self._notify_drained()
                    return
                chunk = bytes(self._out[:SEND_CHUNK])
            try:
                sent = self.sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (OSError, ValueError) as exc:
                self._stop_output()
                self.abort(f"Write error: {getattr(exc, 'strerror', None) or exc}")
                return
            if sent:
                with self._out_lock:
                    del self._out[:sent]
            if sent < len(chunk):
                if not blocking:
                    threading.Thread(
                        target=self._drain,
                        kwargs={"blocking": True},
                        name=f"writer-{self.ip}",
                        daemon=True,
                    ).start()
                    return
                with contextlib.suppress(OSError, ValueError):
                    wait_for_socket(self.sock, write=True, timeout=1.0)

    def _stop_output(self) -> None:
        with self._out_lock:
            self._dead = True
            self._out.clear()
            self._flushing = False
            self._notify_drained()

    def _notify_drained(self) -> None:
        """Wake wait_drained(); call with _out_lock held."""
        if self._drained is not None:
            self._drained.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        """Wait until everything queued has been written (or output stopped)."""
        self.flush()
        deadline = time.monotonic() + timeout
        with self._out_lock:
            if self._drained is None:
                self._drained = threading.Condition(self._out_lock)
            while (self._out or self._flushing) and not self._dead:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._drained.wait(remaining)
        return True

    def _set_close_reason(self, reason: str) -> None:
        """Record why the connection ends; the first reason given wins."""
        with self._out_lock:
            if self._close_reason is None:
                self._close_reason = reason

    def abort(self, reason: str) -> None:
        """End this connection from any thread; the reader thread then cleans up."""
        self._set_close_reason(reason)
        with contextlib.suppress(OSError, ValueError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def close_gracefully(self, reason: str, timeout: float = 1.0) -> None:
        """From any thread: let queued output (an ERROR line) go out, then end the connection."""
        self.wait_drained(timeout)
        self.abort(reason)

    def finish(self, reason: str, *, tell_peer: bool = False) -> None:
        """From the reader thread: end after queued output, closing our side first (see run).

        With ``tell_peer``, the session's goodbye line (an IRC ``ERROR``) says why first.
        """
        if tell_peer:
            goodbye = self.session.goodbye(reason) if self.session else None
            self.enqueue(goodbye or Message("ERROR", [reason]).to_bytes())
        self.wait_drained(1.0)
        self._set_close_reason(reason)
        self._linger = True

    # -- the reader thread -------------------------------------------------------

    def run(self) -> None:
        reason = "Connection closed"
        try:
            self._serve()
        except OSError as exc:
            reason = f"Read error: {exc.strerror or exc}"
        except Exception:
            log.exception("connection from %s failed", self.ip)
            reason = "Internal error"
        finally:
            self._set_close_reason(reason)
            reason = self._close_reason or reason
            try:
                self.server.connection_closed(self, reason)
            finally:
                self._stop_output()
                if self._linger:
                    self._half_close_and_drain()
                with contextlib.suppress(OSError):
                    self.sock.close()

    def _half_close_and_drain(self) -> None:
        """Send FIN, then discard input until the peer closes too (bounded)."""
        deadline = time.monotonic() + LINGER_SECONDS
        with contextlib.suppress(OSError, ValueError):
            self.sock.shutdown(socket.SHUT_WR)
            while (remaining := deadline - time.monotonic()) > 0:
                if wait_for_socket(self.sock, write=False, timeout=remaining):
                    try:
                        if not self.sock.recv(RECV_BYTES):
                            return
                    except (BlockingIOError, InterruptedError):
                        continue

    def _serve(self) -> None:
        config = self.server.config
        buffer = LineBuffer()
        while self._close_reason is None:
            now = time.monotonic()
            if self._pending:
                self._handle_pending(now)
                if self._close_reason is not None:
                    return
            wake = self._next_timer()
            if self._pending and self._gate is not None:
                wake = min(wake, self._gate.next_token_at(now))
            timeout = None if wake == float("inf") else max(0.0, wake - now)
            if wait_for_socket(self.sock, write=False, timeout=timeout):
                try:
                    data = self.sock.recv(RECV_BYTES)
                except (BlockingIOError, InterruptedError):
                    continue
                if not data:
                    return
                self.last_received = time.monotonic()
                self._ping_sent_at = None
                lines = buffer.feed(data)
                if self._pending is None:
                    self._pending = deque(lines)
                else:
                    self._pending.extend(lines)
                if self._gate is not None and len(self._pending) > config.flood_max_queued:
                    self.finish("Excess Flood", tell_peer=True)
            else:
                self._on_timer(time.monotonic())

    def _handle_pending(self, now: float) -> None:
        """Handle the lines the flood gate lets through, then flush what they queued."""
        pending = self._pending
        batch = _deferred[threading.get_ident()] = {}
        try:
            while pending and (self._gate is None or self._gate.allow(now)):
                self._dispatch(pending.popleft())
                if self._close_reason is not None:
                    return
        finally:
            del _deferred[threading.get_ident()]
            for conn in batch:  # first what others are waiting for
                if conn is not self:
                    conn.flush()
            self.server.history.persist()  # then to disk, before we confirm anything
            self.flush()
            if not pending:
                self._pending = None

    def _dispatch(self, raw: bytes | None) -> None:
        if raw == b"":
            return
        line = None if raw is None else decode_line(raw)
        if self.session is None:
            self.session = self.server.create_session(self, line)
        self.session.handle_line(line)

    def _next_timer(self) -> float:
        config = self.server.config
        session = self.session
        if session is None:
            return self.opened_at + config.plain_text_after
        if not session.registered:
            return self.opened_at + config.registration_timeout
        if not session.pings:
            return float("inf")
        if self._ping_sent_at is not None:
            return self._ping_sent_at + config.ping_timeout
        return self.last_received + config.ping_interval

    def _on_timer(self, now: float) -> None:
        config = self.server.config
        if self.session is None:
            if now >= self.opened_at + config.plain_text_after:
                self.session = self.server.create_session(self, None)
        elif not self.session.registered:
            if now >= self.opened_at + config.registration_timeout:
                self.finish("Registration timed out", tell_peer=True)
        elif self.session.pings:
            if self._ping_sent_at is None and now >= self.last_received + config.ping_interval:
                self._ping_sent_at = now
                self.session.send_ping()
            elif self._ping_sent_at is not None and now >= self._ping_sent_at + config.ping_timeout:
                silence = round(now - self.last_received)
                self.finish(f"Ping timeout: {silence} seconds", tell_peer=True)
