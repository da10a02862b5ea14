"""What was said in each channel, kept across restarts, replayed to whoever joins.

``ChannelHistory`` holds the last ``size`` messages of every channel in memory (the
replay source, read under ``net.state.Rooms``' lock) and, when given a database path,
mirrors them, the topics and the last message number of every Charla client into
SQLite, so a restart, even a ``kill -9``, keeps everything that had been relayed.

Writing never holds up the relay: ``record()`` only queues a row (under the rooms'
lock); ``persist()`` runs when a reader thread has handled a batch of lines (its
session's ``on_batch_done`` calls ``Rooms.persist_history``: ``net.connection`` calls
that after it has flushed the messages of the batch to their recipients and before it
flushes its own client's confirmations; ``persist`` returns only when every row queued
before the call is written, even by another thread's transaction). A database
that is locked, read-only, full or gone is logged once and the chat goes on with the
history in memory.

Threading: ``record``, ``recent``, ``seen_before`` and ``set_topic`` are called with
``Rooms``' lock held; they only touch memory (``_rows_lock``, held for an append, guards
``_rows`` and ``_queued`` and is never held during I/O). ``_db_lock`` guards the SQLite
connection and is held while writing, never together with the rooms' lock. ``persist``
may be called from any thread.
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
from pathlib import Path

from net.outgoing import Outgoing
from net.protocol import Message, parse

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,  -- irc_lower(channel name)
    time REAL NOT NULL,     -- server time, seconds since the epoch
    msgid TEXT NOT NULL,
    line TEXT NOT NULL      -- the message as relayed, without tags
);
CREATE INDEX IF NOT EXISTS messages_by_channel ON messages (channel, id);
CREATE TABLE IF NOT EXISTS topics (
    channel TEXT PRIMARY KEY, topic TEXT NOT NULL, set_by TEXT NOT NULL, set_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS senders (  -- the last message number of each Charla client
    alias TEXT PRIMARY KEY, last_seq INTEGER NOT NULL
);
"""
INSERT_MESSAGE = "INSERT INTO messages (channel, time, msgid, line) VALUES (?, ?, ?, ?)"
#: how many senders' message numbers to remember (the oldest are forgotten first)
REMEMBERED_SENDERS = 10_000


class ChannelHistory:
    """Recent messages per channel in memory, mirrored to SQLite when ``path`` is given."""

    def __init__(self, size: int = 2000, path: str | Path | None = None) -> None:
        self.size = size
        self._channels: dict[str, deque[Outgoing]] = {}  # irc_lower(channel) -> messages
        self.topics: dict[str, tuple[str, str, float]] = {}  # irc_lower(channel) -> topic
        self._last_seq: dict[str, int] = {}  # sender alias -> last message number seen
        self._db_lock = threading.Lock()  # guards _db and _inserted; held while writing
        self._rows_lock = threading.Lock()  # guards _rows; never held during I/O
        self._rows: list[tuple[str, tuple]] = []  # (sql, values) waiting for persist()
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
                "history database %s unusable (%s): history kept in memory only", self.path, exc
            )
            return
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            aside = self._set_aside()
            log.warning(
                "history database %s was damaged (%s); set aside as %s, a new one started",
                self.path,
                exc,
                aside,
            )
            try:
                self._db = self._connect()
            except sqlite3.Error as again:
                log.warning(
                    "history database %s unusable (%s): history kept in memory only",
                    self.path,
                    again,
                )
                return
        except OSError as exc:  # its folder cannot be made
            log.warning(
                "history database %s unusable (%s): history kept in memory only", self.path, exc
            )
            return
        log.info("history database: %s", self.path)

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
            self._channels.clear()
            self.topics.clear()
            self._load(db)
        except BaseException:
            db.close()
            raise
        return db

    def _set_aside(self) -> str:
        """Rename the damaged database (and its WAL files) out of the way; its new name."""
        assert self.path is not None
        aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(f"{self.path}{suffix}").replace(f"{aside}{suffix}")
        return aside.name

    def _load(self, db: sqlite3.Connection) -> None:
        channels = [row[0] for row in db.execute("SELECT DISTINCT channel FROM messages")]
        for channel in channels:
            rows = db.execute(
                "SELECT time, msgid, line FROM messages WHERE channel = ? ORDER BY id DESC LIMIT ?",
                (channel, self.size),
            ).fetchall()
            messages = self._channels[channel] = deque(maxlen=self.size)
            for when, msgid, line in reversed(rows):
                with contextlib.suppress(ValueError):
                    message = parse(line)
                    tagged = Message(
                        message.command, message.params, message.source, {"msgid": msgid}
                    )
                    messages.append(Outgoing(tagged, when))
        for channel, topic, set_by, set_at in db.execute("SELECT * FROM topics"):
            self.topics[channel] = (topic, set_by, set_at)
        self._last_seq = dict(db.execute("SELECT alias, last_seq FROM senders"))

    def persist(self) -> None:
        """Return once every row queued so far is written (or its failure logged): the
        caller's rows may be in a transaction another thread runs right now, so "nothing
        left to take" is not "done". Rows are written in the order they were queued."""
        wanted = self._queued  # our rows were queued before this call, on this thread
        if self._written >= wanted:
            return
        with self._db_lock:
            with self._rows_lock:
                rows, self._rows = self._rows, []
                taken = self._queued
            if self._db is None or not rows:
                self._written = taken
                return
            try:
                with self._db:
                    for sql, values in rows:
                        self._db.execute(sql, values)
                        if sql is INSERT_MESSAGE:
                            self._written_channels.add(values[0])
                self._inserted += len(rows)
                if self._inserted >= self.size:
                    self._prune()
            except sqlite3.Error as exc:
                log.warning("history not saved (%s); the chat goes on", exc)
            finally:
                self._written = taken

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

    def _queue(self, sql: str, values: tuple) -> None:
        if self._db is not None:
            with self._rows_lock:
                self._rows.append((sql, values))
                self._queued += 1

    def close(self) -> None:
        self.persist()
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- called with Rooms' lock held ----------------------------------------------------

    def record(self, channel_key: str, out: Outgoing) -> None:
        if self.size <= 0:
            return
        messages = self._channels.get(channel_key)
        if messages is None:
            messages = self._channels[channel_key] = deque(maxlen=self.size)
        messages.append(out)
        message = out.message
        line = Message(message.command, message.params, message.source).format()
        self._queue(INSERT_MESSAGE, (channel_key, out.time, message.tags.get("msgid", ""), line))

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


def default_database_path() -> Path:
    """Where the server keeps its history: the platform's per-user data folder."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "Charla" / "historial.sqlite3"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "Charla" / "historial.sqlite3"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "charla" / "historial.sqlite3"
