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
