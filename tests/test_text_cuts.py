"""Where a long message is cut: between words, else between graphemes, nothing lost."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from net.text_cuts import (
    REJOIN_MAX_CHARS,
    REJOIN_MAX_OPEN,
    REJOIN_WAIT,
    Rejoiner,
    grapheme_break,
    split_words,
)

#: what a class writes, cut-prone pieces included: accents written both ways, toned and
#: ZWJ emoji, flags, keycaps, spaces in runs
ALPHABET = st.sampled_from(
    [
        "a",
        "ñ",
        "n\u0303",
        "é",
        " ",
        "  ",
        "\t",
        "👋🏽",
        "👩\u200d🏫",
        "🇪🇸",
        "1\ufe0f\u20e3",
        "❤️",
        "palabra",
        "programación,",
        "¿vale?",
        "x" * 40,
    ]
)


def graphemes_of(text: str) -> list[int]:
    return [i for i in range(1, len(text)) if not grapheme_break(text, i)]


@settings(max_examples=300, deadline=None)
@given(st.lists(ALPHABET, max_size=120).map("".join), st.integers(min_value=8, max_value=120))
def test_the_pieces_rejoin_exactly_fit_and_end_before_a_space(text, limit):
    pieces = split_words(text, limit)
    assert "".join(pieces) == text
    assert all(len(piece.encode("utf-8")) <= limit for piece in pieces)
    assert all(pieces) or pieces == [""]
    inside = set(graphemes_of(text))  # positions inside a grapheme
    position = 0
    for piece in pieces[:-1]:
        position += len(piece)
        if not piece.strip(" \t"):
            continue  # a run of spaces wider than a line: cut anywhere inside it
        assert not piece.endswith((" ", "\t"))  # ngIRCd would trim it
        assert position not in inside or len(piece) <= 4  # only a grapheme wider than a line


def test_cut_between_words_and_never_mid_word():
    text = ("Mañana habrá examen de programación, ¿vale? 👋 " * 30).strip()
    pieces = split_words(text, 440)
    assert "".join(pieces) == text
    words = set(text.split())
    assert all(set(piece.split()) <= words for piece in pieces)
    assert all(piece.startswith(" ") for piece in pieces[1:])


def test_a_word_longer_than_a_line_is_cut_between_graphemes():
    word = "n\u0303" * 10 + "👋🏽" * 10 + "🇪🇸" * 10 + "👩\u200d🏫" * 10
    pieces = split_words(word, 16)
    assert "".join(pieces) == word
    for piece in pieces:
        assert not piece.startswith(("\u0303", "\U0001f3fd", "\u200d", "🏫"))
        assert not piece.endswith("\u200d")
        assert piece.count("\U0001f1ea") == piece.count("\U0001f1f8")  # whole flags


def test_the_rejoiner_gives_out_what_it_holds_within_its_bounds():
    joiner: Rejoiner[str] = Rejoiner()
    assert joiner.add("a", "a1", "solo", False, 0.0) == [("a1", "solo", ())]
    assert joiner.deadline() is None
    for number in range(REJOIN_MAX_OPEN):  # as many senders at once as it holds
        assert joiner.add(number, f"{number}", "x", True, float(number)) == []
    assert joiner.add("late", "late", "y", True, 99.0) == [("0", "x", ())]  # the oldest goes
    assert joiner.deadline() == 1.0 + REJOIN_WAIT
    assert joiner.due(2.0 + REJOIN_WAIT) == [("1", "x", ()), ("2", "x", ())]
    assert joiner.take(lambda key: key == "late") == [("late", "y", ())]
    big = "z" * 1000
    pieces = REJOIN_MAX_CHARS // 1000
    taken = [joiner.add("big", f"b{n}", big, True, 0.0) for n in range(pieces)]
    later = tuple(f"b{n}" for n in range(1, pieces))  # their ids: deleting it deletes all
    assert taken[-1] == [("b0", big * pieces, later)] and not any(taken[:-1])
