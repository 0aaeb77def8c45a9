"""What every benchmark returns: figures that say what they measured and how.

Each benchmark module has ``measure(runs: int) -> list[Figure]``; ``benchmarks/run.py``
runs them all, prints one table and, with ``--json``, one JSON object. A figure may carry
the issue's target; the benchmark reports whether it is met and never fails on it.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Figure:
    group: str
    name: str
    value: float | int | str
    unit: str
    how: str = field(default="", metadata={"doc": "what was measured and how (runs, median)"})
    target: str | None = None
    met: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank), for at least one value."""
    ordered = sorted(values)
    rank = max(1, round(0.95 * len(ordered) + 0.5)) - 1
    return float(ordered[min(rank, len(ordered) - 1)])
