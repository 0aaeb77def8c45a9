"""Change freeze (fleetpatch.change_freeze): the state read once, the decision pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.change_freeze import FreezePolicy, FreezeState, deadline_for, decide, freeze_state

T0 = datetime(2026, 12, 19, 5, tzinfo=UTC)
DEADLINE = T0 + timedelta(hours=4)


class FakeSsm:
    def __init__(self, answer: dict[str, Any] | None = None, error: str | None = None) -> None:
        self.answer, self.error, self.calls = answer, error, []  # type: ignore[var-annotated]

    def get_calendar_state(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if self.error:
            raise ClientError(
                {"Error": {"Code": self.error, "Message": "nope"}}, "GetCalendarState"
            )
        assert self.answer is not None
        return self.answer


def test_freeze_state_asks_once_at_the_time_given_and_reads_the_transition() -> None:
    ssm = FakeSsm({"State": "CLOSED", "AtTime": "x", "NextTransitionTime": "2026-12-19T07:00:00Z"})
    state = freeze_state(ssm, ["year-end", "sap"], T0)
    assert ssm.calls == [{"CalendarNames": ["year-end", "sap"], "AtTime": "2026-12-19T05:00:00Z"}]
    assert state.closed
    assert state.next_transition == T0 + timedelta(hours=2)
    assert state.describe() == (
        "change freeze: calendar year-end, sap is CLOSED until 2026-12-19 07:00 UTC"
    )


def test_an_unreadable_calendar_counts_as_closed_and_says_why() -> None:
    state = freeze_state(FakeSsm(error="InvalidDocument"), ["typo"], T0)
    assert state.closed
    assert state.next_transition is None
    assert "InvalidDocument: nope" in state.describe()
    assert freeze_state(FakeSsm(), [], T0).closed is False


def test_open_goes_skip_skips_and_wait_waits_until_the_transition_within_the_bound() -> None:
    closed = FreezeState(("c",), T0, closed=True, next_transition=T0 + timedelta(hours=1))
    assert (
        decide(FreezeState(("c",), T0, closed=False), on_closed="wait", deadline=DEADLINE).action
        == "go"
    )
    assert decide(closed, on_closed="skip", deadline=DEADLINE).action == "skip"
    waiting = decide(closed, on_closed="wait", deadline=DEADLINE)
    assert (waiting.action, waiting.wait_until) == ("wait", T0 + timedelta(hours=1))
    # a freeze that ends after the bound: wait until the bound, once
    long = FreezeState(("c",), T0, closed=True, next_transition=T0 + timedelta(days=3))
    assert decide(long, on_closed="wait", deadline=DEADLINE).wait_until == DEADLINE
    never = FreezeState(("c",), T0, closed=True)
    assert decide(never, on_closed="wait", deadline=DEADLINE).wait_until == DEADLINE
    # at the bound, still closed: skipped, and the reason says the bound
    late = FreezeState(("c",), DEADLINE, closed=True, next_transition=T0 + timedelta(days=3))
    skipped = decide(late, on_closed="wait", deadline=DEADLINE)
    assert skipped.action == "skip"
    assert "still closed at the wait's bound 2026-12-19 09:00 UTC" in skipped.reason
    assert skipped.as_dict()["skippedBy"] == "change-freeze"


def test_the_bound_is_the_policys_hours_within_the_window() -> None:
    policy = FreezePolicy(calendars=["c"], on_closed="wait", max_wait_hours=6)
    assert deadline_for(T0, policy, window_hours=4) == T0 + timedelta(hours=4)
    assert deadline_for(T0, policy, window_hours=0) == T0 + timedelta(hours=6)
