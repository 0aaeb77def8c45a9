"""Patching new instances: the launch policy, the workflow's input, and target resolution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from fleetpatch import clock
from fleetpatch.churn import ChurnPolicy
from fleetpatch.contracts import names
from fleetpatch.errors import (
    ConflictingPatchGroupTagsError,
    InstanceNotFoundError,
    UnsupportedPlatformError,
)
from fleetpatch.skip_tag import SkipStatus, evaluate
from fleetpatch.tags import (
    AUTO_SCALING_GROUP_TAG_KEY,
    ENVIRONMENT_TAG_KEY,
    PATCH_GROUP_TAG_KEYS,
    SKIP_TAG_KEY,
)

if TYPE_CHECKING:
    from fleetpatch.events import InstanceStateChangeEvent, LaunchLifecycleActionEvent

# How long Run Command lets AWS-RunPatchBaseline run once delivered: its steps'
# ``timeoutSeconds`` (2 h; the document has no executionTimeout parameter). An invocation
# can wait for delivery up to SendCommand's TimeoutSeconds (the policy's command timeout)
# and then run this long before Run Command reports it TimedOut, so the launch waits for
# both, plus a margin for the status event. The fleet simulator restates the 2 h on purpose
# (localcloud/sim/instances.py), as an independent oracle.
# https://docs.aws.amazon.com/systems-manager/latest/userguide/patch-manager-aws-runpatchbaseline.html
# SendCommand TimeoutSeconds:
# https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_SendCommand.html
PATCH_EXECUTION_TIMEOUT_SECONDS = 7200
COMMAND_WAIT_MARGIN_SECONDS = 300


class LaunchPolicy(BaseModel):
    """What to do with new instances (the policy file renders it; see policy/)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)

    hook_names: list[str] = Field(
        default=["fleetpatch-launch"],
        alias="hookNames",
        min_length=1,
        description="launch lifecycle hooks whose instances fleetpatch patches",
    )
    auto_scaling_group_names: list[str] = Field(
        default_factory=list,
        alias="autoScalingGroupNames",
        description="groups whose launches are patched; empty (and no tags): any group",
    )
    auto_scaling_group_tags: dict[str, str] = Field(
        default_factory=dict,
        alias="autoScalingGroupTags",
        description="...or groups carrying all of these tags",
    )
    instance_tag_key: str = Field(default="fleetpatch:patch-on-launch", alias="instanceTagKey")
    instance_tag_value: str = Field(default="true", alias="instanceTagValue")
    agent_timeout_seconds: int = Field(
        default=900, ge=30, le=48 * 3600, alias="agentTimeoutSeconds"
    )
    # How often a held instance's lifecycle action is extended (and how long a lost command
    # status event can delay a run). It must stay below the hook's HeartbeatTimeout, which
    # is at least 30 s and 3600 s by default: 10 minutes fits every sensible hook.
    heartbeat_seconds: int = Field(
        default=600,
        ge=30,
        le=7200,
        alias="heartbeatSeconds",
        description="seconds between lifecycle heartbeats; below the hook's HeartbeatTimeout",
    )
    command_timeout_seconds: int = Field(
        default=3600, ge=60, le=48 * 3600, alias="commandTimeoutSeconds"
    )
    on_failure: Literal["ABANDON", "CONTINUE"] = Field(default="ABANDON", alias="onFailure")
    reboot_option: Literal["RebootIfNeeded", "NoReboot"] = Field(
        default="RebootIfNeeded", alias="rebootOption"
    )
    churn: ChurnPolicy = Field(
        default_factory=ChurnPolicy,
        description="the same launch failure again and again in one group (fleetpatch.churn)",
    )

    @model_validator(mode="after")
    def _heartbeat_within_limits(self) -> LaunchPolicy:
        if self.heartbeat_seconds > self.command_timeout_seconds + 300:
            # The command wait re-arms at the heartbeat interval; a longer interval would
            # let a lost status event hold the instance past the command's own timeout.
            raise ValueError("heartbeatSeconds must not exceed commandTimeoutSeconds + 300")
        return self

    @property
    def selects_groups(self) -> bool:
        """Whether only some Auto Scaling groups are covered (by name or tag)."""
        return bool(self.auto_scaling_group_names or self.auto_scaling_group_tags)

    def covers_group(self, group_name: str, group_tags: Mapping[str, str] | None) -> bool:
        """Is a launch in ``group_name`` (carrying ``group_tags``) patched?

        ``group_tags`` may be None when no tag lookup was needed (no tag selector).
        """
        if not self.selects_groups or group_name in self.auto_scaling_group_names:
            return True
        if not self.auto_scaling_group_tags or group_tags is None:
            return False
        return all(group_tags.get(k) == v for k, v in self.auto_scaling_group_tags.items())

    @property
    def command_wait_seconds(self) -> int:
        """How long Run Command may take over the patch: delivery, then execution, + margin."""
        return (
            self.command_timeout_seconds
            + PATCH_EXECUTION_TIMEOUT_SECONDS
            + COMMAND_WAIT_MARGIN_SECONDS
        )

    def workflow_policy(self) -> dict[str, Any]:
        """The part of the policy the state machine reads (camelCase, as in ASL)."""
        policy = self.model_dump(
            by_alias=True,
            include={
                "agent_timeout_seconds",
                "heartbeat_seconds",
                "command_timeout_seconds",
                "on_failure",
                "reboot_option",
                "churn",
            },
        )
        return {**policy, "commandWaitSeconds": self.command_wait_seconds}


@dataclass(frozen=True)
class LaunchRequest:
    """One patch-new-instance run to start: its idempotent name and input."""

    execution_name: str
    input: dict[str, Any]


def launch_request(
    event: LaunchLifecycleActionEvent | InstanceStateChangeEvent,
    policy: LaunchPolicy,
    group_tags: Mapping[str, str] | None = None,
) -> LaunchRequest | None:
    """The run an event asks for, or None when the launch policy does not cover it.

    ``group_tags``: the Auto Scaling group's tags, needed only when the policy selects
    groups by tag (see :meth:`LaunchPolicy.covers_group`).
    """
    # Imported here: the handlers that only resolve a target parse no event.
    from fleetpatch.events import LaunchLifecycleActionEvent

    if isinstance(event, LaunchLifecycleActionEvent):
        d = event.detail
        if d.lifecycle_hook_name not in policy.hook_names:
            return None
        if not policy.covers_group(d.auto_scaling_group_name, group_tags):
            return None
        trigger = "lifecycle"
        if d.destination == "WarmPool":
            trigger = "warm-pool-enter"
        elif d.origin == "WarmPool":
            trigger = "warm-pool-exit"
        return LaunchRequest(
            names.lifecycle_run_name(d.lifecycle_action_token),
            {
                "instanceId": d.instance_id,
                "trigger": trigger,
                "lifecycle": {
                    "groupName": d.auto_scaling_group_name,
                    "hookName": d.lifecycle_hook_name,
                    "token": d.lifecycle_action_token,
                },
                "policy": policy.workflow_policy(),
            },
        )
    # EC2 running: one run per instance (name keyed by the instance), whatever the duplicates.
    return LaunchRequest(
        names.running_run_name(event.detail.instance_id),
        {
            "instanceId": event.detail.instance_id,
            "trigger": "ec2-running",
            "policy": policy.workflow_policy(),
        },
    )


# --- resolving the patch target ------------------------------------------------------------------


@dataclass(frozen=True)
class PatchTarget:
    instance_id: str
    operating_system: str
    platform_name: str
    patch_group: str | None
    patch_group_tag_key: str | None
    baseline_id: str
    baseline_source: Literal["patch-group", "default"]
    environment: str | None
    exception: SkipStatus | None = None
    """What its ``fleetpatch:skip`` tag says (``fleetpatch.skip_tag``); None: no tag."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "operatingSystem": self.operating_system,
            "platformName": self.platform_name,
            "patchGroup": self.patch_group,
            "patchGroupTagKey": self.patch_group_tag_key,
            "baselineId": self.baseline_id,
            "baselineSource": self.baseline_source,
            "environment": self.environment,
            # The workflow releases an instance whose exception applies without patching.
            "exception": None
            if self.exception is None
            else {
                "status": self.exception.status,
                "until": None if self.exception.until is None else str(self.exception.until),
                "reason": self.exception.reason,
                "note": self.exception.describe(),
            },
        }


def operating_system(platform_type: str, platform_name: str, platform_version: str) -> str:
    """Map SSM's platform description to Patch Manager's OperatingSystem name."""
    name = platform_name.lower()
    if platform_type == "Windows":
        return "WINDOWS"
    if "amazon linux" in name:
        return "AMAZON_LINUX_2023" if platform_version.startswith("2023") else "AMAZON_LINUX_2"
    for needle, os_name in (
        ("red hat", "REDHAT_ENTERPRISE_LINUX"),
        ("centos", "CENTOS"),
        ("suse", "SUSE"),
        ("sles", "SUSE"),
        ("ubuntu", "UBUNTU"),
    ):
        if needle in name:
            return os_name
    raise UnsupportedPlatformError(
        f"no Patch Manager operating system for platform {platform_name!r}"
    )


def patch_group_of(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """The instance's patch group and the tag key carrying it (both keys must agree)."""
    values = {key: tags[key] for key in PATCH_GROUP_TAG_KEYS if key in tags}
    if len(set(values.values())) > 1:
        raise ConflictingPatchGroupTagsError(
            "both 'Patch Group' and 'PatchGroup' tags are set, to "
            f"{values['Patch Group']!r} and {values['PatchGroup']!r}; "
            "an instance is in one patch group"
        )
    for key, value in values.items():
        return value, key
    return None, None


def instance_patch_group(ec2: Any, instance_id: str) -> str | None:
    """The patch group an instance's tags put it in (None: no tag, or the two tags disagree)."""
    response = ec2.describe_tags(
        Filters=[
            {"Name": "resource-id", "Values": [instance_id]},
            {"Name": "key", "Values": list(PATCH_GROUP_TAG_KEYS)},
        ]
    )
    tags = {t["Key"]: t["Value"] for t in response.get("Tags", [])}
    try:
        return patch_group_of(tags)[0]
    except ConflictingPatchGroupTagsError:
        return None


_PATCH_GROUPS = "compliance.patch-groups"


@dataclass(frozen=True)
class _PatchGroupTags:
    """Every instance's patch group tags (id -> key -> value), as read at ``read_at``."""

    read_at: datetime
    tags: dict[str, dict[str, str]]


def patch_group_at(
    instance_id: str,
    ec2: Any,
    *,
    event_time: datetime | None = None,
    memory: dict[str, Any] | None = None,
) -> str | None:
    """The patch group of ``instance_id`` for an event of ``event_time`` (as
    :func:`instance_patch_group`: None for no tag, or two that disagree).

    A wave's compliance events come in bursts (each command's instances report together), and
    one ``DescribeTags`` per event is thousands of calls at EC2's 20 a second. Reading the tags
    when an event is handled means reading them at some time after the event; so does one
    read of every instance's patch group tags made at or after ``event_time``, which answers
    for every event of the burst that is no newer than it. A read older than the event is
    not trusted: it is made again. An instance the read found no patch group tag on is asked
    about alone (event times are whole seconds, so a read may precede an event of its own
    second: an instance tagged in between is not missed); a wave's instances all have one.
    ``memory``: where the warm container keeps that read; without it (or without
    ``event_time``) the one instance's tags are read.
    """
    if event_time is None or memory is None:
        return instance_patch_group(ec2, instance_id)
    cached: _PatchGroupTags | None = memory.get(_PATCH_GROUPS)
    if cached is None or cached.read_at < event_time:
        cached = memory[_PATCH_GROUPS] = _read_patch_groups(ec2)
    tags = cached.tags.get(instance_id)
    if tags is None:
        return instance_patch_group(ec2, instance_id)
    try:
        return patch_group_of(tags)[0]
    except ConflictingPatchGroupTagsError:
        return None


def _read_patch_groups(ec2: Any) -> _PatchGroupTags:
    from fleetpatch import clock

    read_at = clock.now()
    tags: dict[str, dict[str, str]] = {}
    filters = [
        {"Name": "resource-type", "Values": ["instance"]},
        {"Name": "key", "Values": list(PATCH_GROUP_TAG_KEYS)},
    ]
    paginator = ec2.get_paginator("describe_tags")
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
        for tag in page.get("Tags", []):
            tags.setdefault(tag["ResourceId"], {})[tag["Key"]] = tag["Value"]
    return _PatchGroupTags(read_at, tags)


def resolve_target(instance_id: str, ec2: Any, ssm: Any) -> PatchTarget:
    """Which OS, patch group and baseline apply to ``instance_id`` (read-only calls)."""
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances or instances[0]["State"]["Name"] in {"shutting-down", "terminated"}:
        raise InstanceNotFoundError(f"instance {instance_id} does not exist or is terminated")
    tags = {t["Key"]: t["Value"] for t in instances[0].get("Tags", [])}
    info = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )["InstanceInformationList"]
    if not info:
        raise InstanceNotFoundError(f"instance {instance_id} is not a managed instance")
    platform = info[0]
    os_name = operating_system(
        platform.get("PlatformType", ""),
        platform.get("PlatformName", ""),
        platform.get("PlatformVersion", ""),
    )
    patch_group, tag_key = patch_group_of(tags)
    # GetPatchBaselineForPatchGroup answers with the OS default baseline when nothing is
    # registered for the group, so the group's own baseline is the one that differs.
    default_id = str(ssm.get_default_patch_baseline(OperatingSystem=os_name)["BaselineId"])
    baseline_id = default_id
    if patch_group is not None:
        try:
            response = ssm.get_patch_baseline_for_patch_group(
                PatchGroup=patch_group, OperatingSystem=os_name
            )
            baseline_id = str(response.get("BaselineId") or default_id)
        except ssm.exceptions.DoesNotExistException:
            baseline_id = default_id
    source: Literal["patch-group", "default"] = (
        "patch-group" if baseline_id != default_id else "default"
    )
    return PatchTarget(
        instance_id=instance_id,
        operating_system=os_name,
        platform_name=platform.get("PlatformName", ""),
        patch_group=patch_group,
        patch_group_tag_key=tag_key,
        baseline_id=baseline_id,
        baseline_source=source,
        environment=tags.get(ENVIRONMENT_TAG_KEY),
        exception=evaluate(tags[SKIP_TAG_KEY], clock.now()) if SKIP_TAG_KEY in tags else None,
    )


def launch_exception(instance_id: str, ec2: Any) -> dict[str, Any]:
    """What a launch's EC2 tags say before its SSM agent is Online (tags need no agent).

    The launch workflow asks this first, so an excepted launch is released at once even if
    its agent never comes Online; its patch group and environment are best effort (the
    target is resolved in full once the agent is Online).
    """
    reservations = ec2.describe_instances(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        raise InstanceNotFoundError(f"instance {instance_id} does not exist")
    tags = {t["Key"]: t["Value"] for t in instances[0].get("Tags", [])}
    try:
        patch_group, tag_key = patch_group_of(tags)
    except ConflictingPatchGroupTagsError:
        patch_group, tag_key = None, None
    status = evaluate(tags[SKIP_TAG_KEY], clock.now()) if SKIP_TAG_KEY in tags else None
    return {
        "instanceId": instance_id,
        "patchGroup": patch_group,
        "patchGroupTagKey": tag_key,
        "environment": tags.get(ENVIRONMENT_TAG_KEY),
        "exception": None
        if status is None
        else {
            "status": status.status,
            "until": None if status.until is None else str(status.until),
            "reason": status.reason,
            "note": status.describe(),
        },
    }


_TAGGED = "launch.tagged"


@dataclass(frozen=True)
class _Tagged:
    """Instances with the opt-in tag or in a group (id -> tags), as read at ``read_at``."""

    key: tuple[str, str]
    read_at: datetime
    tags: dict[str, dict[str, str]]


def not_covered_on_running(
    instance_id: str,
    policy: LaunchPolicy,
    ec2: Any,
    *,
    event_time: datetime | None = None,
    memory: dict[str, Any] | None = None,
) -> str | None:
    """Why the launch policy does not patch this instance on ``running``; None if it does.

    Only instances tagged for it and outside Auto Scaling groups: a group's instances are
    held and patched through their launch lifecycle hook instead.

    ``event_time``: when EC2 says the instance entered ``running``. Instances get their tags
    when they are created (before ``pending``), so a read of every instance with the opt-in
    tag or a group's tag made at or after that time answers for it: a burst of launches
    (thousands of ``running`` events in a second) costs one read, not one DescribeInstances
    each (EC2 allows 20 a second). ``memory``: where the warm container keeps that read.
    """
    key = (policy.instance_tag_key, policy.instance_tag_value)
    cached: _Tagged | None = memory.get(_TAGGED) if memory is not None else None
    if event_time is None or cached is None or cached.key != key or cached.read_at < event_time:
        if event_time is None or memory is None:
            reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
            tags = _instance_tags(reservations).get(instance_id, {})
            return _why_not(instance_id, tags, policy)
        cached = memory[_TAGGED] = _read_tagged(ec2, key)
    return _why_not(instance_id, cached.tags.get(instance_id, {}), policy)


def _why_not(instance_id: str, tags: Mapping[str, str], policy: LaunchPolicy) -> str | None:
    if group := tags.get(AUTO_SCALING_GROUP_TAG_KEY):
        return (
            f"{instance_id} belongs to Auto Scaling group {group}: launches there are patched"
            " through the group's launch lifecycle hook, if the policy covers it"
        )
    if tags.get(policy.instance_tag_key) != policy.instance_tag_value:
        return (
            f"{instance_id} is not tagged {policy.instance_tag_key}={policy.instance_tag_value}:"
            " the launch policy does not patch it"
        )
    return None


def _instance_tags(reservations: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        i["InstanceId"]: {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        for r in reservations
        for i in r["Instances"]
    }


def _read_tagged(ec2: Any, key: tuple[str, str]) -> _Tagged:
    from fleetpatch import clock

    read_at = clock.now()
    tags: dict[str, dict[str, str]] = {}
    # tag-key: either key (values of one filter are ORed), so a group's instance is told apart
    filters = [{"Name": "tag-key", "Values": [key[0], AUTO_SCALING_GROUP_TAG_KEY]}]
    paginator = ec2.get_paginator("describe_instances")
    for page in paginator.paginate(Filters=filters, PaginationConfig={"PageSize": 1000}):
        tags.update(_instance_tags(page["Reservations"]))
    return _Tagged(key, read_at, tags)


def auto_scaling_group_tags(group_name: str, autoscaling: Any) -> dict[str, str]:
    """The tags of an Auto Scaling group (read-only ``DescribeTags``)."""
    tags: dict[str, str] = {}
    paginator = autoscaling.get_paginator("describe_tags")
    filters = [{"Name": "auto-scaling-group", "Values": [group_name]}]
    for page in paginator.paginate(Filters=filters):
        for tag in page["Tags"]:
            tags[tag["Key"]] = tag["Value"]
    return tags


@dataclass(frozen=True)
class InstanceContext:
    """Where an instance belongs by its EC2 tags: known before (or without) its SSM agent."""

    environment: str | None
    auto_scaling_group: str | None


def instance_context(instance_id: str, ec2: Any) -> InstanceContext:
    """The instance's environment and Auto Scaling group from its tags (read-only DescribeTags).

    A launch that fails before its agent is online never resolves a target; its tags
    still say where it belongs (a terminated instance keeps them while EC2 lists it).
    """
    response = ec2.describe_tags(
        Filters=[
            {"Name": "resource-id", "Values": [instance_id]},
            {"Name": "key", "Values": [ENVIRONMENT_TAG_KEY, AUTO_SCALING_GROUP_TAG_KEY]},
        ]
    )
    tags = {t["Key"]: t["Value"] for t in response.get("Tags", [])}
    return InstanceContext(
        environment=tags.get(ENVIRONMENT_TAG_KEY) or None,
        auto_scaling_group=tags.get(AUTO_SCALING_GROUP_TAG_KEY) or None,
    )
