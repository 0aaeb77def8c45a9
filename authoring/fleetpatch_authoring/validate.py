"""The second pass over a policy file: relations only the whole file shows, and the entry point.

:func:`validate_policy` runs both passes (pydantic's structure, then
:func:`relation_problems`) and raises :class:`InvalidPolicyError` with *every* problem of the
first pass that fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import ValidationError

from fleetpatch.patch_properties import RULE_FILTERS, filter_key, filter_keys, value_problem
from fleetpatch_authoring import wording
from fleetpatch_authoring.baselines import ApprovalRule, Baseline, Environment
from fleetpatch_authoring.exclusions import exclusion_problems
from fleetpatch_authoring.fields import (
    DEBIAN_FAMILY,
    EXTENSION_PREFIX,
    LINUX,
    SOURCES_SUPPORTED,
    InvalidPolicyError,
    PolicyProblem,
)
from fleetpatch_authoring.governance import freeze_problems
from fleetpatch_authoring.policy import FleetPolicy, naming_pattern
from fleetpatch_authoring.serving import defaults_problems, serving_problems
from fleetpatch_authoring.waves import Wave


def relation_problems(policy: FleetPolicy) -> list[PolicyProblem]:
    """Every problem that only the whole policy shows (the structure being valid)."""
    return [
        *_patch_group_problems(policy),
        *_wave_problems(policy),
        *_promotion_problems(policy),
        *_compliance_problems(policy),
        *_serving_problems(policy),
        *freeze_problems(policy.change_freeze),
        *exclusion_problems(
            list(policy.exclusions),
            policy.operating_systems(),
            {
                (env, os_name): list(baseline.rejected_patches)
                for env, environment in policy.environments.items()
                for os_name, baseline in environment.baselines.items()
            },
        ),
    ]


def _patch_group_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    owner: dict[str, str] = {}
    for env_name, environment in policy.environments.items():
        for index, group in enumerate(environment.patch_groups):
            loc = ("environments", env_name, "patch_groups", index)
            if group in owner:
                yield PolicyProblem(
                    loc,
                    f"{group} is also in environment {owner[group]}: a patch group has one "
                    "baseline per operating system",
                )
                continue
            owner[group] = env_name
        for os_name, baseline in environment.baselines.items():
            yield from _baseline_problems(
                ("environments", env_name, "baselines", os_name), os_name, baseline, environment
            )


def _baseline_problems(
    loc: tuple[str | int, ...], os_name: str, baseline: Baseline, environment: Environment
) -> Iterator[PolicyProblem]:
    linux = os_name in LINUX
    if baseline.sources and os_name not in SOURCES_SUPPORTED:
        yield PolicyProblem((*loc, "sources"), f"alternative patch sources are not for {os_name}")
    if baseline.approved_patches_enable_non_security and not linux:
        yield PolicyProblem(
            (*loc, "approved_patches_enable_non_security"), "non-security updates are Linux only"
        )
    for index, rule in enumerate(baseline.approval_rules):
        here = (*loc, "approval_rules", index)
        if rule.enable_non_security and not linux:
            yield PolicyProblem(
                (*here, "enable_non_security"), "non-security updates are Linux only"
            )
        yield from _filter_problems(here, os_name, rule)
        if (
            rule.approve_after_days is None
            and rule.approve_until_date is None
            and environment.approve_after_days is None
        ):
            yield PolicyProblem(
                here,
                "give approve_after_days or approve_until_date (or the environment's "
                "approve_after_days)",
            )


def _filter_problems(
    loc: tuple[str | int, ...], os_name: str, rule: ApprovalRule
) -> Iterator[PolicyProblem]:
    """Each filter the OS has not, and each value AWS does not list for it (patch_properties)."""
    for name in RULE_FILTERS:
        values: list[str] = getattr(rule, name)
        if not values:
            continue
        key = filter_key(name, os_name)
        if key not in filter_keys(os_name):
            yield PolicyProblem((*loc, name), _missing_filter(os_name, name, key))
            continue
        for index, value in enumerate(values):
            problem = value_problem(os_name, key, value)
            if problem is not None:
                yield PolicyProblem((*loc, name, index), problem)


def _missing_filter(os_name: str, name: str, key: str) -> str:
    if os_name in DEBIAN_FAMILY:
        return f"{os_name} baselines filter on priorities and sections, not {name}"
    if key in {"PRIORITY", "SECTION"}:
        return f"{name} filter only Ubuntu and Debian baselines"
    return f"{os_name} baselines have no {key} filter"


def _wave_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    naming = naming_pattern(policy.patch_group_naming) if policy.patch_group_naming else None
    placed: dict[str, str] = {}
    for wave_name, wave in policy.waves.items():
        names: dict[str, int] = {}
        for index, batch in enumerate(wave.batches):
            loc: tuple[str | int, ...] = ("waves", wave_name, "batches", index)
            if batch.name in names:
                yield PolicyProblem((*loc, "name"), f"batch {batch.name} appears twice")
            names.setdefault(batch.name, index)
            for g_index, group in enumerate(batch.patch_groups):
                g_loc = (*loc, "patch_groups", g_index)
                where = f"wave {wave_name} batch {batch.name}"
                if group in placed:
                    yield PolicyProblem(
                        g_loc, f"{group} is already in {placed[group]}: a group is in one batch"
                    )
                    continue
                placed[group] = where
                env = policy.environment_of(group)
                if env is None:
                    yield PolicyProblem(
                        g_loc,
                        f"{group} is in no environment's patch_groups, so no baseline covers it",
                    )
                if naming is not None:
                    yield from _naming_problems(
                        g_loc, naming, group, environment=env, wave=wave, index=index
                    )
            yield from _gate_problems(loc, wave, index, names)


def _naming_problems(
    loc: tuple[str | int, ...],
    naming: re.Pattern[str],
    group: str,
    *,
    environment: str | None,
    wave: Wave,
    index: int,
) -> Iterator[PolicyProblem]:
    match = naming.fullmatch(group)
    if match is None:
        yield PolicyProblem(loc, f"{group} does not follow the naming convention")
        return
    parts = match.groupdict()
    if environment is not None and parts.get("environment") not in (None, environment):
        yield PolicyProblem(
            loc, f"{group} names environment {parts['environment']} but is in {environment}"
        )
    if parts.get("batch") is not None and int(parts["batch"]) != index + 1:
        yield PolicyProblem(
            loc, f"{group} names batch {parts['batch']} but is in batch {index + 1}"
        )
    start = wave.schedule.local_start()
    if parts.get("hhmm") is not None and start is not None:
        hhmm = f"{start[0]:02d}{start[1]:02d}"
        if parts["hhmm"] != hhmm:
            yield PolicyProblem(
                loc, f"{group} names {parts['hhmm']} but the wave starts at {hhmm} local time"
            )


def _gate_problems(
    loc: tuple[str | int, ...], wave: Wave, index: int, earlier: Mapping[str, int]
) -> Iterator[PolicyProblem]:
    batch = wave.batches[index]
    if batch.gate is None:
        return
    if index == 0:
        yield PolicyProblem(
            (*loc, "gate"),
            "the first batch runs in the window: no earlier batch to gate on",
        )
        return
    later = {b.name: i for i, b in enumerate(wave.batches)}
    for g_index, name in enumerate(batch.gate.batches or []):
        here = (*loc, "gate", "batches", g_index)
        if name not in later:
            yield PolicyProblem(here, f"no batch {name} in this wave")
        elif later[name] >= index:
            yield PolicyProblem(
                here,
                f"batch {name} runs after (or is) this batch; a gate checks earlier batches",
            )
    if batch.gate.batches == []:
        yield PolicyProblem((*loc, "gate", "batches"), "a gate checks at least one batch")


def _promotion_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    for wave_name, wave in policy.waves.items():
        source = wave.promote_from
        if source is None:
            continue
        loc = ("waves", wave_name, "promote_from")
        if source not in policy.waves:
            yield PolicyProblem(loc, f"no wave {source}")
            continue
        # Follow the chain; coming back to this wave is a cycle (a wave waiting on itself).
        chain = [wave_name]
        current: str | None = source
        while current is not None and current in policy.waves:
            if current == wave_name:
                yield PolicyProblem(loc, "promotion cycle: " + " <- ".join([*chain, wave_name]))
                break
            if current in chain:
                break  # a cycle further up the chain: reported at its own waves
            chain.append(current)
            current = policy.waves[current].promote_from


def _compliance_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    in_a_wave = {
        policy.environment_of(group)
        for wave in policy.waves.values()
        for batch in wave.batches
        for group in batch.patch_groups
    }
    for env, action in policy.compliance.remediation.items():
        loc = ("compliance", "remediation", env)
        if env not in policy.environments:
            yield PolicyProblem(loc, f"no environment {env}")
        elif action == "install" and env not in in_a_wave:
            yield PolicyProblem(
                loc, f"install remediation needs a wave patching {env}: it installs in its window"
            )


def _serving_problems(policy: FleetPolicy) -> Iterator[PolicyProblem]:
    yield from defaults_problems(policy.serving)
    for wave_name, wave in policy.waves.items():
        for index, batch in enumerate(wave.batches):
            yield from serving_problems(
                ("waves", wave_name, "batches", index),
                policy.serving,
                batch.serving,
                reboot=batch.reboot,
                operation=batch.operation or wave.operation,
            )


def validate_policy(data: Any) -> FleetPolicy:
    """Validate a parsed policy file; :class:`InvalidPolicyError` lists every problem."""
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if not str(k).startswith(EXTENSION_PREFIX)}
    try:
        policy = FleetPolicy.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidPolicyError(
            [_problem(error) for error in exc.errors(include_url=False)]
        ) from exc
    problems = relation_problems(policy)
    if problems:
        raise InvalidPolicyError(problems)
    return policy


def _problem(error: Mapping[str, Any]) -> PolicyProblem:
    loc = tuple(error["loc"])
    # pydantic prefixes messages of validators that raise ValueError; the path says enough.
    message = wording.message(error, loc).removeprefix("Value error, ")
    if loc and loc[-1] == "[key]" and error["type"] != "extra_forbidden":
        # A mapping key failed (an unknown OS or a bad environment name): point at the key.
        # (Not an unknown key that happens to be written "[key]": that is the key itself.)
        loc = loc[:-1]
        message = f"{loc[-1]} is not allowed as a key here: {message}"
    return PolicyProblem(loc, message)


def unused_patch_groups(policy: FleetPolicy) -> list[str]:
    """Patch groups with baselines but in no wave: only patched on launch or by hand."""
    return [
        group
        for environment in policy.environments.values()
        for group in environment.patch_groups
        if policy.placement(group) is None
    ]
