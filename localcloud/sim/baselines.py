"""Patch baselines as Patch Manager reads them: filters, approval rules and AWS's default
baselines per operating system (the rules are listed in localcloud.sim.patches).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from localcloud.sim.patch_catalogue import (
    OperatingSystem,
    Patch,
)

# --- baselines -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchFilter:
    key: str
    values: tuple[str, ...]

    def matches(self, patch: Patch) -> bool:
        value = patch.properties.get(self.key)
        return any(
            v == "*" or (value is not None and fnmatch.fnmatchcase(value, v)) for v in self.values
        )

    @property
    def is_wildcard(self) -> bool:
        return self.values == ("*",)


@dataclass(frozen=True)
class PatchRule:
    filters: tuple[PatchFilter, ...]
    approve_after_days: int | None = None
    approve_until: date | None = None
    compliance_level: str = "UNSPECIFIED"
    enable_non_security: bool = False

    def matches(self, patch: Patch, linux: bool) -> bool:
        if not all(f.matches(patch) for f in self.filters):
            return False
        if not linux or patch.security or self.enable_non_security:
            return True
        return any(f.key == "CLASSIFICATION" and not f.is_wildcard for f in self.filters)

    def approves_by(self, patch: Patch, now: datetime, delays_apply: bool) -> bool:
        if not delays_apply:
            return True
        if self.approve_until is not None:
            return patch.released <= datetime.combine(self.approve_until, time.max, UTC)
        return patch.released + timedelta(days=self.approve_after_days or 0) <= now


RejectedPatchesAction = Literal["ALLOW_AS_DEPENDENCY", "BLOCK"]


def _filters(group: Mapping[str, Any] | None) -> tuple[PatchFilter, ...]:
    if not group:
        return ()
    return tuple(
        PatchFilter(f["Key"], tuple(f.get("Values", []))) for f in group.get("PatchFilters", [])
    )


def _filter_group(filters: tuple[PatchFilter, ...]) -> dict[str, Any]:
    return {"PatchFilters": [{"Key": f.key, "Values": list(f.values)} for f in filters]}


@dataclass(frozen=True)
class Baseline:
    """A patch baseline, as CreatePatchBaseline defines one."""

    baseline_id: str
    name: str
    operating_system: OperatingSystem
    description: str = ""
    global_filters: tuple[PatchFilter, ...] = ()
    rules: tuple[PatchRule, ...] = ()
    approved_patches: tuple[str, ...] = ()
    approved_compliance_level: str = "UNSPECIFIED"
    approved_enable_non_security: bool = False
    rejected_patches: tuple[str, ...] = ()
    rejected_action: RejectedPatchesAction = "ALLOW_AS_DEPENDENCY"

    @property
    def linux(self) -> bool:
        return self.operating_system != "WINDOWS"

    @classmethod
    def from_api(cls, baseline_id: str, data: Mapping[str, Any]) -> Baseline:
        """From the CreatePatchBaseline/GetPatchBaseline shape (also BaselineOverride files)."""
        rules = []
        for rule in (data.get("ApprovalRules") or {}).get("PatchRules", []):
            until = rule.get("ApproveUntilDate")
            rules.append(
                PatchRule(
                    filters=_filters(rule.get("PatchFilterGroup")),
                    approve_after_days=rule.get("ApproveAfterDays"),
                    approve_until=date.fromisoformat(until) if until else None,
                    compliance_level=rule.get("ComplianceLevel") or "UNSPECIFIED",
                    enable_non_security=bool(rule.get("EnableNonSecurity", False)),
                )
            )
        return cls(
            baseline_id=baseline_id,
            name=data.get("Name") or data.get("BaselineName") or baseline_id,
            operating_system=data.get("OperatingSystem") or "WINDOWS",
            description=data.get("Description") or "",
            global_filters=_filters(data.get("GlobalFilters")),
            rules=tuple(rules),
            approved_patches=tuple(data.get("ApprovedPatches") or ()),
            approved_compliance_level=data.get("ApprovedPatchesComplianceLevel") or "UNSPECIFIED",
            approved_enable_non_security=bool(data.get("ApprovedPatchesEnableNonSecurity", False)),
            rejected_patches=tuple(data.get("RejectedPatches") or ()),
            rejected_action=data.get("RejectedPatchesAction") or "ALLOW_AS_DEPENDENCY",
        )

    def to_api(self) -> dict[str, Any]:
        """The GetPatchBaseline shape (without PatchGroups and dates, which the caller adds)."""
        rules = []
        for rule in self.rules:
            entry: dict[str, Any] = {
                "PatchFilterGroup": _filter_group(rule.filters),
                "ComplianceLevel": rule.compliance_level,
                "EnableNonSecurity": rule.enable_non_security,
            }
            if rule.approve_until is not None:
                entry["ApproveUntilDate"] = rule.approve_until.isoformat()
            elif rule.approve_after_days is not None:
                entry["ApproveAfterDays"] = rule.approve_after_days
            rules.append(entry)
        return {
            "BaselineId": self.baseline_id,
            "Name": self.name,
            "OperatingSystem": self.operating_system,
            "Description": self.description,
            "GlobalFilters": _filter_group(self.global_filters),
            "ApprovalRules": {"PatchRules": rules},
            "ApprovedPatches": list(self.approved_patches),
            "ApprovedPatchesComplianceLevel": self.approved_compliance_level,
            "ApprovedPatchesEnableNonSecurity": self.approved_enable_non_security,
            "RejectedPatches": list(self.rejected_patches),
            "RejectedPatchesAction": self.rejected_action,
            "Sources": [],
        }

    # --- judging patches ------------------------------------------------------------------------

    def rejects(self, patch: Patch) -> bool:
        return _listed(self.rejected_patches, patch)

    def approval(self, patch: Patch, now: datetime) -> str | None:
        """The compliance level the baseline approves ``patch`` with, or None."""
        if not all(f.matches(patch) for f in self.global_filters) or self.rejects(patch):
            return None
        if _listed(self.approved_patches, patch) and (
            not self.linux or patch.security or self.approved_enable_non_security
        ):
            return self.approved_compliance_level
        delays_apply = self.operating_system != "UBUNTU"
        for rule in self.rules:
            if rule.matches(patch, self.linux) and rule.approves_by(patch, now, delays_apply):
                return rule.compliance_level
        return None


def _listed(patterns: Iterable[str], patch: Patch) -> bool:
    names = patch.names()
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns for name in names)


def _rule(
    filters: dict[str, list[str]], days: int | None = 7, non_security: bool = False
) -> PatchRule:
    return PatchRule(
        filters=tuple(PatchFilter(k, tuple(v)) for k, v in filters.items()),
        approve_after_days=days,
        enable_non_security=non_security,
    )


_SECURITY_AND_BUGFIX = (
    _rule(
        {"PRODUCT": ["*"], "CLASSIFICATION": ["Security"], "SEVERITY": ["Critical", "Important"]}
    ),
    _rule({"PRODUCT": ["*"], "CLASSIFICATION": ["Bugfix"]}),
)

# AWS's predefined default baselines and their documented approval rules (names and
# descriptions as AWS shows them); the ids come from the caller (per region).
_AWS_DEFAULTS: dict[OperatingSystem, tuple[str, str, tuple[PatchRule, ...]]] = {
    "AMAZON_LINUX_2": (
        "AWS-AmazonLinux2DefaultPatchBaseline",
        "Baseline containing all Security and Bugfix updates approved for Amazon Linux 2 instances",
        _SECURITY_AND_BUGFIX,
    ),
    "AMAZON_LINUX_2023": (
        "AWS-AmazonLinux2023DefaultPatchBaseline",
        "Default Patch Baseline for Amazon Linux 2023 Provided by AWS.",
        _SECURITY_AND_BUGFIX,
    ),
    "REDHAT_ENTERPRISE_LINUX": (
        "AWS-RedHatDefaultPatchBaseline",
        "Default Patch Baseline for Redhat Enterprise Linux Provided by AWS.",
        _SECURITY_AND_BUGFIX,
    ),
    "CENTOS": (
        "AWS-CentOSDefaultPatchBaseline",
        "Default Patch Baseline for CentOS Provided by AWS.",
        (_rule({"PRODUCT": ["*"], "CLASSIFICATION": ["*"], "SEVERITY": ["*"]}, non_security=True),),
    ),
    "SUSE": (
        "AWS-SuseDefaultPatchBaseline",
        "Default Patch Baseline for Suse Provided by AWS.",
        (
            _rule(
                {
                    "PRODUCT": ["*"],
                    "CLASSIFICATION": ["Security"],
                    "SEVERITY": ["Critical", "Important"],
                }
            ),
        ),
    ),
    "UBUNTU": (
        "AWS-UbuntuDefaultPatchBaseline",
        "Default Patch Baseline for Ubuntu Provided by AWS.",
        (
            _rule(
                {
                    "PRODUCT": ["*"],
                    "PRIORITY": ["Required", "Important", "Standard", "Optional", "Extra"],
                },
                days=None,
            ),
        ),
    ),
    "WINDOWS": (
        "AWS-DefaultPatchBaseline",
        "Default Patch Baseline Provided by AWS.",
        (
            _rule(
                {
                    "PRODUCT": ["*"],
                    "CLASSIFICATION": ["CriticalUpdates", "SecurityUpdates"],
                    "MSRC_SEVERITY": ["Critical", "Important"],
                }
            ),
        ),
    ),
}


def aws_default_baseline(os_name: OperatingSystem, baseline_id: str) -> Baseline:
    """AWS's predefined default baseline for ``os_name`` under ``baseline_id`` (its ARN)."""
    name, description, rules = _AWS_DEFAULTS[os_name]
    return Baseline(baseline_id, name, os_name, description, rules=rules)
