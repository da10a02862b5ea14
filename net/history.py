"""What was said in each channel, kept across restarts, replayed to whoever joins.

``ChannelHistory`` holds the last ``size`` messages of every channel in memory (the
replay source, read under ``net.state.Rooms``' lock) and, when given a database path,
mirrors them, the topics and the last message number of every Charla client into
SQLite, so a restart, even a ``kill -9``, keeps everything that had been relayed.

What is kept is bounded, in memory and so on disk:

- Each message is kept once, lean (``net.outgoing.KeptMessage``), and costs its text, its
  tags and ``KEPT_MESSAGE_OVERHEAD`` bytes (``footprint``). All channels together hold at
  most ``memory`` bytes (``--history-memory``): past it, the channels holding the most
  bytes forget their oldest messages, cut down to one common size, until ``TRIM_TO`` of the
  budget is used (a flood in one channel costs that channel its history, not a small
  channel of honest people; spread over many channels, it costs each the same size).
- The history, topic, bans and mutes of a channel nobody is in are forgotten ``expiry``
  seconds after it emptied (``--history-expiry``; ``net.state.Rooms`` says when a channel
  empties and fills again, with ``vacated`` and ``occupied``), except those of the
  channels given to ``keep_always`` (the server's default channel). After a restart every
  channel is empty: it counts as emptied at its newest message, topic or list entry.
  There is no timer thread: a channel is checked when someone joins it (``occupied``),
  and all of them at most every ``SWEEP_INTERVAL`` seconds, from ``record``; ``clock`` is
  injectable for tests.
- A channel's bans and mutes (``entries``, ``ListEntry``) are kept too, so a ban outlives a
  restart; ``net.state`` gives a channel its entries when it is made again.
- What is forgotten in memory is deleted from the database too: the deletions are queued
  like the rows and written by the next ``persist``, in order with them.

Writing never holds up the relay: ``record()`` only queues a row (under the rooms'
lock); ``persist()`` runs when a reader thread has handled a batch of lines (its
session's ``on_batch_done`` calls ``Rooms.persist_history``: ``net.connection`` calls
that after it has flushed the messages of the batch to their recipients and before it
flushes its own client's confirmations; ``persist`` returns only when every row queued
before the call is written, even by another thread's transaction, or kept for a retry).

When writing fails (a full or read-only disk, a file another program locks, or one that
was removed or replaced: its inode is checked before each write, since SQLite would go on
writing into a deleted file that no restart reads),
nothing is dropped at once and nothing is hidden: the rows stay queued, at most
``MAX_UNSAVED_ROWS`` (past that the oldest are dropped and counted), and a retry thread,
which lives only while writing fails, tries again after ``RETRY_FIRST`` seconds, doubling
up to ``RETRY_MOST``; meanwhile readers' ``persist`` returns at once. The operator's console
gets one warning, ``saving`` turns False (the MOTD says so), and ``on_saving_changed``
(``net.state.Rooms`` tells everyone connected) is called once when writing stops working
and once when it works again, with how many messages could not be kept. A confirmation
to a sender does not wait for a disk that refuses: the chat goes on and everyone has been
told that history is not being saved (the issue's "confirmed only once stored, OR
everyone told history is off"); while the disk works, a confirmation leaves only after
its message is written. An error that belongs to one row (a value SQLite cannot take)
skips that row, as a bug, never the others' rows, and no storage error reaches the
caller: it would end an innocent reader's connection.

A deleted message (``find``, then ``forget``: IRCv3 message redaction) leaves memory at
once and the database at the next ``persist``, in order with the rows queued before it.

Threading: ``record``, ``recent``, ``find``, ``forget``, ``seen_before``, ``set_topic``,
``keep_always``, ``vacated``, ``occupied`` and ``expire`` are called with ``Rooms``' lock
held (or before the server's threads start); they only touch memory and queue rows and deletions
(``_rows_lock``, held for an append, guards ``_rows``, ``_queued`` and ``_lost`` and is
never held during I/O). ``_db_lock`` guards the SQLite connection, ``_failing`` and
``_retry_thread`` and is held while writing, never together with the rooms' lock.
``persist`` may be called from any thread. ``on_saving_changed`` is called without
either lock (under ``_tell_lock``, which only orders the calls), never under the rooms'.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from net.connection import BugLog
from net.i18n import tr
from net.outgoing import KeptMessage, Outgoing
from net.protocol import (
    MAX_CLIENT_TAG_DATA_BYTES,
    MAX_WIRE_NUMBER,
    InvalidMessageError,
    Message,
    as_middle_param,
    breaks_a_line,
    parse,
)

log = logging.getLogger(__name__)
_bugs = BugLog(log)  # messages that cannot be kept: bugs, logged rate-limited

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,  -- irc_lower(channel name)
    time REAL NOT NULL,     -- server time, seconds since the epoch
    msgid TEXT NOT NULL,
    line TEXT NOT NULL      -- the message as relayed; its client-only tags in front, if any
);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel, id);
CREATE TABLE IF NOT EXISTS topics (
    channel TEXT PRIMARY KEY, topic TEXT NOT NULL, set_by TEXT NOT NULL, set_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_lists (  -- bans and mutes: they outlive a restart
    channel TEXT NOT NULL, mode TEXT NOT NULL, mask TEXT NOT NULL, set_by TEXT NOT NULL,
    set_at REAL NOT NULL, expires REAL NOT NULL,  -- 0: never
    PRIMARY KEY (channel, mode, mask)
);
CREATE TABLE IF NOT EXISTS senders (  -- the last message number of each Charla client
    alias TEXT PRIMARY KEY, last_seq INTEGER NOT NULL
);
"""
INSERT_MESSAGE = "INSERT INTO messages (channel, time, msgid, line) VALUES (?, ?, ?, ?)"
#: forget on disk what was forgotten in memory: all but the newest N messages of a channel
KEEP_NEWEST = (
    "DELETE FROM messages WHERE channel = ? AND id <= "
    "(SELECT id FROM messages WHERE channel = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
FORGET_TOPIC = "DELETE FROM topics WHERE channel = ?"
KEEP_ENTRY = "INSERT OR REPLACE INTO channel_lists VALUES (?, ?, ?, ?, ?, ?)"
FORGET_ENTRY = "DELETE FROM channel_lists WHERE channel = ? AND mode = ? AND mask = ?"
FORGET_ENTRIES = "DELETE FROM channel_lists WHERE channel = ?"
#: list entries (bans, mutes) kept per channel, at most: what a channel's mode lists may
#: hold is bounded by ``net.modes``; this bounds what a damaged or foreign file can load
MAX_KEPT_ENTRIES = 1000
#: a deleted message (IRCv3 message redaction): gone from the replay and from the disk
FORGET_MESSAGE = "DELETE FROM messages WHERE channel = ? AND msgid = ?"
#: what the kept messages of all channels together may take in memory (``--history-memory``)
HISTORY_MEMORY = 32 * 2**20
#: past that budget, channels are trimmed down to this share of it: a chunk at a time, so a
#: server held at its budget does not look for the biggest channel on every message
TRIM_TO = 0.9
#: what a kept message costs beyond the strings it holds (``sys.getsizeof`` of each, which
#: ``footprint`` adds): the KeptMessage, its Message, the params list, the tags dict, the
#: time and its place in the channel's deque. Measured with tracemalloc on CPython 3.11
#: (64-bit), all that 100,000 kept messages hold minus their strings: 470 to 530 bytes
#: each (tests/test_history.py checks the count against tracemalloc)
KEPT_MESSAGE_OVERHEAD = 480
#: seconds an empty channel's history and topic are kept (``--history-expiry``, in minutes;
#: 0: for ever): long enough for a restart or a break between two classes
HISTORY_EXPIRY = 120 * 60.0
#: ``record`` looks for expired channels at most this often (a joiner's channel is checked
#: at once)
SWEEP_INTERVAL = 60.0
#: how many senders' message numbers to remember (the oldest are forgotten first)
REMEMBERED_SENDERS = 10_000
#: rows waiting in memory while the database refuses them (a row holds one line of at most
#: 512 bytes: under 5 MB in all); a class talking for an hour. Past it the oldest are
#: dropped, and counted
MAX_UNSAVED_ROWS = 5_000
#: after a failed write, the retry thread tries again after this many seconds, doubling
#: up to RETRY_MOST: a full disk is not hammered, and a freed one is noticed soon
RETRY_FIRST = 1.0
RETRY_MOST = 30.0
#: what one row can raise (a value SQLite cannot bind, a constraint it breaks): that row
#: is skipped as a bug; anything else means the database itself refuses (full, read-only,
#: locked, gone) and every row waits for the retry
_ROW_ERRORS = (
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    OverflowError,
    ValueError,
    TypeError,
)


class ListEntry(NamedTuple):
    """One entry of a channel's ban or mute list, as kept across restarts."""

    mode: str  # the list's mode letter ("b", "q")
    mask: str
    set_by: str
    set_at: float
    expires: float  # when it ends by itself (seconds since the epoch); 0: never


class ChannelHistory:
    """Recent messages per channel in memory, mirrored to SQLite when ``path`` is given."""

    def __init__(
        self,
        size: int = 2000,
        path: str | Path | None = None,
        *,
        memory: int = HISTORY_MEMORY,
        expiry: float = HISTORY_EXPIRY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.size = size
        self.memory = memory  # bytes the kept messages may take, all channels together
        self.expiry = expiry  # seconds an empty channel's history is kept (0: for ever)
        self.clock = clock  # the time of day (replaced in tests)
        # the memory side below is guarded by Rooms' lock (see the module docstring)
        self._channels: dict[str, deque[KeptMessage]] = {}  # irc_lower(channel) -> messages
        self._bytes: dict[str, int] = {}  # irc_lower(channel) -> footprint of its messages
        self.held = 0  # footprint of every kept message
        self.topics: dict[str, tuple[str, str, float]] = {}  # irc_lower(channel) -> topic
        #: irc_lower(channel) -> its ban and mute lists, as loaded; ``net.state`` gives a
        #: channel its entries when it is made, and says when they change
        self.entries: dict[str, list[ListEntry]] = {}
        #: irc_lower(channel) -> when it emptied, for channels with something kept
        self._empty_since: dict[str, float] = {}
        self._always: set[str] = set()  # irc_lower(channel) of channels that never expire
        self._next_sweep = 0.0  # when record() next looks for expired channels
        self._last_seq: dict[str, int] = {}  # sender alias -> last message number seen
        self._db_lock = threading.Lock()  # guards _db and _inserted; held while writing
        self._rows_lock = threading.Lock()  # guards _rows and _lost; never held during I/O
        #: (sql, values) waiting for persist(), at most MAX_UNSAVED_ROWS
        self._rows: deque[tuple[str, tuple]] = deque()
        self._lost = 0  # messages dropped unsaved since writing last worked (same lock)
        #: writing failed and has not worked since (written under _db_lock; read without
        #: it by persist, which only skips its try while the retry thread is on it)
        self._failing = False
        self._retry_thread: threading.Thread | None = None  # alive while _failing
        self._closing = threading.Event()  # set by close(): the retry thread stops
        #: ``on_saving_changed(saving, lost)``: writing stopped working (False, 0), or works
        #: again (True, how many messages were dropped meanwhile). Set by net.state.Rooms.
        self.on_saving_changed: Callable[[bool, int], None] | None = None
        self._tell_lock = threading.Lock()  # orders the calls of on_saving_changed
        self._changes = 0  # changes of _failing (under _db_lock), and the last one told
        self._told = 0  # (under _tell_lock)
        #: (device, inode) of the database file when opened: a file removed or replaced
        #: meanwhile would take writes that no restart ever reads (guarded by _db_lock)
        self._file_id: tuple[int, int] | None = None
        #: rows ever queued (guarded by _rows_lock), and how many of the first of them are
        #: written (written under _db_lock; read without it: it only grows)
        self._queued = 0
        self._written = 0
        self._db: sqlite3.Connection | None = None
        self._inserted = 0  # rows written since the last prune (guarded by _db_lock)
        self._written_channels: set[str] = set()  # channels written since then (same)
        self.path = Path(path) if path is not None and size > 0 else None

    # -- the database --------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the database and load what it kept.

        A file that is not a database, or a damaged one, is set aside beside it
        (``historial.sqlite3.damaged-<time>``) and a fresh one started. If none can be used
        (a read-only or full disk, a file another program holds), history is kept in memory
        only and ``on_disk`` says so, for the MOTD to tell people.
        """
        if self.path is None:
            return
        try:
            self._db = self._connect()
        except sqlite3.OperationalError as exc:  # locked, read-only, cannot be opened
            log.warning(
                tr("history database %s unusable (%s): history kept in memory only"), self.path, exc
            )
            return
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            aside = self._set_aside()
            log.warning(
                tr("history database %s was damaged (%s); set aside as %s, a new one started"),
                self.path,
                exc,
                aside,
            )
            try:
                self._db = self._connect()
            except sqlite3.Error as again:
                log.warning(
                    tr("history database %s unusable (%s): history kept in memory only"),
                    self.path,
                    again,
                )
                return
        except OSError as exc:  # its folder cannot be made
            log.warning(
                tr("history database %s unusable (%s): history kept in memory only"), self.path, exc
            )
            return
        log.info(tr("history database: %s"), self.path)
        self._file_id = self._identify_file()
        self._forget_stale()

    @property
    def on_disk(self) -> bool:
        """Whether what is kept survives a restart (a database is open)."""
        return self._db is not None

    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=0.05)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # survives a killed process, never corrupts
            db.executescript(SCHEMA)
            self._forget_memory()
            self._load(db)
        except BaseException:
            db.close()
            raise
        return db

    def _forget_memory(self) -> None:
        """Empty the memory side, before loading what a database kept."""
        self._channels.clear()
        self._bytes.clear()
        self.held = 0
        self.topics.clear()
        self.entries.clear()
        self._empty_since.clear()

    def _set_aside(self) -> str:
        """Rename the damaged database (and its WAL files) out of the way; its new name."""
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").replace(f"{aside}{suffix}")
        return aside.name

    def _load(self, db: sqlite3.Connection) -> None:
        """Read what the database kept, row by row, as carefully as a line from the network:
        a row that could not be relayed as it is (a CR in a topic, a time stored as text, a
        line that is not a message) is skipped and logged, never replayed to anyone."""
        channels = [row[0] for row in db.execute("SELECT DISTINCT channel FROM messages")]
        for channel in channels:
            if not isinstance(channel, str):
                log.warning("history database: skipped the messages of channel %r", channel)
                continue
            rows = db.execute(
                "SELECT time, msgid, line FROM messages WHERE channel = ? ORDER BY id DESC LIMIT ?",
                (channel, self.size),
            ).fetchall()
            damaged = 0
            for when, msgid, line in reversed(rows):
                kept = _kept_message(when, msgid, line)
                if kept is None:
                    damaged += 1
                else:
                    self._keep(channel, KeptMessage(kept[0], when, kept[1]))
            if damaged:
                log.warning("history database: skipped %d damaged messages of %s", damaged, channel)
        for channel, topic, set_by, set_at in db.execute(
            "SELECT channel, topic, set_by, set_at FROM topics"
        ):
            if _kept_topic(channel, topic, set_by, set_at):
                self.topics[channel] = (topic, set_by, set_at)
            else:
                log.warning("history database: skipped the damaged topic of %r", channel)
        self._load_entries(db)
        for channel, messages in self._channels.items():  # after a restart, all are empty
            self._empty_since[channel] = messages[-1].time
        for channel, (_, _, set_at) in self.topics.items():
            self._empty_since[channel] = max(set_at, self._empty_since.get(channel, 0.0))
        for channel, entries in self.entries.items():
            newest = max(entry.set_at for entry in entries)
            self._empty_since[channel] = max(newest, self._empty_since.get(channel, 0.0))
        for channel in self._always:
            self._empty_since.pop(channel, None)
        self._last_seq = {
            alias: last_seq
            for alias, last_seq in db.execute("SELECT alias, last_seq FROM senders")
            if isinstance(alias, str)
            and isinstance(last_seq, int)
            and 0 <= last_seq <= MAX_WIRE_NUMBER
        }

    def _load_entries(self, db: sqlite3.Connection) -> None:
        """The ban and mute lists, checked as carefully as messages (see ``_load``)."""
        rows = db.execute(
            "SELECT channel, mode, mask, set_by, set_at, expires FROM channel_lists "
            "ORDER BY set_at LIMIT ?",
            (MAX_KEPT_ENTRIES * 100,),
        )
        damaged = 0
        for channel, mode, mask, set_by, set_at, expires in rows:
            entries = self.entries.get(channel) if isinstance(channel, str) else None
            if entries is not None and len(entries) >= MAX_KEPT_ENTRIES:
                continue
            if not (
                isinstance(channel, str)
                and mode in ("b", "q", "I", "C")  # bans, mutes, invite exceptions, a claim
                and isinstance(mask, str)
                and isinstance(set_by, str)
                and mask
                and as_middle_param(mask) == mask
                and as_middle_param(set_by) == set_by
                and _kept_time(set_at)
                and _kept_time(expires)
            ):
                damaged += 1
                continue
            self.entries.setdefault(channel, []).append(
                ListEntry(mode, mask, set_by, set_at, expires)
            )
        if damaged:
            log.warning("history database: skipped %d damaged ban or mute entries", damaged)

    def persist(self) -> None:
        """Return once every row queued so far is written, or kept for the retry thread
        while the database refuses them: the caller's rows may be in a transaction another
        thread runs right now, so "nothing left to take" is not "done". Rows are written in
        the order they were queued. Never raises (see the module docstring)."""
        wanted = self._queued  # our rows were queued before this call, on this thread
        if self._written >= wanted or self._failing:
            return  # failing: the rows wait, bounded, for the retry thread
        with self._db_lock:
            if self._failing:
                return
            change = self._write_queued()
        self._tell(change)

    @property
    def saving(self) -> bool:
        """Whether what is said now reaches the disk: a database is open and takes rows."""
        return self._db is not None and not self._failing

    def _write_queued(self) -> tuple[int, bool, int] | None:
        """Write every queued row in one transaction, or, if the database refuses, put
        them back at the head of the queue for the retry thread (call with _db_lock held).
        Returns the change to tell (its number, saving, messages lost), if any."""
        with self._rows_lock:
            rows, self._rows = self._rows, deque()
            taken = self._queued
        try:
            if self._db is not None and rows:
                self._write(rows)
        except Exception as exc:  # the database refuses: full, read-only, locked, gone
            if not isinstance(exc, sqlite3.Error):
                _bugs.report("history could not be saved", exc)
            with self._rows_lock:
                rows.extend(self._rows)  # the failed rows first: the order is kept
                self._rows = rows
                self._drop_oldest_locked()
                waiting = len(self._rows)
            self._written = taken  # handled: they wait in the queue
            if self._failing:
                log.debug("history still not saved (%s); %d rows wait", exc, waiting)
                return None
            self._failing = True
            log.warning(
                tr(
                    "history is not being saved to disk (%s); the chat goes on, up to %d rows "
                    "wait in memory and saving is retried"
                ),
                exc,
                MAX_UNSAVED_ROWS,
            )
            if not self._closing.is_set():
                self._retry_thread = threading.Thread(
                    target=self._retry, name="history-retry", daemon=True
                )
                self._retry_thread.start()
            self._changes += 1
            return (self._changes, False, 0)
        self._written = taken
        if not self._failing:
            return None
        self._failing = False
        self._retry_thread = None
        with self._rows_lock:
            lost, self._lost = self._lost, 0
        log.info(tr("history is saved to disk again (%d messages could not be kept)"), lost)
        self._changes += 1
        return (self._changes, True, lost)

    def _write(self, rows: deque[tuple[str, tuple]]) -> None:
        """One transaction for ``rows`` (call with _db_lock held); raises if the database
        refuses it. A row that cannot be written as it is is skipped, a bug: the others'
        rows are still written."""
        assert self._db is not None
        if self._file_id is not None and self._identify_file() != self._file_id:
            raise sqlite3.OperationalError("the database file was removed or replaced")
        with self._db:
            for sql, values in rows:
                try:
                    self._db.execute(sql, values)
                except _ROW_ERRORS as exc:
                    _bugs.report("a history row cannot be saved", exc)
                    continue
                if sql is INSERT_MESSAGE:
                    self._written_channels.add(values[0])
        self._inserted += len(rows)
        if self._inserted >= self.size:
            try:
                self._prune()
            except sqlite3.Error as exc:  # the rows are in; pruning waits for the next time
                log.debug("history: pruning the database failed (%s)", exc)

    def _identify_file(self) -> tuple[int, int] | None:
        """(device, inode) of the database file now; None if it is not there."""
        assert self.path is not None
        try:
            found = os.stat(self.path)
        except OSError:
            return None
        return (found.st_dev, found.st_ino)

    def _drop_oldest_locked(self) -> None:
        """Keep at most MAX_UNSAVED_ROWS queued, dropping the oldest (call with
        _rows_lock held); the messages among them are counted in ``_lost``."""
        while len(self._rows) > MAX_UNSAVED_ROWS:
            sql, _ = self._rows.popleft()
            if sql is INSERT_MESSAGE:
                self._lost += 1

    def _retry(self) -> None:
        """The retry thread: while writing fails, try again with a growing pause."""
        delay = RETRY_FIRST
        while not self._closing.wait(delay):
            with self._db_lock:
                if self._db is None or not self._failing:
                    return
                change = self._write_queued()
                done = not self._failing
            self._tell(change)
            if done:
                return
            delay = min(delay * 2, RETRY_MOST)

    def _tell(self, change: tuple[int, bool, int] | None) -> None:
        """Call ``on_saving_changed`` for ``change``, unless a later one was told already."""
        if change is None or self.on_saving_changed is None:
            return
        number, saving, lost = change
        with self._tell_lock:
            if number <= self._told:
                return
            self._told = number
            try:
                self.on_saving_changed(saving, lost)
            except Exception as exc:  # a bug; saving goes on
                _bugs.report("telling everyone about history failed", exc)

    def _prune(self) -> None:
        """Keep ``size`` messages per channel on disk (call with _db_lock held)."""
        with self._db:
            for channel in self._written_channels:
                self._db.execute(
                    "DELETE FROM messages WHERE channel = ? AND id < (SELECT id FROM messages "
                    "WHERE channel = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (channel, channel, self.size - 1),
                )
        self._inserted = 0
        self._written_channels.clear()

    def _forget_stale(self) -> None:
        """Right after loading: forget the channels that expired while the server was
        stopped, and the oldest messages past the budget, on disk too."""
        self.expire()
        self._trim()
        self.persist()

    def _queue(self, sql: str, values: tuple) -> None:
        if self._db is not None:
            with self._rows_lock:
                self._rows.append((sql, values))
                self._queued += 1
                if len(self._rows) > MAX_UNSAVED_ROWS:  # only while writing fails
                    self._drop_oldest_locked()

    def close(self) -> None:
        """Write what is queued (one last try if writing was failing), then close."""
        self._closing.set()
        with self._db_lock:
            thread = self._retry_thread
        if thread is not None:
            thread.join(5.0)
        with self._db_lock:
            self._write_queued()
            if self._failing:
                with self._rows_lock:
                    unsaved = sum(1 for sql, _ in self._rows if sql is INSERT_MESSAGE)
                    unsaved += self._lost
                log.warning(tr("history: %d messages could not be saved to disk"), unsaved)
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- called with Rooms' lock held ----------------------------------------------------

    def record(self, channel_key: str, out: Outgoing) -> None:
        if self.size <= 0:
            return
        message = out.message
        try:
            line = Message(message.command, message.params, message.source).format()
            kept = out.kept()
            if kept.client_tags:  # +charla.chat/continues, +reply…: they outlive a restart
                line = f"@{kept.client_tags} {line}"
        except InvalidMessageError as exc:  # what arrives is checked: this is a bug
            _bugs.report(f"a message for {channel_key} cannot be kept", exc)
            return
        self._keep(channel_key, kept)
        self._queue(INSERT_MESSAGE, (channel_key, out.time, message.tags.get("msgid", ""), line))
        if self.held > self.memory:
            self._trim()
        now = self.clock()
        if now >= self._next_sweep:
            self.expire(now)

    def _keep(self, channel_key: str, kept: KeptMessage) -> None:
        """Add a message to its channel's memory, forgetting the oldest past ``size`` (on
        disk, ``_prune`` cuts each channel back to ``size`` every ``size`` rows written, so
        a channel's rows may reach twice ``size`` in between)."""
        messages = self._channels.get(channel_key)
        if messages is None:
            messages = self._channels[channel_key] = deque()
            self._bytes[channel_key] = 0
        if len(messages) >= self.size:
            self._uncount(channel_key, messages.popleft())
        messages.append(kept)
        cost = kept.cost = footprint(kept)
        self._bytes[channel_key] += cost
        self.held += cost

    def _uncount(self, channel_key: str, kept: KeptMessage) -> None:
        cost = kept.cost
        self._bytes[channel_key] -= cost
        self.held -= cost

    def _trim(self) -> None:
        """Past the budget: the channels holding the most bytes lose their oldest messages,
        each cut down to one common size, as large as leaves ``TRIM_TO`` of the budget used
        (``water_level``), in memory now and on disk at the next ``persist``. A channel
        smaller than that size keeps everything; the biggest is never cut below the others."""
        excess = self.held - self.memory * TRIM_TO
        if excess <= 0:
            return
        level = water_level(list(self._bytes.values()), excess)
        for channel_key in [key for key, size in self._bytes.items() if size > level]:
            messages = self._channels[channel_key]
            while self._bytes[channel_key] > level and messages:
                self._uncount(channel_key, messages.popleft())
            self._queue(KEEP_NEWEST, (channel_key, channel_key, len(messages)))
            if not messages:
                del self._channels[channel_key], self._bytes[channel_key]
                if channel_key not in self.topics:
                    self._empty_since.pop(channel_key, None)
            log.debug("history: forgot the oldest messages of %s (memory budget)", channel_key)

    # -- expiry: Rooms says when a channel empties and fills again -------------------------

    def keep_always(self, channel_key: str) -> None:
        """Never let the history of this channel expire (the server's default channel)."""
        self._always.add(channel_key)
        self._empty_since.pop(channel_key, None)

    def vacated(self, channel_key: str) -> None:
        """The last person left this channel: its history expires ``expiry`` from now."""
        kept = any(channel_key in kept for kept in (self._channels, self.topics, self.entries))
        if kept and channel_key not in self._always:
            self._empty_since[channel_key] = self.clock()

    def occupied(self, channel_key: str) -> None:
        """Someone joins this channel, which had nobody: forget its history first if it
        had expired, so a late joiner is shown nothing old; else it no longer expires."""
        since = self._empty_since.pop(channel_key, None)
        if since is not None and self.expiry > 0 and since + self.expiry <= self.clock():
            self._forget_channel(channel_key)
            log.info(tr("history: forgot %s, empty for over %d min"), channel_key, self._minutes)

    def expire(self, now: float | None = None) -> None:
        """Forget every channel that has been empty for ``expiry`` seconds or more."""
        now = self.clock() if now is None else now
        self._next_sweep = now + SWEEP_INTERVAL
        if self.expiry <= 0:
            return
        expired = [key for key, since in self._empty_since.items() if since + self.expiry <= now]
        for channel_key in expired:
            del self._empty_since[channel_key]
            self._forget_channel(channel_key)
        if expired:
            log.info(
                tr("history: forgot %s, empty for over %d min"),
                expired[0] if len(expired) == 1 else f"{len(expired)} channels",
                self._minutes,
            )

    @property
    def _minutes(self) -> int:
        return round(self.expiry / 60)

    def _forget_channel(self, channel_key: str) -> None:
        """Forget a channel's messages and topic, in memory now and on disk at the next persist."""
        messages = self._channels.pop(channel_key, None)
        if messages:
            self.held -= self._bytes[channel_key]
        self._bytes.pop(channel_key, None)
        if messages is not None:
            self._queue(KEEP_NEWEST, (channel_key, channel_key, 0))
        if self.topics.pop(channel_key, None) is not None:
            self._queue(FORGET_TOPIC, (channel_key,))
        if self.entries.pop(channel_key, None) is not None:
            self._queue(FORGET_ENTRIES, (channel_key,))

    def find(self, channel_key: str, msgid: str) -> KeptMessage | None:
        """The kept message of this channel with this ``msgid`` (None: not kept, or no
        longer). The newest are looked at first: what is deleted was usually just said."""
        for kept in reversed(self._channels.get(channel_key, ())):
            if kept.message.tags.get("msgid") == msgid:
                return kept
        return None

    def forget(self, channel_key: str, kept: KeptMessage) -> None:
        """Delete one kept message (found with ``find``): nobody is shown it again, and it
        is deleted on disk at the next persist."""
        messages = self._channels.get(channel_key)
        if messages is None:
            return
        try:
            messages.remove(kept)
        except ValueError:  # forgotten meanwhile (trimmed): nothing to do
            return
        self._uncount(channel_key, kept)
        self._queue(FORGET_MESSAGE, (channel_key, kept.message.tags.get("msgid", "")))

    def messages(self, channel_key: str) -> deque[KeptMessage]:
        """A channel's kept messages, oldest first (read under the rooms' lock; not to be
        changed but through ``record`` and ``forget``)."""
        return self._channels.get(channel_key, deque())

    def recent(self, channel_key: str, limit: int) -> list[Outgoing]:
        messages = self._channels.get(channel_key)
        if not messages or limit <= 0:
            return []
        return list(messages)[-limit:]

    def set_topic(self, channel_key: str, topic: str, set_by: str, set_at: float) -> None:
        self.topics[channel_key] = (topic, set_by, set_at)
        self._queue(
            "INSERT OR REPLACE INTO topics VALUES (?, ?, ?, ?)",
            (channel_key, topic, set_by, set_at),
        )

    def keep_entry(self, channel_key: str, entry: ListEntry) -> None:
        """A ban or mute was added to a channel's list (or changed): kept across restarts."""
        entries = [e for e in self.entries.get(channel_key, ()) if e[:2] != entry[:2]]
        self.entries[channel_key] = [*entries, entry]
        self._queue(KEEP_ENTRY, (channel_key, *entry))

    def forget_entry(self, channel_key: str, mode: str, mask: str) -> None:
        """A ban or mute was lifted (or ran out)."""
        entries = self.entries.get(channel_key)
        if entries is None:
            return
        entries[:] = [e for e in entries if (e.mode, e.mask) != (mode, mask)]
        if not entries:
            del self.entries[channel_key]
        self._queue(FORGET_ENTRY, (channel_key, mode, mask))

    def seen_before(self, alias: str, seq: int) -> bool:
        """Whether message ``seq`` of the client ``alias`` was relayed already (else note it)."""
        if seq <= self._last_seq.get(alias, 0):
            return True
        self._last_seq.pop(alias, None)
        self._last_seq[alias] = seq  # most recent last, so the oldest are dropped first
        while len(self._last_seq) > REMEMBERED_SENDERS:
            del self._last_seq[next(iter(self._last_seq))]
        self._queue("INSERT OR REPLACE INTO senders VALUES (?, ?)", (alias, seq))
        return False


#: kept times run from the epoch to the year 9999 (``datetime`` goes no further)
LATEST_TIME = 253_402_300_799.0


_sizeof = sys.getsizeof


def footprint(kept: KeptMessage) -> int:
    """What a kept message costs in memory, in bytes: its strings and a fixed overhead."""
    message = kept.message
    size = KEPT_MESSAGE_OVERHEAD + _sizeof(kept.client_tags) + _sizeof(message.source)
    for text in message.params:
        size += _sizeof(text)
    for text in message.tags.values():  # the msgid
        size += _sizeof(text)
    return size


def water_level(sizes: list[int], excess: float) -> float:
    """The size to cut every channel bigger than it down to, so that ``excess`` bytes are
    freed: the biggest channels pay first, and none is cut below the ones left alone.

    >>> water_level([900, 100, 50], 400), water_level([500, 400, 100], 300), water_level([9], 20)
    (500.0, 300.0, 0)
    """
    sizes = sorted(sizes, reverse=True)
    total = 0
    for count, size in enumerate(sizes, 1):
        total += size
        level = (total - excess) / count  # the top ``count`` channels cut to one size
        if count == len(sizes) or level >= sizes[count]:
            return max(level, 0)
    return 0


def _kept_time(when: object) -> bool:
    return (
        isinstance(when, (int, float)) and not isinstance(when, bool) and 0 <= when <= LATEST_TIME
    )


def _kept_message(when: object, msgid: object, line: object) -> tuple[Message, str] | None:
    """The message a ``messages`` row holds, tagged with its msgid, and its client-only
    tags (formatted: ``+a;+b=1``, or ""); None if the row could not be replayed as it is
    (each of its fields is checked like a line from the network)."""
    if not (_kept_time(when) and isinstance(msgid, str) and isinstance(line, str)):
        return None
    if breaks_a_line(line) or breaks_a_line(msgid):
        return None
    client_tags = ""
    if line.startswith("@"):
        client_tags, _, line = line[1:].partition(" ")
        if len(client_tags.encode()) > MAX_CLIENT_TAG_DATA_BYTES or not all(
            tag.startswith("+") for tag in client_tags.split(";")
        ):
            return None
    try:
        message = parse(line)
        if client_tags:
            parse(f"@{client_tags} {line}")  # the tags read as tags
    except ValueError:
        return None
    if message.command not in ("PRIVMSG", "NOTICE") or len(message.params) != 2:
        return None
    if not message.source or not message.params[1]:
        return None
    kept = Message(message.command, message.params, message.source, {"msgid": msgid})
    try:
        kept.format()
    except InvalidMessageError:
        return None
    return kept, client_tags


def _kept_topic(channel: object, topic: object, set_by: object, set_at: object) -> bool:
    """Whether a ``topics`` row can be shown as it is (see ``_kept_message``)."""
    return (
        isinstance(channel, str)
        and isinstance(topic, str)
        and isinstance(set_by, str)
        and _kept_time(set_at)
        and not breaks_a_line(topic)
        and as_middle_param(set_by) == set_by
    )


def default_database_path() -> Path:
    """Where the server keeps its history: the platform's per-user data folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "Charla" / "historial.sqlite3"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Charla" / "historial.sqlite3"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "charla" / "historial.sqlite3"
