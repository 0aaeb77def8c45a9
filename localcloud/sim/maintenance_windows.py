"""Maintenance windows on the local cloud: run a window now, as Systems Manager runs one.

    windows = install(cloud)                  # patches moto's SSM API, returns the runner
    execution_id = windows.run_window("mw-0f22b48e3ac1a2754")   # or the window's name
    cloud.settle()                            # tasks run, commands finish, events are emitted
    ssm.get_maintenance_window_execution(WindowExecutionId=execution_id)["Status"]

moto 5.2.5 stores windows, targets and tasks but never runs a window. The scenario decides
when a window opens (``run_window``); nothing runs on the window's schedule by itself. A run
follows the Systems Manager documentation; where it documents nothing, the choice is stated:

* Tasks run in priority order, lower numbers first; tasks of equal priority run in parallel,
  and the next priority starts when all of them have ended, whatever their outcome.
* A RUN_COMMAND task resolves its targets (``WindowTargetIds`` -> the window targets'
  ``InstanceIds``/``tag:<key>``/``tag-key`` definitions, or ``InstanceIds`` directly) to the
  EC2 instances that are not terminated, and runs one task invocation per instance: one
  ``SendCommand`` with that single instance, the task's document, parameters (pseudo
  parameters such as ``{{RESOURCE_ID}}`` substituted), S3 output, timeout and comment. The
  invocation's ``ExecutionId`` is the command id; its status follows the command invocation
  (``GetCommandInvocation``, polled every ``poll_seconds`` of simulated time: the window
  learns of an end that late, never earlier). A ``SendCommand`` error fails the invocation
  with the error as its status details.
* ``MaxConcurrency`` caps invocations in flight and ``MaxErrors`` stops starting new ones
  once more invocations than it allows have failed or timed out (percentages are of the
  target count, rounded down, concurrency at least 1). Left out, they default to 1 and 0.
* Nothing starts after the cutoff (``Duration - Cutoff`` hours after the start): priorities
  not started by then are skipped. A task with ``CutoffBehavior`` CANCEL_TASK still running
  at the cutoff has its commands cancelled (``CancelCommand``) and ends TIMED_OUT.
* At the end of the window's ``Duration`` whatever still runs ends TIMED_OUT, and so does
  the window; the commands themselves run on in Run Command, as in AWS.
* Final status: a task is FAILED if an invocation failed, else TIMED_OUT if one timed out,
  else CANCELLED if one was cancelled, else SUCCESS. The window is CANCELLED after
  ``CancelMaintenanceWindowExecution`` (running tasks finish, nothing new starts), else
  FAILED if a task failed, else TIMED_OUT if a task timed out or was skipped at the cutoff,
  else SUCCESS.
* Each status change of the window execution, a task execution or a task invocation emits
  the matching "Maintenance Window ... State-change Notification" on a zero-delay timer.
* A LAMBDA task without targets runs once: the window assumes the task's service role
  (its trust must allow ssm.amazonaws.com, its policy lambda:InvokeFunction) and invokes the
  function synchronously with the task's Payload; a function error fails the task.
* AUTOMATION and STEP_FUNCTIONS tasks end FAILED with status details saying so. Target
  keys other than the three above fail the task likewise.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from localcloud.core.context import Cloud
from localcloud.core.iam.enforcer import AccessDenied
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    from localcloud.core.clock import TimerHandle

LOG = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 10.0
DEFAULT_PRIORITY = 1
STATUS_DETAILS_LIMIT = 250

Status = Literal[
    "PENDING", "IN_PROGRESS", "SUCCESS", "FAILED", "TIMED_OUT", "CANCELLING", "CANCELLED"
]
TERMINAL: frozenset[Status] = frozenset({"SUCCESS", "FAILED", "TIMED_OUT", "CANCELLED"})
# An ended task's status: the first of these among its invocations', else SUCCESS.
_OUTCOME_PRECEDENCE: tuple[Status, ...] = ("FAILED", "TIMED_OUT", "CANCELLED")

# Run Command invocation status -> maintenance window invocation status, once it has ended.
_COMMAND_ENDINGS: dict[str, Status] = {
    "Success": "SUCCESS",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Cancelled": "CANCELLED",
}

WINDOW_DETAIL_TYPE = "Maintenance Window Execution State-change Notification"
TASK_DETAIL_TYPE = "Maintenance Window Task Execution State-change Notification"
INVOCATION_DETAIL_TYPE = "Maintenance Window Task Target Invocation State-change Notification"


class WindowError(Exception):
    """An SSM API error about windows (the extension turns it into moto's error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _iso(when: datetime) -> str:
    """Timestamps as the window events carry them: 2026-11-07T05:00:00.412Z."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _throttled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ThrottlingException"


def _lambda_payload(payload: Any) -> str:
    """A LAMBDA task's Payload as text (a blob: base64 when it came through the JSON API)."""
    if payload is None:
        return ""
    if isinstance(payload, bytes):
        return payload.decode()
    text = str(payload)
    if text.lstrip().startswith(("{", "[")):
        return text
    import base64
    import binascii

    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return text


def _limit(value: str, targets: int, minimum: int) -> int:
    """MaxConcurrency/MaxErrors: a count, or a percentage of the targets rounded down."""
    if value.endswith("%"):
        return max(minimum, math.floor(targets * int(value[:-1]) / 100))
    return max(minimum, int(value))


# --- what a window run is made of ------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One resolved target of a task: an instance, and the window target that named it."""

    instance_id: str
    window_target_id: str | None
    owner_information: str | None


@dataclass(frozen=True)
class TaskSpec:
    """A registered task as it was when the window opened (later edits do not apply)."""

    window_task_id: str
    task_arn: str
    task_type: str
    priority: int
    targets: tuple[Mapping[str, Any], ...]
    max_concurrency: str
    max_errors: str
    service_role_arn: str | None
    cutoff_behavior: str
    run_command: Mapping[str, Any]  # TaskInvocationParameters.RunCommand
    lambda_parameters: Mapping[str, Any]  # TaskInvocationParameters.Lambda
    task_parameters: Mapping[str, Any]  # the legacy TaskParameters
    logging_info: Mapping[str, Any]  # the legacy LoggingInfo

    @classmethod
    def of(cls, task: Any) -> TaskSpec:
        """From moto's ``FakeMaintenanceWindowTask``."""
        invocation = task.task_invocation_parameters or {}
        return cls(
            window_task_id=task.window_task_id,
            task_arn=task.task_arn,
            task_type=task.task_type,
            priority=int(task.priority) if task.priority is not None else DEFAULT_PRIORITY,
            targets=tuple(task.targets or ()),
            max_concurrency=str(task.max_concurrency or "1"),
            max_errors=str(task.max_errors or "0"),
            service_role_arn=task.service_role_arn,
            cutoff_behavior=task.cutoff_behavior or "CONTINUE_TASK",
            run_command=invocation.get("RunCommand") or {},
            lambda_parameters=invocation.get("Lambda") or {},
            task_parameters=task.task_parameters or {},
            logging_info=task.logging_info or {},
        )

    def parameters(self) -> dict[str, list[str]]:
        if "Parameters" in self.run_command:
            return {k: list(v) for k, v in self.run_command["Parameters"].items()}
        return {k: list(v.get("Values", [])) for k, v in self.task_parameters.items()}

    @property
    def output_bucket(self) -> str | None:
        bucket = self.run_command.get("OutputS3BucketName") or self.logging_info.get("S3BucketName")
        return str(bucket) if bucket else None

    @property
    def output_prefix(self) -> str | None:
        prefix = self.run_command.get("OutputS3KeyPrefix") or self.logging_info.get("S3KeyPrefix")
        return str(prefix) if prefix else None


@dataclass(eq=False)
class TaskInvocation:
    """One task on one target: one Run Command command (its id is the ``ExecutionId``)."""

    invocation_id: str
    task: TaskExecution
    target: Target
    parameters: str  # the JSON string the APIs return
    status: Status = "PENDING"
    status_details: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    command_id: str | None = None
    poll: TimerHandle | None = field(default=None, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def counts_as_error(self) -> bool:
        return self.status in {"FAILED", "TIMED_OUT"}


@dataclass(eq=False)
class TaskExecution:
    task_execution_id: str
    window: WindowExecution
    spec: TaskSpec
    status: Status = "PENDING"
    status_details: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    targets: list[Target] = field(default_factory=list)
    invocations: list[TaskInvocation] = field(default_factory=list)
    stopped_starting: bool = False  # MaxErrors exceeded, or cancelled at the cutoff

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def running(self) -> list[TaskInvocation]:
        return [i for i in self.invocations if not i.terminal]

    def not_started(self) -> list[Target]:
        return self.targets[len(self.invocations) :]


@dataclass(eq=False)
class WindowExecution:
    window_execution_id: str
    window_id: str
    duration_hours: int
    cutoff_hours: int
    levels: list[list[TaskSpec]]  # tasks by priority, lowest number first
    status: Status = "PENDING"
    status_details: str = ""
    started: datetime | None = None
    ended: datetime | None = None
    tasks: list[TaskExecution] = field(default_factory=list)
    next_level: int = 0
    skipped_at_cutoff: int = 0
    cancelling: bool = False
    timers: list[TimerHandle] = field(default_factory=list, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def cutoff_at(self) -> datetime:
        assert self.started is not None
        return self.started + timedelta(hours=self.duration_hours - self.cutoff_hours)

    @property
    def ends_at(self) -> datetime:
        assert self.started is not None
        return self.started + timedelta(hours=self.duration_hours)

    def task(self, task_execution_id: str) -> TaskExecution:
        for task in self.tasks:
            if task.task_execution_id == task_execution_id:
                return task
        raise WindowError(
            "DoesNotExistException",
            f"Task {task_execution_id} of window execution {self.window_execution_id} "
            "does not exist",
        )


# --- the runner -----------------------------------------------------------------------------------


class WindowRunner:
    """Runs the maintenance windows of one Cloud and keeps their execution records."""

    def __init__(self, cloud: Cloud, *, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        if poll_seconds <= 0:
            raise ValueError("poll_seconds must be positive")
        self.cloud = cloud
        self.clock = cloud.clock
        self.poll_seconds = poll_seconds
        self._lock = threading.RLock()
        self._executions: dict[str, WindowExecution] = {}
        self._ssm_client: Any = None

    @property
    def _ssm(self) -> Any:
        if self._ssm_client is None:
            self._ssm_client = self.cloud.client("ssm")
        return self._ssm_client

    # --- reading (the SSM API extension) ---------------------------------------------------

    def executions(self, window_id: str) -> list[WindowExecution]:
        """The window's executions, most recent first."""
        with self._lock:
            found = [e for e in self._executions.values() if e.window_id == window_id]
        return sorted(found, key=lambda e: e.started or self.clock.now(), reverse=True)

    def execution(self, window_execution_id: str) -> WindowExecution:
        with self._lock:
            try:
                return self._executions[window_execution_id]
            except KeyError:
                raise WindowError(
                    "DoesNotExistException",
                    f"Maintenance window execution {window_execution_id} does not exist",
                ) from None

    # --- running a window ------------------------------------------------------------------

    def run_window(self, window: str) -> str:
        """Open ``window`` (id or name) now; returns the window execution id.

        The execution is PENDING until the clock runs (``cloud.settle()``/``advance``); every
        step after that happens on the simulated clock.
        """
        found = self._window(window)
        tasks = sorted((TaskSpec.of(t) for t in found.tasks.values()), key=lambda t: t.priority)
        levels: list[list[TaskSpec]] = []
        for task in tasks:
            if levels and levels[-1][0].priority == task.priority:
                levels[-1].append(task)
            else:
                levels.append([task])
        execution = WindowExecution(
            window_execution_id=str(uuid.uuid4()),
            window_id=found.id,
            duration_hours=int(found.duration),
            cutoff_hours=int(found.cutoff or 0),
            levels=levels,
        )
        with self._lock:
            self._executions[execution.window_execution_id] = execution
        self.clock.call_later(
            0, lambda: self._start(execution), f"ssm:window:{execution.window_execution_id}"
        )
        return execution.window_execution_id

    def cancel(self, window_execution_id: str) -> None:
        """CancelMaintenanceWindowExecution: nothing new starts; running tasks finish."""
        with self._lock:
            execution = self.execution(window_execution_id)
            if execution.terminal or execution.cancelling:
                return
            execution.cancelling = True
            if execution.status == "PENDING":
                self._finish(execution, "CANCELLED", "Cancelled before it started")
                return
            execution.status = "CANCELLING"
            self._emit_window(execution)
            self._advance(execution)

    def _window(self, window: str) -> Any:
        from moto.ssm.models import ssm_backends

        backend = ssm_backends[self.cloud.account_id][self.cloud.region]
        if window in backend.windows:
            return backend.windows[window]
        named = [w for w in backend.windows.values() if w.name == window]
        if len(named) != 1:
            raise ValueError(
                f"{len(named)} maintenance windows are named {window!r}; give the window id"
            )
        return named[0]

    def _start(self, execution: WindowExecution) -> None:
        with self._lock:
            if execution.terminal:
                return
            execution.started = self.clock.now()
            execution.status = "IN_PROGRESS"
            self._emit_window(execution)
            execution.timers = [
                self.clock.call_at(
                    execution.cutoff_at,
                    lambda: self._cutoff(execution),
                    f"ssm:window-cutoff:{execution.window_execution_id}",
                ),
                self.clock.call_at(
                    execution.ends_at,
                    lambda: self._window_ended(execution),
                    f"ssm:window-end:{execution.window_execution_id}",
                ),
            ]
            self._advance(execution)

    def _advance(self, execution: WindowExecution) -> None:
        """Start the next priority once the current one is done; end the window after the last."""
        if execution.terminal or any(not t.terminal for t in execution.tasks):
            return
        remaining = execution.levels[execution.next_level :]
        if remaining and not execution.cancelling:
            if self.clock.now() >= execution.cutoff_at:
                execution.skipped_at_cutoff = sum(len(level) for level in remaining)
                execution.next_level = len(execution.levels)
            else:
                execution.next_level += 1
                for spec in remaining[0]:
                    self._start_task(execution, spec)
                self._advance(execution)  # they may all have ended at once
                return
        self._finish(execution, *self._window_outcome(execution))

    def _window_outcome(self, execution: WindowExecution) -> tuple[Status, str]:
        statuses = [t.status for t in execution.tasks]
        if execution.cancelling:
            return "CANCELLED", "The maintenance window execution was cancelled"
        if "FAILED" in statuses:
            return "FAILED", f"{statuses.count('FAILED')} of {len(statuses)} tasks failed"
        if execution.skipped_at_cutoff:
            return (
                "TIMED_OUT",
                f"{execution.skipped_at_cutoff} task(s) not started before the cutoff",
            )
        if "TIMED_OUT" in statuses:
            return "TIMED_OUT", f"{statuses.count('TIMED_OUT')} task(s) timed out"
        return "SUCCESS", ""

    def _finish(self, execution: WindowExecution, status: Status, details: str) -> None:
        for timer in execution.timers:
            timer.cancel()
        execution.status, execution.status_details = status, details
        execution.ended = self.clock.now()
        execution.started = execution.started or execution.ended
        self._emit_window(execution)

    def _cutoff(self, execution: WindowExecution) -> None:
        with self._lock:
            if execution.terminal:
                return
            for task in execution.tasks:
                if not task.terminal and task.spec.cutoff_behavior == "CANCEL_TASK":
                    self._cancel_at_cutoff(task)
            self._advance(execution)  # nothing new starts now: this may end the window

    def _cancel_at_cutoff(self, task: TaskExecution) -> None:
        task.stopped_starting = True
        for invocation in task.running():
            if invocation.command_id is not None:
                try:
                    self._ssm.cancel_command(CommandId=invocation.command_id)
                except ClientError as error:
                    LOG.warning("could not cancel %s: %s", invocation.command_id, error)
            self._end_invocation(
                invocation, "TIMED_OUT", "The maintenance window cutoff was reached"
            )
        self._end_task(task, "TIMED_OUT", "Cancelled at the maintenance window cutoff")

    def _window_ended(self, execution: WindowExecution) -> None:
        with self._lock:
            if execution.terminal:
                return
            for task in execution.tasks:
                if task.terminal:
                    continue
                for invocation in task.running():
                    self._end_invocation(
                        invocation, "TIMED_OUT", "The maintenance window ended first"
                    )
                self._end_task(task, "TIMED_OUT", "The maintenance window ended first")
            execution.next_level = len(execution.levels)
            self._finish(
                execution,
                "TIMED_OUT",
                f"The maintenance window ran past its duration of {execution.duration_hours} h",
            )

    # --- tasks ------------------------------------------------------------------------------

    def _start_task(self, execution: WindowExecution, spec: TaskSpec) -> None:
        task = TaskExecution(str(uuid.uuid4()), execution, spec)
        execution.tasks.append(task)
        task.started = self.clock.now()
        task.status = "IN_PROGRESS"
        self._emit_task(task)
        if spec.task_type == "LAMBDA":
            self._run_lambda(task)
            return
        if spec.task_type != "RUN_COMMAND":
            self._end_task(task, "FAILED", f"The local cloud does not run {spec.task_type} tasks")
            return
        try:
            task.targets = self._resolve(execution.window_id, spec.targets)
        except WindowError as error:
            self._end_task(task, "FAILED", error.message)
            return
        if not task.targets:
            self._end_task(task, "SUCCESS", "No invocations to execute")
            return
        self._dispatch(task)

    def _run_lambda(self, task: TaskExecution) -> None:
        """A LAMBDA task with no targets: one synchronous invocation as the task's role.

        Systems Manager assumes the task's service role and invokes the function with the
        task's Payload; a function error fails the invocation and the task.
        """
        spec = task.spec
        invocation = TaskInvocation(str(uuid.uuid4()), task, Target("", None, None), parameters="")
        task.invocations.append(invocation)
        invocation.started = self.clock.now()
        invocation.status = "IN_PROGRESS"
        payload = _lambda_payload(spec.lambda_parameters.get("Payload"))
        invocation.parameters = json.dumps({"functionName": spec.task_arn, "payload": payload})
        function = spec.task_arn.rsplit(":", 1)[-1]
        try:
            if not spec.service_role_arn:
                raise WindowError(
                    "ValidationException",
                    "a LAMBDA task needs a service role on the local cloud (the service-"
                    "linked role may invoke only functions named SSM*)",
                )
            role = self.cloud.iam.assume(spec.service_role_arn, "ssm.amazonaws.com")
            self.cloud.iam.require(role, "lambda", "Invoke", {"FunctionName": spec.task_arn})
        except (WindowError, AccessDenied) as error:
            details = error.message if isinstance(error, WindowError) else str(error)
            self._end_invocation(invocation, "FAILED", details)
            self._end_task(task, "FAILED", details)
            return
        result = self.cloud.lambdas.invoke(function, json.loads(payload) if payload else {})
        failed = result.error_type is not None
        details = f"{result.error_type}: {result.error_message}" if failed else "Success"
        self._end_invocation(invocation, "FAILED" if failed else "SUCCESS", details)
        self._end_task(task, "FAILED" if failed else "SUCCESS", details)

    def _dispatch(self, task: TaskExecution) -> None:
        """Start invocations while MaxConcurrency and MaxErrors allow; end the task when done."""
        count = len(task.targets)
        concurrency = _limit(task.spec.max_concurrency, count, 1)
        allowed = _limit(task.spec.max_errors, count, 0)
        while not task.terminal:
            errors = sum(1 for i in task.invocations if i.counts_as_error)
            if errors > allowed:
                task.stopped_starting = True
            pending = task.not_started()
            if task.stopped_starting or not pending:
                break
            if len(task.running()) >= concurrency:
                return
            self._start_invocation(task, pending[0])
        if not task.running() and not task.terminal:
            self._end_task(task, *self._task_outcome(task))

    @staticmethod
    def _task_outcome(task: TaskExecution) -> tuple[Status, str]:
        statuses = [i.status for i in task.invocations]
        skipped = len(task.not_started())
        details = [
            f"{statuses.count(s)} of {len(statuses)} invocations {s}"
            for s in _OUTCOME_PRECEDENCE
            if s in statuses
        ]
        if skipped:
            details.append(
                f"MaxErrors ({task.spec.max_errors}) exceeded: {skipped} of "
                f"{len(task.targets)} targets not run"
            )
        ended: Status = next((s for s in _OUTCOME_PRECEDENCE if s in statuses), "SUCCESS")
        return ended, "; ".join(details)

    def _end_task(self, task: TaskExecution, status: Status, details: str) -> None:
        """End ``task``; the caller advances the window (it may be ending it instead)."""
        task.status, task.status_details = status, details
        task.ended = self.clock.now()
        self._emit_task(task)

    # --- targets ----------------------------------------------------------------------------

    def _resolve(self, window_id: str, targets: Sequence[Mapping[str, Any]]) -> list[Target]:
        from moto.ssm.models import ssm_backends

        window = ssm_backends[self.cloud.account_id][self.cloud.region].windows[window_id]
        resolved: dict[str, Target] = {}
        for target in targets:
            if target["Key"] == "WindowTargetIds":
                for window_target_id in target["Values"]:
                    registered = window.targets.get(window_target_id)
                    if registered is None:
                        raise WindowError(
                            "DoesNotExistException",
                            f"Window target {window_target_id} is not registered with {window_id}",
                        )
                    for instance_id in self._instances(registered.targets):
                        resolved.setdefault(
                            instance_id,
                            Target(instance_id, window_target_id, registered.owner_information),
                        )
            else:
                for instance_id in self._instances([target]):
                    resolved.setdefault(instance_id, Target(instance_id, None, None))
        return list(resolved.values())

    def _instances(self, targets: Sequence[Mapping[str, Any]]) -> list[str]:
        """EC2 instances (not terminated) matching every one of ``targets``."""
        filters = [
            {
                "Name": "instance-state-name",
                "Values": ["pending", "running", "stopping", "stopped"],
            }
        ]
        for target in targets:
            key, values = target["Key"], list(target.get("Values", []))
            if key == "InstanceIds":
                filters.append({"Name": "instance-id", "Values": values})
            elif key == "tag-key":
                filters.append({"Name": "tag-key", "Values": values})
            elif key.startswith("tag:"):
                filters.append({"Name": key, "Values": values})
            else:
                raise WindowError(
                    "ValidationException",
                    f"Target key {key!r} is not supported by the local cloud "
                    "(use WindowTargetIds, InstanceIds, tag:<key> or tag-key)",
                )
        pages = (
            self.cloud.client("ec2").get_paginator("describe_instances").paginate(Filters=filters)
        )
        return [
            instance["InstanceId"]
            for page in pages
            for reservation in page["Reservations"]
            for instance in reservation["Instances"]
        ]

    # --- invocations ------------------------------------------------------------------------

    def _start_invocation(self, task: TaskExecution, target: Target) -> None:
        spec = task.spec
        invocation = TaskInvocation(str(uuid.uuid4()), task, target, parameters="")
        task.invocations.append(invocation)
        request = self._send_command_request(invocation)
        invocation.parameters = json.dumps(
            {
                "documentName": spec.task_arn,
                "instanceIds": [target.instance_id],
                "parameters": request.get("Parameters", {}),
                "maxConcurrency": spec.max_concurrency,
                "maxErrors": spec.max_errors,
                **({"outputS3BucketName": spec.output_bucket} if spec.output_bucket else {}),
                **({"outputS3KeyPrefix": spec.output_prefix} if spec.output_prefix else {}),
            },
            separators=(",", ":"),
        )
        invocation.started = self.clock.now()
        invocation.status = "IN_PROGRESS"
        self._emit_invocation(invocation)
        self._send(invocation, request)

    def _send(self, invocation: TaskInvocation, request: dict[str, Any]) -> None:
        """SendCommand for one invocation; a throttled call is tried again, as the service does."""
        try:
            command = self._ssm.send_command(**request)["Command"]
        except ClientError as error:
            if _throttled(error):
                invocation.poll = self.clock.call_later(
                    self.poll_seconds,
                    lambda: self._send_again(invocation, request),
                    f"ssm:window-send:{invocation.target.instance_id}",
                )
                return
            self._end_invocation(invocation, "FAILED", str(error)[:STATUS_DETAILS_LIMIT])
            return
        invocation.command_id = command["CommandId"]
        self._schedule_poll(invocation, 0)

    def _send_again(self, invocation: TaskInvocation, request: dict[str, Any]) -> None:
        with self._lock:
            if invocation.terminal:
                return
            self._send(invocation, request)
            self._dispatch(invocation.task)
            self._advance(invocation.task.window)

    def _send_command_request(self, invocation: TaskInvocation) -> dict[str, Any]:
        spec = invocation.task.spec
        run = spec.run_command
        pseudo = self._pseudo_parameters(invocation)

        def substitute(value: str) -> str:
            for name, replacement in pseudo.items():
                value = value.replace("{{" + name + "}}", replacement)
            return value

        request: dict[str, Any] = {
            "DocumentName": spec.task_arn,
            "InstanceIds": [invocation.target.instance_id],
            "Parameters": {
                name: [substitute(v) for v in values] for name, values in spec.parameters().items()
            },
            "MaxConcurrency": spec.max_concurrency,
            "MaxErrors": spec.max_errors,
        }
        if spec.output_bucket:
            request["OutputS3BucketName"] = spec.output_bucket
        if spec.output_prefix:
            request["OutputS3KeyPrefix"] = substitute(spec.output_prefix)
        if spec.logging_info.get("S3Region"):
            request["OutputS3Region"] = spec.logging_info["S3Region"]
        role = run.get("ServiceRoleArn") or spec.service_role_arn
        if role:
            request["ServiceRoleArn"] = role
        for name in (
            "Comment",
            "TimeoutSeconds",
            "DocumentVersion",
            "DocumentHash",
            "DocumentHashType",
            "NotificationConfig",
            "CloudWatchOutputConfig",
        ):
            if run.get(name) is not None:
                request[name] = substitute(run[name]) if name == "Comment" else run[name]
        return request

    @staticmethod
    def _pseudo_parameters(invocation: TaskInvocation) -> dict[str, str]:
        """The ``{{...}}`` values a window substitutes in task parameters."""
        task = invocation.task
        spec = task.spec
        return {
            "WINDOW_ID": task.window.window_id,
            "WINDOW_EXECUTION_ID": task.window.window_execution_id,
            "TASK_EXECUTION_ID": task.task_execution_id,
            "INVOCATION_ID": invocation.invocation_id,
            "TARGET_ID": invocation.target.instance_id,
            "RESOURCE_ID": invocation.target.instance_id,
            "TARGET_TYPE": "INSTANCE",
            "WINDOW_TARGET_ID": invocation.target.window_target_id or "",
            "LOGGING_S3_BUCKET_NAME": spec.output_bucket or "",
            "LOGGING_S3_KEY_PREFIX": spec.output_prefix or "",
            "LOGGING_S3_REGION": str(spec.logging_info.get("S3Region", "")),
        }

    def _schedule_poll(self, invocation: TaskInvocation, delay: float) -> None:
        invocation.poll = self.clock.call_later(
            delay,
            lambda: self._poll(invocation),
            f"ssm:window-poll:{invocation.target.instance_id}",
        )

    def _poll(self, invocation: TaskInvocation) -> None:
        with self._lock:
            if invocation.terminal:
                return
            try:
                result = self._ssm.get_command_invocation(
                    CommandId=invocation.command_id, InstanceId=invocation.target.instance_id
                )
            except ClientError as error:
                if _throttled(error) or error.response["Error"]["Code"] == "InvocationDoesNotExist":
                    result = {"Status": "Pending"}  # ask again later, as the service does
                else:
                    result = {"Status": "Failed", "StatusDetails": str(error)}
            ended = _COMMAND_ENDINGS.get(result["Status"])
            if ended is None:
                self._schedule_poll(invocation, self.poll_seconds)
                return
            details = str(result.get("StatusDetails", ""))[:STATUS_DETAILS_LIMIT]
            self._end_invocation(invocation, ended, details)
            self._dispatch(invocation.task)
            self._advance(invocation.task.window)

    def _end_invocation(self, invocation: TaskInvocation, status: Status, details: str) -> None:
        if invocation.poll is not None:
            invocation.poll.cancel()
            invocation.poll = None
        invocation.status, invocation.status_details = status, details
        invocation.ended = self.clock.now()
        self._emit_invocation(invocation)

    # --- events -----------------------------------------------------------------------------

    def _arn(self, window_id: str) -> str:
        return (
            f"arn:aws:ssm:{self.cloud.region}:{self.cloud.account_id}:maintenancewindow/{window_id}"
        )

    def _emit(self, detail_type: str, window_id: str, detail: dict[str, Any]) -> None:
        resources = [self._arn(window_id)]

        def emit() -> None:
            self.cloud.emit("aws.ssm", detail_type, detail, resources)

        self.clock.call_later(0, emit, f"ssm:event:{detail_type}")

    @staticmethod
    def _times(started: datetime | None, ended: datetime | None) -> dict[str, str]:
        times = {"start-time": _iso(started)} if started else {}
        if ended:
            times["end-time"] = _iso(ended)
        return times

    def _emit_window(self, execution: WindowExecution) -> None:
        self._emit(
            WINDOW_DETAIL_TYPE,
            execution.window_id,
            {
                **self._times(execution.started, execution.ended),
                "window-id": execution.window_id,
                "window-execution-id": execution.window_execution_id,
                "status": execution.status,
            },
        )

    def _emit_task(self, task: TaskExecution) -> None:
        self._emit(
            TASK_DETAIL_TYPE,
            task.window.window_id,
            {
                **self._times(task.started, task.ended),
                "task-execution-id": task.task_execution_id,
                "window-id": task.window.window_id,
                "window-execution-id": task.window.window_execution_id,
                "status": task.status,
            },
        )

    def _emit_invocation(self, invocation: TaskInvocation) -> None:
        task = invocation.task
        detail: dict[str, Any] = {
            **self._times(invocation.started, invocation.ended),
            "window-id": task.window.window_id,
            "window-execution-id": task.window.window_execution_id,
            "task-execution-id": task.task_execution_id,
        }
        if invocation.target.window_target_id:
            detail["window-target-id"] = invocation.target.window_target_id
        detail["status"] = invocation.status
        if invocation.target.owner_information:
            detail["owner-information"] = invocation.target.owner_information
        self._emit(INVOCATION_DETAIL_TYPE, task.window.window_id, detail)


# The running cloud's runner (installed by localcloud.adapters.ssm_windows).
RUNNER: Slot[WindowRunner] = Slot("windows")
