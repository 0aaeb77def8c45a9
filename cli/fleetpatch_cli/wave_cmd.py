"""``fleetpatch wave``: start a wave by hand, see where runs stand, override a failed gate.

``wave start WAVE``                      every batch by the control plane, gates included
``wave status [RUN]``                    recent runs, or one run's gate decisions
``wave resume RUN --approve --reason``   override the gate that held RUN (recorded: who, why)

They act on the deployed control plane (``--stage``) in the account your AWS credentials
point at, or any AWS-compatible endpoint (``--endpoint-url``, e.g. ``fleetpatch local up``).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from fleetpatch.waves import promotion_input
from fleetpatch_cli.controlplane import Clients, add_aws_options, boto_clients, state_table_name

EXIT_INVALID = 2
RECENT_RUNS = 10


class WaveError(Exception):
    """Something the operator asked for cannot be done; the message says why."""


class ControlPlane:
    """The deployed stage's gated-wave state machine, policy parameter and state table."""

    def __init__(self, clients: Clients, stage: str) -> None:
        self._clients = clients
        self.stage = stage

    def _arn(self, resource: str) -> str:
        identity = self._clients("sts").get_caller_identity()
        region = self._clients("stepfunctions").meta.region_name
        partition = identity["Arn"].split(":")[1]
        return f"arn:{partition}:states:{region}:{identity['Account']}:{resource}"

    @property
    def state_machine_arn(self) -> str:
        return self._arn(f"stateMachine:fleetpatch-{self.stage}-gated-wave")

    def execution_arn(self, run: str) -> str:
        return self._arn(f"execution:fleetpatch-{self.stage}-gated-wave:{run}")

    def policy(self) -> dict[str, Any]:
        name = f"/fleetpatch/{self.stage}/policy"
        try:
            value = self._clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except self._clients("ssm").exceptions.ParameterNotFound:
            raise WaveError(f"no compiled policy {name}: is stage {self.stage} deployed?") from None
        policy: dict[str, Any] = json.loads(value)
        return policy

    # --- actions ----------------------------------------------------------------------------

    def start(self, wave: str, now: datetime) -> str:
        waves = self.policy()["waves"]
        if wave not in waves:
            raise WaveError(f"no wave {wave} in the deployed policy (waves: {', '.join(waves)})")
        name = f"manual-{wave}-{now:%Y%m%dT%H%M%SZ}"
        self._clients("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name,
            input=json.dumps(
                {
                    "wave": wave,
                    "windowId": None,
                    "windowExecutionId": None,
                    "windowStatus": None,
                    "batches": waves[wave]["batches"],
                    "startStep": 0,
                    **promotion_input(waves, wave),
                }
            ),
        )
        return name

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
            ExpressionAttributeValues={":pk": {"S": f"WAVE#{run}"}, ":gate": {"S": "GATE#"}},
        )["Items"]
        return [_plain(item) for item in items]

    def _state_table(self) -> str:
        return state_table_name(self.stage)

    def resume(self, run: str, *, reason: str, now: datetime) -> str:
        execution = self.run(run)
        if execution["status"] != "FAILED" or execution.get("error") not in {
            "GateFailed",
            "GateUnevaluated",
        }:
            raise WaveError(
                f"run {run} is {execution['status']}"
                + (f" ({execution['error']})" if execution.get("error") else "")
                + "; only a run held by its gate can be resumed"
            )
        payload = json.loads(execution["input"])
        batches = payload["batches"]
        failed = [d for d in self.decisions(run) if not d.get("passed")]
        if not failed:
            raise WaveError(f"run {run} has no failed gate decision on record")
        held = failed[-1]["batch"]
        step = next(i for i, b in enumerate(batches) if b["name"] == held)
        who = self._clients("sts").get_caller_identity()["Arn"]
        name = f"{run}-resume-{step}"[:80]
        self._clients("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn,
            name=name,
            input=json.dumps(
                {
                    "wave": payload["wave"],
                    "windowId": payload.get("windowId"),
                    "windowExecutionId": payload.get("windowExecutionId"),
                    # The person approved what the window did; later gates judge the rest.
                    "windowStatus": None,
                    "batches": batches,
                    "startStep": step,
                    "promoteFrom": payload.get("promoteFrom"),
                    "promotions": payload.get("promotions", []),
                    "commands": self._previous_commands(run),
                    "approval": {
                        "step": step,
                        "by": who,
                        "reason": reason,
                        "run": run,
                        "at": now.isoformat(),
                    },
                }
            ),
        )
        return name

    def _previous_commands(self, run: str) -> dict[str, list[str]]:
        item = (
            self._clients("dynamodb")
            .get_item(
                TableName=self._state_table(),
                Key={"pk": {"S": f"WAVE#{run}"}, "sk": {"S": "RUN"}},
            )
            .get("Item")
        )
        if not item or "commands" not in item:
            return {}
        commands: dict[str, list[str]] = json.loads(item["commands"]["S"])
        return commands


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain values (the attribute types this table uses)."""
    plain: dict[str, Any] = {}
    for key, value in item.items():
        if "S" in value:
            plain[key] = value["S"]
        elif "BOOL" in value:
            plain[key] = value["BOOL"]
        elif "N" in value:
            plain[key] = int(value["N"])
        elif "L" in value:
            plain[key] = [v.get("S") for v in value["L"]]
        elif "M" in value:
            plain[key] = {k: v.get("S") for k, v in value["M"].items()}
    return plain


# --- the command line ---------------------------------------------------------------------------


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
    return lines


def run_wave_command(args: argparse.Namespace, clients: Clients | None = None) -> int:
    plane = ControlPlane(clients or boto_clients(args), args.stage)
    now = datetime.now(UTC)
    try:
        if args.action == "start":
            print(f"started {plane.start(args.wave, now)}")
        elif args.action == "status":
            print("\n".join(status_lines(plane, args.run)))
        else:
            if not args.approve:
                raise WaveError("resume overrides a failed gate: say so with --approve")
            if not args.reason.strip():
                raise WaveError("--reason: say why the gate may be overridden (it is recorded)")
            print(f"started {plane.resume(args.run, reason=args.reason, now=now)}")
    except WaveError as exc:
        print(f"fleetpatch wave {args.action}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wave = subparsers.add_parser("wave", help="start, watch and resume gated waves")
    actions = wave.add_subparsers(dest="action", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        add_aws_options(parser)
        parser.set_defaults(func=run_wave_command)

    start = actions.add_parser("start", help="start a wave now, first batch included")
    start.add_argument("wave")
    common(start)
    status = actions.add_parser("status", help="recent wave runs, or one run's gates")
    status.add_argument("run", nargs="?")
    common(status)
    resume = actions.add_parser(
        "resume",
        help="override the failed gate of a held run and go on (recorded with who and why)",
    )
    resume.add_argument("run")
    resume.add_argument("--approve", action="store_true", help="required: you approve the override")
    resume.add_argument("--reason", default="", help="why (required; recorded)")
    common(resume)
