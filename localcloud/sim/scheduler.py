"""EventBridge Scheduler on the local cloud: schedules fire on the simulated clock.

moto 5.2.5 stores schedules (CreateSchedule, UpdateSchedule, DeleteSchedule) but never runs
them. Installed, every ``rate()`` and ``at()`` schedule with one of these targets acts on
the local cloud when it is due:

* a *universal target* (``arn:aws:scheduler:::aws-sdk:<service>:<apiAction>``, the
  target's ``Input`` being the call's parameters as JSON) calls that API;
* a *templated Lambda target* (the function's ARN, ``Invoke``) invokes the function
  asynchronously, as Scheduler does (``InvocationType=Event``), with the target's
  ``Input`` parsed as JSON as the event, or ``{}`` without one. The invocation is
  queued on the clock with Lambda's asynchronous retries and the function's DLQ.

Either way, the context attributes ``<aws.scheduler.schedule-arn>``,
``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>`` and
``<aws.scheduler.attempt-number>`` in ``Input`` are replaced as Scheduler does. Timing:

* ``rate(N minute|minutes|hour|hours|day|days)`` fires every N units from its StartDate (or
  its creation), ``at(yyyy-mm-ddThh:mm:ss)`` once, in ``ScheduleExpressionTimezone``;
* nothing fires after ``EndDate``, while the schedule is DISABLED, or once it is deleted;
  an ``at()`` schedule with ``ActionAfterCompletion`` DELETE deletes itself after firing;
* a ``rate()`` schedule without an ``EndDate`` recurs for ever: its firings are background
  timers (``localcloud.core.clock``), so ``cloud.settle()`` stops once only such schedules
  are left (a daily job does not keep the world busy) and ``cloud.advance(seconds)`` fires
  each one due in that time. Every other schedule keeps ``settle()`` playing until it ends;
* a failed call (for a Lambda target: a function that does not exist or an ``Input``
  that is not JSON) is recorded (``firings``) and not retried (Scheduler's retry policy
  and dead-letter queue are not simulated); ``cron(M H D * ? *)`` (a fixed day of every
  month, or ``*``: every day) fires as a recurring schedule; other cron() schedules and
  other targets are recorded as unsupported, never fired.

moto is patched to call it by localcloud.adapters.scheduler. fleetpatch uses it to
heartbeat a held launch while its patch runs, without a single state transition (see
statemachines/patch_new_instance.asl.json), and to run snapshot retention daily (the
template's ``AWS::Scheduler::Schedule``, which the local deploy creates).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.core import ratelimits
from localcloud.core.clock import TimerHandle
from localcloud.core.context import Cloud
from localcloud.core.iam.enforcer import AccessDenied
from localcloud.core.iam.principal import acting_as
from localcloud.core.registry import Slot

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

_UNIVERSAL_TARGET = re.compile(r"^arn:aws[a-z-]*:scheduler:::aws-sdk:([a-z0-9-]+):([A-Za-z0-9]+)$")
# A templated Lambda target: the function's ARN, optionally with a version or an alias
# (the local runtime runs one version of each function).
_LAMBDA_TARGET = re.compile(
    r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:([A-Za-z0-9_-]+)(?::[A-Za-z0-9_$-]+)?$"
)
_CONTEXT_ATTRIBUTE = re.compile(
    r"<aws\.scheduler\.(schedule-arn|scheduled-time|execution-id|attempt-number)>"
)
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
# cron() as far as the stack uses it: a fixed minute and hour, on a fixed day of every
# month (``cron(0 3 1 * ? *)``: the monthly audit export) or every day (``cron(1 0 * * ? *)``:
# the exclusions' daily sync). Other cron expressions stay unsupported (recorded, never fired).
_MONTHLY_CRON = re.compile(r"^cron\((\d{1,2}) (\d{1,2}) (\d{1,2}|\*) \* \? \*\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True)
class Firing:
    """One time a schedule came due: what it called and how that went."""

    schedule: str
    at: datetime
    target: str
    error: str | None = None


@dataclass
class SchedulerSimulator:
    cloud: Cloud
    firings: list[Firing] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    _timers: dict[tuple[str, str], TimerHandle] = field(default_factory=dict)
    # When each schedule was created, in simulated time (moto stamps real time).
    _created: dict[tuple[str, str], datetime] = field(default_factory=dict)

    # --- called from moto's backend -------------------------------------------------------

    def arm(self, schedule: Any, *, created: bool) -> None:
        """(Re)plan ``schedule``'s next firing after a create or an update."""
        key = (schedule.group_name, schedule.name)
        if created or key not in self._created:
            self._created[key] = self.cloud.clock.now()
        self.disarm(key)
        due = self._next_due(key, schedule, after=self.cloud.clock.now(), first=True)
        if due is not None:
            self._timers[key] = self.cloud.clock.call_at(
                due,
                lambda: self._fire(key),
                f"scheduler:{schedule.name}",
                background=_endless(schedule),
            )

    def disarm(self, key: tuple[str, str], *, deleted: bool = False) -> None:
        if deleted:
            self._created.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # --- firing ---------------------------------------------------------------------------

    def _next_due(
        self, key: tuple[str, str], schedule: Any, *, after: datetime, first: bool
    ) -> datetime | None:
        expression = str(schedule.schedule_expression)
        end = _date(schedule.end_date)
        if rate := _RATE.fullmatch(expression):
            interval = timedelta(seconds=int(rate[1]) * _UNIT_SECONDS[rate[2].rstrip("s")])
            start = _date(schedule.start_date) or self._created[key]
            due = start + interval
            while due <= after or (first and due < start):
                due += interval
        elif at := _AT.fullmatch(expression):
            zone = ZoneInfo(schedule.schedule_expression_timezone or "UTC")
            due = datetime.fromisoformat(at[1]).replace(tzinfo=zone).astimezone(UTC)
            if not first or due < after:
                return None
        elif cron := _MONTHLY_CRON.fullmatch(expression):
            zone = ZoneInfo(schedule.schedule_expression_timezone or "UTC")
            day = None if cron[3] == "*" else int(cron[3])
            due = _next_monthly(after, zone, int(cron[1]), int(cron[2]), day)
        else:
            self.unsupported.append(f"{schedule.name}: {expression}")
            return None
        if not _supported_target(str(schedule.target.get("Arn", ""))):
            self.unsupported.append(f"{schedule.name}: target {schedule.target.get('Arn')}")
            return None
        if end is not None and due > end:
            return None
        return due

    def _fire(self, key: tuple[str, str]) -> None:
        timer = self._timers.pop(key, None)
        schedule = _stored(self.cloud, key)
        if schedule is None:  # deleted meanwhile
            return
        now = self.cloud.clock.now()
        # <aws.scheduler.scheduled-time> is when the schedule was due, not when it ran
        # (the two differ on a continuous clock).
        scheduled = timer.when if timer is not None else now
        if schedule.state == "ENABLED":
            self.firings.append(self._call(schedule, now, scheduled))
        if _AT.fullmatch(str(schedule.schedule_expression)):
            if schedule.action_after_completion == "DELETE":
                _backend(self.cloud).delete_schedule(schedule.group_name, schedule.name)
            return
        due = self._next_due(key, schedule, after=now, first=False)
        if due is not None:
            self._timers[key] = self.cloud.clock.call_at(
                due,
                lambda: self._fire(key),
                f"scheduler:{schedule.name}",
                background=_endless(schedule),
            )

    def _call(self, schedule: Any, now: datetime, scheduled: datetime) -> Firing:
        arn = str(schedule.target["Arn"])
        try:
            # Scheduler calls the target as the schedule's role.
            role = self.cloud.iam.assume(
                str(schedule.target["RoleArn"]), "scheduler.amazonaws.com", source_arn=schedule.arn
            )
            text = _with_context(schedule.target.get("Input"), schedule, scheduled)
            if function := _LAMBDA_TARGET.fullmatch(arn):
                # Scheduler's Input is the event; without one the function gets {}.
                self.cloud.iam.require(role, "lambda", "Invoke", {"FunctionName": arn})
                self._invoke(function[1], json.loads(text) if text else {})
                return Firing(schedule.name, now, arn)
            match = _UNIVERSAL_TARGET.fullmatch(arn)
            assert match is not None  # only supported targets are armed
            service, action = match.groups()
            method = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
            parameters = json.loads(text or "{}")
            # Scheduler's own call for the account (it retries throttled ones on AWS).
            with acting_as(role), ratelimits.on_behalf_of_aws():
                getattr(self.cloud.client(service), method)(**parameters)
        except (
            AccessDenied,
            ClientError,
            BotoCoreError,
            LookupError,
            ValueError,
            TypeError,
        ) as exc:
            return Firing(schedule.name, now, arn, f"{type(exc).__name__}: {exc}")
        return Firing(schedule.name, now, arn)

    def _invoke(self, function_name: str, event: Any) -> None:
        # Scheduler invokes with InvocationType=Event: Lambda accepts the event at once and
        # runs (and retries) it on its own; only a missing function fails the call.
        if function_name not in self.cloud.lambdas.functions:
            raise LookupError(f"ResourceNotFoundException: function {function_name} not found")
        self.cloud.lambdas.invoke_async(function_name, event)


def _endless(schedule: Any) -> bool:
    """A ``rate()`` or ``cron()`` schedule without an end date: it recurs for ever."""
    expression = str(schedule.schedule_expression)
    recurring = _RATE.fullmatch(expression) or _MONTHLY_CRON.fullmatch(expression)
    return bool(recurring) and _date(schedule.end_date) is None


def _next_monthly(
    after: datetime, zone: ZoneInfo, minute: int, hour: int, day: int | None
) -> datetime:
    """The first ``day`` of a month (None: any day) at ``hour:minute`` (local time in
    ``zone``) after ``after``.

    A month without that day (the 31st in April) is skipped, as cron skips it.
    """
    local = after.astimezone(zone)
    if day is None:
        daily = datetime(local.year, local.month, local.day, hour, minute, tzinfo=zone)
        while daily.astimezone(UTC) <= after:
            daily = (daily + timedelta(days=1)).replace(hour=hour, minute=minute)
        return daily.astimezone(UTC)
    year, month = local.year, local.month
    for _ in range(24):
        try:
            due: datetime | None = datetime(year, month, day, hour, minute, tzinfo=zone)
        except ValueError:
            due = None
        if due is not None and due.astimezone(UTC) > after:
            return due.astimezone(UTC)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise ValueError(f"no day {day} in two years")


def _supported_target(arn: str) -> bool:
    return bool(_UNIVERSAL_TARGET.fullmatch(arn) or _LAMBDA_TARGET.fullmatch(arn))


def _with_context(text: str | None, schedule: Any, scheduled: datetime) -> str | None:
    """``Input`` with Scheduler's context attributes replaced (one attempt: number 1)."""
    if text is None:
        return None
    values = {
        "schedule-arn": str(schedule.arn),
        "scheduled-time": scheduled.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution-id": uuid.uuid4().hex[:16],
        "attempt-number": "1",
    }
    return _CONTEXT_ATTRIBUTE.sub(lambda m: values[m[1]], text)


def _date(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _backend(cloud: Cloud) -> Any:
    from moto.scheduler.models import scheduler_backends

    return scheduler_backends[cloud.account_id][cloud.region]


def _stored(cloud: Cloud, key: tuple[str, str]) -> Any:
    group = _backend(cloud).schedule_groups.get(key[0])
    return None if group is None else group.schedules.get(key[1])


# The running cloud's scheduler (installed by localcloud.adapters.scheduler).
SIMULATOR: Slot[SchedulerSimulator] = Slot("scheduler")
