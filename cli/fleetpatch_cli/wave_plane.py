"""The deployed stage's gated waves as ``fleetpatch wave`` acts on them (one owner per action).

One run per wave at a time (``fleetpatch.lease``): ``start`` and ``resume`` name the run
that holds the wave; ``stop`` gives its lease back. The command line is
:mod:`fleetpatch_cli.wave_cmd`.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from fleetpatch.batch_run import run_sent_commands
from fleetpatch.contracts import keys, names
from fleetpatch.contracts.names import state_table_name
from fleetpatch.dynamo import plain as _plain
from fleetpatch.lease import WaveLease, read_lease, release_lease
from fleetpatch.policy import CompiledPolicy
from fleetpatch.waves import WaveRecords, promotion_arguments, run_input
from fleetpatch_cli.boundary import ConflictError
from fleetpatch_cli.controlplane import Clients
from fleetpatch_cli.parser import did_you_mean

EXIT_INVALID = 2
RECENT_RUNS = 10

# How a resumed run goes on, by what held its run (the gated-wave ASL's failure reasons):
# a failed gate is overridden (RecordApproval); a gate that could not be evaluated is
# evaluated again; a batch whose sending or waiting failed gets what it is missing.
RESUME_ACTIONS = {
    "GateFailed": "override",
    "ApprovalNotRecorded": "override",
    "GateUnevaluated": "reevaluate",
    "PatchBatchFailed": "resend",
    "BatchWaitFailed": "resend",
    "LeaseLost": "resend",
}
RESUME_WHAT = {
    "override": "override the gate before {batch}",
    "reevaluate": "evaluate the gate before {batch} again",
    "resend": "send the rest of {batch}",
}
# A run's operator records (fleetpatch.contracts.keys): the one resume of a held run, each stop.
IN_FLIGHT = {"Pending", "InProgress", "Delayed"}


class WaveError(Exception):
    """Something the operator asked for cannot be done; the message says why."""


class ControlPlane:
    """The deployed stage's gated-wave state machine, policy parameter and state table."""

    def __init__(self, clients: Clients, stage: str) -> None:
        self._clients = clients
        self.stage = stage
        self.notes: list[str] = []
        """What an action did besides its main effect, for the operator (printed after it)."""

    @property
    def clients(self) -> Clients:
        return self._clients

    def run_items(self, run: str) -> list[dict[str, Any]]:
        """Every record of ``run`` in the state table (its partition), as plain values."""
        kwargs: dict[str, Any] = {
            "TableName": self._state_table(),
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.wave_pk(run)}},
        }
        items: list[dict[str, Any]] = []
        while True:
            response = self._clients("dynamodb").query(**kwargs)
            items += [_plain(item) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _arn(self, resource: str) -> str:
        identity = self._clients("sts").get_caller_identity()
        region = self._clients("stepfunctions").meta.region_name
        partition = identity["Arn"].split(":")[1]
        return f"arn:{partition}:states:{region}:{identity['Account']}:{resource}"

    @property
    def state_machine_arn(self) -> str:
        return self._arn(f"stateMachine:{names.gated_wave_machine_name(self.stage)}")

    def execution_arn(self, run: str) -> str:
        return self._arn(f"execution:{names.gated_wave_machine_name(self.stage)}:{run}")

    def policy(self) -> CompiledPolicy:
        name = names.policy_parameter_name(self.stage)
        try:
            value = self._clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except self._clients("ssm").exceptions.ParameterNotFound:
            raise WaveError(f"no compiled policy {name}: is stage {self.stage} deployed?") from None
        return CompiledPolicy.model_validate_json(value)

    # --- actions ----------------------------------------------------------------------------

    def start(self, wave: str, now: datetime) -> str:
        policy = self.policy()
        waves = policy.waves
        if wave not in waves:
            raise WaveError(
                f"no wave {wave} in the deployed policy (waves: {', '.join(waves)})"
                + did_you_mean(wave, list(waves))
            )
        self._refuse_if_running(wave)
        name = names.manual_run_name(wave, now)
        self._start_execution(
            name,
            run_input(
                wave,
                [batch.model_dump(by_alias=True) for batch in waves[wave].batches],
                **promotion_arguments(policy, wave),
            ),
            conflict=f"wave {wave} was started as {name} by someone else in the same second",
        )
        return name

    def _start_execution(self, name: str, payload: dict[str, Any], *, conflict: str) -> None:
        sfn = self._clients("stepfunctions")
        try:
            sfn.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=json.dumps(payload)
            )
        except sfn.exceptions.ExecutionAlreadyExists:
            # The name is the run's idempotency key: the same name with another input is
            # another operator's start or resume that won the race.
            raise ConflictError(f"{conflict}; see fleetpatch wave status {name}") from None

    def runs(self) -> list[dict[str, Any]]:
        sfn = self._clients("stepfunctions")
        listed = sfn.list_executions(stateMachineArn=self.state_machine_arn, maxResults=100)
        executions = sorted(listed["executions"], key=lambda e: e["startDate"], reverse=True)
        return executions[:RECENT_RUNS]

    def run(self, run: str) -> dict[str, Any]:
        sfn = self._clients("stepfunctions")
        try:
            execution: dict[str, Any] = sfn.describe_execution(executionArn=self.execution_arn(run))
        except sfn.exceptions.ExecutionDoesNotExist:
            raise WaveError(f"no wave run {run} in stage {self.stage}") from None
        return execution

    def decisions(self, run: str) -> list[dict[str, Any]]:
        items = self._clients("dynamodb").query(
            TableName=self._state_table(),
            KeyConditionExpression="pk = :pk AND begins_with(sk, :gate)",
            ExpressionAttributeValues={
                ":pk": {"S": keys.wave_pk(run)},
                ":gate": {"S": keys.GATE_PREFIX},
            },
        )["Items"]
        return [_plain(item) for item in items]

    def _state_table(self) -> str:
        return state_table_name(self.stage)

    def _caller(self) -> str:
        arn: str = self._clients("sts").get_caller_identity()["Arn"]
        return arn

    # --- one run per wave -------------------------------------------------------------------

    def _refuse_if_running(self, wave: str) -> None:
        """Refuse when a live run holds the wave; give back a lease its dead run left behind."""
        dynamodb = self._clients("dynamodb")
        lease = read_lease(dynamodb, self._state_table(), wave)
        if lease is None:
            return
        status = self._status(lease)
        if status == "RUNNING":
            raise WaveError(
                f"wave {wave} is already running as {lease.run_id} (it holds the wave's "
                f"lease); wait for it, or stop it with: fleetpatch wave stop {lease.run_id} "
                "--reason ..."
            )
        # Its run ended without giving it back (stopped outside fleetpatch, or the release
        # failed): nothing patches the wave, so the lease need not wait for its expiry.
        if release_lease(dynamodb, self._state_table(), lease):
            self.notes.append(
                f"released the lease of wave {wave} that run {lease.run_id} ({status}) left"
            )

    def _status(self, lease: WaveLease) -> str:
        sfn = self._clients("stepfunctions")
        try:
            status: str = sfn.describe_execution(executionArn=lease.execution_arn)["status"]
        except sfn.exceptions.ExecutionDoesNotExist:
            return "GONE"
        return status

    # --- resume -------------------------------------------------------------------------------

    def resume(self, run: str, *, reason: str, now: datetime) -> str:
        execution = self.run(run)
        error = execution.get("error")
        action = RESUME_ACTIONS.get(error or "") if execution["status"] == "FAILED" else None
        if action is None:
            raise WaveError(
                f"run {run} is {execution['status']}"
                + (f" ({error})" if error else "")
                + "; only a held run can be resumed (held by "
                + ", ".join(RESUME_ACTIONS)
                + ")"
            )
        payload = json.loads(execution["input"])
        batches = payload["batches"]
        record = self._run_record(run)
        step = self._held_step(run, batches, record)
        self._refuse_if_running(payload["wave"])
        name = names.resumed_run_name(run, step)
        who = self._caller()
        what = RESUME_WHAT[action].format(batch=batches[step]["name"])
        self._claim_resume(run, name, who=who, reason=reason, what=what, now=now)
        # The resumed run is a new execution: it goes on from the held run's plans and sends
        # (a resent batch's too), so nothing is sent twice and the gates see every batch.
        records = WaveRecords(self._clients("dynamodb"), self._state_table(), run, time.time)
        for earlier in range(step + 1 if action == "resend" else step):
            records.batch(earlier).copy_to(name)
        commands = self._previous_commands(record)
        if action == "resend":
            # Waited for again by the resumed run's rounds, with what it sends.
            commands.pop(batches[step]["name"], None)
        audit = {"step": step, "by": who, "reason": reason, "run": run, "at": now.isoformat()}
        self._start_execution(
            name,
            run_input(
                payload["wave"],
                batches,
                start_step=step,
                window_id=payload.get("windowId"),
                window_execution_id=payload.get("windowExecutionId"),
                # Overriding, the person approved what the window did; later gates
                # judge the rest. Otherwise the gates judge the window as before.
                window_status=None if action == "override" else payload.get("windowStatus"),
                promote_from=payload.get("promoteFrom"),
                promotions=payload.get("promotions", []),
                commands=commands,
                approval=audit if action == "override" else None,
                resume=None if action == "override" else audit | {"action": action},
            ),
            conflict=f"run {run} was resumed as {name} by someone else at the same time",
        )
        return name

    def _run_record(self, run: str) -> dict[str, Any]:
        item = (
            self._clients("dynamodb")
            .get_item(
                TableName=self._state_table(),
                Key=keys.wave_run_key(run),
            )
            .get("Item")
        )
        return _plain(item or {})

    def _held_step(self, run: str, batches: list[dict[str, Any]], record: dict[str, Any]) -> int:
        held = record.get("held_before") or next(
            (d["batch"] for d in reversed(self.decisions(run)) if not d.get("passed")), None
        )
        names = [b["name"] for b in batches]
        if held not in names:
            raise WaveError(
                f"run {run}: the batch it was held before is not on record (its RUN record "
                "in the state table is missing); start the wave again instead"
            )
        return names.index(held)

    def _claim_resume(
        self, run: str, name: str, *, who: str, reason: str, what: str, now: datetime
    ) -> None:
        """Record the resume once per held run: a second one is told who resumed it, as what."""
        dynamodb = self._clients("dynamodb")
        key = {"pk": {"S": keys.wave_pk(run)}, "sk": {"S": keys.RESUMED_SK}}
        item = key | {
            "resumed_as": {"S": name},
            "what": {"S": what},
            "by": {"S": who},
            "reason": {"S": reason},
            "at": {"S": now.isoformat()},
        }
        try:
            dynamodb.put_item(
                TableName=self._state_table(),
                Item=item,
                ConditionExpression="attribute_not_exists(pk)",
            )
            return
        except dynamodb.exceptions.ConditionalCheckFailedException:
            earlier = _plain(
                dynamodb.get_item(TableName=self._state_table(), Key=key, ConsistentRead=True).get(
                    "Item", {}
                )
            )
        sfn = self._clients("stepfunctions")
        try:
            sfn.describe_execution(executionArn=self.execution_arn(earlier["resumed_as"]))
        except sfn.exceptions.ExecutionDoesNotExist:
            # That resume was recorded but never started its run (or is starting it right
            # now): this one goes instead, unless a third took it over first.
            try:
                dynamodb.put_item(
                    TableName=self._state_table(),
                    Item=item,
                    ConditionExpression="resumed_as = :earlier AND #by = :by AND #at = :at",
                    ExpressionAttributeNames={"#by": "by", "#at": "at"},
                    ExpressionAttributeValues={
                        ":earlier": {"S": earlier["resumed_as"]},
                        ":by": {"S": earlier["by"]},
                        ":at": {"S": earlier["at"]},
                    },
                )
            except dynamodb.exceptions.ConditionalCheckFailedException:
                raise ConflictError(
                    f"run {run} is being resumed by someone else at the same time; see "
                    "fleetpatch wave status " + run
                ) from None
            return
        raise WaveError(
            f"run {run} was already resumed as {earlier['resumed_as']} by {earlier['by']} "
            f"at {earlier['at']}: {earlier['reason']}"
        )

    def _previous_commands(self, record: dict[str, Any]) -> dict[str, list[str]]:
        if "commands" not in record:
            return {}
        commands: dict[str, list[str]] = json.loads(record["commands"])
        return commands

    # --- stop ---------------------------------------------------------------------------------

    def stop(self, run: str, *, reason: str, now: datetime) -> list[str]:
        """Stop ``run``, cancel its commands in flight, record it, give the wave's lease back."""
        execution = self.run(run)
        wave = json.loads(execution["input"])["wave"]
        dynamodb = self._clients("dynamodb")
        lease = read_lease(dynamodb, self._state_table(), wave)
        holds = lease is not None and lease.run_id == run
        running = execution["status"] == "RUNNING"
        if not running and not holds:
            raise WaveError(f"run {run} is {execution['status']}: nothing to stop")
        who = self._caller()
        done = []
        if running:
            self._clients("stepfunctions").stop_execution(
                executionArn=execution["executionArn"],
                error="WaveStopped",
                cause=f"stopped by {who}: {reason}",
            )
            done.append(f"stopped {run}")
        cancelled = self._cancel_in_flight(run)
        done.append(
            f"cancelled {len(cancelled)} command(s) in flight"
            + (f": {', '.join(cancelled)}" if cancelled else "")
        )
        dynamodb.put_item(
            TableName=self._state_table(),
            Item={
                "pk": {"S": keys.wave_pk(run)},
                "sk": {"S": keys.stopped_sk(now)},
                "by": {"S": who},
                "reason": {"S": reason},
                "at": {"S": now.isoformat()},
                "status": {"S": execution["status"]},
                "cancelled": {"L": [{"S": c} for c in cancelled]},
            },
        )
        if holds and lease is not None and release_lease(dynamodb, self._state_table(), lease):
            done.append(f"released the lease of wave {wave}")
        return done

    def _cancel_in_flight(self, run: str) -> list[str]:
        ssm = self._clients("ssm")
        cancelled = []
        for command_id in run_sent_commands(self._clients("dynamodb"), self._state_table(), run):
            listed = ssm.list_commands(CommandId=command_id)["Commands"]
            if not listed or listed[0]["Status"] not in IN_FLIGHT:
                continue
            try:
                ssm.cancel_command(CommandId=command_id)
            except ssm.exceptions.InvalidCommandId:
                continue  # ended between the two calls
            cancelled.append(command_id)
        return cancelled

    def audit(self, run: str) -> list[dict[str, Any]]:
        """The operators' records of ``run``: its resume, its stops."""
        items = []
        for prefix in (keys.RESUMED_SK, keys.STOPPED_PREFIX):
            items += self._clients("dynamodb").query(
                TableName=self._state_table(),
                KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
                ExpressionAttributeValues={
                    ":pk": {"S": keys.wave_pk(run)},
                    ":prefix": {"S": prefix},
                },
            )["Items"]
        return [_plain(item) for item in items]
