"""Command line: ``python -m bench [--n N] [--scenarios a,b] [--smoke] [--soak M] [--out DIR]``."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from bench.chart import render
from bench.procs import REPO_ROOT, BenchError
from bench.report import command_line, machine, markdown, service_revision, write
from bench.runner import QUIET_CORES, Bench, Options, ScenarioResult, SoakResult
from bench.workload import SCENARIOS

DEFAULT_SOAK = 5000


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> tuple[Options, Path]:
    """Options from the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--n", type=int, default=500, help="responses per measured phase, per scenario")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {', '.join(SCENARIOS)}"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run for CI: checks the flow, not the speed"
    )
    parser.add_argument(
        "--soak",
        type=int,
        default=None,
        metavar="M",
        help=f"then verify M more and track RSS (default {DEFAULT_SOAK}; smoke: 2 x N; 0: no soak)",
    )
    parser.add_argument(
        "--sweep", default="1,2,4,8,16", help="closed-loop client counts tried for saturation"
    )
    parser.add_argument("--ttl", type=int, default=600, help="VERIFIER_TRANSACTION_TTL for the service")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each scenario, wait up to this long for other processes to go quiet (< 0.1 cores)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help="run a scenario again (up to this many times) when other load disturbed it; keep the quietest",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the open-loop arrival times")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    names = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        parser.error(f"unknown scenarios {unknown}; choose from {', '.join(SCENARIOS)}")
    sweep = [int(k) for k in args.sweep.split(",")]
    n, soak = args.n, args.soak
    if args.smoke:
        n, sweep = min(n, 20), [1, 4]
    if soak is None:
        soak = 2 * n if args.smoke else DEFAULT_SOAK
    if n < 10 or any(k < 1 for k in sweep):
        parser.error("--n must be at least 10 and client counts positive")
    options = Options(
        n=n,
        scenarios=[SCENARIOS[name] for name in names],
        sweep=sweep,
        sweep_n=max(10, 2 * n // 5),
        soak=soak,
        ttl=args.ttl,
        seed=args.seed,
        smoke=args.smoke,
        quiet_wait=args.quiet_wait,
        retries=args.retries,
    )
    return options, args.out


def main(argv: list[str] | None = None) -> int:
    """Run, write bench/results/<timestamp>.{json,md} (and latest.* unless smoke), print the report."""
    options, out = parse(argv)
    started = datetime.now(UTC)
    clock = time.monotonic()
    bench = Bench(options, _log)
    background = bench.background_load()
    if background > QUIET_CORES and not options.quiet_wait:
        _log(f"note: other processes keep {background:.2f} cores busy (--quiet-wait waits for them)")
    scenarios: list[ScenarioResult] = []
    soak: SoakResult | None = None
    try:
        for scenario in options.scenarios:
            result, attempts = bench.scenario(scenario), 1
            while result.other_load_cores > QUIET_CORES and attempts <= options.retries:
                _log(f"[{scenario.name}] disturbed ({result.other_load_cores:.2f} cores of others): again")
                result = min(result, bench.scenario(scenario), key=lambda r: r.other_load_cores)
                attempts += 1
            result.attempts = attempts
            scenarios.append(result)
        if options.soak:
            first = scenarios[0]
            clients = first.saturation.clients or 1
            soak = bench.soak(options.scenarios[0], options.soak, clients)
    except (BenchError, TimeoutError) as exc:
        _log(f"benchmark failed: {exc}\nservice output (last lines):\n{bench.service.log_tail()}")
        return 1
    finally:
        bench.close()
    data = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "duration_s": time.monotonic() - clock,
        "command": command_line(),
        "smoke": options.smoke,
        "background_load_cores": background,
        "revision": service_revision(),
        "machine": machine(bench.service_core, bench.driver_core),
        "options": {
            "n": options.n,
            "scenarios": [s.name for s in options.scenarios],
            "sweep": list(options.sweep),
            "sweep_n": options.sweep_n,
            "soak": options.soak,
            "ttl": options.ttl,
            "seed": options.seed,
            "quiet_wait": options.quiet_wait,
            "retries": options.retries,
        },
        "scenarios": [asdict(s) for s in scenarios],
        "soak": asdict(soak) if soak is not None else None,
    }
    text = markdown(data, scenarios, soak)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    paths = write(out, stamp, data, text)
    if not options.smoke:
        paths += write(out, "latest", data, text)
    # The latency chart beside each results file (bench/chart.py); the smoke run checks that it renders.
    paths += [render(data, path.with_suffix(".png")) for path in paths if path.suffix == ".json"]
    print(text)
    _log("wrote " + ", ".join(str(p) for p in paths))
    return 0
