"""The simulated fleet: EC2 instances with an SSM agent, installed packages and Run Command.

    fleet = cloud.fleet                           # localcloud.adapters.ssm.install(cloud)
    [web] = fleet.launch("AMAZON_LINUX_2", tags={"Patch Group": "web"})
    fleet.behaviour_for_next_launch(Behaviour(never_online=True), group="web-asg")
    cloud.settle()                                # agents register, commands run

Instances are real moto EC2 instances. Whoever launches them (``launch``, an Auto Scaling
group, a test calling RunInstances) from an image the fleet knows gets an SSM agent: the
fleet makes one image per operating system (:meth:`FleetSimulator.image_id`) and can be
told about others (:meth:`FleetSimulator.register_image`). Instances from unknown images
never become managed instances, like an image without the agent.

State is derived from the simulated clock wherever it can be: an agent is Online iff the
instance runs, ``now >= launch + agent delay`` and it is not rebooting; a terminated or
stopped instance is simply gone. Timers only mark what must *happen* at a time: an
invocation starting, finishing, timing out, a reboot ending. Every status change emits the
event AWS emits, asynchronously (on a zero-delay timer), so nothing re-enters moto from
inside a request.

Run Command (for AWS-RunPatchBaseline and AWS-RunPatchBaselineWithHooks) follows AWS's
documented semantics; where AWS documents none, the choice is stated here:

* ``TimeoutSeconds`` is the delivery timeout: an invocation not started by then ends
  TimedOut/DeliveryTimedOut. The execution timeout is the document's (7200 s).
* ``MaxConcurrency`` caps invocations in flight (InProgress or Delayed); a percentage is
  of the target count, rounded down, at least 1. ``MaxErrors`` counts Failed and
  execution timeouts; a percentage rounds down. Once errors exceed it, invocations not
  yet started end Cancelled/Terminated (AWS's Status enum has no Terminated).
* An instance not Online at its turn (rebooting) makes the invocation Delayed until it
  is back or the delivery timeout passes; a terminated one makes it Failed/Undeliverable.
  An instance terminated while its invocation runs never reports back: the invocation
  ends TimedOut/ExecutionTimedOut when the execution timeout passes.
* The command ends Success when every delivered invocation succeeded, TimedOut or Failed
  when errors exceed MaxErrors (TimedOut if all were execution timeouts), Cancelled after
  CancelCommand, and otherwise Failed with StatusDetails Incomplete.
* Two patch runs on one instance collide on its patch lock: the second fails at once.
* Install installs the approved missing patches (or the InstallOverrideList's) and, with
  RebootIfNeeded, reboots when anything was installed or awaits a reboot; the invocation
  succeeds after the reboot. NoReboot leaves them InstalledPendingReboot.
* An instance's patch group is its ``Patch Group`` tag, else its ``PatchGroup`` tag. AWS
  documents no precedence for an instance carrying both (it says an instance is in one
  group); the original key wins here. Its baseline is the one registered for the group
  and its OS, else the OS's default baseline.

Not simulated: the hook documents of AWS-RunPatchBaselineWithHooks (accepted, not run),
SnapshotId, SNS notifications and CloudWatch output, ``resource-groups`` targets, package
dependencies (so ALLOW_AS_DEPENDENCY never installs a rejected patch) and not-applicable
patches, AvailableSecurityUpdatesComplianceStatus, and an EC2 RebootInstances finishing a
pending-reboot installation.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlparse

from localcloud.core.context import Cloud
from localcloud.core.emitters import emit_instance_state
from localcloud.core.registry import Slot
from localcloud.sim.patches import (
    COMPLIANCE_LEVELS,
    IMAGE_AGE,
    OPERATING_SYSTEMS,
    Baseline,
    InvalidOverrideListError,
    OperatingSystem,
    OverrideEntry,
    Patch,
    PatchStatus,
    assess,
    available,
    catalogue,
    parse_override_list,
    select_override,
    to_install,
)

if TYPE_CHECKING:
    from localcloud.core.clock import TimerHandle

LOG = logging.getLogger(__name__)

# AWS's names (documents, tag keys, agent version), written out here on purpose rather than
# imported from the product: the simulator is an independent oracle of what AWS does.
PATCH_DOCUMENTS = frozenset({"AWS-RunPatchBaseline", "AWS-RunPatchBaselineWithHooks"})
EXECUTION_TIMEOUT_SECONDS = 7200  # the timeoutSeconds of AWS-RunPatchBaseline's steps
DEFAULT_DELIVERY_TIMEOUT_SECONDS = 3600
ASG_NAME_TAG = "aws:autoscaling:groupName"
PATCH_GROUP_TAG_KEYS = ("Patch Group", "PatchGroup")  # "Patch Group" wins when both are set
AGENT_VERSION = "3.3.987.0"

TERMINAL_STATUSES = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})


class ApiError(Exception):
    """An AWS error the SSM API returns (the extension turns it into moto's error)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# --- what can be scripted -----------------------------------------------------------------------


@dataclass(frozen=True)
class Behaviour:
    """How one simulated instance behaves (defaults: a healthy instance).

    Mirrors ``localcloud.scenario.BehaviourSpec``: the scenario runner maps one to the other.
    """

    agent_delay_seconds: float = 30.0
    never_online: bool = False
    install_fails: bool = False
    command_times_out: bool = False
    command_duration_seconds: float = 180.0
    reboot_seconds: float = 60.0


@dataclass(frozen=True)
class Platform:
    """What the agent reports about the OS (names as ``fleetpatch.launch`` expects them)."""

    platform_type: Literal["Linux", "Windows"]
    name: str
    version: str

    @property
    def plugin(self) -> tuple[str, str]:
        """The output folder and step name of AWS-RunPatchBaseline on this platform."""
        if self.platform_type == "Windows":
            return "awsrunPowerShellScript", "PatchWindows"
        return "awsrunShellScript", "PatchLinux"


PLATFORMS: dict[OperatingSystem, Platform] = {
    "AMAZON_LINUX_2": Platform("Linux", "Amazon Linux", "2"),
    "AMAZON_LINUX_2023": Platform("Linux", "Amazon Linux", "2023"),
    "REDHAT_ENTERPRISE_LINUX": Platform("Linux", "Red Hat Enterprise Linux", "9.4"),
    "CENTOS": Platform("Linux", "CentOS Linux", "7.9.2009"),
    "SUSE": Platform("Linux", "SLES", "15.5"),
    "UBUNTU": Platform("Linux", "Ubuntu", "22.04"),
    "WINDOWS": Platform("Windows", "Microsoft Windows Server 2022 Datacenter", "10.0.20348"),
}


@dataclass(frozen=True)
class Image:
    """A machine image the fleet recognises: its OS, build date and default behaviour."""

    image_id: str
    os: OperatingSystem
    created: datetime
    default_behaviour: Behaviour


@dataclass(frozen=True)
class _ScriptedLaunch:
    behaviour: Behaviour
    group: str | None
    image_id: str | None


class _TagStore(Protocol):
    tags: Mapping[str, Mapping[str, str]]


class Ec2Instance(Protocol):
    """The parts of moto's EC2 ``Instance`` the agent reads (checked by a canary)."""

    id: str
    image_id: str
    ec2_backend: _TagStore  # its tags live in the backend, by resource id
    launch_time: datetime  # naive UTC; DescribeInstances' LaunchTime

    @property
    def state(self) -> str: ...

    @property
    def private_ip(self) -> str | None: ...


def _tags(instance: Ec2Instance) -> dict[str, str]:
    return dict(instance.ec2_backend.tags.get(instance.id, {}))


class BaselineSource(Protocol):
    """Where patch baselines come from (the SSM extension reads moto's store)."""

    def for_patch_group(self, os_name: OperatingSystem, patch_group: str | None) -> Baseline: ...


# --- one instance -------------------------------------------------------------------------------


@dataclass
class ManagedInstance:
    """The SSM agent's side of one EC2 instance, and what is installed on it."""

    instance_id: str
    os: OperatingSystem
    behaviour: Behaviour
    launched_at: datetime
    ec2: Ec2Instance
    installed: dict[str, datetime]  # KB id -> install time
    pending_reboot: set[str] = field(default_factory=set)
    reboots: list[tuple[datetime, datetime]] = field(default_factory=list)
    patch_state: PatchReport | None = None
    last_no_reboot_install: datetime | None = None
    patching: Invocation | None = None  # holds the instance's patch lock

    @property
    def platform(self) -> Platform:
        return PLATFORMS[self.os]

    def tags(self) -> dict[str, str]:
        return _tags(self.ec2)

    def patch_group(self) -> str | None:
        tags = self.tags()
        return next((tags[k] for k in PATCH_GROUP_TAG_KEYS if k in tags), None)

    @property
    def registered_at(self) -> datetime | None:
        if self.behaviour.never_online:
            return None
        return self.launched_at + timedelta(seconds=self.behaviour.agent_delay_seconds)

    def alive(self) -> bool:
        """Not terminated (a stopped instance may come back)."""
        return self.ec2.state not in {"shutting-down", "terminated"}

    def up(self) -> bool:
        """Running, so its agent can work."""
        return self.ec2.state == "running"

    def _reboot_at(self, now: datetime) -> tuple[datetime, datetime] | None:
        return next(((start, end) for start, end in self.reboots if start <= now < end), None)

    def ping_status(self, now: datetime) -> str | None:
        """Online, ConnectionLost (rebooting), or None: not a managed instance right now."""
        registered = self.registered_at
        if not self.up() or registered is None or now < registered:
            return None
        return "ConnectionLost" if self._reboot_at(now) is not None else "Online"

    def last_ping(self, now: datetime) -> datetime:
        reboot = self._reboot_at(now)
        return reboot[0] if reboot is not None else now

    def online_again_at(self, now: datetime) -> datetime | None:
        """When a not-Online instance will be Online, if that is known."""
        if not self.up() or self.registered_at is None:
            return None
        reboot = self._reboot_at(now)
        return max(self.registered_at, reboot[1] if reboot is not None else now)


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

    def output_key(self, stream: Literal["stdout", "stderr"]) -> str | None:
        """The S3 key AWS writes ``stream`` to, when the command has an output bucket."""
        if not self.command.request.output_bucket:
            return None
        folder, step = self.instance.platform.plugin
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
    patch: PatchParameters
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


# --- the simulator ------------------------------------------------------------------------------

_INSTANCE_ID = re.compile(r"^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")


def iso_timestamp(when: datetime) -> str:
    """UTC with milliseconds, as SSM writes times in events and invocations."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class FleetSimulator:
    """The simulated fleet of one Cloud; see the module docstring."""

    def __init__(
        self, cloud: Cloud, *, baselines: BaselineSource, operation_names: Iterable[str]
    ) -> None:
        """``baselines``: where patch baselines are stored (moto's SSM, through its adapter);
        ``operation_names``: SSM's API operations, which ``throttle`` accepts."""
        self.cloud = cloud
        self.clock = cloud.clock
        self.reference = cloud.clock.now()
        self.baselines = baselines
        self.faults = Faults(operation_names)
        self.compliance = ComplianceStore()
        # Held by every mutation and by the API while it reads: timers may fire in another
        # thread when the clock runs in real time.
        self.lock = threading.RLock()
        self._instances: dict[str, ManagedInstance] = {}
        self._images: dict[str, Image] = {}
        self._fleet_images: dict[OperatingSystem, str] = {}
        self._scripted: list[_ScriptedLaunch] = []
        self._explicit: Behaviour | None = None
        self._commands: dict[str, Command] = {}
        self._s3: Any = None

    # --- scripting the fleet ------------------------------------------------------------------

    def image_id(self, os_name: OperatingSystem) -> str:
        """The fleet's image for ``os_name`` (registered in EC2 on first use)."""
        if os_name not in OPERATING_SYSTEMS:
            raise ValueError(f"unknown operating system {os_name!r}")
        with self.lock:
            if os_name not in self._fleet_images:
                image = self.cloud.client("ec2").register_image(
                    Name=f"fleetpatch-sim-{os_name.lower().replace('_', '-')}",
                    Description=f"{PLATFORMS[os_name].name} {PLATFORMS[os_name].version} "
                    "with the SSM agent (fleetpatch local cloud)",
                )
                self.register_image(image["ImageId"], os_name)
                self._fleet_images[os_name] = image["ImageId"]
            return self._fleet_images[os_name]

    def register_image(
        self,
        image_id: str,
        os_name: OperatingSystem,
        *,
        created: datetime | None = None,
        default_behaviour: Behaviour | None = None,
    ) -> None:
        """Recognise instances launched from ``image_id`` as ``os_name`` managed instances.

        ``created`` decides what is installed at launch (default: ``IMAGE_AGE`` before the
        catalogue's reference); ``default_behaviour`` applies when nothing else is scripted.
        """
        if os_name not in OPERATING_SYSTEMS:
            raise ValueError(f"unknown operating system {os_name!r}")
        with self.lock:
            self._images[image_id] = Image(
                image_id,
                os_name,
                created or self.reference - IMAGE_AGE,
                default_behaviour or Behaviour(),
            )

    def launch(
        self,
        os_name: OperatingSystem,
        *,
        tags: Mapping[str, str] | None = None,
        behaviour: Behaviour | None = None,
        count: int = 1,
        instance_type: str = "t3.micro",
    ) -> list[str]:
        """Run ``count`` instances of the fleet's ``os_name`` image; returns their ids.

        Without ``behaviour`` they behave as any launch would: scripted, else the image's default.
        """
        image_id = self.image_id(os_name)
        arguments: dict[str, Any] = {
            "ImageId": image_id,
            "MinCount": count,
            "MaxCount": count,
            "InstanceType": instance_type,
        }
        if tags:
            arguments["TagSpecifications"] = [
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ]
        with self.lock:  # the launch hook runs in this thread and reads the explicit behaviour
            self._explicit = behaviour
            try:
                response = self.cloud.client("ec2").run_instances(**arguments)
            finally:
                self._explicit = None
        ids = [i["InstanceId"] for i in response["Instances"]]
        # EC2 tells EventBridge about every instance entering pending and running (Auto
        # Scaling launches emit theirs in localcloud.sim.autoscaling).
        for instance_id in ids:
            emit_instance_state(self.cloud, instance_id, "pending")
            emit_instance_state(self.cloud, instance_id, "running")
        return ids

    def behaviour_for_next_launch(
        self, behaviour: Behaviour, *, group: str | None = None, image_id: str | None = None
    ) -> None:
        """Script the next instance launched (by anyone) from ``group`` and/or ``image_id``.

        Calls queue up: the scenario step ``scale_out: {group: web, behaviours: [a, b]}`` is
        two calls, consumed by the group's next two launches in order. Instances matching
        no script get their image's default behaviour.
        """
        with self.lock:
            self._scripted.append(_ScriptedLaunch(behaviour, group, image_id))

    def set_behaviour(self, instance_id: str, behaviour: Behaviour) -> None:
        """Change a launched instance's behaviour (its agent delay counts from launch)."""
        with self.lock:
            instance = self.instance(instance_id)
            instance.behaviour = behaviour
            self._announce_registration(instance)

    def instance(self, instance_id: str) -> ManagedInstance:
        with self.lock:
            try:
                return self._instances[instance_id]
            except KeyError:
                raise KeyError(f"{instance_id} was not launched from a fleet image") from None

    def throttle(self, api: str, probability: float, seed: int | None = None) -> None:
        """Fail calls to SSM ``api`` with ThrottlingException at random (0 turns it off)."""
        self.faults.throttle(api, probability, seed)

    def throttle_next(self, api: str, n: int = 1) -> None:
        """Fail the next ``n`` calls to SSM ``api`` with ThrottlingException."""
        self.faults.throttle_next(api, n)

    # --- the launch hook ------------------------------------------------------------------------

    def on_launch(self, ec2_instance: Ec2Instance) -> None:
        """An EC2 instance was launched (called by the extension's RunInstances hook)."""
        with self.lock:
            # moto stamps LaunchTime from the wall clock; EC2 reports when it launched in the
            # simulation (naive UTC, as moto keeps it).
            ec2_instance.launch_time = self.clock.now().astimezone(UTC).replace(tzinfo=None)
            image = self._images.get(ec2_instance.image_id)
            if image is None:
                return
            group = _tags(ec2_instance).get(ASG_NAME_TAG)
            behaviour = self._explicit or self._take_scripted(group, image)
            instance = self._instances[ec2_instance.id] = ManagedInstance(
                instance_id=ec2_instance.id,
                os=image.os,
                behaviour=behaviour,
                launched_at=self.clock.now(),
                ec2=ec2_instance,
                installed={
                    p.kb_id: image.created
                    for p in catalogue(image.os, self.reference)
                    if p.released < image.created
                },
            )
            self._announce_registration(instance)

    def _announce_registration(self, instance: ManagedInstance) -> None:
        # Registration is derived from the clock; the timer only lets settle() play until the
        # agent is up, as anyone waiting for the fleet expects.
        registered = instance.registered_at
        if registered is not None and registered > self.clock.now():
            self.clock.call_at(
                registered,
                lambda: LOG.info("%s: SSM agent registered", instance.instance_id),
                f"ssm:agent-registered:{instance.instance_id}",
            )

    def _take_scripted(self, group: str | None, image: Image) -> Behaviour:
        for index, script in enumerate(self._scripted):
            if script.group not in {None, group} or script.image_id not in {None, image.image_id}:
                continue
            del self._scripted[index]
            return script.behaviour
        return image.default_behaviour

    # --- reading the fleet (DescribeInstanceInformation & co) ---------------------------------

    def managed_instances(self) -> list[ManagedInstance]:
        """Instances whose agent is registered and that run (Online or ConnectionLost)."""
        now = self.clock.now()
        with self.lock:
            return [i for i in self._instances.values() if i.ping_status(now) is not None]

    def patch_states(self) -> list[PatchReport]:
        with self.lock:
            return [
                i.patch_state
                for i in self._instances.values()
                if i.patch_state is not None and i.alive()
            ]

    def managed_instance(self, instance_id: str) -> ManagedInstance | None:
        """The instance if it is a managed instance now."""
        now = self.clock.now()
        with self.lock:
            instance = self._instances.get(instance_id)
            return instance if instance and instance.ping_status(now) is not None else None

    # --- Run Command ----------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        with self.lock:
            return list(self._commands.values())

    def command(self, command_id: str) -> Command | None:
        with self.lock:
            return self._commands.get(command_id)

    def send_command(self, request: SendCommandRequest) -> Command:
        """Start a patch command; raises ApiError as SendCommand does."""
        patch = PatchParameters.parse(request.document_name, request.parameters)
        now = self.clock.now()
        with self.lock:
            targets = (
                self._named_targets(request.instance_ids, now)
                if request.instance_ids
                else self._matching_targets(request.targets, now)
            )
            command = Command(str(uuid.uuid4()), request, patch, now)
            for instance in targets:
                command.invocations[instance.instance_id] = Invocation(command, instance)
            self._commands[command.command_id] = command
            self._emit_command(command)
            for invocation in command.invocations.values():
                self._emit_invocation(invocation)
            command.deadline = self.clock.call_later(
                request.timeout_seconds,
                lambda: self._delivery_deadline(command),
                f"ssm:delivery-deadline:{command.command_id}",
            )
            self.clock.call_later(
                0, lambda: self._dispatch(command), f"ssm:dispatch:{command.command_id}"
            )
            return command

    def cancel_command(self, command_id: str, instance_ids: Sequence[str]) -> None:
        with self.lock:
            command = self._commands.get(command_id)
            if command is None:
                raise ApiError("InvalidCommandId", "")
            unknown = [i for i in instance_ids if i not in command.invocations]
            if unknown:
                raise ApiError("InvalidInstanceId", f"Instances {unknown} are not in the command")
            for invocation in command.invocations.values():
                if invocation.terminal or (
                    instance_ids and invocation.instance_id not in instance_ids
                ):
                    continue
                self._end(invocation, "Cancelled", "Cancelled")
            self._after_invocation(command)

    def _named_targets(self, instance_ids: Sequence[str], now: datetime) -> list[ManagedInstance]:
        chosen, invalid = [], []
        for instance_id in dict.fromkeys(instance_ids):
            instance = self._instances.get(instance_id)
            if (
                not _INSTANCE_ID.match(instance_id)
                or instance is None
                or instance.ping_status(now) != "Online"
            ):
                invalid.append(instance_id)
            else:
                chosen.append(instance)
        if invalid:
            raise ApiError(
                "InvalidInstanceId",
                f"Instances [[{', '.join(invalid)}]] not in a valid state for account "
                f"{self.cloud.account_id}",
            )
        return chosen

    def _matching_targets(
        self, targets: Sequence[Mapping[str, Any]], now: datetime
    ) -> list[ManagedInstance]:
        chosen = [i for i in self._instances.values() if i.ping_status(now) is not None]
        for target in targets:
            key, values = target["Key"], set(target.get("Values", []))
            if key == "InstanceIds":
                chosen = [i for i in chosen if "*" in values or i.instance_id in values]
            elif key == "tag-key":
                chosen = [i for i in chosen if values & set(i.tags())]
            elif key.startswith("tag:"):
                tag = key.removeprefix("tag:")
                chosen = [i for i in chosen if i.tags().get(tag) in values]
            else:
                raise ApiError(
                    "InvalidParameters",
                    f"Target key {key!r} is not supported by the local cloud "
                    "(use InstanceIds, tag:<key> or tag-key)",
                )
        return chosen

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
            if invocation.command.patch.operation == "Scan":
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
                stdout=_summary(invocation, report, selected, installed=False),
                stderr="".join(
                    f"Failed to install {p.title}: transaction check error\n" for p in selected
                ),
            )
            return
        for patch in selected:
            instance.installed[patch.kb_id] = now
            instance.pending_reboot.add(patch.kb_id)
        if invocation.command.patch.reboot_option == "NoReboot" or not instance.pending_reboot:
            if selected:
                instance.last_no_reboot_install = now
            self._succeed(invocation, self._report(invocation, baseline, "Install"), selected)
            return
        end = now + timedelta(seconds=instance.behaviour.reboot_seconds)
        instance.reboots.append((now, end))
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
        stdout = _summary(invocation, report, installed, installed=True, rebooted=rebooted)
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
        url = invocation.command.patch.baseline_override
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
        patch = invocation.command.patch
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
            install_override_list=invocation.command.patch.install_override_list
            if operation == "Install"
            else None,
            reboot_option=invocation.command.patch.reboot_option,
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
                self._s3_client().put_object(
                    Bucket=request.output_bucket, Key=key, Body=text.encode()
                )
            except Exception as exc:  # the agent logs a failed upload; the run stands
                LOG.warning(
                    "could not write %s to s3://%s/%s: %s", stream, request.output_bucket, key, exc
                )

    def _read_s3(self, url: str | None) -> str:
        bucket, key = _s3_location(url or "")
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


class _S3ReadError(Exception):
    pass


def _s3_location(url: str) -> tuple[str, str]:
    """Bucket and key of an ``s3://`` URL or an S3 HTTPS URL (path or virtual-host style)."""
    parsed = urlparse(url)
    path = unquote(parsed.path).lstrip("/")
    if parsed.scheme == "s3" and parsed.netloc and path:
        return parsed.netloc, path
    host = parsed.netloc
    if parsed.scheme == "https" and host.endswith(".amazonaws.com"):
        if host.startswith("s3.") or host.startswith("s3-"):
            bucket, _, key = path.partition("/")
            if bucket and key:
                return bucket, key
        elif ".s3." in host or ".s3-" in host:
            return host.split(".s3", 1)[0], path
    raise ValueError(f"{url!r} is not an s3:// or https://s3 URL of an object")


def _summary(
    invocation: Invocation,
    report: PatchReport,
    patches: Sequence[Patch],
    *,
    installed: bool,
    rebooted: bool = False,
) -> str:
    """Standard output like AWS-RunPatchBaseline's: the run, then the patch summary."""
    instance = invocation.instance
    lines = [
        f"Patch group: {report.patch_group}",
        f"Operation type: {report.operation}",
        f"Snapshot Id: {report.snapshot_id}",
        f"Instance Id: {instance.instance_id}",
        f"Loading patch baseline {report.baseline_id}",
    ]
    if report.operation == "Install":
        verb = "Installed" if installed else "Failed to install"
        lines.append(f"Installing {len(patches)} update(s)")
        lines += [f"{verb} {p.title}" for p in patches]
        if rebooted:
            lines.append("Rebooting the instance to finish the installation")
    lines += [
        "",
        f"Patch Summary for {instance.instance_id}",
        f"PatchGroup          : {report.patch_group}",
        f"BaselineId          : {report.baseline_id}",
        f"SnapshotId          : {report.snapshot_id}",
        "OwnerInformation    :",
        f"OperationType       : {report.operation}",
        f"OperationStartTime  : {iso_timestamp(report.started)}",
        f"OperationEndTime    : {iso_timestamp(report.ended)}",
        f"InstalledCount      : {report.count('INSTALLED')}",
        f"InstalledRejectedCount : {report.count('INSTALLED_REJECTED')}",
        f"InstalledPendingRebootCount : {report.count('INSTALLED_PENDING_REBOOT')}",
        f"InstalledOtherCount : {report.count('INSTALLED_OTHER')}",
        f"FailedCount         : {report.count('FAILED')}",
        f"MissingCount        : {report.count('MISSING')}",
        "NotApplicableCount  : 0",
        "",
    ]
    return "\n".join(lines)


# The running cloud's fleet (installed by localcloud.adapters.ssm).
FLEET: Slot[FleetSimulator] = Slot("fleet")
