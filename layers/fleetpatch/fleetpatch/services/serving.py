"""Serving instances: the serve-instance function's steps of the serving workflow.

The workflow (``statemachines/patch_serving_instance.asl.json``) patches one instance of a
serving batch: take a place in its disruption budget and take it out of service (one
step, :func:`take_out`), wait until draining ended (:func:`drained`), snapshot, install
without a reboot, reboot only when a patch waits for one, check its health
(:func:`check`), put it back (:func:`put_back`) and check it serves again, then record the
outcome and give its places back (:func:`finish`). Each step is safe to retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fleetpatch import budget, clock
from fleetpatch.batch_policy import RuntimeServing
from fleetpatch.contracts.serving import HOLDS_BUDGET
from fleetpatch.errors import BudgetExhaustedError, InstanceNotFoundError
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.serving import Placement, claims, judge, scope_ids
from fleetpatch.serving_aws import (
    drain_left,
    instance_checks,
    instance_states,
    placement,
    scope_totals,
    service_checks,
)
from fleetpatch.serving_aws import (
    put_back as put_back_in_service,
)
from fleetpatch.serving_aws import (
    take_out as take_out_of_service,
)
from fleetpatch.waves import WaveRecords

LOG = logging.getLogger(__name__)


def take_out(
    run_id: str,
    instance_id: str,
    serving: RuntimeServing,
    *,
    table_name: str,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Take a place in every budget scope of the instance, then take it out of service.

    An instance that serves nothing is left as it is (``serves`` false). A retry of the
    same run finds its places taken and where the instance served kept with them, so it
    drains nothing twice and never reads a half-drained instance as "serves nothing".
    Raises ``BudgetExhaustedError`` while a scope is full (the workflow waits and asks again).
    """
    dynamodb = client("dynamodb")
    ec2, autoscaling, elbv2 = client("ec2"), client("autoscaling"), client("elbv2")
    held = budget.holder(dynamodb, table_name, instance_id)
    if held is not None and held["run"] != run_id and not held["kept"]:
        # Another run has it out of service (or is taking it out): its Standby or draining
        # is not "serves nothing". Wait for that run to finish with it.
        raise BudgetExhaustedError(
            f"{instance_id} is out of service for run {held['run']}, which is still patching it"
        )
    if held is not None and held["run"] == run_id and held["note"]:
        where = Placement.from_dict(json.loads(held["note"]))
    else:
        where = placement(instance_id, ec2=ec2, autoscaling=autoscaling, elbv2=elbv2)
    now = clock.now().isoformat()
    if not where.serves:
        return {"serves": False, "placement": where.as_dict(), "out": None, "scopes": []}
    scopes = scope_ids(where, serving.budget_scopes, drain_targets=serving.drain_target_groups)
    holders = {scope: budget.holders(dynamodb, table_name, scope) for scope in scopes}
    totals = scope_totals(scopes, ec2=ec2, autoscaling=autoscaling, elbv2=elbv2, held=holders)
    wanted = claims(scopes, totals, serving.max_unavailable)
    budget.acquire(
        dynamodb,
        table_name,
        instance_id,
        wanted,
        run_id=run_id,
        now=now,
        instance_states=lambda ids: instance_states(ec2, ids),
        note=json.dumps(where.as_dict()),
    )
    out = take_out_of_service(
        where,
        standby=serving.drain_auto_scaling,
        deregister=serving.drain_target_groups,
        autoscaling=autoscaling,
        elbv2=elbv2,
    )
    LOG.info("out of service", extra={"instance": instance_id, "scopes": scopes, **out})
    return {
        "serves": True,
        "placement": where.as_dict(),
        "out": out,
        "scopes": [{"scope": c.scope, "limit": c.limit, "total": c.total} for c in wanted],
        "outAt": now,
    }


def drained(
    placement_data: Mapping[str, Any],
    out: Mapping[str, Any],
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Whether draining ended: Standby reached, every deregistered target ``unused``."""
    where = Placement.from_dict(placement_data)
    left = drain_left(where, out, autoscaling=client("autoscaling"), elbv2=client("elbv2"))
    return {"drained": not left, "left": left}


def check(
    instance_id: str,
    serving: RuntimeServing,
    *,
    since: datetime | None,
    in_service: Mapping[str, Any] | None = None,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """One round of health checks.

    Out of service (``in_service`` None): the instance's own checks (EC2 status checks, its
    agent pinging since ``since``, the batch's alarms). Back in service (``in_service``:
    the placement and what was taken out): its group says InService and each target group
    ``healthy``.
    """
    health = serving.health
    if in_service is None:
        checks = instance_checks(
            instance_id,
            since=since,
            status_checks=health.status_checks,
            agent=health.agent,
            alarms=health.alarms,
            ec2=client("ec2"),
            ssm=client("ssm"),
            cloudwatch=client("cloudwatch"),
        )
    else:
        state = instance_states(client("ec2"), [instance_id]).get(instance_id, "terminated")
        if state in ("shutting-down", "terminated"):
            raise InstanceNotFoundError(f"{instance_id} was terminated")
        where = Placement.from_dict(in_service["placement"])
        checks = service_checks(
            where,
            target_health=health.target_health,
            autoscaling=client("autoscaling"),
            elbv2=client("elbv2"),
        )
    return judge(checks).as_dict()


def put_back(
    placement_data: Mapping[str, Any],
    out: Mapping[str, Any],
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Exit Standby and register again: the instance serves again once healthy.

    ``left`` says what still keeps it out (an instance still entering Standby): ask again.
    """
    where = Placement.from_dict(placement_data)
    left = put_back_in_service(where, out, autoscaling=client("autoscaling"), elbv2=client("elbv2"))
    return {"left": left, "putBackAt": clock.now().isoformat()}


def take_out_again(
    placement_data: Mapping[str, Any],
    serving: RuntimeServing,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """It did not become healthy in service: out again (its places were never given back)."""
    where = Placement.from_dict(placement_data)
    return take_out_of_service(
        where,
        standby=serving.drain_auto_scaling,
        deregister=serving.drain_target_groups,
        autoscaling=client("autoscaling"),
        elbv2=client("elbv2"),
    )


def give_back(
    run_id: str, instance_id: str, *, table_name: str, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """Back in service and healthy: give the budget places back now, before the rescan.

    The rescan (minutes) does not take the instance out of service: holding its places
    through it kept the next instance waiting (a wave took 1.55x the ideal for its budget).
    The run keeps the instance itself until ``finish``: another run waits for it.
    """
    released = budget.release(
        client("dynamodb"), table_name, instance_id, run_id, keep_instance=True
    )
    return {"released": released}


def finish(
    run_id: str,
    step: int,
    instance_id: str,
    outcome: str,
    detail: Mapping[str, Any],
    *,
    table_name: str,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Record the instance's outcome in the run and give its places back unless it is out.

    ``detail``: reason, failing check, when it went out and came back, its commands and
    snapshots; ``stillOut`` when it could not be put back. Writing the same outcome twice is
    harmless (a retry).
    """
    dynamodb = client("dynamodb")
    now = clock.now()
    # One format for both (the ASL's $now() and Python's isoformat differ).
    out_at = _stamp(detail.get("outAt"))
    back_at = _stamp(detail.get("backAt"))
    out_seconds = None
    if out_at:
        end = datetime.fromisoformat(back_at) if back_at else now
        out_seconds = max(0.0, (end - datetime.fromisoformat(out_at)).total_seconds())
    record = {
        "instanceId": instance_id,
        "outcome": outcome,
        "reason": detail.get("reason"),
        "outAt": out_at,
        "backAt": back_at,
        "outOfServiceSeconds": out_seconds,
        "commandIds": list(detail.get("commandIds") or []),
        "installCommandId": detail.get("installCommandId"),
        "snapshots": list(detail.get("snapshots") or []),
        "rebooted": bool(detail.get("rebooted")),
    }
    WaveRecords(dynamodb, table_name, run_id, clock.time).record_serving(step, record)
    still_out = outcome in HOLDS_BUDGET or bool(detail.get("stillOut"))
    released: list[str] = []
    if still_out:
        budget.keep(dynamodb, table_name, instance_id, run_id)
    else:
        released = budget.release(dynamodb, table_name, instance_id, run_id)
    LOG.info(
        "serving outcome",
        extra={"instance": instance_id, "outcome": outcome, "released": released},
    )
    return {**record, "released": released}


def _stamp(value: Any) -> str | None:
    """An ISO 8601 time as ``datetime.isoformat`` writes it (UTC), or None."""
    if not value:
        return None
    return datetime.fromisoformat(str(value)).astimezone(UTC).isoformat()
