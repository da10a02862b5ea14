"""net/web_session.py: HTTP on the chat's port, over real sockets.

The static files of ``net/webapp/`` with the right headers, nothing else (traversal in
every spelling), the strict limits (size, header count, time), the WebSocket upgrade's
checks (version, key, Origin), and the plain-text and IRC paths left as they were.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest

from net.server import ChatServer
from net.web_session import (
    BROWSER_MEMORY_SECONDS,
    CONTENT_SECURITY_POLICY,
    MAX_BROWSER_ADDRESSES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    WEBAPP_DIR,
    BrowserAddresses,
    FirstBytes,
    resolve_static,
)
from tests.conftest import TEST_CONFIG
from tests.support import IrcClient, LineClient, WebSocketClient, wait_until


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


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"])
def test_other_methods_get_405_with_allow(server: ChatServer, method: str) -> None:
    status, headers, body = get(server.port, "/", method)
    assert status == "HTTP/1.1 405 Method Not Allowed"
    assert headers["allow"] == "GET, HEAD"
    assert headers["x-content-type-options"] == "nosniff"
    assert 0 < len(body) < 100


def test_a_request_with_a_body_gets_413(server: ChatServer) -> None:
    status, _, _ = get(server.port, "/", extra="Content-Length: 5\r\n")
    assert status.split()[1] == "413"
    status, _, _ = get(server.port, "/", extra="Transfer-Encoding: chunked\r\n")
    assert status.split()[1] == "413"
    status, _, _ = get(server.port, "/", extra="Content-Length: 0\r\nContent-Length: 5\r\n")
    assert status.split()[1] == "413"
    status, _, _ = get(server.port, "/", extra="Content-Length: 0\r\n")
    assert status.split()[1] == "200"


def test_an_unknown_file_is_a_short_404(server: ChatServer) -> None:
    status, headers, body = get(server.port, "/nada.js")
    assert status == "HTTP/1.1 404 Not Found"
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert body == b"Not found.\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * MAX_HEAD_BYTES + b"\r\n\r\n", "431"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (2 * MAX_HEAD_BYTES), "431"),  # no end
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % n for n in range(MAX_HEADERS))
            + b"\r\n",
            "431",
        ),
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414"),
        (b"GET / HTTP/1.1\r\n\r\n", "400"),  # no Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
        (b"GET / HTTP/1.1\r\nHost: \xc3\xb1\r\n\r\n", "400"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", "505"),
        (b"GET /  HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
        (b"GET / HTTP/1.0\r\n\r\n", "200"),  # HTTP/1.0 needs no Host
    ],
)
def test_strict_limits_on_the_request_head(
    server: ChatServer, request_bytes: bytes, status: str
) -> None:
    got, headers, _ = http(server.port, request_bytes)
    assert got.split()[1] == status, got
    assert headers["connection"] == "close"


def test_a_slow_request_is_closed_after_its_time(
    start_server: Callable[..., ChatServer],
) -> None:
    """Slowloris: a byte now and then never makes a request; the connection is closed
    when its time is up, counted from the connect, not from the last byte."""
    server = start_server(web_request_timeout=0.5)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        data = b""
        for header in (b"Host: x\r\n", b"A: b\r\n", b"C: d\r\n", b"E: f\r\n"):
            sock.settimeout(0.2)
            try:
                data += sock.recv(4096)
                break
            except TimeoutError:
                sock.sendall(header)
        sock.settimeout(5)
        while chunk := sock.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 408 ")
    assert 0.4 < time.monotonic() - started < 3
    wait_until(lambda: server.unregistered_count() == 0)


def test_a_plain_text_person_who_typed_ge_and_stopped_is_asked_a_name(server: ChatServer) -> None:
    person = LineClient(server.port)
    try:
        person.send_raw(b"GE")
        person.expect("name|nombre")  # after plain_text_after: a person, not a browser
        person.send("MA")
        person.expect(r"GEMA")
    finally:
        person.close()


def test_a_browsers_connection_opened_ahead_gets_no_prompt_and_serves_its_request_later(
    server: ChatServer,
) -> None:
    """A browser opens connections before it needs them (for the page's next files, a
    picture) and sends its request on one later: a name prompt written there would be read
    as the answer. An address whose browser asked something lately is not prompted early."""
    assert get(server.port, "/")[0] == "HTTP/1.1 200 OK"  # this address has a browser
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as ahead:
        # five times the silence after which a person at nc is asked a name (0.2 s here)
        ahead.settimeout(5 * TEST_CONFIG.plain_text_after)
        with pytest.raises(TimeoutError):
            ahead.recv(1)
        ahead.settimeout(5)
        ahead.sendall(f"GET /app.js HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
        answer = b""
        while chunk := ahead.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert answer.endswith((WEBAPP_DIR / "app.js").read_bytes())


def test_a_person_at_nc_where_a_browser_was_is_asked_a_name_later_all_the_same(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server(browser_silence=1.0)
    assert get(server.port, "/")[0] == "HTTP/1.1 200 OK"
    person = LineClient(server.port)
    try:
        person.expect("name|nombre")  # after browser_silence, not never
        person.send("GEMA")
        person.expect(r"GEMA")
    finally:
        person.close()


def test_the_browsers_addresses_are_bounded_and_forgotten() -> None:
    now = [0.0]
    browsers = BrowserAddresses(clock=lambda: now[0])
    for number in range(MAX_BROWSER_ADDRESSES + 10):
        browsers.saw(f"10.0.{number // 256}.{number % 256}")
    assert not browsers.lately("10.0.0.0")  # the oldest went first
    assert browsers.lately("10.0.0.10")
    assert len(browsers._last) == MAX_BROWSER_ADDRESSES
    now[0] = BROWSER_MEMORY_SECONDS + 1
    assert not browsers.lately("10.0.0.10")


def test_web_clients_are_counted_per_address_like_any_other(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server(max_per_ip=2)
    first, second = IrcClient(server.port), WebSocketClient(server.port)
    third = WebSocketClient(server.port)
    try:
        first.register("ana")
        second.register("bea")
        assert not third.upgraded
        assert third.response.startswith("ERROR") or third.closed or third.response == ""
    finally:
        for client in (first, second, third):
            client.close()


def test_web_clients_pass_the_same_flood_gate(start_server: Callable[..., ChatServer]) -> None:
    server = start_server(flood_max_queued=50)
    web = WebSocketClient(server.port)
    try:
        web.register("ana")
        web.join("#general")
        for n in range(200):
            web.send(f"PRIVMSG #general :{n}")
        lines = web.expect_closed()
        assert any("Excess Flood" in line for line in lines)
    finally:
        web.close()


# -- the upgrade's checks ---------------------------------------------------------------


def upgrade(port: int, **headers: str | None) -> tuple[str, dict[str, str], bytes]:
    sent = {
        "Host": f"127.0.0.1:{port}",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    request = "GET / HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in sent.items() if value is not None
    )
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request.encode() + b"\r\n")
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(4096)):
            data += chunk
    head = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return head[0], {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}, data


def test_a_wrong_websocket_version_gets_426_naming_13(server: ChatServer) -> None:
    status, headers, _ = upgrade(server.port, Sec_WebSocket_Version="8")
    assert status.startswith("HTTP/1.1 426 ")
    assert headers["sec-websocket-version"] == "13"


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec_WebSocket_Key": None},
        {"Sec_WebSocket_Key": "short"},
        {"Connection": "keep-alive"},
    ],
)
def test_a_broken_handshake_gets_400(server: ChatServer, headers: dict) -> None:
    status, _, _ = upgrade(server.port, **headers)
    assert status.startswith("HTTP/1.1 400 ")


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser
        ("http://127.0.0.1:{port}", True),  # the server's own page
        ("HTTP://127.0.0.1:{port}/", True),
        ("http://evil.example", False),
        ("http://127.0.0.1", False),  # another port is another origin
        ("null", False),
        ("https://gamja.example", True),  # listed by the operator
    ],
)
def test_origin_must_be_the_servers_own_or_allowed(
    start_server: Callable[..., ChatServer], origin: str | None, allowed: bool
) -> None:
    server = start_server(web_allowed_origins=("https://gamja.example",))
    value = None if origin is None else origin.format(port=server.port)
    status, _, _ = upgrade(server.port, Origin=value)
    assert status.split()[1] == ("101" if allowed else "403"), status


def test_no_web_answers_a_short_404_and_irc_still_works(
    start_server: Callable[..., ChatServer],
) -> None:
    server = start_server(web=False)
    status, _, body = get(server.port, "/")
    assert status.startswith("HTTP/1.1 404 ")
    assert b"no web chat" in body
    status, _, _ = upgrade(server.port)
    assert status.startswith("HTTP/1.1 404 ")
    irc = IrcClient(server.port)
    try:
        irc.register("ana")
    finally:
        irc.close()


def test_the_session_token_works_over_websocket_as_over_tcp(
    server: ChatServer, connect: Callable[..., IrcClient]
) -> None:
    """A phone's page sends three numbered messages; its link dies (no Close) before it
    knows whether the last two arrived; it comes back over a new WebSocket with the same
    token and sends them again with one more: the others see each exactly once, and the
    page gets its nick back from its ghost."""
    token = "d4" * 16
    watcher = connect("beto")
    watcher.join("#general")
    page = WebSocketClient(server.port)
    page.register("lucia", session=token, caps="message-tags")
    page.join("#general")
    for n in (1, 2, 3):
        page.send(f"@charla.chat/seq={n} PRIVMSG #general :mensaje {n}")
    watcher.expect(r"PRIVMSG #general :mensaje 3$")
    again = WebSocketClient(server.port)
    try:
        again.register("lucia", session=token, caps="message-tags")  # the ghost's nick
        again.join("#general")
        for n in (2, 3, 4):
            again.send(f"@charla.chat/seq={n} PRIVMSG #general :mensaje {n}")
        watcher.expect(r"PRIVMSG #general :mensaje 4$")
        watcher.sync()
        for n in (1, 2, 3, 4):
            assert len([line for line in watcher.lines if line.endswith(f"mensaje {n}")]) == 1
        late = WebSocketClient(server.port)  # history is replayed over WebSocket too
        try:
            late.register("tarde")
            late.join("#general")
            late.sync()
            replayed = [line for line in late.lines if "mensaje" in line]
            assert [line.rsplit(" ", 1)[1] for line in replayed] == ["1", "2", "3", "4"]
        finally:
            late.close()
    finally:
        page.close()
        again.close()


def test_the_pages_files_do_not_fill_the_operators_console(
    server: ChatServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A class of 30 opening the page makes a hundred requests: none is a line at INFO."""
    caplog.set_level(logging.DEBUG, logger="net.server")
    for _ in range(8):
        assert get(server.port, "/")[0].startswith("HTTP/1.1 200")
    wait_until(lambda: server.unregistered_count() == 0)
    closed = [r for r in caplog.records if "closed" in r.getMessage()]
    assert closed and all(r.levelno == logging.DEBUG for r in closed)
