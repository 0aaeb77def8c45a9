"""A managed instance of the simulated fleet: what can be scripted, its platform, its agent.

See localcloud.sim.fleet for the behaviour as a whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

from localcloud.sim.baselines import Baseline
from localcloud.sim.patch_catalogue import OperatingSystem

if TYPE_CHECKING:
    # ManagedInstance and Invocation name each other: the types only, no import cycle.
    from localcloud.sim.run_command import Invocation, PatchReport

    pass


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
    status_check_seconds: float = 30.0
    # Faults that a patch brings out at the first reboot after it is installed (see
    # ManagedInstance.faulted): the application stops answering, the OS status check fails.
    unhealthy_after_reboot: bool = False
    status_impaired_after_reboot: bool = False
    # A CreateReplaceRootVolumeTask on this instance ends `failed` (the original root stays).
    rollback_fails: bool = False
    # SSM document name -> exit code when it runs here (Run Command; default 0, Success).
    hook_exit_codes: Mapping[str, int] = field(default_factory=dict)


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
    broken: bool = False  # its application never answers (scripted)
    # The first install of patches not rolled back since (the faults come from it).
    first_install_at: datetime | None = None

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

    def rebooting(self, now: datetime) -> bool:
        return self._reboot_at(now) is not None

    def reboot(self, now: datetime) -> datetime:
        """Start a reboot (EC2 RebootInstances, or the agent's); returns when it is up again.

        A reboot asked for while one runs extends it. What awaited a reboot is in effect
        once it starts (the patches' files are on disk): the agent *reports* them Installed
        only at its next patch run, as the real agent does.
        """
        end = now + timedelta(seconds=self.behaviour.reboot_seconds)
        current = self._reboot_at(now)
        if current is None:
            self.reboots.append((now, end))
        else:
            end = max(end, current[1])
            self.reboots[self.reboots.index(current)] = (current[0], end)
        self.pending_reboot.clear()
        return end

    def installed_patches(self, now: datetime) -> None:
        """Patches were installed now (the faults wait for the next reboot)."""
        if self.first_install_at is None:
            self.first_install_at = now

    def booted_at(self, now: datetime) -> datetime:
        """When the instance last finished booting (its launch, or the end of a reboot)."""
        ends = [end for _, end in self.reboots if end <= now]
        return max([self.launched_at, *ends])

    def faulted(self, now: datetime) -> bool:
        """A reboot has finished since the first install not rolled back (the patch is live)."""
        installed = self.first_install_at
        return installed is not None and any(
            start >= installed and end <= now for start, end in self.reboots
        )

    def app_healthy(self, now: datetime) -> bool:
        """The instance is up and its application answers (what a load balancer checks).

        False while it is not running or reboots; with ``unhealthy_after_reboot`` or
        ``status_impaired_after_reboot``, false from the end of the first reboot after an
        install until a root volume replacement from a snapshot taken before that install.
        """
        if not self.up() or now < self.launched_at or self.rebooting(now):
            return False
        behaviour = self.behaviour
        if self.broken:  # scripted directly (a test's switch)
            return False
        broken = behaviour.unhealthy_after_reboot or behaviour.status_impaired_after_reboot
        return not (broken and self.faulted(now))

    def status_check(self, now: datetime) -> str:
        """EC2's instance status check: initializing, ok or impaired (not-applicable: down).

        ``initializing`` while it reboots and for ``status_check_seconds`` after a boot;
        ``impaired`` with ``status_impaired_after_reboot`` once the fault shows.
        """
        if not self.up():
            return "not-applicable"
        settled = self.booted_at(now) + timedelta(seconds=self.behaviour.status_check_seconds)
        if self.rebooting(now) or now < settled:
            return "initializing"
        if self.behaviour.status_impaired_after_reboot and self.faulted(now):
            return "impaired"
        return "ok"

    def system_status_check(self, now: datetime) -> str:
        """EC2's system status check (the host): the fault is the instance's, never impaired."""
        status = self.status_check(now)
        return "ok" if status == "impaired" else status

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
