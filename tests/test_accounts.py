"""The account store: slow salted hashes, names that are nicks, bounds, the teacher table,
and what the database keeps across a restart."""

from __future__ import annotations

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
    assert not accounts.is_reserved("profe", "charla")
