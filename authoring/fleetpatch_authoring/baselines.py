"""The baselines section: per environment, a patch baseline per operating system."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from fleetpatch_authoring.fields import (
    BASELINE_SOURCE_NAME,
    MAX_APPROVAL_RULES,
    MAX_APPROVE_AFTER_DAYS,
    MAX_PATCH_LIST,
    MAX_SOURCES,
    PATCH_GROUP_NAME,
    ComplianceLevel,
    Count,
    OperatingSystem,
    PolicyModel,
    Switch,
)


class ApprovalRule(PolicyModel):
    """One auto-approval rule of a baseline (a PatchRule with its filter group)."""

    products: list[str] = Field(default_factory=list, description="PRODUCT filter values")
    classifications: list[str] = Field(
        default_factory=list, description="CLASSIFICATION values (not Ubuntu/Debian)"
    )
    severities: list[str] = Field(
        default_factory=list,
        description="SEVERITY values (MSRC_SEVERITY on Windows; not Ubuntu/Debian)",
    )
    priorities: list[str] = Field(
        default_factory=list, description="PRIORITY values (Ubuntu/Debian only)"
    )
    sections: list[str] = Field(
        default_factory=list, description="SECTION values (Ubuntu/Debian only)"
    )
    approve_after_days: Count | None = Field(
        default=None,
        ge=0,
        le=MAX_APPROVE_AFTER_DAYS,
        description="days after release before a patch is approved (0-360); "
        "defaults to the environment's approve_after_days",
    )
    approve_until_date: date | None = Field(
        default=None, description="approve patches released on or before this date"
    )
    compliance_level: ComplianceLevel = "UNSPECIFIED"
    enable_non_security: Switch = Field(
        default=False, description="also install non-security updates (Linux only)"
    )

    @model_validator(mode="after")
    def _one_approval_delay(self) -> ApprovalRule:
        if self.approve_after_days is not None and self.approve_until_date is not None:
            raise ValueError("give approve_after_days or approve_until_date, not both")
        return self


class PatchSource(PolicyModel):
    """An alternative repository a Linux baseline installs from."""

    name: str = Field(pattern=BASELINE_SOURCE_NAME)
    products: list[str] = Field(min_length=1, max_length=20)
    configuration: str = Field(min_length=1, max_length=1024, description="the repo file")


class Baseline(PolicyModel):
    """The patch baseline of one operating system in one environment."""

    description: str | None = Field(default=None, max_length=1024)
    approval_rules: list[ApprovalRule] = Field(default_factory=list, max_length=MAX_APPROVAL_RULES)
    approved_patches: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_PATCH_LIST
    )
    approved_patches_compliance_level: ComplianceLevel = "UNSPECIFIED"
    approved_patches_enable_non_security: Switch = False
    rejected_patches: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=MAX_PATCH_LIST
    )
    rejected_patches_action: Literal["ALLOW_AS_DEPENDENCY", "BLOCK"] = "BLOCK"
    sources: list[PatchSource] = Field(default_factory=list, max_length=MAX_SOURCES)

    @model_validator(mode="after")
    def _approves_something(self) -> Baseline:
        if not self.approval_rules and not self.approved_patches:
            raise ValueError("approves nothing: give approval_rules or approved_patches")
        return self


class Environment(PolicyModel):
    """An environment (test, prod...): its baselines per OS and the patch groups they cover."""

    description: str | None = None
    approve_after_days: Count | None = Field(
        default=None,
        ge=0,
        le=MAX_APPROVE_AFTER_DAYS,
        description="the approval delay of rules that give neither a delay nor a date",
    )
    patch_groups: list[Annotated[str, Field(pattern=PATCH_GROUP_NAME)]] = Field(
        min_length=1, description="patch groups whose instances this environment's baselines patch"
    )
    baselines: dict[OperatingSystem, Baseline] = Field(min_length=1)
