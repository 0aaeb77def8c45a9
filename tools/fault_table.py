"""Print the fault suite's observed figures as a markdown table (make faults, make soak).

Each test of tests/workflows/test_fault_suite.py that passed left one JSON file in the
directory given (``FLEETPATCH_FAULTS_OUT``); nothing here is computed but the layout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _cell(figures: dict[str, Any]) -> str:
    parts = []
    for name, value in figures.items():
        shown = (
            ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
            if isinstance(value, dict)
            else value
        )
        parts.append(f"{name}: {shown}")
    return "; ".join(parts)


def table(directory: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    rows.sort(key=lambda row: row["scenario"])
    lines = ["| scenario | what is injected | result (observed) |", "|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['injected']} | {_cell(r['figures'])} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    args = parser.parse_args()
    if not any(args.directory.glob("*.json")):
        print(f"no results in {args.directory}: did the suite run?", file=sys.stderr)
        return 1
    print(table(args.directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
