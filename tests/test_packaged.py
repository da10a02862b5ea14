"""The programs ``pyinstaller build.spec`` built, used the way a person uses them.

Run with ``--built dist`` (tests/run.sh builds first and passes it): start the packaged
server, start the packaged window with ``--host/--port/--nick``, watch from a raw IRC
connection that it joins, type a line into it with ``xdotool`` and see the line arrive.
Without ``--built`` these tests are skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import (
    ROOT,
    IrcClient,
    ServerProcess,
    WebSocketClient,
    started_port,
    stop_program,
)

ON_LINUX = sys.platform.startswith("linux")


def program(built: Path, name: str) -> Path:
    """A packaged program by its name: ``Charla``, ``Charla.exe`` or inside ``Charla.app``."""
    app = built / f"{name}.app" / "Contents" / "MacOS" / name
    candidates = [built / f"{name}.exe", app, built / name]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise AssertionError(f"{name} was not built: none of {[str(c) for c in candidates]}")


@pytest.fixture
def screen(request: pytest.FixtureRequest) -> str | None:
    """Xvfb on Linux (the ``display`` fixture); Windows and macOS have a desktop already."""
    return request.getfixturevalue("display") if ON_LINUX else None


def packaged_server_process(built: Path, tmp_path: Path, *args: str) -> ServerProcess:
    """``Charla-servidor ARGS``, its output read line by line."""
    return ServerProcess(
        *args, data_home=tmp_path, program=(str(program(built, "Charla-servidor")),)
    )


@pytest.fixture
def packaged_server(built: Path, tmp_path: Path) -> Iterator[int]:
    server = packaged_server_process(built, tmp_path, "--host", "127.0.0.1", "--port", "0")
    try:
        yield started_port(server)
    finally:
        server.close()


def window_environment(tmp_path: Path, screen: str | None) -> dict[str, str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path), "APPDATA": str(tmp_path)}
    if screen:
        env["DISPLAY"] = screen
    return env


def xdotool(screen: str, *args: str) -> str:
    """Run xdotool on ``screen``, bounded in time; its output."""
    return subprocess.run(
        ["xdotool", *args],
        env={**os.environ, "DISPLAY": screen},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def type_line(screen: str, window: str, text: str) -> None:
    """Type ``text`` into the window's entry and press Enter, as a person would."""
    xdotool(screen, "windowfocus", "--sync", window, "type", "--delay", "15", text)
    xdotool(screen, "key", "Return")  # to the focused window, which /salir closes


@pytest.fixture
def watcher(packaged_server: int) -> Iterator[IrcClient]:
    """A raw IRC client in #general of the packaged server."""
    client = IrcClient(packaged_server)
    try:
        client.register("testigo")
        client.join("#general")
        yield client
    finally:
        client.close()


@pytest.fixture
def packaged_window(
    built: Path, packaged_server: int, screen: str | None, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The packaged window, started with --host/--port/--nick as other programs start it."""
    arguments = ["--host", "127.0.0.1", "--port", str(packaged_server), "--nick", "empaquetada"]
    window = subprocess.Popen(
        [str(program(built, "Charla")), *arguments, "--lang", "es"],
        env=window_environment(tmp_path, screen),
    )
    try:
        yield window
    finally:
        stop_program(window)


def test_the_packaged_window_joins_from_the_command_line(
    watcher: IrcClient, packaged_window: subprocess.Popen[bytes]
) -> None:
    watcher.expect(r"^:empaquetada!\S+ JOIN :?#general$", timeout=30)


@pytest.mark.skipif(not (ON_LINUX and shutil.which("xdotool")), reason="xdotool types on X")
def test_what_is_typed_into_the_packaged_window_arrives_and_salir_closes_it(
    watcher: IrcClient,
    packaged_window: subprocess.Popen[bytes],
    packaged_server: int,
    screen: str,
    tmp_path: Path,
) -> None:
    watcher.expect(r"^:empaquetada!\S+ JOIN :?#general$", timeout=30)
    (found,) = xdotool(screen, "search", "--sync", "--onlyvisible", "--class", "Charla").split()
    typed = "hola desde el programa empaquetado, ¿me leéis? ñandú"
    type_line(screen, found, typed)
    watcher.expect(rf"^:empaquetada!\S+ PRIVMSG #general :{re.escape(typed)}$", timeout=15)
    type_line(screen, found, "/salir")
    watcher.expect(r"^:empaquetada!\S+ QUIT ", timeout=15)
    assert packaged_window.wait(15) == 0
    settings = json.loads((tmp_path / "charla" / "settings.json").read_text("utf-8"))
    assert (settings["nick"], settings["port"]) == ("empaquetada", packaged_server)


@pytest.mark.skipif(not ON_LINUX, reason="only Linux can start a program with no display")
def test_the_packaged_window_without_a_display_says_why_in_its_log(
    built: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in window_environment(tmp_path, None).items() if k != "DISPLAY"}
    result = subprocess.run(
        [str(program(built, "Charla")), "--host", "127.0.0.1", "--port", "1", "--nick", "ana"],
        env={**env, "LANGUAGE": "es"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Charla no puede abrir su ventana" in result.stderr
    assert "no puede abrir su ventana" in (tmp_path / "charla" / "charla.log").read_text("utf-8")


def test_the_packaged_server_speaks_spanish_and_tells_the_address(
    built: Path, tmp_path: Path
) -> None:
    # on every interface (the banner's "localhost" line), but announcing nothing: tests
    # never multicast on the machine's own network
    server = packaged_server_process(
        built, tmp_path, "--port", "0", "--lang", "es", "--no-announce"
    )
    try:
        port = int(server.expect(r"Charla está escuchando en el puerto (\d+)\.").group(1))
        server.expect(rf"En este ordenador: localhost:{port}$")
    finally:
        server.close()
    bad_port = subprocess.run(
        [str(program(built, "Charla-servidor")), "--port", "70000", "--lang", "es"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert bad_port.returncode == 2
    assert "el puerto tiene que estar entre 0 y 65535" in bad_port.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no SIGTERM to send")
def test_the_packaged_server_stops_cleanly_when_told_to(built: Path, tmp_path: Path) -> None:
    # on every interface (the banner's "localhost" line), but announcing nothing: tests
    # never multicast on the machine's own network
    server = packaged_server_process(
        built, tmp_path, "--port", "0", "--lang", "es", "--no-announce"
    )
    try:
        server.expect(r"Charla está escuchando en el puerto (\d+)\.")
        server.process.terminate()  # what the launcher passes on to the server inside
        assert server.wait(10) == 0
        assert "Charla se ha detenido." in server.output
    finally:
        server.close()


def test_the_packaged_server_hashes_account_passwords(built: Path, tmp_path: Path) -> None:
    """REGISTER hashes with hashlib.scrypt, which needs OpenSSL inside the program (without
    it, Python 3.11 falls back on a pure-Python PBKDF2, about 30 times slower)."""
    server = packaged_server_process(built, tmp_path, "--host", "127.0.0.1", "--port", "0")
    client = None
    try:
        client = IrcClient(started_port(server))
        client.send("CAP REQ draft/account-registration")
        client.send("NICK ana")
        client.send("REGISTER * * :contraseña de clase")
        client.expect(r"REGISTER SUCCESS ana ", timeout=15)
        server.expect(r"account passwords are hashed with scrypt$")
        client.send("USER ana 0 * :Ana")
        client.send("CAP END")
        client.expect(r" 001 ana ")
    finally:
        if client is not None:
            client.close()
        server.close()


def test_the_packaged_server_serves_the_web_page_and_websocket(
    packaged_server: int,
) -> None:
    """The page's files are inside the program (build.spec's datas), and the WebSocket
    handshake's SHA-1 works there."""
    with socket.create_connection(("127.0.0.1", packaged_server), timeout=10) as sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{packaged_server}\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.split(b"\r\n\r\n", 1)[1] == (ROOT / "net" / "webapp" / "index.html").read_bytes()
    page = WebSocketClient(packaged_server)
    try:
        assert page.upgraded, page.response
        page.register("movil")
    finally:
        page.close()
