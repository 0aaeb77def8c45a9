"""Auto Scaling's moto adapter: routes moto's group launches and the lifecycle API to the
simulator (localcloud.sim.autoscaling), which holds the behaviour described there.

moto internals touched (each has a canary in
tests/unit/localcloud/test_moto_canaries_autoscaling.py):

* ``moto.autoscaling.models.FakeAutoScalingGroup.replace_autoscaling_group_instances``
  (wrapped): the one place a group launches instances (scale-out, initial capacity,
  replacement of a terminated instance).
* ``FakeAutoScalingGroup.active_instances`` (replaced): what counts toward desired capacity.
* ``FakeAutoScalingGroup.set_desired_capacity`` and ``FakeAutoScalingGroup.put_warm_pool``
  (wrapped): top the warm pool up.
* ``moto.autoscaling.models.AutoScalingBackend.describe_auto_scaling_instances`` (wrapped)
  and ``AutoScalingBackend.delete_warm_pool`` (wrapped): pool instances.
* ``AutoScalingBackend.enter_standby_instances`` and ``exit_standby_instances`` (replaced):
  the Standby simulator (localcloud.sim.standby), answered with moto's
  ``EnterStandbyActivity``/``ExitStandbyActivity`` (``instance.autoscaling_group``);
  ``AutoScalingBackend.update_attached_target_groups`` (replaced): only InService members
  registered, leavers deregistered (``FakeAutoScalingGroup.target_group_arns``,
  ``AutoScalingBackend.elbv2_backend``).
* ``AutoScalingBackend.resume_processes`` (wrapped): launch what the group is missing;
  ``FakeAutoScalingGroup.suspended_processes`` (read: ``ProcessName`` of each).
* ``moto.autoscaling.responses.AutoScalingResponse``: ``put_lifecycle_hook`` and
  ``create_auto_scaling_group`` (wrapped), ``describe_warm_pool`` (replaced),
  ``complete_lifecycle_action`` and ``record_lifecycle_action_heartbeat`` (added).
* Attributes read or set: ``LifecycleHook`` (``name``, ``lifecycle_transition``,
  ``heartbeat_timeout``, ``default_result``, ``global_timeout``, plus our
  ``notification_metadata``), ``InstanceState`` (``instance``, ``lifecycle_state``),
  ``FakeAutoScalingGroup`` (``instance_states``, ``warm_pool``, ``desired_capacity``,
  ``max_size``, ``arn``, ``autoscaling_backend``, ``ec2_backend``), ``FakeWarmPool``
  (``min_size``, ``max_group_prepared_capacity``, ``pool_state``).
"""

from __future__ import annotations

from typing import Any

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.autoscaling import (
    COUNTED_STATES,
    DEFAULT_REPLACEMENT_BUDGET,
    MAX_GLOBAL_TIMEOUT_SECONDS,
    SIMULATOR,
    AutoScalingSimulator,
    MotoGroup,
    MotoHook,
    MotoInstanceState,
    launch_suspended,
)
from localcloud.sim.standby import STANDBY, StandbySimulator, validation_error

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).


def _simulator() -> AutoScalingSimulator | None:
    """The simulator of the running LocalCloud, if it installed one (else plain moto)."""
    return SIMULATOR.get()


def _required() -> AutoScalingSimulator:
    return SIMULATOR.require("lifecycle actions need a running LocalCloud")


def _configure_hook(hook: MotoHook, spec: dict[str, Any]) -> None:
    """Keep what moto drops, and compute the global timeout as AWS does."""
    hook.notification_metadata = spec.get("NotificationMetadata")
    hook.notification_target_arn = spec.get("NotificationTargetARN")
    hook.role_arn = spec.get("RoleARN")
    hook.global_timeout = min(MAX_GLOBAL_TIMEOUT_SECONDS, 100 * int(hook.heartbeat_timeout))


def _patch_models() -> None:
    _patch_group_model()
    _patch_backend_model()


def _patch_group_model() -> None:
    """A group launches through the simulator (hooks, warm pool) and counts waiting instances."""
    from moto.autoscaling.models import FakeAutoScalingGroup

    original_replace = FakeAutoScalingGroup.replace_autoscaling_group_instances
    original_set_capacity = FakeAutoScalingGroup.set_desired_capacity
    original_put_pool = FakeAutoScalingGroup.put_warm_pool

    def replace_autoscaling_group_instances(
        self: MotoGroup, count_needed: int, propagated_tags: dict[str, str]
    ) -> None:
        simulator = _simulator()
        if simulator is None:
            original_replace(self, count_needed, propagated_tags)
            return
        simulator.launch_into_group(self, count_needed, propagated_tags, original_replace)

    def active_instances(self: MotoGroup) -> list[MotoInstanceState]:
        # moto counts only InService; with lifecycle hooks, waiting instances count too.
        return [s for s in self.instance_states if s.lifecycle_state in COUNTED_STATES]

    def set_desired_capacity(self: MotoGroup, new_capacity: int | None) -> None:
        original_set_capacity(self, new_capacity)
        simulator = _simulator()
        if simulator is not None:
            simulator.top_up_pool(self, original_replace)

    def put_warm_pool(self: MotoGroup, *args: Any, **kwargs: Any) -> None:
        original_put_pool(self, *args, **kwargs)
        simulator = _simulator()
        if simulator is not None:
            simulator.top_up_pool(self, original_replace)

    motopatch.replace(
        FakeAutoScalingGroup,
        "replace_autoscaling_group_instances",
        replace_autoscaling_group_instances,
    )
    motopatch.replace(FakeAutoScalingGroup, "active_instances", active_instances)
    motopatch.replace(FakeAutoScalingGroup, "set_desired_capacity", set_desired_capacity)
    motopatch.replace(FakeAutoScalingGroup, "put_warm_pool", put_warm_pool)


def _patch_backend_model() -> None:
    """The backend lists pool instances, deletes a pool's and launches when launch resumes."""
    from moto.autoscaling.models import AutoScalingBackend

    original_describe = AutoScalingBackend.describe_auto_scaling_instances
    original_delete_pool = AutoScalingBackend.delete_warm_pool
    original_resume = AutoScalingBackend.resume_processes

    def describe_auto_scaling_instances(
        self: Any, instance_ids: list[str]
    ) -> list[MotoInstanceState]:
        states: list[MotoInstanceState] = original_describe(self, instance_ids)
        simulator = _simulator()
        if simulator is not None:
            states += [
                s
                for s in simulator.all_pool_instances()
                if not instance_ids or s.instance_id in instance_ids
            ]
        return states

    def delete_warm_pool(self: Any, group_name: str) -> None:
        simulator = _simulator()
        if simulator is not None:
            simulator.delete_pool(self.describe_auto_scaling_groups([group_name])[0])
        original_delete_pool(self, group_name)

    def resume_processes(self: Any, group_name: str, scaling_processes: list[str]) -> None:
        group = self.autoscaling_groups[group_name]
        was_suspended = launch_suspended(group)
        original_resume(self, group_name, scaling_processes)
        if was_suspended and not launch_suspended(group) and _simulator() is not None:
            # Launch resumed: launch at once what the group is missing (and its pool).
            group.set_desired_capacity(group.desired_capacity)

    motopatch.replace(
        AutoScalingBackend, "describe_auto_scaling_instances", describe_auto_scaling_instances
    )
    motopatch.replace(AutoScalingBackend, "delete_warm_pool", delete_warm_pool)
    motopatch.replace(AutoScalingBackend, "resume_processes", resume_processes)


def _patch_standby() -> None:
    """EnterStandby/ExitStandby and attached target groups through the Standby simulator."""
    from moto.autoscaling.models import (
        AutoScalingBackend,
        EnterStandbyActivity,
        ExitStandbyActivity,
    )

    original_update = AutoScalingBackend.update_attached_target_groups
    original_enter = AutoScalingBackend.enter_standby_instances
    original_exit = AutoScalingBackend.exit_standby_instances

    def _group(backend: Any, group_name: str) -> MotoGroup:
        group = backend.autoscaling_groups.get(group_name)
        if group is None:
            raise validation_error(f"AutoScalingGroup name not found - {group_name}")
        return group

    def enter_standby_instances(
        self: Any, group_name: str, instance_ids: list[str], should_decrement: bool
    ) -> list[Any]:
        standby = STANDBY.get()
        if standby is None:  # plain moto (no LocalCloud running): moto's own Standby
            return list(original_enter(self, group_name, instance_ids, should_decrement))
        done = standby.enter(_group(self, group_name), instance_ids, bool(should_decrement))
        return [EnterStandbyActivity(instance, original) for instance, original in done]

    def exit_standby_instances(self: Any, group_name: str, instance_ids: list[str]) -> list[Any]:
        standby = STANDBY.get()
        if standby is None:
            return list(original_exit(self, group_name, instance_ids))
        done = standby.exit(_group(self, group_name), instance_ids)
        return [ExitStandbyActivity(instance, original) for instance, original in done]

    def update_attached_target_groups(self: Any, group_name: str) -> None:
        standby = STANDBY.get()
        if standby is None:
            original_update(self, group_name)
            return
        standby.sync(self.autoscaling_groups[group_name])

    motopatch.replace(AutoScalingBackend, "enter_standby_instances", enter_standby_instances)
    motopatch.replace(AutoScalingBackend, "exit_standby_instances", exit_standby_instances)
    motopatch.replace(
        AutoScalingBackend, "update_attached_target_groups", update_attached_target_groups
    )


def _patch_responses() -> None:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.responses import ActionResult, EmptyResult

    original_put_hook = AutoScalingResponse.put_lifecycle_hook
    original_create_group = AutoScalingResponse.create_auto_scaling_group

    def put_lifecycle_hook(self: Any) -> Any:
        result = original_put_hook(self)
        [hook] = self.autoscaling_backend.describe_lifecycle_hooks(
            self._get_param("AutoScalingGroupName"), [self._get_param("LifecycleHookName")]
        )
        _configure_hook(
            hook,
            {
                "NotificationMetadata": self._get_param("NotificationMetadata"),
                "NotificationTargetARN": self._get_param("NotificationTargetARN"),
                "RoleARN": self._get_param("RoleARN"),
            },
        )
        return result

    def create_auto_scaling_group(self: Any) -> Any:
        # Hooks named at creation must hold the initial capacity: create them first.
        backend = self.autoscaling_backend
        group_name = self._get_param("AutoScalingGroupName")
        specs = self._get_param("LifecycleHookSpecificationList", []) or []
        for spec in specs:
            hook = backend.create_lifecycle_hook(
                name=spec["LifecycleHookName"],
                as_name=group_name,
                transition=spec["LifecycleTransition"],
                timeout=spec.get("HeartbeatTimeout"),
                result=spec.get("DefaultResult"),
            )
            _configure_hook(hook, spec)
        try:
            return original_create_group(self)
        except Exception:
            for spec in specs:
                backend.delete_lifecycle_hook(group_name, spec["LifecycleHookName"])
            raise

    def describe_warm_pool(self: Any) -> Any:
        group_name = self._get_param("AutoScalingGroupName")
        warm_pool = self.autoscaling_backend.describe_warm_pool(group_name=group_name)
        simulator = _simulator()
        instances = simulator.pool_instances(group_name) if simulator is not None else []
        return ActionResult({"WarmPoolConfiguration": warm_pool, "Instances": instances})

    def complete_lifecycle_action(self: Any) -> Any:
        _required().complete(
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            self._get_param("LifecycleActionResult"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        _required().heartbeat(
            self._get_param("AutoScalingGroupName"),
            self._get_param("LifecycleHookName"),
            token=self._get_param("LifecycleActionToken"),
            instance_id=self._get_param("InstanceId"),
        )
        return EmptyResult()

    motopatch.replace(AutoScalingResponse, "put_lifecycle_hook", put_lifecycle_hook)
    motopatch.replace(AutoScalingResponse, "create_auto_scaling_group", create_auto_scaling_group)
    motopatch.replace(AutoScalingResponse, "describe_warm_pool", describe_warm_pool)
    motopatch.replace(AutoScalingResponse, "complete_lifecycle_action", complete_lifecycle_action)
    motopatch.replace(
        AutoScalingResponse, "record_lifecycle_action_heartbeat", record_lifecycle_action_heartbeat
    )


def install(
    cloud: Cloud, *, replacement_budget: int | None = DEFAULT_REPLACEMENT_BUDGET
) -> AutoScalingSimulator:
    """Give ``cloud`` lifecycle hooks and warm pools; returns its simulator (idempotent).

    moto is patched once per process; the patches act only while ``cloud`` is the running
    LocalCloud and behave as plain moto otherwise.
    """
    simulator = SIMULATOR.get()
    if simulator is not None and simulator.cloud is cloud:
        return simulator
    # moto's Auto Scaling models, imported when a cloud starts (not when this module loads).
    from moto.autoscaling.models import FakeAutoScalingGroup

    if not motopatch.is_patched(FakeAutoScalingGroup.replace_autoscaling_group_instances):
        _patch_models()
        _patch_responses()
        _patch_standby()
    simulator = AutoScalingSimulator(cloud, replacement_budget=replacement_budget)
    standby = StandbySimulator(cloud)
    simulator.in_service_listeners.append(standby.in_service)
    SIMULATOR.set(simulator)
    STANDBY.set(standby)
    return simulator
