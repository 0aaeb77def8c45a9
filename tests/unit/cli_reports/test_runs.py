"""``fleetpatch runs`` on a moto stage, and the options every stage command shares."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pytest

from fleetpatch.contracts.names import policy_parameter_name
from fleetpatch.contracts.s3 import report_keys
from fleetpatch_cli.main import build_parser, main
from fleetpatch_cli.wave_cmd import run_wave_command
from tests.unit.cli_reports.stage import Stage, cli, minute, wave_report

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
    started = history["wave-prod-held"] - timedelta(minutes=42)
    assert item == {
        "run_id": "wave-prod-held",
        "kind": "wave",
        "title": "prod wave",
        "outcome": "held",
        "subject": "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached",
        "environment": "prod",
        "started_at": started.isoformat(),
        "ended_at": history["wave-prod-held"].isoformat(),
        "instances": 3,
        "failed": 1,
        "json_key": report_keys("wave-prod-held", started)[0],
        "html_key": report_keys("wave-prod-held", started)[1],
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


LONG_RUN = "launch-i-0123456789abcdef0-fleetpatch-default-asg-web-20261205T050000Z"


@pytest.mark.parametrize("columns", [200, 80, 40])
def test_runs_never_cuts_a_run_id_on_a_terminal(
    stage: Stage,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    # Given a run id of 70 characters and a terminal of 200, 80 or 40 columns
    stage.publish(wave_report(LONG_RUN, stage.now - timedelta(hours=1)))
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stdout is a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(columns))
    # When the runs are listed
    code, out, _ = cli(capsys, "runs")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)  # bold
    # Then the id is whole on one line, to be pasted: a table when it fits, else one block each
    assert code == 0
    assert "\u2026" not in out, out
    [line] = [line for line in out.splitlines() if LONG_RUN in line]
    if columns == 200:
        assert line.split()[3] == LONG_RUN
    else:
        assert line == LONG_RUN
        assert out.splitlines()[1].startswith("  ")


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
        f"fleetpatch wave start: no compiled policy {policy_parameter_name('default')}: "
        "is stage default deployed?\n"
    )
    assert run_wave_command.__module__ == "fleetpatch_cli.wave_cmd"
