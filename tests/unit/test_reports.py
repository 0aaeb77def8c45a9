"""Run reports: instance outcomes, the index and the builders of launch reports."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import launch_output_prefix, report_keys
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import email_body, subject
from fleetpatch.reports import (
    InstanceResult,
    RunReport,
    instance_outcome,
    instance_result,
)
from tests.unit.conftest import create_state_table
from tests.unit.report_samples import (
    HELD_SUBJECT,
    INSTANCE,
    REGION,
    T0,
    TABLE,
    clean,
    held_wave,
    launch,
    wave,
)

# --- instance outcomes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state", "ran", "expected"),
    [
        ("Success", clean(installed=3), True, ("patched", None)),
        ("Success", clean("Scan", installed=30), True, ("compliant", None)),
        ("Success", clean("Scan", MissingCount=3), True, ("non-compliant", "3 missing")),
        (
            "Success",
            clean(MissingCount=2, InstalledPendingRebootCount=1),
            True,
            ("non-compliant", "2 missing, 1 pending reboot"),
        ),
        (
            "Success",
            clean(FailedCount=2, MissingCount=1),
            True,
            ("failed", "2 patch(es) failed to install"),
        ),
        ("Failed", clean(), True, ("failed", "AWS-RunPatchBaseline ended Failed")),
        ("TimedOut", None, True, ("failed", "AWS-RunPatchBaseline ended TimedOut")),
        (None, None, True, ("not-reached", "no patch command reached it")),
        ("Success", None, True, ("non-compliant", "no patch state reported after the run")),
        ("Success", clean(), False, ("not-reached", "its batch was held by a gate")),
        (None, None, False, ("not-reached", "its batch was held by a gate")),
    ],
    ids=[
        "install-clean",
        "scan-clean",
        "scan-missing",
        "missing-and-reboot",
        "patch-failed",
        "command-failed",
        "command-timed-out",
        "no-command",
        "no-patch-state",
        "held",
        "held-no-command",
    ],
)
def test_instance_outcome(
    status: str | None, state: dict[str, Any] | None, ran: bool, expected: tuple[str, str | None]
) -> None:
    assert instance_outcome(status, state, ran=ran) == expected


def test_an_instance_result_carries_the_patch_state() -> None:
    result = instance_result(
        INSTANCE,
        command_status="Success",
        state=clean(
            installed=5,
            InstalledOtherCount=100,
            RebootOption="RebootIfNeeded",
            PatchGroup="patch_test_0600_batch_1",
            OperationStartTime=datetime(2026, 11, 21, 5, 1),  # naive: read as UTC
            OperationEndTime="2026-11-21T05:04:30Z",
        ),
        command_id="cmd-1",
        output="s3://bucket/prefix/cmd-1/i-0a1b2c3d4e5f60718/",
    )
    assert result.model_dump(exclude_none=True) == {
        "instance_id": INSTANCE,
        "outcome": "patched",
        "patch_group": "patch_test_0600_batch_1",
        "command_id": "cmd-1",
        "command_status": "Success",
        "operation": "Install",
        "installed": 5,
        "installed_other": 100,
        "pending_reboot": 0,
        "missing": 0,
        "failed": 0,
        "reboot_option": "RebootIfNeeded",
        "started_at": datetime(2026, 11, 21, 5, 1, tzinfo=UTC),
        "ended_at": datetime(2026, 11, 21, 5, 4, 30, tzinfo=UTC),
        "output": "s3://bucket/prefix/cmd-1/i-0a1b2c3d4e5f60718/",
    }
    assert result.duration_seconds == 210.0


# --- the index ----------------------------------------------------------------------------------


@pytest.fixture
def indexed_table() -> Iterator[Any]:
    """A DynamoDB client (moto) with the state table and its gsi1, as in template.yaml."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        yield dynamodb


def ended(run_id: str, at: datetime) -> RunReport:
    return wave("completed", [["patched"]]).model_copy(update={"run_id": run_id, "ended_at": at})


def test_the_index_records_a_report(indexed_table: Any) -> None:
    index = ReportIndex(indexed_table, TABLE, lambda: 1_800_000_000.0)
    report = held_wave()
    index.record(
        report,
        subject_line=subject(report),
        json_key=report_keys("wave-prod-20261121T0500Z", T0)[0],
        html_key=report_keys("wave-prod-20261121T0500Z", T0)[1],
    )
    assert index.get(report.run_id) == {
        "pk": keys.report_key(report.run_id)["pk"]["S"],
        "sk": keys.REPORT_SK,
        "gsi1pk": keys.REPORTS_INDEX,
        "gsi1sk": keys.by_time("2026-11-21T05:42:30+00:00", report.run_id),
        "run_id": "wave-prod-20261121T0500Z",
        "kind": "wave",
        "title": "prod wave",
        "outcome": "held",
        "subject": HELD_SUBJECT,
        "environment": "prod",
        "started_at": "2026-11-21T05:00:00+00:00",
        "ended_at": "2026-11-21T05:42:30+00:00",
        "instances": 8,
        "failed": 1,
        "json_key": report_keys("wave-prod-20261121T0500Z", T0)[0],
        "html_key": report_keys("wave-prod-20261121T0500Z", T0)[1],
        "store_error": "",
        "expires_at": 1_800_000_000 + 400 * 24 * 3600,
    }
    assert index.get("wave-unknown") is None


def test_a_run_is_marked_published_once(indexed_table: Any) -> None:
    index = ReportIndex(indexed_table, TABLE, lambda: 1_800_000_000.0)
    report = held_wave()
    index.record(report, subject_line="s", json_key=None, html_key=None)
    assert index.published(report.run_id) is None
    assert index.mark_published(report.run_id, "message-1") is True
    assert index.mark_published(report.run_id, "message-2") is False
    assert index.published(report.run_id) == "message-1"
    # A retried publish rewrites the record and keeps the message id.
    index.record(
        report, subject_line="s", json_key=report_keys("x", T0)[0], html_key=report_keys("x", T0)[1]
    )
    assert index.published(report.run_id) == "message-1"
    assert index.get(report.run_id)["json_key"] == report_keys("x", T0)[0]  # type: ignore[index]


def test_the_index_lists_reports_newest_first_since_a_time(indexed_table: Any) -> None:
    index = ReportIndex(indexed_table, TABLE, lambda: 1_800_000_000.0)
    for run_id, minutes in (("wave-a", 0), ("wave-c", 120), ("wave-b", 60)):
        report = ended(run_id, T0 + timedelta(minutes=minutes, microseconds=500))
        index.record(report, subject_line=subject(report), json_key=None, html_key=None)
    assert [r["run_id"] for r in index.list()] == ["wave-c", "wave-b", "wave-a"]
    assert [r["run_id"] for r in index.list(since=T0 + timedelta(minutes=60))] == [
        "wave-c",
        "wave-b",
    ]
    # ``since`` in another zone is the same instant.
    zurich = (T0 + timedelta(minutes=61)).astimezone(ZoneInfo("Europe/Zurich"))
    assert [r["run_id"] for r in index.list(since=zurich)] == ["wave-c"]
    assert [r["run_id"] for r in index.list(limit=1)] == ["wave-c"]
    assert index.list(since=T0 + timedelta(hours=3)) == []


# --- building the launch reports ------------------------------------------------------------


def test_a_failed_launch_without_a_command_is_reported_from_the_summary() -> None:
    report = launch(
        outcome="failed",
        reason="InstanceNotManaged",
        summary="the SSM agent did not register within 15 minutes",
        target={"patchGroup": "patch_prod_0600_batch_1", "environment": "prod"},
        executionArn="arn:aws:states:eu-central-1:123456789012:execution:patch-new:launch-1",
    )
    assert (report.kind, report.title, report.outcome, report.reason) == (
        "launch",
        f"launch of {INSTANCE}",
        "failed",
        "InstanceNotManaged",
    )
    [batch] = report.batches
    assert (batch.name, batch.patch_groups, batch.status) == (
        "patch_prod_0600_batch_1",
        ["patch_prod_0600_batch_1"],
        "ran",
    )
    assert batch.instances == [
        InstanceResult(
            instance_id=INSTANCE,
            outcome="failed",
            reason="the SSM agent did not register within 15 minutes",
            patch_group="patch_prod_0600_batch_1",
        )
    ]
    assert report.ended_at - report.started_at == timedelta(minutes=9)
    assert report.notes == []


def test_the_workflows_failed_verdict_stands_over_a_clean_patch_state() -> None:
    report = launch(
        outcome="failed",
        reason="CommandTimedOut",
        summary="the command did not finish in 60 minutes",
        commandId="cmd-1",
        commandStatus="Success",
        patchState=clean(installed=2),
    )
    [instance] = report.instances()
    assert (instance.outcome, instance.reason) == (
        "failed",
        "the command did not finish in 60 minutes",
    )
    assert instance.output == (
        f"s3://fleetpatch-artifacts/{launch_output_prefix('launch-i-0a1b2c3d4e5f60718-1')}/cmd-1/"
        f"{INSTANCE}/"
    )


def test_a_patched_launch_is_not_given_a_reason() -> None:
    report = launch(commandId="cmd-1", commandStatus="Success", patchState=clean(installed=2))
    assert (report.outcome, report.reason, report.healthy) == ("patched", None, True)


@pytest.mark.parametrize(
    ("fields", "notes", "described"),
    [
        (
            {
                "lifecycleResult": "CONTINUE",
                "lifecycleNote": "released to the warm pool",
                "group": "web",
            },
            ["lifecycle action CONTINUE: released to the warm pool"],
            "CONTINUE (released into service)",
        ),
        (
            {"lifecycleResult": "ABANDON", "group": "web"},
            [],
            "ABANDON (terminated; Auto Scaling launches a replacement)",
        ),
        ({"lifecycleResult": "GONE", "group": "web"}, [], "none (the lifecycle action was gone"),
        ({}, [], "none (launched outside Auto Scaling)"),
    ],
    ids=["with-note", "abandoned", "gone", "no-hook"],
)
def test_a_launch_report_says_how_its_instance_was_released(
    fields: dict[str, Any], notes: list[str], described: str
) -> None:
    report = launch(commandId="cmd-1", commandStatus="Success", patchState=clean(), **fields)
    assert report.lifecycle_result == fields.get("lifecycleResult")
    assert report.auto_scaling_group == fields.get("group")
    assert report.notes == notes
    body = email_body(report, report_url=None, console_url=None)
    assert f"{'Lifecycle result:':<19} {described}" in body
    assert f"{'Auto Scaling group:':<19} {fields.get('group', '-')}\n" in body
    for note in notes:
        assert f"{'Note:':<19} {note}\n" in body
