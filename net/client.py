"""The client connection: talks to a Charla (or any IRC) server, reconnects, loses no message.

``ChatClient(host, port, nick, channels, events=queue)`` connects in the background,
registers, joins its channels and turns everything it hears into ``net.events`` objects
on ``events``. ``say()``, ``action()``, ``join()`` … return at once, connected or not.

What it guarantees:

- A silent connection is probed with ``PING`` after ``keepalive_after`` seconds and given
  up ``keepalive_timeout`` seconds later, so even a half-open TCP connection is noticed.
- A network, not an address: ``alternates`` are the other servers of the same network
  (``net.network``). After a lost connection the same server is tried again in a
  moment, then each of the others at once; only a whole round that failed waits.
  ``tls=True`` (or a ``ServerAddress`` with ``tls``) speaks TLS (``net.tls``): a
  certificate no authority signed, or one that differs from the fingerprint the user
  trusted (``trusted``), comes out as ``CertificateUntrusted`` and that server is not
  tried again until ``trust(key, fingerprint)``.
- Lost connections are retried with exponential backoff and jitter (``ReconnectPolicy``);
  the client rejoins its channels and keeps its nickname. On a Charla server it proves it
  is the same client (the ``charla.chat/session`` capability below) and gets its nick back
  at once; elsewhere it uses a temporary nick and takes its own back when it is free.
- Every message gets an id (returned by ``say``). It stays in the outbox until the server
  confirms it: after writing messages the client sends ``PING charla-ack-<id>``, and
  since a server handles one client's lines in order, the ``PONG`` proves that every
  message before it was received (``Delivered`` events). Unconfirmed messages are sent
  again after a reconnect, in order, each once the server confirmed our ``JOIN`` of its
  channel. Charla's server drops a repeat it has already seen
  (the ``charla.chat/seq`` tag), so nothing arrives twice; other servers may show a
  message twice if the connection died after they received it but before they confirmed.
- Long messages are split so that every relayed line fits the 512-byte limit: between
  words, the space starting the next line (where a server that trims trailing spaces,
  such as ngIRCd, keeps it), else between graphemes (``net.text_cuts``); rejoined, the
  pieces are exactly what was typed. Where the server relays ``message-tags``, each line
  but the last says more follows, and a Charla client receiving them shows one message.

The ``charla.chat/session`` capability: a client that negotiated it sends
``SESSION <token>`` before registering, where the token is a random secret it keeps for
its lifetime. When it asks for a nick that a connection with the same token still holds
(the server has not noticed the old connection died), the server closes the old one and
hands the nick over. Since a client sends ``NICK`` together with ``CAP LS``, before the
server knows its token, a ``433`` for its own nick that comes before ``SESSION`` is
answered by asking for the nick again right after ``SESSION``. Its ``PRIVMSG``/``NOTICE``
lines carry ``@charla.chat/seq=<id>``; the server relays each (token, id) once.

What the protocol says and remembers (registration, nicks, batches, the outbox) lives in
``net.client_protocol.ClientProtocol``, which has no sockets; this module owns the
thread, the sockets, the selector loop and the reconnect timing, and moves bytes between
the socket and that core.

Files: ``upload(target, path)`` sends a picture or PDF to a Charla server over HTTP on the
same host and port (``POST /upload`` with this connection's token, ISUPPORT
``charla.chat/UPLOAD``), and ``fetch_file(id)`` gets one (``GET /f/<id>``, at most
``max_bytes``), each on the files thread: one short-lived worker that runs them in order
from a bounded queue (``MAX_FILE_JOBS``) and ends when it is empty, so the caller (the Tk
thread) never waits. Their outcome is an event (``UploadProgress``, ``UploadDone``,
``UploadFailed``, ``FileFetched``); every socket has a timeout (``FILE_TIMEOUT``).

Threading rules: one network thread does all socket work and owns the protocol core.
Public methods may be called from any thread. They validate and format their line on the
caller's thread, so a bad argument raises there (``InvalidMessageError`` from
``net.protocol``: ``EmbeddedNewlineError``, ``InvalidParameterError``,
``net.client_protocol.InvalidNameError``); then they put a callable on ``_commands`` and
wake the network thread through a socket pair. They never block on the network. The
server's name is looked up on a short-lived helper thread, so ``quit()`` never waits for
DNS; it returns within about ``close_timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import queue
import random
import re
import secrets
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from net import events as ev
from net import protocol as irc
from net import tls
from net.client_protocol import (
    MAX_REACTION_CHARS,
    MSGID,
    REACT_TAG,
    TYPING_STATES,
    TYPING_TAG,
    UNREACT_TAG,
    ClientProtocol,
    PendingMessage,
    check_one_line,
    checked_name,
    poll_options,
)
from net.i18n import tr
from net.network import ServerAddress, ServerRotation
from net.protocol import LineBuffer, Message, decode_line, parse
from net.text_cuts import split_words

log = logging.getLogger(__name__)

#: what the rest of a relayed line may take beside the text, when we do not know our host
HOST_ALLOWANCE = 64
#: uploads and fetches waiting for the files thread; past it a new one is refused
MAX_FILE_JOBS = 64
#: the longest any one read or write of a file transfer may wait
FILE_TIMEOUT = 20.0
#: the largest file ``upload`` reads (the server's own limit, 5 MB by default, is lower)
MAX_UPLOAD_READ = 64 * 1024 * 1024
#: an upload is written, and its progress told, in pieces of this size
UPLOAD_CHUNK = 64 * 1024
#: an HTTP answer's head, at most
MAX_RESPONSE_HEAD = 16 * 1024
_FILE_ID = re.compile(r"[A-Za-z0-9_-]{22}")

_AddressInfo = list[tuple]  # what socket.getaddrinfo returns


@dataclass(frozen=True)
class ReconnectPolicy:
    """How long to wait before each new try: ``first`` then ``base`` doubling up to ``most``."""

    first: float = 0.25
    base: float = 1.0
    most: float = 30.0
    jitter: float = 0.2  # each delay is randomly shortened or lengthened by up to this share
    max_attempts: int = 10_000  # tries in a row before giving up (about three days)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1, 2, …).

        >>> [ReconnectPolicy(jitter=0).delay(attempt) for attempt in range(1, 9)]
        [0.25, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
        """
        nominal = self.first if attempt <= 1 else min(self.most, self.base * 2 ** (attempt - 2))
        return nominal * random.uniform(1 - self.jitter, 1 + self.jitter)


class ChatClient:
    """A self-healing connection to one server (see the module docstring).

    The timings are class attributes (the defaults) that the constructor can override
    for one client; set them before ``start()``.
    """

    keepalive_after = 15.0  # silence before we PING the server
    keepalive_timeout = 10.0  # then this long for any answer before we call it dead
    connect_timeout = 5.0  # name lookup, then each TCP connect
    nick_retry_interval = 10.0  # while using a temporary nick, how often to ask for ours
    close_timeout = 1.0  # quit(): the longest it waits

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        channels: Iterable[str] = (irc.DEFAULT_CHANNEL,),
        events: queue.Queue | None = None,
        *,
        tls: bool = False,
        alternates: Iterable[ServerAddress] = (),
        trusted: Mapping[str, str] | None = None,
        password: str | None = None,
        account_password: str | None = None,
        oper: tuple[str, str] | None = None,
        username: str | None = None,
        realname: str = "Charla",
        policy: ReconnectPolicy | None = None,
        keepalive_after: float | None = None,
        keepalive_timeout: float | None = None,
        nick_retry_interval: float | None = None,
        connect_timeout: float | None = None,
        close_timeout: float | None = None,
    ) -> None:
        #: the servers of the network, the first one first, and which to try next; the
        #: network thread moves it, others read ``server`` (one attribute: a whole value)
        self._rotation = ServerRotation([ServerAddress(host, port, tls), *alternates])
        self.server = self._rotation.current
        #: certificates the user trusted: ``ServerAddress.key`` -> fingerprint (``net.tls``)
        self._trusted: dict[str, str] = dict(trusted or {})
        #: servers whose certificate is not trusted (yet): key -> the fingerprint shown
        self._untrusted: dict[str, str] = {}
        self.events: queue.Queue = events if events is not None else queue.Queue()
        self.password = password
        self.username = username or "charla"
        self.realname = realname
        self.policy = policy or ReconnectPolicy()
        if keepalive_after is not None:
            self.keepalive_after = keepalive_after
        if keepalive_timeout is not None:
            self.keepalive_timeout = keepalive_timeout
        if nick_retry_interval is not None:
            self.nick_retry_interval = nick_retry_interval
        if connect_timeout is not None:
            self.connect_timeout = connect_timeout
        if close_timeout is not None:
            self.close_timeout = close_timeout
        # what registration will send, checked here rather than refused on the network thread
        channels = [checked_name(channel) for channel in channels]
        Message("NICK", [checked_name(nick)]).format()
        Message("USER", [self.username, "0", "*", realname]).format()
        if password is not None:
            Message("PASS", [password]).format()
        if oper is not None:
            Message("OPER", list(oper)).format()
        #: the protocol state; only the network thread touches it (``nick`` reads one field)
        self._core = ClientProtocol(
            nick,
            channels,
            session_token=secrets.token_hex(16),
            password=password,
            account_password=account_password,
            oper=oper,
            username=self.username,
            realname=realname,
        )
        #: what callers' threads ask the network thread to do, in order
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="charla-client", daemon=True)
        # Everything below belongs to the network thread.
        self._stopping = False
        self._retry_now = False  # stop waiting before the next try: try now
        self._quit_reason = ""
        self._lookups = 0  # name lookups started; a late answer to an older one is ignored
        self._addresses: _AddressInfo | OSError | None = None  # the current lookup's answer
        #: uploads and fetches for the files thread (see the module docstring)
        self._file_jobs: queue.Queue[Callable[[], None]] = queue.Queue(MAX_FILE_JOBS)
        self._files_lock = threading.Lock()  # guards _files_thread
        self._files_thread: threading.Thread | None = None
        self._new_connection()

    # -- public API: any thread ------------------------------------------------------------

    def start(self) -> ChatClient:
        core = self._core  # the timings as this client has them now
        core.keepalive_after, core.keepalive_timeout = self.keepalive_after, self.keepalive_timeout
        core.nick_retry_interval = self.nick_retry_interval
        self._thread.start()
        return self

    @property
    def nick(self) -> str:
        """The nick in use (or being asked for)."""
        return self._core.nick

    def say(
        self, target: str, text: str, reply_to: str = "", poll: tuple[str, ...] = ()
    ) -> list[int]:
        """Send ``text`` to a channel or nick; returns the ids of the messages it became.
        ``reply_to``: the msgid of the message it answers (IRCv3 ``+reply``); ``poll``: the
        options of a poll it asks (``POLL_TAG``), voted with reactions.

        Raises ``InvalidMessageError`` (here, on the caller's thread) when ``target`` is
        not one word or ``text`` holds a NUL or a lone CR.
        """
        return self._queue_text(
            "PRIVMSG",
            target,
            text,
            action=False,
            reply_to=reply_to,
            poll=poll_options(",".join(poll)),
        )

    def action(self, target: str, text: str) -> list[int]:
        """``/me text``."""
        return self._queue_text("PRIVMSG", target, text, action=True)

    def notice(self, target: str, text: str) -> list[int]:
        return self._queue_text("NOTICE", target, text, action=False)

    def change_nick(self, nick: str) -> None:
        Message("NICK", [checked_name(nick)]).format()
        self._post(functools.partial(self._core.change_nick, nick))

    def join(self, channel: str) -> None:
        Message("JOIN", [checked_name(channel)]).format()
        self._post(functools.partial(self._core.join, channel))

    def part(self, channel: str, reason: str = "") -> None:
        """Leave ``channel``; nothing happens if we are not in it (a name with a space,
        say: ``/part #general bye``). CR, LF or NUL raise ``EmbeddedNewlineError``."""
        check_one_line(channel, reason)  # PART itself is only sent for a channel we joined
        self._post(functools.partial(self._core.part, channel, reason))

    def set_topic(self, channel: str, topic: str) -> None:
        message = Message("TOPIC", [checked_name(channel), topic])
        message.format()
        self._post(functools.partial(self._core.send_control, message))

    def send_command(self, command: str, *params: str) -> None:
        """A control line (``KICK #a ana :fuera``, ``MODE #a +m``, ``INVITE ana #a``, ``REDACT
        #a <msgid>``): checked here, sent once registered. An empty last parameter is left
        out (``KICK #a ana`` without a reason)."""
        message = Message(
            command, list(params[:-1]) + ([params[-1]] if params[-1:] != ("",) else [])
        )
        for param in message.params[:-1]:
            checked_name(param)
        message.format()
        self._post(functools.partial(self._core.send_control, message))

    def can_tag(self) -> bool:
        """Whether replies, reactions and typing reach others (the server reads tags)."""
        return "message-tags" in self._core.caps  # a set swapped whole: safe to read

    def can_load_older(self) -> bool:
        """Whether the server gives older messages on request (``CHATHISTORY``)."""
        return self._core.history_page > 0

    def load_older(self, target: str, before_msgid: str) -> None:
        """Ask for the messages of ``target`` said before ``before_msgid``: an
        ``OlderMessages`` event brings them (none: there are no more)."""
        checked_name(target)
        self._post(functools.partial(self._core.request_older, target, before_msgid))

    def react(self, target: str, msgid: str, emoji: str, *, add: bool = True) -> None:
        """React to the message ``msgid`` of ``target`` (``add=False``: take it back)."""
        tag = REACT_TAG if add else UNREACT_TAG
        if not MSGID.fullmatch(msgid) or not 0 < len(emoji) <= MAX_REACTION_CHARS:
            return
        message = Message(
            "TAGMSG", [checked_name(target)], tags={tag: emoji, "+draft/reply": msgid}
        )
        message.format()
        self._post(functools.partial(self._core.send_tags, message))

    def typing(self, target: str, state: str) -> None:
        """Tell ``target`` we are typing (``active``), stopped (``paused``) or gave up or
        sent (``done``): IRCv3 ``+typing``. The caller keeps to its pace (one a 3 s)."""
        if state in TYPING_STATES:
            message = Message("TAGMSG", [checked_name(target)], tags={TYPING_TAG: state})
            message.format()
            self._post(functools.partial(self._core.send_tags, message))

    def login(self, password: str) -> None:
        """Log in to the account our nick belongs to (after a ``LoginNeeded`` event): the
        client connects again and authenticates with SASL PLAIN."""
        check_one_line(password)
        self._post(functools.partial(self._core.login, password))

    def skip_login(self) -> None:
        """After ``LoginNeeded``: connect again with another nick (ours and ``_``)."""
        self._post(self._core.skip_login)

    # -- files: pictures and PDFs over HTTP (see the module docstring) ---------------------

    @property
    def servers(self) -> list[ServerAddress]:
        """The network's servers, as given (any thread)."""
        return list(self._rotation.servers)

    @property
    def host(self) -> str:
        """The server in use, or tried next."""
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def trust(self, key: str, certificate: str) -> None:
        """Accept the certificate with fingerprint ``certificate`` for the server filed
        under ``key`` (a ``CertificateUntrusted`` event named both): the next try uses it."""
        self._post(functools.partial(self._trust, key, certificate))

    def upload(self, target: str, path: str | Path, name: str | None = None) -> bool:
        """Send the file at ``path`` to ``target`` (a channel or nick) on the files thread;
        False if too many are waiting already. Events say how it went."""
        checked_name(target)
        shown = name or Path(path).name
        return self._file_job(lambda: self._upload(target, Path(path), shown))

    def upload_bytes(self, target: str, data: bytes, name: str) -> bool:
        """``upload`` for bytes already in memory (a picture from the clipboard)."""
        checked_name(target)
        return self._file_job(lambda: self._send_file(target, data, name))

    def fetch_file(self, file_id: str, max_bytes: int) -> bool:
        """Get the server's file ``file_id`` (``/f/<id>``) if it is at most ``max_bytes``,
        on the files thread: a ``FileFetched`` event. False if refused at once."""
        if not _FILE_ID.fullmatch(file_id):
            return False
        return self._file_job(lambda: self._fetch(file_id, max_bytes))

    def _file_job(self, job: Callable[[], None]) -> bool:
        try:
            self._file_jobs.put_nowait(job)
        except queue.Full:
            return False
        with self._files_lock:
            if self._files_thread is None:
                self._files_thread = threading.Thread(
                    target=self._run_file_jobs, name="charla-files", daemon=True
                )
                self._files_thread.start()
        return True

    def _run_file_jobs(self) -> None:
        while True:
            with self._files_lock:
                try:
                    job = self._file_jobs.get_nowait()
                except queue.Empty:
                    self._files_thread = None  # under the lock: a new job starts a new one
                    return
            try:
                job()
            except Exception:  # a bug: the job's caller gets no event, the rest go on
                log.exception("a file transfer failed")

    def _authority(self) -> str:
        server = self.server  # read once: the network thread may move on meanwhile
        host = f"[{server.host}]" if ":" in server.host else server.host
        return f"{host}:{server.port}"

    def _exchange(
        self,
        head: bytes,
        body: bytes = b"",
        progress: Callable[[int], None] | None = None,
        max_body: int = MAX_RESPONSE_HEAD,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request to the server; (status, headers, body). Raises OSError, or
        ValueError for an answer that is not HTTP or is longer than ``max_body``."""
        server, timeout = self.server, self.connect_timeout
        with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
            sock.settimeout(FILE_TIMEOUT)
            sock.sendall(head)
            for start in range(0, len(body), UPLOAD_CHUNK):
                sock.sendall(body[start : start + UPLOAD_CHUNK])
                if progress is not None:
                    progress(min(len(body), start + UPLOAD_CHUNK))
            data = bytearray()
            while chunk := sock.recv(65536):
                data += chunk
                if len(data) > max_body + MAX_RESPONSE_HEAD:
                    raise ValueError("answer too long")
        answer_head, found, answer_body = bytes(data).partition(b"\r\n\r\n")
        status_line, *lines = answer_head.decode("latin-1").split("\r\n")
        parts = status_line.split(" ", 2)
        if (
            not found
            or len(parts) < 2
            or not parts[0].startswith("HTTP/")
            or not parts[1].isdigit()
        ):
            raise ValueError("not an HTTP answer")
        headers = {}
        for line in lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        return int(parts[1]), headers, answer_body

    def _upload(self, target: str, path: Path, name: str) -> None:
        try:
            with path.open("rb") as file:
                data = file.read(MAX_UPLOAD_READ + 1)
        except OSError as exc:
            self.events.put(ev.UploadFailed(target, name, exc.strerror or str(exc)))
            return
        if len(data) > MAX_UPLOAD_READ:
            self.events.put(ev.UploadFailed(target, name, tr("The file is too large.")))
            return
        self._send_file(target, data, name)

    def _send_file(self, target: str, data: bytes, name: str) -> None:
        token = self._core.upload_token  # a str written by the network thread
        if not token:
            self.events.put(
                ev.UploadFailed(
                    target, name, tr("This server does not take files, or we are not connected.")
                )
            )
            return
        head = (
            f"POST /upload?to={quote(target, safe='')}&name={quote(name, safe='')} HTTP/1.1\r\n"
            f"Host: {self._authority()}\r\n"
            f"Authorization: Bearer {token}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        total = len(data)

        def progress(sent: int) -> None:
            self.events.put(ev.UploadProgress(target, name, sent, total))

        try:
            status, headers, body = self._exchange(head, data, progress)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self.events.put(ev.UploadFailed(target, name, why))
            return
        text = body.decode("utf-8", "replace").strip()[:300]
        if status == 201:
            self.events.put(ev.UploadDone(target, name, headers.get("location", text)))
        else:
            self.events.put(ev.UploadFailed(target, name, text or f"HTTP {status}"))

    def _fetch(self, file_id: str, max_bytes: int) -> None:
        head = f"GET /f/{file_id} HTTP/1.1\r\nHost: {self._authority()}\r\n\r\n"
        try:
            status, headers, body = self._exchange(head.encode("utf-8"), max_body=max_bytes)
        except (OSError, ValueError):
            self.events.put(ev.FileFetched(file_id, "", None))
            return
        whole = headers.get("content-length") == str(len(body)) and len(body) <= max_bytes
        kind = headers.get("content-type", "")
        self.events.put(ev.FileFetched(file_id, kind, body if status == 200 and whole else None))

    def quit(self, reason: str = "") -> None:
        """Say goodbye, stop every thread; returns within about ``close_timeout`` seconds."""
        Message("QUIT", [reason or "Charla"]).format()
        if self._thread.is_alive():
            self._post(functools.partial(self._stop, reason))
            self._thread.join(self.close_timeout)
        elif self._thread.ident is None:  # never started: nobody else will close it
            self._wake_reader.close()
        with contextlib.suppress(OSError):
            self._wake_writer.close()
        with self._files_lock:
            files_thread = self._files_thread
        if files_thread is not None:  # a transfer under way: not waited for longer
            files_thread.join(self.close_timeout)

    def _post(self, command: Callable[[], None]) -> None:
        """Hand ``command`` to the network thread (any thread)."""
        self._commands.put(command)
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    def _queue_text(
        self,
        command: str,
        target: str,
        text: str,
        *,
        action: bool,
        reply_to: str = "",
        poll: tuple[str, ...] = (),
    ) -> list[int]:
        overhead = len(f":{self.nick}!~{self.username}@ {command} {target} :".encode())
        limit = irc.MAX_LINE_BYTES - 2 - overhead - HOST_ALLOWANCE - (9 if action else 0)
        bodies: list[tuple[str, bool]] = []  # (line, whether the next one continues it)
        for line in text.replace("\r\n", "\n").split("\n"):
            pieces = split_words(line, max(limit, 32)) if line else []
            for number, piece in enumerate(pieces, start=1):
                body = f"\x01ACTION {piece}\x01" if action else piece
                Message(command, [target, body]).format()  # raises here, not on the network
                bodies.append((body, number < len(pieces)))
        outbox = self._core.outbox
        if reply_to and not MSGID.fullmatch(reply_to):
            reply_to = ""  # not a msgid a server gave: sent as a plain message
        items = [
            PendingMessage(outbox.new_id(), command, target, body, continues, reply_to, poll)
            for body, continues in bodies
        ]
        if items:
            self._post(functools.partial(self._queue_messages, items))
        return [item.message_id for item in items]

    # -- the network thread: commands ------------------------------------------------------------

    def _queue_messages(self, items: list[PendingMessage]) -> None:
        for item in items:
            self._core.queue_message(item)

    def _stop(self, reason: str) -> None:
        self._quit_reason = reason
        self._stopping = True

    def _drain_wake(self) -> None:
        with contextlib.suppress(OSError):
            while self._wake_reader.recv(4096):
                pass

    def _take_commands(self) -> None:
        """Run what callers asked for, then write what it produced."""
        self._drain_wake()
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            command()
        self._core.send_pending()
        self._deliver()

    def _wait_for_commands(self, timeout: float) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._wake_reader, selectors.EVENT_READ)
            selector.select(timeout)
        self._take_commands()

    # -- the network thread: the connection's life -------------------------------------------

    def _deliver(self) -> None:
        """Move what the core produced: events to the queue, lines to the socket."""
        for event in self._core.take_events():
            self.events.put(event)
        lines = self._core.take_lines()
        if lines:
            self._out += "".join(line + "\r\n" for line in lines).encode("utf-8")
            self._write()

    def _new_connection(self) -> None:
        self._sock: socket.socket | None = None
        self._broken = ""  # why writing failed: the connection is over
        self._out = bytearray()
        self._buffer = LineBuffer()
        self._first_read = True  # nothing read yet on this connection

    def _run(self) -> None:
        attempt = 0  # tries since we were last in
        rounds = 0  # whole rounds of the network's servers failed since then
        reason = "quit"
        rotation = self._rotation
        try:
            while not self._stopping:
                if all(server.key in self._untrusted for server in rotation.servers):
                    self._wait_for_trust()  # nothing to try until the user trusts one
                    continue
                if rotation.current.key in self._untrusted:
                    rotation.failed()
                    continue
                attempt += 1
                self.server = rotation.current
                self.events.put(ev.Connecting(self.server.host, self.server.port, attempt))
                reason, registered = self._connect_and_converse()
                if registered:
                    attempt, rounds = 1, 0  # it worked: the next drop starts the backoff over
                    rotation.connected()
                if self._stopping or self._core.fatal:
                    break
                if self._core.awaiting_login:
                    self._wait_for_login()
                    attempt = 0  # the next try is a new start, not a failure
                    continue
                if attempt >= self.policy.max_attempts:
                    reason = f"gave up after {attempt} tries: {reason}"
                    break
                whole_round = rotation.failed()
                if registered:  # lost: the same server again in a moment
                    delay = self.policy.delay(1)
                elif whole_round:  # nobody answered: wait longer each round
                    rounds += 1
                    delay = self.policy.delay(rounds)
                else:  # the next server of the network, at once
                    delay = 0.0
                self.events.put(ev.Disconnected(reason, round(delay, 2), attempt + 1))
                self._wait_offline(delay)
        except Exception as exc:  # a bug must reach the user, not kill the thread silently
            log.exception("client thread failed")
            reason = f"internal error: {exc}"
        finally:
            self._wake_reader.close()
        self.events.put(ev.Closed(self._core.fatal or reason))

    def _trust(self, key: str, certificate: str) -> None:
        self._trusted[key] = certificate
        self._untrusted.pop(key, None)
        self._retry_now = True

    def _wait_for_trust(self) -> None:
        """Offline until the user trusts a server's certificate (or quits)."""
        rotation = self._rotation
        while not self._stopping and all(s.key in self._untrusted for s in rotation.servers):
            self._wait_for_commands(60.0)

    def _wait_for_login(self) -> None:
        """Offline until ``login()`` or ``skip_login()`` (or ``quit()``): waiting on the
        commands, no timer, no connection."""
        while not self._stopping and self._core.awaiting_login:
            self._wait_for_commands(60.0)

    def _wait_offline(self, delay: float) -> None:
        """Wait before the next try, still taking commands (messages go to the outbox);
        a certificate just trusted cuts it short."""
        deadline = time.monotonic() + delay
        self._retry_now = False
        while (
            not self._stopping
            and not self._retry_now
            and (remaining := deadline - time.monotonic()) > 0
        ):
            self._wait_for_commands(remaining)

    def _connect_and_converse(self) -> tuple[str, bool]:
        """One connection's life; returns why it ended and whether we registered."""
        self._new_connection()
        try:
            sock = self._connect()
        except tls.TlsProblem as problem:
            return problem.reason, False
        except OSError as exc:
            return tr("cannot connect: {why}").format(why=exc.strerror or exc), False
        if sock is None:
            return "quit", False
        self._sock = sock
        try:
            self._core.connection_made(time.monotonic())
            self._deliver()
            return self._converse(), self._core.registered
        finally:
            self._core.connection_lost()  # offline: nothing is written until the next 001
            with contextlib.suppress(OSError):
                sock.close()
            self._new_connection()

    def _look_up(self) -> _AddressInfo | None:
        """The server's addresses, looked up on a helper thread so that a hanging name
        lookup never holds up ``quit()``; None if quit() came first."""
        self._lookups += 1
        lookup, self._addresses = self._lookups, None
        host, port = self.server.host, self.server.port

        def look_up() -> None:
            try:
                answer: _AddressInfo | OSError = socket.getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                answer = exc
            self._post(functools.partial(self._looked_up, lookup, answer))

        threading.Thread(target=look_up, name="charla-lookup", daemon=True).start()
        deadline = time.monotonic() + self.connect_timeout
        while self._addresses is None and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"looking up {host} timed out")
            self._wait_for_commands(remaining)
        if self._stopping:
            return None
        if isinstance(self._addresses, OSError):
            raise self._addresses
        return self._addresses

    def _looked_up(self, lookup: int, answer: _AddressInfo | OSError) -> None:
        if lookup == self._lookups:
            self._addresses = answer

    def _connect(self) -> socket.socket | None:
        """Connect (and shake hands, for TLS) without blocking the thread past a quit();
        None if quit() came first."""
        infos = self._look_up()
        if infos is None:
            return None
        sock = self._open(infos)
        server = self.server
        if sock is None or not server.tls:
            return sock
        try:
            return tls.handshake(
                sock,
                server.host,
                pinned=self._trusted.get(server.key),
                timeout=self.connect_timeout,
                wake=self._wake_reader,
                stopping=self._stop_asked,
            )
        except tls.TlsProblem as problem:
            if problem.untrusted:
                self._distrust(infos, problem)
            raise

    def _stop_asked(self) -> bool:
        """Take the commands that came in; whether one of them was ``quit()``."""
        self._take_commands()
        return self._stopping

    def _distrust(self, infos: _AddressInfo, problem: tls.TlsProblem) -> None:
        """The server's certificate is not trusted: no more tries there until the user
        says to trust it (``trust``), and the window asks, showing its fingerprint (a new
        connection fetches it when the refused handshake did not get it)."""
        certificate = problem.fingerprint
        if not certificate:
            sock = self._open(infos)
            if sock is None:
                return
            certificate = tls.fetch_certificate(sock, self.server.host, self.connect_timeout)
            if certificate is None:
                return  # it did not even show it: an ordinary failure, tried again later
        key = self.server.key
        self._untrusted[key] = certificate
        self.events.put(ev.CertificateUntrusted(key, certificate, problem.reason, problem.changed))

    def _open(self, infos: _AddressInfo) -> socket.socket | None:
        """A TCP connection to the first of ``infos`` that answers; None if quit() came first."""
        error: OSError = OSError("no address")
        for family, kind, proto, _name, address in infos:
            sock = socket.socket(family, kind, proto)
            sock.setblocking(False)
            try:
                sock.connect_ex(address)
                with selectors.DefaultSelector() as selector:
                    selector.register(sock, selectors.EVENT_WRITE)
                    selector.register(self._wake_reader, selectors.EVENT_READ)
                    deadline = time.monotonic() + self.connect_timeout
                    while (remaining := deadline - time.monotonic()) > 0:
                        ready = {key.fileobj for key, _ in selector.select(remaining)}
                        if self._wake_reader in ready and self._stop_asked():
                            sock.close()
                            return None
                        if sock in ready:
                            break
                    else:
                        raise TimeoutError("connection timed out")
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    raise OSError(code, os.strerror(code))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        raise error

    def _converse(self) -> str:
        """Register, then read and write until the connection ends; returns the reason."""
        assert self._sock is not None
        selector = selectors.DefaultSelector()
        selector.register(self._wake_reader, selectors.EVENT_READ)
        selector.register(self._sock, selectors.EVENT_READ)
        try:
            while True:
                want_write = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._out else 0)
                selector.modify(self._sock, want_write)
                timeout = max(0.0, self._core.next_deadline() - time.monotonic())
                for key, mask in selector.select(timeout):
                    if key.fileobj is self._wake_reader:
                        self._take_commands()
                        if self._stopping:
                            self._say_goodbye()
                            return "quit"
                        continue
                    if mask & selectors.EVENT_READ:
                        reason = self._read()
                        if reason:
                            return reason
                    if mask & selectors.EVENT_WRITE:
                        self._write()
                reason = self._core.tick(time.monotonic())
                self._deliver()
                if reason or self._broken:
                    return reason or self._broken
        except OSError as exc:
            return tr("connection error: {why}").format(why=exc.strerror or exc)
        finally:
            selector.close()

    def _read(self) -> str | None:
        """Take what arrived and hand each line to the core; returns why to stop, if so."""
        assert self._sock is not None
        try:
            data = self._sock.recv(16384)
            while isinstance(self._sock, ssl.SSLSocket) and self._sock.pending():
                data += self._sock.recv(16384)  # decrypted already: select would not say so
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        if not data:
            return tr("the server closed the connection")
        first, self._first_read = self._first_read, False
        if first and not self.server.tls and tls.looks_like_tls(data):
            return tr("that port speaks TLS: write the address as ircs://{address}").format(
                address=self._authority()
            )
        now = time.monotonic()
        self._core.heard_from_server(now)
        reason = None
        for raw in self._buffer.feed(data):
            if not raw:
                continue
            try:
                message = parse(decode_line(raw))
            except irc.ParseError:
                continue
            try:
                reason = self._core.receive(message, now)
            except Exception:  # a bug met by one odd line: drop the line, keep the connection
                log.exception("could not handle %r", message)
                continue
            if reason:
                break
        self._deliver()
        return reason

    def _write(self) -> None:
        """Send what the socket takes now; a dead socket is noted in ``_broken``, not raised,
        so that no caller is interrupted half-way through its bookkeeping."""
        if not self._out or self._sock is None or self._broken:
            return
        try:
            sent = self._sock.send(self._out)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError as exc:
            self._broken = tr("connection error: {why}").format(why=exc.strerror or exc)
            return
        del self._out[:sent]

    def _say_goodbye(self) -> None:
        """Send QUIT and give it a moment to leave (bounded)."""
        assert self._sock is not None
        self._core.goodbye(self._quit_reason)
        self._deliver()
        deadline = time.monotonic() + self.close_timeout / 2
        with selectors.DefaultSelector() as selector:
            selector.register(self._sock, selectors.EVENT_WRITE)
            while self._out and not self._broken and (remaining := deadline - time.monotonic()) > 0:
                if selector.select(remaining):
                    self._write()
