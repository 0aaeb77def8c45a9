"""``fleetpatch local up`` refuses what it cannot serve safely, with exit 2 and one line."""

from __future__ import annotations

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
