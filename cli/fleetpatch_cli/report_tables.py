"""How the reports commands show what they read: rich tables on a terminal, plain lines piped.

``fleetpatch runs`` (:func:`runs_table`) and ``fleetpatch compliance``
(:func:`compliance_groups`, :func:`compliance_tables`); ``fleetpatch_cli.reports_cmd`` reads
the stage and calls these.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

PIPE_WIDTH = 500
_BAD = ("failed", "held", "non-compliant", "drift", "timed-out", "aborted")
_GOOD = ("patched", "compliant", "completed", "recovered")


def parse_when(value: Any) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def minute(value: Any) -> str:
    when = parse_when(value)
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M}" if when else str(value or "-")


def outcome_text(outcome: str) -> Text:
    style = "red" if outcome in _BAD else "green" if outcome in _GOOD else ""
    return Text(outcome or "-", style=style)


def runs_stacked(items: Iterable[dict[str, Any]]) -> list[RenderableType]:
    """The runs for a terminal too narrow for their table: the run id whole on its own line."""
    shown: list[RenderableType] = []
    for item in items:
        counted = "instances" in item or "failed" in item
        figures = f", {item.get('instances', 0)}/{item.get('failed', 0)}" if counted else ""
        line = Text(f"  {minute(item.get('ended_at'))} UTC, {item.get('kind', '-')}, ")
        line.append_text(outcome_text(item.get("outcome", "")))
        line.append(figures)
        shown += [
            Text(item.get("run_id", "-"), style="bold"),
            line,
            Text(f"  {item.get('subject') or item.get('title') or ''}"),
        ]
    return shown


def runs_table(items: Iterable[dict[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("ended (UTC)", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("run", no_wrap=True)
    table.add_column("outcome", no_wrap=True)
    table.add_column("instances/failed", justify="right", no_wrap=True)
    table.add_column("subject")
    for item in items:
        counted = "instances" in item or "failed" in item
        figures = f"{item.get('instances', 0)}/{item.get('failed', 0)}" if counted else "-"
        subject = Text(item.get("subject") or item.get("title") or "")
        if item.get("store_error") or not item.get("json_key"):
            subject.append("  (report not stored)", style="yellow")
        table.add_row(
            minute(item.get("ended_at")),
            item.get("kind", "-"),
            item.get("run_id", "-"),
            outcome_text(item.get("outcome", "")),
            figures,
            subject,
        )
    return table


def ago(since: str | None, now: datetime) -> str:
    when = parse_when(since) if since else None
    if when is None:
        return "-"
    minutes = max(0, int((now - when).total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def compliance_groups(fleet: Iterable[dict[str, str]], now: datetime) -> list[dict[str, Any]]:
    """Per environment and patch group: counts and the drifting instances, longest first."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for state in fleet:
        key = (state.get("environment") or "", state.get("patch_group") or "")
        group = groups.setdefault(
            key,
            {
                "environment": key[0] or None,
                "patch_group": key[1] or None,
                "compliant": 0,
                "non_compliant": 0,
                "drifting": [],
            },
        )
        if state.get("status") == "non_compliant":
            group["non_compliant"] += 1
            since = state.get("since") or state.get("event_time")
            when = parse_when(since) if since else None
            group["drifting"].append(
                {
                    "instance_id": state["instance_id"],
                    "since": since,
                    "drifting_seconds": int((now - when).total_seconds()) if when else None,
                    "severity": state.get("severity") or None,
                    "baseline_id": state.get("baseline_id") or None,
                }
            )
        else:
            group["compliant"] += 1
    for group in groups.values():
        group["drifting"].sort(key=lambda d: (d["since"] or "", d["instance_id"]))
    return [groups[k] for k in sorted(groups)]


def compliance_tables(groups: list[dict[str, Any]], now: datetime) -> list[RenderableType]:
    shown: list[RenderableType] = []
    environments = sorted({g["environment"] or "" for g in groups})
    for environment in environments:
        mine = [g for g in groups if (g["environment"] or "") == environment]
        compliant = sum(g["compliant"] for g in mine)
        drifting = sum(g["non_compliant"] for g in mine)
        heading = Text(environment or "(no environment)", style="bold")
        heading.append(f": {compliant} compliant, {drifting} non-compliant")
        table = Table(box=None, header_style="bold", pad_edge=False)
        table.add_column("patch group", no_wrap=True)
        table.add_column("compliant", justify="right")
        table.add_column("non-compliant", justify="right")
        table.add_column("drifting since (UTC)", no_wrap=True)
        table.add_column("for", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        for group in mine:
            table.add_row(
                group["patch_group"] or "(no patch group)",
                str(group["compliant"]),
                Text(str(group["non_compliant"]), style="red" if group["non_compliant"] else ""),
                "",
                "",
                "",
            )
            for instance in group["drifting"]:
                table.add_row(
                    Text(f"  {instance['instance_id']}", style="red"),
                    "",
                    "",
                    minute(instance["since"]),
                    ago(instance["since"], now),
                    instance["severity"] or "-",
                )
        shown += [*([Text("")] if shown else []), heading, table]
    return shown


def compliance_stacked(groups: list[dict[str, Any]], now: datetime) -> list[RenderableType]:
    """The compliance for a terminal too narrow for its tables: ids whole, a line each."""
    shown: list[RenderableType] = []
    for group in groups:
        where = "/".join(
            [group["environment"] or "(no environment)", group["patch_group"] or "(no group)"]
        )
        line = Text(f"{where}: {group['compliant']} compliant, ", style="bold")
        line.append(
            f"{group['non_compliant']} non-compliant", style="red" if group["non_compliant"] else ""
        )
        shown.append(line)
        shown += [
            Text(
                f"  {instance['instance_id']} since {minute(instance['since'])} UTC "
                f"({ago(instance['since'], now)}), {instance['severity'] or '-'}",
                style="red",
            )
            for instance in group["drifting"]
        ]
    return shown


def emit(*renderables: RenderableType, narrow: list[RenderableType] | None = None) -> None:
    """Rich on a terminal; plain lines without trailing blanks when piped.

    ``narrow`` is shown instead on a terminal too narrow for the renderables' no-wrap
    columns (ids): an id is never cut, it has to be pasted.
    """
    console = Console(highlight=False)
    if console.is_terminal:
        wide = console.options.update_width(PIPE_WIDTH)
        needed = max((console.measure(r, options=wide).minimum for r in renderables), default=0)
        if narrow is not None and needed > console.width:
            for renderable in narrow:
                console.print(renderable, soft_wrap=True)  # the terminal folds, ids stay whole
            return
        for renderable in renderables:
            console.print(renderable)
        return
    console.width = PIPE_WIDTH
    with console.capture() as captured:
        for renderable in renderables:
            console.print(renderable)
    print("\n".join(line.rstrip() for line in captured.get().rstrip("\n").split("\n")))
