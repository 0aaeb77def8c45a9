"""How ``fleetpatch`` behaves as a command: version, completion, help, --json, prod confirmation."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch.contracts.names import (
    gated_wave_machine_name,
    policy_parameter_name,
    state_table_name,
)
from fleetpatch_cli.completion import command_words, script
from fleetpatch_cli.main import build_parser, main
from fleetpatch_cli.policy_cmd import load_policy
from tests.unit.conftest import create_state_table

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "policy" / "fleet.yaml"
REGION = "eu-central-1"


def parsers(
    parser: argparse.ArgumentParser, path: str = "fleetpatch"
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from parsers(child, f"{path} {name}")


ALL = dict(parsers(build_parser()))


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == "fleetpatch 0.1.0\n"


@pytest.mark.parametrize("path", list(ALL))
def test_every_help_has_examples_and_shows_defaults(path: str) -> None:
    parser = ALL[path]
    text = parser.format_help()
    assert "\nexamples:\n  fleetpatch " in text, path
    for action in parser._actions:
        if action.option_strings and action.default not in (None, False, argparse.SUPPRESS):
            assert f"default: {action.default}" in " ".join(text.split()), (path, action.dest)
        if not isinstance(action, argparse._SubParsersAction):
            assert action.help, (path, action.dest)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(
    ("typed", "offered"),
    [
        ("fleetpatch wa", "wave"),
        ("fleetpatch wave st", "start status stop"),
        ("fleetpatch wave start --st", "--stage"),
        ("fleetpatch --region eu-central-1 po", "policy"),
        ("fleetpatch completion ", "bash zsh --help"),
    ],
)
def test_bash_completion_offers_the_next_words(typed: str, offered: str) -> None:
    words = typed.split(" ")
    program = (
        script(build_parser(), "bash")
        + f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        + '_fleetpatch; echo "${COMPREPLY[*]}"\n'
    )
    done = subprocess.run(
        ["bash", "--norc", "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == offered.split()


def test_completion_knows_every_command() -> None:
    words = command_words(build_parser())
    assert set(words) == {path.removeprefix("fleetpatch").strip() for path in ALL}
    assert "--json" in words["wave status"]


# --- --json ---------------------------------------------------------------------------------------


def test_policy_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(EXAMPLE), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["file"], data["valid"]) == (str(EXAMPLE), True)
    assert set(data["nextRuns"]) == set(data["policy"]["waves"]) == {"test", "prod", "web"}


def test_policy_check_json_of_an_invalid_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "fleet.yaml"
    broken.write_text(EXAMPLE.read_text().replace("timezone: Europe/Zurich}", "timezone: Mars}", 1))
    assert main(["policy", "check", str(broken), "--json"]) == 2
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert (data["valid"], err) == (False, "")
    [error] = data["errors"]
    assert error["field"] == "waves.test.schedule.timezone"
    assert isinstance(error["line"], int)


@pytest.fixture
def stage() -> Iterator[None]:
    """A deployed stage as the wave commands read it: policy, state machine, state table."""
    with mock_aws():
        ssm = boto3.client("ssm", region_name=REGION)
        ssm.put_parameter(
            Name=policy_parameter_name("default"),
            Type="String",
            Value=load_policy(EXAMPLE).runtime().model_dump_json(by_alias=True),
        )
        boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name=gated_wave_machine_name("default"),
            definition=json.dumps({"StartAt": "W", "States": {"W": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/fleetpatch",
        )
        create_state_table(
            boto3.client("dynamodb", region_name=REGION), state_table_name("default")
        )
        yield


def wave(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    code = main(["wave", *argv, "--region", REGION])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.startswith(("{", "[")) else out, err


@pytest.mark.usefixtures("stage")
def test_wave_commands_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, started, _ = wave(capsys, "start", "test", "--json")
    assert code == 0
    assert started["wave"] == "test"
    assert started["run"].startswith("manual-test-")
    code, listed, _ = wave(capsys, "status", "--json")
    assert [r["run"] for r in listed["runs"]] == [started["run"]]
    code, one, _ = wave(capsys, "status", started["run"], "--json")
    assert (one["run"], one["wave"], one["gates"], one["operatorRecords"]) == (
        started["run"],
        "test",
        [],
        [],
    )
    code, stopped, _ = wave(capsys, "stop", started["run"], "--reason", "test", "--json")
    assert stopped["run"] == started["run"]
    assert stopped["done"][0] == f"stopped {started['run']}"


# --- production asks first ------------------------------------------------------------------------


@pytest.mark.usefixtures("stage")
def test_starting_a_prod_wave_without_a_terminal_needs_yes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = wave(capsys, "start", "prod")
    assert (code, out) == (2, "")
    assert err == (
        "fleetpatch wave start: start wave prod in stage default touches production (wave "
        "prod, environment prod): confirm with --yes\n"
    )
    code, out, _ = wave(capsys, "start", "prod", "--yes")
    assert code == 0
    assert out.startswith("started manual-prod-")
    # Stopping (or resuming) a run of it asks too
    run = out.split()[-1]
    code, out, err = wave(capsys, "stop", run, "--reason", "wrong list")
    assert (code, out) == (2, "")
    assert err.startswith(f"fleetpatch wave stop: stop run {run} of wave prod touches production")


@pytest.mark.usefixtures("stage")
@pytest.mark.parametrize(("answer", "code"), [("n", 2), ("", 2), ("y", 0)])
def test_starting_a_prod_wave_asks_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    asked = []
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or answer)
    assert wave(capsys, "start", "prod")[0] == code
    assert asked == [
        "start wave prod in stage default touches production (wave prod, environment prod). "
        "Go on? [y/N] "
    ]


@pytest.mark.usefixtures("stage")
def test_a_test_wave_starts_without_asking(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert wave(capsys, "start", "test")[0] == 0


@pytest.mark.usefixtures("stage")
def test_an_unknown_wave_names_the_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = wave(capsys, "start", "prd", "--yes")
    assert (code, out) == (2, "")
    assert err == (
        "fleetpatch wave start: no wave prd in the deployed policy (waves: test, prod, web) "
        "(did you mean prod?)\n"
    )
