"""The monthly audit export: last month's evidence written to the artifacts bucket, once.

Invoked on the 1st of each month by the stack's EventBridge Scheduler schedule
(template.yaml ``MonthlyExportSchedule``). It exports the calendar month (UTC) before the
schedule's time: the rows :func:`fleetpatch.audit_export_aws.gather` gives for that period
(the gaps as they are now, the installs of the month) as CSV and the summary as JSON, under
``audit/YYYY/MM/`` (:func:`fleetpatch.contracts.s3.audit_export_keys`), encrypted by the
bucket's default SSE-KMS key.

Idempotent: each object is created only if it does not exist (S3 conditional write,
``If-None-Match: *``), so a second trigger for the same month (Scheduler's or Lambda's
retry, an operator's re-run) neither duplicates nor overwrites the evidence; a run that
stopped between the two objects is completed by the next.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from fleetpatch import aws, clock
from fleetpatch.audit_export_aws import gather
from fleetpatch.contracts.s3 import audit_export_keys
from fleetpatch.services import ClientFactory, aws_client

LOG = logging.getLogger(__name__)


class AuditSettings(Protocol):
    @property
    def table_name(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def policy_parameter(self) -> str: ...


def previous_month(at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month (UTC) before the one ``at`` is in."""
    at = at.astimezone(UTC)
    end = datetime(at.year, at.month, 1, tzinfo=UTC)
    start = (
        datetime(end.year - 1, 12, 1, tzinfo=UTC)
        if end.month == 1
        else end.replace(month=end.month - 1)
    )
    return start, end


def export_month(
    settings: AuditSettings,
    scheduled_time: datetime | None,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Write the previous month's export (CSV and summary) unless it is there already."""
    start, end = previous_month(scheduled_time or clock.now())
    csv_key, summary_key = audit_export_keys(start.year, start.month)
    s3 = client("s3")
    # No read first: a re-run gathers again and its writes are refused (S3 answers 412);
    # reading first would need s3:ListBucket to tell a missing object from a forbidden one.
    export = gather(
        client,
        table=settings.table_name,
        bucket=settings.bucket,
        policy=aws.compiled_policy(settings.policy_parameter),
        since=start,
        now=min(end, clock.now()),
    )
    written = [
        key
        for key, body, kind in (
            (csv_key, export.to_csv(), "text/csv; charset=utf-8; header=present"),
            (summary_key, json.dumps(export.summary(), indent=2), "application/json"),
        )
        if _create(s3, settings.bucket, key, body, kind)
    ]
    LOG.info("audit export", extra={"month": f"{start:%Y-%m}", "written": written})
    return {
        "month": f"{start:%Y-%m}",
        "written": written,
        "rows": len(export.rows),
        "duplicate": not written,
    }


def _create(s3: Any, bucket: str, key: str, body: str, content_type: str) -> bool:
    """PutObject only if absent: False when another run wrote it first (412)."""
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body.encode("utf-8"),
            ContentType=content_type,
            IfNoneMatch="*",
        )
    except ClientError as exc:
        # 412 PreconditionFailed: it exists; 409: a concurrent write of the same key.
        if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
    return True
