"""TLS for the client: certificates verified, or a school's own certificate trusted once.

A server on the internet (an IRC network's ``ircs://`` port) has a certificate signed by
an authority the system knows: ``ssl.create_default_context()`` checks it, and its name.
A school's server has a certificate it made itself, which no authority signed. For that
one the user is asked once, with its SHA-256 fingerprint, whether to trust it; the
window keeps the answer (the fingerprint, filed under the server's ``key``), and from
then on that exact certificate is accepted and any other is refused as changed (a
machine pretending to be the server would have a different one), "pinning" it.

``handshake`` does the TLS handshake of a non-blocking socket within a deadline, and
says what went wrong in the user's words (``TlsProblem``: an unknown signer, an expired
certificate, another name, a server that does not speak TLS on that port).
``fetch_certificate`` asks for the certificate without checking it, to show it when it
is not trusted (a refused handshake does not give it to us).

Threading: pure functions on the calling thread (the client's network thread); a
handshake watches ``wake`` (a socket that becomes readable when the caller is asked to
stop) and returns None then.
"""

from __future__ import annotations

import hashlib
import selectors
import socket
import ssl
import time
from collections.abc import Callable

from net.i18n import tr

#: OpenSSL's verify codes we explain (X509_V_ERR_*)
_SELF_SIGNED = {18, 19, 20, 21}  # self-signed, self-signed in chain, unknown issuer (2)
_EXPIRED = {9, 10}  # not yet valid, expired
_HOSTNAME = {62, 64}  # hostname or IP address mismatch


class TlsProblem(Exception):
    """The handshake failed: ``reason`` in the user's words; ``untrusted`` when the
    user may choose to trust the certificate (it is valid TLS, only nobody vouches for
    it); ``changed`` when it differs from the one the user trusted before; its
    ``fingerprint`` when the handshake got that far."""

    def __init__(
        self, reason: str, *, untrusted: bool = False, changed: bool = False, fingerprint: str = ""
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.untrusted = untrusted
        self.changed = changed
        self.fingerprint = fingerprint


def fingerprint(certificate: bytes) -> str:
    """The SHA-256 of a DER certificate, as uppercase hex pairs joined by colons (how
    browsers and ``openssl x509 -fingerprint`` show it).

    >>> fingerprint(b"x")[:23]
    '2D:71:16:42:B7:26:B0:44'
    """
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(certificate).digest())


def client_context(pinned: str | None, *, verify: bool = True) -> ssl.SSLContext:
    """The system's authorities and name check; or, for a certificate the user trusted
    (``pinned``: its fingerprint), no authority and no name: the fingerprint is what is
    checked, after the handshake (and nothing at all when not ``verify``)."""
    if pinned is None and verify:
        return ssl.create_default_context()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def handshake(
    sock: socket.socket,
    host: str,
    *,
    pinned: str | None,
    timeout: float,
    wake: socket.socket | None = None,
    stopping: Callable[[], bool] = lambda: False,
    verify: bool = True,
) -> ssl.SSLSocket | None:
    """Wrap the connected, non-blocking ``sock`` in TLS and shake hands within
    ``timeout`` seconds. Whenever ``wake`` becomes readable, ``stopping()`` is asked (it
    reads it) and, if true, the handshake ends and returns None. Raises ``TlsProblem``.
    Either way, but for a success, ``sock`` is closed."""
    context = client_context(pinned, verify=verify)
    tls = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(tls, selectors.EVENT_READ)
            if wake is not None:
                selector.register(wake, selectors.EVENT_READ)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    selector.modify(tls, selectors.EVENT_READ)
                except ssl.SSLWantWriteError:
                    selector.modify(tls, selectors.EVENT_WRITE)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TlsProblem(tr("the server did not finish the secure (TLS) handshake"))
                ready = selector.select(remaining)
                woken = wake is not None and any(key.fileobj is wake for key, _ in ready)
                if woken and stopping():
                    tls.close()
                    return None
    except ssl.SSLCertVerificationError as exc:
        tls.close()
        raise _verify_problem(exc, host) from exc
    except ssl.SSLError as exc:
        tls.close()
        raise TlsProblem(_protocol_problem(exc)) from exc
    except TlsProblem:
        tls.close()
        raise
    if pinned is not None:
        presented = fingerprint(tls.getpeercert(binary_form=True) or b"")
        if presented != pinned:
            tls.close()
            raise TlsProblem(
                tr(
                    "the server's certificate has CHANGED since you trusted it: it may be "
                    "another computer pretending to be the server. Ask the teacher or the "
                    "school's IT before trusting it again"
                ),
                untrusted=True,
                changed=True,
                fingerprint=presented,
            )
    return tls


def fetch_certificate(sock: socket.socket, host: str, timeout: float) -> str | None:
    """The fingerprint of the certificate the server behind the connected ``sock``
    presents, not checked (to show the user); None when it cannot be had. Closes ``sock``."""
    try:
        tls = handshake(sock, host, pinned=None, timeout=timeout, verify=False)
    except TlsProblem:
        return None
    if tls is None:
        return None
    try:
        return fingerprint(tls.getpeercert(binary_form=True) or b"")
    finally:
        tls.close()


def _verify_problem(exc: ssl.SSLCertVerificationError, host: str) -> TlsProblem:
    code = exc.verify_code
    if code in _SELF_SIGNED:
        reason = tr(
            "the server's certificate is not signed by an authority this computer knows "
            "(a school's own server often has such a certificate)"
        )
    elif code in _EXPIRED:
        reason = tr("the server's certificate has expired or is not valid yet")
    elif code in _HOSTNAME:
        reason = tr("the server's certificate is for another name, not {host}").format(host=host)
    else:
        reason = tr("the server's certificate could not be checked ({why})").format(
            why=exc.verify_message
        )
    return TlsProblem(reason, untrusted=True)


def _protocol_problem(exc: ssl.SSLError) -> str:
    if "WRONG_VERSION_NUMBER" in (exc.reason or "") or "wrong version" in str(exc):
        return tr("the server does not speak TLS on that port (is it its plain-text port?)")
    return tr("the secure (TLS) connection failed ({why})").format(why=exc.reason or exc)


def looks_like_tls(data: bytes) -> bool:
    """Whether the first bytes a plain-text connection received are a TLS record (an
    alert or a handshake): the port speaks TLS, and the user should say ``ircs://``.

    >>> looks_like_tls(b"\\x15\\x03\\x03\\x00\\x02\\x02\\x32"), looks_like_tls(b":srv 001 ana")
    (True, False)
    """
    return len(data) >= 3 and data[0] in (0x15, 0x16) and data[1] == 3 and data[2] <= 4
