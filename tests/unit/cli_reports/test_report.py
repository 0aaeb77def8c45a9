"""``fleetpatch report RUN`` on a moto stage: output, exit codes, every error path."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fleetpatch.contracts import keys
from fleetpatch.contracts.s3 import report_keys
from fleetpatch.report_text import console_url, email_body
from fleetpatch.reports import (
    RunReport,
)
from tests.unit.cli_reports.stage import (
    BUCKET,
    REGION,
    TABLE,
    Stage,
    cli,
    launch_report,
    page,
    wave_report,
)

# --- fleetpatch report RUN --------------------------------------------------------------------------


def held_keys(history: dict[str, datetime]) -> tuple[str, str]:
    """Where the held wave's report is: the day its run started (42 minutes before its end)."""
    return report_keys("wave-prod-held", history["wave-prod-held"] - timedelta(minutes=42))


def test_report_prints_the_e_mail_text(
    history: dict[str, datetime], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "report", "wave-prod-held")
    assert (code, err) == (0, "")
    report = wave_report("wave-prod-held", history["wave-prod-held"])
    assert out == email_body(
        report,
        report_url=f"s3://{BUCKET}/{held_keys(history)[1]}",
        console_url=console_url(REGION, report.execution_arn),
    )
    lines = out.splitlines()
    assert (
        lines[0] == "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )
    assert "Batch windows-apps (1 instance: 1 not reached) - HELD, not run" in lines
    assert "  gate FAILED: 1 of 2 instances failed" in lines
    assert lines[-2:] == [
        f"Report: s3://{BUCKET}/{held_keys(history)[1]}",
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
    stored = stage.s3.get_object(
        Bucket=BUCKET,
        Key=report_keys(
            "launch-i-0ccccccccccccccc1",
            history["launch-i-0ccccccccccccccc1"] - timedelta(minutes=6),
        )[0],
    )
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
    stage.s3.delete_object(Bucket=BUCKET, Key=held_keys(history)[0])
    stage.s3.delete_object(Bucket=BUCKET, Key=held_keys(history)[1])
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
        f"s3://{BUCKET}/{held_keys(history)[0]}; the index has the above\n"
    )
    assert out.splitlines()[-1] == "Announced:   SNS message msg-1"
    code, _, err = cli(capsys, "report", "wave-prod-held", "--html", str(tmp_path / "x.html"))
    assert code == 1
    assert err == (
        f"fleetpatch report: no stored HTML page for run wave-prod-held (expected at "
        f"s3://{BUCKET}/{held_keys(history)[1]}); the index has the above\n"
    )


def test_report_that_is_not_a_report(
    history: dict[str, datetime], stage: Stage, capsys: pytest.CaptureFixture[str]
) -> None:
    stage.s3.put_object(Bucket=BUCKET, Key=held_keys(history)[0], Body=b'{"kind": "wave"}')
    code, out, err = cli(capsys, "report", "wave-prod-held")
    assert (code, out) == (1, "")
    assert err.startswith(
        f"fleetpatch report: s3://{BUCKET}/{held_keys(history)[0]} is not a readable report: "
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
