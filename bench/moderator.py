"""A channel moderator for benchmarks: slow mode and a quiet list active on ``#bench``.

Role: ``server_bench.py --moderated`` starts it (as a child process) against a fresh
server before ``loadgen.py``. It registers, joins ``#bench`` first (so it is the channel's
operator on a server with channel modes), sets slow mode (``+S``) and fills the quiet
list (``+q``) with masks that match none of the load generator's clients, then gives
voice to every client that joins, so their messages go through the checks a moderated
class costs (the quiet list is looked at for every message; slow mode spares those with
voice) instead of being refused. It prints ``ready`` once the modes are set, then reads
(and drops) everything until it is terminated or ``--duration`` seconds pass.

A server without channel modes (the Charla before them) refuses the MODE lines; the
moderator carries on the same, so both sides run with one more member reading #bench.

Threading: none; one blocking socket on 127.0.0.1 and a ``select`` loop with a deadline.
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time

CHANNEL = "#bench"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow", type=int, default=3600, help="slow mode seconds (+S)")
    parser.add_argument("--quiets", type=int, default=20, help="masks in the quiet list")
    parser.add_argument("--duration", type=float, default=1800.0, help="longest it runs (s)")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.duration
    sock = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    buffer = b""

    def send(line: str) -> None:
        sock.sendall(line.encode() + b"\r\n")

    def lines_until(marker: bytes) -> None:
        nonlocal buffer
        while marker not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise SystemExit("the server closed the connection")
            buffer += chunk
        buffer = buffer.split(marker, 1)[1]

    send("NICK benchop")  # "moderador" is a reserved word (a teacher's)
    send("USER benchop 0 * :bench moderator")
    lines_until(b" 001 ")
    send(f"JOIN {CHANNEL}")
    lines_until(b" 366 ")
    send(f"MODE {CHANNEL} +S {args.slow}")
    masks = [f"silenciado{number}!*@10.9.9.{number % 250}" for number in range(args.quiets)]
    for start in range(0, len(masks), 4):
        batch = masks[start : start + 4]
        send(f"MODE {CHANNEL} +{'q' * len(batch)} {' '.join(batch)}")
    send("PING ready")
    lines_until(b"ready")
    print("ready", flush=True)
    sock.settimeout(None)
    pending = b""
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([sock], [], [], min(left, 1.0))
        if not readable:
            continue
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        joiners = []
        for line in complete:
            parts = line.split(b" ", 3)
            if len(parts) >= 3 and parts[1] == b"JOIN" and parts[0].startswith(b":"):
                joiners.append(parts[0][1:].split(b"!", 1)[0].decode())
            elif parts[0] == b"PING":
                sock.sendall(b"PONG " + line.split(b" ", 1)[1].strip() + b"\r\n")
        for start in range(0, len(joiners), 4):
            batch = joiners[start : start + 4]
            send(f"MODE {CHANNEL} +{'v' * len(batch)} {' '.join(batch)}")
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
