"""The compliance ledger: transitions, history, digest entries, duplicates and late events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetpatch.compliance import ComplianceChange, ComplianceLedger
from fleetpatch.contracts import keys
from tests.unit.conftest import STATE_TABLE

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)


@pytest.fixture
def ledger(state_table: Any) -> tuple[ComplianceLedger, Any]:
    return ComplianceLedger(state_table, STATE_TABLE, lambda: 1_800_000_000.0), state_table


def change(status: str, minutes: int, event_id: str | None = None) -> ComplianceChange:
    return ComplianceChange(
        instance_id="i-0a1b2c3d4e5f60718",
        status=status,  # type: ignore[arg-type]
        baseline_id="pb-0c10e65780EXAMPLE",
        severity="critical",
        event_time=T0 + timedelta(minutes=minutes),
        event_id=event_id or f"event-{minutes}",
    )


def items(dynamodb: Any, pk: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = dynamodb.query(
        TableName=STATE_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
    )["Items"]
    return found


def test_drift_recovery_and_repeats(ledger: tuple[ComplianceLedger, Any]) -> None:
    book, dynamodb = ledger
    transitions = [
        book.record(change("compliant", 0)).transition,
        book.record(change("compliant", 10)).transition,
        book.record(change("non_compliant", 20)).transition,
        book.record(change("non_compliant", 30)).transition,
        book.record(change("compliant", 40)).transition,
    ]
    assert transitions == ["first", "unchanged", "drifted", "unchanged", "recovered"]
    history = [
        i
        for i in items(dynamodb, keys.instance_pk("i-0a1b2c3d4e5f60718"))
        if i["sk"]["S"] != keys.COMPLIANCE_SK
    ]
    assert [(h["from"]["S"], h["to"]["S"]) for h in history] == [
        ("", "compliant"),
        ("compliant", "non_compliant"),
        ("non_compliant", "compliant"),
    ]
    digest = items(dynamodb, "DIGEST")
    assert [d["transition"]["S"] for d in digest] == ["drifted", "recovered"]
    [state] = [
        i
        for i in items(dynamodb, keys.instance_pk("i-0a1b2c3d4e5f60718"))
        if i["sk"]["S"] == keys.COMPLIANCE_SK
    ]
    assert state["status"]["S"] == "compliant"
    assert state["since"]["S"] == (T0 + timedelta(minutes=40)).isoformat()


def test_a_first_non_compliant_state_is_drift(ledger: tuple[ComplianceLedger, Any]) -> None:
    book, _ = ledger
    recorded = book.record(change("non_compliant", 0))
    assert (recorded.transition, recorded.notify) == ("drifted", True)


def test_duplicates_and_late_events_change_nothing(ledger: tuple[ComplianceLedger, Any]) -> None:
    book, dynamodb = ledger
    book.record(change("non_compliant", 20))
    book.settle(change("non_compliant", 20))  # the function did all the event asked
    assert book.record(change("non_compliant", 20)).transition == "stale"  # delivered twice
    assert book.record(change("non_compliant", 20)).transition == "stale"  # and three times
    late = book.record(change("compliant", 5))  # an older event arriving after a newer one
    assert (late.transition, late.notify) == ("stale", False)
    [state] = [
        i
        for i in items(dynamodb, keys.instance_pk("i-0a1b2c3d4e5f60718"))
        if i["sk"]["S"] == keys.COMPLIANCE_SK
    ]
    assert state["status"]["S"] == "non_compliant"
    assert len(items(dynamodb, "DIGEST")) == 1


def test_a_repeated_state_keeps_when_it_began(ledger: tuple[ComplianceLedger, Any]) -> None:
    book, dynamodb = ledger
    book.record(change("compliant", 0))
    book.record(change("non_compliant", 20))
    assert book.record(change("non_compliant", 30)).transition == "unchanged"
    [state] = [
        i
        for i in items(dynamodb, keys.instance_pk("i-0a1b2c3d4e5f60718"))
        if i["sk"]["S"] == keys.COMPLIANCE_SK
    ]
    # the latest event is recorded, but the instance has drifted since minute 20
    assert (state["event_id"]["S"], state["since"]["S"]) == (
        "event-30",
        (T0 + timedelta(minutes=20)).isoformat(),
    )


def test_a_retry_of_an_unsettled_event_redoes_its_part_once(
    ledger: tuple[ComplianceLedger, Any],
) -> None:
    book, dynamodb = ledger
    book.record(change("compliant", 0))
    book.settle(change("compliant", 0))
    # The drift is recorded, then the invocation fails before it settles: Lambda retries.
    first = book.record(change("non_compliant", 20))
    retried = book.record(change("non_compliant", 20))
    # The retry sees the same transition (from the status the event replaced) ...
    assert (first.transition, first.previous) == ("drifted", "compliant")
    assert (retried.transition, retried.previous) == ("drifted", "compliant")
    # ... and its history and digest entry are keyed by the event: still one of each.
    history = [
        i
        for i in items(dynamodb, keys.instance_pk("i-0a1b2c3d4e5f60718"))
        if i["sk"]["S"] != keys.COMPLIANCE_SK
    ]
    assert [(h["from"]["S"], h["to"]["S"]) for h in history] == [
        ("", "compliant"),
        ("compliant", "non_compliant"),
    ]
    assert len(items(dynamodb, "DIGEST")) == 1
    book.settle(change("non_compliant", 20))
    assert book.record(change("non_compliant", 20)).transition == "stale"


def test_only_the_pending_event_itself_is_a_retry(ledger: tuple[ComplianceLedger, Any]) -> None:
    book, _ = ledger
    book.record(change("non_compliant", 20))  # pending: not settled yet
    # An older event (even one claiming the pending event's id) is late, not a retry.
    assert book.record(change("compliant", 5, event_id="event-20")).transition == "stale"
    # A newer event takes over; settling the older one then leaves the newer one pending.
    book.record(change("compliant", 30))
    book.settle(change("non_compliant", 20))
    assert book.record(change("compliant", 30)).transition == "recovered"
    book.settle(change("compliant", 30))
    assert book.record(change("compliant", 30)).transition == "stale"
