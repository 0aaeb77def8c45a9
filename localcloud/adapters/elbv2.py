"""Elastic Load Balancing v2's moto adapter: target registration and health from the
simulator (localcloud.sim.load_balancing), which holds the behaviour described there.

moto internals touched (each has a canary in
tests/unit/localcloud/test_moto_canaries_elbv2.py):

* ``moto.elbv2.models.ELBv2Backend.register_targets`` (wrapped): moto's registration
  (``FakeTargetGroup.register`` refuses a target that is not running with ``InvalidTarget``),
  then the simulator's, with the group's health check.
* ``ELBv2Backend.deregister_targets`` (replaced): moto refuses a target that is not
  registered; AWS "returns successfully". Pops ``FakeTargetGroup.targets`` and drains in
  the simulator for the group's ``deregistration_delay.timeout_seconds`` attribute.
* ``ELBv2Backend.describe_target_health`` (replaced): the simulator's states, answered as
  moto's ``FakeHealthStatus`` (``instance_id``, ``port``, ``health_port``, ``status``,
  ``reason``, ``description``).
* ``ELBv2Backend.notify_terminate_instances`` (wrapped): EC2 TerminateInstances deregisters
  the instances (they drain).
* ``ELBv2Backend.delete_target_group`` (wrapped): the simulator forgets the group.
* Attributes read: ``ELBv2Backend.target_groups`` (ARN -> ``FakeTargetGroup``),
  ``FakeTargetGroup`` (``arn``, ``name``, ``port``, ``targets``, ``attributes``,
  ``health_check_interval_seconds``, ``healthy_threshold_count``,
  ``unhealthy_threshold_count``, ``health_check_port``); ``moto.elbv2.exceptions``
  ``TargetGroupNotFoundError``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.fleet import FLEET
from localcloud.sim.load_balancing import (
    DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    LOAD_BALANCING,
    HealthCheck,
    LoadBalancingSimulator,
)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

MotoTargetGroup = Any  # moto.elbv2.models.FakeTargetGroup


class FleetProbe:
    """Health checks answered by the simulated fleet (and EC2 for instances outside it)."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def _ec2_instance(self, target_id: str) -> Any:
        from moto.ec2.models import ec2_backends

        backend = ec2_backends[self.cloud.account_id][self.cloud.region]
        try:
            return backend.get_instance_by_id(target_id)
        except Exception:  # moto raises its own InvalidInstanceIdError
            return None

    def check(self, target_id: str, when: datetime) -> str | None:
        fleet = FLEET.get()
        try:
            instance = fleet.instance(target_id) if fleet is not None else None
        except KeyError:
            instance = None
        if instance is not None:
            if instance.app_healthy(when):
                return None
            # Up and not rebooting (its last ping is now): it answers, wrongly. Else no answer.
            answers = instance.ec2.state == "running" and instance.last_ping(when) == when
            return "Target.FailedHealthChecks" if answers else "Target.Timeout"
        ec2 = self._ec2_instance(target_id)
        return None if ec2 is not None and ec2.state == "running" else "Target.Timeout"

    def instance_state(self, target_id: str) -> str | None:
        ec2 = self._ec2_instance(target_id)
        return None if ec2 is None else str(ec2.state)


def health_check(target_group: MotoTargetGroup) -> HealthCheck:
    return HealthCheck(
        interval_seconds=int(target_group.health_check_interval_seconds),
        healthy_threshold=int(target_group.healthy_threshold_count),
        unhealthy_threshold=int(target_group.unhealthy_threshold_count),
    )


def deregistration_delay(target_group: MotoTargetGroup) -> int:
    value = target_group.attributes.get(
        "deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY_SECONDS
    )
    return int(value)


def _target_group(backend: Any, arn: str) -> MotoTargetGroup:
    from moto.elbv2.exceptions import TargetGroupNotFoundError

    target_group = backend.target_groups.get(arn)
    if target_group is None:
        raise TargetGroupNotFoundError()
    return target_group


def _patch_registration() -> None:
    """RegisterTargets and DeregisterTargets reach the simulator."""
    from moto.elbv2.models import ELBv2Backend

    original_register = ELBv2Backend.register_targets

    def register_targets(self: Any, target_group_arn: str, instances: list[Any]) -> None:
        original_register(self, target_group_arn, instances)
        simulator = LOAD_BALANCING.get()
        if simulator is None:
            return
        target_group = self.target_groups[target_group_arn]
        simulator.register(
            target_group.arn,
            target_group.name,
            [(t["Id"], int(t.get("Port") or target_group.port or 80)) for t in instances],
            health_check(target_group),
            deregistration_delay(target_group),
        )

    def deregister_targets(self: Any, target_group_arn: str, instances: list[Any]) -> None:
        target_group = _target_group(self, target_group_arn)
        for target in instances:
            removed = target_group.targets.pop(target["Id"], None)
            if removed is not None:
                target_group.deregistered_targets[target["Id"]] = removed
        simulator = LOAD_BALANCING.get()
        if simulator is not None:
            simulator.deregister(
                target_group.arn,
                [t["Id"] for t in instances],
                deregistration_delay(target_group),
            )

    motopatch.replace(ELBv2Backend, "register_targets", register_targets)
    motopatch.replace(ELBv2Backend, "deregister_targets", deregister_targets)


def _patch_health() -> None:
    """DescribeTargetHealth from the simulator; terminated and deleted things leave it."""
    from moto.elbv2.models import ELBv2Backend, FakeHealthStatus

    original_terminated = ELBv2Backend.notify_terminate_instances
    original_delete = ELBv2Backend.delete_target_group

    def describe_target_health(self: Any, target_group_arn: str, targets: list[Any]) -> list[Any]:
        target_group = _target_group(self, target_group_arn)
        simulator = LOAD_BALANCING.get()
        if simulator is None:
            return [target_group.health_for(t, self.ec2_backend) for t in targets]
        asked = [(t["Id"], int(t["Port"]) if t.get("Port") else None) for t in targets]
        return [
            FakeHealthStatus(
                h.target_id,
                str(h.port),
                target_group.health_check_port,
                h.state,
                h.reason,
                h.description,
            )
            for h in simulator.describe(target_group.arn, asked or None)
        ]

    def notify_terminate_instances(self: Any, instance_ids: list[str]) -> None:
        original_terminated(self, instance_ids)
        simulator = LOAD_BALANCING.get()
        if simulator is not None:
            delays = {arn: deregistration_delay(tg) for arn, tg in self.target_groups.items()}
            simulator.instances_terminated(instance_ids, delays)

    def delete_target_group(self: Any, target_group_arn: str) -> Any:
        deleted = original_delete(self, target_group_arn)
        simulator = LOAD_BALANCING.get()
        if simulator is not None:
            simulator.forget(target_group_arn)
        return deleted

    motopatch.replace(ELBv2Backend, "describe_target_health", describe_target_health)
    motopatch.replace(ELBv2Backend, "notify_terminate_instances", notify_terminate_instances)
    motopatch.replace(ELBv2Backend, "delete_target_group", delete_target_group)


def install(cloud: Cloud) -> LoadBalancingSimulator:
    """Give ``cloud`` target health over simulated time; returns its simulator (idempotent)."""
    simulator = LOAD_BALANCING.get()
    if simulator is not None and simulator.clock is cloud.clock:
        return simulator
    from moto.elbv2.models import ELBv2Backend

    if not motopatch.is_patched(ELBv2Backend.describe_target_health):
        _patch_registration()
        _patch_health()
    simulator = LoadBalancingSimulator(cloud.clock, FleetProbe(cloud))
    LOAD_BALANCING.set(simulator)
    return simulator
