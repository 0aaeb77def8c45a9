"""Gated waves: which wave a window belongs to, a batch's instances, its commands, its evidence.

The gated-wave workflow calls these through two thin functions (evaluate-gate and
patch-batch). Everything here takes boto3 clients as arguments: no AWS at import time,
and every call is one the functions' roles allow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fleetpatch.alarms import alarm_states, with_alarm_history
from fleetpatch.gate import GateDecision, InstanceEvidence, evaluate_gate
from fleetpatch.policy import RuntimeBatch, RuntimeGate
from fleetpatch.promotion import (  # noqa: F401 - moved; importable from here for now
    INSTALLED_STATES,
    installed_since,
    override_list,
    override_list_key,
)
from fleetpatch.tags import PATCH_GROUP_TAG_KEYS

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
    """Running instances in ``patch_groups`` by either tag key, sorted.

    Reads tags with ``DescribeTags`` and states with ``DescribeInstanceStatus`` rather than
    ``DescribeInstances``: a batch may hold thousands of instances and neither call returns
    their whole description. An instance whose two tag keys disagree belongs to no group
    (the plan reports it), so it is left out rather than patched under a guess.
    """
    candidates: set[str] = set()
    for key in PATCH_GROUP_TAG_KEYS:
        candidates |= set(
            _tagged(
                ec2,
                [{"Name": "key", "Values": [key]}, {"Name": "value", "Values": list(patch_groups)}],
            )
        )
    ordered = sorted(candidates)
    tags: dict[str, dict[str, str]] = {i: {} for i in ordered}
    for chunk in chunked(ordered, 200):
        filters = [
            {"Name": "resource-id", "Values": list(chunk)},
            {"Name": "key", "Values": list(PATCH_GROUP_TAG_KEYS)},
        ]
        for instance_id, key, value in _tag_rows(ec2, filters):
            tags[instance_id][key] = value
    agreeing = [i for i in ordered if len(set(tags[i].values())) == 1]
    running = set()
    for chunk in chunked(agreeing, 100):
        statuses = ec2.describe_instance_status(InstanceIds=list(chunk), IncludeAllInstances=True)
        for status in statuses["InstanceStatuses"]:
            if status["InstanceState"]["Name"] == "running":
                running.add(status["InstanceId"])
    return [i for i in agreeing if i in running]


def _tag_rows(ec2: Any, filters: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    paginator = ec2.get_paginator("describe_tags")
    instance_filter = {"Name": "resource-type", "Values": ["instance"]}
    for page in paginator.paginate(Filters=[instance_filter, *filters]):
        for tag in page["Tags"]:
            yield tag["ResourceId"], tag["Key"], tag["Value"]


def _tagged(ec2: Any, filters: list[dict[str, Any]]) -> list[str]:
    return [instance_id for instance_id, _, _ in _tag_rows(ec2, filters)]


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


def evidence(
    batch: str,
    results: Mapping[str, str],
    expected: Iterable[str],
    states: Mapping[str, Mapping[str, Any]],
) -> list[InstanceEvidence]:
    """Per-instance evidence: every instance a command ran on, and every expected one."""
    instances = sorted(set(results) | set(expected))
    found = []
    for instance_id in instances:
        state = states.get(instance_id)
        found.append(
            InstanceEvidence(
                instance_id=instance_id,
                batch=batch,
                command_status=results.get(instance_id),
                missing=state.get("MissingCount") if state else None,
                failed=state.get("FailedCount") if state else None,
                pending_reboot=state.get("InstalledPendingRebootCount") if state else None,
            )
        )
    return found


def decide_gate(
    gate: RuntimeGate,
    batches: Sequence[RuntimeBatch],
    *,
    window_execution_id: str | None,
    window_status: str | None,
    commands: Mapping[str, Sequence[str]],
    ssm: Any,
    ec2: Any,
    cloudwatch: Any,
    bake_started_at: datetime | None = None,
) -> GateDecision:
    """Gather the evidence of the batches ``gate`` checks and decide it.

    The first batch's commands are the window's (when a window ran it) and only a gate on
    the first batch judges the window's status; later batches' are the ``commands`` the
    workflow sent. An alarm in ALARM at any time since ``bake_started_at`` holds the gate.
    """
    by_name = {b.name: b for b in batches}
    first = batches[0].name
    found: list[InstanceEvidence] = []
    for name in gate.batches:
        if name == first and window_execution_id:
            command_ids = window_command_ids(ssm, window_execution_id)
        else:
            command_ids = list(commands.get(name, []))
        results = command_results(ssm, command_ids)
        expected = batch_instances(ec2, by_name[name].patch_groups)
        states = patch_states(ssm, sorted(set(results) | set(expected)))
        found += evidence(name, results, expected, states)
    alarms_now = alarm_states(cloudwatch, gate.alarms)
    decision = evaluate_gate(
        gate.policy_gate(),
        found,
        window_status=window_status if first in gate.batches else None,
        alarm_states=alarms_now,
    )
    return with_alarm_history(decision, cloudwatch, gate.alarms, alarms_now, since=bake_started_at)


# --- patching a batch ---------------------------------------------------------------------------


def send_batch(
    ssm: Any,
    instance_ids: Sequence[str],
    batch: RuntimeBatch,
    *,
    wave: str,
    run_id: str,
    output_bucket: str,
    timeout_seconds: int,
    already_sent: Mapping[int, str],
    record: Callable[[int, str], None],
    install_override_list: str | None = None,
) -> list[str]:
    """One AWS-RunPatchBaseline per 50 instances.

    ``record(chunk, command_id)`` is called right after each send and ``already_sent``
    (chunk -> command id) is what earlier attempts recorded: a retried call sends only the
    chunks a failed attempt did not.
    """
    command_ids = []
    for index, chunk in enumerate(chunked(instance_ids)):
        if index in already_sent:
            command_ids.append(already_sent[index])
            continue
        response = ssm.send_command(
            DocumentName=PATCH_DOCUMENT,
            InstanceIds=list(chunk),
            Parameters={
                "Operation": [batch.operation],
                "RebootOption": [batch.reboot_option],
                # A promoted wave installs exactly what its source installed.
                **(
                    {"InstallOverrideList": [install_override_list]}
                    if install_override_list
                    else {}
                ),
            },
            MaxConcurrency=batch.max_concurrency,
            MaxErrors=batch.max_errors,
            TimeoutSeconds=timeout_seconds,
            OutputS3BucketName=output_bucket,
            OutputS3KeyPrefix=f"command-output/waves/{wave}/{batch.name}",
            Comment=f"fleetpatch wave {wave} batch {batch.name} ({run_id})"[:100],
        )
        command_id = str(response["Command"]["CommandId"])
        record(index, command_id)
        command_ids.append(command_id)
    return command_ids


# --- the wave run's records (the state table) ---------------------------------------------------

RECORD_TTL_SECONDS = 400 * 24 * 3600  # a year of waves, for reports and audits
# A DynamoDB item holds 400 KB: keep at most this many failed instances in a decision.
MAX_RECORDED_FAILURES = 1000


class WaveRecords:
    """One wave run's items in the state table (``pk = WAVE#<run id>``)."""

    def __init__(self, dynamodb: Any, table: str, run_id: str, now: Callable[[], float]) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._pk = {"S": f"WAVE#{run_id}"}
        self._now = now

    def _ttl(self) -> dict[str, str]:
        return {"N": str(int(self._now()) + RECORD_TTL_SECONDS)}

    def sent_chunks(self, step: int) -> dict[int, str]:
        """Chunk -> command id of the commands an earlier attempt sent for this batch."""
        response = self._dynamodb.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": self._pk, ":prefix": {"S": f"SEND#{step:02d}#"}},
        )
        return {
            int(item["chunk"]["N"]): item["command_id"]["S"] for item in response.get("Items", [])
        }

    def record_sent(self, step: int, chunk: int, command_id: str) -> None:
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                "pk": self._pk,
                "sk": {"S": f"SEND#{step:02d}#{chunk:05d}"},
                "chunk": {"N": str(chunk)},
                "command_id": {"S": command_id},
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
                "sk": {"S": f"GATE#{step:02d}"},
                "batch": {"S": batch},
                "passed": {"BOOL": decision.passed},
                "reasons": {"L": [{"S": r} for r in decision.reasons]},
                "failed_count": {"N": str(len(decision.failed_instances))},
                "failed_instances": {"M": {k: {"S": v} for k, v in failures.items()}},
                "expires_at": self._ttl(),
            },
        )
