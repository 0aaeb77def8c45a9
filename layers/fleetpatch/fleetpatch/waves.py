"""Gated waves: which wave a window belongs to, a batch's instances and commands, the gate.

The gated-wave workflow calls these through two thin functions (evaluate-gate and
patch-batch). Everything here takes boto3 clients as arguments: no AWS at import time,
and every call is one the functions' roles allow.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fleetpatch.alarms import alarm_states, with_alarm_history
from fleetpatch.batch_policy import RuntimeBatch, RuntimeGate
from fleetpatch.batch_run import BatchRecords, Plan
from fleetpatch.contracts import keys
from fleetpatch.evidence import gather, window_commands
from fleetpatch.gate import GateDecision, InstanceEvidence, evaluate_gate
from fleetpatch.membership import ec2_states, tagged
from fleetpatch.promotion import (  # noqa: F401 - moved; importable from here for now
    INSTALLED_STATES,
    installed_since,
    override_list,
)

if TYPE_CHECKING:
    from fleetpatch.policy import CompiledPolicy

# SendCommand takes at most 50 instance ids; DescribeInstancePatchStates 50 as well.


def promotion_arguments(policy: CompiledPolicy, wave: str) -> dict[str, Any]:
    """``run_input``'s promotion arguments: the wave it installs from, the waves it feeds."""
    return {
        "promote_from": policy.waves[wave].promote_from,
        "promotions": policy.promotions_of(wave),
    }


def run_input(
    wave: str,
    batches: Sequence[Mapping[str, Any]],
    *,
    start_step: int = 0,
    window_id: str | None = None,
    window_execution_id: str | None = None,
    window_status: str | None = None,
    promote_from: str | None = None,
    promotions: Sequence[str] = (),
    commands: Mapping[str, Sequence[str]] | None = None,
    approval: Mapping[str, Any] | None = None,
    resume: Mapping[str, Any] | None = None,
    emergency: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The gated-wave workflow's input: its one owner (batch-gate, ``wave start|resume``).

    ``batches`` are the compiled policy's (``RuntimeBatch`` by alias); ``start_step`` 0
    patches the first batch at once. The ASL's Start state reads exactly these keys (a
    contract test checks it).
    """
    found: dict[str, Any] = {
        "wave": wave,
        "windowId": window_id,
        "windowExecutionId": window_execution_id,
        "windowStatus": window_status,
        "batches": [dict(b) for b in batches],
        "startStep": start_step,
        "promoteFrom": promote_from,
        "promotions": list(promotions),
    }
    if commands is not None:
        found["commands"] = {k: list(v) for k, v in commands.items()}
    if approval is not None:
        found["approval"] = dict(approval)
    if resume is not None:
        found["resume"] = dict(resume)
    if emergency is not None:
        # An emergency run (fleetpatch.services.emergency): its CVE, severity, SLA, the
        # lists per OS; the report reads it.
        found["emergency"] = dict(emergency)
    return found


# --- a batch's instances ------------------------------------------------------------------------


def batch_instances(ec2: Any, patch_groups: Sequence[str]) -> list[str]:
    """Running instances in ``patch_groups`` by either tag key (conflicting tags excluded)."""
    agreeing, _ = tagged(ec2, patch_groups)
    states = ec2_states(ec2, agreeing)
    return [i for i in agreeing if states.get(i) == "running"]


# --- the gate -----------------------------------------------------------------------------------


def decide_gate(
    gate: RuntimeGate,
    batches: Sequence[RuntimeBatch],
    *,
    window_execution_id: str | None,
    window_status: str | None,
    commands: Mapping[str, Sequence[str]],
    plans: Callable[[int], Plan | None],
    since: datetime,
    ssm: Any,
    ec2: Any,
    autoscaling: Any,
    cloudwatch: Any,
    bake_started_at: datetime | None = None,
    serving: Callable[[int], Mapping[str, Mapping[str, Any]]] | None = None,
) -> GateDecision:
    """Gather the evidence of the batches ``gate`` checks and decide it.

    Every member of each checked batch is judged by its membership state and its own
    command's evidence (``fleetpatch.evidence.gather``, which the report reads too);
    ``plans(step)`` is what the batch's first round recorded. Only a gate on the first batch
    judges the window's status. An alarm in ALARM at any time since ``bake_started_at``
    holds the gate.
    """
    index = {b.name: i for i, b in enumerate(batches)}
    first = batches[0].name
    found: list[InstanceEvidence] = []
    conflicting: dict[str, str] = {}
    for name in gate.batches:
        command_ids, window_started = batch_commands(
            batches, index[name], window_execution_id, commands, ssm
        )
        gathered = gather(
            batches[index[name]],
            plans(index[name]),
            command_ids,
            since=since,
            window_started=window_started,
            ssm=ssm,
            ec2=ec2,
            autoscaling=autoscaling,
        )
        conflicting.update(gathered.excluded)
        outcomes = serving(index[name]) if serving and batches[index[name]].serving else {}
        found += [with_serving(m.evidence, outcomes) for m in gathered.members]
    alarms_now = alarm_states(cloudwatch, gate.alarms)
    decision = evaluate_gate(
        gate,
        found,
        window_status=window_status if first in gate.batches else None,
        alarm_states=alarms_now,
    )
    decision = with_alarm_history(
        decision, cloudwatch, gate.alarms, alarms_now, since=bake_started_at
    )
    return replace(decision, not_counted={**decision.not_counted, **conflicting})


def with_serving(
    evidence: InstanceEvidence, outcomes: Mapping[str, Mapping[str, Any]]
) -> InstanceEvidence:
    """A serving batch's member with its recorded outcome (drain, health, rollback)."""
    record = outcomes.get(evidence.instance_id)
    if record is None:
        return evidence
    return replace(
        evidence,
        serving=record.get("outcome"),
        serving_reason=record.get("reason"),
        out_of_service_seconds=record.get("outOfServiceSeconds"),
    )


def batch_commands(
    batches: Sequence[RuntimeBatch],
    step: int,
    window_execution_id: str | None,
    commands: Mapping[str, Sequence[str]],
    ssm: Any,
) -> tuple[list[str], datetime | None]:
    """Batch ``step``'s commands, and when a window sent them (None: this workflow did).

    The first batch's commands are the window's when a window ran it (a run started before
    windows only started waves); a run its window started sends the first batch itself.
    """
    if step == 0 and window_execution_id and batches[step].name not in commands:
        return window_commands(ssm, window_execution_id)
    return list(commands.get(batches[step].name, [])), None


# --- the wave run's records (the state table) ---------------------------------------------------

# A DynamoDB item holds 400 KB: keep at most this many failed instances in a decision.
MAX_RECORDED_FAILURES = 1000


class WaveRecords:
    """One wave run's items in the state table (``pk = WAVE#<run id>``)."""

    def __init__(self, dynamodb: Any, table: str, run_id: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._run_id = run_id
        self._pk = {"S": keys.wave_pk(run_id)}
        self._now = now

    def _ttl(self) -> dict[str, str]:
        return keys.expires_at(self._now())

    def expires_at(self) -> str:
        return keys.expires_at(self._now())["N"]

    def batch(self, step: int) -> BatchRecords:
        """The plan and sends of batch ``step`` of this run."""
        return BatchRecords(self._dynamodb, self._table, self._run_id, step, self.expires_at)

    def serving(self, step: int) -> dict[str, dict[str, Any]]:
        """Instance id -> its serving outcome in batch ``step`` (patch-serving-instance's)."""
        found: dict[str, dict[str, Any]] = {}
        paginator = self._dynamodb.get_paginator("query")
        for page in paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": self._pk,
                ":prefix": {"S": keys.batch_prefix(keys.SERVING_PREFIX, step)},
            },
            ConsistentRead=True,
        ):
            for item in page["Items"]:
                record = json.loads(item["record"]["S"])
                found[record["instanceId"]] = record
        return found

    def record_serving(self, step: int, record: Mapping[str, Any]) -> None:
        """One serving instance's outcome in batch ``step`` (written again by a retry)."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": self._pk,
                "sk": {"S": keys.serving_sk(step, str(record["instanceId"]))},
                "record": {"S": json.dumps(record)},
                "expires_at": self._ttl(),
            },
        )

    def record_decision(self, step: int, batch: str, decision: GateDecision) -> None:
        """The gate decision before batch ``step`` (its reasons and failed instances)."""
        failures = dict(sorted(decision.failed_instances.items())[:MAX_RECORDED_FAILURES])
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": self._pk,
                "sk": {"S": keys.gate_sk(step)},
                "batch": {"S": batch},
                "passed": {"BOOL": decision.passed},
                "reasons": {"L": [{"S": r} for r in decision.reasons]},
                "failed_count": {"N": str(len(decision.failed_instances))},
                "failed_instances": {"M": {k: {"S": v} for k, v in failures.items()}},
                "not_counted": {
                    "M": {
                        k: {"S": v}
                        for k, v in sorted(decision.not_counted.items())[:MAX_RECORDED_FAILURES]
                    }
                },
                "expires_at": self._ttl(),
            },
        )
