"""Run reports and compliance digests as one self-contained HTML page each.

The page is what an operator opens from S3 or from a link in a mail: a header that says
the outcome, a chart of instances by outcome, the patch totals, then per batch the gate
before it and a table of every instance. Inline CSS and an inline SVG chart only: no
external fonts, scripts or images, no JavaScript. Everything a report carries is escaped
(instance ids, reasons and names come from tags and command output). Pure functions: the
same report renders to the same bytes.

The chart (``fleetpatch.report_chart``) grows with batches (or, in a digest, with patch
groups), never with instances.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

from fleetpatch import launch_report
from fleetpatch.outcomes import PROBLEMS, label, plural
from fleetpatch.report_chart import (
    DIGEST_LABELS,
    OUTCOME_COLOURS,
    STATUS_TEXT,
    chart_rows,
    render_chart,
)
from fleetpatch.report_css import STYLESHEET
from fleetpatch.report_links import command_url, instance_url, region_of, s3_url
from fleetpatch.report_text import (
    clip,
    console_url,
    format_duration,
    format_stamp,
    serving_text,
)
from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)

__all__ = ["GENERATOR", "render_digest_html", "render_run_html", "run_badge"]

GENERATOR = "fleetpatch report v1"

_SEVERITY_RANK = {
    "critical": 0,
    "high": 1,
    "important": 1,
    "medium": 2,
    "moderate": 2,
    "low": 3,
    "informational": 4,
}

# --- pages ----------------------------------------------------------------------------------


def render_run_html(report: RunReport, *, report_json_url: str | None = None) -> str:
    """A run report (launch, wave or remediation) as one self-contained HTML page."""
    outcome = report.outcome + (f": {report.reason}" if report.reason else "")
    facts: list[tuple[str, str]] = [
        ("Outcome", _e(outcome)),
        ("Run", _code(report.run_id)),
        ("Environment", _e(report.environment or "-")),
    ]
    lifecycle = launch_report.lifecycle_description(report)
    if lifecycle is not None:
        facts += [
            ("Auto Scaling group", _e(report.auto_scaling_group or "-")),
            ("Lifecycle result", _e(lifecycle)),
        ]
    facts += [
        ("Trigger", _e(report.trigger or "-")),
        ("Started", _e(format_stamp(report.started_at))),
        ("Ended", _e(format_stamp(report.ended_at))),
        ("Duration", _e(format_duration(report.duration_seconds))),
        ("Instances", _e(report.counts().sentence())),
    ]
    if report.window_execution_id:
        facts.append(("Window execution", _code(report.window_execution_id)))
    region = region_of(report.execution_arn)
    if report.execution_arn:
        url = console_url(region, report.execution_arn) if region else None
        facts.append(("Execution", _linked(_code(report.execution_arn), url)))
    if report_json_url:
        facts.append(("Report JSON", _link(report_json_url)))
    facts += [("Note", _e(note)) for note in report.notes]

    rows = chart_rows(report)
    chart_title = "Compliance by batch" if report.kind == "wave" else "Compliance"
    body = [
        _header(
            kicker=f"fleetpatch {report.kind} report",
            title=report.title,
            outcome=report.outcome,
            badge=run_badge(report),
            summary=report.summary,
            facts=facts,
        ),
        "<main>",
        *_churn(report),
        _section("chart", chart_title, render_chart(rows, _chart_caption(report), labels={})),
        _section("patches", "Patches", _totals(report)),
        '<section id="batches">',
        f"<h2>Batches ({len(report.batches)})</h2>",
        *(
            _batch(batch, index, len(report.batches), region)
            for index, batch in enumerate(report.batches, 1)
        ),
        "</section>",
        "</main>",
        _footer(report_json_url),
    ]
    return _page(
        run_id=report.run_id,
        kind=report.kind,
        title=f"{report.title}: {report.outcome}",
        body=body,
    )


def _churn(report: RunReport) -> list[str]:
    """A launch-churn escalation: the streak, its cause, what was done and what to do."""
    if report.churn is None or not report.churn.escalation:
        return []
    lines = launch_report.escalation_lines(report.churn)
    content = "".join(
        f"<pre>{_e(line.strip())}</pre>" if line.startswith("  ") else f"<p>{_e(line)}</p>"
        for line in lines
    )
    return [_section("churn", "Launch churn", content)]


def render_digest_html(digest: DigestReport) -> str:
    """A compliance digest (drift and recovery since the last one) as one HTML page."""
    drifted = sorted(digest.drifted, key=_drift_order)
    recovered = sorted(digest.recovered, key=_recovery_order)
    summary = (
        f"{plural(len(drifted), 'instance')} drifted out of compliance and "
        f"{len(recovered)} recovered between {format_stamp(digest.started_at)} and "
        f"{format_stamp(digest.ended_at)}."
    )
    severities = Counter(e.severity or "unspecified" for e in drifted)
    facts: list[tuple[str, str]] = [
        ("Outcome", _e(digest.outcome)),
        ("Digest", _code(digest.run_id)),
        ("Environment", _e(digest.environment or "-")),
        ("First change", _e(format_stamp(digest.started_at))),
        ("Sent", _e(format_stamp(digest.ended_at))),
        ("Period", _e(format_duration((digest.ended_at - digest.started_at).total_seconds()))),
        ("Drifted", _e(str(len(drifted)))),
        ("Recovered", _e(str(len(recovered)))),
    ]
    if severities:
        by_severity = sorted(severities.items(), key=lambda kv: (_severity_rank(kv[0]), kv[0]))
        facts.append(("Drift by severity", _e(", ".join(f"{n} {s}" for s, n in by_severity))))
    caption = "Compliance changes by environment and patch group"
    body = [
        _header(
            kicker="fleetpatch compliance digest",
            title=digest.title,
            outcome=digest.outcome,
            badge="amber" if digest.drifted else "green",
            summary=summary,
            facts=facts,
        ),
        "<main>",
        _section(
            "chart",
            "Changes by environment and patch group",
            render_chart(chart_rows(digest), caption, labels=DIGEST_LABELS),
        ),
        _section("drifted", f"Drifted ({len(drifted)})", _drift_table(drifted, "none drifted")),
        _section(
            "recovered",
            f"Recovered ({len(recovered)})",
            _drift_table(recovered, "none recovered"),
        ),
        "</main>",
        _footer(None),
    ]
    return _page(
        run_id=digest.run_id,
        kind=digest.kind,
        title=f"{digest.title}: {digest.outcome}",
        body=body,
    )


# --- page parts -----------------------------------------------------------------------------


def _page(*, run_id: str, kind: str, title: str, body: Iterable[str]) -> str:
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta name="generator" content="{GENERATOR}">',
        f'<meta name="fleetpatch-run" content="{_e(run_id)}">',
        f'<meta name="fleetpatch-kind" content="{_e(kind)}">',
        f"<title>{_e(title)} - fleetpatch</title>",
        f"<style>{STYLESHEET}</style>",
        "</head>",
        "<body>",
        '<div class="page">',
    ]
    return "\n".join([*head, *body, "</div>", "</body>", "</html>"]) + "\n"


_WIDE = ' class="wide"'
_WIDE_FACTS = frozenset({"Execution", "Report JSON", "Drift by severity"})


def _header(
    *,
    kicker: str,
    title: str,
    outcome: str,
    badge: str,
    summary: str,
    facts: Sequence[tuple[str, str]],
) -> str:
    """``facts`` values are HTML already (escaped by the caller)."""
    items = "".join(
        f"<div{_WIDE if k in _WIDE_FACTS else ''}><dt>{_e(k)}</dt><dd>{v}</dd></div>"
        for k, v in facts
    )
    return (
        '<header class="top">'
        f'<div class="kicker">{_e(kicker)}</div>'
        f'<h1>{_e(title)}<span class="badge badge-{badge}" id="outcome">{_e(outcome)}</span></h1>'
        f'<p class="summary">{_e(summary)}</p>'
        f'<dl class="facts">{items}</dl>'
        "</header>"
    )


def _section(ident: str, heading: str, content: str) -> str:
    return f'<section id="{ident}" class="{ident}"><h2>{_e(heading)}</h2>{content}</section>'


def _footer(report_json_url: str | None) -> str:
    json_link = f" · report JSON: {_link(report_json_url)}" if report_json_url else ""
    return f"<footer>Generated by {GENERATOR}; times are UTC{json_link}.</footer>"


def run_badge(report: RunReport) -> str:
    """green: healthy; red: failed or held; amber: any other ending, or healthy with failures."""
    if report.outcome in ("failed", "held") or report.outcome.startswith("failed"):
        return "red"
    if report.healthy and not report.failed_instances():
        return "green"
    return "amber"


def _chart_caption(report: RunReport) -> str:
    if report.kind == "wave":
        return "Instances by outcome per batch"
    return f"Instances by outcome ({report.kind})"


def _totals(report: RunReport) -> str:
    """What the run installed first, then what is missing, failed or pending a reboot now.

    A wave's first tile is what its own commands installed; the cumulative InstalledCount is
    per instance in the tables, never added up across instances.
    """
    totals: dict[str, int | None] = dict(report.patch_totals())
    if report.kind == "wave":
        first = ("installed_by_run", "installed by this run", report.installed_by_run)
    else:
        first = ("installed", "installed", sum(i.installed or 0 for i in report.instances()))
    tiles = []
    for key, name, value in (
        first,
        ("missing", "missing", totals["missing"]),
        ("failed", "failed", totals["failed"]),
        ("pending_reboot", "pending reboot", totals["pending_reboot"]),
    ):
        bad = " bad" if not key.startswith("installed") and value else ""
        tiles.append(
            f'<div class="tile{bad}" id="total-{key}"><span class="n">'
            f'{"-" if value is None else value}</span><span class="l">{_e(name)}</span></div>'
        )
    note = ""
    if report.kind == "wave" and report.installed_note:
        note = (
            f'<p class="meta">Installed by this run: not counted ({_e(report.installed_note)}).</p>'
        )
    return f'<div class="tiles">{"".join(tiles)}</div>{note}'


# --- batches and instances -------------------------------------------------------------------

_NUMERIC = ' class="num"'
# (heading, numeric, share of the table's width in percent: a fixed layout, so a table of
# thousands of rows is laid out from its first row and reads the same on every row)
_INSTANCE_COLUMNS: tuple[tuple[str, bool, float], ...] = (
    ("Instance", False, 15),
    ("Patch group", False, 8.6),
    ("Outcome", False, 7.4),
    ("Member", False, 6.2),
    ("Reason", False, 13.2),
    ("Command", False, 5.6),
    ("Installed by this run", True, 5.4),
    ("Installed in total", True, 5.2),
    ("Missing", True, 4.6),
    ("Failed", True, 4),
    ("Pending reboot", True, 4.8),
    ("Operation", False, 5.4),
    ("Reboot option", False, 9.8),
    ("Duration", True, 4.8),
)
"""Each instance's row. Where its command wrote its output is in a details row under it
(a whole S3 prefix is too long for a column)."""


def _batch(batch: BatchResult, index: int, count: int, region: str | None) -> str:
    status = STATUS_TEXT[batch.status]
    groups = ", ".join(batch.patch_groups) or "-"
    held = " held" if batch.status == "held" else ""
    parts = [
        f'<section class="batch{held}" id="batch-{index}" data-status="{batch.status}">',
        f"<h3>Batch {index} of {count}: {_e(batch.name)}"
        f'<span class="pill status-{batch.status}">{_e(status)}</span></h3>',
        f'<p class="meta">{_e(batch.counts().sentence())} · patch groups: {_e(groups)}</p>',
        _gate(batch.gate, batch.name),
        _instance_table(batch.instances, region),
        _excluded_table(batch.excluded),
        _exceptions_table(batch),
        "</section>",
    ]
    return "".join(parts)


def _gate(gate: GateSummary | None, batch: str) -> str:
    if gate is None:
        return f'<div class="gate none">No gate before {_e(batch)}.</div>'
    verdict = "passed" if gate.passed else "failed"
    heading = "passed" if gate.passed else "FAILED: the batch was held"
    reasons = "".join(f"<li>{_e(r)}</li>" for r in gate.reasons) or "<li>no reasons given</li>"
    extra = []
    if gate.checked:
        extra.append(f"judged: {_e(', '.join(gate.checked))}")
    if gate.approved_by:
        extra.append(f"approved by <strong>{_e(gate.approved_by)}</strong>")
    more = f'<div class="muted">{" · ".join(extra)}</div>' if extra else ""
    return (
        f'<div class="gate {verdict}"><strong>Gate before {_e(batch)} {heading}</strong>'
        f"<ul>{reasons}</ul>{more}</div>"
    )


def _instance_table(instances: Sequence[InstanceResult], region: str | None) -> str:
    if not instances:
        return '<p class="muted">No instances.</p>'
    columns = "".join(f'<col style="width:{share:g}%">' for _, _, share in _INSTANCE_COLUMNS)
    head = "".join(
        f'<th scope="col"{_NUMERIC if numeric else ""}>{_e(name)}</th>'
        for name, numeric, _ in _INSTANCE_COLUMNS
    )
    rows = [_instance_row(i, region) for i in sorted(instances, key=_instance_order)]
    return (
        '<div class="table-wrap"><table class="instances">'
        f"<colgroup>{columns}</colgroup><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _excluded_table(excluded: Mapping[str, str]) -> str:
    """Instances whose patch group tags disagree: in no batch, listed apart with the reason."""
    if not excluded:
        return ""
    rows = "".join(
        f'<tr><td class="id"><code>{_e(i)}</code></td><td>{_e(why)}</td></tr>'
        for i, why in sorted(excluded.items())
    )
    return (
        f'<h4>Excluded ({len(excluded)}): not members</h4><div class="table-wrap">'
        '<table class="excluded"><thead><tr><th scope="col">Instance</th>'
        f'<th scope="col">Why</th></tr></thead><tbody>{rows}</tbody></table></div>'
    )


def _exceptions_table(batch: BatchResult) -> str:
    """Members carrying a fleetpatch:skip tag: applied, expired or invalid, and what it did."""
    if not batch.exceptions:
        return ""
    rows = "".join(
        f'<tr><td class="id"><code>{_e(i)}</code></td><td>{_e(x.status)}</td>'
        f"<td>{_e(str(x.until or '-'))}</td><td>{_e(x.reason or '-')}</td>"
        f"<td>{_e(x.note)}</td></tr>"
        for i, x in sorted(batch.exceptions.items())
    )
    head = "".join(
        f'<th scope="col">{h}</th>' for h in ("Instance", "Exception", "Until", "Reason", "Result")
    )
    return (
        f"<h4>Exceptions ({len(batch.exceptions)}): fleetpatch:skip</h4>"
        '<div class="table-wrap"><table class="exceptions">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _instance_row(instance: InstanceResult, region: str | None) -> str:
    """The instance's row, and under it a details row with where its output is."""
    bad = instance.outcome in PROBLEMS
    command = f' title="command {_e(instance.command_id)}"' if instance.command_id else ""
    duration = instance.duration_seconds
    timing = ""
    if instance.started_at is not None and instance.ended_at is not None:
        span = f"{format_stamp(instance.started_at)} to {format_stamp(instance.ended_at)}"
        timing = f' title="{_e(span)}"'
    shown = format_duration(duration) if duration is not None else "-"
    why = "; ".join(x for x in (instance.reason, instance.evidence_note) if x)
    status = _e(instance.command_status or "-")
    if region and instance.command_id:
        status = _linked(status, command_url(region, instance.command_id))
    instance_id = _code(instance.instance_id)
    if region and instance.instance_id.startswith("i-"):
        instance_id = _linked(instance_id, instance_url(region, instance.instance_id))
    cells = [
        f'<td class="id">{instance_id}{_who(instance)}</td>',
        f"<td>{_e(instance.patch_group or '-')}</td>",
        f'<td><span class="outcome"><span class="swatch" '
        f'style="background:{OUTCOME_COLOURS[instance.outcome]}"></span>'
        f"{_e(label(instance.outcome))}</span>{_serving(instance)}</td>",
        f"<td>{_e(instance.state or '-')}</td>",
        f"<td>{_e(why)}</td>",
        f"<td{command}>{status}</td>",
        _count_cell(instance.installed_by_run),
        _count_cell(instance.installed),
        _count_cell(instance.missing),
        _count_cell(instance.failed),
        _count_cell(instance.pending_reboot),
        f"<td>{_e(instance.operation or '-')}</td>",
        f"<td>{_e(instance.reboot_option or '-')}</td>",
        f'<td class="num"{timing}>{_e(shown)}</td>',
    ]
    # Each cell names its column, for the stacked layout on a phone (report_css).
    labelled = [
        cell.replace("<td", f'<td data-label="{_e(name)}"', 1)
        for cell, (name, _, _) in zip(cells, _INSTANCE_COLUMNS, strict=True)
    ]
    details = _details_row(instance, region, bad=bad)
    classes = " ".join(c for c in ("bad" if bad else "", "has-details" if details else "") if c)
    css = f' class="{classes}"' if classes else ""
    return f'<tr{css} data-outcome="{instance.outcome}">{"".join(labelled)}</tr>{details}'


def _who(instance: InstanceResult) -> str:
    """Under the id: its Name tag and operating system ("-" for what is not known)."""
    if instance.name is None and instance.platform is None:
        shown = "-"
    else:
        shown = f"{instance.name or '-'} \u00b7 {instance.platform or '-'}"
    return f'<div class="who">{_e(shown)}</div>'


def _details_row(instance: InstanceResult, region: str | None, *, bad: bool) -> str:
    """Where the instance's command wrote its output: a row of its own under the instance's."""
    if not instance.output:
        return ""
    url = s3_url(region, instance.output) if region else None
    css = "details bad" if bad else "details"
    return (
        f'<tr class="{css}" data-for="{_e(instance.instance_id)}">'
        f'<td colspan="{len(_INSTANCE_COLUMNS)}" data-label="Output">'
        f'<span class="muted">Output: </span>{_linked(_code(instance.output), url)}</td></tr>'
    )


def _serving(instance: InstanceResult) -> str:
    """Under the outcome of a serving batch's instance: its serving outcome, time out."""
    if not instance.serving:
        return ""
    return f'<div class="muted serving">{_e(serving_text(instance))}</div>'


def _count_cell(value: int | None) -> str:
    return f'<td class="num">{"-" if value is None else value}</td>'


def _drift_table(entries: Sequence[DriftEntry], empty: str) -> str:
    if not entries:
        return f'<p class="muted">{_e(empty.capitalize())}.</p>'
    head = "".join(
        f'<th scope="col"{css}>{name}</th>'
        for name, css in (
            ("Instance", ""),
            ("Environment", ""),
            ("Patch group", ""),
            ("Severity", ""),
            ("Baseline", ""),
            ("At", ""),
            ("Changes", _NUMERIC),
        )
    )
    rows = "".join(
        f'<tr data-transition="{e.transition}">'
        f'<td class="id"><code>{_e(e.instance_id)}</code>'
        + (f"<br><small>{_e(e.exception)}: not remediated</small>" if e.exception else "")
        + "</td>"
        f"<td>{_e(e.environment or '-')}</td>"
        f"<td>{_e(e.patch_group or '-')}</td>"
        f"<td>{_e(e.severity or '-')}</td>"
        f"<td>{_code(e.baseline_id) if e.baseline_id else '-'}</td>"
        f'<td class="num">{_e(format_stamp(e.at))}</td>'
        f'<td class="num">{e.changes}</td>'
        "</tr>"
        for e in entries
    )
    return (
        '<div class="table-wrap"><table class="drift">'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


# --- helpers ------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _code(value: str) -> str:
    return f"<code>{_e(value)}</code>"


def _linked(inner: str, url: str | None) -> str:
    """``inner`` (already escaped HTML) as a link to ``url`` (https only), or as it is."""
    if not url or not url.startswith("https://"):
        return inner
    return f'<a href="{_e(url)}">{inner}</a>'


def _link(url: str) -> str:
    """A link for http(s) and relative URLs; anything else (javascript:, data:) as text."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https", ""):
        return f'<a href="{_e(url)}">{_e(clip(url, 80))}</a>'
    return _code(url)


def _severity_rank(severity: str | None) -> int:
    return _SEVERITY_RANK.get((severity or "").lower(), 5)


def _drift_order(entry: DriftEntry) -> tuple[int, str, str, str]:
    return (
        _severity_rank(entry.severity),
        entry.environment or "",
        entry.patch_group or "",
        entry.instance_id,
    )


def _recovery_order(entry: DriftEntry) -> tuple[str, str, str]:
    return (entry.environment or "", entry.patch_group or "", entry.instance_id)


def _instance_order(instance: InstanceResult) -> int:
    """Failed, not reached, non-compliant first; otherwise the report's order (a stable sort)."""
    return {o: n for n, o in enumerate(PROBLEMS)}.get(instance.outcome, len(PROBLEMS))
