"""Where a long message may be cut into lines: between words, else between graphemes.

``split_words(text, limit)`` gives pieces of at most ``limit`` UTF-8 bytes whose
concatenation is exactly ``text``. A piece ends before a space, never after one: servers
such as ngIRCd trim the trailing spaces of a line (interop review B7), so the space that
separates two pieces starts the next one, where it survives. A word longer than a whole
piece is cut inside, but only between graphemes (what a person sees as one character:
"ñ" written as n + a combining tilde, 👋🏽 with its skin tone, 👩‍🏫 joined with ZWJ, a
flag's two letters), and never inside a UTF-8 character.

``Rejoiner`` is the other end: a Charla client marks each line of a long message but the
last with the client-only tag ``CONTINUES_TAG`` (sent only where the server relays
``message-tags``), and the receiving client puts the lines back together into one
message, within bounds (see the class).

``grapheme_break(text, index)`` says whether ``text`` may be cut before ``text[index]``:
an approximation of Unicode's extended grapheme clusters (UAX #29) that covers what a
class writes (combining marks, variation selectors, emoji modifiers and ZWJ sequences,
tag sequences, regional-indicator pairs, Hangul jamo), in the standard library only.

Threading: pure functions; call them from any thread. A ``Rejoiner`` belongs to the one
thread that drives its owner (``net.client_protocol``'s); it takes no lock.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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


# -- the receiving side: the pieces put back together --------------------------------------

#: the client-only tag on each line of a long message but its last: "more follows"
CONTINUES_TAG = "+charla.chat/continues"
#: a message whose last piece has not come after this long is shown as it is (seconds)
REJOIN_WAIT = 3.0
#: a message rejoined is shown once this long, even if more is announced (characters)
REJOIN_MAX_CHARS = 8000
#: messages being rejoined at once, at most (then the oldest is shown as it is)
REJOIN_MAX_OPEN = 32

_T = TypeVar("_T")


class Rejoiner(Generic[_T]):
    """Pieces of long messages put back together, per sender and conversation (``key``).

    ``add`` takes one piece, with whether more follows (``CONTINUES_TAG``), and returns the
    messages complete now as (what the first piece carried, the whole text, what the later
    pieces carried: their ids, so that deleting the message deletes all of it). A message
    is also given out as it is when it grows past ``REJOIN_MAX_CHARS``, when more than
    ``REJOIN_MAX_OPEN`` are open, when ``due(now)`` finds it waited ``REJOIN_WAIT``, or
    when its sender leaves (``take``); so a sender that announces more and sends nothing
    delays its own words a little, and nobody else's.

    >>> joiner = Rejoiner()
    >>> joiner.add("bea", "first", "Mañana hay", True, 0.0), joiner.deadline()
    ([], 3.0)
    >>> joiner.add("bea", "second", " examen", False, 0.5)
    [('first', 'Mañana hay examen', ('second',))]
    """

    def __init__(self) -> None:
        #: key -> (when its first piece came, what each piece carried, the texts, characters)
        self._open: dict[Hashable, tuple[float, list[_T], list[str], int]] = {}

    def add(
        self, key: Hashable, carried: _T, text: str, more: bool, now: float
    ) -> list[tuple[_T, str, tuple[_T, ...]]]:
        entry = self._open.pop(key, None)
        if entry is None:
            if not more:
                return [(carried, text, ())]
            entry = (now, [], [], 0)
        since, pieces, texts, size = entry
        pieces.append(carried)
        texts.append(text)
        size += len(text)
        if not more or size >= REJOIN_MAX_CHARS:
            return [(pieces[0], "".join(texts), tuple(pieces[1:]))]
        self._open[key] = (since, pieces, texts, size)
        if len(self._open) > REJOIN_MAX_OPEN:
            oldest = next(iter(self._open))
            return self.take(lambda k: k == oldest)
        return []

    def take(self, which: Callable[[Hashable], bool]) -> list[tuple[_T, str, tuple[_T, ...]]]:
        """The open messages whose key ``which`` accepts, as they are (oldest first)."""
        taken = []
        for key in [key for key in self._open if which(key)]:
            _since, pieces, texts, _size = self._open.pop(key)
            taken.append((pieces[0], "".join(texts), tuple(pieces[1:])))
        return taken

    def due(self, now: float) -> list[tuple[_T, str, tuple[_T, ...]]]:
        """The open messages that waited ``REJOIN_WAIT`` for their end."""
        return self.take(lambda key: self._open[key][0] + REJOIN_WAIT <= now)

    def deadline(self) -> float | None:
        """When ``due`` has something to give next (None: nothing open)."""
        if not self._open:
            return None
        return min(since for since, *_ in self._open.values()) + REJOIN_WAIT
