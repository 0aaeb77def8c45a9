"""Change freeze: the policy's SSM Change Calendar, read in one place (issue 21, part 3).

While the calendar is CLOSED no wave and no remediation starts; by policy a wave's run waits
for it to open (never past a bound) or is reported as skipped. Launches still patch. Every
caller asks :func:`freeze_state` (a wave's governance check, remediation, and an emergency
run later), and a wave's run decides with :func:`decide`.

``GetCalendarState`` (Systems Manager API reference) takes ``CalendarNames`` (names or ARNs
of ChangeCalendar documents) and an optional ``AtTime`` (ISO 8601); it answers ``State``
(``OPEN`` only if every calendar is open), ``AtTime`` and ``NextTransitionTime`` (when the
state changes; absent when it never does). Its errors: ``InvalidDocument`` (no such
document), ``InvalidDocumentType`` (not a ChangeCalendar), ``UnsupportedCalendarException``,
``InternalServerError``. IAM: ``ssm:GetCalendarState`` on each calendar's ``document`` ARN.

A calendar that cannot be read counts as CLOSED (fails closed, with the error as its
reason): a freeze nobody can check is not a licence to patch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from pydantic import Field

from fleetpatch.batch_policy import Compiled

if TYPE_CHECKING:
    from collections.abc import Sequence

OnClosed = Literal["wait", "skip"]
Action = Literal["go", "wait", "skip"]

MAX_WAIT_HOURS = 24 * 7
"""The longest a run may wait for a calendar to open (a week; the policy says less)."""


class FreezePolicy(Compiled):
    """The policy's ``change_freeze``, compiled (``CompiledPolicy.change_freeze``)."""

    calendars: list[str] = Field(min_length=1, max_length=10)
    on_closed: OnClosed = Field(default="skip", alias="onClosed")
    max_wait_hours: int = Field(default=4, ge=1, le=MAX_WAIT_HOURS, alias="maxWaitHours")
    launches: Literal["patch"] = "patch"


@dataclass(frozen=True)
class FreezeState:
    """What the calendars said at ``at``."""

    calendars: tuple[str, ...]
    at: datetime
    closed: bool
    next_transition: datetime | None = None
    error: str | None = None

    def describe(self) -> str:
        names = ", ".join(self.calendars)
        if self.error is not None:
            return f"change calendar {names} could not be read ({self.error}): counted as CLOSED"
        if not self.closed:
            return f"change calendar {names} is OPEN"
        until = (
            f" until {_stamp(self.next_transition)}"
            if self.next_transition is not None
            else " with no end in sight"
        )
        return f"change freeze: calendar {names} is CLOSED{until}"


def freeze_state(ssm: Any, calendar_names: Sequence[str], at: datetime) -> FreezeState:
    """The combined state of ``calendar_names`` at ``at`` (one GetCalendarState call)."""
    names = tuple(calendar_names)
    if not names:
        return FreezeState(names, at, closed=False)
    try:
        found = ssm.get_calendar_state(CalendarNames=list(names), AtTime=_iso(at))
    except ClientError as exc:
        error = exc.response.get("Error", {})
        reason = f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
        return FreezeState(names, at, closed=True, error=reason)
    following = found.get("NextTransitionTime")
    return FreezeState(
        names,
        at,
        closed=found["State"] != "OPEN",
        next_transition=_parse(following) if following else None,
    )


@dataclass(frozen=True)
class Decision:
    """What a run does about a freeze: go on, wait until ``wait_until``, or be skipped."""

    action: Action
    reason: str
    wait_until: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reason": self.reason,
            "waitUntil": _iso(self.wait_until) if self.wait_until else None,
            "skippedBy": "change-freeze" if self.action == "skip" else None,
        }


def decide(state: FreezeState, *, on_closed: OnClosed, deadline: datetime) -> Decision:
    """Go, wait (until the calendar's next transition, never past ``deadline``) or skip.

    A run never waits past its deadline: at or after it, a still-closed calendar skips it
    with a reason that says so. Waiting ends at the calendar's next transition (no
    polling); a calendar that never opens, or cannot be read, waits until the deadline once.
    """
    if not state.closed:
        return Decision("go", state.describe())
    if on_closed == "skip":
        return Decision("skip", f"skipped: {state.describe()}")
    if state.at >= deadline:
        return Decision(
            "skip",
            f"skipped: {state.describe()}, still closed at the wait's bound {_stamp(deadline)}",
        )
    until = deadline
    if state.next_transition is not None and state.next_transition < deadline:
        until = max(state.next_transition, state.at + timedelta(seconds=1))
    return Decision("wait", f"waiting: {state.describe()}", until)


def deadline_for(started: datetime, policy: FreezePolicy, window_hours: int) -> datetime:
    """When a wave's run stops waiting: ``max_wait_hours`` on, and within its window."""
    hours = policy.max_wait_hours
    if window_hours > 0:
        hours = min(hours, window_hours)
    return started + timedelta(hours=hours)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
