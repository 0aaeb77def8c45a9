"""README's performance table, from one ``make bench`` JSON: ``python -m benchmarks.readme_table``.

    .venv/bin/python -m benchmarks.readme_table out/bench.json            # rewrite README.md
    .venv/bin/python -m benchmarks.readme_table out/bench.json --print    # only print it

Every figure that carries a target, then the scale figures, as measured by that one run; the
table says when, where and how long the run took. Nothing is typed by hand: regenerate it
from a new run instead of editing it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- bench-table:start (benchmarks/readme_table.py writes this part) -->"
END = "<!-- bench-table:end -->"


def _value(figure: dict[str, Any]) -> str:
    value = figure["value"]
    if isinstance(value, float):
        value = f"{value:,.2f}".rstrip("0").rstrip(".")
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"{value} {figure['unit']}".strip()


def _verdict(figure: dict[str, Any]) -> str:
    if figure.get("met") is None:
        return ""
    return "met" if figure["met"] else "**not met**"


def table(bench: dict[str, Any]) -> str:
    figures = bench["figures"]
    chosen = [f for f in figures if f.get("target")]
    lines = [
        f"Measured by one `make bench` run at {bench['measured_at']} "
        f"({bench['machine']['cpus']} CPUs, Python {bench['machine']['python']}; "
        f"the run took {bench['seconds']:.0f} s). Simulated time unless a figure says "
        "otherwise; how each was measured is in the run's JSON and docs/performance.md.",
        "",
        "| group | figure | measured | target | |",
        "|---|---|---|---|---|",
    ]
    for figure in chosen:
        lines.append(
            f"| {figure['group']} | {figure['name']} | {_value(figure)} | "
            f"{figure['target']} | {_verdict(figure)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench_json", type=Path)
    parser.add_argument("--print", action="store_true", help="print the table, change nothing")
    parser.add_argument("--readme", type=Path, default=README, help="the file to rewrite")
    args = parser.parse_args(argv)
    rendered = table(json.loads(args.bench_json.read_text()))
    if args.print:
        print(rendered)
        return 0
    text = args.readme.read_text()
    if START not in text or END not in text:
        print(f"readme_table: {args.readme} has no {START} ... {END} section", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    args.readme.write_text(f"{head}{START}\n{rendered}\n{END}{tail}")
    print(f"{args.readme}: {len(rendered.splitlines()) - 4} figures from {args.bench_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
