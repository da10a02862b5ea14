"""What keeping history costs the relay: Charla with history on versus off, side by side.

Role: runs the load generator's ``burst`` scenario (50 clients, 5 senders x 2,000
messages as fast as they go) and ``steady`` scenario (200 clients, 20 senders x 20
messages/s) against a fresh ``servidor.py`` with history on (SQLite in a temporary
folder, the default) and with ``--no-history``, alternating the two for ``--rounds``
rounds so that both see the same machine noise, and prints the medians and the ratios.

Run from the repository root: ``python bench/history_cost.py`` (about a minute),
``--rounds 5`` for steadier medians, ``--json`` for machine-readable output.

Threading: none; servers and load generators are child processes with deadlines.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys

from server_bench import FULL_ARGS, run_loadgen
from servers import running_server

SIDES: dict[str, tuple[str, ...]] = {"history on": (), "history off": ("--no-history",)}
METRICS = {
    "burst": [
        ("deliveries_per_s", "burst deliveries/s"),
        ("cpu_us_per_delivery", "burst CPU µs/delivery"),
    ],
    "steady": [
        ("latency_p50_ms", "steady latency p50 (ms)"),
        ("latency_p99_ms", "steady latency p99 (ms)"),
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="burst,steady", help="comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    samples: dict[str, dict[str, list[float]]] = {side: {} for side in SIDES}
    for _round in range(args.rounds):
        for scenario in args.scenarios.split(","):
            metrics = METRICS[scenario]
            for side, extra in SIDES.items():
                with running_server("charla", *extra) as (port, pid):
                    result = run_loadgen(scenario, port, pid, FULL_ARGS[scenario])
                if result.get("lost"):
                    print(f"warning: {side}/{scenario} lost {result['lost']}", file=sys.stderr)
                for key, label in metrics:
                    value = result.get(key)
                    if isinstance(value, int | float):
                        samples[side].setdefault(label, []).append(value)
    medians = {side: {k: statistics.median(v) for k, v in d.items()} for side, d in samples.items()}
    if args.json:
        print(json.dumps({"rounds": args.rounds, "medians": medians, "samples": samples}, indent=2))
        return 0
    print(f"{'metric':<28}{'history on':>14}{'history off':>14}{'on/off':>9}")
    for label in medians["history off"]:
        on, off = medians["history on"].get(label), medians["history off"][label]
        ratio = f"{on / off:.3f}" if on is not None and off else "-"
        print(f"{label:<28}{on if on is not None else '-':>14,.2f}{off:>14,.2f}{ratio:>9}")
    print(f"medians of {args.rounds} alternating rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
