"""DNS messages as multicast DNS uses them: encode and decode, without sockets.

RFC 1035 wire format with the RFC 6762 specifics: the top bit of a question's class asks
for a unicast response (§5.4), the top bit of a record's class is the cache-flush bit
(§10.2). Names are tuples of labels, each label text (UTF-8 on the wire, as RFC 6763 §4.3
allows for instance names, so "Sala de Ana. 2" is one label even with its dot).

Names are compressed on write (a suffix already written becomes a pointer) and followed
on read, with the protections a hostile packet needs: a pointer must point strictly
backwards (so no loop is possible), a name is at most 255 bytes, every read is checked
against the packet's end, and the counts in the header cannot make the decoder allocate
more than the packet holds. Anything malformed, truncated or hostile raises
``DNSError`` and nothing else; the callers drop the packet.

Record data known here: A, AAAA, PTR, SRV, TXT, NSEC (next name and type bitmap); any
other type keeps its bytes as they came.

Threading: pure functions and immutable values.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

TYPE_A = 1
TYPE_PTR = 12
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_SRV = 33
TYPE_NSEC = 47
TYPE_ANY = 255
CLASS_IN = 1
#: RFC 6762 §5.4: in a question's class, "please answer me by unicast"
UNICAST_RESPONSE = 0x8000
#: RFC 6762 §10.2: in a record's class, "forget the other records of this name and type"
CACHE_FLUSH = 0x8000
#: header flags of a response (QR and AA; RFC 6762 §18)
FLAGS_RESPONSE = 0x8400

#: RFC 1035 §2.3.4
MAX_LABEL_BYTES = 63
MAX_NAME_BYTES = 255
#: RFC 6762 §17: a multicast DNS packet is at most 9000 bytes (jumbo frame)
MAX_PACKET_BYTES = 9000
_HEADER = struct.Struct("!HHHHHH")

Name = tuple[str, ...]


class DNSError(ValueError):
    """A packet (or a value to encode) that is not a DNS message this module accepts."""


@dataclass(frozen=True)
class Question:
    name: Name
    rtype: int
    unicast: bool = False


@dataclass(frozen=True)
class Srv:
    priority: int
    weight: int
    port: int
    target: Name


@dataclass(frozen=True)
class Nsec:
    next_name: Name
    types: frozenset[int]


#: record data: an address as text (A, AAAA), a name (PTR), ``Srv``, the strings of a TXT,
#: ``Nsec``, or raw bytes for any other type
RData = str | Name | Srv | tuple[bytes, ...] | Nsec | bytes


@dataclass(frozen=True)
class Record:
    name: Name
    rtype: int
    ttl: int
    data: RData
    cache_flush: bool = False


@dataclass(frozen=True)
class Message:
    id: int = 0
    flags: int = 0
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authorities: tuple[Record, ...] = ()
    additionals: tuple[Record, ...] = ()
    is_response: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "is_response", bool(self.flags & 0x8000))


def name_from_text(text: str) -> Name:
    """``"_irc._tcp.local"`` -> ``("_irc", "_tcp", "local")``; for names without dots in labels."""
    return tuple(label for label in text.rstrip(".").split(".") if label)


def name_key(name: Name) -> Name:
    """The form names are compared in (DNS names ignore ASCII case)."""
    return tuple(label.lower() for label in name)


# ---------------------------------------------------------------------------
# Encoding


class _Writer:
    def __init__(self) -> None:
        self.buffer = bytearray()
        # name suffix, as written (case kept: a pointer to "Aula" must not turn an "aula"
        # into "Aula") -> offset where it was written (for compression)
        self.suffixes: dict[Name, int] = {}

    def name(self, name: Name, compress: bool = True) -> None:
        total = 1
        for index in range(len(name)):
            suffix = name[index:]
            if compress and suffix in self.suffixes:
                self.buffer += struct.pack("!H", 0xC000 | self.suffixes[suffix])
                return
            label = name[index].encode("utf-8")
            if not label or len(label) > MAX_LABEL_BYTES:
                raise DNSError(f"label of {len(label)} bytes")
            total += 1 + len(label)
            if total > MAX_NAME_BYTES:
                raise DNSError("name over 255 bytes")
            if len(self.buffer) < 0x3FFF:
                self.suffixes.setdefault(suffix, len(self.buffer))
            self.buffer += bytes([len(label)]) + label
        self.buffer += b"\0"

    def record(self, record: Record) -> None:
        self.name(record.name)
        rclass = CLASS_IN | (CACHE_FLUSH if record.cache_flush else 0)
        self.buffer += struct.pack("!HHI", record.rtype, rclass, record.ttl)
        length_at = len(self.buffer)
        self.buffer += b"\0\0"
        self.rdata(record.rtype, record.data)
        length = len(self.buffer) - length_at - 2
        if length > 0xFFFF:
            raise DNSError("record data over 65535 bytes")
        self.buffer[length_at : length_at + 2] = struct.pack("!H", length)

    def rdata(self, rtype: int, data: RData) -> None:
        try:
            if rtype == TYPE_A:
                assert isinstance(data, str)
                self.buffer += ipaddress.IPv4Address(data).packed
            elif rtype == TYPE_AAAA:
                assert isinstance(data, str)
                self.buffer += ipaddress.IPv6Address(data).packed
            elif rtype == TYPE_PTR:
                assert isinstance(data, tuple)
                self.name(data)  # type: ignore[arg-type]
            elif rtype == TYPE_SRV:
                assert isinstance(data, Srv)
                self.buffer += struct.pack("!HHH", data.priority, data.weight, data.port)
                self.name(data.target)  # RFC 6762 §18.14: compressed in mDNS
            elif rtype == TYPE_TXT:
                assert isinstance(data, tuple)
                strings = data or (b"",)  # RFC 6763 §6.1: never empty
                for text in strings:
                    assert isinstance(text, bytes)
                    if len(text) > 255:
                        raise DNSError("TXT string over 255 bytes")
                    self.buffer += bytes([len(text)]) + text
            elif rtype == TYPE_NSEC:
                assert isinstance(data, Nsec)
                self.name(data.next_name)  # likewise (§18.14)
                self.buffer += _type_bitmap(data.types)
            else:
                assert isinstance(data, bytes)
                self.buffer += data
        except (AssertionError, ValueError, struct.error) as error:
            if isinstance(error, DNSError):
                raise
            raise DNSError(f"bad data for type {rtype}: {data!r}") from error


def _type_bitmap(types: frozenset[int]) -> bytes:
    out = bytearray()
    for window in sorted({t >> 8 for t in types}):
        bits = bytearray(32)
        for rtype in types:
            if rtype >> 8 == window:
                low = rtype & 0xFF
                bits[low // 8] |= 0x80 >> (low % 8)
        used = max(i for i, byte in enumerate(bits) if byte) + 1
        out += bytes([window, used]) + bits[:used]
    return bytes(out)


def encode(message: Message) -> bytes:
    """The packet for ``message``; raises ``DNSError`` on a value that cannot be encoded."""
    writer = _Writer()
    counts = (
        len(message.questions),
        len(message.answers),
        len(message.authorities),
        len(message.additionals),
    )
    if max(counts) > 0xFFFF:
        raise DNSError("too many entries")
    writer.buffer += _HEADER.pack(message.id, message.flags, *counts)
    for question in message.questions:
        writer.name(question.name)
        qclass = CLASS_IN | (UNICAST_RESPONSE if question.unicast else 0)
        writer.buffer += struct.pack("!HH", question.rtype, qclass)
    for record in message.answers + message.authorities + message.additionals:
        writer.record(record)
    return bytes(writer.buffer)


# ---------------------------------------------------------------------------
# Decoding


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, count: int) -> bytes:
        end = self.offset + count
        if end > len(self.data):
            raise DNSError("truncated")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def unpack(self, shape: struct.Struct) -> tuple[int, ...]:
        return shape.unpack(self.take(shape.size))

    def name(self, end: int | None = None) -> Name:
        """A name at the current offset, following pointers strictly backwards."""
        labels: list[str] = []
        total = 1
        position = self.offset
        limit = len(self.data) if end is None else end
        jumped = False
        segment_start = position  # where the run of labels being read began
        while True:
            if position >= limit:
                raise DNSError("name runs past its end")
            length = self.data[position]
            if length & 0xC0 == 0xC0:
                if position + 2 > limit:
                    raise DNSError("truncated pointer")
                target = ((length & 0x3F) << 8) | self.data[position + 1]
                if not jumped:
                    self.offset = position + 2
                    jumped = True
                # strictly before the run of labels that led here: every jump goes
                # lower than the last one, so no loop can form
                if target >= segment_start:
                    raise DNSError("pointer not backwards")
                position = segment_start = target
                limit = len(self.data)
                continue
            if length & 0xC0:
                raise DNSError("unknown label type")
            if length == 0:
                if not jumped:
                    self.offset = position + 1
                return tuple(labels)
            start = position + 1
            if start + length > limit:
                raise DNSError("label runs past its end")
            total += 1 + length
            if total > MAX_NAME_BYTES:
                raise DNSError("name over 255 bytes")
            try:
                labels.append(self.data[start : start + length].decode("utf-8"))
            except UnicodeDecodeError as error:
                raise DNSError("label not UTF-8") from error
            position = start + length

    def record(self) -> Record:
        name = self.name()
        rtype, rclass, ttl, length = self.unpack(_RECORD_HEAD)
        start = self.offset
        end = start + length
        if end > len(self.data):
            raise DNSError("record data runs past the packet")
        data = self.rdata(rtype, end)
        if self.offset != end:
            raise DNSError(f"record data of type {rtype} does not fill its length")
        return Record(name, rtype, ttl, data, bool(rclass & CACHE_FLUSH))

    def rdata(self, rtype: int, end: int) -> RData:
        length = end - self.offset
        if rtype == TYPE_A:
            if length != 4:
                raise DNSError("A of wrong length")
            return str(ipaddress.IPv4Address(self.take(4)))
        if rtype == TYPE_AAAA:
            if length != 16:
                raise DNSError("AAAA of wrong length")
            return str(ipaddress.IPv6Address(self.take(16)))
        if rtype == TYPE_PTR:
            return self.name(end)
        if rtype == TYPE_SRV:
            priority, weight, port = self.unpack(_SRV_HEAD)
            return Srv(priority, weight, port, self.name(end))
        if rtype == TYPE_TXT:
            strings: list[bytes] = []
            while self.offset < end:
                size = self.take(1)[0]
                if self.offset + size > end:
                    raise DNSError("TXT string runs past its record")
                strings.append(self.take(size))
            return tuple(strings)
        if rtype == TYPE_NSEC:
            next_name = self.name(end)
            types: set[int] = set()
            while self.offset < end:
                window, size = self.take(1)[0], self.take(1)[0]
                if not 1 <= size <= 32 or self.offset + size > end:
                    raise DNSError("bad NSEC bitmap")
                for index, byte in enumerate(self.take(size)):
                    for bit in range(8):
                        if byte & (0x80 >> bit):
                            types.add((window << 8) | (index * 8 + bit))
            return Nsec(next_name, frozenset(types))
        return self.take(length)


_RECORD_HEAD = struct.Struct("!HHIH")
_SRV_HEAD = struct.Struct("!HHH")
_QUESTION_TAIL = struct.Struct("!HH")
#: smallest question (root name + type + class) and record (root name + 10 bytes)
_MIN_QUESTION_BYTES = 5
_MIN_RECORD_BYTES = 11


def decode(data: bytes) -> Message:
    """The message in ``data``; raises ``DNSError`` (only) on anything malformed."""
    if len(data) > MAX_PACKET_BYTES:
        raise DNSError("packet over 9000 bytes")
    reader = _Reader(bytes(data))
    message_id, flags, qd, an, ns, ar = reader.unpack(_HEADER)
    # the counts cannot ask for more than the packet could hold
    room = len(data) - _HEADER.size
    if qd * _MIN_QUESTION_BYTES + (an + ns + ar) * _MIN_RECORD_BYTES > room:
        raise DNSError("counts larger than the packet")
    questions = []
    for _ in range(qd):
        name = reader.name()
        rtype, qclass = reader.unpack(_QUESTION_TAIL)
        questions.append(Question(name, rtype, bool(qclass & UNICAST_RESPONSE)))
    sections = [[reader.record() for _ in range(count)] for count in (an, ns, ar)]
    return Message(
        message_id,
        flags,
        tuple(questions),
        tuple(sections[0]),
        tuple(sections[1]),
        tuple(sections[2]),
    )
