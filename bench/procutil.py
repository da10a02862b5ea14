"""Process helpers shared by the benchmark server launchers.

Role: small, dependency-free utilities used by ``ngircd_server.py`` and ``charla_server.py``:
pick a free loopback port, wait (bounded) until a server accepts TCP connections, stop a
server process politely (SIGTERM, then SIGKILL), raise the open-files limit and read the
tail of a log file; and, for everything that draws windows (the window benchmarks, the
README's screenshot, the tests), an X display of its own.

Threading: no threads are created; every function is synchronous and bounded in time.
All sockets opened here connect only to loopback addresses (127.0.0.1 or ::1).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

LOG = logging.getLogger(__name__)

LOOPBACK_V4 = "127.0.0.1"


def require_loopback(host: str) -> str:
    """Return ``host`` as an IP literal if it is a loopback address, else raise ValueError."""
    if host == "localhost":
        return LOOPBACK_V4
    try:
        addr = ipaddress.ip_address(host)
    except ValueError as exc:
        raise ValueError(f"host must be a loopback IP literal, got {host!r}") from exc
    if not addr.is_loopback:
        raise ValueError(f"refusing non-loopback address {host!r}")
    return str(addr)


def free_port(host: str = LOOPBACK_V4) -> int:
    """Ask the kernel for a currently unused TCP port on ``host`` (loopback only)."""
    host = require_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def raise_nofile_limit() -> tuple[int, int]:
    """Raise the RLIMIT_NOFILE soft limit to the hard limit; return the new (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20) if soft != resource.RLIM_INFINITY else soft
    else:
        target = hard
    if soft != target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            LOG.warning("could not raise RLIMIT_NOFILE from %s to %s: %s", soft, target, exc)
    return soft, hard


def wait_for_port(
    host: str,
    port: int,
    proc: subprocess.Popen[bytes] | None = None,
    timeout: float = 10.0,
    interval: float = 0.05,
) -> float:
    """Wait until ``host:port`` accepts a TCP connection; return the seconds waited.

    Raises RuntimeError if ``proc`` exits first, TimeoutError after ``timeout`` seconds.
    """
    host = require_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    start = time.monotonic()
    deadline = start + timeout
    attempts = max(1, int(timeout / interval) + 1)
    for _ in range(attempts):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited early with status {proc.returncode}")
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(max(0.05, min(1.0, deadline - time.monotonic())))
            try:
                sock.connect((host, port))
            except OSError:
                pass
            else:
                return time.monotonic() - start
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:.1f}s")


def stop_process(proc: subprocess.Popen[bytes], term_timeout: float = 5.0) -> int | None:
    """Send SIGTERM, wait up to ``term_timeout`` s, then SIGKILL; return the exit status."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        proc.send_signal(signal.SIGTERM)
    except ProcessLookupError:
        return proc.poll()
    try:
        return proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        LOG.warning("pid %d ignored SIGTERM for %.1fs, sending SIGKILL", proc.pid, term_timeout)
    try:
        proc.kill()
    except ProcessLookupError:
        return proc.poll()
    try:
        return proc.wait(timeout=term_timeout)
    except subprocess.TimeoutExpired:
        LOG.error("pid %d did not die after SIGKILL", proc.pid)
        return None


def log_tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a (possibly missing) text file."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int) -> bool:
    """Return True if a process with ``pid`` exists (signal 0 probe)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
