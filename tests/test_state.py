"""The shared room state without sockets: ``Rooms`` with sessions that record what they get.

The socket-level tests (test_irc_session, test_plain_session, test_server) are the
safety net; these pin down the state layer's own promises: the snapshot queries the
sessions answer from, and a nick hand-over that happens in one step.
"""

from __future__ import annotations

import fnmatch
import time

import pytest

from net.history import ChannelHistory
from net.modes import ModeChange
from net.outgoing import Outgoing
from net.protocol import Message
from net.server import ServerConfig
from net.state import (
    WHOWAS_PER_NICK,
    WHOWAS_SIZE,
    ChannelView,
    JoinRefused,
    Lusers,
    Rooms,
    Session,
    WhoRow,
)


class RecordingConnection:
    """What ``Rooms`` and a ``Session`` use of a ``net.connection.Connection``, kept in memory."""

    def __init__(self) -> None:
        self.ip = self.host = self.counted_as = "127.0.0.1"
        self.opened_at = self.last_received = time.monotonic()
        self.received = bytearray()
        self.aborted = ""

    def enqueue(self, data: bytes) -> None:
        self.received += data

    def flush(self) -> None:
        pass

    def send(self, data: bytes) -> None:
        self.received += data

    def abort(self, reason: str) -> None:
        self.aborted = reason

    def close_when_sent(self, reason: str) -> None:
        self.aborted = reason

    def lines(self) -> list[str]:
        return self.received.decode().splitlines()


class Person(Session):
    """A session that renders every message as the plain IRC line."""

    def render(self, out: Outgoing) -> bytes | None:
        return out.wire()

    def goodbye(self, reason: str) -> bytes:
        return Message("ERROR", [reason]).to_bytes()


@pytest.fixture
def rooms() -> Rooms:
    return Rooms(ServerConfig(server_name="test.charla"), ChannelHistory(size=10))


def person(rooms: Rooms, nick: str, token: str | None = None) -> Person:
    session = Person(rooms, RecordingConnection())
    session.nick, session.username, session.token = nick, "~" + nick.lower(), token
    assert rooms.register(session)
    return session


def test_snapshots_answer_every_query_the_sessions_make(rooms):
    ana, bea = person(rooms, "Ana"), person(rooms, "bea")
    rooms.join(ana, "#clase")
    rooms.join(bea, "#CLASE")
    channel = rooms.find_channel("#Clase")
    rooms.set_topic(ana, channel, "Examen el lunes")
    assert rooms.counts() == (2, 2)  # the default #general always exists
    view = rooms.view(channel)
    assert isinstance(view, ChannelView)
    assert (view.name, view.nicks, view.topic, view.topic_by) == (
        "#clase",
        ("Ana", "bea"),
        "Examen el lunes",
        "Ana!~ana@127.0.0.1",
    )
    assert rooms.list_rows({"#clase"}) == [("#clase", 2, "Examen el lunes")]
    assert [row[0] for row in rooms.list_rows()] == ["#clase"]  # an empty #general is not listed
    assert rooms.list_rows({"#general"}) == [("#general", 0, "")]
    assert rooms.who("#CLASE") == [
        WhoRow("#clase", "Ana", "~ana", "127.0.0.1", "", status="o"),  # she opened it: its operator
        WhoRow("#clase", "bea", "~bea", "127.0.0.1", ""),
    ]
    assert [row.nick for row in rooms.who("a*")] == ["Ana"]
    assert rooms.whois("ANA") == (WhoRow("*", "Ana", "~ana", "127.0.0.1", ""), ["@#clase"])
    assert rooms.whois("nadie") is None
    assert rooms.lookup_channel("#clase", ana) == (channel, True)
    assert rooms.lookup_channel("#general", ana) == (rooms.default_channel, False)
    assert rooms.lookup_channel("#nowhere", ana) == (None, False)
    assert rooms.channels_of(bea) == [channel]
    assert rooms.user_list() == [("Ana", "127.0.0.1"), ("bea", "127.0.0.1")]


def test_a_channel_is_forgotten_when_its_last_member_leaves(rooms):
    ana = person(rooms, "ana")
    channel = rooms.join(ana, "#tmp")
    rooms.part(ana, channel, "")
    assert rooms.find_channel("#tmp") is None
    rooms.part(ana, rooms.join(ana, "#general"), "")
    assert rooms.find_channel("#general") is rooms.default_channel


def test_quit_frees_the_nick_whatever_its_case_and_tells_the_neighbours(rooms):
    bego, ana = person(rooms, "Begoña"), person(rooms, "ana")
    rooms.join(bego, "#a")
    rooms.join(ana, "#a")
    rooms.quit(bego, "Quit: adiós")
    assert rooms.find_session("begoña") is None
    assert rooms.nick_available("BEGOÑA")
    assert ana.conn.lines()[-1] == ":Begoña!~begoña@127.0.0.1 QUIT :Quit: adiós"
    rooms.quit(bego, "twice")  # safe: nothing more is said
    assert ana.conn.lines()[-1] == ":Begoña!~begoña@127.0.0.1 QUIT :Quit: adiós"


def test_a_nick_passes_to_the_same_clients_new_connection_in_one_step(rooms):
    token = "a1b2c3d4e5f6a7b8c9d0"
    ghost, bea = person(rooms, "ana", token), person(rooms, "bea")
    rooms.join(ghost, "#a")
    rooms.join(bea, "#a")
    stranger = Person(rooms, RecordingConnection())
    stranger.nick, stranger.token = "ana", "0" * 20
    assert not rooms.nick_available("ana", stranger)
    assert not rooms.register(stranger)

    back = Person(rooms, RecordingConnection())
    back.nick, back.token = "ana", token
    assert rooms.nick_available("ana", back)
    assert rooms.register(back)  # no gap in which someone else could take "ana"
    assert rooms.find_session("ana") is back
    assert not ghost.registered and rooms.channels_of(ghost) == []
    assert ghost.conn.lines()[-1] == "ERROR Reconnected"
    assert ghost.conn.aborted == "Reconnected"
    assert bea.conn.lines()[-1] == ":ana!~ana@127.0.0.1 QUIT Reconnected"


def test_the_server_name_is_never_a_nick(rooms):
    impostor = Person(rooms, RecordingConnection())
    impostor.nick = "Test.Charla"
    assert not rooms.nick_available("TEST.charla")
    assert not rooms.register(impostor)


def test_a_session_that_has_left_can_neither_come_back_nor_take_a_nick(rooms):
    """An operator's kick (or a hand-over to a new connection) ends a session while its
    reader may still be handling a line it sent just before: that line changes nothing."""
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    channel = rooms.join(ana, "#x")
    rooms.join(bea, "#x")
    assert rooms.remove("ana", "fuera") is ana
    heard = len(bea.conn.lines())
    assert rooms.join(ana, "#x") is None  # the JOIN it was handling
    rooms.send_to_channel(ana, channel, Message("PRIVMSG", ["#x", "sigo aquí"], ana.prefix))
    rooms.set_topic(ana, channel, "tema de un fantasma")
    rooms.part(ana, channel, "")
    rooms.quit(ana, "Kicked")  # when its connection ends
    assert rooms.view(channel).nicks == ("bea",)
    assert len(bea.conn.lines()) == heard  # bea heard nothing from the ghost
    other = person(rooms, "ana")  # the freed nick is someone else's now
    assert not rooms.rename(ana, "zed")
    assert rooms.find_session("ana") is other
    assert rooms.find_session("zed") is None
    assert not rooms.register(ana)


def test_a_person_is_in_at_most_channels_per_person_and_the_server_holds_max_channels():
    rooms = Rooms(
        ServerConfig(server_name="test.charla", channels_per_person=3, max_channels=4),
        ChannelHistory(size=10),
    )
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    for name in ("#a", "#b", "#c"):
        assert rooms.join(ana, name) is rooms.find_channel(name)
    assert rooms.join(ana, "#a") is rooms.find_channel("#a")  # already in: no change
    assert rooms.join(ana, "#general") is JoinRefused.TOO_MANY_FOR_PERSON
    assert rooms.join(bea, "#d") is JoinRefused.TOO_MANY_ON_SERVER  # #general, #a, #b, #c
    assert rooms.find_channel("#d") is None
    assert rooms.join(bea, "#a") is rooms.find_channel("#a")  # an existing one: welcome
    assert rooms.view(rooms.find_channel("#general")).nicks == ()
    rooms.part(ana, rooms.find_channel("#c"), "")  # #c empties and goes: room for #d
    assert rooms.join(bea, "#d") is rooms.find_channel("#d")


def test_one_address_cannot_open_every_channel_the_server_may_hold():
    """A student's many connections open at most ``channels_per_address`` channels; the
    teacher, from another address, can still open one; closing one gives room back."""
    rooms = Rooms(
        ServerConfig(server_name="test.charla", channels_per_address=3, max_channels=10),
        ChannelHistory(size=10),
    )
    mallory, eve = person(rooms, "mallory"), person(rooms, "eve")  # one address, two people
    for name in ("#m1", "#m2"):
        assert rooms.join(mallory, name) is rooms.find_channel(name)
    assert rooms.join(eve, "#m3") is rooms.find_channel("#m3")
    assert rooms.join(eve, "#m4") is JoinRefused.TOO_MANY_FROM_ADDRESS
    assert rooms.join(eve, "#m1") is rooms.find_channel("#m1")  # an existing one: welcome
    teacher = person(rooms, "tere")
    teacher.conn.counted_as = "10.0.0.2"
    assert rooms.join(teacher, "#profesores") is rooms.find_channel("#profesores")
    rooms.part(mallory, rooms.find_channel("#m2"), "")  # #m2 empties and goes
    assert rooms.join(eve, "#m4") is rooms.find_channel("#m4")
    rooms.join(teacher, "#m4")
    rooms.part(eve, rooms.find_channel("#m4"), "")  # still open (the teacher is in it)...
    assert rooms.join(eve, "#m5") is JoinRefused.TOO_MANY_FROM_ADDRESS  # ...and counted


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_late_joiner_of_an_expired_channel_gets_no_history_and_no_topic():
    clock = Clock()
    rooms = Rooms(
        ServerConfig(server_name="test.charla"), ChannelHistory(size=10, expiry=60, clock=clock)
    )
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    rooms.make_teacher(ana)  # #general's topic is the teachers' (+t)
    for name in ("#secreto", "#general"):
        channel = rooms.join(ana, name)
        rooms.set_topic(ana, channel, f"tema de {name}")
        rooms.send_to_channel(ana, channel, Message("PRIVMSG", [name, "hola"], ana.prefix))
        rooms.part(ana, channel, "")
    clock.now += 59
    channel = rooms.join(bea, "#secreto")  # just in time: all is there
    assert rooms.view(channel).topic == "tema de #secreto"
    assert len(rooms.history.recent("#secreto", 10)) == 1
    rooms.part(bea, channel, "")
    clock.now += 60
    channel = rooms.join(bea, "#secreto")
    assert rooms.view(channel).topic == ""
    assert rooms.history.recent("#secreto", 10) == []
    general = rooms.join(bea, "#general")  # the default channel never forgets
    assert rooms.view(general).topic == "tema de #general"
    assert len(rooms.history.recent("#general", 10)) == 1


def test_a_message_or_topic_from_someone_who_has_left_the_channel_is_not_relayed_or_kept(rooms):
    """The reader checked membership, then the person left before the relay: a channel
    that emptied may be expiring, and nothing may be added to it behind everyone's back."""
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    channel = rooms.join(ana, "#x")
    rooms.join(bea, "#x")
    rooms.part(ana, channel, "")
    heard = len(bea.conn.lines())
    rooms.send_to_channel(ana, channel, Message("PRIVMSG", ["#x", "ya me fui"], ana.prefix))
    rooms.set_topic(ana, channel, "tema de quien se fue")
    assert len(bea.conn.lines()) == heard
    assert rooms.history.recent("#x", 10) == []
    assert "#x" not in rooms.history.topics and rooms.view(channel).topic == ""


def test_who_with_many_distinct_masks_keeps_nothing_behind(rooms):
    """fnmatch compiled each mask to a regex and kept up to 32,768 in a process-wide cache
    that one client could fill; the server's own matcher keeps none."""
    person(rooms, "Ana")
    person(rooms, "Bea")
    fnmatch._compile_pattern.cache_clear()
    for n in range(200):
        rooms.who(f"*{n}?*")
    assert [row.nick for row in rooms.who("?e*")] == ["Bea"]
    assert fnmatch._compile_pattern.cache_info().currsize == 0


def test_whowas_remembers_quits_and_renames_newest_first(rooms):
    ana = person(rooms, "Ana")
    ana.realname = "Ana Pérez"
    assert rooms.rename(ana, "ana2")
    rooms.quit(ana, "Quit")
    again = person(rooms, "ANA")
    rooms.quit(again, "Quit")
    rows = rooms.whowas("aNa")
    assert [(row.nick, row.realname) for row in rows] == [("ANA", ""), ("Ana", "Ana Pérez")]
    assert rows[0].when >= rows[1].when
    assert rooms.whowas("ana", 1) == rows[:1]
    assert rooms.whowas("ana", -1) == rows == rooms.whowas("ana", 0)
    assert [row.nick for row in rooms.whowas("ana2")] == ["ana2"]
    assert rooms.whowas("nadie") == []


def test_the_whowas_memory_stays_within_its_bounds_after_many_quits(rooms):
    """Past WHOWAS_SIZE the oldest is forgotten; one nick that comes and goes in a loop
    keeps only its newest WHOWAS_PER_NICK, and pushes nobody else out after that."""
    for number in range(WHOWAS_SIZE + 500):
        rooms.quit(person(rooms, f"p{number}"), "Quit")
    assert len(rooms._gone) == WHOWAS_SIZE
    assert len(rooms._gone_by_nick) == WHOWAS_SIZE
    assert rooms.whowas("p499") == []
    assert len(rooms.whowas("p500")) == 1
    for _ in range(WHOWAS_SIZE * 2):
        rooms.quit(person(rooms, "bucle"), "Quit")
    assert len(rooms.whowas("bucle")) == WHOWAS_PER_NICK
    assert len(rooms._gone) == WHOWAS_SIZE
    assert sum(len(bucket) for bucket in rooms._gone_by_nick.values()) == WHOWAS_SIZE
    # the loop took only WHOWAS_PER_NICK places: the rest are still the others'
    assert rooms.whowas(f"p{500 + WHOWAS_PER_NICK - 1}") == []
    assert len(rooms.whowas(f"p{500 + WHOWAS_PER_NICK}")) == 1


def test_away_is_told_to_neighbours_once_and_shown_in_who_and_userhost(rooms):
    ana, bea, carla = person(rooms, "ana"), person(rooms, "bea"), person(rooms, "carla")
    rooms.join(ana, "#x")
    rooms.join(bea, "#x")
    rooms.set_away(ana, "en clase")
    rooms.set_away(ana, "en clase")  # nothing changes: nobody is told again
    assert [line for line in bea.conn.lines() if " AWAY " in line] == [
        ":ana!~ana@127.0.0.1 AWAY :en clase"
    ]
    assert not any("AWAY" in line for line in ana.conn.lines() + carla.conn.lines())
    assert rooms.who("#x")[1].away == ""
    assert rooms.who("#x")[0] == WhoRow("#x", "ana", "~ana", "127.0.0.1", "", "en clase", "o")
    rooms.join(carla, "#y")
    rooms.join(ana, "#y")  # joining while away: the channel learns it with the JOIN
    assert carla.conn.lines()[-2:] == [
        ":ana!~ana@127.0.0.1 JOIN #y",
        ":ana!~ana@127.0.0.1 AWAY :en clase",
    ]
    assert ana.conn.lines()[-1] == ":ana!~ana@127.0.0.1 JOIN #y"  # not told of itself
    bea.teacher = True  # MODES' to write; here only to read it back
    assert rooms.userhosts(["ANA", "nadie", "bea"]) == [
        (WhoRow("*", "ana", "~ana", "127.0.0.1", "", "en clase"), False),
        (WhoRow("*", "bea", "~bea", "127.0.0.1", "", "", teacher=True), True),
    ]
    assert rooms.ison(["BEA", "nadie", "Ana"]) == ["bea", "ana"]
    rooms.set_away(ana, "")
    assert bea.conn.lines()[-1] == ":ana!~ana@127.0.0.1 AWAY"
    assert rooms.whois("ana")[0].away == ""


def test_lusers_counts_teachers_and_the_most_people_at_once(rooms):
    person(rooms, "ana")
    bea = person(rooms, "bea")
    bea.teacher = True  # MODES' to write; here only to count it
    assert rooms.lusers() == Lusers(users=2, teachers=1, channels=1, most_users=2)
    rooms.quit(bea, "Quit")
    assert rooms.lusers() == Lusers(users=1, teachers=0, channels=1, most_users=2)
    assert rooms.count_unregistered() == 0  # until a server gives its own count


def test_make_teacher_gives_o_where_they_are_and_wherever_they_join(rooms):
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    rooms.join(bea, "#general")
    rooms.join(ana, "#general")
    general = rooms.default_channel
    assert rooms.status_in(ana, general) == ""  # the default channel makes nobody operator
    rooms.make_teacher(ana)
    assert bea.conn.lines()[-1] == ":test.charla MODE #general +o :ana"
    assert rooms.status_in(ana, general) == "o"
    rooms.join(bea, "#grupo")
    grupo = rooms.join(ana, "#grupo")
    assert bea.conn.lines()[-1] == ":test.charla MODE #grupo +o :ana"
    assert rooms.view(grupo).statuses == ("o", "o")  # bea opened it; ana is a teacher
    assert rooms.lusers().teachers == 1


def test_timed_entries_are_lifted_by_expire_due_and_the_channel_is_told(rooms):
    clock = Clock()
    rooms.clock = clock
    woken = []
    rooms.on_timer_changed = lambda: woken.append(rooms.next_expiry)
    ana, bea = person(rooms, "ana"), person(rooms, "bea")
    channel = rooms.join(ana, "#a")
    rooms.join(bea, "#a")
    changes = [ModeChange(True, "q", "bea")]
    assert rooms.change_modes(ana, channel, changes, expires=clock.now + 60) == []
    assert woken == [clock.now + 60]
    refused = rooms.send_to_channel(bea, channel, Message("PRIVMSG", ["#a", "hola"], bea.prefix))
    assert refused is not None and refused.why == "muted" and refused.seconds == 60
    rooms.expire_due()  # too early: nothing happens
    assert [e.mask for e in rooms.list_entries(channel, "q")] == ["bea!*@*"]
    clock.now += 60
    assert rooms.list_entries(channel, "q") == []  # over at once, before the timer runs
    rooms.expire_due()
    assert bea.conn.lines()[-1] == ":test.charla MODE #a -q :bea!*@*"
    assert rooms.next_expiry == float("inf")
    assert rooms.send_to_channel(bea, channel, Message("PRIVMSG", ["#a", "ya"], bea.prefix)) is None


def test_bans_set_from_one_address_are_bounded_across_channels(rooms, monkeypatch):
    monkeypatch.setattr("net.state.ENTRIES_PER_ADDRESS", 3)
    ana, tere = person(rooms, "ana"), person(rooms, "tere")
    uno, dos = rooms.join(ana, "#uno"), rooms.join(ana, "#dos")
    bans = [ModeChange(True, "b", f"x{n}") for n in range(2)]
    assert rooms.change_modes(ana, uno, bans) == []
    refused = rooms.change_modes(ana, dos, [ModeChange(True, "q", "y"), ModeChange(True, "b", "z")])
    assert [r.why for r in refused] == ["listfull"]  # the third counts, the fourth does not
    assert rooms.change_modes(ana, uno, [ModeChange(False, "b", "x0")]) == []
    assert rooms.change_modes(ana, dos, [ModeChange(True, "b", "z")]) == []  # room again
    assert rooms.change_modes(ana, dos, [ModeChange(True, "b", "w0")])[0].why == "listfull"
    rooms.part(ana, uno, "")  # #uno is gone, and its list (x1) with it
    assert rooms.change_modes(ana, dos, [ModeChange(True, "b", "w0")]) == []
    rooms.make_teacher(tere)  # a teacher's bans count against nobody
    rooms.join(tere, "#dos")
    many = [ModeChange(True, "b", f"t{n}") for n in range(10)]
    assert rooms.change_modes(tere, dos, many) == []
