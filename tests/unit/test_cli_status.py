"""``fleetpatch status``: an ordinary problem is one line and exit 2, never a traceback.

The overview itself is tested against the local cloud (tests/workflows/test_status.py).
"""

from __future__ import annotations

import argparse

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from fleetpatch_cli.main import main
from fleetpatch_cli.status_cmd import run_status_command


def _args(**options: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"stage": "default", "since": "7d", "json": False}
    return argparse.Namespace(**(defaults | options))


def test_no_region(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    # Off an EC2 instance, asking the instance metadata service for a region finds none.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["status"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "fleetpatch status: You must specify a region.\n"


def test_no_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    assert main(["status", "--region", "eu-central-1"]) == 2
    assert capsys.readouterr().err == "fleetpatch status: Unable to locate credentials\n"


def test_an_endpoint_that_does_not_answer(capsys: pytest.CaptureFixture[str]) -> None:
    def unreachable(service: str) -> object:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/")

    assert run_status_command(_args(), clients=unreachable) == 2
    assert capsys.readouterr().err == (
        'fleetpatch status: Could not connect to the endpoint URL: "http://127.0.0.1:4566/"\n'
    )


def test_an_invalid_since(capsys: pytest.CaptureFixture[str]) -> None:
    def unused(service: str) -> object:
        raise NoCredentialsError

    assert run_status_command(_args(since="yesterday"), clients=unused) == 2
    assert capsys.readouterr().err.startswith("fleetpatch status: --since: expected a duration")


def test_help_shows_an_example_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    out = capsys.readouterr().out
    assert "examples:\n  fleetpatch status --stage prod\n" in out
    assert "(default: 7d)" in out
