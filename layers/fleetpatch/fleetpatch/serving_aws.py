"""The serving workflow's AWS conversation: where an instance serves, drain, health, restore.

Every step reads before it acts, so a retried step does nothing twice: an instance already
in Standby is not sent EnterStandby again (Auto Scaling would refuse it: ValidationError),
a target already deregistered is not deregistered again.

Facts this relies on (Amazon EC2 Auto Scaling and Elastic Load Balancing user guides):

* EnterStandby deregisters the instance from the target groups attached to its group;
  their deregistration delay applies. ``ShouldDecrementDesiredCapacity=True`` keeps the
  group from launching a replacement. ExitStandby registers it again.
* DeregisterTargets puts a target in ``draining`` for the target group's deregistration
  delay; afterwards DescribeTargetHealth answers ``unused`` (Target.NotRegistered) for it.
* After RegisterTargets a target is ``initial`` until it passes the health check's
  healthy threshold, then ``healthy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from fleetpatch.alarms import alarm_states
from fleetpatch.errors import InstanceNotFoundError, ServingStateError
from fleetpatch.serving import STANDBY_STATES, Placement, Registration
from fleetpatch.tags import PATCH_GROUP_TAG_KEYS

OK = "ok"


def placement(instance_id: str, *, ec2: Any, autoscaling: Any, elbv2: Any) -> Placement:
    """Where ``instance_id`` serves now: its group and lifecycle state, its target groups."""
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
            raise InstanceNotFoundError(f"{instance_id} does not exist") from exc
        raise
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        raise InstanceNotFoundError(f"{instance_id} does not exist")
    instance = instances[0]
    zone = instance.get("Placement", {}).get("AvailabilityZone")
    groups = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
    member = (groups.get("AutoScalingInstances") or [None])[0]
    group = member["AutoScalingGroupName"] if member else None
    attached: set[str] = set()
    if group:
        described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        for found in described["AutoScalingGroups"]:
            attached |= set(found.get("TargetGroupARNs", []))
    return Placement(
        instance_id=instance_id,
        state=instance["State"]["Name"],
        zone=zone,
        group=group,
        lifecycle=member["LifecycleState"] if member else None,
        targets=_registrations(elbv2, instance_id, attached),
        root_volume=_root_volume(instance),
    )


def _root_volume(instance: Mapping[str, Any]) -> str | None:
    root = instance.get("RootDeviceName")
    for mapping in instance.get("BlockDeviceMappings", []):
        if mapping.get("DeviceName") == root:
            volume = mapping.get("Ebs", {}).get("VolumeId")
            return str(volume) if volume else None
    return None


def _registrations(elbv2: Any, instance_id: str, attached: set[str]) -> list[Registration]:
    """The instance-type target groups ``instance_id`` is registered in (not draining)."""
    found: list[Registration] = []
    for page in elbv2.get_paginator("describe_target_groups").paginate():
        for group in page["TargetGroups"]:
            if group.get("TargetType", "instance") != "instance":
                continue
            arn = group["TargetGroupArn"]
            health = elbv2.describe_target_health(TargetGroupArn=arn)
            for description in health["TargetHealthDescriptions"]:
                target = description["Target"]
                state = description.get("TargetHealth", {}).get("State")
                if target["Id"] == instance_id and state not in ("draining", "unused"):
                    found.append(Registration(arn, target.get("Port"), arn in attached))
    return found


def scope_totals(
    scopes: Sequence[str], *, ec2: Any, autoscaling: Any, elbv2: Any, held: Mapping[str, set[str]]
) -> dict[str, int]:
    """How many instances each scope has now (those out of service included)."""
    totals: dict[str, int] = {}
    for scope in scopes:
        kind, _, name = scope.partition(":")
        members: set[str]
        if kind == "auto-scaling-group":
            groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])
            members = {
                i["InstanceId"]
                for g in groups["AutoScalingGroups"]
                for i in g.get("Instances", [])
                if not str(i.get("LifecycleState", "")).startswith(("Terminat", "Warmed"))
            }
        elif kind == "target-group":
            health = elbv2.describe_target_health(TargetGroupArn=name)
            members = {
                d["Target"]["Id"]
                for d in health["TargetHealthDescriptions"]
                if d.get("TargetHealth", {}).get("State") != "unused"
            }
        else:
            members = _zone_fleet(ec2, name)
        totals[scope] = len(members | held.get(scope, set()))
    return totals


def _zone_fleet(ec2: Any, zone: str) -> set[str]:
    """The fleet in a zone: running instances that carry a patch group tag (either key)."""
    found: set[str] = set()
    paginator = ec2.get_paginator("describe_instances")
    for page in paginator.paginate(
        Filters=[
            {"Name": "availability-zone", "Values": [zone]},
            {"Name": "instance-state-name", "Values": ["running"]},
            {"Name": "tag-key", "Values": list(PATCH_GROUP_TAG_KEYS)},  # either key
        ]
    ):
        found |= {i["InstanceId"] for r in page["Reservations"] for i in r["Instances"]}
    return found


def zones(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str | None]:
    """Instance id -> its Availability Zone (None: gone), 200 ids a call."""
    found: dict[str, str | None] = dict.fromkeys(instance_ids)
    for start in range(0, len(instance_ids), 200):
        chunk = list(instance_ids[start : start + 200])
        for page in ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-id", "Values": chunk}]
        ):
            for reservation in page["Reservations"]:
                for instance in reservation["Instances"]:
                    zone = instance.get("Placement", {}).get("AvailabilityZone")
                    found[instance["InstanceId"]] = zone
    return found


def instance_states(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> EC2 state, for those that still exist."""
    states: dict[str, str] = {}
    for instance_id in instance_ids:
        try:
            response = ec2.describe_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "InvalidInstanceID.NotFound":
                continue
            raise
        for reservation in response["Reservations"]:
            for instance in reservation["Instances"]:
                states[instance["InstanceId"]] = instance["State"]["Name"]
    return states


# --- out of service and back -----------------------------------------------------------------


def lifecycle_state(autoscaling: Any, instance_id: str) -> str | None:
    found = autoscaling.describe_auto_scaling_instances(InstanceIds=[instance_id])
    members = found.get("AutoScalingInstances") or []
    return str(members[0]["LifecycleState"]) if members else None


def take_out(
    where: Placement, *, standby: bool, deregister: bool, autoscaling: Any, elbv2: Any
) -> dict[str, Any]:
    """Enter Standby and deregister from the other target groups; what was done."""
    in_standby = False
    if standby and where.group:
        state = lifecycle_state(autoscaling, where.instance_id)
        if state == "InService":
            autoscaling.enter_standby(
                AutoScalingGroupName=where.group,
                InstanceIds=[where.instance_id],
                ShouldDecrementDesiredCapacity=True,
            )
            in_standby = True
        elif state in STANDBY_STATES:
            in_standby = True
        elif where.in_group_service:
            raise ServingStateError(
                f"{where.instance_id} is {state or 'no longer'} in {where.group}, not InService"
            )
    deregistered = [t for t in where.targets if deregister and not (t.attached and in_standby)]
    for target in deregistered:
        elbv2.deregister_targets(TargetGroupArn=target.arn, Targets=[_target(where, target)])
    return {
        "standby": in_standby,
        "deregistered": [t.arn for t in deregistered],
    }


def _target(where: Placement, target: Registration) -> dict[str, Any]:
    return {"Id": where.instance_id, **({"Port": target.port} if target.port else {})}


def _target_state(elbv2: Any, where: Placement, target: Registration) -> tuple[str, str]:
    health = elbv2.describe_target_health(
        TargetGroupArn=target.arn, Targets=[_target(where, target)]
    )
    descriptions = health["TargetHealthDescriptions"]
    if not descriptions:
        return "unused", "Target.NotRegistered"
    state = descriptions[0].get("TargetHealth", {})
    return str(state.get("State", "unused")), str(state.get("Reason", ""))


def drain_left(where: Placement, out: Mapping[str, Any], *, autoscaling: Any, elbv2: Any) -> str:
    """What is still draining ("" when the instance serves nothing any more)."""
    if out.get("standby"):
        state = lifecycle_state(autoscaling, where.instance_id)
        if state not in (None, "Standby"):
            return f"{where.group}: {state}"
    for target in where.targets:
        if target.attached and not out.get("standby") and target.arn not in out["deregistered"]:
            continue
        state, _ = _target_state(elbv2, where, target)
        if state not in ("unused",):
            return f"{target.name}: {state}"
    return ""


def put_back(where: Placement, out: Mapping[str, Any], *, autoscaling: Any, elbv2: Any) -> str:
    """Exit Standby and register again where the instance was deregistered.

    Returns what still keeps it out ("" once done): an instance still ``EnteringStandby``
    (its group's target groups are draining it) cannot leave Standby before it is in it,
    so the workflow asks again until it is.
    """
    for target in where.targets:
        if target.arn in out.get("deregistered", []):
            elbv2.register_targets(TargetGroupArn=target.arn, Targets=[_target(where, target)])
    if not (out.get("standby") and where.group):
        return ""
    state = lifecycle_state(autoscaling, where.instance_id)
    if state == "Standby":
        autoscaling.exit_standby(AutoScalingGroupName=where.group, InstanceIds=[where.instance_id])
        return ""
    if state == "EnteringStandby":
        return f"{where.group}: EnteringStandby (draining)"
    return ""


def service_checks(
    where: Placement, *, target_health: bool, autoscaling: Any, elbv2: Any
) -> dict[str, str]:
    """Back in service: InService in its group, healthy in every target group."""
    checks: dict[str, str] = {}
    if where.group and where.in_group_service:
        state = lifecycle_state(autoscaling, where.instance_id)
        checks["auto-scaling"] = OK if state == "InService" else f"{state or 'not in the group'}"
    for target in where.targets:
        state, reason = _target_state(elbv2, where, target)
        wanted = "healthy" if target_health else state
        if state in ("unused", "draining"):
            wanted = "healthy"
        checks[f"target-health {target.name}"] = (
            OK if state == wanted else f"{state}{f' ({reason})' if reason else ''}"
        )
    return checks


def instance_checks(
    instance_id: str,
    *,
    since: datetime | None,
    status_checks: bool,
    agent: bool,
    alarms: Sequence[str],
    ec2: Any,
    ssm: Any,
    cloudwatch: Any,
) -> dict[str, str]:
    """The instance's own health: EC2 status checks, the SSM agent, the batch's alarms."""
    checks: dict[str, str] = {}
    status = _status_checks(ec2, instance_id)
    if status_checks:
        checks["status-checks"] = status
    if agent:
        checks["agent"] = _agent(ssm, instance_id, since)
    if alarms:
        states = alarm_states(cloudwatch, alarms)
        bad = [
            f"{name} {states.get(name, 'not found')}" for name in alarms if states.get(name) != "OK"
        ]
        checks["alarms"] = OK if not bad else ", ".join(bad)
    return checks


def _status_checks(ec2: Any, instance_id: str) -> str:
    """EC2's status checks; raises InstanceNotFoundError for an instance that is gone."""
    statuses = ec2.describe_instance_status(InstanceIds=[instance_id], IncludeAllInstances=True)
    found = statuses.get("InstanceStatuses") or []
    if not found:
        raise InstanceNotFoundError(f"{instance_id} no longer exists")
    status = found[0]
    state = status.get("InstanceState", {}).get("Name", "unknown")
    if state in ("shutting-down", "terminated"):
        raise InstanceNotFoundError(f"{instance_id} was terminated")
    if state != "running":
        return f"instance {state}"
    instance = status.get("InstanceStatus", {}).get("Status", "not-applicable")
    system = status.get("SystemStatus", {}).get("Status", "not-applicable")
    if instance == "ok" and system == "ok":
        return OK
    return f"instance status {instance}, system status {system}"


def _agent(ssm: Any, instance_id: str, since: datetime | None) -> str:
    found = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )["InstanceInformationList"]
    if not found:
        return "not a managed instance"
    info = found[0]
    if info.get("PingStatus") != "Online":
        return f"agent {info.get('PingStatus')}"
    ping = info.get("LastPingDateTime")
    if since is not None and isinstance(ping, datetime) and ping < since:
        return f"agent has not pinged since the reboot (last {ping.isoformat()})"
    return OK
