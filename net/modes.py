"""Channel modes, member status and ban masks: the pure logic, with no lock and no socket.

``net.state.Rooms`` holds one ``ChannelModes`` per channel and calls it under its own lock;
everything here only computes. What lives here:

- the mode letters and their kinds, as ISUPPORT advertises them (``CHANMODES``,
  ``PREFIX``, ``MODES``): lists ``b`` (bans), ``q`` (quiets, as Solanum) and ``I``
  (invite exceptions: who may join a ``+i`` channel uninvited), a key ``k``,
  ``l`` (limit) and ``S`` (slow mode, seconds) set with a parameter, the flags ``imnst``,
  and the member statuses ``o`` and ``v``;
- ``parse_changes``: a ``MODE`` line's mode string and parameters, as a list of changes
  (and what was unknown, or missing its parameter);
- ``normal_mask`` and ``Identity``: masks (``nick!user@host`` globs, a bare nick meaning
  ``nick!*@*``, ``$a:account`` for an account) and who a person is when matched;
- ``ChannelModes``: a channel's flags, key, limit, slow mode, its three lists (bounded,
  each entry possibly timed) and who spoke when (for slow mode).

Times: ``set_at`` is wall-clock (``time.time()``, shown to people); ``expires`` and the
slow-mode times are ``time.monotonic()`` seconds, passed in as ``now`` so tests can
choose them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import NamedTuple

from net.i18n import tr
from net.protocol import irc_lower

#: ISUPPORT ``CHANMODES``: list modes, always-a-parameter, parameter-when-set, flags
CHANMODES = "bqI,k,lS,imnst"
#: ISUPPORT ``PREFIX``: member statuses and how names show them
PREFIX = "(ov)@+"
STATUS_MODES = "ov"
LIST_MODES = "bqI"
FLAG_MODES = "imnst"
#: letter -> the prefix NAMES and WHO show for it, strongest first
STATUS_PREFIXES = {"o": "@", "v": "+"}
#: what a new channel starts with (the default channel too)
DEFAULT_FLAGS = frozenset("nt")
#: entries in one list (``+b``, ``+q`` or ``+I``) of one channel; past it ``478``
MAX_LIST_ENTRIES = 100
#: changes that take a parameter in one MODE line (ISUPPORT ``MODES``); more are ignored
MAX_PARAM_CHANGES = 4
#: a channel key: 1..KEYLEN characters, no space or comma (RFC 2812 allows 23)
KEYLEN = 23
#: a ban or quiet mask, at most this long (it is stored and shown in lists)
MASKLEN = 120
#: ``*`` and ``?`` in one mask, at most (``*!*@10.0.?.*`` has four): each ``?`` piece is a
#: small compiled pattern kept with the entry, and a list may be full of them
MAX_WILDCARDS = 10
SLOW_MIN, SLOW_MAX = 1, 3600  # +S seconds
LIMIT_MAX = 100_000  # +l
TIMED_MIN, TIMED_MAX = 1, 604_800  # TBAN / TQUIET seconds (a week)


class ModeChange(NamedTuple):
    """One change of a MODE line: ``+o ana`` is ``ModeChange(True, "o", "ana")``."""

    adding: bool
    letter: str
    param: str = ""

    def as_text(self) -> str:
        return ("+" if self.adding else "-") + self.letter


class ParsedModes(NamedTuple):
    changes: list[ModeChange]
    unknown: list[str]  # letters that are no channel mode (472 each)
    missing: list[str]  # letters that needed a parameter and had none (461)
    lists: list[str]  # list modes asked for without a mask: show the list (367/368, 728/729)


def _takes_param(letter: str, adding: bool) -> bool:
    return (
        letter in STATUS_MODES
        or letter in LIST_MODES
        or letter == "k"
        or (adding and letter in "lS")
    )


def parse_changes(modestring: str, params: list[str]) -> ParsedModes:
    """A MODE line's changes, in order; a list mode with no mask left is a list query.

    >>> parse_changes("+mv-o", ["ana", "bea"]).changes
    [ModeChange(adding=True, letter='m', param=''), ModeChange(adding=True, letter='v', \
param='ana'), ModeChange(adding=False, letter='o', param='bea')]
    >>> parse_changes("b", []).lists, parse_changes("+Xo", []).unknown
    (['b'], ['X'])
    >>> parse_changes("+o", []).missing
    ['o']
    >>> len(parse_changes("+vvvvvv", list("abcdef")).changes)  # MODES=4
    4
    >>> parse_changes("-k", []).changes  # a key is removed without naming it
    [ModeChange(adding=False, letter='k', param='')]
    """
    changes: list[ModeChange] = []
    unknown: list[str] = []
    missing: list[str] = []
    lists: list[str] = []
    adding = True
    remaining = iter(params)
    with_param = 0
    for letter in modestring:
        if letter in "+-":
            adding = letter == "+"
            continue
        if letter not in STATUS_MODES + LIST_MODES + FLAG_MODES + "klS":
            if letter not in unknown:
                unknown.append(letter)
            continue
        if not _takes_param(letter, adding):
            changes.append(ModeChange(adding, letter))
            continue
        param = next(remaining, None)
        # an empty key, limit or slow mode is checked (and refused, 696) like any bad one
        if param is None or (param == "" and letter not in "klS"):
            if letter in LIST_MODES:
                if letter not in lists:
                    lists.append(letter)
            elif letter == "k" and not adding:
                changes.append(ModeChange(False, "k"))
            elif letter not in missing:
                missing.append(letter)
            continue
        with_param += 1
        if with_param > MAX_PARAM_CHANGES:
            break
        changes.append(ModeChange(adding, letter, param))
    return ParsedModes(changes, unknown, missing, lists)


def normal_mask(mask: str) -> str | None:
    """A ban mask in its full form, or None when it cannot be one.

    >>> normal_mask("Ana"), normal_mask("ana!x"), normal_mask("*@10.0.0.*"), normal_mask("$a:Ana")
    ('Ana!*@*', 'ana!x@*', '*!*@10.0.0.*', '$a:Ana')
    >>> normal_mask(""), normal_mask("a b"), normal_mask("x" * 200), normal_mask("$a:")
    (None, None, None, None)
    >>> normal_mask("*!*@10.0.?.*"), normal_mask("a*" * 9)  # at most MAX_WILDCARDS
    ('*!*@10.0.?.*', None)
    """
    if not mask or len(mask) > MASKLEN or any(c in mask for c in " ,\x00\r\n") or mask[0] == ":":
        return None
    if mask.startswith("$"):
        full = mask if mask.startswith("$a:") and len(mask) > 3 else ""
    elif "!" not in mask and "@" not in mask:
        full = f"{mask}!*@*"
    elif "!" not in mask:
        full = f"*!{mask}"
    elif "@" not in mask:
        full = f"{mask}@*"
    else:
        full = mask
    if not full or full.count("*") + full.count("?") > MAX_WILDCARDS:
        return None
    return full


class Identity(NamedTuple):
    """Who a person is, as masks see them: ``irc_lower("nick!user@host")`` and the folded
    account (None: not logged in)."""

    hostmask: str
    account: str | None = None

    @classmethod
    def of(cls, nick: str, username: str, host: str, account: str | None = None) -> Identity:
        return cls(irc_lower(f"{nick}!{username}@{host}"), irc_lower(account) if account else None)


class Glob:
    """A folded ``*``/``?`` mask, made once when it is listed, matched in linear time.

    ``net.protocol.mask_match`` is a Python loop per character whose worst case is the
    mask's length times the name's (``*aaaa…ab`` against ``aaaa…``: 0.1 ms a mask); a
    student operator could fill a list with such masks and make every JOIN cost 10 ms of
    the server's one lock. Here the mask is cut at its stars: the first piece must start
    the name, the last end it, and each one between is found leftmost after the previous
    (which is all a glob asks), each piece a fixed-length regex (``?``: any character)
    searched in C. The patterns live in the list entry, bounded like it: no cache.

    >>> g = Glob("*!*@10.0.?.*")
    >>> g.matches("ana!~ana@10.0.3.7"), g.matches("ana!~ana@10.0.33.7"), Glob("a*a*a").matches("aa")
    (True, False, False)
    >>> Glob("*a*b*").matches("xxbxxa"), Glob("*").matches(""), Glob("a?c").matches("abc")
    (False, True, True)
    >>> Glob("ab*ba").matches("aba"), Glob("ab*ba").matches("abba"), Glob("a[b").matches("a[b")
    (False, True, True)
    """

    __slots__ = ("_pieces", "_shortest")

    def __init__(self, folded_mask: str) -> None:
        #: (piece, its length) between stars: the text itself, or a regex when it holds a
        #: ``?`` (a mask has at most MAX_WILDCARDS: a few small patterns per entry)
        self._pieces: list[tuple[str | re.Pattern[str], int]] = [
            (
                re.compile(".".join(map(re.escape, piece.split("?"))), re.DOTALL)
                if "?" in piece
                else piece,
                len(piece),
            )
            for piece in folded_mask.split("*")
        ]
        self._shortest = sum(length for _, length in self._pieces)

    def matches(self, name: str) -> bool:
        pieces = self._pieces
        if len(pieces) == 1:
            return len(name) == self._shortest and _at(pieces[0][0], name, 0)
        if len(name) < self._shortest:
            return False
        (first, first_length), (last, last_length) = pieces[0], pieces[-1]
        end = len(name) - last_length  # where the last piece must begin
        if not _at(first, name, 0) or not _at(last, name, end):
            return False
        start = first_length
        for piece, length in pieces[1:-1]:
            if isinstance(piece, str):
                found = name.find(piece, start, end)
                if found < 0:
                    return False
                start = found + length
            else:
                match = piece.search(name, start, end)
                if match is None:
                    return False
                start = match.end()
        return True


def _at(piece: str | re.Pattern[str], name: str, position: int) -> bool:
    """Whether ``piece`` matches ``name`` at ``position``."""
    if isinstance(piece, str):
        return name.startswith(piece, position)
    return piece.match(name, position) is not None


def mask_matches(folded_mask: str, who: Identity) -> bool:
    """Whether a folded mask (``irc_lower(normal_mask(...))``) names ``who``.

    >>> me = Identity.of("Ana", "~ana", "127.0.0.1", "AnaG")
    >>> [mask_matches(m, me) for m in ("ana!*@*", "*!*@127.0.0.*", "$a:anag", "bea!*@*")]
    [True, True, True, False]
    """
    if folded_mask.startswith("$a:"):
        return who.account is not None and Glob(folded_mask[3:]).matches(who.account)
    return Glob(folded_mask).matches(who.hostmask)


@dataclass
class ListEntry:
    """One ban or quiet: its mask as given, who set it and when (wall clock), and when it
    ends (``time.monotonic()``; None: until removed)."""

    mask: str
    set_by: str
    set_at: float
    expires: float | None = None
    #: the address it was set from (``Connection.counted_as``; "" for a teacher), whose
    #: share of all the lists it counts against
    set_from: str = ""
    #: the person a mask on a nick alone named when it was set while they were here: their
    #: folded host (unless it was the setter's own: several windows on one machine) and
    #: account. The entry names them under any nick too, so reconnecting as someone else
    #: does not get round it; the mask shown stays the nick, as the teacher typed it.
    person_host: str = ""
    person_account: str = ""
    #: the folded mask, made ready to match (its account part for ``$a:``)
    glob: Glob = field(init=False, repr=False, compare=False)
    by_account: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        folded = irc_lower(self.mask)
        self.by_account = folded.startswith("$a:")
        self.glob = Glob(folded[3:] if self.by_account else folded)

    def names(self, who: Identity) -> bool:
        """Whether this entry names ``who``: its mask, or the person it was set on.

        >>> entry = ListEntry("ana!*@*", "op", 0.0, person_host="10.0.0.9", person_account="ana")
        >>> [entry.names(Identity.of(*who)) for who in (("Ana", "~a", "10.0.0.7"),
        ...     ("otra", "~a", "10.0.0.9"), ("x", "~x", "10.0.0.5", "Ana"), ("x", "~x", "h"))]
        [True, True, True, False]
        """
        if self.by_account:
            return who.account is not None and self.glob.matches(who.account)
        if self.glob.matches(who.hostmask):
            return True
        if self.person_account and who.account == self.person_account:
            return True
        return bool(self.person_host) and who.hostmask.rpartition("@")[2] == self.person_host


class InvalidParam(ValueError):
    """A mode's parameter that cannot be used (696 ERR_INVALIDMODEPARAM); ``str()``: why."""


@dataclass
class ChannelModes:
    """A channel's modes; guarded by whoever holds it (``Rooms``' lock)."""

    flags: set[str] = field(default_factory=lambda: set(DEFAULT_FLAGS))
    key: str = ""
    limit: int = 0  # 0: none
    slow: int = 0  # seconds between two messages of a member without voice (0: off)
    #: irc_lower(mask) -> entry, for "b" and "q"
    lists: dict[str, dict[str, ListEntry]] = field(
        default_factory=lambda: {letter: {} for letter in LIST_MODES}
    )
    #: for slow mode: a member (any hashable handle) -> when it last spoke (monotonic)
    last_spoke: dict[Hashable, float] = field(default_factory=dict)
    #: bumped whenever an entry is added, changed or removed: remembered verdicts older
    #: than it are looked up again
    version: int = 0
    #: a member -> (version, who it was then, its ban, its quiet): matching every mask of
    #: a full list is a Python loop per character, too slow to do for every message in a
    #: busy class; a member's verdict holds until the lists or its name change
    _verdicts: dict[Hashable, tuple[int, Hashable, ListEntry | None, ListEntry | None]] = field(
        default_factory=dict, repr=False
    )

    def describe(self, *, with_key: bool) -> list[str]:
        """The mode string and its parameters, for 324 (the key only for members).

        >>> m = ChannelModes(key="beer", limit=5, slow=10)
        >>> m.describe(with_key=True), m.describe(with_key=False)
        (['+ntklS', 'beer', '5', '10'], ['+ntklS', '*', '5', '10'])
        """
        letters = "".join(sorted(self.flags))
        params = []
        if self.key:
            letters += "k"
            params.append(self.key if with_key else "*")
        if self.limit:
            letters += "l"
            params.append(str(self.limit))
        if self.slow:
            letters += "S"
            params.append(str(self.slow))
        return ["+" + letters, *params]

    def apply(self, change: ModeChange) -> ModeChange | None:
        """Apply a flag, key, limit or slow-mode change; the change as others are told of
        it, or None when it changes nothing. Raises ``InvalidParam`` for a bad parameter.

        >>> m = ChannelModes()
        >>> m.apply(ModeChange(True, "m")), m.apply(ModeChange(True, "m"))
        (ModeChange(adding=True, letter='m', param=''), None)
        >>> m.apply(ModeChange(True, "S", "0"))
        Traceback (most recent call last):
        net.modes.InvalidParam: slow mode takes 1 to 3600 seconds
        >>> m.apply(ModeChange(False, "k", "")), m.apply(ModeChange(True, "k", "a key"))
        Traceback (most recent call last):
        net.modes.InvalidParam: a key has 1 to 23 characters, without spaces or commas
        """
        letter, adding, param = change.letter, change.adding, change.param
        if letter in FLAG_MODES:
            if (letter in self.flags) == adding:
                return None
            (self.flags.add if adding else self.flags.discard)(letter)
            return change
        if letter == "k":
            if not adding:
                if not self.key:
                    return None
                old, self.key = self.key, ""
                return ModeChange(False, "k", old)
            if not 0 < len(param) <= KEYLEN or any(c in param for c in " ,:\x00\r\n"):
                raise InvalidParam(
                    tr("a key has 1 to {count} characters, without spaces or commas").format(
                        count=KEYLEN
                    )
                )
            self.key = param
            return change
        if letter in "lS":
            if not adding:
                if not getattr(self, "limit" if letter == "l" else "slow"):
                    return None
                setattr(self, "limit" if letter == "l" else "slow", 0)
                if letter == "S":
                    self.last_spoke.clear()
                return ModeChange(False, letter)
            low, high = (1, LIMIT_MAX) if letter == "l" else (SLOW_MIN, SLOW_MAX)
            number = int(param) if param.isascii() and param.isdigit() else 0
            if not low <= number <= high:
                if letter == "l":
                    why = tr("a limit takes {low} to {high} people")
                else:
                    why = tr("slow mode takes {low} to {high} seconds")
                raise InvalidParam(why.format(low=low, high=high))
            setattr(self, "limit" if letter == "l" else "slow", number)
            return ModeChange(True, letter, str(number))
        raise ValueError(f"not a flag, key, limit or slow mode: {letter}")

    # -- the lists -------------------------------------------------------------------------

    def add_entry(self, letter: str, entry: ListEntry) -> bool | None:
        """Add a ban or quiet (``entry.mask`` already normal); True if added, False if the
        mask was there (its expiry is replaced), None when the list is full (478)."""
        entries = self.lists[letter]
        key = irc_lower(entry.mask)
        self.version += 1
        if key in entries:
            entries[key].expires = entry.expires
            return False
        if len(entries) >= MAX_LIST_ENTRIES:
            return None
        entries[key] = entry
        return True

    def remove_entry(self, letter: str, mask: str) -> ListEntry | None:
        self.version += 1
        return self.lists[letter].pop(irc_lower(mask), None)

    def find(self, letter: str, who: Identity, now: float) -> ListEntry | None:
        """The entry of list ``letter`` that names ``who`` and has not expired, if any.

        >>> m = ChannelModes()
        >>> m.add_entry("b", ListEntry("*!*@10.0.0.9", "op", 0.0, expires=100.0))
        True
        >>> who = Identity.of("x", "~x", "10.0.0.9")
        >>> m.find("b", who, 99.0) is not None, m.find("b", who, 100.0)
        (True, None)
        """
        for entry in self.lists[letter].values():
            if (entry.expires is None or now < entry.expires) and entry.names(who):
                return entry
        return None

    def expired(self, now: float) -> list[tuple[str, ListEntry]]:
        """Remove and return the (letter, entry) pairs whose time is up."""
        gone = []
        for letter, entries in self.lists.items():
            due = [k for k, e in entries.items() if e.expires is not None and now >= e.expires]
            gone += [(letter, entries.pop(key)) for key in due]
        if gone:
            self.version += 1
        return gone

    def barred(
        self, member: Hashable, tag: Hashable, identity: Callable[[], Identity], now: float
    ) -> tuple[str, ListEntry] | None:
        """The ban (``"b"``) or else the quiet (``"q"``) in force that names a member, or
        None. ``tag`` is what its identity is made of (its nick, user, host, account):
        the verdict is remembered until the lists or the tag change, or an entry found
        ends; ``identity()`` is called only when it must be looked up again.

        >>> m = ChannelModes()
        >>> _ = m.add_entry("q", ListEntry("ana!*@*", "op", 0.0, expires=10.0))
        >>> who = lambda: Identity.of("ana", "~a", "h")
        >>> m.barred("s1", "ana", who, 5.0)[0], m.barred("s1", "ana", who, 10.0)
        ('q', None)
        """
        cached = self._verdicts.get(member)
        if cached is not None and cached[0] == self.version and cached[1] == tag:
            ban, quiet = cached[2], cached[3]
            if not _ended(ban, now) and not _ended(quiet, now):
                return ("b", ban) if ban is not None else ("q", quiet) if quiet else None
        who = identity()
        ban = self.find("b", who, now) if self.lists["b"] else None
        quiet = self.find("q", who, now) if self.lists["q"] else None
        self._verdicts[member] = (self.version, tag, ban, quiet)
        return ("b", ban) if ban is not None else ("q", quiet) if quiet else None

    def next_expiry(self) -> float | None:
        times = [e.expires for es in self.lists.values() for e in es.values() if e.expires]
        return min(times) if times else None

    # -- slow mode -------------------------------------------------------------------------

    def slow_wait(self, member: Hashable, now: float) -> int:
        """Seconds ``member`` must still wait under slow mode (0: it may speak, and this
        message counts as its last).

        >>> m = ChannelModes(slow=10)
        >>> m.slow_wait("ana", 100.0), m.slow_wait("ana", 104.2), m.slow_wait("ana", 110.0)
        (0, 6, 0)
        """
        last = self.last_spoke.get(member)
        if last is not None and now - last < self.slow:
            return max(1, int(self.slow - (now - last) + 0.999))
        self.last_spoke[member] = now
        return 0

    def forget_member(self, member: Hashable) -> None:
        self.last_spoke.pop(member, None)
        self._verdicts.pop(member, None)


def _ended(entry: ListEntry | None, now: float) -> bool:
    return entry is not None and entry.expires is not None and now >= entry.expires


def status_prefixes(status: str, *, multi: bool = False) -> str:
    """How a member's status shows before its nick: the strongest only, or all of them
    (``multi-prefix``).

    >>> status_prefixes("ov"), status_prefixes("ov", multi=True), status_prefixes("")
    ('@', '@+', '')
    """
    shown = [prefix for letter, prefix in STATUS_PREFIXES.items() if letter in status]
    return "".join(shown) if multi else "".join(shown[:1])


def with_status(status: str, letter: str, adding: bool) -> str:
    """A status string after ``+letter`` or ``-letter``, in ``ov`` order.

    >>> with_status("v", "o", True), with_status("ov", "o", False), with_status("", "v", False)
    ('ov', 'v', '')
    """
    letters = set(status) | {letter} if adding else set(status) - {letter}
    return "".join(c for c in STATUS_MODES if c in letters)
