"""Where a long message may be cut into lines: between words, else between graphemes.

``split_words(text, limit)`` gives pieces of at most ``limit`` UTF-8 bytes whose
concatenation is exactly ``text``. A piece ends before a space, never after one: servers
such as ngIRCd trim the trailing spaces of a line (interop review B7), so the space that
separates two pieces starts the next one, where it survives. A word longer than a whole
piece is cut inside, but only between graphemes (what a person sees as one character:
"ñ" written as n + a combining tilde, 👋🏽 with its skin tone, 👩‍🏫 joined with ZWJ, a
flag's two letters), and never inside a UTF-8 character.

``grapheme_break(text, index)`` says whether ``text`` may be cut before ``text[index]``:
an approximation of Unicode's extended grapheme clusters (UAX #29) that covers what a
class writes (combining marks, variation selectors, emoji modifiers and ZWJ sequences,
tag sequences, regional-indicator pairs, Hangul jamo), in the standard library only.

Threading: pure functions; call them from any thread.
"""

from __future__ import annotations

import unicodedata

#: where a line may be cut between words: before one of these (not a no-break space)
SPACES = " \t"
_ZWJ = "\u200d"


def _extends(char: str) -> bool:
    """``char`` belongs to the grapheme before it (no cut may come before it)."""
    code = ord(char)
    return (
        char == _ZWJ
        or 0xFE00 <= code <= 0xFE0F  # variation selectors (❤️ is ❤ + FE0F)
        or 0x1F3FB <= code <= 0x1F3FF  # emoji skin tones (Fitzpatrick modifiers)
        or 0xE0020 <= code <= 0xE007F  # tags (the flags of England, Scotland, Wales)
        or 0xE0100 <= code <= 0xE01EF  # more variation selectors
        or 0x1160 <= code <= 0x11FF  # Hangul medial vowels and final consonants
        or unicodedata.category(char) in ("Mn", "Me", "Mc")  # combining marks, keycap ⃣
    )


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def grapheme_break(text: str, index: int) -> bool:
    """Whether ``text`` may be cut before ``text[index]`` without splitting a grapheme.

    >>> [grapheme_break("n\u0303a", i) for i in (1, 2)], grapheme_break("👋🏽", 1)
    ([False, True], False)
    >>> grapheme_break("👩\u200d🏫", 2), [grapheme_break("🇪🇸🇲🇽", i) for i in (1, 2, 3)]
    (False, [False, True, False])
    """
    if index <= 0 or index >= len(text):
        return True
    before, char = text[index - 1], text[index]
    if _extends(char) or before == _ZWJ:
        return False
    if _regional(before) and _regional(char):  # flags are pairs: cut after an even count
        count = 0
        while index - count - 1 >= 0 and _regional(text[index - count - 1]):
            count += 1
        return count % 2 == 0
    return True


def split_words(text: str, limit: int) -> list[str]:
    """Pieces of ``text`` of at most ``limit`` UTF-8 bytes, cut before a space, else between
    graphemes, else between characters; ``"".join(pieces) == text``.

    A grapheme (or character) wider than ``limit`` on its own is cut between characters
    (or is a piece of its own); an empty text is one empty piece.

    >>> split_words("Mañana hay examen de programación", 16)
    ['Mañana hay', ' examen de', ' programación']
    >>> split_words("ab👋🏽cd", 9), split_words("x" * 5, 2)
    (['ab', '👋🏽c', 'd'], ['xx', 'xx', 'x'])
    """
    if len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
        return [text]
    pieces: list[str] = []
    start, length = 0, len(text)
    while True:
        end, size = start, 0
        while end < length:
            width = _utf8_width(text[end])
            if size + width > limit:
                break
            size += width
            end += 1
        if end >= length:
            pieces.append(text[start:])
            return pieces
        cut = _best_cut(text, start, end)
        pieces.append(text[start:cut])
        start = cut


def _utf8_width(char: str) -> int:
    code = ord(char)
    return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4


def _best_cut(text: str, start: int, end: int) -> int:
    """Where to end the piece that starts at ``start`` and may reach ``end`` (excluded)."""
    for cut in range(end, start, -1):  # before the last run of spaces that fits
        if text[cut] in SPACES and text[cut - 1] not in SPACES:
            return cut
    for cut in range(end, start, -1):  # one word longer than a line: between graphemes
        if grapheme_break(text, cut):
            return cut
    return max(end, start + 1)  # one grapheme longer than a line: between characters
