"""issue 22: the central account's ingest: each member's forwarded event, filed once.

The central bus delivers every ``Run Finished`` and ``Compliance Summary`` a member forwarded
(``fleetpatch.shared_events``) to the ingest function, which validates it at the edge and
calls :func:`file_event`. EventBridge delivers at least once: a repeated or older delivery
is recognised by the org index's conditional writes (``fleetpatch.org_index``) and changes
nothing. An invalid event raises ``InvalidEventError`` (naming the field) and, after Lambda's
retries, lands in the function's dead-letter queue with the event as sent.
"""

from __future__ import annotations

import logging
from typing import Any

from fleetpatch import clock
from fleetpatch.org_index import OrgIndex
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.shared_events import RunFinished, SharedEvent

LOG = logging.getLogger(__name__)


def file_event(
    event: SharedEvent, table_name: str, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    index = OrgIndex(client("dynamodb"), table_name, clock.time)
    detail = event.detail
    what: dict[str, Any]
    if isinstance(detail, RunFinished):
        filed = index.record_run(detail, event.id)
        what = {"run": detail.run_id, "kind": detail.kind, "outcome": detail.status}
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
