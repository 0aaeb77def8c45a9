"""Patch baselines, patch groups and defaults through the SSM API (moto's gaps filled)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localcloud.adapters.ssm import install
from localcloud.cloud import LocalCloud

RULES = {
    "PatchRules": [
        {
            "PatchFilterGroup": {
                "PatchFilters": [{"Key": "CLASSIFICATION", "Values": ["Security"]}]
            },
            "ApproveAfterDays": 14,
            "ComplianceLevel": "HIGH",
        }
    ]
}


@pytest.fixture
def ssm() -> Iterator[Any]:
    with LocalCloud() as cloud:
        install(cloud)
        yield cloud.client("ssm")


def create(ssm: Any, name: str, os_name: str = "AMAZON_LINUX_2", **kwargs: Any) -> str:
    return str(
        ssm.create_patch_baseline(
            Name=name, OperatingSystem=os_name, ApprovalRules=RULES, **kwargs
        )["BaselineId"]
    )


def test_create_with_tags_and_get_the_baseline(ssm: Any) -> None:
    baseline_id = create(
        ssm,
        "prod-al2",
        RejectedPatches=["system-release.*"],
        Tags=[{"Key": "Env", "Value": "prod"}],
    )
    ssm.register_patch_baseline_for_patch_group(BaselineId=baseline_id, PatchGroup="prod")
    baseline = ssm.get_patch_baseline(BaselineId=baseline_id)
    assert baseline["Name"] == "prod-al2"
    assert baseline["RejectedPatches"] == ["system-release.*"]
    assert baseline["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 14
    assert baseline["PatchGroups"] == ["prod"]
    tags = ssm.list_tags_for_resource(ResourceType="PatchBaseline", ResourceId=baseline_id)
    assert tags["TagList"] == [{"Key": "Env", "Value": "prod"}]
    with pytest.raises(ssm.exceptions.DoesNotExistException):
        ssm.get_patch_baseline(BaselineId="pb-0123456789abcdef0")


def test_aws_default_baselines_are_described_and_retrievable(ssm: Any) -> None:
    owned = ssm.describe_patch_baselines(Filters=[{"Key": "OWNER", "Values": ["AWS"]}])
    names = {b["BaselineName"]: b for b in owned["BaselineIdentities"]}
    al2 = names["AWS-AmazonLinux2DefaultPatchBaseline"]
    assert al2["DefaultBaseline"] is True
    assert al2["BaselineId"].startswith("arn:aws:ssm:eu-central-1:")
    assert "AWS-DefaultPatchBaseline" in names
    default = ssm.get_default_patch_baseline(OperatingSystem="AMAZON_LINUX_2")["BaselineId"]
    assert default == al2["BaselineId"]
    rules = ssm.get_patch_baseline(BaselineId=default)["ApprovalRules"]["PatchRules"]
    assert {r["ApproveAfterDays"] for r in rules} == {7}
    create(ssm, "mine")
    mine = ssm.describe_patch_baselines(Filters=[{"Key": "NAME_PREFIX", "Values": ["mi"]}])
    assert [b["BaselineName"] for b in mine["BaselineIdentities"]] == ["mine"]


def test_registering_a_default_baseline(ssm: Any) -> None:
    baseline_id = create(ssm, "custom-default", "WINDOWS")
    ssm.register_default_patch_baseline(BaselineId=baseline_id)
    assert ssm.get_default_patch_baseline()["BaselineId"] == baseline_id  # WINDOWS by default
    assert ssm.get_patch_baseline_for_patch_group(PatchGroup="none")["BaselineId"] == baseline_id


def test_patch_groups_per_operating_system(ssm: Any) -> None:
    linux = create(ssm, "web-linux")
    windows = create(ssm, "web-windows", "WINDOWS")
    other = create(ssm, "web-linux-2")
    ssm.register_patch_baseline_for_patch_group(BaselineId=linux, PatchGroup="web")
    ssm.register_patch_baseline_for_patch_group(BaselineId=windows, PatchGroup="web")
    with pytest.raises(ssm.exceptions.AlreadyExistsException):
        ssm.register_patch_baseline_for_patch_group(BaselineId=other, PatchGroup="web")
    mappings = ssm.describe_patch_groups()["Mappings"]
    assert {(m["PatchGroup"], m["BaselineIdentity"]["BaselineId"]) for m in mappings} == {
        ("web", linux),
        ("web", windows),
    }
    found = ssm.get_patch_baseline_for_patch_group(PatchGroup="web", OperatingSystem="WINDOWS")
    assert found["BaselineId"] == windows
    # an unregistered group (or OS) answers the OS's default baseline, as AWS does
    default = ssm.get_default_patch_baseline(OperatingSystem="UBUNTU")["BaselineId"]
    assert (
        ssm.get_patch_baseline_for_patch_group(PatchGroup="web", OperatingSystem="UBUNTU")[
            "BaselineId"
        ]
        == default
    )
    ssm.deregister_patch_baseline_for_patch_group(BaselineId=linux, PatchGroup="web")
    after = ssm.get_patch_baseline_for_patch_group(
        PatchGroup="web", OperatingSystem="AMAZON_LINUX_2"
    )
    assert (
        after["BaselineId"]
        == ssm.get_default_patch_baseline(OperatingSystem="AMAZON_LINUX_2")["BaselineId"]
    )
    assert [
        m["BaselineIdentity"]["BaselineId"] for m in ssm.describe_patch_groups()["Mappings"]
    ] == [windows]
