"""The scenario steps of issue 21's governance: a change freeze, an advance notice.

``change_freeze`` creates a Change Calendar (CreateDocument, ChangeCalendar, TEXT: as an
operator would) closed from now for a while, and names it in the deployed policy's change
freeze; ``advance_notice`` turns notices on in the deployed policy and plays the clock until
a wave's next days-before notice has gone out (the stack's hourly tick sends it). Both edit
the compiled policy in its SSM parameter, as a redeployed policy stack would, through the
layer's own models (``FreezePolicy``, ``NoticePolicy``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetpatch.aws import POLICY_CACHE_SECONDS
from fleetpatch.change_freeze import FreezePolicy
from fleetpatch.policy import CompiledPolicy
from fleetpatch.wave_notice import NoticePolicy
from localcloud.cloud import LocalCloud
from localcloud.scenario import AdvanceNoticeStep, ChangeFreezeStep
from localcloud.sim.change_calendar import ics


def _parameter(cloud: LocalCloud) -> str:
    assert cloud.stack is not None
    return str(cloud.stack.output("PolicyParameterName"))


def _edit_policy(cloud: LocalCloud, edit: Callable[[dict[str, Any]], None]) -> CompiledPolicy:
    ssm = cloud.client("ssm")
    name = _parameter(cloud)
    policy: dict[str, Any] = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    edit(policy)
    compiled = CompiledPolicy.model_validate(policy)
    # As the renderer writes it: compact, and the tier that holds it (the policy is near
    # the Standard tier's 4,096 characters; Intelligent-Tiering moves it up when it must).
    ssm.put_parameter(
        Name=name,
        Value=json.dumps(policy, separators=(",", ":")),
        Type="String",
        Tier="Intelligent-Tiering",
        Overwrite=True,
    )
    # The functions cache the policy for a minute (fleetpatch.aws.POLICY_CACHE_SECONDS), as
    # after a real redeploy: play that minute so the next step sees the edited policy.
    cloud.advance(POLICY_CACHE_SECONDS + 1)
    return compiled


def change_freeze(
    cloud: LocalCloud,
    calendar: str,
    closed: list[tuple[datetime, datetime]] | float,
    on_closed: str,
    max_wait_hours: int,
) -> str:
    """Create the calendar (closed from now for ``closed`` minutes, or in the periods given);
    the policy's freeze names it. What was done."""
    now = cloud.clock.now()
    if not isinstance(closed, list):
        # From now, and through the minute the functions take to see the policy.
        closed = [(now, now + timedelta(minutes=closed, seconds=POLICY_CACHE_SECONDS + 1))]
    until = max(end for _, end in closed)
    cloud.client("ssm").create_document(
        Name=calendar,
        Content=ics("OPEN", closed),
        DocumentType="ChangeCalendar",
        DocumentFormat="TEXT",
    )
    freeze = FreezePolicy.model_validate(
        {"calendars": [calendar], "onClosed": on_closed, "maxWaitHours": max_wait_hours}
    )
    _edit_policy(
        cloud, lambda p: p.update(changeFreeze=freeze.model_dump(mode="json", by_alias=True))
    )
    return (
        f"change calendar {calendar} CLOSED in {len(closed)} period(s), the last until "
        f"{until.astimezone(UTC):%Y-%m-%d %H:%M} UTC; the policy's "
        f"change freeze names it (on_closed {on_closed})"
    )


def advance_notice(cloud: LocalCloud, wave: str, days_before: int | None) -> str:
    """Notices on; play until ``wave``'s next days-before notice is due and sent."""
    now = cloud.clock.now()
    current = CompiledPolicy.model_validate_json(
        cloud.client("ssm").get_parameter(Name=_parameter(cloud))["Parameter"]["Value"]
    )
    if wave not in current.waves:
        raise ValueError(f"advance_notice: no wave {wave} in the deployed policy")
    occurrence = current.waves[wave].schedule.resolved().next_runs(now, 1)[0]
    ahead = math.floor((occurrence - now) / timedelta(days=1))
    days = days_before if days_before is not None else min(14, ahead)
    if days < 1 or occurrence - timedelta(days=days) < now:
        raise ValueError(
            f"advance_notice: {wave}'s next window ({occurrence:%Y-%m-%d %H:%M %Z}) is less "
            f"than {days} day(s) ahead: its notice is already due"
        )
    notice = NoticePolicy.model_validate({"daysBefore": days, "hourBefore": True})
    _edit_policy(cloud, lambda p: p.update(notice=notice.model_dump(mode="json", by_alias=True)))
    send_at = occurrence - timedelta(days=days)
    # A tick sends what is due in the hour after it: an hour past the send time, one has.
    cloud.advance((send_at - cloud.clock.now()).total_seconds() + 3600)
    return (
        f"advance notices on ({days} days and one hour before); {wave}'s window "
        f"{occurrence:%Y-%m-%d %H:%M %Z} announced at {send_at:%Y-%m-%d %H:%M %Z}"
    )


def play(cloud: LocalCloud, step: ChangeFreezeStep | AdvanceNoticeStep) -> str:
    """Play one governance step; what was done, for the timeline."""
    if isinstance(step, ChangeFreezeStep):
        freeze = step.change_freeze
        closed: list[tuple[datetime, datetime]] | float = (
            freeze.closed_minutes
            if freeze.closed_minutes is not None
            else [(p.start, p.end) for p in freeze.closed]
        )
        return change_freeze(
            cloud, freeze.calendar, closed, freeze.on_closed, freeze.max_wait_hours
        )
    return advance_notice(cloud, step.advance_notice.wave, step.advance_notice.days_before)
