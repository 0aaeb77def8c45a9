"""The reports a played scenario stored, copied out of the local bucket for a browser."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from fleetpatch.contracts.s3 import DAY_INDEX_NAME, REPORTS_PREFIX

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud


def save_reports(
    cloud: LocalCloud, bucket: str, directory: Path | None, scenario: str
) -> list[str]:
    """Copy the stored reports out of the local bucket into a folder of this run's own.

    ``directory/<scenario>-<real time>/`` keeps the bucket's layout under ``reports/``
    (``YYYY/MM/DD/<run>.html|.json`` and each day's ``index.html``, as the control plane
    files them by the simulated day each run started), and ``index.html`` at its top lists
    every report (kind, title, outcome, simulated start) and every day, so repeated runs
    never mix their reports. The top page is the last path returned.
    """
    if directory is None:
        return []
    s3 = cloud.client("s3")
    run_dir = directory / f"{scenario}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REPORTS_PREFIX):
        for item in page.get("Contents", []):
            relative = PurePosixPath(item["Key"].removeprefix(REPORTS_PREFIX))
            target = run_dir.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            saved.append(str(target))
    index = run_dir / "index.html"
    index.write_text(_report_index(scenario, run_dir), encoding="utf-8")
    return [*sorted(saved), str(index)]


def run_index(paths: Sequence[str]) -> str | None:
    """The page that lists a saved run's reports (``save_reports`` returns it last)."""
    pages = [p for p in paths if Path(p).name == DAY_INDEX_NAME]
    return min(pages, key=lambda p: len(Path(p).parts)) if pages else None


def report_pages(paths: Sequence[str]) -> list[str]:
    """The saved reports' own pages (not the run's index, not the days' pages)."""
    return [p for p in paths if p.endswith(".html") and Path(p).name != DAY_INDEX_NAME]


def _report_index(scenario: str, run_dir: Path) -> str:
    """A page linking every report of the run, in the order the runs started, and each day."""
    rows = []
    for path in run_dir.rglob("*.json"):
        report = json.loads(path.read_text(encoding="utf-8"))
        rows.append(
            (
                str(report.get("started_at") or ""),
                path.with_suffix(".html").relative_to(run_dir).as_posix(),
                str(report.get("kind") or ""),
                str(report.get("title") or report.get("run_id") or path.stem),
                str(report.get("outcome") or ""),
            )
        )
    body = "\n".join(
        f"<tr><td>{escape(started)}</td><td>{escape(kind)}</td>"
        f'<td><a href="{escape(page)}">{escape(title)}</a></td><td>{escape(outcome)}</td></tr>'
        for started, page, kind, title, outcome in sorted(rows)
    )
    days = sorted(
        p.relative_to(run_dir).as_posix()
        for p in run_dir.rglob(DAY_INDEX_NAME)
        if p.parent != run_dir
    )
    day_links = " · ".join(
        f'<a href="{escape(d)}">{escape(d.removesuffix("/" + DAY_INDEX_NAME))}</a>' for d in days
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(scenario)}: reports</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1rem}table{border-collapse:collapse}"
        "td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}</style>"
        f"</head><body><h1>{escape(scenario)}: {len(rows)} report(s)</h1>"
        f"<p>By day (simulated, UTC): {day_links or '-'}</p>"
        "<table><tr><th>started (simulated)</th><th>kind</th><th>report</th><th>outcome</th></tr>"
        f"{body}</table></body></html>\n"
    )
