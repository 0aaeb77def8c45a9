"""The simulated SSM agent, observed through DescribeInstanceInformation."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.adapters.ssm import install
from localcloud.cloud import LocalCloud
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetSimulator]:
    # The fleet registers its own images; moto's 2,500 stock AMIs only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        yield install(cloud)


def information(fleet: FleetSimulator, **kwargs: Any) -> dict[str, dict[str, Any]]:
    found = fleet.cloud.client("ssm").describe_instance_information(**kwargs)
    return {i["InstanceId"]: i for i in found["InstanceInformationList"]}


def test_agent_registers_after_its_delay_then_reports_online(fleet: FleetSimulator) -> None:
    # Given an Amazon Linux 2 instance whose agent takes 45 s
    [instance] = fleet.launch(
        "AMAZON_LINUX_2", tags={"Name": "web-1"}, behaviour=Behaviour(agent_delay_seconds=45)
    )
    # When 44 s pass, it is not a managed instance yet
    fleet.cloud.advance(44)
    assert information(fleet) == {}
    # Then at 45 s it is Online, with what fleetpatch resolves the OS from
    fleet.cloud.advance(1)
    info = information(fleet, Filters=[{"Key": "InstanceIds", "Values": [instance]}])[instance]
    assert info["PingStatus"] == "Online"
    assert (info["PlatformType"], info["PlatformName"], info["PlatformVersion"]) == (
        "Linux",
        "Amazon Linux",
        "2",
    )
    assert info["ResourceType"] == "EC2Instance"
    assert info["AgentVersion"]
    assert info["LastPingDateTime"].timestamp() == fleet.clock.now().timestamp()
    assert info["ComputerName"].endswith(".eu-central-1.compute.internal")


def test_ec2_reports_when_an_instance_launched_in_the_simulation(fleet: FleetSimulator) -> None:
    # Given an hour of simulated time gone by
    fleet.cloud.advance(3600)
    # When an instance launches, EC2 says it launched now (the simulation's now, not the host's)
    [instance] = fleet.launch("UBUNTU")
    described = fleet.cloud.client("ec2").describe_instances(InstanceIds=[instance])
    launched = described["Reservations"][0]["Instances"][0]["LaunchTime"]
    assert launched.timestamp() == fleet.clock.now().timestamp()


def test_settle_plays_until_every_agent_is_registered(fleet: FleetSimulator) -> None:
    fleet.launch("WINDOWS", count=2, behaviour=Behaviour(agent_delay_seconds=300))
    fleet.cloud.settle()
    infos = information(fleet).values()
    assert [i["PlatformType"] for i in infos] == ["Windows", "Windows"]
    assert {i["PlatformName"] for i in infos} == {"Microsoft Windows Server 2022 Datacenter"}


def test_never_online_instance_is_never_managed(fleet: FleetSimulator) -> None:
    [instance] = fleet.launch("REDHAT_ENTERPRISE_LINUX", behaviour=Behaviour(never_online=True))
    fleet.cloud.advance(3600)
    assert information(fleet, Filters=[{"Key": "InstanceIds", "Values": [instance]}]) == {}


def test_filters_by_ping_status_platform_and_tags(fleet: FleetSimulator) -> None:
    [linux] = fleet.launch("UBUNTU", tags={"Patch Group": "db"})
    [windows] = fleet.launch("WINDOWS", tags={"PatchGroup": "db", "Team": "x"})
    fleet.cloud.settle()
    assert set(information(fleet, Filters=[{"Key": "PingStatus", "Values": ["Online"]}])) == {
        linux,
        windows,
    }
    assert set(
        information(
            fleet, InstanceInformationFilterList=[{"key": "PlatformTypes", "valueSet": ["Linux"]}]
        )
    ) == {linux}
    assert set(information(fleet, Filters=[{"Key": "tag:Patch Group", "Values": ["db"]}])) == {
        linux
    }
    assert set(information(fleet, Filters=[{"Key": "tag-key", "Values": ["Team"]}])) == {windows}
    ssm = fleet.cloud.client("ssm")
    with pytest.raises(ssm.exceptions.InvalidFilterKey):
        ssm.describe_instance_information(Filters=[{"Key": "Colour", "Values": ["red"]}])


def test_terminated_and_stopped_instances_are_not_reported(fleet: FleetSimulator) -> None:
    running, stopped, terminated = fleet.launch("AMAZON_LINUX_2023", count=3)
    fleet.cloud.settle()
    ec2 = fleet.cloud.client("ec2")
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.terminate_instances(InstanceIds=[terminated])
    assert set(information(fleet)) == {running}


def test_pages_of_instance_information(fleet: FleetSimulator) -> None:
    fleet.launch("SUSE", count=7)
    fleet.cloud.settle()
    ssm = fleet.cloud.client("ssm")
    first = ssm.describe_instance_information(MaxResults=5)
    second = ssm.describe_instance_information(MaxResults=5, NextToken=first["NextToken"])
    assert len(first["InstanceInformationList"]) == 5
    assert len(second["InstanceInformationList"]) == 2
    assert "NextToken" not in second


def test_a_filter_by_instance_id_answers_as_the_whole_list_does(fleet: FleetSimulator) -> None:
    # The by-id fast path reads only the named instances: same instances, same (launch)
    # order, every other filter still applied, unknown and stopped ids left out, same pages.
    ids = fleet.launch("UBUNTU", count=6, tags={"Patch Group": "db"})
    [windows] = fleet.launch("WINDOWS", tags={"Patch Group": "db"})
    fleet.cloud.settle()
    fleet.cloud.client("ec2").stop_instances(InstanceIds=[ids[2]])
    ssm = fleet.cloud.client("ssm")
    everyone = [
        i["InstanceId"] for i in ssm.describe_instance_information()["InstanceInformationList"]
    ]
    asked = [windows, ids[4], "i-0123456789abcdef0", ids[2], ids[0], ids[5]]
    named = ssm.describe_instance_information(
        Filters=[
            {"Key": "InstanceIds", "Values": asked},
            {"Key": "PlatformTypes", "Values": ["Linux"]},
        ],
        MaxResults=5,
    )
    expected = [i for i in everyone if i in asked and i != windows]
    assert [i["InstanceId"] for i in named["InstanceInformationList"]] == expected
    assert expected == [ids[0], ids[4], ids[5]]
    assert "NextToken" not in named
    page = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [windows, *reversed(ids)]}], MaxResults=5
    )
    rest = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [windows, *reversed(ids)]}],
        MaxResults=5,
        NextToken=page["NextToken"],
    )
    assert [
        i["InstanceId"] for i in page["InstanceInformationList"] + rest["InstanceInformationList"]
    ] == everyone
    assert len(everyone) == 6


def test_instance_information_refuses_what_aws_refuses(fleet: FleetSimulator) -> None:
    # The limits the readiness watcher batches against (botocore's service model: 1 to 100
    # filter values, MaxResults 5 to 50; the API reference: the legacy and current filter
    # lists not together, an id that is not valid fails the whole call)
    [instance] = fleet.launch("UBUNTU")
    fleet.cloud.settle()
    ssm = fleet.cloud.client("ssm")
    many = [f"i-{n:017x}" for n in range(101)]
    with pytest.raises(ssm.exceptions.ClientError, match=r"ValidationException.*100"):
        ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": many}])
    with pytest.raises(ssm.exceptions.ClientError, match=r"ValidationException.*between 5 and 50"):
        ssm.describe_instance_information(MaxResults=51)
    with pytest.raises(ssm.exceptions.InvalidInstanceInformationFilterValue):
        ssm.describe_instance_information(
            Filters=[{"Key": "PingStatus", "Values": ["Online"]}],
            InstanceInformationFilterList=[{"key": "PlatformTypes", "valueSet": ["Linux"]}],
        )
    with pytest.raises(ssm.exceptions.InvalidInstanceId):
        ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [instance, "i-not-an-id"]}]
        )
    # and 100 ids, most of them unknown, is an answer about the one that is managed
    ids = [instance, *many[:99]]
    found = information(fleet, Filters=[{"Key": "InstanceIds", "Values": ids}], MaxResults=50)
    assert set(found) == {instance}


def auto_scaling_group(fleet: FleetSimulator, name: str, capacity: int) -> list[str]:
    ec2 = fleet.cloud.client("ec2")
    ec2.create_launch_template(
        LaunchTemplateName=f"{name}-template",
        LaunchTemplateData={
            "ImageId": fleet.image_id("AMAZON_LINUX_2023"),
            "InstanceType": "t3.micro",
            "UserData": base64.b64encode(b"#!/bin/sh\n").decode(),
        },
    )
    autoscaling = fleet.cloud.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateName": f"{name}-template"},
        MinSize=0,
        MaxSize=5,
        DesiredCapacity=capacity,
        AvailabilityZones=[f"{fleet.cloud.region}a"],
    )
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
    return [i["InstanceId"] for i in group["AutoScalingGroups"][0]["Instances"]]


def test_instances_launched_by_auto_scaling_are_managed_and_scriptable(
    fleet: FleetSimulator,
) -> None:
    # Given the group's next launch is scripted never to come online
    fleet.behaviour_for_next_launch(Behaviour(never_online=True), group="web")
    fleet.behaviour_for_next_launch(Behaviour(agent_delay_seconds=10), group="other")
    # When the group launches two instances from a template using the fleet's image
    first, second = auto_scaling_group(fleet, "web", 2)
    fleet.cloud.settle()
    # Then the first never registers and the second registers with the default behaviour
    assert set(information(fleet)) == {second}
    assert fleet.instance(first).behaviour.never_online
    assert fleet.instance(second).os == "AMAZON_LINUX_2023"


def test_unknown_images_never_become_managed_instances(fleet: FleetSimulator) -> None:
    ec2 = fleet.cloud.client("ec2")
    image = ec2.register_image(Name="no-agent")["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    fleet.register_image(
        other := ec2.register_image(Name="golden")["ImageId"],
        "CENTOS",
        default_behaviour=Behaviour(agent_delay_seconds=5),
    )
    [golden] = ec2.run_instances(ImageId=other, MinCount=1, MaxCount=1)["Instances"]
    fleet.cloud.settle()
    assert set(information(fleet)) == {golden["InstanceId"]}
    assert instance["InstanceId"] not in information(fleet)
