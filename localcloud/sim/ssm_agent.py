"""The SSM agent side of the simulated fleet: an invocation from delivery to its end.

Delivery, MaxConcurrency and MaxErrors, the patch run (scan, install, reboot), the patch
state and compliance it reports, its output in S3 and the events SSM emits. The semantics
are listed in localcloud.sim.fleet. The events' names and shapes are AWS's, written out
here on purpose rather than imported from the product: the simulator is an independent oracle.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from localcloud.core.clock import SimClock
from localcloud.core.context import Cloud
from localcloud.sim.agent_output import patch_summary, s3_location
from localcloud.sim.baselines import Baseline
from localcloud.sim.instances import (
    EXECUTION_TIMEOUT_SECONDS,
    TERMINAL_STATUSES,
    ApiError,
    BaselineSource,
    ManagedInstance,
)
from localcloud.sim.patch_catalogue import Patch, available
from localcloud.sim.patches import (
    InvalidOverrideListError,
    OverrideEntry,
    assess,
    parse_override_list,
    select_override,
    to_install,
)
from localcloud.sim.run_command import (
    Command,
    ComplianceItem,
    ComplianceRecord,
    ComplianceStore,
    Invocation,
    PatchParameters,
    PatchReport,
    iso_timestamp,
    state_label,
)

LOG = logging.getLogger(__name__)

# How long a command document other than the patch ones runs (a hook, a health check).
DOCUMENT_SECONDS = 5.0


class SsmAgent:
    """Runs the fleet's command invocations (a base of FleetSimulator)."""

    # Set by FleetSimulator.__init__: the agent runs inside its fleet.
    cloud: Cloud
    clock: SimClock
    reference: datetime
    baselines: BaselineSource
    compliance: ComplianceStore
    lock: threading.RLock
    _s3: Any

    def managed_instance(self, instance_id: str) -> ManagedInstance | None:
        raise NotImplementedError  # FleetSimulator's: the instance if it is managed now

    def announce_boot(self, instance: ManagedInstance, end: datetime) -> None:
        """A boot ends at ``end``. Like registration, what follows is derived from the clock;
        the timers only let settle() play until the instance is up and its checks are ok."""
        settled = end + timedelta(seconds=instance.behaviour.status_check_seconds)
        name = instance.instance_id
        self.clock.call_at(end, lambda: LOG.info("%s: booted", name), f"ec2:booted:{name}")
        self.clock.call_at(
            settled, lambda: LOG.info("%s: status checks settled", name), f"ec2:checks:{name}"
        )

    def _dispatch(self, command: Command) -> None:
        """Start invocations while MaxConcurrency allows and MaxErrors is not exceeded."""
        with self.lock:
            while not command.error_limit_reached:
                if command.count(lambda i: i.in_flight) >= command.concurrency:
                    break
                pending = next(
                    (i for i in command.invocations.values() if i.status == "Pending"), None
                )
                if pending is None:
                    break
                self._deliver(pending)
                if pending.terminal:  # undeliverable, or refused by the patch lock
                    self._enforce_max_errors(command)
            self._update_command(command)

    def _deliver(self, invocation: Invocation) -> None:
        now = self.clock.now()
        instance = invocation.instance
        if not instance.alive():
            self._end(invocation, "Failed", "Undeliverable")
            return
        if instance.ping_status(now) == "Online":
            self._start(invocation)
            return
        if invocation.status != "Delayed":
            self._set(invocation, "Delayed", "Delayed")
        again = instance.online_again_at(now)
        if again is not None:
            invocation.timer = self.clock.call_at(
                again, lambda: self._redeliver(invocation), f"ssm:redeliver:{instance.instance_id}"
            )

    def _redeliver(self, invocation: Invocation) -> None:
        with self.lock:
            if invocation.status != "Delayed":
                return
            self._deliver(invocation)
            if invocation.terminal:
                self._after_invocation(invocation.command)

    def _start(self, invocation: Invocation) -> None:
        instance = invocation.instance
        invocation.started = self.clock.now()
        self._set(invocation, "InProgress", "InProgress")
        if invocation.command.patch is None:
            invocation.timer = self.clock.call_later(
                DOCUMENT_SECONDS,
                lambda: self._document_finished(invocation),
                f"ssm:run:{instance.instance_id}",
            )
            return
        if instance.patching is not None:
            self._end(
                invocation,
                "Failed",
                "Failed",
                code=1,
                stderr="Another patching operation is in progress on this instance "
                f"(command {instance.patching.command.command_id}).\n",
            )
            return
        instance.patching = invocation
        behaviour = instance.behaviour
        label = f"ssm:run:{instance.instance_id}"
        if (
            behaviour.command_times_out
            or behaviour.command_duration_seconds > EXECUTION_TIMEOUT_SECONDS
        ):
            invocation.timer = self.clock.call_later(
                EXECUTION_TIMEOUT_SECONDS, lambda: self._execution_timed_out(invocation), label
            )
        else:
            invocation.timer = self.clock.call_later(
                behaviour.command_duration_seconds, lambda: self._run_finished(invocation), label
            )

    def _document_finished(self, invocation: Invocation) -> None:
        """A command document other than the patch ones (a hook, a health check) exits with
        the code the instance's behaviour scripts for it (``hook_exit_codes``, default 0)."""
        with self.lock:
            if invocation.terminal:
                return
            instance = invocation.instance
            if not instance.up():
                self._agent_lost(invocation)
                return
            name = invocation.command.request.document_name.rsplit("document/", 1)[-1]
            code = instance.behaviour.hook_exit_codes.get(name, 0)
            stdout = f"{name} ran on {instance.instance_id}\n"
            if code == 0:
                self._end(invocation, "Success", "Success", code=0, stdout=stdout)
            else:
                stderr = f"failed to run commands: exit status {code}\n"
                self._end(invocation, "Failed", "Failed", code=code, stdout=stdout, stderr=stderr)
            self._after_invocation(invocation.command)

    def _execution_timed_out(self, invocation: Invocation) -> None:
        with self.lock:
            if invocation.terminal:
                return
            self._end(
                invocation,
                "TimedOut",
                "ExecutionTimedOut",
                stderr="Execution timed out: the step did not finish within "
                f"{EXECUTION_TIMEOUT_SECONDS} seconds.\n",
            )
            self._after_invocation(invocation.command)

    def _agent_lost(self, invocation: Invocation) -> None:
        """The instance died mid-run: nothing reports back before the execution timeout."""
        assert invocation.started is not None
        deadline = invocation.started + timedelta(seconds=EXECUTION_TIMEOUT_SECONDS)
        invocation.timer = self.clock.call_at(
            deadline,
            lambda: self._execution_timed_out(invocation),
            f"ssm:lost:{invocation.instance_id}",
        )

    def _run_finished(self, invocation: Invocation) -> None:
        """The run's work is done (before any reboot): scan or install, then report."""
        with self.lock:
            if invocation.terminal:
                return
            if not invocation.instance.up():
                self._agent_lost(invocation)
                return
            try:
                baseline = self._baseline(invocation)
                override = self._override_list(invocation)
            except (InvalidOverrideListError, _S3ReadError, ValueError) as exc:
                self._fail(invocation, stderr=f"{exc}\n")
                return
            if _patch(invocation).operation == "Scan":
                self._succeed(invocation, self._report(invocation, baseline, "Scan"), ())
            else:
                self._install(invocation, baseline, override)

    def _install(
        self,
        invocation: Invocation,
        baseline: Baseline,
        override: tuple[OverrideEntry, ...] | None,
    ) -> None:
        instance = invocation.instance
        now = self.clock.now()
        patches = available(instance.os, self.reference, now)
        selected = (
            select_override(baseline, override, patches, instance.installed)
            if override is not None
            else to_install(baseline, patches, instance.installed, now)
        )
        if instance.behaviour.install_fails and selected:
            report = self._report(
                invocation, baseline, "Install", failed=frozenset(p.kb_id for p in selected)
            )
            self._fail(
                invocation,
                stdout=patch_summary(invocation, report, selected, installed=False),
                stderr="".join(
                    f"Failed to install {p.title}: transaction check error\n" for p in selected
                ),
            )
            return
        for patch in selected:
            instance.installed[patch.kb_id] = now
            instance.pending_reboot.add(patch.kb_id)
        if selected:
            instance.installed_patches(now)
        if _patch(invocation).reboot_option == "NoReboot" or not instance.pending_reboot:
            if selected:
                instance.last_no_reboot_install = now
            self._succeed(invocation, self._report(invocation, baseline, "Install"), selected)
            return
        end = instance.reboot(now)
        self.announce_boot(instance, end)
        invocation.timer = self.clock.call_at(
            end,
            lambda: self._reboot_finished(invocation, baseline, selected),
            f"ssm:reboot:{instance.instance_id}",
        )

    def _reboot_finished(
        self, invocation: Invocation, baseline: Baseline, installed: Sequence[Patch]
    ) -> None:
        with self.lock:
            if invocation.terminal:
                return
            if not invocation.instance.up():
                self._agent_lost(invocation)
                return
            invocation.instance.pending_reboot.clear()
            report = self._report(invocation, baseline, "Install")
            self._succeed(invocation, report, installed, rebooted=True)

    def _succeed(
        self,
        invocation: Invocation,
        report: PatchReport,
        installed: Sequence[Patch],
        *,
        rebooted: bool = False,
    ) -> None:
        stdout = patch_summary(invocation, report, installed, installed=True, rebooted=rebooted)
        self._end(invocation, "Success", "Success", code=0, stdout=stdout)
        self._after_invocation(invocation.command)

    def _fail(self, invocation: Invocation, *, stdout: str = "", stderr: str) -> None:
        self._end(invocation, "Failed", "Failed", code=1, stdout=stdout, stderr=stderr)
        self._after_invocation(invocation.command)

    def _delivery_deadline(self, command: Command) -> None:
        with self.lock:
            for invocation in command.invocations.values():
                if invocation.status in {"Pending", "Delayed"}:
                    self._end(invocation, "TimedOut", "DeliveryTimedOut")
            self._after_invocation(command)

    def _set(self, invocation: Invocation, status: str, details: str) -> None:
        invocation.status, invocation.details = status, details
        self._emit_invocation(invocation)

    def _end(
        self,
        invocation: Invocation,
        status: str,
        details: str,
        *,
        code: int = -1,
        stdout: str = "",
        stderr: str = "",
    ) -> None:
        if invocation.timer is not None:
            invocation.timer.cancel()
            invocation.timer = None
        invocation.ended = self.clock.now()
        invocation.response_code = code
        invocation.stdout, invocation.stderr = stdout, stderr
        if invocation.instance.patching is invocation:
            invocation.instance.patching = None
        if invocation.started is not None:
            self._write_output(invocation)
        self._set(invocation, status, details)

    def _after_invocation(self, command: Command) -> None:
        """An invocation ended: enforce MaxErrors, start the next ones, update the command."""
        self._enforce_max_errors(command)
        self._dispatch(command)

    def _enforce_max_errors(self, command: Command) -> None:
        errors = command.count(lambda i: i.counts_as_error)
        if errors <= command.errors_allowed or command.error_limit_reached:
            return
        command.error_limit_reached = True
        for invocation in command.invocations.values():
            if invocation.status in {"Pending", "Delayed"}:
                self._end(invocation, "Cancelled", "Terminated")

    def _update_command(self, command: Command) -> None:
        status, details = self._command_status(command)
        if (status, details) == (command.status, command.details):
            return
        command.status, command.details = status, details
        if status in TERMINAL_STATUSES and command.deadline is not None:
            command.deadline.cancel()
        self._emit_command(command)

    @staticmethod
    def _command_status(command: Command) -> tuple[str, str]:
        invocations = list(command.invocations.values())
        if not all(i.terminal for i in invocations):
            started = any(i.status != "Pending" for i in invocations)
            return ("InProgress", "InProgress") if started else ("Pending", "Pending")
        if any(i.details == "Cancelled" for i in invocations):
            return "Cancelled", "Cancelled"
        errors = [i for i in invocations if i.counts_as_error]
        if len(errors) > command.errors_allowed:
            if all(i.details == "ExecutionTimedOut" for i in errors):
                return "TimedOut", "ExecutionTimedOut"
            return "Failed", "Failed"
        if command.count(lambda i: i.details == "DeliveryTimedOut") > command.errors_allowed:
            return "TimedOut", "DeliveryTimedOut"
        delivered = [i for i in invocations if i.details != "Undeliverable"]
        if all(i.status == "Success" for i in delivered) and (delivered or not invocations):
            return "Success", "Success"
        return "Failed", "Incomplete"

    # --- patch state ----------------------------------------------------------------------------

    def _baseline(self, invocation: Invocation) -> Baseline:
        instance = invocation.instance
        baseline = self.baselines.for_patch_group(instance.os, instance.patch_group())
        url = _patch(invocation).baseline_override
        if not url:
            return baseline
        # A JSON list of baselines in CreatePatchBaseline's shape; the one for this OS applies.
        overrides = json.loads(self._read_s3(url))
        if not isinstance(overrides, list) or not all(isinstance(o, dict) for o in overrides):
            raise ValueError(f"BaselineOverride {url} is not a JSON list of patch baselines")
        for data in overrides:
            if data.get("OperatingSystem") == instance.os:
                return Baseline.from_api(baseline.baseline_id, data)
        return baseline

    def _override_list(self, invocation: Invocation) -> tuple[OverrideEntry, ...] | None:
        patch = _patch(invocation)
        if patch.operation != "Install" or not patch.install_override_list:
            return None
        return parse_override_list(self._read_s3(patch.install_override_list))

    def _report(
        self,
        invocation: Invocation,
        baseline: Baseline,
        operation: Literal["Scan", "Install"],
        failed: frozenset[str] = frozenset(),
    ) -> PatchReport:
        instance = invocation.instance
        now = self.clock.now()
        report = PatchReport(
            instance_id=instance.instance_id,
            patch_group=instance.patch_group() or "",
            baseline_id=baseline.baseline_id,
            operation=operation,
            started=invocation.started or now,
            ended=now,
            snapshot_id=str(uuid.uuid4()),
            install_override_list=_patch(invocation).install_override_list
            if operation == "Install"
            else None,
            reboot_option=_patch(invocation).reboot_option,
            last_no_reboot_install=instance.last_no_reboot_install,
            statuses=assess(
                baseline,
                available(instance.os, self.reference, now),
                installed=instance.installed,
                pending_reboot=frozenset(instance.pending_reboot),
                failed=failed,
                now=now,
            ),
        )
        instance.patch_state = report
        self._record_compliance(invocation, report)
        return report

    def _record_compliance(self, invocation: Invocation, report: PatchReport) -> None:
        items = tuple(
            ComplianceItem(
                id=s.patch.kb_id,
                title=s.patch.title,
                status="COMPLIANT" if s.compliant else "NON_COMPLIANT",
                severity=s.compliance_level,
                details={
                    "Classification": s.patch.classification,
                    "PatchSeverity": s.patch.severity,
                    "PatchState": state_label(s.state),
                    "PatchBaselineId": report.baseline_id,
                    "PatchGroup": report.patch_group,
                    "InstalledTime": iso_timestamp(s.installed_time) if s.installed_time else "",
                    "DocumentName": invocation.command.request.document_name,
                },
            )
            for s in report.statuses
        )
        record = ComplianceRecord(
            resource_id=report.instance_id,
            compliance_type="Patch",
            execution_time=report.ended,
            execution_id=invocation.command.command_id,
            execution_type="Command",
            items=items,
        )
        previous = self.compliance.put(record)
        if previous is None or previous.status != record.status:
            self._emit_compliance(record, report.baseline_id)

    def put_compliance(self, record: ComplianceRecord, *, partial: bool) -> None:
        """PutComplianceItems: COMPLETE replaces the items, PARTIAL updates them by id."""
        with self.lock:
            if self.managed_instance(record.resource_id) is None:
                raise ApiError(
                    "InvalidResourceId", f"{record.resource_id} is not a managed instance"
                )
            previous = self.compliance.get(record.resource_id, record.compliance_type)
            if partial and previous is not None:
                items = {i.id: i for i in previous.items} | {i.id: i for i in record.items}
                record = ComplianceRecord(
                    record.resource_id,
                    record.compliance_type,
                    record.execution_time,
                    record.execution_id,
                    record.execution_type,
                    tuple(items.values()),
                )
            self.compliance.put(record)

    # --- side effects: output and events --------------------------------------------------------

    def _s3_client(self) -> Any:
        if self._s3 is None:
            self._s3 = self.cloud.client("s3")
        return self._s3

    def _write_output(self, invocation: Invocation) -> None:
        request = invocation.command.request
        for stream, text in (("stdout", invocation.stdout), ("stderr", invocation.stderr)):
            key = invocation.output_key(stream)  # type: ignore[arg-type]
            if key is None or not text:
                continue
            try:
                self.cloud.put_object(request.output_bucket, key, text.encode())
            except Exception as exc:  # the agent logs a failed upload; the run stands
                LOG.warning(
                    "could not write %s to s3://%s/%s: %s", stream, request.output_bucket, key, exc
                )

    def _read_s3(self, url: str | None) -> str:
        bucket, key = s3_location(url or "")
        try:
            body = self._s3_client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise _S3ReadError(f"Unable to download {url}: {exc}") from exc
        return str(body.decode())

    def _emit(self, detail_type: str, detail: dict[str, Any], resources: list[str]) -> None:
        self.clock.call_later(
            0,
            lambda: self.cloud.emit("aws.ssm", detail_type, detail, resources),
            f"ssm:event:{detail_type}",
        )

    def _instance_arn(self, instance_id: str) -> str:
        return f"arn:aws:ec2:{self.cloud.region}:{self.cloud.account_id}:instance/{instance_id}"

    def _emit_invocation(self, invocation: Invocation) -> None:
        command = invocation.command
        self._emit(
            "EC2 Command Invocation Status-change Notification",
            {
                "command-id": command.command_id,
                "document-name": command.request.document_name,
                "instance-id": invocation.instance_id,
                "requested-date-time": iso_timestamp(command.requested),
                "status": invocation.status,
            },
            [self._instance_arn(invocation.instance_id)],
        )

    def _emit_command(self, command: Command) -> None:
        self._emit(
            "EC2 Command Status-change Notification",
            {
                "command-id": command.command_id,
                "document-name": command.request.document_name,
                "expire-after": iso_timestamp(command.expires_after),
                "parameters": command.request.parameters,
                "requested-date-time": iso_timestamp(command.requested),
                "status": command.status,
            },
            [self._instance_arn(i) for i in command.invocations],
        )

    def _emit_compliance(self, record: ComplianceRecord, baseline_id: str) -> None:
        self._emit(
            "Configuration Compliance State Change",
            {
                "resource-type": "managed-instance",
                "resource-id": record.resource_id,
                "compliance-status": record.status.lower(),
                "compliance-type": "Patch",
                "patch-baseline-id": baseline_id,
                "severity": record.overall_severity.lower(),
            },
            [
                f"arn:aws:ssm:{self.cloud.region}:{self.cloud.account_id}:managed-instance/"
                f"{record.resource_id}"
            ],
        )


def _patch(invocation: Invocation) -> PatchParameters:
    patch = invocation.command.patch
    assert patch is not None, "a patch document's invocation"
    return patch


class _S3ReadError(Exception):
    pass
