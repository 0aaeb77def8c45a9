"""``fleetpatch local up`` refuses what it cannot serve safely, with exit 2 and one line."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import boto3
import pytest
from moto import mock_aws

from fleetpatch_cli.main import main
from localcloud.cloud import LocalCloud
from localcloud.runner import check_windows
from localcloud.scenario import Scenario, ScenarioError


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["--host", "0.0.0.0"], "0.0.0.0"),
        (["--time-factor", "0"], "time factor"),
    ],
)
def test_local_up_refuses_with_exit_2(
    capsys: pytest.CaptureFixture[str], arguments: list[str], said: str
) -> None:
    assert main(["local", "up", *arguments]) == 2
    error = capsys.readouterr().err
    assert error.startswith("fleetpatch local up:")
    assert said in error


def test_local_up_refuses_a_start_without_a_zone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["local", "up", "--start", "2026-11-07T04:00"])
    assert exit_.value.code == 2
    assert "--start: '2026-11-07T04:00' has no time zone" in capsys.readouterr().err


def test_local_up_refuses_an_invalid_scenario_before_it_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: x\nfleet: [{name: a, os: UBUNTUU}]\n")
    assert main(["local", "up", "--port", "0", "--scenario", str(scenario)]) == 2
    error = capsys.readouterr().err
    assert f"{scenario}:2: fleet.0.os:" in error
    assert "did you mean UBUNTU?" in error
    assert "Traceback" not in error


def test_a_scenario_naming_no_window_is_refused_before_it_plays() -> None:
    # Given a stack with the test wave's window, and a scenario with a typo in its name
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-central-1")
        ssm.create_maintenance_window(
            Name="fleetpatch-default-wave-test",
            Schedule="cron(0 6 ? * SAT#1 *)",
            Duration=4,
            Cutoff=1,
            AllowUnassociatedTargets=False,
        )
        cloud = cast(LocalCloud, SimpleNamespace(client=lambda service: ssm))
        scenario = Scenario.model_validate(
            {
                "name": "typo",
                "steps": [
                    {"note": {"text": "first"}},
                    {"run_window": {"window": "fleetpatch-default-wave-tst"}},
                ],
            }
        )
        # When the runner checks it, right after the deploy
        with pytest.raises(ScenarioError) as raised:
            check_windows(cloud, scenario)
    # Then the step and the close match are named
    assert raised.value.field == "steps.1.run_window.window"
    assert str(raised.value) == (
        "steps.1.run_window.window: no maintenance window fleetpatch-default-wave-tst in the "
        "stack (did you mean fleetpatch-default-wave-test?)"
    )
