"""Where a running wave run stands, for ``fleetpatch wave status RUN`` (read-only).

From what the run wrote (its batches' plans and sends in the state table), what Step
Functions says it is doing (the last state it entered) and what SSM says of the commands
it sent: batch k of n, the bake's end, the commands in flight, the counts so far.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fleetpatch.contracts import keys
from fleetpatch_cli.wave_plane import IN_FLIGHT, ControlPlane

_HISTORY_EVENTS = 100  # the last state entered is among the newest events


@dataclass
class Progress:
    batch: int
    """1-based: the batch being patched, or the one the gate is about to judge."""
    batches: int
    batch_name: str
    state: str
    """The gated-wave state entered last (Bake, EvaluateGate, PatchBatch, AwaitBatch, ...)."""
    bake_ends_at: datetime | None = None
    planned: int = 0
    skipped: int = 0
    commands: int = 0
    in_flight: list[str] = field(default_factory=list)
    targets: int = 0
    completed: int = 0
    errors: int = 0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["bake_ends_at"] = self.bake_ends_at.isoformat() if self.bake_ends_at else None
        return data


def _step_of(sk: str, prefix: str) -> int | None:
    if not sk.startswith(prefix):
        return None
    return int(sk[len(prefix) :].split("#", 1)[0])


def _last_state(plane: ControlPlane, execution_arn: str) -> tuple[str, datetime | None]:
    sfn = plane.clients("stepfunctions")
    page = sfn.get_execution_history(
        executionArn=execution_arn, reverseOrder=True, maxResults=_HISTORY_EVENTS
    )
    for event in page["events"]:
        details = event.get("stateEnteredEventDetails")
        if details:
            return str(details["name"]), event["timestamp"]
    return "", None


def progress(plane: ControlPlane, run: str, execution: dict[str, Any]) -> Progress | None:
    """Where ``run`` stands; None unless it is running."""
    if execution["status"] != "RUNNING":
        return None
    batches = json.loads(execution["input"])["batches"]
    items = plane.run_items(run)
    planned: dict[int, list[dict[str, Any]]] = {}
    sent: list[str] = []
    for item in items:
        sk = item["sk"]
        step = _step_of(sk, keys.PLAN_PREFIX)
        if step is not None:
            planned.setdefault(step, []).append(item)
        if _step_of(sk, keys.SEND_PREFIX) is not None:
            sent += list(item.get("command_ids", []))
    state, entered = _last_state(plane, execution["executionArn"])
    current = max(planned, default=-1)
    if state in ("Bake", "EvaluateGate", "RecordApproval") or current < 0:
        current += 1  # between batches: the gate before the next one
    current = min(max(current, 0), len(batches) - 1)
    found = Progress(
        batch=current + 1,
        batches=len(batches),
        batch_name=batches[current]["name"],
        state=state,
    )
    if state == "Bake" and entered is not None:
        minutes = (batches[current].get("gate") or {}).get("bakeMinutes") or 0
        found.bake_ends_at = entered + timedelta(minutes=float(minutes))
    for part in planned.get(current, []):
        found.planned += len(part.get("ready", []))
        found.skipped += len(part.get("skipped", {}))
    _count_commands(plane, sent, found)
    return found


def _count_commands(plane: ControlPlane, sent: list[str], found: Progress) -> None:
    ssm = plane.clients("ssm")
    for command_id in sent:
        listed = ssm.list_commands(CommandId=command_id)["Commands"]
        if not listed:
            continue
        command = listed[0]
        found.commands += 1
        found.targets += command.get("TargetCount", 0)
        found.completed += command.get("CompletedCount", 0)
        found.errors += command.get("ErrorCount", 0) + command.get("DeliveryTimedOutCount", 0)
        if command["Status"] in IN_FLIGHT:
            found.in_flight.append(command_id)


def progress_lines(found: Progress) -> list[str]:
    what = (
        f"gate before batch {found.batch} of {found.batches} ({found.batch_name})"
        if found.state in ("Bake", "EvaluateGate", "RecordApproval")
        else f"batch {found.batch} of {found.batches} ({found.batch_name})"
    )
    lines = [f"  now: {what}, {found.state or 'starting'}"]
    if found.bake_ends_at is not None:
        lines.append(f"  bake ends at {found.bake_ends_at:%Y-%m-%d %H:%M:%S %Z}")
    if found.planned or found.skipped:
        lines.append(f"  this batch: {found.planned} instances sent, {found.skipped} skipped")
    lines.append(
        f"  so far: {found.commands} command(s) to {found.targets} instances, "
        f"{found.completed} finished ({found.errors} failed); "
        f"{len(found.in_flight)} command(s) in flight"
        + (f": {', '.join(found.in_flight)}" if found.in_flight else "")
    )
    return lines
