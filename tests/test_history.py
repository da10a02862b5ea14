"""Chat history: kept in SQLite across restarts, replayed to each kind of client."""

from __future__ import annotations

import contextlib
import gc
import logging
import re
import sqlite3
import time
import tracemalloc
from pathlib import Path

import pytest

from net.history import INSERT_MESSAGE, ChannelHistory, ListEntry
from net.outgoing import Outgoing
from net.protocol import MAX_CLIENT_TAGS, Message, parse
from tests.support import IrcClient, started_port


def said(client: IrcClient, channel: str, *texts: str) -> None:
    for text in texts:
        client.send(f"PRIVMSG {channel} :{text}")
    client.sync()


def test_history_survives_a_restart_of_the_server_process(run_server, tmp_path):
    database = str(tmp_path / "charla.sqlite3")
    command = ("--host", "127.0.0.1", "--port", "0", "--history-db", database)
    first = run_server(*command, "--oper", "profe:clave")
    ana = IrcClient(started_port(first))
    try:
        ana.register("ana", caps="message-tags")
        ana.send("OPER profe clave")  # #general's topic is the teachers' (+t)
        ana.expect(r" 381 ana :")
        ana.join("#general")
        ana.send("TOPIC #general :Examen el lunes")
        said(ana, "#general", "primero", "segundo ñandú 🐦", "\x01ACTION tercero\x01")
        # a long message in two lines (net.text_cuts): its client tag outlives the restart
        ana.send("@+charla.chat/continues PRIVMSG #general :cuarto, en dos")
        said(ana, "#general", " líneas")
    finally:
        ana.close()
    first.process.terminate()
    assert first.wait() == 0
    second = run_server(*command)
    late = IrcClient(started_port(second))
    try:
        late.register("late", caps="batch server-time message-tags")
        late.send("JOIN #general")
        late.expect(r" 332 late #general :Examen el lunes$")
        reference = late.expect(r"^:\S+ BATCH \+(\S+) chathistory :?#general$").group(1)
        replayed = [
            late.expect(rf"^@(\S*batch={reference}\S*) (:\S+ PRIVMSG #general :.*)$")
            for _ in range(5)
        ]
        assert [m.group(2).split(" :", 1)[1] for m in replayed] == [
            "primero",
            "segundo ñandú 🐦",
            "\x01ACTION tercero\x01",
            "cuarto, en dos",
            " líneas",
        ]
        assert ["+charla.chat/continues" in m.group(1) for m in replayed] == [False] * 3 + [
            True,
            False,
        ]
        for match in replayed:
            tags = dict(tag.partition("=")[::2] for tag in match.group(1).split(";"))
            assert tags["msgid"]
            sent = time.strptime(tags["time"][:19], "%Y-%m-%dT%H:%M:%S")
            assert abs(time.mktime(sent) - time.mktime(time.gmtime())) < 120  # the original time
        late.expect(rf"BATCH -{reference}$")
    finally:
        late.close()


def test_replay_to_an_irc_client_without_batch_is_marked_notices(start_server, connect):
    server = start_server(history_replay=2)
    ana = connect("ana", port=server.port)
    ana.join("#general")
    said(ana, "#general", "uno", "dos", "tres")
    old = connect("old", port=server.port)
    old.send("JOIN #general")
    old.expect(r" 366 old #general ")
    old.expect(r"^:test\.charla NOTICE #general :--- History of #general: the last 2 messages ---$")
    old.expect(r"^:test\.charla NOTICE #general :\[\d\d:\d\d\] ana: dos$")
    old.expect(r"^:test\.charla NOTICE #general :\[\d\d:\d\d\] ana: tres$")
    old.expect(r"^:test\.charla NOTICE #general :--- End of the history ---$")


def test_a_history_of_one_message_is_said_in_the_singular(start_server, connect):
    server = start_server()
    ana = connect("ana", port=server.port)
    ana.join("#general")
    said(ana, "#general", "solo uno")
    old = connect("old", port=server.port)
    old.send("JOIN #general")
    old.expect(r"^:test\.charla NOTICE #general :--- History of #general: the last message ---$")
    plain = connect(plain=True, port=server.port)
    plain.expect(r"What is your name\?")
    plain.send("bego")
    plain.expect(r"^\*\*\* The last message:$")


def test_replay_to_a_plain_text_client_is_lines_under_a_heading(connect):
    ana = connect("ana")
    ana.join("#general")
    said(ana, "#general", "hola", "\x01ACTION saluda\x01")
    plain = connect(plain=True)
    plain.expect(r"What is your name\?")
    plain.send("bego")
    plain.expect(r"^\*\*\* Hello, bego!")
    plain.expect(r"^\*\*\* The last 2 messages:$")
    plain.expect(r"^\[\d\d:\d\d\] ana: hola$")
    plain.expect(r"^\[\d\d:\d\d\] \* ana saluda$")
    plain.expect(r"^\*\*\* End of the history\.$")


def test_no_history_means_nothing_kept_or_replayed(start_server, connect):
    server = start_server(history_size=0)
    ana = connect("ana", port=server.port)
    ana.join("#general")
    said(ana, "#general", "efímero")
    bea = connect("bea", port=server.port)
    bea.send("JOIN #general")
    bea.expect(r" 366 bea #general ")
    assert not any("efímero" in line for line in bea.sync())


NOT_SAVED = r"NOTICE {nick} :History is not being saved to disk right now \(the disk may be full\)"
SAVED_AGAIN = r"NOTICE {nick} :History is being saved to disk again: nothing said meanwhile"


FILLER = "#relleno"  # what fills a database up in these tests (see fill_up)


def saved_lines(database) -> list[str]:
    """The texts of the messages in the database file, read as another program would."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT line FROM messages WHERE channel != ?", (FILLER,))
        return [line.split(" :", 1)[1] for (line,) in rows]


def told_once(person: IrcClient, notice: str) -> None:
    """``person`` was told ``notice`` exactly once, among every line it got so far."""
    person.sync()
    pattern = re.compile(notice.format(nick=person.nick))
    assert len([line for line in person.lines if pattern.search(line)]) == 1, person.lines[-5:]


def storage_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "net.history" and r.levelno == logging.WARNING
    ]


def pair_in_general(start_server, connect, database):
    """A server keeping its history in ``database``, and ana and bea in #general."""
    server = start_server(history_db=str(database))
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#general")
    bea.join("#general")
    return server, ana, bea


def test_a_locked_database_neither_stops_nor_loses_the_live_chat(
    start_server, connect, tmp_path, caplog
):
    database = tmp_path / "locked.sqlite3"
    _, ana, bea = pair_in_general(start_server, connect, database)
    other_program = sqlite3.connect(database, isolation_level=None)
    other_program.execute("BEGIN EXCLUSIVE")  # another program holds the file
    try:
        for number in range(30):
            ana.send(f"PRIVMSG #general :mensaje {number}")
        for number in range(30):
            bea.expect(rf"PRIVMSG #general :mensaje {number}$")
        for person in (ana, bea):  # everyone is told, once, and the chat goes on
            told_once(person, NOT_SAVED)
    finally:
        other_program.execute("ROLLBACK")
        other_program.close()
    for person in (ana, bea):
        person.expect(SAVED_AGAIN.format(nick=person.nick), timeout=10)
    assert saved_lines(database) == [f"mensaje {number}" for number in range(30)]
    assert len([w for w in storage_warnings(caplog) if "not being saved" in w]) == 1
    ana.send("PRIVMSG #general :ya se puede escribir")
    bea.expect(r"PRIVMSG #general :ya se puede escribir$")
    ana.sync()
    assert saved_lines(database)[-1] == "ya se puede escribir"


def fill_up(server) -> None:
    """Make the server's database file full: a real SQLITE_FULL from its next row on. The
    file may not grow, and the room left in its pages is taken by messages of a channel
    nobody uses, ever smaller ones into the gaps."""
    history = server.history
    with history._db_lock:
        db = history._db
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        db.execute(f"PRAGMA max_page_count = {pages}")
        for size in (1000, 100, 10, 1):
            with contextlib.suppress(sqlite3.OperationalError):
                while True:
                    with db:
                        db.execute(INSERT_MESSAGE, (FILLER, 0.0, "", "f" * size))


def make_room(server) -> None:
    with server.history._db_lock:
        server.history._db.execute("PRAGMA max_page_count = 1073741823")


def test_with_the_disk_full_everyone_is_told_once_and_nothing_queued_is_lost(
    start_server, connect, tmp_path, caplog
):
    database = tmp_path / "full.sqlite3"
    server, ana, bea = pair_in_general(start_server, connect, database)
    fill_up(server)
    texts = [f"mensaje {number} " + "x" * 400 for number in range(35)]  # within the burst
    for text in texts:
        ana.send(f"PRIVMSG #general :{text}")
    for text in texts:  # relayed all the same
        bea.expect(rf"PRIVMSG #general :{text}$")
    for person in (ana, bea):
        told_once(person, NOT_SAVED)
    assert not server.history.saving
    late = connect("late", port=server.port)  # its MOTD says so
    assert any("not being saved to disk right now" in line for line in late.lines)
    make_room(server)
    for person in (ana, bea, late):
        person.expect(SAVED_AGAIN.format(nick=person.nick), timeout=10)
    assert saved_lines(database) == texts
    assert len([w for w in storage_warnings(caplog) if "not being saved" in w]) == 1
    later = connect("later", port=server.port)
    assert any("kept on this server" in line for line in later.lines)


def test_past_the_bound_the_oldest_unsaved_are_dropped_and_everyone_told_how_many(
    start_server, connect, tmp_path, monkeypatch
):
    monkeypatch.setattr("net.history.MAX_UNSAVED_ROWS", 10)
    database = tmp_path / "full.sqlite3"
    server, ana, bea = pair_in_general(start_server, connect, database)
    fill_up(server)
    texts = [f"mensaje {number} " + "x" * 400 for number in range(35)]
    for text in texts:
        ana.send(f"PRIVMSG #general :{text}")
    bea.expect(rf"PRIVMSG #general :{texts[-1]}$")
    told_once(bea, NOT_SAVED)
    make_room(server)
    told = bea.expect(
        r"NOTICE bea :History is being saved to disk again, but the (\d+) oldest messages "
        r"said meanwhile could not be saved",
        timeout=10,
    )
    assert int(told.group(1)) == len(texts) - 10
    assert saved_lines(database) == texts[-10:]  # the newest 10 waited, and are on disk


def test_a_database_file_removed_while_the_server_runs_is_not_written_blindly(
    start_server, connect, tmp_path
):
    database = tmp_path / "gone.sqlite3"
    server, ana, bea = pair_in_general(start_server, connect, database)
    said(ana, "#general", "antes")
    for suffix in ("", "-wal", "-shm"):  # SQLite would go on writing into the deleted file
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    said(ana, "#general", "después")
    bea.expect(r"PRIVMSG #general :después$")
    for person in (ana, bea):
        told_once(person, NOT_SAVED)
    assert not server.history.saving


def test_a_row_the_database_cannot_take_costs_only_itself(tmp_path, caplog):
    history = ChannelHistory(path=tmp_path / "h.sqlite3")
    history.open()
    try:
        history.seen_before("mallory", 10**20)  # past SQLite's integers: OverflowError
        history.record("#general", Outgoing(parse(":ana!a@h PRIVMSG #general :de otra")))
        history.persist()  # does not raise
        assert saved_lines(tmp_path / "h.sqlite3") == ["de otra"]
        assert "a history row cannot be saved" in caplog.text
        caplog.clear()  # the bug was expected
    finally:
        history.close()


def test_a_database_in_an_impossible_place_leaves_history_in_memory(
    start_server, connect, tmp_path, caplog
):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("no")
    with caplog.at_level(logging.WARNING, logger="net.history"):
        server = start_server(history_db=str(not_a_folder / "charla.sqlite3"))
    assert "history kept in memory only" in caplog.text
    ana = connect(port=server.port)
    ana.send("NICK ana")
    ana.send("USER ana 0 * :ana")
    ana.expect(r" 372 ana :- Messages in channels are kept until the server stops")
    ana.expect(r" 376 ")
    ana.join("#general")
    said(ana, "#general", "en memoria")
    plain = connect(plain=True, port=server.port)
    plain.send("bego")
    plain.expect(r"^\[\d\d:\d\d\] ana: en memoria$")


def test_channel_history_round_trip_and_bounds(tmp_path):
    path = tmp_path / "h.sqlite3"
    history = ChannelHistory(size=3, path=path, expiry=0)  # old times: kept for ever
    history.open()
    for number in range(5):
        message = Message("PRIVMSG", ["#a", f"m{number}"], "ana!~a@h", {"msgid": f"id{number}"})
        history.record("#a", Outgoing(message, timestamp=1_700_000_000 + number))
    history.set_topic("#a", "tema", "ana!~a@h", 1_700_000_000)
    assert not history.seen_before("alias", 4)
    assert history.seen_before("alias", 3)
    history.persist()
    history.close()

    again = ChannelHistory(size=3, path=path, expiry=0)
    again.open()
    kept = again.recent("#a", 10)
    assert [out.message.params[1] for out in kept] == ["m2", "m3", "m4"]
    assert [out.message.tags["msgid"] for out in kept] == ["id2", "id3", "id4"]
    assert [out.time for out in kept] == [1_700_000_002, 1_700_000_003, 1_700_000_004]
    assert again.topics["#a"] == ("tema", "ana!~a@h", 1_700_000_000)
    assert again.seen_before("alias", 4) and not again.seen_before("alias", 5)
    again.close()


def test_a_damaged_database_is_set_aside_and_a_new_one_kept(
    start_server, connect, tmp_path, caplog
):
    database = tmp_path / "charla.sqlite3"
    database.write_bytes(b"esto no es una base de datos" * 200)
    with caplog.at_level(logging.WARNING, logger="net.history"):
        server = start_server(history_db=str(database))
    assert "was damaged" in caplog.text
    [aside] = tmp_path.glob("charla.sqlite3.damaged-*")
    assert aside.read_bytes().startswith(b"esto no es")
    ana = connect(port=server.port)
    ana.send("NICK ana")
    ana.send("USER ana 0 * :ana")
    ana.expect(r" 372 ana :- Messages in channels are kept on this server")
    ana.expect(r" 376 ")
    ana.join("#general")
    said(ana, "#general", "en la base nueva")
    server.shutdown()
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT line FROM messages").fetchall() == [
            (":ana!~ana@127.0.0.1 PRIVMSG #general :en la base nueva",)
        ]
    db.close()


def test_damaged_rows_in_the_database_are_skipped_not_replayed(
    start_server, connect, tmp_path, caplog
):
    """A topic with a CR in it (which no client can set any more), a time stored as text, a
    line stored as a number, a row that is no message, a server tag where only client tags
    are kept, client tags too long: each is skipped with a warning when
    the server starts, and joining, asking for the topic and LIST work for everyone."""
    database = tmp_path / "damaged.sqlite3"
    start_server(history_db=str(database)).shutdown()  # leaves an empty database
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO topics VALUES (?, ?, ?, ?)",
            ("#general", "Bienvenidos\rclase de hoy", "ana!~ana@h", 1_700_000_000),
        )
        db.execute("INSERT INTO topics VALUES (?, ?, ?, ?)", ("#b", "ok", "ana!~ana@h", "ayer"))
        rows = [
            (1_700_000_000, "m1", ":ana!~ana@h PRIVMSG #general :antes"),
            ("ayer", "m2", ":ana!~ana@h PRIVMSG #general :hora en texto"),
            (1_700_000_002, "m3", 12345),
            (1_700_000_003, "m4", ":ana!~ana@h PRIVMSG #general :con\rCR"),
            (1_700_000_004, "m5", "PRIVMSG"),
            (1_700_000_005, "m6", "@msgid=fake :ana!~ana@h PRIVMSG #general :not a client tag"),
            (1_700_000_006, "m7", "@+a=" + "v" * 5000 + " :ana!~ana@h PRIVMSG #general :x"),
            (1_700_000_007, "m8", ":ana!~ana@h PRIVMSG #general :después"),
        ]
        db.executemany(
            "INSERT INTO messages (channel, time, msgid, line) VALUES ('#general', ?, ?, ?)", rows
        )
    db.close()
    server = start_server(history_db=str(database))
    assert "skipped 6 damaged messages of #general" in caplog.text
    assert "skipped the damaged topic of '#general'" in caplog.text
    assert "skipped the damaged topic of '#b'" in caplog.text
    for nick in ("bea", "carla"):
        client = connect(nick, port=server.port)
        client.send("JOIN #general")
        client.expect(r" 366 \S+ #general :")
        client.expect(r"NOTICE #general :--- History of #general: the last 2 messages ---$")
        client.expect(r"NOTICE #general :\[\d\d/\d\d \d\d:\d\d\] ana: antes$")
        client.expect(r"NOTICE #general :\[\d\d/\d\d \d\d:\d\d\] ana: después$")
        client.send("TOPIC #general")
        client.expect(r" 331 \S+ #general :")
        client.send("JOIN #b")
        client.expect(r" 366 \S+ #b :")
        client.send("LIST")
        client.expect(r" 323 \S+ :")
        assert not any(" 332 " in line or "\r" in line for line in client.sync())
    plain = connect(plain=True, port=server.port)
    plain.send("dani")
    plain.expect(r"^\*\*\* Type a message")


# -- bounded: one lean copy per message, a memory budget, expiry of empty channels ----------

#: a 4 KB tag section: as many client tags as are relayed (MAX_CLIENT_TAGS), 240 bytes each
BIG_TAGS = "@" + ";".join(f"+t{number}={'v' * 236}" for number in range(MAX_CLIENT_TAGS))


def tagged(text: str, msgid: str, tags: str = BIG_TAGS) -> Outgoing:
    """A message as the relay builds it: client tags, its msgid, its wire forms cached."""
    message = parse(f"{tags} :ana!~ana@h PRIVMSG #a :{text}")
    message = Message(
        message.command, message.params, message.source, {**message.tags, "msgid": msgid}
    )
    out = Outgoing(message)
    out.wire(True, True), out.wire()
    return out


def test_a_kept_message_is_one_lean_copy_replayed_with_its_tags():
    history = ChannelHistory(size=10)
    history.record("#a", tagged("hola", "m1", "@+draft/reply=x;+emoji=👋\\sy"))
    [kept] = history.recent("#a", 10)
    assert not hasattr(kept, "_wires")  # no cached wire forms
    assert kept.message.tags == {"msgid": "m1"}  # the client tags: one string, not a dict
    assert kept.client_tags == "+draft/reply=x;+emoji=👋\\sy"
    assert (
        kept.replayed("h1", False, True)
        == (
            "@+draft/reply=x;+emoji=👋\\sy;batch=h1;msgid=m1 :ana!~ana@h PRIVMSG #a :hola\r\n"
        ).encode()
    )
    assert kept.replayed("h1", False, False) == b"@batch=h1 :ana!~ana@h PRIVMSG #a :hola\r\n"


@pytest.mark.parametrize("tags", ["", BIG_TAGS])
def test_the_budget_counts_what_kept_messages_hold_in_memory(tags):
    """``held`` is within 15 % of what tracemalloc sees the kept messages hold, for short
    messages and for messages with 4 KB of tags (a dict of 685 tags held ~80 KB)."""
    count = 3000 if not tags else 500
    history = ChannelHistory(size=count, memory=2**40)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for number in range(count):
            history.record(
                "#a", tagged(f"mensaje {number} " + "x" * (number % 80), f"m{number}", tags)
            )
            history._rows.clear()  # what persist() would write and let go
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 0.85 < history.held / held < 1.15, (history.held / count, held / count)


def test_a_flood_of_big_tags_costs_its_own_channel_not_a_small_honest_one(
    start_server, connect, tmp_path
):
    database = tmp_path / "charla.sqlite3"
    budget = 2 * 2**20
    server = start_server(
        history_db=str(database), history_memory=budget, history_replay=300, flood_control=False
    )
    ana = connect("ana", port=server.port)
    ana.join("#general")
    for number in range(300):
        ana.send(f"PRIVMSG #general :hola {number}")
    mallory = connect(port=server.port)
    mallory.register("mallory", caps="message-tags")
    mallory.join("#spam")
    flood = f"{BIG_TAGS} PRIVMSG #spam :{'x' * 300}\r\n".encode()
    for _ in range(10):
        mallory.send_raw(flood * 100)  # 1,000 messages of 4.6 KB, 5 MB kept the old way
    mallory.sync()
    ana.sync()
    assert server.history.held <= budget
    spam_kept = len(server.history.recent("#spam", 5000))
    assert 0 < spam_kept < 500
    late = connect("late", port=server.port)
    late.send("JOIN #general")
    late.expect(r"NOTICE #general :--- History of #general: the last 300 messages ---$")
    late.expect(r"NOTICE #general :\[\d\d:\d\d\] ana: hola 0$")
    server.shutdown()  # what memory forgot is gone from the file too
    with contextlib.closing(sqlite3.connect(database)) as db:
        rows = dict(db.execute("SELECT channel, count(*) FROM messages GROUP BY channel"))
    assert rows == {"#general": 300, "#spam": spam_kept}


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def count_rows(database, channel: str) -> tuple[int, int]:
    """(messages, topics) the database holds for ``channel``."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        messages = db.execute("SELECT count(*) FROM messages WHERE channel = ?", (channel,))
        topics = db.execute("SELECT count(*) FROM topics WHERE channel = ?", (channel,))
        return messages.fetchone()[0], topics.fetchone()[0]


def test_an_empty_channel_forgets_its_history_after_the_expiry(start_server, connect, tmp_path):
    """#profesores, left empty, keeps its history and topic for ten minutes (a joiner
    at 9:59 sees them), then forgets them, in memory and on disk; #general never does."""
    database = tmp_path / "charla.sqlite3"
    server = start_server(history_db=str(database), history_expiry=600)
    clock = server.history.clock = Clock()
    ana = connect("ana", port=server.port)
    ana.join("#general")
    said(ana, "#general", "en general")
    ana.join("#profesores")
    ana.send("TOPIC #profesores :Notas del examen")
    said(ana, "#profesores", "las notas son…")
    ana.send("PART #profesores")
    ana.sync()
    clock.now += 599
    bea = connect("bea", port=server.port)
    bea.send("JOIN #profesores")
    bea.expect(r" 332 bea #profesores :Notas del examen$")
    bea.expect(r"NOTICE #profesores :\[\d\d:\d\d\] ana: las notas son…$")
    bea.send("PART #profesores")
    bea.sync()
    clock.now += 600
    late = connect("late", port=server.port)
    late.join("#profesores")
    late.send("TOPIC #profesores")
    late.expect(r" 331 late #profesores :No topic is set$")
    late.send("PART #profesores")
    late.join("#general")
    assert not any("notas" in line or "Notas" in line for line in late.sync())
    assert any("en general" in line for line in late.lines)
    server.history.persist()
    assert count_rows(database, "#profesores") == (0, 0)
    assert count_rows(database, "#general") == (1, 0)


def test_an_expired_channel_nobody_joins_is_swept_when_someone_speaks(
    start_server, connect, tmp_path
):
    database = tmp_path / "charla.sqlite3"
    server = start_server(history_db=str(database), history_expiry=600)
    clock = server.history.clock = Clock()
    ana = connect("ana", port=server.port)
    ana.join("#tmp")
    said(ana, "#tmp", "un secreto")
    ana.send("PART #tmp")
    ana.join("#general")
    clock.now += 601
    said(ana, "#general", "hola")  # record() looks for expired channels once a minute
    assert count_rows(database, "#tmp") == (0, 0)
    assert server.history.recent("#tmp", 10) == []


def test_after_a_restart_channels_quiet_for_longer_than_the_expiry_are_forgotten(
    start_server, connect, tmp_path
):
    database = tmp_path / "charla.sqlite3"
    start_server(history_db=str(database)).shutdown()  # an empty database
    now = time.time()
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        rows = [
            ("#viejo", now - 3 * 3600, "v1", ":ana!~ana@h PRIVMSG #viejo :de anteayer"),
            ("#reciente", now - 3 * 3600, "r1", ":ana!~ana@h PRIVMSG #reciente :antiguo"),
            ("#reciente", now - 600, "r2", ":ana!~ana@h PRIVMSG #reciente :de hace un rato"),
            ("#general", now - 3 * 86400, "g1", ":ana!~ana@h PRIVMSG #general :siempre"),
        ]
        db.executemany(
            "INSERT INTO messages (channel, time, msgid, line) VALUES (?, ?, ?, ?)", rows
        )
        db.execute(
            "INSERT INTO topics VALUES ('#viejo', 'Tema viejo', 'ana!~ana@h', ?)", (now - 3 * 3600,)
        )
        db.execute(
            "INSERT INTO topics VALUES ('#tema', 'Tema reciente', 'ana!~ana@h', ?)", (now - 60,)
        )
    server = start_server(history_db=str(database))  # the default expiry: two hours
    assert count_rows(database, "#viejo") == (0, 0)
    assert count_rows(database, "#reciente") == (2, 0)
    bea = connect("bea", port=server.port)
    bea.join("#viejo")
    bea.send("JOIN #tema")
    bea.expect(r" 332 bea #tema :Tema reciente$")
    bea.send("JOIN #reciente")
    bea.expect(r"NOTICE #reciente :\[[\d/ :]+\] ana: antiguo$")
    bea.send("JOIN #general")
    bea.expect(r"NOTICE #general :\[\d\d/\d\d \d\d:\d\d\] ana: siempre$")
    bea.sync()
    assert not [line for line in bea.lines if "Tema viejo" in line or "de anteayer" in line]


def test_past_the_budget_the_biggest_channels_are_cut_to_one_size_and_small_ones_kept():
    """A flood spread over twenty channels: each is cut to the same size, #general (the
    biggest before the flood) is cut no further than they are, and a small channel keeps
    every message."""
    budget = 2**20
    history = ChannelHistory(size=2000, memory=budget)
    for number in range(300):
        history.record("#general", tagged(f"hola {number}", f"g{number}", ""))
    for number in range(20):
        history.record("#pequeño", tagged(f"hola {number}", f"p{number}", ""))
    for number in range(2000):
        history.record(f"#spam{number % 20}", tagged("x" * 300, f"s{number}"))
        assert history.held <= budget
    sizes = {key: size for key, size in history._bytes.items() if key.startswith("#spam")}
    assert max(sizes.values()) - min(sizes.values()) < 6000  # a message of 4.9 KB at most
    assert min(sizes.values()) - 6000 < history._bytes["#general"] <= max(sizes.values())
    assert len(history.recent("#pequeño", 100)) == 20


def test_a_deleted_message_is_gone_from_memory_and_from_the_disk(tmp_path):
    path = tmp_path / "h.sqlite3"
    history = ChannelHistory(size=10, path=path, expiry=0)
    history.open()
    for number in range(3):
        message = Message("PRIVMSG", ["#a", f"m{number}"], "ana!~a@h", {"msgid": f"id{number}"})
        history.record("#a", Outgoing(message, timestamp=1_700_000_000 + number))
    before = history.held
    kept = history.find("#a", "id1")
    assert kept is not None and kept.message.params[1] == "m1"
    assert history.find("#a", "id9") is None and history.find("#b", "id1") is None
    history.forget("#a", kept)
    assert history.find("#a", "id1") is None
    assert history.held == before - kept.cost
    assert [out.message.params[1] for out in history.recent("#a", 10)] == ["m0", "m2"]
    history.persist()
    history.close()

    again = ChannelHistory(size=10, path=path, expiry=0)
    again.open()
    assert [out.message.params[1] for out in again.recent("#a", 10)] == ["m0", "m2"]
    again.close()


def test_bans_and_mutes_outlive_a_restart_and_expire_with_their_channel(tmp_path):
    path = tmp_path / "h.sqlite3"
    now = [1_700_000_000.0]
    history = ChannelHistory(size=10, path=path, expiry=3600, clock=lambda: now[0])
    history.open()
    history.keep_always("#general")
    history.keep_entry("#general", ListEntry("b", "pepe!*@*", "profe", now[0], 0.0))
    history.keep_entry("#general", ListEntry("q", "ana!*@*", "profe", now[0], now[0] + 300))
    history.keep_entry("#general", ListEntry("q", "ana!*@*", "profe", now[0], now[0] + 600))
    history.keep_entry("#general", ListEntry("b", "luis!*@*", "profe", now[0], 0.0))
    history.forget_entry("#general", "b", "luis!*@*")
    history.keep_entry("#grupo3", ListEntry("b", "eva!*@*", "ana", now[0], 0.0))
    history.vacated("#grupo3")  # everybody left #grupo3
    history.persist()
    history.close()

    now[0] += 1800  # half an hour later, a restart: everything is still there
    again = ChannelHistory(size=10, path=path, expiry=3600, clock=lambda: now[0])
    again.keep_always("#general")
    again.open()
    assert again.entries["#general"] == [
        ListEntry("b", "pepe!*@*", "profe", 1_700_000_000.0, 0.0),
        ListEntry("q", "ana!*@*", "profe", 1_700_000_000.0, 1_700_000_600.0),
    ]
    assert again.entries["#grupo3"] == [ListEntry("b", "eva!*@*", "ana", 1_700_000_000.0, 0.0)]
    now[0] += 3600  # #grupo3 has been empty for longer than the expiry
    again.expire()
    assert "#grupo3" not in again.entries and "#general" in again.entries
    again.persist()
    again.close()

    third = ChannelHistory(size=10, path=path, expiry=3600, clock=lambda: now[0])
    third.keep_always("#general")
    third.open()
    assert set(third.entries) == {"#general"}
    third.close()


def test_damaged_ban_rows_are_skipped(tmp_path, caplog):
    path = tmp_path / "h.sqlite3"
    first = ChannelHistory(size=10, path=path)
    first.open()
    first.close()
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.executemany(
            "INSERT INTO channel_lists VALUES (?, ?, ?, ?, ?, ?)",
            [
                ("#a", "b", "x\r\nQUIT #a", "p", 1.0, 0),  # would break a line
                ("#a", "z", "m!*@*", "p", 1.0, 0),  # no such list
                ("#a", "b", "ok!*@*", "p", "soon", 0),  # a time that is not one
                ("#a", "q", "ok!*@*", "p", 1.0, 0),
            ],
        )
    history = ChannelHistory(size=10, path=path, expiry=0)  # 1970: kept for ever
    with caplog.at_level(logging.WARNING, logger="net.history"):
        history.open()
    assert history.entries == {"#a": [ListEntry("q", "ok!*@*", "p", 1.0, 0)]}
    assert "skipped 3 damaged ban or mute entries" in caplog.text
    history.close()
