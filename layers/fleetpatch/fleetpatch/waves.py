"""Gated waves: which wave a window belongs to, a batch's instances, its commands, its evidence.

The gated-wave workflow calls these through two thin functions (evaluate-gate and
patch-batch). Everything here takes boto3 clients as arguments: no AWS at import time,
and every call is one the functions' roles allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from fleetpatch.alarms import alarm_states, with_alarm_history
from fleetpatch.batch_run import BatchRecords, Plan, batch_evidence
from fleetpatch.gate import GateDecision, InstanceEvidence, evaluate_gate
from fleetpatch.membership import ec2_states, tagged
from fleetpatch.policy import RuntimeBatch, RuntimeGate
from fleetpatch.promotion import (  # noqa: F401 - moved; importable from here for now
    INSTALLED_STATES,
    installed_since,
    override_list,
    override_list_key,
)

# SendCommand takes at most 50 instance ids; DescribeInstancePatchStates 50 as well.
MAX_IDS_PER_CALL = 50
PATCH_DOCUMENT = "AWS-RunPatchBaseline"


def wave_of_window(window_name: str, prefix: str, waves: Mapping[str, Any]) -> str | None:
    """The wave whose first-batch window is ``window_name`` (``<prefix><wave>``), or None."""
    if not window_name.startswith(prefix):
        return None
    wave = window_name.removeprefix(prefix)
    return wave if wave in waves else None


def promotion_input(waves: Mapping[str, Any], wave: str) -> dict[str, Any]:
    """The gated-wave input about promotion: the wave it installs from, the waves it feeds."""
    return {
        "promoteFrom": waves[wave].get("promoteFrom"),
        "promotions": sorted(w for w, spec in waves.items() if spec.get("promoteFrom") == wave),
    }


def chunked[T](items: Sequence[T], size: int = MAX_IDS_PER_CALL) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- a batch's instances ------------------------------------------------------------------------


def batch_instances(ec2: Any, patch_groups: Sequence[str]) -> list[str]:
    """Running instances in ``patch_groups`` by either tag key (conflicting tags excluded)."""
    agreeing, _ = tagged(ec2, patch_groups)
    states = ec2_states(ec2, agreeing)
    return [i for i in agreeing if states.get(i) == "running"]


# --- evidence -----------------------------------------------------------------------------------


def window_command_ids(ssm: Any, window_execution_id: str) -> list[str]:
    """The Run Command commands a maintenance window execution sent (its task invocations)."""
    command_ids: list[str] = []
    tasks = ssm.describe_maintenance_window_execution_tasks(WindowExecutionId=window_execution_id)
    for task in tasks["WindowExecutionTaskIdentities"]:
        if task.get("TaskType", "RUN_COMMAND") != "RUN_COMMAND":
            continue
        paginator = ssm.get_paginator("describe_maintenance_window_execution_task_invocations")
        for page in paginator.paginate(
            WindowExecutionId=window_execution_id, TaskId=task["TaskExecutionId"]
        ):
            for invocation in page["WindowExecutionTaskInvocationIdentities"]:
                if invocation.get("ExecutionId"):
                    command_ids.append(invocation["ExecutionId"])
    return sorted(set(command_ids))


@dataclass(frozen=True)
class Invocation:
    """One instance's part of a Run Command command."""

    command_id: str
    status: str
    output: str | None = None
    """Where the output went (``s3://bucket/prefix/command/instance/``), when S3 output is on."""


def output_prefix(
    bucket: str | None, key_prefix: str | None, command_id: str, instance: str
) -> str | None:
    """Where Run Command wrote an invocation's output (``<prefix>/<command>/<instance>/``)."""
    if not bucket:
        return None
    parts = [p.strip("/") for p in (key_prefix or "", command_id, instance) if p]
    return f"s3://{bucket}/{'/'.join(parts)}/"


def command_invocations(
    ssm: Any, command_ids: Iterable[str], *, with_output: bool = False
) -> dict[str, Invocation]:
    """Instance id -> its invocation over ``command_ids`` (and, asked, where its output is).

    An instance in several commands keeps its worst result: any failure counts.
    """
    found: dict[str, Invocation] = {}
    paginator = ssm.get_paginator("list_command_invocations")
    for command_id in command_ids:
        bucket = prefix = None
        if with_output:
            command = ssm.list_commands(CommandId=command_id)["Commands"]
            bucket = command[0].get("OutputS3BucketName") if command else None
            prefix = command[0].get("OutputS3KeyPrefix") if command else None
        for page in paginator.paginate(CommandId=command_id):
            for invocation in page["CommandInvocations"]:
                instance = invocation["InstanceId"]
                if instance in found and found[instance].status != "Success":
                    continue
                output = output_prefix(bucket, prefix, command_id, instance)
                found[instance] = Invocation(command_id, invocation["Status"], output)
    return found


def command_results(ssm: Any, command_ids: Iterable[str]) -> dict[str, str]:
    """Instance id -> the final status of its invocation (the worst), over ``command_ids``."""
    return {i: inv.status for i, inv in command_invocations(ssm, command_ids).items()}


def patch_states(ssm: Any, instance_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for chunk in chunked(instance_ids):
        response = ssm.describe_instance_patch_states(InstanceIds=list(chunk))
        for state in response["InstancePatchStates"]:
            states[state["InstanceId"]] = state
    return states


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
) -> GateDecision:
    """Gather the evidence of the batches ``gate`` checks and decide it.

    Every member of each checked batch is judged by its membership state
    (``fleetpatch.batch_run.batch_evidence``); ``plans(step)`` is what the batch's first
    round recorded. The first batch's commands are the window's when a window ran it, and
    only a gate on the first batch judges the window's status. An alarm in ALARM at any time
    since ``bake_started_at`` holds the gate.
    """
    by_name = {b.name: b for b in batches}
    index = {b.name: i for i, b in enumerate(batches)}
    first = batches[0].name
    found: list[InstanceEvidence] = []
    conflicting: dict[str, str] = {}
    for name in gate.batches:
        if name == first and window_execution_id and name not in commands:
            command_ids = window_command_ids(ssm, window_execution_id)
        else:
            command_ids = list(commands.get(name, []))
        invocations = {
            i: (inv.command_id, inv.status)
            for i, inv in command_invocations(ssm, command_ids).items()
        }
        members, excluded = batch_evidence(
            by_name[name],
            plans(index[name]),
            invocations,
            since=since,
            ssm=ssm,
            ec2=ec2,
            autoscaling=autoscaling,
            own_commands=command_ids,
        )
        conflicting.update(excluded)
        states = patch_states(ssm, [m.instance_id for m in members if m.command_status])
        found += [with_patch_state(m, states.get(m.instance_id)) for m in members]
    alarms_now = alarm_states(cloudwatch, gate.alarms)
    decision = evaluate_gate(
        gate.policy_gate(),
        found,
        window_status=window_status if first in gate.batches else None,
        alarm_states=alarms_now,
    )
    decision = with_alarm_history(
        decision, cloudwatch, gate.alarms, alarms_now, since=bake_started_at
    )
    return replace(decision, not_counted={**decision.not_counted, **conflicting})


def with_patch_state(
    evidence: InstanceEvidence, state: Mapping[str, Any] | None
) -> InstanceEvidence:
    if state is None:
        return evidence
    return replace(
        evidence,
        missing=state.get("MissingCount"),
        failed=state.get("FailedCount"),
        pending_reboot=state.get("InstalledPendingRebootCount"),
    )


# --- the wave run's records (the state table) ---------------------------------------------------

RECORD_TTL_SECONDS = 400 * 24 * 3600  # a year of waves, for reports and audits
# A DynamoDB item holds 400 KB: keep at most this many failed instances in a decision.
MAX_RECORDED_FAILURES = 1000


class WaveRecords:
    """One wave run's items in the state table (``pk = WAVE#<run id>``)."""

    def __init__(self, dynamodb: Any, table: str, run_id: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._run_id = run_id
        self._pk = {"S": f"WAVE#{run_id}"}
        self._now = now

    def _ttl(self) -> dict[str, str]:
        return {"N": self.expires_at()}

    def expires_at(self) -> str:
        return str(int(self._now()) + RECORD_TTL_SECONDS)

    def batch(self, step: int) -> BatchRecords:
        """The plan and sends of batch ``step`` of this run."""
        return BatchRecords(self._dynamodb, self._table, self._run_id, step, self.expires_at)

    def record_decision(self, step: int, batch: str, decision: GateDecision) -> None:
        """The gate decision before batch ``step`` (its reasons and failed instances)."""
        failures = dict(sorted(decision.failed_instances.items())[:MAX_RECORDED_FAILURES])
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": self._pk,
                "sk": {"S": f"GATE#{step:02d}"},
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
