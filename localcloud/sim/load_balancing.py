"""Elastic Load Balancing (v2) target health on the local cloud, derived lazily from time.

    lb = cloud.load_balancing                          # localcloud.adapters.elbv2.install
    elbv2.register_targets(...)                        # -> initial, then healthy
    elbv2.describe_target_health(...)                  # states and reasons as AWS reports them
    lb.healthy_counts("web-tg")                        # [(time, healthy, registered), ...]

moto 5.2.5 reports every registered target ``healthy`` the moment it is registered and
forgets a deregistered one at once. AWS health-checks each target every
``HealthCheckIntervalSeconds`` from its registration
(https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html):

* ``initial``: ``Elb.RegistrationInProgress`` until the first health check, then
  ``Elb.InitialHealthChecking`` until ``HealthyThresholdCount`` consecutive checks pass
  (-> ``healthy``) or ``UnhealthyThresholdCount`` consecutive checks fail (-> ``unhealthy``);
* ``healthy`` -> ``unhealthy`` after ``UnhealthyThresholdCount`` consecutive failures, and
  back after ``HealthyThresholdCount`` consecutive passes. The reason is ``Target.Timeout``
  while the instance does not answer at all (rebooting, stopped) and
  ``Target.FailedHealthChecks`` while it is up but its application fails;
* ``draining`` (``Target.DeregistrationInProgress``) for the target group's
  ``deregistration_delay.timeout_seconds`` after DeregisterTargets (the value when the
  target was deregistered), then the target is no longer registered: left out of
  DescribeTargetHealth, and ``unused`` / ``Target.NotRegistered`` when asked for by id
  (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DeregisterTargets.html);
* a stopped instance is ``unused`` / ``Target.InvalidState`` while stopped; a terminated one
  is deregistered when it terminates (it drains, then is gone).

A check passes when the instance's application answers at the check's time
(``ManagedInstance.app_healthy``, asked through a :class:`TargetProbe`). Nothing runs per
health check: each target's checks are replayed, from where the last question stopped, up
to the time of the next question (DescribeTargetHealth, a registration change, or
``healthy_counts``). The replay asks the probe about past times, which is exact as long as
the instance's health is a function of time (reboots are recorded with their times).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from localcloud.core.clock import SimClock
from localcloud.core.registry import Slot

INITIAL = "initial"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DRAINING = "draining"
UNUSED = "unused"
GONE = "gone"  # no longer registered (internal: never reported as a state)

# States in which a target is registered (draining ones are being deregistered).
REGISTERED_STATES = frozenset({INITIAL, HEALTHY, UNHEALTHY})
DEFAULT_DEREGISTRATION_DELAY_SECONDS = 300

_DESCRIPTIONS = {
    "Elb.RegistrationInProgress": "Target registration is in progress",
    "Elb.InitialHealthChecking": "Initial health checks in progress",
    "Target.Timeout": "Request timed out",
    "Target.FailedHealthChecks": "Health checks failed",
    "Target.DeregistrationInProgress": "Target deregistration is in progress",
    "Target.NotRegistered": "Target is not registered to the target group",
}


class TargetProbe(Protocol):
    """What the load balancer learns of a target (the adapter answers from the fleet and EC2)."""

    def check(self, target_id: str, when: datetime) -> str | None:
        """A health check at ``when``: None if it passes, else the failure's reason code."""
        ...

    def instance_state(self, target_id: str) -> str | None:
        """The EC2 state of the target now (``running``, ``stopped``, ...), None if unknown."""
        ...


@dataclass(frozen=True)
class HealthCheck:
    """A target group's health check settings (moto's defaults: 30 s, 5 and 2)."""

    interval_seconds: int = 30
    healthy_threshold: int = 5
    unhealthy_threshold: int = 2


@dataclass(frozen=True)
class TargetHealth:
    """One TargetHealthDescription."""

    target_id: str
    port: int
    state: str
    reason: str | None = None
    description: str | None = None


@dataclass
class Registration:
    """One registration of a target in a target group, from RegisterTargets to drained."""

    target_id: str
    port: int
    registered_at: datetime
    health_check: HealthCheck
    deregistered_at: datetime | None = None
    drain_seconds: int = 0
    transitions: list[tuple[datetime, str, str | None]] = field(default_factory=list)
    checks_done: int = 0
    passes: int = 0
    failures: int = 0

    def __post_init__(self) -> None:
        if not self.transitions:
            self.transitions.append((self.registered_at, INITIAL, "Elb.RegistrationInProgress"))

    @property
    def drained_at(self) -> datetime | None:
        if self.deregistered_at is None:
            return None
        return self.deregistered_at + timedelta(seconds=self.drain_seconds)

    def _check_time(self, index: int) -> datetime:
        return self.registered_at + timedelta(seconds=index * self.health_check.interval_seconds)

    def replay(self, probe: TargetProbe, until: datetime) -> None:
        """Run the health checks due after the last one replayed, up to ``until``."""
        end = until if self.deregistered_at is None else min(until, self.deregistered_at)
        while True:
            when = self._check_time(self.checks_done + 1)
            if when > end or (self.deregistered_at is not None and when >= self.deregistered_at):
                return
            self.checks_done += 1
            self._judge(when, probe.check(self.target_id, when))

    def _judge(self, when: datetime, failure: str | None) -> None:
        _, state, reason = self.transitions[-1]
        check = self.health_check
        if failure is None:
            self.passes, self.failures = self.passes + 1, 0
            if state != HEALTHY and self.passes >= check.healthy_threshold:
                self.transitions.append((when, HEALTHY, None))
            elif state == INITIAL and reason != "Elb.InitialHealthChecking":
                self.transitions.append((when, INITIAL, "Elb.InitialHealthChecking"))
            return
        self.passes, self.failures = 0, self.failures + 1
        worse = self.failures >= check.unhealthy_threshold
        if (state == UNHEALTHY and reason != failure) or (state != UNHEALTHY and worse):
            self.transitions.append((when, UNHEALTHY, failure))
        elif state == INITIAL and reason != "Elb.InitialHealthChecking":
            self.transitions.append((when, INITIAL, "Elb.InitialHealthChecking"))

    def deregister(self, when: datetime, drain_seconds: int) -> None:
        self.deregistered_at = when
        self.drain_seconds = drain_seconds
        self.transitions.append((when, DRAINING, "Target.DeregistrationInProgress"))
        self.transitions.append((when + timedelta(seconds=drain_seconds), GONE, None))

    def at(self, when: datetime) -> tuple[str, str | None]:
        """The state and reason at ``when`` (after replaying up to it); GONE before/after."""
        if when < self.registered_at:
            return GONE, None
        index = bisect.bisect_right([t for t, _, _ in self.transitions], when) - 1
        _, state, reason = self.transitions[index]
        return state, reason


@dataclass
class TargetGroup:
    arn: str
    name: str
    # Its deregistration delay as last seen (for targets terminated without our hearing of it).
    drain_seconds: int = DEFAULT_DEREGISTRATION_DELAY_SECONDS
    registrations: dict[str, Registration] = field(default_factory=dict)  # current (or draining)
    history: list[Registration] = field(default_factory=list)  # every registration ever


class LoadBalancingSimulator:
    """Target registrations and their health, for every target group of one LocalCloud."""

    def __init__(self, clock: SimClock, probe: TargetProbe) -> None:
        self.clock = clock
        self.probe = probe
        self._lock = threading.RLock()
        self._groups: dict[str, TargetGroup] = {}  # by ARN

    def _group(self, arn: str, name: str | None = None) -> TargetGroup:
        group = self._groups.get(arn)
        if group is None:
            group = self._groups[arn] = TargetGroup(arn, name or arn.split("/")[-2])
        return group

    def _settle(self, group: TargetGroup, now: datetime) -> None:
        """Replay every registration up to ``now``; forget drained ones and terminated targets."""
        for registration in group.history:
            registration.replay(self.probe, now)
        for target_id, registration in list(group.registrations.items()):
            drained = registration.drained_at
            if drained is not None and drained <= now:
                del group.registrations[target_id]
            elif registration.deregistered_at is None and self.probe.instance_state(target_id) in {
                "shutting-down",
                "terminated",
            }:
                # Terminated without our hearing of it (a simulator's own termination).
                registration.deregister(now, group.drain_seconds)

    # --- the API (called by the adapter) ----------------------------------------------------

    def register(
        self,
        arn: str,
        name: str,
        targets: Iterable[tuple[str, int]],
        health_check: HealthCheck,
        drain_seconds: int = DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    ) -> None:
        """RegisterTargets: a target already registered is left as it is (as AWS does)."""
        now = self.clock.now()
        with self._lock:
            group = self._group(arn, name)
            group.drain_seconds = drain_seconds
            self._settle(group, now)
            for target_id, port in targets:
                current = group.registrations.get(target_id)
                if current is not None and current.deregistered_at is None:
                    continue
                if current is not None:  # draining: its drain ends now
                    current.transitions[-1] = (now, GONE, None)
                registration = Registration(target_id, port, now, health_check)
                group.registrations[target_id] = registration
                group.history.append(registration)

    def deregister(self, arn: str, target_ids: Iterable[str], drain_seconds: int) -> None:
        """DeregisterTargets: registered targets drain; unknown ones are ignored, as on AWS."""
        now = self.clock.now()
        with self._lock:
            group = self._group(arn)
            group.drain_seconds = drain_seconds
            self._settle(group, now)
            for target_id in target_ids:
                registration = group.registrations.get(target_id)
                if registration is not None and registration.deregistered_at is None:
                    registration.deregister(now, drain_seconds)

    def instances_terminated(
        self, instance_ids: Iterable[str], drain_seconds: dict[str, int]
    ) -> None:
        """Terminated instances leave every target group (``drain_seconds``: the delay by ARN)."""
        ids = set(instance_ids)
        with self._lock:
            for arn, group in self._groups.items():
                self.deregister(
                    arn, [i for i in group.registrations if i in ids], drain_seconds.get(arn, 0)
                )

    def settle(self) -> None:
        """Replay every target's health checks up to now.

        Health is replayed lazily, asking the instance about past times; call this before
        changing an instance's health in a way that is not a function of time (a flag), so
        the checks before the change see it as it was.
        """
        now = self.clock.now()
        with self._lock:
            for group in self._groups.values():
                self._settle(group, now)

    def is_registered(self, arn: str, target_id: str) -> bool:
        """Registered and not draining."""
        with self._lock:
            group = self._groups.get(arn)
            registration = group.registrations.get(target_id) if group else None
            return registration is not None and registration.deregistered_at is None

    def forget(self, arn: str) -> None:
        """DeleteTargetGroup."""
        with self._lock:
            self._groups.pop(arn, None)

    def describe(
        self, arn: str, targets: list[tuple[str, int | None]] | None
    ) -> list[TargetHealth]:
        """DescribeTargetHealth: the named targets, or every registered (and draining) one."""
        now = self.clock.now()
        with self._lock:
            group = self._group(arn)
            self._settle(group, now)
            if not targets:
                targets = [(t, r.port) for t, r in group.registrations.items()]
            return [self._health(group, target_id, port, now) for target_id, port in targets]

    def _health(
        self, group: TargetGroup, target_id: str, port: int | None, now: datetime
    ) -> TargetHealth:
        registration = group.registrations.get(target_id)
        if registration is None:
            missing = "Target.NotRegistered"
            return TargetHealth(target_id, port or 80, UNUSED, missing, _DESCRIPTIONS[missing])
        state, reason = registration.at(now)
        port = registration.port
        if state != DRAINING and self.probe.instance_state(target_id) == "stopped":
            return TargetHealth(
                target_id, port, UNUSED, "Target.InvalidState", "Target is in the stopped state"
            )
        return TargetHealth(target_id, port, state, reason, _DESCRIPTIONS.get(reason or ""))

    def state(self, arn: str, target_id: str) -> str:
        """A target's state now (``unused`` when not registered): for tests and the runner."""
        [health] = self.describe(arn, [(target_id, None)])
        return health.state

    # --- the recorder ---------------------------------------------------------------------------

    def arn_of(self, name: str) -> str:
        with self._lock:
            for arn, group in self._groups.items():
                if group.name == name:
                    return arn
        raise KeyError(f"no target group named {name!r} has had a target registered")

    def healthy_counts(self, name: str) -> list[tuple[datetime, int, int]]:
        """(time, healthy targets, registered targets) at every change of any target's state.

        Registered counts ``initial``, ``healthy`` and ``unhealthy`` targets (not draining
        ones). Computed from the transitions up to now, so it may be asked at any time.
        """
        now = self.clock.now()
        with self._lock:
            group = self._groups[self.arn_of(name)]
            self._settle(group, now)
            times = sorted({t for r in group.history for t, _, _ in r.transitions if t <= now})
            samples = []
            for when in times:
                states = [r.at(when)[0] for r in group.history]
                samples.append(
                    (
                        when,
                        sum(1 for s in states if s == HEALTHY),
                        sum(1 for s in states if s in REGISTERED_STATES),
                    )
                )
            return samples


# The running cloud's simulator (installed by localcloud.adapters.elbv2).
LOAD_BALANCING: Slot[LoadBalancingSimulator] = Slot("load_balancing")
