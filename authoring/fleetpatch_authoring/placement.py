"""Where an instance falls in the policy: its patch group, environment, baseline, wave, batch.

Pure code over facts read elsewhere (tags and the platform SSM reports), so ``fleetpatch
plan`` and the control plane agree on who is patched when, and why an instance is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fleetpatch.errors import ConflictingPatchGroupTagsError, UnsupportedPlatformError
from fleetpatch.launch import operating_system, patch_group_of
from fleetpatch_authoring.policy import FleetPolicy


@dataclass(frozen=True)
class InstanceFacts:
    """What the plan knows of an instance (from EC2 and SSM, read-only)."""

    instance_id: str
    tags: Mapping[str, str]
    state: str = "running"
    platform_type: str | None = None
    """SSM's PlatformType (Linux, Windows, MacOS); None: the SSM agent never registered."""
    platform_name: str = ""
    platform_version: str = ""

    @property
    def name(self) -> str:
        return self.tags.get("Name", "")


@dataclass(frozen=True)
class Placement:
    """An instance the policy patches: in ``wave``'s batch ``batch_index`` (0-based)."""

    instance: InstanceFacts
    operating_system: str
    patch_group: str
    tag_key: str
    environment: str
    wave: str
    batch_index: int


@dataclass(frozen=True)
class NotPlaced:
    """An instance no wave patches, and why (an operator should act on each)."""

    instance: InstanceFacts
    reason: str
    operating_system: str | None = None
    patch_group: str | None = None


def place(policy: FleetPolicy, instance: InstanceFacts) -> Placement | NotPlaced:
    """Which wave and batch patch ``instance`` under which baseline, or why none does."""
    try:
        group, tag_key = patch_group_of(dict(instance.tags))
    except ConflictingPatchGroupTagsError as exc:
        return NotPlaced(instance, str(exc))
    if instance.state != "running":
        # Run Command reaches running instances only; a stopped one misses the window.
        return NotPlaced(
            instance, f"{instance.state}: only running instances are patched", None, group
        )
    if instance.platform_type is None:
        reason = "not a managed instance: its SSM agent has not registered"
        return NotPlaced(instance, reason, patch_group=group)
    try:
        os_name = operating_system(
            instance.platform_type, instance.platform_name, instance.platform_version
        )
    except UnsupportedPlatformError as exc:
        return NotPlaced(instance, str(exc), patch_group=group)
    if group is None or tag_key is None:
        return NotPlaced(
            instance,
            "no patch group: tag it 'Patch Group' (or 'PatchGroup')",
            operating_system=os_name,
        )
    environment = policy.environment_of(group)
    if environment is None:
        return NotPlaced(
            instance,
            f"patch group {group} is not in the policy (no environment lists it)",
            os_name,
            group,
        )
    if policy.baseline_for(group, os_name) is None:
        return NotPlaced(
            instance,
            f"environment {environment} has no {os_name} baseline",
            os_name,
            group,
        )
    placed = policy.placement(group)
    if placed is None:
        return NotPlaced(instance, f"patch group {group} is in no wave", os_name, group)
    wave, batch_index = placed
    return Placement(instance, os_name, group, tag_key, environment, wave, batch_index)
