"""``make bench``: every benchmark, one table, and (``--json [FILE]``) one JSON object.

Launch cost and latency, a 500-launch scale-out, wave scale, serving waves (healthy
fraction and makespan against the budget's ideal), import times and the cost model.

    .venv/bin/python -m benchmarks.run                      # the table
    .venv/bin/python -m benchmarks.run --json               # one JSON object on stdout
    .venv/bin/python -m benchmarks.run --json out/bench.json --sizes 100,1000

Figures state what they measured and how; targets are reported (met or not), never
enforced: a benchmark run does not fail on a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import cold_start, cost_model, launch, serving, wave_scale
from benchmarks.figures import Figure


def run(
    sizes: list[int],
    launches: int,
    scale: int,
    import_runs: int,
    *,
    overlap: bool,
    wave_timeout: float = wave_scale.DEFAULT_TIMEOUT_SECONDS,
) -> list[Figure]:
    # The largest wave runs for minutes in its own interpreter, on one core (the GIL): with a
    # second core it runs there while the rest is measured, so `make bench` prints every
    # figure, 10,000 instances included, in one sitting. --serial runs one thing at a time.
    largest = max(sizes) if sizes else None
    # Import times first, alone on the machine: a fresh interpreter's import is what a
    # second busy core disturbs most.
    import_figures = cold_start.measure(import_runs)
    background: Future[dict[str, Any]] | None = None
    pool = ThreadPoolExecutor(max_workers=1)
    if overlap and largest is not None and (os.cpu_count() or 1) >= 2:
        background = pool.submit(wave_scale.run_child, largest, wave_timeout)
    try:
        launch_figures = launch.measure(launches, scale)
        serving_figures = serving.measure()
        results = [
            wave_scale.run_child(size, wave_timeout)
            for size in sizes
            if background is None or size != largest
        ]
        if background is not None:
            results.append(background.result())
    finally:
        pool.shutdown(wait=True)
    figures = launch_figures + wave_scale.figures_from(results) + serving_figures + import_figures
    return figures + cost_model.model(figures)


def render(figures: list[Figure]) -> str:
    lines = []
    group = None
    for figure in figures:
        if figure.group != group:
            group = figure.group
            lines += ["", f"== {group} =="]
        verdict = "" if figure.met is None else ("  [met]" if figure.met else "  [NOT met]")
        target = f"  target {figure.target}" if figure.target else ""
        lines.append(f"  {figure.name:<62} {figure.value!s:>12} {figure.unit:<12}{target}{verdict}")
    return "\n".join(lines).lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fleetpatch benchmarks on the local cloud")
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="also write one JSON object of figures (to FILE, or stdout)",
    )
    parser.add_argument(
        "--sizes", default="100,1000,10000", help="wave batch sizes, comma-separated"
    )
    parser.add_argument(
        "--serial",
        action="store_true",
        help="measure one thing at a time (the largest wave does not share the machine)",
    )
    parser.add_argument(
        "--launches", type=int, default=20, help="launches, one at a time, for the latencies"
    )
    parser.add_argument(
        "--scale", type=int, default=500, help="launches within one minute in the scale-out"
    )
    parser.add_argument("--import-runs", type=int, default=7, help="fresh interpreters per import")
    parser.add_argument(
        "--wave-timeout",
        type=float,
        default=wave_scale.DEFAULT_TIMEOUT_SECONDS,
        help="seconds each wave's interpreter may take (a wave that does not end is a figure)",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    # Handlers that publish no metric warn on every invocation; here that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    began = time.monotonic()
    figures = run(
        sizes,
        args.launches,
        args.scale,
        args.import_runs,
        overlap=not args.serial,
        wave_timeout=args.wave_timeout,
    )
    elapsed = time.monotonic() - began
    result: dict[str, Any] = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
        "seconds": round(elapsed, 1),
        "largest_wave_alongside_the_rest": not args.serial and (os.cpu_count() or 1) >= 2,
        "figures": [f.as_dict() for f in figures],
    }
    if args.json == "-":
        print(json.dumps(result, indent=1))
    else:
        print(render(figures))
        print(f"\n{len(figures)} figures in {elapsed:.0f} s on {os.cpu_count()} CPUs")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
            print(f"JSON: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
