"""What an AWS-RunPatchBaseline run does on the simulated fleet: install, reboot, report,
output, events, overrides, cancel (through boto3; requests and targeting are in
test_ssm_run_command.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localcloud.adapters.ssm import install
from localcloud.cloud import LocalCloud
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour
from tests.unit.localcloud.test_ssm_run_command import (
    INSTALL,
    capture_events,
    command,
    invocations,
    patch_state,
    patches,
    ready,
    send,
)


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetSimulator]:
    # The fleet registers its own images; moto's 2,500 stock AMIs only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        yield install(cloud)


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


def test_other_command_documents_run_on_the_fleet_alongside_patch_runs(
    fleet: FleetSimulator,
) -> None:
    # (hooks and health checks: exit codes in test_ec2_health.py)
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
    assert ssm.get_command_invocation(CommandId=shell, InstanceId=instance)["Status"] == "Pending"
    fleet.cloud.settle()
    assert ssm.get_command_invocation(CommandId=shell, InstanceId=instance)["Status"] == "Success"
    # a hook does not take the patch lock: the patch run beside it succeeded too
    assert command(fleet, patch)["Status"] == "Success"
    assert set(invocations(fleet, shell)) == {instance}
