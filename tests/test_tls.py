"""TLS for the client (net/tls.py): real handshakes on 127.0.0.1 with certificates the test
makes with ``openssl``: a school's self-signed one, one signed by an authority the
computer trusts (``SSL_CERT_FILE``), a pinned one, a changed one, and a port that is not
TLS at all. Every socket and thread is closed at teardown."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from net import tls
from tests.support import certificate_fingerprint, make_certificate


@contextlib.contextmanager
def tls_listener(certificate: Path | None, key: Path | None) -> Iterator[int]:
    """A server on 127.0.0.1 that shakes hands with ``certificate`` (or, without one,
    answers a plain-text line, as an IRC server's plain port would) and then closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    context = None
    if certificate is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificate, key)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with sock:
                sock.settimeout(5)
                if context is None:
                    with contextlib.suppress(OSError):
                        sock.recv(1024)
                        sock.sendall(b":plain NOTICE * :*** Looking up your hostname\r\n")
                    continue
                with contextlib.suppress(OSError), context.wrap_socket(sock, server_side=True) as s:
                    s.recv(1)  # until the client is done with it

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() under way
        listener.close()
        thread.join(10)
        assert not thread.is_alive()


def connected(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


@pytest.fixture
def school(tmp_path: Path) -> tuple[Path, Path]:
    return make_certificate(tmp_path / "school")


def test_a_self_signed_certificate_is_refused_and_shown_with_the_fingerprint_openssl_prints(
    school,
):
    certificate, key = school
    with tls_listener(certificate, key) as port:
        with pytest.raises(tls.TlsProblem) as refused:
            tls.handshake(connected(port), "127.0.0.1", pinned=None, timeout=5)
        assert refused.value.untrusted and not refused.value.changed
        assert "not signed by an authority" in refused.value.reason
        shown = tls.fetch_certificate(connected(port), "127.0.0.1", timeout=5)
    assert shown == certificate_fingerprint(certificate)


def test_a_trusted_fingerprint_is_accepted_and_any_other_certificate_refused_as_changed(
    school, tmp_path
):
    certificate, key = school
    impostor = make_certificate(tmp_path / "impostor")
    with tls_listener(certificate, key) as port:
        sock = tls.handshake(
            connected(port), "127.0.0.1", pinned=certificate_fingerprint(certificate), timeout=5
        )
        assert sock is not None
        sock.close()
    with tls_listener(*impostor) as port, pytest.raises(tls.TlsProblem) as refused:
        tls.handshake(
            connected(port),
            "127.0.0.1",
            pinned=certificate_fingerprint(certificate),
            timeout=5,
        )
    assert refused.value.changed and refused.value.untrusted
    assert refused.value.fingerprint == certificate_fingerprint(impostor[0])
    assert "CHANGED" in refused.value.reason


def test_a_certificate_signed_by_a_known_authority_passes_and_its_name_is_checked(
    school, monkeypatch
):
    certificate, key = school
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the system's authorities: ours
    with tls_listener(certificate, key) as port:
        sock = tls.handshake(connected(port), "127.0.0.1", pinned=None, timeout=5)
        assert sock is not None and sock.version() in ("TLSv1.2", "TLSv1.3")
        sock.close()
        with pytest.raises(tls.TlsProblem) as refused:  # the same server, by another name
            tls.handshake(connected(port), "localhost", pinned=None, timeout=5)
    assert "another name" in refused.value.reason and refused.value.untrusted


def test_a_plain_text_port_is_named_as_such():
    with tls_listener(None, None) as port, pytest.raises(tls.TlsProblem) as refused:
        tls.handshake(connected(port), "127.0.0.1", pinned=None, timeout=5)
    assert "does not speak TLS" in refused.value.reason
    assert not refused.value.untrusted  # nothing to trust: no choice offered


def test_a_server_that_never_answers_the_handshake_is_given_up_on_time():
    with socket.create_server(("127.0.0.1", 0)) as silent, pytest.raises(tls.TlsProblem) as refused:
        tls.handshake(connected(silent.getsockname()[1]), "127.0.0.1", pinned=None, timeout=0.3)
    assert "did not finish" in refused.value.reason


def test_a_stop_asked_for_ends_the_handshake_at_once():
    wake_reader, wake_writer = socket.socketpair()
    with wake_reader, wake_writer, socket.create_server(("127.0.0.1", 0)) as silent:
        wake_writer.send(b"\0")
        sock = tls.handshake(
            connected(silent.getsockname()[1]),
            "127.0.0.1",
            pinned=None,
            timeout=30,
            wake=wake_reader,
            stopping=lambda: True,
        )
    assert sock is None
