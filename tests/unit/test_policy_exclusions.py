"""Package/KB exclusions in the policy (issue 21, part 2): the file, the checks, the render,
and the runtime rules (what applies when, what a baseline rejects, what a report lists)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
import yaml

from fleetpatch.exclusions import (
    CompiledExclusion,
    active_exclusions,
    desired_rejected,
    excluded_patterns,
    report_notes,
)
from fleetpatch_authoring.render import policy_stack
from fleetpatch_authoring.validate import validate_policy
from tests.unit.test_policy import EXAMPLE, problems

OPENSSL = {
    "patches": ["openssl*"],
    "environments": ["prod"],
    "until": "2027-01-31",
    "reason": "vendor pin, ticket OPS-123",
}
KB = {
    "patches": ["KB5034441"],
    "environments": ["prod", "test"],
    "until": "2026-12-31",
    "reason": "breaks the recovery partition, OPS-124",
}


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def with_exclusions(example: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(example)
    data["exclusions"] = [dict(e) for e in entries]
    return data


def test_an_exclusion_compiles_with_the_operating_systems_its_names_fit(
    example: dict[str, Any],
) -> None:
    policy = validate_policy(with_exclusions(example, OPENSSL, KB))
    openssl, kb = policy.runtime().exclusions
    # Package names fit every Linux baseline of prod, a KB id only Windows.
    assert openssl.operating_systems == [
        "AMAZON_LINUX_2023",
        "CENTOS",
        "REDHAT_ENTERPRISE_LINUX",
        "SUSE",
        "UBUNTU",
    ]
    assert kb.operating_systems == ["WINDOWS"]
    assert kb.environments == ["prod", "test"]
    assert openssl.until == date(2027, 1, 31)
    assert openssl.reason == "vendor pin, ticket OPS-123"


def test_the_render_adds_exclusions_to_each_baselines_rejected_patches(
    example: dict[str, Any],
) -> None:
    policy = validate_policy(with_exclusions(example, OPENSSL, KB))
    resources = policy_stack(policy, source="policy/fleet.yaml", source_text="x")["Resources"]
    rejected = {
        name: r["Properties"].get("RejectedPatches")
        for name, r in resources.items()
        if r["Type"] == "AWS::SSM::PatchBaseline"
    }
    al2023 = next(v for k, v in rejected.items() if "Prod" in k and "AmazonLinux2023" in k)
    assert al2023 == ["system-release.*", "openssl*"]  # the baseline's own entry first
    windows_test = next(v for k, v in rejected.items() if "Test" in k and "Windows" in k)
    assert windows_test == ["KB5034441"]
    ubuntu_test = next(v for k, v in rejected.items() if "Test" in k and "Ubuntu" in k)
    assert ubuntu_test is None  # openssl* is for prod only


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"environments": ["staging"]},
            "exclusions.0.environments.0: no environment staging",
        ),
        (
            {"patches": ["KB5034441"], "operating_systems": ["UBUNTU"]},
            "exclusions.0.patches.0: 'KB5034441' is a Windows id, not a package name of UBUNTU",
        ),
        (
            {"patches": ["open*ssl*"]},
            "exclusions.0.patches: these names fit no operating system of its environments "
            "(KB ids are for WINDOWS, package names for Linux)",
        ),
        (
            {"patches": ["openssl"], "operating_systems": ["WINDOWS"]},
            "exclusions.0.patches.0: 'openssl' is not a Windows KB id (KB5034441) or bulletin "
            "id (MS17-010)",
        ),
        (
            {"patches": ["system-release.*"], "operating_systems": ["AMAZON_LINUX_2023"]},
            "exclusions.0.patches.0: system-release.* is already in prod's AMAZON_LINUX_2023 "
            "baseline's rejected_patches (for good): an exclusion would end that on its date",
        ),
        (
            {"patches": [f"pkg{n}" for n in range(50)], "operating_systems": ["AMAZON_LINUX_2023"]},
            "exclusions: prod's AMAZON_LINUX_2023 baseline would reject 51 patches; a baseline "
            "rejects at most 50",
        ),
    ],
)
def test_a_wrong_exclusion_is_named_where_it_is(
    example: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    found = problems(example, lambda d: d.update(exclusions=[{**OPENSSL, **change}]))
    assert found == [expected]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"reason": "  "}, "the reason is empty"),
        ({"until": "31/01/2027"}, "exclusions.0.until"),
        ({"patches": ["a", "a"]}, "a listed twice"),
        ({"patches": []}, "exclusions.0.patches"),
    ],
)
def test_a_malformed_exclusion_fails_the_structure(
    example: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    found = problems(example, lambda d: d.update(exclusions=[{**OPENSSL, **change}]))
    assert any(expected in line for line in found), found


# --- the runtime rules --------------------------------------------------------------------------

EXCLUSION = CompiledExclusion(
    patches=["openssl*"],
    environments=["prod"],
    operating_systems=["AMAZON_LINUX_2023"],
    until=date(2026, 12, 31),
    reason="vendor pin",
)


def test_an_exclusion_applies_through_its_last_utc_day_and_not_after() -> None:
    last_minute = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    next_day = datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    assert active_exclusions([EXCLUSION], "prod", "AMAZON_LINUX_2023", last_minute) == [EXCLUSION]
    assert active_exclusions([EXCLUSION], "prod", None, last_minute) == [EXCLUSION]
    assert active_exclusions([EXCLUSION], "prod", "AMAZON_LINUX_2023", next_day) == []
    assert active_exclusions([EXCLUSION], "test", "AMAZON_LINUX_2023", last_minute) == []
    assert active_exclusions([EXCLUSION], "prod", "WINDOWS", last_minute) == []
    assert excluded_patterns([EXCLUSION], "prod", "AMAZON_LINUX_2023", last_minute) == ["openssl*"]
    assert EXCLUSION.matches("openssl-libs")
    assert not EXCLUSION.matches("curl")


def test_a_baseline_keeps_its_own_rejections_and_takes_only_what_applies() -> None:
    own = ["system-release.*"]
    assert desired_rejected([*own, "openssl*"], ["openssl*"], []) == own
    assert desired_rejected(own, ["openssl*"], ["openssl*"]) == [*own, "openssl*"]
    assert desired_rejected([*own, "openssl*"], ["openssl*"], ["openssl*"]) == [*own, "openssl*"]


def test_an_expiry_is_listed_by_the_first_report_only() -> None:
    after = datetime(2027, 1, 2, tzinfo=UTC)
    reported: set[tuple[str, str]] = set()

    def first(exclusion: CompiledExclusion, environment: str) -> bool:
        key = (exclusion.exclusion_id, environment)
        new = key not in reported
        reported.add(key)
        return new

    [note] = report_notes([EXCLUSION], ["prod"], after, first_report_of_expiry=first)
    assert note.status == "expired"
    assert note.line().startswith("exclusion expired on 2026-12-31 (prod): openssl*")
    assert report_notes([EXCLUSION], ["prod"], after, first_report_of_expiry=first) == []
    [applied] = report_notes([EXCLUSION], ["prod"], datetime(2026, 12, 1, tzinfo=UTC))
    assert applied.line() == "exclusion applied (prod): openssl* until 2026-12-31: vendor pin"
    assert report_notes([EXCLUSION], ["test"], datetime(2026, 12, 1, tzinfo=UTC)) == []
