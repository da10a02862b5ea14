"""What the tests share: raw clients, server processes, and one way to wait.

- ``LineClient`` talks raw bytes over a real socket and waits with ``expect(regex)``
  (bounded by a timeout, never a sleep); ``IrcClient`` adds IRC registration and
  ``sync()``: a PING whose PONG proves the server has handled everything sent before it,
  so a test can assert that something did *not* arrive.
- ``ServerProcess`` runs ``servidor.py`` (or a packaged server) and reads its output line
  by line; ``stop_program`` ends a program and whatever it started.
- For the client: ``Events`` reads a ``ChatClient``'s events with a bounded wait,
  ``FakeServer`` is a scripted IRC server, ``FreezableRelay`` makes a half-open ghost, and
  ``FAST_RETRY`` reconnects in a fraction of a second.
- ``wait_until`` waits, bounded, for a condition that no event announces.
- Peers, the programs the tests and the benchmarks start: ``running_charla`` (servidor.py),
  ``running_ngircd`` (the reference server) and ``x_display`` (an Xvfb to draw windows on).
- ``chromium_page`` drives Debian's headless Chromium with Selenium (the web page's tests).
- ``link_local_namespaces`` makes two network namespaces on a link-local veth link, and
  ``NamespacePeer`` runs a program inside one (multicast DNS never leaves them).

Fixtures live in ``conftest.py``; this module holds plain helpers that test modules import.
The benchmarks (bench/) and docs/screenshot.py import the peers from here too; nothing here
imports ``bench/``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import queue
import re
import selectors
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from net import events as ev
from net.client import ChatClient, ReconnectPolicy
from net.websocket import OP_BINARY, OP_CLOSE, OP_TEXT, encode_frame

DEFAULT_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent


def wait_until(
    condition: Callable[[], object],
    *,
    timeout: float = 10.0,
    describe: Callable[[], object] = lambda: "",
    tick: Callable[[], object] | None = None,
) -> None:
    """Return once ``condition()`` holds; fail after ``timeout`` with ``describe()``.

    ``tick`` runs before each look (a Tk root's ``update``, so windows keep working);
    between looks the thread yields for 2 ms rather than spinning a core.
    """
    deadline = time.monotonic() + timeout
    while True:
        if tick is not None:
            tick()
        if condition():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting; {describe()}")
        time.sleep(0.002)


class LineClient:
    """A raw TCP client that reads whole lines and waits for the one it expects."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        rcvbuf: int | None = None,
        source: str | None = None,
    ) -> None:
        """``source``: connect from this loopback address (``127.0.0.2``: another machine
        of the class, as the server sees it)."""
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(DEFAULT_TIMEOUT)
        try:
            if source is not None:
                sock.bind((source, 0))
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        self._adopt(sock)

    @classmethod
    def from_socket(cls, sock: socket.socket) -> LineClient:
        """A client over a socket that is already connected (say, one a fake server accepted)."""
        client = cls.__new__(cls)
        sock.settimeout(DEFAULT_TIMEOUT)
        client._adopt(sock)
        return client

    def _adopt(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self.received = bytearray()  # every byte received, for what lines cannot show
        self.lines: list[str] = []  # every line received, in order
        self._read_upto = 0  # lines before this index were consumed by expect()
        self.closed = False

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def _read_more(self, deadline: float) -> bool:
        if not self._read_more_bytes(deadline):
            return False
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines += [raw.rstrip(b"\r").decode("utf-8", "replace") for raw in complete]
        return True

    def _read_more_bytes(self, deadline: float) -> bool:
        """Read what comes before ``deadline`` into ``_buffer``; False: nothing (or closed)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.closed:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        self.received += data
        self._buffer += data
        return True

    def expect(self, pattern: str, timeout: float = DEFAULT_TIMEOUT) -> re.Match[str]:
        """The first new line that matches ``pattern`` (re.search); fails after ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            while self._read_upto < len(self.lines):
                line = self.lines[self._read_upto]
                self._read_upto += 1
                match = regex.search(line)
                if match:
                    return match
            if not self._read_more(deadline):
                recent = "\n".join(self.lines[-15:])
                state = "closed" if self.closed else "timed out"
                raise AssertionError(f"{state} waiting for {pattern!r}; last lines:\n{recent}")

    def expect_closed(self, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Read until the server closes the connection; returns the lines that came."""
        start = len(self.lines)
        deadline = time.monotonic() + timeout
        while not self.closed:
            if not self._read_more(deadline) and not self.closed:
                raise AssertionError(f"connection still open; got {self.lines[start:]}")
        self._read_upto = len(self.lines)
        return self.lines[start:]

    def close(self) -> None:
        self.sock.close()


class IrcClient(LineClient):
    """A raw IRC client: registration helpers and ``sync()``."""

    def __init__(self, port: int, host: str = "127.0.0.1", **kwargs: object) -> None:
        super().__init__(port, host, **kwargs)
        self._sync_counter = 0
        self.nick = ""

    def register(
        self, nick: str, *, password: str | None = None, caps: str = "", session: str = ""
    ) -> None:
        """NICK and USER (with ``caps`` asked for first, ``session``: the token a Charla
        client proves itself with, and ``password``); returns after the MOTD."""
        if session:
            caps = " ".join(filter(None, [caps, "charla.chat/session"]))
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{caps}")
        if session:  # before NICK, as a Charla client does: the nick may be its own ghost's
            self.send(f"SESSION {session}")
        if password is not None:
            self.send(f"PASS {password}")
        self.send(f"NICK {nick}")
        self.send(f"USER {nick.lower()} 0 * :Real {nick}")
        if caps:
            self.send("CAP END")
        self.expect(rf" 001 {re.escape(nick)} ")
        self.expect(r" (376|422) ")
        self.nick = nick

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.expect(rf" 366 \S+ {re.escape(channel)} ")

    def sync(self) -> list[str]:
        """PING the server and return every line that arrived before its PONG."""
        self._sync_counter += 1
        token = f"sync{self._sync_counter}"
        start = self._read_upto
        self.send(f"PING {token}")
        self.expect(rf"PONG \S+ :?{token}$")
        return self.lines[start : self._read_upto - 1]


class WebSocketClient(IrcClient):
    """A raw WebSocket client (RFC 6455, written here so every frame can be made wrong on
    purpose): ``send(line)`` sends one masked text message, and every text or binary
    message received is one of ``lines``, so ``expect``, ``register`` and ``sync`` work as
    for ``IrcClient``. Control frames received go to ``controls`` as (opcode, payload);
    a Close sets ``close_code`` and ends the stream."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        path: str = "/",
        headers: dict[str, str] | None = None,
        protocols: str | None = "text.ircv3.net",
        **kwargs: object,
    ) -> None:
        super().__init__(port, host, **kwargs)
        self.key = base64.b64encode(os.urandom(16)).decode()
        sent = {
            "Host": f"{host}:{port}",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": self.key,
            "Sec-WebSocket-Version": "13",
            "Origin": f"http://{host}:{port}",
        }
        if protocols is not None:
            sent["Sec-WebSocket-Protocol"] = protocols
        sent.update(headers or {})
        request = f"GET {path} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in sent.items() if value is not None
        )
        self.sock.sendall(request.encode() + b"\r\n")
        self.controls: list[tuple[int, bytes]] = []
        self.close_code: int | None = None
        self.response = self._read_response()
        self.upgraded = self.response.startswith("HTTP/1.1 101 ")

    def _read_response(self) -> str:
        deadline = time.monotonic() + DEFAULT_TIMEOUT
        while b"\r\n\r\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no HTTP response; got {self._buffer!r}")
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                break
            self._buffer += data
        head, _, self._buffer = self._buffer.partition(b"\r\n\r\n")
        return head.decode("latin-1")

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True
    ) -> None:
        mask = os.urandom(4) if masked else None
        self.sock.sendall(encode_frame(opcode, payload, fin=fin, mask=mask))

    def send(self, line: str) -> None:
        self.send_frame(OP_TEXT, line.encode("utf-8"))

    def _read_more(self, deadline: float) -> bool:
        while True:
            frame = self._take_frame()
            if frame is not None:
                opcode, payload = frame
                if opcode in (OP_TEXT, OP_BINARY):
                    self.lines.append(payload.decode("utf-8", "replace"))
                    return True
                self.controls.append((opcode, payload))
                if opcode == OP_CLOSE:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if payload else 1005
                    with contextlib.suppress(OSError):
                        self.sock.sendall(encode_frame(OP_CLOSE, payload[:2], mask=b"abcd"))
                    self.closed = True
                    return False
                continue
            if not super()._read_more_bytes(deadline):
                return False

    def _take_frame(self) -> tuple[int, bytes] | None:
        """One whole frame off the buffer (the server's are never masked)."""
        buffer = self._buffer
        if len(buffer) < 2:
            return None
        length, offset = buffer[1] & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return None
            (length,), offset = struct.unpack_from("!H", buffer, 2), 4
        elif length == 127:
            if len(buffer) < 10:
                return None
            (length,), offset = struct.unpack_from("!Q", buffer, 2), 10
        if len(buffer) < offset + length:
            return None
        assert buffer[0] & 0x80 and not buffer[1] & 0x80, "server frames: whole, unmasked"
        self._buffer = buffer[offset + length :]
        return buffer[0] & 0x0F, bytes(buffer[offset : offset + length])


#: reconnect at once and then quickly, so tests of losing the server take a second, not 30
FAST_RETRY = ReconnectPolicy(first=0.05, base=0.1, most=0.5, max_attempts=200)


class Events:
    """The events of one client, read as they come with a bounded wait."""

    def __init__(self, client: ChatClient) -> None:
        self.client = client
        self.seen: list[ev.Event] = []

    def wait_for(
        self, kind: type, where: Callable[[ev.Event], bool] = lambda e: True, timeout: float = 10
    ):
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = self.client.events.get(timeout=remaining)
            except queue.Empty:
                break
            self.seen.append(event)
            if isinstance(event, kind) and where(event):
                return event
        raise AssertionError(f"no {kind.__name__} within {timeout}s; saw {self.seen[-12:]}")

    def messages(self, sender: str) -> list[str]:
        return [e.text for e in self.seen if isinstance(e, ev.ChatMessage) and e.sender == sender]


def make_certificate(directory: Path, name: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (an IP address or a host name, also its
    subjectAltName) and its key, made by Debian's ``openssl`` in ``directory``: a
    school's own server, as far as a client can tell. Returns (certificate, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    certificate, key = directory / f"{name}.pem", directory / f"{name}.key"
    kind = "IP" if name.replace(".", "").isdigit() or ":" in name else "DNS"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "2", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName={kind}:{name}"),
            *("-keyout", str(key), "-out", str(certificate)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return certificate, key


def certificate_fingerprint(certificate: Path) -> str:
    """The SHA-256 fingerprint of a PEM certificate, as ``openssl x509 -fingerprint``
    prints it (``AB:CD:…``): what the user is shown and compares."""
    printed = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(certificate)],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    return printed.strip().partition("=")[2]


class FakeServer:
    """A scripted IRC server: one listening socket, one accepted client at a time.

    With ``tls`` (a server context) a thread of its own accepts every connection as it
    comes and shakes hands at once, as a real server does (a client checking the
    certificate may hang up, and come back); ``accept()`` then takes the next connection
    whose handshake succeeded, and ``connections`` counts them all."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.peers: list[LineClient] = []  # every accepted connection, closed by close()
        self.connections = 0  # TLS: every connection made, its handshake done or not
        self._shaken: queue.Queue[socket.socket] = queue.Queue()  # TLS: handshakes done
        self._acceptor: threading.Thread | None = None
        if tls is not None:
            self._acceptor = threading.Thread(target=self._accept_tls, daemon=True)
            self._acceptor.start()

    def _accept_tls(self) -> None:
        assert self.tls is not None
        self.listener.settimeout(None)
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections += 1
            sock.settimeout(10)
            try:
                self._shaken.put(self.tls.wrap_socket(sock, server_side=True))
            except OSError:  # the client refused our certificate
                sock.close()

    def accept(self, timeout: float = 10.0) -> LineClient:
        if self.tls is None:
            sock, _ = self.listener.accept()
        else:
            try:
                sock = self._shaken.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError("no TLS connection came") from None
        peer = LineClient.from_socket(sock)
        self.peers.append(peer)
        return peer

    def welcome(self, peer: LineClient, nick: str) -> None:
        peer.send_raw(f":fake 001 {nick} :Welcome {nick}!u@h\r\n".encode())

    def joined(self, peer: LineClient, nick: str, channel: str = "#general") -> None:
        """Wait for the client's JOIN of ``channel`` and let it in, as a server does."""
        peer.expect(rf"^JOIN {re.escape(channel)}$")
        peer.send_raw(f":{nick}!u@h JOIN {channel}\r\n".encode())

    def close(self) -> None:
        for peer in self.peers:
            peer.close()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the acceptor's accept()
        self.listener.close()
        if self._acceptor is not None:
            self._acceptor.join(10)
        while not self._shaken.empty():
            self._shaken.get().close()


class FreezableRelay:
    """A TCP relay on 127.0.0.1 between clients and a server, whose connections can freeze.

    ``freeze()`` stops forwarding on every connection open now, both ways, without closing
    anything: the server keeps a live but silent peer (a half-open ghost), and the client
    hears nothing more. Connections made afterwards are relayed as usual. One thread does
    the relaying; ``close()`` stops it and closes every socket.
    """

    def __init__(self, server_port: int) -> None:
        self.server_port = server_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._sockets: list[socket.socket] = []  # every relayed socket, closed by close()
        self._frozen = threading.Event()  # set by the relay thread once freeze() took effect
        self._thread = threading.Thread(target=self._relay, name="relay", daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        self._wake_writer.send(b"f")
        assert self._frozen.wait(DEFAULT_TIMEOUT)

    def close(self) -> None:
        self._wake_writer.send(b"q")
        self._thread.join(DEFAULT_TIMEOUT)
        for sock in (*self._sockets, self.listener, self._wake_reader, self._wake_writer):
            sock.close()

    def _relay(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._wake_reader:
                        if self._wake_reader.recv(1) == b"q":
                            return
                        for sock in self._sockets:  # freeze: forward nothing more
                            with contextlib.suppress(KeyError):
                                selector.unregister(sock)
                        self._frozen.set()
                    elif key.fileobj is self.listener:
                        client, _ = self.listener.accept()
                        upstream = socket.create_connection(("127.0.0.1", self.server_port))
                        self._sockets += [client, upstream]
                        selector.register(client, selectors.EVENT_READ, upstream)
                        selector.register(upstream, selectors.EVENT_READ, client)
                    else:
                        try:
                            data = key.fileobj.recv(65536)
                        except OSError:
                            data = b""
                        if data:
                            with contextlib.suppress(OSError):  # the other side is gone
                                key.data.sendall(data)
                        else:  # one side closed: close the other, as a network would
                            for sock in (key.fileobj, key.data):
                                with contextlib.suppress(KeyError):
                                    selector.unregister(sock)
                            with contextlib.suppress(OSError):
                                key.data.shutdown(socket.SHUT_WR)


def stop_program(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a program and what it started. A one-file PyInstaller program is a launcher
    and the program itself: on POSIX the launcher passes SIGTERM on; on Windows only
    ending the whole tree reaches the program."""
    if process.poll() is not None:
        return
    if sys.platform == "win32":
        subprocess.run(
            ["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True, timeout=30
        )
    else:
        process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


class ServerProcess:
    """``python servidor.py ARGS`` (or another server ``program``, such as the packaged
    one) with its output read line by line on a thread."""

    def __init__(
        self,
        *args: str,
        data_home: Path,
        tty_stdin: bool = False,
        program: tuple[str, ...] = (sys.executable, "servidor.py"),
    ) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "LANGUAGE": ""}
        env["XDG_DATA_HOME"] = str(data_home)  # the default history database goes there
        env["LOCALAPPDATA"] = str(data_home)  # the same on Windows
        self.console_fd: int | None = None
        stdin: int = subprocess.DEVNULL
        if tty_stdin:
            import pty  # POSIX only, like the operator console tests that ask for it

            self.console_fd, stdin = pty.openpty()
        self.process = subprocess.Popen(
            [*program, *args],
            cwd=ROOT,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            encoding="utf-8",
        )
        if tty_stdin:
            os.close(stdin)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                break
            self.output.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matching {pattern!r}; output so far: {self.output}")

    def type(self, line: str) -> None:
        assert self.console_fd is not None
        os.write(self.console_fd, (line + "\n").encode())

    def wait(self, timeout: float = 5.0) -> int:
        code = self.process.wait(timeout)
        self._reader.join(timeout)
        self.output += list(self.lines.queue)
        return code

    def close(self) -> None:
        stop_program(self.process)
        if self.console_fd is not None:
            os.close(self.console_fd)
        self._reader.join(5)  # closing the pipe under a blocked reader would hang
        if self.process.stdout and not self._reader.is_alive():
            self.process.stdout.close()


def started_port(process: ServerProcess) -> int:
    """The port a ``servidor.py`` process says it listens on (it prints that once bound)."""
    return int(process.expect(r"Charla is listening on port (\d+)\.").group(1))


# -- peers: programs the tests and benchmarks start -------------------------------------------
# Each one listens on 127.0.0.1 only and is stopped (with what it started) on exit.

LOOPBACK = "127.0.0.1"


@contextlib.contextmanager
def running_charla(
    *args: str,
    port: int = 0,
    data_home: Path | None = None,
    program: tuple[str, ...] = (sys.executable, "servidor.py"),
) -> Iterator[tuple[int, ServerProcess]]:
    """``servidor.py --host 127.0.0.1 --port PORT ARGS`` (port 0: one the kernel picks), with
    ``data_home`` (default: a temporary folder) as its data folder, where the history
    database goes; yields ``(port, server)`` once it listens, and stops it on exit.
    ``program`` may name another checkout's ``servidor.py``, to compare before and after."""
    with contextlib.ExitStack() as stack:
        if data_home is None:
            data_home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="charla-")))
        server = ServerProcess(
            "--host", LOOPBACK, "--port", str(port), *args, data_home=data_home, program=program
        )
        stack.callback(server.close)
        yield started_port(server), server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses now, for a program that cannot take port 0."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def ngircd_config(port: int, workdir: Path, *, penalties: bool = False) -> str:
    """A minimal ngircd.conf: 127.0.0.1:``port`` only, no limits on connections or joins, no
    PAM/DNS/Ident, its PID file and (empty) include folder in ``workdir``; flood penalties
    off (``MaxPenaltyTime = 0``, like Charla's ``--no-flood-control``) unless ``penalties``."""
    lines = [
        "[Global]",
        "Name = bench.ngircd",
        "Info = Charla's reference server",
        "AdminInfo1 = bench",
        "AdminInfo2 = bench",
        "AdminEMail = bench@localhost",
        f"Listen = {LOOPBACK}",
        f"Ports = {port}",
        "MotdPhrase = benchmark",
        f"PidFile = {workdir / 'run' / 'ngircd.pid'}",
    ]
    if os.geteuid() == 0:  # ngIRCd will not keep uid 0: it switches to "nobody", so name it
        lines += ["ServerUID = nobody", f"ServerGID = {nobody()[1]}"]
    lines += [
        "",
        "[Limits]",
        "MaxConnections = 0",
        "MaxConnectionsIP = 0",
        "MaxJoins = 0",
        "MaxNickLength = 9",
        "MaxListSize = 100",
        "PingTimeout = 300",
        "PongTimeout = 60",
        "IdleTimeout = 0",
        *([] if penalties else ["MaxPenaltyTime = 0"]),
        "",
        "[Options]",
        "PAM = no",
        "DNS = no",
        "Ident = no",
        "NoticeBeforeRegistration = no",
        "RequireAuthPing = no",
        f"IncludeDir = {workdir / 'conf.d'}",
        "",
    ]
    return "\n".join(lines)


def nobody() -> tuple[int, int]:
    import pwd  # POSIX only, like ngIRCd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


@contextlib.contextmanager
def running_ngircd(
    port: int = 0, *, penalties: bool = False
) -> Iterator[tuple[int, ServerProcess]]:
    """A private ngIRCd (Debian's ``ngircd``) on 127.0.0.1:``port`` (0: a free one), its
    configuration checked with ``--configtest`` first; yields ``(port, server)`` once it
    listens, and stops it on exit. bench/README.md ("Findings") describes its limits."""
    binary = shutil.which("ngircd") or "/usr/sbin/ngircd"
    if not os.access(binary, os.X_OK):
        raise FileNotFoundError("ngircd not found (apt-get install -y ngircd)")
    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="ngircd-") as tmp:
        workdir = Path(tmp)
        (workdir / "conf.d").mkdir()
        (workdir / "run").mkdir()
        if os.geteuid() == 0:  # it writes the PID file after becoming "nobody"
            os.chown(workdir / "run", *nobody())
        workdir.chmod(0o755)
        conf = workdir / "ngircd.conf"
        conf.write_text(ngircd_config(port, workdir, penalties=penalties))
        check = subprocess.run(
            [binary, "--configtest", "-f", str(conf)], capture_output=True, text=True, timeout=10
        )
        if check.returncode or "Ok, dump of your server configuration" not in check.stdout:
            raise RuntimeError(f"ngircd --configtest failed:\n{check.stdout}{check.stderr}")
        server = ServerProcess("-n", "-f", str(conf), data_home=workdir, program=(binary,))
        try:
            server.expect(rf"Now listening on \[{re.escape(LOOPBACK)}\]:{port} ")
            yield port, server
        finally:
            server.close()


@contextlib.contextmanager
def x_display(size: str = "1280x800x24", *, reuse: bool = True) -> Iterator[str]:
    """An X display to draw on, as ``DISPLAY`` and yielded: the one already set (when
    ``reuse``), else a fresh Xvfb (Debian's ``xvfb``) on a free display number, which it
    reports once it is ready (``-displayfd``: no sleep, no clash with a running one).
    On exit the Xvfb stops and ``DISPLAY`` is put back."""
    previous = os.environ.get("DISPLAY")
    if reuse and previous:
        yield previous
        return
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    os.environ["DISPLAY"] = f":{number}"
    try:
        yield os.environ["DISPLAY"]
    finally:
        xvfb.terminate()
        xvfb.wait(5)
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous


#: Debian's browser and its driver (``chromium``, ``chromium-driver``: tests/run.sh installs
#: them); nothing else is ever downloaded or started
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: what a phone shows: the page's tests and screenshots are made at this size
PHONE_SIZE = (360, 740)


def chromium_missing() -> str | None:
    """Why a real browser cannot run here (None: it can)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return "Debian's chromium and chromium-driver are not installed (bash tests/run.sh does)"
    try:
        import selenium  # noqa: F401  (the dev extra)
    except ImportError:
        return "selenium (the dev extra) is not installed"
    return None


@contextlib.contextmanager
def chromium_page(
    *, size: tuple[int, int] = PHONE_SIZE, language: str = "en", dark: bool = False
) -> Iterator[object]:
    """A headless Chromium driven by Selenium (a ``WebDriver``), as a phone of ``size`` CSS
    pixels with ``language`` and light or ``dark`` ``prefers-color-scheme``; quit on exit.

    Each one is a browser of its own with a fresh profile in a temporary folder, so two
    pages are two people (their own sessionStorage). As root Chromium needs
    ``--no-sandbox``; the other switches keep it from calling home or updating itself."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="charla-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for switch in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}",
            f"--lang={language}",
        ):
            options.add_argument(switch)
        options.add_experimental_option("prefs", {"intl.accept_languages": language})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the console's lines
        # the driver named by path: Selenium's own driver manager never runs
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": size[0], "height": size[1], "deviceScaleFactor": 2, "mobile": True},
            )
            scheme = "dark" if dark else "light"
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            )
            yield driver
        finally:
            driver.quit()


def type_line(window, text: str) -> None:
    """What a person does in a Charla window (``gui.app.ChatWindow``): click into the
    entry, type, press Enter."""
    window.entry.focus_force()
    window.root.update()
    window.entry.insert(0, text)
    window.entry.event_generate("<Return>")


def wait_for_windows(windows: list, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let Charla windows (``gui.app.ChatWindow``) run, their pumps and redraws, until
    ``condition()`` holds; a failure says what their #general and status line show."""

    def describe() -> str:
        texts = [w.views["#general"].plain_text()[-300:] for w in windows if "#general" in w.views]
        return f"the windows show {texts} {[w.status.cget('text') for w in windows]}"

    wait_until(condition, timeout=timeout, describe=describe, tick=windows[0].root.update)


# -- network namespaces: a link-local LAN of our own for multicast DNS ------------------------
# Two namespaces joined by a veth pair with link-local addresses only (169.254/16 and
# fe80::/64); whatever runs inside them through ``ip netns exec`` multicasts only there,
# never on the machine's real interfaces. Root and ``ip`` (iproute2) are needed.

#: each side's addresses on the veth link
NAMESPACE_ADDRESSES = {
    "a": ("169.254.10.1/16", "fe80::a/64"),
    "b": ("169.254.10.2/16", "fe80::b/64"),
}


def namespaces_missing() -> str | None:
    """Why network namespaces cannot be made here (None: they can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "needs root to make network namespaces (ip netns)"
    if shutil.which("ip") is None:
        return "needs the ip command (Debian package iproute2)"
    return None


@contextlib.contextmanager
def link_local_namespaces(tag: str) -> Iterator[tuple[str, str]]:
    """Namespaces ``charla-mdns-a-TAG`` and ``-b-TAG`` on one veth link (``vTAGa`` and
    ``vTAGb``), yielded as (a, b); deleted on exit, their end of the veth with them."""
    names = {side: f"charla-mdns-{side}-{tag}" for side in "ab"}
    made: list[str] = []

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        for namespace in names.values():
            ip("netns", "add", namespace)
            made.append(namespace)
        ip(
            "link", "add", f"v{tag}a", "netns", names["a"], "type", "veth",
            "peer", "name", f"v{tag}b", "netns", names["b"],
        )  # fmt: skip
        for side, namespace in names.items():
            ipv4, ipv6 = NAMESPACE_ADDRESSES[side]
            device = f"v{tag}{side}"
            ip("-n", namespace, "addr", "add", ipv4, "dev", device)
            ip("-n", namespace, "addr", "add", ipv6, "dev", device, "nodad")
            ip("-n", namespace, "link", "set", device, "up")
        yield names["a"], names["b"]
    finally:
        for namespace in made:
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True, timeout=10)


class NamespacePeer:
    """A Python program run in a namespace (``ip netns exec``), its stdout read line by
    line; stdin closed is its signal to finish (``servidor.py`` gets SIGTERM too)."""

    def __init__(
        self, namespace: str, program: str, *args: str, env: dict[str, str] | None = None
    ) -> None:
        command = ["ip", "netns", "exec", namespace, sys.executable, program, *args]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.program_is_server = Path(program).name == "servidor.py"
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors = ""  # its stderr, once stopped
        self._error_lines: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_errors, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def _read_errors(self) -> None:
        assert self.process.stderr is not None
        self._error_lines.extend(self.process.stderr)

    def expect(
        self, predicate: Callable[[str], object], timeout: float = 5.0, what: str = ""
    ) -> str:
        """The first line (read from now on) for which ``predicate`` holds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no line {what!r} within {timeout} s; stderr: {''.join(self._error_lines)}"
                )
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(line):
                return line

    def say(self, line: str) -> None:
        """One line to its stdin (for a peer that takes commands)."""
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        """Close its stdin (the peer's signal to finish) and wait for it."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
            if self.program_is_server:
                self.process.terminate()  # servidor.py stops on SIGTERM, as at a console
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        assert self.process.stdout is not None and self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        self.errors = "".join(self._error_lines)
