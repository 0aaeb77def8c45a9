"""compliance-change's use case: the order of its steps is its idempotency.

Record (the state, pending) -> digest -> remediation -> settle. Pinned here with the real
ledger in moto and recording fakes for the digest and the remediation: a redelivered
event does nothing twice, and a retry after a failure half way does only what is left.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetpatch.compliance import ComplianceChange, ComplianceLedger, Recorded
from fleetpatch.services.compliance import apply_change
from tests.unit.conftest import STATE_TABLE

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def change(status: str, minutes: int) -> ComplianceChange:
    return ComplianceChange(
        instance_id="i-0a1b2c3d4e5f60718",
        status=status,  # type: ignore[arg-type]
        baseline_id="pb-0c10e65780EXAMPLE",
        severity="critical",
        event_time=T0 + timedelta(minutes=minutes),
        event_id=f"event-{minutes}",
        patch_group="linux-db",
        environment="prod",
    )


class Steps:
    """Records every step the service takes, in order; a step may be told to fail once."""

    def __init__(self, ledger: Any, fail: str | None = None) -> None:
        self.ledger = ledger
        self.calls: list[str] = []
        self.fail = fail

    def _step(self, name: str) -> None:
        self.calls.append(name)
        if self.fail == name:
            self.fail = None
            raise RuntimeError(f"{name} failed")

    def record(self, change: ComplianceChange) -> Recorded:
        recorded: Recorded = self.ledger.record(change)
        self.calls.append(f"record:{recorded.transition}")
        return recorded

    def settle(self, change: ComplianceChange) -> None:
        self._step("settle")
        self.ledger.settle(change)

    def digest(self) -> datetime | None:
        self._step("digest")
        return DUE

    def remediate(self) -> dict[str, Any] | None:
        self._step("remediate")
        return {"execution": "remediate-x", "operation": "Scan"}

    def apply(self, change: ComplianceChange) -> dict[str, Any]:
        return apply_change(
            change, ledger=self, schedule_digest=self.digest, remediate=self.remediate
        )


@pytest.fixture
def steps(state_table: Any) -> Steps:
    return Steps(ComplianceLedger(state_table, STATE_TABLE, lambda: 1_800_000_000.0))


def test_drift_records_then_digests_then_remediates_then_settles(steps: Steps) -> None:
    # Given an instance that was compliant
    steps.apply(change("compliant", 0))
    assert steps.calls == ["record:first"]  # a first report: recorded, nothing else
    steps.calls.clear()
    # When it drifts
    result = steps.apply(change("non_compliant", 20))
    # Then each step runs once, in the order that makes a retry safe, settle last
    assert steps.calls == ["record:drifted", "digest", "remediate", "settle"]
    assert result == {
        "transition": "drifted",
        "notify": True,
        "environment": "prod",
        "digestScheduled": DUE.isoformat(),
        "remediation": {"execution": "remediate-x", "operation": "Scan"},
    }


def test_recovery_digests_and_settles_without_remediation(steps: Steps) -> None:
    steps.apply(change("non_compliant", 0))
    steps.calls.clear()
    result = steps.apply(change("compliant", 20))
    assert steps.calls == ["record:recovered", "digest", "settle"]
    assert "remediation" not in result


def test_a_redelivered_event_does_nothing_twice(steps: Steps) -> None:
    # Given a drift event handled to the end
    steps.apply(change("compliant", 0))
    steps.apply(change("non_compliant", 20))
    steps.calls.clear()
    # When EventBridge delivers it again
    result = steps.apply(change("non_compliant", 20))
    # Then it is stale: no digest, no remediation, nothing to settle
    assert steps.calls == ["record:stale"]
    assert result == {"transition": "stale", "notify": False, "environment": "prod"}


@pytest.mark.parametrize("failing", ["digest", "remediate", "settle"])
def test_a_retry_after_a_failure_half_way_does_the_rest_once(steps: Steps, failing: str) -> None:
    # Given an instance that was compliant, and a step of the drift that fails once
    steps.apply(change("compliant", 0))
    steps.calls.clear()
    steps.fail = failing
    # When the drift's invocation fails at that step
    with pytest.raises(RuntimeError, match=f"{failing} failed"):
        steps.apply(change("non_compliant", 20))
    done = steps.calls.index(failing)
    # Then nothing after it ran, and the event was not settled
    assert (
        steps.calls[: done + 1] == ["record:drifted", "digest", "remediate", "settle"][: done + 1]
    )
    assert len(steps.calls) == done + 1
    steps.calls.clear()
    # When Lambda retries the event, it is still pending: every step runs again (each is
    # keyed: the digest by its marker, the remediation by its run name) and it settles
    steps.apply(change("non_compliant", 20))
    assert steps.calls == ["record:drifted", "digest", "remediate", "settle"]
    steps.calls.clear()
    # And a delivery after that does nothing
    steps.apply(change("non_compliant", 20))
    assert steps.calls == ["record:stale"]
