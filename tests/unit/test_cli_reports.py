"""``fleetpatch runs|report|compliance`` on a moto stage: output, exit codes, every error path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import boto3
import pytest
from moto import mock_aws

from fleetpatch.compliance import ComplianceChange, ComplianceLedger
from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import report_keys
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import console_url, email_body, subject
from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)
from fleetpatch_cli.main import build_parser, main
from fleetpatch_cli.wave_cmd import run_wave_command
from tests.unit.conftest import create_state_table

REGION: Final = "eu-central-1"
ACCOUNT = "123456789012"  # moto's
TABLE = "fleetpatch-default-state"
BUCKET = f"fleetpatch-default-artifacts-{ACCOUNT}-{REGION}"


@dataclass
class Stage:
    dynamodb: Any
    s3: Any
    # The commands read the real clock: tests take their times from the time the test started.
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def index(self) -> ReportIndex:
        return ReportIndex(self.dynamodb, TABLE, self.now.timestamp)

    def ledger(self) -> ComplianceLedger:
        return ComplianceLedger(self.dynamodb, TABLE, self.now.timestamp)

    def publish(
        self, report: RunReport | DigestReport, *, store_error: str | None = None
    ) -> tuple[str, str]:
        """Store and index a report as the publisher does; a failed store indexes no keys."""
        json_key, html_key = report_keys(report.run_id)
        if store_error is None:
            self.s3.put_object(Bucket=BUCKET, Key=json_key, Body=report.model_dump_json(indent=1))
            self.s3.put_object(Bucket=BUCKET, Key=html_key, Body=page(report.run_id))
        if isinstance(report, RunReport):
            line = subject(report)
        else:
            line = f"compliance digest: {len(report.drifted)} instances drifted"
        stored = store_error is None
        self.index().record(
            report,
            subject_line=line,
            json_key=json_key if stored else None,
            html_key=html_key if stored else None,
            store_error=store_error,
        )
        return json_key, html_key


@pytest.fixture
def stage() -> Iterator[Stage]:
    """The default stage's state table (with gsi1) and artifacts bucket, as the template has them."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Stage(dynamodb, s3)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--region", REGION])
    out, err = capsys.readouterr()
    return code, out, err


def page(run_id: str) -> str:
    return f"<!doctype html><title>{run_id}</title><h1>report of {run_id}</h1>\n"


def instance(instance_id: str, outcome: str, **counts: Any) -> InstanceResult:
    return InstanceResult(
        instance_id=instance_id,
        outcome=outcome,  # type: ignore[arg-type]
        patch_group="patch_prod_0600_batch_1",
        **counts,
    )


def wave_report(run_id: str, ended: datetime) -> RunReport:
    """A prod wave held before its second batch: 1 of 2 instances failed."""
    return RunReport(
        kind="wave",
        run_id=run_id,
        title="prod wave",
        outcome="held",
        reason="gate before windows-apps failed",
        summary="linux-databases ran; the gate held windows-apps.",
        environment="prod",
        trigger="maintenance window",
        started_at=ended - timedelta(minutes=42),
        ended_at=ended,
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:fleetpatch-default-gated-wave:{run_id}",
        batches=[
            BatchResult(
                name="linux-databases",
                status="ran",
                instances=[
                    instance("i-0aaaaaaaaaaaaaaa1", "patched", installed=4, missing=0, failed=0),
                    instance("i-0aaaaaaaaaaaaaaa2", "failed", installed=1, failed=2),
                ],
            ),
            BatchResult(
                name="windows-apps",
                status="held",
                gate=GateSummary(passed=False, reasons=["1 of 2 instances failed"]),
                instances=[instance("i-0bbbbbbbbbbbbbbb1", "not-reached")],
            ),
        ],
    )


def launch_report(run_id: str, ended: datetime) -> RunReport:
    return RunReport(
        kind="launch",
        run_id=run_id,
        title="launch of i-0ccccccccccccccc1",
        outcome="patched",
        summary="Patched before it joined its group.",
        environment="test",
        started_at=ended - timedelta(minutes=6),
        ended_at=ended,
        batches=[
            BatchResult(
                name="launch",
                status="ran",
                instances=[instance("i-0ccccccccccccccc1", "patched", installed=7)],
            )
        ],
    )


def remediation_report(run_id: str, ended: datetime) -> RunReport:
    return RunReport(
        kind="remediation",
        run_id=run_id,
        title="remediation of i-0ddddddddddddddd1",
        outcome="failed",
        reason="AWS-RunPatchBaseline ended TimedOut",
        summary="The remediation did not finish.",
        environment="prod",
        started_at=ended - timedelta(hours=2),
        ended_at=ended,
        batches=[
            BatchResult(
                name="remediation",
                status="ran",
                instances=[instance("i-0ddddddddddddddd1", "failed", reason="timed out")],
            )
        ],
    )


def digest_report(run_id: str, ended: datetime) -> DigestReport:
    return DigestReport(
        run_id=run_id,
        started_at=ended - timedelta(hours=6),
        ended_at=ended,
        entries=[
            DriftEntry(
                instance_id="i-0eeeeeeeeeeeeeee2",
                transition="drifted",
                at=ended - timedelta(hours=5),
                environment="prod",
                patch_group="patch_prod_0600_batch_2",
                severity="critical",
            ),
            DriftEntry(
                instance_id="i-0eeeeeeeeeeeeeee1",
                transition="drifted",
                at=ended - timedelta(hours=4),
                environment="prod",
                patch_group="patch_prod_0600_batch_1",
                severity="important",
                changes=3,
            ),
            DriftEntry(
                instance_id="i-0fffffffffffffff1",
                transition="recovered",
                at=ended - timedelta(hours=1),
                environment="test",
                patch_group="patch_test_0600_batch_1",
            ),
        ],
    )


def minute(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}"


@pytest.fixture
def history(stage: Stage) -> dict[str, datetime]:
    """Four reports: three in the last week, one older."""
    ended = {
        "digest-recent": stage.now - timedelta(hours=3),
        "launch-i-0ccccccccccccccc1": stage.now - timedelta(days=1),
        "wave-prod-held": stage.now - timedelta(days=2),
        "remediation-old": stage.now - timedelta(days=10),
    }
    stage.publish(digest_report("digest-recent", ended["digest-recent"]))
    stage.publish(launch_report("launch-i-0ccccccccccccccc1", ended["launch-i-0ccccccccccccccc1"]))
    stage.publish(wave_report("wave-prod-held", ended["wave-prod-held"]))
    stage.publish(remediation_report("remediation-old", ended["remediation-old"]))
    return ended


# --- fleetpatch runs -----------------------------------------------------------------------------


def test_runs_lists_the_last_week_newest_first(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "runs")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == [
        "ended",
        "(UTC)",
        "kind",
        "run",
        "outcome",
        "instances/failed",
        "subject",
    ]
    assert [row.split()[3] for row in rows] == [
        "digest-recent",
        "launch-i-0ccccccccccccccc1",
        "wave-prod-held",
    ]  # the remediation ended 10 days ago: outside the default 7 days
    digest, launch, wave = rows
    assert digest.startswith(minute(history["digest-recent"]))
    assert digest.split()[2:6] == ["compliance-digest", "digest-recent", "drift", "3/2"]
    assert digest.endswith("compliance digest: 2 instances drifted")
    assert launch.split()[2:6] == ["launch", "launch-i-0ccccccccccccccc1", "patched", "1/0"]
    assert launch.endswith("launch of i-0ccccccccccccccc1: patched, 7 installed [test]")
    assert wave.split()[2:6] == ["wave", "wave-prod-held", "held", "3/1"]
    assert wave.endswith(
        "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )
    # the columns line up
    assert len({row.index(row.split()[3]) for row in rows}) == 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            ["--since", "2w"],
            ["digest-recent", "launch-i-0ccccccccccccccc1", "wave-prod-held", "remediation-old"],
        ),
        (["--since", "36h"], ["digest-recent", "launch-i-0ccccccccccccccc1"]),
        (["--since", "90m"], []),
        (["--since", "30d", "--kind", "remediation"], ["remediation-old"]),
        (["--kind", "wave"], ["wave-prod-held"]),
        (["--kind", "compliance-digest"], ["digest-recent"]),
        (["--since", "30d", "--kind", "launch", "--limit", "5"], ["launch-i-0ccccccccccccccc1"]),
    ],
)
def test_runs_filters_by_time_and_kind(
    history: dict[str, datetime],
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    expected: list[str],
) -> None:
    code, out, _ = cli(capsys, "runs", "--json", *options)
    assert code == 0
    assert [item["run_id"] for item in json.loads(out)] == expected


def test_runs_since_an_iso_date_or_time(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    day = (history["wave-prod-held"] - timedelta(days=1)).date().isoformat()
    code, out, _ = cli(capsys, "runs", "--json", "--since", day)
    assert code == 0
    assert [i["run_id"] for i in json.loads(out)][-1] == "wave-prod-held"
    moment = (history["launch-i-0ccccccccccccccc1"] - timedelta(minutes=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    code, out, _ = cli(capsys, "runs", "--json", "--since", moment)
    assert [i["run_id"] for i in json.loads(out)] == [
        "digest-recent",
        "launch-i-0ccccccccccccccc1",
    ]


def test_runs_limit_keeps_the_newest_and_says_so(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "runs", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[3] for line in lines[1:3]] == [
        "digest-recent",
        "launch-i-0ccccccccccccccc1",
    ]
    assert lines[3:] == ["(the newest 2; --limit or --since for more)"]


def test_runs_json_has_the_index_entry_without_its_keys(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "runs", "--json", "--kind", "wave")
    assert code == 0
    [item] = json.loads(out)
    assert not {"pk", "sk", "gsi1pk", "gsi1sk", "expires_at"} & item.keys()
    assert item == {
        "run_id": "wave-prod-held",
        "kind": "wave",
        "title": "prod wave",
        "outcome": "held",
        "subject": "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached",
        "environment": "prod",
        "started_at": (history["wave-prod-held"] - timedelta(minutes=42)).isoformat(),
        "ended_at": history["wave-prod-held"].isoformat(),
        "instances": 3,
        "failed": 1,
        "json_key": "reports/wave-prod-held.json",
        "html_key": "reports/wave-prod-held.html",
        "store_error": "",
    }


def test_runs_marks_a_report_that_was_not_stored(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.publish(
        wave_report("wave-unstored", stage.now - timedelta(hours=1)), store_error="AccessDenied"
    )
    code, out, _ = cli(capsys, "runs")
    assert code == 0
    assert out.splitlines()[1].endswith("1 not reached  (report not stored)")


def test_runs_with_nothing_to_show(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "runs", "--since", "2026-11-01")
    assert (code, err) == (0, "")
    assert out == "no reports since 2026-11-01 00:00 UTC in stage default\n"
    code, out, _ = cli(capsys, "runs", "--since", "2026-11-01T06:30+01:00", "--kind", "launch")
    assert out == "no launch reports since 2026-11-01 05:30 UTC in stage default\n"
    code, out, _ = cli(capsys, "runs", "--json")
    assert (code, json.loads(out)) == (0, [])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--since", "yesterday"],
            "fleetpatch runs: --since: expected a duration (30m, 24h, 7d, 2w) or an ISO date or "
            "time (2026-11-01, 2026-11-01T06:00Z), got 'yesterday'",
        ),
        (
            ["--since", "7y"],
            "fleetpatch runs: --since: expected a duration (30m, 24h, 7d, 2w) or an ISO date or "
            "time (2026-11-01, 2026-11-01T06:00Z), got '7y'",
        ),
        (["--limit", "0"], "fleetpatch runs: --limit: expected a number of 1 or more, got '0'"),
        (["--limit", "ten"], "fleetpatch runs: --limit: expected a number of 1 or more, got 'ten'"),
    ],
)
def test_runs_rejects_invalid_options(
    stage: Stage, capsys: pytest.CaptureFixture[str], options: list[str], message: str
) -> None:
    code, out, err = cli(capsys, "runs", *options)
    assert (code, out, err) == (2, "", message + "\n")


def test_runs_rejects_an_unknown_kind(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["runs", "--kind", "deploy"])
    assert exit_.value.code == 2
    assert "argument --kind: invalid choice: 'deploy'" in capsys.readouterr().err


def test_a_stage_that_is_not_deployed(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["runs"], ["report", "wave-prod-held"], ["compliance"]):
        code, out, err = cli(capsys, *command, "--stage", "staging")
        assert (code, out) == (2, "")
        assert err == (
            f"fleetpatch {command[0]}: no state table fleetpatch-staging-state: is stage "
            "staging deployed (in this account and region)?\n"
        )


# --- fleetpatch report RUN --------------------------------------------------------------------------


def test_report_prints_the_e_mail_text(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "report", "wave-prod-held")
    assert (code, err) == (0, "")
    report = wave_report("wave-prod-held", history["wave-prod-held"])
    assert out == email_body(
        report,
        report_url=f"s3://{BUCKET}/reports/wave-prod-held.html",
        console_url=console_url(REGION, report.execution_arn),
    )
    lines = out.splitlines()
    assert (
        lines[0] == "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )
    assert "Batch windows-apps (1 instance: 1 not reached) - HELD, not run" in lines
    assert "  gate FAILED: 1 of 2 instances failed" in lines
    assert lines[-2:] == [
        f"Report: s3://{BUCKET}/reports/wave-prod-held.html",
        f"Execution: {console_url(REGION, report.execution_arn)}",
    ]


def test_report_of_a_digest_lists_drifted_and_recovered(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "report", "digest-recent")
    assert (code, err) == (0, "")
    ended = history["digest-recent"]

    def stamp(when: datetime) -> str:
        return f"{when:%Y-%m-%d %H:%M} UTC"

    assert out.splitlines() == [
        "compliance digest: 2 drifted, 1 recovered",
        "",
        "Run:    digest-recent",
        f"Period: {stamp(ended - timedelta(hours=6))} to {stamp(ended)}",
        "",
        "Drifted (2):",
        f"  i-0eeeeeeeeeeeeeee1  prod/patch_prod_0600_batch_1     important  at "
        f"{stamp(ended - timedelta(hours=4))}, 3 changes",
        f"  i-0eeeeeeeeeeeeeee2  prod/patch_prod_0600_batch_2     critical   at "
        f"{stamp(ended - timedelta(hours=5))}",
        "",
        "Recovered (1):",
        f"  i-0fffffffffffffff1  test/patch_test_0600_batch_1     -          at "
        f"{stamp(ended - timedelta(hours=1))}",
    ]


def test_report_json_is_the_stored_json(
    history: dict[str, datetime], stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(capsys, "report", "launch-i-0ccccccccccccccc1", "--json")
    assert code == 0
    stored = stage.s3.get_object(Bucket=BUCKET, Key="reports/launch-i-0ccccccccccccccc1.json")
    assert out == stored["Body"].read().decode() + "\n"
    report = RunReport.model_validate_json(out)
    assert report == launch_report(
        "launch-i-0ccccccccccccccc1", history["launch-i-0ccccccccccccccc1"]
    )


def test_report_html_writes_the_stored_page(
    history: dict[str, datetime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "held.html"
    code, out, err = cli(capsys, "report", "wave-prod-held", "--html", str(target))
    assert (code, out, err) == (0, f"wrote {target}\n", "")
    assert target.read_text() == page("wave-prod-held")


def test_report_open_writes_a_temporary_page_and_opens_it(
    history: dict[str, datetime],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    opened: list[str] = []

    def browser(url: str) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr("webbrowser.open", browser)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code, out, err = cli(capsys, "report", "digest-recent", "--open")
    assert (code, err) == (0, "")
    [written] = tmp_path.glob("fleetpatch-report-digest-recent-*.html")
    assert out == f"wrote {written}\n"
    assert written.read_text() == page("digest-recent")
    assert opened == [written.resolve().as_uri()]
    # --open with --html opens that file
    target = tmp_path / "digest.html"
    code, out, _ = cli(capsys, "report", "digest-recent", "--open", "--html", str(target))
    assert (code, out) == (0, f"wrote {target}\n")
    assert opened[-1] == target.resolve().as_uri()


def test_report_open_without_a_browser_still_gives_the_path(
    history: dict[str, datetime],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr("webbrowser.open", lambda url: False)
    target = tmp_path / "r.html"
    code, out, err = cli(capsys, "report", "wave-prod-held", "--open", "--html", str(target))
    assert (code, out) == (0, f"wrote {target}\n")
    assert err == f"fleetpatch report: no browser to open; open {target} yourself\n"


def test_report_of_an_unknown_run(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "report", "wave-nope")
    assert (code, out) == (1, "")
    assert err == "fleetpatch report: no report for run wave-nope (see fleetpatch runs)\n"


def test_report_that_could_not_be_stored_shows_the_index(
    stage: Stage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ended = stage.now - timedelta(hours=1)
    stage.publish(
        wave_report("wave-unstored", ended),
        store_error="ClientError: An error occurred (AccessDenied) when calling the PutObject operation",
    )
    for options in ([], ["--json"], ["--html", str(tmp_path / "unused.html")]):
        code, out, err = cli(capsys, "report", "wave-unstored", *options)
        assert code == 1, options
        first, second = err.splitlines()
        assert first == (
            "fleetpatch report: storing the report of run wave-unstored failed: ClientError: An "
            "error occurred (AccessDenied) when calling the PutObject operation"
        )
        assert second in (
            "fleetpatch report: the report of run wave-unstored could not be stored; the index "
            "has the above",
            "fleetpatch report: no stored HTML page for run wave-unstored; the index has the above",
        )
        assert out.splitlines() == [
            "Run:         wave-unstored",
            "Kind:        wave",
            "Title:       prod wave",
            "Outcome:     held",
            "Subject:     prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached",
            "Environment: prod",
            f"Started:     {(ended - timedelta(minutes=42)).isoformat()}",
            f"Ended:       {ended.isoformat()}",
            "Instances:   3",
            "Failed:      1",
        ]
    assert not (tmp_path / "unused.html").exists()


def test_report_whose_object_is_gone(
    history: dict[str, datetime], stage: Stage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.s3.delete_object(Bucket=BUCKET, Key="reports/wave-prod-held.json")
    stage.s3.delete_object(Bucket=BUCKET, Key="reports/wave-prod-held.html")
    stage.dynamodb.update_item(  # announced: the index shows the message id
        TableName=TABLE,
        Key=keys.report_key("wave-prod-held"),
        UpdateExpression="SET message_id = :id",
        ExpressionAttributeValues={":id": {"S": "msg-1"}},
    )
    code, out, err = cli(capsys, "report", "wave-prod-held")
    assert code == 1
    assert err == (
        f"fleetpatch report: the report of run wave-prod-held is missing from "
        f"s3://{BUCKET}/reports/wave-prod-held.json; the index has the above\n"
    )
    assert out.splitlines()[-1] == "Announced:   SNS message msg-1"
    code, _, err = cli(capsys, "report", "wave-prod-held", "--html", str(tmp_path / "x.html"))
    assert code == 1
    assert err == (
        f"fleetpatch report: no stored HTML page for run wave-prod-held (expected at "
        f"s3://{BUCKET}/reports/wave-prod-held.html); the index has the above\n"
    )


def test_report_that_is_not_a_report(
    history: dict[str, datetime], stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.s3.put_object(Bucket=BUCKET, Key="reports/wave-prod-held.json", Body=b'{"kind": "wave"}')
    code, out, err = cli(capsys, "report", "wave-prod-held")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"fleetpatch report: s3://{BUCKET}/reports/wave-prod-held.json is not a readable report: "
    )
    assert err.endswith("(--json prints it as stored)\n")
    code, out, _ = cli(capsys, "report", "wave-prod-held", "--json")
    assert (code, out) == (0, '{"kind": "wave"}\n')


def test_report_json_and_html_exclude_each_other(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "report", "wave-prod-held", "--json", "--open")
    assert (code, out) == (2, "")
    assert err == (
        "fleetpatch report: --json prints the report, --html/--open write its page: choose one\n"
    )


def test_report_html_to_a_directory_that_does_not_exist(
    history: dict[str, datetime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "r.html"
    code, out, err = cli(capsys, "report", "wave-prod-held", "--html", str(target))
    assert (code, out) == (1, "")
    assert err == f"fleetpatch report: --html: cannot write {target} (No such file or directory)\n"


# --- fleetpatch compliance ------------------------------------------------------------------------


def record(
    stage: Stage,
    instance_id: str,
    status: str,
    ago: timedelta,
    *,
    environment: str | None = "prod",
    patch_group: str | None = "patch_prod_0600_batch_1",
    severity: str | None = None,
) -> None:
    stage.ledger().record(
        ComplianceChange(
            instance_id=instance_id,
            status=status,  # type: ignore[arg-type]
            baseline_id="pb-0c10e65780EXAMPLE",
            severity=severity,
            event_time=stage.now - ago,
            event_id=f"{instance_id}-{ago.total_seconds():.0f}",
            patch_group=patch_group,
            environment=environment,
        )
    )


@pytest.fixture
def fleet(stage: Stage) -> Stage:
    week = timedelta(days=7)
    record(stage, "i-01", "compliant", week)
    record(stage, "i-02", "compliant", week)
    # compliant for a week, drifting for the last 2 days and 3 hours
    record(stage, "i-03", "compliant", week)
    record(stage, "i-03", "non_compliant", timedelta(days=2, hours=3), severity="critical")
    record(stage, "i-03", "non_compliant", timedelta(hours=1), severity="critical")  # still
    record(stage, "i-04", "non_compliant", timedelta(minutes=45), severity="important")
    record(stage, "i-05", "compliant", week, patch_group="patch_prod_0600_batch_2")
    # drifted, then recovered: compliant
    record(
        stage,
        "i-06",
        "non_compliant",
        week,
        environment="test",
        patch_group="patch_test_0600_batch_1",
    )
    record(
        stage,
        "i-06",
        "compliant",
        timedelta(days=1),
        environment="test",
        patch_group="patch_test_0600_batch_1",
    )
    record(
        stage,
        "i-07",
        "non_compliant",
        timedelta(hours=5, minutes=7),
        environment="test",
        patch_group="patch_test_0600_batch_1",
        severity="medium",
    )
    return stage


def test_compliance_per_environment_and_patch_group(
    fleet: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "compliance")
    assert (code, err) == (0, "")
    lines = [line.split() for line in out.splitlines()]
    since_03 = minute(fleet.now - timedelta(days=2, hours=3)).split()
    since_04 = minute(fleet.now - timedelta(minutes=45)).split()
    since_07 = minute(fleet.now - timedelta(hours=5, minutes=7)).split()
    header = [
        "patch",
        "group",
        "compliant",
        "non-compliant",
        "drifting",
        "since",
        "(UTC)",
        "for",
        "severity",
    ]
    assert lines == [
        ["prod:", "3", "compliant,", "2", "non-compliant"],
        header,
        ["patch_prod_0600_batch_1", "2", "2"],
        ["i-03", *since_03, "2d", "3h", "critical"],
        ["i-04", *since_04, "45m", "important"],
        ["patch_prod_0600_batch_2", "1", "0"],
        [],
        ["test:", "1", "compliant,", "1", "non-compliant"],
        header,
        ["patch_test_0600_batch_1", "1", "1"],
        ["i-07", *since_07, "5h", "07m", "medium"],
        [],
        ["total:", "7", "instances,", "4", "compliant,", "3", "non-compliant"],
    ]
    # drifting instances sit under their patch group, indented
    assert out.splitlines()[3].startswith("  i-03")


def test_compliance_of_one_environment(fleet: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "compliance", "--environment", "test")
    assert code == 0
    assert out.splitlines()[0] == "test: 1 compliant, 1 non-compliant"
    assert "prod" not in out
    assert out.splitlines()[-1] == "total: 2 instances, 1 compliant, 1 non-compliant"
    code, out, _ = cli(capsys, "compliance", "--environment", "staging")
    assert (code, out) == (
        0,
        "no compliance recorded for environment staging (recorded: prod, test)\n",
    )


def test_compliance_json(fleet: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "compliance", "--json", "--environment", "prod")
    assert code == 0
    result = json.loads(out)
    assert result["stage"] == "default"
    assert result["total"] == {"instances": 5, "compliant": 3, "non_compliant": 2}
    batch_1, batch_2 = result["groups"]
    assert batch_2 == {
        "environment": "prod",
        "patch_group": "patch_prod_0600_batch_2",
        "compliant": 1,
        "non_compliant": 0,
        "drifting": [],
    }
    assert (batch_1["compliant"], batch_1["non_compliant"]) == (2, 2)
    first, second = batch_1["drifting"]
    assert first["instance_id"] == "i-03"
    assert first["since"] == (fleet.now - timedelta(days=2, hours=3)).isoformat()
    assert first["severity"] == "critical"
    assert first["baseline_id"] == "pb-0c10e65780EXAMPLE"
    assert 2 * 86400 + 3 * 3600 <= first["drifting_seconds"] < 2 * 86400 + 3 * 3600 + 300
    assert second["instance_id"] == "i-04"


def test_compliance_of_instances_without_environment_or_group(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    record(stage, "i-09", "non_compliant", timedelta(minutes=5), environment=None, patch_group=None)
    code, out, _ = cli(capsys, "compliance")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "(no environment): 0 compliant, 1 non-compliant"
    assert lines[2].split()[:5] == ["(no", "patch", "group)", "0", "1"]
    assert lines[3].split()[-2:] == ["5m", "-"]
    assert lines[-1] == "total: 1 instance, 0 compliant, 1 non-compliant"


def test_compliance_before_any_event(stage: Stage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "compliance")
    assert (code, err) == (0, "")
    assert out.startswith("no compliance events recorded yet in stage default: ")
    code, out, _ = cli(capsys, "compliance", "--json")
    result = json.loads(out)
    assert (code, result["total"], result["groups"]) == (
        0,
        {"instances": 0, "compliant": 0, "non_compliant": 0},
        [],
    )


# --- the options every stage command shares -------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["runs"],
        ["report", "RUN"],
        ["compliance"],
        ["wave", "status"],
        ["wave", "start", "prod"],
        ["wave", "resume", "RUN"],
        ["wave", "stop", "RUN"],
    ],
)
def test_every_stage_command_takes_the_aws_options(argv: list[str]) -> None:
    args = build_parser().parse_args(
        [
            *argv,
            "--stage",
            "prod",
            "--endpoint-url",
            "http://127.0.0.1:4566",
            "--region",
            "us-east-1",
            "--profile",
            "ops",
        ]
    )
    assert (args.stage, args.endpoint_url, args.region, args.profile) == (
        "prod",
        "http://127.0.0.1:4566",
        "us-east-1",
        "ops",
    )


def test_wave_commands_still_reach_the_stage(
    stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "wave", "start", "prod")
    assert (code, out) == (2, "")
    assert err == (
        "fleetpatch wave start: no compiled policy /fleetpatch/default/policy: "
        "is stage default deployed?\n"
    )
    assert run_wave_command.__module__ == "fleetpatch_cli.wave_cmd"
