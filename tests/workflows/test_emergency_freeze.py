"""An emergency run respects the change freeze, unless an operator overrides it (issue 21).

The run is started as ``fleetpatch emergency`` starts it; the gated wave's governance check
reads the policy's Change Calendar (created as an operator would) on the simulated clock.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from fleetpatch.change_freeze import FreezePolicy
from localcloud.sim.change_calendar import ics
from tests.workflows.conftest import Deployed, states_entered
from tests.workflows.test_emergency import (
    finished,
    fleet,  # noqa: F401  (the fixture)
    patch_commands,
    policy,
    start,
)

CALENDAR = "fleetpatch-year-end"


def frozen(deployed: Deployed, *, on_closed: str, hours: float) -> FreezePolicy:
    """A Change Calendar CLOSED from an hour ago for ``hours``, and the policy naming it."""
    now = deployed.cloud.clock.now()
    deployed.cloud.client("ssm").create_document(
        Name=CALENDAR,
        Content=ics("OPEN", [(now - timedelta(hours=1), now + timedelta(hours=hours))]),
        DocumentType="ChangeCalendar",
        DocumentFormat="TEXT",
    )
    return FreezePolicy(calendars=[CALENDAR], onClosed=on_closed, maxWaitHours=4)


@pytest.mark.usefixtures("fleet")
def test_a_freeze_skips_an_emergency_and_an_override_goes_through(
    deployed: Deployed,
) -> None:
    # Given a change freeze (skip) whose calendar is CLOSED for two days
    rules = policy().model_copy(
        update={"change_freeze": frozen(deployed, on_closed="skip", hours=48)}
    )
    # When an emergency is requested for a CVE on the fleet
    skipped = start(deployed, rules)
    execution = finished(deployed, skipped["run"])
    # Then the run sent nothing: skipped by the freeze, before it took anything
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["output"])["outcome"] == "skipped"
    assert "TakeLease" not in states_entered(deployed.history(execution))
    assert patch_commands(deployed) == []
    assert deployed.report(skipped["run"])["reason"] == "ChangeFreeze"
    # When an operator requests it again with a reason to override the freeze
    overridden = start(deployed, rules, override_freeze="CVE exploited in the wild, CAB-42")
    execution = finished(deployed, overridden["run"])
    # Then a new run patched the affected hosts, and its report names the override
    assert overridden["outcome"] == "started", overridden
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert patch_commands(deployed)
    assert "freeze overridden: CVE exploited in the wild, CAB-42" in str(
        deployed.report(overridden["run"])
    )


@pytest.mark.usefixtures("fleet")
def test_an_emergency_waits_for_the_freeze_to_end_and_findings_meanwhile_join_it(
    deployed: Deployed,
) -> None:
    # Given a change freeze (wait, up to 4 hours) whose calendar opens in two hours
    rules = policy().model_copy(
        update={"change_freeze": frozen(deployed, on_closed="wait", hours=2)}
    )
    opens = deployed.cloud.clock.now() + timedelta(hours=2)
    # When an emergency is requested, and requested again an hour later (the run waiting)
    started = start(deployed, rules)
    deployed.cloud.advance(3600)
    again = start(deployed, rules)
    execution = finished(deployed, started["run"])
    # Then the second request joined the waiting run instead of starting another
    assert again["outcome"] == "recorded", again
    assert again["run"] == started["run"]
    # And the run patched once the calendar opened, not before
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    commands = patch_commands(deployed)
    assert commands
    assert min(c["RequestedDateTime"] for c in commands) >= opens
