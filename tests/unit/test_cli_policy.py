"""``fleetpatch policy check|render|schema``: exit codes, line numbers, staleness."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from fleetpatch_authoring.render import render_policy
from fleetpatch_cli import policy_cmd
from fleetpatch_cli.main import main

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "policy" / "fleet.yaml"
RENDERED = REPO / "policy" / "rendered" / "fleet-policy.yaml"
SCHEMA = REPO / "policy" / "fleet.schema.json"


def test_check_passes_on_the_example_with_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_cmd.check(EXAMPLE, now=datetime(2026, 11, 23, tzinfo=UTC)) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: valid" in out
    # the next runs: first Saturday of December 2026 (CET, UTC+1) and the third
    assert "next 2026-12-05 06:00 CET (05:00 UTC)" in out
    assert "next 2026-12-19 06:00 CET (05:00 UTC)" in out
    assert "2. windows-apps [patch_prod_0600_batch_2]" in out
    assert "gate on linux-databases: <= 0 failed, all compliant, after 30 min bake" in out
    assert len(out.splitlines()) <= 25  # one screen


BROKEN_EDITS = [
    # (text to replace, replacement, the line and error the check must print)
    ("cron(0 6 ? * SAT#1 *)", "cron(0 6 ? * SAT#1)", "waves.test.schedule.cron: "),
    (
        "timezone: Europe/Zurich}\n    window: {duration_hours: 4, cutoff_hours: 1}\n    batches:\n      - name: linux-databases\n        patch_groups: [patch_prod",
        "timezone: Europe/Zurch}\n    window: {duration_hours: 4, cutoff_hours: 1}\n    batches:\n      - name: linux-databases\n        patch_groups: [patch_prod",
        "waves.prod.schedule.timezone: ",
    ),
    (
        "webhook_secret: fleetpatch/slack-webhook",
        "webhook_secret: https://hooks.slack.com/services/T0/B0/x",
        "notifications.slack.webhook_secret: ",
    ),
]


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_a_broken_copy_fails_with_every_error_and_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text()
    expected = []
    for old, new, field in BROKEN_EDITS:
        assert old in text, old
        text = text.replace(old, new, 1)
        expected.append((_line_of(text, new.split("\n")[0]), field))
    broken = tmp_path / "fleet.yaml"
    broken.write_text(text)
    assert main(["policy", "check", str(broken)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "3 errors"
    got = sorted(err[:-1])
    want = sorted(f"{broken}:{line}: {field}" for line, field in expected)
    assert len(got) == 3
    for line, prefix in zip(got, want, strict=True):
        assert line.startswith(prefix), (line, prefix)


def test_relation_errors_point_at_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = EXAMPLE.read_text().replace(
        "patch_groups: [patch_prod_0600_batch_2]\n        max_concurrency: 1",
        "patch_groups: [patch_prod_0600_batch_2, patch_test_0600_batch_2]\n        max_concurrency: 1",
    )
    broken = tmp_path / "fleet.yaml"
    broken.write_text(text)
    assert main(["policy", "check", str(broken)]) == 2
    line = _line_of(text, "patch_groups: [patch_prod_0600_batch_2, patch_test")
    assert capsys.readouterr().err.splitlines()[0] == (
        f"{broken}:{line}: waves.prod.batches.1.patch_groups.1: patch_test_0600_batch_2 is "
        "already in wave test batch windows-apps: a group is in one batch"
    )


def test_yaml_syntax_error_has_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text("version: 1\nenvironments: {test: [\n")
    assert main(["policy", "check", str(broken)]) == 2
    assert capsys.readouterr().err.startswith(f"{broken}:")


def test_a_control_character_is_one_error_line_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text("version: 1\nenvironments: \x98\n")
    assert main(["policy", "check", str(broken)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{broken}:2: yaml: unacceptable character #x0098: special characters are not allowed",
        "1 error",
    ]


def test_a_key_with_a_line_breaking_character_stays_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "\x1c" (a file separator) ends a line for str.splitlines(); YAML allows it in a key.
    broken = tmp_path / "fleet.yaml"
    data = yaml.safe_load(EXAMPLE.read_text())
    data["launch"]["on\x1cfailure"] = "abandon"
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["policy", "check", str(broken)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith(": launch.on\\x1cfailure: unknown key (did you mean on_failure?)")
    assert lines[1] == "1 error"


def test_a_key_with_a_space_is_printed_as_one_word(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `{action* suspend-launch}` is a key with a space: the field stays one word to parse.
    broken = tmp_path / "fleet.yaml"
    data = yaml.safe_load(EXAMPLE.read_text())
    data["launch"]["churn"]["action* suspend-launch"] = None
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    assert main(["policy", "check", str(broken)]) == 2
    [line, total] = capsys.readouterr().err.splitlines()
    assert line.endswith(
        ": launch.churn.action*\\x20suspend-launch: unknown key (known here: action, after)"
    )
    assert total == "1 error"


def test_yaml_nested_too_deeply_is_an_error_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text("- " * 5000 + "x")
    assert main(["policy", "check", str(broken)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == f"{broken}: yaml: nested too deeply to read"


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(tmp_path / "nope.yaml")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_the_committed_rendering_is_current() -> None:
    # The same check `make lint-policy` runs: edit the policy, run `make policy`.
    expected = render_policy(
        policy_cmd.load_policy(EXAMPLE), source="policy/fleet.yaml", source_text=EXAMPLE.read_text()
    )
    assert RENDERED.read_text() == expected


def test_render_check_detects_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    output = tmp_path / "fleet-policy.yaml"
    assert main(["policy", "render", "policy/fleet.yaml", "-o", str(output)]) == 0
    assert main(["policy", "render", "--check", "policy/fleet.yaml", "-o", str(output)]) == 0
    output.write_text(output.read_text().replace("SAT#1", "SAT#2"))
    assert main(["policy", "render", "--check", "policy/fleet.yaml", "-o", str(output)]) == 1
    assert "is stale" in capsys.readouterr().err


def test_render_refuses_an_invalid_policy(tmp_path: Path) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text(EXAMPLE.read_text().replace("SAT#1", "SAT#9"))
    output = tmp_path / "out.yaml"
    assert main(["policy", "render", str(broken), "-o", str(output)]) == 2
    assert not output.exists()


def test_rendered_stack_shape() -> None:
    stack = yaml.safe_load(RENDERED.read_text())
    resources = stack["Resources"]
    baselines = {k: v for k, v in resources.items() if v["Type"] == "AWS::SSM::PatchBaseline"}
    assert len(baselines) == 12  # six operating systems, two environments
    al_prod = baselines["BaselineProdAmazonLinux2023"]["Properties"]
    assert al_prod["PatchGroups"] == ["patch_prod_0600_batch_1", "patch_prod_0600_batch_2"]
    assert al_prod["RejectedPatches"] == ["system-release.*"]
    assert {r["ApproveAfterDays"] for r in al_prod["ApprovalRules"]["PatchRules"]} == {14}
    test_rules = baselines["BaselineTestWindows"]["Properties"]["ApprovalRules"]["PatchRules"]
    assert {r["ApproveAfterDays"] for r in test_rules} == {0}
    assert test_rules[0]["PatchFilterGroup"]["PatchFilters"][2]["Key"] == "MSRC_SEVERITY"
    window = resources["WindowProd"]["Properties"]
    assert window["Schedule"] == "cron(0 6 ? * SAT#3 *)"
    assert window["ScheduleTimezone"] == "Europe/Zurich"
    # The window patches nothing itself: its one task starts the wave's run, which patches
    # every batch with the control plane's membership rule.
    task = resources["WindowProdTask"]["Properties"]
    assert (task["TaskType"], task["TaskArn"]) == ("LAMBDA", {"Ref": "StartWaveFunctionArn"})
    assert task["ServiceRoleArn"] == {"Ref": "WindowTaskRoleArn"}
    assert "Targets" not in task
    payload = task["TaskInvocationParameters"]["MaintenanceWindowLambdaParameters"]["Payload"]
    assert payload == {
        "Fn::Sub": '{"source":"fleetpatch.window","wave":"prod","windowId":"${WindowProd}"}'
    }
    assert {"Key": "fleetpatch:stage", "Value": {"Ref": "Stage"}} in window["Tags"]
    assert not any(v["Type"] == "AWS::SSM::MaintenanceWindowTarget" for v in resources.values())
    # only the first batch has a window; later batches are the control plane's
    assert not any("windows-apps" in str(v["Properties"].get("Name")) for v in resources.values())


def test_schema_file_is_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "schema", "--check", "-o", str(SCHEMA)]) == 0
