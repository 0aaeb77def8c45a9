"""An ordinary problem is one line, ``fleetpatch CMD: why``, exit 2; a bug keeps its traceback.

One test per error path the operators met (issue 20): no credentials, no region, an
unreachable endpoint, a missing or invalid scenario, a missing template, a second
concurrent resume, a reader that closes the pipe.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from botocore.httpsession import URLLib3Session
from botocore.stub import Stubber
from moto import mock_aws
from pydantic import ValidationError

from fleetpatch.contracts import keys
from fleetpatch.contracts.names import state_table_name
from fleetpatch.policy import CompiledPolicy
from fleetpatch_cli import boundary, wave_cmd
from fleetpatch_cli.main import build_parser, main
from tests.unit.conftest import create_state_table

ROOT = Path(__file__).parents[2]
REGION = "eu-central-1"
STAGE_COMMANDS = [
    ["plan", "--policy", str(ROOT / "policy" / "fleet.yaml")],
    ["wave", "start", "prod", "--yes"],
    ["wave", "status"],
    ["wave", "resume", "RUN", "--approve", "--reason", "ok", "--yes"],
    ["runs"],
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credentials, no region, no profile: an operator's fresh machine."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.usefixtures("no_aws_config")
@pytest.mark.parametrize("argv", STAGE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_no_credentials(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, *argv, "--region", REGION)
    name = " ".join(w for w in argv[:2] if not w.startswith("-") and w != "RUN")
    assert (code, out) == (2, "")
    assert err == (
        f"fleetpatch {name}: no AWS credentials: pass --profile, set AWS_PROFILE, or sign in "
        "(aws configure, aws sso login)\n"
    )


@pytest.mark.usefixtures("no_aws_config")
@pytest.mark.parametrize("argv", STAGE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_no_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.endswith(
        ": no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)\n"
    )
    assert len(err.splitlines()) == 1


@pytest.mark.usefixtures("no_aws_config")
def test_an_unknown_profile(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "wave", "status", "--profile", "ops", "--region", REGION)
    assert (code, err) == (2, "fleetpatch wave status: no AWS profile ops in your AWS config\n")


@pytest.mark.parametrize("argv", STAGE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_endpoint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    # Given an endpoint that refuses connections (what botocore raises for one)
    def refused(self: URLLib3Session, request: Any) -> Any:
        raise EndpointConnectionError(endpoint_url=request.url)

    monkeypatch.setattr(URLLib3Session, "send", refused)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    # When a command that reads the stage runs against it
    code, out, err = run(
        capsys, *argv, "--endpoint-url", "http://127.0.0.1:4566", "--region", REGION
    )
    # Then one line names the endpoint, with what to check
    assert (code, out) == (2, "")
    assert "cannot reach http://127.0.0.1:4566/" in err
    assert "fleetpatch local up" in err
    assert len(err.splitlines()) == 1


def test_a_missing_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = run(capsys, "plan", "--local-fleet", str(missing))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        f"{missing}: file: cannot read (No such file or directory)",
        "fleetpatch plan: 1 error",
    ]


def test_an_invalid_scenario_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsteps:\n  - run_windw: {window: x}\n")
    code, out, err = run(capsys, "plan", "--local-fleet", str(broken))
    assert (code, out) == (2, "")
    lines = err.splitlines()
    assert lines[0].startswith(f"{broken}:3: steps.0: ")
    assert lines[-1] == "fleetpatch plan: 1 error"


def test_local_run_with_a_missing_template(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "template.yaml"
    scenario = str(ROOT / "scenarios" / "demo.yaml")
    code, out, err = run(capsys, "local", "run", scenario, "--template", str(missing))
    assert (code, out) == (2, "")
    assert err == f"fleetpatch local run: cannot read {missing}: no such file (--template)\n"


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly() -> None:
    # Given stdout is a pipe nobody reads any more (`fleetpatch ... --json | head`)
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "fleetpatch_cli.main", "completion", "bash"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(writer)
    # Then no traceback, and the exit code says it did not finish
    assert (done.returncode, done.stderr) == (2, "")


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_: object) -> int:
        raise KeyError("a bug")

    args = build_parser().parse_args(["completion", "bash"])
    with pytest.raises(KeyError, match="a bug"):
        boundary.run_command(args, broken)


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("AccessDeniedException", "access denied to StartExecution: not allowed"),
        ("ExpiredTokenException", "your AWS credentials have expired: sign in again"),
        ("UnrecognizedClientException", "AWS does not accept your credentials"),
        ("ThrottlingException", "AWS throttled StartExecution: try again in a minute"),
        ("InvalidArn", "AWS refused StartExecution: InvalidArn: not allowed"),
    ],
)
def test_aws_refusals_are_named(code: str, said: str) -> None:
    error = ClientError({"Error": {"Code": code, "Message": "not allowed"}}, "StartExecution")
    assert (boundary.explain(error) or "").startswith(said)


# --- a second concurrent wave resume -----------------------------------------------------------

HELD = "wave-prod-20261205T050000Z"


@pytest.fixture
def held_run() -> Iterator[dict[str, Any]]:
    """A moto account with the state table, a run held before its second batch."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, state_table_name("default"))
        dynamodb.put_item(
            TableName=state_table_name("default"),
            Item={**keys.wave_run_key(HELD), "held_before": {"S": "apps"}},
        )
        sfn = boto3.client("stepfunctions", region_name=REGION)
        clients = {
            "dynamodb": dynamodb,
            "sts": boto3.client("sts", region_name=REGION),
            "stepfunctions": sfn,
        }
        yield clients


def test_a_second_concurrent_resume_is_told_who_won(
    held_run: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a held run that another operator resumes at the same moment: Step Functions
    # already has the resumed run's name when this resume starts it
    arn = f"arn:aws:states:{REGION}:123456789012:execution:fleetpatch-default-gated-wave:{HELD}"
    stub = Stubber(held_run["stepfunctions"])
    stub.add_response(
        "describe_execution",
        {
            "executionArn": arn,
            "stateMachineArn": arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            "status": "FAILED",
            "error": "GateFailed",
            "startDate": datetime(2026, 12, 5, 5, tzinfo=UTC),
            "input": json.dumps({"wave": "test", "batches": [{"name": "dbs"}, {"name": "apps"}]}),
        },
    )
    stub.add_client_error("start_execution", "ExecutionAlreadyExists", http_status_code=400)
    args = build_parser().parse_args(
        ["wave", "resume", HELD, "--approve", "--reason", "checks green", "--yes"]
    )
    # When this operator resumes it
    with stub:
        code = boundary.run_command(
            args, lambda a: wave_cmd.run_wave_command(a, held_run.__getitem__)
        )
    # Then one line says someone else resumed it, and where to look
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f"fleetpatch wave resume: run {HELD} was resumed as {HELD}-resume-1 by someone else "
        f"at the same time; see fleetpatch wave status {HELD}-resume-1\n"
    )


def test_an_http_failure_is_named() -> None:
    assert boundary.explain(HTTPClientError(error="connection reset")) == (
        "cannot talk to AWS: connection reset"
    )


def test_a_deployed_policy_this_cli_cannot_read_is_one_line() -> None:
    # An older or newer control plane's compiled policy (the SSM parameter) is not a bug here
    with pytest.raises(ValidationError) as raised:
        CompiledPolicy.model_validate_json('{"version": 1, "waves": {"prod": {}}}')
    said = boundary.explain(raised.value) or ""
    assert said.startswith("CompiledPolicy is not valid: waves.prod.")
    assert "\n" not in said


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    error = PermissionError(13, "Permission denied", str(tmp_path / "fleet.yaml"))
    assert boundary.explain(error) == f"cannot read {tmp_path / 'fleet.yaml'}: Permission denied"
