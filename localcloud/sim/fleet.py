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

* Any other command document (AWS-RunShellScript, AWS-RunPowerShellScript, a Command
  document of the account: a hook, a health check) runs for ``DOCUMENT_SECONDS`` without
  the patch lock and exits with the instance's ``hook_exit_codes[document]`` (default 0):
  0 is Success, anything else Failed with that ResponseCode. Its output goes to S3 under
  the document's step, with the same events as a patch command.
* EC2 RebootInstances (:meth:`FleetSimulator.reboot_instances`) reboots a running fleet
  instance: its agent is ConnectionLost for ``reboot_seconds``, then Online with a new ping.
  Patches a NoReboot install left InstalledPendingReboot are in effect from the reboot, but
  the patch state still reports them InstalledPendingReboot until the next
  AWS-RunPatchBaseline run (Scan or Install) reports again: the real agent reports only
  from a patch run. So right after a NoReboot install DescribeInstancePatchStates'
  InstalledPendingRebootCount says whether a reboot is needed; after the reboot, a Scan
  brings it to 0.
* Health (:meth:`ManagedInstance.app_healthy`, EC2 DescribeInstanceStatus through
  :meth:`ManagedInstance.status_check`): see localcloud.sim.instances. A command in
  progress when its instance is rebooted by RebootInstances is not interrupted.

Not simulated: the hook documents of AWS-RunPatchBaselineWithHooks (accepted, not run),
SnapshotId, SNS notifications and CloudWatch output, ``resource-groups`` targets, package
dependencies (so ALLOW_AS_DEPENDENCY never installs a rejected patch) and not-applicable
patches, AvailableSecurityUpdatesComplianceStatus; a command document's steps other than
the first that applies to the platform, its preconditions and its commands (nothing runs:
the exit code is scripted).
"""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.core.context import Cloud
from localcloud.core.emitters import emit_instance_state
from localcloud.core.registry import Slot
from localcloud.sim.patch_catalogue import IMAGE_AGE, OPERATING_SYSTEMS, OperatingSystem, catalogue

if TYPE_CHECKING:
    pass

from localcloud.sim.instances import (
    ASG_NAME_TAG,
    PATCH_DOCUMENTS,
    PLATFORMS,
    ApiError,
    BaselineSource,
    Behaviour,
    Ec2Instance,
    Image,
    ManagedInstance,
    _ScriptedLaunch,
    _tags,
)
from localcloud.sim.run_command import (
    Command,
    ComplianceStore,
    Faults,
    Invocation,
    PatchParameters,
    PatchReport,
    SendCommandRequest,
)
from localcloud.sim.ssm_agent import SsmAgent

LOG = logging.getLogger(__name__)

# --- the simulator ------------------------------------------------------------------------------

_INSTANCE_ID = re.compile(r"^(i-([0-9a-f]{8}|[0-9a-f]{17})|mi-[0-9a-f]{17})$")


class FleetSimulator(SsmAgent):
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
        self._position: dict[str, int] = {}  # launch order, for answers by id in that order
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
        with self.lock:  # the launch hook runs in this thread and reads the explicit behaviour
            self._explicit = behaviour
            try:
                reservation = _run_instances(
                    self.cloud.account_id,
                    self.cloud.region,
                    image_id,
                    count,
                    instance_type=instance_type,
                    tags=dict(tags or {}),
                )
            finally:
                self._explicit = None
        # EC2's pending and running events were emitted by on_launch (RunInstances).
        return [i.id for i in reservation.instances]

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
        """An EC2 instance was launched (called by the extension's RunInstances hook).

        Whoever launched it (``launch``, an Auto Scaling group, RunInstances over HTTP from
        the AWS CLI), EC2 tells EventBridge that it entered pending and then running, from
        whatever image; only instances of the fleet's images get an SSM agent.
        """
        emit_instance_state(self.cloud, ec2_instance.id, "pending")
        emit_instance_state(self.cloud, ec2_instance.id, "running")
        with self.lock:
            # moto stamps LaunchTime from the wall clock; EC2 reports when it launched in the
            # simulation (naive UTC, as moto keeps it).
            ec2_instance.launch_time = self.clock.now().astimezone(UTC).replace(tzinfo=None)
            image = self._images.get(ec2_instance.image_id)
            if image is None:
                return
            group = _tags(ec2_instance).get(ASG_NAME_TAG)
            behaviour = self._explicit or self._take_scripted(group, image)
            self._position[ec2_instance.id] = len(self._position)
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
            self.announce_boot(instance, instance.launched_at)

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

    def managed_instances(self, among: Iterable[str] | None = None) -> list[ManagedInstance]:
        """Instances whose agent is registered and that run (Online or ConnectionLost).

        ``among`` narrows them to those ids (a filter by instance id reads only those), in the
        same order as the whole list: launch order.
        """
        now = self.clock.now()
        with self.lock:
            if among is None:
                candidates: Iterable[ManagedInstance] = self._instances.values()
            else:
                known = {i for i in among if i in self._instances}
                candidates = [
                    self._instances[i] for i in sorted(known, key=self._position.__getitem__)
                ]
            return [i for i in candidates if i.ping_status(now) is not None]

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
        patch = (
            PatchParameters.parse(request.document_name, request.parameters)
            if request.document_name in PATCH_DOCUMENTS
            else None
        )
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

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        """EC2 RebootInstances: reboot each running fleet instance named (others: EC2's)."""
        now = self.clock.now()
        with self.lock:
            for instance_id in instance_ids:
                instance = self._instances.get(instance_id)
                if instance is None or not instance.up():
                    continue
                self.announce_boot(instance, instance.reboot(now))

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


# The running cloud's fleet (installed by localcloud.adapters.ssm).
FLEET: Slot[FleetSimulator] = Slot("fleet")


def _run_instances(
    account_id: str,
    region: str,
    image_id: str,
    count: int,
    *,
    instance_type: str,
    tags: Mapping[str, str],
) -> Any:
    """EC2's RunInstances as moto's handler runs it, without the answer nobody reads.

    The fleet only needs the new ids; serializing a reservation of thousands of instances
    into XML and parsing it back was most of a large fleet's set-up (17 of 23 s for 2,000
    instances, cProfile). The backend call is the one moto's RunInstances handler makes,
    with the arguments that handler passes for ImageId, MinCount/MaxCount, InstanceType and
    an instance TagSpecification, so the launch hook (``on_launch``) and everything after
    it are the same. Callers that launch through the API (Auto Scaling, RunInstances over
    HTTP) still go through moto's handler.
    """
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account_id][region]
    return backend.run_instances(
        image_id,
        count,
        None,
        [],
        instance_type=instance_type,
        is_instance_type_default=False,
        placement=None,
        placement_hostid=None,
        region_name=region,
        subnet_id=None,
        key_name=None,
        security_group_ids=[],
        nics=[],
        private_ip=None,
        associate_public_ip=None,
        tags={"instance": dict(tags)} if tags else {},
        ebs_optimized=False,
        disable_api_stop=False,
        instance_market_options={},
        instance_initiated_shutdown_behavior=None,
        launch_template={},
        hibernation_options={},
        iam_instance_profile_name=None,
        iam_instance_profile_arn=None,
        monitoring_state="disabled",
        ipv6_address_count=None,
        metadata_options={},
        client_token="ABCDE",  # noqa: S106 - moto handler's default idempotency token
    )
