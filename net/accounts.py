"""Accounts: names protected by a password, and the table of teachers.

``AccountStore`` keeps every account (its name, a valid nick, and a salted slow hash of
its password) and the names of the teacher accounts. With a database path (the server's
``--history-db`` file, beside the history: two tables of their own, through a connection
of their own) they survive restarts; without one (``--no-history``), or when the file
cannot be used, they are kept in memory until the server stops, and ``on_disk`` says
so (the MOTD and the console tell people).

Passwords: ``hashlib.scrypt`` (n=2**14, r=8, p=1: 16 MiB and about 50 ms a hash), or
``pbkdf2_hmac`` with SHA-256 where this Python's OpenSSL lacks scrypt; each stored hash
carries its algorithm and parameters (``scrypt$16384$8$1$<salt>$<hash>``), so stronger
settings later still read the old ones. Hashes are compared with ``hmac.compare_digest``;
a password is never logged nor kept. ``hashlib`` is imported at the first hash, not at
start-up: it loads OpenSSL (3.6 MiB), which a server where nobody registers never needs.
At most ``MAX_CONCURRENT_HASHES`` hashes run at once (each scrypt takes 16 MiB).

Wrong passwords are slowed down by a ``net.guard.GuessGuard``, the server password's own
bookkeeping, keyed by (address, account): a wrong one locks that address out of that
account for 1 s, doubling up to a minute, and tries at it are judged one at a time; the
other students behind the same school address are not held up. Behind that, the address
has a budget (``net.guard.ADDRESS_FREE_FAILURES``) past which the whole address waits,
so guessing many accounts from one address stays slow. ``OPER`` passwords go through
the same ``guard`` (one guard, one rule).

Names that look alike are one name (``skeleton``: see it for where the line is): a
reserved word (``RESERVED_NICKS``, and the server's name) and each account's name stand
for all their look-alikes. ``owner`` finds the account a nick belongs to through an index
skeleton -> account kept beside the accounts (one look-up per NICK, not a scan), and
``register`` refuses a name that looks like an existing account's (``EXISTS``).

Bounded: names are valid nicks (``net.protocol.is_valid_nick``) and not reserved
(``is_reserved``), passwords ``MIN_PASSWORD_BYTES``..``MAX_PASSWORD_BYTES`` bytes of
UTF-8, at most ``ACCOUNTS_PER_ADDRESS_PER_HOUR`` new accounts from one address (an IPv6
/64) an hour and ``MAX_ACCOUNTS`` in all, ``MAX_TEACHERS`` teachers.

Threading: every public method may be called from any thread. ``_lock`` guards
``_accounts``, ``_skeletons``, ``_teachers``, ``_recent`` and the SQLite connection
``_db`` (held while a row is written: rare, small writes); it is never held while a
password is hashed, and never taken together with ``net.state.Rooms``' lock (Rooms asks
``owner`` before taking its own). Nothing here touches a socket.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
import unicodedata

# hmac.compare_digest itself, without importing hmac (see net.guard)
from _operator import _compare_digest as compare_digest
from collections import deque
from enum import Enum
from pathlib import Path
from typing import NamedTuple

from net.guard import GuessGuard, Verdict, address_key
from net.i18n import tr
from net.protocol import is_valid_nick, nick_key, normal_nick

log = logging.getLogger(__name__)

MIN_PASSWORD_BYTES = 8
MAX_PASSWORD_BYTES = 128
#: accounts the server keeps in all; past it, REGISTER answers TEMPORARILY_UNAVAILABLE
MAX_ACCOUNTS = 10_000
#: new accounts from one address (an IPv6 /64) within an hour
ACCOUNTS_PER_ADDRESS_PER_HOUR = 10
REGISTRATION_WINDOW_SECONDS = 3600.0
MAX_TEACHERS = 200
#: hashes computed at once (each scrypt takes 16 MiB); the others wait their turn
MAX_CONCURRENT_HASHES = 2
SALT_BYTES = 16
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 2**20
#: for Pythons whose OpenSSL has no scrypt (OWASP's 2023 figure for PBKDF2-HMAC-SHA256)
PBKDF2_ITERATIONS = 600_000
HASH_BYTES = 32

#: nicks nobody may take (nor any look-alike: ``skeleton``) unless logged in to an
#: account of that name, which only a teacher named beforehand may register (``--teacher``);
#: the server's own name is one too. The services' names are here because IRC users
#: trust a message from "NickServ" or "Global" as the server's own.
RESERVED_NICKS = (
    "servidor",
    "server",
    "sistema",
    "system",
    "admin",
    "administrador",
    "administrator",
    "operador",
    "operator",
    "moderador",
    "moderator",
    "profesor",
    "profesora",
    "profe",
    "teacher",
    "docente",
    "maestro",
    "maestra",
    "root",
    "global",
    "chanserv",
    "nickserv",
    "operserv",
    "memoserv",
    "hostserv",
    "botserv",
)

#: what may pad a nick at either end, or be doubled inside it, without making another
#: name ("profe_", "_profe_", "ana__b" as "ana_b"); one alone inside still counts
_SEPARATORS = "_-^|\\`[]{}"
#: letters and digits that pass for others (Unicode TR39's confusables, the ones that
#: matter in names typed at school: Cyrillic and Greek capitals and small letters that
#: draw as Latin ones, digits read as letters, and I, l, 1, | as one stroke). Applied
#: after NFKD (fullwidth and mathematical letters are plain ones by then) and before
#: casefolding, so a capital and a small letter each map to what they look like (Greek
#: capital Eta is H, its small eta is n).
_HOMOGLYPHS = str.maketrans(
    {
        # Cyrillic capitals and small letters
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
        "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "Ӏ": "l",
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
        "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l", "к": "k",
        # Greek capitals and small letters
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        "α": "a", "ο": "o", "ρ": "p", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "τ": "t",
        "υ": "u", "χ": "x", "γ": "y", "ω": "w", "η": "n",
        # Latin letters NFKD leaves alone
        "ɡ": "g", "ı": "i", "ɩ": "i", "ǀ": "l", "ł": "l", "ø": "o", "đ": "d",
        # digits read as letters (2, 6 and 9 are not: "ana" and "ana2" are two people)
        "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
        # one vertical stroke: I, i, l and | (inside a nick; at its ends | pads)
        "I": "l", "i": "l", "|": "l",
    }
)  # fmt: skip
#: letter pairs that read as one letter (TR39's "rn" for "m")
_DIGRAPHS = (("rn", "m"), ("vv", "w"))
_SEPARATOR_RUNS = re.compile("[" + re.escape(_SEPARATORS) + "]+")


def skeleton(nick: str) -> str:
    """What two nicks look like when someone reads them quickly: equal skeletons are one
    name (the idea of Unicode TR39's skeleton, with a small table of our own).

    The same name: another case, accents (Begoña, Begona), compatibility forms (Ｐrofe),
    Cyrillic or Greek look-alikes (ρrofe, Рrofe), digits 0 1 3 4 5 7 8 for o l e a s t b
    (Pr0f3), I l 1 | for each other, "rn" for "m", and separators padding either end or
    doubled (profe_, _profe, pro__fe as pro_fe). Another name: any other letter or digit
    added or changed (ana, ana2, anna), one separator inside (ana_b, anab).

    >>> {skeleton(n) for n in ("profe", "pr0fe", "profe_", "prOfe_", "Pr0f3", "ρrofe", "Ｐrofe")}
    {'profe'}
    >>> skeleton("Ana") == skeleton("ana_"), skeleton("ana") == skeleton("ana2")
    (True, False)
    >>> skeleton("NickServ") == skeleton("n1ckserv"), skeleton("Begoña") == skeleton("begona")
    (True, True)
    """
    decomposed = unicodedata.normalize("NFKD", nick)
    letters = "".join(char for char in decomposed if not unicodedata.combining(char))
    letters = letters.strip(_SEPARATORS) or "_"
    folded = letters.translate(_HOMOGLYPHS).casefold().translate(_HOMOGLYPHS)
    for pair, letter in _DIGRAPHS:
        folded = folded.replace(pair, letter)
    return _SEPARATOR_RUNS.sub("_", folded)


_RESERVED_SKELETONS = frozenset(skeleton(nick) for nick in RESERVED_NICKS)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (  -- one row per account; key: nick_key(name)
    key TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS teachers (key TEXT PRIMARY KEY, name TEXT NOT NULL);
"""


def is_reserved(nick: str, server_name: str) -> bool:
    """Whether ``nick`` (or a look-alike: ``skeleton``) is a reserved word or the server's
    own name.

    >>> is_reserved("PROFESOR", "charla"), is_reserved("сharla", "charla"), is_reserved("ana", "x")
    (True, True, False)
    >>> is_reserved("Ch4nServ_", "x"), is_reserved("r00t", "x"), is_reserved("profe2", "x")
    (True, True, False)
    """
    shape = skeleton(nick)
    return shape in _RESERVED_SKELETONS or shape == skeleton(server_name)


class Refused(Enum):
    """Why ``AccountStore.register`` made no account (values: draft/account-registration's
    FAIL codes)."""

    EXISTS = "ACCOUNT_EXISTS"
    BAD_NAME = "BAD_ACCOUNT_NAME"
    WEAK_PASSWORD = "WEAK_PASSWORD"  # too short
    UNACCEPTABLE_PASSWORD = "UNACCEPTABLE_PASSWORD"  # too long, or with control characters
    TOO_MANY_FROM_ADDRESS = "TEMPORARILY_UNAVAILABLE"
    FULL = "TEMPORARILY_UNAVAILABLE "  # (the trailing space keeps the two members apart)
    NOT_SAVED = "TEMPORARILY_UNAVAILABLE  "

    @property
    def code(self) -> str:
        return self.value.strip()


class Login(NamedTuple):
    verdict: Verdict
    account: str | None  # the account's name as registered, when RIGHT


def password_problem(password: str) -> Refused | None:
    """What is wrong with ``password`` for a new account (None: nothing).

    >>> [getattr(password_problem(p), "name", None) for p in ("corto", "bastante largo", "x" * 129)]
    ['WEAK_PASSWORD', None, 'UNACCEPTABLE_PASSWORD']
    """
    size = len(password.encode("utf-8", "surrogatepass"))
    if size > MAX_PASSWORD_BYTES or any(unicodedata.category(c) == "Cc" for c in password):
        return Refused.UNACCEPTABLE_PASSWORD
    if size < MIN_PASSWORD_BYTES:
        return Refused.WEAK_PASSWORD
    return None


_hash_slots = threading.BoundedSemaphore(MAX_CONCURRENT_HASHES)
#: the algorithm new hashes use has been logged (the packaged server's test reads it)
_algorithm_logged = threading.Event()


def hash_password(password: str, salt: bytes | None = None, algorithm: str | None = None) -> str:
    """A stored form of ``password``: algorithm, parameters, salt and hash, ``$``-separated."""
    import hashlib  # here, not at start-up: it loads OpenSSL (see the module docstring)

    salt = os.urandom(SALT_BYTES) if salt is None else salt
    secret = password.encode("utf-8", "surrogatepass")
    if algorithm is None:
        algorithm = "scrypt" if hasattr(hashlib, "scrypt") else "pbkdf2_sha256"
        if not _algorithm_logged.is_set():  # once (twice at worst, in a race: harmless)
            _algorithm_logged.set()
            log.info(tr("account passwords are hashed with %s"), algorithm)
    with _hash_slots:
        if algorithm == "scrypt":
            digest = hashlib.scrypt(
                secret,
                salt=salt,
                n=SCRYPT_N,
                r=SCRYPT_R,
                p=SCRYPT_P,
                maxmem=SCRYPT_MAXMEM,
                dklen=HASH_BYTES,
            )
            params = f"{SCRYPT_N}${SCRYPT_R}${SCRYPT_P}"
        else:
            digest = hashlib.pbkdf2_hmac("sha256", secret, salt, PBKDF2_ITERATIONS, HASH_BYTES)
            params = str(PBKDF2_ITERATIONS)
    return f"{algorithm}${params}${salt.hex()}${digest.hex()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` is the one ``stored`` (from ``hash_password``) was made from,
    with the algorithm and parameters written in it."""
    import hashlib

    algorithm, *fields = stored.split("$")
    secret = password.encode("utf-8", "surrogatepass")
    try:
        if algorithm == "scrypt":
            n, r, p, salt, expected = fields
            with _hash_slots:
                digest = hashlib.scrypt(
                    secret,
                    salt=bytes.fromhex(salt),
                    n=int(n),
                    r=int(r),
                    p=int(p),
                    maxmem=SCRYPT_MAXMEM,
                    dklen=len(expected) // 2,
                )
        elif algorithm == "pbkdf2_sha256":
            iterations, salt, expected = fields
            with _hash_slots:
                digest = hashlib.pbkdf2_hmac(
                    "sha256", secret, bytes.fromhex(salt), int(iterations), len(expected) // 2
                )
        else:
            raise ValueError(f"unknown algorithm {algorithm!r}")
    except ValueError as exc:  # a damaged row: nobody can log in to it, and the log says so
        log.error("a stored password hash cannot be read (%s)", exc)
        return False
    return compare_digest(digest, bytes.fromhex(expected))


class AccountStore:
    """See the module docstring. ``open()`` before use; ``close()`` at the end."""

    def __init__(
        self,
        path: str | Path | None,
        *,
        max_accounts: int = MAX_ACCOUNTS,
        per_address_per_hour: int = ACCOUNTS_PER_ADDRESS_PER_HOUR,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.max_accounts = max_accounts
        self.per_address_per_hour = per_address_per_hour
        self._lock = threading.Lock()  # guards everything below (see the module docstring)
        self._db: sqlite3.Connection | None = None
        self._accounts: dict[str, tuple[str, str]] = {}  # nick_key(name) -> (name, hash)
        #: skeleton(name) -> nick_key(name) of the account that has it (the first, if an
        #: older database holds two look-alikes): one look-up per NICK, not a scan
        self._skeletons: dict[str, str] = {}
        self._teachers: dict[str, str] = {}  # nick_key(name) -> name
        #: address_key -> when its recent accounts were made (time.monotonic()), oldest first
        self._recent: dict[str, deque[float]] = {}
        #: wrong passwords, per (address, account) with a budget per address; also the
        #: OPER passwords' (thread-safe on its own)
        self.guard = GuessGuard(tr("account password"))

    # -- the database ---------------------------------------------------------------------

    def open(self) -> None:
        """Load the accounts and teachers the database kept (if there is one, and usable)."""
        if self.path is None:
            log.info(tr("accounts are kept in memory only: they end when the server stops"))
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=2.0)
        except (sqlite3.Error, OSError) as exc:
            log.warning(
                tr("accounts database %s unusable (%s): kept in memory only"), self.path, exc
            )
            return
        try:
            # as the history does: WAL, and no fsync at each commit (a killed process loses
            # nothing; a power cut at most the last moment). A slow commit here would hold
            # the file's write lock past the history's short busy timeout.
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            accounts = db.execute("SELECT key, name, hash FROM accounts").fetchall()
            teachers = db.execute("SELECT key, name FROM teachers").fetchall()
        except sqlite3.Error as exc:
            db.close()
            log.warning(
                tr("accounts database %s unusable (%s): kept in memory only"), self.path, exc
            )
            return
        with self._lock:
            self._db = db
            for _key, name, stored in accounts:
                if isinstance(name, str) and isinstance(stored, str):
                    self._accounts[nick_key(name)] = (name, stored)
                    self._skeletons.setdefault(skeleton(name), nick_key(name))
            for _key, name in teachers:
                if isinstance(name, str):
                    self._teachers[nick_key(name)] = name
        log.info(tr("accounts: %d, teachers: %d (in %s)"), len(accounts), len(teachers), self.path)

    @property
    def on_disk(self) -> bool:
        """Whether accounts survive a restart."""
        return self._db is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _write_locked(self, sql: str, values: tuple) -> bool:
        """Write one row (with ``_lock`` held); False if the disk refused it."""
        if self._db is None:
            return True
        try:
            with self._db:
                self._db.execute(sql, values)
        except sqlite3.Error as exc:
            log.warning(tr("accounts database: a change could not be saved (%s)"), exc)
            return False
        return True

    # -- accounts -------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        """Whether an account called ``name`` (or a look-alike of it) exists."""
        key = nick_key(name)
        with self._lock:
            return key in self._accounts

    def owner(self, nick: str) -> str | None:
        """The name of the account ``nick`` belongs to: the account of that name, or else
        the one whose ``skeleton`` it has (pr0fe is profe's); None: nobody's."""
        key, shape = nick_key(nick), skeleton(nick)
        with self._lock:
            found = self._accounts.get(key)
            if found is None and (other := self._skeletons.get(shape)) is not None:
                found = self._accounts.get(other)
        return None if found is None else found[0]

    def name_of(self, name: str) -> str | None:
        """The registered spelling of the account ``name`` (None: there is none)."""
        with self._lock:
            found = self._accounts.get(nick_key(name))
        return None if found is None else found[0]

    def count(self) -> int:
        with self._lock:
            return len(self._accounts)

    def register(
        self, name: str, password: str, ip: str, now: float | None = None
    ) -> Refused | None:
        """Make the account ``name``; None when it is made (and saved), else why not."""
        name = normal_nick(name)
        if not is_valid_nick(name):
            return Refused.BAD_NAME
        problem = password_problem(password)
        if problem is not None:
            return problem
        now = time.monotonic() if now is None else now
        key, shape, address = nick_key(name), skeleton(name), address_key(ip)
        with self._lock:
            refused = self._refusal_locked(key, shape, address, now)
        if refused is not None:  # said before the slow hash, and checked again after it
            return refused
        stored = hash_password(password)  # slow: outside the lock
        with self._lock:
            refused = self._refusal_locked(key, shape, address, now)
            if refused is not None:
                return refused
            if not self._write_locked(
                "INSERT OR REPLACE INTO accounts (key, name, hash, created) VALUES (?, ?, ?, ?)",
                (key, name, stored, time.time()),
            ):
                return Refused.NOT_SAVED
            self._accounts[key] = (name, stored)
            self._skeletons[shape] = key
            self._recent.setdefault(address, deque()).append(now)
        log.info(tr("account %s registered from %s"), name, address)
        return None

    def _refusal_locked(self, key: str, shape: str, address: str, now: float) -> Refused | None:
        if key in self._accounts or shape in self._skeletons:  # it, or a look-alike of it
            return Refused.EXISTS
        if len(self._accounts) >= self.max_accounts:
            return Refused.FULL
        recent = self._recent.get(address)
        if recent is not None:
            while recent and now - recent[0] >= REGISTRATION_WINDOW_SECONDS:
                recent.popleft()
            if not recent:
                del self._recent[address]
            elif len(recent) >= self.per_address_per_hour:
                return Refused.TOO_MANY_FROM_ADDRESS
        return None

    def log_in(self, ip: str, name: str, password: str, now: float | None = None) -> Login:
        """Whether ``password`` is that of the account ``name``, asked from ``ip``: RIGHT
        (with the account's name), WRONG, or WAIT (the address is locked out for now: the
        password was not even looked at)."""
        owner = self.owner(normal_nick(name))  # a look-alike's password is its account's
        key = nick_key(owner if owner is not None else normal_nick(name))
        if not self.guard.admit(ip, now, key):
            return Login(Verdict.WAIT, None)
        right = False
        try:
            with self._lock:
                found = self._accounts.get(key)
            right = found is not None and password_matches(password, found[1])
        finally:  # always judged, even by a bug: an address left "being judged" is shut out
            self.guard.judged(ip, right, now, key)
        if not right:
            return Login(Verdict.WRONG, None)
        assert found is not None
        return Login(Verdict.RIGHT, found[0])

    def wait_seconds(self, ip: str, name: str) -> int:
        """How long ``ip`` must still wait before its next try at the account ``name``,
        in whole seconds."""
        owner = self.owner(normal_nick(name))
        return self.guard.wait_seconds(
            ip, name=nick_key(owner if owner is not None else normal_nick(name))
        )

    # -- teachers -------------------------------------------------------------------------

    def is_teacher(self, account: str) -> bool:
        with self._lock:
            return nick_key(account) in self._teachers

    def teachers(self) -> list[str]:
        """The teacher accounts' names, in the order they were named."""
        with self._lock:
            return list(self._teachers.values())

    def add_teacher(self, account: str) -> bool:
        """Make ``account`` (an existing account) a teacher, for good; False if there is no
        such account, the table is full or the disk refused it."""
        key = nick_key(account)
        with self._lock:
            found = self._accounts.get(key)
            if found is None:
                return False
            if key in self._teachers:
                return True
            if len(self._teachers) >= MAX_TEACHERS:
                return False
            if not self._write_locked(
                "INSERT OR REPLACE INTO teachers (key, name) VALUES (?, ?)", (key, found[0])
            ):
                return False
            self._teachers[key] = found[0]
        return True

    def name_teacher(self, account: str) -> bool:
        """A teacher named at start-up (``--teacher``): the account need not exist yet, so
        whoever registers it later is a teacher; kept in memory only."""
        name = normal_nick(account)
        if not is_valid_nick(name):
            return False
        with self._lock:
            if len(self._teachers) >= MAX_TEACHERS:
                return False
            self._teachers.setdefault(nick_key(name), name)
        return True
