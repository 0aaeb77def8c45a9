"""The report page's chart: a horizontal stacked bar of instances by outcome per row.

A row is a batch of a wave, a whole launch or remediation run, or a digest's environment and
patch group; it grows with rows, never with instances. An inline SVG with its counts as
text in and beside the bars and in its accessible label: nothing depends on colour alone.
Pure functions (``fleetpatch.report_html`` puts the chart on the page).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fleetpatch.outcomes import JUDGED, OUTCOMES, label, plural
from fleetpatch.report_text import clip
from fleetpatch.reports import DigestReport, DriftEntry, RunReport

# Okabe-Ito: told apart with every common colour-vision deficiency. Labels carry the counts,
# so nothing depends on colour alone. The chart stacks outcomes in the vocabulary's order
# (``fleetpatch.outcomes.OUTCOMES``).
OUTCOME_COLOURS: Mapping[str, str] = {
    "patched": "#009E73",  # bluish green
    "compliant": "#56B4E9",  # sky blue
    "non-compliant": "#E69F00",  # orange
    # A clear red, far from non-compliant's orange (and from terminated's purple).
    "failed": "#C81E1E",
    "not-reached": "#999999",  # grey
    "busy": "#0072B2",  # blue
    "joined": "#F0E442",  # yellow
    "terminated": "#CC79A7",  # reddish purple
    "skipped-by-exception": "#000000",  # black: Okabe-Ito's eighth
}


# A digest carries transitions, not run outcomes: drift is non-compliance, recovery compliance.
DIGEST_LABELS: Mapping[str, str] = {"non-compliant": "drifted", "compliant": "recovered"}
STATUS_TEXT = {"ran": "ran", "held": "held", "not-reached": "not reached"}

# --- chart geometry (SVG user units; the SVG scales to the page width) -------------------------
_CHART_WIDTH = 960
_LEGEND_HEIGHT = 40
_ROW_HEIGHT = 66
_BAR_OFFSET = 26  # from the top of a row to the top of its bar
_BAR_HEIGHT = 30
_MIN_SEGMENT = 4.0  # a single failed instance in a thousand still shows
_CHAR_WIDTH = 7.4  # average advance of a 13px sans-serif character, for layout estimates
_NAME_CHARS = 60


@dataclass(frozen=True)
class ChartRow:
    """One bar of the chart: a batch, a whole run, or a digest's patch group."""

    label: str
    note: str
    counts: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def chart_rows(report: RunReport | DigestReport) -> list[ChartRow]:
    """The chart's bars: per batch for a wave, one for a launch or remediation, per
    environment and patch group for a digest. Counts are keyed by outcome, in stacking order."""
    if isinstance(report, DigestReport):
        groups: dict[str, Counter[str]] = {}
        for entry in report.entries:
            outcome = "non-compliant" if entry.transition == "drifted" else "compliant"
            groups.setdefault(_group_label(entry), Counter())[outcome] += 1
        return [ChartRow(name, "", _ordered(counts)) for name, counts in sorted(groups.items())]
    if report.kind == "wave":
        return [
            ChartRow(batch.name, STATUS_TEXT[batch.status], _ordered(batch.counts().counts))
            for batch in report.batches
        ]
    return [ChartRow(report.title, report.kind, _ordered(report.counts().counts))]


def render_chart(rows: Sequence[ChartRow], caption: str, *, labels: Mapping[str, str]) -> str:
    """A horizontal stacked bar per row, each as wide as the chart (shares of its row)."""
    shown = (
        [o for o in OUTCOMES if o in labels]
        if labels
        else [o for o in OUTCOMES if o in JUDGED or any(r.counts.get(o) for r in rows)]
    )
    totals = Counter[str]()
    for row in rows:
        totals.update(row.counts)
    described = [
        f"{row.label}{f' ({row.note})' if row.note else ''}: {_describe(row, labels)}"
        for row in rows
    ]
    label = f"{caption}. " + (". ".join(described) if rows else "No instances") + "."
    height = _LEGEND_HEIGHT + max(1, len(rows)) * _ROW_HEIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" id="chart-svg" '
        f'viewBox="0 0 {_CHART_WIDTH} {height}" width="{_CHART_WIDTH}" height="{height}" '
        f'preserveAspectRatio="xMinYMin meet" aria-label="{_e(label)}">',
        f"<title>{_e(label)}</title>",
        _legend(shown, totals, labels),
    ]
    if not rows:
        y = _LEGEND_HEIGHT + _BAR_OFFSET
        parts.append(
            f'<rect x="0" y="{y}" width="{_CHART_WIDTH}" height="{_BAR_HEIGHT}" fill="#f6f8fa" '
            f'stroke="#d1d9e0" shape-rendering="crispEdges"/>'
            f'<text class="note" x="{_CHART_WIDTH / 2:.1f}" y="{y + 20}" '
            f'text-anchor="middle">nothing to show</text>'
        )
    for index, (row, text) in enumerate(zip(rows, described, strict=True)):
        parts.append(_bar(row, text, _LEGEND_HEIGHT + index * _ROW_HEIGHT, labels))
    parts.append("</svg>")
    parts.append(_compact(rows, labels))
    return f'<figure class="chart-figure">{"".join(parts)}</figure>'


def _compact(rows: Sequence[ChartRow], labels: Mapping[str, str]) -> str:
    """The same bars in HTML, for a phone: the SVG scaled to a phone's width has 5 px text.

    Each row: its name and note, a bar as wide as the screen (a flex row of coloured shares,
    none narrower than a few pixels), and its counts written out under it, each with its
    colour. The stylesheet shows either this or the SVG, never both.
    """
    out = ['<div class="compact">']
    for row in rows:
        status = " held" if row.note == "held" else ""
        note = f' <span class="note{status}">{_e(row.note)}</span>' if row.note else ""
        segments = "".join(
            f'<span class="cseg" data-outcome="{o}" '
            f'style="flex-grow:{n};background:{OUTCOME_COLOURS[o]}"></span>'
            for o, n in row.counts.items()
            if n
        )
        counts = " · ".join(
            f'<span class="ccount"><span class="swatch" style="background:{OUTCOME_COLOURS[o]}">'
            f"</span>{n} {_e(labels.get(o, label(o)))}</span>"
            for o, n in row.counts.items()
            if n
        )
        out.append(
            f'<div class="crow" data-label="{_e(row.label)}">'
            f'<div class="cname"><strong>{_e(row.label)}</strong>{note}</div>'
            f'<div class="cbar">{segments}</div>'
            f'<div class="csum">{counts or "no instances"} · {plural(row.total, "instance")}'
            "</div></div>"
        )
    out.append("</div>")
    return "".join(out)


def _legend(shown: Sequence[str], totals: Mapping[str, int], labels: Mapping[str, str]) -> str:
    parts = ['<g class="legend">']
    x = 0.0
    for outcome in shown:
        text = f"{labels.get(outcome, label(outcome))} ({totals.get(outcome, 0)})"
        parts.append(
            f'<g class="legend-item" data-outcome="{outcome}">'
            f'<rect x="{x:.1f}" y="8" width="14" height="14" rx="2" '
            f'fill="{OUTCOME_COLOURS[outcome]}"/>'
            f'<text x="{x + 20:.1f}" y="20">{_e(text)}</text></g>'
        )
        x += 20 + _text_width(text) + 26
    parts.append("</g>")
    return "".join(parts)


def _bar(row: ChartRow, text: str, top: int, labels: Mapping[str, str]) -> str:
    bar_top = top + _BAR_OFFSET
    name = clip(row.label, _NAME_CHARS)
    summary = _row_summary(row, labels)
    parts = [
        f'<g class="bar" data-label="{_e(row.label)}" data-total="{row.total}">',
        f"<title>{_e(text)}</title>",
        f'<text class="name" x="0" y="{top + 18}">{_e(name)}',
    ]
    if row.note:
        status = " held" if row.note == "held" else ""
        parts.append(f'<tspan class="note{status}" dx="8" font-weight="400">{_e(row.note)}</tspan>')
    parts.append("</text>")
    parts.append(
        f'<text class="sum" x="{_CHART_WIDTH}" y="{top + 18}" text-anchor="end">'
        f"{_e(summary)}</text>"
    )
    parts.append(
        f'<rect class="track" x="0" y="{bar_top}" width="{_CHART_WIDTH}" '
        f'height="{_BAR_HEIGHT}" fill="#f6f8fa" stroke="#d1d9e0" shape-rendering="crispEdges"/>'
    )
    if not row.total:
        parts.append(
            f'<text class="note" x="{_CHART_WIDTH / 2:.1f}" y="{bar_top + 20}" '
            f'text-anchor="middle">no instances</text>'
        )
    for outcome, x, width, count in _segments(row.counts, _CHART_WIDTH):
        word = labels.get(outcome, label(outcome))
        parts.append(
            f'<rect class="seg" data-outcome="{outcome}" data-count="{count}" x="{x:.1f}" '
            f'y="{bar_top}" width="{width:.1f}" height="{_BAR_HEIGHT}" '
            f'fill="{OUTCOME_COLOURS[outcome]}" shape-rendering="crispEdges">'
            f"<title>{count} {_e(word)}</title></rect>"
        )
        long, short = f"{count} {word}", str(count)
        inner = long if _text_width(long) + 14 <= width else short
        if _text_width(inner) + 8 <= width:
            parts.append(
                f'<text class="seg" data-outcome="{outcome}" x="{x + width / 2:.1f}" '
                f'y="{bar_top + 20}" text-anchor="middle">{_e(inner)}</text>'
            )
    parts.append("</g>")
    return "".join(parts)


def _segments(counts: Mapping[str, int], width: float) -> list[tuple[str, float, float, int]]:
    """(outcome, x, width, count) per non-empty outcome; none narrower than _MIN_SEGMENT."""
    present: list[tuple[str, int]] = [(o, counts[o]) for o in OUTCOMES if counts.get(o, 0) > 0]
    total = sum(n for _, n in present)
    if not total:
        return []
    widths = [max(_MIN_SEGMENT, width * n / total) for _, n in present]
    excess = sum(widths) - width
    if excess > 0:
        widest = max(range(len(widths)), key=lambda i: (widths[i], -i))
        widths[widest] -= excess
    segments = []
    edge = 0.0
    for (outcome, count), share in zip(present, widths, strict=True):
        start, end = round(edge, 1), round(edge + share, 1)
        segments.append((outcome, start, round(end - start, 1), count))
        edge += share
    return segments


def _describe(row: ChartRow, labels: Mapping[str, str]) -> str:
    parts = [f"{n} {labels.get(o, label(o))}" for o, n in row.counts.items() if n]
    return ", ".join([plural(row.total, "instance"), *parts])


def _row_summary(row: ChartRow, labels: Mapping[str, str]) -> str:
    parts = [f"{n} {labels.get(o, label(o))}" for o, n in row.counts.items() if n]
    return " · ".join([*parts, plural(row.total, "instance")])


# --- helpers ------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _ordered(counts: Mapping[str, int]) -> dict[str, int]:
    return {o: counts[o] for o in OUTCOMES if counts.get(o)}


def _group_label(entry: DriftEntry) -> str:
    return f"{entry.environment or '-'} / {entry.patch_group or '-'}"


def _text_width(text: str) -> float:
    return len(text) * _CHAR_WIDTH
