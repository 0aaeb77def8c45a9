"""Launch churn: the same launch failure, over and over, in one Auto Scaling group.

Under ``on_failure: abandon`` Auto Scaling terminates an abandoned instance and launches a
replacement to meet the group's desired capacity. When the failure is deterministic (an
untagged or conflicting patch group tag, a broken image) the replacement fails the same
way: launch, abandon, replace, without end, each cycle a message. This module counts such
failures per group and decides, by the launch policy's ``churn`` section, what each one
does:

* the first failure of a streak is announced as usual; the next ones, up to ``after``,
  are stored and indexed but not announced (the streak is not news yet);
* the ``after``-th failure in a row, with the same reason, is announced once, as an
  escalation, and the action applies: ``suspend-launch`` suspends the group's Launch
  process (no more launches until an operator resumes it), ``continue`` releases this and
  the streak's next failures into service unpatched (CONTINUE-and-report: each is
  reported), ``notify-only`` changes nothing but the noise;
* with ``suspend-launch``, a failure of an instance launched after the escalation means
  Launch was resumed without a fix: it escalates (and suspends) again;
* a successful launch in the group ends the streak; so does a day without failures.

Only failures that say something about the instance or its image count. A failure of the
control plane's own calls (throttling that outlasted the retries, a lost lifecycle
action, a crashed function) neither counts nor ends a streak.

The streak is one state-table item per group (``CHURN#<group>``), written with a
condition on the version it was read at, so two runs ending at once cannot both count
from the same state; the loser reads again. Each run's decision is kept in the item, so a
retried or duplicated task gets the answer its first attempt got and is never counted
twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch.contracts import keys
from fleetpatch.contracts.keys import churn_key
from fleetpatch.errors import ChurnConflictError

ChurnAction = Literal["suspend-launch", "continue", "notify-only"]
Announce = Literal["report", "quiet", "escalate"]
LifecycleResult = Literal["CONTINUE", "ABANDON"]

# Failures more than this far apart are not churn (an abandoned instance is replaced in
# minutes; the slowest failure, a command Run Command times out, takes about 3 hours).
STREAK_GAP = timedelta(hours=24)
# Decisions remembered for replay, and instances named in the escalation.
REMEMBERED_RUNS = 20
INSTANCES_KEPT = 10
STREAK_TTL_SECONDS = 7 * 24 * 3600
WRITE_ATTEMPTS = 5

# Failures of the control plane's own calls, not of the instance: they never count.
_NOT_THE_INSTANCE = frozenset(
    {
        "AgentCheckFailed",
        "LifecycleActionGone",
        "HeartbeatsUnavailable",
        "CommandWaitFailed",
        "CommandLost",
        "VerifyFailed",
    }
)
# ...nor does a failure whose error says AWS or a function was busy or broken, nor an
# instance that was gone when its target was resolved (scaled in under the run).
_TRANSIENT_MARKERS = (
    "Throttl",
    "TooManyRequests",
    "RequestLimitExceeded",
    "InternalServer",
    "ServiceUnavailable",
    "ServiceException",
    "AwsThrottledError",
    "InstanceNotFoundError",
)
# Reasons whose message starts with the error's name: the same reason means the same error.
_REASONS_BY_ERROR = frozenset({"TargetUnresolved", "SendCommandFailed"})


class ChurnPolicy(BaseModel):
    """The launch policy's ``churn`` section, as the workflow reads it."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    after: int = Field(
        default=3, ge=2, le=100, description="failures in a row, same reason, that escalate"
    )
    action: ChurnAction = Field(
        default="suspend-launch",
        description="suspend-launch: suspend the group's Launch process; continue: release "
        "the failing instances unpatched (each reported); notify-only: escalate only",
    )


def failure_key(reason: str, message: str) -> str | None:
    """What "the same reason" compares; None for a failure that is not the instance's."""
    if reason in _NOT_THE_INSTANCE or any(m in message for m in _TRANSIENT_MARKERS):
        return None
    if reason in _REASONS_BY_ERROR:
        error = message.split(":", 1)[0].strip()
        return f"{reason}/{error}" if error and " " not in error else reason
    return reason


@dataclass(frozen=True)
class Decision:
    """What one run's outcome does to its group's streak, and what the run does about it."""

    group: str
    action: ChurnAction
    after: int
    lifecycle_result: LifecycleResult
    announce: Announce = "report"
    counted: bool = False
    streak: int = 0
    reason: str | None = None
    detail: str | None = None
    instances: tuple[str, ...] = ()
    first_failed_at: str | None = None
    suspend: bool = False
    ended_streak: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The camelCase form the workflow and the report read."""
        return {
            "group": self.group,
            "action": self.action,
            "after": self.after,
            "lifecycleResult": self.lifecycle_result,
            "announce": self.announce,
            "counted": self.counted,
            "streak": self.streak,
            "reason": self.reason,
            "detail": self.detail,
            "instances": list(self.instances),
            "firstFailedAt": self.first_failed_at,
            "suspend": self.suspend,
            "endedStreak": self.ended_streak,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        return cls(
            group=data["group"],
            action=data["action"],
            after=data["after"],
            lifecycle_result=data["lifecycleResult"],
            announce=data["announce"],
            counted=data["counted"],
            streak=data["streak"],
            reason=data["reason"],
            detail=data["detail"],
            instances=tuple(data["instances"]),
            first_failed_at=data["firstFailedAt"],
            suspend=data["suspend"],
            ended_streak=data["endedStreak"],
        )


@dataclass(frozen=True)
class Streak:
    """Failures in a row in one group, with the same reason (the stored record)."""

    group: str
    key: str
    reason: str
    count: int
    first_at: datetime
    last_at: datetime
    detail: str
    instances: tuple[str, ...]
    escalated_at: datetime | None = None
    escalations: int = 0
    version: int = 0
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """One run's failure, as the workflow reports it."""

    run_id: str
    instance_id: str
    reason: str
    message: str
    started_at: datetime


def decide_failure(
    streak: Streak | None,
    failure: Failure,
    *,
    group: str,
    policy: ChurnPolicy,
    on_failure: LifecycleResult,
    now: datetime,
) -> tuple[Streak | None, Decision]:
    """The streak after ``failure`` (None: unchanged) and what the run does."""
    plain = Decision(group, policy.action, policy.after, lifecycle_result=on_failure)
    key = failure_key(failure.reason, failure.message)
    if key is None or on_failure == "CONTINUE":
        # Not the instance's failure; or a policy that releases failures anyway, so
        # nothing is abandoned and nothing churns: reported as usual.
        return None, plain
    stale = streak is not None and now - streak.last_at > STREAK_GAP
    # A group suspended for this streak stays in it, however long Launch stays suspended.
    suspended = (
        streak is not None and streak.escalated_at is not None and policy.action == "suspend-launch"
    )
    if streak is None or streak.key != key or (stale and not suspended):
        new = Streak(
            group=group,
            key=key,
            reason=failure.reason,
            count=1,
            first_at=now,
            last_at=now,
            detail=failure.message,
            instances=(failure.instance_id,),
            version=streak.version if streak else 0,
            runs=streak.runs if streak else {},
        )
    else:
        new = replace(
            streak,
            count=streak.count + 1,
            last_at=now,
            detail=failure.message,
            instances=(*streak.instances, failure.instance_id)[-INSTANCES_KEPT:],
        )
    announce: Announce = "report" if new.count == 1 else "quiet"
    result: LifecycleResult = on_failure
    suspend = False
    if new.count >= policy.after:
        # A suspended group launches nothing: an instance that started after the
        # escalation was launched because someone resumed Launch, and it failed again.
        relaunched = new.escalated_at is not None and failure.started_at > new.escalated_at
        if new.escalated_at is None or (policy.action == "suspend-launch" and relaunched):
            announce = "escalate"
            new = replace(new, escalated_at=now, escalations=new.escalations + 1)
            suspend = policy.action == "suspend-launch"
        elif policy.action == "continue":
            announce = "report"  # CONTINUE-and-report: each unpatched instance is news
        if policy.action == "continue":
            result = "CONTINUE"
    decision = replace(
        plain,
        lifecycle_result=result,
        announce=announce,
        counted=True,
        streak=new.count,
        reason=new.reason,
        detail=new.detail,
        instances=new.instances,
        first_failed_at=new.first_at.isoformat(),
        suspend=suspend,
    )
    runs = {**new.runs, failure.run_id: decision.as_dict()}
    new = replace(new, runs=dict(list(runs.items())[-REMEMBERED_RUNS:]))
    return new, decision


def decide_success(streak: Streak | None, *, group: str, policy: ChurnPolicy) -> Decision:
    """A launch in the group succeeded: the streak, if any, ends here."""
    return Decision(
        group,
        policy.action,
        policy.after,
        lifecycle_result="CONTINUE",
        reason=streak.reason if streak else None,
        ended_streak=streak.count if streak else None,
    )


# --- the record ---------------------------------------------------------------------------------


def _to_item(streak: Streak) -> dict[str, dict[str, Any]]:
    item: dict[str, dict[str, Any]] = {
        **churn_key(streak.group),
        "group": {"S": streak.group},
        "failure_key": {"S": streak.key},
        "reason": {"S": streak.reason},
        "streak": {"N": str(streak.count)},
        "first_at": {"S": streak.first_at.isoformat()},
        "last_at": {"S": streak.last_at.isoformat()},
        "detail": {"S": streak.detail},
        "instances": {"L": [{"S": i} for i in streak.instances]},
        "escalations": {"N": str(streak.escalations)},
        "version": {"N": str(streak.version)},
        "runs": {"S": json.dumps(streak.runs, separators=(",", ":"))},
        "expires_at": keys.expires_at(streak.last_at.timestamp(), STREAK_TTL_SECONDS),
    }
    if streak.escalated_at is not None:
        item["escalated_at"] = {"S": streak.escalated_at.isoformat()}
    return item


def _from_item(item: dict[str, dict[str, Any]]) -> Streak:
    escalated = item.get("escalated_at", {}).get("S")
    return Streak(
        group=item["group"]["S"],
        key=item["failure_key"]["S"],
        reason=item["reason"]["S"],
        count=int(item["streak"]["N"]),
        first_at=datetime.fromisoformat(item["first_at"]["S"]),
        last_at=datetime.fromisoformat(item["last_at"]["S"]),
        detail=item["detail"]["S"],
        instances=tuple(i["S"] for i in item["instances"]["L"]),
        escalated_at=datetime.fromisoformat(escalated) if escalated else None,
        escalations=int(item["escalations"]["N"]),
        version=int(item["version"]["N"]),
        runs=json.loads(item["runs"]["S"]),
    )


class ChurnRecords:
    """Streaks in the state table: read, decide, write under a condition, or read again."""

    def __init__(self, dynamodb: Any, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    def record_failure(
        self,
        failure: Failure,
        *,
        group: str,
        policy: ChurnPolicy,
        on_failure: LifecycleResult,
        now: Callable[[], datetime],
    ) -> Decision:
        for _ in range(WRITE_ATTEMPTS):
            current = self._get(group)
            if current is not None and failure.run_id in current.runs:
                # A retried or duplicated task: the answer its first attempt got.
                return Decision.from_dict(current.runs[failure.run_id])
            new, decision = decide_failure(
                current, failure, group=group, policy=policy, on_failure=on_failure, now=now()
            )
            if new is None or self._put(replace(new, version=new.version + 1), current):
                return decision
        raise ChurnConflictError(
            f"the churn record of group {group} changed under {WRITE_ATTEMPTS} writes in a row"
        )

    def record_success(self, *, group: str, policy: ChurnPolicy) -> Decision:
        """End the group's streak (a retried success finds nothing left to end)."""
        old = self._dynamodb.delete_item(
            TableName=self._table, Key=churn_key(group), ReturnValues="ALL_OLD"
        ).get("Attributes")
        return decide_success(_from_item(old) if old else None, group=group, policy=policy)

    def _get(self, group: str) -> Streak | None:
        item = self._dynamodb.get_item(
            TableName=self._table, Key=churn_key(group), ConsistentRead=True
        ).get("Item")
        return _from_item(item) if item else None

    def _put(self, new: Streak, read: Streak | None) -> bool:
        """Write ``new`` if the record is still what was read; False: someone wrote first."""
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if read is None
            else {
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(read.version)}},
            }
        )
        try:
            self._dynamodb.put_item(TableName=self._table, Item=_to_item(new), **condition)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True
