"""``fleetpatch compliance`` on a moto stage."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest

from tests.unit.cli_reports.stage import Stage, cli, minute, record

# --- fleetpatch compliance ------------------------------------------------------------------------


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


@pytest.mark.parametrize("columns", [120, 40])
def test_compliance_never_cuts_an_instance_id_on_a_terminal(
    stage: Stage,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    # Given a drifting instance, and a terminal of 120 or 40 columns
    record(stage, "i-0123456789abcdef0", "non_compliant", timedelta(hours=5), severity="critical")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich: stdout is a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", str(columns))
    # When the compliance is shown
    code, out, _ = cli(capsys, "compliance")
    out = re.sub(r"\x1b\[[0-9;]*m", "", out)
    # Then the instance id is whole: in the table when it fits, else a line per instance
    assert code == 0
    assert "\u2026" not in out, out
    [line] = [line for line in out.splitlines() if "i-0123456789abcdef0" in line]
    if columns == 40:
        assert line.startswith("  i-0123456789abcdef0 since ")
        assert out.splitlines()[0] == "prod/patch_prod_0600_batch_1: 0 compliant, 1 non-compliant"
