"""Launch runs: what one costs (state transitions, AWS API calls) and how fast the control plane is.

Everything runs on the local cloud at time factor 0: the real template, ASL and handlers,
an Auto Scaling group with the launch hook, simulated instances.

* **Cost per run**: one instance scaled out into an otherwise idle account, the run and
  every handler it sets off (patch-on-launch, command-status, compliance-change,
  publish-report, notify-slack) counted. State transitions are the states the execution
  entered (Step Functions bills one per state); AWS API calls are every call the
  handlers and the state machine's service integrations made, counted with a botocore
  ``before-parameter-build`` hook on the session they use (the simulators' own calls use another
  session and are not counted).
* **Latency**: real time the control plane takes, with the simulated clock jumping over
  every wait: from the workflow's first DescribeInstanceInformation that finds the agent
  Online to its SendCommand, and from the fleet emitting the invocation's final status
  event to CompleteLifecycleAction. Simulated waits (the agent poll) are reported apart.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3

from benchmarks.figures import Figure, median, p95
from localcloud.cloud import LocalCloud
from localcloud.runner import create_group
from localcloud.scenario import GroupSpec, LifecycleHookSpec
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver

GROUP = "web-test"
HOOK = "fleetpatch-launch"
TARGET_TRANSITIONS = 30
TARGET_LATENCY_MS = 50.0


@dataclass
class Call:
    at: float  # perf_counter
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
                time.perf_counter(),
                self.cloud.clock.time(),
                f"{model.service_model.service_name}:{model.name}",
                dict(params) if isinstance(params, dict) else {},
            )
        )


_LOG = CallLog()


def _install_call_log() -> None:
    # Clients copy the session's event hooks when created: register before the handlers and
    # the state machines create theirs.
    session = boto3._get_default_session()
    if not getattr(session, "_fleetpatch_bench", False):
        session.events.register("before-parameter-build", _LOG)
        session._fleetpatch_bench = True  # type: ignore[attr-defined]


@contextmanager
def deployed_cloud() -> Iterator[LocalCloud]:
    """The real stack on a fresh local cloud, with Slack answered by the local receiver."""
    with LocalCloud() as cloud, SlackWebhookReceiver() as slack:
        # moto resets boto3's default session when it starts: hook the new one.
        _install_call_log()
        stack = cloud.deploy()
        secret = stack.outputs.get("SlackWebhookSecret")
        if secret:
            cloud.client("secretsmanager").create_secret(Name=secret, SecretString=slack.url)
        _auto_scaling_group(cloud)
        _LOG.cloud = cloud
        try:
            yield cloud
        finally:
            _LOG.cloud = None


def _auto_scaling_group(cloud: LocalCloud) -> None:
    create_group(
        cloud,
        GroupSpec(
            name=GROUP,
            os="AMAZON_LINUX_2023",
            tags={"Patch Group": "patch_test_0600_batch_1", "Environment": "test"},
            max_size=500,
            lifecycle_hook=LifecycleHookSpec(
                name=HOOK, heartbeat_timeout=1800, default_result="ABANDON"
            ),
        ),
    )


def _scale_out(cloud: LocalCloud, behaviours: list[Behaviour]) -> list[str]:
    assert cloud.fleet is not None
    assert cloud.autoscaling is not None
    for behaviour in behaviours:
        cloud.fleet.behaviour_for_next_launch(behaviour, group=GROUP)
    return list(cloud.autoscaling.scale_out(GROUP, len(behaviours)))


def _launch_execution(cloud: LocalCloud, instance: str) -> dict[str, Any]:
    assert cloud.stack is not None
    sfn = cloud.client("stepfunctions")
    arn = cloud.stack.state_machine_arn("PatchNewInstanceStateMachine")
    for summary in sfn.list_executions(stateMachineArn=arn)["executions"]:
        execution: dict[str, Any] = sfn.describe_execution(executionArn=summary["executionArn"])
        if json.loads(execution["input"])["instanceId"] == instance:
            return execution
    raise LookupError(f"no launch run for {instance}")


def _transitions(cloud: LocalCloud, execution_arn: str) -> int:
    sfn = cloud.client("stepfunctions")
    entered = 0
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        entered += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
    return entered


# --- cost per run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCost:
    transitions: int
    calls: Counter[str]
    status: str
    invocations: int
    gb_seconds: float


def run_cost(behaviour: Behaviour) -> RunCost:
    """What one launch run, alone in the account, costs: transitions, calls, Lambda time."""
    with deployed_cloud() as cloud:
        _LOG.calls.clear()
        before = len(cloud.lambdas.invocations)
        [instance] = _scale_out(cloud, [behaviour])
        cloud.settle(max_seconds=12 * 3600)
        execution = _launch_execution(cloud, instance)
        invocations = cloud.lambdas.invocations[before:]
        return RunCost(
            transitions=_transitions(cloud, execution["executionArn"]),
            calls=Counter(c.operation for c in _LOG.calls),
            status=execution["status"],
            invocations=len(invocations),
            # Lambda bills each invocation's duration, rounded up to the millisecond.
            gb_seconds=sum(
                math.ceil(i.duration_ms) / 1000 * i.memory_mb / 1024 for i in invocations
            ),
        )


def cost_figures() -> list[Figure]:
    cases = {
        "2-minute patch": Behaviour(agent_delay_seconds=30, command_duration_seconds=120),
        "60-minute patch": Behaviour(agent_delay_seconds=30, command_duration_seconds=3600),
        "agent never online": Behaviour(never_online=True),
    }
    figures: list[Figure] = []
    transitions: dict[str, int] = {}
    for name, behaviour in cases.items():
        cost = run_cost(behaviour)
        entered, calls, status = cost.transitions, cost.calls, cost.status
        transitions[name] = entered
        polling = name != "agent never online"
        figures.append(
            Figure(
                "launch run",
                f"state transitions, {name}",
                entered,
                "transitions",
                "states entered in the execution history of one run (run ended "
                f"{status}); Step Functions bills one transition per state entered",
                target=f"<= {TARGET_TRANSITIONS}" if polling else None,
                met=entered <= TARGET_TRANSITIONS if polling else None,
            )
        )
        top = ", ".join(f"{op} {n}" for op, n in calls.most_common(6))
        figures.append(
            Figure(
                "launch run",
                f"AWS API calls, {name}",
                sum(calls.values()),
                "calls",
                "every call the run's handlers and service integrations made (botocore "
                f"before-parameter-build hook); most: {top}",
            )
        )
        figures.append(
            Figure(
                "launch run",
                f"Lambda invocations, {name}",
                cost.invocations,
                "invocations",
                "every handler invocation the run set off (synchronous and asynchronous)",
            )
        )
        figures.append(
            Figure(
                "launch run",
                f"Lambda GB-seconds, {name}",
                round(cost.gb_seconds, 4),
                "GB-s",
                f"{cost.invocations} invocations of the run's handlers: their real duration on "
                "the local cloud (in-process, warm after the first) x the template's memory size; "
                "an estimate of Lambda's billed duration",
            )
        )
    same = transitions["2-minute patch"] == transitions["60-minute patch"]
    figures.append(
        Figure(
            "launch run",
            "transitions 60-minute minus 2-minute patch",
            transitions["60-minute patch"] - transitions["2-minute patch"],
            "transitions",
            "equal when nothing polls while the patch runs (one task-token wait)",
            target="0",
            met=same,
        )
    )
    return figures


# --- latency ----------------------------------------------------------------------------------


def latencies(launches: int, concurrent: int) -> dict[str, list[float]]:
    """Per launch: control-plane ms Online->SendCommand and status event->Complete."""
    found: dict[str, list[float]] = {"online_to_send": [], "event_to_complete": [], "poll_s": []}
    with deployed_cloud() as cloud:
        emitted: dict[str, float] = {}
        emit = cloud.emit

        def timed_emit(
            source: str,
            detail_type: str,
            detail: dict[str, Any],
            resources: list[str] | None = None,
        ) -> str:
            if detail_type == "EC2 Command Invocation Status-change Notification" and detail.get(
                "status"
            ) in {"Success", "Failed", "TimedOut", "Cancelled"}:
                emitted[str(detail.get("instance-id"))] = time.perf_counter()
            return emit(source, detail_type, detail, resources)

        cloud.emit = timed_emit  # type: ignore[method-assign]
        assert cloud.fleet is not None
        done = 0
        while done < launches:
            _LOG.calls.clear()
            emitted.clear()
            size = min(concurrent, launches - done)
            instances = _scale_out(
                cloud,
                [Behaviour(agent_delay_seconds=45, command_duration_seconds=120)] * size,
            )
            cloud.settle(max_seconds=6 * 3600)
            for instance in instances:
                online_at = cloud.fleet.instance(instance).registered_at
                assert online_at is not None
                checks = [
                    c
                    for c in _LOG.calls
                    if c.operation == "ssm:DescribeInstanceInformation"
                    and instance in json.dumps(c.params)
                    and c.sim >= online_at.timestamp()
                ]
                send = next(
                    c
                    for c in _LOG.calls
                    if c.operation == "ssm:SendCommand"
                    and instance in c.params.get("InstanceIds", [])
                )
                complete = next(
                    c
                    for c in _LOG.calls
                    if c.operation == "autoscaling:CompleteLifecycleAction"
                    and c.params.get("InstanceId") == instance
                )
                found["online_to_send"].append((send.at - checks[0].at) * 1000)
                found["event_to_complete"].append((complete.at - emitted[instance]) * 1000)
                found["poll_s"].append(send.sim - online_at.timestamp())
            done += size
    return found


def latency_figures(launches: int = 50, concurrent: int = 1) -> list[Figure]:
    measured = latencies(launches, concurrent)
    how = (
        f"{launches} launches, {concurrent} at a time, local cloud at time factor 0 (simulated "
        "waits take no real time): real ms between the two calls, perf_counter"
    )
    figures = []
    for key, label in (
        ("online_to_send", "agent Online seen -> SendCommand"),
        ("event_to_complete", "command status event -> CompleteLifecycleAction"),
    ):
        values = measured[key]
        figures += [
            Figure(
                "latency",
                f"{label}, median",
                round(median(values), 1),
                "ms",
                how,
                target=f"< {TARGET_LATENCY_MS:g} ms",
                met=median(values) < TARGET_LATENCY_MS,
            ),
            Figure("latency", f"{label}, p95", round(p95(values), 1), "ms", how),
        ]
    polls = measured["poll_s"]
    figures.append(
        Figure(
            "latency",
            "agent Online -> SendCommand in simulated time, median",
            round(median(polls), 1),
            "s",
            "simulated seconds from the agent registering to SendCommand: the agent poll's "
            "wait (backoff), not control-plane time",
        )
    )
    return figures


def call_cost_figure(calls: int = 200) -> Figure:
    """What one AWS call costs on the local cloud (botocore + moto in-process): the floor
    under every latency above, which makes several calls on its path."""
    with deployed_cloud() as cloud:
        # The cost of the call itself: 200 back to back would empty SSM's bucket.
        cloud.rate_limits.enabled = False
        ssm = cloud.client("ssm")
        ssm.describe_instance_information()
        timings = []
        for _ in range(calls):
            began = time.perf_counter()
            ssm.describe_instance_information(MaxResults=5)
            timings.append((time.perf_counter() - began) * 1000)
    return Figure(
        "latency",
        "one AWS API call on the local cloud, median",
        round(median(timings), 2),
        "ms",
        f"{calls} DescribeInstanceInformation calls through botocore and moto in-process",
    )


def measure(launches: int = 50) -> list[Figure]:
    return cost_figures() + latency_figures(launches) + [call_cost_figure()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.launches)
    if args.json:
        print(json.dumps([f.as_dict() for f in figures], indent=1))
    else:
        for figure in figures:
            print(f"{figure.group:<12} {figure.name:<60} {figure.value!s:>10} {figure.unit}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
