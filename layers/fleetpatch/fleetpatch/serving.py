"""Serving instances: where an instance serves, how many of a scope may be out, the outcome.

Pure rules, no clients (the AWS conversation is ``fleetpatch.serving_aws``). An instance
*serves* when it is InService in an Auto Scaling group or registered in an ELB target
group. The serving workflow (``statemachines/patch_serving_instance.asl.json``) takes it
out of service before patching it and puts it back only when it is healthy; while it is
out it holds a place in every disruption budget scope it serves in (``fleetpatch.budget``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fleetpatch.budget import Claim

if TYPE_CHECKING:
    from fleetpatch.batch_policy import RuntimeServing

ScopeKind = Literal["auto-scaling-group", "target-group", "availability-zone"]

# Auto Scaling lifecycle states in which an instance serves (and may enter Standby).
IN_SERVICE = "InService"
STANDBY_STATES = ("EnteringStandby", "Standby")


@dataclass(frozen=True)
class Registration:
    """One target group the instance is registered in."""

    arn: str
    port: int | None = None
    attached: bool = False
    """The target group is attached to the instance's Auto Scaling group (Standby drains it)."""

    @property
    def name(self) -> str:
        """The target group's name (``arn:...:targetgroup/<name>/<id>``)."""
        parts = self.arn.split(":targetgroup/", 1)
        return parts[1].split("/", 1)[0] if len(parts) == 2 else self.arn


@dataclass(frozen=True)
class Placement:
    """Where an instance serves, read before it is taken out of service."""

    instance_id: str
    state: str
    """Its EC2 state (running, stopped, terminated...)."""
    zone: str | None = None
    group: str | None = None
    lifecycle: str | None = None
    """Its Auto Scaling lifecycle state (InService, Standby...), None outside a group."""
    targets: list[Registration] = field(default_factory=list)
    root_volume: str | None = None
    """Its root EBS volume (what a rollback replaces from the snapshot)."""

    @property
    def in_group_service(self) -> bool:
        return self.group is not None and self.lifecycle == IN_SERVICE

    @property
    def serves(self) -> bool:
        return self.in_group_service or bool(self.targets)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Placement:
        return cls(
            instance_id=str(data["instance_id"]),
            state=str(data["state"]),
            zone=data.get("zone"),
            group=data.get("group"),
            lifecycle=data.get("lifecycle"),
            targets=[Registration(**t) for t in data.get("targets", [])],
            root_volume=data.get("root_volume"),
        )


def limit(max_unavailable: str, total: int) -> int:
    """How many of ``total`` may be out at once: ``"2"`` or ``"25%"`` (at least one).

    A percentage rounds down, like Run Command's MaxConcurrency, but never to zero: a
    budget that allows nobody out would patch nothing and hold the wave forever.
    """
    if max_unavailable.endswith("%"):
        return max(1, math.floor(total * float(max_unavailable[:-1]) / 100))
    return max(1, int(max_unavailable))


def scope_ids(placement: Placement, kinds: Sequence[str], *, drain_targets: bool) -> list[str]:
    """The budget scopes ``placement`` counts in, for the batch's scope kinds.

    A target group counts only if the instance leaves it: attached to its group (Standby
    deregisters it) or deregistered by the workflow.
    """
    found: list[str] = []
    if "auto-scaling-group" in kinds and placement.in_group_service:
        found.append(f"auto-scaling-group:{placement.group}")
    if "target-group" in kinds:
        for target in placement.targets:
            if target.attached or drain_targets:
                found.append(f"target-group:{target.arn}")
    if "availability-zone" in kinds and placement.zone and placement.serves:
        found.append(f"availability-zone:{placement.zone}")
    return sorted(set(found))


def claims(scopes: Sequence[str], totals: Mapping[str, int], max_unavailable: str) -> list[Claim]:
    """Each scope with its limit, from its size now."""
    return [
        Claim(scope, limit(max_unavailable, max(1, totals.get(scope, 1))), totals.get(scope, 1))
        for scope in scopes
    ]


@dataclass(frozen=True)
class Health:
    """The answer of one health check round: healthy, or the first check that is not."""

    healthy: bool
    failing: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    """Check name -> ``ok`` or why not."""

    def as_dict(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "failing": self.failing, "checks": self.checks}


def judge(checks: Mapping[str, str]) -> Health:
    """Healthy when every check says ``ok``; otherwise the first that does not, by name."""
    failing = [f"{name}: {why}" for name, why in checks.items() if why != "ok"]
    return Health(not failing, failing[0] if failing else None, dict(checks))


# A serving batch's instances run in inline Map iterations, each waiting for its own
# execution: Step Functions runs at most 40 inline iterations at once.
MAX_PARALLEL_INSTANCES = 40


def zone_order(
    zones: Mapping[str, str | None], *, zone_by_zone: bool, concurrency: int
) -> dict[str, Any]:
    """How the wave runs a serving batch: zones in name order, one at a time if asked.

    ``zones``: instance id -> its Availability Zone. Without ``zone_by_zone`` every instance
    is in one group (the budget alone paces them).
    """
    if zone_by_zone:
        by_zone: dict[str, list[str]] = {}
        for instance_id, zone in sorted(zones.items()):
            by_zone.setdefault(zone or "unknown", []).append(instance_id)
        groups = [{"zone": z, "instances": ids} for z, ids in sorted(by_zone.items())]
    else:
        groups = [{"zone": "all", "instances": sorted(zones)}] if zones else []
    return {
        "zones": groups,
        "concurrency": max(1, min(MAX_PARALLEL_INSTANCES, concurrency)),
    }


# What one instance may take at most, besides its health phases: the install's delivery
# and execution timeouts with the workflow's margin, and a rollback.
_COMMAND_SECONDS = 600 + 7200 + 300
_ROLLBACK_SECONDS = 1800


def serving_horizon(serving: RuntimeServing, instances: int, concurrency: int) -> int:
    """How long a serving batch may take at most, for the wave's lease (seconds)."""
    per_instance = (
        serving.budget_wait_seconds
        + serving.drain_timeout_seconds
        + 4 * _COMMAND_SECONDS
        + 4 * serving.health.timeout_seconds
        + _ROLLBACK_SECONDS
    )
    rounds = math.ceil(max(1, instances) / max(1, concurrency))
    return int(per_instance * rounds)
