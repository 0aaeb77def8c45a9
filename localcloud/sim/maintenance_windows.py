"""Maintenance windows on the local cloud: run a window now, as Systems Manager runs one.

    windows = cloud.windows                   # localcloud.adapters.ssm_windows.install(cloud)
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
import threading
import uuid
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from localcloud.core.context import Cloud
from localcloud.core.iam.enforcer import AccessDenied
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    pass
from localcloud.sim.window_runs import (
    DEFAULT_POLL_SECONDS,
    OUTCOME_PRECEDENCE,
    Status,
    Target,
    TaskExecution,
    TaskInvocation,
    TaskSpec,
    WindowError,
    WindowExecution,
    lambda_payload,
    window_limit,
)
from localcloud.sim.window_tasks import WindowTargets

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)


# --- the runner -----------------------------------------------------------------------------------


class WindowRunner(WindowTargets):
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
        payload = lambda_payload(spec.lambda_parameters.get("Payload"))
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
        concurrency = window_limit(task.spec.max_concurrency, count, 1)
        allowed = window_limit(task.spec.max_errors, count, 0)
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
            for s in OUTCOME_PRECEDENCE
            if s in statuses
        ]
        if skipped:
            details.append(
                f"MaxErrors ({task.spec.max_errors}) exceeded: {skipped} of "
                f"{len(task.targets)} targets not run"
            )
        ended: Status = next((s for s in OUTCOME_PRECEDENCE if s in statuses), "SUCCESS")
        return ended, "; ".join(details)

    def _end_task(self, task: TaskExecution, status: Status, details: str) -> None:
        """End ``task``; the caller advances the window (it may be ending it instead)."""
        task.status, task.status_details = status, details
        task.ended = self.clock.now()
        self._emit_task(task)

    # --- targets ----------------------------------------------------------------------------


# The running cloud's runner (installed by localcloud.adapters.ssm_windows).
RUNNER: Slot[WindowRunner] = Slot("windows")
