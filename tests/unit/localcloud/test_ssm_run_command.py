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


# --- what a patch run does -----------------------------------------------------------------------


def test_install_patches_reboots_and_reports_compliance(fleet: FleetSimulator) -> None:
    read_events = capture_events(fleet.cloud)
    # Given a scan found approved patches missing
    [instance] = ready(fleet, tags={"Patch Group": "web"})
    send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    before = patch_state(fleet, instance)
    assert before["Operation"] == "Scan"
    assert before["MissingCount"] > 0
    assert before["PatchGroup"] == "web"
    assert {"kernel.x86_64", "curl.x86_64"} <= patches(fleet, instance, "Missing")
    # When an Install runs with RebootIfNeeded
    install_id = send(fleet, InstanceIds=[instance])
    fleet.cloud.advance(180)  # the install is done; the instance reboots
    ping = fleet.cloud.client("ssm").describe_instance_information()["InstanceInformationList"]
    assert ping[0]["PingStatus"] == "ConnectionLost"
    fleet.cloud.settle()
    # Then everything approved is installed and the instance is compliant
    after = patch_state(fleet, instance)
    assert (after["Operation"], after["MissingCount"], after["InstalledPendingRebootCount"]) == (
        "Install",
        0,
        0,
    )
    assert after["InstalledCount"] == before["InstalledCount"] + before["MissingCount"]
    summary = fleet.cloud.client("ssm").list_resource_compliance_summaries(
        Filters=[{"Key": "ComplianceType", "Values": ["Patch"]}]
    )["ResourceComplianceSummaryItems"]
    assert [(s["ResourceId"], s["Status"]) for s in summary] == [(instance, "COMPLIANT")]
    invocation = fleet.cloud.client("ssm").get_command_invocation(
        CommandId=install_id, InstanceId=instance
    )
    assert invocation["Status"] == "Success"
    assert invocation["ExecutionElapsedTime"] == "PT4M0.000S"  # 180 s install + 60 s reboot
    assert "Installed kernel.x86_64:0:5.10.228-219.884.amzn2" in invocation["StandardOutputContent"]
    # And a compliance event marks each flip: non-compliant after the scan, then compliant
    compliance = [
        e["detail"]
        for e in read_events()
        if e["detail-type"] == "Configuration Compliance State Change"
    ]
    assert [c["compliance-status"] for c in compliance] == ["non_compliant", "compliant"]
    assert compliance[0] == {
        "resource-type": "managed-instance",
        "resource-id": instance,
        "compliance-status": "non_compliant",
        "compliance-type": "Patch",
        "patch-baseline-id": before["BaselineId"],
        "severity": "unspecified",
    }


def test_no_reboot_leaves_patches_pending_reboot(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    send(fleet, InstanceIds=[instance], Parameters={**INSTALL, "RebootOption": ["NoReboot"]})
    fleet.cloud.settle()
    state = patch_state(fleet, instance)
    assert state["InstalledPendingRebootCount"] > 0
    assert state["RebootOption"] == "NoReboot"
    assert "LastNoRebootInstallOperationTime" in state
    items = fleet.cloud.client("ssm").list_compliance_items(
        ResourceIds=[instance], Filters=[{"Key": "Status", "Values": ["NON_COMPLIANT"]}]
    )["ComplianceItems"]
    assert {i["Details"]["PatchState"] for i in items} == {"InstalledPendingReboot"}
    # A later RebootIfNeeded run with nothing to install still reboots and clears them
    send(fleet, InstanceIds=[instance])
    fleet.cloud.settle()
    assert patch_state(fleet, instance)["InstalledPendingRebootCount"] == 0


def test_install_failure_fails_the_invocation(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(install_fails=True))
    command_id = send(fleet, InstanceIds=[instance])
    fleet.cloud.settle()
    invocation = fleet.cloud.client("ssm").get_command_invocation(
        CommandId=command_id, InstanceId=instance
    )
    assert (invocation["Status"], invocation["ResponseCode"]) == ("Failed", 1)
    assert "transaction check error" in invocation["StandardErrorContent"]
    state = patch_state(fleet, instance)
    assert state["FailedCount"] > 0
    assert "kernel.x86_64" in patches(fleet, instance, "Failed")


def test_a_hanging_command_times_out_after_the_execution_timeout(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(command_times_out=True))
    command_id = send(fleet, InstanceIds=[instance])
    started = fleet.clock.now()
    fleet.cloud.settle()
    invocation = fleet.cloud.client("ssm").get_command_invocation(
        CommandId=command_id, InstanceId=instance
    )
    assert (invocation["Status"], invocation["StatusDetails"]) == ("TimedOut", "ExecutionTimedOut")
    assert (fleet.clock.now() - started).total_seconds() == 7200
    assert command(fleet, command_id)["Status"] == "TimedOut"


def test_instance_terminated_mid_run_never_reports_back(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    command_id = send(fleet, InstanceIds=[instance])
    fleet.cloud.advance(60)
    fleet.cloud.client("ec2").terminate_instances(InstanceIds=[instance])
    fleet.cloud.advance(3600)
    assert invocations(fleet, command_id)[instance]["Status"] == "InProgress"
    fleet.cloud.settle()
    assert invocations(fleet, command_id)[instance]["StatusDetails"] == "ExecutionTimedOut"


def test_approval_delay_changes_what_gets_installed(fleet: FleetSimulator) -> None:
    ssm = fleet.cloud.client("ssm")
    for group, days in (("now", 0), ("later", 14)):
        baseline = ssm.create_patch_baseline(
            Name=f"al2-{group}",
            OperatingSystem="AMAZON_LINUX_2",
            ApprovalRules={
                "PatchRules": [
                    {
                        "PatchFilterGroup": {
                            "PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]}]
                        },
                        "ApproveAfterDays": days,
                    }
                ]
            },
            RejectedPatches=["system-release.*"],
        )["BaselineId"]
        ssm.register_patch_baseline_for_patch_group(BaselineId=baseline, PatchGroup=group)
    [now] = ready(fleet, tags={"Patch Group": "now"})
    [later] = ready(fleet, tags={"PatchGroup": "later"})
    send(fleet, InstanceIds=[now, later])
    fleet.cloud.settle()
    only_now = patches(fleet, now, "Installed") - patches(fleet, later, "Installed")
    assert only_now == {"sudo.x86_64", "vim-minimal.x86_64", "python3.x86_64"}
    assert "system-release.x86_64" not in patches(fleet, now, "Installed")
    assert "system-release.x86_64" not in patches(fleet, now, "InstalledOther")


def test_install_override_list_installs_exactly_the_listed_patches(fleet: FleetSimulator) -> None:
    s3 = fleet.cloud.client("s3")
    s3.create_bucket(
        Bucket="lists", CreateBucketConfiguration={"LocationConstraint": fleet.cloud.region}
    )
    s3.put_object(
        Bucket="lists",
        Key="prod/al2.yaml",
        Body=b"patches:\n  - id: 'glibc.x86_64'\n  - id: 'tzdata.*'\n    title: '2024b-*'\n",
    )
    [instance] = ready(fleet)
    send(
        fleet,
        InstanceIds=[instance],
        Parameters={
            **INSTALL,
            "InstallOverrideList": [
                f"https://s3.{fleet.cloud.region}.amazonaws.com/lists/prod/al2.yaml"
            ],
        },
    )
    fleet.cloud.settle()
    launched_with = {"openssh.x86_64", "ca-certificates.noarch", "bash.x86_64"}
    installed = patches(fleet, instance, "Installed") | patches(fleet, instance, "InstalledOther")
    assert installed - launched_with == {"glibc.x86_64", "tzdata.noarch"}
    assert patch_state(fleet, instance)["InstallOverrideList"].endswith("/lists/prod/al2.yaml")
    # a missing list fails the run
    bad = send(
        fleet,
        InstanceIds=[instance],
        Parameters={**INSTALL, "InstallOverrideList": ["s3://lists/none.yaml"]},
    )
    fleet.cloud.settle()
    assert invocations(fleet, bad)[instance]["Status"] == "Failed"


def test_baseline_override_replaces_the_instances_baseline(fleet: FleetSimulator) -> None:
    s3 = fleet.cloud.client("s3")
    s3.create_bucket(
        Bucket="lists", CreateBucketConfiguration={"LocationConstraint": fleet.cloud.region}
    )
    override = [
        {
            "OperatingSystem": "AMAZON_LINUX_2",
            "ApprovalRules": {
                "PatchRules": [
                    {
                        "PatchFilterGroup": {
                            "PatchFilters": [{"Key": "SEVERITY", "Values": ["Critical"]}]
                        },
                        "ApproveAfterDays": 0,
                    }
                ]
            },
        }
    ]
    s3.put_object(Bucket="lists", Key="override.json", Body=json.dumps(override).encode())
    [instance] = ready(fleet)
    send(
        fleet,
        InstanceIds=[instance],
        Parameters={**INSTALL, "BaselineOverride": ["s3://lists/override.json"]},
    )
    fleet.cloud.settle()
    assert patches(fleet, instance, "Installed") == {"curl.x86_64", "sudo.x86_64"}


def test_output_is_written_to_s3_at_the_aws_key_layout(fleet: FleetSimulator) -> None:
    s3 = fleet.cloud.client("s3")
    s3.create_bucket(
        Bucket="out", CreateBucketConfiguration={"LocationConstraint": fleet.cloud.region}
    )
    [linux] = ready(fleet)
    [windows] = ready(fleet, "WINDOWS")
    command_id = send(
        fleet,
        InstanceIds=[linux, windows],
        OutputS3BucketName="out",
        OutputS3KeyPrefix="patching/wave-1",
    )
    fleet.cloud.settle()
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="out")["Contents"]}
    assert keys == {
        f"patching/wave-1/{command_id}/{linux}/awsrunShellScript/PatchLinux/stdout",
        f"patching/wave-1/{command_id}/{windows}/awsrunPowerShellScript/PatchWindows/stdout",
    }
    linux_key = f"patching/wave-1/{command_id}/{linux}/awsrunShellScript/PatchLinux/stdout"
    stdout = s3.get_object(Bucket="out", Key=linux_key)["Body"].read().decode()
    assert f"Patch Summary for {linux}" in stdout
    assert "MissingCount        : 0" in stdout
    plugin = invocations(fleet, command_id)[windows]["CommandPlugins"][0]
    assert plugin["Name"] == "PatchWindows"
    assert plugin["StandardOutputUrl"].startswith("https://s3.eu-central-1.amazonaws.com/out/")
    ssm = fleet.cloud.client("ssm")
    skipped = ssm.get_command_invocation(
        CommandId=command_id, InstanceId=linux, PluginName="PatchWindows"
    )
    assert skipped["StandardOutputContent"].startswith("Step execution skipped")
    with pytest.raises(ssm.exceptions.InvocationDoesNotExist):
        ssm.get_command_invocation(CommandId=command_id, InstanceId="i-0123456789abcdef0")


def test_status_change_events_follow_each_invocation(fleet: FleetSimulator) -> None:
    read_events = capture_events(fleet.cloud)
    [instance] = ready(fleet)
    command_id = send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    received = read_events()
    invocation_events = [
        e
        for e in received
        if e["detail-type"] == "EC2 Command Invocation Status-change Notification"
    ]
    assert [e["detail"]["status"] for e in invocation_events] == [
        "Pending",
        "InProgress",
        "Success",
    ]
    assert invocation_events[0]["resources"] == [
        f"arn:aws:ec2:eu-central-1:123456789012:instance/{instance}"
    ]
    assert set(invocation_events[-1]["detail"]) == {
        "command-id",
        "document-name",
        "instance-id",
        "requested-date-time",
        "status",
    }
    command_events = [
        e for e in received if e["detail-type"] == "EC2 Command Status-change Notification"
    ]
    assert [e["detail"]["status"] for e in command_events] == ["Pending", "InProgress", "Success"]
    assert command_events[0]["detail"]["command-id"] == command_id
    assert command_events[0]["detail"]["parameters"] == {"Operation": ["Scan"]}
    assert command_events[0]["detail"]["expire-after"].endswith("Z")


def test_rebooting_instances_delay_delivery_and_patch_runs_do_not_overlap(
    fleet: FleetSimulator,
) -> None:
    [instance] = ready(fleet, tags={"Patch Group": "web"})
    ssm = fleet.cloud.client("ssm")
    first = send(fleet, InstanceIds=[instance])
    fleet.cloud.advance(60)
    # A second run while the first installs collides on the instance's patch lock
    overlapping = send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.advance(1)
    refused = ssm.get_command_invocation(CommandId=overlapping, InstanceId=instance)
    assert refused["Status"] == "Failed"
    assert first in refused["StandardErrorContent"]
    # While the first reboots the instance, a targeted command waits for it
    fleet.cloud.advance(140)
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        send(fleet, InstanceIds=[instance])
    waiting = send(
        fleet,
        Targets=[{"Key": "tag:Patch Group", "Values": ["web"]}],
        Parameters={"Operation": ["Scan"]},
    )
    fleet.cloud.advance(1)
    assert invocations(fleet, waiting)[instance]["Status"] == "Delayed"
    fleet.cloud.settle()
    assert invocations(fleet, first)[instance]["Status"] == "Success"
    delayed = ssm.get_command_invocation(CommandId=waiting, InstanceId=instance)
    assert delayed["Status"] == "Success"
    assert delayed["ExecutionStartDateTime"] > refused["ExecutionEndDateTime"]


def test_patch_states_by_group_and_custom_compliance(fleet: FleetSimulator) -> None:
    [web] = ready(fleet, tags={"Patch Group": "web"})
    [db] = ready(fleet, tags={"Patch Group": "db"})
    send(fleet, InstanceIds=[web, db], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    ssm = fleet.cloud.client("ssm")
    states = ssm.describe_instance_patch_states_for_patch_group(
        PatchGroup="web",
        Filters=[{"Key": "MissingCount", "Values": ["0"], "Type": "GreaterThan"}],
    )["InstancePatchStates"]
    assert [s["InstanceId"] for s in states] == [web]
    ssm.put_compliance_items(
        ResourceId=db,
        ResourceType="ManagedInstance",
        ComplianceType="Custom:Backup",
        ExecutionSummary={"ExecutionTime": fleet.clock.now()},
        Items=[
            {
                "Id": "nightly",
                "Title": "Nightly backup",
                "Severity": "HIGH",
                "Status": "NON_COMPLIANT",
            }
        ],
    )
    custom = ssm.list_compliance_items(
        ResourceIds=[db], Filters=[{"Key": "ComplianceType", "Values": ["Custom:Backup"]}]
    )["ComplianceItems"]
    assert [(i["Id"], i["Status"], i["Severity"]) for i in custom] == [
        ("nightly", "NON_COMPLIANT", "HIGH")
    ]
    summaries = ssm.list_resource_compliance_summaries(
        Filters=[{"Key": "ComplianceType", "Values": ["Custom:Backup"]}]
    )["ResourceComplianceSummaryItems"]
    assert [(s["ResourceId"], s["OverallSeverity"]) for s in summaries] == [(db, "HIGH")]
    with pytest.raises(ssm.exceptions.InvalidResourceId):
        ssm.put_compliance_items(
            ResourceId="i-0123456789abcdef0",
            ResourceType="ManagedInstance",
            ComplianceType="Custom:Backup",
            ExecutionSummary={"ExecutionTime": fleet.clock.now()},
            Items=[],
        )


def test_cancel_command_cancels_what_has_not_finished(fleet: FleetSimulator) -> None:
    running, queued = ready(fleet, count=2)
    command_id = send(fleet, InstanceIds=[running, queued], MaxConcurrency="1")
    fleet.cloud.advance(10)
    fleet.cloud.client("ssm").cancel_command(CommandId=command_id)
    fleet.cloud.settle()
    assert {i["Status"] for i in invocations(fleet, command_id).values()} == {"Cancelled"}
    assert command(fleet, command_id)["Status"] == "Cancelled"


def test_other_documents_keep_motos_behaviour(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    ssm = fleet.cloud.client("ssm")
    shell = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[instance],
        Parameters={"commands": ["uptime"]},
    )["Command"]["CommandId"]
    patch = send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    listed = {c["CommandId"] for c in ssm.list_commands()["Commands"]}
    assert listed == {shell, patch}
    assert ssm.get_command_invocation(CommandId=shell, InstanceId=instance)["Status"] == "Success"
    assert set(invocations(fleet, shell)) == {instance}


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
