"""A wave honours fleetpatch:skip exceptions, and says so (issue 21, part 2, "Exceptions").

The real template, ASL and handlers on the local cloud. The exception's dates are read
against the simulated clock (``fleetpatch.clock``), in UTC: one that ends tomorrow applies,
one that ended yesterday has expired.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import gate_record
from tests.workflows.test_gated_wave_gates import batch, gate, launch, patched, run_wave
from tests.workflows.test_wave_reports import stored_html, wave_message

RUN = "manual-custom"
SKIP = "fleetpatch:skip"


def launch_tagged(deployed: Deployed, group: str, skip: str) -> str:
    assert deployed.cloud.fleet is not None
    [instance] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": group, SKIP: skip}, behaviour=Behaviour()
    )
    return instance


def by_id(report: dict[str, Any], batch_name: str) -> dict[str, dict[str, Any]]:
    [found] = [b for b in report["batches"] if b["name"] == batch_name]
    return {i["instance_id"]: i for i in found["instances"]}


def test_a_valid_exception_skips_its_instance_and_an_expired_one_does_not(
    deployed: Deployed,
) -> None:
    # Given batch one: a healthy host, one excepted until tomorrow, one whose exception
    # ended yesterday, one whose tag has no date (invalid: it does not skip)
    today = deployed.cloud.clock.now().date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    [healthy] = launch(deployed, "UBUNTU", "g1")
    excepted = launch_tagged(deployed, "g1", f"until={tomorrow}; reason=vendor freeze INC-123")
    expired = launch_tagged(deployed, "g1", f"until={yesterday}; reason=old freeze")
    invalid = launch_tagged(deployed, "g1", "reason=no date given")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    # When the wave runs with a gate on batch one that allows no failure
    execution = run_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", maxFailed=0))]
    )
    # Then the excepted host was sent nothing and is not a failure: the wave went on
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert not patched(deployed, [excepted])
    assert patched(deployed, [healthy, expired, invalid])
    assert patched(deployed, later)
    assert excepted not in gate_record(deployed, RUN, 1)["failed_instances"]["M"]
    # And the report lists every member, the excepted one skipped by its exception
    report = deployed.report(RUN)
    members = by_id(report, "one")
    assert set(members) == {healthy, excepted, expired, invalid}
    assert members[excepted]["outcome"] == "skipped-by-exception"
    assert members[excepted]["state"] == "excepted"
    assert members[excepted]["reason"] == f"excepted until {tomorrow}: vendor freeze INC-123"
    assert members[expired]["outcome"] == "patched"
    assert members[expired]["exception"] == f"exception expired on {yesterday}, patched"
    assert members[invalid]["outcome"] == "patched"
    assert members[invalid]["exception"] == (
        "invalid fleetpatch:skip tag ignored: missing until=, patched"
    )
    assert members[healthy].get("exception") is None
    # And the batch lists its exceptions: the one that applied, with its reason and date
    [one] = [b for b in report["batches"] if b["name"] == "one"]
    assert one["exceptions"][excepted] == {
        "status": "applies",
        "until": str(tomorrow),
        "reason": "vendor freeze INC-123",
        "note": f"excepted until {tomorrow}: vendor freeze INC-123",
    }
    assert one["exceptions"][expired]["status"] == "expired"
    assert one["exceptions"][invalid]["status"] == "invalid"
    assert set(one["exceptions"]) == {excepted, expired, invalid}
    # And the e-mail names each exception, and counts the excepted host apart
    body = wave_message(deployed)["message"]
    assert f"exception: {excepted} - excepted until {tomorrow}: vendor freeze INC-123" in body
    assert f"exception: {expired} - exception expired on {yesterday}, patched" in body
    assert "1 skipped by exception" in body
    # And the stored page has the batch's exceptions table
    page = stored_html(deployed, RUN)
    assert '<table class="exceptions">' in page
    assert "vendor freeze INC-123" in page
