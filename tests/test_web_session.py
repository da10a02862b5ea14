"""net/web_session.py: HTTP on the chat's port, over real sockets.

The static files of ``net/webapp/`` with the right headers, nothing else (traversal in
every spelling), the strict limits (size, header count, time), the WebSocket upgrade's
checks (version, key, Origin), and the plain-text and IRC paths left as they were.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from net.server import ChatServer
from net.web_session import (
    CONTENT_SECURITY_POLICY,
    WEBAPP_DIR,
    FirstBytes,
    resolve_static,
)
from tests.support import IrcClient, LineClient, WebSocketClient


def http(port: int, request: bytes, *, timeout: float = 5.0) -> tuple[str, dict[str, str], bytes]:
    """Send ``request`` raw; (status line, headers in lower case, body) once the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(port: int, target: str, method: str = "GET", extra: str = "") -> tuple[str, dict, bytes]:
    request = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}\r\n"
    return http(port, request.encode("latin-1"))


def test_get_slash_serves_the_page_with_its_headers(server: ChatServer) -> None:
    status, headers, body = get(server.port, "/")
    assert status == "HTTP/1.1 200 OK"
    assert body == (WEBAPP_DIR / "index.html").read_bytes()
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert headers["connection"] == "close"


def test_head_gives_the_headers_without_the_body(server: ChatServer) -> None:
    status, headers, body = get(server.port, "/index.html", "HEAD")
    assert status == "HTTP/1.1 200 OK"
    assert body == b""
    assert headers["content-length"] == str(len((WEBAPP_DIR / "index.html").read_bytes()))


def test_irc_and_plain_text_clients_are_served_as_before(
    connect: Callable[..., IrcClient], server: ChatServer
) -> None:
    irc = connect("ana")
    irc.join("#general")
    person = LineClient(server.port)
    try:
        person.send("GE")  # not "GET /": a name
        person.expect("name|nombre")
        irc.expect(r":GE!\S+ JOIN #general")
    finally:
        person.close()


def test_first_bytes_wait_only_for_what_could_be_a_request() -> None:
    framing = FirstBytes()
    assert framing.feed(b"GE") == [] and framing.kind is None
    assert framing.feed(b"T /x HTTP/1.1\r\n\r\n") == [b"GET /x HTTP/1.1"]
    assert framing.kind == "http"
    irc = FirstBytes()
    assert irc.feed(b"NICK ana\r\nUS") == [b"NICK ana"] and irc.kind == "lines"
    assert irc.feed(b"ER a\r\n") == [b"USER a"]
    person = FirstBytes()
    assert person.feed(b"GE") == [] and person.settle_as_lines() == []
    assert person.feed(b"MA\r\n") == [b"GEMA"]
    assert FirstBytes().feed(b"GET x\r\n") == [b"GET x"]  # no "/": a person typing GET


def test_websocket_upgrade_works_on_any_path(server: ChatServer) -> None:
    client = WebSocketClient(server.port, path="/cualquier/cosa?x=1")
    try:
        assert client.upgraded, client.response
        client.register("ana")
    finally:
        client.close()


@pytest.mark.parametrize(
    "target",
    [
        "/../servidor.py",
        "/%2e%2e/servidor.py",
        "/%252e%252e/servidor.py",
        "/..%2fservidor.py",
        "/.%2e/servidor.py",
        "/..\\servidor.py",
        "//etc/passwd",
        "/etc/passwd",
        "/index.html/..",
        "/./index.html",
        "/.hidden",
        "/webapp",
        "/",
    ],
)
def test_nothing_outside_the_webapp_folder(server: ChatServer, target: str) -> None:
    status, _, body = get(server.port, target)
    if target == "/":
        assert status.startswith("HTTP/1.1 200")
        return
    assert status.split()[1] in ("400", "404"), status
    assert b"import" not in body and b"root:" not in body


def test_resolve_static_follows_no_link_out_of_the_folder(tmp_path) -> None:
    (tmp_path / "ok.js").write_text("1")
    (tmp_path / "out.js").symlink_to("/etc/hostname")
    (tmp_path / "dir.js").mkdir()
    assert resolve_static("/ok.js?v=2", tmp_path) == tmp_path / "ok.js"
    assert resolve_static("/out.js", tmp_path) is None
    assert resolve_static("/dir.js", tmp_path) is None
    assert resolve_static("/", tmp_path) is None  # no index.html there
    assert resolve_static("/ok.exe", tmp_path) is None
