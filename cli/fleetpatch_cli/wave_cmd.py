"""``fleetpatch wave``: start a wave by hand, see where runs stand, override a failed gate.

``wave start WAVE``                      every batch by the control plane, gates included
``wave status [RUN]``                    recent runs, or one run's gate decisions
``wave resume RUN --approve --reason``   go on from where RUN was held (recorded: who, why)
``wave stop RUN --reason``               stop RUN and cancel its commands (recorded: who, why)

One run per wave at a time (``fleetpatch.lease``): ``start`` and ``resume`` name the run
that holds the wave; ``stop`` gives its lease back.

They act on the deployed control plane (``--stage``) in the account your AWS credentials
point at, or any AWS-compatible endpoint (``--endpoint-url``, e.g. ``fleetpatch local up``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fleetpatch.batch_run import run_sent_commands
from fleetpatch.contracts import keys, names
from fleetpatch.contracts.names import state_table_name
from fleetpatch.dynamo import plain as _plain
from fleetpatch.lease import WaveLease, read_lease, release_lease
from fleetpatch.policy import CompiledPolicy
from fleetpatch.waves import WaveRecords, promotion_arguments, run_input
from fleetpatch_cli.boundary import ConflictError
from fleetpatch_cli.controlplane import Clients, add_aws_options, boto_clients
from fleetpatch_cli.parser import examples

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
            raise WaveError(f"no wave {wave} in the deployed policy (waves: {', '.join(waves)})")
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


# --- the command line ---------------------------------------------------------------------------


def status_data(plane: ControlPlane, run: str | None) -> dict[str, Any]:
    """What ``wave status [RUN]`` shows, as one JSON object."""
    if run is None:
        return {
            "runs": [
                {"run": e["name"], "status": e["status"], "started": e["startDate"].isoformat()}
                for e in plane.runs()
            ]
        }
    execution = plane.run(run)
    return {
        "run": run,
        "wave": json.loads(execution["input"])["wave"],
        "status": execution["status"],
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "gates": plane.decisions(run),
        "operatorRecords": plane.audit(run),
    }


def status_lines(plane: ControlPlane, run: str | None) -> list[str]:
    if run is None:
        runs = plane.runs()
        if not runs:
            return ["no wave runs yet"]
        return [
            f"{e['name']}  {e['status']:<9}  started {e['startDate']:%Y-%m-%d %H:%M %Z}"
            for e in runs
        ]
    execution = plane.run(run)
    payload = json.loads(execution["input"])
    lines = [f"{run}: wave {payload['wave']}, {execution['status']}"]
    if execution.get("error"):
        lines.append(f"  {execution['error']}: {execution.get('cause', '')}")
    for decision in plane.decisions(run):
        verdict = "passed" if decision.get("passed") else "FAILED"
        lines.append(f"  gate before {decision['batch']}: {verdict}")
        lines += [f"    {reason}" for reason in decision.get("reasons", [])]
        for instance, why in sorted(decision.get("failed_instances", {}).items()):
            lines.append(f"    {instance}: {why}")
        if decision.get("approved_by"):
            lines.append(f"    approved by {decision['approved_by']}")
    for record in plane.audit(run):
        if "resumed_as" in record:
            lines.append(
                f"  resumed as {record['resumed_as']} ({record['what']}) by {record['by']} "
                f"at {record['at']}: {record['reason']}"
            )
        else:
            lines.append(
                f"  stopped by {record['by']} at {record['at']}: {record['reason']} "
                f"({len(record.get('cancelled', []))} command(s) cancelled)"
            )
    return lines


def _act(plane: ControlPlane, args: argparse.Namespace, now: datetime) -> tuple[Any, list[str]]:
    """Do what ``args`` ask; what was done as JSON and as lines of text."""
    if args.action == "start":
        name = plane.start(args.wave, now)
        return {"run": name, "wave": args.wave}, [f"started {name}"]
    if args.action == "status":
        data = status_data(plane, args.run) if getattr(args, "json", False) else None
        return data, [] if data is not None else status_lines(plane, args.run)
    if args.action == "stop":
        if not args.reason.strip():
            raise WaveError("--reason: say why the run is stopped (it is recorded)")
        done = plane.stop(args.run, reason=args.reason, now=now)
        return {"run": args.run, "done": done}, done
    if not args.approve:
        raise WaveError("resume goes on past what held the run: say so with --approve")
    if not args.reason.strip():
        raise WaveError("--reason: say why the run may go on (it is recorded)")
    name = plane.resume(args.run, reason=args.reason, now=now)
    return {"run": name, "resumed": args.run}, [f"started {name}"]


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def run_wave_command(args: argparse.Namespace, clients: Clients | None = None) -> int:
    plane = ControlPlane(clients or boto_clients(args), args.stage)
    now = datetime.now(UTC)
    try:
        data, lines = _act(plane, args, now)
    except WaveError as exc:
        print(f"fleetpatch wave {args.action}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        for note in plane.notes:
            print(f"fleetpatch wave {args.action}: {note}", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=_json_value))
    else:
        print("\n".join(lines))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wave = subparsers.add_parser(
        "wave",
        help="start, watch, resume and stop gated waves",
        description="Start a wave by hand, see where its runs stand, go on past a held gate, "
        "or stop a run. They act on the deployed stage (--stage) in the account your AWS "
        "credentials point at, or on any AWS-compatible endpoint (--endpoint-url).",
        epilog=examples(
            "fleetpatch wave start prod --region eu-central-1",
            "fleetpatch wave status                          # recent runs",
            "fleetpatch wave status RUN --json               # one run's gates, as JSON",
            'fleetpatch wave resume RUN --approve --reason "db restarted, checks green"',
            'fleetpatch wave stop RUN --reason "wrong patch list"',
        ),
    )
    actions = wave.add_subparsers(dest="action", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        add_aws_options(parser)
        parser.set_defaults(func=run_wave_command)

    start = actions.add_parser(
        "start",
        help="start a wave now, first batch included",
        description="Start WAVE now: every batch by the control plane, gates included. One "
        "run per wave at a time: a running one is named.",
        epilog=examples(
            "fleetpatch wave start test",
            "fleetpatch wave start prod --stage prod --profile ops --json",
        ),
    )
    start.add_argument("wave", metavar="WAVE", help="a wave of the deployed policy")
    common(start)
    status = actions.add_parser(
        "status",
        help="recent wave runs, or one run's gates",
        description="Without RUN: the recent runs of the stage. With RUN: its status, each "
        "gate's decision and reasons, failed instances, resumes and stops.",
        epilog=examples(
            "fleetpatch wave status",
            "fleetpatch wave status manual-prod-20261205T050000Z --json",
        ),
    )
    status.add_argument("run", nargs="?", metavar="RUN", help="a run id (see wave status)")
    common(status)
    resume = actions.add_parser(
        "resume",
        help="go on from where a held run stopped (recorded with who and why)",
        description="Go on from where a held run stopped: override its failed gate, evaluate "
        "an unevaluated one again, or send what a failed send missed. Recorded with who and "
        "why; a run is resumed once.",
        epilog=examples(
            'fleetpatch wave resume RUN --approve --reason "db restarted, checks green"'
        ),
    )
    resume.add_argument("run", metavar="RUN", help="the held run (see wave status)")
    resume.add_argument("--approve", action="store_true", help="required: you approve going on")
    resume.add_argument("--reason", default="", help="why (required; recorded)")
    common(resume)
    stop = actions.add_parser(
        "stop",
        help="stop a run and cancel its commands in flight (recorded with who and why)",
        description="Stop RUN, cancel its commands in flight, record who and why, and give "
        "the wave's lease back.",
        epilog=examples('fleetpatch wave stop RUN --reason "wrong patch list"'),
    )
    stop.add_argument("run", metavar="RUN", help="the run to stop (see wave status)")
    stop.add_argument("--reason", default="", help="why (required; recorded)")
    common(stop)
