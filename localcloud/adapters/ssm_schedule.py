"""DescribeMaintenanceWindowSchedule and -WindowsForTarget on the local cloud.

DescribeMaintenanceWindowsForTarget (also missing in moto: HTTP 500) lists the windows
whose registered targets or task targets name one of ``Targets`` (same key, an overlapping
value, as registered: no tag resolution), as ``WindowIdentities`` of ``{WindowId, Name}``;
``Targets`` and ``ResourceType`` are required, as in the API reference.

moto 5.2.5 does not implement the operation: the request fails inside moto and reaches the
caller as an HTTP 500 (``aws ssm describe-maintenance-window-schedule``). This extension
answers it from the windows moto stores, on the simulated clock, in the API reference's
shape: ``ScheduledWindowExecutions`` of ``{WindowId, Name, ExecutionTime}``, in time order,
paged by ``MaxResults``/``NextToken``.

* ``WindowId`` names one window (an unknown id: ``DoesNotExistException``, as
  GetMaintenanceWindow answers); without it, every enabled window of the account. ``Targets``
  (with ``ResourceType`` INSTANCE) keeps the windows with a registered target of the same
  key and an overlapping value, as targets are registered (no tag resolution).
* ``Filters``: ``ScheduledBefore`` and ``ScheduledAfter`` (an ISO-8601 time) bound the
  executions; any other key is a ``ValidationException``.
* Executions are the window's next ``UPCOMING`` occurrences after the simulated now, in
  its ``ScheduleTimezone`` with its ``ScheduleOffset``, within ``StartDate``/``EndDate``.
  ``ExecutionTime`` is written as AWS writes it, ISO-8601 to the minute in UTC
  (``2026-12-05T05:00Z``). ``rate(N unit)`` windows recur every N units from their
  ``StartDate``, else from now; ``at(...)`` windows once.

The local cloud's choice: how many upcoming executions a window lists is not documented;
here it is ``UPCOMING`` per window. The AWS cron reading is fleetpatch's own
(:mod:`fleetpatch.schedule`, which the policy's wave schedules are checked with), so this is
not an independent oracle of cron semantics: a cron fleetpatch misreads is misreported here
too. Nothing the control plane decides reads this operation.

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_windows.py):
``moto.ssm.responses.SimpleSystemManagerResponse`` (method added; reads ``_get_param``,
``current_account``, ``region``), ``moto.ssm.models.ssm_backends`` and the backend's
``windows`` dict of ``FakeMaintenanceWindow`` (``id``, ``name``, ``schedule``,
``schedule_timezone``, ``schedule_offset``, ``start_date``, ``end_date``, ``targets`` of
``FakeMaintenanceWindowTarget.targets``, ``tasks`` of ``FakeMaintenanceWindowTask.targets``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.ssm.exceptions import SSMException

from fleetpatch.schedule import ScheduleError, schedule
from localcloud.core import clock as sim

if TYPE_CHECKING:
    from moto.ssm.responses import SimpleSystemManagerResponse

UPCOMING = 10
_DEFAULT_PAGE = 50
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_AT = re.compile(r"^at\((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
_FILTERS = ("ScheduledBefore", "ScheduledAfter")


def _when(text: Any, field: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise SSMException(
            "ValidationException", f"{field}: {text!r} is not an ISO-8601 time"
        ) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _optional_date(text: str | None) -> datetime | None:
    return _when(text, "StartDate/EndDate") if text else None


def _runs(window: Any, now: datetime) -> list[datetime]:
    """The window's next UPCOMING executions after ``now`` (UTC, aware)."""
    expression = str(window.schedule)
    zone = window.schedule_timezone or "UTC"
    start, end = _optional_date(window.start_date), _optional_date(window.end_date)
    after = max(now, start) if start is not None else now
    if rate := _RATE.match(expression):
        step = timedelta(seconds=int(rate.group(1)) * _UNIT_SECONDS[rate.group(2).rstrip("s")])
        base = start or now
        count = int((after - base) / step) + 1
        runs = [base + step * (count + i) for i in range(UPCOMING)]
    elif at := _AT.match(expression):
        from zoneinfo import ZoneInfo

        once = datetime.fromisoformat(at.group(1)).replace(tzinfo=ZoneInfo(zone))
        runs = [once] if once > after else []
    else:
        try:
            runs = schedule(expression, zone, int(window.schedule_offset or 0)).next_runs(
                after, UPCOMING
            )
        except ScheduleError:
            return []  # CreateMaintenanceWindow validated it; nothing to list for it here
    return [r.astimezone(UTC) for r in runs if end is None or r <= end]


def _targets_overlap(window: Any, wanted: list[dict[str, Any]]) -> bool:
    """A registered target or a task target of ``window`` names one of ``wanted``."""
    named = [t for r in window.targets.values() for t in r.targets or []]
    named += [t for task in window.tasks.values() for t in task.targets or []]
    return any(
        target.get("Key") == asked.get("Key")
        and set(target.get("Values", [])) & set(asked.get("Values", []))
        for target in named
        for asked in wanted
    )


def _windows(self: SimpleSystemManagerResponse) -> list[Any]:
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[self.current_account][self.region]
    window_id = self._get_param("WindowId")
    if window_id:
        window = backend.windows.get(window_id)
        if window is None:
            raise SSMException(
                "DoesNotExistException", f"Maintenance window {window_id} does not exist"
            )
        return [window]
    windows = list(backend.windows.values())
    targets = self._get_param("Targets")
    if targets:
        if not self._get_param("ResourceType"):
            raise SSMException("ValidationException", "ResourceType is required with Targets")
        windows = [w for w in windows if _targets_overlap(w, targets)]
    return windows


def describe_maintenance_windows_for_target(self: SimpleSystemManagerResponse) -> ActionResult:
    from moto.ssm.models import ssm_backends

    targets = self._get_param("Targets")
    if not targets or not self._get_param("ResourceType"):
        raise SSMException("ValidationException", "Targets and ResourceType are required")
    backend = ssm_backends[self.current_account][self.region]
    found = [
        {"WindowId": w.id, "Name": w.name}
        for w in backend.windows.values()
        if _targets_overlap(w, targets)
    ]
    page, more = _page(self, found)
    return ActionResult({"WindowIdentities": page, **more})


def _page(
    self: SimpleSystemManagerResponse, items: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    token = self._get_param("NextToken")
    size = int(self._get_param("MaxResults") or _DEFAULT_PAGE)
    try:
        first = int(token) if token else 0
    except ValueError:
        raise SSMException("InvalidNextToken", "The specified token isn't valid.") from None
    more = {"NextToken": str(first + size)} if first + size < len(items) else {}
    return items[first : first + size], more


def describe_maintenance_window_schedule(self: SimpleSystemManagerResponse) -> ActionResult:
    before = after = None
    for entry in self._get_param("Filters") or []:
        key, values = entry.get("Key"), entry.get("Values") or []
        if key not in _FILTERS or len(values) != 1:
            raise SSMException(
                "ValidationException",
                f"Filter {key!r}: supported keys are {', '.join(_FILTERS)}, with one time each",
            )
        if key == "ScheduledBefore":
            before = _when(values[0], key)
        else:
            after = _when(values[0], key)
    now = sim.current().now().astimezone(UTC)
    scheduled = sorted(
        (
            (run, window.id, window.name)
            for window in _windows(self)
            for run in _runs(window, now)
            if (before is None or run < before) and (after is None or run > after)
        ),
    )
    rendered = [
        {"WindowId": wid, "Name": name, "ExecutionTime": run.strftime("%Y-%m-%dT%H:%MZ")}
        for run, wid, name in scheduled
    ]
    page, more = _page(self, rendered)
    return ActionResult({"ScheduledWindowExecutions": page, **more})
