"""``fleetpatch runs|report|compliance``: what ran, what each run reported, where the fleet stands.

``runs [--since 7d] [--kind KIND] [--limit N] [--json]``   reports, newest first
``report RUN [--json] [--html FILE] [--open]``           one run's stored report
``compliance [--environment ENV] [--json]``              the fleet's compliance now

They read the deployed stage (``--stage``): the report index and the compliance ledger in
the state table, the stored reports in the artifacts bucket. Nothing is changed. Exit
codes: 0 done, 1 not found (no such run, a report that was not stored), 2 invalid options
or a stage that is not deployed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import webbrowser
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, get_args

from botocore.exceptions import ClientError
from pydantic import ValidationError
from rich.text import Text

from fleetpatch.compliance import ComplianceLedger
from fleetpatch.contracts.names import state_table_name
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import console_url as execution_console_url
from fleetpatch.report_text import email_body
from fleetpatch.reports import DigestReport, DriftEntry, Kind, RunReport
from fleetpatch_cli.controlplane import Clients, Stage, add_aws_options, boto_clients
from fleetpatch_cli.parser import examples
from fleetpatch_cli.report_tables import (
    compliance_groups,
    compliance_stacked,
    compliance_tables,
    emit,
    runs_stacked,
    runs_table,
)

EXIT_NOT_FOUND = 1
EXIT_INVALID = 2
DEFAULT_SINCE = "7d"
DEFAULT_LIMIT = 50
DIGEST_KIND = "compliance-digest"
KINDS = (*get_args(Kind), DIGEST_KIND)
# Piped output is not folded at 80 columns: a line per run, whatever its length.

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
# Index attributes that are keys, not facts about the run.
_INDEX_KEYS = ("pk", "sk", "gsi1pk", "gsi1sk", "expires_at")


class CommandError(Exception):
    """The operator's request cannot be answered; the message says why."""

    def __init__(self, message: str, code: int = EXIT_NOT_FOUND) -> None:
        super().__init__(message)
        self.code = code


# --- options ---------------------------------------------------------------------------------


def parse_since(text: str, now: datetime) -> datetime:
    """``7d``, ``24h``, ``30m``, ``2w`` before ``now``, or an ISO date or time (UTC if naive)."""
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(
            f"--since: expected a duration (30m, 24h, 7d, 2w) or an ISO date or time "
            f"(2026-11-01, 2026-11-01T06:00Z), got {text!r}",
            EXIT_INVALID,
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# --- reading the stage -------------------------------------------------------------------------


class Reports:
    """A stage's report index, its stored reports and its compliance ledger (read-only)."""

    def __init__(self, clients: Clients, stage: str, now: Callable[[], datetime]) -> None:
        self.stage = Stage(clients, stage)
        dynamodb = clients("dynamodb")

        def clock() -> float:
            return now().timestamp()

        self.index = ReportIndex(dynamodb, self.stage.state_table, clock)
        self.ledger = ComplianceLedger(dynamodb, self.stage.state_table, clock)

    def runs(self, since: datetime, kind: str | None, limit: int) -> list[dict[str, Any]]:
        if kind is None:
            return self.index.list(since, limit=limit)
        # The index has no kind in its key: read the interval, then keep the kind.
        found = self.index.list(since, limit=sys.maxsize)
        return [item for item in found if item.get("kind") == kind][:limit]

    def entry(self, run: str) -> dict[str, Any]:
        item = self.index.get(run)
        if item is None:
            raise CommandError(f"no report for run {run} (see fleetpatch runs)")
        return item

    def stored(self, key: str) -> bytes | None:
        """An object of the artifacts bucket, or None when it is not there."""
        s3 = self.stage.clients("s3")
        try:
            body: bytes = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404"):
                return None
            raise
        return body

    @cached_property
    def bucket(self) -> str:
        return self.stage.artifacts_bucket()

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


# --- fleetpatch runs -----------------------------------------------------------------------------


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INDEX_KEYS}


def parse_limit(text: str) -> int:
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if limit < 1:
        raise CommandError(f"--limit: expected a number of 1 or more, got {text!r}", EXIT_INVALID)
    return limit


def list_runs(reports: Reports, args: argparse.Namespace, now: datetime) -> int:
    since = parse_since(args.since, now)
    limit = parse_limit(args.limit)
    items = reports.runs(since, args.kind, limit)
    if args.json:
        print(json.dumps([_public(i) for i in items], indent=2))
        return 0
    if not items:
        what = f"{args.kind} reports" if args.kind else "reports"
        when = f"{since.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        print(f"no {what} since {when} in stage {reports.stage.name}")
        return 0
    emit(runs_table(items), narrow=runs_stacked(items))
    if len(items) == limit:
        print(f"(the newest {limit}; --limit or --since for more)")
    return 0


# --- fleetpatch report RUN ------------------------------------------------------------------------


def index_lines(item: dict[str, Any]) -> list[str]:
    """What the index knows about a run, when its report itself cannot be shown."""
    rows = [
        ("Run", item.get("run_id")),
        ("Kind", item.get("kind")),
        ("Title", item.get("title")),
        ("Outcome", item.get("outcome")),
        ("Subject", item.get("subject")),
        ("Environment", item.get("environment")),
        ("Started", item.get("started_at")),
        ("Ended", item.get("ended_at")),
        ("Instances", item.get("instances")),
        ("Failed", item.get("failed")),
        ("Announced", item.get("message_id") and f"SNS message {item['message_id']}"),
    ]
    shown = [(k, v) for k, v in rows if v not in (None, "")]
    width = max(len(k) for k, _ in shown) + 1
    return [f"{(k + ':').ljust(width)} {v}" for k, v in shown]


def digest_text(digest: DigestReport) -> str:
    drifted, recovered = digest.drifted, digest.recovered
    lines = [
        f"{digest.title}: {len(drifted)} drifted, {len(recovered)} recovered",
        "",
        f"Run:    {digest.run_id}",
        f"Period: {_stamp(digest.started_at)} to {_stamp(digest.ended_at)}",
    ]
    for heading, entries in (("Drifted", drifted), ("Recovered", recovered)):
        if not entries:
            continue
        lines += ["", f"{heading} ({len(entries)}):"]
        lines += ["  " + _drift_line(e) for e in sorted(entries, key=_drift_order)]
    return "\n".join(lines) + "\n"


def _drift_order(entry: DriftEntry) -> tuple[str, str, str]:
    return (entry.environment or "", entry.patch_group or "", entry.instance_id)


def _drift_line(entry: DriftEntry) -> str:
    where = "/".join(p for p in (entry.environment, entry.patch_group) if p) or "-"
    changes = f", {entry.changes} changes" if entry.changes > 1 else ""
    return (
        f"{entry.instance_id:<20} {where:<32} {entry.severity or '-':<10} "
        f"at {_stamp(entry.at)}{changes}"
    )


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _not_stored(item: dict[str, Any], why: str) -> CommandError:
    print("\n".join(index_lines(item)))
    return CommandError(why)


def show_report(reports: Reports, args: argparse.Namespace) -> int:
    if args.json and (args.html or args.open):
        raise CommandError(
            "--json prints the report, --html/--open write its page: choose one", EXIT_INVALID
        )
    item = reports.entry(args.run)
    problem = item.get("store_error") or ""
    if problem:
        print(
            f"fleetpatch report: storing the report of run {args.run} failed: {problem}",
            file=sys.stderr,
        )

    if args.html or args.open:
        return write_page(reports, item, args)

    json_key = item.get("json_key") or ""
    if not json_key:
        raise _not_stored(
            item, f"the report of run {args.run} could not be stored; the index has the above"
        )
    body = reports.stored(json_key)
    if body is None:
        raise _not_stored(
            item,
            f"the report of run {args.run} is missing from {reports.location(json_key)}; "
            "the index has the above",
        )
    if args.json:
        text = body.decode()
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    print(report_text(reports, item, body, json_key), end="")
    return 0


def report_text(reports: Reports, item: dict[str, Any], body: bytes, json_key: str) -> str:
    try:
        kind = json.loads(body).get("kind") or item.get("kind")
        if kind == DIGEST_KIND:
            return digest_text(DigestReport.model_validate_json(body))
        report = RunReport.model_validate_json(body)
    except (ValueError, AttributeError) as exc:
        raise CommandError(
            f"{reports.location(json_key)} is not a readable report: {_first_error(exc)} "
            "(--json prints it as stored)"
        ) from None
    html_key = item.get("html_key") or ""
    return email_body(
        report,
        report_url=reports.location(html_key) if html_key else None,
        console_url=execution_console_url(reports.stage.region, report.execution_arn),
    )


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "report"
        return f"{exc.error_count()} error(s), first {where}: {first['msg']}"
    return str(exc) or type(exc).__name__


def write_page(reports: Reports, item: dict[str, Any], args: argparse.Namespace) -> int:
    html_key = item.get("html_key") or ""
    page = reports.stored(html_key) if html_key else None
    if page is None:
        where = f" (expected at {reports.location(html_key)})" if html_key else ""
        raise _not_stored(
            item, f"no stored HTML page for run {args.run}{where}; the index has the above"
        )
    if args.html:
        path = Path(args.html)
        try:
            path.write_bytes(page)
        except OSError as exc:
            raise CommandError(f"--html: cannot write {path} ({exc.strerror})") from None
    else:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", args.run)
        with tempfile.NamedTemporaryFile(
            prefix=f"fleetpatch-report-{safe}-", suffix=".html", delete=False
        ) as out:
            out.write(page)
        path = Path(out.name)
    print(f"wrote {path}")
    if args.open and not webbrowser.open(path.resolve().as_uri()):
        print(f"fleetpatch report: no browser to open; open {path} yourself", file=sys.stderr)
    return 0


# --- fleetpatch compliance -----------------------------------------------------------------------


def show_compliance(reports: Reports, args: argparse.Namespace, now: datetime) -> int:
    fleet = reports.ledger.fleet()
    recorded = sorted({s.get("environment") or "" for s in fleet})
    if args.environment is not None:
        fleet = [s for s in fleet if (s.get("environment") or "") == args.environment]
    groups = compliance_groups(fleet, now)
    compliant = sum(g["compliant"] for g in groups)
    drifting = sum(g["non_compliant"] for g in groups)
    if args.json:
        total = {
            "instances": compliant + drifting,
            "compliant": compliant,
            "non_compliant": drifting,
        }
        print(
            json.dumps(
                {
                    "stage": reports.stage.name,
                    "as_of": now.isoformat(),
                    "total": total,
                    "groups": groups,
                },
                indent=2,
            )
        )
        return 0
    if not groups:
        if recorded:
            known = ", ".join(e or "(none)" for e in recorded)
            print(f"no compliance recorded for environment {args.environment} (recorded: {known})")
        else:
            print(
                f"no compliance events recorded yet in stage {reports.stage.name}: the ledger "
                "fills as Patch Manager reports compliance changes of managed instances "
                "(patch scans and installs)"
            )
        return 0
    noun = "instance" if compliant + drifting == 1 else "instances"
    summary = (
        f"total: {compliant + drifting} {noun}, {compliant} compliant, {drifting} non-compliant"
    )
    emit(
        *compliance_tables(groups, now),
        Text(""),
        Text(summary),
        narrow=[*compliance_stacked(groups, now), Text(""), Text(summary)],
    )
    return 0


# --- the command line -----------------------------------------------------------------------------


def run_reports_command(
    args: argparse.Namespace,
    clients: Clients | None = None,
    now: datetime | None = None,
) -> int:
    at = now or datetime.now(UTC)
    try:
        reports = Reports(clients or boto_clients(args), args.stage, lambda: at)
        if args.command == "runs":
            return list_runs(reports, args, at)
        if args.command == "report":
            return show_report(reports, args)
        return show_compliance(reports, args, at)
    except CommandError as exc:
        message, code = str(exc), exc.code
    except ClientError as exc:
        problem = _aws_problem(exc, args.stage)
        if problem is None:
            raise  # the CLI's error boundary names it
        message, code = problem
    print(f"fleetpatch {args.command}: {message}", file=sys.stderr)
    return code


def _aws_problem(exc: ClientError, stage: str) -> tuple[str, int] | None:
    code = _code(exc)
    if code == "ResourceNotFoundException":
        return (
            f"no state table {state_table_name(stage)}: is stage {stage} deployed "
            "(in this account and region)?",
            EXIT_INVALID,
        )
    if code == "NoSuchBucket":
        return (
            f"no artifacts bucket for stage {stage}: is stage {stage} deployed "
            "(in this account and region)?",
            EXIT_INVALID,
        )
    return None


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="list run reports, newest first",
        description="Run reports (launch, wave, remediation, compliance digest), newest first: "
        "when each ended, its kind, run id, outcome, instances and failures, subject. Run ids "
        "are never cut: on a narrow terminal each run is a block with its id on a line.",
        epilog=examples(
            "fleetpatch runs --since 24h",
            "fleetpatch runs --kind wave --since 2026-11-01 --limit 10",
            "fleetpatch runs --json | jq -r '.[].run_id'",
        ),
    )
    runs.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        metavar="WHEN",
        help="how far back: 30m, 24h, 7d, 2w, or an ISO date or time",
    )
    runs.add_argument(
        "--kind", choices=KINDS, metavar="KIND", help=f"only this kind: {', '.join(KINDS)}"
    )
    runs.add_argument(
        "--limit",
        default=str(DEFAULT_LIMIT),
        metavar="N",
        help="at most this many",
    )
    runs.add_argument("--json", action="store_true", help="print the index entries as JSON")

    report = subparsers.add_parser(
        "report",
        help="show one run's report",
        description="A run's stored report as plain text (the e-mail body), as stored JSON "
        "(--json), or its HTML page (--html FILE, --open).",
        epilog=examples(
            "fleetpatch report wave-prod-20261205T050000Z",
            "fleetpatch report RUN --open",
            "fleetpatch report RUN --json > report.json",
        ),
    )
    report.add_argument("run", metavar="RUN", help="the run id (see fleetpatch runs)")
    report.add_argument("--json", action="store_true", help="print the stored JSON")
    report.add_argument("--html", metavar="FILE", help="write the stored HTML page to FILE")
    report.add_argument(
        "--open",
        action="store_true",
        help="open the HTML page in a browser (a temporary file, or --html FILE)",
    )

    compliance = subparsers.add_parser(
        "compliance",
        help="the fleet's patch compliance now",
        description="Per environment and patch group: compliant and non-compliant instances, "
        "and each non-compliant instance with how long it has drifted and the severity.",
        epilog=examples("fleetpatch compliance", "fleetpatch compliance --environment prod --json"),
    )
    compliance.add_argument("--environment", metavar="ENV", help="only this environment")
    compliance.add_argument("--json", action="store_true", help="print one JSON object")

    for parser in (runs, report, compliance):
        add_aws_options(parser)
        parser.set_defaults(func=run_reports_command)
