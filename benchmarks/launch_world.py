"""The world the launch benchmarks measure: a deployed local cloud, its launches, what each became.

Shared by ``benchmarks.launch`` (latency and cost per run) and ``benchmarks.scale_out``.
Times are simulated (the local cloud's clock); see ``benchmarks.launch`` for each measure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from localcloud.cloud import LocalCloud
from localcloud.runner import create_group
from localcloud.scenario import GroupSpec, LifecycleHookSpec
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver

GROUP = "web-test"
HOOK = "fleetpatch-launch"
LAUNCH_MACHINE = "PatchNewInstanceStateMachine"
WATCHER_MACHINE = "ReadinessWatcherStateMachine"
WATCHER_FUNCTION = "-watch-ready"
FINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})
THROTTLING = ("Throttl", "Rate exceeded", "TooManyRequests", "RequestLimitExceeded")
AGENT_DELAYS = (20, 35, 45, 60, 90, 120, 200, 300, 450, 700)


@dataclass
class Call:
    sim: float  # simulated epoch seconds
    operation: str  # service:Operation
    params: dict[str, Any]


@dataclass
class CallLog:
    """Every API call made through boto3's default session (handlers, state machines)."""

    cloud: LocalCloud | None = None
    calls: list[Call] = field(default_factory=list)

    def __call__(self, params: Any, model: Any, **_: Any) -> None:
        if self.cloud is None:
            return
        self.calls.append(
            Call(
                self.cloud.clock.time(),
                f"{model.service_model.service_name}:{model.name}",
                dict(params) if isinstance(params, dict) else {},
            )
        )


CALL_LOG = CallLog()


def _install_call_log() -> None:
    # Clients copy the session's event hooks when created: register before the handlers and
    # the state machines create theirs.
    session = boto3._get_default_session()
    if not getattr(session, "_fleetpatch_bench", False):
        session.events.register("before-parameter-build", CALL_LOG)
        session._fleetpatch_bench = True  # type: ignore[attr-defined]


@contextmanager
def deployed_cloud(max_size: int = 20) -> Iterator[LocalCloud]:
    """The real stack on a fresh local cloud, with Slack answered by the local receiver."""
    with LocalCloud() as cloud, SlackWebhookReceiver() as slack:
        # moto resets boto3's default session when it starts: hook the new one.
        _install_call_log()
        stack = cloud.deploy()
        secret = stack.outputs.get("SlackWebhookSecret")
        if secret:
            cloud.client("secretsmanager").create_secret(Name=secret, SecretString=slack.url)
        create_group(
            cloud,
            GroupSpec(
                name=GROUP,
                os="AMAZON_LINUX_2023",
                tags={"Patch Group": "patch_test_0600_batch_1", "Environment": "test"},
                max_size=max_size,
                lifecycle_hook=LifecycleHookSpec(
                    name=HOOK, heartbeat_timeout=1800, default_result="ABANDON"
                ),
            ),
        )
        CALL_LOG.calls.clear()
        CALL_LOG.cloud = cloud
        try:
            yield cloud
        finally:
            CALL_LOG.cloud = None


def launch_instances(cloud: LocalCloud, behaviours: Sequence[Behaviour]) -> list[str]:
    assert cloud.fleet is not None
    assert cloud.autoscaling is not None
    for behaviour in behaviours:
        cloud.fleet.behaviour_for_next_launch(behaviour, group=GROUP)
    return list(cloud.autoscaling.scale_out(GROUP, len(behaviours)))


def executions(cloud: LocalCloud, logical_id: str) -> list[dict[str, Any]]:
    assert cloud.stack is not None
    sfn = cloud.client("stepfunctions")
    arn = cloud.stack.state_machine_arn(logical_id)
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
    return [
        sfn.describe_execution(executionArn=e["executionArn"])
        for page in pages
        for e in page["executions"]
    ]


def history(cloud: LocalCloud, execution_arn: str) -> list[dict[str, Any]]:
    sfn = cloud.client("stepfunctions")
    return [
        event
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for event in page["events"]
    ]


def transitions(history: Sequence[dict[str, Any]]) -> int:
    return sum(1 for e in history if e["type"].endswith("StateEntered"))


# --- what happened to each launch -------------------------------------------------------------


class FinalStatusClock:
    """When (simulated) the fleet emitted each instance's final command status event."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.at: dict[str, float] = {}
        emit = cloud.emit

        def recorded(
            source: str,
            detail_type: str,
            detail: dict[str, Any],
            resources: list[str] | None = None,
        ) -> str:
            if (
                detail_type == "EC2 Command Invocation Status-change Notification"
                and detail.get("status") in FINAL_STATUSES
            ):
                self.at[str(detail.get("instance-id"))] = cloud.clock.time()
            return emit(source, detail_type, detail, resources)

        cloud.emit = recorded  # type: ignore[method-assign]


@dataclass(frozen=True)
class Launch:
    """One launch's outcome and its simulated timings (seconds; None where it did not happen)."""

    instance: str
    result: str | None  # CONTINUE, ABANDON, or None (still held)
    reason: str
    online_to_send: float | None
    event_to_complete: float | None
    hold: float | None
    registration: float | None
    patch: float | None

    @property
    def overhead(self) -> float | None:
        if self.result != "CONTINUE" or None in (self.hold, self.registration, self.patch):
            return None
        return self.hold - self.registration - self.patch  # type: ignore[operator]


def outcomes(cloud: LocalCloud, instances: Sequence[str], final: FinalStatusClock) -> list[Launch]:
    assert cloud.fleet is not None
    assert cloud.autoscaling is not None
    actions = {a.instance_id: a for a in cloud.autoscaling.lifecycle_actions}
    runs = {json.loads(e["input"])["instanceId"]: e for e in executions(cloud, LAUNCH_MACHINE)}
    sent: dict[str, tuple[float, float | None, float | None]] = {}
    for command in cloud.fleet.commands():
        for instance, invocation in command.invocations.items():
            sent[instance] = (
                command.requested.timestamp(),
                invocation.started.timestamp() if invocation.started else None,
                invocation.ended.timestamp() if invocation.ended else None,
            )
    found = []
    for instance in instances:
        action = actions.get(instance)
        online = cloud.fleet.instance(instance).registered_at
        requested, began, ended = sent.get(instance, (None, None, None))
        run = runs.get(instance, {})
        reason = run.get("error") or ""
        if action is not None and action.ended_by not in (None, "CompleteLifecycleAction"):
            reason = f"{action.ended_by}: {action.reason}"
        elif run.get("status") == "FAILED":
            reason = f"{run.get('error')}: {run.get('cause')}"
        completed = (
            action.ended.timestamp()
            if action is not None and action.ended and action.ended_by == "CompleteLifecycleAction"
            else None
        )
        found.append(
            Launch(
                instance=instance,
                result=action.result if action is not None else None,
                reason=reason,
                online_to_send=(
                    requested - online.timestamp()
                    if requested is not None and online is not None
                    else None
                ),
                event_to_complete=(
                    completed - final.at[instance]
                    if completed is not None and instance in final.at
                    else None
                ),
                hold=(
                    (action.ended - action.started).total_seconds()
                    if action is not None and action.ended
                    else None
                ),
                registration=(
                    (online - action.started).total_seconds()
                    if action is not None and online is not None
                    else None
                ),
                patch=ended - began if began is not None and ended is not None else None,
            )
        )
    return found


def present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def machine_load() -> str:
    """The machine's 1-minute load average, or '?' where /proc is not there."""
    try:
        with open("/proc/loadavg") as loadavg:
            return loadavg.read().split()[0]
    except OSError:
        return "?"
