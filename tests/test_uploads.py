"""net/uploads.py: pictures and PDFs over HTTP on the chat's port, with real sockets.

An IRC session's token (ISUPPORT ``charla.chat/UPLOAD``) sent back as a Bearer token;
the body judged by its bytes; sizes refused from ``Content-Length`` before any body;
quota, flood, mute; the announcement in the channel; ``GET /f/<id>`` with its headers;
a REDACT deleting the file; a restart keeping it.
"""

from __future__ import annotations

import re
import socket
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from net import uploads as uploads_module
from net.server import ChatServer
from net.uploads import FILE_LINK, clean_name, sniff
from net.web_session import CONTENT_SECURITY_POLICY
from tests.support import IrcClient, wait_until


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (RGB, all red), built with zlib and struct."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def http(port: int, request: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``request``; (status, headers in lower case, body) once the server closes."""
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
    return int(status.split()[1]), headers, body


def upload(
    port: int,
    token: str | None,
    data: bytes,
    to: str = "#general",
    name: str = "foto.png",
    *,
    length: int | None = None,
) -> tuple[int, dict[str, str], bytes]:
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    head = (
        f"POST /upload?to={quote(to)}&name={quote(name)} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Length: {len(data) if length is None else length}\r\n\r\n"
    )
    return http(port, head.encode("ascii") + data)


def get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    return http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())


def token_of(client: IrcClient) -> str:
    for line in client.lines:
        if found := re.search(r" charla\.chat/UPLOAD=(\S+)", line):
            return found.group(1)
    raise AssertionError("no upload token in 005")


def file_path(link: str) -> str:
    found = FILE_LINK.search(link)
    assert found is not None, link
    return f"/f/{found.group(1)}"


@pytest.fixture
def pair(connect: Callable[..., IrcClient]) -> tuple[IrcClient, IrcClient]:
    ana, bea = connect("ana"), connect("bea")
    for client in (ana, bea):
        client.join("#general")
    return ana, bea


def test_a_picture_is_kept_announced_and_served(server: ChatServer, pair) -> None:
    ana, bea = pair
    png = tiny_png()
    status, headers, body = upload(server.port, token_of(ana), png, name="mi foto.png")
    assert status == 201
    link = body.decode().strip()
    assert headers["location"] == link
    assert re.fullmatch(rf"http://127\.0\.0\.1:{server.port}/f/[A-Za-z0-9_-]{{22}}", link)
    bea.expect(rf":ana!\S+ PRIVMSG #general :📎 mi foto\.png {re.escape(link)}$")
    ana.expect(rf":ana!\S+ PRIVMSG #general :📎 mi foto\.png {re.escape(link)}$")
    status, headers, served = get(server.port, file_path(link))
    assert (status, served) == (200, png)
    assert headers["content-type"] == "image/png"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["content-disposition"].startswith('inline; filename="mi_foto.png"')


def test_a_link_from_loopback_names_the_address_the_others_use(server: ChatServer, pair) -> None:
    ana, bea = pair
    assert server.uploads is not None
    server.uploads.shareable = lambda: ["192.168.1.23:12345"]
    _, _, body = upload(server.port, token_of(ana), tiny_png())
    assert body.decode().startswith("http://192.168.1.23:12345/f/")
    bea.expect(r"PRIVMSG #general :📎 foto\.png http://192\.168\.1\.23:12345/f/")


def test_a_pdf_is_an_attachment_and_a_name_is_never_a_path(server: ChatServer, pair) -> None:
    ana, bea = pair
    pdf = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    status, _, body = upload(server.port, token_of(ana), pdf, name="../../etc/passwd.png")
    assert status == 201
    bea.expect(r"PRIVMSG #general :📎 passwd\.pdf http://")
    status, headers, served = get(server.port, file_path(body.decode()))
    assert (status, served) == (200, pdf)
    assert headers["content-type"] == "application/pdf"
    assert headers["content-disposition"].startswith('attachment; filename="passwd.pdf"')
    files = list(server.files.folder.iterdir())
    assert [f.name for f in files if "passwd" in f.name] == []


def test_the_content_decides_not_the_name(server: ChatServer, pair) -> None:
    ana, _ = pair
    for fake in (b"<svg onload=alert(1)>", b"<html><script>x</script>", b"MZ\x90\x00"):
        status, _, body = upload(server.port, token_of(ana), fake, name="foto.png")
        assert status == 415, body
    assert sniff(tiny_png()) == "png"


def test_too_big_is_refused_from_its_length_before_any_body(start_server, connect) -> None:
    server = start_server(max_upload=1000)
    ana = connect("ana", port=server.port)
    # the body is never sent: the answer must come from the head alone
    status, _, body = upload(server.port, token_of(ana), b"", length=50_000_000)
    assert status == 413
    assert b"too large" in body


def test_no_or_a_bad_token_is_401(server: ChatServer, pair) -> None:
    png = tiny_png()
    for token in (None, "", "nope", "x" * 32):
        status, headers, _ = upload(server.port, token, png)
        assert status == 401
        assert headers["www-authenticate"].startswith("Bearer")


def test_a_token_dies_with_its_session(server: ChatServer, connect) -> None:
    ana = connect("ana")
    ana.join("#general")
    token = token_of(ana)
    ana.send("QUIT :bye")
    ana.expect_closed()
    assert upload(server.port, token, tiny_png())[0] == 401


def test_a_muted_student_is_refused_and_nothing_is_kept(server: ChatServer, pair) -> None:
    ana, bea = pair
    carla = IrcClient(server.port)
    try:
        carla.register("carla")
        carla.join("#general")
        server.rooms.make_teacher(server.rooms.find_session("ana"))  # type: ignore[arg-type]
        ana.send("MODE #general +q carla")
        carla.expect(r"MODE #general \+q")
        status, _, body = upload(server.port, token_of(carla), tiny_png())
        assert status == 403
        assert b"muted" in body
        assert list(server.files.folder.iterdir()) == []
        assert not any("📎" in line for line in bea.sync())
    finally:
        carla.close()


def test_an_outsider_and_a_bad_target_are_refused(server: ChatServer, pair) -> None:
    ana, _ = pair
    assert upload(server.port, token_of(ana), tiny_png(), to="#otro")[0] == 403
    assert upload(server.port, token_of(ana), tiny_png(), to="a b")[0] == 400
    png = tiny_png()
    many = "to=%23general" + "&x=1" * 20  # parse_qs refuses past 10 fields
    head = (
        f"POST /upload?{many} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token_of(ana)}\r\nContent-Length: {len(png)}\r\n\r\n"
    )
    assert http(server.port, head.encode("ascii") + png)[0] == 400


def test_a_private_picture_goes_to_the_one_named(server: ChatServer, pair) -> None:
    ana, bea = pair
    assert upload(server.port, token_of(ana), tiny_png(), to="bea")[0] == 201
    bea.expect(r":ana!\S+ PRIVMSG bea :📎 foto\.png http://")
    ana.expect(r":ana!\S+ PRIVMSG bea :📎 foto\.png http://")


def test_quota_per_person(server: ChatServer, pair, monkeypatch) -> None:
    ana, _ = pair
    monkeypatch.setattr(uploads_module, "QUOTA_FILES", 2)
    assert upload(server.port, token_of(ana), tiny_png())[0] == 201
    assert upload(server.port, token_of(ana), tiny_png())[0] == 201
    status, _, body = upload(server.port, token_of(ana), tiny_png())
    assert status == 429
    assert b"many files" in body


def test_uploads_count_against_flood_control(start_server, connect) -> None:
    server = start_server(flood_burst=12, flood_rate=0.01)
    ana = connect("ana", port=server.port)
    ana.join("#general")
    answers = [upload(server.port, token_of(ana), tiny_png())[0] for _ in range(4)]
    assert answers[:2] == [201, 201]
    assert 429 in answers


def test_unknown_and_malformed_ids_are_404(server: ChatServer) -> None:
    for path in ("/f/AAAAAAAAAAAAAAAAAAAAAA", "/f/..%2f..%2fservidor.py", "/f/../servidor.py"):
        assert get(server.port, path)[0] == 404


def test_a_redact_deletes_the_file(server: ChatServer, connect) -> None:
    ana = connect("ana")
    bea = connect()
    bea.register("bea", caps="message-tags draft/message-redaction")
    for client in (ana, bea):
        client.join("#general")
    _, _, body = upload(server.port, token_of(ana), tiny_png())
    link = body.decode().strip()
    msgid = bea.expect(
        rf"^@\S*msgid=([^; ]+)\S* :ana!\S+ PRIVMSG #general :📎 .*{re.escape(link)}$"
    )
    assert get(server.port, file_path(link))[0] == 200
    ana.send(f"REDACT #general {msgid.group(1)}")
    bea.expect(r" REDACT #general ")
    assert get(server.port, file_path(link))[0] == 404
    assert list(server.files.folder.iterdir()) == []


def test_files_outlive_a_restart(start_server, connect, tmp_path: Path) -> None:
    database = str(tmp_path / "history.db")
    server = start_server(history_db=database)
    ana = connect("ana", port=server.port)
    ana.join("#general")
    png = tiny_png(3, 1)
    link = upload(server.port, token_of(ana), png)[2].decode().strip()
    ana.close()
    server.shutdown()
    again = start_server(history_db=database)
    assert get(again.port, file_path(link))[0::2] == (200, png)
    assert (tmp_path / "history.db.files").is_dir()


def test_no_uploads_means_404(start_server, connect) -> None:
    server = start_server(uploads=False)
    ana = connect("ana", port=server.port)
    assert not any("charla.chat/UPLOAD" in line for line in ana.lines)
    assert upload(server.port, "x", tiny_png())[0] == 405  # only GET and HEAD, as ever
    assert get(server.port, "/f/AAAAAAAAAAAAAAAAAAAAAA")[0] == 404


def test_a_large_body_in_many_pieces_arrives_whole(server: ChatServer, pair) -> None:
    ana, _ = pair
    big = tiny_png() + bytes(range(256)) * 8000  # 2 MB: many reads past the first
    status, _, body = upload(server.port, token_of(ana), big)
    assert status == 201
    assert get(server.port, file_path(body.decode()))[2] == big


def test_a_body_that_stops_coming_is_408(start_server, connect, monkeypatch) -> None:
    from net import web_session

    monkeypatch.setattr(web_session, "BODY_SECONDS", 0.3)
    server = start_server()
    ana = connect("ana", port=server.port)
    status, _, _ = upload(server.port, token_of(ana), tiny_png(), length=1000)
    assert status == 408
    assert server.uploads is not None
    wait_until(lambda: (server.uploads._receiving, server.uploads._under_way) == (0, {}))


def test_one_session_has_at_most_two_uploads_under_way(server: ChatServer, pair) -> None:
    ana, _ = pair
    token = token_of(ana)
    head = (
        f"POST /upload?to=%23general HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000\r\n\r\n"
    ).encode("ascii")
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(2)]
    try:
        for sock in slow:
            sock.sendall(head + b"\x89PNG")  # and then nothing more
        assert server.uploads is not None
        wait_until(lambda: server.uploads._under_way.get(token) == 2)
        assert upload(server.port, token, tiny_png())[0] == 429
    finally:
        for sock in slow:
            sock.close()
    wait_until(lambda: server.uploads._under_way == {})
    assert upload(server.port, token, tiny_png())[0] == 201


def test_all_files_together_are_bounded(server: ChatServer, pair) -> None:
    ana, _ = pair
    server.files.max_files = 2
    links = [upload(server.port, token_of(ana), tiny_png())[2].decode() for _ in range(3)]
    assert [get(server.port, file_path(link))[0] for link in links] == [404, 200, 200]


def test_clean_name() -> None:
    assert clean_name("C:\\Users\\ana\\Fotos\\niño.JPG", "jpeg") == "niño.jpg"
    assert clean_name("\u202egnp.exe", "png") == "gnp.png"
    assert clean_name("a" * 500 + ".png", "png") == "a" * 55 + ".png"


def test_expect_100_continue_is_answered_before_the_body(server: ChatServer, pair) -> None:
    ana, _ = pair
    png = tiny_png()
    head = (
        f"POST /upload?to=%23general HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Authorization: Bearer {token_of(ana)}\r\nExpect: 100-continue\r\n"
        f"Content-Length: {len(png)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode("ascii"))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(png)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201 Created\r\n")
