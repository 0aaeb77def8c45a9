"""gated-wave gates through the real ASL: each rule holds the next batch, chains, scale.

These runs start the state machine directly with their own batches (as `fleetpatch wave
start` does), so each gate rule can be exercised without a policy per test.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import override_list_key
from fleetpatch.waves import run_input
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed

# Step Functions quotas the workflow must stay within whatever the batch size.
MAX_HISTORY_EVENTS = 25_000
MAX_PAYLOAD_BYTES = 256 * 1024


def batch(
    name: str,
    group: str,
    *,
    gate: dict[str, Any] | None = None,
    reboot: str = "RebootIfNeeded",
) -> dict[str, Any]:
    return {
        "name": name,
        "patchGroups": [group],
        "maxConcurrency": "100%",
        "maxErrors": "100%",
        "operation": "Install",
        "rebootOption": reboot,
        "gate": gate,
    }


def gate(previous: str, **rules: Any) -> dict[str, Any]:
    return {
        "batches": [previous],
        "maxFailed": 0,
        "maxFailedPercent": None,
        "requireCompliant": True,
        "alarms": [],
        "bakeMinutes": 0,
    } | rules


def start_wave(
    deployed: Deployed,
    batches: list[dict[str, Any]],
    *,
    wave: str = "custom",
    name: str | None = None,
    **extra: Any,
) -> str:
    """Start a gated-wave run as `fleetpatch wave start` does (its input's one owner)."""
    sfn = deployed.cloud.client("stepfunctions")
    arn: str = sfn.start_execution(
        stateMachineArn=deployed.stack.state_machine_arn("GatedWaveStateMachine"),
        name=name or f"manual-{wave}",
        input=json.dumps(run_input(wave, batches) | extra),
    )["executionArn"]
    return arn


def describe(deployed: Deployed, arn: str) -> dict[str, Any]:
    execution: dict[str, Any] = deployed.cloud.client("stepfunctions").describe_execution(
        executionArn=arn
    )
    return execution


def finished(deployed: Deployed, arn: str) -> dict[str, Any]:
    """The run once the cloud is quiet again (up to a simulated day)."""
    deployed.cloud.settle(max_seconds=24 * 3600)
    return describe(deployed, arn)


def run_wave(
    deployed: Deployed,
    batches: list[dict[str, Any]],
    *,
    wave: str = "custom",
    **extra: Any,
) -> dict[str, Any]:
    return finished(deployed, start_wave(deployed, batches, wave=wave, **extra))


def launch(
    deployed: Deployed, os_name: str, group: str, count: int = 1, **behaviour: Any
) -> list[str]:
    assert deployed.cloud.fleet is not None
    return deployed.cloud.fleet.launch(
        os_name, tags={"Patch Group": group}, behaviour=Behaviour(**behaviour), count=count
    )


def patched(deployed: Deployed, instances: list[str]) -> bool:
    commands = deployed.cloud.client("ssm").list_commands()["Commands"]
    return any(i in c["InstanceIds"] for c in commands for i in instances)


def test_failures_over_the_percentage_hold_the_next_batch(deployed: Deployed) -> None:
    launch(deployed, "UBUNTU", "g1", 3)
    launch(deployed, "UBUNTU", "g1", install_fails=True)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    rules = gate("one", maxFailed=None, maxFailedPercent=20)
    execution = run_wave(deployed, [batch("one", "g1"), batch("two", "g2", gate=rules)])

    assert execution["status"] == "FAILED"
    assert execution["cause"] == (
        "the gate before two failed: 25% of 4 instances failed; the gate allows 20%"
    )
    assert not patched(deployed, later)


def test_a_pending_reboot_is_not_compliant(deployed: Deployed) -> None:
    # NoReboot leaves the kernel update pending a reboot: the command succeeds, the
    # instance is not compliant, the gate holds.
    first = launch(deployed, "REDHAT_ENTERPRISE_LINUX", "g1")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    execution = run_wave(
        deployed, [batch("one", "g1", reboot="NoReboot"), batch("two", "g2", gate=gate("one"))]
    )

    assert execution["status"] == "FAILED"
    assert "1 of 1 instances are not compliant after the run" in execution["cause"]
    [command] = deployed.cloud.client("ssm").list_commands(InstanceId=first[0])["Commands"]
    assert command["Status"] == "Success"
    assert not patched(deployed, later)


def test_an_alarm_in_alarm_holds_the_next_batch(deployed: Deployed) -> None:
    cloudwatch = deployed.cloud.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="db-latency",
        MetricName="Latency",
        Namespace="App",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName="db-latency", StateValue="ALARM", StateReason="test")
    launch(deployed, "UBUNTU", "g1")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    rules = gate("one", alarms=["db-latency"])
    execution = run_wave(deployed, [batch("one", "g1"), batch("two", "g2", gate=rules)])

    assert execution["status"] == "FAILED"
    assert execution["cause"] == "the gate before two failed: alarm db-latency is ALARM"
    assert not patched(deployed, later)


def test_three_batches_chain_in_order(deployed: Deployed) -> None:
    groups = {name: launch(deployed, "UBUNTU", name, 2) for name in ("g1", "g2", "g3")}
    deployed.cloud.settle(max_seconds=3600)
    execution = run_wave(
        deployed,
        [
            batch("one", "g1"),
            batch("two", "g2", gate=gate("one")),
            batch("three", "g3", gate=gate("two", bakeMinutes=30)),
        ],
    )

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    ssm = deployed.cloud.client("ssm")
    started = {}
    for name, instances in groups.items():
        [command] = ssm.list_commands(InstanceId=instances[0])["Commands"]
        assert sorted(command["InstanceIds"]) == sorted(instances)
        started[name] = command["RequestedDateTime"]
    # each batch after the one before it ended (and, for three, after a 30-minute bake)
    assert started["g1"] < started["g2"] < started["g3"]
    assert (started["g3"] - started["g2"]).total_seconds() >= 30 * 60
    items = deployed.cloud.client("dynamodb").query(
        TableName=deployed.stack.physical_id("StateTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :gate)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.wave_pk("manual-custom")},
            ":gate": {"S": keys.GATE_PREFIX},
        },
    )["Items"]
    assert [(i["sk"]["S"], i["batch"]["S"], i["passed"]["BOOL"]) for i in items] == [
        (keys.gate_sk(1), "two", True),
        (keys.gate_sk(2), "three", True),
        (keys.gate_sk(3), "end", True),
    ]


def test_hundreds_of_instances_in_one_batch_stay_within_step_functions_limits(
    deployed: Deployed,
) -> None:
    # 400 here; `make bench` measures the same wave at 100, 1,000 and 10,000 instances.
    launch(deployed, "UBUNTU", "g1")
    fleet = launch(deployed, "UBUNTU", "g2", 400, command_duration_seconds=60, reboot_seconds=0)
    deployed.cloud.settle(max_seconds=3600)
    execution = run_wave(deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one"))])

    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    commands = [
        c
        for c in deployed.cloud.client("ssm").list_commands(MaxResults=50)["Commands"]
        if c["Comment"].startswith("fleetpatch wave custom batch two")
    ]
    assert len(commands) == 8  # ceil(400 / 50)
    assert sorted(i for c in commands for i in c["InstanceIds"]) == sorted(fleet)
    sfn = deployed.cloud.client("stepfunctions")
    history: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution["executionArn"]
    ):
        history += page["events"]
    assert len(history) < MAX_HISTORY_EVENTS
    # The history grows with the commands, not the instances (no state per instance).
    assert len(history) < 100 + 20 * len(commands)
    largest = max(
        len(json.dumps(details).encode())
        for event in history
        for key, details in event.items()
        if key.endswith("EventDetails")
    )
    assert largest < MAX_PAYLOAD_BYTES
    assert json.loads(execution["output"])["message"].endswith("400 instances patched and verified")


def installed_during(deployed: Deployed, instance: str, run: dict[str, Any]) -> set[str]:
    """The patches ``run`` installed on ``instance`` (the image's own are older)."""
    patches = deployed.cloud.client("ssm").describe_instance_patches(
        InstanceId=instance, Filters=[{"Key": "State", "Values": ["Installed"]}]
    )["Patches"]
    return {p["KBId"] for p in patches if p["InstalledTime"] >= run["startDate"]}


def test_a_promoted_wave_installs_exactly_what_its_source_installed(deployed: Deployed) -> None:
    # Test and prod Ubuntu hosts from the same image. Test patches now; prod runs 13 days
    # later, when the catalogue has released a new update (sudo, day +12) that prod's
    # baseline would approve. Promoted from test, prod installs test's list, not the update.
    [test_host] = launch(deployed, "UBUNTU", "test-g")
    [prod_host] = launch(deployed, "UBUNTU", "prod-g")
    deployed.cloud.settle(max_seconds=3600)
    source = run_wave(deployed, [batch("only", "test-g")], wave="test", promotions=["prod"])
    assert source["status"] == "SUCCEEDED", source.get("cause")
    installed_by_test = installed_during(deployed, test_host, source)
    assert installed_by_test, "the source wave installed something"
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    listed = (
        deployed.cloud.client("s3")
        .get_object(Bucket=bucket, Key=override_list_key("prod"))["Body"]
        .read()
        .decode()
    )
    assert {line.split('"')[1] for line in listed.splitlines() if "- id:" in line} == (
        installed_by_test
    )

    deployed.cloud.advance(13 * 24 * 3600)
    promoted = run_wave(deployed, [batch("only", "prod-g")], wave="prod", promoteFrom="test")
    assert promoted["status"] == "SUCCEEDED", promoted.get("cause")
    [command] = deployed.cloud.client("ssm").list_commands(InstanceId=prod_host)["Commands"]
    assert command["Parameters"]["InstallOverrideList"] == [
        f"s3://{bucket}/{override_list_key('prod')}"
    ]
    assert installed_during(deployed, prod_host, promoted) == installed_by_test
    missing = deployed.cloud.client("ssm").describe_instance_patches(
        InstanceId=prod_host, Filters=[{"Key": "State", "Values": ["Missing"]}]
    )["Patches"]
    assert "sudo.amd64" in {p["KBId"] for p in missing}  # released after test's run
