"""What a maintenance window run is made of: executions, tasks, invocations, their
statuses and the events that report them (see localcloud.sim.maintenance_windows).
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

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
OUTCOME_PRECEDENCE: tuple[Status, ...] = ("FAILED", "TIMED_OUT", "CANCELLED")

# Run Command invocation status -> maintenance window invocation status, once it has ended.
COMMAND_ENDINGS: dict[str, Status] = {
    "Success": "SUCCESS",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Cancelled": "CANCELLED",
}

# The events Systems Manager emits, as AWS names them: written out here on purpose rather than
# imported from the product, so the simulator stays an independent oracle.
WINDOW_DETAIL_TYPE = "Maintenance Window Execution State-change Notification"
TASK_DETAIL_TYPE = "Maintenance Window Task Execution State-change Notification"
INVOCATION_DETAIL_TYPE = "Maintenance Window Task Target Invocation State-change Notification"


class WindowError(Exception):
    """An SSM API error about windows (the extension turns it into moto's error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def window_iso(when: datetime) -> str:
    """Timestamps as the window events carry them: 2026-11-07T05:00:00.412Z."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def window_throttled(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ThrottlingException"


def lambda_payload(payload: Any) -> str:
    """A LAMBDA task's Payload as text (a blob: base64 when it came through the JSON API)."""
    if payload is None:
        return ""
    if isinstance(payload, bytes):
        return payload.decode()
    text = str(payload)
    if text.lstrip().startswith(("{", "[")):
        return text
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return text


def window_limit(value: str, targets: int, minimum: int) -> int:
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
