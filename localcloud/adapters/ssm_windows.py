"""Maintenance window executions through the SSM API, served from the local window runner.

moto 5.2.5 never runs a window (:mod:`localcloud.sim.maintenance_windows` does) and lacks
the APIs that report runs. This extension adds them, reading the runner's records:
DescribeMaintenanceWindowExecutions (filters ExecutedBefore/ExecutedAfter),
DescribeMaintenanceWindowExecutionTasks and -TaskInvocations (filter STATUS),
GetMaintenanceWindowExecution, -ExecutionTask, -ExecutionTaskInvocation and
CancelMaintenanceWindowExecution; DescribeMaintenanceWindowSchedule and -WindowsForTarget
(localcloud.adapters.ssm_schedule); plus GetMaintenanceWindowTask (from moto's stored task) and
the ``OwnerInformation`` moto blanks in DescribeMaintenanceWindowTargets. ``MaxResults`` and
``NextToken`` page every Describe.

moto internals touched (each has a canary in
tests/unit/localcloud/test_moto_canaries_windows.py):

* ``moto.ssm.responses.SimpleSystemManagerResponse``: the methods above added; reads
  ``_get_param``, ``current_account``, ``region``.
* ``moto.ssm.models.FakeMaintenanceWindowTarget.to_json`` wrapped (``OwnerInformation``).
* Read by the runner and GetMaintenanceWindowTask: ``moto.ssm.models.ssm_backends``,
  ``SimpleSystemManagerBackend.windows``/``get_maintenance_window``,
  ``FakeMaintenanceWindow`` (``id``, ``name``, ``duration``, ``cutoff``, ``targets``,
  ``tasks``), ``FakeMaintenanceWindowTarget`` (``window_target_id``, ``targets``,
  ``owner_information``) and ``FakeMaintenanceWindowTask`` (its constructor's attributes).
* ``moto.ssm.exceptions.SSMException`` for AWS-shaped errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.ssm.exceptions import SSMException

from localcloud.adapters.ssm_schedule import (
    describe_maintenance_window_schedule,
    describe_maintenance_windows_for_target,
)
from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.maintenance_windows import RUNNER, WindowRunner
from localcloud.sim.window_runs import (
    DEFAULT_POLL_SECONDS,
    TaskExecution,
    TaskInvocation,
    WindowError,
    WindowExecution,
)

if TYPE_CHECKING:
    from moto.ssm.responses import SimpleSystemManagerResponse

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).


Handler = Callable[["SimpleSystemManagerResponse"], ActionResult]


def _active_runner() -> WindowRunner:
    """The running cloud's window runner."""
    return RUNNER.require("maintenance window executions need a running LocalCloud")


def _api(method: Handler) -> Handler:
    """Turn the runner's WindowError into the AWS error response."""

    @functools.wraps(method)
    def handler(self: SimpleSystemManagerResponse) -> ActionResult:
        try:
            return method(self)
        except WindowError as error:
            raise SSMException(error.code, error.message) from error

    return handler


def _page[T](
    self: SimpleSystemManagerResponse, items: Sequence[T]
) -> tuple[list[T], dict[str, str]]:
    token = self._get_param("NextToken")
    size = int(self._get_param("MaxResults") or 100)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise WindowError("InvalidNextToken", "The specified token isn't valid.") from None
    end = start + size
    return list(items[start:end]), ({"NextToken": str(end)} if end < len(items) else {})


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None and v != ""}


def _status_filter(self: SimpleSystemManagerResponse) -> set[str] | None:
    wanted: set[str] | None = None
    for entry in self._get_param("Filters") or []:
        if entry["Key"] != "STATUS":
            raise WindowError(
                "ValidationException", f"Filter key {entry['Key']!r} is not supported (STATUS)"
            )
        wanted = (wanted or set()) | set(entry.get("Values", []))
    return wanted


def _execution(self: SimpleSystemManagerResponse) -> WindowExecution:
    return _active_runner().execution(self._get_param("WindowExecutionId"))


def _render_task(task: TaskExecution) -> dict[str, Any]:
    return _present(
        WindowExecutionId=task.window.window_execution_id,
        TaskExecutionId=task.task_execution_id,
        Status=task.status,
        StatusDetails=task.status_details,
        StartTime=task.started,
        EndTime=task.ended,
        TaskArn=task.spec.task_arn,
        TaskType=task.spec.task_type,
    )


def _render_invocation(invocation: TaskInvocation) -> dict[str, Any]:
    task = invocation.task
    return _present(
        WindowExecutionId=task.window.window_execution_id,
        TaskExecutionId=task.task_execution_id,
        InvocationId=invocation.invocation_id,
        ExecutionId=invocation.command_id,
        TaskType=task.spec.task_type,
        Parameters=invocation.parameters,
        Status=invocation.status,
        StatusDetails=invocation.status_details,
        StartTime=invocation.started,
        EndTime=invocation.ended,
        OwnerInformation=invocation.target.owner_information,
        WindowTargetId=invocation.target.window_target_id,
    )


@_api
def describe_maintenance_window_executions(self: SimpleSystemManagerResponse) -> ActionResult:
    runner = _active_runner()
    window_id = self._get_param("WindowId")
    before = after = None
    for entry in self._get_param("Filters") or []:
        [value] = entry.get("Values", [None])
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if entry["Key"] == "ExecutedBefore":
            before = when
        elif entry["Key"] == "ExecutedAfter":
            after = when
        else:
            raise WindowError(
                "ValidationException",
                f"Filter key {entry['Key']!r} is not supported (ExecutedBefore, ExecutedAfter)",
            )
    executions = [
        _present(
            WindowId=e.window_id,
            WindowExecutionId=e.window_execution_id,
            Status=e.status,
            StatusDetails=e.status_details,
            StartTime=e.started,
            EndTime=e.ended,
        )
        for e in runner.executions(window_id)
        if (before is None or (e.started is not None and e.started < before))
        and (after is None or (e.started is not None and e.started > after))
    ]
    page, token = _page(self, executions)
    return ActionResult({"WindowExecutions": page, **token})


@_api
def get_maintenance_window_execution(self: SimpleSystemManagerResponse) -> ActionResult:
    execution = _execution(self)
    return ActionResult(
        _present(
            WindowExecutionId=execution.window_execution_id,
            TaskIds=[t.task_execution_id for t in execution.tasks],
            Status=execution.status,
            StatusDetails=execution.status_details,
            StartTime=execution.started,
            EndTime=execution.ended,
        )
    )


@_api
def describe_maintenance_window_execution_tasks(self: SimpleSystemManagerResponse) -> ActionResult:
    wanted = _status_filter(self)
    tasks = [
        _render_task(t) for t in _execution(self).tasks if wanted is None or t.status in wanted
    ]
    page, token = _page(self, tasks)
    return ActionResult({"WindowExecutionTaskIdentities": page, **token})


@_api
def get_maintenance_window_execution_task(self: SimpleSystemManagerResponse) -> ActionResult:
    task = _execution(self).task(self._get_param("TaskId"))
    spec = task.spec
    return ActionResult(
        _present(
            WindowExecutionId=task.window.window_execution_id,
            TaskExecutionId=task.task_execution_id,
            TaskArn=spec.task_arn,
            ServiceRole=spec.run_command.get("ServiceRoleArn") or spec.service_role_arn,
            Type=spec.task_type,
            TaskParameters=[
                {name: {"Values": values}} for name, values in spec.parameters().items()
            ],
            Priority=spec.priority,
            MaxConcurrency=spec.max_concurrency,
            MaxErrors=spec.max_errors,
            Status=task.status,
            StatusDetails=task.status_details,
            StartTime=task.started,
            EndTime=task.ended,
        )
    )


@_api
def describe_maintenance_window_execution_task_invocations(
    self: SimpleSystemManagerResponse,
) -> ActionResult:
    wanted = _status_filter(self)
    task = _execution(self).task(self._get_param("TaskId"))
    invocations = [
        _render_invocation(i) for i in task.invocations if wanted is None or i.status in wanted
    ]
    page, token = _page(self, invocations)
    return ActionResult({"WindowExecutionTaskInvocationIdentities": page, **token})


@_api
def get_maintenance_window_execution_task_invocation(
    self: SimpleSystemManagerResponse,
) -> ActionResult:
    task = _execution(self).task(self._get_param("TaskId"))
    invocation_id = self._get_param("InvocationId")
    for invocation in task.invocations:
        if invocation.invocation_id == invocation_id:
            return ActionResult(_render_invocation(invocation))
    raise WindowError(
        "DoesNotExistException",
        f"Invocation {invocation_id} of task {task.task_execution_id} does not exist",
    )


@_api
def cancel_maintenance_window_execution(self: SimpleSystemManagerResponse) -> ActionResult:
    execution_id = self._get_param("WindowExecutionId")
    _active_runner().cancel(execution_id)
    return ActionResult({"WindowExecutionId": execution_id})


@_api
def get_maintenance_window_task(self: SimpleSystemManagerResponse) -> ActionResult:
    from moto.ssm.models import ssm_backends

    backend = ssm_backends[self.current_account][self.region]
    window = backend.get_maintenance_window(self._get_param("WindowId"))
    task_id = self._get_param("WindowTaskId")
    task = window.tasks.get(task_id)
    if task is None:
        raise WindowError(
            "DoesNotExistException", f"Maintenance window task {task_id} does not exist"
        )
    return ActionResult(
        _present(
            WindowId=task.window_id,
            WindowTaskId=task.window_task_id,
            Targets=task.targets,
            TaskArn=task.task_arn,
            ServiceRoleArn=task.service_role_arn,
            TaskType=task.task_type,
            TaskParameters=task.task_parameters,
            TaskInvocationParameters=task.task_invocation_parameters,
            Priority=task.priority,
            MaxConcurrency=task.max_concurrency,
            MaxErrors=task.max_errors,
            LoggingInfo=task.logging_info,
            Name=task.name,
            Description=task.description,
            CutoffBehavior=task.cutoff_behavior,
            AlarmConfiguration=task.alarm_configurations,
        )
    )


_ADDED: tuple[Handler, ...] = (
    describe_maintenance_window_executions,
    get_maintenance_window_execution,
    describe_maintenance_window_execution_tasks,
    get_maintenance_window_execution_task,
    describe_maintenance_window_execution_task_invocations,
    get_maintenance_window_execution_task_invocation,
    cancel_maintenance_window_execution,
    get_maintenance_window_task,
    # localcloud.adapters.ssm_schedule
    describe_maintenance_window_schedule,
    describe_maintenance_windows_for_target,
)


def _target_to_json(original: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    def to_json(self: Any) -> dict[str, Any]:
        # moto stores OwnerInformation but always answers "".
        rendered = original(self)
        if self.owner_information:
            rendered["OwnerInformation"] = self.owner_information
        else:
            rendered.pop("OwnerInformation", None)
        return rendered

    return to_json


def _patch(owner: type, name: str, replacement: Callable[..., Any]) -> None:
    motopatch.replace(owner, name, replacement, tag="_fleetpatch_windows")


def install(cloud: Cloud, *, poll_seconds: float = DEFAULT_POLL_SECONDS) -> WindowRunner:
    """Create ``cloud``'s window runner and serve its records through the SSM API.

    Idempotent: installing again while the runner runs returns it (and its records). moto
    is patched once per process.
    """
    runner = RUNNER.get()
    if runner is not None and runner.cloud is cloud:
        return runner
    runner = WindowRunner(cloud, poll_seconds=poll_seconds)
    RUNNER.set(runner)
    # moto's SSM internals, imported when a cloud starts (not when this module loads).
    from moto.ssm.models import FakeMaintenanceWindowTarget
    from moto.ssm.responses import SimpleSystemManagerResponse

    for handler in _ADDED:
        _patch(SimpleSystemManagerResponse, handler.__name__, handler)
    _patch(
        FakeMaintenanceWindowTarget,
        "to_json",
        _target_to_json(FakeMaintenanceWindowTarget.to_json),
    )
    return runner
