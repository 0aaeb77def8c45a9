"""What EC2 requests touch, for IAM: instances, EBS volumes and snapshots, root volume
replacement tasks (the request models of :mod:`.requests`, registered by the enforcer).

Per the Service Authorization Reference (:mod:`.sar` checks every resource type named here):

* ``ec2:RebootInstances``: each instance (``aws:ResourceTag``/``ec2:ResourceTag`` keys).
* ``ec2:CreateSnapshots``: the instance, each volume it snapshots (its attached EBS volumes
  less ``ExcludeBootVolume``/``ExcludeDataVolumeIds``) and the snapshots it creates
  (``snapshot/*``, with ``aws:RequestTag``/``aws:TagKeys`` of the snapshot
  TagSpecifications). Tagging at creation is also ``ec2:CreateTags`` on the snapshots with
  ``ec2:CreateAction`` = ``CreateSnapshots`` (the reference lists CreateTags as a dependent
  action; "Grant permission to tag resources during creation", EC2 user guide).
* ``ec2:CreateReplaceRootVolumeTask``: the instance, the snapshot (with its tags), the
  replacement volume it creates (``volume/*``) and the task (``replace-root-volume-task/*``,
  with the request's tags); tagged: ``ec2:CreateTags`` with ``ec2:CreateAction`` =
  ``CreateReplaceRootVolumeTask`` on the task.
* ``ec2:DeleteSnapshot``: the snapshot, its tags as ``aws:ResourceTag``/``ec2:ResourceTag``.

Describe calls (DescribeInstanceStatus, DescribeSnapshots, DescribeReplaceRootVolumeTasks)
list no resource type: IAM authorizes them on ``"*"`` without a model. A snapshot's ARN
has no account (``arn:aws:ec2:<region>::snapshot/<id>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

from localcloud.core.iam.requests import Check, Lookups, Target


class Ec2Lookups(Lookups, Protocol):
    """What the EC2 models ask beyond :class:`.requests.Lookups` (the enforcer answers)."""

    def ec2_tags(self, resource_ids: list[str]) -> dict[str, dict[str, str]]: ...
    def instance_volumes(self, instance_id: str) -> tuple[str | None, list[str]]: ...


Model = Callable[[Mapping[str, Any], Lookups], list[Check]]
MODELS: dict[str, Model] = {}


def _model(
    action: str,
) -> Callable[[Callable[[Mapping[str, Any], Ec2Lookups], list[Check]]], Model]:
    def register(function: Callable[[Mapping[str, Any], Ec2Lookups], list[Check]]) -> Model:
        def model(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
            return function(params, cast("Ec2Lookups", lookups))

        MODELS[action] = model
        return model

    return register


def _arn(lookups: Lookups, resource: str, *, account: bool = True) -> str:
    owner = lookups.account if account else ""
    return f"arn:{lookups.partition}:ec2:{lookups.region}:{owner}:{resource}"


def _resource_keys(tags: Mapping[str, str]) -> dict[str, list[str] | None]:
    return {
        f"{prefix}/{key}": [value]
        for key, value in tags.items()
        for prefix in ("aws:ResourceTag", "ec2:ResourceTag")
    }


def _request_tags(params: Mapping[str, Any], resource_type: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for spec in params.get("TagSpecifications") or []:
        if spec.get("ResourceType") == resource_type:
            tags |= {t["Key"]: t["Value"] for t in spec.get("Tags") or []}
    return tags


def _request_keys(tags: Mapping[str, str]) -> dict[str, list[str] | None]:
    keys: dict[str, list[str] | None] = {f"aws:RequestTag/{k}": [v] for k, v in tags.items()}
    keys["aws:TagKeys"] = list(tags) or None
    return keys


def _tagged(
    kind: str, ids: list[str], lookups: Ec2Lookups, *, account: bool = True
) -> list[Target]:
    tags = lookups.ec2_tags(ids)
    return [
        Target(kind, _arn(lookups, f"{kind}/{i}", account=account), _resource_keys(tags.get(i, {})))
        for i in ids
    ]


def _created(
    kind: str, tags: Mapping[str, str], lookups: Lookups, *, account: bool = True
) -> Target:
    """A resource the request creates: its ARN with ``*`` for the id, the request's tags."""
    return Target(kind, _arn(lookups, f"{kind}/*", account=account), _request_keys(tags))


def _create_tags(action: str, target: Target, tags: Mapping[str, str], why: str) -> list[Check]:
    if not tags:
        return []
    keys = {"ec2:CreateAction": [action], **_request_keys(tags)}
    return [Check("ec2:CreateTags", [target], keys, on_behalf_of=why)]


@_model("ec2:RebootInstances")
def _reboot(params: Mapping[str, Any], lookups: Ec2Lookups) -> list[Check]:
    return [Check("", _tagged("instance", list(params.get("InstanceIds") or []), lookups))]


def _snapshotted_volumes(spec: Mapping[str, Any], lookups: Ec2Lookups) -> list[str]:
    root, volumes = lookups.instance_volumes(str(spec.get("InstanceId", "")))
    excluded = set(spec.get("ExcludeDataVolumeIds") or [])
    if spec.get("ExcludeBootVolume"):
        excluded.add(root or "")
    return [v for v in volumes if v not in excluded]


@_model("ec2:CreateSnapshots")
def _create_snapshots(params: Mapping[str, Any], lookups: Ec2Lookups) -> list[Check]:
    spec = params.get("InstanceSpecification") or {}
    tags = _request_tags(params, "snapshot")
    snapshots = _created("snapshot", tags, lookups, account=False)
    targets = _tagged("instance", [str(spec.get("InstanceId", ""))], lookups)
    targets += _tagged("volume", _snapshotted_volumes(spec, lookups), lookups)
    tagging = _create_tags("CreateSnapshots", snapshots, tags, "tagging the snapshots")
    return [Check("", [*targets, snapshots]), *tagging]


@_model("ec2:CreateReplaceRootVolumeTask")
def _replace_root(params: Mapping[str, Any], lookups: Ec2Lookups) -> list[Check]:
    tags = _request_tags(params, "replace-root-volume-task")
    task = _created("replace-root-volume-task", tags, lookups)
    targets = _tagged("instance", [str(params.get("InstanceId", ""))], lookups)
    if params.get("SnapshotId"):
        targets += _tagged("snapshot", [str(params["SnapshotId"])], lookups, account=False)
    targets += [_created("volume", {}, lookups), task]
    tagging = _create_tags("CreateReplaceRootVolumeTask", task, tags, "tagging the task")
    return [Check("", targets), *tagging]


@_model("ec2:DeleteSnapshot")
def _delete_snapshot(params: Mapping[str, Any], lookups: Ec2Lookups) -> list[Check]:
    ids = [str(params.get("SnapshotId", ""))]
    return [Check("", _tagged("snapshot", ids, lookups, account=False))]
