"""A launch report in every format: lifecycle result, group, environment, churn escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetpatch.launch_summary import InstanceRunSummary, instance_report
from fleetpatch.report_html import render_run_html
from fleetpatch.report_text import attributes, email_body, subject
from fleetpatch.reports import RunReport
from fleetpatch.slack_message import message_for

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
INSTANCE = "i-0a1b2c3d4e5f60718"
GROUP = "web-prod"
CONFLICT = "ConflictingPatchGroupTagsError: both 'Patch Group' and 'PatchGroup' tags are set"


def churn(announce: str, streak: int, **fields: Any) -> dict[str, Any]:
    return {
        "group": GROUP,
        "action": "suspend-launch",
        "after": 3,
        "lifecycleResult": "ABANDON",
        "announce": announce,
        "counted": True,
        "streak": streak,
        "reason": "TargetUnresolved",
        "detail": CONFLICT,
        "instances": [f"i-{n:017x}" for n in range(1, streak + 1)],
        "firstFailedAt": (T0 - timedelta(minutes=3)).isoformat(),
        "suspend": announce == "escalate",
        "endedStreak": None,
        "suspended": announce == "escalate",
        "suspendError": None,
        **fields,
    }


def failed_launch(
    lifecycle: str | None = "ABANDON", decision: dict[str, Any] | None = None, **fields: Any
) -> RunReport:
    run = InstanceRunSummary.model_validate(
        {
            "runId": "launch-1",
            "instanceId": INSTANCE,
            "trigger": "lifecycle",
            "outcome": "failed",
            "reason": "TargetUnresolved",
            "summary": CONFLICT,
            "startedAt": T0.isoformat(),
            "lifecycleResult": lifecycle,
            "group": GROUP if lifecycle else None,
            "launchOutcome": {
                "environment": "prod",
                "autoScalingGroup": GROUP if lifecycle else None,
                "lifecycleResult": lifecycle,
                "churn": decision,
            },
            **fields,
        }
    )
    return instance_report(run, ended_at=T0 + timedelta(seconds=35), bucket="artifacts")


def values(report: RunReport) -> dict[str, str]:
    return {k: v["StringValue"] for k, v in attributes(report, report_key=None).items()}


# --- where a launch was, how it was released ---------------------------------------------------


def test_a_failure_without_a_target_takes_its_environment_from_the_accounting() -> None:
    report = failed_launch()
    assert (report.environment, report.auto_scaling_group, report.lifecycle_result) == (
        "prod",
        GROUP,
        "ABANDON",
    )
    assert subject(report) == f"launch of {INSTANCE}: failed (TargetUnresolved), abandoned [prod]"
    assert values(report) == {
        "kind": "launch",
        "environment": "prod",
        "outcome": "failed",
        "lifecycle": "ABANDON",
        "group": GROUP,
        "run": "launch-1",
    }


@pytest.mark.parametrize(
    ("lifecycle", "outcome", "words", "described"),
    [
        ("CONTINUE", "patched", ", released", "CONTINUE (released into service)"),
        (
            "CONTINUE",
            "failed",
            ", released unpatched",
            "CONTINUE (released into service unpatched)",
        ),
        ("GONE", "failed", ", lifecycle action gone", "none (the lifecycle action was gone"),
        (None, "failed", "", "none (launched outside Auto Scaling)"),
    ],
)
def test_every_lifecycle_result_has_its_words(
    lifecycle: str | None, outcome: str, words: str, described: str
) -> None:
    report = failed_launch(lifecycle).model_copy(update={"outcome": outcome, "reason": None})
    assert subject(report).endswith(f"{words} [prod]")
    assert f"{'Lifecycle result:':<19} {described}" in email_body(
        report, report_url=None, console_url=None
    )
    assert values(report)["lifecycle"] == (lifecycle or "none")
    assert f"<dt>Lifecycle result</dt><dd>{described}" in render_run_html(report)


def test_a_wave_report_has_no_lifecycle() -> None:
    report = failed_launch().model_copy(
        update={"kind": "wave", "lifecycle_result": None, "auto_scaling_group": None}
    )
    assert "lifecycle" not in values(report)
    assert "Lifecycle result" not in email_body(report, report_url=None, console_url=None)
    assert "Lifecycle result" not in render_run_html(report)


# --- launch churn -------------------------------------------------------------------------------


def test_the_escalation_names_the_group_the_streak_the_cause_and_the_way_out() -> None:
    report = failed_launch(decision=churn("escalate", 3))
    assert subject(report) == (
        f"launch churn in {GROUP}: 3 failed in a row (TargetUnresolved), Launch suspended [prod]"
    )
    assert values(report)["churn"] == "escalation"
    body = email_body(report, report_url=None, console_url=None)
    assert (
        f"Auto Scaling group {GROUP}: 3 launches in a row failed with TargetUnresolved "
        "(since 2026-11-21 04:57:00 UTC):\n"
        f"  {CONFLICT}\n"
        f"Instances: i-{1:017x}, i-{2:017x}, i-{3:017x}\n"
    ) in body
    assert (
        f"  aws autoscaling resume-processes --auto-scaling-group-name {GROUP} "
        "--scaling-processes Launch\n"
    ) in body
    assert (
        f"{'Lifecycle result:':<19} ABANDON (terminated; Launch is suspended, so no "
        "replacement is launched)\n"
    ) in body
    html = render_run_html(report)
    assert '<section id="churn" class="churn"><h2>Launch churn</h2>' in html
    slack = message_for(report, report_url=None)
    assert slack["text"] == subject(report)
    [section] = [
        b for b in slack["blocks"] if "resume-processes" in b.get("text", {}).get("text", "")
    ]
    assert section["text"]["text"].startswith(f"Auto Scaling group {GROUP}: 3 launches")


@pytest.mark.parametrize(
    ("fields", "taken", "advice"),
    [
        (
            {"suspended": False, "suspendError": "AccessDenied: no"},
            "suspending Launch FAILED",
            "Suspend it by hand:",
        ),
        ({"action": "continue", "lifecycleResult": "CONTINUE"}, "released unpatched", "until a"),
        ({"action": "notify-only", "suspended": False}, "still replacing", "notify-only"),
    ],
)
def test_the_escalation_says_what_was_done(fields: dict[str, Any], taken: str, advice: str) -> None:
    report = failed_launch(decision=churn("escalate", 3, **fields))
    assert subject(report).endswith(f"(TargetUnresolved), {taken} [prod]")
    assert advice in email_body(report, report_url=None, console_url=None)


def test_a_quiet_failure_says_why_it_was_not_sent() -> None:
    report = failed_launch(decision=churn("quiet", 2))
    assert report.churn is not None
    assert report.churn.announced is False
    assert report.notes == [
        f"launch churn: failure 2 in a row in {GROUP} (TargetUnresolved); stored, not sent "
        "(an escalation is sent at 3)"
    ]
    assert f"<dt>Note</dt><dd>launch churn: failure 2 in a row in {GROUP}" in render_run_html(
        report
    )


def test_a_success_notes_the_streak_it_ended() -> None:
    ended = {**churn("report", 0), "counted": False, "endedStreak": 4}
    report = failed_launch("CONTINUE", ended).model_copy(update={"outcome": "patched"})
    assert report.notes == [
        f"launch churn: this launch ends a streak of 4 failed launches in {GROUP} "
        "(TargetUnresolved)"
    ]


def test_an_unaccounted_launch_says_so() -> None:
    report = failed_launch(
        "ABANDON",
        launchOutcome={
            "environment": None,
            "autoScalingGroup": GROUP,
            "lifecycleResult": None,
            "churn": None,
            "error": "States.TaskFailed: boom",
        },
    )
    assert report.notes == ["the launch's outcome was not accounted: States.TaskFailed: boom"]
    assert (report.environment, report.auto_scaling_group) == (None, GROUP)
