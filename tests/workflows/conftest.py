"""Workflow tests: the real template.yaml, handlers and ASL, deployed into the local cloud.

Each test gets a fresh cloud at time factor 0 (simulated time jumps; a 15-minute agent
wait takes milliseconds) with the stack deployed and a queue subscribed to every SNS topic,
so the test can read what operators would receive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from pytest_socket import socket_allow_hosts

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import report_keys
from localcloud.cloud import LocalCloud
from localcloud.deployer.stack import Stack
from localcloud.recorder import Recorder
from localcloud.runner import create_group
from localcloud.scenario import GroupSpec, LifecycleHookSpec, WarmPoolSpec
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows import forking

GROUP = "web-test"
HOOK = "fleetpatch-launch"
PATCH_GROUP = "patch_test_0600_batch_1"


def states_entered(history: list[dict[str, object]]) -> list[str]:
    """The names of the states an execution entered, in order."""
    return [
        str(e["stateEnteredEventDetails"]["name"])  # type: ignore[index]
        for e in history
        if "stateEnteredEventDetails" in e
    ]


# The longest modules first (measured with --durations: the demo's module fixture, the AWS
# CLI sandbox, serving waves, hundreds of instances): xdist hands out tests in this order,
# and a long test started last keeps one worker busy alone after the other has finished.
LONGEST_FIRST = (
    "test_local_run.py",
    "test_organization.py",  # three accounts in two regions, a StackSet and a central stack
    "test_stackset.py",  # eight stacks in an organization's clouds (issue 22)
    "test_local_up_cli.py",
    "test_serving.py",
    "test_gated_wave_gates.py",
    "test_wave_membership.py",
    "test_launch_reports.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module's own order is kept


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """A test on the deployed stack runs in a fork of this process's one deployed cloud
    (tests/workflows/forking.py); any other test runs here, as usual, on a cloud of its own."""
    if not forking.enabled(item.config) or "deployed" not in item.fixturenames:
        forking.close_template()
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in forking.run_forked(item, nextitem):
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def pytest_sessionfinish() -> None:
    forking.close_template()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup() -> None:
    # The local cloud is in-process; the only socket is the local Slack receiver's.
    socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)


@dataclass
class Deployed:
    cloud: LocalCloud
    stack: Stack
    recorder: Recorder

    # --- driving the world ------------------------------------------------------------------

    def auto_scaling_group(
        self,
        *,
        heartbeat_timeout: int = 1800,
        max_size: int = 10,
        warm_pool: WarmPoolSpec | None = None,
    ) -> str:
        create_group(
            self.cloud,
            GroupSpec(
                name=GROUP,
                os="AMAZON_LINUX_2023",
                tags={"Patch Group": PATCH_GROUP, "Environment": "test"},
                max_size=max_size,
                lifecycle_hook=LifecycleHookSpec(
                    name=HOOK, heartbeat_timeout=heartbeat_timeout, default_result="ABANDON"
                ),
                warm_pool=warm_pool,
            ),
        )
        return GROUP

    def scale_out(self, *behaviours: Behaviour) -> list[str]:
        """Launch one instance per behaviour into the group; returns their ids."""
        assert self.cloud.fleet is not None
        assert self.cloud.autoscaling is not None
        for behaviour in behaviours:
            self.cloud.fleet.behaviour_for_next_launch(behaviour, group=GROUP)
        return list(self.cloud.autoscaling.scale_out(GROUP, len(behaviours)))

    # --- reading what happened ----------------------------------------------------------------

    def executions(self) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        arn = self.stack.state_machine_arn("PatchNewInstanceStateMachine")
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
        return [
            sfn.describe_execution(executionArn=e["executionArn"])
            for page in pages  # 100 a page: a scale-out has more
            for e in page["executions"]
        ]

    def executions_of(self, logical_id: str) -> list[dict[str, Any]]:
        """Every execution of the stack's state machine ``logical_id`` (oldest first)."""
        sfn = self.cloud.client("stepfunctions")
        arn = self.stack.state_machine_arn(logical_id)
        pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn)
        found = [
            sfn.describe_execution(executionArn=e["executionArn"])
            for p in pages
            for e in p["executions"]
        ]
        return sorted(found, key=lambda e: e["startDate"])

    def agent_online_at(self, instance_id: str) -> datetime:
        """When the simulated instance's SSM agent registered (reported Online)."""
        assert self.cloud.fleet is not None
        registered = self.cloud.fleet.instance(instance_id).registered_at
        assert registered is not None, f"{instance_id}'s agent never comes online"
        return registered

    def execution_for(self, instance_id: str) -> dict[str, Any]:
        found = [
            e for e in self.executions() if json.loads(e["input"])["instanceId"] == instance_id
        ]
        assert len(found) == 1, f"{len(found)} runs for {instance_id}"
        return found[0]

    def history(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        sfn = self.cloud.client("stepfunctions")
        pages = sfn.get_paginator("get_execution_history").paginate(
            executionArn=execution["executionArn"], maxResults=1000
        )
        return [event for page in pages for event in page["events"]]

    def lifecycle_result(self, instance_id: str) -> str | None:
        """The result of the instance's latest lifecycle action (a warm-pool instance has two)."""
        assert self.cloud.autoscaling is not None
        actions = [
            a for a in self.cloud.autoscaling.lifecycle_actions if a.instance_id == instance_id
        ]
        assert actions, f"no lifecycle action for {instance_id}"
        return actions[-1].result

    def group_state(self, instance_id: str) -> str | None:
        described = self.cloud.client("autoscaling").describe_auto_scaling_instances(
            InstanceIds=[instance_id]
        )["AutoScalingInstances"]
        return described[0]["LifecycleState"] if described else None

    def ec2_state(self, instance_id: str) -> str:
        reservations = self.cloud.client("ec2").describe_instances(InstanceIds=[instance_id])
        return str(reservations["Reservations"][0]["Instances"][0]["State"]["Name"])

    def messages(self) -> list[dict[str, Any]]:
        return self.recorder.messages()

    def messages_about(self, instance_id: str) -> list[dict[str, Any]]:
        """The reports topic's messages whose subject names ``instance_id``."""
        return [m for m in self.messages() if instance_id in (m["subject"] or "")]

    def report(self, run_id: str) -> dict[str, Any]:
        """A run's stored report (JSON), found through the state table's report index."""
        index = self.cloud.client("dynamodb").get_item(
            TableName=self.stack.physical_id("StateTable"),
            Key=keys.report_key(run_id),
        )["Item"]
        body = (
            self.cloud.client("s3")
            .get_object(
                Bucket=self.stack.physical_id("ArtifactsBucket"), Key=index["json_key"]["S"]
            )["Body"]
            .read()
        )
        report: dict[str, Any] = json.loads(body)
        return report

    def report_keys(self, run_id: str) -> tuple[str, str]:
        """Where a run's report is: its JSON and HTML keys, in the folder of the day it started
        (from the owner, fleetpatch.contracts.s3, not from the index that names them)."""
        started = datetime.fromisoformat(self.report(run_id)["started_at"])
        return report_keys(run_id, started)

    def schedules_left(self) -> list[str]:
        """Schedules the control plane created as it ran (the template's own, daily, aside)."""
        own = {r.physical_id for r in self.stack.of_type("AWS::Scheduler::Schedule")}
        listed = self.cloud.client("scheduler").list_schedules()["Schedules"]
        return [str(s["Name"]) for s in listed if s["Name"] not in own]

    def run_record(self, execution: dict[str, Any]) -> dict[str, str]:
        item = self.cloud.client("dynamodb").get_item(
            TableName=self.stack.physical_id("StateTable"),
            Key=keys.launch_run_key(execution["name"]),
        )["Item"]
        return {key: value.get("S", value.get("N", "")) for key, value in item.items()}


@pytest.fixture
def deployed() -> Iterator[Deployed]:
    template = forking.inherited()
    if template is None:
        template = forking.deploy_fresh()
    try:
        yield Deployed(template.cloud, template.stack, template.recorder)
    finally:
        template.cloud.__exit__(None, None, None)  # logs its IAM decisions, as every cloud does


@pytest.fixture
def slack(deployed: Deployed) -> Iterator[SlackWebhookReceiver]:
    """A local Slack webhook, its URL in the secret the policy names (as an operator stores it)."""
    with SlackWebhookReceiver() as receiver:
        deployed.cloud.client("secretsmanager").create_secret(
            Name=deployed.stack.outputs["SlackWebhookSecret"],
            SecretString=json.dumps({"webhook_url": receiver.url}),
        )
        deployed.recorder.slack = receiver
        yield receiver


@pytest.fixture(autouse=True)
def _no_iam_denial() -> Iterator[None]:
    """Every workflow runs as AWS would authorize it: a denial no test asked for fails it."""
    from localcloud.core.iam import enforcer

    enforcer.take_unexpected_denials()
    yield
    denials = enforcer.take_unexpected_denials()
    assert not denials, "IAM denied calls of the control plane:\n" + "\n".join(
        f"  {d.principal}: {d.action} on {d.resource} {d.reason}" for d in denials
    )
