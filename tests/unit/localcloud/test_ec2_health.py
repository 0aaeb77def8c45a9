"""An instance's health on the local cloud: EC2 reboots, status checks, the application's
health and its faults, and command documents (hooks, health checks) with scripted exit codes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.runner import behaviour_of
from localcloud.scenario import BehaviourSpec
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour
from localcloud.sim.run_command import iso_timestamp
from tests.unit.localcloud.test_ssm_run_command import (
    capture_events,
    patch_state,
    patches,
    ready,
    send,
)

NO_REBOOT = {"Operation": ["Install"], "RebootOption": ["NoReboot"]}


@pytest.fixture
def fleet() -> Iterator[FleetSimulator]:
    with LocalCloud() as cloud:
        assert cloud.fleet is not None
        yield cloud.fleet


def ping(fleet: FleetSimulator, instance_id: str) -> dict[str, Any]:
    found = fleet.cloud.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )["InstanceInformationList"]
    return dict(found[0])


def status(fleet: FleetSimulator, instance_id: str) -> tuple[str, str]:
    [found] = fleet.cloud.client("ec2").describe_instance_status(InstanceIds=[instance_id])[
        "InstanceStatuses"
    ]
    return found["InstanceStatus"]["Status"], found["SystemStatus"]["Status"]


def healthy(fleet: FleetSimulator, instance_id: str) -> bool:
    return fleet.instance(instance_id).app_healthy(fleet.clock.now())


# --- RebootInstances ----------------------------------------------------------------------------


def test_reboot_instances_takes_the_agent_away_for_the_reboot_then_it_pings_again(
    fleet: FleetSimulator,
) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(reboot_seconds=90))
    before = ping(fleet, instance)["LastPingDateTime"]
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.advance(1)
    down = ping(fleet, instance)
    assert down["PingStatus"] == "ConnectionLost"
    assert not healthy(fleet, instance)
    fleet.cloud.advance(88)
    assert ping(fleet, instance)["PingStatus"] == "ConnectionLost"
    fleet.cloud.advance(1)
    up = ping(fleet, instance)
    assert up["PingStatus"] == "Online"
    assert up["LastPingDateTime"] > before
    assert healthy(fleet, instance)


def test_a_command_sent_during_a_reboot_waits_for_the_instance(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.advance(1)
    # SendCommand to a ConnectionLost instance by id is refused; by tag it waits (Delayed).
    command_id = send(
        fleet,
        Targets=[{"Key": "InstanceIds", "Values": [instance]}],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["systemctl is-active app"]},
    )
    fleet.cloud.advance(5)
    ssm = fleet.cloud.client("ssm")
    assert ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)["Status"] in {
        "Delayed",
        "Pending",
    }
    fleet.cloud.settle()
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert invocation["Status"] == "Success"
    [(_, back)] = fleet.instance(instance).reboots
    assert invocation["ExecutionStartDateTime"] == iso_timestamp(back)


def test_stopped_and_unknown_instances(fleet: FleetSimulator) -> None:
    [running, stopped] = ready(fleet, count=2)
    ec2 = fleet.cloud.client("ec2")
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.reboot_instances(InstanceIds=[running, stopped])
    # moto would make the stopped one running: AWS ignores it
    state = ec2.describe_instances(InstanceIds=[stopped])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] == "stopped"
    assert fleet.instance(stopped).reboots == []
    assert len(fleet.instance(running).reboots) == 1
    with pytest.raises(ec2.exceptions.ClientError) as caught:
        ec2.reboot_instances(InstanceIds=["i-0123456789abcdef0"])
    assert caught.value.response["Error"]["Code"] == "InvalidInstanceID.NotFound"


def test_pending_reboot_patches_are_reported_until_the_next_patch_run_after_a_reboot(
    fleet: FleetSimulator,
) -> None:
    # Given a NoReboot install left patches pending a reboot
    [instance] = ready(fleet)
    send(fleet, InstanceIds=[instance], Parameters=NO_REBOOT)
    fleet.cloud.settle()
    pending = patch_state(fleet, instance)["InstalledPendingRebootCount"]
    assert pending > 0
    assert ping(fleet, instance)["PingStatus"] == "Online"  # NoReboot: never went down
    # When EC2 reboots it
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.settle()
    # Then the agent has not reported since: still pending in the patch state
    assert patch_state(fleet, instance)["InstalledPendingRebootCount"] == pending
    # and the next scan reports them Installed
    send(fleet, InstanceIds=[instance], Parameters={"Operation": ["Scan"]})
    fleet.cloud.settle()
    after = patch_state(fleet, instance)
    assert after["InstalledPendingRebootCount"] == 0
    assert patches(fleet, instance, "InstalledPendingReboot") == set()
    # and an Install with RebootIfNeeded has nothing left to reboot for
    send(fleet, InstanceIds=[instance])
    fleet.cloud.settle()
    assert len(fleet.instance(instance).reboots) == 1


# --- status checks ------------------------------------------------------------------------------


def test_status_checks_initialize_after_launch_and_each_boot(fleet: FleetSimulator) -> None:
    [instance] = fleet.launch(
        "AMAZON_LINUX_2", behaviour=Behaviour(status_check_seconds=45, reboot_seconds=60)
    )
    assert status(fleet, instance) == ("initializing", "initializing")
    fleet.cloud.advance(44)
    assert status(fleet, instance) == ("initializing", "initializing")
    fleet.cloud.advance(1)
    assert status(fleet, instance) == ("ok", "ok")
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.advance(60 + 44)  # rebooting, then initializing again
    assert status(fleet, instance) == ("initializing", "initializing")
    fleet.cloud.advance(1)
    assert status(fleet, instance) == ("ok", "ok")


def test_instances_outside_the_fleet_keep_motos_status(fleet: FleetSimulator) -> None:
    ec2 = fleet.cloud.client("ec2")
    image = ec2.register_image(Name="no-agent")["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0][
        "InstanceId"
    ]
    assert status(fleet, instance) == ("ok", "ok")


def install_then_reboot(fleet: FleetSimulator, instance: str) -> None:
    send(fleet, InstanceIds=[instance], Parameters=NO_REBOOT)
    fleet.cloud.settle()
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.settle()


def test_status_impaired_after_the_reboot_that_follows_an_install(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(status_impaired_after_reboot=True))
    # A reboot with nothing installed does not bring the fault out
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.settle()
    assert status(fleet, instance) == ("ok", "ok")
    assert healthy(fleet, instance)
    # An install does not either, until the instance reboots
    send(fleet, InstanceIds=[instance], Parameters=NO_REBOOT)
    fleet.cloud.settle()
    assert status(fleet, instance) == ("ok", "ok")
    fleet.cloud.client("ec2").reboot_instances(InstanceIds=[instance])
    fleet.cloud.settle()
    assert status(fleet, instance) == ("impaired", "ok")  # the instance's, not the host's
    [found] = fleet.cloud.client("ec2").describe_instance_status(InstanceIds=[instance])[
        "InstanceStatuses"
    ]
    assert found["InstanceStatus"]["Details"] == [{"Name": "reachability", "Status": "failed"}]
    assert not healthy(fleet, instance)
    ec2 = fleet.cloud.client("ec2")
    for name, value, matches in (
        ("instance-status.status", "impaired", True),
        ("instance-status.status", "ok", False),
        ("instance-status.reachability", "failed", True),
        ("system-status.status", "ok", True),
    ):
        found = ec2.describe_instance_status(Filters=[{"Name": name, "Values": [value]}])
        assert bool(found["InstanceStatuses"]) is matches, (name, value)


def test_app_unhealthy_after_the_reboot_that_follows_an_install(fleet: FleetSimulator) -> None:
    [faulty, fine] = [
        ready(fleet, behaviour=Behaviour(unhealthy_after_reboot=True))[0],
        ready(fleet)[0],
    ]
    for instance in (faulty, fine):
        install_then_reboot(fleet, instance)
    assert not healthy(fleet, faulty)
    assert status(fleet, faulty) == ("ok", "ok")  # the OS is fine; the application is not
    assert healthy(fleet, fine)
    assert ping(fleet, faulty)["PingStatus"] == "Online"


def test_the_fault_also_shows_after_the_agents_own_reboot(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet, behaviour=Behaviour(unhealthy_after_reboot=True))
    send(fleet, InstanceIds=[instance])  # Install, RebootIfNeeded
    fleet.cloud.settle()
    assert not healthy(fleet, instance)


def test_app_is_down_while_not_running(fleet: FleetSimulator) -> None:
    [instance] = ready(fleet)
    assert healthy(fleet, instance)
    fleet.cloud.client("ec2").stop_instances(InstanceIds=[instance])
    assert not healthy(fleet, instance)


# --- command documents: hooks and health checks -------------------------------------------------

HOOK = {
    "schemaVersion": "2.2",
    "description": "Stop the application before patching",
    "parameters": {"Service": {"type": "String", "default": "app"}},
    "mainSteps": [
        {
            "action": "aws:runShellScript",
            "name": "StopService",
            "precondition": {"StringEquals": ["platformType", "Linux"]},
            "inputs": {"runCommand": ["systemctl stop {{ Service }}"]},
        },
        {
            "action": "aws:runPowerShellScript",
            "name": "StopServiceWindows",
            "precondition": {"StringEquals": ["platformType", "Windows"]},
            "inputs": {"runCommand": ["Stop-Service {{ Service }}"]},
        },
    ],
}


def test_hook_documents_end_with_the_scripted_exit_code(fleet: FleetSimulator) -> None:
    ssm, s3 = fleet.cloud.client("ssm"), fleet.cloud.client("s3")
    s3.create_bucket(
        Bucket="out", CreateBucketConfiguration={"LocationConstraint": fleet.cloud.region}
    )
    ssm.create_document(
        Name="fleetpatch-pre-install", Content=json.dumps(HOOK), DocumentType="Command"
    )
    read_events = capture_events(fleet.cloud)
    [ok, failing] = [
        ready(fleet)[0],
        ready(fleet, behaviour=Behaviour(hook_exit_codes={"fleetpatch-pre-install": 3}))[0],
    ]
    command_id = send(
        fleet,
        InstanceIds=[ok, failing],
        DocumentName="fleetpatch-pre-install",
        Parameters={"Service": ["web"]},
        OutputS3BucketName="out",
        OutputS3KeyPrefix="hooks",
        MaxErrors="1",
    )
    fleet.cloud.settle()
    good = ssm.get_command_invocation(CommandId=command_id, InstanceId=ok)
    bad = ssm.get_command_invocation(CommandId=command_id, InstanceId=failing)
    assert (good["Status"], good["ResponseCode"], good["PluginName"]) == (
        "Success",
        0,
        "StopService",
    )
    assert (bad["Status"], bad["StatusDetails"], bad["ResponseCode"]) == ("Failed", "Failed", 3)
    assert "exit status 3" in bad["StandardErrorContent"]
    key = f"hooks/{command_id}/{failing}/awsrunShellScript/StopService/stderr"
    assert bad["StandardErrorUrl"].endswith(f"/out/{key}")
    assert b"exit status 3" in s3.get_object(Bucket="out", Key=key)["Body"].read()
    listed = ssm.list_commands(CommandId=command_id)["Commands"][0]
    # within MaxErrors, yet not every invocation succeeded (localcloud.sim.fleet)
    assert (listed["Status"], listed["StatusDetails"], listed["ErrorCount"]) == (
        "Failed",
        "Incomplete",
        1,
    )
    statuses = {
        (e["detail"]["instance-id"], e["detail"]["status"])
        for e in read_events()
        if e["detail-type"] == "EC2 Command Invocation Status-change Notification"
    }
    assert {(ok, "Success"), (failing, "Failed")} <= statuses


def test_aws_shell_documents_run_and_unknown_ones_are_refused(fleet: FleetSimulator) -> None:
    ssm = fleet.cloud.client("ssm")
    [instance] = ready(fleet, behaviour=Behaviour(hook_exit_codes={"AWS-RunShellScript": 1}))
    command_id = send(
        fleet,
        InstanceIds=[instance],
        DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["curl -f localhost/health"]},
    )
    fleet.cloud.settle()
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance)
    assert (invocation["Status"], invocation["ResponseCode"], invocation["PluginName"]) == (
        "Failed",
        1,
        "aws:runShellScript",
    )
    for arguments, code in (
        ({"DocumentName": "no-such-document", "Parameters": {}}, "InvalidDocument"),
        ({"DocumentName": "AWS-RunShellScript", "Parameters": {}}, "InvalidParameters"),
        (
            {"DocumentName": "AWS-RunShellScript", "Parameters": {"commands": ["x"], "y": ["z"]}},
            "InvalidParameters",
        ),
    ):
        with pytest.raises(ssm.exceptions.ClientError) as caught:
            send(fleet, InstanceIds=[instance], **arguments)
        assert caught.value.response["Error"]["Code"] == code, arguments


def test_the_scenario_behaviour_carries_the_health_faults() -> None:
    spec = BehaviourSpec.model_validate(
        {
            "unhealthy_after_reboot": True,
            "rollback_fails": True,
            "status_impaired_after_reboot": True,
            "status_check_seconds": 10,
            "hook_exit_codes": {"fleetpatch-health": 2},
        }
    )
    behaviour = behaviour_of(spec)
    assert behaviour.unhealthy_after_reboot
    assert behaviour.rollback_fails
    assert behaviour.status_impaired_after_reboot
    assert behaviour.status_check_seconds == 10
    assert behaviour.hook_exit_codes == {"fleetpatch-health": 2}
    assert behaviour_of(BehaviourSpec()) == Behaviour()
