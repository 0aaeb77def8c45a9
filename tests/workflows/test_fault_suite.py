"""The fault suite (issue 9): production faults against the real template, handlers and ASL.

Each scenario injects one kind of fault on the local cloud and asserts what the control
plane must keep true whatever happens:

* every instance is accounted for: released (lifecycle CONTINUE), abandoned (ABANDON) or
  reported (in the run's stored report or its SNS message, with its outcome);
* no later batch runs after a failed gate; no run waits forever (each ends by its bounds);
* one run per lifecycle action / window execution, one command per batch, one report per run.

Each test records what it observed (``observed``); ``make faults`` prints those figures as
the table in docs/reliability.md (tools/fault_table.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import REPORTS_PREFIX
from localcloud.adapters import ssm as ssm_extension
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import WINDOW, commands_on, launch_fleet, wave_runs

# Where `make faults` collects the figures (unset: the suite only asserts).
RECORD_DIRECTORY = "FLEETPATCH_FAULTS_OUT"

COMMAND_EVENTS = (
    "EC2 Command Status-change Notification",
    "EC2 Command Invocation Status-change Notification",
)
WINDOW_EVENTS = (
    "Maintenance Window Execution State-change Notification",
    "Maintenance Window Task Execution State-change Notification",
    "Maintenance Window Task Target Invocation State-change Notification",
)
LAUNCH_EVENTS = ("EC2 Instance-launch Lifecycle Action",)
# Launches at once in `make test` (make soak runs bigger fleets over several seeds).
BURST = int(os.environ.get("FLEETPATCH_FAULTS_BURST", "5"))


@dataclass
class Observed:
    """One scenario's figures, as the test measured them (a row of the reliability table)."""

    scenario: str
    injected: str = ""
    figures: dict[str, Any] = field(default_factory=dict)

    def save(self, directory: str, test_name: str) -> None:
        path = Path(directory) / f"{test_name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"test": test_name, **vars(self)}, indent=1, default=str))


@pytest.fixture
def observed(request: pytest.FixtureRequest) -> Iterator[Observed]:
    record = Observed(scenario="")
    yield record
    # Each test sets its figures last, after its assertions: a failed test leaves no row.
    directory = os.environ.get(RECORD_DIRECTORY)
    if directory and record.figures:
        record.save(directory, request.node.name)


# --- what happened, read from AWS state ---------------------------------------------------------


def launch_accounting(deployed: Deployed, instances: list[str]) -> dict[str, Any]:
    """Each launched instance's fate: released, abandoned and reported; asserts all are."""
    released = abandoned = reported = 0
    for instance in instances:
        result = deployed.lifecycle_result(instance)
        assert result in {"CONTINUE", "ABANDON"}, f"{instance} still held ({result})"
        released += result == "CONTINUE"
        abandoned += result == "ABANDON"
        messages = [m for m in deployed.messages_about(instance) if m["channel"] != "slack"]
        assert len(messages) == 1, f"{len(messages)} reports for {instance}"
        assert messages[0]["attributes"]["outcome"] in {"patched", "failed", "compliant"}
        reported += 1
    executions = deployed.executions()
    assert all(e["status"] in {"SUCCEEDED", "FAILED"} for e in executions), "a run never ended"
    runs_per_instance = [
        sum(json.loads(e["input"])["instanceId"] == i for e in executions) for i in instances
    ]
    commands = [
        c
        for c in deployed.cloud.client("ssm").list_commands()["Commands"]
        if c["Comment"].startswith("fleetpatch launch")
    ]
    per_instance = [sum(i in c["InstanceIds"] for c in commands) for i in instances]
    return {
        "instances": len(instances),
        "released": released,
        "abandoned": abandoned,
        "reported": reported,
        "runs": len(executions),
        "duplicate runs": sum(n - 1 for n in runs_per_instance if n > 1),
        "duplicate commands": sum(n - 1 for n in per_instance if n > 1),
        "reports": len([m for m in deployed.messages() if m["attributes"].get("kind") == "launch"]),
        "stored reports": sum(_stored(deployed, e["name"]) for e in executions),
    }


def wave_accounting(
    deployed: Deployed, batches: dict[str, list[str]], *, later_batch: str
) -> dict[str, Any]:
    """The wave's one run, its report naming every instance, and what the gate let through."""
    runs = wave_runs(deployed)
    assert len(runs) == 1, f"{len(runs)} wave runs"
    [run] = runs
    assert run["status"] in {"SUCCEEDED", "FAILED"}, "the wave never ended"
    stored = deployed.report(run["name"])
    outcomes = {i["instance_id"]: i["outcome"] for b in stored["batches"] for i in b["instances"]}
    for instance in (i for ids in batches.values() for i in ids):
        assert instance in outcomes, f"{instance} missing from the wave report"
    wave_messages = [m for m in deployed.messages() if m["attributes"].get("kind") == "wave"]
    gate_passed = run["status"] == "SUCCEEDED"
    later_commands = sum(len(commands_on(deployed, i)) for i in batches[later_batch])
    if not gate_passed:
        assert later_commands == 0, "a later batch ran after a failed gate"
    per_instance = [len(commands_on(deployed, i)) for ids in batches.values() for i in ids]
    return {
        "instances": len(outcomes),
        "reported": len(outcomes),
        "outcomes": dict(sorted(_count(outcomes.values()).items())),
        "runs": len(runs),
        "status": run["status"],
        "duplicate commands": sum(n - 1 for n in per_instance if n > 1),
        "reports": len(wave_messages),
        "later batch touched": 0 if gate_passed else later_commands,
    }


def _stored(deployed: Deployed, run_id: str) -> bool:
    item = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key=keys.report_key(run_id),
    )
    return bool(item.get("Item", {}).get("json_key", {}).get("S"))


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def wave_batches(ids: dict[str, str]) -> dict[str, list[str]]:
    return {
        "linux-databases": [ids["db-test-rhel"], ids["app-test-ubuntu"]],
        "windows-apps": [ids["app-test-windows"]],
    }


def run_test_wave(deployed: Deployed) -> str:
    windows = deployed.cloud.windows
    assert windows is not None
    execution_id = windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=24 * 3600)
    return execution_id


def throttle_every_ssm_call(deployed: Deployed, probability: float, seed: int) -> None:
    fleet = deployed.cloud.fleet
    assert fleet is not None
    for index, api in enumerate(sorted(ssm_extension.operation_names())):
        fleet.throttle(api, probability, seed=seed + index)


# --- 1. SSM throttling ---------------------------------------------------------------------------


def test_throttled_ssm_during_a_launch_burst(deployed: Deployed, observed: Observed) -> None:
    # Given a burst of launches and SSM throttling 30% of every operation's calls
    observed.scenario = "1. SSM throttling, launch burst"
    observed.injected = f"30% of every SSM call throttled (seeded), {BURST} launches at once"
    deployed.auto_scaling_group()
    throttle_every_ssm_call(deployed, 0.3, seed=2)
    # When they launch
    instances = deployed.scale_out(*[Behaviour(agent_delay_seconds=30)] * BURST)
    deployed.cloud.settle(max_seconds=8 * 3600)
    # Then each was patched once and released
    figures = launch_accounting(deployed, instances)
    assert figures["released"] == BURST
    assert figures["runs"] == BURST
    assert figures["duplicate commands"] == 0
    throttled = sum(
        1
        for e in deployed.executions()
        for h in deployed.history(e)
        if h["type"] == "TaskFailed"
        and h["taskFailedEventDetails"]["error"] == "Ssm.ThrottlingException"
    )
    assert throttled > 0  # the fault did hit the workflow
    observed.figures = figures | {"throttled SSM calls retried by the workflow": throttled}


def test_throttled_ssm_during_a_gated_wave(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "1. SSM throttling, gated wave"
    observed.injected = "30% of every SSM call throttled (seeded), 2-batch wave"
    ids = launch_fleet(deployed)
    throttle_every_ssm_call(deployed, 0.3, seed=4)
    run_test_wave(deployed)

    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "SUCCEEDED"
    assert figures["duplicate commands"] == 0
    assert commands_on(deployed, ids["app-prod-windows"]) == []
    assert figures["reports"] == 1
    observed.figures = figures


# --- 2. every command status event lost ---------------------------------------------------------


def launch_run_bound(deployed: Deployed, instance: str) -> float:
    """How long the instance's run took, checked against the run's own bound."""
    execution = deployed.execution_for(instance)
    policy = json.loads(execution["input"])["policy"]
    ran = (execution["stopDate"] - execution["startDate"]).total_seconds()
    bound = policy["agentTimeoutSeconds"] + policy["commandTimeoutSeconds"] + 900
    assert ran <= bound, f"{instance}'s run took {ran} s, over its bound of {bound} s"
    return ran


def test_lost_command_events_during_launches(deployed: Deployed, observed: Observed) -> None:
    # Given EventBridge never delivering any Run Command status event
    observed.scenario = "2. status events lost, launch"
    observed.injected = "every command / invocation status event dropped, 2 launches"
    for detail_type in COMMAND_EVENTS:
        deployed.cloud.faults.drop_events(detail_type)
    deployed.auto_scaling_group()
    instances = deployed.scale_out(Behaviour(), Behaviour(install_fails=True))
    deployed.cloud.settle(max_seconds=8 * 3600)
    # Then each run stops waiting at its bound, asks Run Command, and acts on the answer
    figures = launch_accounting(deployed, instances)
    assert (figures["released"], figures["abandoned"]) == (1, 1)
    longest = max(launch_run_bound(deployed, i) for i in instances)
    assert sum(deployed.cloud.faults.events_affected(t) for t in COMMAND_EVENTS) > 0
    observed.figures = figures | {"longest run (s)": round(longest)}


def test_lost_command_events_during_a_gated_wave(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "2. status events lost, gated wave"
    observed.injected = "every command / invocation status event dropped, 2-batch wave"
    ids = launch_fleet(deployed)
    for detail_type in COMMAND_EVENTS:
        deployed.cloud.faults.drop_events(detail_type)
    run_test_wave(deployed)

    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "SUCCEEDED"
    [run] = wave_runs(deployed)
    ran = (run["stopDate"] - run["startDate"]).total_seconds()
    # each batch is awaited up to its delivery and execution timeouts (8 h), then asked once
    assert ran <= 2 * 29100 + 3600
    assert figures["duplicate commands"] == 0
    observed.figures = figures | {"wave ran (s)": round(ran)}


# --- 3. every event delivered 2-3 times, out of order -------------------------------------------


def duplicate_every_event(deployed: Deployed, seed: int) -> None:
    for index, detail_type in enumerate(LAUNCH_EVENTS + COMMAND_EVENTS + WINDOW_EVENTS):
        deployed.cloud.faults.duplicate_events(
            detail_type, copies=2 + (index + seed) % 2, max_delay_seconds=120, seed=seed + index
        )


def test_duplicate_events_during_launches(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "3. duplicate, reordered events, launch"
    observed.injected = "every event delivered 2-3 times within 120 s (seeded), 3 launches"
    duplicate_every_event(deployed, seed=5)
    deployed.auto_scaling_group()
    instances = deployed.scale_out(*[Behaviour()] * 3)
    deployed.cloud.settle(max_seconds=8 * 3600)

    figures = launch_accounting(deployed, instances)
    assert figures["released"] == 3
    assert (figures["runs"], figures["duplicate runs"], figures["duplicate commands"]) == (3, 0, 0)
    assert figures["reports"] == 3
    # every copy of each launch event reached the launch route: ten deliveries, three runs
    deliveries = [
        i
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("patch-on-launch")
        and i.event.get("detail-type") in LAUNCH_EVENTS
    ]
    assert len(deliveries) > len(instances)
    observed.figures = figures | {"launch events delivered": len(deliveries)}


def test_duplicate_events_during_a_gated_wave(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "3. duplicate, reordered events, gated wave"
    observed.injected = "every event delivered 2-3 times within 120 s (seeded), 2-batch wave"
    ids = launch_fleet(deployed)
    duplicate_every_event(deployed, seed=3)
    run_test_wave(deployed)

    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "SUCCEEDED"
    assert (figures["runs"], figures["duplicate commands"], figures["reports"]) == (1, 0, 1)
    assert commands_on(deployed, ids["app-prod-windows"]) == []
    observed.figures = figures


# --- 4. a Lambda that crashes once ----------------------------------------------------------------

LAUNCH_FUNCTIONS = (
    "patch-on-launch",
    "resolve-instance",
    "await-command",
    "launch-outcome",
    "publish-report",
)
WAVE_FUNCTIONS = ("batch-gate", "patch-batch", "await-command", "evaluate-gate")


def test_functions_crashing_once_during_a_launch(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "4. Lambda crashes once, launch"
    observed.injected = "first invocation of " + ", ".join(LAUNCH_FUNCTIONS) + " raises"
    for function in LAUNCH_FUNCTIONS:
        deployed.cloud.faults.crash_once(function)
    deployed.auto_scaling_group()
    instances = deployed.scale_out(Behaviour(), Behaviour())
    deployed.cloud.settle(max_seconds=8 * 3600)

    figures = launch_accounting(deployed, instances)
    assert figures["released"] == 2
    assert (figures["runs"], figures["duplicate commands"], figures["reports"]) == (2, 0, 2)
    assert figures["stored reports"] == 2
    assert [deployed.cloud.faults.crashes(f) for f in LAUNCH_FUNCTIONS] == [1] * 5
    observed.figures = figures | {"crashes": len(LAUNCH_FUNCTIONS)}


def test_functions_crashing_once_during_a_gated_wave(
    deployed: Deployed, observed: Observed
) -> None:
    observed.scenario = "4. Lambda crashes once, gated wave"
    observed.injected = "first invocation of " + ", ".join(WAVE_FUNCTIONS) + " raises"
    ids = launch_fleet(deployed)
    for function in WAVE_FUNCTIONS:
        deployed.cloud.faults.crash_once(function)
    run_test_wave(deployed)

    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "SUCCEEDED"
    assert (figures["runs"], figures["duplicate commands"], figures["reports"]) == (1, 0, 1)
    assert [deployed.cloud.faults.crashes(f) for f in WAVE_FUNCTIONS] == [1] * 4
    observed.figures = figures | {"crashes": len(WAVE_FUNCTIONS)}


# --- 5. an instance terminated mid-patch ----------------------------------------------------------


def test_an_instance_terminated_mid_window(deployed: Deployed, observed: Observed) -> None:
    # Given a batch-1 host whose patch takes 20 minutes, terminated 5 minutes in
    observed.scenario = "5. instance terminated mid-patch, gated wave"
    observed.injected = "a batch-1 instance terminated 5 min into its patch"
    ids = launch_fleet(deployed)
    fleet = deployed.cloud.fleet
    assert fleet is not None
    fleet.set_behaviour(ids["db-test-rhel"], Behaviour(command_duration_seconds=1200))
    windows = deployed.cloud.windows
    assert windows is not None
    windows.run_window(WINDOW)
    deployed.cloud.advance(300)
    assert [c["Status"] for c in commands_on(deployed, ids["db-test-rhel"])] == ["InProgress"]
    deployed.cloud.client("ec2").terminate_instances(InstanceIds=[ids["db-test-rhel"]])
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the gate holds batch 2, and the report names the terminated host
    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "FAILED"
    outcomes = {
        i["instance_id"]: i["outcome"]
        for b in deployed.report(wave_runs(deployed)[0]["name"])["batches"]
        for i in b["instances"]
    }
    assert outcomes[ids["db-test-rhel"]] == "failed"
    assert outcomes[ids["app-test-windows"]] == "not-reached"
    observed.figures = figures


# --- 6. a patch that outlives its window ------------------------------------------------------


def test_a_patch_past_the_execution_timeout_holds_the_later_batch(
    deployed: Deployed, observed: Observed
) -> None:
    # Given a batch-1 patch longer than AWS-RunPatchBaseline's 2-hour execution timeout (and
    # than the 4-hour window): the window only started the run, the run waits for the command
    observed.scenario = "6. batch-1 patch past its execution timeout"
    observed.injected = "a batch-1 patch runs 5 h (the document times out after 2 h)"
    ids = launch_fleet(deployed)
    fleet = deployed.cloud.fleet
    assert fleet is not None
    fleet.set_behaviour(ids["db-test-rhel"], Behaviour(command_duration_seconds=5 * 3600))
    execution_id = run_test_wave(deployed)

    windows = deployed.cloud.windows
    assert windows is not None
    assert windows.execution(execution_id).status == "SUCCESS"
    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "FAILED"
    [run] = wave_runs(deployed)
    assert "1 of 2 instances failed" in run["cause"]
    observed.figures = figures


# --- 7. DynamoDB write conflicts --------------------------------------------------------------


def conflicting_writer(deployed: Deployed) -> None:
    faults = deployed.cloud.faults
    # Waiter records (task token / final status): a concurrent transaction on the item.
    faults.fail_api(
        "dynamodb",
        "UpdateItem",
        "TransactionConflictException",
        matching=keys.COMMAND_PREFIX,
        times=3,
    )
    # The run record written by the workflow itself (Step Functions' DynamoDB integration).
    faults.fail_api("dynamodb", "PutItem", "TransactionConflictException", matching="#", times=2)
    # The report's "announced" mark: another attempt got there first.
    faults.fail_api(
        "dynamodb",
        "UpdateItem",
        "ConditionalCheckFailedException",
        matching="attribute_not_exists(message_id)",
        times=1,
    )


def conflicts(deployed: Deployed) -> int:
    faults = deployed.cloud.faults
    return faults.api_failures("dynamodb", "UpdateItem") + faults.api_failures(
        "dynamodb", "PutItem"
    )


def test_dynamodb_conflicts_during_launches(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "7. DynamoDB write conflicts, launch"
    observed.injected = (
        "TransactionConflict on 3 waiter + 2 record writes, 1 conditional check failed"
    )
    conflicting_writer(deployed)
    deployed.auto_scaling_group()
    instances = deployed.scale_out(Behaviour(), Behaviour())
    deployed.cloud.settle(max_seconds=8 * 3600)

    figures = launch_accounting(deployed, instances)
    assert figures["released"] == 2
    assert (figures["runs"], figures["duplicate commands"], figures["reports"]) == (2, 0, 2)
    for instance in instances:  # nothing lost: each run's record is there
        assert deployed.run_record(deployed.execution_for(instance))["outcome"] == "patched"
    assert conflicts(deployed) == 6
    observed.figures = figures | {"conflicts injected": conflicts(deployed)}


def test_dynamodb_conflicts_during_a_gated_wave(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "7. DynamoDB write conflicts, gated wave"
    observed.injected = (
        "TransactionConflict on 3 waiter + 2 record writes, 1 conditional check failed"
    )
    ids = launch_fleet(deployed)
    conflicting_writer(deployed)
    run_test_wave(deployed)

    figures = wave_accounting(deployed, wave_batches(ids), later_batch="windows-apps")
    assert figures["status"] == "SUCCEEDED"
    assert (figures["runs"], figures["duplicate commands"], figures["reports"]) == (1, 0, 1)
    assert conflicts(deployed) == 6
    observed.figures = figures | {"conflicts injected": conflicts(deployed)}


# --- 8. Slack down ------------------------------------------------------------------------------


def test_slack_down(deployed: Deployed, slack: SlackWebhookReceiver, observed: Observed) -> None:
    observed.scenario = "8. Slack down"
    observed.injected = "the Slack webhook answers 500 to every call"
    slack.fail_next(100, status=500)
    deployed.auto_scaling_group()
    instances = deployed.scale_out(Behaviour())
    deployed.cloud.settle(max_seconds=6 * 3600)

    figures = launch_accounting(deployed, instances)
    assert figures["released"] == 1
    assert slack.delivered == []
    # The run and its e-mail do not depend on Slack.
    [instance] = instances
    assert deployed.execution_for(instance)["status"] == "SUCCEEDED"
    [email] = [m for m in deployed.messages_about(instance) if m["channel"] != "slack"]
    assert email["attributes"]["outcome"] == "patched"
    # Three invocations (Lambda's two async retries), each with slack-sdk's two retries ...
    attempts = [
        i for i in deployed.cloud.lambdas.invocations if i.function_name.endswith("notify-slack")
    ]
    assert [i.error_type for i in attempts] == ["SlackNotDelivered"] * 3
    assert len(slack.messages) == 9
    # ... and the notification waits in the notifier's dead-letter queue, with the reason.
    sqs = deployed.cloud.client("sqs")
    queue = deployed.stack.physical_id("NotifySlackFunctionDeadLetterQueue")
    url = sqs.get_queue_url(QueueName=queue.rsplit("/", 1)[-1])["QueueUrl"]
    parked = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert len(parked) == 1
    assert json.loads(parked[0]["Body"])["Records"][0]["Sns"]["Subject"].startswith(
        f"launch of {instance}: patched"
    )
    assert parked[0]["MessageAttributes"]["ErrorMessage"]["StringValue"].startswith(
        "SlackNotDelivered: Slack webhook answered 500"
    )
    observed.figures = figures | {"Slack attempts": len(attempts), "parked in DLQ": len(parked)}


# --- 9. the report cannot be stored -----------------------------------------------------------


def test_report_storage_failing(deployed: Deployed, observed: Observed) -> None:
    observed.scenario = "9. S3 PutObject fails for reports"
    observed.injected = "every PutObject under reports/ denied (403 AccessDenied)"
    deployed.cloud.faults.fail_api(
        "s3", "PutObject", "AccessDenied", status=403, matching=f"/{REPORTS_PREFIX}"
    )
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour())
    deployed.cloud.settle(max_seconds=6 * 3600)

    figures = launch_accounting(deployed, [instance])
    assert figures["released"] == 1
    assert figures["stored reports"] == 0
    [message] = [m for m in deployed.messages_about(instance) if m["channel"] != "slack"]
    assert message["attributes"]["outcome"] == "patched"
    body = message["message"]
    assert "The report could not be stored: AccessDenied" in body
    assert "AccessDenied" in body
    observed.figures = figures | {
        "denied writes": deployed.cloud.faults.api_failures("s3", "PutObject")
    }


# --- make soak: the throttling and duplication scenarios over seeds, on a bigger fleet -----------


@pytest.mark.skipif(os.environ.get("FLEETPATCH_SOAK") != "1", reason="make soak runs it")
@pytest.mark.parametrize("seed", range(1, 6))
def test_soak_throttled_ssm_and_duplicate_events(
    deployed: Deployed, observed: Observed, seed: int
) -> None:
    observed.scenario = f"soak: throttling + duplicates, seed {seed}"
    observed.injected = f"30% SSM throttling, every event 2-3 times, {2 * BURST} launches"
    throttle_every_ssm_call(deployed, 0.3, seed=seed)
    duplicate_every_event(deployed, seed=seed)
    deployed.auto_scaling_group(max_size=2 * BURST)
    instances = deployed.scale_out(*[Behaviour()] * (2 * BURST))
    deployed.cloud.settle(max_seconds=8 * 3600)

    figures = launch_accounting(deployed, instances)
    assert figures["released"] == 2 * BURST
    assert (figures["duplicate runs"], figures["duplicate commands"]) == (0, 0)
    assert figures["reports"] == 2 * BURST
    observed.figures = figures
