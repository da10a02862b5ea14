"""The two servers the benchmarks compare, started the way the benchmarks want them.

Role: ``running_server("charla" | "ngircd") -> (port, pid)`` starts a fresh server on
127.0.0.1 through the tests' launchers (``tests/support.py``: ``running_charla`` and
``running_ngircd``; the benchmarks import the tests' helpers, never the other way) after
raising the open-files limit it inherits. Charla runs with ``BENCH_CHARLA_ARGS`` (no flood
control, room for 5,000 clients, no per-address limits, history in a temporary folder);
ngIRCd with its flood penalties off unless ``penalties``. As a command, it runs one
server for loadgen.py runs by hand: ``python bench/servers.py ngircd --port 6667``,
``python bench/servers.py charla``, ``python bench/servers.py ngircd --print-config``.

Threading: none of its own (the launchers read the server's output on a thread). Everything
listens on and connects to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from procutil import raise_nofile_limit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the repository root, for tests.support and nothing else

from tests.support import ngircd_config, running_charla, running_ngircd  # noqa: E402

SIDES = ("ngircd", "charla")
#: the Charla of another checkout (``server_bench --before DIR``), run beside this one
BEFORE = "before"
BENCH_CHARLA_ARGS = (
    *("--server-name", "bench.charla", "--no-flood-control"),
    *("--max-clients", "5000", "--max-per-ip", "0"),
)
#: options this checkout has that older ones (``before``) may not have; given to those
#: whose servidor.py knows them
NEW_CHARLA_ARGS = ("--max-unregistered-per-ip", "0")


@contextlib.contextmanager
def running_server(
    side: str,
    *charla_args: str,
    port: int = 0,
    penalties: bool = False,
    before: Path | None = None,
) -> Iterator[tuple[int, int]]:
    """A fresh ``side`` server on 127.0.0.1 (``charla_args`` added to Charla's command
    line; side ``before`` is the ``servidor.py`` in the checkout ``before``); yields
    ``(port, pid)`` once it listens, and stops it on exit."""
    raise_nofile_limit()
    if side == "ngircd":
        launcher = running_ngircd(port, penalties=penalties)
    elif side == BEFORE:
        assert before is not None, "side 'before' needs the other checkout's folder"
        script = before / "servidor.py"
        program = (sys.executable, str(script))
        # as this checkout runs, when that one knows how (else a burst's clients, all from
        # one address and signing in at once, are closed to make room for each other)
        known = NEW_CHARLA_ARGS[0] in script.read_text(encoding="utf-8")
        extra = NEW_CHARLA_ARGS if known else ()
        launcher = running_charla(
            *BENCH_CHARLA_ARGS, *extra, *charla_args, port=port, program=program
        )
    else:
        launcher = running_charla(*BENCH_CHARLA_ARGS, *NEW_CHARLA_ARGS, *charla_args, port=port)
    with launcher as (port, server):
        yield port, server.process.pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("side", choices=SIDES)
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--penalties", action="store_true", help="keep ngIRCd's flood penalties")
    parser.add_argument("--duration", type=float, default=300.0, help="stop after this many s")
    parser.add_argument("--print-config", action="store_true", help="print ngircd.conf, exit")
    args = parser.parse_args(argv)
    if args.print_config:
        with tempfile.TemporaryDirectory(prefix="ngircd-") as tmp:
            print(ngircd_config(args.port or 6667, Path(tmp), penalties=args.penalties))
        return 0
    with (
        contextlib.suppress(KeyboardInterrupt),
        running_server(args.side, port=args.port, penalties=args.penalties) as (port, pid),
    ):
        print(f"{args.side} listening on 127.0.0.1:{port} pid {pid}; Ctrl-C stops it", flush=True)
        time.sleep(args.duration)
    return 0


if __name__ == "__main__":
    sys.exit(main())
