"""Play a scenario on the local cloud: deploy the real template, build the fleet, run the steps.

    result = play(load_scenario(Path("scenarios/demo.yaml")))  # fleetpatch_cli.scenario_file
    print(json.dumps(result.as_dict()))

Nothing here decides what the control plane does: the deployed handlers and state machines
react to the events the simulators emit, exactly as they would in AWS. The runner only
drives the simulated world (launches, scale-outs, windows, time) and reads back, through
the AWS APIs, what happened.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fleetpatch.contracts import keys
from localcloud import audit_steps, governance_steps
from localcloud.cloud import REPO_ROOT, LocalCloud
from localcloud.recorder import Entry, Recorder, as_jsonable
from localcloud.report_files import save_reports
from localcloud.runner_emergency import note_remediation, raise_findings
from localcloud.scenario import (
    AdvanceNoticeStep,
    AdvanceStep,
    AuditExportStep,
    BehaviourSpec,
    ChangeFreezeStep,
    GroupSpec,
    InspectorFindingStep,
    NoteStep,
    PutEventStep,
    RunWindowStep,
    ScaleOutStep,
    Scenario,
    ScenarioError,
    SecurityHubStep,
    SettleStep,
    Step,
    TargetGroupSpec,
    TerminateInstanceStep,
)
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver

# After the last step the runner waits until the cloud is quiet, for at most this long
# (simulated): every workflow bounds its own waits well below it.
FINAL_SETTLE_SECONDS = 48 * 3600
# Auto Scaling groups need somewhere to launch; the zone does not matter to the simulator.
_ZONE_SUFFIX = "a"


@dataclass
class ScenarioResult:
    """What a played scenario led to; ``as_dict`` is the stable ``--json`` output."""

    scenario: str
    started: datetime
    simulated_seconds: float
    real_seconds: float
    time_factor: float
    timeline: list[Entry]
    runs: list[dict[str, Any]]
    lifecycle_actions: list[dict[str, Any]]
    commands: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    invocations: list[dict[str, Any]] = field(default_factory=list)
    stack_outputs: dict[str, str] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    # Target group name -> [(time, healthy, registered)] at every change (load_balancing).
    healthy_counts: dict[str, list[tuple[datetime, int, int]]] = field(default_factory=dict)
    # Each serving instance's outcome record (docs/serving.md), with its run, wave and batch.
    serving: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        # Keys scripts depend on: runs, lifecycle_actions, commands, messages. Add, never rename.
        return {
            "scenario": self.scenario,
            "started": self.started.isoformat(),
            "simulated_seconds": self.simulated_seconds,
            "real_seconds": round(self.real_seconds, 3),
            "time_factor": self.time_factor,
            "runs": as_jsonable(self.runs),
            "lifecycle_actions": as_jsonable(self.lifecycle_actions),
            "commands": as_jsonable(self.commands),
            "messages": as_jsonable(self.messages),
            "invocations": as_jsonable(self.invocations),
            "timeline": [entry.as_dict() for entry in self.timeline],
            "stack_outputs": self.stack_outputs,
            "reports": self.reports,
            "healthy_counts": {
                name: [
                    {"time": when.isoformat(), "healthy": healthy, "registered": registered}
                    for when, healthy, registered in samples
                ]
                for name, samples in self.healthy_counts.items()
            },
            "serving": as_jsonable(self.serving),
        }


def behaviour_of(spec: BehaviourSpec) -> Behaviour:
    return Behaviour(**spec.model_dump())


def play(
    scenario: Scenario,
    *,
    time_factor: float | None = None,
    template: Path | None = None,
    progress: bool = False,
    repo_root: Path = REPO_ROOT,
    reports_dir: Path | None = None,
) -> ScenarioResult:
    """Deploy ``template`` (default: the repository's) into a fresh local cloud and play."""
    factor = scenario.time_factor if time_factor is None else time_factor
    if factor < 0:
        raise ValueError("time_factor must be >= 0")
    real_start = time.monotonic()
    with (
        LocalCloud(time_factor=factor, start=scenario.start, repo_root=repo_root) as cloud,
        SlackWebhookReceiver() as slack,
    ):
        recorder = Recorder(cloud, slack=slack)
        recorder.attach()
        stack = cloud.deploy(template, scenario.parameters)
        recorder.note("step", f"deployed stack {stack.name} ({len(stack.resources)} resources)")
        check_windows(cloud, scenario)
        recorder.subscribe_to_topics()
        _connect_slack(cloud, stack.outputs.get("SlackWebhookSecret", ""), slack, recorder)
        build_fleet(cloud, scenario, recorder)
        outputs: dict[str, str] = {}  # files the evidence steps leave for the reports folder
        for step in scenario.steps:
            if isinstance(step, AuditExportStep | SecurityHubStep):
                audit_steps.play(cloud, step, recorder, outputs)
                continue
            _play_step(cloud, step, recorder, progress=progress)
        with _waiting(progress, factor, "waiting until the cloud is quiet"):
            cloud.settle(max_seconds=FINAL_SETTLE_SECONDS)
        _note_commands(cloud, recorder)
        _note_runs(recorder)
        note_remediation(cloud, stack.physical_id("ArtifactsBucket"), recorder)
        reports = save_reports(
            cloud, stack.physical_id("ArtifactsBucket"), reports_dir, scenario.name
        )
        reports = save_outputs(reports, outputs)
        return ScenarioResult(
            scenario=scenario.name,
            started=scenario.start,
            simulated_seconds=(cloud.clock.now() - scenario.start).total_seconds(),
            real_seconds=time.monotonic() - real_start,
            time_factor=factor,
            timeline=recorder.timeline(),
            runs=recorder.runs(),
            lifecycle_actions=[a.as_dict() for a in _autoscaling(cloud).lifecycle_actions],
            commands=_commands(cloud),
            messages=recorder.messages(),
            invocations=recorder.invocations(),
            stack_outputs=dict(stack.outputs),
            reports=reports,
            healthy_counts=_healthy_counts(cloud, scenario),
            serving=_serving_outcomes(cloud, recorder.runs()),
        )


def save_outputs(reports: list[str], outputs: dict[str, str]) -> list[str]:
    """The evidence steps' files, next to the saved reports (their index stays last)."""
    if not reports or not outputs:
        return reports
    run_dir = Path(reports[-1]).parent
    saved = []
    for relative, text in sorted(outputs.items()):
        target = run_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="")
        saved.append(str(target))
    return [*reports[:-1], *saved, reports[-1]]


def _connect_slack(
    cloud: LocalCloud, secret_name: str, slack: SlackWebhookReceiver, recorder: Recorder
) -> None:
    """Store the local receiver's URL where the policy says the webhook secret is."""
    if not secret_name:
        return
    cloud.client("secretsmanager").create_secret(Name=secret_name, SecretString=slack.url)
    recorder.note("step", f"Slack webhook secret {secret_name} -> local receiver {slack.url}")


def _window_local_time(cloud: LocalCloud, name: str) -> str:
    """The simulated time in the window's own time zone, and the schedule it was run out of.

    A scenario runs a window when it chooses, not at its schedule's next occurrence: the
    label says both, so "06:00 Europe/Zurich" is never printed for a run at another time.
    """
    windows = cloud.client("ssm").describe_maintenance_windows(
        Filters=[{"Key": "Name", "Values": [name]}]
    )["WindowIdentities"]
    if not windows:
        return cloud.clock.now().strftime("%H:%M UTC")
    window = windows[0]
    zone = window.get("ScheduleTimezone") or "UTC"
    local = cloud.clock.now().astimezone(ZoneInfo(zone))
    return f"{local:%a %d %b %H:%M} {zone} (its schedule: {window.get('Schedule', '-')})"


# --- the world ------------------------------------------------------------------------------


def build_fleet(cloud: LocalCloud, scenario: Scenario, recorder: Recorder | None = None) -> None:
    """Launch the scenario's fleet and create its Auto Scaling groups (no steps played)."""

    def note(kind: str, text: str) -> None:
        if recorder is not None:
            recorder.note(kind, text)

    fleet = _fleet(cloud)
    target_groups = {spec.name: create_target_group(cloud, spec) for spec in scenario.target_groups}
    for name in target_groups:
        note("fleet", f"target group {name}")
    for spec in scenario.fleet:
        tags = {"Name": spec.name, **spec.tags}
        ids = fleet.launch(
            spec.os, tags=tags, behaviour=behaviour_of(spec.behaviour), count=spec.count
        )
        patch_group = spec.tags.get("Patch Group") or spec.tags.get("PatchGroup") or "no group"
        note("fleet", f"launched {spec.name} ({spec.os}, {patch_group}): {', '.join(ids)}")
        for name in spec.target_groups:
            cloud.client("elbv2").register_targets(
                TargetGroupArn=target_groups[name], Targets=[{"Id": i} for i in ids]
            )
    for group in scenario.auto_scaling_groups:
        create_group(cloud, group, [target_groups[name] for name in group.target_groups])
        hook = group.lifecycle_hook
        note(
            "fleet",
            f"Auto Scaling group {group.name} ({group.os})"
            + (f" with launch hook {hook.name}" if hook else ""),
        )
    if recorder is not None:
        asg = _autoscaling(cloud)
        asg.on_instance_launched(
            lambda instance_id, group: recorder.note("lifecycle", f"{group} launched {instance_id}")
        )


def create_target_group(cloud: LocalCloud, spec: TargetGroupSpec) -> str:
    """An HTTP target group of instances in the default VPC; returns its ARN."""
    elbv2 = cloud.client("elbv2")
    vpcs = cloud.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])
    check = spec.health_check
    arn: str = elbv2.create_target_group(
        Name=spec.name,
        Protocol="HTTP",
        Port=spec.port,
        VpcId=vpcs["Vpcs"][0]["VpcId"],
        TargetType="instance",
        HealthCheckIntervalSeconds=check.interval_seconds,
        HealthCheckTimeoutSeconds=min(5, check.interval_seconds - 1),
        HealthyThresholdCount=check.healthy_threshold,
        UnhealthyThresholdCount=check.unhealthy_threshold,
    )["TargetGroups"][0]["TargetGroupArn"]
    elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[
            {
                "Key": "deregistration_delay.timeout_seconds",
                "Value": str(spec.deregistration_delay_seconds),
            }
        ],
    )
    return arn


def create_group(
    cloud: LocalCloud, group: GroupSpec, target_group_arns: list[str] | None = None
) -> None:
    """The group, its target groups attached and its initial capacity InService, then its hook."""
    ec2 = cloud.client("ec2")
    autoscaling = cloud.client("autoscaling")
    template_name = f"{group.name}-template"
    ec2.create_launch_template(
        LaunchTemplateName=template_name,
        LaunchTemplateData={
            "ImageId": _fleet(cloud).image_id(group.os),
            "InstanceType": "t3.micro",
        },
    )
    tags = [
        {"Key": k, "Value": v, "PropagateAtLaunch": True, "ResourceId": group.name}
        for k, v in {"Name": group.name, **group.tags}.items()
    ]
    for behaviour in group.behaviours:
        _fleet(cloud).behaviour_for_next_launch(behaviour_of(behaviour), group=group.name)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=group.name,
        LaunchTemplate={"LaunchTemplateName": template_name, "Version": "$Latest"},
        MinSize=group.min_size,
        MaxSize=group.max_size,
        # Launched now, before the hook exists: InService (and registered) at the start.
        DesiredCapacity=group.desired_capacity,
        AvailabilityZones=[f"{cloud.region}{_ZONE_SUFFIX}"],
        Tags=tags,
        TargetGroupARNs=target_group_arns or [],
    )
    if group.lifecycle_hook is not None:
        hook = group.lifecycle_hook
        arguments: dict[str, Any] = {
            "LifecycleHookName": hook.name,
            "AutoScalingGroupName": group.name,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "HeartbeatTimeout": hook.heartbeat_timeout,
            "DefaultResult": hook.default_result,
        }
        if hook.notification_metadata is not None:
            arguments["NotificationMetadata"] = hook.notification_metadata
        autoscaling.put_lifecycle_hook(**arguments)
    if group.warm_pool is not None:
        autoscaling.put_warm_pool(
            AutoScalingGroupName=group.name,
            MinSize=group.warm_pool.min_size,
            PoolState=group.warm_pool.pool_state,
        )


def _play_step(cloud: LocalCloud, step: Step, recorder: Recorder, *, progress: bool) -> None:
    if isinstance(step, AdvanceStep | SettleStep):
        _play_clock_step(cloud, step, recorder, progress=progress)
    elif isinstance(step, ScaleOutStep | RunWindowStep | PutEventStep | TerminateInstanceStep):
        _play_fleet_step(cloud, step, recorder)
    elif isinstance(step, NoteStep):
        recorder.note("step", step.note.text)
    elif isinstance(step, ChangeFreezeStep | AdvanceNoticeStep):
        recorder.note("step", governance_steps.play(cloud, step))
    elif isinstance(step, InspectorFindingStep):
        raise_findings(cloud, step.inspector_finding, recorder)


def _play_clock_step(
    cloud: LocalCloud, step: AdvanceStep | SettleStep, recorder: Recorder, *, progress: bool
) -> None:
    factor = cloud.clock.factor
    if isinstance(step, AdvanceStep):
        seconds = step.advance.total_seconds
        recorder.note("step", f"advance {_duration(seconds)}")
        with _waiting(progress, factor, f"advancing {_duration(seconds)}"):
            cloud.advance(seconds)
    else:
        recorder.note("step", "wait until quiet")
        with _waiting(progress, factor, "waiting until the cloud is quiet"):
            cloud.settle(max_seconds=step.settle.max_hours * 3600)


def _play_fleet_step(
    cloud: LocalCloud,
    step: ScaleOutStep | RunWindowStep | PutEventStep | TerminateInstanceStep,
    recorder: Recorder,
) -> None:
    if isinstance(step, ScaleOutStep):
        spec = step.scale_out
        for behaviour in spec.behaviours:
            _fleet(cloud).behaviour_for_next_launch(behaviour_of(behaviour), group=spec.group)
        recorder.note("step", f"scale out {spec.group} by {spec.count}")
        _autoscaling(cloud).scale_out(spec.group, spec.count)
    elif isinstance(step, RunWindowStep):
        execution = _windows(cloud).run_window(step.run_window.window)
        recorder.note(
            "step",
            f"run maintenance window {step.run_window.window} now, "
            f"{_window_local_time(cloud, step.run_window.window)} ({execution})",
        )
    elif isinstance(step, PutEventStep):
        event = json.loads(step.put_event.file.read_text(encoding="utf-8"))
        recorder.note("step", f"put event {step.put_event.file.name} ({event.get('detail-type')})")
        cloud.put_event(event)
    else:
        instance_id = terminate_instance(
            cloud, step.terminate_instance.name, step.terminate_instance.index
        )
        recorder.note("step", f"terminate {step.terminate_instance.name} ({instance_id})")


def terminate_instance(cloud: LocalCloud, name: str, index: int = 0) -> str:
    """EC2 TerminateInstances of the ``index``-th alive instance tagged ``Name: name``."""
    ec2 = cloud.client("ec2")
    found = ec2.describe_instances(
        Filters=[
            {"Name": "tag:Name", "Values": [name]},
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            },
        ]
    )
    instances = sorted(
        (i for r in found["Reservations"] for i in r["Instances"]),
        key=lambda i: (i["LaunchTime"], i["AmiLaunchIndex"], i["InstanceId"]),
    )
    if index >= len(instances):
        raise LookupError(f"no alive instance {index} named {name!r} ({len(instances)} alive)")
    instance_id: str = instances[index]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[instance_id])
    return instance_id


# --- reading back what happened --------------------------------------------------------------


def _healthy_counts(
    cloud: LocalCloud, scenario: Scenario
) -> dict[str, list[tuple[datetime, int, int]]]:
    """Each scenario target group's healthy count over the run (none if never registered)."""
    balancing = cloud.load_balancing
    counts: dict[str, list[tuple[datetime, int, int]]] = {}
    for spec in scenario.target_groups:
        try:
            counts[spec.name] = balancing.healthy_counts(spec.name) if balancing else []
        except KeyError:
            counts[spec.name] = []
    return counts


def lowest_healthy(
    samples: list[tuple[datetime, int, int]],
) -> tuple[int, datetime, int, datetime] | None:
    """(peak, since, lowest, first at) of a target group's healthy count over a run.

    ``peak`` is the most targets ever healthy at once (the tier at full strength) and
    ``since`` when that was first reached: before it the targets were still passing their
    first health checks. ``lowest`` is the fewest healthy from then on, first at ``at``: what
    patching, not the start, left serving. None when no target was ever healthy.
    """
    peak = max((healthy for _, healthy, _ in samples), default=0)
    if peak == 0:
        return None
    start = next(i for i, (_, healthy, _) in enumerate(samples) if healthy == peak)
    at, lowest, _ = min(samples[start:], key=lambda sample: (sample[1], sample[0]))
    return peak, samples[start][0], lowest, at


def _serving_outcomes(cloud: LocalCloud, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The serving outcome records of every wave run (``WAVE#<run>`` / ``SERVING#<nn>#<id>``).

    Each: run, wave, step (the batch's index), instance_id, outcome, reason, out_at, back_at
    and out_of_service_seconds, as the patch-serving-instance workflow recorded them.
    """
    stack = cloud.stack
    if stack is None or "StateTable" not in stack.resources:
        return []
    table = stack.physical_id("StateTable")
    dynamodb = cloud.client("dynamodb")
    found: list[dict[str, Any]] = []
    for run in runs:
        if run["kind"] != "wave":
            continue
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.wave_pk(run["name"])},
                ":prefix": {"S": keys.SERVING_PREFIX},
            },
        )
        for item in (item for page in pages for item in page["Items"]):
            record = json.loads(item["record"]["S"])
            found.append(
                {
                    "run": run["name"],
                    "wave": run.get("wave"),
                    "step": int(item["sk"]["S"].split("#")[1]),
                    "instance_id": record["instanceId"],
                    "outcome": record["outcome"],
                    "reason": record.get("reason"),
                    "out_at": record.get("outAt"),
                    "back_at": record.get("backAt"),
                    "out_of_service_seconds": record.get("outOfServiceSeconds"),
                }
            )
    return sorted(found, key=lambda r: (r["out_at"] or "", r["run"], r["instance_id"]))


def _commands(cloud: LocalCloud) -> list[dict[str, Any]]:
    return [
        {
            "command_id": command.command_id,
            "document": command.request.document_name,
            "operation": command.patch.operation if command.patch else None,
            "install_override_list": command.patch.install_override_list if command.patch else None,
            "instance_ids": sorted(command.invocations),
            "status": command.status,
            "requested": command.requested,
            "invocations": {
                instance_id: invocation.status
                for instance_id, invocation in sorted(command.invocations.items())
            },
        }
        for command in _fleet(cloud).commands()
    ]


def _note_commands(cloud: LocalCloud, recorder: Recorder) -> None:
    for command in _fleet(cloud).commands():
        recorder.entries.append(
            Entry(
                command.requested,
                "command",
                f"{command.request.document_name}"
                f"{' ' + command.patch.operation if command.patch else ''} on "
                f"{', '.join(sorted(command.invocations))}: {command.status}",
            )
        )


def _note_runs(recorder: Recorder) -> None:
    sfn = recorder.cloud.client("stepfunctions")
    for run in recorder.runs():
        execution = sfn.describe_execution(executionArn=run["arn"]) if "arn" in run else None
        if execution is None:
            continue
        recorder.entries.append(
            Entry(execution["startDate"], "run", f"{run['kind']} run {run['name']} started")
        )
        if execution.get("stopDate"):
            outcome = run["status"]
            if execution.get("error"):
                outcome += f" ({execution['error']})"
            recorder.entries.append(
                Entry(execution["stopDate"], "run", f"{run['kind']} run {run['name']}: {outcome}")
            )


def _fleet(cloud: LocalCloud) -> Any:
    if cloud.fleet is None:
        raise RuntimeError("the local cloud is not running")
    return cloud.fleet


def _autoscaling(cloud: LocalCloud) -> Any:
    if cloud.autoscaling is None:
        raise RuntimeError("the local cloud is not running")
    return cloud.autoscaling


def check_windows(cloud: LocalCloud, scenario: Scenario) -> None:
    """Refuse a run_window step naming no window of the stack before anything is played."""
    windows = [
        window
        for page in cloud.client("ssm").get_paginator("describe_maintenance_windows").paginate()
        for window in page["WindowIdentities"]
    ]
    known = {w["WindowId"] for w in windows} | {w["Name"] for w in windows}
    names = sorted(w["Name"] for w in windows)
    for index, step in enumerate(scenario.steps):
        if isinstance(step, RunWindowStep) and step.run_window.window not in known:
            close = difflib.get_close_matches(step.run_window.window, names, n=1)
            hint = f"did you mean {close[0]}?" if close else f"windows: {', '.join(names)}"
            raise ScenarioError(
                f"steps.{index}.run_window.window",
                f"no maintenance window {step.run_window.window} in the stack ({hint})",
            )


def _windows(cloud: LocalCloud) -> Any:
    if cloud.windows is None:
        raise RuntimeError("the local cloud is not running")
    return cloud.windows


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@contextmanager
def _waiting(progress: bool, factor: float, text: str) -> Iterator[None]:
    """A spinner for waits that take real time (time factor above 0)."""
    if not progress or factor <= 0:
        yield
        return
    # rich only for a spinner in a real-time run: imported when one is shown (import cost).
    from rich.console import Console

    with Console(stderr=True).status(text):
        yield
