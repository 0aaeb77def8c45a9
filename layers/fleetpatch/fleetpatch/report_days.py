"""The daily index page: ``reports/YYYY/MM/DD/index.html`` lists the runs of that day.

Every run's publish adds its own line to the page of the day it started. Runs end and
publish concurrently (a scale-out launches hundreds, a wave's report ends while launches
report), so adding a line is a read-modify-write of one S3 object, and a plain PutObject
would let the last writer drop the lines written since it read. The write is conditional
instead (S3 conditional writes, 2024): the first line of a day creates the page only if it
does not exist (``If-None-Match: *``), every other line replaces the page only if it is
still the version read (``If-Match: <ETag>``). A writer that lost the race (412
PreconditionFailed; 409 ConditionalRequestConflict when S3 saw the two at once) reads the
page again and retries, with a growing, fully jittered wait, up to ``ATTEMPTS`` times.

Creating first (rather than reading first) needs no ``s3:ListBucket``: without it S3
answers a read of a missing page with AccessDenied, not NoSuchKey. ``If-Match`` needs
``s3:GetObject`` on the page besides ``s3:PutObject`` (template.yaml, publish-report's role).

The page is its own store: each row carries its entry as JSON in a ``data-entry``
attribute, so a writer rebuilds the page from the rows it read, with no second object to
keep in step. Adding a run already listed with the same figures writes nothing (a retried
publish). Pure rendering apart from :class:`DayIndex`; no scripts, everything escaped.
"""

from __future__ import annotations

import html
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from botocore.exceptions import ClientError

from fleetpatch.contracts.s3 import report_day_index_key
from fleetpatch.report_html import run_badge
from fleetpatch.reports import DigestReport, RunReport

GENERATOR = "fleetpatch day index v1"
ATTEMPTS = 10
"""Writes a publish tries before it gives up listing its run (then ``DayIndexError``)."""
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_CAP_SECONDS = 5.0
# What a lost race answers: the page changed since it was read (or appeared, or went).
_LOST = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409"}

Entry = dict[str, Any]


class DayIndexError(Exception):
    """The day's page could not be updated (a race lost ``ATTEMPTS`` times, or not ours)."""


def entry_of(report: RunReport | DigestReport, html_key: str) -> Entry:
    """A run's line on its day's page (what the page shows of it, and nothing that changes
    when the same run is published again)."""
    if isinstance(report, RunReport):
        instances, failed = len(report.instances()), len(report.failed_instances())
        tone = run_badge(report)
    else:
        instances, failed = len(report.entries), len(report.drifted)
        tone = "amber" if report.drifted else "green"
    return {
        "run_id": report.run_id,
        "page": html_key.rsplit("/", 1)[-1],
        "kind": report.kind,
        "title": report.title,
        "outcome": report.outcome,
        "tone": tone,
        "environment": report.environment or "",
        "started_at": report.started_at.astimezone(UTC).isoformat(),
        "ended_at": report.ended_at.astimezone(UTC).isoformat(),
        "instances": instances,
        "failed": failed,
    }


def merged(entries: Sequence[Entry], entry: Entry) -> list[Entry]:
    """``entries`` with ``entry`` in place of the same run's (or added), in start order."""
    kept = [e for e in entries if e.get("run_id") != entry["run_id"]]
    return sorted([*kept, entry], key=lambda e: (str(e.get("started_at")), str(e.get("run_id"))))


# --- the page --------------------------------------------------------------------------------

_STYLE = (
    "*{box-sizing:border-box}code{overflow-wrap:anywhere}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,"
    "'Liberation Sans',sans-serif;color:#1f2328}"
    ".page{max-width:1100px;margin:0 auto;padding:20px 24px 40px}"
    "h1{font-size:22px;margin:4px 0 12px}.muted{color:#59636e}"
    "table{border-collapse:collapse;width:100%}"
    "th,td{padding:5px 8px;border-bottom:1px solid #d1d9e0;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}th{background:#eef1f4;font-size:12px}"
    ".num{text-align:right;font-variant-numeric:tabular-nums}"
    ".badge{display:inline-block;font-size:12px;font-weight:700;padding:1px 9px;"
    "border-radius:999px;border:1px solid;white-space:nowrap}"
    ".badge-green{background:#dafbe1;color:#0f5323;border-color:#4ac26b}"
    ".badge-red{background:#ffebe9;color:#82071e;border-color:#ff8182}"
    ".badge-amber{background:#fff8c5;color:#6c4400;border-color:#d4a72c}"
    "@media (max-width:720px){.page{padding:12px}thead{display:none}"
    "table,tbody,tr,td{display:block;width:100%}"
    "tr{border:1px solid #d1d9e0;border-radius:8px;margin:0 0 10px;padding:4px 8px}"
    "td{border:0;padding:2px 0;display:grid;grid-template-columns:7.5em minmax(0,1fr);"
    "column-gap:8px}td>*{grid-column:2}.badge{justify-self:start}.num{text-align:left}"
    "td::before{content:attr(data-label);color:#59636e;font-size:11px;padding-top:2px;"
    "text-transform:uppercase}}"
)
_NUM = ' class="num"'
_COLUMNS = ("Started", "Run", "Kind", "Outcome", "Environment", "Instances", "Failed")


def render(day: datetime, entries: Sequence[Entry]) -> str:
    """The page of ``day`` (UTC) listing ``entries``, each row carrying its entry."""
    when = f"{day.astimezone(UTC):%Y-%m-%d}"
    head = "".join(f'<th scope="col">{c}</th>' for c in _COLUMNS)
    rows = "".join(_row(e) for e in entries)
    count = len(entries)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>fleetpatch runs of {when}</title><style>{_STYLE}</style></head><body>"
        f'<div class="page"><div class="muted">fleetpatch reports</div>'
        f"<h1>Runs started on {when} (UTC): {count}</h1>"
        f'<table class="runs"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
        '<p class="muted">Each run links to its report in this folder; times are UTC.</p>'
        "</div></body></html>\n"
    )


def _row(entry: Entry) -> str:
    data = html.escape(json.dumps(entry, sort_keys=True, separators=(",", ":")), quote=True)
    started = _e(str(entry.get("started_at", ""))[11:16])
    tone = entry.get("tone") if entry.get("tone") in ("green", "red", "amber") else "amber"
    cells = (
        ("Started", started),
        (
            "Run",
            f'<a href="{_e(quote(str(entry.get("page", ""))))}">{_e(entry.get("title", ""))}</a>'
            f'<div class="muted"><code>{_e(entry.get("run_id", ""))}</code></div>',
        ),
        ("Kind", _e(entry.get("kind", ""))),
        ("Outcome", f'<span class="badge badge-{tone}">{_e(entry.get("outcome", ""))}</span>'),
        ("Environment", _e(entry.get("environment") or "-")),
        ("Instances", _e(entry.get("instances", ""))),
        ("Failed", _e(entry.get("failed", ""))),
    )
    tds = "".join(
        f'<td data-label="{name}"{_NUM if name in ("Instances", "Failed") else ""}>{value}</td>'
        for name, value in cells
    )
    return f'<tr data-run="{_e(entry.get("run_id", ""))}" data-entry="{data}">{tds}</tr>'


_ENTRY = re.compile(r'data-entry="([^"]*)"')


def parse(page: str) -> list[Entry]:
    """The entries of a page :func:`render` wrote; DayIndexError for any other page."""
    if f'<meta name="generator" content="{GENERATOR}">' not in page:
        raise DayIndexError("the day's index page is not one fleetpatch wrote: left as it is")
    return [json.loads(html.unescape(found)) for found in _ENTRY.findall(page)]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


# --- the conditional update -------------------------------------------------------------------


class DayIndex:
    """Adds runs to their day's page in the artifacts bucket, race-free (conditional writes)."""

    def __init__(
        self,
        s3: Any,
        bucket: str,
        *,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._attempts = attempts
        self._sleep = sleep
        self._jitter = jitter

    def add(self, report: RunReport | DigestReport, html_key: str) -> int:
        """List ``report`` on its day's page; returns the writes it took (0: listed already)."""
        key = report_day_index_key(report.started_at)
        entry = entry_of(report, html_key)
        current: tuple[str, list[Entry]] | None = None  # create first: see the module
        for attempt in range(self._attempts):
            if current is None:
                body, condition = [entry], {"IfNoneMatch": "*"}
            else:
                etag, entries = current
                body = merged(entries, entry)
                if body == entries:
                    return 0
                condition = {"IfMatch": etag}
            try:
                self._s3.put_object(
                    Bucket=self._bucket,
                    Key=key,
                    Body=render(report.started_at, body).encode(),
                    ContentType="text/html; charset=utf-8",
                    **condition,
                )
                return attempt + 1
            except ClientError as exc:
                if not _lost(exc):
                    raise
            # Lost the race (or the page exists): read it again. Not the first time round:
            # a page that exists is read at once, a page that changed after a wait.
            if "IfMatch" in condition or attempt > 0:
                self._sleep(self._backoff(attempt))
            current = self._read(key)
        raise DayIndexError(
            f"{key}: run {report.run_id} not listed after {self._attempts} conditional writes "
            "(other runs kept changing the page)"
        )

    def _read(self, key: str) -> tuple[str, list[Entry]] | None:
        try:
            found = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None  # gone since (deleted by hand): create it again
            raise
        return str(found["ETag"]), parse(found["Body"].read().decode("utf-8"))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_FIRST_SECONDS * 2**attempt)
        return self._jitter(0, ceiling)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _lost(exc: ClientError) -> bool:
    status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    return _code(exc) in _LOST or status in ("409", "412")
