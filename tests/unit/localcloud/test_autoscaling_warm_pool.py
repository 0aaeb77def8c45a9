"""Warm pools on the local cloud: launch into the pool, wait, stop, and leave it on scale-out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from localcloud.adapters import autoscaling
from localcloud.cloud import LocalCloud
from localcloud.sim.autoscaling import AutoScalingSimulator
from tests.unit.localcloud.test_autoscaling_lifecycle import (
    EventQueue,
    create_group,
    ec2_state,
    of_type,
    put_hook,
    states,
)

LIFECYCLE = "EC2 Instance-launch Lifecycle Action"


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    # Launch templates name an image; moto's 2,500 stock AMIs would only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as running:
        yield running


@pytest.fixture
def asg(cloud: LocalCloud) -> AutoScalingSimulator:
    return autoscaling.install(cloud)


def complete_all(cloud: LocalCloud, asg: AutoScalingSimulator) -> None:
    for action in asg.lifecycle_actions:
        if action.open:
            cloud.client("autoscaling").complete_lifecycle_action(
                AutoScalingGroupName=action.group,
                LifecycleHookName=action.hook,
                LifecycleActionToken=action.token,
                LifecycleActionResult="CONTINUE",
            )
    cloud.settle()


def pool(cloud: LocalCloud) -> dict[str, str]:
    described = cloud.client("autoscaling").describe_warm_pool(AutoScalingGroupName="web")
    return {i["InstanceId"]: i["LifecycleState"] for i in described["Instances"]}


def test_instances_launched_into_the_pool_wait_then_stop(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    queue = EventQueue(cloud, ["aws.autoscaling"])
    create_group(cloud, max_size=2)
    put_hook(cloud)
    # When a warm pool is put on a group of MaxSize 2 and desired capacity 0
    cloud.client("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    # Then MaxSize - desired = 2 instances are launched into the pool and wait on the hook
    assert list(pool(cloud).values()) == ["Warmed:Pending:Wait"] * 2
    assert set(states(cloud)) == set(pool(cloud))
    cloud.settle(max_seconds=1)
    events = of_type(queue.drain(), LIFECYCLE)
    assert {(e["detail"]["Origin"], e["detail"]["Destination"]) for e in events} == {
        ("EC2", "WarmPool")
    }
    # And after CONTINUE they are stopped in the pool
    complete_all(cloud, asg)
    assert list(pool(cloud).values()) == ["Warmed:Stopped"] * 2
    assert {ec2_state(cloud, i) for i in pool(cloud)} == {"stopped"}
    described = cloud.client("autoscaling").describe_auto_scaling_groups()
    assert described["AutoScalingGroups"][0]["Instances"] == []


def test_a_scale_out_takes_pool_instances_through_the_hook_again(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    queue = EventQueue(cloud, ["aws.autoscaling"])
    create_group(cloud, max_size=1)
    put_hook(cloud)
    cloud.client("autoscaling").put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    complete_all(cloud, asg)
    [warm] = pool(cloud)
    queue.drain()
    # When the group scales out
    assert asg.scale_out("web", 1) == [warm]
    # Then the warm instance is started and waits on the hook, coming from the pool
    assert states(cloud)[warm] == "Pending:Wait"
    assert ec2_state(cloud, warm) == "running"
    # And the pool is topped up to MinSize with a new instance from EC2
    [refill] = pool(cloud)
    assert refill != warm
    cloud.settle(max_seconds=1)
    moves = {
        e["detail"]["EC2InstanceId"]: (e["detail"]["Origin"], e["detail"]["Destination"])
        for e in of_type(queue.drain(), LIFECYCLE)
    }
    assert moves == {warm: ("WarmPool", "AutoScalingGroup"), refill: ("EC2", "WarmPool")}
    complete_all(cloud, asg)
    assert states(cloud) == {warm: "InService", refill: "Warmed:Stopped"}


def test_a_running_pool_without_hooks_warms_at_once(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud, max_size=3, desired=1)
    cloud.client("autoscaling").put_warm_pool(
        AutoScalingGroupName="web", PoolState="Running", MaxGroupPreparedCapacity=2
    )
    # MaxGroupPreparedCapacity 2 - desired 1 = one warm instance, left running
    [warm] = pool(cloud)
    assert pool(cloud) == {warm: "Warmed:Running"}
    assert ec2_state(cloud, warm) == "running"
    assert asg.lifecycle_actions == []


def test_deleting_the_pool_terminates_its_instances(
    cloud: LocalCloud, asg: AutoScalingSimulator
) -> None:
    create_group(cloud, max_size=1)
    cloud.client("autoscaling").put_warm_pool(AutoScalingGroupName="web")
    [warm] = pool(cloud)
    cloud.client("autoscaling").delete_warm_pool(AutoScalingGroupName="web")
    assert ec2_state(cloud, warm) == "terminated"
    assert states(cloud) == {}
