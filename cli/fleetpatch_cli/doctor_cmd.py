"""``fleetpatch doctor``: is this account set up as docs/getting-started.md says? Read-only.

Exit codes: 0 nothing to fix (warnings allowed), 1 something to fix (each line says what to
run), 2 could not look (no credentials, no region, no such stack).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from fleetpatch_cli.controlplane import Clients, add_aws_options, boto_clients
from fleetpatch_cli.doctor import Doctor, Finding, StackMissing
from fleetpatch_cli.parser import examples

EXIT_FIX = 1
EXIT_INVALID = 2
DEFAULT_POLICY = Path("policy/fleet.yaml")
_MARK = {"ok": "ok  ", "warn": "warn", "fail": "FIX "}

EXAMPLES = examples(
    "fleetpatch doctor --stage prod",
    "fleetpatch doctor --stage prod --stack-name my-fleetpatch --json | jq '.findings[]'",
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the account against docs/getting-started.md (read-only)",
        description=(
            "Check a deployed stage and the account around it: the stack and its policy,"
            " the launch hook on each group the policy names, instances in patch groups"
            " (managed, Online, consistent tags, instance profiles), the Slack secret,"
            " e-mail subscriptions, dead-letter queues. Only read calls."
        ),
        epilog=EXAMPLES,
    )
    add_aws_options(parser)
    parser.add_argument(
        "--stack-name", help="the stack's name (default: fleetpatch-STAGE, as samconfig.toml)"
    )
    parser.add_argument(
        "--policy",
        type=Path,
        default=DEFAULT_POLICY,
        help="the local policy file, compared with the deployed one",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, clients: Clients | None = None) -> int:
    stack_name = args.stack_name or f"fleetpatch-{args.stage}"
    doctor = Doctor(clients or boto_clients(args), stack_name, args.policy)
    try:
        findings = doctor.run()
    except StackMissing as exc:
        print(f"fleetpatch doctor: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except (BotoCoreError, ClientError) as exc:
        print(f"fleetpatch doctor: {exc}", file=sys.stderr)
        return EXIT_INVALID
    failing = [f for f in findings if f.status == "fail"]
    if args.json:
        print(json.dumps({"ok": not failing, "findings": [f.as_json() for f in findings]}))
    else:
        print(render(findings))
    return EXIT_FIX if failing else 0


def render(findings: list[Finding]) -> str:
    """One line per finding, failures first; each fix on its own line below."""
    order = {"fail": 0, "warn": 1, "ok": 2}
    lines = []
    for f in sorted(findings, key=lambda f: order[f.status]):
        lines.append(f"{_MARK[f.status]}  {f.check:<13} {f.subject}: {f.detail}")
        if f.fix and f.status != "ok":
            lines.append(f"{'':19} fix: {f.fix}")
    failing = sum(f.status == "fail" for f in findings)
    warnings = sum(f.status == "warn" for f in findings)
    lines.append(
        f"\n{failing} to fix, {warnings} warning(s)" if failing or warnings else "\nall good"
    )
    return "\n".join(lines)
