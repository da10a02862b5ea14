"""RFC 6455 WebSocket framing for IRC over WebSocket (IRCv3 ``text.ircv3.net``), pure.

No sockets here: bytes in, messages and bytes out, so every rule is unit-testable.

- ``accept_key`` / ``is_valid_key``: the opening handshake's arithmetic (RFC 6455 §4.2).
- ``encode_frame`` / ``close_payload``: one frame, as either side sends it (the tests'
  client masks; the server never does).
- ``WebSocketStream``: the server side of one connection, as ``net.connection`` uses it
  (``Connection.use_stream``): ``feed(bytes)`` returns the data messages that arrived, one
  IRC line each (IRCv3: one line per message, no CRLF); ``wrap(bytes)`` turns the
  CRLF-terminated lines a session queues into one frame each; ``take_control()`` gives the
  Pong frames to send at once; ``ended`` says why the peer's stream is over (its Close, or
  a protocol error with its close code), and ``farewell()`` the Close frame to send last.

What a client may not do, and what it gets (RFC 6455 §5, §7.4): an unmasked frame,
reserved bits or opcodes, a fragmented or oversize (>125 bytes) control frame, a
continuation with nothing to continue or a new message inside a fragmented one, a length
not in its shortest form: 1002 (protocol error). A message longer than
``MAX_MESSAGE_BYTES`` (the fragments added up, refused before any of it is buffered):
1009. A text message that is not UTF-8: 1007. After its Close, or after an error, nothing
more it sends is read. Of several Pings in one read, only the last is answered (§5.5.3
allows it), so a Ping flood costs at most one Pong per read.

Threading: a ``WebSocketStream``'s ``feed``, ``take_control`` and ``ended`` belong to the
connection's reader thread. ``wrap`` and ``farewell`` may be called from any thread:
``wrap`` keeps its cache per thread (``threading.local``) behind one shared last entry
that is only ever replaced whole (no lock needed), and ``_close_lock`` guards
``_close_sent`` so exactly one Close frame is ever sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import threading

from net.protocol import MAX_FRAME_BYTES

#: RFC 6455 §1.3: appended to the client's key before hashing
HANDSHAKE_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#: the only protocol version there is (RFC 6455 §4.1); anything else gets 426 and this
VERSION = "13"
#: IRCv3 WebSocket subprotocols: one IRC line per text (or binary) message
SUBPROTOCOL_TEXT = "text.ircv3.net"
SUBPROTOCOL_BINARY = "binary.ircv3.net"

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA
_DATA_OPCODES = (OP_TEXT, OP_BINARY)
_KNOWN_OPCODES = (OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG)

CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_DATA = 1007  # a text message that is not UTF-8
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
#: codes a peer may not put in a Close frame (RFC 6455 §7.4.1: reserved, or never on the wire)
_UNSENDABLE_CODES = frozenset({1004, 1005, 1006, 1015})

#: a control frame's payload, at most (RFC 6455 §5.5)
MAX_CONTROL_PAYLOAD = 125
#: one message, its fragments added up: one IRC line with its tags, as a TCP client's
#: ``LineBuffer`` allows, CRLF included (a client may end its message with one)
MAX_MESSAGE_BYTES = MAX_FRAME_BYTES
#: wrapped outputs each thread remembers: relay hands the same bytes object to every
#: recipient with the same capabilities, so it is framed once per thread, not once per client
_WRAP_CACHE_SIZE = 4


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2).

    >>> accept_key("dGhlIHNhbXBsZSBub25jZQ==")
    's3pPLMBiTxaQ9kYGzzhZRbK+xOo='
    """
    digest = hashlib.sha1((key + HANDSHAKE_GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def is_valid_key(key: str) -> bool:
    """Whether ``key`` is base64 of 16 bytes, as RFC 6455 §4.1 requires of a client."""
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None
) -> bytes:
    """One frame; ``mask`` (4 bytes) masks it, as a client must (the server never does).

    >>> encode_frame(OP_TEXT, b"hi")
    b'\\x81\\x02hi'
    """
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = bytes((first, mask_bit | length))
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if mask is None:
        return header + payload
    return header + mask + apply_mask(payload, mask)


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (its own inverse)."""
    if not payload:
        return b""
    length = len(payload)
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")


def close_payload(code: int, reason: str = "") -> bytes:
    """A Close frame's payload: the code, then a UTF-8 reason cut to fit 125 bytes."""
    data = reason.encode("utf-8")[: MAX_CONTROL_PAYLOAD - 2]
    return struct.pack("!H", code) + data.decode("utf-8", "ignore").encode("utf-8")


class ProtocolError(Exception):
    """What the peer did wrong, with the close code it gets."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _WrapCache(threading.local):
    #: (input bytes, opcode, framed output), most recent last; see ``_WRAP_CACHE_SIZE``
    entries: list[tuple[bytes, int, bytes]]

    def __init__(self) -> None:
        self.entries = []


_wrap_cache = _WrapCache()
#: the last framing made by any thread, (input, opcode, output): checked first because a
#: relay wraps the same bytes for every recipient in a row. Replaced whole, never changed,
#: so reading it needs no lock; it holds ``input``, so its ``id`` cannot be reused.
_last_framed: tuple[bytes, int, bytes] = (b"", -1, b"")


def frame_lines(data: bytes, opcode: int = OP_TEXT) -> bytes:
    """Each CRLF-terminated line of ``data`` as one unmasked frame, without its CRLF (a
    trailing piece without CRLF is one frame too). Text frames must be UTF-8: a line that
    is not (the server never makes one) has its bad bytes replaced by U+FFFD."""
    global _last_framed
    last = _last_framed
    if last[0] is data and last[1] == opcode:
        return last[2]
    entries = _wrap_cache.entries
    for entry in entries:
        if entry[0] is data and entry[1] == opcode:
            _last_framed = entry
            return entry[2]
    lines = data.split(b"\r\n")
    if not lines[-1]:
        lines.pop()
    if opcode == OP_TEXT:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            lines = [line.decode("utf-8", "replace").encode("utf-8") for line in lines]
    framed = b"".join([encode_frame(opcode, line) for line in lines])
    _last_framed = (data, opcode, framed)
    entries.append(_last_framed)
    if len(entries) > _WRAP_CACHE_SIZE:
        del entries[0]
    return framed


class WebSocketStream:
    """The server's side of one WebSocket connection (see the module docstring)."""

    def __init__(self, *, binary: bool = False, max_message: int = MAX_MESSAGE_BYTES) -> None:
        #: the opcode our messages go out with: text (``text.ircv3.net``) or binary
        self.opcode = OP_BINARY if binary else OP_TEXT
        self.max_message = max_message
        self._buffer = bytearray()  # bytes of frames not complete yet
        self._fragments: list[bytes] = []  # the data of the message being fragmented
        self._fragment_bytes = 0
        self._fragment_opcode: int | None = None  # None: no fragmented message under way
        self._ping: bytes | None = None  # the payload of the last unanswered Ping
        #: why the peer's stream is over: its Close, or a protocol error; None while open
        self.ended: str | None = None
        self._close_code = CLOSE_NORMAL  # what our Close frame says
        self._close_reason = ""
        self._close_lock = threading.Lock()  # guards _close_sent
        self._close_sent = False

    # -- output, from any thread -------------------------------------------------

    def wrap(self, data: bytes) -> bytes:
        """What a session queued (whole CRLF lines), as frames."""
        last = _last_framed  # frame_lines' first check, inline: this runs per recipient
        if last[0] is data and last[1] == self.opcode:
            return last[2]
        return frame_lines(data, self.opcode)

    def farewell(self, code: int | None = None, reason: str = "") -> bytes:
        """Our Close frame, the first time only (b"" after): the code the peer's Close or
        error chose, else ``code`` (default 1000)."""
        with self._close_lock:
            if self._close_sent:
                return b""
            self._close_sent = True
        if self.ended is None and code is not None:
            self._close_code, self._close_reason = code, reason
        return encode_frame(OP_CLOSE, close_payload(self._close_code, self._close_reason))

    # -- input, from the reader thread -------------------------------------------

    def take_control(self) -> bytes:
        """The Pong to send now for the last Ping read, if any (b"" if none)."""
        ping, self._ping = self._ping, None
        return b"" if ping is None else encode_frame(OP_PONG, ping)

    def feed(self, data: bytes) -> list[bytes | None]:
        """The complete data messages in what arrived, as lines (see the module docstring)."""
        if self.ended is not None:
            return []
        self._buffer += data
        lines: list[bytes | None] = []
        try:
            while self.ended is None and self._next_frame(lines):
                pass
        except ProtocolError as error:
            self._end(error.code, error.reason, f"WebSocket error {error.code}: {error.reason}")
        return lines

    def _end(self, code: int, reason: str, why: str) -> None:
        self.ended = why
        self._close_code, self._close_reason = code, reason
        self._buffer = bytearray()
        self._fragments = []

    def _next_frame(self, lines: list[bytes | None]) -> bool:
        """Take one complete frame off the buffer into ``lines``; False if none is complete."""
        buffer = self._buffer
        if len(buffer) < 2:
            return False
        first, second = buffer[0], buffer[1]
        fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
        if first & 0x70:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
        if opcode not in _KNOWN_OPCODES:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "unknown opcode")
        if not second & 0x80:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "client frames must be masked")
        if opcode >= OP_CLOSE and (not fin or length > MAX_CONTROL_PAYLOAD):
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "bad control frame")
        offset = 2
        if length == 126:
            if len(buffer) < 4:
                return False
            (length,) = struct.unpack_from("!H", buffer, 2)
            offset = 4
            if length < 126:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "length not minimal")
        elif length == 127:
            if len(buffer) < 10:
                return False
            (length,) = struct.unpack_from("!Q", buffer, 2)
            offset = 10
            if length < 1 << 16 or length >> 63:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "bad length")
        if opcode < OP_CLOSE and self._fragment_bytes + length > self.max_message:
            raise ProtocolError(CLOSE_TOO_BIG, "message too big")
        end = offset + 4 + length
        if len(buffer) < end:
            return False
        mask = bytes(buffer[offset : offset + 4])
        payload = apply_mask(bytes(buffer[offset + 4 : end]), mask)
        del buffer[:end]
        if opcode >= OP_CLOSE:
            self._control(opcode, payload)
        else:
            self._data(opcode, bool(fin), payload, lines)
        return True

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._ping = payload
        elif opcode == OP_CLOSE:
            code = CLOSE_NORMAL
            if len(payload) == 1:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "bad close frame")
            if len(payload) >= 2:
                (code,) = struct.unpack_from("!H", payload)
                if code < 1000 or code in _UNSENDABLE_CODES or 1016 <= code < 3000:
                    raise ProtocolError(CLOSE_PROTOCOL_ERROR, "bad close code")
                try:
                    payload[2:].decode("utf-8")
                except UnicodeDecodeError:
                    raise ProtocolError(CLOSE_INVALID_DATA, "close reason not UTF-8") from None
            # what the others read in the QUIT: the same words as a TCP client's close
            self._end(code, "", "Connection closed")
        # a Pong (unsolicited or not) needs nothing

    def _data(self, opcode: int, fin: bool, payload: bytes, lines: list[bytes | None]) -> None:
        if opcode == OP_CONTINUATION:
            if self._fragment_opcode is None:
                raise ProtocolError(CLOSE_PROTOCOL_ERROR, "nothing to continue")
            opcode = self._fragment_opcode
        elif self._fragment_opcode is not None:
            raise ProtocolError(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
        if not fin:
            self._fragment_opcode = opcode
            self._fragments.append(payload)
            self._fragment_bytes += len(payload)
            return
        if self._fragments:
            self._fragments.append(payload)
            payload = b"".join(self._fragments)
            self._fragments = []
            self._fragment_bytes = 0
        self._fragment_opcode = None
        if opcode == OP_TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(CLOSE_INVALID_DATA, "text is not UTF-8") from None
        # IRCv3: one line per message, without CRLF; one sent anyway is taken off, and a
        # line feed inside splits the message into lines exactly as TCP's LineBuffer would
        if payload.endswith(b"\n"):
            payload = payload[:-2] if payload.endswith(b"\r\n") else payload[:-1]
        if b"\n" in payload:
            lines.extend(
                part[:-1] if part.endswith(b"\r") else part for part in payload.split(b"\n")
            )
        else:
            lines.append(payload)
