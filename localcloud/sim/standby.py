"""Auto Scaling Standby and the target groups attached to a group, on the local cloud.

    asg.enter_standby(AutoScalingGroupName=g, InstanceIds=[i], ShouldDecrementDesiredCapacity=True)
    # -> EnteringStandby, deregistered from the group's target groups (draining) -> Standby
    asg.exit_standby(AutoScalingGroupName=g, InstanceIds=[i])
    # -> Pending -> InService, registered again (target health "initial")

moto 5.2.5 puts an instance straight into ``Standby`` (or ``InService``) whatever its state,
never validates, never touches the target groups, and registers *every* member of a group
(waiting, standby) in its target groups whenever the group's capacity is set. AWS (EC2 Auto
Scaling user guide, "Temporarily remove instances from your Auto Scaling group",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-enter-exit-standby.html, and
"Amazon EC2 Auto Scaling instance lifecycle"):

* only an ``InService`` instance may enter Standby ("ValidationError: The instance i-... is
  not in InService."), only a ``Standby`` one may leave it ("... is not in Standby."), and an
  instance of another group is "not part of Auto Scaling group <name>.";
* with ``ShouldDecrementDesiredCapacity`` the desired capacity drops by the number of
  instances (refused below the minimum: "AutoScalingGroup <name> has min-size=..,
  max-size=.., and desired-size=... To place into standby 1 instance, please update the
  AutoScalingGroup sizes appropriately."), so the group does not replace them; without it
  the group launches replacements. ExitStandby increments it again (refused above the
  maximum, by analogy: the documentation gives no message);
* the instance is deregistered from the group's target groups; it stays ``EnteringStandby``
  while they drain (the longest ``deregistration_delay.timeout_seconds``; the activity is
  "WaitingForELBConnectionDraining", as aws-samples/aws-codedeploy-samples#68 records), then
  ``Standby``. Standby instances do not count toward desired capacity, so one terminated
  in Standby is not replaced;
* on ExitStandby the instance is ``Pending``, registered with the target groups "before it
  marks the instance as InService", then ``InService`` (not held by launch hooks here).
* a member of a group with target groups is registered when it enters ``InService`` (not
  while ``Pending:Wait``), and deregistered when it leaves the group.
"""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, cast

from localcloud.core.context import Cloud
from localcloud.core.registry import Slot
from localcloud.sim.load_balancing import DEFAULT_DEREGISTRATION_DELAY_SECONDS, LOAD_BALANCING

LOG = logging.getLogger(__name__)

MotoGroup = Any  # moto.autoscaling.models.FakeAutoScalingGroup
MotoInstanceState = Any  # moto.autoscaling.models.InstanceState


def validation_error(message: str) -> Exception:
    from moto.autoscaling.exceptions import ValidationError

    return cast(Exception, ValidationError(message))


def _sizes(group: MotoGroup) -> str:
    return (
        f"AutoScalingGroup {group.name} has min-size={group.min_size}, "
        f"max-size={group.max_size}, and desired-size={group.desired_capacity}."
    )


def _instances(count: int) -> str:
    return f"{count} instance" if count == 1 else f"{count} instances"


class StandbySimulator:
    """EnterStandby/ExitStandby and the registration of group members in target groups."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.clock = cloud.clock
        self._lock = threading.RLock()
        self._members: dict[str, set[str]] = {}  # group -> ids it registered in its groups

    # --- target groups of a group -------------------------------------------------------------

    def _target_groups(self, group: MotoGroup) -> list[Any]:
        backend = group.autoscaling_backend.elbv2_backend
        return [
            backend.target_groups[a] for a in group.target_group_arns if a in backend.target_groups
        ]

    def _register(self, group: MotoGroup, instance_id: str) -> None:
        simulator = LOAD_BALANCING.get()
        backend = group.autoscaling_backend.elbv2_backend
        for target_group in self._target_groups(group):
            if simulator is not None and simulator.is_registered(target_group.arn, instance_id):
                continue
            try:
                backend.register_targets(
                    target_group.arn, [{"Id": instance_id, "Port": target_group.port}]
                )
            except Exception as error:  # moto's InvalidTarget: not running (stopped)
                LOG.warning("%s not registered in %s: %s", instance_id, target_group.name, error)
        self._members.setdefault(group.name, set()).add(instance_id)

    def _deregister(self, group: MotoGroup, instance_id: str) -> int:
        """Deregister from the group's target groups; returns the longest drain (seconds)."""
        backend = group.autoscaling_backend.elbv2_backend
        longest = 0
        for target_group in self._target_groups(group):
            backend.deregister_targets(target_group.arn, [{"Id": instance_id}])
            delay = target_group.attributes.get(
                "deregistration_delay.timeout_seconds", DEFAULT_DEREGISTRATION_DELAY_SECONDS
            )
            longest = max(longest, int(delay))
        self._members.get(group.name, set()).discard(instance_id)
        return longest

    def in_service(self, group: MotoGroup, state: MotoInstanceState) -> None:
        """An instance entered InService: register it in the group's target groups."""
        with self._lock:
            self._register(group, state.instance.id)

    def sync(self, group: MotoGroup) -> None:
        """moto's update_attached_target_groups: InService members registered, leavers drained."""
        with self._lock:
            in_group = {s.instance.id for s in group.instance_states}
            for state in group.instance_states:
                if state.lifecycle_state == "InService":
                    self._register(group, state.instance.id)
            for instance_id in sorted(self._members.get(group.name, set()) - in_group):
                self._deregister(group, instance_id)

    # --- EnterStandby / ExitStandby ---------------------------------------------------------------

    def _states(self, group: MotoGroup, instance_ids: list[str], wanted: str) -> list[Any]:
        states = []
        for instance_id in instance_ids:
            state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
            if state is None:
                raise validation_error(
                    f"The instance {instance_id} is not part of Auto Scaling group {group.name}."
                )
            if state.lifecycle_state != wanted:
                raise validation_error(f"The instance {instance_id} is not in {wanted}.")
            states.append(state)
        return states

    def enter(
        self, group: MotoGroup, instance_ids: list[str], should_decrement: bool
    ) -> list[tuple[Any, int]]:
        """EnterStandby; returns (moto instance, capacity before) per instance, for activities."""
        with self._lock:
            states = self._states(group, instance_ids, "InService")
            original = int(group.desired_capacity or 0)
            if should_decrement and original - len(states) < int(group.min_size or 0):
                raise validation_error(
                    f"{_sizes(group)} To place into standby {_instances(len(states))}, please "
                    "update the AutoScalingGroup sizes appropriately."
                )
            for state in states:
                state.lifecycle_state = "EnteringStandby"
                drain = self._deregister(group, state.instance.id)
                self.clock.call_later(
                    drain,
                    functools.partial(self._standby, group, state),
                    f"autoscaling:standby:{state.instance.id}",
                )
            if should_decrement:
                group.desired_capacity = original - len(states)
            group.set_desired_capacity(group.desired_capacity)
            return [(state.instance, original) for state in states]

    def _standby(self, group: MotoGroup, state: MotoInstanceState) -> None:
        with self._lock:
            if state.lifecycle_state == "EnteringStandby" and state in group.instance_states:
                state.lifecycle_state = "Standby"

    def exit(self, group: MotoGroup, instance_ids: list[str]) -> list[tuple[Any, int]]:
        """ExitStandby; returns (moto instance, capacity before) per instance, for activities."""
        with self._lock:
            states = self._states(group, instance_ids, "Standby")
            original = int(group.desired_capacity or 0)
            if original + len(states) > int(group.max_size):
                raise validation_error(
                    f"{_sizes(group)} To exit standby {_instances(len(states))}, please "
                    "update the AutoScalingGroup sizes appropriately."
                )
            for state in states:
                state.lifecycle_state = "Pending"
                self.clock.call_later(
                    0,
                    functools.partial(self._back_in_service, group, state),
                    f"autoscaling:exit-standby:{state.instance.id}",
                )
            group.desired_capacity = original + len(states)
            group.set_desired_capacity(group.desired_capacity)
            return [(state.instance, original) for state in states]

    def _back_in_service(self, group: MotoGroup, state: MotoInstanceState) -> None:
        with self._lock:
            if state.lifecycle_state == "Pending" and state in group.instance_states:
                self._register(group, state.instance.id)
                state.lifecycle_state = "InService"


# The running cloud's simulator (installed by localcloud.adapters.autoscaling).
STANDBY: Slot[StandbySimulator] = Slot("standby")
