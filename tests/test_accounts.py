"""The account store: slow salted hashes, names that are nicks, bounds, the teacher table,
and what the database keeps across a restart."""

from __future__ import annotations

import base64
import re
import sqlite3

import pytest

from net import accounts
from net.accounts import AccountStore, Refused, hash_password, password_matches
from net.guard import Verdict

PASSWORD = "una contraseña larga"


@pytest.fixture
def store(tmp_path):
    opened = AccountStore(tmp_path / "historial.sqlite3")
    opened.open()
    yield opened
    opened.close()


def test_an_account_is_made_and_logged_in_to_with_its_password_only(store):
    assert store.register("Begoña", PASSWORD, "10.0.0.1") is None
    assert store.exists("BEGOÑA") and store.name_of("begoña") == "Begoña"
    assert store.log_in("10.0.0.2", "begoña", PASSWORD, now=0.0) == (Verdict.RIGHT, "Begoña")
    assert store.log_in("10.0.0.3", "Begoña", PASSWORD + "x", now=0.0) == (Verdict.WRONG, None)
    assert store.log_in("10.0.0.4", "nadie", PASSWORD, now=0.0) == (Verdict.WRONG, None)


def test_the_password_is_stored_salted_and_slow_hashed_never_as_it_is(store, tmp_path):
    store.register("ana", PASSWORD, "10.0.0.1")
    store.register("bea", PASSWORD, "10.0.0.1")
    with sqlite3.connect(tmp_path / "historial.sqlite3") as db:
        hashes = [row[0] for row in db.execute("SELECT hash FROM accounts ORDER BY key")]
    db.close()
    assert all(stored.startswith("scrypt$16384$8$1$") for stored in hashes)
    assert hashes[0] != hashes[1]  # the same password, two salts
    assert PASSWORD.encode() not in (tmp_path / "historial.sqlite3").read_bytes()


def test_hashes_made_with_other_algorithms_or_parameters_are_still_read(caplog):
    weaker = hash_password("contraseña vieja", algorithm="pbkdf2_sha256")
    assert weaker.startswith(f"pbkdf2_sha256${accounts.PBKDF2_ITERATIONS}$")
    assert password_matches("contraseña vieja", weaker)
    assert not password_matches("contraseña nueva", weaker)
    salt = bytes(16)
    import hashlib

    digest = hashlib.scrypt(b"old secret", salt=salt, n=2**10, r=8, p=1, dklen=32)
    assert password_matches("old secret", f"scrypt$1024$8$1${salt.hex()}${digest.hex()}")
    assert not password_matches("old secret", "md5$00$00")  # unknown: nobody gets in
    assert "cannot be read" in caplog.records[-1].getMessage()
    caplog.clear()


def test_names_must_be_nicks_and_passwords_8_to_128_bytes(store):
    assert store.register("9lives", PASSWORD, "10.0.0.1") is Refused.BAD_NAME
    assert store.register("a b", PASSWORD, "10.0.0.1") is Refused.BAD_NAME
    assert store.register("ana", "corta", "10.0.0.1") is Refused.WEAK_PASSWORD
    assert store.register("ana", "ñ" * 65, "10.0.0.1") is Refused.UNACCEPTABLE_PASSWORD
    assert store.register("ana", "tab\tdentro", "10.0.0.1") is Refused.UNACCEPTABLE_PASSWORD
    assert store.register("ana", "ñ" * 64, "10.0.0.1") is None  # 128 bytes exactly
    assert store.register("ANA", PASSWORD, "10.0.0.2") is Refused.EXISTS
    assert store.register("аna", PASSWORD, "10.0.0.2") is Refused.BAD_NAME  # mixed scripts
    assert store.register("POCA", PASSWORD, "10.0.0.2") is None
    assert store.register("РОСА", PASSWORD, "10.0.0.3") is Refused.EXISTS  # all Cyrillic
    assert Refused.TOO_MANY_FROM_ADDRESS.code == Refused.FULL.code == "TEMPORARILY_UNAVAILABLE"


def test_accounts_per_address_per_hour_and_in_all_are_bounded(tmp_path):
    store = AccountStore(None, max_accounts=5, per_address_per_hour=2)
    store.open()
    assert store.register("ana", PASSWORD, "10.0.0.1", now=0.0) is None
    assert store.register("bea", PASSWORD, "10.0.0.1", now=1.0) is None
    assert store.register("cai", PASSWORD, "10.0.0.1", now=2.0) is Refused.TOO_MANY_FROM_ADDRESS
    assert store.register("cai", PASSWORD, "2001:db8::1", now=2.0) is None
    assert store.register("dani", PASSWORD, "2001:db8::2", now=3.0) is None  # the same /64
    assert store.register("eva", PASSWORD, "2001:db8::3", now=4.0) is Refused.TOO_MANY_FROM_ADDRESS
    assert store.register("eva", PASSWORD, "10.0.0.1", now=3601.0) is None  # an hour on
    assert store.register("fay", PASSWORD, "10.0.0.7", now=3601.0) is Refused.FULL
    assert store.count() == 5


def test_a_wrong_password_slows_its_address_down(store):
    store.register("ana", PASSWORD, "10.0.0.1")
    assert store.log_in("10.0.0.9", "ana", "adivino", now=100.0).verdict is Verdict.WRONG
    assert store.log_in("10.0.0.9", "ana", PASSWORD, now=100.5) == (Verdict.WAIT, None)
    assert store.log_in("10.0.0.8", "ana", PASSWORD, now=100.5).verdict is Verdict.RIGHT
    assert store.log_in("10.0.0.9", "ana", "otra vez", now=101.0).verdict is Verdict.WRONG
    assert store.log_in("10.0.0.9", "ana", PASSWORD, now=102.5).verdict is Verdict.WAIT  # 2 s
    assert store.log_in("10.0.0.9", "ana", PASSWORD, now=103.0).verdict is Verdict.RIGHT


def test_accounts_and_teachers_survive_a_restart(tmp_path):
    path = tmp_path / "historial.sqlite3"
    first = AccountStore(path)
    first.open()
    first.register("ana", PASSWORD, "10.0.0.1")
    assert first.add_teacher("ANA")
    assert not first.add_teacher("nadie")  # no such account
    first.close()
    again = AccountStore(path)
    again.open()
    try:
        assert again.on_disk
        assert again.log_in("10.0.0.1", "ana", PASSWORD).account == "ana"
        assert again.teachers() == ["ana"] and again.is_teacher("Ana")
    finally:
        again.close()


def test_without_a_usable_file_accounts_live_in_memory(tmp_path):
    store = AccountStore(tmp_path)  # a folder, not a database file
    store.open()
    assert not store.on_disk
    assert store.register("ana", PASSWORD, "10.0.0.1") is None
    assert store.add_teacher("ana") and store.is_teacher("ana")
    store.close()


def test_a_teacher_named_at_start_up_needs_no_account_yet():
    store = AccountStore(None)
    assert store.name_teacher("profe") and not store.name_teacher("9x")
    assert store.is_teacher("PROFE") and not store.exists("profe")


def test_reserved_names_and_their_look_alikes():
    assert accounts.is_reserved("Profesora", "charla")
    assert accounts.is_reserved("ＡＤＭＩＮ", "charla")  # fullwidth
    assert accounts.is_reserved("CHARLA", "charla")  # the server's own name
    assert not accounts.is_reserved("profe2", "charla")  # another name: a digit added
    assert not accounts.is_reserved("ana", "charla")


@pytest.mark.parametrize(
    "nick", ["profe", "pr0fe", "profe_", "prOfe_", "Pr0f3", "\u03c1rofe", "_Profe^", "PROFE|"]
)
def test_look_alikes_of_a_reserved_word_are_reserved(nick):
    assert accounts.is_reserved(nick, "charla")


@pytest.mark.parametrize(
    "nick", ["ChanServ", "NickServ", "0perServ", "MemoServ", "HostServ", "BotServ", "Global"]
)
def test_the_names_of_irc_services_are_reserved(nick):
    assert accounts.is_reserved(nick, "charla")
    assert accounts.is_reserved(nick.upper() + "_", "charla")


def test_where_the_line_is_between_one_name_and_another():
    same = [("Ana", "ana_"), ("ana", "_ana-"), ("ana__b", "ana_b"), ("Begoña", "begona"),
            ("lucia", "LUC1A"), ("marina", "mar1na"), ("carmen", "carrnen")]  # fmt: skip
    for one, other in same:
        assert accounts.skeleton(one) == accounts.skeleton(other), (one, other)
    different = [("ana", "ana2"), ("ana", "anna"), ("ana_b", "anab"), ("ana", "ama"),
                 ("eva", "eva9"), ("pedro", "pablo")]  # fmt: skip
    for one, other in different:
        assert accounts.skeleton(one) != accounts.skeleton(other), (one, other)


def test_an_account_look_alike_of_another_is_refused_and_found_by_its_owner(store):
    assert store.register("profe", PASSWORD, "10.0.0.1") is None
    for look_alike in ("pr0fe", "Profe_", "Pr0f3", "PR0FE__"):
        assert store.register(look_alike, PASSWORD, "10.0.0.2") is Refused.EXISTS
        assert store.owner(look_alike) == "profe"
    assert store.owner("profe2") is None and store.register("profe2", PASSWORD, "10.0.0.2") is None
    assert store.owner("PROFE2_") == "profe2"


def test_the_look_alike_index_is_rebuilt_from_the_database(tmp_path):
    path = tmp_path / "historial.sqlite3"
    first = AccountStore(path)
    first.open()
    first.register("Lucia", PASSWORD, "10.0.0.1")
    first.close()
    again = AccountStore(path)
    again.open()
    try:
        assert again.owner("LUC1A_") == "Lucia"
        assert again.register("lucía", PASSWORD, "10.0.0.2") is Refused.EXISTS
    finally:
        again.close()


def test_over_irc_look_alikes_of_a_teacher_and_service_names_are_refused(start_server, connect):
    """The attack on main: with "profe" a teacher's account, a student took pr0fe, profe_,
    Pr0f3…, and ChanServ, NickServ, Global, root were anyone's."""
    server = start_server(teachers=("profe",))
    profe = connect(port=server.port)
    profe.send("CAP REQ :draft/account-registration")
    profe.send("NICK profe")
    profe.send(f"REGISTER * * :{PASSWORD}")
    profe.expect(r"REGISTER SUCCESS profe ")
    profe.send("USER profe 0 * :Profe")
    profe.send("CAP END")
    profe.expect(r" 001 profe ")
    student = connect("ana2", port=server.port)
    for look_alike in ("pr0fe", "profe_", "prOfe_", "Pr0f3", "PROFE", "_Pr0fe^"):
        student.send(f"NICK {look_alike}")
        student.expect(rf" 433 ana2 {re.escape(look_alike)} :Nickname is registered")
    for reserved in ("ChanServ", "NickServ", "Global", "root", "r00t", "Maestra_", "sistema"):
        student.send(f"NICK {reserved}")
        student.expect(rf" 432 ana2 {re.escape(reserved)} :Erroneous nickname: it is reserved")
    student.send("NICK \u03c1rofe")  # a Greek rho among Latin letters: not a nick at all
    student.expect(r" 432 ana2 \u03c1rofe :")
    student.send("NICK ana")  # "ana" and "ana2" are two people
    student.expect(r"^:ana2!\S+ NICK :?ana$")
    student.send("CAP REQ :draft/account-registration")
    student.send(f"REGISTER * * :{PASSWORD}")
    student.expect(r"REGISTER SUCCESS ana ")
    profe.send("NICK Pr0fe_")  # the account's owner may use its look-alikes
    profe.expect(r"^:profe!\S+ NICK :?Pr0fe_$")
    third = connect("maestro2", port=server.port)  # a name with a digit added: allowed
    third.send("NICK ana_")  # the student's account now: refused
    third.expect(r" 433 maestro2 ana_ :Nickname is registered")
    third.send("CAP REQ :draft/account-registration")
    third.send(f"REGISTER maestra * :{PASSWORD}")  # a reserved word is no student's account
    third.expect(r"FAIL REGISTER BAD_ACCOUNT_NAME maestra :")


def test_one_student_guessing_does_not_keep_classmates_behind_the_same_address_out(
    start_server, connect
):
    """Everybody in the class comes from 127.0.0.1 here, as behind a school's NAT."""
    server = start_server()
    for name in ("ana", "bea"):
        assert server.accounts.register(name, PASSWORD, "10.9.9.9") is None
    guesser = connect(port=server.port)
    guesser.send("CAP REQ sasl")
    guesser.send("NICK ana")
    guesser.send("USER x 0 * :x")
    guesser.send("AUTHENTICATE PLAIN")
    guesser.expect(r"^AUTHENTICATE \+$")
    guesser.send("AUTHENTICATE " + base64.b64encode(b"ana\0ana\0adivino").decode())
    guesser.expect(r" 904 \* :SASL authentication failed$")
    guesser.send("AUTHENTICATE PLAIN")
    guesser.send("AUTHENTICATE " + base64.b64encode(f"ana\0ana\0{PASSWORD}".encode()).decode())
    guesser.expect(r" 904 \* :SASL authentication failed: too many wrong passwords")
    bea = connect(port=server.port)  # at once, from the same address, her own account
    bea.send("CAP REQ sasl")
    bea.send("NICK bea")
    bea.send("USER bea 0 * :Bea")
    bea.send("AUTHENTICATE PLAIN")
    bea.expect(r"^AUTHENTICATE \+$")
    bea.send("AUTHENTICATE " + base64.b64encode(f"bea\0bea\0{PASSWORD}".encode()).decode())
    bea.expect(r" 903 \* :SASL authentication successful")


def test_a_thousand_register_attempts_from_one_connection_make_one_account(start_server, connect):
    server = start_server(flood_control=False)
    client = connect("ana", port=server.port)
    client.send("CAP REQ :draft/account-registration")
    client.expect(r" ACK ")
    for number in range(1000):
        if number % 3 == 0:
            client.send(f"REGISTER otra{number} * :{PASSWORD}")  # not its nick
        elif number % 3 == 1:
            client.send(f"REGISTER * * corta{number}")  # too short: refused before hashing
        else:
            client.send(f"REGISTER * * :{PASSWORD}{number}")  # the first makes ana's
    client.send("PING fin")
    client.expect(r"PONG \S+ :?fin$", timeout=30)
    fails = [line.split()[3] for line in client.lines if " FAIL REGISTER " in line]
    assert (
        client.lines.count(":test.charla REGISTER SUCCESS ana :Account created: you are logged in")
        == 1
    )
    assert set(fails) <= {"ACCOUNT_NAME_MUST_BE_NICK", "WEAK_PASSWORD", "ALREADY_AUTHENTICATED"}
    assert server.accounts.count() == 1
    assert sum(len(made) for made in server.accounts._recent.values()) == 1
