"""What a launch report says besides its outcome: the lifecycle result, the group, churn.

One wording for every format (the e-mail's subject and body, Slack, the HTML page): the
report modules call these. A launch always says how its instance was released: CONTINUE
(into service), ABANDON (terminated, and replaced unless the group's Launch process is
suspended), or none (launched outside Auto Scaling, or the lifecycle action was gone).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from fleetpatch.reports import RunReport


class ChurnSummary(BaseModel):
    """Where a launch stands in its group's launch-churn streak (``fleetpatch.churn``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    group: str
    action: str = Field(description="the policy's launch.churn.action")
    after: int = Field(description="the policy's launch.churn.after")
    streak: int = Field(description="failures in a row with this reason, this one included")
    reason: str | None = None
    detail: str | None = Field(default=None, description="the latest failure's message")
    announced: bool = Field(default=True, description="false: stored and indexed, not sent")
    escalation: bool = False
    suspended: bool = Field(default=False, description="this run suspended Launch")
    suspend_error: str | None = None
    instances: list[str] = Field(default_factory=list, description="the streak's latest")
    first_failed_at: datetime | None = None
    ended_streak: int | None = Field(
        default=None, description="a success: the failures in a row it ended"
    )


def churn_summary(decision: Mapping[str, Any] | None) -> ChurnSummary | None:
    """The report's view of the workflow's churn decision (None: nothing to say)."""
    if not decision or not (decision.get("counted") or decision.get("endedStreak")):
        return None
    first = decision.get("firstFailedAt")
    return ChurnSummary(
        group=str(decision["group"]),
        action=str(decision["action"]),
        after=int(decision["after"]),
        streak=int(decision.get("streak") or 0),
        reason=decision.get("reason"),
        detail=decision.get("detail"),
        announced=decision.get("announce") != "quiet",
        escalation=decision.get("announce") == "escalate",
        suspended=bool(decision.get("suspended")),
        suspend_error=decision.get("suspendError"),
        instances=[str(i) for i in decision.get("instances") or []],
        first_failed_at=datetime.fromisoformat(first) if first else None,
        ended_streak=decision.get("endedStreak"),
    )


def _failed(report: RunReport) -> bool:
    return report.outcome == "failed"


def lifecycle_phrase(report: RunReport) -> str | None:
    """A few words for the subject: how the instance was released (None: not a launch)."""
    if report.kind != "launch":
        return None
    result = report.lifecycle_result
    if result == "CONTINUE":
        return "released unpatched" if _failed(report) else "released"
    if result == "ABANDON":
        return "abandoned"
    if report.auto_scaling_group is not None:
        return "lifecycle action gone"
    return None


def lifecycle_description(report: RunReport) -> str | None:
    """The lifecycle result and what it did, for the body, Slack and HTML (None: no launch)."""
    if report.kind != "launch":
        return None
    result = report.lifecycle_result
    if result == "CONTINUE":
        into = "released into service unpatched" if _failed(report) else "released into service"
        return f"CONTINUE ({into})"
    if result == "ABANDON":
        if report.churn is not None and report.churn.suspended:
            return "ABANDON (terminated; Launch is suspended, so no replacement is launched)"
        return "ABANDON (terminated; Auto Scaling launches a replacement)"
    if report.auto_scaling_group is None:
        return "none (launched outside Auto Scaling)"
    return "none (the lifecycle action was gone: the hook timed out or the instance ended)"


def _action_taken(churn: ChurnSummary) -> str:
    if churn.action == "suspend-launch":
        return "Launch suspended" if churn.suspended else "suspending Launch FAILED"
    if churn.action == "continue":
        return "released unpatched"
    return "still replacing"


def escalation_subject(report: RunReport) -> str:
    churn = report.churn
    assert churn is not None
    text = (
        f"launch churn in {churn.group}: {churn.streak} failed in a row "
        f"({churn.reason}), {_action_taken(churn)}"
    )
    return text + (f" [{report.environment}]" if report.environment else "")


def escalation_lines(churn: ChurnSummary) -> list[str]:
    """The escalation's explanation: the streak, its cause, what was done, what to do."""
    since = (
        f" (since {churn.first_failed_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        if churn.first_failed_at
        else ""
    )
    lines = [
        f"Auto Scaling group {churn.group}: {churn.streak} launches in a row failed with "
        f"{churn.reason}{since}:",
        f"  {churn.detail or '-'}",
        f"Instances: {', '.join(churn.instances) or '-'}",
    ]
    resume = (
        f"  aws autoscaling resume-processes --auto-scaling-group-name {churn.group} "
        "--scaling-processes Launch"
    )
    if churn.action == "suspend-launch" and churn.suspended:
        lines += [
            "The group's Launch process is suspended (launch.churn.action: suspend-launch): "
            "it launches nothing, replacements included, until it is resumed. Fix the cause, "
            "then resume it:",
            resume,
        ]
    elif churn.action == "suspend-launch":
        lines += [
            f"Suspending the group's Launch process failed ({churn.suspend_error}): it keeps "
            "launching and abandoning. Suspend it by hand:",
            resume.replace("resume-processes", "suspend-processes"),
        ]
    elif churn.action == "continue":
        lines.append(
            "The group's failing launches are now released into service unpatched "
            "(launch.churn.action: continue), each one reported, until a launch succeeds."
        )
    else:
        lines.append(
            "Nothing else changes (launch.churn.action: notify-only): the group keeps "
            "launching and abandoning; this streak's further failures are stored, not sent."
        )
    return lines


def churn_note(churn: ChurnSummary) -> str | None:
    """One line for the report's notes (None: the escalation says it all)."""
    if churn.ended_streak:
        return (
            f"launch churn: this launch ends a streak of {churn.ended_streak} failed "
            f"launches in {churn.group} ({churn.reason})"
        )
    if churn.escalation:
        return None
    where = f"launch churn: failure {churn.streak} in a row in {churn.group} ({churn.reason})"
    if not churn.announced:
        if churn.streak < churn.after:
            return f"{where}; stored, not sent (an escalation is sent at {churn.after})"
        return f"{where}; stored, not sent (escalated already)"
    if churn.streak >= churn.after and churn.action == "continue":
        return f"{where}; released unpatched (launch.churn.action: continue)"
    return None
