"""``fleetpatch export``: evidence for auditors, one row per instance and patch.

``export [--since 30d] [--format csv|json] [--output FILE]``

Reads the deployed stage (``--stage``) and the account's Systems Manager patch data, read
only (:mod:`fleetpatch.audit_export_aws`), and writes CSV (RFC 4180, UTF-8, a header row)
or JSON (the rows and a summary) to stdout or ``--output``. With CSV the summary (mean
time to remediate by severity) goes to stderr. docs/audit-export.md documents the columns.
Exit codes: 0 written, 2 invalid options or a stage that is not deployed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from botocore.exceptions import ClientError

from fleetpatch.audit_export import Export
from fleetpatch.audit_export_aws import gather
from fleetpatch.contracts.names import policy_parameter_name
from fleetpatch.policy import CompiledPolicy
from fleetpatch_cli.controlplane import Clients, Stage, add_aws_options, boto_clients
from fleetpatch_cli.parser import examples
from fleetpatch_cli.reports_cmd import EXIT_INVALID, CommandError, parse_since

DEFAULT_SINCE = "30d"
FORMATS = ("csv", "json")


def summary_lines(export: Export) -> list[str]:
    summary = export.summary()
    lines = [
        f"{summary['rows']} rows, {summary['instances']} instances, "
        f"{summary['since']} to {summary['until']}",
        "mean time to remediate (non-compliant -> compliant, ended in the period):",
    ]
    mttr = summary["mean_time_to_remediate"]
    if not mttr:
        lines.append("  no drift recorded in the period")
    for severity, figures in mttr.items():
        mean = "-" if figures["mean_hours"] is None else f"{figures['mean_hours']} h"
        lines.append(
            f"  {severity:<14} {figures['remediated']} remediated, mean {mean}; "
            f"{figures['open']} still open"
        )
    lines += [f"note: {n}" for n in summary["notes"]]
    return lines


def write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    # newline="" keeps the CSV's CRLF row ends (RFC 4180) as written.
    Path(output).write_text(text, encoding="utf-8", newline="")


def run_export(
    args: argparse.Namespace, clients: Clients | None = None, now: datetime | None = None
) -> int:
    at = now or datetime.now(UTC)
    try:
        since = parse_since(args.since, at)
        if since >= at:
            raise CommandError(f"--since {args.since} is not in the past", EXIT_INVALID)
        stage = Stage(clients or boto_clients(args), args.stage)
        export = _gather(stage, since, at)
    except CommandError as exc:
        print(f"fleetpatch export: {exc}", file=sys.stderr)
        return exc.code
    if args.format == "csv":
        write(export.to_csv(), args.output)
        for line in summary_lines(export):
            print(line, file=sys.stderr)
    else:
        write(export.to_json() + "\n", args.output)
    if args.output:
        print(f"wrote {len(export.rows)} rows to {args.output}", file=sys.stderr)
    return 0


def _gather(stage: Stage, since: datetime, at: datetime) -> Export:
    ssm = stage.clients("ssm")
    try:
        value = ssm.get_parameter(Name=policy_parameter_name(stage.name))["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ParameterNotFound":
            raise CommandError(
                f"no compiled policy {policy_parameter_name(stage.name)}: is stage "
                f"{stage.name} deployed (in this account and region)?",
                EXIT_INVALID,
            ) from None
        raise
    return gather(
        stage.clients,
        table=stage.state_table,
        bucket=stage.artifacts_bucket(),
        policy=CompiledPolicy.model_validate_json(value),
        since=since,
        now=at,
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = subparsers.add_parser(
        "export",
        help="evidence for auditors: every instance's patches as CSV or JSON",
        description="One row per instance and patch: what is missing, failed or pending a "
        "reboot now, and what was installed in the period, with the run that installed it and "
        "the exception that applied; the summary gives the mean time to remediate by severity. "
        "Columns: docs/audit-export.md.",
        epilog=examples(
            "fleetpatch export --since 30d --format csv --output evidence.csv",
            "fleetpatch export --since 2026-11-01 --format json | jq .summary",
        ),
    )
    export.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        metavar="WHEN",
        help="the period's start: 24h, 30d, 2w, or an ISO date or time",
    )
    export.add_argument("--format", choices=FORMATS, default="csv", help="csv or json")
    export.add_argument("--output", metavar="FILE", help="write to FILE (default: stdout)")
    add_aws_options(export)
    export.set_defaults(func=run_export)
