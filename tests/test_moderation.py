"""Moderation end to end, over raw IRC on real sockets: channel operators and teachers,
MODE (query, flags, lists, several changes per line, each refusal with its numeric),
KICK, INVITE, bans (also after reconnecting under another nick), quiets, slow mode,
timed bans, keys, limits, secret channels and OPER. What HexChat, irssi and WeeChat send
for their operator menus is what these tests send.

Slow mode runs on ``Rooms.clock``, which these tests replace with a clock they move by
hand, so waiting is never a sleep; the timed ban runs on the server's real timer, and the
test waits for the ``MODE -b`` line the channel is sent.
"""

from __future__ import annotations

import time

import pytest

from net.guard import ADDRESS_FREE_FAILURES
from net.modes import MAX_LIST_ENTRIES
from net.state import MAX_INVITES, WHOWAS_PER_NICK, WHOWAS_SIZE
from tests.support import IrcClient
from tests.test_irc_session import ACCOUNT_PASSWORD, plain_answer, register_account, sasl_log_in


class Clock:
    """A monotonic clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def teacher_server(start_server):
    return start_server(opers={"profe": "secreto"})


@pytest.fixture
def teacher_connect(teacher_server, connect):
    def open_client(nick: str | None = None, **kwargs: object) -> IrcClient:
        return connect(nick, port=teacher_server.port, **kwargs)

    return open_client


def make_teacher(client: IrcClient) -> None:
    client.send("OPER profe secreto")
    client.expect(rf" 381 {client.nick} :")


def test_isupport_advertises_the_modes_and_prefixes(connect):
    client = connect()
    client.send("NICK ana")
    client.send("USER ana 0 * :Ana")
    isupport = client.expect(r" 005 ana (.*) :are supported").group(1)
    tokens = dict(token.partition("=")[::2] for token in isupport.split())
    assert tokens["PREFIX"] == "(ov)@+"
    assert tokens["CHANMODES"] == "bqI,k,lS,imnst"
    assert "INVEX" in tokens
    assert tokens["MODES"] == "4"
    assert tokens["EXTBAN"] == "$,a"


def test_the_creator_of_a_channel_is_its_operator_but_nobody_is_in_the_default_one(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.send("JOIN #grupo3")
    ana.expect(r" 353 ana = #grupo3 :@ana$")
    bea.join("#grupo3")
    bea.send("NAMES #grupo3")
    bea.expect(r" 353 bea = #grupo3 :@ana bea$")
    ana.send("JOIN #general")
    ana.expect(r" 353 ana = #general :ana$")
    bea.send("WHO #grupo3")
    bea.expect(r" 352 bea #grupo3 ~ana \S+ \S+ ana H@ :0 ")
    bea.expect(r" 352 bea #grupo3 ~bea \S+ \S+ bea H :0 ")
    ana.send("MODE #grupo3")
    ana.expect(r" 324 ana #grupo3 :?\+nt$")
    ana.expect(r" 329 ana #grupo3 :?\d+$")
    ana.send("MODE #general +m")  # HexChat's operator menu, by a student in #general
    ana.expect(r" 482 ana #general :")


def test_op_and_voice_several_changes_in_one_line_relayed_as_one(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    for client in (ana, bea, carla):
        client.join("#a")
    ana.send("MODE #a +mv-o+o bea ana carla")  # the line is judged by who sent it, whole
    line = bea.expect(r"^:ana!\S+ MODE #a :?(.*)$").group(1)
    assert line.replace(":", "") == "+mv-o+o bea ana carla"
    carla.send("NAMES #a")
    carla.expect(r" 353 carla = #a :ana \+bea @carla$")
    bea.send("PRIVMSG #a :tengo voz")  # voiced: speaks under +m
    carla.expect(r"PRIVMSG #a :tengo voz$")
    ana.send("PRIVMSG #a :y yo?")  # no longer op, no voice
    ana.expect(r" 404 ana #a :The channel is moderated")
    assert not any("y yo" in line for line in carla.sync())


def test_each_refused_change_gets_its_numeric(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    connect("lejos").join("#otro")
    bea.send("MODE #a +o bea")
    bea.expect(r" 482 bea #a :")
    assert bea.sync() == []  # one 482, nothing else
    ana.send("MODE #a +o nadie")
    ana.expect(r" 401 ana nadie :")
    ana.send("MODE #a +o lejos")
    ana.expect(r" 441 ana lejos #a :")
    ana.send("MODE #a +X")
    ana.expect(r" 472 ana X :")
    ana.send("MODE #a +o")
    ana.expect(r" 461 ana MODE :")
    ana.send("MODE #a +k :una clave")
    ana.expect(r" 696 ana #a k \S+ :Invalid mode parameter")
    ana.send("MODE #a +S 0")
    ana.expect(r" 696 ana #a S 0 :Invalid mode parameter: slow mode takes 1 to 3600 seconds")
    ana.send("MODE #a +b :")
    ana.send("MODE #nada +m")
    ana.expect(r" 403 ana #nada :")
    assert not any(" MODE #a" in line for line in bea.sync())


def test_ban_list_and_a_banned_student_reconnecting_under_another_nick(
    teacher_connect, teacher_server
):
    tere, bea = teacher_connect("tere"), teacher_connect("bea")
    make_teacher(tere)
    tere.join("#general")
    bea.join("#general")
    tere.send("MODE #general +b *!*@127.0.0.1")  # every student on this machine
    bea.expect(r"^:tere!\S+ MODE #general \+b :?\*!\*@127\.0\.0\.1$")
    bea.send("PRIVMSG #general :sigo aquí")
    bea.expect(r" 404 bea #general :You are banned")
    tere.send("KICK #general bea :fuera")
    bea.expect(r"^:tere!\S+ KICK #general bea :fuera$")
    bea.close()
    again = teacher_connect("otra")
    again.send("JOIN #general")
    again.expect(r" 474 otra #general :")
    tere.send("MODE #general b")
    tere.expect(r" 367 tere #general \*!\*@127\.0\.0\.1 tere!\S+ :?\d+$")
    tere.expect(r" 368 tere #general :")
    tere.send("MODE #general -b *!*@127.0.0.1")
    tere.expect(r"MODE #general -b :?\*!\*@127\.0\.0\.1$")
    again.join("#general")


def test_a_ban_on_a_nick_holds_the_person_under_another_nick(teacher_connect):
    """The window bans ``nick!*@*``: set while the student is here, it holds their machine
    (not the teacher's own) and their account, so coming back as "otra" does not get in."""
    tere = teacher_connect("tere")
    make_teacher(tere)
    tere.join("#general")
    bea = teacher_connect("bea", source="127.0.0.2")
    bea.join("#general")
    register_account(ana := teacher_connect(), "ana")  # same machine as the teacher
    ana.join("#general")
    tere.send("MODE #general +bb bea!*@* ana!*@*")
    tere.expect(r"MODE #general \+bb bea!\*@\* :?ana!\*@\*$")
    tere.send("KICK #general bea,ana :fuera")
    ana.expect(r" KICK #general ana :fuera$")
    bea.close()
    ana.close()
    otra = teacher_connect("otra", source="127.0.0.2")
    otra.send("JOIN #general")
    otra.expect(r" 474 otra #general :")
    again = teacher_connect()
    sasl_log_in(again, "zoe", plain_answer("ana", ACCOUNT_PASSWORD))
    again.expect(r" 903 \* :SASL authentication successful")
    again.send("CAP END")
    again.send("JOIN #general")
    again.expect(r" 474 zoe #general :")
    teacher_connect("luis", source="127.0.0.3").join("#general")  # another machine: in
    teacher_connect("dani").join("#general")  # the teacher's own machine: in
    tere.send("MODE #general b")  # the list shows what the teacher typed
    tere.expect(r" 367 tere #general bea!\*@\* ")
    tere.send("MODE #general -b bea!*@*")
    tere.expect(r"MODE #general -b :?bea!\*@\*$")
    otra.join("#general")


def test_a_ban_by_nick_and_the_list_bound(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    ana.send("MODE #a +b Bea")  # a bare nick is nick!*@*
    ana.expect(r"MODE #a \+b :?Bea!\*@\*$")
    bea.send("JOIN #a")
    bea.expect(r" 474 bea #a :")
    for start in range(1, MAX_LIST_ENTRIES, 4):
        masks = " ".join(f"x{n}!*@*" for n in range(start, min(start + 4, MAX_LIST_ENTRIES)))
        ana.send(f"MODE #a +bbbb {masks}")
    ana.sync()
    ana.send("MODE #a +b uno-mas!*@*")
    ana.expect(r" 478 ana #a uno-mas!\*@\* :")


def test_quiet_mutes_one_student_with_the_reason(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    for client in (ana, bea, carla):
        client.join("#a")
    ana.send("MODE #a +q bea")
    carla.expect(r"MODE #a \+q :?bea!\*@\*$")
    bea.send("PRIVMSG #a :no me callo")
    bea.expect(r" 404 bea #a :You are muted in this channel$")
    bea.send("NOTICE #a :tampoco así")
    bea.expect(r" 404 bea #a :You are muted")
    carla.send("PRIVMSG #a :yo sí hablo")
    bea.expect(r"PRIVMSG #a :yo sí hablo$")
    ana.send("MODE #a q")
    ana.expect(r" 728 ana #a q bea!\*@\* ana!\S+ :?\d+$")
    ana.expect(r" 729 ana #a q :")
    ana.send("MODE #a -q bea!*@*")
    carla.expect(r"MODE #a -q :?bea!\*@\*$")
    bea.send("PRIVMSG #a :ya puedo")
    carla.expect(r"PRIVMSG #a :ya puedo$")
    assert not any("no me callo" in line or "tampoco" in line for line in carla.sync())


def test_slow_mode_one_message_per_n_seconds_for_those_without_voice(connect, server):
    clock = Clock()
    server.rooms.clock = clock
    ana, bea, carla = connect("ana"), connect(), connect()
    bea.register("bea", caps="message-tags")
    carla.register("carla", caps="message-tags")
    for client in (ana, bea, carla):
        client.join("#a")
    ana.send("MODE #a +S 10")
    bea.expect(r"MODE #a \+S :?10$")
    bea.send("@+typing=active TAGMSG #a")  # typing does not take the message's turn
    carla.expect(r"^@\+typing=active;\S* :bea!\S+ TAGMSG #a$")
    bea.send("PRIVMSG #a :uno")
    carla.expect(r"PRIVMSG #a :uno$")
    clock.now += 3.5
    bea.send("PRIVMSG #a :dos")
    bea.expect(r" 404 bea #a :Slow mode is on: wait 7 s before your next message$")
    ana.send("PRIVMSG #a :el operador no espera")
    ana.send("PRIVMSG #a :ni ahora")
    carla.expect(r"PRIVMSG #a :ni ahora$")
    clock.now += 6.5
    bea.send("PRIVMSG #a :tres")
    carla.expect(r"PRIVMSG #a :tres$")
    ana.send("MODE #a -S")
    carla.expect(r"MODE #a :?-S$")
    bea.send("PRIVMSG #a :cuatro")
    carla.expect(r"PRIVMSG #a :cuatro$")
    assert not any(":dos" in line for line in carla.sync())


def test_a_timed_ban_is_lifted_by_the_server(teacher_connect):
    tere, bea = teacher_connect("tere"), teacher_connect("bea")
    make_teacher(tere)
    tere.join("#a")
    bea.join("#a")
    tere.send("TQUIET #a 1 bea")
    bea.expect(r"^:tere!\S+ MODE #a \+q :?bea!\*@\*$")
    bea.send("PRIVMSG #a :hola")
    bea.expect(r" 404 bea #a :You are muted in this channel for 1 s more$")
    tere.send("TBAN #a 1 carla!*@*")
    bea.expect(r"MODE #a \+b :?carla!\*@\*$")
    # the server's own timer, no sleep here: the channel is told when the time is up
    # the two end a few milliseconds apart: one line for both, or one each
    lifted: set[str] = set()
    while len(lifted) < 2:
        line = bea.expect(r"^:test\.charla MODE #a -(\S+) (.*)$", timeout=5)
        masks = line.group(2).replace(":", "").split()
        lifted |= {f"{letter} {mask}" for letter, mask in zip(line.group(1), masks, strict=True)}
    assert lifted == {"q bea!*@*", "b carla!*@*"}
    bea.send("PRIVMSG #a :ya")
    tere.expect(r"PRIVMSG #a :ya$")
    tere.send("TBAN #a 0 x")
    tere.expect(r" 696 tere #a b 0 :")


def test_a_timed_mute_says_when_it_ends_to_clients_that_read_tags(teacher_connect):
    """The MODE line of TQUIET carries ``charla.chat/ends`` (for the window's "for 5
    minutes (until 10:42)"); a client without message-tags gets the plain line."""
    tere, plain = teacher_connect("tere"), teacher_connect("plain")
    tagged = teacher_connect()
    tagged.register("eva", caps="message-tags")
    make_teacher(tere)
    for client in (tere, plain, tagged):
        client.join("#a")
    before = time.time()
    tere.send("TQUIET #a 300 plain")
    ends = int(tagged.expect(r"^@charla\.chat/ends=(\d+) :tere!\S+ MODE #a \+q :?plain!").group(1))
    assert before + 299 <= ends <= time.time() + 301
    plain.expect(r"^:tere!\S+ MODE #a \+q :?plain!\*@\*$")
    tere.send("MODE #a +q x!*@*")  # not timed: no end to tell
    tagged.expect(r"^:tere!\S+ MODE #a \+q :?x!\*@\*$")


def test_kick_errors_and_the_kicked_student_is_out(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    ana.join("#a")
    bea.join("#a")
    carla.join("#b")
    bea.send("KICK #a ana")
    bea.expect(r" 482 bea #a :")
    carla.send("KICK #a bea")
    carla.expect(r" 442 carla #a :")
    ana.send("KICK #a carla")
    ana.expect(r" 441 ana carla #a :")
    ana.send("KICK #a nadie")
    ana.expect(r" 401 ana nadie :")
    ana.send("KICK #zzz bea")
    ana.expect(r" 403 ana #zzz :")
    ana.send("KICK #a bea :a la calle")
    bea.expect(r"^:ana!\S+ KICK #a bea :a la calle$")
    ana.expect(r"^:ana!\S+ KICK #a bea :a la calle$")
    bea.send("PRIVMSG #a :sigo?")
    bea.expect(r" 404 bea #a :")


def test_invite_only_key_and_limit(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    ana.join("#a")
    ana.send("MODE #a +i")
    ana.expect(r"MODE #a :?\+i$")
    bea.send("JOIN #a")
    bea.expect(r" 473 bea #a :")
    carla.join("#otro")
    carla.send("INVITE bea #a")
    carla.expect(r" 442 carla #a :")
    ana.send("INVITE nadie #a")
    ana.expect(r" 401 ana nadie :")
    ana.send("INVITE bea #a")
    ana.expect(r" 341 ana bea :?#a$")
    bea.expect(r"^:ana!\S+ INVITE bea :?#a$")
    bea.join("#a")
    ana.send("INVITE bea #a")
    ana.expect(r" 443 ana bea #a :")
    bea.send("INVITE carla #a")  # +i: only operators invite
    bea.expect(r" 482 bea #a :")
    ana.send("MODE #a -i+kl cerrojo 2")
    bea.expect(r"MODE #a -i\+kl cerrojo :?2$")
    carla.send("JOIN #a")
    carla.expect(r" 475 carla #a :")
    carla.send("JOIN #a mala")
    carla.expect(r" 475 carla #a :")
    ana.send("MODE #a")
    ana.expect(r" 324 ana #a \+ntkl cerrojo :?2$")
    carla.send("MODE #a")
    carla.expect(r" 324 carla #a \+ntkl \* :?2$")  # the key only for members
    carla.send("JOIN #a cerrojo")
    carla.expect(r" 471 carla #a :")
    ana.send("MODE #a -l")
    bea.expect(r"MODE #a :?-l$")
    carla.send("JOIN #a cerrojo")
    carla.expect(r"^:carla!\S+ JOIN :?#a$")


def test_topic_is_for_operators_under_t(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.join("#a")
    bea.send("TOPIC #a :mío")
    bea.expect(r" 482 bea #a :You're not channel operator: the topic is locked")
    ana.send("MODE #a -t")
    bea.expect(r"MODE #a :?-t$")
    bea.send("TOPIC #a :mío")
    ana.expect(r"TOPIC #a :mío$")


def test_no_outside_messages_and_secret_channels(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#a")
    bea.send("PRIVMSG #a :desde fuera")
    bea.expect(r" 404 bea #a :Cannot send to channel")
    ana.send("MODE #a -n+s")
    ana.expect(r"MODE #a :?-n\+s$")
    bea.send("PRIVMSG #a :desde fuera")
    ana.expect(r"PRIVMSG #a :desde fuera$")
    bea.send("LIST")
    lines = bea.sync()
    assert not any(" 322 bea #a " in line for line in lines)
    bea.send("NAMES #a")
    bea.expect(r" 366 bea #a :")
    bea.send("WHO #a")
    bea.expect(r" 315 bea #a :")
    bea.send("WHOIS ana")
    bea.expect(r" 318 bea ana :")
    seen = bea.sync()
    assert not any(" 353 " in line or " 352 " in line or " 319 " in line for line in seen)
    ana.send("NAMES #a")
    ana.expect(r" 353 ana @ #a :@ana$")


def test_oper_makes_a_teacher_who_is_operator_everywhere(teacher_connect):
    tere, bea = teacher_connect("tere"), teacher_connect("bea")
    bea.join("#general")
    bea.join("#grupo")
    tere.join("#general")
    tere.send("MODE tere")
    tere.expect(r" 221 tere :?\+$")
    make_teacher(tere)
    bea.expect(r"^:test\.charla MODE #general \+o :?tere$")
    tere.send("MODE tere")
    tere.expect(r" 221 tere :?\+o$")
    tere.send("JOIN #grupo")
    bea.expect(r"^:test\.charla MODE #grupo \+o :?tere$")
    bea.send("WHO #grupo")
    bea.expect(r" 352 bea #grupo ~tere \S+ \S+ tere H\*@ :0 ")
    bea.send("WHOIS tere")
    bea.expect(r" 313 bea tere :is a teacher")
    bea.send("LUSERS")
    bea.expect(r" 252 bea 1 :")
    tere.send("MODE #general +m")
    bea.expect(r"^:tere!\S+ MODE #general :?\+m$")
    bea.send("PRIVMSG #general :hola")
    bea.expect(r" 404 bea #general :The channel is moderated")
    tere.send("KICK #grupo bea :basta")  # not the channel's operator: a teacher
    bea.expect(r"^:tere!\S+ KICK #grupo bea :basta$")


def test_a_wrong_oper_password_slows_that_name_from_that_address_then_the_address(
    teacher_connect,
):
    """One guard, one rule (the accounts'): a wrong OPER password makes that address wait
    for that name; a classmate behind the same address is judged on its own, and past
    ADDRESS_FREE_FAILURES wrong ones the whole address waits."""
    ana, bea = teacher_connect("ana"), teacher_connect("bea")
    ana.send("OPER profe mal")
    ana.expect(r" 464 ana :Password incorrect$")
    ana.send("OPER profe secreto")  # at once: this name waits, even with the right one
    ana.expect(r" 464 ana :Too many wrong passwords from your address: try again in \d+ s")
    bea.send("OPER nadie secreto")  # another name, the same address: judged on its own
    bea.expect(r" 464 bea :Password incorrect$")
    for number in range(ADDRESS_FREE_FAILURES - 1):  # a spray over many names
        bea.send(f"OPER nombre{number} secreto")
    bea.send("OPER otro secreto")
    bea.expect(r" 464 bea :Too many wrong passwords from your address")
    bea.send("OPER")
    bea.expect(r" 461 bea OPER :")
    bea.send("MODE bea")
    bea.expect(r" 221 bea :?\+$")


def test_no_oper_configured_is_491(connect):
    ana = connect("ana")
    ana.send("OPER profe secreto")
    ana.expect(r" 491 ana :")


def test_a_muted_plain_text_user_is_told_why(teacher_connect):
    tere = teacher_connect("tere")
    make_teacher(tere)
    tere.join("#general")
    pepe = teacher_connect(plain=True)
    pepe.send("pepe")
    pepe.expect(r"^\*\*\* Type a message")
    tere.send("MODE #general +q pepe")
    pepe.expect(r"\* tere muted you: your messages do not reach the room\.$")
    pepe.send("hola")
    pepe.expect(r"Not sent: You are muted in this channel\.$")
    pepe.send("/apodo pepito")
    pepe.expect(r"Cannot change nickname while banned or muted on the channel \(#general\)\.$")
    assert not any("hola" in line or "pepito" in line for line in tere.sync())


def test_a_muted_or_banned_student_cannot_escape_by_changing_nick(connect):
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    for client in (ana, bea, carla):
        client.join("#a")
    ana.send("MODE #a +q bea")
    carla.expect(r"MODE #a \+q :?bea!\*@\*$")
    bea.send("NICK bea2")
    bea.expect(r" 435 bea bea2 #a :Cannot change nickname while banned or muted")
    carla.send("NICK carla2")  # not muted: free to
    carla.expect(r"NICK :?carla2$")
    ana.send("MODE #a -q bea")
    carla.expect(r"MODE #a -q :?bea!\*@\*$")
    bea.send("NICK bea2")
    bea.expect(r"NICK :?bea2$")


def test_a_student_operator_cannot_remove_a_teacher(teacher_connect):
    bea, tere = teacher_connect("bea"), teacher_connect("tere")
    make_teacher(tere)
    bea.join("#grupo")  # bea opened it: its operator
    tere.join("#grupo")
    bea.expect(r"MODE #grupo \+o :?tere$")
    bea.send("KICK #grupo tere")
    bea.expect(r" 482 bea #grupo :tere is a teacher")
    bea.send("MODE #grupo -o tere")
    bea.expect(r" 482 bea #grupo :tere is a teacher")
    tere.send("MODE #grupo -o bea")
    bea.expect(r"^:tere!\S+ MODE #grupo -o :?bea$")


def test_a_secret_channel_topic_is_not_told_to_outsiders(connect):
    ana, bea = connect("ana"), connect("bea")
    ana.join("#s")
    ana.send("TOPIC #s :plan secreto")
    ana.send("MODE #s +s")
    ana.expect(r"MODE #s :?\+s$")
    bea.send("TOPIC #s")
    bea.expect(r" 403 bea #s :")
    bea.send("MODE #s")
    bea.expect(r" 403 bea #s :")


def test_an_invite_exception_lets_in_whom_it_names_on_an_invite_only_channel(connect):
    """+I (ISUPPORT INVEX; Modern IRC "Invite-Exception Channel Mode"): a +i channel
    lets in, uninvited, whom an entry names; listed with 346/347; not past a ban."""
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    ana.join("#a")
    ana.send("MODE #a +i")
    ana.expect(r"MODE #a :?\+i$")
    ana.send("MODE #a +I Bea!*@*")
    ana.expect(r"^:ana!\S+ MODE #a \+I :?Bea!\*@\*$")
    ana.send("MODE #a +I")
    ana.expect(r"^:test\.charla 346 ana #a Bea!\*@\* ana!\S+ :?\d+$")
    ana.expect(r"^:test\.charla 347 ana #a :")
    carla.send("JOIN #a")
    carla.expect(r" 473 carla #a :")
    bea.send("JOIN #a")
    bea.expect(r"^:bea!\S+ JOIN :?#a$")
    bea.send("PART #a")
    ana.send("MODE #a +b bea!*@*")  # a ban still keeps out
    ana.expect(r"MODE #a \+b :?bea!\*@\*$")
    bea.send("JOIN #a")
    bea.expect(r" 474 bea #a :")
    ana.send("MODE #a -b-I bea!*@* bea!*@*")
    ana.expect(r"MODE #a -bI bea!\*@\* :?Bea!\*@\*$")
    bea.send("JOIN #a")
    bea.expect(r" 473 bea #a :")


def test_what_conformance_suites_check_of_limits_invites_and_topics(connect):
    """Modern IRC as irctest checks it: an empty or bad +l is 696 (never 461) and does not
    shut anyone out; an INVITE lets past +l as well as +i (never a ban or the key); INVITE
    alone lists one's invitations; the same topic again tells nobody anything."""
    ana, bea, carla = connect("ana"), connect("bea"), connect("carla")
    ana.join("#a")
    for bad in ("0", "-1", "abc", ""):
        ana.send(f"MODE #a +l :{bad}")
        ana.expect(r" 696 ana #a l \S+ :Invalid mode parameter")
    ana.send("MODE #a +k :")
    ana.expect(r" 696 ana #a k \* :")
    ana.send("MODE #a +l 1")
    ana.expect(r"MODE #a \+l :?1$")
    bea.send("JOIN #a")
    bea.expect(r" 471 bea #a :")
    ana.send("INVITE bea #a")
    bea.expect(r"INVITE bea :?#a$")
    bea.send("INVITE")
    bea.expect(r" 336 bea :?#a$")
    bea.expect(r" 337 bea :")
    bea.join("#a")
    bea.send("INVITE")
    bea.expect(r" 337 bea :")  # used up by the JOIN
    ana.send("TOPIC #a :tema")
    bea.expect(r"TOPIC #a :tema$")
    ana.expect(r"TOPIC #a :tema$")
    ana.send("TOPIC #a :tema")
    assert ana.sync() == [] and bea.sync() == []
    carla.send("JOIN #a")
    carla.expect(r" 471 carla #a :")


def test_multi_prefix_shows_every_status(connect):
    ana, bea = connect("ana"), connect()
    bea.register("bea", caps="multi-prefix")
    ana.join("#a")
    ana.send("MODE #a +v ana")
    ana.expect(r"MODE #a \+v :?ana$")
    bea.send("JOIN #a")
    bea.expect(r" 353 bea = #a :@\+ana bea$")
    bea.send("WHO #a")
    bea.expect(r" 352 bea #a ~ana \S+ \S+ ana H@\+ :0 ")
    ana.send("NAMES #a")
    ana.expect(r" 353 ana = #a :@ana bea$")  # without the capability: the highest only


def test_relayed_kick_and_mode_lines_stay_inside_512_bytes(connect):
    """The longest nick, username and channel, a KICK reason as long as the line allows,
    and four long masks in one MODE line: every line relayed fits IRC's 512 bytes (a
    MODE line is cut in two rather than overflow)."""
    ana, bea = connect("a" * 30), connect("b" * 30)
    channel = "#" + "c" * 49
    ana.join(channel)
    bea.join(channel)
    ana.send(f"KICK {channel} {'b' * 30} :" + "r" * 420)
    kick = bea.expect(r" KICK ").string
    assert len(kick.encode()) + 2 <= 512 and kick.endswith("r" * 255)
    masks = [f"x{number}" + "y" * 100 for number in range(4)]
    ana.send(f"MODE {channel} +bbbb " + " ".join(masks))
    lines = [ana.expect(r" MODE ").string for _ in range(2)]
    assert all(len(line.encode()) + 2 <= 512 for line in lines)
    assert sum(line.count("!*@*") for line in lines) == 4


def test_bans_and_mutes_outlive_a_restart_of_the_server(start_server, connect, tmp_path):
    """The issue: bans (and mutes) survive a restart, as accounts and topics do; one lifted
    before stays lifted; and a ban outlives its channel: the banned student cannot make
    it anew to get in."""
    database = str(tmp_path / "historial.sqlite3")
    first = start_server(history_db=database, opers={"profe": "secreto"})
    tere = connect("tere", port=first.port)
    make_teacher(tere)
    tere.join("#general")
    tere.join("#grupo3")
    tere.send("MODE #general +bbq pepe luis ana")
    tere.send("MODE #general -b luis")
    tere.send("MODE #grupo3 +b eva")
    tere.expect(r"MODE #grupo3 \+b :?eva!\*@\*$")
    tere.send("PART #grupo3")  # #grupo3 empties: the channel goes, its ban is kept
    tere.sync()
    tere.close()
    first.shutdown()

    second = start_server(history_db=database)
    pepe = connect("pepe", port=second.port)
    pepe.send("JOIN #general")
    pepe.expect(r" 474 pepe #general ")
    eva = connect("eva", port=second.port)
    eva.send("JOIN #grupo3")
    eva.expect(r" 474 eva #grupo3 ")
    ana, luis = connect("ana", port=second.port), connect("luis", port=second.port)
    ana.join("#general")
    luis.join("#general")
    ana.send("PRIVMSG #general :hola")
    ana.expect(r" 404 ana #general :")
    luis.send("MODE #general b")
    bans = [line for line in luis.sync() if " 367 " in line]
    assert [line.split()[4:6] for line in bans] == [["pepe!*@*", "tere!~tere@127.0.0.1"]]
    luis.send("MODE #general q")
    quiets = [line.split()[5] for line in luis.sync() if " 728 " in line]
    assert quiets == ["ana!*@*"]


def test_redact_tells_an_outsider_nothing_about_a_channel_or_its_messages(teacher_connect):
    """The attack on main: REDACT on a channel the sender is not in answered
    REDACT_FORBIDDEN, and a channel that does not exist INVALID_TARGET, so an outsider
    learnt that a +s channel existed. Now outsiders get one answer, INVALID_TARGET (the
    IRCv3 message-redaction spec's code for a target one cannot delete from)."""
    ana, tere = teacher_connect("ana"), teacher_connect("tere")
    bea = teacher_connect()
    bea.register("bea", caps="message-tags")
    ana.send("JOIN #secreto")
    ana.expect(r" 366 ana #secreto ")
    ana.send("MODE #secreto +s")
    ana.expect(r"MODE #secreto :?\+s$")
    bea.join("#secreto")
    ana.send("PRIVMSG #secreto :plan secreto")
    msgid = bea.expect(r"^@\S*msgid=([^; ]+)\S* :ana!\S+ PRIVMSG #secreto :plan secreto$").group(1)
    bea.send("PART #secreto")
    bea.expect(r"PART #secreto")
    answers = []
    for target, asked in (("#secreto", msgid), ("#secreto", "no-such-id"), ("#nada", msgid)):
        bea.send(f"REDACT {target} {asked}")
        line = bea.expect(rf"^:test\.charla FAIL REDACT \S+ {target} .*$").group(0)
        answers.append(line.replace(target, "#X").replace(asked, "ID"))
    told = "You cannot delete messages from that target"
    assert answers == [f":test.charla FAIL REDACT INVALID_TARGET #X :{told}"] * 3
    make_teacher(tere)  # a teacher may delete anywhere, in the channel or not
    tere.send(f"REDACT #secreto {msgid} :fuera de lugar")
    ana.expect(r"^:test\.charla NOTICE #secreto :tere deleted a message from ana: fuera de lugar$")


def test_a_teacher_claims_a_students_channel_and_the_claim_outlives_it_and_a_restart(
    start_server, connect, tmp_path
):
    """The issue: "any channel a teacher claims belong[s] to the teachers". CLAIM takes +o
    from its student operators, and whoever makes it anew after it empties (even after a
    restart) is not its operator; UNCLAIM gives it back."""
    database = str(tmp_path / "historial.sqlite3")
    first = start_server(history_db=database, opers={"profe": "secreto"})
    ana, bea = connect("ana", port=first.port), connect("bea", port=first.port)
    tere = connect("tere", port=first.port)
    ana.send("JOIN #grupo3")
    ana.expect(r" 353 ana = #grupo3 :@ana$")
    bea.join("#grupo3")
    ana.send("CLAIM #grupo3")  # a student, even the channel's operator
    ana.expect(r" 481 ana :Permission Denied")
    make_teacher(tere)
    tere.send("CLAIM #nada")
    tere.expect(r" 403 tere #nada :")
    tere.send("CLAIM #general")
    tere.expect(r"NOTICE tere :#general is the server's default channel")
    tere.send("CLAIM #grupo3")  # from outside the channel
    bea.expect(r"^:test\.charla MODE #grupo3 -o :?ana$")
    told = r"NOTICE #grupo3 :tere claimed #grupo3: it now belongs to the teachers$"
    bea.expect(rf"^:test\.charla {told}")
    tere.expect(rf"^:test\.charla {told}")
    ana.send("MODE #grupo3 +m")
    ana.expect(r" 482 ana #grupo3 :")
    for client in (ana, bea):
        client.send("PART #grupo3")
        client.expect(r"PART #grupo3")
    carla = connect("carla", port=first.port)  # the emptied channel made anew
    carla.send("JOIN #grupo3")
    carla.expect(r" 353 carla = #grupo3 :carla$")
    carla.close()
    first.shutdown()

    second = start_server(history_db=database, opers={"profe": "secreto"})
    dani = connect("dani", port=second.port)
    dani.send("JOIN #grupo3")
    dani.expect(r" 353 dani = #grupo3 :dani$")  # still the teachers' after a restart
    profe = connect("lola", port=second.port)
    make_teacher(profe)
    profe.send("UNCLAIM #grupo3")
    dani.expect(r"NOTICE #grupo3 :lola gave #grupo3 back: it no longer belongs to the teachers$")
    dani.send("PART #grupo3")
    dani.expect(r"PART #grupo3")
    dani.send("JOIN #grupo3")  # the creator rule again
    dani.expect(r" 353 dani = #grupo3 :@dani$")


# -- evasion: every way a silenced student might still reach the class -------------------


def _every_way_to_say(student: IrcClient, channel: str, teacher: str) -> list[str]:
    """What a silenced student tries: a NOTICE, a TAGMSG (a reaction), a CTCP ACTION and
    a PRIVMSG to the channel and the teacher at once. Returns the 404 texts it got."""
    student.send(f"NOTICE {channel} :por notice")
    student.send(f"@+draft/react=x TAGMSG {channel}")
    student.send(f"PRIVMSG {channel} :\x01ACTION por action\x01")
    student.send(f"PRIVMSG {channel},{teacher} :a los dos")
    return [line for line in student.sync() if f" 404 {student.nick} {channel} :" in line]


def _heard(listener: IrcClient, channel: str) -> list[str]:
    return [
        line
        for line in listener.sync()
        if f" {channel} :" in line or f"TAGMSG {channel}" in line
        if " PRIVMSG " in line or " NOTICE " in line or " TAGMSG " in line
    ]


@pytest.mark.parametrize("silence", ["+q bea", "+m", "+S 60"])
def test_a_silenced_student_reaches_the_channel_by_no_other_command(
    teacher_connect, teacher_server, silence
):
    """Muted (+q), the class muted (+m), slow mode (+S, after its one message): NOTICE,
    TAGMSG, CTCP ACTION and a multi-target PRIVMSG reach nobody in the channel; the
    teacher, named as a second target, still gets its private copy (a mute silences the
    channel, not private messages)."""
    teacher_server.rooms.clock = Clock()
    tere, carla = teacher_connect("tere"), teacher_connect()
    carla.register("carla", caps="message-tags")
    bea = teacher_connect()
    bea.register("bea", caps="message-tags")
    make_teacher(tere)
    for client in (tere, bea, carla):
        client.join("#general")
    tere.send(f"MODE #general {silence}")
    carla.expect(r"MODE #general ")
    if silence.startswith("+S"):
        bea.send("PRIVMSG #general :mi mensaje")  # its one message of the minute
        carla.expect(r"PRIVMSG #general :mi mensaje$")
    refused = _every_way_to_say(bea, "#general", "tere")
    tere.expect(r"^:bea!\S+ PRIVMSG tere :a los dos$")
    heard = _heard(carla, "#general")
    if silence.startswith("+S"):  # typing and reactions are not held to slow mode
        assert len(refused) == 3
        assert [line.split(" ", 2)[2] for line in heard] == ["TAGMSG #general"]
    else:
        assert len(refused) == 4
        assert heard == []


def test_a_silenced_students_part_and_quit_reasons_are_not_relayed(teacher_connect):
    """PART #chan :text and QUIT :text were a way to talk for a muted student (part,
    rejoin, part again); their words are dropped, the PART and QUIT still seen."""
    tere, bea, carla = teacher_connect("tere"), teacher_connect("bea"), teacher_connect("carla")
    make_teacher(tere)
    for client in (tere, bea, carla):
        client.join("#general")
    tere.send("MODE #general +q bea")
    carla.expect(r"MODE #general \+q :?bea!\*@\*$")
    bea.send("PART #general :insulto de despedida")
    assert carla.expect(r"^:bea!\S+ PART #general(.*)$").group(1) == ""
    bea.join("#general")
    bea.send("QUIT :otro insulto")
    assert carla.expect(r"^:bea!\S+ QUIT :?(.*)$").group(1) == "Quit"
    carla.send("QUIT :adiós a todos")  # one who may speak keeps its words
    tere.expect(r"^:carla!\S+ QUIT :Quit: adiós a todos$")


def test_a_host_ban_holds_under_another_nick_a_nick_ban_is_dodged_by_design(
    teacher_connect,
):
    """A ban on *!*@host holds for any nick from that host; a ban on nick!*@* names a
    nick, and a student who comes back under another one is not named by it: that is
    what a nick ban is (use the host, or $a:account for a registered student)."""
    tere, bea = teacher_connect("tere"), teacher_connect("bea")
    make_teacher(tere)
    tere.join("#grupo")
    bea.join("#grupo")
    tere.send("MODE #grupo +b bea")
    tere.send("KICK #grupo bea")
    bea.expect(r"KICK #grupo bea")
    bea.close()
    dodger = teacher_connect("bea2")
    dodger.join("#grupo")  # a nick ban is dodged by a new nick: by design
    tere.send("MODE #grupo +b *!*@127.0.0.1")
    tere.send("KICK #grupo bea2")
    dodger.expect(r"KICK #grupo bea2")
    dodger.close()
    again = teacher_connect("bea3")
    again.send("JOIN #grupo")
    again.expect(r" 474 bea3 #grupo :")


def test_an_account_mute_holds_on_a_second_connection_of_that_account(start_server, connect):
    server = start_server(opers={"profe": "secreto"})
    assert server.accounts.register("bea", "contraseña larga", "10.9.9.9") is None
    tere = connect("tere", port=server.port)
    make_teacher(tere)
    tere.join("#general")
    first = connect(port=server.port)
    first.send("CAP REQ sasl")
    first.send("NICK bea")
    first.send("USER b 0 * :b")
    first.send("AUTHENTICATE PLAIN")
    first.expect(r"AUTHENTICATE \+")
    first.send("AUTHENTICATE YmVhAGJlYQBjb250cmFzZcOxYSBsYXJnYQ==")  # bea\0bea\0contraseña larga
    first.expect(r" 903 ")
    first.send("CAP END")
    first.expect(r" 001 bea ")
    first.join("#general")
    tere.send("MODE #general +q $a:bea")
    first.expect(r"MODE #general \+q :?\$a:bea$")
    second = connect(port=server.port)  # the same account, another nick and connection
    second.send("CAP REQ sasl")
    second.send("NICK bea_movil")
    second.send("USER b 0 * :b")
    second.send("AUTHENTICATE PLAIN")
    second.expect(r"AUTHENTICATE \+")
    second.send("AUTHENTICATE YmVhAGJlYQBjb250cmFzZcOxYSBsYXJnYQ==")
    second.expect(r" 903 ")
    second.send("CAP END")
    second.join("#general")
    second.send("PRIVMSG #general :desde el móvil")
    second.expect(r" 404 bea_movil #general :You are muted")


# -- memory bounds: what one client can make the server hold ------------------------------


def test_a_thousand_invites_hold_at_most_max_invites_per_person(start_server, connect):
    server = start_server(flood_control=False, channels_per_person=MAX_INVITES + 20)
    ana, bea = connect("ana", port=server.port), connect("bea", port=server.port)
    for number in range(MAX_INVITES + 10):
        ana.send(f"JOIN #c{number}")
    for number in range(1000):  # nobody by those nicks: 401, nothing kept
        ana.send(f"INVITE nadie{number} #c0")
    for number in range(MAX_INVITES + 10):
        ana.send(f"INVITE bea #c{number}")
    ana.sync()
    assert len(server.find_session("bea").invited) == MAX_INVITES
    bea.send("INVITE")  # the newest are kept
    listed = [line.split()[3].lstrip(":") for line in bea.sync() if " 336 " in line]
    assert sorted(listed) == sorted(f"#c{n}" for n in range(10, MAX_INVITES + 10))


def test_whowas_after_five_thousand_nick_changes_stays_within_its_bounds(start_server, connect):
    server = start_server(flood_control=False)
    ana = connect("ana", port=server.port)
    for number in range(5000):
        ana.send(f"NICK ana{number % 3000}x")
    ana.send("NICK ana")
    ana.expect(r"NICK :?ana$", timeout=30)
    rooms = server.rooms
    assert len(rooms._gone) == WHOWAS_SIZE
    assert all(len(rows) <= WHOWAS_PER_NICK for rows in rooms._gone_by_nick.values())
    ana.send("WHOWAS ana1990x")  # the newest are remembered, the oldest forgotten
    ana.expect(r" 314 ana ana1990x ")
    ana.send("WHOWAS ana2999x")
    ana.expect(r" 406 ana ana2999x ")


def test_a_muted_student_sets_no_topic_and_its_away_text_stays_out_of_the_channel(connect):
    """Two more ways words reached a channel from a muted member: TOPIC in a -t channel,
    and AWAY :text to those with away-notify. (WHOIS still shows the away text.)"""
    ana, bea, carla = connect("ana"), connect("bea"), connect()
    carla.register("carla", caps="away-notify")
    for client in (ana, bea, carla):
        client.join("#a")
    ana.send("MODE #a -t")
    carla.expect(r"MODE #a :?-t$")
    ana.send("MODE #a +q bea")
    carla.expect(r"MODE #a \+q :?bea!\*@\*$")
    bea.send("TOPIC #a :un insulto")
    bea.expect(r" 482 bea #a :")
    bea.send("AWAY :otro insulto")
    bea.expect(r" 306 bea :")
    heard = carla.sync()
    assert not any("insulto" in line for line in heard), heard
    ana.send("MODE #a -q bea")
    carla.expect(r"MODE #a -q :?bea!\*@\*$")
    bea.send("AWAY :ya vuelvo")
    carla.expect(r"^:bea!\S+ AWAY :ya vuelvo$")
    bea.send("TOPIC #a :tema nuevo")
    carla.expect(r"^:bea!\S+ TOPIC #a :tema nuevo$")
