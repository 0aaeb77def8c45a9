"""ELBv2 target health on the local cloud: states and reasons over simulated time, draining."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from localcloud.cloud import LocalCloud


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        yield running


def target_group(
    cloud: LocalCloud,
    name: str = "web",
    *,
    interval: int = 10,
    healthy: int = 3,
    unhealthy: int = 2,
    delay: int | None = None,
) -> str:
    elbv2 = cloud.client("elbv2")
    vpc = cloud.client("ec2").describe_vpcs()["Vpcs"][0]["VpcId"]
    arn: str = elbv2.create_target_group(
        Name=name,
        Protocol="HTTP",
        Port=80,
        VpcId=vpc,
        HealthCheckIntervalSeconds=interval,
        HealthCheckTimeoutSeconds=5,
        HealthyThresholdCount=healthy,
        UnhealthyThresholdCount=unhealthy,
    )["TargetGroups"][0]["TargetGroupArn"]
    if delay is not None:
        elbv2.modify_target_group_attributes(
            TargetGroupArn=arn,
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(delay)}],
        )
    return arn


def launch(cloud: LocalCloud, count: int = 1) -> list[str]:
    assert cloud.fleet is not None
    ids: list[str] = cloud.fleet.launch("AMAZON_LINUX_2023", tags={"Name": "web"}, count=count)
    return ids


def health(cloud: LocalCloud, arn: str, *ids: str) -> dict[str, tuple[str, str | None]]:
    params: dict[str, Any] = {"TargetGroupArn": arn}
    if ids:
        params["Targets"] = [{"Id": i} for i in ids]
    described = cloud.client("elbv2").describe_target_health(**params)
    return {
        d["Target"]["Id"]: (d["TargetHealth"]["State"], d["TargetHealth"].get("Reason"))
        for d in described["TargetHealthDescriptions"]
    }


def register(cloud: LocalCloud, arn: str, *ids: str) -> None:
    cloud.client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": i} for i in ids])


def test_a_registered_target_is_initial_until_healthy_threshold_checks_pass(
    cloud: LocalCloud,
) -> None:
    arn = target_group(cloud, interval=10, healthy=3)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    assert health(cloud, arn) == {instance: ("initial", "Elb.RegistrationInProgress")}
    cloud.advance(10)
    assert health(cloud, arn) == {instance: ("initial", "Elb.InitialHealthChecking")}
    cloud.advance(19)
    assert health(cloud, arn)[instance][0] == "initial"
    cloud.advance(1)  # the third passing check, 30 s after registration
    assert health(cloud, arn) == {instance: ("healthy", None)}


def test_a_target_whose_application_fails_turns_unhealthy_and_recovers(cloud: LocalCloud) -> None:
    assert cloud.fleet is not None
    assert cloud.load_balancing is not None
    arn = target_group(cloud, interval=10, healthy=3, unhealthy=2)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.advance(30)
    managed = cloud.fleet.instance(instance)
    cloud.load_balancing.settle()  # a flag, not a function of time: replay up to now first
    managed.broken = True
    cloud.advance(10)
    assert health(cloud, arn)[instance] == ("healthy", None)  # one failure is not enough
    cloud.advance(10)
    assert health(cloud, arn)[instance] == ("unhealthy", "Target.FailedHealthChecks")
    cloud.load_balancing.settle()
    managed.broken = False
    cloud.advance(30)
    assert health(cloud, arn)[instance] == ("healthy", None)


def test_a_rebooting_target_times_out(cloud: LocalCloud) -> None:
    assert cloud.fleet is not None
    arn = target_group(cloud, interval=10, healthy=2, unhealthy=2)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.advance(20)
    now = cloud.clock.now()
    cloud.fleet.instance(instance).reboots.append((now, now + timedelta(seconds=60)))
    cloud.advance(20)
    assert health(cloud, arn)[instance] == ("unhealthy", "Target.Timeout")
    cloud.advance(60)  # up again at +60 s; two passing checks by +80 s
    assert health(cloud, arn)[instance] == ("healthy", None)


def test_a_deregistered_target_drains_for_the_deregistration_delay(cloud: LocalCloud) -> None:
    arn = target_group(cloud, delay=120)
    [instance, other] = launch(cloud, 2)
    register(cloud, arn, instance, other)
    cloud.advance(30)
    cloud.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
    assert health(cloud, arn)[instance] == ("draining", "Target.DeregistrationInProgress")
    cloud.advance(119)
    assert health(cloud, arn)[instance][0] == "draining"
    cloud.advance(1)
    assert set(health(cloud, arn)) == {other}  # no longer listed
    assert health(cloud, arn, instance) == {instance: ("unused", "Target.NotRegistered")}


def test_the_default_deregistration_delay_is_300_seconds(cloud: LocalCloud) -> None:
    arn = target_group(cloud)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
    cloud.advance(299)
    assert health(cloud, arn)[instance][0] == "draining"
    cloud.advance(1)
    assert health(cloud, arn) == {}


def test_deregistering_a_target_that_is_not_registered_succeeds(cloud: LocalCloud) -> None:
    # AWS: "If the specified target does not exist, the action returns successfully."
    arn = target_group(cloud)
    [instance] = launch(cloud)
    cloud.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
    assert health(cloud, arn, instance) == {instance: ("unused", "Target.NotRegistered")}


def test_a_stopped_target_is_unused_in_an_invalid_state(cloud: LocalCloud) -> None:
    arn = target_group(cloud)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.advance(30)
    cloud.client("ec2").stop_instances(InstanceIds=[instance])
    assert health(cloud, arn)[instance] == ("unused", "Target.InvalidState")


def test_a_terminated_target_drains_and_leaves(cloud: LocalCloud) -> None:
    arn = target_group(cloud, delay=60)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.advance(30)
    cloud.client("ec2").terminate_instances(InstanceIds=[instance])
    assert health(cloud, arn)[instance][0] == "draining"
    cloud.advance(60)
    assert health(cloud, arn) == {}


def test_registering_a_draining_target_starts_it_again_as_initial(cloud: LocalCloud) -> None:
    arn = target_group(cloud, delay=300)
    [instance] = launch(cloud)
    register(cloud, arn, instance)
    cloud.advance(30)
    cloud.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": instance}])
    cloud.advance(10)
    register(cloud, arn, instance)
    assert health(cloud, arn)[instance] == ("initial", "Elb.RegistrationInProgress")


def test_healthy_counts_sample_every_change_over_simulated_time(cloud: LocalCloud) -> None:
    assert cloud.load_balancing is not None
    arn = target_group(cloud, "counted", interval=10, healthy=3, delay=60)
    start = cloud.clock.now()
    [first, second] = launch(cloud, 2)
    register(cloud, arn, first, second)
    cloud.advance(40)
    cloud.client("elbv2").deregister_targets(TargetGroupArn=arn, Targets=[{"Id": first}])
    cloud.advance(100)
    samples = {
        int((when - start).total_seconds()): (healthy, registered)
        for when, healthy, registered in cloud.load_balancing.healthy_counts("counted")
    }
    assert samples[0] == (0, 2)
    assert samples[30] == (2, 2)
    assert samples[40] == (1, 1)  # deregistered: draining counts as neither
    assert max(samples) <= 100
    assert [s for s in samples.values()][-1] == (1, 1)
