"""Where an instance falls in the policy, and why it may fall nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fleetpatch_authoring.placement import InstanceFacts, NotPlaced, Placement, place
from fleetpatch_authoring.policy import FleetPolicy
from fleetpatch_authoring.validate import validate_policy

EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"


@pytest.fixture(scope="module")
def policy() -> FleetPolicy:
    return validate_policy(yaml.safe_load(EXAMPLE.read_text()))


def facts(tags: dict[str, str], **kwargs: str | None) -> InstanceFacts:
    defaults: dict[str, str | None] = {
        "platform_type": "Linux",
        "platform_name": "Ubuntu",
        "platform_version": "22.04",
    }
    return InstanceFacts("i-1", tags, **(defaults | kwargs))  # type: ignore[arg-type]


def test_a_tagged_instance_lands_in_its_wave_and_batch(policy: FleetPolicy) -> None:
    result = place(
        policy,
        facts(
            {"Patch Group": "patch_prod_0600_batch_2"},
            platform_type="Windows",
            platform_name="Microsoft Windows Server 2022 Datacenter",
        ),
    )
    assert isinstance(result, Placement)
    assert (result.wave, result.batch_index, result.environment) == ("prod", 1, "prod")
    assert (result.operating_system, result.tag_key) == ("WINDOWS", "Patch Group")


def test_the_metadata_tag_key_works_too(policy: FleetPolicy) -> None:
    result = place(policy, facts({"PatchGroup": "patch_test_0600_batch_1"}))
    assert isinstance(result, Placement)
    assert result.tag_key == "PatchGroup"


@pytest.mark.parametrize(
    ("instance", "reason"),
    [
        (facts({}), "no patch group"),
        (facts({"Patch Group": "patch_qa_0600_batch_1"}), "is not in the policy"),
        (
            facts(
                {"Patch Group": "patch_test_0600_batch_1", "PatchGroup": "patch_prod_0600_batch_1"}
            ),
            "both 'Patch Group' and 'PatchGroup'",
        ),
        (
            facts({"Patch Group": "patch_test_0600_batch_1"}, platform_type=None),
            "not a managed instance",
        ),
        (
            facts(
                {"Patch Group": "patch_test_0600_batch_1"},
                platform_type="MacOS",
                platform_name="macOS",
            ),
            "no Patch Manager operating system",
        ),
        (
            facts(
                {"Patch Group": "patch_test_0600_batch_1"},
                platform_name="Amazon Linux",
                platform_version="2",
            ),
            "environment test has no AMAZON_LINUX_2 baseline",
        ),
        (
            InstanceFacts("i-1", {"Patch Group": "patch_test_0600_batch_1"}, state="stopped"),
            "stopped",
        ),
    ],
)
def test_why_an_instance_is_not_patched(
    policy: FleetPolicy, instance: InstanceFacts, reason: str
) -> None:
    result = place(policy, instance)
    assert isinstance(result, NotPlaced)
    assert reason in result.reason


def test_a_group_in_no_wave(policy: FleetPolicy) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["environments"]["test"]["patch_groups"].append("patch_test_0600_batch_9")
    result = place(validate_policy(data), facts({"Patch Group": "patch_test_0600_batch_9"}))
    assert isinstance(result, NotPlaced)
    assert result.reason == "patch group patch_test_0600_batch_9 is in no wave"
