"""What a played scenario came to, in a few lines: the first thing ``local run`` prints.

An operator reads this before any timeline: what was launched and what became of each
launch, which wave completed, which was held (where and why), what remediation did, and
what was sent. Every line is computed from the run records, lifecycle actions and messages
of :class:`localcloud.runner.ScenarioResult`; nothing here is written by the scenario.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from localcloud.report_files import report_pages

if TYPE_CHECKING:
    from localcloud.runner import ScenarioResult

# Lines about single instances shown before "... and N more".
_MAX_NAMED = 5


def verdict_lines(result: ScenarioResult) -> list[str]:
    """The verdict, one finding per line (plain text; the caller styles it)."""
    lines = _launches(result.lifecycle_actions, result.runs)
    lines += [_wave(run) for run in result.runs if run["kind"] == "wave"]
    lines += _remediation([run for run in result.runs if run["kind"] == "remediation"])
    lines += _serving(result.serving)
    lines.append(_sent(result))
    return lines


def _launches(actions: list[dict[str, Any]], runs: list[dict[str, Any]]) -> list[str]:
    if not actions:
        return []
    results = Counter(a["result"] or "held" for a in actions)
    lines = [
        f"launches: {len(actions)} held by the lifecycle hook: "
        f"{results['CONTINUE']} released patched, {results['ABANDON']} abandoned"
        + (f", {results['held']} still held" if results["held"] else "")
    ]
    why = {
        i.get("instance_id"): i.get("reason") or i.get("detail")
        for run in runs
        if run["kind"] == "launch"
        for i in run.get("instances", [])
    }
    abandoned = [a for a in actions if a["result"] == "ABANDON"]
    for action in abandoned[:_MAX_NAMED]:
        reason = why.get(action["instance_id"]) or action.get("reason") or "no reason recorded"
        lines.append(f"  abandoned {action['instance_id']}: {reason}")
    if len(abandoned) > _MAX_NAMED:
        lines.append(f"  ... and {len(abandoned) - _MAX_NAMED} more abandoned")
    return lines


def _wave(run: dict[str, Any]) -> str:
    name = run.get("wave") or run["name"]
    detail = _first_line(run.get("detail"))
    if run["status"] == "SUCCEEDED":
        return f"wave {name}: completed" + (f" ({detail})" if detail else "")
    if run["status"] == "RUNNING":
        return f"wave {name}: still running"
    if run.get("outcome") == "GateFailed":
        return f"wave {name}: HELD, {detail or 'a gate failed'}"
    return f"wave {name}: {run['status'].lower()}, {run.get('outcome') or ''} {detail}".rstrip()


def _remediation(runs: list[dict[str, Any]]) -> list[str]:
    if not runs:
        return []
    outcomes = Counter(str(i.get("outcome") or "running") for r in runs for i in r["instances"])
    counted = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    return [f"remediation: {len(runs)} run(s) for drifted instances: {counted}"]


def _serving(records: list[dict[str, Any]]) -> list[str]:
    if not records:
        return []
    outcomes = Counter(r["outcome"] for r in records)
    counted = ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
    return [f"serving instances, one out of service at a time: {counted}"]


def _sent(result: ScenarioResult) -> str:
    channels = Counter(m["channel"] for m in result.messages)
    html = report_pages(result.reports)
    return f"sent: {channels['sns']} e-mail(s), {channels['slack']} Slack message(s)" + (
        f"; {len(html)} report(s) stored" if html else ""
    )


def _first_line(text: Any) -> str:
    return str(text or "").strip().splitlines()[0] if text else ""
