"""IRC over WebSocket versus plain TCP on one Charla server, side by side (issue 16).

Role: starts one ``servidor.py`` (the benchmark launcher's settings, ``servers.py``) and,
for ``--rounds`` rounds, runs the load generator's ``steady`` scenario (200 clients in
``#bench``, 20 senders at 20 messages/s for 10 s) and ``burst`` scenario (50 clients, 5
senders x 2,000 messages as fast as they go) against it once with ``--transport tcp`` and
once with ``--transport ws`` (IRC over WebSocket, ``text.ircv3.net``, every client frame
masked with a random mask), alternating which goes first from round to round so both see
the same machine noise. It prints, per metric, the TCP and WebSocket medians with their
ranges, and the WS/TCP ratio (median and range of the per-round ratios), then whether
the issue's target holds: steady p99 within 1.5x of TCP and nothing lost.

The load generator's own CPU per delivery is printed for both transports so that the
client side's cost (framing, masking, parsing) is seen, not mistaken for the server's.

Run from the repository root: ``python bench/web_bench.py`` (about 3 minutes for 3
rounds), ``--rounds 5``, ``--scenarios steady``, ``--quick`` (small numbers, about 20 s),
``--json``.

Threading: none; the server and every load-generator run are child processes with
deadlines; everything talks to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from typing import Any

from server_bench import FULL_ARGS, QUICK_ARGS, run_loadgen
from servers import running_server

TRANSPORTS = ("tcp", "ws")
#: the issue's target for the WebSocket side: p99 at most this multiple of TCP's
P99_TARGET_RATIO = 1.5
#: (scenario, result key, label)
METRICS: list[tuple[str, str, str]] = [
    ("steady", "latency_p50_ms", "steady latency p50 (ms)"),
    ("steady", "latency_p99_ms", "steady latency p99 (ms)"),
    ("steady", "latency_max_ms", "steady latency max (ms)"),
    ("steady", "lost", "steady lost"),
    ("steady", "duplicated", "steady duplicated"),
    ("steady", "reordered", "steady reordered"),
    ("steady", "server_cpu_s", "steady server CPU (s)"),
    ("steady", "loadgen_cpu_us_per_delivery", "steady loadgen CPU us/delivery"),
    ("burst", "deliveries_per_s", "burst deliveries/s"),
    ("burst", "cpu_us_per_delivery", "burst server CPU us/delivery"),
    ("burst", "lost", "burst lost"),
    ("burst", "loadgen_cpu_us_per_delivery", "burst loadgen CPU us/delivery"),
    ("burst", "loadgen_cpu_pct_max_worker", "burst loadgen busiest worker %"),
]


def _num(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _span(values: list[float]) -> str:
    if not values:
        return "-"
    med = _num(statistics.median(values))
    if len(values) == 1:
        return med
    return f"{med} [{_num(min(values))}-{_num(max(values))}]"


def summarize(samples: dict[str, dict[str, list[float]]], rounds: int) -> dict[str, Any]:
    """Medians, ranges and per-round WS/TCP ratios of every metric that was measured."""
    out: dict[str, Any] = {}
    for _scenario, _key, label in METRICS:
        tcp, ws = samples["tcp"].get(label, []), samples["ws"].get(label, [])
        if not tcp and not ws:
            continue
        ratios = [w / t for t, w in zip(tcp, ws, strict=False) if t]
        out[label] = {
            "tcp": tcp,
            "ws": ws,
            "tcp_median": statistics.median(tcp) if tcp else None,
            "ws_median": statistics.median(ws) if ws else None,
            "ratios": ratios,
            "ratio_median": statistics.median(ratios) if ratios else None,
        }
    return {"rounds": rounds, "metrics": out}


def verdict(summary: dict[str, Any]) -> list[str]:
    """The issue's target, checked on the medians: p99 within 1.5x, nothing lost."""
    metrics = summary["metrics"]
    lines = []
    p99 = metrics.get("steady latency p99 (ms)")
    if p99 and p99["ratio_median"] is not None:
        ok = p99["ratio_median"] <= P99_TARGET_RATIO
        lines.append(
            f"target p99 WS/TCP <= {P99_TARGET_RATIO}: median {p99['ratio_median']:.2f} "
            f"({'met' if ok else 'NOT met'}; rounds {min(p99['ratios']):.2f}-"
            f"{max(p99['ratios']):.2f})"
        )
    for label in ("steady lost", "burst lost"):
        lost = metrics.get(label)
        if lost:
            total = sum(lost["ws"]) + sum(lost["tcp"])
            lines.append(
                f"target no loss ({label}): ws {sum(lost['ws']):g}, tcp {sum(lost['tcp']):g} "
                f"over all rounds ({'met' if not total else 'NOT met'})"
            )
    return lines


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"{'metric':<33}{'tcp median [range]':>30}{'ws median [range]':>30}  ws/tcp"]
    for label, m in summary["metrics"].items():
        ratio = "-"
        if m["ratio_median"] is not None:
            ratio = f"{m['ratio_median']:.2f}"
            if len(m["ratios"]) > 1:
                ratio += f" [{min(m['ratios']):.2f}-{max(m['ratios']):.2f}]"
        lines.append(f"{label:<33}{_span(m['tcp']):>30}{_span(m['ws']):>30}  {ratio}")
    lines.append(f"medians of {summary['rounds']} rounds, tcp and ws alternating on one server")
    lines += verdict(summary)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scenarios", default="steady,burst", help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="small numbers (smoke test)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in scenarios if s not in ("steady", "burst")]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (steady, burst)")
    table_args = QUICK_ARGS if args.quick else FULL_ARGS
    samples: dict[str, dict[str, list[float]]] = {t: {} for t in TRANSPORTS}
    problems: list[str] = []
    with running_server("charla") as (port, pid):
        for round_no in range(args.rounds):
            order = TRANSPORTS if round_no % 2 == 0 else TRANSPORTS[::-1]
            for scenario in scenarios:
                for transport in order:
                    result = run_loadgen(scenario, port, pid, table_args[scenario], transport)
                    if result.get("error") or result.get("failed") or result.get("dropped"):
                        problems.append(
                            f"round {round_no + 1} {transport}/{scenario}: "
                            f"error={result.get('error')} failed={result.get('failed')} "
                            f"dropped={result.get('dropped')} {result.get('failure_examples')}"
                        )
                    for metric_scenario, key, label in METRICS:
                        value = result.get(key)
                        if metric_scenario == scenario and isinstance(value, int | float):
                            samples[transport].setdefault(label, []).append(value)
                    print(
                        f"round {round_no + 1} {transport:>3} {scenario:<6} "
                        f"p99 {result.get('latency_p99_ms')} ms, "
                        f"{result.get('deliveries_per_s')} deliveries/s, "
                        f"lost {result.get('lost')}",
                        file=sys.stderr,
                    )
    summary = summarize(samples, args.rounds)
    summary["problems"] = problems
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(format_summary(summary))
        for problem in problems:
            print("note:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
