"""The server as a whole, fuzzed: random, structured and mutated lines from attackers while an
honest pair chats, on one live server for the whole module.

Each Hypothesis example is one attacker: an IRC client (registered, with some capabilities
and maybe in ``#general``, or not registered), a person at ``nc`` (registered by name), or
a connection whose first line is itself fuzz (``net.server.FirstLineSniffer`` decides what
it is). It sends a few lines, then proves the server handled them all (a ``PING`` for IRC,
an unknown slash command for ``nc``), closes, and waits until the server has closed its
side too. After every example: no bug was reported (``net.connection.BugLog``, the only
place the server logs a traceback), nothing was logged at ERROR (the honest clients'
``ChatClient`` included), the attacker is still connected unless it asked to leave, and the
pair is still connected. After every test: every message of the pair arrived exactly once,
in order, and was confirmed to its sender.

Bounded: ``max_examples`` per test is small in CI (the file takes well under a minute);
``FUZZ_EXAMPLES=20000`` runs a long session with a random seed (Hypothesis prints the seed
of a failure: ``--hypothesis-seed`` replays it). CI runs derandomized, with no example
database (nothing is written to ``.hypothesis/``).
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import re
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from net import events as ev
from net.client import ChatClient
from net.connection import BugLog
from net.irc_session import COMMANDS, is_irc_command
from net.plain_session import QUIT_WORDS
from net.protocol import CAPABILITIES, SESSION_CAP, LineBuffer, decode_line, parse
from net.server import ChatServer, ServerConfig
from tests.support import FAST_RETRY, LineClient, wait_until

# Hypothesis keeps caches (of constants, of Unicode tables) even without an example
# database: in the system's temporary folder, not in the checkout
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "charla-hypothesis")

LONG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "0"))
#: one example takes 10 to 30 ms; four tests of this many stay well inside a minute
CI_EXAMPLES = 150

#: a long run takes as long as it takes: pyproject's two minutes per test are for CI
pytestmark = [pytest.mark.timeout(0)] if LONG_RUN else []

FUZZ = settings(
    max_examples=LONG_RUN or CI_EXAMPLES,
    # a bound against a hang, not a speed target: lines held back by the flood gate and a
    # slow CI machine can make one example take a second
    deadline=timedelta(seconds=20),
    derandomize=not LONG_RUN,
    database=None,
    # the autouse fixtures (the ERROR check, the language) are meant to span every example
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)

#: how long the server may take to answer an attacker whose lines the flood gate holds back
ANSWER_TIMEOUT = 20.0

# -- what the attackers send -------------------------------------------------------------------

#: pieces a terminal, a bidi renderer, an IRC parser or a number parser may choke on
HOSTILE = [
    "\r",
    "\0",
    "\x1b[2J",
    "\x1b[1A\x1b[2K",
    "\x1b]52;c;cGFzcw==\x07",
    "\x1b]0;title\x1b\\",
    "\x9b31m",
    "\x85",
    "\x90",
    "\x07",
    "\x7f",
    "\x01ACTION baila\x01",
    "\x01VERSION\x01",
    "\x0304,01",
    "\x02\x1d\x1f\x0f",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200f",
    "\u2028",
    "\ufeff",
    "\u3164",
    "\u115f",
    "\ufffd",
    "Ｐ",
    "𝐏",
    "Prоfesor",  # Cyrillic o
    "сharla",  # Cyrillic c: looks like the server's name
    "ñandú 👋 ¿qué?",
    "*",
    "#",
    ":",
    ",",
    "#general",
    "#GENERAL,#general,#General",
    "ana",
    "bea",
    "ana,bea,ana,#general,#x,#y,#z",
    "0",
    "-1",
    "²",
    "٣",
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "9" * 40,
    "1e9",
    "x" * 520,
    "ñ" * 300,
    "\\",
    "\\s\\:\\r\\n\\",
    "@",
    "!",
    "~",
]

#: IRC's line ending never appears inside a line (the framer splits there); the rest may
text_chars = st.characters(blacklist_characters="\n", blacklist_categories=("Cs",))
hostile_text = st.lists(
    st.one_of(st.text(text_chars, max_size=12), st.sampled_from(HOSTILE)), max_size=5
).map("".join)

UNKNOWN_COMMANDS = [
    "FOO",
    "privmsg",
    "Join",
    "001",
    "ERROR",
    "KILL",
    "OPER",
    "SQUIT",
    "AUTHENTICATE",
    "BATCH",
    "CHATHISTORY",
    "KNOCK",
    "PRIVMSG\x1b",
    "PRÍVMSG",
    "Ｑuit",
]
commands = st.one_of(
    st.sampled_from(sorted(COMMANDS)),
    st.sampled_from(UNKNOWN_COMMANDS),
    st.text(text_chars, min_size=1, max_size=8),
)

TAG_KEYS = [
    "+typing",
    "+draft/reply",
    "+example.com/x",
    "charla.chat/seq",
    "charla.chat/seq",
    "msgid",
    "time",
    "batch",
    "label",
    "",
    "+",
    "=",
    "+a=b",
    "+\x1b[31m",
    "+\r",
    "+ñ",
    "+" + "k" * 300,
]
SEQ_VALUES = ["1", "7", "0", "-1", "²", "٣", str(2**63 - 1), str(2**63), str(2**64), "9" * 40]
tag_items = st.tuples(
    st.one_of(st.sampled_from(TAG_KEYS), st.text(text_chars, max_size=10)),
    st.one_of(
        st.none(), st.sampled_from(SEQ_VALUES), hostile_text.map(lambda t: t.replace(" ", "\\s"))
    ),
)
#: a tag section: a few tags, or one over the 4,096 bytes allowed
tag_sections = st.one_of(
    st.lists(tag_items, min_size=1, max_size=6).map(
        lambda items: (
            "@" + ";".join(key if value is None else f"{key}={value}" for key, value in items)
        )
    ),
    st.integers(4000, 4700).map(lambda size: "@+big=" + "v" * size),
    st.integers(10, 800).map(lambda count: "@" + ";".join(f"+k{n}" for n in range(count))),
)
sources = st.one_of(
    st.sampled_from([":ana!a@h", ":test.charla", ":сharla", ":", ":x!y@z "]),
    hostile_text.map(lambda t: ":" + t.replace(" ", "")),
)


@st.composite
def irc_lines(draw) -> bytes:
    """A line built like IRC: [@tags] [:source] COMMAND params… [:trailing], every part hostile."""
    parts = []
    if draw(st.booleans()):
        parts.append(draw(tag_sections))
    if draw(st.integers(0, 4)) == 0:
        parts.append(draw(sources))
    parts.append(draw(commands))
    params = draw(st.lists(hostile_text, max_size=20))
    parts += [param.replace(" ", "") or "*" for param in params[:-1]]
    if params:
        parts.append((":" if draw(st.booleans()) else "") + params[-1])
    separator = draw(st.sampled_from([" ", "  ", " \t "]))
    return separator.join(parts).encode("utf-8")


#: real lines, as IRC clients and the Charla window send them, to mutate
CORPUS = [
    b"CAP LS 302",
    b"CAP REQ :batch server-time message-tags charla.chat/session",
    b"CAP END",
    b"SESSION 0123456789abcdef0123456789abcdef",
    b"PASS secreto",
    b"NICK fuzzer",
    b"USER fuzzer 0 * :Real Fuzzer",
    b"JOIN #general",
    b"JOIN #fuzz,#otro",
    b"JOIN 0",
    b"PART #fuzz :me voy",
    b"PRIVMSG #general :hola a todos",
    b"PRIVMSG ana :en privado",
    b"PRIVMSG #general :\x01ACTION se r\xc3\xade\x01",
    b"NOTICE #general :aviso",
    b"@charla.chat/seq=7 PRIVMSG #general :hola",
    b"@+draft/reply=abc;+typing=active TAGMSG #general",
    b"TOPIC #general :Examen el lunes",
    b"TOPIC #general",
    b"NAMES #general",
    b"LIST",
    b"WHO #general",
    b"WHO *",
    b"WHOIS ana",
    b"MODE #general",
    b"MODE #general +b",
    b"MODE fuzzer +i",
    b"KICK #general ana :fuera",
    b"PING :x",
    b"PONG :x",
    b"LUSERS",
    b"MOTD",
    b"QUIT :adi\xc3\xb3s",
    b":ana!a@h PRIVMSG #general :soy ana",
    # what a person at nc types
    b"hola",
    b"/usuarios",
    b"/privado ana hola",
    b"/yo baila",
    b"/apodo nuevo",
    b"//barra",
    b"/ayuda",
    b"\xff\xfb\x01\xff\xfd\x03hola",
    b"/salir",
]
INSERTS = [piece.encode("utf-8") for piece in HOSTILE] + [b"\xff", b"\xc3", b"\xed\xa0\x80"]


def mutate(draw: st.DrawFn, line: bytes) -> bytes:
    """``line`` with a few bytes deleted, inserted, replaced, repeated or spliced."""
    mutant = bytearray(line)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(mutant)))
        operation = draw(st.sampled_from(["delete", "insert", "replace", "repeat", "splice"]))
        if operation == "delete":
            del mutant[where : where + draw(st.integers(1, 8))]
        elif operation == "insert":
            mutant[where:where] = draw(st.one_of(st.sampled_from(INSERTS), st.binary(max_size=4)))
        elif operation == "replace" and where < len(mutant):
            mutant[where] = draw(st.integers(0, 255))
        elif operation == "repeat":
            mutant[where:where] = mutant[where : where + 16] * draw(st.integers(2, 40))
        elif operation == "splice":
            mutant[where:] = draw(st.sampled_from(CORPUS))[draw(st.integers(0, 12)) :]
    return bytes(mutant)


@st.composite
def mutated_lines(draw: st.DrawFn) -> bytes:
    """A real line, mutated."""
    return mutate(draw, draw(st.sampled_from(CORPUS)))


#: real sequences of lines: what a Charla window sends to come in and talk
SEQUENCES = [
    [
        b"CAP LS 302",
        b"NICK fuzzer",
        b"USER charla 0 * :Charla",
        b"CAP REQ :batch server-time message-tags charla.chat/session",
        b"SESSION 0123456789abcdef0123456789abcdef",
        b"CAP END",
        b"JOIN #general",
        b"@charla.chat/seq=1 PRIVMSG #general :hola",
        b"PING :charla-ack-1",
    ],
    [b"NICK fuzzer", b"USER fuzzer 0 * :Fuzzer", b"JOIN #fuzz", b"TOPIC #fuzz :tema", b"WHO #fuzz"],
]


@st.composite
def mutated_sequences(draw: st.DrawFn) -> list[bytes]:
    """A real sequence of lines, some of them mutated."""
    return [
        mutate(draw, line) if draw(st.integers(0, 2)) == 0 else line
        for line in draw(st.sampled_from(SEQUENCES))
    ]


byte_lines = st.one_of(
    st.binary(max_size=600),
    st.integers(4000, 9000).map(lambda size: b"A" * size),  # over every limit
)
any_line = st.one_of(byte_lines, irc_lines(), mutated_lines())


@dataclass
class Attack:
    """One attacker: how it comes in, then its fuzz lines."""

    kind: str  # "irc" (registered), "irc-unregistered", "plain" (registered by name), "raw"
    lines: list[bytes]
    caps: list[str] = field(default_factory=list)
    #: with charla.chat/session among ``caps``: prove a session token first, so that the
    #: ``charla.chat/seq`` tags of its messages are read (and kept with their msgids)
    session: bool = False
    join: bool = False
    ending: bytes = b"\r\n"


def fuzz_lines(lines: st.SearchStrategy[bytes]) -> st.SearchStrategy[list[bytes]]:
    return st.lists(lines, min_size=1, max_size=8)


def attacks(
    line_lists: st.SearchStrategy[list[bytes]], kinds: tuple[str, ...]
) -> st.SearchStrategy[Attack]:
    return st.builds(
        Attack,
        kind=st.sampled_from(kinds),
        # a line feed would end the line there: the framer splits at it
        lines=line_lists.map(lambda lines: [line.replace(b"\n", b"") for line in lines]),
        session=st.booleans(),
        caps=st.lists(st.sampled_from(CAPABILITIES), unique=True),
        join=st.booleans(),
        ending=st.sampled_from([b"\r\n", b"\n"]),
    )


ALL_KINDS = ("irc", "irc-unregistered", "plain", "raw")

# -- the live server, the watch on its logs, the honest pair -----------------------------------


class Watch(logging.Handler):
    """Everything reported as a bug (``BugLog.report``, even the repeats it only counts) and
    every record at ERROR or above, from the server and the honest clients alike."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.problems: list[str] = []  # appended from server and client threads
        self._lock_problems = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        self.add(f"{record.name}: {record.getMessage()}")

    def add(self, problem: str) -> None:
        with self._lock_problems:
            self.problems.append(problem)


@pytest.fixture(scope="module")
def watch() -> Iterator[Watch]:
    watch = Watch()
    report = BugLog.report

    def recording_report(self: BugLog, what: str, exc: BaseException) -> None:
        watch.add(f"bug: {what}: {exc!r}")
        report(self, what, exc)

    root = logging.getLogger()
    root.addHandler(watch)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BugLog, "report", recording_report)
        yield watch
    root.removeHandler(watch)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, watch: Watch) -> Iterator[ChatServer]:
    """One server for the module, configured as people run it (flood control on), with a
    history database of its own."""
    database = tmp_path_factory.mktemp("fuzz") / "historial.sqlite3"
    server = ChatServer(
        ServerConfig(
            host="127.0.0.1",
            port=0,
            server_name="test.charla",
            plain_text_after=0.2,
            history_db=str(database),
        )
    )
    server.start()
    yield server
    server.shutdown()


class Chatter:
    """One of the honest pair: a ``ChatClient`` and what it said, heard and had confirmed.
    Its events are read on the test's thread (``drain``); ``say`` may be called from the
    pair's talking thread."""

    def __init__(self, port: int, nick: str) -> None:
        self.nick = nick
        self.client = ChatClient("127.0.0.1", port, nick, policy=FAST_RETRY).start()
        self.said: list[str] = []  # in order; appended by the talking thread
        self.ids: set[int] = set()  # message ids of what it said
        self.heard: dict[str, list[str]] = {}  # sender -> texts heard live in #general
        self.delivered: set[int] = set()
        self.disconnects: list[str] = []
        self.events: list[ev.Event] = []  # the last few, for failure messages

    def say(self, text: str) -> None:
        self.ids.update(self.client.say("#general", text))
        self.said.append(text)

    def drain(self) -> None:
        while True:
            try:
                event = self.client.events.get_nowait()
            except queue.Empty:
                return
            self.events = [*self.events[-20:], event]
            if isinstance(event, ev.ChatMessage):
                if event.target == "#general" and not event.private and not event.history:
                    self.heard.setdefault(event.sender, []).append(event.text)
            elif isinstance(event, ev.Delivered):
                self.delivered.add(event.message_id)
            elif isinstance(event, ev.Disconnected | ev.Closed):
                self.disconnects.append(event.reason)


class Pair:
    """Ana and Bea, chatting in ``#general`` on a thread of their own, a message every
    ``PACE`` seconds by turns (well inside the flood allowance, acks included)."""

    PACE = 0.15

    def __init__(self, port: int) -> None:
        self.ana = Chatter(port, "ana")
        self.bea = Chatter(port, "bea")
        self._stop = threading.Event()
        self._pause = threading.Lock()  # held while the pair's record is checked
        self._thread = threading.Thread(target=self._talk, name="honest-pair", daemon=True)

    def start(self) -> None:
        for one, other in ((self.ana, self.bea), (self.bea, self.ana)):
            wait_until(
                lambda one=one, other=other: (
                    one.drain()
                    or any(isinstance(e, ev.Joined) and e.nick == other.nick for e in one.events)
                    or any(isinstance(e, ev.Names) and other.nick in e.nicks for e in one.events)
                ),
                describe=lambda one=one: one.events,
            )
        self._thread.start()

    def _talk(self) -> None:
        for number in itertools.count():
            if self._stop.wait(self.PACE):
                return
            speaker = (self.ana, self.bea)[number % 2]
            with self._pause:
                speaker.say(f"{speaker.nick} {number} ñ 👋")

    def still_connected(self) -> None:
        for one in (self.ana, self.bea):
            one.drain()
            assert not one.disconnects, f"{one.nick} was disconnected: {one.disconnects}"

    def check(self) -> None:
        """Every message said so far arrived exactly once, in order, and was confirmed."""
        with self._pause:
            for one, other in ((self.ana, self.bea), (self.bea, self.ana)):

                def settled(one: Chatter = one, other: Chatter = other) -> bool:
                    one.drain()
                    other.drain()
                    heard = other.heard.get(one.nick, [])
                    return one.ids <= one.delivered and len(heard) >= len(one.said)

                wait_until(settled, timeout=20, describe=lambda one=one: one.events)
                assert other.heard.get(one.nick, []) == one.said
        self.still_connected()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for one in (self.ana, self.bea):
            one.client.quit()


@pytest.fixture(scope="module")
def pair(server: ChatServer) -> Iterator[Pair]:
    pair = Pair(server.port)
    try:
        pair.start()
        yield pair
    finally:
        pair.stop()


# -- one attack ----------------------------------------------------------------------------------

_attackers = itertools.count(1)


def server_readers() -> int:
    """The server's connection threads now alive (each is named after its peer's address)."""
    return sum(thread.name.startswith("conn-") for thread in threading.enumerate())


def first_line_kind(data: bytes) -> str:
    """What the server's first-line sniffer makes of ``data``: "irc" or "plain"."""
    for raw in LineBuffer().feed(data):
        if raw == b"":
            continue  # empty lines are skipped before any handler sees them
        if raw is None:
            return "plain"
        try:
            return "irc" if is_irc_command(parse(decode_line(raw)).command) else "plain"
        except ValueError:
            return "plain"
    return "plain"  # the silence after it makes a plain-text session


#: what a plain-text session strips from a typed line (as ``net.plain_session`` does)
TELNET_NOISE = re.compile(r"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]|[\x00-\x08\x0b-\x1f\x7f]")


def may_leave(kind: str, lines: list[bytes]) -> bool:
    """Whether one of ``lines`` asks the server to close the connection (QUIT, /salir…)."""
    for raw in lines:
        text = decode_line(raw)
        if kind == "irc":
            try:
                if parse(text).command == "QUIT":
                    return True
            except ValueError:
                pass
        else:
            typed = TELNET_NOISE.sub("", text).strip()
            if typed.partition(" ")[0].lower() in QUIT_WORDS:
                return True
    return False


def run_attack(server: ChatServer, pair: Pair, watch: Watch, attack: Attack) -> None:
    number = next(_attackers)
    problems_before = len(watch.problems)
    readers_before = server_readers()
    attacker = LineClient(server.port)
    try:
        end = attack.ending
        fuzz = end.join(attack.lines) + end
        if attack.kind == "irc":
            nick = f"fz{number}"
            if attack.caps:
                attacker.send(f"CAP REQ :{' '.join(attack.caps)}")
            if attack.session and SESSION_CAP in attack.caps:
                attacker.send(f"SESSION fuzztoken{number:016d}")
            attacker.send(f"NICK {nick}")
            attacker.send(f"USER {nick} 0 * :Fuzzer {number}")
            if attack.caps:
                attacker.send("CAP END")
            attacker.expect(rf" 001 {nick} ")
            if attack.join:
                attacker.send("JOIN #general")
                attacker.expect(r" 366 \S+ #general ")
            kind = "irc"
        elif attack.kind == "irc-unregistered":
            attacker.send("PING :hola")
            kind = "irc"
        elif attack.kind == "plain":
            attacker.send(f"nc{number}")
            attacker.expect(rf"\*\*\* Hello, nc{number}!")
            kind = "plain"
        else:
            kind = first_line_kind(fuzz)
        attacker.send_raw(fuzz)
        # then prove the server has handled every line before this one
        if kind == "irc":
            attacker.send(f"PING :fuzz{number}")
            answer = rf"PONG \S+ :?fuzz{number}$"
        else:  # a name (if it is still asked for one), then a command that cannot be known
            attacker.send(f"zq{number}sync")
            attacker.send(f"/sync{number}")
            answer = rf"Unknown command /sync{number}\."
        try:
            attacker.expect(answer, timeout=ANSWER_TIMEOUT)
        except AssertionError:
            if not (attacker.closed and may_leave(kind, attack.lines)):
                raise
    finally:
        attacker.close()
    wait_until(
        lambda: server_readers() <= readers_before,
        describe=lambda: f"{server_readers()} server connections, {readers_before} before",
    )
    assert watch.problems[problems_before:] == []
    pair.still_connected()


# -- the tests -------------------------------------------------------------------------------------


@FUZZ
@given(attack=attacks(fuzz_lines(byte_lines), ALL_KINDS))
def test_random_bytes(server, pair, watch, attack):
    run_attack(server, pair, watch, attack)


@FUZZ
@given(attack=attacks(fuzz_lines(irc_lines()), ALL_KINDS))
def test_structured_irc_lines(server, pair, watch, attack):
    run_attack(server, pair, watch, attack)


@FUZZ
@given(attack=attacks(st.one_of(fuzz_lines(mutated_lines()), mutated_sequences()), ALL_KINDS))
def test_mutated_real_lines(server, pair, watch, attack):
    run_attack(server, pair, watch, attack)


@FUZZ
@given(attack=attacks(fuzz_lines(any_line), ("plain", "raw")))
def test_plain_text_attackers(server, pair, watch, attack):
    run_attack(server, pair, watch, attack)


@pytest.fixture(autouse=True)
def pair_record(pair: Pair) -> Iterator[None]:
    """After each test, however many examples it ran: the pair lost and duplicated nothing."""
    yield
    pair.check()


def test_the_fuzz_reaches_the_pair(server, pair, watch):
    """The harness itself: an attacker in ``#general`` is heard by the pair, so what the
    fuzz sends does reach honest clients (and would be seen if it broke them)."""
    problems_before = len(watch.problems)
    attacker = LineClient(server.port)
    try:
        attacker.send("NICK fzprobe")
        attacker.send("USER fzprobe 0 * :probe")
        attacker.send("JOIN #general")
        attacker.send("PRIVMSG #general :\x1b[2J sonda")
        attacker.send("PING :probe")
        attacker.expect("PONG")
    finally:
        attacker.close()
    wait_until(
        lambda: pair.ana.drain() or "\x1b[2J sonda" in pair.ana.heard.get("fzprobe", []),
        describe=lambda: pair.ana.events,
    )
    assert watch.problems[problems_before:] == []
