"""HTTP on the chat's port: the web page's static files, and the WebSocket upgrade.

A connection whose very first bytes are an HTTP method, a space and ``/`` (``GET /``) is a
browser (``FirstBytes``, the framing the server gives every new connection, decides at
byte level, so nothing already read is lost or changed; anything else becomes lines, as
ever). ``HttpSession`` is then its handler, for one request, small and strict:

- the request head (request line and headers) is at most ``MAX_HEAD_BYTES`` (431),
  ``MAX_HEADERS`` headers (431) and ``MAX_TARGET_BYTES`` of path (414), and must be
  complete within ``HEAD_SECONDS`` of connecting (slowloris: 408, closed);
- ``GET`` and ``HEAD`` only (405), of the files in ``net/webapp/`` (``/`` is
  ``index.html``); no body (413); a path is plain names (``[A-Za-z0-9][A-Za-z0-9._-]*``)
  between slashes, or 404: so no ``..``, ``%2e``, backslash or absolute path ever reaches
  the file system, and the file found must still lie inside the folder (a symlink out is
  404); no directory listing; every answer has ``Content-Type``,
  ``X-Content-Type-Options: nosniff``, a ``Content-Security-Policy`` that allows no
  inline script, and ``Connection: close``.
- On any path, ``Upgrade: websocket`` (RFC 6455 §4.2): version 13 (else 426 saying so),
  a valid key (400), an ``Origin``, when sent, that is this server's own page or one the
  operator allowed (403); the subprotocol ``text.ircv3.net`` (or ``binary.ircv3.net``) when
  offered, text when none is. Bytes the client sent before our 101 break RFC 6455 §4.1
  (it must wait for the answer): 400, closed. After the 101 the connection wraps its
  output in frames (``net.websocket``) and the handler becomes an IRC session, which
  handles each message as a TCP client's line: same flood gate, limits and counting.
- ``POST /upload?to=<target>&name=<name>`` (a picture or PDF, ``net.uploads`` decides):
  ``Authorization: Bearer <token>`` (401), ``Content-Length`` (411; no chunked body),
  refused by its length alone before any body is read (413; ``Expect: 100-continue`` is
  answered once the head is accepted); then the body, kept by the
  framing (``HttpRequestFraming.expect_body``) up to that length and no more, within
  ``BODY_SECONDS`` (408); answered 201 with the link in ``Location`` and the body.
- ``GET /f/<id>``: a kept file (``net.uploads``), with its own ``Content-Type`` and
  ``Content-Disposition``, streamed from the file in ``SEND_CHUNK`` pieces, each written
  before the next is read (``Connection.send_now``), so a 5 MB picture to 30 phones
  holds 30 pieces in memory, not 30 pictures.

Threading: every method of ``HttpSession`` and ``FirstBytes`` runs on the connection's
reader thread (``FirstBytes.feed`` is the framing; the rest are handler calls). The
``WebConfig`` is immutable and shared.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote

from net.connection import NO_DEADLINE, Connection, ConnectionHandler
from net.i18n import tr
from net.protocol import LineBuffer
from net.websocket import (
    SUBPROTOCOL_BINARY,
    SUBPROTOCOL_TEXT,
    VERSION,
    WebSocketStream,
    accept_key,
    is_valid_key,
)

#: the web page's files (package data; ``build.spec`` and ``pyproject.toml`` ship them)
WEBAPP_DIR = Path(__file__).with_name("webapp")
#: a request's line and headers together, their CRLFs included
MAX_HEAD_BYTES = 8192
MAX_HEADERS = 50
MAX_TARGET_BYTES = 1024
#: from connecting to the end of the request head (a slowloris gets 408 after this)
HEAD_SECONDS = 10.0
#: to send the answer (the page's largest file to a phone on a busy Wi-Fi)
SEND_SECONDS = 15.0
#: a file larger than this is not served (the page's files are a few tens of KB)
MAX_FILE_BYTES = 512 * 1024
#: from the end of an upload's head to the end of its body (a phone on a busy Wi-Fi)
BODY_SECONDS = 120.0
#: bytes after the head kept before the handler says how many to expect (one read)
BODY_PREFETCH_BYTES = 64 * 1024
#: a kept file is sent in pieces of this size
FILE_CHUNK_BYTES = 64 * 1024
#: a silent connection from an address whose browser asked something lately is a person at
#: ``nc`` only after this long: a browser opens connections before it needs them and keeps
#: them unused up to 10 s (Chromium), closed at its next clean-up, 10 s later at most
BROWSER_SILENCE_SECONDS = 30.0
#: an address counts as a browser's this long after its last HTTP request
BROWSER_MEMORY_SECONDS = 600.0
#: addresses remembered at most (the oldest is forgotten first)
MAX_BROWSER_ADDRESSES = 4096
#: the "line" the framing hands over when an expected body is complete
BODY_READY = "\x7fbody"

#: what starts an HTTP request; each followed by " /" (origin-form, RFC 9112 §3.2.1)
HTTP_METHODS = (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"TRACE")
_HTTP_STARTS = tuple(method + b" /" for method in HTTP_METHODS)
_LONGEST_START = max(len(start) for start in _HTTP_STARTS)

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".gif": "image/gif",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
#: no inline script or style, nothing from elsewhere; the page talks to this server only
#: (``ws:``/``wss:`` for browsers whose ``'self'`` does not cover WebSocket yet). So the
#: page has no ``<script>`` body, no ``onclick=``, no ``style=`` attribute in its markup:
#: its script sets ``element.style`` or classes, which the policy allows.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_COMMON_HEADERS = (
    "X-Content-Type-Options: nosniff\r\n"
    f"Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\n"
    "Referrer-Policy: no-referrer\r\n"
    "X-Frame-Options: DENY\r\n"
)
_REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    503: "Service Unavailable",
    414: "URI Too Long",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    505: "HTTP Version Not Supported",
}
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_REQUEST_LINE = re.compile(r"([A-Z]+) (\S+) HTTP/(\d)\.(\d)")
_FILE_PATH = re.compile(r"/f/([A-Za-z0-9_-]{1,64})")


class UploadService(Protocol):
    """What HTTP asks of the pictures' desk (``net.uploads.Uploads``); each method may
    raise an exception with ``status`` and ``text`` (``net.uploads.UploadRefused``)."""

    def check(self, token: str | None, length: int) -> None:
        """Before the body: may this sender send ``length`` bytes? Reserves them."""

    def release(self, token: str | None, length: int) -> None:
        """Give back what ``check`` reserved (always called, once, after a ``check``)."""

    def receive(self, token: str | None, target: str, name: str, data: bytes, host: str) -> str:
        """Keep and announce the file; its link."""

    def fetch(self, file_id: str) -> Any:
        """The kept file (``path``, ``content_type``, ``disposition``, ``size``) or None."""


class BrowserAddresses:
    """The addresses a browser sent an HTTP request from lately.

    A browser opens connections ahead of need (a "preconnect", for the page's next files or
    the next visit) and sends nothing on them until it uses them. To the server such a
    connection looks like a person at ``nc``, who is asked a name after a second of silence;
    but a browser reads those bytes as the answer to the request it sends later, and the
    page or picture fails to load. So a silent connection from an address in this table is
    given ``BROWSER_SILENCE_SECONDS`` (the browser closes an unused connection before that;
    a person there can still type a name at any time, the prompt only comes later).
    Bounded (``MAX_BROWSER_ADDRESSES``); thread-safe: reader threads call both methods."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last: OrderedDict[str, float] = OrderedDict()  # address -> last request

    def saw(self, address: str) -> None:
        """A browser sent an HTTP request from ``address``."""
        with self._lock:
            self._last[address] = self._clock()
            self._last.move_to_end(address)
            while len(self._last) > MAX_BROWSER_ADDRESSES:
                self._last.popitem(last=False)

    def lately(self, address: str) -> bool:
        """Whether a browser sent a request from ``address`` in the last
        ``BROWSER_MEMORY_SECONDS``."""
        with self._lock:
            last = self._last.get(address)
        return last is not None and self._clock() - last < BROWSER_MEMORY_SECONDS


@dataclass(frozen=True)
class WebConfig:
    """What the server's web side may do (``net.server.ServerConfig`` fills it)."""

    #: serve the page and WebSocket here; False: every request gets a short 404
    enabled: bool = True
    #: the origins (``scheme://host[:port]``, lower case) besides the server's own page
    #: whose pages may open a WebSocket (``--web-allow-origin``)
    allowed_origins: frozenset[str] = frozenset()
    #: the port the web chat is on when it is not on this one (``--no-web --web-port``),
    #: for the 404's text; None: nowhere
    elsewhere: int | None = None
    #: from connecting to the end of the request head (slowloris: 408 after this)
    head_seconds: float = HEAD_SECONDS
    #: the pictures' desk (``POST /upload``, ``GET /f/<id>``); None: no uploads (404)
    uploads: UploadService | None = None


class HttpRequestFraming:
    """The framing of an HTTP connection: the request head, then nothing.

    ``feed`` returns the head (request line and headers, without the blank line) once it
    is complete, or None once if it grows past ``MAX_HEAD_BYTES`` first; bytes after the
    head are not lines: they are only counted (``extra``), and never buffered."""

    def __init__(self, data: bytes = b"") -> None:
        self._head = bytearray(data)
        self.done = False
        self.extra = 0  # bytes received after the head
        #: the first of them, at most ``_keep`` (BODY_PREFETCH_BYTES, then the length a
        #: handler expects): nothing beyond is ever held
        self.body = bytearray()
        self._keep = BODY_PREFETCH_BYTES
        self._expect: int | None = None  # the body's length, once a handler asked for it

    def expect_body(self, length: int) -> bool:
        """From the handler: the body is ``length`` bytes; keep them, then hand over
        ``BODY_READY`` once. False if more than that came already, or were dropped."""
        if self.extra > len(self.body) or len(self.body) > length:
            return False
        self._keep = self._expect = length
        return True

    def body_complete(self) -> bool:
        return self._expect is not None and len(self.body) >= self._expect

    def _keep_extra(self, data: bytes) -> list[bytes | None]:
        was_complete = self.body_complete()
        self.extra += len(data)
        room = self._keep - len(self.body)
        if room > 0:
            self.body += data[:room]
        if not was_complete and self.body_complete():
            return [BODY_READY.encode("ascii")]
        return []

    def feed(self, data: bytes) -> list[bytes | None]:
        if self.done:
            return self._keep_extra(data)
        start = max(0, len(self._head) - 3)
        self._head += data
        end = self._head.find(b"\r\n\r\n", start)
        if end < 0:
            if len(self._head) > MAX_HEAD_BYTES:
                self.done, self._head = True, bytearray()
                return [None]
            return []
        self.done = True
        head = bytes(self._head[:end])
        rest = bytes(self._head[end + 4 :])
        self._head = bytearray()
        if end + 4 > MAX_HEAD_BYTES:
            return [None]
        self._keep_extra(rest)
        return [head or b" "]  # never b"" (the connection skips empty lines)


class FirstBytes:
    """A new connection's framing: HTTP if the stream starts with an HTTP method, a space
    and ``/``; lines (a ``LineBuffer``) otherwise. It waits for at most
    ``len("OPTIONS /")`` bytes to tell; ``settle_as_lines`` decides for lines when
    a person at ``nc`` typed only ``GE`` and stopped. ``kind`` says what it decided."""

    def __init__(self) -> None:
        self.kind: str | None = None  # None: not decided yet; "http" or "lines"
        self._head = b""
        self.lines = LineBuffer()
        self.http: HttpRequestFraming | None = None

    def feed(self, data: bytes) -> list[bytes | None]:
        if self.kind == "lines":
            return self.lines.feed(data)
        if self.http is not None:
            return self.http.feed(data)
        head = self._head + data
        if head.startswith(_HTTP_STARTS):
            self.kind, self._head = "http", b""
            self.http = HttpRequestFraming()
            return self.http.feed(head)
        if len(head) < _LONGEST_START and any(start.startswith(head) for start in _HTTP_STARTS):
            self._head = head  # "GE": could still be "GET /"
            return []
        self.kind, self._head = "lines", b""
        return self.lines.feed(head)

    def settle_as_lines(self) -> list[bytes | None]:
        """Decide for lines now (if not decided); the lines in what was held back."""
        if self.kind is not None:
            return []
        self.kind, head, self._head = "lines", self._head, b""
        return self.lines.feed(head)


def _response(
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    *,
    extra: str = "",
    head_only: bool = False,
) -> bytes:
    head = (
        f"HTTP/1.1 {status} {_REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"{_COMMON_HEADERS}"
        "Cache-Control: no-cache\r\n"
        f"{extra}"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + (b"" if head_only else body)


def _error(status: int, text: str, *, extra: str = "", head_only: bool = False) -> bytes:
    return _response(status, (text + "\n").encode("utf-8"), extra=extra, head_only=head_only)


def resolve_static(target: str, root: Path = WEBAPP_DIR) -> Path | None:
    """The file in ``root`` a request target names, or None: plain names between slashes
    (see the module docstring), a known type, a regular file inside ``root`` after
    following links. The query (``?…``) is ignored.

    >>> resolve_static("/../servidor.py") is None, resolve_static("/%2e%2e/x") is None
    (True, True)
    """
    path = target.split("?", 1)[0]
    if not path.startswith("/"):
        return None
    names = path[1:].split("/") if path != "/" else ["index.html"]
    if not all(_SEGMENT.fullmatch(name) for name in names):
        return None
    if Path(names[-1]).suffix.lower() not in CONTENT_TYPES:
        return None
    try:
        base = root.resolve(strict=True)
        found = base.joinpath(*names).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not found.is_relative_to(base) or not found.is_file():
        return None
    return found


@dataclass
class Request:
    method: str
    target: str
    version: tuple[int, int]
    #: header name in lower case -> values in order (a repeated header has several)
    headers: dict[str, list[str]]

    def header(self, name: str) -> str | None:
        """The one value of header ``name``; None when absent or repeated."""
        values = self.headers.get(name)
        return values[0] if values is not None and len(values) == 1 else None

    def tokens(self, name: str) -> list[str]:
        """A comma-separated list header, every occurrence, in lower case."""
        return [
            token.strip().lower()
            for value in self.headers.get(name, [])
            for token in value.split(",")
            if token.strip()
        ]


class BadRequest(Exception):
    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def parse_request(head: str) -> Request:
    """The request line and headers of ``head`` (CRLF-separated), or ``BadRequest``."""
    if not head.isascii() or "\0" in head:
        raise BadRequest(400, tr("Bad request."))
    request_line, *header_lines = head.split("\r\n")
    match = _REQUEST_LINE.fullmatch(request_line)
    if match is None:
        raise BadRequest(400, tr("Bad request."))
    method, target, major, minor = match.groups()
    if len(target) > MAX_TARGET_BYTES:
        raise BadRequest(414, tr("The address is too long."))
    if (major, minor) not in (("1", "0"), ("1", "1")):
        raise BadRequest(505, tr("Bad request."))
    if len(header_lines) > MAX_HEADERS:
        raise BadRequest(431, tr("Too many headers."))
    headers: dict[str, list[str]] = {}
    for line in header_lines:
        name, colon, value = line.partition(":")
        # no folded lines (RFC 9112 §5.2), no space before the colon (§5.1)
        if not colon or not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value:
            raise BadRequest(400, tr("Bad request."))
        headers.setdefault(name.lower(), []).append(value.strip(" \t"))
    request = Request(method, target, (int(major), int(minor)), headers)
    if request.version >= (1, 1) and request.header("host") is None:
        raise BadRequest(400, tr("Bad request."))  # RFC 9112 §3.2: exactly one Host
    return request


def origin_allowed(request: Request, allowed: frozenset[str]) -> bool:
    """Whether a WebSocket from this request's page may connect: no ``Origin`` (not a
    browser), the server's own page (``http(s)://`` + the ``Host`` it was asked for), or
    one of ``allowed``."""
    origins = request.headers.get("origin")
    if origins is None:
        return True
    if len(origins) != 1:
        return False
    origin = origins[0].lower().rstrip("/")
    host = (request.header("host") or "").lower()
    if host and origin in (f"http://{host}", f"https://{host}"):
        return True
    return origin in allowed


class HttpSession:
    """One HTTP request on a connection (see the module docstring); becomes, on a
    WebSocket upgrade, the handler ``upgrade(conn)`` returns (an IRC session)."""

    def __init__(
        self,
        conn: Connection,
        web: WebConfig,
        upgrade: Callable[[Connection], ConnectionHandler],
        framing: HttpRequestFraming,
    ) -> None:
        self.conn = conn
        self.web = web
        self.upgrade = upgrade
        self.framing = framing
        self._deadline = conn.opened_at + web.head_seconds
        #: an upload whose body is on its way: (request, token, reserved bytes)
        self._upload: tuple[Request, str | None, int] | None = None
        #: (token, bytes) the upload desk reserved for this body, given back at the end
        self._reservation: tuple[str | None, int] | None = None

    # -- ConnectionHandler -------------------------------------------------------------

    def on_line(self, line: str | None) -> None:
        self._deadline = NO_DEADLINE
        if self._upload is not None:
            if line == BODY_READY:
                self._finish_upload(*self._upload)
            return
        if line is None:
            self._answer(_error(431, tr("The request is too large.")), "HTTP 431")
            return
        try:
            request = parse_request(line)
        except BadRequest as error:
            self._answer(_error(error.status, error.text), f"HTTP {error.status}")
            return
        head_only = request.method == "HEAD"
        path = request.target.split("?", 1)[0]
        file_match = _FILE_PATH.fullmatch(path)
        if self.web.uploads is not None and path == "/upload":
            self._start_upload(request)
        elif self.web.uploads is not None and file_match and request.method in ("GET", "HEAD"):
            self._file(file_match.group(1), head_only)
        elif not self.web.enabled:
            text = tr("This server has no web chat here.")
            if self.web.elsewhere is not None:
                text += " " + tr("It is on port {port}.").format(port=self.web.elsewhere)
            self._answer(_error(404, text, head_only=head_only), "HTTP 404 (web off)")
        elif "websocket" in request.tokens("upgrade"):
            self._websocket(request)
        elif request.method not in ("GET", "HEAD"):
            self._answer(
                _error(405, tr("Only GET and HEAD here."), extra="Allow: GET, HEAD\r\n"),
                "HTTP 405",
            )
        elif self._has_body(request):
            self._answer(_error(413, tr("No request body here."), head_only=head_only), "HTTP 413")
        else:
            self._static(request, head_only)

    def next_deadline(self) -> float:
        return self._deadline

    def on_deadline(self, now: float) -> None:
        if now >= self._deadline:
            self._deadline = NO_DEADLINE
            self._upload = None
            self._answer(_error(408, tr("The request took too long.")), "HTTP request timeout")

    def on_batch_done(self) -> None:
        """Nothing to save."""

    def on_closed(self, reason: str) -> None:
        """Nobody knew of this connection; an upload's reserved bytes are given back."""
        self._release()

    def _release(self) -> None:
        if self._reservation is not None and self.web.uploads is not None:
            self.web.uploads.release(*self._reservation)
        self._reservation = None

    def goodbye(self, reason: str) -> bytes:
        return b""  # the answer, if any, is already queued

    # -- the request --------------------------------------------------------------------

    def _answer(self, response: bytes, reason: str) -> None:
        self.conn.enqueue(response)
        self.conn.finish(reason, timeout=SEND_SECONDS)

    @staticmethod
    def _has_body(request: Request) -> bool:
        lengths = request.headers.get("content-length")
        return "transfer-encoding" in request.headers or lengths not in (None, ["0"])

    def _refused(self, error: Exception, what: str) -> None:
        status = getattr(error, "status", 400)
        extra = 'WWW-Authenticate: Bearer realm="charla"\r\n' if status == 401 else ""
        self._answer(
            _error(status, getattr(error, "text", str(error)), extra=extra), f"{what}: {status}"
        )

    def _start_upload(self, request: Request) -> None:
        """The head of ``POST /upload``: who, how long; then wait for the body."""
        uploads = self.web.uploads
        assert uploads is not None
        if request.method != "POST":
            self._answer(_error(405, tr("Only POST here."), extra="Allow: POST\r\n"), "HTTP 405")
            return
        if "transfer-encoding" in request.headers:
            self._answer(_error(411, tr("Say the file's length (Content-Length).")), "upload: 411")
            return
        length_text = request.header("content-length")
        if length_text is None or not length_text.isdigit() or len(length_text) > 12:
            self._answer(_error(411, tr("Say the file's length (Content-Length).")), "upload: 411")
            return
        length = int(length_text)
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        try:
            uploads.check(token or None, length)
        except Exception as error:  # UploadRefused: an answer, not a bug
            if not hasattr(error, "status"):
                raise
            self._refused(error, "upload refused")
            return
        self._reservation = (token or None, length)
        if length == 0 or not self.framing.expect_body(length):
            self._answer(_error(400, tr("Bad request.")), "upload: bad body")
            return
        self._upload = (request, token or None, length)
        if self.framing.body_complete():
            self._finish_upload(request, token or None, length)
            return
        self._deadline = self.conn.last_received + BODY_SECONDS
        if "100-continue" in request.tokens("expect"):  # curl's, for a body over 1 MB
            self.conn.send_now(b"HTTP/1.1 100 Continue\r\n\r\n", SEND_SECONDS)

    def _finish_upload(self, request: Request, token: str | None, length: int) -> None:
        uploads = self.web.uploads
        assert uploads is not None
        self._upload = None
        try:
            query = parse_qs(request.target.partition("?")[2], max_num_fields=10)
        except ValueError:  # more fields than that: not ours
            query = {}
        target = (query.get("to") or [""])[0]
        name = (query.get("name") or [""])[0]
        if not name:  # as soju's FILEHOST: Content-Disposition: attachment; filename="…"
            disposition = request.header("content-disposition") or ""
            if "filename=" in disposition:
                name = unquote(disposition.split("filename=", 1)[1].split(";")[0].strip('" '))
        data = bytes(self.framing.body[:length])
        self.framing.body = bytearray()
        try:
            link = uploads.receive(token, target, name, data, request.header("host") or "")
        except Exception as error:  # UploadRefused: an answer, not a bug
            if not hasattr(error, "status"):
                raise
            self._refused(error, "upload refused")
            return
        finally:
            self._release()
        self._answer(
            _response(201, (link + "\n").encode("ascii"), extra=f"Location: {link}\r\n"),
            "upload kept",
        )

    def _file(self, file_id: str, head_only: bool) -> None:
        """``GET /f/<id>``: a kept file, in pieces (see the module docstring)."""
        uploads = self.web.uploads
        assert uploads is not None
        found = uploads.fetch(file_id)
        try:
            file = found.path.open("rb") if found is not None else None
        except OSError:
            file = None
        if file is None:
            self._answer(_error(404, tr("Not found."), head_only=head_only), "HTTP 404 (file)")
            return
        with file:
            head = (
                "HTTP/1.1 200 OK\r\n"
                f"Content-Type: {found.content_type}\r\n"
                f"Content-Length: {found.size}\r\n"
                f"{_COMMON_HEADERS}"
                f"Content-Disposition: {found.disposition}\r\n"
                "Cache-Control: private, max-age=86400\r\n"
                "Connection: close\r\n\r\n"
            ).encode("ascii")
            sent = self.conn.send_now(head, SEND_SECONDS)
            while sent and not head_only:
                chunk = file.read(FILE_CHUNK_BYTES)
                if not chunk:
                    break
                sent = self.conn.send_now(chunk, SEND_SECONDS)
        self.conn.finish("HTTP file sent" if sent else "HTTP file: reader too slow")

    def _static(self, request: Request, head_only: bool) -> None:
        found = resolve_static(request.target)
        body = None
        if found is not None:
            try:
                with found.open("rb") as file:
                    body = file.read(MAX_FILE_BYTES + 1)
            except OSError:
                body = None
        if body is None or len(body) > MAX_FILE_BYTES:
            self._answer(_error(404, tr("Not found."), head_only=head_only), "HTTP 404")
            return
        content_type = CONTENT_TYPES[found.suffix.lower()]  # type: ignore[union-attr]
        self._answer(
            _response(200, body, content_type, head_only=head_only),
            f"HTTP {request.method} {request.target[:80]}",
        )

    def _websocket(self, request: Request) -> None:
        if request.method != "GET" or request.version < (1, 1):
            self._answer(_error(400, tr("Bad request.")), "WebSocket: not GET HTTP/1.1")
            return
        if "upgrade" not in request.tokens("connection"):
            self._answer(_error(400, tr("Bad request.")), "WebSocket: no Connection: upgrade")
            return
        if request.header("sec-websocket-version") != VERSION:
            self._answer(
                _error(426, tr("Bad request."), extra=f"Sec-WebSocket-Version: {VERSION}\r\n"),
                "WebSocket: version",
            )
            return
        key = request.header("sec-websocket-key")
        if key is None or not is_valid_key(key):
            self._answer(_error(400, tr("Bad request.")), "WebSocket: bad key")
            return
        if not origin_allowed(request, self.web.allowed_origins):
            self._answer(
                _error(403, tr("This page may not connect to this server.")),
                "WebSocket: origin refused",
            )
            return
        if self.framing.extra:  # RFC 6455 §4.1: the client waits for our answer
            self._answer(_error(400, tr("Bad request.")), "WebSocket: data before the 101")
            return
        offered = request.tokens("sec-websocket-protocol")
        chosen = ""
        if SUBPROTOCOL_TEXT in offered:
            chosen = SUBPROTOCOL_TEXT
        elif SUBPROTOCOL_BINARY in offered:
            chosen = SUBPROTOCOL_BINARY
        protocol_header = f"Sec-WebSocket-Protocol: {chosen}\r\n" if chosen else ""
        self.conn.enqueue(
            (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
                f"{protocol_header}\r\n"
            ).encode("ascii")
        )
        self.conn.use_stream(WebSocketStream(binary=chosen == SUBPROTOCOL_BINARY))
        self.conn.handler = self.upgrade(self.conn)
