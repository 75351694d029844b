"""A PNG chart of the latency distribution of a benchmark run.

    .venv/bin/python -m bench.chart [RESULTS.json] [-o CHART.png]

Defaults: ``bench/results/latest.json``, and the chart beside it (``latest.png``). ``python -m bench``
renders one for every run it writes. Three panels, one line per scenario: the wallet's POST latency in
the open loops at 50 % and at 80 % of the saturation rate, and POST → webhook at 80 % (what the backend
waits for). The x axis is the percentile on a log scale of 1 / (1 - q), so that the tail (p99, p99.9),
where queueing shows, gets as much room as the median; the dashed line is issue #7's p99 target at 80 %.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bench.procs import REPO_ROOT

P99_TARGET_MS = 50.0
_PANELS = (
    ("open 50%", "post_distribution_ms", "wallet POST, open loop at 50 % of saturation"),
    ("open 80%", "post_distribution_ms", "wallet POST, open loop at 80 % of saturation"),
    ("open 80%", "e2e_distribution_ms", "POST → webhook at the sink, 80 % of saturation"),
)
_TICKS = ((0.0, "p0"), (0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9"))
_MS_TICKS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000)


def _x(quantile: float) -> float:
    return 1.0 / (1.0 - quantile)


def _points(phase: dict[str, Any], key: str) -> tuple[list[float], list[float]]:
    """The phase's distribution without its maximum (q = 1 has no place on a 1 / (1 - q) axis)."""
    pairs = [(q, ms) for q, ms in phase.get(key) or [] if q < 1.0]
    return [_x(q) for q, _ in pairs], [max(ms, 1e-3) for _, ms in pairs]


def render(data: dict[str, Any], path: Path) -> Path:
    """Draw the chart of one run's results (the JSON ``python -m bench`` writes) into ``path``."""
    scenarios: Sequence[dict[str, Any]] = data["scenarios"]
    if not scenarios or "post_distribution_ms" not in scenarios[0]["open_loop"]["50%"]:
        raise ValueError("these results hold no latency distribution (written before bench/chart.py)")
    # A bare Figure (no pyplot): rendered straight to PNG by Agg, no display or GUI toolkit involved.
    figure = Figure(figsize=(16, 5.5), layout="constrained")
    axes = figure.subplots(1, len(_PANELS), sharey=True)
    plotted: list[float] = [P99_TARGET_MS]
    for ax, (phase_name, key, title) in zip(axes, _PANELS, strict=True):
        for scenario in scenarios:
            phase = scenario["open_loop"][phase_name.split()[1]]
            xs, ys = _points(phase, key)
            plotted += ys
            rate = phase["target_rate"] or 0.0
            ax.plot(xs, ys, marker=".", label=f"{scenario['scenario']} ({rate:.0f}/s)")
        if key == "post_distribution_ms" and phase_name.endswith("80%"):
            ax.axhline(P99_TARGET_MS, linestyle="--", color="grey", linewidth=1)
            ax.axvline(_x(0.99), linestyle=":", color="grey", linewidth=1)
            ax.annotate("p99 target", (_x(0.99), P99_TARGET_MS), textcoords="offset points", xytext=(4, 4))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks([_x(q) for q, _ in _TICKS], [label for _, label in _TICKS])
        ax.minorticks_off()
        ax.set_xlim(1, _x(0.999) * 1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("percentile")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    low, high = min(plotted), max(plotted)
    ticks = [tick for tick in _MS_TICKS if low / 2 <= tick <= high * 2]
    axes[0].set_yticks(ticks, [f"{tick:g}" for tick in ticks])
    axes[0].set_ylim(low / 1.2, high * 1.2)
    axes[0].set_ylabel("latency, ms (log scale)")
    machine = data.get("machine", {})
    figure.suptitle(
        f"Verifier latency distribution: {data.get('started', '?')}, code {data.get('revision', '?')}, "
        f"{machine.get('cpu_model', '?')} ({machine.get('cores', '?')} cores), "
        f"{data['options']['n']} responses per phase",
        fontsize=11,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chart", description=__doc__)
    default = REPO_ROOT / "bench" / "results" / "latest.json"
    parser.add_argument("results", type=Path, nargs="?", default=default, help="a results JSON file")
    parser.add_argument("-o", "--out", type=Path, default=None, help="the PNG (default: beside the JSON)")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text())
    out = args.out or args.results.with_suffix(".png")
    try:
        print(render(data, out))
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
