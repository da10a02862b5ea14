"""IRC clients on a real server: registration, channels, messages and their error numerics."""

from __future__ import annotations

import base64
import logging
import re

import pytest

from net.irc_session import ISON_MAX, NAMES_PER_LINE_BYTES
from net.protocol import MAX_CLIENT_TAGS, session_alias
from tests.support import IrcClient


def test_registration_sends_welcome_isupport_and_motd(connect):
    client = connect()
    client.send("NICK Begoña")
    client.send("USER bego 0 * :Begoña Ruiz")
    client.expect(r"^:test\.charla 001 Begoña :Welcome to Charla, Begoña!~bego@127\.0\.0\.1$")
    client.expect(r"^:test\.charla 002 Begoña ")
    client.expect(r"^:test\.charla 003 Begoña ")
    client.expect(r"^:test\.charla 004 Begoña test\.charla \S+ [a-z]+ [a-zA-Z]+ :?[a-zA-Z]+$")
    isupport = client.expect(r"^:test\.charla 005 Begoña (.*) :are supported by this server$")
    tokens = dict(token.partition("=")[::2] for token in isupport.group(1).split())
    assert tokens["CHANTYPES"] == "#"
    assert tokens["CASEMAPPING"] == "rfc1459"
    assert tokens["NETWORK"] == "Charla"
    assert int(tokens["NICKLEN"]) >= 9 and int(tokens["CHANNELLEN"]) >= 10
    client.expect(r" 375 Begoña ")
    client.expect(r" 372 Begoña :- Welcome to Charla")
    client.expect(r" 376 Begoña ")


def test_isupport_keeps_to_15_parameters_a_line_and_offers_elist(connect):
    """RFC 2812 2.3.1: at most 15 parameters; the tokens go on as many 005 lines as that
    takes (Modern IRC RPL_ISUPPORT)."""
    client = connect()
    client.send("NICK ana")
    client.send("USER ana 0 * :Ana")
    client.expect(r" 376 ana ")
    lines = [line for line in client.lines if " 005 " in line]
    tokens = []
    for line in lines:
        params = line.partition(" 005 ")[2].partition(" :")[0].split()
        assert len(params) + 1 <= 15  # the nick, the tokens and the closing text
        tokens += params[1:]
    assert "ELIST=MNU" in tokens
    assert len(tokens) == len(set(tokens)) > 13


def test_cap_negotiation_holds_registration_until_cap_end(connect):
    client = connect()
    client.send("CAP LS 302")
    offered = client.expect(r"^:test\.charla CAP \* LS :(.*)$").group(1).split()
    assert {"server-time", "message-tags", "charla.chat/session"} <= set(offered)
    client.send("NICK ana")
    client.send("USER ana 0 * :Ana")
    client.send("CAP REQ :server-time unknown-cap")
    client.expect(r"CAP \* NAK :server-time unknown-cap$")
    client.send("CAP REQ :server-time")
    client.expect(r"CAP \* ACK :?server-time$")
    assert not any(" 001 " in line for line in client.lines)
    client.send("CAP END")
    client.expect(r" 001 ana ")
    client.send("CAP LIST")
    client.expect(r"CAP ana LIST :?server-time$")
    client.send("CAP BOGUS")
    client.expect(r" 410 ana BOGUS :")


def test_echo_message_sends_the_sender_its_own_messages_as_relayed(connect):
    """IRCv3 echo-message: a client that asked gets its PRIVMSG and NOTICE back, with the
    msgid the others got; one that did not, as before, nothing; a refused one no echo."""
    ana, bea, carla = connect(), connect(), connect("carla")
    ana.register("ana", caps="echo-message message-tags")
    bea.register("bea", caps="message-tags")
    ana.join("#a")
    bea.join("#a")
    bea.sync()
    ana.send("PRIVMSG #a :hola")
    echo = ana.expect(r"^@\S*msgid=([^; ]+)\S* :ana!\S+ PRIVMSG #a :hola$")
    bea.expect(rf"^@\S*msgid={re.escape(echo.group(1))}\S* :ana!\S+ PRIVMSG #a :hola$")
    ana.send("NOTICE carla :aviso")
    ana.expect(r":ana!\S+ NOTICE carla :aviso$")
    carla.expect(r"^:ana!\S+ NOTICE carla :aviso$")
    bea.send("PRIVMSG #a :y yo")
    ana.expect(r":bea!\S+ PRIVMSG #a :y yo$")
    assert not any("y yo" in line for line in bea.sync())
    ana.send("MODE #a +m")
    ana.sync()
    carla.join("#a")
    carla.send("CAP REQ echo-message")
    carla.expect(r"CAP carla ACK :?echo-message$")
    carla.send("PRIVMSG #a :no me oyen")
    carla.expect(r" 404 carla #a :")
    assert not any("no me oyen" in line for line in carla.sync())


def test_server_time_tag_only_for_clients_that_asked(connect):
    timed, plain = connect(), connect("plain")
    timed.register("timed", caps="server-time")
    timed.join("#t")
    plain.join("#t")
    plain.send("PRIVMSG #t :hola")
    timed.expect(
        r"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :plain!~plain@\S+ PRIVMSG #t :?hola$"
    )
    timed.send("PRIVMSG #t :adiós")
    plain.expect(r"^:timed!~timed@\S+ PRIVMSG #t :?adiós$")


def test_commands_before_registration_get_451_but_ping_is_answered(connect):
    client = connect()
    client.send("JOIN #general")
    client.expect(r" 451 \* :You have not registered")
    client.send("PING before")
    client.expect(r"^:test\.charla PONG test\.charla :?before$")


@pytest.mark.parametrize(
    ("line", "numeric"),
    [("NICK", "431"), ("NICK 9lives", "432"), ("NICK a,b", "432"), ("NICK *", "432")],
)
def test_bad_nicknames_are_refused_with_their_numeric(connect, line, numeric):
    client = connect()
    client.send(line)
    client.send("USER u 0 * :U")
    client.expect(rf" {numeric} \* ")
    client.send("NICK fine")
    client.expect(r" 001 fine ")


def test_nickname_in_use_and_case_insensitive(connect):
    connect("Ñandú")
    other = connect()
    other.send("NICK ñANDÚ")
    other.send("USER u 0 * :U")
    other.expect(r" 433 \* ñANDÚ :Nickname is already in use")
    other.send("NICK ñandu2")
    other.expect(r" 001 ñandu2 ")


def test_two_unregistered_clients_racing_for_one_nick(connect):
    first, second = connect(), connect()
    first.send("NICK twin")
    second.send("NICK twin")
    first.send("USER a 0 * :A")
    second.send("USER b 0 * :B")
    first.expect(r" (001|433) ")
    second.expect(r" (001|433) ")
    welcomed = [c for c in (first, second) if any(" 001 " in line for line in c.lines)]
    assert len(welcomed) == 1


def test_password_required(start_server, connect):
    server = start_server(password="s3cret")
    good = connect(port=server.port)
    good.register("good", password="s3cret")
    bad = connect(port=server.port)
    bad.send("PASS wrong")
    bad.send("NICK bad")
    bad.send("USER bad 0 * :Bad")
    lines = bad.expect_closed()
    assert any(" 464 " in line for line in lines)
    assert any(line.startswith("ERROR :") for line in lines)
    assert not any(" 001 " in line for line in lines)
    missing = connect(port=server.port)
    missing.send("NICK nopass")
    missing.send("USER nopass 0 * :No")
    assert any("needs a password" in line for line in missing.expect_closed())


def test_no_password_is_asked_for_and_is_not_a_wrong_guess(start_server, connect):
    """A client that gives no PASS (a web page or a window that does not know yet there is
    a password) is told one is needed, and coming back with the right one works at once:
    it made no guess, so its address is not slowed down."""
    server = start_server(password="s3cret")
    for _ in range(3):
        missing = connect(port=server.port)
        missing.send("NICK nopass")
        missing.send("USER nopass 0 * :No")
        lines = missing.expect_closed()
        assert any(" 464 " in line and "needs a password" in line for line in lines)
    good = connect(port=server.port)
    good.register("good", password="s3cret")  # not "Too many wrong passwords"


def test_guessing_the_password_is_slow_and_says_nothing_about_who_is_here(start_server, connect):
    """A wrong password locks the address out (1 s, then 2, 4 … up to a minute): every try
    meanwhile is told to wait, right or not. And before the password, a taken nick is not
    told apart from a free one."""
    server = start_server(password="s3cret")
    connect(port=server.port).register("lucia", password="s3cret")
    spy = connect(port=server.port)
    spy.send("NICK lucia")  # is she here? no PASS yet
    spy.send("PING still-here")
    spy.expect(r"PONG \S+ :?still-here$")
    assert not any(" 433 " in line for line in spy.lines)
    answers = []
    for guess in ("1234", "0000", "s3cret"):
        guesser = connect(port=server.port)
        guesser.send(f"PASS {guess}")
        guesser.send("NICK guess")
        guesser.send("USER g 0 * :g")
        answers += [line for line in guesser.expect_closed() if " 464 " in line]
    assert answers[0].endswith("Password incorrect")
    assert all("Too many wrong passwords from your address" in line for line in answers[1:])


def test_reregistration_and_missing_params(connect):
    client = connect("ana")
    client.send("USER again 0 * :Again")
    client.expect(r" 462 ana :")
    client.send("PRIVMSG")
    client.expect(r" 411 ana :")
    client.send("PRIVMSG #general")
    client.expect(r" 412 ana :")
    client.send("JOIN")
    client.expect(r" 461 ana JOIN :")
    client.send("FROBNICATE now")
    client.expect(r" 421 ana FROBNICATE :Unknown command")


def test_ping_is_answered_in_order_with_other_replies(connect):
    client = connect("ana")
    client.send("PING first")
    client.send("FOO")
    client.send("PING second")
    client.expect(r"PONG test\.charla :?first$")
    client.expect(r" 421 ana FOO ")
    client.expect(r"PONG test\.charla :?second$")
    client.send("PING")
    client.expect(r" 461 ana PING ")


def test_channel_message_reaches_everyone_but_the_sender(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    for client in (ana, bea, carla):
        client.join("#general")
    ana.send("PRIVMSG #general :¿Quién ha hecho los deberes? 📚")
    bea.expect(r"^:ana!~ana@127\.0\.0\.1 PRIVMSG #general :¿Quién ha hecho los deberes\? 📚$")
    carla.expect(r"^:ana!~ana@127\.0\.0\.1 PRIVMSG #general :¿Quién ha hecho los deberes\? 📚$")
    assert not any("PRIVMSG" in line for line in ana.sync())


def test_join_reply_order_topic_and_names(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.send("JOIN #clase")
    ana.expect(r"^:ana!~ana@127\.0\.0\.1 JOIN :?#clase$")
    ana.expect(r" 353 ana = #clase :@ana$")  # who opens a channel is its operator
    ana.expect(r" 366 ana #clase :")
    ana.send("TOPIC #clase :Examen el lunes")
    ana.expect(r"^:ana!\S+ TOPIC #clase :Examen el lunes$")
    bea.send("JOIN #CLASE")
    bea.expect(r"^:bea!\S+ JOIN :?#clase$")
    bea.expect(r" 332 bea #clase :Examen el lunes$")
    bea.expect(r" 333 bea #clase ana!\S+ :?\d+$")
    bea.expect(r" 353 bea = #clase :@ana bea$")
    bea.expect(r" 366 bea #clase ")
    ana.expect(r"^:bea!\S+ JOIN :?#clase$")


def test_join_invalid_channel_and_join_zero(connect):
    ana, bea = connect("ana"), connect("bea")
    bea.join("#a")
    ana.send("JOIN #a,nochannel")
    ana.expect(r"JOIN :?#a$")
    ana.expect(r" 403 ana nochannel :")
    ana.send("JOIN 0")
    ana.expect(r"^:ana!\S+ PART #a")
    bea.expect(r"^:ana!\S+ PART #a")


def test_part_with_reason_and_errors(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    bea.send("PART #a :me voy a comer")
    ana.expect(r"^:bea!\S+ PART #a :me voy a comer$")
    bea.expect(r"^:bea!\S+ PART #a :me voy a comer$")
    bea.send("PART #a")
    bea.expect(r" 442 bea #a :")
    bea.send("PART #nowhere")
    bea.expect(r" 403 bea #nowhere :")


def test_topic_queries(connect):
    ana = connect("ana")
    ana.join("#t")
    ana.send("TOPIC #t")
    ana.expect(r" 331 ana #t :")
    ana.send("TOPIC #missing")
    ana.expect(r" 403 ana #missing :")
    ana.send("TOPIC #t :Examen")
    ana.expect(r"TOPIC #t :Examen$")
    ana.send("TOPIC #t :Examen")  # the same again: nothing to tell (Modern IRC)
    ana.send("TOPIC #t :")
    ana.expect(r"TOPIC #t :$")
    assert ana.sync() == []


def test_private_messages_and_errors(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.send("PRIVMSG bea :hola, ¿vienes?")
    bea.expect(r"^:ana!~ana@127\.0\.0\.1 PRIVMSG bea :hola, ¿vienes\?$")
    ana.send("PRIVMSG nadie :hola")
    ana.expect(r" 401 ana nadie :")
    ana.send("PRIVMSG #nochan :hola")
    ana.expect(r" 403 ana #nochan :")
    bea.join("#closed")
    ana.send("PRIVMSG #closed :from outside")
    ana.expect(r" 404 ana #closed :")


def test_notice_never_draws_an_error(connect):
    ana = connect("ana")
    ana.send("NOTICE nadie :hola")
    ana.send("NOTICE #nochan :hola")
    ana.send("NOTICE")
    assert ana.sync() == []


def test_nick_change_is_seen_by_channel_peers_once(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("NICK Ana")
    ana.expect(r"^:ana!\S+ NICK :?Ana$")
    bea.expect(r"^:ana!\S+ NICK :?Ana$")
    ana.send("NICK Ana")
    assert ana.sync() == []
    bea.send("NICK ana")
    bea.expect(r" 433 bea ana :")
    fresh = connect()
    ana.send("NICK anita")
    ana.expect(r"NICK :?anita$")
    fresh.register("Ana")


def test_quit_is_relayed_answered_with_error_and_frees_the_nick(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("QUIT :hasta luego")
    lines = ana.expect_closed()
    assert lines[-1].startswith("ERROR :Closing Link") and "hasta luego" in lines[-1]
    bea.expect(r"^:ana!\S+ QUIT :Quit: hasta luego$")
    again = connect()
    again.register("ana")


def test_names_who_whois_list_mode_lusers(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("NAMES #a")
    ana.expect(r" 353 ana = #a :@ana bea$")
    ana.expect(r" 366 ana #a :")
    ana.send("NAMES #nope")
    ana.expect(r" 366 ana #nope :")
    ana.send("WHO bea")
    ana.expect(r" 352 ana \* ~bea 127\.0\.0\.1 test\.charla bea H :0 Real bea$")
    ana.expect(r" 315 ana bea :")
    ana.send("WHO #a")
    ana.expect(r" 352 ana #a ~ana ")
    ana.expect(r" 352 ana #a ~bea ")
    ana.expect(r" 315 ana #a :")
    ana.send("WHOIS  bea")
    ana.expect(r" 311 ana bea ~bea 127\.0\.0\.1 \* :Real bea$")
    ana.expect(r" 318 ana bea :")
    ana.send("LIST")
    ana.expect(r" 322 ana #a 2 :")
    ana.expect(r" 323 ana :")
    ana.send("MODE #a")
    ana.expect(r" 324 ana #a :?\+nt$")
    ana.send("MODE ana")
    ana.expect(r" 221 ana :?\+")
    ana.send("LUSERS")
    ana.expect(r" 251 ana :There are 2 users and 0 invisible on 1 servers$")


def test_kick_is_for_channel_operators_only(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    bea.send("KICK #a ana :fuera")
    bea.expect(r" 482 bea #a :")
    bea.send("KICK #nope ana")
    bea.expect(r" 403 bea #nope :")
    assert not any("KICK" in line for line in ana.sync())


def test_relayed_line_that_would_pass_512_bytes_gets_417_not_a_cut(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    text = "x" * (510 - len("PRIVMSG #a :"))
    ana.send(f"PRIVMSG #a :{text}")
    ana.expect(r" 417 ana :")
    assert not any("PRIVMSG" in line for line in bea.sync())


def test_tag_data_over_4094_bytes_gets_417_and_is_not_relayed(connect):
    """IRCv3 message-tags: a client's tag data is at most 4094 bytes; a line with more is
    answered 417 and not carried out (irctest messages.TagsTestCase.testLineTooLong)."""
    ana, bea = connect(), connect()
    ana.register("ana", caps="message-tags")
    bea.register("bea", caps="message-tags")
    ana.join("#a")
    bea.join("#a")
    ana.sync()
    at_limit = "+x=" + "a" * (4094 - len("+x="))
    ana.send(f"@{at_limit} PRIVMSG #a :fits")
    bea.expect(r"PRIVMSG #a :fits$")
    ana.send(f"@{at_limit}a PRIVMSG #a :too much")
    ana.expect(r" 417 ana :")
    assert not any("too much" in line for line in bea.sync())


def test_ipv6_loopback_clients_get_a_parseable_host(start_server, connect):
    server = start_server(host="::1")
    client = IrcClient(server.port, host="::1")
    try:
        client.register("seis")
        client.send("WHOIS seis")
        client.expect(r" 311 seis seis ~seis 0::1 \* :Real seis$")
    finally:
        client.close()


def test_notice_is_relayed_as_a_notice(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("NOTICE #a :recordad traer el libro")
    bea.expect(r"^:ana!~ana@127\.0\.0\.1 NOTICE #a :recordad traer el libro$")
    ana.send("NOTICE bea :solo para ti")
    bea.expect(r"^:ana!~ana@127\.0\.0\.1 NOTICE bea :solo para ti$")


@pytest.mark.parametrize("nick", ["Ana", "Begoña", "ÑANDÚ"])
def test_quit_frees_a_nick_with_capitals_and_accents(connect, nick):
    first = connect(nick)
    first.send("QUIT")
    first.expect_closed()
    connect().register(nick)


def charla_client(connect, token: str, nick: str) -> IrcClient:
    """A raw client that proves its Charla session ``token`` while registering as ``nick``."""
    client = connect()
    client.send("CAP LS 302")
    client.send("CAP REQ :charla.chat/session")
    client.send(f"SESSION {token}")
    client.send(f"NICK {nick}")
    client.send(f"USER {nick} 0 * :{nick}")
    client.send("CAP END")
    return client


def test_reconnecting_client_takes_its_nick_from_its_half_open_ghost(connect):
    watcher = connect("watcher")
    watcher.join("#general")
    ghost = charla_client(connect, "a1b2c3d4e5f6a7b8c9d0", "ana")
    ghost.expect(r" 001 ana ")
    ghost.join("#general")
    watcher.expect(r"^:ana!\S+ JOIN :?#general$")
    # The first connection stays open and silent, as a dead Wi-Fi link leaves it: the
    # server still holds the nick for it when the same client comes back.
    again = charla_client(connect, "a1b2c3d4e5f6a7b8c9d0", "ana")
    again.expect(r" 001 ana ")
    ghost.expect(r"^ERROR :Closing Link: \S+ \(Reconnected\)$")
    watcher.expect(r"^:ana!\S+ QUIT :?Reconnected$")
    impostor = charla_client(connect, "0" * 20, "ana")  # another client's token is no proof
    impostor.expect(r" 433 \* ana ")


def test_a_message_number_that_is_not_a_number_is_ignored_not_fatal(connect):
    """``²`` passes ``str.isdigit`` but not ``int``, and 2**64 does not fit the database:
    the message is relayed all the same, the sender stays, and nothing is logged as a bug."""
    ana, bea = connect(), connect("bea")
    bea.join("#a")
    ana.register("ana", session="b2" * 16)
    ana.join("#a")
    for number in ("²", str(2**64), "-3", "7"):
        ana.send(f"@charla.chat/seq={number} PRIVMSG #a :número {number}")
    for number in ("²", str(2**64), "-3", "7"):
        bea.expect(rf"PRIVMSG #a :número {re.escape(number)}$")
    assert ana.sync() == []


@pytest.mark.parametrize(
    ("impostor", "numeric"),
    [
        ("TERE", "433"),  # case
        ("ＴＥＲＥ", "432"),  # fullwidth letters
        ("𝐓ere", "432"),  # mathematical bold P
        ("Tеre", "432"),  # Cyrillic е among Latin letters
        ("Tere\u3164", "432"),  # an invisible Hangul filler after it
        ("\u3164", "432"),  # a blank-looking nick
        ("Tere\u200b", "432"),  # a zero-width space
    ],
)
def test_a_look_alike_of_a_taken_nick_is_not_a_new_nick(connect, impostor, numeric):
    connect("Tere")
    student = connect()
    student.send(f"NICK {impostor}")
    student.expect(rf" {numeric} \* ")


def test_a_name_in_another_script_that_looks_the_same_is_taken_too(start_server):
    server = start_server(server_name="charla")
    poca, room = IrcClient(server.port), IrcClient(server.port)
    try:
        poca.register("POCA")
        room.send("NICK РОСА")  # all Cyrillic: Р О С А
        room.expect(r" 433 \* РОСА ")
        room.send("NICK charIa")  # the server's own name, with a capital I for the l
        room.expect(r" 432 \* charIa ")
        room.send("NICK Begon\u0303a")  # n + combining tilde: kept as the one ñ
        room.send("USER b 0 * :Begoña")
        room.expect(" 001 Begoña ")
    finally:
        poca.close()
        room.close()


# -- a character no line can carry (issue 13, defect 1) -----------------------------------


def test_a_cr_inside_a_topic_is_refused_and_nobody_is_locked_out_of_the_channel(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#clase")
    ana.send("TOPIC #clase :Bienvenidos\rclase de hoy")
    ana.expect(r"^:test\.charla 400 ana TOPIC :")
    assert not any("TOPIC" in line for line in ana.sync())
    bea.join("#clase")  # a later joiner, who used to be dropped by the topic reply
    bea.send("TOPIC #clase")
    bea.expect(r" 331 bea #clase :")
    bea.send("LIST")
    bea.expect(r" 322 bea #clase 2 :$")
    bea.expect(r" 323 bea :")
    ana.expect(r"^:bea!\S+ JOIN :?#clase$")
    ana.send("TOPIC #clase :Bienvenidos")
    bea.expect(r"^:ana!\S+ TOPIC #clase :Bienvenidos$")


def test_a_cr_inside_a_realname_is_refused_and_who_and_whois_still_answer(connect):
    ana = connect("ana")
    ana.join("#general")
    mallory = connect()
    mallory.send("NICK mallory")
    mallory.send("USER m 0 * :Mal\rlory")
    mallory.expect(r" 400 \* USER :")
    mallory.send("USER m 0 * :Mallory")
    mallory.expect(r" 001 mallory ")
    mallory.join("#general")
    for query in ("WHO #general", "WHO *", "WHOIS mallory"):
        ana.send(query)
    ana.expect(r" 352 ana #general ~m \S+ \S+ mallory H :0 Mallory$")
    ana.expect(r" 315 ana #general :")
    ana.expect(r" 352 ana \* ~m \S+ \S+ mallory H :0 Mallory$")
    ana.expect(r" 311 ana mallory ~m \S+ \* :Mallory$")
    ana.expect(r" 318 ana mallory :")


def test_a_cr_inside_a_quit_or_part_reason_leaves_no_ghost(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    for client in (ana, bea, carla):
        client.join("#a")
    bea.send("PART #a :me voy\ra comer")
    bea.expect(r" 400 bea PART :")
    ana.send("NAMES #a")
    ana.expect(r" 353 ana = #a :@ana bea carla$")
    bea.send("PART #a :me voy")
    ana.expect(r"^:bea!\S+ PART #a :me voy$")
    carla.send("QUIT :adiós\r:ana!~ana@127.0.0.1 PRIVMSG #a :fake")
    assert carla.expect_closed()[-1].startswith("ERROR :Closing Link")
    ana.expect(r"^:carla!\S+ QUIT :?Quit$")
    ana.send("NAMES #a")
    ana.expect(r" 353 ana = #a :@ana$")


def test_a_cr_inside_a_message_is_refused_whole_not_cut(connect):
    """PRIVMSG text, a client-only tag's key or a target: a bare CR anywhere in the line
    gets 400 for that line (a NOTICE gets no reply), nothing of it is relayed, nothing is
    logged as a bug, and the sender goes on chatting."""
    ana, bea = connect(), connect("bea")
    ana.register("ana", caps="message-tags")
    for client in (ana, bea):
        client.join("#a")
    ana.send("PRIVMSG #a :hola\rQUIT :adiós")
    ana.expect(r"^:test\.charla 400 ana PRIVMSG :")
    ana.send("PRIVMSG bea :privado\r")
    ana.expect(r" 400 ana PRIVMSG :")
    ana.send("@+x\ry=1 PRIVMSG #a :tag")
    ana.expect(r" 400 ana PRIVMSG :")
    ana.send("PRIVMSG #a\r :target")
    ana.expect(r" 400 ana PRIVMSG :")
    ana.send("NOTICE #a :aviso\rroto")
    assert ana.sync() == []
    ana.send("PRIVMSG #a :hola")
    bea.expect(r"^:ana!\S+ PRIVMSG #a :hola$")
    assert not any(
        "\r" in line or "tag" in line or "privado" in line or "aviso" in line for line in bea.sync()
    )


def test_client_tags_are_relayed_only_with_proper_names_and_printable_values(connect):
    """A tag name with an escape sequence, a space or a non-ASCII letter is not relayed
    (the message is); a value's control characters reach nobody raw."""
    ana, bea = connect(), connect()
    ana.register("ana", caps="message-tags")
    bea.register("bea", caps="message-tags")
    for client in (ana, bea):
        client.join("#a")
    ana.send("@+draft/react=👍;+\x1b]0;pwned\x07=1;+ñ=2;+ok-1=\x1b[2Jx PRIVMSG #a :hola")
    line = bea.expect(r"PRIVMSG #a :hola$").string
    tags = dict(item.partition("=")[::2] for item in line[1:].split(" ")[0].split(";"))
    assert tags["+draft/react"] == "👍"
    assert tags["+ok-1"] == "␛[2Jx"
    assert not any(key.startswith(("+\x1b", "+ñ")) for key in tags)
    assert "\x1b" not in line
    many = ";".join(f"+t{number}={number}" for number in range(300))
    ana.send(f"@{many} PRIVMSG #a :muchas")
    line = bea.expect(r"PRIVMSG #a :muchas$").string
    assert line.count("+t") == MAX_CLIENT_TAGS


def test_a_reply_that_cannot_be_formatted_costs_nobody_their_connection(connect, server, caplog):
    """Were a bad topic to get in anyway (here through ``Rooms`` itself, under the checks
    of what arrives), the replies that cannot carry it are a bug, logged, left out, and
    every member, joiner and asker stays connected; the members it can be shown to (a
    person at nc, who gets it after the IRC member it failed for) still see it."""
    ana = connect("ana")
    ana.join("#general")
    pepe = connect(plain=True)
    pepe.send("pepe")
    pepe.expect(r"^\*\*\* Type a message")
    rooms = server.rooms
    rooms.make_teacher(server.find_session("ana"))  # #general's topic is for teachers (+t)
    rooms.set_topic(server.find_session("ana"), rooms.find_channel("#general"), "roto\rtopic")
    pepe.expect(r"\* ana set the topic: roto")
    joiners = [connect(nick) for nick in ("bea", "carla", "dani")]
    for joiner in joiners:
        joiner.send("JOIN #general")
        joiner.expect(r" 366 \S+ #general :")
        joiner.send("TOPIC #general")
        joiner.send("LIST")
        joiner.expect(r" 323 \S+ :")
    for client in (ana, *joiners):
        client.sync()  # still connected
    bugs = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(bugs) <= 2  # once for the replies, once for the relay: not once per reply
    caplog.clear()  # the bugs this test provoked on purpose


# -- a protocol error is a numeric, never a traceback (issue 13, defect 7) ----------------

#: lines that used to end their sender with a traceback, and the numeric each gets now
MALFORMED_LINES = [
    ("NICK :a b", "432"),
    ("NICK ::x", "432"),
    ("CAP :a b", "410"),
    ("CAP REQ :\rx", "400"),
    ("USER a\rb 0 * :r", "400"),
    ("JOIN :a b", "403"),
    ("JOIN :,", "403"),
    ("JOIN #ok,::x", "403"),
    ("PART :a b", "403"),
    ("NAMES ::x", "366"),
    ("NAMES :,", "366"),
    ("TOPIC :a b", "403"),
    ("KICK x\r y", "400"),
    ("MODE ::x", "401"),
    ("MODE : #a", "401"),
    ("WHO ::x", "315"),
    ("WHO :a b", "315"),
    ("WHOIS ::x", "401"),
    ("PRIVMSG ,x :hola", "401"),
    ("PRIVMSG :a b", "412"),
    ("FOO\r", "400"),
    ("SESSION :a b", "421"),
]


def test_malformed_lines_get_numerics_from_several_connections_while_a_pair_chats(connect):
    """Each line is answered with its numeric (a word that cannot be echoed as it came is
    echoed as ``*``), the connections stay, nothing is logged as a bug (the autouse
    fixture fails the test on any ERROR), and the honest pair loses nothing."""
    ana, bea = connect("ana"), connect("bea")
    ana.join("#general")
    bea.join("#general")
    mallories = [connect(f"mallory{number}") for number in range(3)]
    for round_number, mallory in enumerate(mallories):
        for line, numeric in MALFORMED_LINES:
            mallory.send(line)
            replies = mallory.sync()
            assert any(
                reply.startswith(f":test.charla {numeric} {mallory.nick} ") for reply in replies
            ), (line, replies)
        ana.send(f"PRIVMSG #general :ronda {round_number}")
        bea.expect(rf"^:ana!\S+ PRIVMSG #general :ronda {round_number}$")
        bea.send(f"PRIVMSG ana :vale {round_number}")
        ana.expect(rf"^:bea!\S+ PRIVMSG ana :vale {round_number}$")
    for client in (ana, bea, *mallories):
        client.sync()


def test_a_word_that_cannot_be_echoed_is_echoed_as_a_star(connect):
    ana = connect("ana")
    ana.send("JOIN #ok,::x")
    ana.expect(r"^:ana!\S+ JOIN :?#ok$")
    ana.expect(r"^:test\.charla 403 ana \* :No such channel$")
    ana.send("NICK :a b")
    ana.expect(r"^:test\.charla 432 ana \* :Erroneous nickname$")


# -- repeated targets (issue 13, defect 5) ------------------------------------------------


def test_a_target_repeated_fifty_times_gets_the_message_once(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#general")
    bea.join("#general")
    channel_targets = ",".join(["#general", "#GENERAL"] * 25)
    ana.send(f"PRIVMSG {channel_targets} :una vez")
    private_targets = ",".join(["bea", "BEA"] * 25)
    ana.send(f"PRIVMSG {private_targets} :solo una")
    ana.send(f"NOTICE {private_targets} :aviso")
    bea.expect(r"^:ana!\S+ NOTICE bea :aviso$")
    said = [line for line in bea.lines if " PRIVMSG " in line or " NOTICE " in line]
    assert said == [
        ":ana!~ana@127.0.0.1 PRIVMSG #general :una vez",
        ":ana!~ana@127.0.0.1 PRIVMSG bea :solo una",
        ":ana!~ana@127.0.0.1 NOTICE bea :aviso",
    ]
    assert not any(" 407 " in line for line in ana.sync())  # repeats are not extra targets


def test_targets_past_targmax_get_407_and_nothing(connect):
    ana = connect()
    ana.send("NICK ana")
    ana.send("USER ana 0 * :Ana")
    ana.expect(r" 376 ana ")
    isupport = " ".join(
        line.partition(" 005 ana ")[2].partition(" :")[0] for line in ana.lines if " 005 " in line
    )
    assert "TARGMAX=KICK:4,NAMES:4,NOTICE:4,PRIVMSG:4,WHOWAS:4" in isupport.split()
    friends = [connect(nick) for nick in ("bea", "carla", "dani", "eva", "fede")]
    ana.send("PRIVMSG bea,carla,dani,eva,fede,bea :hola a todos")
    ana.expect(r"^:test\.charla 407 ana fede :Too many recipients\. Only 4 processed$")
    for friend in friends[:4]:
        friend.expect(rf"^:ana!\S+ PRIVMSG {friend.nick} :hola a todos$")
    assert not any("hola" in line for line in friends[4].sync())
    ana.send("NOTICE bea,carla,dani,eva,fede :aviso")  # a NOTICE draws no error reply
    friends[3].expect(r"^:ana!\S+ NOTICE eva :aviso$")
    assert ana.sync() == []
    assert not any("aviso" in line for line in friends[4].sync())


def test_list_by_mask_not_mask_and_member_count(connect):
    """ISUPPORT ELIST=MNU (Modern IRC): ``LIST *an1``, ``LIST !*an1``, ``LIST >1``, and
    a plain name as before."""
    ana, bea = connect("ana"), connect("bea")
    for channel in ("#chan1", "#chan2", "#otra"):
        ana.join(channel)
    bea.join("#chan2")
    ana.sync()

    def listed(term: str) -> set[str]:
        ana.send(f"LIST {term}")
        return {line.split()[3] for line in ana.sync() if " 322 " in line}

    assert listed("*an1") == {"#chan1"}
    assert listed("#CH*") == {"#chan1", "#chan2"}
    assert listed("!#ch*") == {"#otra"}  # the default channel, empty, is not listed...
    assert listed("#general") == {"#general"}  # ...unless asked for by name
    assert listed(">1") == {"#chan2"}
    assert listed("<2") == {"#chan1", "#otra"}
    assert listed("#ch*,>1") == {"#chan2"}
    assert listed("#otra") == {"#otra"}
    assert listed("#nope") == set()
    assert listed("*" * 60 + ",#otra") == {"#otra"}  # longer than any name: not tried
    assert listed("#o*,#x*,#y*,#z*,#c*") == {"#otra"}  # the fifth mask is not tried
    bea.join("#general")
    assert listed("") == {"#chan1", "#chan2", "#otra", "#general"}


def test_whox_gives_the_fields_asked_for_in_their_order_with_the_token(connect):
    """IRCv3 whox: ``WHO <mask> %<fields>,<token>`` answers 354 with those fields, in the
    order ``t c u i h s n f d l a o r`` whatever order they were asked in."""
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    bea.sync()
    bea.send("WHO ana %rnt,42")
    assert bea.sync() == [
        ":test.charla 354 bea 42 ana :Real ana",
        ":test.charla 315 bea ana :End of /WHO list",
    ]
    bea.send("WHO #a %tcuihsnfdlaor,1234")  # a token has at most 3 digits: "0"
    replies = bea.sync()
    assert replies[0].split(" ", 3)[3] == (
        "0 #a ~ana 127.0.0.1 127.0.0.1 test.charla ana H@ 0 0 0 n/a :Real ana"
    )
    assert replies[-1] == ":test.charla 315 bea #a :End of /WHO list"


def test_kick_several_nicks_with_one_channel_or_one_channel_each(connect):
    """RFC 2812 3.2.8: one channel and several nicks, or as many channels as nicks; one
    KICK line per nick (irctest kick.py testDoubleKickMessages)."""
    ana, bea, carla, dani = (connect(nick) for nick in ("ana", "bea", "carla", "dani"))
    for client in (ana, bea, carla, dani):
        client.join("#a")
    ana.sync()
    ana.send("KICK #a,#a bea,carla :fuera")
    dani.expect(r"^:ana!\S+ KICK #a bea :fuera$")
    dani.expect(r"^:ana!\S+ KICK #a carla :fuera$")
    ana.send("KICK #a,#b dani :fuera")  # two channels, one nick: neither form
    ana.expect(r"^:test\.charla 461 ana KICK :")
    assert not any("KICK" in line for line in dani.sync())


def test_names_of_several_channels_ends_with_one_366(connect):
    """353 lines of each channel, then one 366 naming the parameter as given; a channel
    that does not exist adds nothing (Modern IRC NAMES; irctest names.py)."""
    ana = connect("ana")
    ana.join("#a")
    ana.join("#b")
    ana.sync()
    ana.send("NAMES #a,#nope,#b")
    assert ana.sync() == [
        ":test.charla 353 ana = #a :@ana",
        ":test.charla 353 ana = #b :@ana",
        ":test.charla 366 ana #a,#nope,#b :End of /NAMES list",
    ]


def test_whowas_of_several_nicks_newest_first_and_one_369(connect):
    ana = connect("ana")
    for nick in ("bea", "carla"):
        gone = connect(nick)
        gone.send("QUIT :adiós")
        gone.expect(r"^ERROR ")
    ana.send("WHOWAS bea,nadie,carla")
    replies = ana.sync()
    assert [line.split()[1:4] for line in replies] == [
        ["406", "ana", "nadie"],
        ["314", "ana", "carla"],
        ["312", "ana", "carla"],
        ["314", "ana", "bea"],
        ["312", "ana", "bea"],
        ["369", "ana", "bea,nadie,carla"],
    ]


def test_each_target_past_the_first_costs_a_line_of_flood_allowance(start_server, connect):
    """With an allowance of 7 lines and almost no refill: NICK and USER take 2, a message
    to four people takes 4, so of two PINGs sent with it only the first is answered; the
    second waits for a token that would take minutes to come (without the charge, 4 lines
    would be left and both PINGs answered in the same batch)."""
    server = start_server(flood_burst=7, flood_rate=0.01)
    friends = [connect(nick, port=server.port) for nick in ("bea", "carla", "dani", "eva")]
    ana = connect("ana", port=server.port)  # register() sends NICK and USER: 2 lines
    ana.send_raw(b"PRIVMSG bea,carla,dani,eva :hola\r\nPING first\r\nPING second\r\n")
    for friend in friends:
        friend.expect(rf"^:ana!\S+ PRIVMSG {friend.nick} :hola$")
    ana.expect(r"PONG \S+ :first$")
    server.shutdown()
    ana.expect_closed()
    assert not any("second" in line for line in ana.lines)


def test_chanlimit_is_announced_and_a_join_past_it_gets_405_for_each_channel(connect):
    client = connect()
    client.send("NICK ana")
    client.send("USER ana 0 * :ana")
    isupport = client.expect(r" 005 ana (.*) :are supported by this server$")
    assert "CHANLIMIT=#:30" in isupport.group(1).split()
    client.expect(r" 372 ana :- You may be in up to 30 channels at once\.$")
    client.expect(r" 376 ana ")
    names = [f"#c{number}" for number in range(35)]
    client.send("JOIN " + ",".join(names))  # one line of 35 channels
    for name in names[:30]:
        client.expect(rf"^:ana!\S+ JOIN :?{name}$")
    for name in names[30:]:
        client.expect(rf" 405 ana {name} :You have joined too many channels$")
    client.send("JOIN #otro")
    client.expect(r" 405 ana #otro :")
    client.send("PART #c0")
    client.join("#otro")  # a place freed is a place to take; the connection was kept


def test_the_server_holds_at_most_max_channels_but_existing_ones_can_be_joined(
    start_server, connect
):
    server = start_server(max_channels=3)  # #general and two more
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    ana.send("JOIN #a,#b,#c")
    ana.expect(r"JOIN :?#b$")
    ana.expect(r" 405 ana #c :The server has too many channels \(3\): join one that exists$")
    bea.join("#a")
    bea.join("#general")
    bea.send("JOIN #d")
    bea.expect(r" 405 bea #d :The server has too many channels")


def test_one_address_opens_at_most_channels_per_address(start_server, connect):
    """Two connections of one student cannot open more than their address's share; the
    channels opened can still be joined by them and by everybody else."""
    server = start_server(channels_per_address=2)
    ana, mallory = connect("ana", port=server.port), connect("mallory", port=server.port)
    mallory.send("JOIN #a,#b")
    mallory.expect(r"JOIN :?#b$")
    ana.send("JOIN #c,#a")
    ana.expect(r" 405 ana #c :Too many channels were opened from your address \(2\): join one")
    ana.expect(r"JOIN :?#a$")


def test_each_channel_past_the_first_of_a_join_costs_a_line_of_flood_allowance(
    start_server, connect
):
    """With an allowance of 8 lines and almost no refill: NICK and USER take 2, a JOIN of
    five channels takes 5, so of two PINGs sent with it only the first is answered."""
    server = start_server(flood_burst=8, flood_rate=0.01)
    ana = connect("ana", port=server.port)
    ana.send_raw(b"JOIN #a,#b,#c,#d,#e\r\nPING first\r\nPING second\r\n")
    ana.expect(r"JOIN :?#e$")
    ana.expect(r"PONG \S+ :first$")
    server.shutdown()
    ana.expect_closed()
    assert not any("second" in line for line in ana.lines)


def test_lines_resent_after_a_reconnect_do_not_spend_the_flood_allowance_again(server, connect):
    """A Charla client whose 1,000 lines were relayed, but not confirmed before its link
    dropped, sends them all again: each is dropped as already relayed, and costs a
    twentieth of a line, so the client is not cut off for Excess Flood (the gate holds at
    most 1,000 lines) and its next new lines go through at once, not 96 s later."""
    token = "c3" * 16
    bea = connect("bea")
    bea.join("#a")
    for seq in range(1, 1001):  # what relaying them the first time noted
        assert server.rooms.first_delivery(session_alias(token), seq)
    ana = connect()
    ana.register("ana", session=token)
    ana.join("#a")
    text = "x" * 300
    ana.send_raw(
        b"".join(
            f"@charla.chat/seq={n} PRIVMSG #a :{n} {text}\r\n".encode() for n in range(1, 1001)
        )
    )
    for n in (1001, 1002, 1003):
        ana.send(f"@charla.chat/seq={n} PRIVMSG #a :nueva {n}")
    for n in (1001, 1002, 1003):
        bea.expect(rf"PRIVMSG #a :nueva {n}$", timeout=5)
    assert not any(text in line for line in bea.lines)  # none was relayed twice
    ana.send("PING still")
    ana.expect(r"PONG \S+ :still$")


def _said_in(reader: IrcClient, channel: str, text: str) -> str:
    """The msgid ``reader`` (with message-tags) saw on ``text`` said in ``channel``."""
    match = reader.expect(rf"^@\S*msgid=([^; ]+)\S* :\S+ PRIVMSG {channel} :{re.escape(text)}$")
    return match.group(1)


def test_the_author_deletes_a_message_and_everyone_sees_it_go(connect):
    ana = connect("ana")
    bea = connect()
    bea.register("bea", caps="message-tags draft/message-redaction")
    cara = connect("cara")  # an IRC client without the capability
    for client in (ana, bea, cara):
        client.join("#a")
    ana.send("PRIVMSG #a :tonto el que lo lea")
    ana.send("PRIVMSG #a :perdón")
    msgid = _said_in(bea, "#a", "tonto el que lo lea")
    ana.send(f"REDACT #a {msgid} :me equivoqué")
    bea.expect(rf"^@msgid=\S+ :ana!\S+ REDACT #a {msgid} :me equivoqué$")
    cara.expect(r"^:test\.charla NOTICE #a :ana deleted a message from ana: me equivoqué$")
    assert not any(" FAIL " in line for line in ana.sync())

    late = connect()
    late.register("late", caps="batch message-tags")
    late.send("JOIN #a")
    late.expect(r" 366 late #a ")
    replayed = [line for line in late.sync() if " PRIVMSG #a " in line]
    assert [line.rsplit(" :", 1)[1] for line in replayed] == ["perdón"]


def test_only_its_author_may_delete_a_message(connect):
    ana, bea = connect("ana"), connect()
    bea.register("bea", caps="message-tags")
    for client in (ana, bea):
        client.join("#a")
    ana.send("PRIVMSG #a :mío")
    msgid = _said_in(bea, "#a", "mío")
    bea.send(f"REDACT #a {msgid}")
    bea.expect(rf"^:test\.charla FAIL REDACT REDACT_FORBIDDEN #a {msgid} :")
    bea.send("REDACT #a no-such-id")
    bea.expect(r"^:test\.charla FAIL REDACT UNKNOWN_MSGID #a no-such-id :")
    bea.send(f"REDACT ana {msgid}")
    bea.expect(r"^:test\.charla FAIL REDACT INVALID_TARGET ana :")
    bea.send("REDACT #a")
    bea.expect(r" 461 bea REDACT ")
    late = connect("late")
    late.send("JOIN #a")
    late.expect(r" NOTICE #a :\[\d\d:\d\d\] ana: mío$")  # still there


# -- the standard commands IRC clients send (issue 14) ------------------------------------


def test_away_is_acknowledged_answers_private_messages_and_shows_in_whois_who_userhost(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    ana.send("PRIVMSG bea :¿estás?")
    assert not any(" 301 " in line for line in ana.sync())
    bea.send("AWAY :en clase de 10 a 11 ñ")
    bea.expect(r"^:test\.charla 306 bea :You have been marked as being away$")
    ana.send("PRIVMSG bea :¿estás?")
    ana.expect(r"^:test\.charla 301 ana bea :en clase de 10 a 11 ñ$")
    bea.expect(r"PRIVMSG bea :¿estás\?$")  # delivered all the same
    ana.send("NOTICE bea :aviso")
    assert not any(" 301 " in line for line in ana.sync())  # a NOTICE never draws a reply
    ana.send("WHOIS bea")
    ana.expect(r" 312 ana bea ")
    ana.expect(r"^:test\.charla 301 ana bea :en clase de 10 a 11 ñ$")
    ana.expect(r" 318 ana bea ")
    ana.send("WHO #a")
    ana.expect(r" 352 ana #a ~ana 127\.0\.0\.1 test\.charla ana H@ :0 Real ana$")
    ana.expect(r" 352 ana #a ~bea 127\.0\.0\.1 test\.charla bea G :0 Real bea$")
    ana.send("USERHOST bea ana")
    ana.expect(r"^:test\.charla 302 ana :bea=-~bea@127\.0\.0\.1 ana=\+~ana@127\.0\.0\.1$")
    bea.send("AWAY")
    bea.expect(r"^:test\.charla 305 bea :You are no longer marked as being away$")
    ana.send("PRIVMSG bea :¿y ahora?")
    ana.send("WHOIS bea")
    assert not any(" 301 " in line for line in ana.sync())
    ana.send("WHO bea")
    ana.expect(r" 352 ana \* ~bea \S+ test\.charla bea H ")
    bea.send("AWAY :otra vez")
    bea.expect(r" 306 bea ")
    bea.send("AWAY :")  # an empty message is "back" too
    bea.expect(r" 305 bea ")


def test_away_notify_reaches_only_channel_neighbours_that_asked_and_comes_with_a_join(connect):
    notified, plain, stranger = connect(), connect("plain"), connect()
    notified.register("noti", caps="away-notify")
    stranger.register("stranger", caps="away-notify")
    notified.join("#a")
    plain.join("#a")
    bea = connect("bea")
    bea.join("#a")
    bea.send("AWAY :comiendo")
    notified.expect(r"^:bea!~bea@127\.0\.0\.1 AWAY :?comiendo$")
    bea.send("AWAY")
    notified.expect(r"^:bea!~bea@127\.0\.0\.1 AWAY$")
    assert not any("AWAY" in line for line in plain.sync() + stranger.sync())
    bea.send("AWAY :ya vuelvo")
    bea.expect(r" 306 ")
    stranger.join("#b")
    bea.join("#b")  # joining while away: who asked learns it right after the JOIN
    stranger.expect(r"^:bea!\S+ JOIN :?#b$")
    stranger.expect(r"^:bea!~bea@127\.0\.0\.1 AWAY :ya vuelvo$")


def test_away_notify_is_offered_and_an_away_message_is_cut_to_awaylen_bytes(connect):
    client = connect()
    client.send("CAP LS 302")
    assert "away-notify" in client.expect(r" CAP \* LS :(.*)$").group(1).split()
    client.send("CAP END")
    client.register("ana")
    isupport = " ".join(line for line in client.lines if " 005 " in line)
    awaylen = int(re.search(r" AWAYLEN=(\d+) ", isupport).group(1))
    bea = connect("bea")
    bea.send("AWAY :" + "ñ" * awaylen)
    bea.expect(r" 306 ")
    client.send("WHOIS bea")
    away = client.expect(r" 301 ana bea :(.*)$").group(1)
    assert away == "ñ" * (awaylen // 2)  # bytes, not characters, and never half an ñ


def test_whowas_answers_newest_first_up_to_count_and_says_when_nobody_was(connect):
    ana = connect("ana")
    for ident in ("primera", "segunda"):
        gone = connect()
        gone.send("NICK Bea")
        gone.send(f"USER {ident} 0 * :Bea {ident}")
        gone.expect(r" 001 Bea ")
        gone.send("QUIT :adiós")
        gone.expect_closed()
    ana.send("WHOWAS bea")
    ana.expect(r"^:test\.charla 314 ana Bea ~segunda 127\.0\.0\.1 \* :Bea segunda$")
    when = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}"  # when she left, in digits
    ana.expect(rf"^:test\.charla 312 ana Bea test\.charla :{when}$")
    ana.expect(r" 314 ana Bea ~primera ")
    ana.expect(r" 312 ana Bea ")
    ana.expect(r"^:test\.charla 369 ana bea :End of WHOWAS$")
    for count, expected in (("1", 1), ("2", 2), ("0", 2), ("-1", 2), ("x", 2)):
        ana.send(f"WHOWAS Bea {count}")
        replies = ana.sync()
        assert sum(" 314 " in line for line in replies) == expected, (count, replies)
        assert " 369 " in replies[-1]
    ana.send("NICK ana2")  # a nick left behind by a change counts too
    ana.send("WHOWAS ana")
    ana.expect(r" 314 ana2 ana ~ana 127\.0\.0\.1 \* :Real ana$")
    ana.send("WHOWAS nadie")
    ana.expect(r"^:test\.charla 406 ana2 nadie :There was no such nickname$")
    ana.expect(r"^:test\.charla 369 ana2 nadie :")
    ana.send("WHOWAS b*")  # Modern IRC: no wildcards
    ana.expect(r" 406 ana2 b\* ")
    ana.send("WHOWAS")
    ana.expect(r"^:test\.charla 431 ana2 :No nickname given$")
    assert not any(" 369 " in line for line in ana.sync())


def test_userhost_answers_up_to_five_and_ison_says_who_is_here(connect):
    ana = connect("ana")
    for nick in ("b1", "b2", "b3", "b4", "b5", "b6"):
        connect(nick)
    ana.send("USERHOST nadie b1 B2 b3 b4 b5 b6")
    hosts = ana.expect(r" 302 ana :(.*)$").group(1).split()
    assert [host.split("=")[0] for host in hosts] == ["b1", "b2", "b3", "b4"]
    assert all(host.endswith("=+~" + host.split("=")[0] + "@127.0.0.1") for host in hosts)
    ana.send("USERHOST nadie")
    ana.expect(r"^:test\.charla 302 ana :?$")
    ana.send("USERHOST")
    ana.expect(r" 461 ana USERHOST ")
    ana.send("ISON B1 nadie b6 ANA")
    ana.expect(r"^:test\.charla 303 ana :b1 b6 ana$")
    ana.send("ISON :b2 b3")  # irssi sends them as one trailing parameter
    ana.expect(r"^:test\.charla 303 ana :b2 b3$")
    ana.send("ISON " + " ".join(["b1"] * 160))  # a line full of names: ISON_MAX looked up
    assert ana.expect(r" 303 ana :(.*)$").group(1).split() == ["b1"] * ISON_MAX
    long_nick = "L" * 30
    connect(long_nick)
    ana.send("ISON " + " ".join([long_nick] * 15))  # and the reply stays within one line
    reply = ana.expect(r" 303 ana :(.*)$").group(1)
    assert len(reply.encode()) <= NAMES_PER_LINE_BYTES
    assert reply.split() == [long_nick] * (NAMES_PER_LINE_BYTES // 31)
    ana.send("ISON")
    ana.expect(r" 461 ana ISON ")


def test_time_version_info_and_admin_answer_for_this_server_and_402_for_another(connect):
    ana = connect("ana")
    connect("bea")
    for target in ("", " test.charla", " *.CHARLA", " bea"):
        ana.send("TIME" + target)
        ana.expect(r"^:test\.charla 391 ana test\.charla :\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
    ana.send("VERSION")
    ana.expect(r"^:test\.charla 351 ana charla-\S+ test\.charla :")
    ana.expect(r"^:test\.charla 005 ana .*\bAWAYLEN=\d+ .* :are supported by this server$")
    ana.send("INFO")
    ana.expect(r"^:test\.charla 371 ana :Charla charla-")
    ana.expect(r"^:test\.charla 374 ana :End of INFO list$")
    assert all(" 371 ana :" in line for line in ana.lines[-6:-1])
    ana.send("ADMIN")
    for numeric in ("256 ana test\\.charla", "257 ana", "258 ana", "259 ana"):
        ana.expect(rf"^:test\.charla {numeric} :\S")
    for command in ("TIME", "VERSION", "INFO", "ADMIN", "MOTD"):
        ana.send(f"{command} otro.servidor")
        ana.expect(r"^:test\.charla 402 ana otro\.servidor :No such server$")
    assert not any(" 421 " in line for line in ana.sync())


def test_info_and_admin_speak_the_servers_language(connect):
    from net.i18n import set_language

    set_language("es")  # the autouse fixture sets English back
    ana = connect("ana")
    ana.send("INFO")
    ana.expect(r" 371 ana :Charla charla-\S+: el chat de grupo de una clase")
    ana.send("ADMIN")
    ana.expect(r" 259 ana :No hay dirección de correo")


def test_help_lists_the_commands_explains_one_and_says_so_when_it_cannot(connect):
    ana = connect("ana")
    ana.send("HELP")
    replies = ana.sync()
    assert re.search(r"^:test\.charla 704 ana \* :\S", replies[0])
    assert re.search(r"^:test\.charla 706 ana \* :\S", replies[-1])
    assert all(" 705 ana * :" in line for line in replies[1:-1])
    listed = " ".join(line.partition(" :")[2] for line in replies[1:-1]).split()
    assert {"AWAY", "WHOWAS", "USERHOST", "ISON", "PRIVMSG", "HELP"} <= set(listed)
    ana.send("HELP whowas")
    ana.expect(r"^:test\.charla 704 ana WHOWAS :")
    ana.expect(r"^:test\.charla 705 ana WHOWAS :?$")
    ana.expect(r"^:test\.charla 706 ana WHOWAS :WHOWAS <nick>\[,<nick>\.\.\.\] \[<count>\]$")
    ana.send("HELP nosuchthing")
    ana.expect(r"^:test\.charla 524 ana nosuchthing :")


def test_helpop_is_another_name_for_help(connect):
    """InspIRCd's and UnrealIRCd's name for HELP (irctest help.py runs both)."""
    ana = connect("ana")
    ana.send("HELPOP privmsg")
    ana.expect(r"^:test\.charla 704 ana PRIVMSG :")
    ana.expect(r"^:test\.charla 706 ana PRIVMSG :PRIVMSG ")
    ana.send("HELPOP nosuchthing")
    ana.expect(r"^:test\.charla 524 ana nosuchthing :")


def test_lusers_counts_operators_connections_not_registered_yet_and_the_most_at_once(
    connect, server
):
    ana, bea = connect("ana"), connect("bea")
    ana.send("LUSERS")
    ana.expect(r"^:test\.charla 251 ana :There are 2 users and 0 invisible on 1 servers$")
    ana.expect(r"^:test\.charla 252 ana 0 :")
    ana.expect(r"^:test\.charla 253 ana 0 :")
    ana.expect(r"^:test\.charla 254 ana 1 :")
    ana.expect(r"^:test\.charla 255 ana :I have 2 clients and 0 servers$")
    ana.expect(r"^:test\.charla 265 ana 2 2 :")
    ana.expect(r"^:test\.charla 266 ana 2 2 :")
    waiting = connect()
    waiting.send("NICK todavia")
    waiting.send("PING registering")
    waiting.expect(r"PONG \S+ :?registering$")
    server.find_session("bea").teacher = True  # the MODES branch's to set; only read here
    bea.send("QUIT")
    bea.expect_closed()
    ana.send("LUSERS")
    ana.expect(r" 251 ana :There are 1 users ")
    ana.expect(r" 252 ana 0 ")  # a teacher who left is not counted
    ana.expect(r" 253 ana 1 ")
    ana.expect(r" 265 ana 1 2 :Current local users 1, max 2$")
    ana.expect(r" 266 ana 1 2 :")
    server.find_session("ana").teacher = True
    ana.send("LUSERS")
    ana.expect(r" 252 ana 1 :operator\(s\) online$")


# -- accounts: REGISTER, SASL PLAIN, nick protection, WHOIS 330 -------------------------------

ACCOUNT_PASSWORD = "contraseña de clase"


def plain_answer(account: str, password: str, authzid: str = "") -> str:
    """A SASL PLAIN answer, base64, as a client makes it by hand (RFC 4616)."""
    return base64.b64encode(f"{authzid}\0{account}\0{password}".encode()).decode()


def register_account(client: IrcClient, nick: str, password: str = ACCOUNT_PASSWORD) -> None:
    """REGISTER before connecting (draft/account-registration=before-connect), then finish."""
    client.send("CAP LS 302")
    client.send("CAP REQ :draft/account-registration")
    client.send(f"NICK {nick}")
    client.send(f"REGISTER * * :{password}")
    client.expect(rf"^:test\.charla REGISTER SUCCESS {re.escape(nick)} :")
    client.expect(rf" 900 \* {re.escape(nick)}!\*@\S+ {re.escape(nick)} :You are now logged in")
    client.send(f"USER {nick} 0 * :{nick}")
    client.send("CAP END")
    client.expect(rf" 001 {re.escape(nick)} ")


def sasl_log_in(client: IrcClient, nick: str, answer: str) -> None:
    """CAP REQ sasl, NICK and USER, AUTHENTICATE PLAIN and ``answer``; CAP END is left to
    the caller (registration waits for it)."""
    client.send("CAP LS 302")
    client.send("CAP REQ sasl")
    client.send(f"NICK {nick}")
    client.send(f"USER {nick} 0 * :{nick}")
    client.send("AUTHENTICATE PLAIN")
    client.expect(r"^AUTHENTICATE \+$")
    client.send(f"AUTHENTICATE {answer}")


def test_register_then_log_in_with_sasl_plain_from_a_raw_client(connect, server):
    first = connect()
    first.send("CAP LS 302")
    offered = first.expect(r"^:test\.charla CAP \* LS :(.*)$").group(1).split()
    assert {"sasl=PLAIN", "draft/account-registration=before-connect"} <= set(offered)
    older = connect()
    older.send("CAP LS")  # without 302, names only
    older.expect(r"CAP \* LS :.*\bsasl draft/account-registration$")
    register_account(first, "ana")
    watcher = connect("bea")
    watcher.send("WHOIS ana")
    watcher.expect(r"^:test\.charla 330 bea ana ana :is logged in as$")
    watcher.send("WHOIS bea")  # not logged in: no 330
    watcher.expect(r" 318 bea bea ")
    assert not any(" 330 bea bea " in line for line in watcher.lines)
    first.send("QUIT")
    first.expect_closed()
    again = connect()
    sasl_log_in(again, "ana", plain_answer("ana", ACCOUNT_PASSWORD))
    again.expect(r"^:test\.charla 900 \* ana!~ana@127\.0\.0\.1 ana :You are now logged in as ana$")
    again.expect(r"^:test\.charla 903 \* :SASL authentication successful$")
    again.send("CAP END")
    again.expect(r" 001 ana ")
    again.send("AUTHENTICATE PLAIN")  # once per connection
    again.expect(r" 907 ana :")


def test_a_wrong_password_fails_is_slowed_down_and_the_nick_stays_protected(connect):
    ana = connect()
    register_account(ana, "ana")
    ana.send("QUIT")
    ana.expect_closed()
    guesser = connect()
    sasl_log_in(guesser, "ana", plain_answer("ana", "adivinanza"))
    guesser.expect(r" 904 \* :SASL authentication failed$")
    guesser.send("AUTHENTICATE PLAIN")
    guesser.expect(r"^AUTHENTICATE \+$")
    guesser.send(f"AUTHENTICATE {plain_answer('ana', ACCOUNT_PASSWORD)}")  # right, too soon
    guesser.expect(r" 904 \* :SASL authentication failed: too many wrong passwords .* in 1 s$")
    guesser.send("CAP END")
    guesser.expect(r" 433 \* ana :Nickname is registered: log in to its account \(SASL\)")
    guesser.send("NICK ana_")  # a look-alike of the account's name is the account's too
    guesser.expect(r" 433 \* ana_ :Nickname is registered")
    guesser.send("NICK ana2")
    guesser.expect(r" 001 ana2 ")
    guesser.send("NICK ANA")  # registered, also as a nick change
    guesser.expect(r" 433 ana2 ANA :Nickname is registered")
    stranger = connect()
    stranger.send("NICK Ana")  # no CAP: refused when registration ends
    stranger.send("USER a 0 * :a")
    stranger.expect(r" 433 \* Ana :Nickname is registered")


def test_sasl_edge_cases_chunks_abort_unknown_mechanism_and_too_long(connect):
    name = "漢" * 30  # 90 bytes of UTF-8: with a 118-byte password, exactly 400 of base64
    owner = connect()
    register_account(owner, name, "x" * 118)
    owner.send("QUIT")
    owner.expect_closed()
    answer = plain_answer(name, "x" * 118, authzid=name)
    assert len(answer) == 400
    client = connect()
    client.send("CAP REQ sasl")
    client.send("AUTHENTICATE SCRAM-SHA-256")
    client.expect(r" 908 \* PLAIN :are available SASL mechanisms$")
    client.expect(r" 904 \* :")
    client.send("AUTHENTICATE PLAIN")
    client.expect(r"^AUTHENTICATE \+$")
    client.send("AUTHENTICATE *")
    client.expect(r" 906 \* :SASL authentication aborted$")
    client.send("AUTHENTICATE PLAIN")
    client.send("AUTHENTICATE " + "A" * 401)
    client.expect(r" 905 \* :SASL message too long$")
    client.send("AUTHENTICATE PLAIN")
    client.send(f"AUTHENTICATE {plain_answer('otro', 'x' * 118, authzid=name)}")
    client.expect(r" 904 \* :SASL authentication failed: one may act only as oneself$")
    client.send("AUTHENTICATE PLAIN")
    client.send("AUTHENTICATE !!!!")
    client.expect(r" 904 \* :SASL authentication failed: not a PLAIN answer$")
    client.send("AUTHENTICATE PLAIN")
    client.send(f"AUTHENTICATE {answer}")  # 400 exactly: more may follow
    client.send("AUTHENTICATE +")  # nothing more
    client.expect(rf" 900 \* \S+ {name} :")
    client.expect(r" 903 \* :")
    no_cap = connect()
    no_cap.send("AUTHENTICATE PLAIN")
    no_cap.expect(r" 904 \* :SASL authentication failed: request the sasl capability$")


def test_logging_in_after_registration_and_taking_the_nick_back_from_a_ghost(connect, server):
    ana = connect()
    register_account(ana, "ana")
    ana.join("#clase")
    laptop = connect("portatil")  # ana, from a second connection, first as another nick
    laptop.send("CAP REQ sasl")
    laptop.send("AUTHENTICATE PLAIN")
    laptop.expect(r"^AUTHENTICATE \+$")
    laptop.send(f"AUTHENTICATE {plain_answer('ana', ACCOUNT_PASSWORD)}")
    laptop.expect(r" 900 portatil portatil!~portatil@127\.0\.0\.1 ana :")
    laptop.expect(r" 903 portatil :")
    laptop.send("WHOIS portatil")
    laptop.expect(r" 330 portatil portatil ana :is logged in as$")
    laptop.send("NICK ana")  # its own account's nick, held by its own (say, stale) connection
    laptop.expect(r" 433 portatil ana :Nickname is already in use")  # a live one: not replaced
    back = connect()  # a reconnect after a Wi-Fi blip: logged in, registering as ana
    sasl_log_in(back, "ana", plain_answer("ana", ACCOUNT_PASSWORD))
    back.expect(r" 903 ")
    back.send("CAP END")
    back.expect(r" 001 ana ")
    assert any("Reconnected" in line for line in ana.expect_closed())
    back.send("WHOIS ana")
    back.expect(r" 330 ana ana ana :is logged in as$")


def test_register_refusals_say_why(start_server, connect):
    server = start_server(password="clase")
    early = connect(port=server.port)
    early.send("CAP REQ draft/account-registration")
    early.send("NICK zoe")
    early.send(f"REGISTER * * :{ACCOUNT_PASSWORD}")  # before the server's password
    early.expect(r"^:test\.charla FAIL REGISTER COMPLETE_CONNECTION_REQUIRED zoe :")
    early.send("CAP REQ sasl")
    early.send("AUTHENTICATE PLAIN")  # nor may it guess account passwords
    early.expect(r" 904 \* :SASL authentication failed: give PASS first$")
    zoe = connect(port=server.port)
    zoe.register("zoe", password="clase")
    zoe.send("REGISTER * * corta")
    zoe.expect(r"^:test\.charla FAIL REGISTER WEAK_PASSWORD zoe :")
    zoe.send("REGISTER * * :" + "ñ" * 65)
    zoe.expect(r"^:test\.charla FAIL REGISTER UNACCEPTABLE_PASSWORD zoe :")
    zoe.send(f"REGISTER otra * :{ACCOUNT_PASSWORD}")
    zoe.expect(r"^:test\.charla FAIL REGISTER ACCOUNT_NAME_MUST_BE_NICK otra :")
    zoe.send("REGISTER zoe *")
    zoe.expect(r"^:test\.charla FAIL REGISTER NEED_MORE_PARAMS \* :")
    zoe.send(f"REGISTER * * :{ACCOUNT_PASSWORD}")
    zoe.expect(r"^:test\.charla REGISTER SUCCESS zoe :")
    zoe.expect(r" 900 zoe zoe!~zoe@127\.0\.0\.1 zoe :")
    zoe.send(f"REGISTER * * :{ACCOUNT_PASSWORD}")
    zoe.expect(r"^:test\.charla FAIL REGISTER ALREADY_AUTHENTICATED zoe :")
    other = connect(port=server.port)
    other.register("ZOE2", password="clase")
    other.send("NICK zoe")
    other.expect(r" 433 ZOE2 zoe :Nickname is registered")
    other.send("NICK ZOE_")  # a look-alike: zoe's too
    other.expect(r" 433 ZOE2 ZOE_ :Nickname is registered")
    other.send(f"REGISTER ZOE2 * :{ACCOUNT_PASSWORD}")
    other.expect(r"^:test\.charla REGISTER SUCCESS ZOE2 :")
    back = connect(port=server.port)
    back.send("PASS clase")
    back.send("CAP REQ sasl")
    back.send("AUTHENTICATE PLAIN")
    back.expect(r"^AUTHENTICATE \+$")
    back.send(f"AUTHENTICATE {plain_answer('zoe', ACCOUNT_PASSWORD)}")
    back.expect(r" 903 \* :")


@pytest.mark.parametrize("nick", ["profesor", "PROFESORA", "Admin", "servidor", "root", "Teacher"])
def test_reserved_nicks_are_refused_with_432(connect, nick):
    client = connect()
    client.send(f"NICK {nick}")
    client.expect(rf" 432 \* {re.escape(nick)} :")
    client.register("alumno")
    client.send(f"NICK {nick}")
    client.expect(rf" 432 alumno {re.escape(nick)} :")


def test_a_teacher_account_makes_its_session_a_teacher_when_it_logs_in(start_server, connect):
    server = start_server(teachers=("profe",))
    profe = connect(port=server.port)
    register_account(profe, "profe")
    assert server.find_session("profe").teacher
    student = connect("alumno", port=server.port)
    student.send(f"REGISTER * * :{ACCOUNT_PASSWORD}")
    student.expect(r"REGISTER SUCCESS alumno ")
    assert not server.find_session("alumno").teacher


def test_oper_with_a_teachers_account_and_password(start_server, connect):
    """The issue: OPER with a teacher's account and its password works too (IRC clients
    that know no SASL, or a teacher on someone else's computer)."""
    server = start_server(teachers=("profe",))
    register_account(connect(port=server.port), "profe")
    tablet = connect("tableta", port=server.port)
    tablet.send(f"OPER profe :{ACCOUNT_PASSWORD}")
    tablet.expect(r" 381 tableta :")
    tablet.expect(r"MODE tableta :?\+o$")
    assert server.find_session("tableta").teacher
    other = connect("invitado", port=server.port)
    other.send("OPER profe mala-contraseña")
    other.expect(r" 464 invitado :")
    assert not server.find_session("invitado").teacher
    other.send(f"OPER profe :{ACCOUNT_PASSWORD}")  # at once: the address waits first
    other.expect(r" 464 invitado :Too many wrong passwords")
    student = connect("alumno", port=server.port)
    student.send(f"REGISTER * * :{ACCOUNT_PASSWORD}")
    student.expect(r"REGISTER SUCCESS alumno ")
    student.send(f"OPER alumno :{ACCOUNT_PASSWORD}")  # an account, but not a teacher's
    student.expect(r" 491 alumno :")
