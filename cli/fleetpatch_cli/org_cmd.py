"""``fleetpatch runs|report|compliance|status --org``: every member account and region at once.

Run in the organization's central account (issue 22, docs/multi-account.md). They read the
central stack (``central/template.yaml``, by default ``fleetpatch-<stage>-central``, or
``--central-stack``): its outputs name the org index (``OrgIndexTableName``), which the
stack's ingest function fills from the members' forwarded events, and the reports bucket
the members copy their reports to. Every row says its account and region. Nothing is
changed. Exit codes as the commands without ``--org``: 0 done, 1 not found, 2 invalid
options or no central stack.

The ``--org`` option is added to the four commands here (:func:`register`), so the
single-account commands stay as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError
from rich.table import Table
from rich.text import Text

from fleetpatch.contracts.org import (
    OUTPUT_ORG_INDEX_TABLE,
    central_stack_name,
)
from fleetpatch.org_index import OrgIndex
from fleetpatch.publishing import body_of, load_report
from fleetpatch_cli.controlplane import Clients, boto_clients
from fleetpatch_cli.report_tables import emit, minute, outcome_text
from fleetpatch_cli.reports_cmd import (
    EXIT_INVALID,
    CommandError,
    parse_limit,
    parse_since,
)

COMMANDS = ("runs", "report", "compliance", "status")
_INTERNAL = ("pk", "sk", "gsi1pk", "gsi1sk", "expires_at", "event_id")


class Central:
    """The central stack's org index and reports bucket, found through its outputs."""

    def __init__(self, clients: Clients, stack_name: str, now: Callable[[], datetime]) -> None:
        self.clients = clients
        self.stack_name = stack_name
        self._now = now

    @cached_property
    def outputs(self) -> dict[str, str]:
        cloudformation = self.clients("cloudformation")
        try:
            [stack] = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
                raise CommandError(
                    f"no central stack {self.stack_name} in this account and region: deploy "
                    "central/template.yaml in the organization's central account "
                    "(docs/multi-account.md), pass --central-stack, or leave out --org",
                    EXIT_INVALID,
                ) from None
            raise
        found = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if OUTPUT_ORG_INDEX_TABLE not in found:
            raise CommandError(
                f"stack {self.stack_name} has no {OUTPUT_ORG_INDEX_TABLE} output: is it the "
                "central stack (central/template.yaml)?",
                EXIT_INVALID,
            )
        return found

    @cached_property
    def index(self) -> OrgIndex:
        return OrgIndex(
            self.clients("dynamodb"),
            self.outputs[OUTPUT_ORG_INDEX_TABLE],
            lambda: self._now().timestamp(),
        )

    def stored(self, bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = self.clients("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("NoSuchKey", "404"):
                return None
            raise
        return body


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _INTERNAL}


# --- runs --org ----------------------------------------------------------------------------------


def org_runs_table(items: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ended (UTC)", "account", "region", "kind", "run", "outcome"):
        table.add_column(column, no_wrap=True)
    table.add_column("instances/failed", justify="right", no_wrap=True)
    table.add_column("subject")
    for item in items:
        table.add_row(
            minute(item.get("ended_at")),
            item.get("account", "-"),
            item.get("region", "-"),
            item.get("kind", "-"),
            item.get("run_id", "-"),
            outcome_text(item.get("outcome", "")),
            f"{item.get('instances', 0)}/{item.get('failed', 0)}",
            Text(item.get("subject") or item.get("title") or ""),
        )
    return table


def org_runs_stacked(items: list[dict[str, Any]]) -> list[Any]:
    shown: list[Any] = []
    for item in items:
        line = Text(
            f"  {minute(item.get('ended_at'))} UTC, {item.get('account')} {item.get('region')}, "
            f"{item.get('kind', '-')}, "
        )
        line.append_text(outcome_text(item.get("outcome", "")))
        line.append(f", {item.get('instances', 0)}/{item.get('failed', 0)}")
        shown += [Text(item.get("run_id", "-"), style="bold"), line]
    return shown


def list_org_runs(central: Central, args: argparse.Namespace, now: datetime) -> int:
    since = parse_since(args.since, now)
    limit = parse_limit(args.limit)
    found = central.index.runs(since, limit=limit if args.kind is None else sys.maxsize)
    items = [i for i in found if args.kind is None or i.get("kind") == args.kind][:limit]
    if args.json:
        print(json.dumps([_public(i) for i in items], indent=2))
        return 0
    if not items:
        print(
            f"no reports from any account since {since.astimezone(UTC):%Y-%m-%d %H:%M} UTC "
            f"in {central.stack_name}'s index"
        )
        return 0
    emit(org_runs_table(items), narrow=org_runs_stacked(items))
    if len(items) == limit:
        print(f"(the newest {limit}; --limit or --since for more)")
    return 0


# --- report RUN --org ----------------------------------------------------------------------------


def show_org_report(central: Central, args: argparse.Namespace) -> int:
    found = [
        r
        for r in central.index.runs_named(args.run)
        if (args.account is None or r.get("account") == args.account)
        and (args.in_region is None or r.get("region") == args.in_region)
    ]
    if not found:
        raise CommandError(f"no run {args.run} in the org index (see fleetpatch runs --org)")
    if len(found) > 1:
        where = ", ".join(f"{r['account']}/{r['region']}" for r in found)
        raise CommandError(
            f"run {args.run} is in several accounts or regions ({where}): "
            "pass --account and --in-region",
            EXIT_INVALID,
        )
    [item] = found
    bucket, key = item.get("report_bucket") or "", item.get("json_key") or ""
    body = central.stored(bucket, key) if bucket and key else None
    if body is None:
        print(json.dumps(_public(item), indent=2))
        raise CommandError(
            f"the report of run {args.run} ({item['account']}/{item['region']}) is not in "
            f"s3://{bucket}/{key}; the index has the above"
        )
    if args.json:
        text = body.decode()
        print(text, end="" if text.endswith("\n") else "\n")
        return 0
    report = load_report(body)
    print(f"Account: {item['account']}  Region: {item['region']}\n")
    html = item.get("html_key") or ""
    url = f"s3://{bucket}/{html}" if html else None
    print(body_of(report, report_url=url, region=item["region"]), end="")
    return 0


# --- compliance --org ----------------------------------------------------------------------------


def org_compliance_rows(
    summaries: list[dict[str, Any]], environment: str | None
) -> list[dict[str, Any]]:
    rows = []
    for summary in summaries:
        for group in summary.get("groups", []):
            if environment is not None and (group.get("environment") or "") != environment:
                continue
            rows.append(
                {
                    "account": summary["account"],
                    "region": summary["region"],
                    "as_of": summary.get("as_of"),
                    "environment": group.get("environment"),
                    "patch_group": group.get("patch_group"),
                    "compliant": group.get("compliant", 0),
                    "non_compliant": group.get("non_compliant", 0),
                }
            )
    return rows


def org_compliance_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("account", "region", "environment", "patch group"):
        table.add_column(column, no_wrap=True)
    table.add_column("compliant", justify="right")
    table.add_column("non-compliant", justify="right")
    table.add_column("as of (UTC)", no_wrap=True)
    for row in rows:
        drifting = row["non_compliant"]
        table.add_row(
            row["account"],
            row["region"],
            row["environment"] or "(none)",
            row["patch_group"] or "(none)",
            str(row["compliant"]),
            Text(str(drifting), style="red" if drifting else ""),
            minute(row["as_of"]),
        )
    return table


def show_org_compliance(central: Central, args: argparse.Namespace, now: datetime) -> int:
    rows = org_compliance_rows(central.index.compliance(), args.environment)
    compliant = sum(r["compliant"] for r in rows)
    drifting = sum(r["non_compliant"] for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "central_stack": central.stack_name,
                    "as_of": now.isoformat(),
                    "total": {
                        "instances": compliant + drifting,
                        "compliant": compliant,
                        "non_compliant": drifting,
                    },
                    "groups": rows,
                },
                indent=2,
            )
        )
        return 0
    if not rows:
        print(
            "no compliance summary from any account yet: members send one with each "
            "compliance digest"
        )
        return 0
    accounts = len({(r["account"], r["region"]) for r in rows})
    emit(
        org_compliance_table(rows),
        Text(""),
        Text(
            f"total: {compliant + drifting} instances in {accounts} account-regions, "
            f"{compliant} compliant, {drifting} non-compliant"
        ),
    )
    return 0


# --- status --org --------------------------------------------------------------------------------


def org_overview(central: Central, since: datetime, now: datetime) -> dict[str, Any]:
    runs = central.index.runs(since, limit=sys.maxsize)
    places: dict[tuple[str, str], dict[str, Any]] = {}
    for run in runs:
        place = places.setdefault(
            (run["account"], run["region"]), {"runs": 0, "outcomes": Counter(), "last": None}
        )
        place["runs"] += 1
        place["outcomes"][run.get("outcome") or "-"] += 1
        place["last"] = place["last"] or run.get("ended_at")
    for summary in central.index.compliance():
        place = places.setdefault(
            (summary["account"], summary["region"]),
            {"runs": 0, "outcomes": Counter(), "last": None},
        )
        place["compliant"] = summary.get("compliant", 0)
        place["non_compliant"] = summary.get("non_compliant", 0)
        place["compliance_as_of"] = summary.get("as_of")
    return {
        "central_stack": central.stack_name,
        "as_of": now.isoformat(),
        "since": since.isoformat(),
        "accounts": [
            {
                "account": account,
                "region": region,
                "runs": place["runs"],
                "outcomes": dict(place["outcomes"].most_common()),
                "last_run_ended": place["last"],
                "compliant": place.get("compliant"),
                "non_compliant": place.get("non_compliant"),
                "compliance_as_of": place.get("compliance_as_of"),
            }
            for (account, region), place in sorted(places.items())
        ],
    }


def org_screen(view: dict[str, Any]) -> list[Any]:
    lines: list[Any] = [
        Text(f"fleetpatch organization ({view['central_stack']})", style="bold"),
        Text(f"runs since {minute(view['since'])} UTC, compliance as last reported"),
    ]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("account", "region", "runs", "outcomes", "last run (UTC)", "compliance"):
        table.add_column(column, no_wrap=True)
    for place in view["accounts"]:
        outcomes = Text()
        for outcome, count in place["outcomes"].items():
            outcomes.append(f"{count} ")
            outcomes.append_text(outcome_text(outcome))
            outcomes.append(" ")
        compliance = (
            "-"
            if place["compliant"] is None
            else f"{place['compliant']} compliant, {place['non_compliant']} non-compliant"
        )
        table.add_row(
            place["account"],
            place["region"],
            str(place["runs"]),
            outcomes,
            minute(place["last_run_ended"]) if place["last_run_ended"] else "-",
            compliance,
        )
    lines.append(table if view["accounts"] else Text("  nothing reported by any account yet"))
    return lines


def show_org_status(central: Central, args: argparse.Namespace, now: datetime) -> int:
    view = org_overview(central, parse_since(args.since, now), now)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        emit(*org_screen(view))
    return 0


# --- the command line ----------------------------------------------------------------------------


def run_org_command(
    args: argparse.Namespace, clients: Clients | None = None, now: datetime | None = None
) -> int:
    at = now or datetime.now(UTC)
    central = Central(
        clients or boto_clients(args),
        args.central_stack or central_stack_name(args.stage),
        lambda: at,
    )
    try:
        if args.command == "runs":
            return list_org_runs(central, args, at)
        if args.command == "report":
            return show_org_report(central, args)
        if args.command == "compliance":
            return show_org_compliance(central, args, at)
        return show_org_status(central, args, at)
    except CommandError as exc:
        print(f"fleetpatch {args.command}: {exc}", file=sys.stderr)
        return exc.code


def _either(
    single: Callable[[argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        return run_org_command(args) if args.org else single(args)

    return command


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``--org`` (and ``--central-stack``) to runs, report, compliance and status."""
    for name in COMMANDS:
        parser = subparsers.choices[name]
        group = parser.add_argument_group("organization (issue 22, docs/multi-account.md)")
        group.add_argument(
            "--org",
            action="store_true",
            help="every member account and region, from the central account's index "
            "(run with the central account's credentials)",
        )
        group.add_argument(
            "--central-stack",
            metavar="NAME",
            help="the central stack (default: fleetpatch-<stage>-central)",
        )
        if name == "report":
            group.add_argument("--account", help="with --org: the run's account")
            group.add_argument("--in-region", metavar="REGION", help="with --org: the run's region")
        parser.set_defaults(func=_either(parser.get_default("func")))
