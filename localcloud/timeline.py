"""The readable output of ``fleetpatch local run``: a timeline, then what it led to."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from localcloud.report_files import report_pages, run_index
from localcloud.runner import lowest_healthy
from localcloud.verdict import verdict_lines

if TYPE_CHECKING:
    from localcloud.runner import ScenarioResult

_STYLES = {
    "step": "bold cyan",
    "event": "magenta",
    "lambda": "green",
    "fleet": "yellow",
    "lifecycle": "blue",
    "command": "yellow",
    "window": "blue",
    "run": "bold",
    "message": "bold green",
    "emergency": "bold red",
}


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"+{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


# Lines behind --verbose: each Lambda invocation and each event delivered.
VERBOSE_CATEGORIES = frozenset({"lambda", "event"})


def render_timeline(
    result: ScenarioResult, console: Console | None = None, *, verbose: bool = False
) -> None:
    out = console or Console(highlight=False)
    if console is None and not out.is_terminal:
        # Piped or in CI: rich would assume 80 columns and fold every line.
        out.width = 120
    _render_verdict(result, out)
    hidden = 0 if verbose else sum(e.category in VERBOSE_CATEGORIES for e in result.timeline)
    out.rule(
        "timeline" + (f" ({hidden} Lambda and event lines hidden: --verbose)" if hidden else "")
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("sim time", style="dim", no_wrap=True)
    table.add_column("what", no_wrap=True)
    table.add_column("")
    for entry in result.timeline:
        if not verbose and entry.category in VERBOSE_CATEGORIES:
            continue
        offset = (entry.at - result.started).total_seconds()
        table.add_row(
            _clock(offset), f"[{_STYLES.get(entry.category, '')}]{entry.category}[/]", entry.text
        )
    out.print(table)

    if result.runs:
        out.rule("workflow runs")
        runs = Table(box=None, header_style="bold")
        for column in ("kind", "run", "status", "instance", "outcome", "why"):
            runs.add_column(column)
        for run in result.runs:
            for instance in run.get("instances", []) or [{}]:
                runs.add_row(
                    run["kind"],
                    run["name"],
                    run["status"],
                    instance.get("instance_id", ""),
                    str(instance.get("lifecycle_result") or instance.get("outcome") or ""),
                    str(instance.get("detail") or instance.get("reason") or ""),
                )
        out.print(runs)
    _render_serving(result, out)
    if result.lifecycle_actions:
        out.rule("lifecycle actions")
        for action in result.lifecycle_actions:
            result_text = action["result"] or "waiting"
            reason = action.get("reason") or ""
            out.print(f"{action['instance_id']}: {result_text}  {reason}".rstrip())
    _render_messages(result, out)
    out.rule(
        f"{len(result.runs)} run(s), {len(result.commands)} command(s), "
        f"{len(result.lifecycle_actions)} lifecycle action(s), {len(result.messages)} message(s)"
    )


def _render_verdict(result: ScenarioResult, out: Console) -> None:
    out.rule(f"[bold]{result.scenario}[/] on the local cloud: the verdict")
    out.print(
        f"simulated {result.simulated_seconds / 60:.0f} min from {result.started.isoformat()} "
        f"in {result.real_seconds:.1f} s of real time (time factor {result.time_factor:g})"
    )
    for line in verdict_lines(result):
        style = "bold red" if "HELD" in line or " abandoned " in line else ""
        out.print(f"[{style}]{escape(line)}[/]" if style else escape(line), soft_wrap=True)


def _render_serving(result: ScenarioResult, out: Console) -> None:
    """Each target group's lowest healthy count, each serving instance's time out of service."""
    counts = {name: lowest_healthy(samples) for name, samples in result.healthy_counts.items()}
    if not result.serving and not any(counts.values()):
        return
    out.rule("serving: target groups and instances out of service")
    for name, found in sorted(counts.items()):
        if found is None:
            out.print(f"target group {escape(name)}: never a healthy target")
            continue
        peak, since, lowest, at = found
        _, healthy_now, registered_now = result.healthy_counts[name][-1]
        out.print(
            f"target group {escape(name)}: lowest {lowest} of {peak} healthy, first at "
            f"{_clock((at - result.started).total_seconds())} ({peak} healthy from "
            f"{_clock((since - result.started).total_seconds())}); "
            f"{healthy_now} of {registered_now} at the end",
            soft_wrap=True,
        )
    table = Table(box=None, header_style="bold")
    for column in ("wave", "batch", "instance", "outcome", "out of service", "from", "why"):
        table.add_column(column)
    for record in result.serving:
        seconds = record["out_of_service_seconds"]
        out_at = record["out_at"]
        table.add_row(
            str(record["wave"] or record["run"]),
            str(record["step"] + 1),
            record["instance_id"],
            record["outcome"],
            "-" if seconds is None else _duration(seconds),
            _clock((datetime.fromisoformat(out_at) - result.started).total_seconds())
            if out_at
            else "-",
            escape(str(record["reason"] or "")),
        )
    if result.serving:
        out.print(table)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m {secs:02d}s"


def _render_messages(result: ScenarioResult, out: Console) -> None:
    """What operators received: each e-mail in full, each Slack message, the reports."""
    sns = [m for m in result.messages if m["channel"] == "sns"]
    slack = [m for m in result.messages if m["channel"] == "slack"]
    if sns:
        out.rule("e-mail (SNS, as a subscribed queue received it)")
        for message in sns:
            out.print(f"[bold]Subject: {escape(message.get('subject') or '')}[/]")
            attributes = ", ".join(f"{k}={v}" for k, v in sorted(message["attributes"].items()))
            out.print(f"[dim]attributes: {escape(attributes)}[/]")
            body = message["message"]
            text = body if isinstance(body, str) else json.dumps(body, indent=1)
            out.print(escape(text.rstrip()), soft_wrap=True)
            out.print()
    if slack:
        out.rule("Slack (the local webhook receiver)")
        for message in slack:
            body = message["message"] if isinstance(message["message"], dict) else {}
            blocks = body.get("blocks", [])
            out.print(
                f"[bold]{escape(message.get('subject') or '')}[/] "
                f"[dim]({len(blocks)} blocks, HTTP {message['attributes'].get('status')})[/]"
            )
    index = run_index(result.reports)
    if index:
        out.rule("reports")
        count = len(report_pages(result.reports))
        out.print(f"{count} report(s): file://{Path(index).resolve()}", soft_wrap=True)
