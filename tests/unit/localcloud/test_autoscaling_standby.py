"""Auto Scaling Standby and attached target groups on the local cloud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core.iam.principal import acting_as
from localcloud.runner import ScenarioResult, _healthy_counts, build_fleet, terminate_instance
from localcloud.scenario import Scenario
from tests.unit.localcloud.test_load_balancing import health, target_group


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        yield running


def group(
    cloud: LocalCloud, *, desired: int = 3, min_size: int = 0, max_size: int = 6, delay: int = 60
) -> str:
    """A group ``web`` of ``desired`` InService instances behind target group ``web-tg``."""
    assert cloud.fleet is not None
    arn = target_group(cloud, "web-tg", interval=10, healthy=3, delay=delay)
    cloud.client("ec2").create_launch_template(
        LaunchTemplateName="web-template",
        LaunchTemplateData={
            "ImageId": cloud.fleet.image_id("AMAZON_LINUX_2023"),
            "InstanceType": "t3.micro",
        },
    )
    cloud.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="web",
        MinSize=min_size,
        MaxSize=max_size,
        DesiredCapacity=desired,
        LaunchTemplate={"LaunchTemplateName": "web-template"},
        AvailabilityZones=["eu-central-1a"],
        TargetGroupARNs=[arn],
    )
    return arn


def described(cloud: LocalCloud) -> dict[str, Any]:
    [found] = cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["web"]
    )["AutoScalingGroups"]
    return dict(found)


def lifecycle(cloud: LocalCloud, instance_id: str) -> str:
    [found] = cloud.client("autoscaling").describe_auto_scaling_instances(
        InstanceIds=[instance_id]
    )["AutoScalingInstances"]
    return str(found["LifecycleState"])


def members(cloud: LocalCloud) -> list[str]:
    return sorted(i["InstanceId"] for i in described(cloud)["Instances"])


def enter(cloud: LocalCloud, instance_id: str, decrement: bool = True) -> None:
    cloud.client("autoscaling").enter_standby(
        AutoScalingGroupName="web",
        InstanceIds=[instance_id],
        ShouldDecrementDesiredCapacity=decrement,
    )


def validation_error(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**params)
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    return str(raised.value.response["Error"]["Message"])


def test_in_service_members_are_registered_in_the_groups_target_groups(cloud: LocalCloud) -> None:
    arn = group(cloud, desired=3)
    assert set(health(cloud, arn)) == set(members(cloud))
    cloud.advance(30)
    assert {state for state, _ in health(cloud, arn).values()} == {"healthy"}


def test_enter_standby_drains_then_standby_and_the_group_does_not_replace_it(
    cloud: LocalCloud,
) -> None:
    arn = group(cloud, desired=3, delay=60)
    cloud.advance(30)
    first = members(cloud)[0]
    enter(cloud, first)
    assert lifecycle(cloud, first) == "EnteringStandby"
    assert health(cloud, arn)[first] == ("draining", "Target.DeregistrationInProgress")
    assert described(cloud)["DesiredCapacity"] == 2
    cloud.advance(59)
    assert lifecycle(cloud, first) == "EnteringStandby"
    cloud.advance(1)
    assert lifecycle(cloud, first) == "Standby"
    assert first not in health(cloud, arn)
    assert len(members(cloud)) == 3  # no replacement launched


def test_exit_standby_goes_pending_then_in_service_and_registers_again(cloud: LocalCloud) -> None:
    arn = group(cloud, desired=2, delay=0)
    cloud.advance(30)
    first = members(cloud)[0]
    enter(cloud, first)
    cloud.advance(1)
    cloud.client("autoscaling").exit_standby(AutoScalingGroupName="web", InstanceIds=[first])
    assert lifecycle(cloud, first) == "Pending"
    assert described(cloud)["DesiredCapacity"] == 2
    cloud.advance(0.001)
    assert lifecycle(cloud, first) == "InService"
    assert health(cloud, arn)[first] == ("initial", "Elb.RegistrationInProgress")
    cloud.advance(30)
    assert health(cloud, arn)[first] == ("healthy", None)
    assert len(members(cloud)) == 2


def test_standby_errors_are_aws_validation_errors(cloud: LocalCloud) -> None:
    group(cloud, desired=2, min_size=1, delay=0)
    first, second = members(cloud)
    client = cloud.client("autoscaling")
    not_standby = validation_error(
        client.exit_standby, AutoScalingGroupName="web", InstanceIds=[first]
    )
    assert not_standby == f"The instance {first} is not in Standby."
    enter(cloud, first)
    cloud.advance(1)
    again = validation_error(
        client.enter_standby,
        AutoScalingGroupName="web",
        InstanceIds=[first],
        ShouldDecrementDesiredCapacity=True,
    )
    assert again == f"The instance {first} is not in InService."
    below_min = validation_error(
        client.enter_standby,
        AutoScalingGroupName="web",
        InstanceIds=[second],
        ShouldDecrementDesiredCapacity=True,
    )
    assert below_min.startswith(
        "AutoScalingGroup web has min-size=1, max-size=6, and desired-size=1."
    )
    assert "To place into standby 1 instance," in below_min
    [stranger] = cloud.fleet.launch("AMAZON_LINUX_2023") if cloud.fleet else []
    foreign = validation_error(
        client.exit_standby, AutoScalingGroupName="web", InstanceIds=[stranger]
    )
    assert foreign == f"The instance {stranger} is not part of Auto Scaling group web."


def test_without_decrement_the_group_launches_a_replacement(cloud: LocalCloud) -> None:
    arn = group(cloud, desired=2, delay=60)
    first = members(cloud)[0]
    enter(cloud, first, decrement=False)
    assert described(cloud)["DesiredCapacity"] == 2
    assert len(members(cloud)) == 3
    assert len(health(cloud, arn)) == 3  # two in service (one new) and the draining one


def test_an_instance_terminated_in_standby_leaves_the_group_unreplaced(cloud: LocalCloud) -> None:
    arn = group(cloud, desired=3, delay=30)
    first = members(cloud)[0]
    enter(cloud, first)
    cloud.advance(30)
    cloud.client("ec2").terminate_instances(InstanceIds=[first])
    cloud.advance(60)
    assert first not in members(cloud)
    assert len(members(cloud)) == 2
    assert described(cloud)["DesiredCapacity"] == 2
    assert first not in health(cloud, arn)


def test_an_instance_held_by_a_launch_hook_is_registered_only_when_in_service(
    cloud: LocalCloud,
) -> None:
    arn = group(cloud, desired=1)
    client = cloud.client("autoscaling")
    client.put_lifecycle_hook(
        LifecycleHookName="launch",
        AutoScalingGroupName="web",
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=300,
        DefaultResult="ABANDON",
    )
    before = set(members(cloud))
    client.set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=2)
    [new] = set(members(cloud)) - before
    assert lifecycle(cloud, new) == "Pending:Wait"
    assert new not in health(cloud, arn)
    client.complete_lifecycle_action(
        AutoScalingGroupName="web",
        LifecycleHookName="launch",
        LifecycleActionResult="CONTINUE",
        InstanceId=new,
    )
    cloud.advance(1)
    assert lifecycle(cloud, new) == "InService"
    assert health(cloud, arn)[new][0] == "initial"


def test_standby_and_target_registration_are_authorized_per_group(cloud: LocalCloud) -> None:
    arn = group(cloud, desired=2)
    first = members(cloud)[0]
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="nobody", AssumeRolePolicyDocument=json.dumps(trust))
    nobody = cloud.iam.assume(role["Role"]["Arn"], "lambda.amazonaws.com")
    cloud.iam.denials_expected = True
    with acting_as(nobody):
        for call, params in (
            (
                cloud.client("autoscaling").enter_standby,
                {
                    "AutoScalingGroupName": "web",
                    "InstanceIds": [first],
                    "ShouldDecrementDesiredCapacity": True,
                },
            ),
            (cloud.client("autoscaling").exit_standby, {"AutoScalingGroupName": "web"}),
            (cloud.client("elbv2").register_targets, {"TargetGroupArn": arn, "Targets": []}),
            (
                cloud.client("elbv2").deregister_targets,
                {"TargetGroupArn": arn, "Targets": [{"Id": first}]},
            ),
            (cloud.client("elbv2").describe_target_health, {"TargetGroupArn": arn}),
        ):
            with pytest.raises(ClientError) as raised:
                call(**params)
            assert raised.value.response["Error"]["Code"] == "AccessDenied"
    denied = {(d.action, d.resource) for d in cloud.iam.denials()}
    assert ("elasticloadbalancing:DeregisterTargets", arn) in denied
    assert ("elasticloadbalancing:DescribeTargetHealth", "*") in denied
    assert any(
        a == "autoscaling:EnterStandby" and r.endswith("autoScalingGroupName/web")
        for a, r in denied
    )


def test_a_scenario_builds_target_groups_groups_in_service_and_registered_fleet(
    cloud: LocalCloud,
) -> None:
    assert cloud.load_balancing is not None
    scenario = Scenario.model_validate(
        {
            "name": "serving",
            "target_groups": [
                {
                    "name": "web-tg",
                    "deregistration_delay_seconds": 30,
                    "health_check": {"interval_seconds": 10, "healthy_threshold": 2},
                }
            ],
            "fleet": [{"name": "api", "os": "AMAZON_LINUX_2023", "target_groups": ["web-tg"]}],
            "auto_scaling_groups": [
                {
                    "name": "web",
                    "os": "AMAZON_LINUX_2023",
                    "desired_capacity": 3,
                    "max_size": 6,
                    "target_groups": ["web-tg"],
                    "behaviours": [{"reboot_seconds": 5}],
                    "lifecycle_hook": {"name": "launch"},
                }
            ],
        }
    )
    build_fleet(cloud, scenario)
    assert [lifecycle(cloud, i) for i in members(cloud)] == ["InService"] * 3
    assert cloud.fleet is not None
    reboots = sorted(cloud.fleet.instance(i).behaviour.reboot_seconds for i in members(cloud))
    assert reboots == [5, 60, 60]  # the first launched has the scripted behaviour
    assert cloud.client("autoscaling").describe_lifecycle_hooks(AutoScalingGroupName="web")[
        "LifecycleHooks"
    ]  # the hook exists, after the initial capacity
    cloud.advance(20)
    [(_, healthy, registered)] = cloud.load_balancing.healthy_counts("web-tg")[-1:]
    assert (healthy, registered) == (4, 4)
    counts = _healthy_counts(cloud, scenario)
    result = ScenarioResult(
        "serving", scenario.start, 20, 0, 0, [], [], [], [], [], healthy_counts=counts
    )
    assert result.as_dict()["healthy_counts"]["web-tg"][-1] == {
        "time": "2026-11-07T04:00:20+00:00",
        "healthy": 4,
        "registered": 4,
    }
    gone = terminate_instance(cloud, "web", 0)
    cloud.advance(30)
    assert gone not in members(cloud)
    assert len(members(cloud)) == 3  # replaced: it was InService


def test_scenario_references_to_target_groups_are_checked() -> None:
    with pytest.raises(ValueError, match="no target_groups entry named 'missing'"):
        Scenario.model_validate(
            {
                "name": "bad",
                "auto_scaling_groups": [
                    {"name": "web", "os": "AMAZON_LINUX_2023", "target_groups": ["missing"]}
                ],
            }
        )
    with pytest.raises(ValueError, match="no fleet or auto_scaling_groups entry named 'db'"):
        Scenario.model_validate({"name": "bad", "steps": [{"terminate_instance": {"name": "db"}}]})


def test_target_registration_is_scoped_to_the_target_groups_a_role_names(
    cloud: LocalCloud,
) -> None:
    allowed = target_group(cloud, "allowed")
    other = target_group(cloud, "other")
    assert cloud.fleet is not None
    [instance] = cloud.fleet.launch("AMAZON_LINUX_2023")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam = cloud.client("iam")
    arn = iam.create_role(RoleName="drainer", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(
        RoleName="drainer",
        PolicyName="inline",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": [
                            "elasticloadbalancing:RegisterTargets",
                            "elasticloadbalancing:DeregisterTargets",
                        ],
                        "Resource": allowed,
                    },
                    {
                        "Effect": "Allow",
                        "Action": "elasticloadbalancing:DescribeTargetHealth",
                        "Resource": "*",
                    },
                ],
            }
        ),
    )
    drainer = cloud.iam.assume(arn["Role"]["Arn"], "lambda.amazonaws.com")
    cloud.iam.denials_expected = True
    elbv2 = cloud.client("elbv2")
    with acting_as(drainer):
        elbv2.register_targets(TargetGroupArn=allowed, Targets=[{"Id": instance}])
        assert health(cloud, allowed)[instance][0] == "initial"
        with pytest.raises(ClientError) as raised:
            elbv2.register_targets(TargetGroupArn=other, Targets=[{"Id": instance}])
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    assert f"elasticloadbalancing:RegisterTargets on resource: {other}" in str(
        raised.value.response["Error"]["Message"]
    )
