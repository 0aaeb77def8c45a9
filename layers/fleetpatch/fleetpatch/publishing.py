"""Publishing a report: store it (JSON and HTML), index it, announce it once on SNS.

Every run ends here, and so does the compliance digest. The order keeps operators
informed when part of it fails: a report that cannot be stored is still announced (the
e-mail says so and carries the text), an index that cannot be written does not stop the
announcement, and a retried publish does not announce a run twice (the index records the
SNS message id under a condition).

Reports are stored by the UTC day their run started (``reports/YYYY/MM/DD/<run>.json|.html``,
``fleetpatch.contracts.s3``), and each day has a page listing its runs
(``fleetpatch.report_days``, updated with conditional writes). A page that cannot be updated
is logged and reported (``dayIndexError``); the report and its announcement stand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetpatch import report_text
from fleetpatch.compliance import DigestCollector, digest_report
from fleetpatch.contracts.s3 import report_keys
from fleetpatch.report_days import DayIndex, DayIndexError
from fleetpatch.report_html import render_digest_html, render_run_html
from fleetpatch.report_index import ReportIndex
from fleetpatch.reports import DigestReport, RunReport

Report = RunReport | DigestReport


@dataclass(frozen=True)
class Published:
    run_id: str
    subject: str
    json_key: str | None
    html_key: str | None
    message_id: str | None
    duplicate: bool = False
    store_error: str | None = None
    index_error: str | None = None
    quiet: bool = False
    day_index_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "subject": self.subject,
            "report": self.json_key,
            "html": self.html_key,
            "messageId": self.message_id,
            "duplicate": self.duplicate,
            "storeError": self.store_error,
            "indexError": self.index_error,
            "quiet": self.quiet,
            "dayIndexError": self.day_index_error,
        }


class ReportPublisher:
    def __init__(
        self,
        *,
        s3: Any,
        sns: Any,
        dynamodb: Any,
        table: str,
        bucket: str,
        topic_arn: str,
        region: str,
        now: Callable[[], float],
        log: Callable[[str, dict[str, Any]], None] = lambda message, extra: None,
        mirror: Callable[[str, bytes, str], None] | None = None,
    ) -> None:
        self._s3 = s3
        # issue 22: each stored object also goes to the central bucket (fleetpatch.sharing).
        self._mirror = mirror
        self._sns = sns
        self._index = ReportIndex(dynamodb, table, now)
        self._days = DayIndex(s3, bucket)
        self._bucket = bucket
        self._topic_arn = topic_arn
        self._region = region
        self._log = log

    def publish(self, report: Report, *, announce: bool = True) -> Published:
        """Store, index and (unless ``announce`` is false: stored and indexed only) announce."""
        keys = report_keys(report.run_id, report.started_at)
        store_error = self._store(report, *keys)
        # A report that was not stored has no location to give.
        json_key, html_key = (None, None) if store_error is not None else keys
        day_index_error = self._list_on_day(report, html_key) if html_key else None
        subject_line = subject_of(report)
        index_error = None
        try:
            self._index.record(
                report,
                subject_line=subject_line,
                json_key=json_key,
                html_key=html_key,
                store_error=store_error,
            )
            already = self._index.published(report.run_id)
        except (ClientError, BotoCoreError) as exc:
            index_error = f"{type(exc).__name__}: {exc}"
            self._log("report not indexed", {"run": report.run_id, "error": index_error})
            already = None
        if already is not None:
            return Published(
                report.run_id,
                subject_line,
                json_key,
                html_key,
                already,
                duplicate=True,
                day_index_error=day_index_error,
            )
        if not announce:
            return Published(
                report.run_id,
                subject_line,
                json_key,
                html_key,
                None,
                store_error=store_error,
                index_error=index_error,
                quiet=True,
                day_index_error=day_index_error,
            )
        body = body_of(
            report,
            report_url=report_text.report_console_url(self._region, self._bucket, html_key),
            region=self._region,
        )
        if store_error is not None:
            body += f"\nThe report could not be stored: {store_error}\n"
        response = self._sns.publish(
            TopicArn=self._topic_arn,
            Subject=subject_line,
            Message=body,
            MessageAttributes=report_text.attributes(report, report_key=json_key),
        )
        message_id = str(response["MessageId"])
        if index_error is None:
            self._index.mark_published(report.run_id, message_id)
        return Published(
            report.run_id,
            subject_line,
            json_key,
            html_key,
            message_id,
            store_error=store_error,
            index_error=index_error,
            day_index_error=day_index_error,
        )

    def _list_on_day(self, report: Report, html_key: str) -> str | None:
        """Add the run to its day's page; why not, when it could not be."""
        try:
            self._days.add(report, html_key)
        except (ClientError, BotoCoreError, DayIndexError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._log("report not listed on its day's page", {"run": report.run_id, "error": error})
            return error
        return None

    def announced_until(self, run_id: str) -> datetime | None:
        """The end of the report a run was announced with (None: not announced yet)."""
        record = self._index.get(run_id)
        if record is None or not record.get("message_id"):
            return None
        return datetime.fromisoformat(record["ended_at"])

    def _store(self, report: Report, json_key: str, html_key: str) -> str | None:
        html = (
            render_run_html(report) if isinstance(report, RunReport) else render_digest_html(report)
        )
        objects = (
            (json_key, report.model_dump_json(indent=1).encode(), "application/json"),
            (html_key, html.encode(), "text/html; charset=utf-8"),
        )
        try:
            for key, body, content_type in objects:
                self._s3.put_object(
                    Bucket=self._bucket, Key=key, Body=body, ContentType=content_type
                )
        except (ClientError, BotoCoreError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            self._log("report not stored", {"run": report.run_id, "error": error})
            return error
        if self._mirror is not None:
            for key, body, content_type in objects:
                self._mirror(key, body, content_type)
        return None


# --- the compliance digest ---------------------------------------------------------------------


def send_digest(
    collector: DigestCollector,
    publisher: ReportPublisher,
    *,
    now: datetime,
    due: datetime | None,
    include_recoveries: bool,
    exceptions: Callable[[list[str]], Mapping[str, str]] | None = None,
    before_publish: Callable[[list[dict[str, Any]]], None] | None = None,
    after_publish: Callable[[DigestReport, Published], None] | None = None,
) -> dict[str, Any]:
    """Send the drift and recovery recorded since the last digest as one report, once.

    ``exceptions(instance_ids)``: the drifted instances excepted by fleetpatch:skip (id ->
    why), named on their entries (their drift is not remediated).
    ``before_publish`` gets the digest's entries first (Security Hub's findings): a failure
    there leaves the digest unsent and the entries in place for Lambda's retry.
    ``after_publish`` gets the published digest (issue 22: shared with the central account).

    A digest fired by its schedule is named after its due time, so a retried or repeated
    invocation of that schedule is the same digest. One that was announced already only
    removes what it carried (the entries written before it was cut), never entries
    written since, late events included: those belong to the next digest, which their
    marker has scheduled.
    """
    # A retry of the same schedule is the same digest (announced once).
    digest_id = f"digest-{due.astimezone(UTC):%Y%m%dT%H%M%SZ}" if due else None
    announced_until = publisher.announced_until(digest_id) if digest_id else None
    if digest_id and announced_until is not None:
        # Not released again: the marker now is a newer entry's, for the next digest.
        carried = collector.entries(until=announced_until, written_before=announced_until)
        collector.remove(carried)
        return {"runId": digest_id, "duplicate": True, "entries": len(carried)}
    collector.release()
    items = collector.entries(until=now)
    if before_publish is not None and items:
        before_publish(items)
    digest = digest_report(
        items, sent_at=now, digest_id=digest_id, include_recoveries=include_recoveries
    )
    if digest is None:
        collector.remove(items)
        return {"runId": None, "entries": len(items)}
    if exceptions is not None and digest.drifted:
        notes = exceptions([e.instance_id for e in digest.drifted])
        digest = digest.model_copy(
            update={
                "entries": [
                    e.model_copy(update={"exception": notes.get(e.instance_id)})
                    if e.transition == "drifted"
                    else e
                    for e in digest.entries
                ]
            }
        )
    published = publisher.publish(digest)
    if after_publish is not None:  # issue 22: shared with the central account
        after_publish(digest, published)
    collector.remove(items)
    return {**published.as_dict(), "entries": len(items)}


# --- the message, for either kind of report ---------------------------------------------------


def subject_of(report: Report) -> str:
    if isinstance(report, RunReport):
        return report_text.subject(report)
    drifted, recovered = len(report.drifted), len(report.recovered)
    parts = []
    if drifted:
        parts.append(f"{drifted} instance{'s' if drifted != 1 else ''} drifted")
    if recovered:
        parts.append(f"{recovered} recovered")
    where = f" ({report.environment})" if report.environment else ""
    return report_text.clip(
        f"compliance digest: {', '.join(parts) or 'no change'}{where}", report_text.SUBJECT_LIMIT
    )


def body_of(report: Report, *, report_url: str | None, region: str) -> str:
    if isinstance(report, RunReport):
        return report_text.email_body(
            report,
            report_url=report_url,
            console_url=report_text.console_url(region, report.execution_arn),
        )
    lines = [
        subject_of(report),
        "",
        f"Changes of Patch compliance from {report.started_at.astimezone(UTC):%Y-%m-%d %H:%M} "
        f"to {report.ended_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC.",
    ]
    for title, entries in (("Drifted", report.drifted), ("Recovered", report.recovered)):
        if not entries:
            continue
        lines += ["", f"{title} ({len(entries)}):"]
        for entry in entries[: report_text.LISTED_INSTANCES]:
            where = "/".join(x for x in (entry.environment, entry.patch_group) if x) or "-"
            detail = f" severity {entry.severity}" if entry.severity else ""
            flaps = f", {entry.changes} changes" if entry.changes > 1 else ""
            lines.append(
                f"  {entry.instance_id:<20} {where}{detail} "
                f"since {entry.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC{flaps}"
            )
            if entry.exception:
                lines.append(f"    {entry.exception}: drift recorded, not remediated")
        if len(entries) > report_text.LISTED_INSTANCES:
            lines.append(
                f"  ... and {len(entries) - report_text.LISTED_INSTANCES} more in the report"
            )
    lines.append("")
    if report_url:
        lines.append(f"Report: {report_url}")
    return "\n".join(lines).rstrip() + "\n"


def load_report(document: bytes | str) -> Report:
    """A stored report (JSON), as its model."""
    data = json.loads(document)
    if data.get("kind") == "compliance-digest":
        return DigestReport.model_validate(data)
    return RunReport.model_validate(data)
