"""EC2 and EBS on the local cloud: reboots, status checks, snapshots, root volume replacement.

moto 5.2.5 reboots an instance in no time (and makes a stopped one running), reports every
running instance's status checks ``ok``, completes a snapshot at once on the wall clock and
has no root volume replacement. This extension answers from the simulators:

* RebootInstances: a running fleet instance reboots (localcloud.sim.fleet); instances not
  running are left alone ("Requests to reboot terminated instances are ignored", the EC2 API
  reference; a stopped one likewise).
* DescribeInstanceStatus: InstanceStatus and SystemStatus from
  ``ManagedInstance.status_check`` (initializing, ok, impaired); other instances as moto.
  The ``instance-status.*`` and ``system-status.*`` (``status``, ``reachability``) filters
  apply to those checks.
* CreateSnapshot(s), DescribeSnapshots, DeleteSnapshot: moto's (TagSpecifications kept, tag
  filters), with ``State``/``Progress`` on simulated time and ``StartTime`` the simulated
  request time (localcloud.sim.ebs).
* CreateReplaceRootVolumeTask and DescribeReplaceRootVolumeTasks (added). Validation, with
  the error codes EC2 uses for them: InvalidInstanceID.NotFound, IncorrectInstanceState
  (not ``running``), InvalidSnapshot.NotFound, IncorrectState (the snapshot is still
  pending), InvalidParameterValue (the snapshot is not of the instance's root volume: the
  API reference says it "must be a snapshot that you previously created from the original
  root volume" and names no error for it, so this code is the local cloud's choice),
  InvalidParameterCombination (SnapshotId with ImageId). Restoring to the launch state or
  from an AMI is not simulated (UnsupportedOperation).

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_ec2.py):

* ``moto.ec2.models.instances.InstanceBackend.reboot_instances`` replaced (reads
  ``get_multi_instances_by_id``, ``Instance.state``);
* ``moto.ec2.responses.instances.InstanceResponse.describe_instance_status`` replaced
  (reads ``_get_param``, ``_get_bool_param``, ``_filters_from_querystring``,
  ``ec2_backend.describe_instance_status``, ``Instance.id``, ``.state``, ``.state_code``,
  ``.placement``);
* ``moto.ec2.models.elastic_block_store.EBSBackend.create_snapshot``, ``create_snapshots``
  and ``delete_snapshot`` wrapped (read ``Volume.id``, ``.attachment.instance``,
  ``.attachment.device``, ``Instance.root_device_name``, ``Snapshot.id``,
  ``.start_time``);
* ``moto.ec2.models.elastic_block_store.Snapshot.status`` and ``.progress`` made
  properties on simulated time (moto sets ``status`` in ``__init__``), ``.state`` added
  (CreateSnapshots' ``State``, which moto leaves out);
* ``moto.ec2.responses.EC2Response``: ``create_replace_root_volume_task`` and
  ``describe_replace_root_volume_tasks`` added (read ``_parse_tag_specification``,
  ``error_on_dryrun``, ``ec2_backend.get_instance``, ``.get_snapshot``);
  ``moto.ec2.exceptions.EC2ClientError``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.responses import ActionResult

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.ebs import EBS, EbsSimulator
from localcloud.sim.fleet import FLEET, FleetSimulator

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

_TAG = "_fleetpatch_ec2"


def _error(code: str, message: str) -> Exception:
    from moto.ec2.exceptions import EC2ClientError

    return EC2ClientError(code, message)


# --- instances ----------------------------------------------------------------------------------


def _reboot_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def reboot_instances(self: Any, instance_ids: list[str]) -> list[Any]:
        instances = self.get_multi_instances_by_id(instance_ids)  # InvalidInstanceID.NotFound
        running = [i for i in instances if i.state == "running"]
        fleet = FLEET.get()
        if fleet is not None:
            fleet.reboot_instances([i.id for i in running])
        return running

    return reboot_instances


def _check(status: str) -> dict[str, Any]:
    if status == "not-applicable":
        return {"Status": status}
    detail = {"ok": "passed", "impaired": "failed", "initializing": "initializing"}[status]
    return {"Status": status, "Details": [{"Name": "reachability", "Status": detail}]}


def _checks(fleet: FleetSimulator | None, instance: Any) -> tuple[str, str]:
    """The instance and system status checks: the fleet's, else moto's (ok while running)."""
    if fleet is not None:
        try:
            managed = fleet.instance(instance.id)
        except KeyError:
            pass
        else:
            now = fleet.clock.now()
            return managed.status_check(now), managed.system_status_check(now)
    status = "ok" if instance.state == "running" else "not-applicable"
    return status, status


def _instance_status(fleet: FleetSimulator | None, instance: Any) -> dict[str, Any]:
    instance_check, system_check = _checks(fleet, instance)
    return {
        "InstanceId": instance.id,
        "AvailabilityZone": instance.placement.zone,
        "InstanceState": {"Code": instance.state_code, "Name": instance.state},
        "InstanceStatus": _check(instance_check),
        "SystemStatus": _check(system_check),
    }


# The status filters DescribeInstanceStatus applies to the checks (moto's filters the rest).
_STATUS_FILTERS = {
    "instance-status.status": ("InstanceStatus", "Status"),
    "system-status.status": ("SystemStatus", "Status"),
    "instance-status.reachability": ("InstanceStatus", "Details"),
    "system-status.reachability": ("SystemStatus", "Details"),
}


def _status_matches(status: dict[str, Any], wanted: Mapping[str, list[str]]) -> bool:
    for name, values in wanted.items():
        check, field = _STATUS_FILTERS[name]
        found = status[check].get(field)
        value = found[0]["Status"] if field == "Details" and found else found
        if value not in values:
            return False
    return True


def describe_instance_status(self: Any) -> ActionResult:
    instance_ids = self._get_param("InstanceIds", [])
    include_all = self._get_bool_param("IncludeAllInstances", False)
    given = self._filters_from_querystring()
    wanted = {k: list(v) for k, v in given.items() if k in _STATUS_FILTERS}
    filters = [{"name": k, "values": v} for k, v in given.items() if k not in _STATUS_FILTERS]
    instances = self.ec2_backend.describe_instance_status(instance_ids, include_all, filters)
    fleet = FLEET.get()
    with fleet.lock if fleet is not None else contextlib.nullcontext():
        statuses = [_instance_status(fleet, i) for i in instances]
    return ActionResult({"InstanceStatuses": [s for s in statuses if _status_matches(s, wanted)]})


# --- snapshots ----------------------------------------------------------------------------------


def _root_of(volume: Any) -> str | None:
    attachment = getattr(volume, "attachment", None)
    if attachment is None or attachment.instance is None:
        return None
    instance = attachment.instance
    return str(instance.id) if attachment.device == instance.root_device_name else None


def _create_snapshot(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_snapshot(self: Any, volume_id: str, *args: Any, **kwargs: Any) -> Any:
        snapshot = original(self, volume_id, *args, **kwargs)
        ebs = EBS.get()
        if ebs is not None:
            snapshot.start_time = ebs.clock.now().replace(tzinfo=None)
            ebs.snapshot_taken(snapshot.id, snapshot.volume.id, _root_of(snapshot.volume))
        return snapshot

    return create_snapshot


def _create_snapshots(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_snapshots(self: Any, *args: Any, **kwargs: Any) -> Any:
        snapshots = original(self, *args, **kwargs)
        ebs = EBS.get()
        if ebs is not None:
            found = [ebs.snapshot(s.id) for s in snapshots]
            ebs.snapshots_requested([s for s in found if s is not None])
        return snapshots

    return create_snapshots


def _delete_snapshot(original: Callable[..., Any]) -> Callable[..., Any]:
    def delete_snapshot(self: Any, snapshot_id: str) -> Any:
        deleted = original(self, snapshot_id)
        ebs = EBS.get()
        if ebs is not None:
            ebs.forget_snapshot(snapshot_id)
        return deleted

    return delete_snapshot


def _snapshot_state(snapshot: Any) -> str:
    ebs = EBS.get()
    simulated = ebs.snapshot(snapshot.id) if ebs is not None else None
    if simulated is None or ebs is None:
        return str(snapshot.__dict__.get("_status", "completed"))
    return simulated.state(ebs.clock.now())


def _set_snapshot_state(snapshot: Any, value: str) -> None:
    snapshot.__dict__["_status"] = value


def _snapshot_progress(snapshot: Any) -> str:
    ebs = EBS.get()
    simulated = ebs.snapshot(snapshot.id) if ebs is not None else None
    if simulated is None or ebs is None:
        return "100%"
    return simulated.progress(ebs.clock.now())


def _snapshot_properties() -> None:
    from moto.ec2.models.elastic_block_store import Snapshot

    if getattr(Snapshot.__dict__.get("progress"), "fget", None) is _snapshot_progress:
        return
    # Properties on the class (moto's Snapshot sets ``status`` in __init__: the setter keeps it).
    setattr(Snapshot, "status", property(_snapshot_state, _set_snapshot_state))  # noqa: B010
    setattr(Snapshot, "progress", property(_snapshot_progress))  # noqa: B010
    # CreateSnapshots' SnapshotInfo names it State (moto leaves it out).
    setattr(Snapshot, "state", property(_snapshot_state))  # noqa: B010


# --- root volume replacement --------------------------------------------------------------------


def _root_volume_id(instance: Any) -> str | None:
    block = dict(instance.get_block_device_mapping).get(instance.root_device_name)
    return str(block.volume_id) if block is not None else None


def _validate_task(self: Any, instance_id: str, snapshot_id: str | None) -> None:
    image_id = self._get_param("ImageId")
    if snapshot_id and image_id:
        raise _error("InvalidParameterCombination", "Specify SnapshotId or ImageId, not both.")
    if not snapshot_id:
        raise _error(
            "UnsupportedOperation",
            "The local cloud replaces a root volume from a snapshot only (SnapshotId).",
        )
    instance = self.ec2_backend.get_instance(instance_id)  # InvalidInstanceID.NotFound
    if instance.state != "running":
        raise _error(
            "IncorrectInstanceState", f"The instance '{instance_id}' is not in the 'running' state."
        )
    snapshot = self.ec2_backend.get_snapshot(snapshot_id)  # InvalidSnapshot.NotFound
    if snapshot.volume.id != _root_volume_id(instance):
        raise _error(
            "InvalidParameterValue",
            f"The snapshot '{snapshot_id}' was not created from the root volume of instance "
            f"'{instance_id}'.",
        )
    if snapshot.status != "completed":
        raise _error(
            "IncorrectState", f"Snapshot '{snapshot_id}' is in the '{snapshot.status}' state."
        )


def _ebs() -> EbsSimulator:
    return EBS.require("root volume replacement needs the EBS simulator (localcloud.sim.ebs)")


def create_replace_root_volume_task(self: Any) -> ActionResult:
    instance_id = str(self._get_param("InstanceId"))
    snapshot_id = self._get_param("SnapshotId")
    tags = self._parse_tag_specification().get("replace-root-volume-task", {})
    self.error_on_dryrun()
    ebs = _ebs()
    _validate_task(self, instance_id, snapshot_id)
    task = ebs.start_task(
        f"replacevol-{uuid.uuid4().hex[:17]}",
        instance_id,
        str(snapshot_id),
        client_token=self._get_param("ClientToken") or "",
        delete_replaced=bool(self._get_bool_param("DeleteReplacedRootVolume", False)),
        tags=tags,
    )
    return ActionResult({"ReplaceRootVolumeTask": task.render(ebs.clock.now())})


def describe_replace_root_volume_tasks(self: Any) -> ActionResult:
    ebs = _ebs()
    ids = list(self._get_param("ReplaceRootVolumeTaskIds", []) or [])
    filters = {f["Name"]: set(f.get("Values", [])) for f in self._get_param("Filters", []) or []}
    instances = filters.get("instance-id")
    now = ebs.clock.now()
    tasks = [
        t.render(now) for t in ebs.tasks(ids) if instances is None or t.instance_id in instances
    ]
    return ActionResult({"ReplaceRootVolumeTasks": tasks})


# --- installing ---------------------------------------------------------------------------------


def install(cloud: Cloud) -> EbsSimulator:
    """Create the cloud's EBS simulator (on its fleet) and patch moto once per process."""
    ebs = EBS.get()
    if ebs is not None and ebs.cloud is cloud:
        return ebs
    fleet = FLEET.require("the EC2 extension runs on the fleet (localcloud.adapters.ssm first)")
    ebs = EbsSimulator(cloud, fleet)
    EBS.set(ebs)
    from moto.ec2.models.elastic_block_store import EBSBackend
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.responses import EC2Response
    from moto.ec2.responses.instances import InstanceResponse

    def wrap(owner: Any, name: str, make: Callable[[Any], Callable[..., Any]]) -> None:
        motopatch.patch(owner, name, make, tag=_TAG)

    wrap(InstanceBackend, "reboot_instances", _reboot_instances)
    wrap(EBSBackend, "create_snapshot", _create_snapshot)
    wrap(EBSBackend, "create_snapshots", _create_snapshots)
    wrap(EBSBackend, "delete_snapshot", _delete_snapshot)
    motopatch.replace(
        InstanceResponse, "describe_instance_status", describe_instance_status, tag=_TAG
    )
    for added in (create_replace_root_volume_task, describe_replace_root_volume_tasks):
        motopatch.replace(EC2Response, added.__name__, added, tag=_TAG)
    _snapshot_properties()
    return ebs
