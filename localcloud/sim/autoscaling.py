"""Auto Scaling on the local cloud: launch lifecycle hooks, warm pools and instance events.

    autoscaling = cloud.autoscaling                    # localcloud.adapters.autoscaling.install
    autoscaling.on_instance_launched(assign_behaviour) # (instance_id, group_name) per launch
    asg.set_desired_capacity(...)                      # new instance -> Pending:Wait + event
    asg.complete_lifecycle_action(...)                 # -> Pending:Proceed -> InService
    autoscaling.lifecycle_actions                      # what happened, for the report

moto 5.2.5 stores lifecycle hooks but puts every new instance straight InService, emits no
events, drops ``NotificationMetadata`` and ``LifecycleHookSpecificationList``, has no
``CompleteLifecycleAction``/``RecordLifecycleActionHeartbeat``, and keeps a warm pool's
configuration without ever putting an instance in it. This extension adds what fleetpatch's
patch-on-launch path depends on, following the EC2 Auto Scaling documentation:

* A launch hook (``autoscaling:EC2_INSTANCE_LAUNCHING``) holds each new instance in
  ``Pending:Wait`` and emits "EC2 Instance-launch Lifecycle Action" (one token per hook).
  The instance goes ``Pending:Proceed`` and then, once the clock moves, ``InService`` when
  every hook has had CONTINUE; the first ABANDON terminates it and the group launches a
  replacement, since desired capacity is unchanged. Instances waiting count toward
  desired capacity, as in AWS.
* The wait ends at the heartbeat deadline (``HeartbeatTimeout`` after the start or after the
  last ``RecordLifecycleActionHeartbeat``) or at the global timeout (min(48 h, 100 x
  heartbeat) after the start), whichever comes first; then the hook's ``DefaultResult``
  applies.
* ``SuspendProcesses`` / ``ResumeProcesses`` with ``Launch``: while Launch is suspended
  the group launches nothing (no scale-out, no replacement of an abandoned instance, no
  warm pool top-up, nothing taken from the pool) and stays below its desired capacity;
  resuming Launch launches at once what the group is missing, as AWS does ("When you
  resume the Launch process, Amazon EC2 Auto Scaling immediately replaces any instances
  that it terminated during the time that Launch was suspended"). moto stores suspended
  processes but launches regardless. Other processes are stored only.
* Replacements of abandoned instances are bounded by ``replacement_budget`` per group
  (default 10). AWS keeps replacing forever; a scenario where every launch is abandoned
  would otherwise never settle. Past the budget the group stays below desired capacity and
  the lifecycle action's ``reason`` says so. ``None`` restores AWS's unbounded behaviour.
* Warm pools: the pool holds max(MinSize, MaxGroupPreparedCapacity (default MaxSize) -
  DesiredCapacity) instances, launched with Origin EC2 / Destination WarmPool
  (``Warmed:Pending:Wait`` under a launch hook), then ``Warmed:Stopped`` (stopped in EC2),
  ``Warmed:Running`` or ``Warmed:Hibernated`` (stopped in EC2: moto cannot hibernate). A
  scale-out takes ready pool instances first (Origin WarmPool / Destination
  AutoScalingGroup, started again if stopped) and launches the rest from EC2; the pool is
  topped up after every capacity change. ``DescribeWarmPool`` and
  ``DescribeAutoScalingInstances`` list pool instances. Not covered: ``ReuseOnScaleIn``
  (scaled-in instances are terminated), shrinking an oversized pool, ``ForceDelete`` of a
  group with a pool.
* Every instance the group starts, stops or terminates emits "EC2 Instance State-change
  Notification" (``localcloud.core.emitters.emit_instance_state``).
* Not covered: termination hooks (``autoscaling:EC2_INSTANCE_TERMINATING``) are stored
  but never hold an instance; hook notification targets (SNS/SQS) are not notified, only
  EventBridge.

All events are emitted on zero-delay timers, so they are delivered after the API call that
caused them returns, as EventBridge does, and nothing re-enters moto inside a request.

"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from localcloud.core.context import Cloud
from localcloud.core.emitters import LIFECYCLE_DETAIL_TYPE, emit_instance_state, emit_soon
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    from localcloud.core.clock import TimerHandle

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)

LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
MAX_GLOBAL_TIMEOUT_SECONDS = 172_800  # 48 hours
DEFAULT_REPLACEMENT_BUDGET = 10
LAUNCH_PROCESS = "Launch"

Result = Literal["CONTINUE", "ABANDON"]
Place = Literal["EC2", "AutoScalingGroup", "WarmPool"]
Ending = Literal["CompleteLifecycleAction", "HeartbeatTimeout", "GlobalTimeout", "InstanceGone"]

# Lifecycle states that count toward desired capacity (Standby and Warmed:* do not).
COUNTED_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})
# Warm pool states from which a scale-out can take the instance.
_READY_IN_POOL = frozenset({"Warmed:Stopped", "Warmed:Running", "Warmed:Hibernated"})
_WAITING_STATES = frozenset({"Pending:Wait", "Warmed:Pending:Wait"})

# moto objects are untyped; these names say which one a parameter holds.
MotoGroup = Any  # moto.autoscaling.models.FakeAutoScalingGroup
MotoInstanceState = Any  # moto.autoscaling.models.InstanceState
MotoHook = Any  # moto.autoscaling.models.LifecycleHook


@dataclass
class LifecycleAction:
    """One lifecycle hook's hold on one instance: what a ``LifecycleActionToken`` names."""

    token: str
    instance_id: str
    group: str
    hook: str
    origin: Place
    destination: Place
    heartbeat_timeout: int
    global_timeout: int
    default_result: Result
    started: datetime
    heartbeat_deadline: datetime
    heartbeats: int = 0
    result: Result | None = None  # None while the instance waits
    ended: datetime | None = None
    ended_by: Ending | None = None
    reason: str | None = None
    timer: TimerHandle | None = field(default=None, repr=False, compare=False)

    @property
    def global_deadline(self) -> datetime:
        return self.started + timedelta(seconds=self.global_timeout)

    @property
    def expires(self) -> datetime:
        return min(self.heartbeat_deadline, self.global_deadline)

    @property
    def open(self) -> bool:
        return self.ended is None

    def as_dict(self) -> dict[str, Any]:
        """The record for the scenario report's ``lifecycle_actions`` (JSON-ready)."""
        return {
            "instance_id": self.instance_id,
            "group": self.group,
            "hook": self.hook,
            "token": self.token,
            "origin": self.origin,
            "destination": self.destination,
            "started": self.started.isoformat(),
            "when": self.ended.isoformat() if self.ended else None,
            "result": self.result,
            "ended_by": self.ended_by,
            "heartbeats": self.heartbeats,
            "reason": self.reason,
        }


def launch_suspended(group: MotoGroup) -> bool:
    """Is the group's Launch process suspended (SuspendProcesses)?"""
    return any(p["ProcessName"] == LAUNCH_PROCESS for p in group.suspended_processes)


def _validation_error(message: str) -> Exception:
    from moto.autoscaling.exceptions import ValidationError

    return cast(Exception, ValidationError(message))


class AutoScalingSimulator:
    """Lifecycle hooks and warm pools of one LocalCloud's Auto Scaling groups."""

    def __init__(
        self, cloud: Cloud, *, replacement_budget: int | None = DEFAULT_REPLACEMENT_BUDGET
    ) -> None:
        self.cloud = cloud
        self.clock = cloud.clock
        self.replacement_budget = replacement_budget
        self._lock = threading.RLock()
        self._actions: list[LifecycleAction] = []
        self._waiting: dict[str, list[LifecycleAction]] = {}  # instance id -> its open actions
        self._pools: dict[str, list[MotoInstanceState]] = {}  # group name -> warm instances
        self._replacements: dict[str, int] = {}
        self._listeners: list[Callable[[str, str], None]] = []
        # Called when an instance enters InService after its launch hooks (target groups).
        self.in_service_listeners: list[Callable[[MotoGroup, MotoInstanceState], None]] = []

    # --- for the scenario runner ------------------------------------------------------------

    def on_instance_launched(self, callback: Callable[[str, str], None]) -> None:
        """Call ``callback(instance_id, group_name)`` for every instance a group launches.

        Called on a zero-delay timer at the launch's simulated time (before the instance's
        events), so it may use the AWS APIs; the fleet simulator counts an agent's delay
        from the launch, so assigning a behaviour then is not late.
        """
        with self._lock:
            self._listeners.append(callback)

    @property
    def lifecycle_actions(self) -> list[LifecycleAction]:
        """Every lifecycle action so far, in start order (open ones have ``result`` None)."""
        with self._lock:
            return list(self._actions)

    def scale_out(self, group: str, count: int) -> list[str]:
        """Raise ``group``'s desired capacity by ``count`` (SetDesiredCapacity).

        Returns the instances that joined the group: launched, or taken from its warm pool.
        """
        client = self.cloud.client("autoscaling")
        before = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        [described] = before["AutoScalingGroups"]
        known = {i["InstanceId"] for i in described["Instances"]}
        client.set_desired_capacity(
            AutoScalingGroupName=group, DesiredCapacity=described["DesiredCapacity"] + count
        )
        after = client.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        return [
            i["InstanceId"]
            for i in after["AutoScalingGroups"][0]["Instances"]
            if i["InstanceId"] not in known
        ]

    # --- launches (called from the patched group) ---------------------------------------------

    def launch_into_group(
        self,
        group: MotoGroup,
        count: int,
        propagated_tags: dict[str, str],
        launch: Callable[[MotoGroup, int, dict[str, str]], None],
    ) -> None:
        """Bring ``count`` instances into ``group``: from its warm pool first, then from EC2."""
        if launch_suspended(group):
            LOG.info(
                "group %s: Launch is suspended, %d instance(s) not launched", group.name, count
            )
            return
        with self._lock:
            for state in self._take_from_pool(group, count):
                group.instance_states.append(state)
                self._arrive(group, state, origin="WarmPool", destination="AutoScalingGroup")
                count -= 1
            if count > 0:
                for state in self._launch(group, count, propagated_tags, launch):
                    self._arrive(group, state, origin="EC2", destination="AutoScalingGroup")

    def top_up_pool(
        self, group: MotoGroup, launch: Callable[[MotoGroup, int, dict[str, str]], None]
    ) -> None:
        """Launch instances into ``group``'s warm pool until it has its target size."""
        pool = getattr(group, "warm_pool", None)
        if pool is None or launch_suspended(group):
            return
        with self._lock:
            prepared = pool.max_group_prepared_capacity
            if prepared is None or int(prepared) < 0:
                prepared = group.max_size
            target = max(int(pool.min_size or 0), int(prepared) - int(group.desired_capacity or 0))
            missing = target - len(self._pools.setdefault(group.name, []))
            if missing <= 0:
                return
            for state in self._launch(group, missing, group.get_propagated_tags(), launch):
                group.instance_states.remove(state)
                self._pools[group.name].append(state)
                self._arrive(group, state, origin="EC2", destination="WarmPool")

    def pool_instances(self, group_name: str) -> list[MotoInstanceState]:
        with self._lock:
            return list(self._pools.get(group_name, []))

    def all_pool_instances(self) -> list[MotoInstanceState]:
        with self._lock:
            return [state for pool in self._pools.values() for state in pool]

    def delete_pool(self, group: MotoGroup) -> None:
        """DeleteWarmPool: the pool's instances are terminated."""
        with self._lock:
            for state in self._pools.pop(group.name, []):
                self._close_actions(state.instance_id, "warm pool deleted")
                self._terminate(group, state)

    def _launch(
        self,
        group: MotoGroup,
        count: int,
        propagated_tags: dict[str, str],
        launch: Callable[[MotoGroup, int, dict[str, str]], None],
    ) -> list[MotoInstanceState]:
        before = {id(state) for state in group.instance_states}
        launch(group, count, propagated_tags)
        launched = [state for state in group.instance_states if id(state) not in before]
        for state in launched:
            for listener in self._listeners:
                self.clock.call_later(
                    0,
                    functools.partial(listener, state.instance_id, group.name),
                    f"autoscaling:launched:{state.instance_id}",
                )
            # EC2's pending and running events: emitted by RunInstances (the fleet's on_launch).
        return launched

    def _take_from_pool(self, group: MotoGroup, count: int) -> list[MotoInstanceState]:
        pool = self._pools.get(group.name, [])
        taken = [state for state in pool if state.lifecycle_state in _READY_IN_POOL][:count]
        for state in taken:
            pool.remove(state)
            if state.instance.state == "stopped":
                group.ec2_backend.start_instances([state.instance_id])
                emit_instance_state(self.cloud, state.instance_id, "pending")
                emit_instance_state(self.cloud, state.instance_id, "running")
        return taken

    def _arrive(
        self, group: MotoGroup, state: MotoInstanceState, *, origin: Place, destination: Place
    ) -> None:
        """An instance reached ``destination``: hold it under the launch hooks, or let it in."""
        into_pool = destination == "WarmPool"
        hooks = [
            hook
            for hook in group.autoscaling_backend.describe_lifecycle_hooks(group.name)
            if hook.lifecycle_transition == LAUNCHING
        ]
        if not hooks:
            if into_pool:
                self._settle_in_pool(group, state)
            else:
                state.lifecycle_state = "InService"
            return
        state.lifecycle_state = "Warmed:Pending:Wait" if into_pool else "Pending:Wait"
        now = self.clock.now()
        actions = []
        for hook in hooks:
            action = LifecycleAction(
                token=str(uuid.uuid4()),
                instance_id=state.instance_id,
                group=group.name,
                hook=hook.name,
                origin=origin,
                destination=destination,
                heartbeat_timeout=int(hook.heartbeat_timeout),
                global_timeout=int(hook.global_timeout),
                default_result=hook.default_result,
                started=now,
                heartbeat_deadline=now + timedelta(seconds=int(hook.heartbeat_timeout)),
            )
            self._schedule_expiry(action)
            self._emit_lifecycle_action(group, action, getattr(hook, "notification_metadata", None))
            actions.append(action)
        self._actions.extend(actions)
        self._waiting[state.instance_id] = actions

    def _settle_in_pool(self, group: MotoGroup, state: MotoInstanceState) -> None:
        pool_state = group.warm_pool.pool_state if group.warm_pool else "Stopped"
        state.lifecycle_state = f"Warmed:{pool_state}"
        if pool_state in {"Stopped", "Hibernated"} and state.instance.state == "running":
            group.ec2_backend.stop_instances([state.instance_id])
            emit_instance_state(self.cloud, state.instance_id, "stopping")
            emit_instance_state(self.cloud, state.instance_id, "stopped")

    # --- CompleteLifecycleAction / RecordLifecycleActionHeartbeat -----------------------------

    def complete(
        self,
        group_name: str,
        hook_name: str,
        result: str,
        *,
        token: str | None,
        instance_id: str | None,
    ) -> None:
        """CompleteLifecycleAction; raises moto's ValidationError as AWS does."""
        if result not in {"CONTINUE", "ABANDON"}:
            raise _validation_error(
                f"Value '{result}' at 'lifecycleActionResult' failed to satisfy constraint: "
                "Member must be CONTINUE or ABANDON"
            )
        with self._lock:
            action = self._find(group_name, hook_name, token, instance_id)
            self._end(action, cast(Result, result), "CompleteLifecycleAction", None)

    def heartbeat(
        self, group_name: str, hook_name: str, *, token: str | None, instance_id: str | None
    ) -> None:
        """RecordLifecycleActionHeartbeat: restart the heartbeat timeout (within the global one)."""
        with self._lock:
            action = self._find(group_name, hook_name, token, instance_id)
            action.heartbeats += 1
            action.heartbeat_deadline = self.clock.now() + timedelta(
                seconds=action.heartbeat_timeout
            )
            self._schedule_expiry(action)

    def _find(
        self, group_name: str, hook_name: str, token: str | None, instance_id: str | None
    ) -> LifecycleAction:
        if not token and not instance_id:
            raise _validation_error(
                "A lifecycle action token or an instance ID is required to identify the "
                "lifecycle action"
            )
        for action in [a for actions in self._waiting.values() for a in actions]:
            if (
                action.open
                and action.group == group_name
                and action.hook == hook_name
                and (action.token == token if token else action.instance_id == instance_id)
            ):
                if self._waiting_state(action) is not None:
                    return action
                self._close_actions(action.instance_id, "the instance left its wait state")
        if token:
            raise _validation_error(f"No active Lifecycle Action found with token {token}")
        raise _validation_error(f"No active Lifecycle Action found with instance ID {instance_id}")

    def _schedule_expiry(self, action: LifecycleAction) -> None:
        if action.timer is not None:
            action.timer.cancel()
        action.timer = self.clock.call_at(
            action.expires,
            functools.partial(self._expire, action),
            f"autoscaling:lifecycle-timeout:{action.instance_id}",
        )

    def _expire(self, action: LifecycleAction) -> None:
        with self._lock:
            if not action.open:
                return
            if self._waiting_state(action) is None:
                self._close_actions(action.instance_id, "the instance left its wait state")
                return
            if self.clock.now() >= action.global_deadline:
                ended_by: Ending = "GlobalTimeout"
                reason = f"GlobalTimeout of {action.global_timeout} s elapsed"
            else:
                ended_by = "HeartbeatTimeout"
                reason = f"HeartbeatTimeout of {action.heartbeat_timeout} s elapsed"
            reason += f"; DefaultResult {action.default_result} applied"
            self._end(action, action.default_result, ended_by, reason)

    def _end(
        self, action: LifecycleAction, result: Result, ended_by: Ending, reason: str | None
    ) -> None:
        self._record_end(action, result, ended_by, reason)
        siblings = self._waiting.get(action.instance_id, [])
        if result == "ABANDON":
            for other in siblings:
                if other.open:
                    self._record_end(
                        other,
                        "ABANDON",
                        ended_by,
                        f"instance abandoned by lifecycle hook {action.hook}",
                    )
            self._waiting.pop(action.instance_id, None)
            self._abandon(action)
        elif all(other.result == "CONTINUE" for other in siblings):
            self._waiting.pop(action.instance_id, None)
            self._proceed(action)

    def _record_end(
        self, action: LifecycleAction, result: Result | None, ended_by: Ending, reason: str | None
    ) -> None:
        action.result = result
        action.ended = self.clock.now()
        action.ended_by = ended_by
        action.reason = reason
        if action.timer is not None:
            action.timer.cancel()
            action.timer = None

    def _close_actions(self, instance_id: str, reason: str) -> None:
        """The instance is gone (scale-in, TerminateInstances): its actions end with it."""
        for action in self._waiting.pop(instance_id, []):
            if action.open:
                self._record_end(action, None, "InstanceGone", reason)

    # --- where an instance goes after its wait --------------------------------------------------

    def _group(self, name: str) -> MotoGroup | None:
        from moto.autoscaling.models import autoscaling_backends

        backend = autoscaling_backends[self.cloud.account_id][self.cloud.region]
        return backend.autoscaling_groups.get(name)

    def _waiting_state(self, action: LifecycleAction) -> MotoInstanceState | None:
        group = self._group(action.group)
        if group is None:
            return None
        states = (
            self._pools.get(group.name, [])
            if action.destination == "WarmPool"
            else group.instance_states
        )
        return next(
            (
                s
                for s in states
                if s.instance_id == action.instance_id and s.lifecycle_state in _WAITING_STATES
            ),
            None,
        )

    def _proceed(self, action: LifecycleAction) -> None:
        state = self._waiting_state(action)
        group = self._group(action.group)
        if state is None or group is None:
            return
        into_pool = action.destination == "WarmPool"
        proceeding = "Warmed:Pending:Proceed" if into_pool else "Pending:Proceed"
        state.lifecycle_state = proceeding

        def arrive() -> None:
            with self._lock:
                if state.lifecycle_state != proceeding:
                    return
                if into_pool:
                    self._settle_in_pool(group, state)
                    return
                for listener in self.in_service_listeners:
                    listener(group, state)
                state.lifecycle_state = "InService"

        self.clock.call_later(0, arrive, f"autoscaling:proceed:{action.instance_id}")

    def _abandon(self, action: LifecycleAction) -> None:
        state = self._waiting_state(action)
        group = self._group(action.group)
        if state is None or group is None:
            return
        if action.destination == "WarmPool":
            self._pools[group.name].remove(state)
        else:
            group.instance_states.remove(state)
        self._terminate(group, state)
        if launch_suspended(group):
            # Replaced when Launch is resumed (see resume_processes), not now.
            action.reason = (
                f"{action.reason + '; ' if action.reason else ''}not replaced: the group's "
                "Launch process is suspended"
            )
            return
        used = self._replacements.get(group.name, 0)
        if self.replacement_budget is not None and used >= self.replacement_budget:
            LOG.warning(
                "group %s: not replacing abandoned %s, replacement budget of %d used up",
                group.name,
                action.instance_id,
                self.replacement_budget,
            )
            action.reason = (
                f"{action.reason + '; ' if action.reason else ''}not replaced: the simulator's "
                f"replacement budget of {self.replacement_budget} is used up"
            )
            return
        self._replacements[group.name] = used + 1
        # The group is below desired capacity (or its pool below target): moto's own
        # capacity logic launches the replacement, through our wrappers.
        group.set_desired_capacity(group.desired_capacity)

    def _terminate(self, group: MotoGroup, state: MotoInstanceState) -> None:
        group.ec2_backend.terminate_instances([state.instance_id])
        emit_instance_state(self.cloud, state.instance_id, "shutting-down")
        emit_instance_state(self.cloud, state.instance_id, "terminated")

    def _emit_lifecycle_action(
        self, group: MotoGroup, action: LifecycleAction, metadata: str | None
    ) -> None:
        detail: dict[str, Any] = {
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": action.group,
            "LifecycleHookName": action.hook,
            "EC2InstanceId": action.instance_id,
            "LifecycleTransition": LAUNCHING,
        }
        if metadata:
            detail["NotificationMetadata"] = metadata
        detail["Origin"] = action.origin
        detail["Destination"] = action.destination
        arn = group.arn
        emit_soon(
            self.cloud,
            "aws.autoscaling",
            LIFECYCLE_DETAIL_TYPE,
            detail,
            [arn],
            f"autoscaling:event:{action.instance_id}",
        )


# The running cloud's simulator (installed by localcloud.adapters.autoscaling).
SIMULATOR: Slot[AutoScalingSimulator] = Slot("autoscaling")
