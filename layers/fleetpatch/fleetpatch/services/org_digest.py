"""The organization's compliance digest (central stack, issue 22): once a day, one message.

Invoked by the central stack's ``OrgDigestSchedule`` with the tick's scheduled time. Reads
the org index (every account and region's latest summary, the runs since the previous org
digest), claims the day's digest under a condition with what it says, publishes it on the
central topic (the central notify-slack posts it to Slack) and records the message id.
``fleetpatch.org_digest_records`` says why a repeated or retried tick sends it once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from fleetpatch import org_digest
from fleetpatch.org_digest_records import DigestRecord, OrgDigests
from fleetpatch.org_index import OrgIndex
from fleetpatch.services import ClientFactory, aws_client

LOG = logging.getLogger(__name__)

FIRST_WINDOW = timedelta(days=1)
"""The runs the first org digest counts (no previous one to count from)."""


class OrgDigestSettings(Protocol):
    @property
    def table_name(self) -> str: ...
    @property
    def topic_arn(self) -> str: ...


def send_org_digest(
    scheduled: datetime, settings: OrgDigestSettings, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """The digest of ``scheduled``'s UTC day, sent once (a repeated tick sends nothing)."""
    dynamodb = client("dynamodb")
    digests = OrgDigests(dynamodb, settings.table_name)
    day = scheduled.astimezone(UTC).date().isoformat()
    record = digests.get(day)
    if record is not None and record.message_id is not None:
        LOG.info("org digest already sent", extra={"day": day, "message_id": record.message_id})
        return {"day": day, "duplicate": True, "messageId": record.message_id}
    if record is None:
        record = _claim(
            digests, OrgIndex(dynamodb, settings.table_name, scheduled.timestamp), day, scheduled
        )
    message_id = str(
        client("sns").publish(
            TopicArn=settings.topic_arn,
            Subject=record.subject,
            Message=record.body,
            MessageAttributes=record.attributes,
        )["MessageId"]
    )
    digests.mark_sent(day, message_id)
    result = {"day": day, "duplicate": False, "messageId": message_id, "places": len(record.counts)}
    LOG.info("org digest sent", extra=result)
    return result


def _claim(digests: OrgDigests, index: OrgIndex, day: str, now: datetime) -> DigestRecord:
    """What the day's digest says, frozen in the index (or what a concurrent tick froze)."""
    previous = digests.previous(day)
    since = previous.sent_at if previous else None
    digest = org_digest.build(
        index.compliance(),
        index.runs(since or now - FIRST_WINDOW, limit=100_000),
        day=day,
        now=now,
        since=since,
        previous=previous.counts if previous else {},
    )
    record = DigestRecord.of(
        digest, org_digest.subject(digest), org_digest.body(digest), org_digest.attributes(digest)
    )
    if not digests.claim(record):
        claimed = digests.get(day)
        assert claimed is not None  # the condition failed: it exists
        return claimed
    return record
