"""The server's password, guarded: compared in constant time, and guessed slowly.

``PasswordGuard.check(address, given)`` answers whether a client may come in. Each wrong
password from an address (an IPv6 address counts by its /64, which one machine holds
whole) locks that address out for a while that doubles with every failure, from one
second up to a minute; while it is locked, every answer is "wait", whatever was given,
so guessing goes no faster with more connections. A right password clears the address.
Failures are logged once per address per minute, not once per try.

``GuessGuard`` is that bookkeeping on its own, for secrets that are slow to check (the
accounts' hashed passwords, ``net.accounts``): ``admit`` a try, check it without a lock,
then say how it was ``judged``; ``judge_secret`` does all three for a secret in memory
(an ``OPER`` password). Given the ``name`` of what is guessed (an account, an OPER
name), it keys the doubling wait by (address, name), so one student guessing a
classmate's password behind a school's one public address does not lock the others out;
behind it each address has a budget: ``ADDRESS_FREE_FAILURES`` wrong passwords, forgiven
one per ``ADDRESS_FORGIVE_SECONDS``, and past it every further one locks the whole
address out as the server password does (1 s doubling to a minute), so spraying many
names from one address is still slow.

Threading: any reader thread may call ``check``, ``admit``, ``judged``; a ``GuessGuard``'s
``_lock`` guards its ``_addresses`` and ``_budgets``, which hold at most
``MAX_ADDRESSES`` entries each (the oldest are forgotten first). Nothing here blocks or
touches a socket.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import threading
import time

# hmac.compare_digest itself, without importing hmac: that loads OpenSSL (3.6 MiB of
# resident memory the server never needs, and the packaged programs leave it out)
from _operator import _compare_digest as compare_digest
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from net.i18n import tr

log = logging.getLogger(__name__)

#: addresses remembered at once; a flood of new ones only forgets the oldest
MAX_ADDRESSES = 10_000
FIRST_LOCK_SECONDS = 1.0
LONGEST_LOCK_SECONDS = 60.0
#: how often a guessing address is logged
LOG_EVERY_SECONDS = 60.0
#: wrong passwords one address may give for named secrets (accounts, OPER names) before
#: it is locked out as a whole: a class behind one NAT address mistypes, a sprayer does more
ADDRESS_FREE_FAILURES = 20
#: one of those is forgiven every this many seconds (60 an hour: a sprayer gets about
#: as many guesses as the per-address lock allowed before)
ADDRESS_FORGIVE_SECONDS = 60.0


class Verdict(Enum):
    RIGHT = "right"
    WRONG = "wrong"
    WAIT = "wait"  # the address is locked out for now; the password was not even looked at


def address_key(ip: str) -> str:
    """The unit that is counted: an IPv4 address, or an IPv6 address's /64.

    >>> address_key("192.168.1.23"), address_key("2001:db8:1:2:3:4:5:6"), address_key("x")
    ('192.168.1.23', '2001:db8:1:2::/64', 'x')
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(address)


@dataclass
class _Budget:
    """An address's wrong passwords for named secrets, forgiven as time passes."""

    spent: float = 0.0  # failures not forgiven yet, as of ``at``
    at: float = 0.0
    locked_until: float = 0.0
    logged_at: float = float("-inf")
    unlogged: int = 0  # failures since the last log line


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    logged_at: float = float("-inf")
    unlogged: int = 0  # failures since the last log line
    judging: bool = False  # a try from it is being judged now (a slow hash, maybe)


class GuessGuard:
    """The failures of each address and how long each is locked out (see the module
    docstring). For a secret that is slow to check (an account's hashed password), a try
    is ``admit``-ted first, checked without any lock held, and then ``judged``: an address
    that has failed before is judged one try at a time, so parallel connections guess no
    faster than one."""

    def __init__(self, what: str = "password") -> None:
        self._what = what  # what is being guessed, for the log
        self._lock = threading.Lock()  # guards _addresses and _budgets
        #: address_key, or (address_key, name) for a named secret -> its recent failures,
        #: least recently failed first
        self._addresses: OrderedDict[str | tuple[str, str], _Failures] = OrderedDict()
        #: address_key -> its budget of failures for named secrets, least recent first
        self._budgets: OrderedDict[str, _Budget] = OrderedDict()

    def admit(self, ip: str, now: float | None = None, name: str | None = None) -> bool:
        """Whether a try from ``ip`` (for the secret called ``name``, if it has one) may be
        checked now (False: it must wait); every admitted try must be ``judged``."""
        now = time.monotonic() if now is None else now
        address = address_key(ip)
        with self._lock:
            if name is not None:
                budget = self._budgets.get(address)
                if budget is not None and now < budget.locked_until:
                    return False
            failures = self._addresses.get(address if name is None else (address, name))
            if failures is None:
                return True
            if now < failures.locked_until or failures.judging:
                return False
            failures.judging = True
            return True

    def judged(
        self, ip: str, right: bool, now: float | None = None, name: str | None = None
    ) -> None:
        """An admitted try from ``ip`` was right (the address, or the address and
        ``name``, is cleared) or wrong (it is locked out for twice as long as last time;
        with a ``name``, the address's budget is spent too)."""
        now = time.monotonic() if now is None else now
        address = address_key(ip)
        key = address if name is None else (address, name)
        with self._lock:
            failures = self._addresses.get(key)
            if right:
                self._addresses.pop(key, None)
                return
            if name is not None:
                self._spend_locked(address, now)
            if failures is None:
                failures = self._addresses[key] = _Failures()
                while len(self._addresses) > MAX_ADDRESSES:
                    self._addresses.popitem(last=False)
            self._addresses.move_to_end(key)
            failures.judging = False
            failures.count += 1
            failures.unlogged += 1
            lock = min(LONGEST_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** (failures.count - 1))
            failures.locked_until = max(failures.locked_until, now + lock)
            if name is None and now - failures.logged_at >= LOG_EVERY_SECONDS:
                log.warning(
                    tr("%d wrong %s(s) from %s; it waits %.0f s before the next try"),
                    failures.unlogged,
                    self._what,
                    address,
                    lock,
                )
                failures.logged_at, failures.unlogged = now, 0

    def _spend_locked(self, address: str, now: float) -> None:
        """One more wrong password from ``address`` for a named secret: past its budget,
        the whole address waits (1 s doubling up to a minute per failure beyond it)."""
        budget = self._budgets.get(address)
        if budget is None:
            budget = self._budgets[address] = _Budget(at=now)
            while len(self._budgets) > MAX_ADDRESSES:
                self._budgets.popitem(last=False)
        self._budgets.move_to_end(address)
        forgiven = max(0.0, now - budget.at) / ADDRESS_FORGIVE_SECONDS
        budget.spent = max(0.0, budget.spent - forgiven) + 1
        budget.at = now
        budget.unlogged += 1
        beyond = math.ceil(budget.spent - ADDRESS_FREE_FAILURES)
        lock = 0.0
        if beyond > 0:
            lock = min(LONGEST_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** min(beyond - 1, 16))
            budget.locked_until = max(budget.locked_until, now + lock)
        if now - budget.logged_at >= LOG_EVERY_SECONDS or beyond == 1:
            log.warning(
                tr("%d wrong %s(s) from %s%s"),
                budget.unlogged,
                self._what,
                address,
                tr("; the whole address waits {seconds} s").format(seconds=round(lock))
                if lock
                else "",
            )
            budget.logged_at, budget.unlogged = now, 0

    def judge_secret(
        self,
        ip: str,
        name: str | None,
        given: str | None,
        expected: str | None,
        now: float | None = None,
    ) -> Verdict:
        """Whether ``given`` is ``expected`` (None: nothing is right), asked from ``ip``
        for the secret called ``name``: ``admit``, a constant-time comparison, ``judged``."""
        now = time.monotonic() if now is None else now
        if not self.admit(ip, now, name):
            return Verdict.WAIT
        right = (
            given is not None
            and expected is not None
            and compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
        )
        self.judged(ip, right, now, name)
        return Verdict.RIGHT if right else Verdict.WRONG

    def wait_seconds(self, ip: str, now: float | None = None, name: str | None = None) -> int:
        """How long ``ip`` (for ``name``) is still locked out, in whole seconds (0: not)."""
        now = time.monotonic() if now is None else now
        address = address_key(ip)
        with self._lock:
            until = 0.0
            if failures := self._addresses.get(address if name is None else (address, name)):
                until = failures.locked_until
            if name is not None and (budget := self._budgets.get(address)) is not None:
                until = max(until, budget.locked_until)
            return max(0, math.ceil(until - now))


class PasswordGuard:
    """See the module docstring; ``password`` None means there is none to guess."""

    def __init__(self, password: str | None) -> None:
        self._password = password
        self._guesses = GuessGuard(tr("password"))

    @property
    def required(self) -> bool:
        return self._password is not None

    def check(self, ip: str, given: str | None, now: float | None = None) -> Verdict:
        """Whether ``given`` is the password, asked on behalf of a client at ``ip``."""
        if self._password is None:
            return Verdict.RIGHT
        return self._guesses.judge_secret(ip, None, given, self._password, now)

    def wait_seconds(self, ip: str, now: float | None = None) -> int:
        """How long ``ip`` is still locked out, in whole seconds (0: not at all)."""
        return self._guesses.wait_seconds(ip, now)
