"""Start a throw-away ngIRCd on 127.0.0.1 for benchmarking (reference server).

Role: writes a temporary ngircd.conf in a private temp dir, validates it with
``ngircd --configtest``, runs ``ngircd -n -f CONF`` in the foreground, waits (bounded)
until the port accepts connections and exposes ``running_ngircd(port=None) -> (port, pid)``
as a context manager, plus a small CLI for manual use. ngIRCd itself is never patched.

Threading: no threads; the context manager is synchronous. The server listens only on
127.0.0.1 and the readiness probe only connects to 127.0.0.1.

Flood control and other limits of ngIRCd 26.1 (checked against ngircd.conf(5), the
src/ngircd/conn.c source and measured with loadgen.py on this machine):

* ``[Limits] MaxPenaltyTime = 0`` *does* exist and disables the per-client penalty time
  ("Set to -1 for no limit (the default), 0 to disable penalties altogether").
  Conn_SetPenalty() clamps every penalty shorter than 10 s to MaxPenaltyTime, so with 0
  the usual 1 s throttles become no-ops; ngIRCd only logs "MaxPenaltyTime is set to 0,
  this is not recommended!". This launcher sets it to 0 by default (``penalties=False``)
  so the comparison with ``servidor.py --no-flood-control`` is fair; ``penalties=True``
  (CLI ``--penalties``) keeps ngIRCd's default of -1 (penalties on).
* With penalties on, a user is throttled for 1 s whenever it sends >= 256 bytes within
  one second (maxbps = COMMAND_LEN / 2) or leaves commands unprocessed after a pass.
  Measured: about 3 messages/s per client get through (burst: 752 deliveries/s instead
  of ~800,000; steady at 20 msg/s per sender: p50 latency 16 s and 39% of the messages
  still queued at the end of the run).
* Limits that MaxPenaltyTime does NOT remove (hard-coded, no config option):
  - at most 3 commands (MAX_COMMANDS) are parsed per client per main-loop pass;
  - the per-client write buffer is 32 KiB (WRITEBUFFER_MAX_LEN): a receiver that falls
    further behind is dropped with "Write buffer space exhausted" (no ERROR line is
    sent). Seen in 2 of 7 default burst runs (1-3 of 45 receivers dropped);
  - the listening socket uses listen(fd, 10) and accepts one connection per loop pass:
    500 simultaneous connects overflow the accept queue (kernel ListenOverflows), the
    client's handshake ACK is dropped and the client only gets in after TCP
    retransmissions, up to tens of seconds later; in the idle scenario 24-35 % of the
    clients of waves 3 and 4 did not get 001 within 30 s;
  - sockets are not set TCP_NODELAY, so Nagle plus the clients' delayed ACKs add up to
    ~40 ms to fan-out messages (steady p99 ~38 ms; ~14 ms with loadgen --quickack);
  - user mode +F ("relaxed flood protection", settable by IRC operators only) raises the
    per-pass command limit to 10 and skips throttling; the load generator does not use it
    because it speaks plain RFC 1459 only.
* The 2048-byte per-client read buffer (READBUFFER_LEN) did not cause "Receive buffer
  space exhausted" drops in our bursts of 5 x 2000 messages.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from procutil import (
    LOOPBACK_V4,
    free_port,
    log_tail,
    raise_nofile_limit,
    stop_process,
    wait_for_port,
)

LOG = logging.getLogger("ngircd_server")

SERVER_NAME = "bench.ngircd"


def find_ngircd() -> str:
    """Return the path of the ngircd binary or raise FileNotFoundError."""
    for candidate in (shutil.which("ngircd"), "/usr/sbin/ngircd", "/usr/local/sbin/ngircd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError("ngircd not found (apt-get install -y ngircd)")


def _run_user() -> tuple[str, str] | None:
    """ngIRCd refuses to keep uid 0 and switches to "nobody"; name that user explicitly."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return entry.pw_name, str(entry.pw_gid)


def render_config(port: int, workdir: Path, *, penalties: bool = False) -> str:
    """Return the text of a minimal ngircd.conf for a loopback benchmark server."""
    run_user = _run_user()
    lines = [
        "[Global]",
        f"Name = {SERVER_NAME}",
        "Info = Charla benchmark reference server",
        "AdminInfo1 = bench",
        "AdminInfo2 = bench",
        "AdminEMail = bench@localhost",
        f"Listen = {LOOPBACK_V4}",
        f"Ports = {port}",
        "MotdPhrase = benchmark",
        f"PidFile = {workdir / 'run' / 'ngircd.pid'}",
    ]
    if run_user is not None:
        lines += [f"ServerUID = {run_user[0]}", f"ServerGID = {run_user[1]}"]
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
    ]
    if not penalties:
        lines.append("MaxPenaltyTime = 0")
    lines += [
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


def write_config(port: int, workdir: Path, *, penalties: bool = False) -> Path:
    """Write ngircd.conf (plus empty include dir and pid dir) into ``workdir``."""
    (workdir / "conf.d").mkdir(exist_ok=True)
    rundir = workdir / "run"
    rundir.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        # ngIRCd writes the PID file after dropping privileges to "nobody".
        with contextlib.suppress(KeyError, OSError):
            entry = pwd.getpwnam("nobody")
            os.chown(rundir, entry.pw_uid, entry.pw_gid)
    workdir.chmod(0o755)
    conf = workdir / "ngircd.conf"
    conf.write_text(render_config(port, workdir, penalties=penalties))
    return conf


def configtest(binary: str, conf: Path, timeout: float = 10.0) -> str:
    """Run ``ngircd --configtest -f CONF``; raise RuntimeError unless it succeeds."""
    result = subprocess.run(
        [binary, "--configtest", "-f", str(conf)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or "Ok, dump of your server configuration" not in output:
        raise RuntimeError(f"ngircd --configtest failed ({result.returncode}):\n{output}")
    return output


@contextlib.contextmanager
def running_ngircd(
    port: int | None = None,
    *,
    penalties: bool = False,
    startup_timeout: float = 10.0,
    stop_timeout: float = 5.0,
) -> Iterator[tuple[int, int]]:
    """Run a private ngIRCd on 127.0.0.1 and yield ``(port, pid)``; stop it on exit."""
    binary = find_ngircd()
    raise_nofile_limit()  # inherited by the child: ngIRCd needs > 2000 descriptors
    port = port or free_port(LOOPBACK_V4)
    with tempfile.TemporaryDirectory(prefix="bench-ngircd-") as tmp:
        workdir = Path(tmp)
        conf = write_config(port, workdir, penalties=penalties)
        configtest(binary, conf)
        log_path = workdir / "ngircd.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                [binary, "-n", "-f", str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                start_new_session=True,
            )
        try:
            try:
                waited = wait_for_port(LOOPBACK_V4, port, proc, timeout=startup_timeout)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"ngIRCd did not start: {exc}\n{log_tail(log_path)}") from exc
            _check_pid_file(workdir / "run" / "ngircd.pid", proc.pid)
            LOG.info(
                "ngIRCd pid %d listening on %s:%d (ready after %.2fs, penalties %s)",
                proc.pid,
                LOOPBACK_V4,
                port,
                waited,
                "on" if penalties else "off",
            )
            yield port, proc.pid
        finally:
            status = stop_process(proc, term_timeout=stop_timeout)
            LOG.info("ngIRCd pid %d stopped (status %s)", proc.pid, status)
            LOG.debug("ngIRCd log tail:\n%s", log_tail(log_path))


def _check_pid_file(path: Path, pid: int, timeout: float = 2.0) -> None:
    """Warn if ngIRCd's PID file does not name the process we started (it never forks)."""
    deadline = time.monotonic() + timeout
    for _ in range(100):
        try:
            text = path.read_text().strip()
        except OSError:
            text = ""
        if text:
            if text != str(pid):
                LOG.warning("PID file says %s but Popen pid is %d", text, pid)
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
    LOG.warning("ngIRCd PID file %s was not written", path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument(
        "--penalties", action="store_true", help="keep ngIRCd's flood penalties (default off)"
    )
    parser.add_argument(
        "--duration", type=float, default=300.0, help="stop after this many seconds"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the generated config and exit"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.print_config:
        with tempfile.TemporaryDirectory(prefix="bench-ngircd-") as tmp:
            print(render_config(args.port or 6667, Path(tmp), penalties=args.penalties))
        return 0
    try:
        with running_ngircd(args.port, penalties=args.penalties) as (port, pid):
            print(f"ngircd listening on {LOOPBACK_V4}:{port} pid {pid}", flush=True)
            deadline = time.monotonic() + args.duration
            while time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
