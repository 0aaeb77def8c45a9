"""Launch policy, idempotent run names, coverage, and target resolution rules."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from fleetpatch.errors import ConflictingPatchGroupTagsError, UnsupportedPlatformError
from fleetpatch.events import parse_event
from fleetpatch.launch import (
    LaunchPolicy,
    launch_request,
    not_covered_on_running,
    operating_system,
    patch_group_of,
)
from tests.conftest import load_event

POLICY = LaunchPolicy()


def test_lifecycle_action_request_is_named_by_its_token() -> None:
    event = parse_event(load_event("aws.autoscaling/launch-lifecycle-action"))
    request = launch_request(event, POLICY)  # type: ignore[arg-type]
    assert request is not None
    token = event.detail.lifecycle_action_token  # type: ignore[union-attr]
    assert request.execution_name == f"launch-{token}"
    assert request.input["lifecycle"]["token"] == token
    assert request.input["trigger"] == "lifecycle"
    assert request.input["policy"] == {
        "agentTimeoutSeconds": 900,
        "heartbeatSeconds": 600,
        "commandTimeoutSeconds": 3600,
        # delivery timeout + AWS-RunPatchBaseline's 2 h execution timeout + 5 min
        "commandWaitSeconds": 3600 + 7200 + 300,
        "onFailure": "ABANDON",
        "rebootOption": "RebootIfNeeded",
        "churn": {"after": 3, "action": "suspend-launch"},
    }


def test_duplicate_events_give_the_same_run_name() -> None:
    first = launch_request(
        parse_event(load_event("aws.autoscaling/launch-lifecycle-action")), POLICY
    )  # type: ignore[arg-type]
    second = launch_request(
        parse_event(load_event("aws.autoscaling/launch-lifecycle-action")), POLICY
    )  # type: ignore[arg-type]
    assert first is not None
    assert second is not None
    assert first.execution_name == second.execution_name


@pytest.mark.parametrize(
    ("fixture", "trigger"),
    [
        ("aws.autoscaling/warm-pool-launch-into-pool", "warm-pool-enter"),
        ("aws.autoscaling/warm-pool-leave-pool", "warm-pool-exit"),
    ],
)
def test_warm_pool_transitions_are_told_apart(fixture: str, trigger: str) -> None:
    request = launch_request(parse_event(load_event(fixture)), POLICY)  # type: ignore[arg-type]
    assert request is not None
    assert request.input["trigger"] == trigger


def test_hooks_outside_the_policy_are_not_patched() -> None:
    event = parse_event(load_event("aws.autoscaling/launch-lifecycle-action"))
    assert launch_request(event, LaunchPolicy(hookNames=["another-hook"])) is None  # type: ignore[arg-type]


def test_running_instance_request_is_named_by_the_instance() -> None:
    event = parse_event(load_event("aws.ec2/instance-running"))
    request = launch_request(event, POLICY)  # type: ignore[arg-type]
    assert request is not None
    assert request.execution_name == f"running-{event.detail.instance_id}"  # type: ignore[union-attr]
    assert "lifecycle" not in request.input


def test_policy_rejects_a_heartbeat_longer_than_the_command_can_run() -> None:
    with pytest.raises(ValidationError, match="heartbeatSeconds"):
        LaunchPolicy(heartbeatSeconds=7200, commandTimeoutSeconds=600)


@pytest.mark.parametrize(
    ("platform", "name", "version", "expected"),
    [
        ("Linux", "Amazon Linux", "2", "AMAZON_LINUX_2"),
        ("Linux", "Amazon Linux", "2023", "AMAZON_LINUX_2023"),
        ("Linux", "Red Hat Enterprise Linux Server", "9.4", "REDHAT_ENTERPRISE_LINUX"),
        ("Linux", "CentOS Linux", "7.9", "CENTOS"),
        ("Linux", "SLES", "15.5", "SUSE"),
        ("Linux", "Ubuntu", "22.04", "UBUNTU"),
        ("Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348", "WINDOWS"),
    ],
)
def test_platforms_map_to_patch_manager_operating_systems(
    platform: str, name: str, version: str, expected: str
) -> None:
    assert operating_system(platform, name, version) == expected


def test_an_unknown_platform_is_a_named_error() -> None:
    with pytest.raises(UnsupportedPlatformError, match="Plan 9"):
        operating_system("Linux", "Plan 9", "4")


def test_patch_group_from_either_tag_key() -> None:
    assert patch_group_of({"Patch Group": "patch_test_0600_batch_1"}) == (
        "patch_test_0600_batch_1",
        "Patch Group",
    )
    assert patch_group_of({"PatchGroup": "patch_test_0600_batch_1"}) == (
        "patch_test_0600_batch_1",
        "PatchGroup",
    )
    assert patch_group_of({"Patch Group": "a", "PatchGroup": "a"}) == ("a", "Patch Group")
    assert patch_group_of({}) == (None, None)


def test_conflicting_patch_group_tags_are_refused() -> None:
    with pytest.raises(ConflictingPatchGroupTagsError, match="one patch group"):
        patch_group_of({"Patch Group": "a", "PatchGroup": "b"})


def test_groups_by_name_or_tag() -> None:
    event = parse_event(load_event("aws.autoscaling/launch-lifecycle-action"))
    group = event.detail.auto_scaling_group_name  # type: ignore[union-attr]
    by_name = LaunchPolicy(autoScalingGroupNames=[group])
    assert launch_request(event, by_name) is not None  # type: ignore[arg-type]
    other = LaunchPolicy(autoScalingGroupNames=["another-group"])
    assert launch_request(event, other) is None  # type: ignore[arg-type]
    by_tag = LaunchPolicy(autoScalingGroupTags={"tier": "web"})
    assert launch_request(event, by_tag, {"tier": "web", "x": "y"}) is not None  # type: ignore[arg-type]
    assert launch_request(event, by_tag, {"tier": "db"}) is None  # type: ignore[arg-type]
    assert launch_request(event, by_tag, None) is None  # type: ignore[arg-type]
    # neither names nor tags: every group whose launch hook is the policy's
    assert LaunchPolicy().covers_group("anything", None)


class _Ec2:
    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags

    def describe_instances(self, InstanceIds: list[str]) -> dict[str, object]:
        tags = [{"Key": k, "Value": v} for k, v in self.tags.items()]
        return {"Reservations": [{"Instances": [{"InstanceId": InstanceIds[0], "Tags": tags}]}]}


def test_a_running_event_says_why_an_instance_is_not_patched_on_it() -> None:
    policy = LaunchPolicy()
    # an Auto Scaling group's instance: its hook patches it, not the running event
    in_group = not_covered_on_running(
        "i-0a", policy, _Ec2({"aws:autoscaling:groupName": "web-test"})
    )
    assert in_group is not None
    assert "Auto Scaling group web-test" in in_group
    assert "lifecycle hook" in in_group
    assert "not covered" not in in_group
    # an instance without the opt-in tag
    untagged = not_covered_on_running("i-0b", policy, _Ec2({}))
    assert untagged is not None
    assert "not tagged fleetpatch:patch-on-launch=true" in untagged
    # tagged, outside groups: patched
    tagged = _Ec2({"fleetpatch:patch-on-launch": "true"})
    assert not_covered_on_running("i-0c", policy, tagged) is None
