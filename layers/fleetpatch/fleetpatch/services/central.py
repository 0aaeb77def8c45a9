"""issue 22: the central account's ingest: each member's forwarded event, filed once, and
each member's run announced once for the whole organization.

The central bus delivers every ``Run Finished`` and ``Compliance Summary`` a member forwarded
(``fleetpatch.shared_events``) to the ingest function, which validates it at the edge and
calls :func:`file_event`. EventBridge delivers at least once: a repeated or older delivery
is recognised by the org index's conditional writes (``fleetpatch.org_index``) and changes
nothing. An invalid event raises ``InvalidEventError`` (naming the field) and, after Lambda's
retries, lands in the function's dead-letter queue with the event as sent.

A run is then announced on the central reports topic, once (the index records the message
id under a condition, as a member's report index does), with the e-mail text and message
attributes of the member's own announcement (``fleetpatch.report_text``) and the account
and region in front, so the central notify-slack (the same function as a member's) posts it
to the organization's Slack channel from the report the member copied into the central
bucket. Members of an organization then leave Slack off: one message per run, for all.
A member's compliance digest is filed but not announced: the organization's digest
(``fleetpatch.services.org_digest``) sends every account's compliance once a day.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from fleetpatch import clock, org_digest, report_text
from fleetpatch.org_index import OrgIndex
from fleetpatch.publishing import Report, body_of, load_report, subject_of
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.shared_events import RunFinished, SharedEvent

LOG = logging.getLogger(__name__)


class CentralSettings(Protocol):
    @property
    def table_name(self) -> str: ...
    @property
    def topic_arn(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def region(self) -> str: ...


def file_event(
    event: SharedEvent, settings: CentralSettings, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    index = OrgIndex(client("dynamodb"), settings.table_name, clock.time)
    detail = event.detail
    what: dict[str, Any]
    if isinstance(detail, RunFinished):
        filed = index.record_run(detail, event.id)
        what = {"run": detail.run_id, "kind": detail.kind, "outcome": detail.status}
        # A member's compliance digest is not announced per member: the organization's
        # digest (fleetpatch.services.org_digest) covers every account once a day.
        what["announced"] = (
            None
            if detail.kind == org_digest.DIGEST_KIND
            else _announce_once(index, detail, settings, client)
        )
    else:
        filed = index.record_compliance(detail, event.id)
        what = {"compliant": detail.compliant, "nonCompliant": detail.non_compliant}
    result = {
        "detailType": event.detail_type,
        "account": event.account,
        "region": detail.region,
        "filed": filed,
        **what,
    }
    LOG.info("filed" if filed else "duplicate or older delivery: unchanged", extra=result)
    return result


def _announce_once(
    index: OrgIndex, run: RunFinished, settings: CentralSettings, client: ClientFactory
) -> str:
    """The run's message id on the central topic (published now, or by an earlier delivery)."""
    already = index.announced(run)
    if already is not None:
        return already
    where = f"[{run.account} {run.region}]"
    report = _stored_report(run, settings, client)
    if report is None:
        subject, body = run.subject, f"{run.subject}\n\n(the report was not copied centrally)\n"
        attributes = {
            k: {"DataType": "String", "StringValue": v}
            for k, v in {"kind": run.kind, "outcome": run.status, "run": run.run_id}.items()
        }
    else:
        assert run.report is not None
        # The member's own subject and text (fleetpatch.publishing, for a run or a digest).
        subject = subject_of(report)
        body = body_of(
            report,
            report_url=report_text.report_console_url(
                settings.region, settings.bucket, run.report.html_key
            ),
            region=run.region,
        )
        attributes = report_text.attributes(report, report_key=run.report.json_key)
    for name, value in (("account", run.account), ("region", run.region)):
        attributes[name] = {"DataType": "String", "StringValue": value}
    message_id = str(
        client("sns").publish(
            TopicArn=settings.topic_arn,
            Subject=report_text.clip(f"{where} {subject}", report_text.SUBJECT_LIMIT),
            Message=f"Account {run.account}, region {run.region}\n\n{body}",
            MessageAttributes=attributes,
        )["MessageId"]
    )
    index.mark_announced(run, message_id)
    return message_id


def _stored_report(
    run: RunFinished, settings: CentralSettings, client: ClientFactory
) -> Report | None:
    """The member's copy of the report in the central bucket (None: not copied or unreadable)."""
    if run.report is None or run.report.bucket != settings.bucket:
        return None
    try:
        body = client("s3").get_object(Bucket=run.report.bucket, Key=run.report.json_key)["Body"]
        return load_report(body.read())
    except (ClientError, BotoCoreError, ValidationError, ValueError) as exc:
        LOG.warning("central copy of the report unreadable", extra={"error": str(exc)})
        return None
