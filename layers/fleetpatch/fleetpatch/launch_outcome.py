"""A patch-new-instance run's outcome, accounted before its instance is released.

The workflow calls this once per run, at release, when the run has an Auto Scaling group
(its lifecycle action named one) or no resolved target (it failed before its agent was
online). It answers three questions:

* where does the instance belong: its environment and Auto Scaling group, from its EC2
  tags when the run never resolved a target, so its report can be filtered like any other;
* what does the outcome do to the group's launch-churn streak (``fleetpatch.churn``);
* which lifecycle result releases the instance: the policy's ``onFailure``, unless the
  churn policy switched the group to CONTINUE-and-report.

When the streak escalates under ``suspend-launch`` it suspends the group's Launch process.
A retried call replays the decision recorded for the run and suspends again, which Auto
Scaling accepts for a process already suspended.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from fleetpatch import aws
from fleetpatch.churn import ChurnPolicy, ChurnRecords, Decision, Failure, LifecycleResult
from fleetpatch.ids import AutoScalingGroupName, ManagedInstanceId
from fleetpatch.launch import instance_context

LAUNCH_PROCESS = "Launch"


class RunFailure(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)
    reason: str = Field(min_length=1, max_length=256)
    message: str = Field(max_length=4096)


class OutcomeRequest(BaseModel):
    """What the workflow sends (``RecordLaunchOutcome`` in patch_new_instance.asl.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    run_id: str = Field(alias="runId", min_length=1, max_length=80)
    instance_id: ManagedInstanceId = Field(alias="instanceId")
    started_at: AwareDatetime = Field(alias="startedAt")
    group: AutoScalingGroupName | None = Field(
        default=None, description="the group of the run's lifecycle action (None: no hook)"
    )
    environment: str | None = Field(default=None, description="from the resolved target")
    failure: RunFailure | None = None
    on_failure: Literal["ABANDON", "CONTINUE"] = Field(alias="onFailure")
    churn: ChurnPolicy = Field(default_factory=ChurnPolicy)
    excepted: bool = Field(
        default=False,
        description="released unpatched by its fleetpatch:skip exception (neither a success "
        "nor a failure of the group's launches)",
    )


@dataclass(frozen=True)
class LaunchOutcome:
    environment: str | None
    auto_scaling_group: str | None
    lifecycle_result: LifecycleResult
    churn: Decision | None = None
    suspended: bool = False
    suspend_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        churn = None
        if self.churn is not None:
            churn = {
                **self.churn.as_dict(),
                "suspended": self.suspended,
                "suspendError": self.suspend_error,
            }
        return {
            "environment": self.environment,
            "autoScalingGroup": self.auto_scaling_group,
            "lifecycleResult": self.lifecycle_result,
            "churn": churn,
        }


def account_launch(
    request: OutcomeRequest,
    *,
    ec2: Any,
    autoscaling: Any,
    records: ChurnRecords,
    now: Callable[[], datetime],
) -> LaunchOutcome:
    environment, group = request.environment, request.group
    if environment is None or group is None:
        context = instance_context(request.instance_id, ec2)
        environment = environment or context.environment
        group = group or context.auto_scaling_group
    default: LifecycleResult = request.on_failure if request.failure else "CONTINUE"
    if request.group is None:
        # No lifecycle action: launched outside Auto Scaling (or remediation); no churn.
        return LaunchOutcome(environment, group, default)
    if request.excepted:
        # Not patched by the owner's choice: it neither ends nor extends the group's streak
        # (docs/exceptions.md), and it is released into service.
        return LaunchOutcome(environment, group, "CONTINUE")
    if request.failure is None:
        decision = records.record_success(group=request.group, policy=request.churn)
    else:
        decision = records.record_failure(
            Failure(
                run_id=request.run_id,
                instance_id=request.instance_id,
                reason=request.failure.reason,
                message=request.failure.message,
                started_at=request.started_at,
            ),
            group=request.group,
            policy=request.churn,
            on_failure=request.on_failure,
            now=now,
        )
    suspend_error = None
    if decision.suspend:
        suspend_error = _suspend_launch(autoscaling, request.group)
    return LaunchOutcome(
        environment,
        group,
        decision.lifecycle_result,
        churn=decision,
        suspended=decision.suspend and suspend_error is None,
        suspend_error=suspend_error,
    )


def _suspend_launch(autoscaling: Any, group: str) -> str | None:
    """Suspend the group's Launch process; the error, if it could not (reported, not raised).

    Throttling is raised: the workflow retries the task, which replays the decision.
    """
    try:
        autoscaling.suspend_processes(AutoScalingGroupName=group, ScalingProcesses=[LAUNCH_PROCESS])
    except ClientError as exc:
        if aws.is_throttling(exc):
            raise
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', str(exc))}"
    return None
