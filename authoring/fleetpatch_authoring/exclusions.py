"""The ``exclusions`` section: packages and KBs kept off an environment's hosts until a date.

Each entry becomes ``RejectedPatches`` entries of the baselines it names (see
:mod:`fleetpatch.exclusions` for why, and how expiry takes effect without a redeploy).
The names follow AWS's "Package name formats for approved and rejected patch lists"
(Systems Manager User Guide): on Linux a package name (``name``, ``name.arch``,
``name-version``...) with at most one ``*`` wildcard; on Windows a KB id (``KB5034441``) or
a Microsoft Security Bulletin id (``MS17-010``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated

from pydantic import Field, field_validator

from fleetpatch.exclusions import CompiledExclusion
from fleetpatch_authoring.fields import (
    LINUX,
    MAX_PATCH_LIST,
    NAME,
    OperatingSystem,
    PolicyModel,
    PolicyProblem,
    Switch,
)

_WINDOWS_ID = re.compile(r"^(KB\d{6,8}|MS\d{2}-\d{3})$")
_LINUX_NAME = re.compile(r"^[A-Za-z0-9_.:+*~-]{1,100}$")


class Exclusion(PolicyModel):
    """Patches that waves, launches, remediation and emergencies do not install, until a date."""

    patches: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        min_length=1,
        max_length=MAX_PATCH_LIST,
        description="RejectedPatches entries: Linux package names (one * at most), "
        "Windows KB or MS bulletin ids",
    )
    environments: list[Annotated[str, Field(pattern=NAME)]] = Field(
        min_length=1, description="the environments whose baselines exclude them"
    )
    operating_systems: list[OperatingSystem] = Field(
        default_factory=list,
        description="the baselines' operating systems (empty: every OS of each environment "
        "that the patch names fit: KB ids on Windows, package names on Linux)",
    )
    until: date = Field(description="the last day (UTC) the exclusion applies")
    reason: str = Field(min_length=1, max_length=500, description="why, with the ticket")

    @field_validator("patches")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        twice = sorted({p for p in value if value.count(p) > 1})
        if twice:
            raise ValueError(f"{', '.join(twice)} listed twice")
        return value

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the reason is empty: say why, with the ticket")
        return value


class SecurityHub(PolicyModel):
    """``security_hub``: drift and recovery as AWS Security Hub findings (issue 21)."""

    enabled: Switch = Field(
        default=False,
        description="import a finding per non-compliant instance (BatchImportFindings), "
        "updated when it recovers; Security Hub must be enabled in the account and region",
    )


def name_problem(operating_system: str, name: str) -> str | None:
    """Why ``name`` is not a RejectedPatches entry of ``operating_system``'s baseline, or None."""
    if operating_system == "WINDOWS":
        if not _WINDOWS_ID.match(name):
            return f"{name!r} is not a Windows KB id (KB5034441) or bulletin id (MS17-010)"
        return None
    if operating_system in LINUX:
        if not _LINUX_NAME.match(name):
            return f"{name!r} is not a package name (letters, digits, . _ : + ~ - and *)"
        if name.count("*") > 1:
            return f"{name!r} has more than one * (AWS accepts one wildcard)"
        if _WINDOWS_ID.match(name):
            return f"{name!r} is a Windows id, not a package name of {operating_system}"
        return None
    return f"exclusions are not supported for {operating_system}"


def _fits(operating_system: str, patches: list[str]) -> bool:
    return all(name_problem(operating_system, p) is None for p in patches)


def operating_systems_of(exclusion: Exclusion, environments: dict[str, list[str]]) -> list[str]:
    """The OSes the exclusion applies to: as written, or every OS of its environments it fits."""
    if exclusion.operating_systems:
        return list(exclusion.operating_systems)
    found = {
        os_name
        for env in exclusion.environments
        for os_name in environments.get(env, [])
        if _fits(os_name, exclusion.patches)
    }
    return sorted(found)


def compiled(exclusion: Exclusion, environments: dict[str, list[str]]) -> CompiledExclusion:
    return CompiledExclusion(
        patches=list(exclusion.patches),
        environments=list(exclusion.environments),
        operating_systems=operating_systems_of(exclusion, environments),
        until=exclusion.until,
        reason=exclusion.reason,
    )


def exclusion_problems(
    exclusions: list[Exclusion],
    environments: dict[str, list[str]],
    own_rejected: dict[tuple[str, str], list[str]],
) -> Iterator[PolicyProblem]:
    """Relations: environments and OSes exist, names fit each OS, the 50-entry limit holds.

    ``environments``: environment -> its baselines' OSes; ``own_rejected``: (environment,
    OS) -> the baseline's own ``rejected_patches``.
    """
    added: dict[tuple[str, str], set[str]] = {}
    for index, exclusion in enumerate(exclusions):
        loc: tuple[str | int, ...] = ("exclusions", index)
        yield from _place_problems(loc, exclusion, environments)
        yield from _name_problems(loc, exclusion, environments)
        for env in exclusion.environments:
            for os_name in operating_systems_of(exclusion, environments):
                if os_name in environments.get(env, []):
                    yield from _overlap_problems(loc, exclusion, env, os_name, own_rejected)
                    added.setdefault((env, os_name), set()).update(exclusion.patches)
    for (env, os_name), names in sorted(added.items()):
        total = len(names | set(own_rejected.get((env, os_name), [])))
        if total > MAX_PATCH_LIST:
            yield PolicyProblem(
                ("exclusions",),
                f"{env}'s {os_name} baseline would reject {total} patches; a baseline "
                f"rejects at most {MAX_PATCH_LIST}",
            )


def _place_problems(
    loc: tuple[str | int, ...], exclusion: Exclusion, environments: dict[str, list[str]]
) -> Iterator[PolicyProblem]:
    for env_index, env in enumerate(exclusion.environments):
        if env not in environments:
            yield PolicyProblem((*loc, "environments", env_index), f"no environment {env}")
    for os_index, os_name in enumerate(exclusion.operating_systems):
        missing = [e for e in exclusion.environments if os_name not in environments.get(e, [])]
        if missing:
            yield PolicyProblem(
                (*loc, "operating_systems", os_index),
                f"{', '.join(missing)} has no {os_name} baseline",
            )


def _name_problems(
    loc: tuple[str | int, ...], exclusion: Exclusion, environments: dict[str, list[str]]
) -> Iterator[PolicyProblem]:
    known = all(env in environments for env in exclusion.environments)
    if known and not operating_systems_of(exclusion, environments):
        yield PolicyProblem(
            (*loc, "patches"),
            "these names fit no operating system of its environments (KB ids are for "
            "WINDOWS, package names for Linux)",
        )
    for os_name in exclusion.operating_systems:
        for p_index, name in enumerate(exclusion.patches):
            problem = name_problem(os_name, name)
            if problem:
                yield PolicyProblem((*loc, "patches", p_index), problem)


def _overlap_problems(
    loc: tuple[str | int, ...],
    exclusion: Exclusion,
    env: str,
    os_name: str,
    own_rejected: dict[tuple[str, str], list[str]],
) -> Iterator[PolicyProblem]:
    own = own_rejected.get((env, os_name), [])
    for p_index, name in enumerate(exclusion.patches):
        if name in own:
            yield PolicyProblem(
                (*loc, "patches", p_index),
                f"{name} is already in {env}'s {os_name} baseline's rejected_patches (for "
                "good): an exclusion would end that on its date",
            )
