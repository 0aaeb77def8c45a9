"""``fleetpatch status``: the control plane on one screen, as the dashboard shows it.

``status [--since 7d] [--json]``

Recent runs and their outcomes (the report index), waves running or held (the gated-wave
state machine's executions), compliance by environment (the compliance ledger), the depth
of every dead-letter queue and the alarms in ALARM (the monitoring stack's alarms, named
``fleetpatch-<stage>-*``: the queue alarms also say which queues to read). Read-only. Exit
codes: 0 done, 2 an ordinary problem (no credentials, no region, an endpoint that does not
answer, a stage that is not deployed), printed as ``fleetpatch status: <why>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from rich.text import Text

from fleetpatch.contracts.names import state_table_name
from fleetpatch_cli.controlplane import Clients, add_aws_options, boto_clients
from fleetpatch_cli.parser import examples
from fleetpatch_cli.report_tables import compliance_groups, emit, minute, outcome_text
from fleetpatch_cli.reports_cmd import DEFAULT_SINCE, CommandError, Reports, parse_since
from fleetpatch_cli.wave_cmd import RESUME_ACTIONS, ControlPlane, WaveError

EXIT_PROBLEM = 2
RECENT = 6  # runs listed by name; the counts cover every run since --since
_DLQ_METRIC = ("AWS/SQS", "ApproximateNumberOfMessagesVisible")


def _alarms(clients: Clients, stage: str) -> list[dict[str, Any]]:
    pages = clients("cloudwatch").get_paginator("describe_alarms")
    found: list[dict[str, Any]] = []
    for page in pages.paginate(AlarmNamePrefix=f"fleetpatch-{stage}-"):
        found += page.get("MetricAlarms", [])
    return found


def _queues(clients: Clients, stage: str, alarms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each dead-letter queue an alarm watches, with the messages waiting in it."""
    sqs = clients("sqs")
    prefix = f"fleetpatch-{stage}-"
    queues = []
    for alarm in alarms:
        if (alarm.get("Namespace"), alarm.get("MetricName")) != _DLQ_METRIC:
            continue
        [name] = [d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == "QueueName"]
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            waiting: int | None = int(attributes["ApproximateNumberOfMessages"])
        except ClientError:
            waiting = None  # the queue is gone: say so rather than guess
        queues.append(
            {
                "name": alarm["AlarmName"].removeprefix(prefix).removesuffix("-dlq"),
                "queue": name,
                "messages": waiting,
            }
        )
    return sorted(queues, key=lambda q: (-(q["messages"] or 0), q["name"]))


def _waves(clients: Clients, stage: str) -> list[dict[str, Any]]:
    """Gated-wave runs that are running or held (a held run ends FAILED with its reason)."""
    plane = ControlPlane(clients, stage)
    waves = []
    for execution in plane.runs():
        if execution["status"] not in ("RUNNING", "FAILED"):
            continue
        entry: dict[str, Any] = {
            "run": execution["name"],
            "status": "running" if execution["status"] == "RUNNING" else "failed",
            "started": execution["startDate"].isoformat(),
        }
        if execution["status"] == "FAILED":
            described = plane.run(execution["name"])
            error = described.get("error") or ""
            entry["status"] = "held" if error in RESUME_ACTIONS else "failed"
            entry["error"] = error
            entry["cause"] = described.get("cause") or ""
        waves.append(entry)
    return waves


def overview(clients: Clients, stage: str, since: datetime, now: datetime) -> dict[str, Any]:
    """Everything ``status`` shows, as one JSON-ready object."""
    reports = Reports(clients, stage, lambda: now)
    runs = reports.runs(since, None, limit=sys.maxsize)
    environments: dict[str, dict[str, int]] = {}
    for group in compliance_groups(reports.ledger.fleet(), now):
        totals = environments.setdefault(
            group["environment"] or "(none)", {"compliant": 0, "non_compliant": 0}
        )
        totals["compliant"] += group["compliant"]
        totals["non_compliant"] += group["non_compliant"]
    alarms = _alarms(clients, stage)
    return {
        "stage": stage,
        "as_of": now.isoformat(),
        "since": since.isoformat(),
        "runs": {
            "total": len(runs),
            "outcomes": dict(Counter(r.get("outcome") or "-" for r in runs).most_common()),
            "recent": [
                {k: r.get(k) for k in ("ended_at", "kind", "run_id", "outcome", "subject")}
                for r in runs[:RECENT]
            ],
        },
        "waves": _waves(clients, stage),
        "compliance": environments,
        "dead_letter_queues": _queues(clients, stage, alarms),
        "alarms": {
            "watching": len(alarms),
            "in_alarm": [
                {
                    "name": a["AlarmName"],
                    "since": a["StateUpdatedTimestamp"].isoformat(),
                    "reason": a.get("StateReason", ""),
                }
                for a in alarms
                if a.get("StateValue") == "ALARM"
            ],
        },
    }


def screen(view: dict[str, Any]) -> list[Text]:
    """The overview as lines that fit one terminal screen."""
    lines = [Text(f"fleetpatch {view['stage']}", style="bold")]
    lines[0].append(f"  as of {minute(view['as_of'])} UTC", style="")
    runs = view["runs"]
    head = Text(f"runs since {minute(view['since'])}: {runs['total']}", style="bold")
    for outcome, count in runs["outcomes"].items():
        head.append(f"  {count} ")
        head.append_text(outcome_text(outcome))
    lines.append(head)
    for run in runs["recent"]:
        line = Text(f"  {minute(run['ended_at'])}  {run['kind'] or '-':<17} ")
        line.append_text(outcome_text(run["outcome"] or ""))
        line.append(f"  {run['run_id']}")
        lines.append(line)
    lines.append(Text("waves", style="bold"))
    if not view["waves"]:
        lines.append(Text("  none running or held"))
    for wave in view["waves"]:
        line = Text("  ")
        line.append_text(outcome_text(wave["status"]))
        line.append(f"  {wave['run']}")
        if wave.get("error"):
            line.append(f"  {wave['error']}: {wave['cause']}"[:160])
        lines.append(line)
    compliance = Text("compliance", style="bold")
    if not view["compliance"]:
        compliance.append("  nothing recorded yet", style="")
    for environment, totals in view["compliance"].items():
        compliance.append(f"  {environment}: {totals['compliant']} compliant, ", style="")
        compliance.append(
            f"{totals['non_compliant']} non-compliant",
            style="red" if totals["non_compliant"] else "",
        )
    lines.append(compliance)
    queues = view["dead_letter_queues"]
    waiting = [q for q in queues if q["messages"] != 0]
    head = Text(f"dead-letter queues: {len(queues)}, ", style="bold")
    head.append(f"{len(waiting)} not empty", style="red" if waiting else "green")
    lines.append(head)
    for queue in waiting:
        count = "gone" if queue["messages"] is None else str(queue["messages"])
        lines.append(Text(f"  {queue['name']:<32} {count:>5}  {queue['queue']}", style="red"))
    alarms = view["alarms"]
    head = Text(f"alarms: {alarms['watching']}, ", style="bold")
    head.append(
        f"{len(alarms['in_alarm'])} in ALARM", style="red" if alarms["in_alarm"] else "green"
    )
    lines.append(head)
    for alarm in alarms["in_alarm"]:
        lines.append(
            Text(f"  {alarm['name']}  since {minute(alarm['since'])}  {alarm['reason']}"[:200])
        )
    return lines


def run_status_command(
    args: argparse.Namespace, clients: Clients | None = None, now: datetime | None = None
) -> int:
    at = now or datetime.now(UTC)
    try:
        since = parse_since(args.since, at)
        view = overview(clients or boto_clients(args), args.stage, since, at)
    except (CommandError, WaveError) as exc:
        return _problem(str(exc))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            return _problem(
                f"no state table {state_table_name(args.stage)}: is stage {args.stage} "
                "deployed (in this account and region)?"
            )
        return _problem(str(exc))
    except BotoCoreError as exc:  # no credentials, no region, an endpoint that does not answer
        return _problem(str(exc))
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        emit(*screen(view))
    return 0


def _problem(why: str) -> int:
    print(f"fleetpatch status: {why}", file=sys.stderr)
    return EXIT_PROBLEM


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = subparsers.add_parser(
        "status",
        help="the control plane on one screen: runs, waves, compliance, DLQs, alarms",
        description="Recent runs and outcomes, waves running or held, compliance by "
        "environment, dead-letter queue depths and the alarms in ALARM, as the stage's "
        "CloudWatch dashboard shows them.",
        epilog=examples(
            "fleetpatch status --stage prod",
            "fleetpatch status --stage prod --since 24h --json | jq .alarms",
        ),
    )
    status.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        metavar="WHEN",
        help="runs counted since: 30m, 24h, 7d, 2w, or an ISO date or time",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    add_aws_options(status)
    status.set_defaults(func=run_status_command)
