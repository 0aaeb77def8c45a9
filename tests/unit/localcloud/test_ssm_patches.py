"""The patch catalogue and baseline evaluation, as pure functions (no cloud)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from localcloud.sim.baselines import Baseline, PatchFilter, PatchRule, aws_default_baseline
from localcloud.sim.patch_catalogue import (
    IMAGE_AGE,
    OPERATING_SYSTEMS,
    OperatingSystem,
    Patch,
    available,
    catalogue,
)
from localcloud.sim.patches import (
    InvalidOverrideListError,
    assess,
    parse_override_list,
    select_override,
    to_install,
)

REFERENCE = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)


def by_kb(os_name: OperatingSystem = "AMAZON_LINUX_2") -> dict[str, Patch]:
    return {p.kb_id: p for p in catalogue(os_name, REFERENCE)}


def security_baseline(days: int, **extra: object) -> Baseline:
    return Baseline.from_api(
        "pb-0123456789abcdef0",
        {
            "Name": "prod",
            "OperatingSystem": "AMAZON_LINUX_2",
            "ApprovalRules": {
                "PatchRules": [
                    {
                        "PatchFilterGroup": {
                            "PatchFilters": [
                                {"Key": "CLASSIFICATION", "Values": ["Security", "Bugfix"]},
                                {"Key": "SEVERITY", "Values": ["Critical", "Important", ""]},
                            ]
                        },
                        "ApproveAfterDays": days,
                        "ComplianceLevel": "CRITICAL",
                    }
                ]
            },
            **extra,
        },
    )


@pytest.mark.parametrize("os_name", OPERATING_SYSTEMS)
def test_every_os_has_a_deterministic_catalogue_with_old_and_new_patches(
    os_name: OperatingSystem,
) -> None:
    patches = catalogue(os_name, REFERENCE)
    assert patches == catalogue(os_name, REFERENCE + timedelta(0))
    assert len({p.kb_id for p in patches}) == len(patches)
    image_date = REFERENCE - IMAGE_AGE
    assert any(p.released < image_date for p in patches), "something is installed at launch"
    assert any(REFERENCE - timedelta(days=14) < p.released <= REFERENCE for p in patches)
    # CentOS 7 reached its end of life: nothing new is coming.
    assert os_name == "CENTOS" or any(p.released > REFERENCE for p in patches)
    released = available(os_name, REFERENCE, REFERENCE)
    assert set(released) == {p for p in patches if p.released <= REFERENCE}


def test_linux_and_windows_patches_are_named_as_patch_manager_names_them() -> None:
    kernel = by_kb()["kernel.x86_64"]
    assert kernel.title == "kernel.x86_64:0:5.10.228-219.884.amzn2"
    assert (kernel.classification, kernel.severity, kernel.security) == (
        "Security",
        "Important",
        True,
    )
    windows = by_kb("WINDOWS")["KB5044281"]
    assert windows.title.endswith("(KB5044281)")
    assert windows.title.startswith(f"{windows.released:%Y-%m} Cumulative Update")
    assert windows.properties["MSRC_SEVERITY"] == "Critical"


def test_approval_delay_decides_what_is_approved() -> None:
    patches = available("AMAZON_LINUX_2", REFERENCE, REFERENCE)
    now_approved = {p.kb_id for p in patches if security_baseline(0).approval(p, REFERENCE)}
    later = {p.kb_id for p in patches if security_baseline(14).approval(p, REFERENCE)}
    # sudo (Critical) was released 3 days ago: approved at once, not after 14 days
    assert "sudo.x86_64" in now_approved - later
    assert "kernel.x86_64" in later
    # Medium and Low severities match no rule
    assert "glibc.x86_64" not in now_approved
    # approved exactly when release + N days is reached
    sudo = by_kb()["sudo.x86_64"]
    baseline = security_baseline(3)
    assert baseline.approval(sudo, sudo.released + timedelta(days=3)) == "CRITICAL"
    assert baseline.approval(sudo, sudo.released + timedelta(days=3, seconds=-1)) is None


def test_approve_until_date_includes_the_whole_utc_day() -> None:
    curl = by_kb()["curl.x86_64"]
    rule = PatchRule(filters=(PatchFilter("PRODUCT", ("*",)),), approve_until=curl.released.date())
    baseline = Baseline("pb-1", "b", "AMAZON_LINUX_2", rules=(rule,))
    assert baseline.approval(curl, REFERENCE) == "UNSPECIFIED"
    earlier = Baseline(
        "pb-1",
        "b",
        "AMAZON_LINUX_2",
        rules=(
            PatchRule(filters=rule.filters, approve_until=curl.released.date() - timedelta(days=1)),
        ),
    )
    assert earlier.approval(curl, REFERENCE) is None


def test_rejected_patterns_override_approval() -> None:
    system_release = by_kb()["system-release.x86_64"]
    approving = security_baseline(0)
    assert approving.approval(system_release, REFERENCE) is not None
    rejecting = security_baseline(0, RejectedPatches=["system-release.*"])
    assert rejecting.approval(system_release, REFERENCE) is None
    assert rejecting.rejects(system_release)
    # advisories, CVEs and names are patterns too
    assert security_baseline(0, RejectedPatches=["CVE-2024-7264"]).rejects(by_kb()["curl.x86_64"])
    assert security_baseline(0, RejectedPatches=["ALAS2-2024-2618"]).rejects(by_kb()["curl.x86_64"])


def test_non_security_updates_need_an_explicit_classification_or_enable_non_security() -> None:
    tzdata = by_kb()["tzdata.noarch"]  # Bugfix
    agent = by_kb()["amazon-ssm-agent.x86_64"]  # Enhancement

    def rule(filters: tuple[PatchFilter, ...], enable_non_security: bool = False) -> Baseline:
        return Baseline(
            "pb-1",
            "b",
            "AMAZON_LINUX_2",
            rules=(
                PatchRule(filters, approve_after_days=0, enable_non_security=enable_non_security),
            ),
        )

    any_product = (PatchFilter("PRODUCT", ("*",)),)
    assert rule(filters=any_product).approval(agent, REFERENCE) is None
    assert rule(filters=any_product, enable_non_security=True).approval(agent, REFERENCE)
    explicit = (PatchFilter("CLASSIFICATION", ("Bugfix",)),)
    assert rule(filters=explicit).approval(tzdata, REFERENCE) is not None
    assert rule(filters=explicit).approval(agent, REFERENCE) is None


def test_explicit_approvals_and_compliance_level() -> None:
    python3 = by_kb()["python3.x86_64"]  # Security, Low: matches no rule
    baseline = security_baseline(
        0, ApprovedPatches=["python3.x86_64"], ApprovedPatchesComplianceLevel="HIGH"
    )
    assert baseline.approval(python3, REFERENCE) == "HIGH"


def test_aws_default_baselines_approve_after_seven_days() -> None:
    al2 = aws_default_baseline("AMAZON_LINUX_2", "arn:aws:ssm:eu-central-1:1:patchbaseline/pb-1")
    approved = {
        p.kb_id
        for p in available("AMAZON_LINUX_2", REFERENCE, REFERENCE)
        if al2.approval(p, REFERENCE)
    }
    assert {"kernel.x86_64", "curl.x86_64", "system-release.x86_64", "tzdata.noarch"} <= approved
    assert "sudo.x86_64" not in approved  # released 3 days ago
    assert "glibc.x86_64" not in approved  # Medium
    windows = aws_default_baseline("WINDOWS", "arn:pb")
    assert {
        p.kb_id
        for p in available("WINDOWS", REFERENCE, REFERENCE)
        if windows.approval(p, REFERENCE)
    } == {"KB5034439", "KB5041160", "KB5044281", "KB5044029"}
    ubuntu = aws_default_baseline("UBUNTU", "arn:pb")
    approved_ubuntu = {
        p.kb_id for p in available("UBUNTU", REFERENCE, REFERENCE) if ubuntu.approval(p, REFERENCE)
    }
    assert "curl.amd64" in approved_ubuntu  # no approval delay on Ubuntu
    assert "tzdata.all" not in approved_ubuntu  # not a security update


def test_assess_reports_each_state() -> None:
    patches = available("AMAZON_LINUX_2", REFERENCE, REFERENCE)
    baseline = security_baseline(0, RejectedPatches=["bash.*"], RejectedPatchesAction="BLOCK")
    old = REFERENCE - timedelta(days=100)
    statuses = {
        s.patch.kb_id: s.state
        for s in assess(
            baseline,
            patches,
            installed={"bash.x86_64": old, "ca-certificates.noarch": old, "kernel.x86_64": old},
            pending_reboot=frozenset({"kernel.x86_64"}),
            failed=frozenset({"curl.x86_64"}),
            now=REFERENCE,
        )
    }
    assert statuses["bash.x86_64"] == "INSTALLED_REJECTED"
    assert statuses["ca-certificates.noarch"] == "INSTALLED_OTHER"
    assert statuses["kernel.x86_64"] == "INSTALLED_PENDING_REBOOT"
    assert statuses["curl.x86_64"] == "FAILED"
    assert statuses["sudo.x86_64"] == "MISSING"
    assert "glibc.x86_64" not in statuses  # neither approved nor installed


def test_to_install_skips_installed_and_rejected() -> None:
    patches = available("AMAZON_LINUX_2", REFERENCE, REFERENCE)
    baseline = security_baseline(0, RejectedPatches=["system-release.*"])
    chosen = {p.kb_id for p in to_install(baseline, patches, {"curl.x86_64": REFERENCE}, REFERENCE)}
    assert "system-release.x86_64" not in chosen
    assert "curl.x86_64" not in chosen
    assert "sudo.x86_64" in chosen


def test_install_override_list_selects_by_id_and_title() -> None:
    entries = parse_override_list(
        """
        patches:
          - id: 'kernel.x86_64'
            title: '5.10.228-219.884.amzn2'
          - id: 'python3.*'
            anything: else is ignored
          - id: 'curl.x86_64'
            title: '0.0.1-1'
          - id: 'system-release.x86_64'
        """
    )
    patches = available("AMAZON_LINUX_2", REFERENCE, REFERENCE)
    blocking = security_baseline(
        0, RejectedPatches=["system-release.*"], RejectedPatchesAction="BLOCK"
    )
    chosen = {p.kb_id for p in select_override(blocking, entries, patches, {})}
    assert chosen == {"kernel.x86_64", "python3.x86_64"}


@pytest.mark.parametrize(
    "text", ["patches: nope", "- id: kernel", "patches:\n  - title: x", "patches: [\n"]
)
def test_malformed_override_lists_are_rejected(text: str) -> None:
    with pytest.raises(InvalidOverrideListError):
        parse_override_list(text)


def test_baseline_round_trips_through_the_api_shape() -> None:
    baseline = security_baseline(
        7, RejectedPatches=["system-release.*"], RejectedPatchesAction="BLOCK"
    )
    again = Baseline.from_api(baseline.baseline_id, baseline.to_api())
    assert again == baseline
    until = Baseline(
        "pb-2",
        "until",
        "WINDOWS",
        rules=(PatchRule(filters=(), approve_until=date(2026, 10, 1)),),
    )
    assert Baseline.from_api("pb-2", until.to_api()) == until
