"""Shared fixtures: a real Charla server on 127.0.0.1 port 0, and raw-socket clients.

``LineClient`` talks raw bytes over a real socket and waits with ``expect(regex)``
(bounded by a timeout, never a sleep). ``IrcClient`` adds IRC registration and ``sync()``:
a PING whose PONG proves the server has handled everything sent before it, so a test can
assert that something did *not* arrive. Every socket and server is closed at teardown.
"""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from net.i18n import set_language
from net.server import ChatServer, ServerConfig

DEFAULT_TIMEOUT = 5.0
ROOT = Path(__file__).resolve().parent.parent


class LineClient:
    """A raw TCP client that reads whole lines and waits for the one it expects."""

    def __init__(self, port: int, host: str = "127.0.0.1", rcvbuf: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(DEFAULT_TIMEOUT)
        self.sock.connect((host, port))
        self._buffer = b""
        self.lines: list[str] = []  # every line received, in order
        self._read_upto = 0  # lines before this index were consumed by expect()
        self.closed = False

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, line: str) -> None:
        self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def _read_more(self, deadline: float) -> bool:
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
        self._buffer += data
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines += [raw.rstrip(b"\r").decode("utf-8", "replace") for raw in complete]
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

    def register(self, nick: str, *, password: str | None = None, caps: str = "") -> None:
        if caps:
            self.send("CAP LS 302")
            self.send(f"CAP REQ :{caps}")
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


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """Tests read the English texts unless they switch the language themselves."""
    set_language("en")
    yield
    set_language("en")


TEST_CONFIG = ServerConfig(
    host="127.0.0.1", port=0, server_name="test.charla", plain_text_after=0.2
)


@pytest.fixture
def start_server() -> Iterator[Callable[..., ChatServer]]:
    """Start servers with ``start_server(**config_changes)``; all are shut down after."""
    servers: list[ChatServer] = []

    def start(**changes: object) -> ChatServer:
        server = ChatServer(replace(TEST_CONFIG, **changes))
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture
def server(start_server: Callable[..., ChatServer]) -> ChatServer:
    return start_server()


@pytest.fixture
def connect(server: ChatServer) -> Iterator[Callable[..., IrcClient]]:
    """Open raw IRC connections to ``server``; ``connect("ana")`` also registers."""
    clients: list[LineClient] = []

    def open_client(
        nick: str | None = None, *, plain: bool = False, port: int | None = None, **kwargs: object
    ):
        cls = LineClient if plain else IrcClient
        client = cls(port or server.port, **kwargs)
        clients.append(client)
        if nick is not None and not plain:
            client.register(nick)
        return client

    yield open_client
    for client in clients:
        client.close()


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


@pytest.fixture
def run_server(tmp_path: Path):
    """Start ``servidor.py`` processes; their default data folder is this test's tmp_path."""
    processes: list[ServerProcess] = []

    def start(*args: str, **kwargs: Any) -> ServerProcess:
        process = ServerProcess(*args, data_home=tmp_path, **kwargs)
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.close()


def started_port(process: ServerProcess) -> int:
    """The port a ``servidor.py`` process says it listens on (it prints that once bound)."""
    return int(process.expect(r"Charla is listening on port (\d+)\.").group(1))


@pytest.fixture
def ngircd_port() -> Iterator[int]:
    """A real ngIRCd (Debian's ``ngircd``, installed by tests/run.sh) on a loopback port.

    It is started by the same launcher the benchmarks use, ``bench/ngircd_server.py``.
    """
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from ngircd_server import running_ngircd
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with running_ngircd() as (port, _pid):
        yield port


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    """An X display for real Tk windows: an Xvfb of this run's own (Debian's xvfb, from
    tests/run.sh), started by the helper the benchmarks and the screenshot use too."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from procutil import x_display
    finally:
        sys.path.remove(str(ROOT / "bench"))
    with x_display(reuse=False) as screen:
        yield screen


@pytest.fixture
def no_gc_on_worker_threads() -> Iterator[None]:
    """Tk objects (fonts, variables) must be freed on the Tk thread: a cyclic garbage
    collection that happened to run on a network thread would make Tcl abort the process.
    So collection waits until the test is over, and then runs on the main thread."""
    import gc

    gc.disable()
    yield
    gc.enable()
    gc.collect()


@pytest.fixture
def tk_root(display: str, no_gc_on_worker_threads: None) -> Iterator[object]:
    """A real Tk root window, destroyed after the test."""
    import tkinter

    root = tkinter.Tk()
    root.geometry("700x400")
    yield root
    root.destroy()
