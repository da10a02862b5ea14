"""Chat history: kept in SQLite across restarts, replayed to each kind of client."""

from __future__ import annotations

import logging
import sqlite3
import time

from net.history import ChannelHistory
from net.outgoing import Outgoing
from net.protocol import Message
from tests.support import IrcClient, started_port


def said(client: IrcClient, channel: str, *texts: str) -> None:
    for text in texts:
        client.send(f"PRIVMSG {channel} :{text}")
    client.sync()


def test_history_survives_a_restart_of_the_server_process(run_server, tmp_path):
    database = str(tmp_path / "charla.sqlite3")
    command = ("--host", "127.0.0.1", "--port", "0", "--history-db", database)
    first = run_server(*command)
    ana = IrcClient(started_port(first))
    try:
        ana.register("ana")
        ana.join("#general")
        ana.send("TOPIC #general :Examen el lunes")
        said(ana, "#general", "primero", "segundo ñandú 🐦", "\x01ACTION tercero\x01")
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
            late.expect(rf"^@batch={reference};(\S+) (:\S+ PRIVMSG #general :.*)$")
            for _ in range(3)
        ]
        assert [m.group(2).split(" :", 1)[1] for m in replayed] == [
            "primero",
            "segundo ñandú 🐦",
            "\x01ACTION tercero\x01",
        ]
        for match in replayed:
            tags = dict(tag.split("=", 1) for tag in match.group(1).split(";"))
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


def test_a_locked_database_neither_stops_nor_loses_the_live_chat(
    start_server, connect, tmp_path, caplog
):
    database = tmp_path / "locked.sqlite3"
    server = start_server(history_db=str(database))
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.join("#general")
    bea.join("#general")
    other_program = sqlite3.connect(database, isolation_level=None)
    other_program.execute("BEGIN EXCLUSIVE")  # another program holds the file
    try:
        with caplog.at_level(logging.WARNING, logger="net.history"):
            for number in range(30):
                ana.send(f"PRIVMSG #general :mensaje {number}")
            for number in range(30):
                bea.expect(rf"PRIVMSG #general :mensaje {number}$")
            ana.sync()
        assert "history not saved" in caplog.text
    finally:
        other_program.execute("ROLLBACK")
        other_program.close()
    ana.send("PRIVMSG #general :ya se puede escribir")
    bea.expect(r"PRIVMSG #general :ya se puede escribir$")


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
    history = ChannelHistory(size=3, path=path)
    history.open()
    for number in range(5):
        message = Message("PRIVMSG", ["#a", f"m{number}"], "ana!~a@h", {"msgid": f"id{number}"})
        history.record("#a", Outgoing(message, timestamp=1_700_000_000 + number))
    history.set_topic("#a", "tema", "ana!~a@h", 1_700_000_000)
    assert not history.seen_before("alias", 4)
    assert history.seen_before("alias", 3)
    history.persist()
    history.close()

    again = ChannelHistory(size=3, path=path)
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
    line stored as a number, a row that is no message: each is skipped with a warning when
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
            (1_700_000_005, "m6", ":ana!~ana@h PRIVMSG #general :después"),
        ]
        db.executemany(
            "INSERT INTO messages (channel, time, msgid, line) VALUES ('#general', ?, ?, ?)", rows
        )
    db.close()
    server = start_server(history_db=str(database))
    assert "skipped 4 damaged messages of #general" in caplog.text
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
