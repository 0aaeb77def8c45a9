"""The governance sections of the policy file: change freeze and advance notice (issue 21)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from fleetpatch.change_freeze import MAX_WAIT_HOURS, FreezePolicy, OnClosed
from fleetpatch.wave_notice import NoticePolicy
from fleetpatch_authoring.fields import PolicyModel, PolicyProblem

# An SSM document name (CreateDocument's Name pattern), or a calendar's ARN (one shared by
# another account: GetCalendarState takes either).
_NAME = r"[a-zA-Z0-9_\-.]{3,128}"
CALENDAR = rf"^({_NAME}|arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{{12}}:document/{_NAME})$"


class ChangeFreeze(PolicyModel):
    """While the SSM Change Calendar is CLOSED, no wave and no remediation starts."""

    calendar: str = Field(
        pattern=CALENDAR,
        description="the SSM Change Calendar (a ChangeCalendar document's name, or its ARN)",
    )
    on_closed: OnClosed = Field(
        default="skip",
        description="a wave whose window opens while the calendar is CLOSED: skip (reported "
        "as skipped by the freeze) or wait (until the calendar opens, at most max_wait_hours "
        "and within the window; then reported as skipped)",
    )
    max_wait_hours: int = Field(
        default=4,
        ge=1,
        le=MAX_WAIT_HOURS,
        description="with on_closed: wait, how long a run waits for the calendar to open",
    )
    launches: Literal["patch"] = Field(
        default="patch",
        description="new instances are patched during a freeze (holding them would keep a "
        "scale-out out of service for the freeze's length)",
    )

    def runtime(self) -> FreezePolicy:
        return FreezePolicy(
            calendars=[self.calendar],
            on_closed=self.on_closed,
            max_wait_hours=self.max_wait_hours,
            launches=self.launches,
        )


class Notice(PolicyModel):
    """A message before each wave's window: what will be patched, on which hosts."""

    days_before: int = Field(
        default=3, ge=1, le=14, description="days before each window: the first notice"
    )
    hour_before: bool = Field(default=True, description="and one an hour before the window")

    def runtime(self) -> NoticePolicy:
        return NoticePolicy(days_before=self.days_before, hour_before=self.hour_before)


def freeze_problems(freeze: ChangeFreeze | None) -> Iterator[PolicyProblem]:
    if freeze is None:
        return
    if freeze.on_closed == "skip" and "max_wait_hours" in freeze.model_fields_set:
        yield PolicyProblem(
            ("change_freeze", "max_wait_hours"),
            "max_wait_hours applies only with on_closed: wait (a skipped run does not wait)",
        )
