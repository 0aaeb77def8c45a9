"""``fleetpatch emergency``: patch one CVE now, outside the schedule (docs/emergency.md).

``fleetpatch emergency --cve CVE-2024-7264 [--kb KB...] [--package NAME...]
[--environment ENV] [--severity S] [--reason TEXT] [--override-freeze REASON]``

Resolves the affected instances (Inspector's findings, else their patch state), writes an
InstallOverrideList per operating system and starts the CVE's run through the fleet's
batches and gates (``fleetpatch.services.emergency``, the same use case an event starts).
One run per CVE at a time: a request while one runs is recorded and names that run.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from fleetpatch.emergency import Target
from fleetpatch.emergency_policy import SEVERITIES
from fleetpatch.services.emergency import EmergencyRequest, start_emergency
from fleetpatch_cli.controlplane import Clients, Stage, add_aws_options, boto_clients
from fleetpatch_cli.parser import did_you_mean, examples
from fleetpatch_cli.wave_plane import EXIT_INVALID, ControlPlane, WaveError

CVE = re.compile(r"^CVE-[0-9]{4}-[0-9]{4,7}$")
KB = re.compile(r"^KB[0-9]{6,8}$")
PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$")


class _Settings:
    def __init__(self, plane: ControlPlane, stage: Stage) -> None:
        self.state_machine_arn = plane.state_machine_arn
        self.table_name = stage.state_table
        self.artifacts_bucket = stage.artifacts_bucket()


def request_of(args: argparse.Namespace, requested_by: str, now: datetime) -> EmergencyRequest:
    """The operator's request, checked (a WaveError names what is wrong)."""
    cve = args.cve.strip().upper()
    if not CVE.fullmatch(cve):
        raise WaveError(f"--cve {args.cve!r}: expected a CVE id such as CVE-2024-7264")
    for kb in args.kb:
        if not KB.fullmatch(kb):
            raise WaveError(f"--kb {kb!r}: expected a Microsoft KB id such as KB5044281")
    for package in args.package:
        if not PACKAGE.fullmatch(package):
            raise WaveError(f"--package {package!r}: expected a package name such as curl")
    if args.override_freeze is not None and not args.override_freeze.strip():
        raise WaveError("--override-freeze: say why the freeze is overridden (it is recorded)")
    return EmergencyRequest(
        target=Target(cve, tuple(args.kb), tuple(args.package)),
        source="cli",
        requested_by=requested_by,
        requested_at=now,
        reason=args.reason,
        environment=args.environment,
        severity=args.severity,
        override_freeze=args.override_freeze,
    )


def lines_of(answer: dict[str, Any]) -> list[str]:
    outcome = answer["outcome"]
    if outcome in ("started", "duplicate"):
        affected = answer.get("affected", {})
        count = sum(len(v) for v in affected.values())
        lines = [
            f"started {answer['run']}: {answer['cve']} ({answer['severity']}) on {count} "
            f"instance(s), affected by {answer['source']}",
            f"  batches in order: {', '.join(answer['batches'])}",
        ]
        lines += [f"  {os}: {', '.join(ids)}" for os, ids in sorted(affected.items())]
        lines += [f"  list for {os}: {url}" for os, url in sorted(answer["lists"].items())]
        lines += [f"  not patched: {i}: {why}" for i, why in answer.get("notPatched", {}).items()]
        lines.append(f"  follow it: fleetpatch wave status {answer['run']}")
        return lines
    return [f"{outcome}: {answer['reason']}"] + [
        f"  not patched: {i}: {why}" for i, why in answer.get("notPatched", {}).items()
    ]


def run_emergency_command(args: argparse.Namespace, clients: Clients | None = None) -> int:
    clients = clients or boto_clients(args)
    plane = ControlPlane(clients, args.stage)
    try:
        request = request_of(args, "", datetime.now(UTC))  # checked before any AWS call
        policy = plane.policy()
        environments = sorted(set(policy.patch_groups.values()))
        if args.environment is not None and args.environment not in environments:
            raise WaveError(
                f"--environment {args.environment}: not an environment of the deployed policy "
                f"({', '.join(environments) or 'none'})"
                + did_you_mean(args.environment, environments)
            )
        who = str(clients("sts").get_caller_identity()["Arn"])
        request = replace(request, requested_by=who)
        answer = start_emergency(
            request, _Settings(plane, Stage(clients, args.stage)), policy, client=clients
        )
    except WaveError as exc:
        print(f"fleetpatch emergency: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(answer, indent=2, default=str))
    else:
        print("\n".join(lines_of(answer)))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "emergency",
        help="patch one CVE now, outside the schedule, through the fleet's batches and gates",
        description="Patch the instances a CVE affects now: from Amazon Inspector's findings "
        "where present, else from their patch state. Each operating system installs exactly "
        "its fix (an InstallOverrideList); the fleet's batches and gates run in compressed "
        "form (the policy's emergency section). One run per CVE at a time: asking again "
        "while it runs records the request. docs/emergency.md says more.",
        epilog=examples(
            'fleetpatch emergency --cve CVE-2024-7264 --reason "curl RCE, vendor advisory"',
            "fleetpatch emergency --cve CVE-2024-43498 --kb KB5046616 --environment prod",
            "fleetpatch emergency --cve CVE-2024-6387 --package openssh --json",
            'fleetpatch emergency --cve CVE-2024-6387 --override-freeze "exploited in the wild"',
        ),
    )
    parser.add_argument("--cve", required=True, help="the CVE id, e.g. CVE-2024-7264")
    parser.add_argument(
        "--kb", action="append", default=[], metavar="KB", help="a Windows KB that fixes it"
    )
    parser.add_argument(
        "--package",
        action="append",
        default=[],
        metavar="NAME",
        help="a Linux package that fixes it (its newest version is installed)",
    )
    parser.add_argument("--environment", metavar="ENV", help="only this environment's waves")
    parser.add_argument(
        "--severity",
        type=str.upper,
        choices=list(SEVERITIES),
        help="the SLA's severity (default: the findings', else CRITICAL)",
    )
    parser.add_argument("--reason", default="", help="why (recorded and reported)")
    parser.add_argument(
        "--override-freeze",
        metavar="REASON",
        help="go through a change freeze, for this reason (recorded and reported)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_aws_options(parser)
    parser.set_defaults(func=run_emergency_command)
