"""The IRC line model: framing, decoding, parse/format round trips, names."""

from __future__ import annotations

import pytest

from net.protocol import (
    EmbeddedNewlineError,
    InvalidParameterError,
    LineBuffer,
    Message,
    ParseError,
    decode_line,
    irc_lower,
    mask_match,
    parse,
)


def test_line_buffer_keeps_the_unfinished_tail_and_any_split():
    buffer = LineBuffer()
    assert buffer.feed(b"NICK a\r") == []
    assert buffer.feed(b"\nUSER a 0 * :A\r\nPRIV") == [b"NICK a", b"USER a 0 * :A"]
    assert buffer.feed(b"MSG #x :") == []
    assert buffer.feed(b"hola\n\n") == [b"PRIVMSG #x :hola", b""]


def test_line_buffer_multibyte_character_split_between_feeds():
    data = "PRIVMSG #a :camión 🚌\r\n".encode()
    buffer = LineBuffer()
    lines = [line for byte in range(len(data)) for line in buffer.feed(data[byte : byte + 1])]
    assert lines == [data[:-2]]
    assert decode_line(lines[0]) == "PRIVMSG #a :camión 🚌"


def test_line_buffer_drops_overlong_lines_once_without_buffering_them():
    buffer = LineBuffer(max_line_bytes=100)
    assert buffer.feed(b"x" * 5000) == []
    assert buffer.feed(b"y" * 5000) == []
    assert buffer.feed(b"zz\r\nPING ok\r\n") == [None, b"PING ok"]
    assert buffer.feed(b"a" * 98 + b"\r\n") == [b"a" * 98]  # exactly at the limit
    assert buffer.feed(b"a" * 99 + b"\r\n") == [None]


def test_decode_line_never_raises():
    assert decode_line(b"caf\xc3") == "caf\u00c3"  # truncated UTF-8 falls back to cp1252
    assert decode_line(b"a\x00b") == "ab"
    assert decode_line(bytes(range(1, 256))).startswith("\x01")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PRIVMSG #a :hola a todos", Message("PRIVMSG", ["#a", "hola a todos"])),
        ("privmsg  #a   hola", Message("PRIVMSG", ["#a", "hola"])),
        (":srv 001 ana :", Message("001", ["ana", ""], "srv")),
        ("PRIVMSG #a ::-)", Message("PRIVMSG", ["#a", ":-)"])),
        (
            "@a=1;b=x\\sy\\:z;c :n!u@h TAGMSG #a",
            Message("TAGMSG", ["#a"], "n!u@h", {"a": "1", "b": "x y;z", "c": ""}),
        ),
    ],
)
def test_parse(line, expected):
    assert parse(line) == expected


@pytest.mark.parametrize("line", ["", "   ", ":only.source", "@tags=1", ":src :trailing"])
def test_parse_rejects_lines_without_a_command(line):
    with pytest.raises(ParseError):
        parse(line)


def test_format_round_trips_and_marks_text():
    message = Message("PRIVMSG", ["#a", "ñandú 👋"], "ana!a@h", {"time": "x y"})
    assert message.format() == "@time=x\\sy :ana!a@h PRIVMSG #a :ñandú 👋"
    assert parse(message.format()) == message
    assert Message("NICK", ["ana"]).format() == "NICK ana"
    assert Message("TOPIC", ["#a", ""]).format() == "TOPIC #a :"


def test_format_refuses_what_would_break_the_line():
    with pytest.raises(EmbeddedNewlineError):
        Message("PRIVMSG", ["#a", "one\r\nQUIT"]).format()
    with pytest.raises(InvalidParameterError):
        Message("PRIVMSG", ["#a b", "text"]).format()
    with pytest.raises(InvalidParameterError):
        Message("KICK", ["#a", "", "why"]).format()


def test_irc_lower_folds_rfc1459_and_unicode():
    assert irc_lower("Ana[]\\~") == irc_lower("ANA{}|^") == "ana{}|^"
    assert irc_lower("ÁLVARO") == irc_lower("álvaro")
    assert irc_lower("Jose\u0301") == irc_lower("JOSÉ")  # decomposed and composed accents


@pytest.mark.parametrize(
    ("mask", "name", "matches"),
    [
        ("*", "", True),
        ("a*", "ana", True),
        ("*a", "bea", True),
        ("?e?", "bea", True),
        ("?e?", "beat", False),
        ("a*a*b", "aaaa", False),
        ("*a*a*", "banana", True),
        ("[a]", "a", False),  # no character classes: "[" is a nick character
        ("[a]", "[a]", True),
        ("", "", True),
        ("", "a", False),
    ],
)
def test_mask_match_knows_star_and_question_mark_only(mask, name, matches):
    assert mask_match(mask, name) is matches


def test_mask_match_is_quick_on_a_mask_built_to_backtrack():
    assert not mask_match("*a" * 250 + "b", "a" * 30)
