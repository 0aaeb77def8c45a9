"""issue 22: putting the shared events on the member's default bus, and copying its reports
into the organization's central bucket (the adapters; the contract is
``fleetpatch.shared_events``, the use case ``fleetpatch.services.reports``).

PutEvents takes at most 10 entries and 256 KB a request and answers per entry: a request can
succeed while some of its entries failed (``FailedEntryCount``; each failed entry has an
``ErrorCode`` and ``ErrorMessage``, in request order; EventBridge API Reference, PutEvents,
and *Sending events with PutEvents*: "detect unsuccessful entries and include them in a
subsequent call"). :class:`EventSharer` puts again only the entries that failed, a few
times, and hands back what is still unsent; nothing is dropped without a trace: the caller
keeps it in the function's dead-letter queue (:func:`keep_unsent`), whose alarm an operator
sees, with the entries as they would have been put (``aws events put-events`` takes them).

The central bucket's copy is best effort inside a run's report publication: an S3 refusal is
recorded (``error``) and the run's event then points at the member's own bucket.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetpatch.contracts.org import central_key
from fleetpatch.shared_events import MAX_ENTRIES_PER_CALL, MAX_ENTRY_BYTES, entry_size

ATTEMPTS = 3


@dataclass
class Unsent:
    entry: dict[str, Any]
    code: str
    message: str


@dataclass
class Shared:
    """What a put of shared events did: the event ids sent, the entries left unsent."""

    event_ids: list[str] = field(default_factory=list)
    unsent: list[Unsent] = field(default_factory=list)
    calls: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": len(self.event_ids),
            "unsent": len(self.unsent),
            "errors": sorted({u.code for u in self.unsent}),
        }


def batches(entries: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Requests of at most 10 entries and 256 KB in all."""
    found: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for one in entries:
        one_size = entry_size(one)
        if current and (len(current) == MAX_ENTRIES_PER_CALL or size + one_size > MAX_ENTRY_BYTES):
            found.append(current)
            current, size = [], 0
        current.append(one)
        size += one_size
    if current:
        found.append(current)
    return found


class EventSharer:
    """PutEvents on the default bus, again for the entries that failed (``attempts`` rounds)."""

    def __init__(
        self,
        events: Any,
        *,
        attempts: int = ATTEMPTS,
        pause: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._events = events
        self._attempts = attempts
        self._pause = pause

    def put(self, entries: Sequence[dict[str, Any]]) -> Shared:
        shared = Shared()
        pending = [dict(e) for e in entries]
        failures: list[Unsent] = []
        for attempt in range(self._attempts):
            if not pending:
                break
            if attempt:
                self._pause(0.2 * 2**attempt)
            failures = []
            for batch in batches(pending):
                failures += self._put_batch(batch, shared)
            pending = [f.entry for f in failures]
        shared.unsent = failures
        return shared

    def _put_batch(self, batch: list[dict[str, Any]], shared: Shared) -> list[Unsent]:
        shared.calls += 1
        try:
            answer = self._events.put_events(Entries=batch)
        except (ClientError, BotoCoreError) as exc:
            code = (
                str(exc.response.get("Error", {}).get("Code", ""))
                if isinstance(exc, ClientError)
                else type(exc).__name__
            )
            return [Unsent(one, code, str(exc)) for one in batch]
        failed: list[Unsent] = []
        # The answer's entries are in request order, one per request entry.
        for one, result in zip(batch, answer.get("Entries", []), strict=True):
            if result.get("EventId") and not result.get("ErrorCode"):
                shared.event_ids.append(str(result["EventId"]))
            else:
                failed.append(
                    Unsent(one, str(result.get("ErrorCode")), str(result.get("ErrorMessage")))
                )
        return failed


def keep_unsent(sqs: Any, queue_url: str, unsent: Sequence[Unsent], *, run_id: str) -> None:
    """The entries PutEvents still refused, kept in the function's dead-letter queue."""
    for one in unsent:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(
                {"unsentEvent": {**one.entry, "Time": str(one.entry.get("Time"))}},
                default=str,
            ),
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": one.code or "unknown"},
                "RUN_ID": {"DataType": "String", "StringValue": run_id},
            },
        )


class CentralCopy:
    """Each stored report object, copied to ``accounts/<account>/<region>/<key>`` centrally.

    The bucket's default encryption (the central key) applies; no ACL is sent (the bucket
    enforces bucket-owner ownership, and a request with an ACL would be refused).
    """

    def __init__(self, s3: Any, bucket: str, account: str, region: str) -> None:
        self.bucket = bucket
        self._s3 = s3
        self._account = account
        self._region = region
        self.copied: dict[str, str] = {}
        self.error: str | None = None

    def __call__(self, key: str, body: bytes, content_type: str) -> None:
        target = central_key(self._account, self._region, key)
        try:
            self._s3.put_object(Bucket=self.bucket, Key=target, Body=body, ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return
        self.copied[key] = target
