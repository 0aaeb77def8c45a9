"""``fleetpatch local up`` refuses what it cannot serve safely, with exit 2 and one line."""

from __future__ import annotations

import pytest

from fleetpatch_cli.main import main


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
