"""EBS snapshots and root volume replacement tasks of the simulated fleet.

    ebs = cloud.ebs                      # localcloud.adapters.ec2.install(cloud)
    ec2.create_snapshots(InstanceSpecification={"InstanceId": i}, TagSpecifications=[...])
    ec2.create_replace_root_volume_task(InstanceId=i, SnapshotId=snap)

What AWS does, as far as fleetpatch relies on it (the EC2 API reference's
CreateSnapshots, CreateReplaceRootVolumeTask and ReplaceRootVolumeTask):

* A snapshot is ``pending`` from its request until it completes, ``SNAPSHOT_SECONDS``
  later (a fixed time, not proportional to its size), then ``completed``. A snapshot of a
  fleet instance's root volume holds what was installed on it at the request (a
  crash-consistent copy: patches installed after it are not in it). When the snapshots of
  one CreateSnapshots call have completed, EBS emits "EBS Multi-Volume Snapshots Completion
  Status" (``createSnapshots``, ``succeeded``).
* A root volume replacement task is ``pending`` (the replacement volume is being created)
  for ``TASK_PENDING_SECONDS``, then ``in-progress``: the instance reboots (its agent is
  ConnectionLost, its application down, for its ``reboot_seconds``) while the volume is
  swapped. It ends ``succeeded``: the instance runs on the snapshot's copy, its patch
  state (installed patches, the last reported patch state and compliance) is what it was
  when the snapshot was taken, and a fault a later install brought is gone
  (``ManagedInstance.faulted``). With the instance's ``rollback_fails`` the task goes
  ``failing`` after the reboot and ends ``failed`` ``TASK_FAILING_SECONDS`` later: the
  original root volume is still attached and nothing changed on the instance.

Choices where AWS documents none: the root volume keeps its id after a replacement (so a
later snapshot of it is still of the instance's lineage), and a successful rollback clears
the fault only (an ``unhealthy_after_reboot`` instance patched again breaks again).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from localcloud.core.context import Cloud
from localcloud.core.emitters import emit_soon
from localcloud.core.registry import Slot
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import ManagedInstance
from localcloud.sim.run_command import ComplianceRecord, PatchReport, iso_timestamp

SNAPSHOT_SECONDS = 60.0
TASK_PENDING_SECONDS = 10.0
TASK_FAILING_SECONDS = 10.0

SNAPSHOTS_COMPLETED = "EBS Multi-Volume Snapshots Completion Status"


@dataclass(frozen=True)
class DiskImage:
    """What a fleet instance's root volume held when it was snapshotted."""

    installed: Mapping[str, datetime]
    pending_reboot: frozenset[str]
    last_no_reboot_install: datetime | None
    first_install_at: datetime | None
    patch_state: PatchReport | None
    compliance: ComplianceRecord | None

    @classmethod
    def of(cls, instance: ManagedInstance, compliance: ComplianceRecord | None) -> DiskImage:
        return cls(
            dict(instance.installed),
            frozenset(instance.pending_reboot),
            instance.last_no_reboot_install,
            instance.first_install_at,
            instance.patch_state,
            compliance,
        )


@dataclass(frozen=True)
class SimSnapshot:
    snapshot_id: str
    volume_id: str
    instance_id: str | None
    started: datetime
    image: DiskImage | None  # a fleet instance's root volume only

    @property
    def completes_at(self) -> datetime:
        return self.started + timedelta(seconds=SNAPSHOT_SECONDS)

    def state(self, now: datetime) -> str:
        return "completed" if now >= self.completes_at else "pending"

    def progress(self, now: datetime) -> str:
        done = min(1.0, (now - self.started).total_seconds() / SNAPSHOT_SECONDS)
        return f"{int(done * 100)}%"


@dataclass
class ReplaceRootVolumeTask:
    task_id: str
    instance_id: str
    snapshot_id: str
    started: datetime
    reboot_seconds: float
    fails: bool
    delete_replaced: bool
    client_token: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def in_progress_at(self) -> datetime:
        return self.started + timedelta(seconds=TASK_PENDING_SECONDS)

    @property
    def swapped_at(self) -> datetime:
        return self.in_progress_at + timedelta(seconds=self.reboot_seconds)

    @property
    def completes_at(self) -> datetime:
        if self.fails:
            return self.swapped_at + timedelta(seconds=TASK_FAILING_SECONDS)
        return self.swapped_at

    def state(self, now: datetime) -> str:
        if now < self.in_progress_at:
            return "pending"
        if now < self.swapped_at:
            return "in-progress"
        if self.fails:
            return "failing" if now < self.completes_at else "failed"
        return "succeeded"

    def render(self, now: datetime) -> dict[str, Any]:
        """DescribeReplaceRootVolumeTasks' shape (times as EC2 writes them)."""
        rendered: dict[str, Any] = {
            "ReplaceRootVolumeTaskId": self.task_id,
            "InstanceId": self.instance_id,
            "TaskState": self.state(now),
            "StartTime": iso_timestamp(self.started),
            "SnapshotId": self.snapshot_id,
            "DeleteReplacedRootVolume": self.delete_replaced,
            "Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()],
        }
        if now >= self.completes_at:
            rendered["CompleteTime"] = iso_timestamp(self.completes_at)
        return rendered


class EbsSimulator:
    """Snapshots and root volume replacement of one cloud's fleet (see the module docstring)."""

    def __init__(self, cloud: Cloud, fleet: FleetSimulator) -> None:
        self.cloud = cloud
        self.clock = cloud.clock
        self.fleet = fleet
        self.lock = threading.RLock()
        self._snapshots: dict[str, SimSnapshot] = {}
        self._tasks: dict[str, ReplaceRootVolumeTask] = {}

    # --- snapshots ------------------------------------------------------------------------------

    def snapshot_taken(self, snapshot_id: str, volume_id: str, root_of: str | None) -> SimSnapshot:
        """A snapshot of ``volume_id`` was requested now; ``root_of``: the instance whose
        root volume it is, if any."""
        now = self.clock.now()
        with self.fleet.lock, self.lock:  # always the fleet's lock first (timers take both)
            image = None
            instance = self._fleet_instance(root_of)
            if instance is not None:
                record = self.fleet.compliance.get(instance.instance_id, "Patch")
                image = DiskImage.of(instance, record)
            snapshot = self._snapshots[snapshot_id] = SimSnapshot(
                snapshot_id, volume_id, root_of, now, image
            )
            return snapshot

    def snapshots_requested(self, snapshots: Sequence[SimSnapshot]) -> None:
        """One CreateSnapshots call's set: EBS tells EventBridge when it has completed."""
        if not snapshots:
            return
        end = max(s.completes_at for s in snapshots)
        self.clock.call_at(
            end,
            lambda: self._emit_completed(snapshots),
            f"ebs:snapshots:{snapshots[0].snapshot_id}",
        )

    def snapshot(self, snapshot_id: str) -> SimSnapshot | None:
        with self.lock:
            return self._snapshots.get(snapshot_id)

    def forget_snapshot(self, snapshot_id: str) -> None:
        with self.lock:
            self._snapshots.pop(snapshot_id, None)

    def _snapshot_arn(self, snapshot_id: str) -> str:
        return f"arn:aws:ec2:{self.cloud.region}::snapshot/{snapshot_id}"

    def _emit_completed(self, snapshots: Sequence[SimSnapshot]) -> None:
        region, account = self.cloud.region, self.cloud.account_id
        detail = {
            "event": "createSnapshots",
            "result": "succeeded",
            "cause": "",
            "request-id": snapshots[0].snapshot_id,
            "startTime": iso_timestamp(snapshots[0].started),
            "endTime": iso_timestamp(max(s.completes_at for s in snapshots)),
            "snapshots": [
                {
                    "snapshot_id": self._snapshot_arn(s.snapshot_id),
                    "source": f"arn:aws:ec2:{region}:{account}:volume/{s.volume_id}",
                    "status": "completed",
                }
                for s in snapshots
            ],
        }
        resources = [self._snapshot_arn(s.snapshot_id) for s in snapshots]
        emit_soon(self.cloud, "aws.ec2", SNAPSHOTS_COMPLETED, detail, resources, "ebs:event")

    # --- root volume replacement ----------------------------------------------------------------

    def start_task(
        self,
        task_id: str,
        instance_id: str,
        snapshot_id: str,
        *,
        client_token: str,
        delete_replaced: bool,
        tags: Mapping[str, str],
    ) -> ReplaceRootVolumeTask:
        """Start a validated task (the adapter checked the instance runs and the snapshot is
        of its root volume); a client token seen before returns that task."""
        now = self.clock.now()
        with self.fleet.lock, self.lock:
            for task in self._tasks.values():
                if client_token and task.client_token == client_token:
                    return task
            instance = self._fleet_instance(instance_id)
            behaviour = instance.behaviour if instance is not None else None
            task = self._tasks[task_id] = ReplaceRootVolumeTask(
                task_id,
                instance_id,
                snapshot_id,
                now,
                reboot_seconds=behaviour.reboot_seconds if behaviour else 60.0,
                fails=bool(behaviour and behaviour.rollback_fails),
                delete_replaced=delete_replaced,
                client_token=client_token,
                tags=dict(tags),
            )
            self._at(task.in_progress_at, lambda: self._swap(task), f"ebs:rrv:{task_id}")
            self._at(task.completes_at, lambda: None, f"ebs:rrv-done:{task_id}")
            return task

    def tasks(self, task_ids: Sequence[str] = ()) -> list[ReplaceRootVolumeTask]:
        with self.lock:
            return [t for t in self._tasks.values() if not task_ids or t.task_id in task_ids]

    def _at(self, when: datetime, action: Callable[[], None], label: str) -> None:
        self.clock.call_at(when, action, label)

    def _swap(self, task: ReplaceRootVolumeTask) -> None:
        """The task's in-progress phase: the instance reboots onto the replacement volume."""
        with self.fleet.lock, self.lock:
            instance = self._fleet_instance(task.instance_id)
            if instance is None or not instance.up():
                return
            self.fleet.announce_boot(instance, instance.reboot(self.clock.now()))
            snapshot = self._snapshots.get(task.snapshot_id)
            if task.fails or snapshot is None or snapshot.image is None:
                return
            _restore(instance, snapshot.image)
            if snapshot.image.compliance is not None:
                self.fleet.compliance.put(snapshot.image.compliance)

    def _fleet_instance(self, instance_id: str | None) -> ManagedInstance | None:
        if instance_id is None:
            return None
        try:
            return self.fleet.instance(instance_id)
        except KeyError:
            return None


def _restore(instance: ManagedInstance, image: DiskImage) -> None:
    """The instance boots from the snapshot's copy of its root volume."""
    instance.installed = dict(image.installed)
    instance.pending_reboot = set()  # what awaited a reboot is in effect after this one
    instance.last_no_reboot_install = image.last_no_reboot_install
    instance.first_install_at = image.first_install_at
    instance.patch_state = image.patch_state


# The running cloud's EBS (installed by localcloud.adapters.ec2).
EBS: Slot[EbsSimulator] = Slot("ebs")
