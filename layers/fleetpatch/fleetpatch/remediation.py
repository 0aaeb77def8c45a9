"""Remediation of compliance drift, as the policy allows per environment.

``never``: record and notify only. ``scan``: run AWS-RunPatchBaseline with Operation=Scan
on the drifting instance, so its compliance is fresh evidence. ``install``: install, but
only inside the environment's maintenance window (a wave patching that environment is
running its window now); outside it the instance is scanned and the install is left to
the next window, which the report names. Remediation runs are patch-instance runs (the
same workflow as a launch), so they are held to the same checks and reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fleetpatch import clock
from fleetpatch.change_freeze import freeze_state
from fleetpatch.contracts.names import remediation_run_name
from fleetpatch.serving_aws import placement
from fleetpatch.skip_tag import evaluate
from fleetpatch.tags import SKIP_TAG_KEY
from fleetpatch.workflows import start_once

if TYPE_CHECKING:
    from fleetpatch.policy import CompiledPolicy

Operation = Literal["Scan", "Install"]


@dataclass(frozen=True)
class RemediationPlan:
    operation: Operation
    reason: str


def environment_waves(runtime: CompiledPolicy, environment: str) -> list[str]:
    """The waves whose batches patch ``environment``'s patch groups."""
    return sorted(
        name
        for name, wave in runtime.waves.items()
        if any(
            runtime.environment_of(group) == environment
            for batch in wave.batches
            for group in batch.patch_groups
        )
    )


def open_window(
    runtime: CompiledPolicy, environment: str, now: datetime
) -> tuple[str, datetime, datetime] | None:
    """(wave, start, end) of a window of ``environment`` open at ``now``, if any."""
    for name in environment_waves(runtime, environment):
        wave = runtime.waves[name]
        hours = wave.window_hours
        if hours <= 0:
            continue
        runs = wave.schedule.resolved().next_runs(now - timedelta(hours=hours), count=1)
        if not runs:
            continue
        # Elapsed hours, not wall-clock ones: a window across a DST change lasts its hours.
        start = runs[0]
        end = (start.astimezone(UTC) + timedelta(hours=hours)).astimezone(start.tzinfo)
        if start <= now < end:
            return name, start, end
    return None


def next_window(
    runtime: CompiledPolicy, environment: str, now: datetime
) -> tuple[str, datetime] | None:
    found = []
    for name in environment_waves(runtime, environment):
        runs = runtime.waves[name].schedule.resolved().next_runs(now, count=1)
        if runs:
            found.append((runs[0], name))
    if not found:
        return None
    when, name = min(found)
    return name, when


def plan(runtime: CompiledPolicy, environment: str | None, now: datetime) -> RemediationPlan | None:
    """What to run on an instance of ``environment`` that just drifted (None: nothing)."""
    if environment is None:
        return None
    mode = runtime.compliance.remediation_of(environment)
    if mode == "scan":
        return RemediationPlan("Scan", f"{environment} remediates by scanning")
    if mode != "install":
        return None
    window = open_window(runtime, environment, now)
    if window is not None:
        wave, _, end = window
        return RemediationPlan(
            "Install", f"inside the {wave} window, open until {end:%Y-%m-%d %H:%M %Z}"
        )
    upcoming = next_window(runtime, environment, now)
    later = (
        f"; the {upcoming[0]} window at {upcoming[1]:%Y-%m-%d %H:%M %Z} installs"
        if upcoming
        else ""
    )
    return RemediationPlan("Scan", f"outside {environment}'s window: scan only{later}")


_BUSY_STATUSES = {"Pending", "InProgress", "Delayed", "Cancelling"}


def blocked(
    instance_id: str, *, ec2: Any, autoscaling: Any, ssm: Any, now: datetime | None = None
) -> str | None:
    """Why remediating ``instance_id`` now would do harm (None: it may go ahead).

    Drift reported in the middle of another patch run is that run's business: an instance
    held by a launch hook or leaving a warm pool is patched by the launch workflow, and a
    patch command still running on it must not meet a second one. An instance whose
    ``fleetpatch:skip`` exception applies at ``now`` (``fleetpatch.skip_tag``) opted out:
    its drift is recorded, never remediated; an expired or invalid one does not stop it.
    """
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ec2.exceptions.ClientError as exc:
        if "NotFound" in str(exc) or "Malformed" in str(exc):
            return "it is not an EC2 instance of this account (or no longer exists)"
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    state = instances[0]["State"]["Name"] if instances else "gone"
    tags = {t["Key"]: t["Value"] for t in (instances[0].get("Tags", []) if instances else [])}
    if SKIP_TAG_KEY in tags:
        exception = evaluate(tags[SKIP_TAG_KEY], now or clock.now())
        if exception.applies:
            return f"{exception.describe()}: drift recorded, not remediated"
    if state != "running":
        return f"it is {state}"
    groups = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
    for member in groups.get("AutoScalingInstances", []):
        if member["LifecycleState"] != "InService":
            return (
                f"it is {member['LifecycleState']} in Auto Scaling group "
                f"{member['AutoScalingGroupName']}: the launch workflow patches it"
            )
    commands = ssm.list_commands(InstanceId=instance_id, MaxResults=50).get("Commands", [])
    for command in commands:
        if (
            command.get("DocumentName") == "AWS-RunPatchBaseline"
            and command.get("Status") in _BUSY_STATUSES
        ):
            return f"patch command {command['CommandId']} is still {command['Status']} on it"
    return None


def serving_scan(
    runtime: CompiledPolicy,
    instance_id: str,
    patch_group: str | None,
    *,
    ec2: Any,
    autoscaling: Any,
    elbv2: Any,
) -> str | None:
    """Why an install must be a scan: the instance serves traffic in a serving batch.

    A remediation patches in place, rebooting as it needs: on an instance that serves, in a
    batch the policy patches out of service under a disruption budget, that would bypass
    the drain and the budget. Its wave installs it; the remediation scans (no reboot).
    """
    serving_groups = {
        group
        for wave in runtime.waves.values()
        for batch in wave.batches
        if batch.serving is not None
        for group in batch.patch_groups
    }
    if patch_group is None or patch_group not in serving_groups:
        return None
    if not placement(instance_id, ec2=ec2, autoscaling=autoscaling, elbv2=elbv2).serves:
        return None
    return (
        "it serves traffic in a serving batch: installing is left to its wave, which takes it "
        "out of service under the disruption budget; scanned now"
    )


def remediate(
    runtime: CompiledPolicy,
    *,
    instance_id: str,
    environment: str | None,
    event_id: str,
    now: datetime,
    state_machine_arn: str,
    stepfunctions: Any,
    ec2: Any,
    autoscaling: Any,
    ssm: Any,
    patch_group: str | None = None,
    elbv2: Any = None,
) -> dict[str, Any] | None:
    """Start the remediation the policy allows for a drift event (None: it allows none).

    A patch-new-instance run with trigger ``remediation``, named after the event: a
    redelivered event finds the run started and starts nothing. An install on an instance
    that serves in a serving batch is a scan (:func:`serving_scan`).
    """
    remediation = plan(runtime, environment, now)
    if remediation is None:
        return None
    busy = blocked(instance_id, ec2=ec2, autoscaling=autoscaling, ssm=ssm, now=now)
    if busy is not None:
        return {"execution": None, "operation": remediation.operation, "skipped": busy}
    if runtime.change_freeze is not None:
        # No remediation starts during a change freeze (docs/governance.md); the drift is
        # recorded and in the digest, and the next compliance event after it remediates.
        frozen = freeze_state(ssm, runtime.change_freeze.calendars, now)
        if frozen.closed:
            return {
                "execution": None,
                "operation": remediation.operation,
                "skipped": f"not remediated: {frozen.describe()}",
            }
    if remediation.operation == "Install" and elbv2 is not None:
        serving = serving_scan(
            runtime, instance_id, patch_group, ec2=ec2, autoscaling=autoscaling, elbv2=elbv2
        )
        if serving is not None:
            remediation = RemediationPlan("Scan", serving)
    started = start_once(
        stepfunctions,
        state_machine_arn,
        remediation_run_name(instance_id, event_id),
        {
            "instanceId": instance_id,
            "trigger": "remediation",
            "operation": remediation.operation,
            "reason": remediation.reason,
            # The same workflow policy a launch run gets (the command wait included).
            "policy": runtime.launch.workflow_policy(),
        },
    )
    if started.duplicate:
        return {"execution": started.name, "operation": remediation.operation, "duplicate": True}
    return {
        "execution": started.name,
        "operation": remediation.operation,
        "reason": remediation.reason,
    }
