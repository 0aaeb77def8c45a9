"""``fleetpatch wave``: start a wave by hand, see where runs stand, override a failed gate.

``wave start WAVE``                      every batch by the control plane, gates included
``wave status [RUN]``                    recent runs, or one run's gate decisions
``wave resume RUN --approve --reason``   go on from where RUN was held (recorded: who, why)
``wave stop RUN --reason``               stop RUN and cancel its commands (recorded: who, why)
``wave skip WAVE --next --reason``       skip WAVE's next occurrence (recorded; --cancel undoes)

One run per wave at a time (``fleetpatch.lease``): ``start`` and ``resume`` name the run
that holds the wave; ``stop`` gives its lease back.

They act on the deployed control plane (``--stage``) in the account your AWS credentials
point at, or any AWS-compatible endpoint (``--endpoint-url``, e.g. ``fleetpatch local up``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fleetpatch_cli import wave_skip_cmd
from fleetpatch_cli.controlplane import Clients, add_aws_options, boto_clients
from fleetpatch_cli.parser import examples
from fleetpatch_cli.wave_plane import (
    EXIT_INVALID,
    RESUME_ACTIONS,
    ControlPlane,
    WaveError,
)
from fleetpatch_cli.wave_progress import progress, progress_lines

__all__ = ["RESUME_ACTIONS", "ControlPlane", "WaveError", "register", "run_wave_command"]

# Names that mean production: starting, resuming or stopping a wave there asks first.
PRODUCTION = re.compile(r"^prod(uction)?([-_.].*)?$")


# --- the command line ---------------------------------------------------------------------------


def status_data(plane: ControlPlane, run: str | None) -> dict[str, Any]:
    """What ``wave status [RUN]`` shows, as one JSON object."""
    if run is None:
        return {
            "runs": [
                {"run": e["name"], "status": e["status"], "started": e["startDate"].isoformat()}
                for e in plane.runs()
            ],
            "skippedNext": wave_skip_cmd.pending(
                plane.clients("dynamodb"), plane.stage, plane.policy().waves
            ),
        }
    execution = plane.run(run)
    now = progress(plane, run, execution)
    return {
        "run": run,
        "wave": json.loads(execution["input"])["wave"],
        "status": execution["status"],
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "progress": now.as_json() if now else None,
        "gates": plane.decisions(run),
        "operatorRecords": plane.audit(run),
    }


def status_lines(plane: ControlPlane, run: str | None) -> list[str]:
    if run is None:
        runs = plane.runs()
        skips = wave_skip_cmd.pending_lines(plane)
        if not runs:
            return ["no wave runs yet", *skips]
        return [
            f"{e['name']}  {e['status']:<9}  started {e['startDate']:%Y-%m-%d %H:%M %Z}"
            for e in runs
        ] + skips
    execution = plane.run(run)
    payload = json.loads(execution["input"])
    lines = [f"{run}: wave {payload['wave']}, {execution['status']}"]
    now = progress(plane, run, execution)
    if now is not None:
        lines += progress_lines(now)
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


def production(plane: ControlPlane, wave: str) -> list[str]:
    """Why acting on ``wave`` touches production: the production names among its stage, its
    own name and its environments (``prod``, ``production``, ``prod-eu``); empty if none."""
    policy = plane.policy()
    spec = policy.waves.get(wave)
    environments = {
        policy.environment_of(group) or ""
        for batch in (spec.batches if spec else [])
        for group in batch.patch_groups
    }
    named = [f"stage {plane.stage}", f"wave {wave}"] + [
        f"environment {e}" for e in sorted(environments) if e
    ]
    return [n for n in named if PRODUCTION.match(n.split(" ", 1)[1])]


def confirm(plane: ControlPlane, args: argparse.Namespace, wave: str, what: str) -> None:
    """Ask before ``what`` touches production, unless --yes; refuse when nobody can answer."""
    if getattr(args, "yes", True):
        return
    why = production(plane, wave)
    if not why:
        return
    if not sys.stdin.isatty():
        raise WaveError(f"{what} touches production ({', '.join(why)}): confirm with --yes")
    answer = input(f"{what} touches production ({', '.join(why)}). Go on? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        raise WaveError("not confirmed: nothing was done")


def _act(plane: ControlPlane, args: argparse.Namespace, now: datetime) -> tuple[Any, list[str]]:
    """Do what ``args`` ask; what was done as JSON and as lines of text."""
    if args.action in ("resume", "stop") and not getattr(args, "yes", True):
        wave = json.loads(plane.run(args.run)["input"])["wave"]
        confirm(plane, args, wave, f"{args.action} run {args.run} of wave {wave}")
    if args.action == "start":
        confirm(plane, args, args.wave, f"start wave {args.wave} in stage {plane.stage}")
        name = plane.start(args.wave, now)
        return {"run": name, "wave": args.wave}, [f"started {name}"]
    if args.action == "skip":
        return wave_skip_cmd.skip(plane, args, now)
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

    def common(parser: argparse.ArgumentParser, *, acts: bool = True) -> None:
        if acts:
            parser.add_argument(
                "--yes", action="store_true", help="do not ask before touching production"
            )
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
    common(status, acts=False)
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
    wave_skip_cmd.register(actions, common)
