"""Side-by-side benchmark of Charla (servidor.py) and ngIRCd.

Role: for each scenario (steady, burst, idle) starts a fresh ngIRCd, runs loadgen.py
against it, stops it, then does the same with a fresh Charla, and finally prints a table
with both results and the charla/ngircd ratio. ``--only`` runs a single side, ``--quick``
uses small numbers for smoke tests, ``--json`` prints everything machine-readable.
``--moderated`` runs every Charla with ``moderator.py`` in ``#bench`` (slow mode and a
quiet list active, every load-generator client given voice). ``--before DIR`` also runs
the Charla of another checkout (say, ``git worktree add
../old HEAD~5``) in the same turns, and adds its column and the charla/before ratio: a
change's figures before and after, measured side by side in one run.

Threading: no threads of its own. Servers are child processes started by
``servers.running_server`` (the tests' launchers); each load-generator run is a child process
(``loadgen.py --json``) with a hard timeout, so state never leaks between runs. Every
socket involved connects to 127.0.0.1 only.

ngIRCd runs with ``MaxPenaltyTime = 0`` (flood penalties off) to match Charla's
``--no-flood-control``; ``--ngircd-penalties`` keeps ngIRCd's default throttling.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from servers import BEFORE, SIDES, running_server

LOG = logging.getLogger("server_bench")

BENCH_DIR = Path(__file__).resolve().parent
LOADGEN = BENCH_DIR / "loadgen.py"
MODERATOR = BENCH_DIR / "moderator.py"
MODERATOR_READY_TIMEOUT = 10.0
SCENARIOS = ("steady", "burst", "idle")
LOADGEN_TIMEOUT = 900.0  # hard cap per loadgen process, far above its own deadlines

FULL_ARGS: dict[str, list[str]] = {
    "steady": ["--clients", "200", "--senders", "20", "--rate", "20", "--duration", "10"],
    "burst": ["--clients", "50", "--senders", "5", "--messages", "2000"],
    "idle": ["--clients", "2000", "--wave", "500"],
}
QUICK_ARGS: dict[str, list[str]] = {
    "steady": ["--clients", "20", "--senders", "4", "--rate", "10", "--duration", "2"],
    "burst": ["--clients", "10", "--senders", "2", "--messages", "200", "--timeout", "20"],
    "idle": ["--clients", "200", "--wave", "100", "--hold", "0.5", "--wave-timeout", "15"],
}

# (scenario, result key, label, lower_is_better)
METRICS: list[tuple[str, str, str, bool | None]] = [
    ("steady", "latency_p50_ms", "steady latency p50 (ms)", True),
    ("steady", "latency_p99_ms", "steady latency p99 (ms)", True),
    ("steady", "latency_max_ms", "steady latency max (ms)", True),
    ("steady", "lost", "steady lost", True),
    ("steady", "duplicated", "steady duplicated", True),
    ("steady", "reordered", "steady reordered", True),
    ("steady", "deliveries_per_s", "steady deliveries/s", False),
    ("steady", "server_cpu_s", "steady server CPU (s)", True),
    ("burst", "deliveries_per_s", "burst deliveries/s", False),
    ("burst", "cpu_us_per_delivery", "burst CPU us/delivery", True),
    ("burst", "lost", "burst lost", True),
    ("burst", "duplicated", "burst duplicated", True),
    ("burst", "span_s", "burst first send->last delivery (s)", True),
    ("idle", "registered", "idle registered", False),
    ("idle", "failed", "idle failed", True),
    ("idle", "time_to_register_all_s", "idle time to register all (s)", True),
    ("idle", "server_rss_mib", "idle server RSS (MiB)", True),
    ("idle", "server_kib_per_client", "idle server KiB/client", True),
]


def run_loadgen(
    scenario: str, port: int, pid: int, args: list[str], transport: str = "tcp"
) -> dict[str, Any]:
    """Run one ``loadgen.py --json`` child process against 127.0.0.1:port and parse it."""
    argv = [sys.executable, str(LOADGEN), "--port", str(port), "--server-pid", str(pid)]
    argv += ["--json", "--transport", transport, scenario, *args]
    LOG.debug("running %s", " ".join(argv))
    proc = subprocess.run(
        argv, stdout=subprocess.PIPE, text=True, timeout=LOADGEN_TIMEOUT, check=False
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"scenario": scenario, "error": f"loadgen exited {proc.returncode}, no JSON"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


@contextlib.contextmanager
def moderating(port: int) -> Iterator[None]:
    """``moderator.py`` in #bench for the duration (see its docstring), stopped after."""
    proc = subprocess.Popen(
        [sys.executable, str(MODERATOR), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], MODERATOR_READY_TIMEOUT)
        if not ready or proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the moderator did not get ready")
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def run_one(
    side: str,
    scenario: str,
    args: list[str],
    *,
    ngircd_penalties: bool,
    before: Path | None = None,
    moderated: bool = False,
) -> dict[str, Any]:
    """Fresh server, one scenario, server stopped again; errors become {"error": ...}."""
    started = time.monotonic()
    try:
        with running_server(side, penalties=ngircd_penalties, before=before) as (port, pid):
            if moderated and side != "ngircd":
                with moderating(port):
                    result = run_loadgen(scenario, port, pid, args)
            else:
                result = run_loadgen(scenario, port, pid, args)
    except (AssertionError, OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        LOG.error("%s/%s failed: %s", side, scenario, exc)
        result = {"scenario": scenario, "error": str(exc).splitlines()[0]}
    result["side"] = side
    result["bench_wall_s"] = round(time.monotonic() - started, 2)
    return result


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def ratio(charla: Any, ngircd: Any) -> str:
    c, n = _number(charla), _number(ngircd)
    if c is None or n is None:
        return "-"
    if n == 0:
        return "=" if c == 0 else "inf"
    return f"{c / n:.2f}"


def _cell(result: dict[str, Any] | None, key: str) -> str:
    if result is None:
        return "(not run)"
    if "error" in result:
        return "error"
    value = result.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def build_table(runs: dict[str, dict[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for scenario, key, label, lower_better in METRICS:
        if scenario not in runs:
            continue
        ng = runs[scenario].get("ngircd")
        ch = runs[scenario].get("charla")
        old = runs[scenario].get(BEFORE)
        row = {
            "metric": label,
            "scenario": scenario,
            "key": key,
            "ngircd": None if ng is None else ng.get(key),
            "charla": None if ch is None else ch.get(key),
            "ngircd_cell": _cell(ng, key),
            "charla_cell": _cell(ch, key),
            "ratio": ratio(
                None if ch is None else ch.get(key), None if ng is None else ng.get(key)
            ),
            "lower_is_better": lower_better,
        }
        if old is not None:
            row[BEFORE] = old.get(key)
            row["before_cell"] = _cell(old, key)
            row["ratio_before"] = ratio(row["charla"], row[BEFORE])
        rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    with_before = any("before_cell" in r for r in rows)
    if with_before:
        header = ("metric", "ngircd", "before", "charla", "charla/ngircd", "charla/before")
        body = [
            (
                r["metric"],
                r["ngircd_cell"],
                r.get("before_cell", "(not run)"),
                r["charla_cell"],
                r["ratio"],
                r.get("ratio_before", "-"),
            )
            for r in rows
        ]
    else:
        header = ("metric", "ngircd", "charla", "charla/ngircd")
        body = [(r["metric"], r["ngircd_cell"], r["charla_cell"], r["ratio"]) for r in rows]
    widths = [max(len(str(x[i])) for x in [header, *body]) for i in range(len(header))]
    # Left-align the label column, right-align the numbers.
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    lines += [fmt.format(*row) for row in body]
    return "\n".join(lines)


def notes(runs: dict[str, dict[str, dict[str, Any]]]) -> Iterator[str]:
    """Failures, drops and load-generator saturation worth reading next to the table."""
    for scenario, sides in runs.items():
        for side, result in sides.items():
            tag = f"{side}/{scenario}"
            if "error" in result:
                yield f"{tag}: ERROR {result['error']}"
                continue
            if result.get("failures"):
                yield f"{tag}: failures {json.dumps(result['failures'])} e.g. " + json.dumps(
                    result.get("failure_examples", {})
                )
            if result.get("dropped"):
                yield f"{tag}: dropped {result['dropped']} {json.dumps(result['drop_reasons'])}"
            if result.get("self_echo"):
                yield f"{tag}: {result['self_echo']} messages echoed back to their sender"
            if result.get("finished_in_time") is False:
                yield f"{tag}: not all deliveries arrived before the deadline"
            busy = result.get("loadgen_cpu_pct_max_worker")
            if isinstance(busy, int | float) and busy > 90:
                yield f"{tag}: a load-generator process ran at {busy:.0f}% CPU (may limit)"
            overflows = (result.get("kernel_tcp") or {}).get("ListenOverflows")
            if overflows:
                yield f"{tag}: kernel ListenOverflows +{overflows} (accept queue full)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Charla vs ngIRCd side-by-side benchmark.")
    parser.add_argument("--only", choices=SIDES, help="run one server only")
    parser.add_argument("--quick", action="store_true", help="small numbers (smoke test)")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of steady,burst,idle",
    )
    parser.add_argument(
        "--ngircd-penalties",
        action="store_true",
        help="keep ngIRCd's flood penalties (default: MaxPenaltyTime = 0)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also run DIR/servidor.py (another checkout) in the same turns, for a before/after",
    )
    parser.add_argument(
        "--moderated",
        action="store_true",
        help="Charla with slow mode and a quiet list active in #bench (bench/moderator.py)",
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    sides = [args.only] if args.only else list(SIDES)
    if args.before is not None:
        if not (args.before / "servidor.py").is_file():
            parser.error(f"--before {args.before}: no servidor.py there")
        sides.insert(sides.index("charla") if "charla" in sides else len(sides), BEFORE)
    table_args = QUICK_ARGS if args.quick else FULL_ARGS

    runs: dict[str, dict[str, dict[str, Any]]] = {}
    started = time.monotonic()
    for scenario in scenarios:
        runs[scenario] = {}
        for side in sides:  # alternate: ngircd, (before,) charla for each scenario
            LOG.info("=== %s on %s ===", scenario, side)
            runs[scenario][side] = run_one(
                side,
                scenario,
                table_args[scenario],
                ngircd_penalties=args.ngircd_penalties,
                before=args.before,
                moderated=args.moderated,
            )
    rows = build_table(runs)
    config = {
        "quick": args.quick,
        "sides": sides,
        "scenarios": scenarios,
        "ngircd_penalties": args.ngircd_penalties,
        "moderated": args.moderated,
        "loadgen_args": {s: table_args[s] for s in scenarios},
        "total_wall_s": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps({"config": config, "table": rows, "runs": runs}, sort_keys=True))
    else:
        print(format_table(rows))
        extra = list(notes(runs))
        if extra:
            print("\nnotes:")
            print("\n".join(f"  - {line}" for line in extra))
        print(
            f"\ntotal {config['total_wall_s']}s; loadgen args {json.dumps(config['loadgen_args'])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
