"""Keeping the baselines' RejectedPatches in step with the policy's exclusions and the clock.

The AWS side of :mod:`fleetpatch.exclusions` (kept apart, as ``serving_aws`` is from
``serving``): ``ssm:GetPatchBaselineForPatchGroup``, ``ssm:GetPatchBaseline`` and
``ssm:UpdatePatchBaseline``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from fleetpatch import aws
from fleetpatch.exclusions import CompiledExclusion, desired_rejected, excluded_patterns

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaselineSync:
    """What :func:`sync_baselines` did to one baseline."""

    baseline_id: str
    environment: str
    operating_system: str
    rejected: tuple[str, ...]
    changed: bool


def sync_baselines(
    ssm: SSMClient,
    exclusions: Sequence[CompiledExclusion],
    patch_groups: dict[str, str],
    now: datetime,
) -> list[BaselineSync]:
    """Make each baseline an exclusion names reject exactly what applies at ``now``.

    One baseline per (environment, operating system): every patch group of an environment
    has the environment's baseline (the policy stack registers them), so the first group is
    asked. An environment whose OS has no custom baseline (AWS's default answers) is left
    alone: fleetpatch never writes to AWS's baselines. Idempotent: a baseline already right
    is not written.
    """
    groups: dict[str, str] = {}
    for group, env in sorted(patch_groups.items()):
        groups.setdefault(env, group)
    targets = sorted(
        {(env, os) for e in exclusions for env in e.environments for os in e.operating_systems}
    )
    done: list[BaselineSync] = []
    for environment, operating_system in targets:
        first_group = groups.get(environment)
        if first_group is None:
            continue
        baseline_id = aws.patiently(
            ssm.get_patch_baseline_for_patch_group,
            PatchGroup=first_group,
            OperatingSystem=operating_system,
        ).get("BaselineId", "")
        # AWS's predefined baselines answer by ARN: not ours to change.
        if not baseline_id or baseline_id.startswith("arn:"):
            continue
        current = aws.patiently(ssm.get_patch_baseline, BaselineId=baseline_id)
        managed = [
            p for e in exclusions if e.covers(environment, operating_system) for p in e.patches
        ]
        active = excluded_patterns(exclusions, environment, operating_system, now)
        rejected = desired_rejected(current.get("RejectedPatches", []), managed, active)
        changed = rejected != list(current.get("RejectedPatches", []))
        if changed:
            aws.patiently(
                ssm.update_patch_baseline, BaselineId=baseline_id, RejectedPatches=rejected
            )
            LOG.info(
                "baseline exclusions synced",
                extra={"baseline": baseline_id, "rejected": rejected},
            )
        done.append(
            BaselineSync(baseline_id, environment, operating_system, tuple(rejected), changed)
        )
    return done
