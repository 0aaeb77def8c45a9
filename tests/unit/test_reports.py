"""Run reports: subjects, the e-mail body, outcomes, attributes, the index and the builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts import keys
from fleetpatch.launch_summary import InstanceRunSummary, instance_report
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import SUBJECT_LIMIT, attributes, console_url, email_body, subject
from fleetpatch.reports import (
    BatchResult,
    GateSummary,
    InstanceResult,
    RunReport,
    instance_outcome,
    instance_result,
)
from tests.unit.conftest import create_state_table

REGION = "eu-central-1"
TABLE = "state"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
INSTANCE = "i-0a1b2c3d4e5f60718"
EXECUTION = "arn:aws:states:eu-central-1:123456789012:execution:fleetpatch-gated-wave:wave-prod-1"
HELD_REASON = "1 instance failed in linux-databases (max 0)"


def clean(operation: str = "Install", installed: int = 0, **counts: Any) -> dict[str, Any]:
    """A patch state as DescribeInstancePatchStates reports it."""
    return {
        "Operation": operation,
        "InstalledCount": installed,
        "InstalledOtherCount": 0,
        "InstalledPendingRebootCount": 0,
        "MissingCount": 0,
        "FailedCount": 0,
        **counts,
    }


def patched(instance_id: str, installed: int) -> InstanceResult:
    return instance_result(
        instance_id,
        command_status="Success",
        state=clean(installed=installed),
        command_id="cmd-linux-1",
    )


def held_wave() -> RunReport:
    """prod wave: linux-databases ran (one of six failed), the gate held windows-apps."""
    linux = [
        patched("i-0db00000000000001", 4),
        patched("i-0db00000000000002", 2),
        instance_result(
            "i-0db00000000000003", command_status="Failed", state=None, command_id="cmd-linux-1"
        ),
        patched("i-0db00000000000004", 3),
        patched("i-0db00000000000005", 0),
        patched("i-0db00000000000006", 1),
    ]
    windows = [
        instance_result(f"i-0ap0000000000000{n}", command_status=None, state=None, ran=False)
        for n in (1, 2)
    ]
    return RunReport(
        kind="wave",
        run_id="wave-prod-20261121T0500Z",
        title="prod wave",
        outcome="held",
        reason="gate failed",
        summary="The gate before windows-apps failed: 1 instance failed in linux-databases.",
        environment="prod",
        trigger="window",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=42, seconds=30),
        execution_arn=EXECUTION,
        window_execution_id="6a0fd8c1-1d3c-4f4b-9a5e-0b1c2d3e4f50",
        batches=[
            BatchResult(
                name="linux-databases",
                patch_groups=["patch_prod_0600_batch_1"],
                status="ran",
                instances=linux,
            ),
            BatchResult(
                name="windows-apps",
                patch_groups=["patch_prod_0600_batch_2"],
                status="held",
                gate=GateSummary(passed=False, reasons=[HELD_REASON], checked=["linux-databases"]),
                instances=windows,
            ),
        ],
    )


def wave(outcome: str, per_batch: list[list[str]], title: str = "prod wave") -> RunReport:
    """A wave whose batches all ran, with the given instance outcomes."""
    return RunReport(
        kind="wave",
        run_id="wave-1",
        title=title,
        outcome=outcome,
        summary="-",
        environment="prod",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        batches=[
            BatchResult(
                name=f"batch-{b}",
                status="ran",
                instances=[
                    InstanceResult(instance_id=f"i-{b}{n:016x}", outcome=o)  # type: ignore[arg-type]
                    for n, o in enumerate(outcomes)
                ],
            )
            for b, outcomes in enumerate(per_batch)
        ],
    )


def one_of_each() -> RunReport:
    """A held wave: 2 patched, 1 failed, 1 stopped, 1 unmanaged, 1 excluded; 1 held behind."""

    def member(n: int, outcome: str, **fields: Any) -> InstanceResult:
        return InstanceResult.model_validate(
            {"instance_id": f"i-{n:016d}", "outcome": outcome, "state": "ready", **fields}
        )

    counts = {"missing": 0, "failed": 0, "pending_reboot": 0}
    linux = [
        member(1, "patched", installed=40, installed_by_run=4, **counts),
        member(2, "patched", installed=41, installed_by_run=5, **counts),
        member(3, "failed", reason="AWS-RunPatchBaseline ended Failed", installed_by_run=0),
        member(4, "not-reached", reason="it is stopped").model_copy(update={"state": "stopped"}),
        member(5, "not-reached", reason="not managed: its SSM agent is not registered"),
    ]
    return RunReport(
        kind="wave",
        run_id="wave-prod-2",
        title="prod wave",
        outcome="held",
        summary="-",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        installed_by_run=9,
        batches=[
            BatchResult(
                name="linux",
                status="ran",
                instances=linux,
                excluded={"i-0000000000000009": "its patch group tags disagree"},
            ),
            BatchResult(
                name="windows",
                status="held",
                instances=[member(6, "not-reached", reason="its batch was held by a gate")],
            ),
        ],
    )


def run_summary(**fields: Any) -> InstanceRunSummary:
    base: dict[str, Any] = {
        "runId": "launch-i-0a1b2c3d4e5f60718-1",
        "instanceId": INSTANCE,
        "trigger": "launch",
        "outcome": "patched",
        "reason": "Patched",
        "summary": "patched on launch",
        "startedAt": "2026-11-21T05:00:00Z",
        "target": {"patchGroup": "patch_test_0600_batch_1", "environment": "test"},
    }
    return InstanceRunSummary.model_validate(base | fields)


def launch(**fields: Any) -> RunReport:
    return instance_report(
        run_summary(**fields), ended_at=T0 + timedelta(minutes=9), bucket="fleetpatch-artifacts"
    )


# --- subjects -----------------------------------------------------------------------------------


HELD_SUBJECT = "prod wave: windows-apps held; 8 instances: 5 patched, 1 failed, 2 not reached"


def test_a_held_wave_names_the_held_batch_and_the_runs_one_count() -> None:
    assert subject(held_wave()) == HELD_SUBJECT


def test_a_wave_done_says_how_many_instances_ended_how() -> None:
    report = wave("completed", [["patched"] * 3, ["patched", "compliant"]])
    assert subject(report) == "prod wave: done; 5 instances: 4 patched, 1 compliant"
    assert subject(wave("completed", [["patched"]])) == "prod wave: done; 1 instance: 1 patched"


def test_a_wave_done_with_failures_counts_failed_and_non_compliant() -> None:
    report = wave(
        "completed-with-failures", [["patched", "failed", "patched"], ["non-compliant", "patched"]]
    )
    assert subject(report) == (
        "prod wave: done with failures; 5 instances: 3 patched, 1 non-compliant, 1 failed"
    )


def test_instances_no_command_reached_are_named_in_the_same_count() -> None:
    done = wave("completed", [["patched", "not-reached", "patched"]])
    assert subject(done) == "prod wave: done with failures; 3 instances: 2 patched, 1 not reached"
    held = wave("held", [["failed", "not-reached", "patched"]])
    assert subject(held) == (
        "prod wave: next batch held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )


def test_every_text_of_a_wave_counts_with_the_runs_one_tally() -> None:
    # Given a held wave: a batch with a failed, a stopped and an unmanaged member and one
    # instance the tag rule excludes; a held batch behind it
    report = one_of_each()
    tally = report.counts()
    # Then the tally, the subject, the body's figures and batch headings say the same
    assert (tally.total, tally.judged, tally.failing, tally.excluded) == (6, 6, 4, 1)
    headline = "6 instances: 2 patched, 1 failed, 3 not reached; 1 excluded"
    assert tally.sentence() == headline
    assert subject(report) == f"prod wave: windows held; {headline}"
    body = email_body(report, report_url=None, console_url=None).splitlines()
    assert f"Instances:   {headline}" in body
    assert "Installed:   9 by this run" in body
    assert "Patches:     0 missing, 0 failed, 0 pending reboot" in body
    assert "Batch linux (5 instances: 2 patched, 1 failed, 2 not reached; 1 excluded)" in body
    assert "Batch windows (1 instance: 1 not reached) - HELD, not run" in body
    listed = [line.split()[:2] for line in body if line.startswith("  i-")]
    assert listed == [
        ["i-0000000000000003", "failed"],
        ["i-0000000000000004", "not"],
        ["i-0000000000000005", "not"],
        ["i-0000000000000001", "patched"],
        ["i-0000000000000002", "patched"],
        ["i-0000000000000006", "not"],
    ]
    assert "  i-0000000000000004   not reached   - it is stopped" in body
    assert (
        "  i-0000000000000001   patched       installed 4 by this run (40 in total), missing 0, "
        "failed 0, pending reboot 0"
    ) in body
    assert "  excluded: i-0000000000000009 - its patch group tags disagree" in body
    # The failed and not reached members of the batch that ran need a look; the held one not
    assert [i.instance_id for i in report.failed_instances()] == [
        "i-0000000000000003",
        "i-0000000000000004",
        "i-0000000000000005",
    ]
    # The cumulative InstalledCount is never added up across the wave
    assert report.patch_totals() == {"missing": 0, "failed": 0, "pending_reboot": 0}


def test_a_wave_whose_installs_were_not_counted_says_why() -> None:
    report = one_of_each().model_copy(
        update={"installed_by_run": None, "installed_note": "150 instances ran an Install"}
    )
    body = email_body(report, report_url=None, console_url=None)
    assert "Installed:   not counted (150 instances ran an Install)\n" in body


def test_a_report_stored_before_version_2_still_reads() -> None:
    stored = held_wave().model_dump(mode="json")
    stored["version"] = 1
    for instance in stored["batches"][1]["instances"]:
        instance["outcome"] = "not-run"
    again = RunReport.model_validate(stored)
    assert again.counts() == held_wave().counts()


def test_a_patched_launch_says_how_many_patches_and_the_environment() -> None:
    report = launch(
        operation="Install",
        commandId="cmd-1",
        commandStatus="Success",
        patchState=clean(installed=12),
    )
    assert subject(report) == f"launch of {INSTANCE}: patched, 12 installed [test]"


def test_a_failed_launch_gives_its_reason() -> None:
    report = launch(
        outcome="failed",
        reason="InstanceNotManaged",
        summary="the SSM agent did not register within 15 minutes",
        target={"patchGroup": "patch_prod_0600_batch_1", "environment": "prod"},
    )
    assert subject(report) == f"launch of {INSTANCE}: failed (InstanceNotManaged) [prod]"


def test_a_remediation_scan_says_how_many_patches_are_missing() -> None:
    report = launch(
        runId="remediate-i-0a1b2c3d4e5f60718-7b409f932d2c88e9",
        trigger="remediation",
        outcome="scanned",
        reason="Scanned",
        summary="scanned: 3 patches missing",
        operation="Scan",
        commandId="cmd-scan",
        commandStatus="Success",
        patchState=clean("Scan", installed=40, MissingCount=3),
        target={"patchGroup": "patch_prod_0600_batch_1", "environment": "prod"},
    )
    assert subject(report) == f"remediation of {INSTANCE}: scanned, 3 missing [prod]"


def test_a_warm_pool_instance_that_needs_nothing_is_already_compliant() -> None:
    report = launch(
        trigger="warm-pool",
        outcome="compliant",
        reason="AlreadyCompliant",
        operation="Scan",
        commandId="cmd-scan",
        commandStatus="Success",
        patchState=clean("Scan", installed=40),
    )
    assert subject(report) == f"launch of {INSTANCE}: already compliant [test]"


def test_a_launch_without_environment_has_no_brackets() -> None:
    report = launch(outcome="failed", reason="InstanceNotFound", summary="gone", target=None)
    assert subject(report) == f"launch of {INSTANCE}: failed (InstanceNotFound)"


@pytest.mark.parametrize(
    "report",
    [
        wave("held", [["failed"]], title="w" * 150 + " wave"),
        wave("completed", [["patched"]], title="w" * 150 + " wave"),
        wave("completed", [["failed"]], title="w" * 150 + " wave"),
    ],
    ids=["held", "done", "done-with-failures"],
)
def test_a_subject_never_exceeds_the_sns_limit(report: RunReport) -> None:
    text = subject(report)
    assert len(text) == SUBJECT_LIMIT
    assert text.startswith("wwww")
    assert text.endswith("\u2026")


# --- the e-mail body ----------------------------------------------------------------------------


def test_the_email_body_of_a_held_wave() -> None:
    report = held_wave()
    body = email_body(
        report,
        report_url="https://example.com/reports/wave-prod-20261121T0500Z.html",
        console_url=console_url(REGION, report.execution_arn),
    )
    assert body == (
        f"{HELD_SUBJECT}\n"
        "\n"
        "The gate before windows-apps failed: 1 instance failed in linux-databases.\n"
        "\n"
        "Outcome:     held (gate failed)\n"
        "Run:         wave-prod-20261121T0500Z\n"
        "Environment: prod\n"
        "Trigger:     window\n"
        "Started:     2026-11-21 05:00:00 UTC\n"
        "Ended:       2026-11-21 05:42:30 UTC (42m 30s)\n"
        "Window:      6a0fd8c1-1d3c-4f4b-9a5e-0b1c2d3e4f50\n"
        "Instances:   8 instances: 5 patched, 1 failed, 2 not reached\n"
        "Installed:   not counted (no figure)\n"
        "Patches:     0 missing, 0 failed, 0 pending reboot\n"
        "\n"
        "Batch linux-databases (6 instances: 5 patched, 1 failed)\n"
        "  i-0db00000000000003  failed        - AWS-RunPatchBaseline ended Failed\n"
        "  i-0db00000000000001  patched       installed - by this run (4 in total), missing 0, "
        "failed 0, pending reboot 0\n"
        "  i-0db00000000000002  patched       installed - by this run (2 in total), missing 0, "
        "failed 0, pending reboot 0\n"
        "  i-0db00000000000004  patched       installed - by this run (3 in total), missing 0, "
        "failed 0, pending reboot 0\n"
        "  i-0db00000000000005  patched       installed - by this run (0 in total), missing 0, "
        "failed 0, pending reboot 0\n"
        "  i-0db00000000000006  patched       installed - by this run (1 in total), missing 0, "
        "failed 0, pending reboot 0\n"
        "\n"
        "Batch windows-apps (2 instances: 2 not reached) - HELD, not run\n"
        "  gate FAILED: 1 instance failed in linux-databases (max 0)\n"
        "  i-0ap00000000000001  not reached   - its batch was held by a gate\n"
        "  i-0ap00000000000002  not reached   - its batch was held by a gate\n"
        "\n"
        "Report: https://example.com/reports/wave-prod-20261121T0500Z.html\n"
        "Execution: https://eu-central-1.console.aws.amazon.com/states/home?region=eu-central-1"
        f"#/v2/executions/details/{EXECUTION}\n"
    )


def test_the_email_body_lists_25_instances_per_batch_failed_first() -> None:
    instances = [patched(f"i-{n:017x}", 1) for n in range(40)] + [
        instance_result("i-fff00000000000000", command_status="TimedOut", state=None)
    ]
    report = RunReport(
        kind="wave",
        run_id="wave-1",
        title="test wave",
        outcome="completed-with-failures",
        summary="-",
        started_at=T0,
        ended_at=T0 + timedelta(hours=2, minutes=5),
        batches=[BatchResult(name="all", status="ran", instances=instances)],
    )
    body = email_body(report, report_url=None, console_url=None)
    listed = [line for line in body.splitlines() if line.startswith("  i-")]
    assert len(listed) == 25
    assert listed[0].startswith("  i-fff00000000000000  failed")
    assert "  ... and 16 more in the report" in body.splitlines()
    assert "Ended:       2026-11-21 07:05:00 UTC (2h 05m)" in body
    assert "Environment: -" in body
    assert "Report:" not in body
    assert "Execution:" not in body
    assert body.endswith("more in the report\n")


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


# --- attributes ---------------------------------------------------------------------------------


def test_attributes_subscribers_filter_on() -> None:
    assert attributes(held_wave(), report_key="reports/wave-prod-20261121T0500Z.json") == {
        "kind": {"DataType": "String", "StringValue": "wave"},
        "environment": {"DataType": "String", "StringValue": "prod"},
        "outcome": {"DataType": "String", "StringValue": "held"},
        "run": {"DataType": "String", "StringValue": "wave-prod-20261121T0500Z"},
        "report": {"DataType": "String", "StringValue": "reports/wave-prod-20261121T0500Z.json"},
    }


def test_attributes_without_environment_or_stored_report() -> None:
    report = launch(outcome="failed", reason="InstanceNotFound", summary="gone", target=None)
    found = attributes(report, report_key=None)
    assert "report" not in found
    assert found["environment"] == {"DataType": "String", "StringValue": "unknown"}
    assert found["kind"]["StringValue"] == "launch"


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
        json_key="reports/wave-prod-20261121T0500Z.json",
        html_key="reports/wave-prod-20261121T0500Z.html",
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
        "json_key": "reports/wave-prod-20261121T0500Z.json",
        "html_key": "reports/wave-prod-20261121T0500Z.html",
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
    index.record(report, subject_line="s", json_key="reports/x.json", html_key="reports/x.html")
    assert index.published(report.run_id) == "message-1"
    assert index.get(report.run_id)["json_key"] == "reports/x.json"  # type: ignore[index]


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
        "s3://fleetpatch-artifacts/command-output/launch/launch-i-0a1b2c3d4e5f60718-1/cmd-1/"
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
