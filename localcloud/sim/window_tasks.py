"""A maintenance window task's targets and their Run Command invocations, and the events
the runner emits (see localcloud.sim.maintenance_windows).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    pass
from localcloud.core.clock import SimClock
from localcloud.core.context import Cloud
from localcloud.sim.window_runs import (
    COMMAND_ENDINGS,
    INVOCATION_DETAIL_TYPE,
    STATUS_DETAILS_LIMIT,
    TASK_DETAIL_TYPE,
    WINDOW_DETAIL_TYPE,
    Status,
    Target,
    TaskExecution,
    TaskInvocation,
    WindowError,
    WindowExecution,
    window_iso,
    window_throttled,
)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)


class WindowTargets:
    """A window task's targets and their Run Command invocations (a base of WindowRunner)."""

    # Set by WindowRunner.__init__: the tasks run inside their runner.
    cloud: Cloud
    clock: SimClock
    poll_seconds: float
    _lock: threading.RLock
    _ssm_client: Any

    @property
    def _ssm(self) -> Any:
        if self._ssm_client is None:
            self._ssm_client = self.cloud.client("ssm")
        return self._ssm_client

    def _dispatch(self, task: TaskExecution) -> None:
        raise NotImplementedError  # WindowRunner's: start what MaxConcurrency allows

    def _advance(self, execution: WindowExecution) -> None:
        raise NotImplementedError  # WindowRunner's: start the next task or finish

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
            if window_throttled(error):
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
                if (
                    window_throttled(error)
                    or error.response["Error"]["Code"] == "InvocationDoesNotExist"
                ):
                    result = {"Status": "Pending"}  # ask again later, as the service does
                else:
                    result = {"Status": "Failed", "StatusDetails": str(error)}
            ended = COMMAND_ENDINGS.get(result["Status"])
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
        times = {"start-time": window_iso(started)} if started else {}
        if ended:
            times["end-time"] = window_iso(ended)
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
