"""net/websocket.py: RFC 6455 framing, on its own (pure) and through a real server.

The server tests speak raw frames over a real socket (``tests.support.WebSocketClient``),
so every way a client can get a frame wrong is tried: unmasked, reserved bits, unknown
opcodes, oversize and fragmented control frames, stray continuations, an oversize message
(1009), invalid UTF-8 (1007), ping/pong, the close handshake, and a client that never reads.
"""

from __future__ import annotations

import socket
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from net.protocol import MAX_FRAME_BYTES
from net.server import ChatServer
from net.websocket import (
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    WebSocketStream,
    accept_key,
    apply_mask,
    close_payload,
    encode_frame,
    frame_lines,
    is_valid_key,
)
from tests.support import IrcClient, WebSocketClient, wait_until

MASK = b"\x01\x02\x03\x04"
# as tests/test_fuzz.py: Hypothesis's caches in the temporary folder, not in the checkout;
# the same examples on every run, no example database
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "charla-hypothesis")
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True, database=None)


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    return encode_frame(opcode, payload, fin=fin, mask=MASK)


# -- the pure part --------------------------------------------------------------------


def test_accept_key_is_rfc_6455s_example() -> None:
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        ("dGhlIHNhbXBsZSBub25jZQ==", True),
        ("dGhlIHNhbXBsZSBub25jZQ", False),  # no padding
        ("c2hvcnQ=", False),  # 5 bytes
        ("ñañañañañañañañañañañañ=", False),
        ("", False),
    ],
)
def test_a_key_is_base64_of_16_bytes(key: str, valid: bool) -> None:
    assert is_valid_key(key) is valid


def test_masking_is_its_own_inverse() -> None:
    data = bytes(range(256)) * 3
    assert apply_mask(apply_mask(data, MASK), MASK) == data
    assert apply_mask(data, MASK) != data


@pytest.mark.parametrize("length", [0, 125, 126, 65535, 65536])
def test_lengths_take_their_shortest_form(length: int) -> None:
    stream = WebSocketStream(max_message=1 << 20)
    frame = masked(OP_BINARY, b"x" * length)
    header = {0: 2, 125: 2, 126: 4, 65535: 4, 65536: 10}[length]
    assert len(frame) == header + 4 + length
    assert stream.feed(frame) == [b"x" * length]


def test_messages_arrive_whatever_the_read_boundaries() -> None:
    stream = WebSocketStream()
    data = masked(OP_TEXT, "PRIVMSG #general :añá 👋".encode()) + masked(OP_TEXT, b"PING x")
    got = []
    for byte in data:
        got += stream.feed(bytes([byte]))
    assert got == ["PRIVMSG #general :añá 👋".encode(), b"PING x"]
    assert stream.ended is None


def test_fragments_make_one_message_with_pings_between() -> None:
    stream = WebSocketStream()
    data = (
        masked(OP_TEXT, b"PRIVMSG #g", fin=False)
        + masked(OP_PING, b"p1")
        + masked(OP_CONTINUATION, b"eneral :ho", fin=False)
        + masked(OP_CONTINUATION, b"la")
    )
    assert stream.feed(data) == [b"PRIVMSG #general :hola"]
    assert stream.take_control() == encode_frame(OP_PONG, b"p1")
    assert stream.take_control() == b""


def test_a_trailing_crlf_is_taken_off_and_a_line_feed_inside_splits_lines() -> None:
    stream = WebSocketStream()
    assert stream.feed(masked(OP_TEXT, b"PING a\r\n")) == [b"PING a"]
    assert stream.feed(masked(OP_TEXT, b"PING a\r\nPING b\nPING c")) == [
        b"PING a",
        b"PING b",
        b"PING c",
    ]


def test_only_the_last_of_several_pings_in_one_read_is_answered() -> None:
    stream = WebSocketStream()
    stream.feed(b"".join(masked(OP_PING, str(n).encode()) for n in range(100)))
    assert stream.take_control() == encode_frame(OP_PONG, b"99")


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (encode_frame(OP_TEXT, b"PING x"), CLOSE_PROTOCOL_ERROR),  # unmasked
        (bytes([0x80 | 0x40 | OP_TEXT, 0x80]) + MASK, CLOSE_PROTOCOL_ERROR),  # RSV1
        (bytes([0x80 | 0x3, 0x80]) + MASK, CLOSE_PROTOCOL_ERROR),  # reserved opcode
        (bytes([0x80 | 0xB, 0x80]) + MASK, CLOSE_PROTOCOL_ERROR),  # reserved control
        (masked(OP_PING, b"x" * 126), CLOSE_PROTOCOL_ERROR),  # oversize control frame
        (masked(OP_PING, b"x", fin=False), CLOSE_PROTOCOL_ERROR),  # fragmented control
        (masked(OP_CONTINUATION, b"x"), CLOSE_PROTOCOL_ERROR),  # nothing to continue
        (masked(OP_TEXT, b"a", fin=False) + masked(OP_TEXT, b"b"), CLOSE_PROTOCOL_ERROR),
        (struct.pack("!BBH", 0x81, 0x80 | 126, 5) + MASK + b"12345", CLOSE_PROTOCOL_ERROR),
        (struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 63) + MASK, CLOSE_PROTOCOL_ERROR),
        (masked(OP_CLOSE, b"\x03"), CLOSE_PROTOCOL_ERROR),  # a one-byte close payload
        (masked(OP_CLOSE, struct.pack("!H", 1005)), CLOSE_PROTOCOL_ERROR),
        (masked(OP_CLOSE, struct.pack("!H", 999)), CLOSE_PROTOCOL_ERROR),
        (masked(OP_TEXT, b"PRIVMSG #g :\xff\xfe"), CLOSE_INVALID_DATA),
        (masked(OP_TEXT, "ñ".encode()[:1], fin=False) + masked(OP_CONTINUATION, b"x"), 1007),
        (masked(OP_TEXT, b"x" * (MAX_FRAME_BYTES + 1)), CLOSE_TOO_BIG),
    ],
)
def test_what_a_client_gets_wrong_ends_the_stream_with_its_code(data: bytes, code: int) -> None:
    stream = WebSocketStream()
    assert stream.feed(data) == []
    assert stream.ended is not None and str(code) in stream.ended
    assert stream.farewell() == encode_frame(OP_CLOSE, struct.pack("!H", code) + _reason(stream))
    assert stream.farewell() == b""  # one Close, ever
    assert stream.feed(masked(OP_TEXT, b"PING after")) == []


def _reason(stream: WebSocketStream) -> bytes:
    return close_payload(stream._close_code, stream._close_reason)[2:]


def test_an_oversize_message_is_refused_from_its_header_before_any_of_it_is_buffered() -> None:
    stream = WebSocketStream()
    header = struct.pack("!BBQ", 0x81, 0x80 | 127, 1 << 40)  # 1 TiB announced
    assert stream.feed(header) == []
    assert stream.ended is not None and "1009" in stream.ended


def test_fragments_count_toward_the_message_size() -> None:
    stream = WebSocketStream()
    half = MAX_FRAME_BYTES // 2 + 1
    stream.feed(masked(OP_TEXT, b"x" * half, fin=False))
    assert stream.ended is None
    stream.feed(masked(OP_CONTINUATION, b"x" * half))
    assert stream.ended is not None and "1009" in stream.ended


def test_a_message_of_exactly_the_limit_passes() -> None:
    assert WebSocketStream().feed(masked(OP_TEXT, b"x" * MAX_FRAME_BYTES)) == [
        b"x" * MAX_FRAME_BYTES
    ]


def test_the_clients_close_is_answered_with_its_code() -> None:
    stream = WebSocketStream()
    lines = stream.feed(masked(OP_TEXT, b"QUIT :bye") + masked(OP_CLOSE, close_payload(1001, "a")))
    assert lines == [b"QUIT :bye"]
    assert stream.ended == "Connection closed"
    assert stream.farewell(1000) == encode_frame(OP_CLOSE, struct.pack("!H", 1001))


def test_each_line_goes_out_as_one_text_frame_without_crlf() -> None:
    data = "PRIVMSG #g :añá\r\n".encode() + b"PING x\r\n"
    assert frame_lines(data) == encode_frame(OP_TEXT, "PRIVMSG #g :añá".encode()) + encode_frame(
        OP_TEXT, b"PING x"
    )
    assert frame_lines(data) is frame_lines(data)  # the same bytes: framed once
    assert frame_lines(b"PING x\r\n", OP_BINARY) == encode_frame(OP_BINARY, b"PING x")
    assert frame_lines(b"bad \xff\r\n") == encode_frame(OP_TEXT, "bad \ufffd".encode())


def test_a_relayed_line_is_framed_once_whichever_thread_wraps_it() -> None:
    """A relay wraps one bytes object for every recipient: another thread wrapping the
    same object right after gets the same frames object, not a second framing."""
    data = b":a!a@h PRIVMSG #g :hola\r\n"
    text, binary = WebSocketStream(), WebSocketStream(binary=True)
    first = text.wrap(data)
    seen: list[bytes] = []
    worker = threading.Thread(target=lambda: seen.extend([text.wrap(data), binary.wrap(data)]))
    worker.start()
    worker.join()
    assert seen[0] is first
    assert seen[1] == encode_frame(OP_BINARY, b":a!a@h PRIVMSG #g :hola")  # opcode counts
    equal_copy = bytes(bytearray(data))
    assert text.wrap(equal_copy) == first  # another object with the same bytes: framed again


# -- through the server ----------------------------------------------------------------


@pytest.fixture
def ws(server: ChatServer) -> Iterator[Callable[..., WebSocketClient]]:
    """Open WebSocket connections to ``server``; ``ws("ana")`` also registers."""
    clients: list[WebSocketClient] = []

    def open_client(nick: str | None = None, **kwargs: object) -> WebSocketClient:
        client = WebSocketClient(server.port, **kwargs)
        clients.append(client)
        assert client.upgraded, client.response
        if nick is not None:
            client.register(nick)
        return client

    yield open_client
    for client in clients:
        client.close()


def test_the_handshake_answers_the_key_and_chooses_text_ircv3(
    ws: Callable[..., WebSocketClient],
) -> None:
    client = ws()
    head = client.response.lower()
    assert f"sec-websocket-accept: {accept_key(client.key)}".lower() in head
    assert "sec-websocket-protocol: text.ircv3.net" in head
    assert "upgrade: websocket" in head


def test_binary_ircv3_is_chosen_when_it_is_the_only_one_offered(
    ws: Callable[..., WebSocketClient],
) -> None:
    client = ws(protocols="binary.ircv3.net")
    assert "sec-websocket-protocol: binary.ircv3.net" in client.response.lower()
    client.send_frame(OP_BINARY, b"PING bin")
    client.expect("PONG .* :?bin")
    assert client.received[0] == 0x80 | OP_BINARY


def test_no_subprotocol_offered_means_text_and_none_named(
    ws: Callable[..., WebSocketClient],
) -> None:
    client = ws(protocols=None)
    assert "sec-websocket-protocol" not in client.response.lower()
    client.register("ana")
    assert client.received[0] == 0x80 | OP_TEXT


def test_an_irc_client_and_a_web_client_chat_in_one_channel(
    ws: Callable[..., WebSocketClient], connect: Callable[..., IrcClient]
) -> None:
    web = ws("lucia")
    web.join("#general")
    irc = connect("beto")
    irc.join("#general")
    web.expect(r":beto!\S+ JOIN #general")
    web.send("PRIVMSG #general :hola desde el móvil 👋")
    irc.expect(r":lucia!\S+ PRIVMSG #general :hola desde el móvil 👋$")
    irc.send("PRIVMSG #general :¡hola!")
    web.expect(r":beto!\S+ PRIVMSG #general :¡hola!$")
    assert all("\r" not in line and "\n" not in line for line in web.lines)


def test_a_fragmented_message_with_a_ping_between_is_one_line(
    ws: Callable[..., WebSocketClient], connect: Callable[..., IrcClient]
) -> None:
    web = ws("lucia")
    web.join("#general")
    irc = connect("beto")
    irc.join("#general")
    web.send_frame(OP_TEXT, b"PRIVMSG #general :uno ", fin=False)
    web.send_frame(OP_PING, b"are you there")
    web.send_frame(OP_CONTINUATION, b"dos", fin=False)
    web.send_frame(OP_CONTINUATION, b" tres")
    irc.expect(r":lucia!\S+ PRIVMSG #general :uno dos tres$")
    web.sync()
    assert (OP_PONG, b"are you there") in web.controls


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (encode_frame(OP_TEXT, b"PING x"), CLOSE_PROTOCOL_ERROR),  # unmasked
        (masked(OP_TEXT, b"PRIVMSG #general :\xc3\x28"), CLOSE_INVALID_DATA),
        (masked(OP_TEXT, b"x" * (MAX_FRAME_BYTES + 1)), CLOSE_TOO_BIG),
        (bytes([0x80 | 0x20 | OP_TEXT, 0x80]) + MASK, CLOSE_PROTOCOL_ERROR),
        (masked(OP_PING, b"x" * 126), CLOSE_PROTOCOL_ERROR),
    ],
)
def test_a_bad_frame_closes_with_its_code_and_others_go_on(
    ws: Callable[..., WebSocketClient],
    connect: Callable[..., IrcClient],
    frame: bytes,
    code: int,
) -> None:
    bystander = connect("beto")
    bystander.join("#general")
    web = ws("lucia")
    web.join("#general")
    web.send_raw(frame)
    web.expect_closed()
    assert web.close_code == code
    bystander.expect(r":lucia!\S+ QUIT ")
    bystander.sync()


def test_the_close_handshake_after_a_last_message(
    ws: Callable[..., WebSocketClient], connect: Callable[..., IrcClient]
) -> None:
    irc = connect("beto")
    irc.join("#general")
    web = ws("lucia")
    web.join("#general")
    web.send_raw(
        masked(OP_TEXT, b"PRIVMSG #general :me voy")
        + masked(OP_CLOSE, close_payload(1000, "adios"))
    )
    irc.expect(r":lucia!\S+ PRIVMSG #general :me voy$")
    web.expect_closed()
    assert web.close_code == 1000
    irc.expect(r":lucia!\S+ QUIT :Connection closed$")


def test_quit_ends_with_a_close_frame(ws: Callable[..., WebSocketClient]) -> None:
    web = ws("lucia")
    web.send("QUIT :bye")
    lines = web.expect_closed()
    assert any(line.startswith("ERROR") for line in lines)
    assert web.close_code == 1000


def test_the_server_shutting_down_says_going_away(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server()
    web = WebSocketClient(server.port)
    try:
        web.register("lucia")
        server.shutdown()
        web.expect_closed()
        assert web.close_code == 1001
    finally:
        web.close()


def test_a_web_client_that_never_reads_is_dropped_at_its_send_queue(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server(sendq_bytes=64 * 1024, socket_send_buffer=4096, flood_control=False)
    sleeper = WebSocketClient(server.port, rcvbuf=4096)
    talker = IrcClient(server.port)
    try:
        sleeper.register("dormido")
        sleeper.join("#general")
        talker.register("beto")
        talker.join("#general")
        line = "PRIVMSG #general :" + "x" * 400
        for _ in range(400):  # 160 KB of messages toward a client that reads nothing
            talker.send(line)
        talker.expect(r":dormido!\S+ QUIT :SendQ exceeded", timeout=10)
        talker.sync()
    finally:
        sleeper.close()
        talker.close()


def test_bytes_sent_before_the_101_close_the_connection(server: ChatServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            + masked(OP_TEXT, b"NICK early")
        )
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")
    wait_until(lambda: server.unregistered_count() == 0)


# -- properties ---------------------------------------------------------------------------

_line = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=60,
).map(lambda text: text.encode("utf-8"))


@given(
    messages=st.lists(_line, max_size=8),
    pieces=st.lists(st.integers(1, 4), max_size=8),
    cuts=st.lists(st.integers(1, 50), max_size=20),
    pings=st.lists(st.booleans(), max_size=8),
)
@PROPERTY
def test_any_fragmenting_and_any_read_boundaries_give_the_same_lines(
    messages: list[bytes], pieces: list[int], cuts: list[int], pings: list[bool]
) -> None:
    """Messages cut into fragments (with Pings between them), the whole stream then cut at
    any points: the same lines come out, in order, and nothing ends the stream."""
    stream_bytes = b""
    for index, message in enumerate(messages):
        count = pieces[index] if index < len(pieces) else 1
        size = max(1, len(message) // count + 1)
        parts = [message[at : at + size] for at in range(0, len(message), size)] or [b""]
        for number, part in enumerate(parts):
            opcode = OP_TEXT if number == 0 else OP_CONTINUATION
            stream_bytes += masked(opcode, part, fin=number == len(parts) - 1)
            if index < len(pings) and pings[index]:
                stream_bytes += masked(OP_PING, b"p")
    stream = WebSocketStream()
    got: list[bytes | None] = []
    at = 0
    for cut in cuts:
        got += stream.feed(stream_bytes[at : at + cut])
        at += cut
    got += stream.feed(stream_bytes[at:])
    assert got == messages
    assert stream.ended is None


@given(st.binary(max_size=300), st.binary(max_size=300))
@PROPERTY
def test_garbage_never_raises_and_an_ended_stream_stays_ended(first: bytes, more: bytes) -> None:
    stream = WebSocketStream()
    lines = stream.feed(first)
    assert all(line is not None and len(line) <= MAX_FRAME_BYTES for line in lines)
    ended = stream.ended
    stream.feed(more)
    if ended is not None:
        assert stream.ended == ended
        assert stream.feed(more) == []
