"""Pictures and PDFs shared in the chat: the upload desk behind ``POST /upload`` and
``GET /f/<id>`` (``net.web_session`` speaks the HTTP; this module decides and stores).

Who may upload: a connected, registered IRC session (the window, the web page, any IRC
client that reads it), through a token it got in its ISUPPORT line
(``charla.chat/UPLOAD=<token>``, see ``Uploads.token_for``) and sends back as
``Authorization: Bearer <token>``. A token is random, one per session, and dies with it
(the map holds sessions weakly, and a session that left is refused).

What is accepted (``Uploads.check`` before the body is read, ``Uploads.receive`` after):

- at most ``max_upload`` bytes (413, from ``Content-Length`` alone), and only while the
  server holds fewer than ``MAX_RECEIVING_BYTES`` of bodies being received (503) and the
  session has fewer than ``UPLOADS_AT_ONCE`` under way (429);
- the body's first bytes decide its kind (``sniff``: PNG, GIF, JPEG, PDF), never its name
  or the ``Content-Type`` the client says (415 otherwise);
- a quota per person (their account, or else their address: ``Connection.counted_as``)
  of ``QUOTA_FILES`` files and ``QUOTA_BYTES`` bytes per ``QUOTA_WINDOW`` seconds (429);
- it costs ``UPLOAD_FLOOD_LINES`` lines of the session's flood allowance, refused (429)
  while that is spent;
- the announcement is a PRIVMSG from the uploader to the target, through the same
  ``Rooms.send_to_channel`` as any message: a muted or banned person, or an outsider of
  a ``+n`` channel, is refused (403) with the same reason and nothing is kept. The
  uploader gets the line too (their client did not send it, so it shows it as their own).

What is kept (``FileStore``): the bytes in a folder of their own under a random id
(``secrets.token_urlsafe``; the name a user gave is only shown, sanitised, never a path),
the index (kind, shown name, size, owner, time, the announcing message's ``msgid``) in
the history's SQLite file, table ``files``, so files outlive a restart; with no database
(``--no-history``), a temporary folder and an in-memory index, removed at shutdown. All
files together are at most ``max_total`` bytes and ``MAX_FILES`` files: past that the
oldest are deleted (their links answer 404). A REDACT of the announcing message (its
author or a teacher: ``Rooms.redact``) deletes its file (``Uploads.redacted``).

Threading: every method may be called from any thread (HTTP connections' reader
threads, the reader of a REDACT). ``FileStore._lock`` guards its SQLite connection and
the folder; ``Uploads._lock`` guards ``_tokens`` and ``_receiving``. Neither is held with
``Rooms``' lock, nor during network I/O. The session's flood gate is charged from the
HTTP connection's thread without that connection's reader: a float update racing with it
can at worst lose one update (a few lines of allowance), never corrupt it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import unicodedata
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from net.i18n import tr
from net.protocol import Message, is_valid_nick
from net.state import Rooms, Session

log = logging.getLogger(__name__)

#: the default for ``--max-upload``: one phone photo
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
#: all kept files together (the oldest go first past it)
MAX_TOTAL_BYTES = 1024 * 1024 * 1024
MAX_FILES = 5000
#: bodies being received at once, all connections together (each is held in memory)
MAX_RECEIVING_BYTES = 64 * 1024 * 1024
#: uploads one session may have under way at once (so one slow sender cannot hold
#: the whole of ``MAX_RECEIVING_BYTES``)
UPLOADS_AT_ONCE = 2
#: what one person (account or address) may upload in ``QUOTA_WINDOW`` seconds
QUOTA_FILES = 30
QUOTA_BYTES = 60 * 1024 * 1024
QUOTA_WINDOW = 3600.0
#: an upload costs this many lines of its session's flood allowance
UPLOAD_FLOOD_LINES = 5
#: the shown name of a file, in characters (after sanitising)
MAX_NAME_CHARS = 60
#: the ISUPPORT token that carries a session's upload token
ISUPPORT_UPLOAD = "charla.chat/UPLOAD"

#: kind -> (Content-Type, extension, shown inline in a browser)
KINDS = {
    "png": ("image/png", ".png", True),
    "gif": ("image/gif", ".gif", True),
    "jpeg": ("image/jpeg", ".jpg", True),
    "pdf": ("application/pdf", ".pdf", False),
}
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
#: where a file's link ends, in a message: what clients look for to show a thumbnail
FILE_LINK = re.compile(r"https?://[^\s/]+/f/([A-Za-z0-9_-]{22})")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    owner TEXT NOT NULL,
    created REAL NOT NULL,
    msgid TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS files_by_owner ON files (owner, created);
CREATE INDEX IF NOT EXISTS files_by_msgid ON files (msgid);
"""


def sniff(data: bytes) -> str | None:
    """The kind of file ``data`` is, by its first bytes (a key of ``KINDS``), or None.

    >>> sniff(b"\\x89PNG\\r\\n\\x1a\\n...."), sniff(b"GIF89a.."), sniff(b"%PDF-1.7"), sniff(b"<svg")
    ('png', 'gif', 'pdf', None)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"%PDF-"):
        return "pdf"
    return None


def clean_name(name: str, kind: str) -> str:
    """The name to show for a file: the last part of any path, letters, digits and
    ``._- `` only (no control, bidi or path characters), at most ``MAX_NAME_CHARS``, and
    the extension of its real kind.

    >>> clean_name("../../etc/pass\\u202ewd.png", "pdf"), clean_name("", "png")
    ('passwd.pdf', 'file.png')
    """
    name = re.split(r"[/\\]", name)[-1]
    name = unicodedata.normalize("NFC", name)
    kept = "".join(c for c in name if c.isalnum() or c in "._- ").strip(" .")
    stem = kept.rsplit(".", 1)[0] if "." in kept else kept
    stem = stem[: MAX_NAME_CHARS - 5].strip(" .") or "file"
    return stem + KINDS[kind][1]


@dataclass(frozen=True)
class StoredFile:
    id: str
    kind: str
    name: str
    size: int
    path: Path

    @property
    def content_type(self) -> str:
        return KINDS[self.kind][0]

    @property
    def disposition(self) -> str:
        """``Content-Disposition``: inline for pictures, attachment for a PDF."""
        how = "inline" if KINDS[self.kind][2] else "attachment"
        ascii_name = "".join(
            c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in self.name
        )
        return f"{how}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.name, safe='')}"


class FileStore:
    """The kept files and their index (see the module docstring)."""

    def __init__(
        self,
        database: str | None,
        *,
        max_total: int = MAX_TOTAL_BYTES,
        max_files: int = MAX_FILES,
        clock=time.time,
    ) -> None:
        self.database = database
        self.max_total = max_total
        self.max_files = max_files
        self.clock = clock
        self._lock = threading.Lock()  # guards _db and the folder's files
        self._db: sqlite3.Connection | None = None
        self._temporary: str | None = None
        self.folder = Path()

    def open(self) -> None:
        if self.database:
            db_path = Path(self.database)
            self.folder = db_path.with_name(db_path.name + ".files")
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.database, check_same_thread=False, timeout=5)
                self._db.executescript(_SCHEMA)
                self._db.commit()
                return
            except (OSError, sqlite3.Error) as exc:
                log.warning(
                    tr("files cannot be kept in %s (%s): kept until shutdown"), self.folder, exc
                )
                if self._db is not None:
                    self._db.close()
        self._temporary = tempfile.mkdtemp(prefix="charla-files-")
        self.folder = Path(self._temporary)
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            if self._temporary is not None:
                shutil.rmtree(self._temporary, ignore_errors=True)
                self._temporary = None

    def _path(self, file_id: str) -> Path:
        return self.folder / f"{file_id}.bin"  # file_id is ours: 22 URL-safe characters

    def used_by(self, owner: str, since: float) -> tuple[int, int]:
        """(files, bytes) ``owner`` uploaded since ``since`` and still kept."""
        with self._lock:
            if self._db is None:
                return 0, 0
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files "
                "WHERE owner = ? AND created >= ?",
                (owner, since),
            ).fetchone()
        return int(row[0]), int(row[1])

    def add(self, data: bytes, kind: str, name: str, owner: str, msgid: str) -> StoredFile | None:
        """Keep ``data``; None if the disk refuses (logged)."""
        file_id = secrets.token_urlsafe(16)
        path = self._path(file_id)
        with self._lock:
            if self._db is None:
                return None
            try:
                with open(path, "xb") as out:
                    out.write(data)
                self._db.execute(
                    "INSERT INTO files (id, kind, name, size, owner, created, msgid) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (file_id, kind, name, len(data), owner, self.clock(), msgid),
                )
                self._db.commit()
            except (OSError, sqlite3.Error) as exc:
                log.warning(tr("a file could not be kept: %s"), exc)
                with contextlib.suppress(OSError):
                    path.unlink()
                return None
            self._bound_locked()
        return StoredFile(file_id, kind, name, len(data), path)

    def _bound_locked(self) -> None:
        """Delete the oldest files while all together pass ``max_total`` or ``max_files``."""
        assert self._db is not None
        count, total = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files"
        ).fetchone()
        if count <= self.max_files and total <= self.max_total:
            return
        gone = []
        for file_id, size in self._db.execute("SELECT id, size FROM files ORDER BY created, rowid"):
            if count <= self.max_files and total <= self.max_total:
                break
            gone.append(file_id)
            count, total = count - 1, total - size
        for file_id in gone:
            self._delete_locked(file_id)
        self._db.commit()
        log.info(tr("%d old files deleted to keep the total bounded"), len(gone))

    def _delete_locked(self, file_id: str) -> None:
        assert self._db is not None
        self._db.execute("DELETE FROM files WHERE id = ?", (file_id,))
        with contextlib.suppress(OSError):
            self._path(file_id).unlink()

    def get(self, file_id: str) -> StoredFile | None:
        if not _ID.fullmatch(file_id):
            return None
        with self._lock:
            if self._db is None:
                return None
            row = self._db.execute(
                "SELECT kind, name, size FROM files WHERE id = ?", (file_id,)
            ).fetchone()
        if row is None or row[0] not in KINDS:
            return None
        return StoredFile(file_id, row[0], str(row[1]), int(row[2]), self._path(file_id))

    def set_msgid(self, file_id: str, msgid: str) -> None:
        with self._lock:
            if self._db is not None:
                self._db.execute("UPDATE files SET msgid = ? WHERE id = ?", (msgid, file_id))
                self._db.commit()

    def delete(self, file_id: str) -> None:
        with self._lock:
            if self._db is not None:
                self._delete_locked(file_id)
                self._db.commit()

    def delete_by_msgid(self, msgid: str) -> int:
        """Delete the files a message announced; how many."""
        if not msgid:
            return 0
        with self._lock:
            if self._db is None:
                return 0
            ids = [r[0] for r in self._db.execute("SELECT id FROM files WHERE msgid = ?", (msgid,))]
            for file_id in ids:
                self._delete_locked(file_id)
            self._db.commit()
        return len(ids)


class UploadRefused(Exception):
    """An upload not taken: ``status`` is the HTTP answer, ``text`` says why, for people."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


_HOST = re.compile(r"(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


class Uploads:
    """The upload desk (see the module docstring): ``net.web_session.UploadService``."""

    def __init__(self, rooms: Rooms, store: FileStore, max_upload: int = MAX_UPLOAD_BYTES) -> None:
        self.rooms = rooms
        self.store = store
        self.max_upload = max_upload
        self._lock = threading.Lock()  # guards _tokens, _receiving and _under_way
        #: upload token -> the session it was given to (weakly: gone with the session)
        self._tokens: weakref.WeakValueDictionary[str, Session] = weakref.WeakValueDictionary()
        self._receiving = 0  # bytes of bodies being received now (reserved by check)
        #: upload token -> its uploads under way (between check and release)
        self._under_way: dict[str, int] = {}
        #: the server's addresses others can reach (``host:port``, best first; the server
        #: sets it): a link made from a loopback ``Host`` uses the first instead
        self.shareable: Callable[[], list[str]] = list

    def token_for(self, session: Session) -> str:
        """The session's upload token, made on first use."""
        token = getattr(session, "upload_token", None)
        if token is None:
            token = secrets.token_urlsafe(24)
            session.upload_token = token  # type: ignore[attr-defined]
            with self._lock:
                self._tokens[token] = session
        return token

    def _session(self, token: str | None) -> Session:
        session = None
        if token:
            with self._lock:
                session = self._tokens.get(token)
        if session is None or session.left or not session.registered:
            raise UploadRefused(401, tr("Sign in to the chat first."))
        return session

    def check(self, token: str | None, length: int) -> None:
        """Before the body is read: the sender, the size, room to receive it. Reserves
        ``length`` bytes of ``MAX_RECEIVING_BYTES``: ``release(length)`` gives them back."""
        self._session(token)
        if length > self.max_upload:
            raise UploadRefused(
                413,
                tr("The file is too large (at most {mb} MB).").format(
                    mb=round(self.max_upload / 1048576, 1)
                ),
            )
        assert token is not None  # _session refused None
        with self._lock:
            if self._under_way.get(token, 0) >= UPLOADS_AT_ONCE:
                raise UploadRefused(429, tr("Too fast; wait a moment."))
            if self._receiving + length > MAX_RECEIVING_BYTES:
                raise UploadRefused(503, tr("The server is busy; try again in a moment."))
            self._receiving += length
            self._under_way[token] = self._under_way.get(token, 0) + 1

    def release(self, token: str | None, length: int) -> None:
        """Give back what ``check`` reserved for ``token``'s upload of ``length`` bytes."""
        with self._lock:
            self._receiving = max(0, self._receiving - length)
            if token is not None and token in self._under_way:
                left = self._under_way[token] - 1
                if left > 0:
                    self._under_way[token] = left
                else:
                    del self._under_way[token]

    def receive(self, token: str | None, target: str, name: str, data: bytes, host: str) -> str:
        """Keep and announce an upload; its link, or ``UploadRefused``."""
        session = self._session(token)
        kind = sniff(data)
        if kind is None:
            raise UploadRefused(415, tr("Only pictures (PNG, GIF, JPEG) and PDF files."))
        if not _HOST.fullmatch(host):
            raise UploadRefused(400, tr("Bad request."))
        owner = self._owner(session)
        files, used = self.store.used_by(owner, self.store.clock() - QUOTA_WINDOW)
        if files + 1 > QUOTA_FILES or used + len(data) > QUOTA_BYTES:
            raise UploadRefused(429, tr("You have sent many files; wait a while."))
        gate = session.conn._gate  # see the module docstring
        if gate is not None:
            if not gate.allow(time.monotonic()):
                raise UploadRefused(429, tr("Too fast; wait a moment."))
            gate.charge(UPLOAD_FLOOD_LINES - 1)
        channel = None
        recipient = None
        if target.startswith("#"):
            channel = self.rooms.find_channel(target)
            if channel is None or channel not in self.rooms.channels_of(session):
                raise UploadRefused(403, tr("You are not in {channel}.").format(channel=target))
        elif is_valid_nick(target):
            recipient = self.rooms.find_session(target)
            if recipient is None:
                raise UploadRefused(404, tr("{nick} is not here.").format(nick=target))
        else:
            raise UploadRefused(400, tr("Bad request."))
        shown = clean_name(name, kind)
        msgid = self.rooms.new_msgid()
        stored = self.store.add(data, kind, shown, owner, msgid)
        if stored is None:
            raise UploadRefused(503, tr("The server cannot keep files now."))
        link = f"http://{self._reachable(host)}/f/{stored.id}"
        message = Message(
            "PRIVMSG",
            [channel.name if channel else recipient.nick, f"📎 {shown} {link}"],  # type: ignore[union-attr]
            session.prefix,
            {"msgid": msgid},
        )
        # The uploader said nothing over IRC, so no client of theirs shows it yet: they
        # get the line too (with echo-message the channel's relay already sends it).
        if channel is not None:
            refused = self.rooms.send_to_channel(session, channel, message)
            if refused is not None:
                self.store.delete(stored.id)
                raise UploadRefused(403, refused.text())
            if not session.echo_message:
                self.rooms.send_to_session(session, message)
        else:
            self.rooms.send_to_session(recipient, message, session, sender=session)  # type: ignore[arg-type]
        self.rooms.persist_history()
        return link

    def _reachable(self, host: str) -> str:
        """``host``, unless it is this computer's loopback (the window that hosts the room
        connects to 127.0.0.1): then the address the others use, if there is one."""
        name = host[: host.index("]") + 1] if host.startswith("[") else host.rsplit(":", 1)[0]
        if name.lower() in ("localhost", "[::1]") or name.startswith("127."):
            shared = self.shareable()
            if shared:
                return shared[0]
        return host

    def _owner(self, session: Session) -> str:
        account = self.rooms.account_of(session)
        return f"account:{account}" if account else f"address:{session.conn.counted_as}"

    def fetch(self, file_id: str) -> StoredFile | None:
        return self.store.get(file_id)

    def redacted(self, msgid: str) -> None:
        """A message was deleted: so are the files it announced."""
        if self.store.delete_by_msgid(msgid):
            log.info(tr("a deleted message's file was deleted"))
