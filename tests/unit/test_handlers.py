"""The four handlers validate and route at the edge, and refuse what is not theirs."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field

import pytest

from fleetpatch.errors import ConfigurationError, InvalidEventError, MisroutedEventError
from localcloud.adapters.handlers import LambdaHandler, load_handler
from tests.conftest import REPO_ROOT, load_event


@dataclass
class FakeLambdaContext:
    function_name: str = "fleetpatch-test-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:eu-central-1:123456789012:function:fleetpatch-test-fn"
    )
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@pytest.fixture(autouse=True)
def lambda_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "fleetpatch")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "Fleetpatch")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


def handler(name: str) -> LambdaHandler:
    return load_handler(REPO_ROOT / "functions" / name, "app.lambda_handler")


@pytest.mark.parametrize(
    ("function", "fixture", "route"),
    [
        ("patch_on_launch", "aws.ec2/instance-stopped", "ignored"),
        ("batch_gate", "aws.ssm/maintenance-window-execution-in-progress", "ignored"),
        ("compliance_change", "aws.ssm/compliance-association-non-compliant", "ignored"),
        ("command_status", "aws.ssm/command-invocation-in-progress", "ignored"),
        ("emergency", "aws.inspector2/package-vulnerability-closed", "ignored"),
    ],
)
def test_handler_routes_its_own_events(
    function: str, fixture: str, route: str, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event(fixture)
    result = handler(function)(event, FakeLambdaContext())
    assert result["route"] == route
    logs = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    routed = [entry for entry in logs if entry.get("message") == "event routed"]
    assert routed, logs
    assert routed[0]["correlation_id"] == event["id"]


def test_invalid_event_raises_a_named_error(capsys: pytest.CaptureFixture[str]) -> None:
    event = load_event("aws.ssm/command-invocation-success")
    event["detail"]["instance-id"] = "not-an-instance"
    with pytest.raises(InvalidEventError) as info:
        handler("command_status")(event, FakeLambdaContext())
    assert info.value.field == "detail.instance-id"
    logged = capsys.readouterr().out
    assert '"field":"detail.instance-id"' in logged.replace(" ", "")


def test_missing_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no state machine ARN in the environment (the template always sets it)
    monkeypatch.delenv("FLEETPATCH_PATCH_NEW_INSTANCE_ARN", raising=False)
    with pytest.raises(ConfigurationError, match="FLEETPATCH_PATCH_NEW_INSTANCE_ARN"):
        handler("patch_on_launch")(
            load_event("aws.autoscaling/launch-lifecycle-action"), FakeLambdaContext()
        )


def test_an_event_of_another_route_is_refused() -> None:
    with pytest.raises(MisroutedEventError):
        handler("batch_gate")(load_event("aws.ssm/command-invocation-success"), FakeLambdaContext())
