"""Patch-on-launch coverage: a burst of ``running`` events reads the tagged instances once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch import clock
from fleetpatch.launch import LaunchPolicy, not_covered_on_running

REGION = "eu-central-1"
NOW = datetime(2026, 11, 14, 5, 0, tzinfo=UTC)
POLICY = LaunchPolicy()


@pytest.fixture
def ec2() -> Iterator[Any]:
    clock.use(NOW.timestamp)
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)
    clock.use(None)


def launch(ec2: Any, tags: dict[str, str]) -> str:
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    response = ec2.run_instances(
        ImageId="ami-04681a1dbd79675a5", MinCount=1, MaxCount=1, TagSpecifications=spec
    )
    return str(response["Instances"][0]["InstanceId"])


def covered_instance(instance: str, policy: LaunchPolicy, ec2: Any, **kwargs: Any) -> bool:
    return not_covered_on_running(instance, policy, ec2, **kwargs) is None


def counting(ec2: Any) -> list[str]:
    calls: list[str] = []
    ec2.meta.events.register("before-call.ec2.DescribeInstances", lambda **_: calls.append("x"))
    return calls


def test_a_burst_of_running_events_costs_one_read(ec2: Any) -> None:
    # Given a tagged instance, one in an Auto Scaling group and untagged ones
    tagged = launch(ec2, {POLICY.instance_tag_key: POLICY.instance_tag_value})
    grouped = launch(ec2, {POLICY.instance_tag_key: "true", "aws:autoscaling:groupName": "web"})
    plain = [launch(ec2, {"Patch Group": "g"}) for _ in range(3)]
    calls = counting(ec2)
    memory: dict[str, Any] = {}
    # When their running events (all from this second) are checked in one warm container
    answers = {
        i: covered_instance(i, POLICY, ec2, event_time=NOW, memory=memory)
        for i in [tagged, grouped, *plain]
    }
    # Then only the tagged instance outside a group is covered, after one read
    assert answers == {tagged: True, grouped: False, **dict.fromkeys(plain, False)}
    assert len(calls) == 1
    # and the group's instance is told apart from an untagged one (from the same read)
    why_grouped = not_covered_on_running(grouped, POLICY, ec2, event_time=NOW, memory=memory)
    assert why_grouped is not None
    assert "Auto Scaling group web" in why_grouped
    why_plain = not_covered_on_running(plain[0], POLICY, ec2, event_time=NOW, memory=memory)
    assert why_plain is not None
    assert "is not tagged fleetpatch:patch-on-launch=true" in why_plain
    assert len(calls) == 1


def test_an_event_newer_than_the_read_reads_again(ec2: Any) -> None:
    # Given a warm container that read the tagged instances before a new one was launched
    memory: dict[str, Any] = {}
    first = launch(ec2, {POLICY.instance_tag_key: "true"})
    assert covered_instance(first, POLICY, ec2, event_time=NOW, memory=memory)
    later = launch(ec2, {POLICY.instance_tag_key: "true"})
    calls = counting(ec2)
    # When the new instance's running event is a second later than that read
    covered = covered_instance(
        later, POLICY, ec2, event_time=NOW + timedelta(seconds=1), memory=memory
    )
    # Then the stale read is not trusted: the tagged instances are read again
    assert covered
    assert len(calls) == 1


def test_without_memory_one_instance_is_read(ec2: Any) -> None:
    instance = launch(ec2, {POLICY.instance_tag_key: "true"})
    calls = counting(ec2)
    assert covered_instance(instance, POLICY, ec2)
    assert not covered_instance(launch(ec2, {"Patch Group": "g"}), POLICY, ec2, event_time=NOW)
    assert len(calls) == 2
