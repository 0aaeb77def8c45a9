"""Burst reads: a burst of ``running`` events reads the tagged instances once, a burst of
compliance events the patch group tags once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch import clock
from fleetpatch.launch import (
    LaunchPolicy,
    instance_patch_group,
    not_covered_on_running,
    patch_group_at,
)

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


# --- compliance events: an instance's patch group -------------------------------------------


def describe_tags_calls(ec2: Any) -> list[str]:
    calls: list[str] = []
    ec2.meta.events.register("before-call.ec2.DescribeTags", lambda **_: calls.append("x"))
    return calls


def test_a_burst_of_compliance_events_reads_the_patch_groups_once(ec2: Any) -> None:
    # Given instances in patch groups by either key, one untagged, one with tags that disagree
    first = launch(ec2, {"Patch Group": "web"})
    second = launch(ec2, {"PatchGroup": "db"})
    plain = launch(ec2, {"Name": "plain"})
    torn = launch(ec2, {"Patch Group": "web", "PatchGroup": "db"})
    calls = describe_tags_calls(ec2)
    memory: dict[str, Any] = {}
    # When their compliance events (all from this second) are handled in one warm container
    groups = [
        patch_group_at(i, ec2, event_time=NOW, memory=memory) for i in (first, second, plain, torn)
    ]
    # Then one read answered those it found tagged (the untagged one is asked about alone),
    # as each instance's own tags do
    assert groups == ["web", "db", None, None]
    assert len(calls) == 2
    assert groups == [instance_patch_group(ec2, i) for i in (first, second, plain, torn)]


def test_a_compliance_event_newer_than_the_read_sees_a_changed_tag(ec2: Any) -> None:
    # Given a warm container that read the patch groups, and then an instance changed group
    memory: dict[str, Any] = {}
    instance = launch(ec2, {"Patch Group": "web"})
    assert patch_group_at(instance, ec2, event_time=NOW, memory=memory) == "web"
    ec2.create_tags(Resources=[instance], Tags=[{"Key": "Patch Group", "Value": "db"}])
    calls = describe_tags_calls(ec2)
    # When an event of the same second comes, and then one a second later than the read
    same = patch_group_at(instance, ec2, event_time=NOW, memory=memory)
    later = patch_group_at(instance, ec2, event_time=NOW + timedelta(seconds=1), memory=memory)
    # Then the read answers the event it covers, and a newer event reads again
    assert (same, later) == ("web", "db")
    assert len(calls) == 1


def test_an_instance_tagged_after_the_read_is_not_missed(ec2: Any) -> None:
    # Given a read of the patch groups, and then an instance tagged in the same second
    memory: dict[str, Any] = {}
    assert patch_group_at(launch(ec2, {"Patch Group": "web"}), ec2, event_time=NOW, memory=memory)
    later = launch(ec2, {"Patch Group": "db"})
    calls = describe_tags_calls(ec2)
    # When its event (no newer than the read) comes
    group = patch_group_at(later, ec2, event_time=NOW, memory=memory)
    # Then the read, which did not know it, is not taken for "no patch group"
    assert group == "db"
    assert len(calls) == 1


def test_without_an_event_time_one_instance_is_read(ec2: Any) -> None:
    instance = launch(ec2, {"Patch Group": "web"})
    calls = describe_tags_calls(ec2)
    assert patch_group_at(instance, ec2, memory={}) == "web"
    assert patch_group_at(instance, ec2, event_time=NOW) == "web"
    assert len(calls) == 2
