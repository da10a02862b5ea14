"""The password guard: wrong passwords lock an address out for longer each time, the
right one clears it, a flood of addresses is forgotten oldest first, and the log says it
once a minute."""

from __future__ import annotations

import logging

from net import guard
from net.guard import PasswordGuard, Verdict


def test_each_wrong_password_locks_the_address_out_twice_as_long_up_to_a_minute():
    keeper = PasswordGuard("s3cret")
    now, locks = 0.0, []
    for _ in range(9):
        assert keeper.check("10.0.0.7", "wrong", now) is Verdict.WRONG
        locks.append(keeper.wait_seconds("10.0.0.7", now))
        assert keeper.check("10.0.0.7", "s3cret", now + locks[-1] - 0.5) is Verdict.WAIT
        now += locks[-1]
    assert locks == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert keeper.check("10.0.0.8", "s3cret", now) is Verdict.RIGHT  # another address
    assert keeper.check("10.0.0.7", "s3cret", now) is Verdict.RIGHT
    assert keeper.check("10.0.0.7", "wrong", now) is Verdict.WRONG
    assert keeper.wait_seconds("10.0.0.7", now) == 1  # the right one cleared the count


def test_an_ipv6_machine_counts_once_for_its_whole_64():
    keeper = PasswordGuard("s3cret")
    assert keeper.check("2001:db8:0:1::a", "wrong", 0.0) is Verdict.WRONG
    assert keeper.check("2001:db8:0:1::b", "s3cret", 0.5) is Verdict.WAIT
    assert keeper.check("2001:db8:0:2::a", "s3cret", 0.5) is Verdict.RIGHT


def test_no_password_means_everyone_is_right():
    assert PasswordGuard(None).check("10.0.0.7", None) is Verdict.RIGHT
    assert not PasswordGuard(None).required


def test_what_it_remembers_is_bounded_and_the_log_speaks_once_a_minute(monkeypatch, caplog):
    monkeypatch.setattr(guard, "MAX_ADDRESSES", 100)
    keeper = PasswordGuard("s3cret")
    for number in range(300):
        keeper.check(f"10.1.{number // 256}.{number % 256}", "wrong", 0.0)
    assert keeper.wait_seconds("10.1.0.0", 0.0) == 0  # forgotten: the oldest went first
    assert keeper.wait_seconds("10.1.1.43", 0.0) == 1  # the newest is still locked
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="net.guard"):
        for second in range(0, 200, 2):  # a patient guesser, one try every two seconds
            keeper.check("10.9.9.9", "wrong", float(second) * 1000)
    assert len(caplog.records) == 100  # each try waited long enough to be logged: no flood
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="net.guard"):
        for attempt in range(50):  # a fast one, refused at once: one line for the minute
            keeper.check("10.8.8.8", "wrong", 1e6 + attempt * 0.01)
    assert len(caplog.records) == 1


def test_a_named_secret_slows_that_address_for_that_name_only():
    """A school behind one NAT address: one student guessing a classmate's password does
    not keep the other 29 out (before: every login from the address waited)."""
    keeper = guard.GuessGuard("account password")
    now = 0.0
    for _ in range(5):  # as fast as it is let through
        while not keeper.admit("192.0.2.1", now, "ana"):
            now += 0.5
        keeper.judged("192.0.2.1", False, now, "ana")
    assert keeper.wait_seconds("192.0.2.1", now, "ana") == 16
    for student in range(30):
        assert keeper.admit("192.0.2.1", now, f"alumno{student}")
        keeper.judged("192.0.2.1", True, now, f"alumno{student}")
    assert not keeper.admit("192.0.2.1", now, "ana")  # the guesser still waits


def test_a_spray_over_many_names_from_one_address_is_still_slowed():
    keeper = guard.GuessGuard("account password")
    now, made = 0.0, 0
    while made < 200:
        name = f"cuenta{made}"
        if keeper.admit("192.0.2.1", now, name):
            keeper.judged("192.0.2.1", False, now, name)
            made += 1
            if made == guard.ADDRESS_FREE_FAILURES:
                assert now == 0.0  # the budget: a class's typos cost nothing
        else:
            now += 0.5
    assert now > 60 * 60  # at most about one guess per ADDRESS_FORGIVE_SECONDS after it
    assert not keeper.admit("192.0.2.1", now, "alumno")  # then the whole address waits
    assert keeper.wait_seconds("192.0.2.1", now, "alumno") >= 1
    assert keeper.admit("192.0.2.9", now, "alumno")  # another address does not


def test_a_budget_is_forgiven_as_time_passes():
    keeper = guard.GuessGuard("account password")
    for number in range(guard.ADDRESS_FREE_FAILURES):  # twenty typos in a morning
        keeper.judged("192.0.2.1", False, number * 60.0, f"alumno{number}")
        assert keeper.admit("192.0.2.1", number * 60.0 + 1, "otro")
        keeper.judged("192.0.2.1", True, number * 60.0 + 1, "otro")
    keeper.judged("192.0.2.1", False, 1200.0, "uno-mas")
    assert keeper.admit("192.0.2.1", 1200.0, "otro")  # forgiven meanwhile: no lock
