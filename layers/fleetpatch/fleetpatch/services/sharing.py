"""issue 22: what publish-report shares with the organization's central account.

Every published run report (and compliance digest) becomes a ``Run Finished`` event, and
every compliance digest also a ``Compliance Summary`` event, put on this account's default bus
(``fleetpatch.shared_events``). A stack deployed with ``CentralEventBusArn`` forwards them to
the central bus; without one they stay on the member's bus (its own rules may use them), so
a single-account deploy needs nothing more. With ``CentralReportsBucket`` each stored report
is also copied to ``accounts/<account>/<region>/reports/...`` there, and the event points at
that copy (the central account cannot read the member's bucket).

Sharing never stops a report: entries PutEvents still refuses after a few rounds go to the
function's dead-letter queue with their error (``fleetpatch.sharing``), and a copy S3
refused is logged and the event points at the member's own bucket.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from fleetpatch import clock, security_hub
from fleetpatch.compliance import ComplianceLedger
from fleetpatch.publishing import Published
from fleetpatch.reports import DigestReport, RunReport
from fleetpatch.services import ClientFactory
from fleetpatch.shared_events import (
    ComplianceSummary,
    ReportLocation,
    RunFinished,
    SharedDetail,
    entry,
    summary_groups,
)
from fleetpatch.sharing import CentralCopy, EventSharer, keep_unsent

LOG = logging.getLogger(__name__)


class SharingSettings(Protocol):
    @property
    def table_name(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def topic_arn(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def central_bucket(self) -> str: ...
    @property
    def dead_letter_queue_url(self) -> str: ...


def _where(settings: SharingSettings) -> security_hub.Account:
    # Any ARN of this stack says its account and region: the reports topic's.
    return security_hub.Account.of_arn(settings.topic_arn)


def central_copy(settings: SharingSettings, client: ClientFactory) -> CentralCopy | None:
    """The copier into the central bucket, when the stack names one."""
    if not settings.central_bucket:
        return None
    where = _where(settings)
    return CentralCopy(client("s3"), settings.central_bucket, where.account_id, where.region)


def share_run(
    report: RunReport | DigestReport,
    published: Published,
    settings: SharingSettings,
    client: ClientFactory,
    *,
    copy: CentralCopy | None,
    emergency: bool = False,
) -> dict[str, Any]:
    """Put the run's (or digest's) ``Run Finished`` event (again on a retried publish: the
    central index files a run once, whatever the number of deliveries)."""
    where = _where(settings)
    if isinstance(report, RunReport):
        instances, failed = len(report.instances()), len(report.failed_instances())
        execution_arn = report.execution_arn
    else:
        instances, failed, execution_arn = len(report.entries), len(report.drifted), None
    detail = RunFinished(
        account=where.account_id,
        region=where.region,
        stage=settings.stage,
        run_id=report.run_id,
        kind="emergency" if emergency else report.kind,
        status=report.outcome,
        title=report.title,
        subject=published.subject,
        environment=report.environment,
        started_at=report.started_at,
        ended_at=report.ended_at,
        instances=instances,
        failed=failed,
        report=_location(published, settings, copy),
        execution_arn=execution_arn,
    )
    result = _share(detail, settings, client, run_id=report.run_id)
    if copy is not None and copy.error is not None:
        LOG.warning("report not copied to the central bucket", extra={"error": copy.error})
        result["centralCopyError"] = copy.error
    return result


def _location(
    published: Published, settings: SharingSettings, copy: CentralCopy | None
) -> ReportLocation | None:
    if published.json_key is None or published.html_key is None:
        return None
    if copy is not None and {published.json_key, published.html_key} <= set(copy.copied):
        return ReportLocation(
            bucket=copy.bucket,
            json_key=copy.copied[published.json_key],
            html_key=copy.copied[published.html_key],
        )
    return ReportLocation(
        bucket=settings.bucket, json_key=published.json_key, html_key=published.html_key
    )


def share_compliance(
    settings: SharingSettings, client: ClientFactory, now: datetime
) -> dict[str, Any]:
    """Put the account and region's ``Compliance Summary`` (the ledger's latest states)."""
    where = _where(settings)
    ledger = ComplianceLedger(client("dynamodb"), settings.table_name, clock.time)
    detail = ComplianceSummary(
        account=where.account_id,
        region=where.region,
        stage=settings.stage,
        as_of=now,
        groups=summary_groups(ledger.fleet()),
    )
    return _share(detail, settings, client, run_id=f"compliance-{now:%Y%m%dT%H%M%SZ}")


def _share(
    detail: SharedDetail, settings: SharingSettings, client: ClientFactory, *, run_id: str
) -> dict[str, Any]:
    shared = EventSharer(client("events"), pause=clock.sleep).put([entry(detail, at=clock.now())])
    if shared.unsent:
        LOG.error(
            "shared events not put: kept in the dead-letter queue",
            extra={"run": run_id, **shared.as_dict()},
        )
        keep_unsent(client("sqs"), settings.dead_letter_queue_url, shared.unsent, run_id=run_id)
    return shared.as_dict()
