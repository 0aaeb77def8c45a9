"""Who is in a batch, and in which state: one definition for the send, the gate and the report.

A batch's members are the instances tagged with one of its patch groups under either tag key
(``Patch Group`` or ``PatchGroup``); an instance whose two keys disagree is in no batch and is
listed apart as conflicting, never patched under a guess. Each member is in one state:

* ``ready``: running, its SSM agent Online, no other run patching it: the batch sends to it;
* ``not-managed``: running (or still booting) without an Online SSM agent: not reached;
* ``stopped``: stopped or stopping: not reached;
* ``busy``: another run is patching it (held by its launch hook, or a patch command of
  another run is still in flight): its own run's command is its evidence;
* ``joined``: became a member after the batch was sent (a scale-out): its own launch or
  remediation run's command, when there is one, is its evidence;
* ``terminated``: gone since the batch was sent;
* ``excepted``: it carries a ``fleetpatch:skip`` exception that applies now
  (``fleetpatch.skip_tag``): never sent, never judged, listed with its reason and date. An
  expired or invalid exception does not except it: it is in its usual state, and the
  roster says what its tag said (``Roster.exceptions``).

Everything here reads AWS in batches (tags 200 ids a call, states 100, agents 50, Auto
Scaling 50): a batch may hold thousands of instances. At 10,000 that is hundreds of calls to
APIs AWS allows a few a second (SSM), so each call waits throttling out
(:func:`fleetpatch.aws.patiently`) instead of failing the whole read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from fleetpatch import aws, clock
from fleetpatch.skip_tag import SkipStatus, evaluate
from fleetpatch.tags import PATCH_GROUP_TAG_KEYS, SKIP_TAG_KEY

PATCH_DOCUMENT = "AWS-RunPatchBaseline"
# Command statuses of a patch run that has not ended (it holds the instance's patch lock).
IN_FLIGHT_STATUSES = ("Pending", "InProgress", "Delayed", "Cancelling")


class MemberState(StrEnum):
    READY = "ready"
    NOT_MANAGED = "not-managed"
    STOPPED = "stopped"
    BUSY = "busy"
    JOINED = "joined"
    TERMINATED = "terminated"
    EXCEPTED = "excepted"


@dataclass(frozen=True)
class Member:
    instance_id: str
    state: MemberState
    reason: str | None = None
    command_id: str | None = None
    """``busy``: the other run's patch command (the evidence the gate waits for)."""


@dataclass(frozen=True)
class Roster:
    """A batch's members now, and the instances its tag rule excludes."""

    members: list[Member]
    conflicting: dict[str, str]
    """Instance id -> why it is in no batch (its two patch group tags disagree)."""
    exceptions: dict[str, SkipStatus] = field(default_factory=dict)
    """Member id -> what its ``fleetpatch:skip`` tag says now (applies, expired, invalid)."""

    @property
    def ready(self) -> list[str]:
        return [m.instance_id for m in self.members if m.state is MemberState.READY]


def _chunks[T](items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the tag rule ---------------------------------------------------------------------------


def _tag_rows(ec2: Any, filters: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    instance_filter = {"Name": "resource-type", "Values": ["instance"]}
    for page in aws.pages(ec2.describe_tags, Filters=[instance_filter, *filters]):
        for tag in page["Tags"]:
            yield tag["ResourceId"], tag["Key"], tag["Value"]


def tagged(ec2: Any, patch_groups: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Instances tagged into ``patch_groups`` (sorted), and those whose two keys disagree."""
    agreeing, conflicting, _ = _tagged(ec2, patch_groups)
    return agreeing, conflicting


def _tagged(
    ec2: Any, patch_groups: Sequence[str]
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """As :func:`tagged`, and each agreeing instance's ``fleetpatch:skip`` value.

    The skip tag is read in the same calls as the patch group keys: no call more.
    """
    candidates: set[str] = set()
    for key in PATCH_GROUP_TAG_KEYS:
        filters = [
            {"Name": "key", "Values": [key]},
            {"Name": "value", "Values": list(patch_groups)},
        ]
        candidates |= {instance for instance, _, _ in _tag_rows(ec2, filters)}
    ordered = sorted(candidates)
    tags: dict[str, dict[str, str]] = {i: {} for i in ordered}
    skips: dict[str, str] = {}
    for chunk in _chunks(ordered, 200):
        filters = [
            {"Name": "resource-id", "Values": list(chunk)},
            {"Name": "key", "Values": [*PATCH_GROUP_TAG_KEYS, SKIP_TAG_KEY]},
        ]
        for instance_id, key, value in _tag_rows(ec2, filters):
            if key == SKIP_TAG_KEY:
                skips[instance_id] = value
            else:
                tags[instance_id][key] = value
    agreeing = [i for i in ordered if len(set(tags[i].values())) == 1]
    conflicting = {
        i: "its patch group tags disagree ("
        + ", ".join(f"{k}={v}" for k, v in sorted(tags[i].items()))
        + "): it is in no batch until they agree"
        for i in ordered
        if len(set(tags[i].values())) > 1
    }
    return agreeing, conflicting, {i: skips[i] for i in agreeing if i in skips}


# --- states ---------------------------------------------------------------------------------


def ec2_states(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> EC2 state name; an instance EC2 no longer knows is left out."""
    states: dict[str, str] = {}
    for chunk in _chunks(instance_ids, 100):
        try:
            response = aws.patiently(
                ec2.describe_instance_status, InstanceIds=list(chunk), IncludeAllInstances=True
            )
        except ec2.exceptions.ClientError as exc:
            if "InvalidInstanceID.NotFound" not in str(exc):
                raise
            # One vanished id fails the whole call (a scale-in): ask one by one; an id EC2
            # no longer knows is left out.
            if len(chunk) > 1:
                for instance_id in chunk:
                    states.update(ec2_states(ec2, [instance_id]))
            continue
        for status in response["InstanceStatuses"]:
            states[status["InstanceId"]] = status["InstanceState"]["Name"]
    return states


def launch_times(ec2: Any, instance_ids: Sequence[str]) -> dict[str, datetime]:
    """Instance id -> when EC2 launched it; an instance EC2 no longer knows is left out."""
    found: dict[str, datetime] = {}
    for chunk in _chunks(instance_ids, 100):
        try:
            response = aws.patiently(ec2.describe_instances, InstanceIds=list(chunk))
        except ec2.exceptions.ClientError as exc:
            if "InvalidInstanceID.NotFound" not in str(exc):
                raise
            # One vanished id fails the whole call: ask one by one (rare: a scale-in).
            for instance_id in chunk if len(chunk) > 1 else ():
                found.update(launch_times(ec2, [instance_id]))
            continue
        for reservation in response["Reservations"]:
            for instance in reservation["Instances"]:
                found[instance["InstanceId"]] = instance["LaunchTime"]
    return found


def ping_statuses(ssm: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> its SSM agent's PingStatus; an unregistered instance is left out."""
    found: dict[str, str] = {}
    for chunk in _chunks(instance_ids, 50):
        # 50 a call at most (AWS's default is 10): one call per chunk.
        filters = [{"Key": "InstanceIds", "Values": list(chunk)}]
        for page in aws.pages(ssm.describe_instance_information, Filters=filters, MaxResults=50):
            for info in page["InstanceInformationList"]:
                found[info["InstanceId"]] = info["PingStatus"]
    return found


def launch_holds(autoscaling: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> why its Auto Scaling group holds it (not InService: its launch run's)."""
    held: dict[str, str] = {}
    for chunk in _chunks(instance_ids, 50):
        response = aws.patiently(
            autoscaling.describe_auto_scaling_instances, InstanceIds=list(chunk)
        )
        for member in response.get("AutoScalingInstances", []):
            state = member["LifecycleState"]
            if state.startswith("Pending") or state.startswith("Warmed"):
                held[member["InstanceId"]] = (
                    f"it is {state} in Auto Scaling group {member['AutoScalingGroupName']}: "
                    "its launch run patches it"
                )
    return held


def patches_in_flight(ssm: Any, exclude: Iterable[str] = ()) -> dict[str, str]:
    """Instance id -> the in-flight AWS-RunPatchBaseline command (not one of ``exclude``)."""
    ours = set(exclude)
    busy: dict[str, str] = {}
    for status in ("Pending", "InProgress"):
        filters = [
            {"key": "Status", "value": status},
            {"key": "DocumentName", "value": PATCH_DOCUMENT},
        ]
        for page in aws.pages(ssm.list_commands, Filters=filters):
            for command in page["Commands"]:
                if command["CommandId"] in ours:
                    continue
                for instance_id in command.get("InstanceIds", []):
                    busy.setdefault(instance_id, command["CommandId"])
    return busy


def roster(
    patch_groups: Sequence[str],
    *,
    ec2: Any,
    ssm: Any,
    autoscaling: Any,
    own_commands: Iterable[str] = (),
    only: Collection[str] | None = None,
) -> Roster:
    """The batch's members now, each in its state (``own_commands``: this run's sends).

    ``only``: an emergency batch's affected instances; the batch's other members are not
    its members at all (not patched, not judged, not reported).
    """
    agreeing, conflicting, skips = _tagged(ec2, patch_groups)
    if only is not None:
        wanted = set(only)
        agreeing = [i for i in agreeing if i in wanted]
        conflicting = {i: why for i, why in conflicting.items() if i in wanted}
    now = clock.now()
    exceptions = {i: evaluate(value, now) for i, value in skips.items()}
    states = ec2_states(ec2, agreeing)
    running = [i for i in agreeing if states.get(i) == "running"]
    pings = ping_statuses(ssm, running)
    online = [i for i in running if pings.get(i) == "Online"]
    held = launch_holds(autoscaling, online) if online else {}
    in_flight = patches_in_flight(ssm, own_commands) if online else {}
    members: list[Member] = []
    for instance_id in agreeing:
        state = states.get(instance_id, "terminated")
        if state in ("shutting-down", "terminated"):
            members.append(Member(instance_id, MemberState.TERMINATED, f"it is {state}"))
        elif instance_id in exceptions and exceptions[instance_id].applies:
            # Whatever else it is (stopped, not managed): it opted out, so it is not failed.
            why = exceptions[instance_id].describe()
            members.append(Member(instance_id, MemberState.EXCEPTED, why))
        elif state in ("stopping", "stopped"):
            members.append(Member(instance_id, MemberState.STOPPED, f"it is {state}"))
        elif state == "pending":
            members.append(
                Member(instance_id, MemberState.NOT_MANAGED, "not managed: it is still booting")
            )
        elif pings.get(instance_id) != "Online":
            why = pings.get(instance_id, "not registered")
            members.append(
                Member(
                    instance_id,
                    MemberState.NOT_MANAGED,
                    f"not managed: its SSM agent is {why}",
                )
            )
        elif instance_id in in_flight:
            command = in_flight[instance_id]
            members.append(
                Member(
                    instance_id,
                    MemberState.BUSY,
                    f"another run's patch command {command} is still running on it",
                    command,
                )
            )
        elif instance_id in held:
            members.append(Member(instance_id, MemberState.BUSY, held[instance_id]))
        else:
            members.append(Member(instance_id, MemberState.READY))
    return Roster(members, conflicting, exceptions)


def own_runs_commands(ssm: Any, instance_ids: Sequence[str], *, since: Any) -> dict[str, str]:
    """Instance id -> the latest AWS-RunPatchBaseline command sent to it at or after ``since``.

    The evidence of a member this batch did not send to (it joined later, or another run was
    patching it): its own launch or remediation run's command.
    """
    found: dict[str, str] = {}
    for instance_id in instance_ids:
        commands = aws.patiently(
            ssm.list_commands,
            InstanceId=instance_id,
            Filters=[{"key": "DocumentName", "value": PATCH_DOCUMENT}],
            MaxResults=10,
        ).get("Commands", [])
        recent = [c for c in commands if c["RequestedDateTime"] >= since]
        if recent:
            latest = max(recent, key=lambda c: c["RequestedDateTime"])
            found[instance_id] = str(latest["CommandId"])
    return found
