"""CVE ids in the simulated patch catalogue, as SSM returns them (issue 21, part 6).

PatchComplianceData.CVEIds (DescribeInstancePatches): one comma-separated string, only for
Missing or Failed patches. Patch.CVEIds (DescribeAvailablePatches,
DescribeEffectivePatchesForPatchBaseline): a list, Linux patches only; Linux filters need a
PRODUCT.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from localcloud.adapters.ssm import install
from localcloud.cloud import LocalCloud
from localcloud.sim.fleet import FleetSimulator


@pytest.fixture
def fleet(monkeypatch: pytest.MonkeyPatch) -> Iterator[FleetSimulator]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        yield install(cloud)


def test_instance_patches_carry_cve_ids_only_while_missing(fleet: FleetSimulator) -> None:
    # Given an Amazon Linux 2 instance launched from an image older than the curl fix
    (instance,) = fleet.launch("AMAZON_LINUX_2")
    fleet.cloud.settle()
    ssm = fleet.cloud.client("ssm")
    ssm.send_command(
        InstanceIds=[instance],
        DocumentName="AWS-RunPatchBaseline",
        Parameters={"Operation": ["Scan"]},
    )
    fleet.cloud.settle()
    # When its patches are described
    found = ssm.describe_instance_patches(InstanceId=instance)["Patches"]
    by_id = {p["KBId"]: p for p in found}
    # Then a missing security patch names its CVE, as one string, and installed ones do not
    assert by_id["curl.x86_64"]["State"] == "MISSING"
    assert by_id["curl.x86_64"]["CVEIds"] == "CVE-2024-7264"
    installed = [p for p in found if p["State"] == "INSTALLED"]
    assert installed
    assert all("CVEIds" not in p for p in installed)


def test_available_patches_filtered_by_cve_per_product(fleet: FleetSimulator) -> None:
    ssm = fleet.cloud.client("ssm")
    # When a CVE is looked up for one product
    found = ssm.describe_available_patches(
        Filters=[
            {"Key": "PRODUCT", "Values": ["AmazonLinux2023"]},
            {"Key": "CVE_ID", "Values": ["CVE-2024-7264"]},
        ]
    )["Patches"]
    # Then the product's fixing package is returned with its CVE ids as a list
    assert [(p["Name"], p["Arch"], p["CVEIds"]) for p in found] == [
        ("curl-minimal", "x86_64", ["CVE-2024-7264"])
    ]
    assert found[0]["AdvisoryIds"] == ["ALAS2023-2024-709"]


def test_linux_filters_without_a_product_are_refused(fleet: FleetSimulator) -> None:
    with pytest.raises(ClientError) as raised:
        fleet.cloud.client("ssm").describe_available_patches(
            Filters=[{"Key": "CVE_ID", "Values": ["CVE-2024-7264"]}]
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_windows_patches_by_kb_without_cve_ids(fleet: FleetSimulator) -> None:
    found = fleet.cloud.client("ssm").describe_available_patches(
        Filters=[{"Key": "PATCH_ID", "Values": ["KB5044281"]}]
    )["Patches"]
    assert [p["KbNumber"] for p in found] == ["KB5044281"]
    assert "CVEIds" not in found[0]


def test_effective_patches_of_a_baseline_carry_cve_ids(fleet: FleetSimulator) -> None:
    ssm = fleet.cloud.client("ssm")
    baseline = ssm.get_default_patch_baseline(OperatingSystem="AMAZON_LINUX_2")["BaselineId"]
    found = ssm.describe_effective_patches_for_patch_baseline(BaselineId=baseline)
    patches = {e["Patch"]["Name"]: e for e in found["EffectivePatches"]}
    assert patches["curl"]["Patch"]["CVEIds"] == ["CVE-2024-7264"]
    assert patches["curl"]["PatchStatus"]["DeploymentStatus"] == "APPROVED"
