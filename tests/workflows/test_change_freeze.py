"""A change freeze changes what a wave does (issue 21, part 3).

The real template, ASL and handlers on the local cloud; the policy's ``change_freeze`` names
an SSM Change Calendar created as an operator would (CreateDocument, ChangeCalendar, TEXT),
evaluated on the simulated clock. The window opens while the calendar is CLOSED.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from localcloud.sim.change_calendar import ics
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed, states_entered
from tests.workflows.test_gated_wave import WINDOW, commands_on, launch_fleet, wave_runs
from tests.workflows.test_gated_wave_gates import patched

CALENDAR = "fleetpatch-year-end"


def with_freeze(deployed: Deployed, **freeze: Any) -> None:
    """The deployed compiled policy, with a change freeze (as `policy render` compiles it)."""
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.output("PolicyParameterName")
    policy = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    policy["changeFreeze"] = {"calendars": [CALENDAR], **freeze}
    ssm.put_parameter(
        Name=name,
        Value=json.dumps(policy, separators=(",", ":")),  # as rendered: compact
        Type="String",
        Tier="Intelligent-Tiering",  # the policy is near the Standard tier's 4,096 characters
        Overwrite=True,
    )


def closed(deployed: Deployed, start: datetime, end: datetime) -> None:
    deployed.cloud.client("ssm").create_document(
        Name=CALENDAR,
        Content=ics("OPEN", [(start, end)]),
        DocumentType="ChangeCalendar",
        DocumentFormat="TEXT",
    )


def wave_messages(deployed: Deployed) -> list[dict[str, Any]]:
    return [
        m
        for m in deployed.messages()
        if m["channel"] == "sns" and m["attributes"].get("kind") == "wave"
    ]


def test_a_closed_calendar_skips_the_wave_and_the_report_says_so(deployed: Deployed) -> None:
    # Given the test wave's hosts, and a freeze (skip) whose calendar is CLOSED for two days
    ids = launch_fleet(deployed)
    now = deployed.cloud.clock.now()
    closed(deployed, now - timedelta(hours=1), now + timedelta(days=2))
    with_freeze(deployed, onClosed="skip")
    # When the wave's window opens
    execution_id = deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    # Then the run ended without sending a single command
    [run] = wave_runs(deployed)
    assert run["name"] == f"wave-{execution_id}"
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert json.loads(run["output"])["outcome"] == "skipped"
    assert all(commands_on(deployed, i) == [] for i in ids.values())
    assert "TakeLease" not in states_entered(deployed.history(run))
    # And the operator hears it, through publish-report: skipped by the freeze, and why
    [message] = wave_messages(deployed)
    assert message["subject"] == "test wave: skipped (change freeze), nothing sent"
    assert message["attributes"]["outcome"] == "skipped"
    report = deployed.report(run["name"])
    assert report["outcome"] == "skipped"
    assert report["reason"] == "ChangeFreeze"
    assert report["summary"].startswith(
        f"skipped: change freeze: calendar {CALENDAR} is CLOSED until "
    )
    assert {b["status"] for b in report["batches"]} == {"not-reached"}


def test_a_wave_that_waits_patches_when_the_calendar_opens(deployed: Deployed) -> None:
    # Given a freeze (wait, up to 3 hours) whose calendar opens 90 minutes after the window
    ids = launch_fleet(deployed)
    now = deployed.cloud.clock.now()
    opens = now + timedelta(minutes=90)
    closed(deployed, now - timedelta(hours=1), opens)
    with_freeze(deployed, onClosed="wait", maxWaitHours=3)
    # When the window opens
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    # Then the run waited (one Wait, until the transition) and patched once the calendar opened
    [run] = wave_runs(deployed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert json.loads(run["output"])["outcome"] == "completed"
    entered = states_entered(deployed.history(run))
    assert entered.count("AwaitCalendar") == 1
    assert entered.count("CheckGovernance") == 2
    [command] = commands_on(deployed, ids["app-test-ubuntu"])
    assert command["RequestedDateTime"] >= opens
    assert commands_on(deployed, ids["app-test-windows"])
    assert commands_on(deployed, ids["app-prod-windows"]) == []


def test_a_freeze_longer_than_the_bound_is_reported_and_never_hangs(deployed: Deployed) -> None:
    # Given a freeze (wait, at most 1 hour) whose calendar stays CLOSED for two days
    ids = launch_fleet(deployed)
    now = deployed.cloud.clock.now()
    closed(deployed, now - timedelta(hours=1), now + timedelta(days=2))
    with_freeze(deployed, onClosed="wait", maxWaitHours=1)
    # When the window opens
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    # Then the run waited once, to its bound, and ended skipped: nothing sent, reported
    [run] = wave_runs(deployed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert json.loads(run["output"])["outcome"] == "skipped"
    assert run["stopDate"] - run["startDate"] < timedelta(hours=1, minutes=5)
    assert states_entered(deployed.history(run)).count("AwaitCalendar") == 1
    assert all(commands_on(deployed, i) == [] for i in ids.values())
    report = deployed.report(run["name"])
    assert "still closed at the wait's bound" in report["summary"]
    [message] = wave_messages(deployed)
    assert message["attributes"]["outcome"] == "skipped"


def test_a_launch_still_patches_during_a_freeze(deployed: Deployed) -> None:
    # Given a freeze whose calendar is CLOSED for two days (policy: launches patch)
    now = deployed.cloud.clock.now()
    closed(deployed, now - timedelta(hours=1), now + timedelta(days=2))
    with_freeze(deployed, onClosed="skip", launches="patch")
    # When the covered group scales out
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour())
    deployed.cloud.settle(max_seconds=6 * 3600)
    # Then the new instance was patched and released into service, as without a freeze
    run = deployed.execution_for(instance)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    assert patched(deployed, [instance])


def test_no_remediation_starts_during_a_freeze(deployed: Deployed) -> None:
    # Given a test host inside the test wave's window (remediation: install) and a freeze
    from tests.workflows.test_reports import TEST_WINDOW_OPENS, compliance_event

    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": "patch_test_0600_batch_1"}
    )
    deployed.cloud.advance((TEST_WINDOW_OPENS - deployed.cloud.clock.now()).total_seconds() + 600)
    now = deployed.cloud.clock.now()
    closed(deployed, now - timedelta(hours=1), now + timedelta(days=2))
    with_freeze(deployed, onClosed="skip")
    deployed.cloud.advance(61)  # the functions' policy cache (a minute)
    # When its patch compliance drifts
    compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=3 * 3600)
    # Then no remediation run started, and compliance-change says why
    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.stack.state_machine_arn("PatchNewInstanceStateMachine")
    assert sfn.list_executions(stateMachineArn=arn)["executions"] == []
    function = deployed.stack.physical_id("ComplianceChangeFunction")
    [result] = [i.result for i in deployed.cloud.lambdas.invocations if i.function_name == function]
    assert result["remediation"]["execution"] is None
    assert result["remediation"]["skipped"].startswith(
        f"not remediated: change freeze: calendar {CALENDAR} is CLOSED until "
    )


def test_a_scenario_declares_a_calendar_with_closed_periods(deployed: Deployed) -> None:
    # Given the scenario step that declares a calendar closed in two periods (the second now)
    import pytest
    from pydantic import ValidationError

    from localcloud import governance_steps
    from localcloud.scenario import ChangeFreezeStep

    now = deployed.cloud.clock.now()
    step = ChangeFreezeStep.model_validate(
        {
            "change_freeze": {
                "calendar": "fleetpatch-scenario-freeze",
                "closed": [
                    {"start": now - timedelta(days=2), "end": now - timedelta(days=1)},
                    {"start": now - timedelta(minutes=5), "end": now + timedelta(hours=6)},
                ],
                "on_closed": "skip",
            }
        }
    )
    done = governance_steps.play(deployed.cloud, step)
    assert "CLOSED in 2 period(s)" in done
    # When the wave's window opens: then it is skipped by that calendar
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=3600)
    [run] = wave_runs(deployed)
    assert json.loads(run["output"])["outcome"] == "skipped"
    assert "fleetpatch-scenario-freeze is CLOSED until" in json.loads(run["output"])["message"]
    # And a step that says neither how long nor when is refused
    with pytest.raises(ValidationError, match="closed_minutes or closed"):
        ChangeFreezeStep.model_validate({"change_freeze": {"calendar": "fleetpatch-x"}})
