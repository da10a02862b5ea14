"""People at ``nc`` or telnet: the name prompt, readable lines, slash commands in two languages."""

from __future__ import annotations

import pytest

from net.i18n import set_language
from net.plain_session import ECHO_OFF, ECHO_ON, MAX_ACCOUNT_TRIES, TEXT_BYTES_PER_MESSAGE
from net.protocol import split_utf8
from tests.support import wait_until


def plain_user(connect, name: str, **kwargs):
    """A plain-text client that waited for the prompt (no IRC) and gave its name."""
    client = connect(plain=True, **kwargs)
    client.expect(r"^\*\*\* What is your name\?$")
    client.send(name)
    client.expect(rf"^\*\*\* Hello, {name}! You are in #general\.")
    return client


def test_silent_client_is_asked_for_a_name_and_joins_the_default_channel(connect):
    ana = connect("ana")
    ana.join("#general")
    bego = plain_user(connect, "Begoña")
    ana.expect(r"^:Begoña!~nc@127\.0\.0\.1 JOIN :?#general$")
    ana.send("PRIVMSG #general :hola Begoña")
    bego.expect(r"^\[\d\d:\d\d\] ana: hola Begoña$")
    bego.send("¡hola! ¿qué tal? 😀")
    ana.expect(r"^:Begoña!~nc@127\.0\.0\.1 PRIVMSG #general :¡hola! ¿qué tal\? 😀$")


def test_first_line_that_is_not_irc_makes_a_plain_client(connect):
    client = connect(plain=True)
    client.send("Carlos")  # typed before the prompt: taken as the answer
    client.expect(r"^\*\*\* What is your name\?$")
    client.expect(r"^\*\*\* Hello, Carlos!")


@pytest.mark.parametrize("word", ["help", "info", "Time", "away"])
def test_a_person_whose_first_word_is_also_an_irc_command_is_a_person(connect, word):
    """HELP, INFO, TIME and AWAY are IRC commands, but no IRC client opens with them, and a
    person at nc may well type one first."""
    client = connect(plain=True)
    client.send(word)
    client.expect(r"^\*\*\* What is your name\?$")
    assert not any(" 451 " in line or " 421 " in line for line in client.lines)


def test_joins_leaves_actions_and_announcements_are_readable(connect, server):
    bego = plain_user(connect, "bego")
    ana = connect("ana")
    ana.join("#general")
    bego.expect(r"^\[\d\d:\d\d\] \* ana joined #general$")
    ana.send("PRIVMSG #general :\x01ACTION saluda\x01")
    bego.expect(r"^\[\d\d:\d\d\] \* ana saluda$")
    ana.send("PRIVMSG bego :\x02secreto\x02")
    bego.expect(r"^\[\d\d:\d\d\] \(private\) ana: secreto$")
    server.announce("Examen a las 10")
    bego.expect(r"^\[\d\d:\d\d\] \*\*\* ANNOUNCEMENT: Examen a las 10$")
    ana.send("QUIT :me voy")
    bego.expect(r"^\[\d\d:\d\d\] \* ana left \(Quit: me voy\)$")


def test_commands_in_spanish_and_english(connect):
    bego = plain_user(connect, "bego")
    ana = connect("ana")
    ana.join("#general")
    for command in ("/usuarios", "/users"):
        bego.send(command)
        bego.expect(r"^\*\*\* In #general \(2\): bego, ana$")
    for command in ("/ayuda", "/help"):
        bego.send(command)
        bego.expect(r"^\*\*\* Commands:$")
    bego.send("/yo se ríe")
    ana.expect(r"PRIVMSG #general :\x01ACTION se ríe\x01$")
    bego.send("/privado ana solo para ti")
    ana.expect(r"^:bego!\S+ PRIVMSG ana :solo para ti$")
    bego.send("/apodo Bego")
    ana.expect(r"^:bego!\S+ NICK :?Bego$")
    bego.send("/xyzzy")  # nothing close to it: no hint
    bego.expect(r"^\*\*\* Unknown command /xyzzy\. Type /ayuda \(/help\) for the list\.$")
    bego.send("//no es un comando")
    ana.expect(r"PRIVMSG #general :/no es un comando$")


@pytest.mark.parametrize("word", ["close", "/salir", "/quit"])
def test_leaving_words(connect, word):
    ana = connect("ana")
    ana.join("#general")
    bego = plain_user(connect, "bego")
    bego.send(word)
    assert "*** Goodbye!" in bego.expect_closed()
    ana.expect(r"^:bego!\S+ QUIT :?Quit$")


def test_taken_or_invalid_name_gets_an_explanation_and_a_suggestion(connect):
    connect("ana")
    client = connect(plain=True)
    client.expect(r"What is your name\?")
    client.send("ana")
    client.expect(r"^\*\*\* The name ana is taken\. How about ana2\?$")
    client.send("9 de bastos")
    client.expect(r"^\*\*\* A name uses letters, digits")
    client.send("ana2")
    client.expect(r"^\*\*\* Hello, ana2!")


def test_password_is_asked_for_before_anything_else(start_server, connect):
    """Before the password nobody learns who is here (a name prompt would say "taken");
    a wrong one locks the address out for a while, whatever it tries next."""
    server = start_server(password="clase")
    good = connect(plain=True, port=server.port)
    good.expect(r"^\*\*\* Password:$")
    good.send("clase")
    good.expect(r"What is your name\?")
    good.send("ana")
    good.expect(r"^\*\*\* Hello, ana!")
    bad = connect(plain=True, port=server.port)
    bad.expect(r"^\*\*\* Password:$")
    bad.send("nope")
    # (after the telnet offer to echo, which nc shows as one odd mark at most)
    assert bad.expect_closed()[-1].endswith("*** Wrong password. Goodbye.")
    again = connect(plain=True, port=server.port)
    again.expect(r"^\*\*\* Password:$")
    again.send("clase")  # right, but too soon after a wrong one from this address
    assert any("Too many wrong passwords" in line for line in again.expect_closed())


def test_telnet_does_not_show_the_password_while_it_is_typed(start_server, connect):
    """The server offers to echo (IAC WILL ECHO) right after the prompt, so telnet stops
    echoing; a telnet client that agreed (IAC DO ECHO, in front of what was typed: a UTF-8
    password must still match) is told to echo again before the name is asked."""
    server = start_server(password="contraseña")
    telnet = connect(plain=True, port=server.port)
    telnet.expect(r"^\*\*\* Password:$")
    telnet.send_raw(b"\xff\xfd\x01" + "contraseña".encode() + b"\r\n")
    telnet.expect(r"What is your name\?$")
    assert b"*** Password:\r\n" + ECHO_OFF in telnet.received
    assert ECHO_ON + b"*** What is your name?\r\n" in telnet.received
    telnet.send("ana")
    telnet.expect(r"^\*\*\* Hello, ana!")


def test_nc_is_not_sent_telnet_commands_it_did_not_answer(start_server, connect):
    server = start_server(password="clase")
    nc = connect(plain=True, port=server.port)
    nc.expect(r"^\*\*\* Password:$")
    nc.send("clase")
    nc.expect(r"What is your name\?$")
    nc.send("bea")
    nc.expect(r"^\*\*\* Hello, bea!")
    assert ECHO_ON not in nc.received  # one ECHO_OFF was all: nothing else shows up as junk
    assert nc.received.count(b"\xff") == 1


def test_long_line_is_split_into_several_messages_and_nothing_is_lost(connect):
    ana = connect("ana")
    ana.join("#general")
    bego = plain_user(connect, "bego")
    text = "ñ" * 1000  # 2,000 bytes: more than one IRC line
    bego.send(text)
    received = ""
    while len(received) < len(text):
        received += ana.expect(r"PRIVMSG #general :(ñ+)$").group(1)
    assert received == text


def test_telnet_negotiation_bytes_are_ignored(connect):
    client = connect(plain=True)
    client.send_raw(b"\xff\xfd\x03\xff\xfb\x18")  # IAC DO SGA, IAC WILL TTYPE
    client.expect(r"What is your name\?")
    client.send_raw(b"dani\r\n")
    client.expect(r"^\*\*\* Hello, dani!")


def test_spanish_server_speaks_spanish(connect):
    set_language("es")
    client = connect(plain=True)
    client.expect(r"^\*\*\* ¿Cómo te llamas\?$")
    client.send("lucía")
    client.expect(r"^\*\*\* ¡Hola, lucía! Estás en #general\.")
    client.send("/usuarios")
    client.expect(r"^\*\*\* En #general \(1\): lucía$")


def test_text_is_split_without_cutting_a_character():
    pieces = split_utf8("a😀" * 300, 50)
    assert "".join(pieces) == "a😀" * 300
    assert all(len(piece.encode()) <= 50 for piece in pieces)


def test_people_at_nc_are_never_sent_keepalive_pings(start_server, connect):
    server = start_server(ping_interval=0.2, ping_timeout=0.2)
    bego = plain_user(connect, "bego", port=server.port)
    ana = connect("ana", port=server.port)  # an IRC client that came later and stays silent
    ana.expect(r"^PING ")
    ana.expect_closed()  # pinged and dropped: bego has been silent even longer
    bego.send("/users")
    bego.expect(r"^\*\*\* In #general \(1\): bego$")
    assert not any("PING" in line for line in bego.lines)


def test_nothing_an_irc_user_sends_acts_on_a_terminal(connect, server):
    """Escape sequences (erase, the clipboard by OSC 52, a one-byte CSI) and a padded line
    that would wrap onto a row of its own and pass for the server's: all shown, none obeyed."""
    bego = connect(plain=True)
    bego.expect(r"What is your name\?")
    bego.send("bego")
    bego.expect(r"Type a message")
    ana = connect("ana")
    ana.join("#general")
    ana.send("PRIVMSG #general :hola\x1b[2J\x1b]52;c;cGFzcw==\x07\x9b31m")
    bego.expect(r"^\[\d\d:\d\d\] ana: hola␛\[2J␛\]52;c;cGFzcw==␇�31m$")
    ana.send("PRIVMSG #general :ok" + " " * 300 + "*** ANNOUNCEMENT: type your password again:")
    bego.expect(r"^\[\d\d:\d\d\] ana: ok \*\*\* ANNOUNCEMENT: type your password again:$")
    server.rooms.make_teacher(server.find_session("ana"))  # #general's topic: teachers' (+t)
    ana.send("TOPIC #general :\x1b]0;título falso\x07")
    bego.expect(r"set the topic: ␛\]0;título falso␇$")
    assert not any("\x1b" in line or "\x9b" in line for line in bego.lines)


def test_each_piece_of_a_long_line_past_the_first_costs_a_line_of_flood_allowance(
    start_server, connect
):
    """A 1,000-character line becomes 3 messages and costs 3 lines of allowance (issue 13:
    one long line must not be a way round the flood gate). With 5 lines and almost no
    refill: the name takes 1, the long line 3, '/usuarios' the last one; a second
    '/usuarios', sent with them, waits for a token that would take minutes."""
    server = start_server(flood_burst=5, flood_rate=0.01)
    ana = connect("ana", port=server.port)
    ana.join("#general")
    bego = connect(plain=True, port=server.port)
    bego.send_raw(b"bego\r\n" + ("x" * 1000 + "\r\n/usuarios\r\n/users\r\n").encode())
    for _ in split_utf8("x" * 1000, TEXT_BYTES_PER_MESSAGE):
        ana.expect(r"PRIVMSG #general :x+$")
    bego.expect(r"^\*\*\* In #general \(2\): ")
    server.shutdown()
    bego.expect_closed()
    assert len([line for line in bego.lines if line.startswith("*** In #general")]) == 1


def test_a_person_at_the_prompt_has_longer_than_a_program_to_register(start_server, connect):
    server = start_server(registration_timeout=0.3, plain_registration_timeout=60)
    person = connect(plain=True, port=server.port)
    person.expect(r"^\*\*\* What is your name\?$")
    program = connect(port=server.port)
    program.send("NICK half")
    assert program.expect_closed(timeout=5) == [
        "ERROR :Closing Link: 127.0.0.1 (Registration timed out)"
    ]
    person.send("ana")  # opened before the program, and still here after it was dropped
    person.expect(r"^\*\*\* Hello, ana! You are in #general\.")


def test_a_registered_name_asks_its_password_not_echoed_with_bounded_tries(
    start_server, connect, monkeypatch
):
    monkeypatch.setattr("net.guard.FIRST_LOCK_SECONDS", 0.2)  # the slow-down, made short
    server = start_server()
    assert server.accounts.register("profe", "contraseña larga", "10.9.9.9") is None
    telnet = connect(plain=True, port=server.port)
    telnet.expect(r"What is your name\?$")
    telnet.send("PROFE")
    telnet.expect(r"^\*\*\* PROFE is a registered name\. Its password \(or /otro")
    assert b"(or /otro to choose another name):\r\n" + ECHO_OFF in telnet.received
    telnet.send_raw(b"\xff\xfd\x01mala\r\n")  # telnet agrees to stop echoing
    telnet.expect(r"\*\*\* Wrong password\.$")  # after ECHO_OFF, which nc shows as junk
    telnet.send("contraseña larga")  # right, but within the slow-down after a wrong one
    telnet.expect(r"^\*\*\* Too many wrong passwords from your address: try again in 1 s\.$")
    wait_until(lambda: server.accounts.wait_seconds("127.0.0.1", "profe") == 0)
    telnet.send("contraseña larga")
    telnet.expect(r"\*\*\* Hello, profe! You are in #general\.")
    assert ECHO_ON + b"*** Hello, profe!" in telnet.received
    watcher = connect("bea", port=server.port)
    watcher.send("WHOIS profe")
    watcher.expect(r" 330 bea profe profe :is logged in as$")


def test_otro_chooses_another_name_and_too_many_tries_end_it(start_server, connect):
    server = start_server()
    server.accounts.register("profe", "contraseña larga", "10.9.9.9")
    nc = connect(plain=True, port=server.port)
    nc.expect(r"What is your name\?$")
    nc.send("profe")
    nc.expect(r"registered name")
    nc.send("/otro")
    nc.expect(r"\*\*\* What is your name\?$")
    nc.send("profesor")
    nc.expect(r"^\*\*\* The name profesor is reserved\. What is your name\?$")
    nc.send("profe")
    for _ in range(MAX_ACCOUNT_TRIES - 1):
        nc.send("mala")
        nc.expect(r"\*\*\* (Wrong password|Too many wrong passwords)")
    nc.send("mala")
    assert nc.expect_closed()[-1].endswith(" Goodbye.")


def test_a_registered_or_reserved_name_cannot_be_taken_with_apodo(start_server, connect):
    server = start_server()
    server.accounts.register("profe", "contraseña larga", "10.9.9.9")
    bea = plain_user(connect, "bea", port=server.port)
    bea.send("/apodo Profe")
    bea.expect(r"^\*\*\* The name Profe is registered: to use it, leave and come back")
    bea.send("/nick admin")
    bea.expect(r"^\*\*\* The name admin is reserved\.$")


def test_a_teacher_at_nc_governs_the_room_and_everyone_reads_its_state(connect, server):
    tere = plain_user(connect, "tere")
    ana = plain_user(connect, "ana")
    lucas = connect("lucas")
    lucas.join("#general")
    ana.send("/silenciar lucas")  # a student may not
    ana.expect(r"^\*\*\* Only the teacher or a helper may do that\.$")
    server.rooms.make_teacher(server.find_session("tere"))  # as /profesor at the console
    ana.expect(r"^\[\d\d:\d\d\] \* tere runs this room as a teacher \(★\)\.$")
    tere.send("/help")
    tere.expect(r"^\*\*\*   /lento \(/slow\) SECONDS\|off — one message every SECONDS$")
    tere.send("/silenciar ana 5")
    ana.expect(
        r"^\[\d\d:\d\d\] \* tere muted you: your messages do not reach the room"
        r" for 5 minutes \(until \d\d:\d\d\)\.$"
    )
    lucas.expect(r"^:tere!\S+ MODE #general \+q :?ana!\*@\*$")
    ana.send("¿me oís?")
    ana.expect(r"^\*\*\* .*muted")  # refused, and told so: never silently dropped
    tere.send("/desilenciar ana")
    ana.expect(r"^\[\d\d:\d\d\] \* You can write again: your mute is over\.$")
    tere.send("/lento 30")
    ana.expect(r"^\[\d\d:\d\d\] \* tere put the room in slow mode: one message every 30 s\.$")
    tere.send("/lento off")
    ana.expect(r"\* tere turned slow mode off\.$")
    tere.send("/moderar")
    ana.expect(r"\* tere muted the class: only the teacher and those with voice speak\.$")
    tere.send("/aviso Examen el lunes")
    lucas.expect(r"^:tere!\S+ NOTICE #general :Examen el lunes$")
    tere.send("/expulsar nadie")
    tere.expect(r"^\*\*\* Nobody called nadie is in the room\.$")
    tere.send("/vetar lucas 10")
    lucas.expect(r"^:tere!\S+ MODE #general \+b :?lucas!\*@\*$")
    lucas.expect(r"^:tere!\S+ KICK #general lucas :banned$")
    lucas.send("JOIN #general")
    lucas.expect(r" 474 lucas #general ")
    tere.send("/lento rápido")
    tere.expect(r"^\*\*\* Usage: /lento SECONDS, or /lento off$")


def test_a_teacher_at_nc_reads_the_shared_table_and_gets_hints_for_typos(connect, server):
    """Usage, help and typo hints come from ``net.room_words.TEACHER_COMMANDS``."""
    tere = plain_user(connect, "tere")
    server.rooms.make_teacher(server.find_session("tere"))
    tere.send("/vetar")
    tere.expect(r"^\*\*\* Usage: /vetar NAME \[minutes\]$")
    tere.send("/silenciarr ana")
    tere.expect(
        r"^\*\*\* Unknown command /silenciarr\. Did you mean /silenciar\? "
        r"Type /ayuda \(/help\) for the list\.$"
    )
    tere.send("/ayuda")
    tere.expect(r"^\*\*\* For the teacher and helpers:$")
    tere.expect(r"^\*\*\*   /silenciar \(/mute\) NAME \[minutes\] — their messages do not")
    tere.expect(r"^\*\*\*   /aviso \(/announce\) TEXT — an announcement to the room$")


def test_a_teacher_at_nc_claims_a_room_and_a_student_may_not(connect, server):
    lucas = connect("lucas")
    lucas.join("#grupo3")  # made it: its operator, as IRC has always done
    ana = plain_user(connect, "ana")
    ana.send("/reclamar #grupo3")
    ana.expect(r"^\*\*\* Only a teacher can do that\.$")
    tere = plain_user(connect, "tere")
    server.rooms.make_teacher(server.find_session("tere"))
    tere.send("/reclamar")
    tere.expect(r"#general is the server's default channel: it always belongs to the teachers")
    tere.send("/claim #nada")
    tere.expect(r"^\*\*\* There is no room called #nada\.$")
    tere.send("/reclamar #grupo3")
    lucas.expect(r"^:\S+ MODE #grupo3 -o :?lucas$")
    lucas.expect(r"NOTICE #grupo3 :tere claimed #grupo3: it now belongs to the teachers$")
    tere.expect(r"tere claimed #grupo3: it now belongs to the teachers$")
    tere.send("/reclamar #grupo3 off")
    lucas.expect(r"NOTICE #grupo3 :tere gave #grupo3 back: it no longer belongs to the teachers$")


def test_registrar_makes_an_account_asking_the_password_twice_not_echoed(start_server, connect):
    server = start_server()
    telnet = plain_user(connect, "lola", port=server.port)
    telnet.send("/registrar")
    telnet.expect(r"^\*\*\* A password for the account lola \(at least 8 characters")
    assert b"to give up):\r\n" + ECHO_OFF in telnet.received
    telnet.send_raw(b"\xff\xfd\x01corta\r\n")  # telnet agrees to stop echoing
    telnet.expect(r"\*\*\* The same password again:$")  # after ECHO_OFF: junk to nc
    telnet.send("corta")
    telnet.expect(r"\*\*\* That password is too short \(at least 8 characters\)")
    assert ECHO_ON + b"*** That password is too short" in telnet.received
    telnet.send("/register")
    telnet.expect(r"A password for the account lola")
    telnet.send("una contraseña larga")
    telnet.send("otra contraseña larga")
    telnet.expect(r"\*\*\* The two passwords differ: no account was made\.$")
    telnet.send("/registrar")
    telnet.send("una contraseña larga")
    telnet.send("una contraseña larga")
    telnet.expect(r"\*\*\* The account lola is made, and you are logged in")
    assert server.accounts.log_in("10.1.1.1", "lola", "una contraseña larga").account == "lola"
    watcher = connect("bea", port=server.port)
    watcher.send("WHOIS lola")
    watcher.expect(r" 330 bea lola lola :is logged in as$")
    telnet.send("/registrar")
    telnet.expect(r"^\*\*\* You are logged in as lola already\.$")
    nobody = [line for line in watcher.lines if "contraseña" in line]
    assert nobody == []  # the password was never relayed to the room
