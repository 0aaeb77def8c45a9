"""The router maps every valid event to exactly one route, with a reason."""

from __future__ import annotations

import pytest

from fleetpatch.events import parse_event
from fleetpatch.routing import Route, route_event
from tests.conftest import load_event


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("aws.autoscaling/launch-lifecycle-action", Route.PATCH_ON_LAUNCH),
        ("aws.autoscaling/warm-pool-launch-into-pool", Route.PATCH_ON_LAUNCH),
        ("aws.autoscaling/warm-pool-leave-pool", Route.PATCH_ON_LAUNCH),
        ("aws.ec2/instance-running", Route.PATCH_ON_LAUNCH),
        ("aws.ec2/instance-stopped", Route.IGNORED),
        ("aws.ssm/maintenance-window-execution-success", Route.BATCH_GATE),
        ("aws.ssm/maintenance-window-execution-failed", Route.BATCH_GATE),
        ("aws.ssm/maintenance-window-execution-timed-out", Route.BATCH_GATE),
        ("aws.ssm/maintenance-window-execution-in-progress", Route.IGNORED),
        ("aws.ssm/maintenance-window-task-execution-success", Route.IGNORED),
        ("aws.ssm/maintenance-window-task-target-invocation-success", Route.IGNORED),
        ("aws.ssm/compliance-patch-non-compliant", Route.COMPLIANCE_CHANGE),
        ("aws.ssm/compliance-patch-compliant", Route.COMPLIANCE_CHANGE),
        ("aws.ssm/compliance-association-non-compliant", Route.IGNORED),
        ("aws.ssm/command-invocation-success", Route.COMMAND_STATUS),
        ("aws.ssm/command-invocation-failed", Route.COMMAND_STATUS),
        ("aws.ssm/command-invocation-timed-out", Route.COMMAND_STATUS),
        ("aws.ssm/command-invocation-in-progress", Route.IGNORED),
        ("aws.ssm/command-success", Route.COMMAND_STATUS),
        ("aws.ssm/command-in-progress", Route.IGNORED),
        ("aws.inspector2/package-vulnerability-critical", Route.EMERGENCY),
        ("aws.inspector2/package-vulnerability-closed", Route.IGNORED),
        ("fleetpatch.operator/emergency-patch-requested", Route.EMERGENCY),
    ],
)
def test_fixture_routes(name: str, route: Route) -> None:
    decision = route_event(parse_event(load_event(name)))
    assert decision.route is route
    assert decision.reason


@pytest.mark.parametrize("status", ["CANCELLED", "SKIPPED_OVERLAPPING"])
def test_every_terminal_window_status_reaches_the_gate(status: str) -> None:
    raw = load_event("aws.ssm/maintenance-window-execution-success")
    raw["detail"]["status"] = status
    decision = route_event(parse_event(raw))
    assert decision.route is Route.BATCH_GATE
    assert status in decision.reason


@pytest.mark.parametrize("state", ["pending", "stopping", "shutting-down", "terminated"])
def test_only_running_instances_are_patched_on_launch(state: str) -> None:
    raw = load_event("aws.ec2/instance-running")
    raw["detail"]["state"] = state
    decision = route_event(parse_event(raw))
    assert decision.route is Route.IGNORED
    assert state in decision.reason


def test_commands_of_other_documents_are_not_ours() -> None:
    raw = load_event("aws.ssm/command-invocation-success")
    raw["detail"]["document-name"] = "AWS-RunShellScript"
    decision = route_event(parse_event(raw))
    assert decision.route is Route.IGNORED
    assert "AWS-RunShellScript" in decision.reason


def test_a_serving_batchs_hook_commands_wake_their_workflow() -> None:
    # patch-serving-instance awaits its hooks and health document like the patch: their
    # final statuses are the command-status route's (before: ignored, and the workflow waited
    # for its fallback, two hours per hook)
    raw = load_event("aws.ssm/command-invocation-success")
    raw["detail"]["document-name"] = "fleetpatch-web-check"
    decision = route_event(parse_event(raw))
    assert decision.route is Route.COMMAND_STATUS
