"""The reports a played scenario stored, copied out of the local bucket for a browser."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from fleetpatch.contracts.s3 import REPORTS_PREFIX
from localcloud.cloud import LocalCloud


def save_reports(
    cloud: LocalCloud, bucket: str, directory: Path | None, scenario: str
) -> list[str]:
    """Copy the stored reports out of the local bucket into a folder of this run's own.

    ``directory/<scenario>-<real time>/``, with ``index.html`` listing every report (kind,
    title, outcome, simulated start), so repeated runs never mix their reports.
    """
    if directory is None:
        return []
    s3 = cloud.client("s3")
    run_dir = directory / f"{scenario}-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    run_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=REPORTS_PREFIX):
        for item in page.get("Contents", []):
            target = run_dir / Path(item["Key"]).name
            target.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            saved.append(str(target))
    index = run_dir / "index.html"
    index.write_text(_report_index(scenario, run_dir), encoding="utf-8")
    return [*sorted(saved), str(index)]


def _report_index(scenario: str, run_dir: Path) -> str:
    """A page linking every report of the run, in the order the runs started."""
    rows = []
    for path in run_dir.glob("*.json"):
        report = json.loads(path.read_text(encoding="utf-8"))
        rows.append(
            (
                str(report.get("started_at") or ""),
                path.with_suffix(".html").name,
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
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(scenario)}: reports</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:1rem}table{border-collapse:collapse}"
        "td,th{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:left}</style>"
        f"</head><body><h1>{escape(scenario)}: {len(rows)} report(s)</h1>"
        "<table><tr><th>started (simulated)</th><th>kind</th><th>report</th><th>outcome</th></tr>"
        f"{body}</table></body></html>\n"
    )
