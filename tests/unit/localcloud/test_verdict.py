"""The verdict `local run` prints first: computed from what happened, never from the scenario."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from localcloud.recorder import Entry
from localcloud.runner import ScenarioResult
from localcloud.timeline import render_timeline
from localcloud.verdict import verdict_lines

START = datetime(2026, 11, 7, 4, tzinfo=UTC)


def launch(instance: str, result: str, reason: str | None = None) -> dict[str, Any]:
    return {
        "kind": "launch",
        "name": f"lifecycle-{instance}",
        "status": "SUCCEEDED" if result == "CONTINUE" else "FAILED",
        "instances": [{"instance_id": instance, "lifecycle_result": result, "reason": reason}],
    }


def result(**overrides: Any) -> ScenarioResult:
    runs = [
        launch("i-1", "CONTINUE"),
        launch("i-2", "CONTINUE"),
        launch("i-3", "ABANDON", "AgentNeverOnline"),
        {"kind": "wave", "name": "wave-a", "wave": "test", "status": "SUCCEEDED",
         "outcome": "completed", "detail": "every batch ran", "instances": []},
        {"kind": "wave", "name": "wave-b", "wave": "prod", "status": "FAILED",
         "outcome": "GateFailed", "detail": "the gate before windows-apps failed: 1 failed",
         "instances": []},
    ]  # fmt: skip
    fields: dict[str, Any] = {
        "scenario": "demo",
        "started": START,
        "simulated_seconds": 3600,
        "real_seconds": 12.0,
        "time_factor": 0,
        "timeline": [
            Entry(START, "step", "scale out web-test by 3"),
            Entry(START, "lambda", "fleetpatch-default-patch-on-launch: route=launch"),
            Entry(START, "event", "aws.autoscaling EC2 Instance-launch Lifecycle Action"),
        ],
        "runs": runs,
        "lifecycle_actions": [
            {"instance_id": "i-1", "result": "CONTINUE", "reason": None},
            {"instance_id": "i-2", "result": "CONTINUE", "reason": None},
            {"instance_id": "i-3", "result": "ABANDON", "reason": "abandoned by the run"},
        ],
        "commands": [],
        "messages": [
            {"channel": "sns", "subject": "s", "attributes": {}, "message": "body"},
            {"channel": "sns", "subject": "s", "attributes": {}, "message": "body"},
            {"channel": "slack", "subject": "s", "attributes": {"status": 200}, "message": {}},
        ],
        "reports": ["/r/demo-x/wave-a.html", "/r/demo-x/wave-a.json", "/r/demo-x/index.html"],
    }
    fields.update(overrides)
    return ScenarioResult(**fields)


def test_the_verdict_says_what_was_released_abandoned_completed_and_held() -> None:
    assert verdict_lines(result()) == [
        "launches: 3 held by the lifecycle hook: 2 released patched, 1 abandoned",
        "  abandoned i-3: AgentNeverOnline",
        "wave test: completed (every batch ran)",
        "wave prod: HELD, the gate before windows-apps failed: 1 failed",
        "sent: 2 e-mail(s), 1 Slack message(s); 1 report(s) stored",
    ]


def test_an_instance_still_held_is_counted() -> None:
    actions = [{"instance_id": "i-9", "result": None, "reason": None}]
    [line] = verdict_lines(result(lifecycle_actions=actions, runs=[]))[:1]
    assert (
        line
        == "launches: 1 held by the lifecycle hook: 0 released patched, 0 abandoned, 1 still held"
    )


def test_the_verdict_comes_first_and_lambda_lines_only_with_verbose() -> None:
    console = Console(width=200, record=True, force_terminal=False)
    render_timeline(result(), console)
    text = console.export_text()
    assert text.index("released patched") < text.index("scale out web-test")
    assert "route=launch" not in text
    assert "2 Lambda and event lines hidden: --verbose" in text
    assert "file:///r/demo-x/index.html" in text

    console = Console(width=200, record=True, force_terminal=False)
    render_timeline(result(), console, verbose=True)
    assert "route=launch" in console.export_text()
