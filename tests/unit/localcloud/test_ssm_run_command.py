"""Run Command with AWS-RunPatchBaseline on the simulated fleet, through boto3."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config

from localcloud.adapters.ssm import install
from localcloud.cloud import LocalCloud
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour
from localcloud.sim.patch_catalogue import OperatingSystem

PATCH = "AWS-RunPatchBaseline"
INSTALL = {"Operation": ["Install"]}


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetSimulator]:
    # The fleet registers its own images; moto's 2,500 stock AMIs only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        yield install(cloud)


def ready(
    fleet: FleetSimulator, os_name: OperatingSystem = "AMAZON_LINUX_2", **kwargs: Any
) -> list[str]:
    """Launch instances and play until their agents are Online."""
    ids = fleet.launch(os_name, **kwargs)
    fleet.cloud.settle()
    return ids


def send(fleet: FleetSimulator, **kwargs: Any) -> str:
    kwargs.setdefault("DocumentName", PATCH)
    kwargs.setdefault("Parameters", INSTALL)
    command = fleet.cloud.client("ssm").send_command(**kwargs)["Command"]
    assert command["Status"] == "Pending"
    return str(command["CommandId"])


def invocations(fleet: FleetSimulator, command_id: str) -> dict[str, dict[str, Any]]:
    found = fleet.cloud.client("ssm").list_command_invocations(CommandId=command_id, Details=True)
    return {i["InstanceId"]: i for i in found["CommandInvocations"]}


def command(fleet: FleetSimulator, command_id: str) -> dict[str, Any]:
    found: dict[str, Any] = fleet.cloud.client("ssm").list_commands(CommandId=command_id)[
        "Commands"
    ][0]
    return found


def patch_state(fleet: FleetSimulator, instance_id: str) -> dict[str, Any]:
    states = fleet.cloud.client("ssm").describe_instance_patch_states(InstanceIds=[instance_id])
    found: dict[str, Any] = states["InstancePatchStates"][0]
    return found


def patches(fleet: FleetSimulator, instance_id: str, state: str | None = None) -> set[str]:
    filters = [{"Key": "State", "Values": [state]}] if state else []
    found = fleet.cloud.client("ssm").describe_instance_patches(
        InstanceId=instance_id, Filters=filters
    )
    return {p["KBId"] for p in found["Patches"]}


def capture_events(cloud: LocalCloud) -> Callable[[], list[dict[str, Any]]]:
    """Route every aws.ssm event to an SQS queue; returns a reader of what arrived."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="ssm-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="ssm-events", EventPattern=json.dumps({"source": ["aws.ssm"]}))
    events.put_targets(Rule="ssm-events", Targets=[{"Id": "queue", "Arn": arn}])

    def read() -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            received += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)
                ],
            )
        return received

    return read


# --- rejected requests ---------------------------------------------------------------------------


def test_unknown_offline_and_terminated_instances_are_rejected(fleet: FleetSimulator) -> None:
    [online, terminated] = ready(fleet, count=2)
    [never] = fleet.launch("AMAZON_LINUX_2", behaviour=Behaviour(never_online=True))
    fleet.cloud.client("ec2").terminate_instances(InstanceIds=[terminated])
    ssm = fleet.cloud.client("ssm")
    for bad in ("i-0123456789abcdef0", never, terminated):
        with pytest.raises(ssm.exceptions.InvalidInstanceId) as caught:
            send(fleet, InstanceIds=[online, bad])
        assert bad in caught.value.response["Error"]["Message"]
    assert ssm.list_commands()["Commands"] == []


def test_more_than_fifty_instance_ids_is_a_validation_error(fleet: FleetSimulator) -> None:
    ids = [f"i-{n:017x}" for n in range(51)]
    with pytest.raises(fleet.cloud.client("ssm").exceptions.ClientError) as caught:
        send(fleet, InstanceIds=ids)
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert "less than or equal to 50" in error["Message"]


def test_invalid_arguments_are_rejected_as_aws_does(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    ssm = fleet.cloud.client("ssm")
    for arguments, code in (
        ({"MaxConcurrency": "0"}, "ValidationException"),
        ({"MaxErrors": "101%"}, "ValidationException"),
        ({"Targets": [{"Key": "tag:Patch Group", "Values": ["web"]}]}, "ValidationException"),
        ({"Parameters": {"Operation": ["Patch"]}}, "InvalidParameters"),
        ({"Parameters": {"Operation": ["Scan"], "Colour": ["red"]}}, "InvalidParameters"),
    ):
        with pytest.raises(ssm.exceptions.ClientError) as caught:
            send(fleet, InstanceIds=[instance], **arguments)
        assert caught.value.response["Error"]["Code"] == code, arguments
    assert ssm.list_commands()["Commands"] == []


# --- targeting -----------------------------------------------------------------------------------


def test_targets_select_managed_instances_by_either_patch_group_tag(fleet: FleetSimulator) -> None:
    [spaced] = ready(fleet, tags={"Patch Group": "web"})
    [joined] = ready(fleet, "WINDOWS", tags={"PatchGroup": "web"})
    ready(fleet, tags={"Patch Group": "db"})
    fleet.launch(
        "AMAZON_LINUX_2", tags={"Patch Group": "web"}, behaviour=Behaviour(never_online=True)
    )
    by_space = send(fleet, Targets=[{"Key": "tag:Patch Group", "Values": ["web"]}])
    by_key = send(fleet, Targets=[{"Key": "tag:PatchGroup", "Values": ["web"]}])
    either = send(
        fleet,
        Targets=[{"Key": "tag-key", "Values": ["Patch Group", "PatchGroup"]}],
        Parameters={"Operation": ["Scan"]},
    )
    assert set(invocations(fleet, by_space)) == {spaced}
    assert set(invocations(fleet, by_key)) == {joined}
    assert len(invocations(fleet, either)) == 3
    assert command(fleet, by_space)["TargetCount"] == 1


# --- concurrency and errors ----------------------------------------------------------------------


def test_max_concurrency_staggers_invocations(fleet: FleetSimulator) -> None:
    ids = ready(
        fleet,
        count=5,
        tags={"Patch Group": "batch"},
        behaviour=Behaviour(command_duration_seconds=100, reboot_seconds=20),
    )
    command_id = send(
        fleet,
        Targets=[{"Key": "tag:Patch Group", "Values": ["batch"]}],
        MaxConcurrency="40%",  # of 5 targets: 2 at a time
    )
    fleet.cloud.settle()
    ssm = fleet.cloud.client("ssm")
    starts = sorted(
        datetime.fromisoformat(
            ssm.get_command_invocation(CommandId=command_id, InstanceId=i)["ExecutionStartDateTime"]
        )
        for i in ids
    )
    offsets = [(s - starts[0]).total_seconds() for s in starts]
    assert offsets == [0, 0, 120, 120, 240]
    assert command(fleet, command_id)["Status"] == "Success"


def test_max_errors_stops_the_invocations_not_yet_started(fleet: FleetSimulator) -> None:
    failing = ready(fleet, count=2, behaviour=Behaviour(install_fails=True), tags={"T": "x"})
    healthy = ready(fleet, count=3, tags={"T": "x"})
    ordered = failing + healthy
    command_id = send(fleet, InstanceIds=ordered, MaxConcurrency="1", MaxErrors="1")
    fleet.cloud.settle()
    found = invocations(fleet, command_id)
    assert [found[i]["Status"] for i in ordered] == [
        "Failed",
        "Failed",
        "Cancelled",
        "Cancelled",
        "Cancelled",
    ]
    assert {found[i]["StatusDetails"] for i in healthy} == {"Terminated"}
    summary = command(fleet, command_id)
    assert (summary["Status"], summary["ErrorCount"], summary["CompletedCount"]) == ("Failed", 2, 5)


def test_errors_within_max_errors_leave_the_command_incomplete(fleet: FleetSimulator) -> None:
    [bad] = ready(fleet, behaviour=Behaviour(install_fails=True))
    [good] = ready(fleet)
    command_id = send(fleet, InstanceIds=[bad, good], MaxErrors="50%")
    fleet.cloud.settle()
    assert (command(fleet, command_id)["Status"], command(fleet, command_id)["StatusDetails"]) == (
        "Failed",
        "Incomplete",
    )
    assert invocations(fleet, command_id)[good]["Status"] == "Success"


# --- faults --------------------------------------------------------------------------------------


def test_throttling_faults_fail_calls_with_throttling_exception(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    # The scripted faults alone (the rate limits' buckets would throttle this burst too).
    fleet.cloud.rate_limits.enabled = False
    # No retries: botocore would retry a throttled call (really sleeping) before raising.
    ssm = boto3.client(
        "ssm", region_name=fleet.cloud.region, config=Config(retries={"total_max_attempts": 1})
    )
    fleet.throttle_next("SendCommand", 2)
    for _ in range(2):
        with pytest.raises(ssm.exceptions.ClientError) as caught:
            ssm.send_command(DocumentName=PATCH, InstanceIds=[instance], Parameters=INSTALL)
        assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    ssm.send_command(DocumentName=PATCH, InstanceIds=[instance], Parameters=INSTALL)
    # random throttling is reproducible with a seed
    fleet.throttle("DescribeInstanceInformation", probability=0.5, seed=7)
    outcomes = []
    for _ in range(20):
        try:
            ssm.describe_instance_information()
            outcomes.append(True)
        except ssm.exceptions.ClientError:
            outcomes.append(False)
    assert 0 < outcomes.count(False) < 20
    fleet.throttle("DescribeInstanceInformation", probability=0.5, seed=7)
    again = []
    for _ in range(20):
        try:
            ssm.describe_instance_information()
            again.append(True)
        except ssm.exceptions.ClientError:
            again.append(False)
    assert again == outcomes
    with pytest.raises(ValueError, match="not an SSM operation"):
        fleet.throttle("sendCommand", 1.0)
