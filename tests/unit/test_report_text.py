"""A run report as a message: the subject, the e-mail body and the attributes subscribers filter on."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleetpatch.contracts.s3 import report_keys
from fleetpatch.report_text import SUBJECT_LIMIT, attributes, console_url, email_body, subject
from fleetpatch.reports import (
    BatchResult,
    RunReport,
    instance_result,
)
from tests.unit.report_samples import (
    EXECUTION,
    HELD_SUBJECT,
    INSTANCE,
    REGION,
    T0,
    clean,
    held_wave,
    launch,
    one_of_each,
    patched,
    serving_wave,
    wave,
)

# --- subjects -----------------------------------------------------------------------------------


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


# --- attributes ---------------------------------------------------------------------------------


def test_attributes_subscribers_filter_on() -> None:
    assert attributes(held_wave(), report_key=report_keys("wave-prod-20261121T0500Z", T0)[0]) == {
        "kind": {"DataType": "String", "StringValue": "wave"},
        "environment": {"DataType": "String", "StringValue": "prod"},
        "outcome": {"DataType": "String", "StringValue": "held"},
        "run": {"DataType": "String", "StringValue": "wave-prod-20261121T0500Z"},
        "report": {
            "DataType": "String",
            "StringValue": report_keys("wave-prod-20261121T0500Z", T0)[0],
        },
    }


def test_attributes_without_environment_or_stored_report() -> None:
    report = launch(outcome="failed", reason="InstanceNotFound", summary="gone", target=None)
    found = attributes(report, report_key=None)
    assert "report" not in found
    assert found["environment"] == {"DataType": "String", "StringValue": "unknown"}
    assert found["kind"]["StringValue"] == "launch"


def test_a_serving_batch_shows_each_instances_serving_outcome_and_time_out_of_service() -> None:
    body = email_body(serving_wave(), report_url=None, console_url=None)
    lines = {line.split()[0]: line for line in body.splitlines() if line.startswith("  i-")}
    assert lines["i-0000000000000000a"].endswith(
        "pending reboot 0; serving patched, out of service 7m 30s"
    )
    assert lines["i-0000000000000000b"] == (
        "  i-0000000000000000b  failed        serving rolled-back, out of service 20m 10s"
        " - rolled-back: unhealthy after the patch"
    )
    # an instance patched in place says nothing of serving
    assert "serving" not in lines["i-0000000000000000c"]
