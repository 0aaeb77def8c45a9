"""Patching one batch of a wave, in rounds under one rate control, and the batch's evidence.

A batch is sent in rounds. The first round fixes the batch's plan from its members
(``fleetpatch.membership``): the ready members are sent the patch, the others are recorded
with their state. ``max_concurrency`` and ``max_errors`` hold across the whole batch, whatever
its size: a round sends as many 50-instance commands as the concurrency needs (their
``MaxConcurrency`` adding up to it), the workflow waits for them, and the next round goes
only while the errors of the rounds before are within ``max_errors`` (each command gets its
share of what is left). As with one Run Command command, errors may exceed ``max_errors`` by
the instances already in flight when the limit is reached.

Everything is recorded as it happens (the plan, each command), so a retried round sends
nothing twice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fleetpatch import aws
from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.contracts import keys
from fleetpatch.gate import InstanceEvidence
from fleetpatch.membership import (
    Member,
    MemberState,
    ec2_states,
    launch_times,
    own_runs_commands,
    ping_statuses,
    roster,
)
from fleetpatch.skip_tag import SkipStatus

MAX_IDS_PER_CALL = 50  # SendCommand's InstanceIds
PLAN_IDS_PER_ITEM = 1000  # ~25 KB of ids per DynamoDB item (an item holds 400 KB)


def absolute(value: str, total: int, *, minimum: int) -> int:
    """Run Command's MaxConcurrency/MaxErrors (``"10"`` or ``"10%"``) for ``total`` targets."""
    if value.endswith("%"):
        return max(minimum, math.floor(total * float(value[:-1]) / 100))
    return max(minimum, int(value))


@dataclass(frozen=True)
class Plan:
    """What the first round decided: who is sent the patch, who was skipped and why."""

    ready: list[str]
    skipped: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    """Instance id -> (member state, reason, the other run's command when busy)."""

    def chunks(self) -> list[list[str]]:
        size = MAX_IDS_PER_CALL
        return [self.ready[i : i + size] for i in range(0, len(self.ready), size)]

    def adopted(self) -> list[str]:
        """Other runs' commands on busy members: the batch waits for them as its own."""
        return sorted({c for _, _, c in self.skipped.values() if c})

    def rate(self, batch: RuntimeBatch) -> tuple[int, int, int]:
        """(concurrency, errors allowed, commands per round) across the whole batch."""
        total = len(self.ready)
        concurrency = absolute(batch.max_concurrency, total, minimum=1)
        errors = absolute(batch.max_errors, total, minimum=0)
        per_round = max(1, math.ceil(concurrency / MAX_IDS_PER_CALL))
        return concurrency, errors, per_round


def _run_pk(run_id: str) -> dict[str, str]:
    return {"S": keys.wave_pk(run_id)}


def _query(dynamodb: Any, table: str, run_id: str, prefix: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
        "ExpressionAttributeValues": {":pk": _run_pk(run_id), ":prefix": {"S": prefix}},
    }
    while True:
        response = dynamodb.query(**kwargs)
        items += response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return items
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def run_sent_commands(dynamodb: Any, table: str, run_id: str) -> list[str]:
    """Every command a run's patch-batch sent, over all its batches (``wave stop`` cancels them)."""
    items = _query(dynamodb, table, run_id, keys.SEND_PREFIX)
    return [v["S"] for item in items for v in item["command_ids"]["L"]]


class BatchRecords:
    """A batch's plan and sends in the state table (``pk = WAVE#<run id>``)."""

    def __init__(
        self, dynamodb: Any, table: str, run_id: str, step: int, ttl: Callable[[], str]
    ) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._run_id = run_id
        self._pk = _run_pk(run_id)
        self._step = step
        self._ttl = ttl

    def _query(self, prefix: str) -> list[dict[str, Any]]:
        return _query(
            self._dynamodb, self._table, self._run_id, keys.batch_prefix(prefix, self._step)
        )

    def copy_to(self, run_id: str) -> int:
        """Copy this batch's plan and sends to ``run_id``; returns how many items.

        A resumed run goes on from them: it keeps the batch's members and sends only the
        chunks that were never sent, waiting for the others' commands again.
        """
        items = self._query(keys.PLAN_PREFIX) + self._query(keys.SEND_PREFIX)
        for item in items:
            self._dynamodb.put_item(TableName=self._table, Item={**item, "pk": _run_pk(run_id)})
        return len(items)

    def plan(self) -> Plan | None:
        items = self._query(keys.PLAN_PREFIX)
        if not items:
            return None
        ready: list[str] = []
        skipped: dict[str, tuple[str, str, str | None]] = {}
        for item in items:
            ready += [v["S"] for v in item.get("ready", {}).get("L", [])]
            for instance, entry in item.get("skipped", {}).get("M", {}).items():
                parts = [p["S"] for p in entry["L"]]
                skipped[instance] = (parts[0], parts[1], parts[2] or None)
        return Plan(ready, skipped)

    def record_plan(self, plan: Plan) -> None:
        skipped = list(plan.skipped.items())
        parts = max(
            math.ceil(len(plan.ready) / PLAN_IDS_PER_ITEM),
            math.ceil(len(skipped) / PLAN_IDS_PER_ITEM),
            1,
        )
        for part in range(parts):
            window = slice(part * PLAN_IDS_PER_ITEM, (part + 1) * PLAN_IDS_PER_ITEM)
            self._dynamodb.put_item(
                TableName=self._table,
                Item={
                    "pk": self._pk,
                    "sk": {"S": keys.plan_sk(self._step, part)},
                    "ready": {"L": [{"S": i} for i in plan.ready[window]]},
                    "skipped": {
                        "M": {
                            i: {"L": [{"S": state}, {"S": reason}, {"S": command or ""}]}
                            for i, (state, reason, command) in skipped[window]
                        }
                    },
                    "expires_at": {"N": self._ttl()},
                },
            )

    def sent(self) -> dict[int, list[str]]:
        """Chunk -> the command ids sent for it (several when a chunk had to be split)."""
        return {
            int(item["chunk"]["N"]): [v["S"] for v in item["command_ids"]["L"]]
            for item in self._query(keys.SEND_PREFIX)
        }

    def record_sent(self, chunk: int, command_ids: Sequence[str]) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": self._pk,
                "sk": {"S": keys.send_sk(self._step, chunk)},
                "chunk": {"N": str(chunk)},
                "command_ids": {"L": [{"S": c} for c in command_ids]},
                "expires_at": {"N": self._ttl()},
            },
        )


def make_plan(batch: RuntimeBatch, *, ec2: Any, ssm: Any, autoscaling: Any) -> Plan:
    members = roster(
        batch.patch_groups, ec2=ec2, ssm=ssm, autoscaling=autoscaling, only=batch.instance_ids
    )
    skipped = {
        m.instance_id: (m.state.value, m.reason or m.state.value, m.command_id)
        for m in members.members
        if m.state not in (MemberState.READY, MemberState.TERMINATED)
    }
    return Plan(members.ready, skipped)


@dataclass(frozen=True)
class Round:
    command_ids: list[str]
    more: bool
    plan: Plan
    stopped: str | None = None
    """Why sending stopped before the plan's end (the batch's max_errors), or None."""


def send_round(
    ssm: Any,
    records: BatchRecords,
    plan: Plan,
    batch: RuntimeBatch,
    round_index: int,
    *,
    send: Callable[[Sequence[str], str, str], str],
) -> Round:
    """Send round ``round_index`` of the batch; ``send(ids, concurrency, errors)`` -> command."""
    chunks = plan.chunks()
    concurrency, errors_allowed, per_round = plan.rate(batch)
    first = round_index * per_round
    indices = list(range(first, min(first + per_round, len(chunks))))
    sent = records.sent()
    errors = _errors(ssm, [c for i in range(first) for c in sent.get(i, [])])
    adopted = plan.adopted() if round_index == 0 else []
    if errors > errors_allowed:
        why = (
            f"{errors} instance(s) failed, more than the batch's max_errors ({batch.max_errors}, "
            f"{errors_allowed} of {len(plan.ready)}): the rest of the batch was not sent"
        )
        return Round(adopted, False, plan, why)
    left = errors_allowed - errors
    command_ids: list[str] = list(adopted)
    room = concurrency
    for index in indices:
        if index in sent:
            command_ids += sent[index]
            continue
        share = min(MAX_IDS_PER_CALL, max(1, room))
        room -= share
        allowed = str(left // max(1, len(indices)))
        ids = _send_chunk(ssm, chunks[index], functools.partial(_send_with, send, share, allowed))
        records.record_sent(index, ids)
        command_ids += ids
    return Round(command_ids, first + per_round < len(chunks), plan)


def _send_with(
    send: Callable[[Sequence[str], str, str], str],
    concurrency: int,
    errors: str,
    instance_ids: Sequence[str],
) -> str:
    return send(instance_ids, str(concurrency), errors)


def _send_chunk(ssm: Any, ids: Sequence[str], send: Callable[[Sequence[str]], str]) -> list[str]:
    """One command for the chunk; an agent lost since the plan costs only itself.

    SendCommand refuses the whole call (``InvalidInstanceId``) when one instance is not a
    managed, Online instance: ask which are still Online and send to those; if it refuses
    again, one command per instance, skipping the refused.
    """
    try:
        return [send(ids)]
    except ssm.exceptions.InvalidInstanceId:
        pings = ping_statuses(ssm, ids)
        online = [i for i in ids if pings.get(i) == "Online"]
    if online and len(online) < len(ids):
        try:
            return [send(online)]
        except ssm.exceptions.InvalidInstanceId:
            pass
    sent = []
    for instance_id in online:
        try:
            sent.append(send([instance_id]))
        except ssm.exceptions.InvalidInstanceId:
            continue
    return sent


def _errors(ssm: Any, command_ids: Sequence[str]) -> int:
    total = 0
    for command_id in command_ids:
        for command in aws.patiently(ssm.list_commands, CommandId=command_id).get("Commands", []):
            total += int(command.get("ErrorCount", 0))
            total += int(command.get("DeliveryTimedOutCount", 0))
    return total


# --- the batch's evidence ---------------------------------------------------------------------


def batch_evidence(
    batch: RuntimeBatch,
    plan: Plan | None,
    invocations: Mapping[str, tuple[str, str]],
    *,
    since: datetime,
    ssm: Any,
    ec2: Any,
    autoscaling: Any,
    own_commands: Sequence[str],
    window_started: datetime | None = None,
) -> tuple[list[InstanceEvidence], dict[str, str], dict[str, SkipStatus]]:
    """Every member of the batch with its evidence, the instances the rule excludes, and
    what the members' ``fleetpatch:skip`` tags say now.

    ``invocations``: instance id -> (command id, final status) over the batch's commands.
    ``window_started``: when a maintenance window sent the batch (no plan was recorded). A
    ready member the window's commands did not reach and that EC2 launched before then was
    a member when the window ran: not reached (the window stopped at its max_errors or
    cutoff, or the instance was offline then), not "joined".
    """
    now = roster(
        batch.patch_groups,
        ec2=ec2,
        ssm=ssm,
        autoscaling=autoscaling,
        own_commands=own_commands,
        only=batch.instance_ids,
    )
    members = {m.instance_id: m for m in now.members}
    planned = set(plan.ready) if plan else set()
    skipped = plan.skipped if plan else {}
    gone = set(invocations) - set(members)
    left = ec2_states(ec2, sorted(gone)) if gone else {}
    found: list[InstanceEvidence] = []
    unsent_ready = [
        i
        for i, m in members.items()
        if i not in invocations and i not in planned and m.state is MemberState.READY
    ]
    own_runs = own_runs_commands(ssm, unsent_ready, since=since) if unsent_ready else {}
    own_results = _statuses(ssm, own_runs)
    missed = _missed_by_window(
        ec2, [i for i in unsent_ready if i not in own_results], window_started
    )
    for instance_id in sorted(set(members) | set(invocations) | planned | set(skipped)):
        member = members.get(instance_id)
        if instance_id in invocations:
            command, status = invocations[instance_id]
            state = _sent_state(instance_id, member, left, skipped)
            found.append(_evidence(batch.name, instance_id, status, state, None, command=command))
        elif instance_id in planned:
            state, note = _never_sent(member)
            found.append(_evidence(batch.name, instance_id, None, state, note))
        elif instance_id in own_results:
            found.append(
                _evidence(
                    batch.name,
                    instance_id,
                    own_results[instance_id],
                    "joined",
                    None,
                    command=own_runs[instance_id],
                )
            )
        elif instance_id in missed:
            found.append(_evidence(batch.name, instance_id, None, "ready", missed[instance_id]))
        elif member is not None:
            state = _unsent_state(instance_id, member, skipped)
            found.append(_evidence(batch.name, instance_id, None, state, member.reason))
        else:
            state, reason, _ = skipped[instance_id]
            found.append(_evidence(batch.name, instance_id, None, "terminated", reason))
    return found, now.conflicting, now.exceptions


def _sent_state(
    instance_id: str,
    member: Member | None,
    left: Mapping[str, str],
    skipped: Mapping[str, tuple[str, str, str | None]],
) -> str:
    """The state of an instance the batch sent a command to, as a member now (or not)."""
    if member is None:
        gone = left.get(instance_id, "terminated") in ("terminated", "shutting-down")
        return "terminated" if gone else "left"
    if member.state is MemberState.TERMINATED:
        return "terminated"
    if instance_id in skipped:
        return skipped[instance_id][0]
    return "ready"


def _unsent_state(
    instance_id: str, member: Member, skipped: Mapping[str, tuple[str, str, str | None]]
) -> str:
    """The state of a member nothing was sent to: a ready one joined after the plan.

    One the plan excepted stays excepted (its exception may have expired since: it was
    not patched because it applied then).
    """
    state = member.state.value
    if instance_id in skipped and skipped[instance_id][0] == MemberState.EXCEPTED:
        return MemberState.EXCEPTED.value
    if state == "ready":
        return "joined"
    if instance_id in skipped and state != "terminated":
        return skipped[instance_id][0]
    return state


def _missed_by_window(
    ec2: Any, instance_ids: Sequence[str], window_started: datetime | None
) -> dict[str, str]:
    """Instance id -> why: ready members a window's commands did not reach, there before it."""
    if window_started is None or not instance_ids:
        return {}
    launched = launch_times(ec2, instance_ids)
    return {
        i: "the maintenance window's command did not reach it (the window stopped at its "
        "max_errors or cutoff, or it was offline then)"
        for i in instance_ids
        if i in launched and launched[i] < window_started
    }


def _never_sent(member: Member | None) -> tuple[str, str | None]:
    """A planned member the batch never sent to: its state now, and why it was not reached.

    Gone since (not judged); not managed or stopped since (its state says why); or still
    ready, so the batch stopped sending before its turn.
    """
    if member is None or member.state is MemberState.TERMINATED:
        return "terminated", None
    if member.state is MemberState.READY:
        return "ready", (
            "the batch stopped sending before its turn (max_errors), or SendCommand refused it"
        )
    return member.state.value, member.reason


def _statuses(ssm: Any, commands: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for instance_id, command_id in commands.items():
        response = aws.patiently(
            ssm.list_command_invocations, CommandId=command_id, InstanceId=instance_id
        )
        for invocation in response.get("CommandInvocations", []):
            found[instance_id] = invocation["Status"]
    return found


def _evidence(
    batch: str,
    instance_id: str,
    status: str | None,
    state: str,
    note: str | None,
    *,
    command: str | None = None,
) -> InstanceEvidence:
    return InstanceEvidence(
        instance_id=instance_id,
        batch=batch,
        command_status=status,
        state=state,
        note=note,
        command_id=command,
    )
