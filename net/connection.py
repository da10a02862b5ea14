"""One client connection on the server: the transport, and nothing but the transport.

A ``Connection`` moves bytes and knows nothing of IRC, sessions or rooms. Its reader
thread reads the socket, frames and decodes lines (``net.protocol``), lets them through
the flood gate, and hands each one up to its ``ConnectionHandler`` (the object that
decides what a line means: ``net.irc_session.IrcSession``, ``net.plain_session.PlainSession``,
or the server's first-line sniffer, which swaps itself for one of them). Output goes the
other way: anyone may ``enqueue()`` bytes, and they are written to the socket by
``flush()``. The handler owns every timer policy (registration timeout, keepalive PINGs,
the plain-text sniff): the connection only sleeps until ``handler.next_deadline()``.
How bytes become lines is the connection's ``framing`` (``InputFraming``): a
``net.protocol.LineBuffer`` for IRC and plain text; the server starts each connection
with ``net.web_session.FirstBytes``, which tells an HTTP request by its first bytes and
otherwise is (and is then replaced by) a ``LineBuffer``. After a WebSocket upgrade the
framing is a ``MessageStream`` (``use_stream``): it also wraps every line queued with
``enqueue()`` in a frame (``enqueue_raw()`` bypasses it), answers Pings through the reader
(``take_control``), and says when the peer's stream ended: the lines it sent before are
handled first, then the connection finishes with the stream's Close (``end_stream``).
When the connection ends, its handler becomes ``ENDED`` and the lines still held back by
the flood gate are dropped: a session points back at its connection, and without that the
pair (and what they hold) would wait for the cyclic garbage collector.

Where the socket write actually happens:
- ``flush()`` writes at once with a non-blocking ``send``, on the calling thread; if the
  kernel's buffer is full, a writer thread takes over and lives only until the queue is
  empty. So a client that stops reading never blocks anybody else: its queue grows up
  to ``ConnectionLimits.sendq_bytes`` and then the connection is dropped ("SendQ exceeded").
- ``flush_soon()``, called on a reader thread while it handles the lines of one read,
  only notes the connection; the reader flushes them all at the end of the batch, in
  ``_handle_pending``'s ``finally``: first everybody else, then ``handler.on_batch_done()``
  (where the server saves history to disk), then its own client. So a burst of lines
  reaches each recipient in one write, and a sender's confirmations leave only after the
  message is on disk.
- Once a connection's own reader, in a batch, queues output for its own client (a
  reply: the ``PONG`` that confirms a message), that output is *held*: ``_held_from``
  marks how much of ``_out`` was queued before the reader's first reply, and nobody else
  writes past that mark (neither another reader that relays to it and flushes it, nor a
  writer thread already draining it). The replies, and whatever others queued after
  them (messages to it: bytes cannot overtake each other), leave when the reader ends
  the batch (``_end_batch``: after ``on_batch_done``). Without the hold, another reader
  relaying to this client at that moment would flush its confirmation before the message
  was saved. Messages to a client wait at most for the rest of its reader's batch, and
  only behind a reply of its own (a batch of messages alone holds nothing back). A reader
  that ends its connection mid-batch (``finish``, a ``QUIT``) ends the batch first, so
  its goodbye is not held behind its own mark.

Threading rules:
- One reader thread per connection runs ``run()``; it is the only thread that reads the
  socket, calls the handler, and closes the socket at the end. An idle connection costs
  one thread.
- Any thread may call ``enqueue()``, ``flush()``, ``send()``, ``wait_drained()``,
  ``close_when_sent()`` and ``abort()``. ``enqueue()`` does no socket call, so it may be
  called under a shared lock (that is how every member of a channel sees messages in the
  same order).
- ``_out_lock`` guards ``_out``, ``_in_batch``, ``_held_from``, ``_flushing``,
  ``_overflow``, ``_dead``, ``_sealed`` and the writes of ``_close_reason`` (the reader
  thread reads it unlocked: it only ever goes from None to a reason). It is never held during a
  socket call; ``_flushing`` marks the one thread allowed to write the socket.
- The batch of connections to flush is per reader thread (``threading.local``).
- ``framing`` and ``_stream`` are the reader thread's; ``_wrap`` is set once, by the
  reader, before any session knows the connection (so ``enqueue`` reads it unlocked).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from net.i18n import tr
from net.protocol import LineBuffer, decode_line

log = logging.getLogger(__name__)

RECV_BYTES = 16384
SEND_CHUNK = 65536
#: after a graceful close, how long to read and discard what the peer still sends, so
#: that closing with unread input does not reset the connection and lose our last line
LINGER_SECONDS = 1.0
#: ``next_deadline()`` for "no timer"
NO_DEADLINE = float("inf")


class ConnectionHandler(Protocol):
    """What a connection hands its lines and timers to; every call is on its reader thread."""

    def on_line(self, line: str | None) -> None:
        """One decoded line, without CRLF; None for a line over the length limit."""

    def next_deadline(self) -> float:
        """When (``time.monotonic()``) to call ``on_deadline`` if nothing arrives before;
        ``NO_DEADLINE`` for never. Asked again after every line and every deadline."""

    def on_deadline(self, now: float) -> None:
        """The deadline passed (``now`` may be a little later than it). It must move the
        deadline on or end the connection: it is asked again at once."""

    def on_batch_done(self) -> None:
        """The lines of one read were handled, and what they queued for other connections
        has been written; this connection's own output is flushed right after."""

    def on_closed(self, reason: str) -> None:
        """The connection ended, whatever the cause; called once, before the socket closes."""

    def goodbye(self, reason: str) -> bytes:
        """The last line to send before closing the connection for ``reason``."""


class InputFraming(Protocol):
    """How the reader thread cuts what it reads into lines: ``net.protocol.LineBuffer``
    for IRC and plain text, or one that also knows HTTP and WebSocket."""

    def feed(self, data: bytes) -> list[bytes | None]:
        """The complete lines in ``data`` (None: one over the limit)."""


class MessageStream(InputFraming, Protocol):
    """A framing that wraps output and talks back on its own (WebSocket:
    ``net.websocket.WebSocketStream``). ``feed``, ``take_control`` and ``ended`` are the
    reader thread's; ``wrap`` and ``farewell`` may be called from any thread."""

    #: why the peer's stream is over (its close, or its protocol error); None while open
    ended: str | None

    def wrap(self, data: bytes) -> bytes:
        """Whole CRLF lines a session queued, framed for the wire."""

    def take_control(self) -> bytes:
        """What to send at once, unwrapped (a Pong), after a ``feed``; b"" if nothing."""

    def farewell(self, code: int | None = None, reason: str = "") -> bytes:
        """The last bytes before closing (a Close frame), once; b"" after."""


class _Ended:
    """The handler of a connection that has ended: nothing more reaches it."""

    def on_line(self, line: str | None) -> None:
        """Nothing: the reader thread has stopped."""

    def next_deadline(self) -> float:
        return NO_DEADLINE

    def on_deadline(self, now: float) -> None:
        """Nothing: no deadline is ever due."""

    def on_batch_done(self) -> None:
        """Nothing."""

    def on_closed(self, reason: str) -> None:
        """Nothing: it was told already."""

    def goodbye(self, reason: str) -> bytes:
        return b""


#: what ``Connection.handler`` becomes when the connection has ended
ENDED: ConnectionHandler = _Ended()


@dataclass(frozen=True)
class ConnectionLimits:
    """What one client may make the server hold or do (``net.server.ServerConfig`` fills it)."""

    sendq_bytes: int = 1 << 20  # queued output before "SendQ exceeded"
    flood_control: bool = True
    flood_burst: int = 40  # lines a client may send at once
    flood_rate: float = 10.0  # lines per second after the burst
    flood_max_queued: int = 1000  # lines held back before "Excess Flood"
    #: bytes of those lines held back before "Excess Flood". An honest client never comes
    #: near it: Charla's keeps at most 20 lines in flight, irssi and HexChat pace
    #: themselves, and a paste at nc is a few KB. Without it one connection could park
    #: 1,000 lines of 4.6 KB (4.4 MiB), and 48 from one address 206 MiB.
    flood_max_queued_bytes: int = 128 * 1024


class _Batch(threading.local):
    #: the connections to flush when this reader thread has handled the lines of one read
    #: (a dict used as an ordered set); None outside a batch
    pending: dict[Connection, None] | None = None


_batch = _Batch()


def flush_soon(connections: Iterable[Connection]) -> None:
    """Flush now, or at the end of the current batch when called from a reader thread."""
    pending = _batch.pending
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


class _QuietLog:
    """What ``BugLog`` and ``AddressLog`` share: they say some things once per ``interval``
    seconds, and keep a table of what they have seen (``_seen``, guarded by ``_lock``),
    whose keys and counts each subclass defines."""

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()  # guards _seen
        self._seen: dict = {}  # see the subclass


class BugLog(_QuietLog):
    """Real bugs, logged so that nobody can flood the operator's console with them.

    The first bug of each kind (its exception type and the line that raised it) is logged
    with its traceback; after that the same kind is counted, and at most once per
    ``interval`` seconds one line says how many more came. 2,000 connections that hit
    one bug give one traceback and a count, not 2,000 tracebacks. Protocol errors never
    get here: they are numeric replies (``net.irc_session``).

    Threading: ``report`` may be called from any thread (``_lock`` guards ``_seen``:
    (exception type, file, line) -> [when last logged, occurrences not logged yet]).
    """

    #: kinds remembered; past this, every new kind counts as one "other" kind
    MAX_KINDS = 200

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(interval, clock)
        self.logger = logger

    def report(self, what: str, exc: BaseException) -> None:
        """Log ``what`` (say, "connection from 10.0.0.7 failed") and ``exc`` as a bug."""
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        code = frame.tb_frame.f_code if frame is not None else None
        kind = (
            type(exc).__name__,
            code.co_filename if code else "",
            frame.tb_lineno if frame is not None else 0,
        )
        now = self.clock()
        with self._lock:
            if kind not in self._seen and len(self._seen) >= self.MAX_KINDS:
                kind = ("other", "", 0)
            seen = self._seen.get(kind)
            if seen is None:
                self._seen[kind] = [now, 0]
                first, more = True, 0
            elif now - seen[0] >= self.interval:
                first, more = False, int(seen[1]) + 1
                seen[:] = [now, 0]
            else:
                seen[1] += 1
                return
        if first:
            self.logger.error("%s", what, exc_info=exc)
        else:
            self.logger.error(
                "%s: %s (%s:%d) again, %d times since it was last logged",
                what,
                kind[0],
                kind[1],
                kind[2],
                more,
            )


class AddressLog(_QuietLog):
    """Says whether a line about what one address does (a refusal, a closed connection, a
    sign-in) should be logged, so that one address cannot flood the operator's console or
    the log file.

    Per address (the caller passes ``Connection.counted_as``: an IPv6 machine's whole /64)
    and ``interval``, the first ``FIRST_LINES`` are logged as they come; after that only
    the 10th, 100th, 1,000th… and each of those says how many there were. 1,000 refused
    connections from one student give 8 lines, not 1,000; a class of 30 is logged whole.
    The caller logs (``note`` only counts, so the lines keep their own place in the log).

    Threading: ``note`` may be called from any thread (``_lock`` guards ``_seen``: address
    key -> [when its current interval began, lines in it], oldest first).
    """

    FIRST_LINES = 5
    #: addresses remembered; past this the one counted longest ago is forgotten
    MAX_ADDRESSES = 1000

    def note(self, address: str) -> str | None:
        """Count one line about ``address``: None if it is not to be logged, else what to
        add at its end ("" or how many lines there were)."""
        now = self.clock()
        with self._lock:
            seen = self._seen.pop(address, None)
            if seen is None or now - seen[0] >= self.interval:
                seen = [now, 0]
            seen[1] += 1
            self._seen[address] = seen  # most recent last
            if len(self._seen) > self.MAX_ADDRESSES:
                del self._seen[next(iter(self._seen))]
            count, since = int(seen[1]), now - seen[0]
        if count <= self.FIRST_LINES:
            return ""
        if _is_power_of_ten(count):
            return tr(
                " ({count} such lines about this address in {seconds} s; the others not logged)"
            ).format(count=count, seconds=round(since))
        return None


def _is_power_of_ten(number: int) -> bool:
    while number >= 10 and number % 10 == 0:
        number //= 10
    return number == 1


#: the bugs that end a connection (``Connection.run``'s last resort)
bugs = BugLog(log)


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

    def charge(self, lines: int) -> None:
        """Count ``lines`` more as sent: the allowance may go below zero, and the lines that
        follow wait until it is back (a message to several targets costs one per target)."""
        self._tokens -= lines

    def refund(self, lines: float) -> None:
        """Give back ``lines`` of allowance for a line that did less work than it was
        charged for; never past the burst, so refunds cannot be saved up."""
        self._tokens = min(float(self.burst), self._tokens + lines)

    def next_token_at(self, now: float) -> float:
        return now + max(0.0, 1 - self._tokens) / self.rate


class Connection:
    """A client socket on the server side (see the module docstring for its threads).

    ``on_finished(conn, reason)`` is the owner's bookkeeping, called on the reader thread
    right after ``handler.on_closed`` (before the socket closes).
    """

    def __init__(
        self,
        sock: socket.socket,
        address: tuple,
        limits: ConnectionLimits,
        on_finished: Callable[[Connection, str], None] | None = None,
        framing: InputFraming | None = None,
    ) -> None:
        self.sock = sock
        self.ip: str = address[0].removeprefix("::ffff:")
        # A host that starts with ':' would break IRC parameters (``::1``), so prefix a 0.
        self.host = "0" + self.ip if self.ip.startswith(":") else self.ip
        #: the unit the server counts this connection under (``net.guard.address_key``: an
        #: IPv6 machine's whole /64), set once at admission, on the accepting thread
        self.counted_as = self.ip
        self.limits = limits
        #: who gets the lines and timers: set by start(), swapped by the handler itself
        self.handler: ConnectionHandler
        self._on_finished = on_finished
        self.opened_at = time.monotonic()
        #: when the last bytes arrived (``time.monotonic()``): handlers time silence from it
        self.last_received = self.opened_at
        self._gate = (
            FloodGate(limits.flood_burst, limits.flood_rate) if limits.flood_control else None
        )
        #: cuts input into lines; the reader thread's, swapped by the handler on it
        #: (``use_stream``), and may be replaced by a cheaper one that holds the same state
        self.framing: InputFraming = framing if framing is not None else LineBuffer()
        #: a framing that also wraps output (WebSocket); None for IRC and plain text
        self._stream: MessageStream | None = None
        #: ``_stream.wrap``, read unlocked by ``enqueue`` (set once, before anyone but the
        #: reader can know of this connection: see ``use_stream``)
        self._wrap: Callable[[bytes], bytes] | None = None
        #: why the stream ended while lines were still held back: the reader hands them
        #: over first, then finishes (a WebSocket client's last message, then its Close)
        self._ending: str | None = None
        #: lines read but not handled yet (held back by the flood gate); None when empty,
        #: so an idle connection does not keep a deque
        self._pending: deque[bytes | None] | None = None
        self._pending_bytes = 0  # the length of the lines in _pending
        self._out_lock = threading.Lock()
        #: notified when _out empties; made by the first wait_drained(), most never need one
        self._drained: threading.Condition | None = None
        self._out = bytearray()  # bytes queued for the socket
        self._in_batch = False  # the reader is handling the lines of one read
        #: once the reader has queued a reply in its batch: how many bytes at the head of
        #: _out may be written (those queued before it); None when nothing is held. See
        #: the module docstring: the rest waits until the batch's history is saved.
        self._held_from: int | None = None
        self._flushing = False  # some thread is writing _out to the socket
        self._overflow = False  # _out went past sendq_bytes
        self._dead = False  # no more output is accepted
        #: the stream's last bytes (a WebSocket Close) are queued: nothing may follow them
        self._sealed = False
        self._close_reason: str | None = None
        self._linger = False  # set by finish(): half-close and drain input before closing
        self.thread = threading.Thread(target=self.run, name=f"conn-{self.ip}", daemon=True)

    def start(self, handler: ConnectionHandler) -> None:
        """Start the reader thread, handing lines and timers to ``handler``."""
        self.handler = handler
        self.thread.start()

    def charge_flood(self, lines: int) -> None:
        """From the reader thread (the handler's ``on_line``): count ``lines`` more against
        the flood gate, for a line that does the work of several (one message relayed to
        several targets). Without flood control, nothing."""
        if self._gate is not None and lines > 0:
            self._gate.charge(lines)

    def refund_flood(self, lines: float) -> None:
        """From the reader thread (the handler's ``on_line``): give back ``lines`` of the
        allowance the gate took for the line being handled, which turned out to cost
        (almost) nothing: a line a reconnecting client sent again, that was relayed the
        first time. The mirror of ``charge_flood``; without flood control, nothing."""
        if self._gate is not None and lines > 0:
            self._gate.refund(lines)

    def use_stream(self, stream: MessageStream) -> None:
        """From the reader thread, while no session knows this connection yet (an HTTP
        upgrade): from now on input is cut and output wrapped by ``stream``. What is
        already queued (the 101 response) goes out as it is."""
        self.framing = stream
        self._stream = stream
        with self._out_lock:
            self._wrap = stream.wrap

    # -- output, from any thread -------------------------------------------------

    def enqueue(self, data: bytes) -> None:
        """Queue bytes without touching the socket (safe under a shared lock); they are
        whole lines, framed on the way if this connection wraps its output (WebSocket)."""
        wrap = self._wrap
        if wrap is not None:
            data = wrap(data)
        self.enqueue_raw(data)

    def enqueue_raw(self, data: bytes) -> None:
        """Queue bytes as they are: ``enqueue`` without the framing."""
        with self._out_lock:
            if self._dead or self._sealed:
                return
            if (
                self._in_batch
                and self._held_from is None
                and threading.current_thread() is self.thread
            ):  # the reader's first reply in this batch: it waits for the save
                self._held_from = len(self._out)
            self._out += data
            if len(self._out) > self.limits.sendq_bytes:
                self._overflow = True

    def flush(self) -> None:
        """Write what is queued, unless another thread already is; never blocks on the peer."""
        with self._out_lock:
            overflowed = self._overflow and not self._dead
            if overflowed:  # past the send queue's bound: this client is not reading
                self._dead = True
                self._out.clear()
                if self._held_from is not None:
                    self._held_from = 0
                self._notify_drained()
            elif self._flushing or not self._out or self._held_from == 0:
                return  # nothing, or nothing before the hold mark (see _drain)
            else:
                self._flushing = True
        if overflowed:
            self.abort("SendQ exceeded")
        else:
            self._drain(blocking=False)

    def send(self, data: bytes) -> None:
        self.enqueue(data)
        self.flush()

    def send_now(self, data: bytes, timeout: float) -> bool:
        """From the reader thread (a handler streaming a file): end the batch, so nothing
        is held back, queue ``data`` and wait up to ``timeout`` until it is written.
        False if it was not (a peer that stopped reading, or a closed connection)."""
        self._end_batch()
        self.enqueue(data)
        return self.wait_drained(timeout) and not self._dead

    def _drain(self, *, blocking: bool) -> None:
        """Write ``_out`` until empty, or up to the hold mark while the reader is in a
        batch (it flushes the rest itself); the caller owns ``_flushing``."""
        while True:
            with self._out_lock:
                held = self._held_from  # None, or how much of _out may be written
                if self._dead or not self._out or held == 0:
                    self._flushing = False
                    self._notify_drained()
                    return
                chunk = bytes(self._out[: SEND_CHUNK if held is None else min(SEND_CHUNK, held)])
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
                    if self._held_from is not None:
                        self._held_from -= sent
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
            if self._held_from is not None:
                self._held_from = 0
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

    def end_stream(self, code: int | None = None, reason: str = "") -> None:
        """From any thread: queue the stream's last bytes (a WebSocket Close frame with
        ``code``, 1000 by default), once; nothing for IRC and plain text."""
        stream = self._stream
        if stream is None:
            return
        with self._out_lock:
            if self._dead or self._sealed:
                return
            # under the lock: nothing queued after the Close (RFC 6455 §5.5.1)
            self._out += stream.farewell(code, reason)
            self._sealed = True

    def close_gracefully(self, reason: str, timeout: float = 1.0) -> None:
        """From any thread: let queued output (an ERROR line) go out, then end the connection."""
        self.end_stream()
        self.wait_drained(timeout)
        self.abort(reason)

    def close_when_sent(self, reason: str, timeout: float = 1.0) -> None:
        """From any thread, without waiting: a short-lived thread lets queued output (a
        goodbye line) go out, for up to ``timeout`` seconds, then ends the connection.
        (``abort()`` right after ``send()`` could cut the line off: another thread may be
        the one writing this socket, and still have it queued.)"""
        threading.Thread(
            target=self.close_gracefully,
            args=(reason, timeout),
            name=f"closer-{self.ip}",
            daemon=True,
        ).start()

    def finish(self, reason: str, *, tell_peer: bool = False, timeout: float = 1.0) -> None:
        """From the reader thread: end after queued output (waiting up to ``timeout``
        seconds for it), closing our side first (see run).

        With ``tell_peer``, the handler's goodbye line (an IRC ``ERROR``) says why first.
        """
        if tell_peer:
            self.enqueue(self.handler.goodbye(reason))
        self.end_stream()
        self._end_batch()  # mid-batch (a QUIT): save, then let the held output go first
        self.wait_drained(timeout)
        self._set_close_reason(reason)
        self._linger = True

    # -- the reader thread -------------------------------------------------------

    def run(self) -> None:
        reason = "Connection closed"
        try:
            self._serve()
        except OSError as exc:
            reason = f"Read error: {exc.strerror or exc}"
        except Exception as exc:  # a bug (protocol errors are replies): logged, rate-limited
            bugs.report(f"connection from {self.ip} failed", exc)
            reason = "Internal error"
        finally:
            self._set_close_reason(reason)
            reason = self._close_reason or reason
            try:
                self.handler.on_closed(reason)
            finally:
                try:
                    if self._on_finished is not None:
                        self._on_finished(self, reason)
                finally:
                    self._stop_output()
                    # The lines still held back go now: the connection and its session
                    # point at each other, so without this they would wait for the
                    # cyclic garbage collector (48 flooders left 230 MiB for minutes).
                    self._pending = None
                    self._pending_bytes = 0
                    if self._linger:
                        self._half_close_and_drain()
                    with contextlib.suppress(OSError):
                        self.sock.close()
                    # The handler (a session) points back at this connection: let it go,
                    # so both are freed now by reference counting, not by the cyclic
                    # collector minutes later, after 1,000 more have piled up behind them.
                    self.handler = ENDED

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
        """Read, frame and hand over lines until the connection ends; sleep until input,
        the flood gate's next token or the handler's deadline, whichever comes first."""
        while self._close_reason is None:
            now = time.monotonic()
            if self._pending:
                self._handle_pending(now)
                if self._close_reason is not None:
                    return
            if self._ending is not None and not self._pending:
                self.finish(self._ending)
                return
            deadline = self.handler.next_deadline()
            if now >= deadline:  # checked after every read too: input cannot put it off
                self.handler.on_deadline(now)
                continue
            wake = deadline
            if self._pending and self._gate is not None:
                wake = min(wake, self._gate.next_token_at(now))
            timeout = None if wake == NO_DEADLINE else max(0.0, wake - now)
            if not wait_for_socket(self.sock, write=False, timeout=timeout):
                continue  # the deadline, or the flood gate's next token: see above
            try:
                data = self.sock.recv(RECV_BYTES)
            except (BlockingIOError, InterruptedError):
                continue
            if not data:
                return
            self.last_received = time.monotonic()
            lines = self.framing.feed(data)
            if self._stream is not None:
                self._after_stream_read(self._stream)
            self._pending_bytes += sum(len(line) for line in lines if line)
            if self._pending is None:
                self._pending = deque(lines)
            else:
                self._pending.extend(lines)
            if self._gate is not None and (
                len(self._pending) > self.limits.flood_max_queued
                or self._pending_bytes > self.limits.flood_max_queued_bytes
            ):
                self._pending = None  # given back now, not when the goodbye is out
                self._pending_bytes = 0
                self.finish("Excess Flood", tell_peer=True)

    def _after_stream_read(self, stream: MessageStream) -> None:
        """Answer a WebSocket Ping at once; note that the peer's stream has ended."""
        control = stream.take_control()
        if control:
            self.enqueue_raw(control)
            self.flush()
        if stream.ended is not None and self._ending is None:
            self._ending = stream.ended

    def _handle_pending(self, now: float) -> None:
        """Hand over the lines the flood gate lets through, then write what they queued:
        first to everybody else, then ``on_batch_done``, then to our own client."""
        pending = self._pending
        self._begin_batch()
        try:
            while pending and (self._gate is None or self._gate.allow(now)):
                raw = pending.popleft()
                if raw:
                    self._pending_bytes -= len(raw)
                if raw != b"":
                    self.handler.on_line(None if raw is None else decode_line(raw))
                if self._close_reason is not None:
                    return
        finally:
            self._end_batch()
            if not pending:
                self._pending = None
                self._pending_bytes = 0

    def _begin_batch(self) -> None:
        """From the reader thread: start collecting the connections to flush; from now
        on, the reader's replies to its own client are held (see the module docstring)."""
        _batch.pending = {}
        with self._out_lock:
            self._in_batch = True

    def _end_batch(self) -> None:
        """From the reader thread: flush everybody else, save (``on_batch_done``), then
        release and flush this connection's own output. Once per batch: a ``finish()``
        mid-batch ends it early, and the ``finally`` that comes after does nothing."""
        batch = _batch.pending
        if batch is None or threading.current_thread() is not self.thread:
            return
        _batch.pending = None
        try:
            for conn in batch:
                if conn is not self:
                    conn.flush()
            self.handler.on_batch_done()
        finally:
            with self._out_lock:
                self._in_batch = False
                self._held_from = None
            self.flush()
