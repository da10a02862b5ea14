"""Start a throw-away Charla server (servidor.py) on 127.0.0.1 for benchmarking.

Role: runs ``python servidor.py --host 127.0.0.1 --port N --server-name bench.charla
--no-flood-control --max-clients 5000 --max-per-ip 0`` from the repository root (the
folder above bench/), waits (bounded) until the port accepts connections and exposes
``running_charla(port=None) -> (port, pid)`` as a context manager, plus a small CLI.
On exit the server gets SIGTERM, then SIGKILL if it is still alive after 5 s.

Threading: no threads; the context manager is synchronous. The server is told to listen
on 127.0.0.1 only and the readiness probe only connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from procutil import (
    LOOPBACK_V4,
    free_port,
    log_tail,
    raise_nofile_limit,
    stop_process,
    wait_for_port,
)

LOG = logging.getLogger("charla_server")

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVER_SCRIPT = REPO_ROOT / "servidor.py"
SERVER_NAME = "bench.charla"


def charla_command(port: int, extra_args: Sequence[str] = ()) -> list[str]:
    """Return the argv used to start Charla on 127.0.0.1:``port``."""
    return [
        sys.executable,
        str(SERVER_SCRIPT),
        "--host",
        LOOPBACK_V4,
        "--port",
        str(port),
        "--server-name",
        SERVER_NAME,
        "--no-flood-control",
        "--max-clients",
        "5000",
        "--max-per-ip",
        "0",
        *extra_args,
    ]


@contextlib.contextmanager
def running_charla(
    port: int | None = None,
    *,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 10.0,
    stop_timeout: float = 5.0,
) -> Iterator[tuple[int, int]]:
    """Run servidor.py on 127.0.0.1 and yield ``(port, pid)``; stop it on exit."""
    if not SERVER_SCRIPT.is_file():
        raise FileNotFoundError(f"{SERVER_SCRIPT} does not exist (yet)")
    raise_nofile_limit()  # inherited by the child: 2000+ clients need descriptors
    port = port or free_port(LOOPBACK_V4)
    with tempfile.TemporaryDirectory(prefix="bench-charla-") as tmp:
        # History stays on (the default) but in this run's own folder, never in $HOME.
        history = [] if "--no-history" in extra_args else ["--history-db", f"{tmp}/history.sqlite3"]
        argv = charla_command(port, [*history, *extra_args])
        log_path = Path(tmp) / "charla.log"
        with log_path.open("wb") as log_file:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
                start_new_session=True,
            )
        try:
            try:
                waited = wait_for_port(LOOPBACK_V4, port, proc, timeout=startup_timeout)
            except (RuntimeError, TimeoutError) as exc:
                raise RuntimeError(f"Charla did not start: {exc}\n{log_tail(log_path)}") from exc
            LOG.info(
                "Charla pid %d listening on %s:%d (ready after %.2fs)",
                proc.pid,
                LOOPBACK_V4,
                port,
                waited,
            )
            yield port, proc.pid
        finally:
            status = stop_process(proc, term_timeout=stop_timeout)
            LOG.info("Charla pid %d stopped (status %s)", proc.pid, status)
            LOG.debug("Charla log tail:\n%s", log_tail(log_path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    parser.add_argument(
        "--duration", type=float, default=300.0, help="stop after this many seconds"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        with running_charla(args.port) as (port, pid):
            print(f"charla listening on {LOOPBACK_V4}:{port} pid {pid}", flush=True)
            deadline = time.monotonic() + args.duration
            while time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
