"""Run Command and patch state records of the simulated fleet (commands, invocations,
compliance), and the SSM API throttling faults.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from localcloud.sim.patch_catalogue import COMPLIANCE_LEVELS
from localcloud.sim.patches import PatchStatus

if TYPE_CHECKING:
    from localcloud.core.clock import TimerHandle

from localcloud.sim.instances import (
    DEFAULT_DELIVERY_TIMEOUT_SECONDS,
    EXECUTION_TIMEOUT_SECONDS,
    TERMINAL_STATUSES,
    ApiError,
    ManagedInstance,
)

LOG = logging.getLogger(__name__)

# --- patch state and compliance -----------------------------------------------------------------


@dataclass(frozen=True)
class PatchReport:
    """What the last patch run reported (DescribeInstancePatchStates and -Patches)."""

    instance_id: str
    patch_group: str
    baseline_id: str
    operation: Literal["Scan", "Install"]
    started: datetime
    ended: datetime
    snapshot_id: str
    install_override_list: str | None
    reboot_option: str
    last_no_reboot_install: datetime | None
    statuses: tuple[PatchStatus, ...]

    def count(self, *states: str) -> int:
        return sum(1 for s in self.statuses if s.state in states)

    @property
    def non_compliant(self) -> tuple[PatchStatus, ...]:
        return tuple(s for s in self.statuses if not s.compliant)


@dataclass(frozen=True)
class ComplianceItem:
    id: str
    title: str
    status: Literal["COMPLIANT", "NON_COMPLIANT"]
    severity: str
    details: Mapping[str, str]


@dataclass(frozen=True)
class ComplianceRecord:
    """All items of one compliance type on one resource (PutComplianceItems' unit)."""

    resource_id: str
    compliance_type: str
    execution_time: datetime
    execution_id: str | None
    execution_type: str | None
    items: tuple[ComplianceItem, ...]
    resource_type: str = "ManagedInstance"

    @property
    def status(self) -> Literal["COMPLIANT", "NON_COMPLIANT"]:
        if any(i.status == "NON_COMPLIANT" for i in self.items):
            return "NON_COMPLIANT"
        return "COMPLIANT"

    @property
    def overall_severity(self) -> str:
        """The most severe level among non-compliant items (all items when compliant)."""
        relevant = [i for i in self.items if i.status == self.status] or list(self.items)
        levels = {i.severity for i in relevant}
        return next((level for level in COMPLIANCE_LEVELS if level in levels), "UNSPECIFIED")


class ComplianceStore:
    """Compliance records by (resource, compliance type)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], ComplianceRecord] = {}

    def put(self, record: ComplianceRecord) -> ComplianceRecord | None:
        """Store ``record``; returns the one it replaces."""
        key = (record.resource_id, record.compliance_type)
        previous = self._records.get(key)
        self._records[key] = record
        return previous

    def get(self, resource_id: str, compliance_type: str) -> ComplianceRecord | None:
        return self._records.get((resource_id, compliance_type))

    def records(self) -> list[ComplianceRecord]:
        return list(self._records.values())


_STATE_LABELS = {
    "INSTALLED": "Installed",
    "INSTALLED_OTHER": "InstalledOther",
    "INSTALLED_PENDING_REBOOT": "InstalledPendingReboot",
    "INSTALLED_REJECTED": "InstalledRejected",
    "MISSING": "Missing",
    "FAILED": "Failed",
}


def state_label(state: str) -> str:
    """DescribeInstancePatches' filter spelling of a patch state (INSTALLED -> Installed)."""
    return _STATE_LABELS[state]


# --- Run Command --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchParameters:
    """AWS-RunPatchBaseline's parameters, validated as the service validates them."""

    operation: Literal["Scan", "Install"]
    reboot_option: Literal["RebootIfNeeded", "NoReboot"]
    install_override_list: str | None
    baseline_override: str | None

    _KNOWN = frozenset(
        {"Operation", "RebootOption", "InstallOverrideList", "BaselineOverride", "SnapshotId"}
    )
    _HOOKS = frozenset({"PreInstallHookDocName", "PostInstallHookDocName", "OnExitHookDocName"})

    @classmethod
    def parse(cls, document: str, parameters: Mapping[str, Sequence[str]]) -> PatchParameters:
        known = cls._KNOWN | (cls._HOOKS if document == "AWS-RunPatchBaselineWithHooks" else set())
        unknown = sorted(set(parameters) - known)
        if unknown:
            raise ApiError("InvalidParameters", f"Unknown parameters for {document}: {unknown}")

        def single(name: str, default: str | None) -> str | None:
            values = list(parameters.get(name) or [])
            if len(values) > 1:
                raise ApiError("InvalidParameters", f"Parameter {name} takes one value")
            return values[0] if values and values[0] != "" else default

        operation = single("Operation", None)
        if operation not in {"Scan", "Install"}:
            raise ApiError(
                "InvalidParameters", f"Operation must be Scan or Install, not {operation!r}"
            )
        reboot = single("RebootOption", "RebootIfNeeded")
        if reboot not in {"RebootIfNeeded", "NoReboot"}:
            raise ApiError(
                "InvalidParameters",
                f"RebootOption must be RebootIfNeeded or NoReboot, not {reboot!r}",
            )
        return cls(
            operation,  # type: ignore[arg-type]
            reboot,  # type: ignore[arg-type]
            single("InstallOverrideList", None),
            single("BaselineOverride", None),
        )


@dataclass(frozen=True)
class SendCommandRequest:
    """A validated SendCommand call for a patch document."""

    document_name: str
    parameters: dict[str, list[str]]
    instance_ids: list[str]
    targets: list[dict[str, Any]]
    comment: str = ""
    timeout_seconds: int = DEFAULT_DELIVERY_TIMEOUT_SECONDS
    max_concurrency: str = "50"
    max_errors: str = "0"
    output_bucket: str = ""
    output_prefix: str = ""
    output_region: str = ""
    service_role: str = ""
    notification_config: dict[str, Any] = field(default_factory=dict)
    # A document other than the patch ones: per platform type, the output folder and step
    # name of the step that runs (e.g. awsrunShellScript/0.awsrunShellScript).
    plugins: Mapping[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(eq=False)
class Invocation:
    """One command on one instance."""

    command: Command
    instance: ManagedInstance
    status: str = "Pending"
    details: str = "Pending"
    response_code: int = -1
    started: datetime | None = None
    ended: datetime | None = None
    stdout: str = ""
    stderr: str = ""
    timer: TimerHandle | None = None

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def in_flight(self) -> bool:
        return self.status in {"InProgress", "Delayed"}

    @property
    def counts_as_error(self) -> bool:
        return self.details in {"Failed", "ExecutionTimedOut"}

    @property
    def plugin(self) -> tuple[str, str]:
        """The output folder and step name of the document's step that runs here."""
        platform = self.instance.platform
        if self.command.patch is not None:
            return platform.plugin
        return self.command.request.plugins.get(platform.platform_type, ("", ""))

    def output_key(self, stream: Literal["stdout", "stderr"]) -> str | None:
        """The S3 key AWS writes ``stream`` to, when the command has an output bucket."""
        if not self.command.request.output_bucket:
            return None
        folder, step = self.plugin
        parts = (
            [self.command.request.output_prefix.strip("/")]
            if self.command.request.output_prefix
            else []
        )
        parts += [self.command.command_id, self.instance_id, folder, step, stream]
        return "/".join(parts)


@dataclass(eq=False)
class Command:
    command_id: str
    request: SendCommandRequest
    patch: PatchParameters | None  # None: a document other than the patch ones
    requested: datetime
    invocations: dict[str, Invocation] = field(default_factory=dict)
    status: str = "Pending"
    details: str = "Pending"
    error_limit_reached: bool = False
    deadline: TimerHandle | None = None

    @property
    def expires_after(self) -> datetime:
        return self.requested + timedelta(
            seconds=self.request.timeout_seconds + EXECUTION_TIMEOUT_SECONDS
        )

    @property
    def target_count(self) -> int:
        return len(self.invocations)

    def _limit(self, value: str, minimum: int) -> int:
        if value.endswith("%"):
            return max(minimum, math.floor(self.target_count * int(value[:-1]) / 100))
        return int(value)

    @property
    def concurrency(self) -> int:
        return self._limit(self.request.max_concurrency, 1)

    @property
    def errors_allowed(self) -> int:
        return self._limit(self.request.max_errors, 0)

    def count(self, predicate: Callable[[Invocation], bool]) -> int:
        return sum(1 for i in self.invocations.values() if predicate(i))


# --- throttling faults --------------------------------------------------------------------------


@dataclass
class _Throttle:
    probability: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    forced: int = 0


class Faults:
    """Scripted ThrottlingException for SSM operations (by API name, e.g. SendCommand)."""

    def __init__(self, operation_names: Iterable[str]) -> None:
        self._operations = frozenset(operation_names)
        self._throttles: dict[str, _Throttle] = {}
        self._lock = threading.Lock()

    def _rule(self, api: str) -> _Throttle:
        if api not in self._operations:
            raise ValueError(f"{api!r} is not an SSM operation name (e.g. 'SendCommand')")
        return self._throttles.setdefault(api, _Throttle())

    def throttle(self, api: str, probability: float, seed: int | None = None) -> None:
        if not 0 <= probability <= 1:
            raise ValueError("probability must be within [0, 1]")
        with self._lock:
            rule = self._rule(api)
            rule.probability = probability
            rule.rng = random.Random(seed)  # noqa: S311 - a simulation, not cryptography

    def throttle_next(self, api: str, n: int = 1) -> None:
        with self._lock:
            self._rule(api).forced += n

    def should_throttle(self, api: str) -> bool:
        with self._lock:
            rule = self._throttles.get(api)
            if rule is None:
                return False
            if rule.forced > 0:
                rule.forced -= 1
                return True
            return rule.probability > 0 and rule.rng.random() < rule.probability


def iso_timestamp(when: datetime) -> str:
    """UTC with milliseconds, as SSM writes times in events and invocations."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
