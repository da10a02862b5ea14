"""The DNS codec: round trips, compression, the mDNS bits, and hostile packets dropped."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from net.dns_message import (
    FLAGS_RESPONSE,
    MAX_NAME_BYTES,
    TYPE_A,
    TYPE_AAAA,
    TYPE_ANY,
    TYPE_NSEC,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    DNSError,
    Message,
    Nsec,
    Question,
    Record,
    Srv,
    decode,
    encode,
    name_from_text,
)

SERVICE = name_from_text("_irc._tcp.local")
INSTANCE = ("Sala de Ñandú. 2", *SERVICE)  # a dot and UTF-8 inside one label (RFC 6763 §4.3)
HOST = name_from_text("aula-3.local")


def announcement() -> Message:
    return Message(
        flags=FLAGS_RESPONSE,
        answers=(
            Record(SERVICE, TYPE_PTR, 4500, INSTANCE),
            Record(INSTANCE, TYPE_SRV, 120, Srv(0, 0, 6667, HOST), cache_flush=True),
            Record(INSTANCE, TYPE_TXT, 4500, (b"channel=#general", b"password=no"), True),
            Record(HOST, TYPE_A, 120, "169.254.7.8", cache_flush=True),
            Record(HOST, TYPE_AAAA, 120, "fe80::1", cache_flush=True),
            Record(INSTANCE, TYPE_NSEC, 120, Nsec(INSTANCE, frozenset({TYPE_SRV, TYPE_TXT}))),
        ),
    )


def test_an_announcement_round_trips_with_its_bits():
    message = announcement()
    back = decode(encode(message))
    assert back == message
    assert back.is_response
    assert back.answers[1].cache_flush and not back.answers[0].cache_flush


def test_a_question_keeps_its_unicast_response_bit():
    query = Message(questions=(Question(SERVICE, TYPE_PTR, unicast=True), Question(HOST, TYPE_ANY)))
    back = decode(encode(query))
    assert back.questions == query.questions
    assert not back.is_response


def test_names_are_compressed_on_write():
    packet = encode(announcement())
    # the service name is written once; the instance's own label once per place it starts a name
    assert packet.count(b"_irc") == 1
    assert packet.count("Sala de Ñandú. 2".encode()) == 1
    uncompressed = sum(len(".".join(r.name).encode()) for r in announcement().answers)
    assert len(packet) < 12 + uncompressed + 6 * 12


def test_compression_keeps_each_names_case():
    """A pointer stands only for the very same labels: "_IRC" is not written as a pointer
    to "_irc" (it would come back as "_irc"); the suffix both share is written once."""
    message = Message(
        answers=(
            Record(name_from_text("_IRC._tcp.local"), TYPE_PTR, 1, INSTANCE),
            Record(SERVICE, TYPE_PTR, 1, INSTANCE),
        )
    )
    packet = encode(message)
    assert packet.count(b"_irc") == packet.count(b"_IRC") == 1
    assert packet.count(b"_tcp") == 1
    assert decode(packet) == message


def test_empty_txt_is_written_as_one_empty_string():
    packet = encode(Message(answers=(Record(INSTANCE, TYPE_TXT, 1, ()),)))
    assert decode(packet).answers[0].data == (b"",)


def test_unknown_types_keep_their_bytes():
    message = Message(answers=(Record(HOST, 99, 7, b"\x01\x02\x03"),))
    assert decode(encode(message)) == message


@pytest.mark.parametrize(
    "record",
    [
        Record(("x" * 64,), TYPE_A, 1, "1.2.3.4"),
        Record(("x" * 63,) * 4, TYPE_A, 1, "1.2.3.4"),
        Record(("",), TYPE_A, 1, "1.2.3.4"),
        Record(HOST, TYPE_A, 1, "fe80::1"),
        Record(HOST, TYPE_TXT, 1, (b"x" * 256,)),
        Record(HOST, TYPE_SRV, 1, "not an srv"),
    ],
)
def test_values_that_cannot_be_encoded_raise_dns_error(record):
    with pytest.raises(DNSError):
        encode(Message(answers=(record,)))


def header(qd=0, an=0, ns=0, ar=0, flags=0):
    return struct.pack("!HHHHHH", 0, flags, qd, an, ns, ar)


HOSTILE = {
    "empty": b"",
    "short header": b"\0" * 11,
    "counts beyond the packet": header(qd=0xFFFF, an=0xFFFF) + b"\0" * 20,
    "pointer to itself": header(qd=1) + b"\xc0\x0c" + b"\0\x01\0\x01",
    "pointer forwards": header(qd=1) + b"\xc0\x10\0\0\x01\0\x01\0\0\0",
    # a label then a pointer back to it: legal pointer direction, but a loop
    "label and pointer loop": header(qd=1) + b"\x01a\xc0\x0c" + b"\0\x01\0\x01",
    "two pointers to each other": header(qd=2)
    + b"\0\0\x01\0\x01"
    + b"\xc0\x15\0\x01\0\x01\xc0\x11",
    "truncated label": header(qd=1) + b"\x05ab",
    "truncated pointer": header(qd=1) + b"\xc0",
    "reserved label type": header(qd=1) + b"\x40abc\0\0\x01\0\x01",
    "label not utf-8": header(qd=1) + b"\x02\xff\xfe\0\0\x01\0\x01",
    "name over 255 bytes": header(qd=1) + (b"\x3f" + b"a" * 63) * 4 + b"\0\0\x01\0\x01",
    "rdlength past the end": header(an=1) + b"\0\0\x01\0\x01\0\0\0\x01\x00\x10\x01\x02",
    "A of 5 bytes": header(an=1) + b"\0\0\x01\0\x01\0\0\0\x01\0\x05" + b"\x01" * 5,
    "AAAA of 4 bytes": header(an=1) + b"\0\0\x1c\0\x01\0\0\0\x01\0\x04" + b"\x01" * 4,
    "TXT string past its record": header(an=1) + b"\0\0\x10\0\x01\0\0\0\x01\0\x02\x05a\0",
    "SRV name past its record": header(an=1)
    + b"\0\0\x21\0\x01\0\0\0\x01\0\x08"
    + b"\0" * 6
    + b"\x03abc\0",
    "PTR shorter than its length": header(an=1) + b"\0\0\x0c\0\x01\0\0\0\x01\0\x03\0\0\0",
    "NSEC bitmap of 0 bytes": header(an=1) + b"\0\0\x2f\0\x01\0\0\0\x01\0\x03\0\0\0",
    "over 9000 bytes": header() + b"\0" * 9000,
}


@pytest.mark.parametrize("packet", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_packets_raise_dns_error_only(packet):
    with pytest.raises(DNSError):
        decode(packet)


def test_every_truncation_of_a_real_packet_is_refused():
    packet = encode(announcement())
    for end in range(len(packet)):
        with pytest.raises(DNSError):
            decode(packet[:end])


def test_the_longest_legal_name_is_read():
    name = ("a" * 63,) * 3 + ("b" * 61,)  # 1 + 3*64 + 62 = 255 bytes
    assert len(".".join(name)) + 2 == MAX_NAME_BYTES
    message = Message(questions=(Question(name, TYPE_A),))
    assert decode(encode(message)) == message


labels = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda label: len(label.encode()) <= 63
)
names = st.lists(labels, min_size=1, max_size=5).map(tuple)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
records = st.one_of(
    st.builds(Record, names, st.just(TYPE_PTR), st.integers(0, 2**32 - 1), names),
    st.builds(Record, names, st.just(TYPE_A), st.integers(0, 9), ipv4, st.booleans()),
    st.builds(Record, names, st.just(TYPE_AAAA), st.integers(0, 9), ipv6, st.booleans()),
    st.builds(
        Record,
        names,
        st.just(TYPE_SRV),
        st.integers(0, 9),
        st.builds(Srv, st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535), names),
    ),
    st.builds(
        Record,
        names,
        st.just(TYPE_TXT),
        st.integers(0, 9),
        st.lists(st.binary(max_size=40), min_size=1, max_size=4).map(tuple),
    ),
)
messages = st.builds(
    Message,
    st.integers(0, 65535),
    st.sampled_from([0, FLAGS_RESPONSE]),
    st.lists(st.builds(Question, names, st.integers(0, 65535), st.booleans()), max_size=3).map(
        tuple
    ),
    st.lists(records, max_size=5).map(tuple),
    st.just(()),
    st.lists(records, max_size=3).map(tuple),
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(messages)
def test_fuzz_any_encodable_message_round_trips(message):
    assert decode(encode(message)) == message


@settings(
    max_examples=1000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=600), messages, st.data())
def test_fuzz_decode_raises_nothing_but_dns_error(junk, message, data):
    for packet in (junk, _mutate(encode(message), data)):
        with contextlib.suppress(DNSError):
            decode(packet)


def _mutate(packet: bytes, data: st.DataObject) -> bytes:
    """A real packet with a few bytes changed, cut or inserted: close to valid, so deep."""
    buffer = bytearray(packet)
    for _ in range(data.draw(st.integers(1, 4))):
        if not buffer:
            break
        where = data.draw(st.integers(0, len(buffer) - 1))
        action = data.draw(st.sampled_from(["set", "cut", "insert"]))
        if action == "set":
            buffer[where] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del buffer[where:]
        else:
            buffer[where:where] = data.draw(st.binary(min_size=1, max_size=4))
    return bytes(buffer)
