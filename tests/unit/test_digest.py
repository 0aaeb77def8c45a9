"""The compliance digest: one schedule for many drifting instances, collapsed entries, cleanup."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch.compliance import (
    ComplianceChange,
    ComplianceLedger,
    DigestCollector,
    DigestScheduler,
    Recorded,
    digest_report,
)
from fleetpatch.contracts.keys import DIGEST_PENDING_KEY
from fleetpatch.reports import DriftEntry
from tests.unit.conftest import create_state_table

REGION = "eu-central-1"
TABLE = "state"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
DIGEST_MINUTES = 60
PREFIX = "fleetpatch-digest-"
TARGET = "arn:aws:lambda:eu-central-1:123456789012:function:fleetpatch-publish-report"
ROLE = "arn:aws:iam::123456789012:role/fleetpatch-digest-scheduler"


def instance(n: int) -> str:
    return f"i-{n:017x}"


def change(
    n: int, status: str, at: datetime, event_id: str | None = None, environment: str = "prod"
) -> ComplianceChange:
    return ComplianceChange(
        instance_id=instance(n),
        status=status,  # type: ignore[arg-type]
        baseline_id="pb-0c10e65780EXAMPLE",
        severity="critical" if status == "non_compliant" else None,
        event_time=at,
        event_id=event_id or f"event-{n}-{at:%H%M%S}",
        patch_group=f"patch_{environment}_0600_batch_1",
        environment=environment,
    )


@dataclass
class Digest:
    """The compliance-change function's part (record, then schedule) and the digest's part."""

    dynamodb: Any
    scheduler: Any
    clock: list[float]

    def now(self) -> float:
        return self.clock[0]

    def at(self, when: datetime) -> None:
        self.clock[0] = when.timestamp()

    @property
    def ledger(self) -> ComplianceLedger:
        return ComplianceLedger(self.dynamodb, TABLE, self.now)

    def digest_scheduler(self, scheduler: Any = None) -> DigestScheduler:
        return DigestScheduler(
            dynamodb=self.dynamodb,
            scheduler=scheduler or self.scheduler,
            table=TABLE,
            target_arn=TARGET,
            role_arn=ROLE,
            name_prefix=PREFIX,
            now=self.now,
        )

    @property
    def collector(self) -> DigestCollector:
        return DigestCollector(self.dynamodb, TABLE)

    def record(
        self, recorded_change: ComplianceChange, scheduler: Any = None
    ) -> tuple[Recorded, datetime | None]:
        """As the compliance-change function does: the event's time is now."""
        self.at(recorded_change.event_time)
        recorded = self.ledger.record(recorded_change)
        due = self.digest_scheduler(scheduler).ensure(DIGEST_MINUTES) if recorded.notify else None
        if recorded.transition != "stale":
            self.ledger.settle(recorded_change)
        return recorded, due

    def schedules(self) -> list[str]:
        return sorted(s["Name"] for s in self.scheduler.list_schedules()["Schedules"])

    def pending(self) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=TABLE, Key=DIGEST_PENDING_KEY
        ).get("Item")
        return item


@pytest.fixture
def digest() -> Iterator[Digest]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        scheduler = boto3.client("scheduler", region_name=REGION)
        yield Digest(dynamodb, scheduler, [T0.timestamp()])


# --- scheduling ---------------------------------------------------------------------------------


def test_200_drifting_instances_schedule_one_digest(digest: Digest) -> None:
    dues = []
    for n in range(200):
        recorded, due = digest.record(change(n, "non_compliant", T0 + timedelta(seconds=n)))
        assert recorded.transition == "drifted"
        dues.append(due)
    assert dues[0] == T0 + timedelta(minutes=DIGEST_MINUTES)
    assert dues[1:] == [None] * 199
    assert digest.schedules() == [f"{PREFIX}20261121T060000"]
    schedule = digest.scheduler.get_schedule(Name=f"{PREFIX}20261121T060000")
    assert schedule["ScheduleExpression"] == "at(2026-11-21T06:00:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (TARGET, ROLE)
    assert json.loads(schedule["Target"]["Input"]) == {
        "kind": "compliance-digest",
        "due": "2026-11-21T06:00:00+00:00",
    }
    entries = digest.collector.entries(until=T0 + timedelta(hours=1))
    assert len(entries) == 200
    assert {e["instance_id"]["S"] for e in entries} == {instance(n) for n in range(200)}
    assert digest.pending() == {
        **DIGEST_PENDING_KEY,
        "due": {"S": "2026-11-21T06:00:00+00:00"},
        "expires_at": {"N": str(int(T0.timestamp()) + 90 * 24 * 3600)},
    }


def test_repeats_and_first_states_schedule_nothing(digest: Digest) -> None:
    assert digest.record(change(1, "compliant", T0)) == (Recorded("first", None), None)
    recorded, due = digest.record(change(1, "compliant", T0 + timedelta(minutes=1)))
    assert (recorded.transition, due) == ("unchanged", None)
    assert digest.schedules() == []
    assert digest.pending() is None


def test_a_duplicate_event_adds_nothing(digest: Digest) -> None:
    drift = change(7, "non_compliant", T0, event_id="evt-7")
    first, due = digest.record(drift)
    again, due_again = digest.record(drift)  # EventBridge delivered it twice
    assert (first.transition, again.transition) == ("drifted", "stale")
    assert (due, due_again) == (T0 + timedelta(hours=1), None)
    assert len(digest.collector.entries(until=T0 + timedelta(hours=1))) == 1
    assert digest.schedules() == [f"{PREFIX}20261121T060000"]


def test_after_release_a_new_drift_schedules_a_new_digest(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0))
    # The digest runs when its schedule fires.
    sent_at = T0 + timedelta(hours=1)
    digest.at(sent_at)
    digest.collector.release()
    assert digest.pending() is None
    items = digest.collector.entries(until=sent_at)
    report = digest_report(items, sent_at=sent_at, include_recoveries=True)
    assert report is not None
    assert [e.instance_id for e in report.entries] == [instance(1)]
    digest.collector.remove(items)
    # Drift after the digest: the next one is scheduled.
    _, due = digest.record(change(2, "non_compliant", sent_at + timedelta(minutes=1)))
    assert due == T0 + timedelta(hours=2, minutes=1)
    assert f"{PREFIX}20261121T070100" in digest.schedules()
    [left] = digest.collector.entries(until=sent_at + timedelta(hours=1))
    assert left["instance_id"]["S"] == instance(2)


def test_without_release_a_pending_digest_is_not_scheduled_again(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0))
    _, due = digest.record(change(2, "non_compliant", T0 + timedelta(minutes=90)))
    assert due is None
    assert digest.schedules() == [f"{PREFIX}20261121T060000"]


def test_a_marker_two_intervals_past_its_due_time_is_replaced(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0))
    # The schedule was lost (deleted by hand, or never fired): nothing releases the marker.
    digest.scheduler.delete_schedule(Name=f"{PREFIX}20261121T060000")
    # Due 06:00; until two intervals after that it is still taken as pending.
    _, due = digest.record(change(2, "non_compliant", T0 + timedelta(hours=2, minutes=59)))
    assert due is None
    _, due = digest.record(change(3, "non_compliant", T0 + timedelta(hours=3, minutes=1)))
    assert due == T0 + timedelta(hours=4, minutes=1)
    assert digest.schedules() == [f"{PREFIX}20261121T090100"]
    assert digest.pending()["due"] == {"S": "2026-11-21T09:01:00+00:00"}  # type: ignore[index]


class RefusingScheduler:
    """The scheduler client, refusing to create schedules (its exceptions are the real ones)."""

    def __init__(self, scheduler: Any) -> None:
        self.exceptions = scheduler.exceptions

    def create_schedule(self, **request: Any) -> Any:
        raise ClientError(
            {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}},
            "CreateSchedule",
        )


def test_a_schedule_that_cannot_be_created_gives_the_marker_back(digest: Digest) -> None:
    with pytest.raises(ClientError, match="AccessDenied"):
        digest.digest_scheduler(RefusingScheduler(digest.scheduler)).ensure(DIGEST_MINUTES)
    assert digest.pending() is None
    # The next drift schedules it.
    _, due = digest.record(change(1, "non_compliant", T0 + timedelta(seconds=5)))
    assert due == T0 + timedelta(hours=1, seconds=5)
    assert digest.schedules() == [f"{PREFIX}20261121T060005"]


def test_a_retry_after_the_schedule_failed_schedules_the_digest(digest: Digest) -> None:
    # The first attempt records the drift, then cannot schedule: Lambda retries the event.
    drift = change(1, "non_compliant", T0, event_id="evt-1")
    with pytest.raises(ClientError, match="AccessDenied"):
        digest.record(drift, RefusingScheduler(digest.scheduler))
    assert digest.schedules() == []
    # The retry is the same event: not stale, it schedules the digest the drift is owed.
    again, due = digest.record(drift)
    assert (again.transition, due) == ("drifted", T0 + timedelta(hours=1))
    assert digest.schedules() == [f"{PREFIX}20261121T060000"]
    [entry] = digest.collector.entries(until=T0 + timedelta(hours=1))
    assert entry["instance_id"]["S"] == instance(1)
    # Settled now: a third delivery is a duplicate.
    third, due = digest.record(drift)
    assert (third.transition, due) == ("stale", None)
    assert len(digest.collector.entries(until=T0 + timedelta(hours=1))) == 1


def test_a_retry_that_finds_its_schedule_created_succeeds(digest: Digest) -> None:
    digest.scheduler.create_schedule(
        Name=f"{PREFIX}20261121T060000",
        ScheduleExpression="at(2026-11-21T06:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TARGET, "RoleArn": ROLE},
    )
    assert digest.digest_scheduler().ensure(DIGEST_MINUTES) == T0 + timedelta(hours=1)
    assert digest.schedules() == [f"{PREFIX}20261121T060000"]


# --- the digest ---------------------------------------------------------------------------------


def test_the_digest_collapses_each_instance_to_its_latest_transition(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0 + timedelta(minutes=5)))
    digest.record(change(2, "non_compliant", T0 + timedelta(minutes=10), environment="test"))
    digest.record(change(1, "compliant", T0 + timedelta(minutes=20)))
    sent_at = T0 + timedelta(hours=1)
    items = digest.collector.entries(until=sent_at)
    assert len(items) == 3
    report = digest_report(items, sent_at=sent_at, include_recoveries=True)
    assert report is not None
    assert report.entries == [
        DriftEntry(
            instance_id=instance(1),
            transition="recovered",
            at=T0 + timedelta(minutes=20),
            environment="prod",
            patch_group="patch_prod_0600_batch_1",
            severity=None,
            baseline_id="pb-0c10e65780EXAMPLE",
            changes=2,
        ),
        DriftEntry(
            instance_id=instance(2),
            transition="drifted",
            at=T0 + timedelta(minutes=10),
            environment="test",
            patch_group="patch_test_0600_batch_1",
            severity="critical",
            baseline_id="pb-0c10e65780EXAMPLE",
            changes=1,
        ),
    ]
    assert (report.run_id, report.ended_at) == ("digest-20261121T060000Z", sent_at)
    assert (report.outcome, report.environment) == ("drift", "prod,test")


def test_without_recoveries_an_instance_that_recovered_is_left_out(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0 + timedelta(minutes=5)))
    digest.record(change(2, "non_compliant", T0 + timedelta(minutes=10)))
    digest.record(change(1, "compliant", T0 + timedelta(minutes=20)))
    items = digest.collector.entries(until=T0 + timedelta(hours=1))
    report = digest_report(
        items, sent_at=T0 + timedelta(hours=1), include_recoveries=False, digest_id="digest-x"
    )
    assert report is not None
    assert report.run_id == "digest-x"
    assert [(e.instance_id, e.transition) for e in report.entries] == [(instance(2), "drifted")]
    assert report.started_at == T0 + timedelta(minutes=10)


def test_a_digest_of_recoveries_only_is_nothing_without_recoveries(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0))
    digest.record(change(1, "compliant", T0 + timedelta(minutes=1)))
    items = digest.collector.entries(until=T0 + timedelta(hours=1))
    assert digest_report(items, sent_at=T0, include_recoveries=False) is None
    assert digest_report([], sent_at=T0, include_recoveries=True) is None


def test_a_digest_starts_at_the_first_change_it_carries(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0 + timedelta(minutes=5)))
    digest.record(change(2, "non_compliant", T0 + timedelta(minutes=10)))
    digest.record(change(1, "compliant", T0 + timedelta(minutes=20)))
    items = digest.collector.entries(until=T0 + timedelta(hours=1))
    report = digest_report(items, sent_at=T0 + timedelta(hours=1), include_recoveries=True)
    assert report is not None
    # instance 1's two changes (05:05 and 05:20) are both in it
    assert report.started_at == T0 + timedelta(minutes=5)


def test_entries_are_read_up_to_the_digest_time(digest: Digest) -> None:
    digest.record(change(1, "non_compliant", T0 + timedelta(minutes=59, seconds=59)))
    digest.record(change(2, "non_compliant", T0 + timedelta(hours=1)))
    digest.record(change(3, "non_compliant", T0 + timedelta(hours=1, seconds=1)))
    until = T0 + timedelta(hours=1)
    assert [e["instance_id"]["S"] for e in digest.collector.entries(until=until)] == [
        instance(1),
        instance(2),
    ]


class CountingDynamoDB:
    """The DynamoDB client; batch writes recorded, the first answered with one unprocessed."""

    def __init__(self, dynamodb: Any, unprocessed_once: bool = False) -> None:
        self._dynamodb = dynamodb
        self.batches: list[int] = []
        self._unprocessed_once = unprocessed_once

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dynamodb, name)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        self.batches.append(len(requests))
        if self._unprocessed_once:
            self._unprocessed_once = False
            self._dynamodb.batch_write_item(RequestItems={table: requests[1:]})
            return {"UnprocessedItems": {table: requests[:1]}}
        response: dict[str, Any] = self._dynamodb.batch_write_item(RequestItems=RequestItems)
        return response


def test_remove_deletes_the_sent_entries_25_at_a_time(digest: Digest) -> None:
    for n in range(60):
        digest.record(change(n, "non_compliant", T0 + timedelta(seconds=n)))
    until = T0 + timedelta(hours=1)
    items = digest.collector.entries(until=until)
    counting = CountingDynamoDB(digest.dynamodb)
    DigestCollector(counting, TABLE).remove(items)
    assert counting.batches == [25, 25, 10]
    assert digest.collector.entries(until=until) == []
    # The instances' own state and history stay.
    assert len(digest.ledger.fleet()) == 60


def test_remove_retries_unprocessed_items(digest: Digest) -> None:
    for n in range(3):
        digest.record(change(n, "non_compliant", T0 + timedelta(seconds=n)))
    items = digest.collector.entries(until=T0 + timedelta(hours=1))
    counting = CountingDynamoDB(digest.dynamodb, unprocessed_once=True)
    DigestCollector(counting, TABLE).remove(items)
    assert counting.batches == [3, 1]
    assert digest.collector.entries(until=T0 + timedelta(hours=1)) == []


def test_the_fleet_view_lists_every_instance_by_environment_and_group(digest: Digest) -> None:
    digest.record(change(2, "non_compliant", T0, environment="test"))
    digest.record(change(1, "compliant", T0 + timedelta(minutes=1), environment="prod"))
    digest.record(change(3, "non_compliant", T0 + timedelta(minutes=2), environment="prod"))
    fleet = digest.ledger.fleet()
    assert [(f["environment"], f["instance_id"], f["status"]) for f in fleet] == [
        ("prod", instance(1), "compliant"),
        ("prod", instance(3), "non_compliant"),
        ("test", instance(2), "non_compliant"),
    ]
    assert fleet[2]["since"] == T0.isoformat()
