"""The gate decision: every rule, every reason, failing closed on missing evidence."""

from __future__ import annotations

import pytest

from fleetpatch.batch_policy import RuntimeGate
from fleetpatch.gate import InstanceEvidence, evaluate_gate

# The gate as the compiled policy carries it; it checks batch linux, where the evidence is.
CHECKED = ["linux"]


def ok(instance: str) -> InstanceEvidence:
    return InstanceEvidence(instance, "linux", "Success", 0, 0, 0, "COMPLIANT")


HEALTHY = [ok(f"i-{n}") for n in range(4)]


def test_a_healthy_batch_passes() -> None:
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), HEALTHY, window_status="SUCCESS", alarm_states={}
    )
    assert decision.passed
    assert decision.reasons == ["4 instances patched and verified"]
    assert decision.failed_instances == {}
    assert decision.instances == 4


@pytest.mark.parametrize("status", ["FAILED", "TIMED_OUT", "CANCELLED", "SKIPPED_OVERLAPPING"])
def test_a_window_that_did_not_succeed_fails_the_gate(status: str) -> None:
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), HEALTHY, window_status=status, alarm_states={}
    )
    assert not decision.passed
    assert decision.reasons == [f"the maintenance window ended {status}, not SUCCESS"]


def test_failed_instances_over_the_count() -> None:
    evidence = [*HEALTHY, InstanceEvidence("i-bad", "linux", "Failed", 0, 2, 0, "NON_COMPLIANT")]
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED, max_failed=0),
        evidence,
        window_status="SUCCESS",
        alarm_states={},
    )
    assert not decision.passed
    assert decision.reasons == ["1 of 5 instances failed; the gate allows 0"]
    assert decision.failed_instances == {"i-bad": "AWS-RunPatchBaseline ended Failed"}
    # one failure is within a gate that allows one: compliance is required of the others
    allowed = evaluate_gate(
        RuntimeGate(batches=CHECKED, max_failed=1),
        evidence,
        window_status="SUCCESS",
        alarm_states={},
    )
    assert allowed.passed
    assert allowed.reasons == [
        "4 of 5 instances patched and verified; 1 failed, within the gate's allowance"
    ]
    assert allowed.failed_instances == {"i-bad": "AWS-RunPatchBaseline ended Failed"}


def test_members_not_reached_count_as_failed_and_the_reason_says_how_many_of_each() -> None:
    # Given a failed member, a stopped one and one without a managed agent
    evidence = [
        *HEALTHY,
        InstanceEvidence("i-bad", "linux", "Failed", 0, 2, 0),
        InstanceEvidence("i-off", "linux", None, state="stopped", note="it is stopped"),
        InstanceEvidence("i-lost", "linux", None, state="not-managed", note="not managed"),
        InstanceEvidence("i-new", "linux", None, state="joined"),
    ]
    # Then the gate counts them in the words the report uses (and the joined one not at all)
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED, max_failed=0), evidence, window_status=None, alarm_states={}
    )
    assert decision.reasons == [
        "3 of 7 instances failed or were not reached (1 failed, 2 not reached); the gate allows 0"
    ]
    percent = evaluate_gate(
        RuntimeGate(batches=CHECKED, max_failed=None, max_failed_percent=10),
        evidence,
        window_status=None,
        alarm_states={},
    )
    assert percent.reasons == [
        "43% of 7 instances failed or were not reached (1 failed, 2 not reached); "
        "the gate allows 10%"
    ]
    within = evaluate_gate(
        RuntimeGate(batches=CHECKED, max_failed=3), evidence, window_status=None, alarm_states={}
    )
    assert within.reasons == [
        "4 of 7 instances patched and verified; 1 failed, 2 not reached, within the gate's "
        "allowance"
    ]
    assert [e.outcome() for e in evidence[4:]] == ["failed", "not-reached", "not-reached", "joined"]
    assert [e.reason() for e in evidence[5:7]] == ["it is stopped", "not managed"]


def test_failed_instances_over_the_percentage() -> None:
    evidence = [*HEALTHY, InstanceEvidence("i-late", "linux", "TimedOut", 3, 0, 0)]
    gate = RuntimeGate(
        batches=CHECKED, max_failed=None, max_failed_percent=10, require_compliant=False
    )
    decision = evaluate_gate(gate, evidence, window_status="SUCCESS", alarm_states={})
    assert decision.reasons == ["20% of 5 instances failed; the gate allows 10%"]
    assert evaluate_gate(
        RuntimeGate(
            batches=CHECKED, max_failed=None, max_failed_percent=20, require_compliant=False
        ),
        evidence,
        window_status="SUCCESS",
        alarm_states={},
    ).passed


@pytest.mark.parametrize(
    ("evidence", "why"),
    [
        (InstanceEvidence("i-x", "linux", "Success", 2, 0, 0), "2 missing"),
        (InstanceEvidence("i-x", "linux", "Success", 0, 0, 1), "1 pending reboot"),
        (
            InstanceEvidence("i-x", "linux", "Success", None, None, None),
            "no patch state reported after the run",
        ),
        (
            InstanceEvidence("i-x", "linux", "Success", 0, 0, 0, "NON_COMPLIANT"),
            "Patch compliance is NON_COMPLIANT",
        ),
    ],
)
def test_compliance_is_required_after_the_run(evidence: InstanceEvidence, why: str) -> None:
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), [*HEALTHY, evidence], window_status="SUCCESS", alarm_states={}
    )
    assert not decision.passed
    assert decision.reasons == ["1 of 5 instances are not compliant after the run"]
    assert decision.failed_instances == {"i-x": why}


def test_an_instance_no_command_reached_counts_as_failed() -> None:
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED),
        [*HEALTHY, InstanceEvidence("i-skipped", "linux", None)],
        window_status="SUCCESS",
        alarm_states={},
    )
    assert decision.failed_instances == {"i-skipped": "no patch command ran on it"}


def test_alarms_must_exist_and_be_ok() -> None:
    gate = RuntimeGate(batches=CHECKED, alarms=["db-latency", "db-errors", "db-replication"])
    decision = evaluate_gate(
        gate,
        HEALTHY,
        window_status="SUCCESS",
        alarm_states={"db-latency": "OK", "db-errors": "ALARM"},
    )
    assert decision.reasons == [
        "alarm db-errors is ALARM",
        "alarm db-replication does not exist (a gate cannot check what is not there)",
    ]
    passed = evaluate_gate(
        RuntimeGate(batches=CHECKED, alarms=["db-latency"]),
        HEALTHY,
        window_status="SUCCESS",
        alarm_states={"db-latency": "OK"},
    )
    assert passed.reasons == ["4 instances patched and verified", "alarms OK: db-latency"]


def test_insufficient_data_is_not_ok() -> None:
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED, alarms=["a"]),
        HEALTHY,
        window_status="SUCCESS",
        alarm_states={"a": "INSUFFICIENT_DATA"},
    )
    assert decision.reasons == ["alarm a is INSUFFICIENT_DATA"]


def test_every_reason_is_reported_together() -> None:
    evidence = [InstanceEvidence("i-bad", "linux", "Failed", 1, 1, 0)]
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED, alarms=["a"]),
        evidence,
        window_status="TIMED_OUT",
        alarm_states={"a": "ALARM"},
    )
    assert decision.reasons == [
        "the maintenance window ended TIMED_OUT, not SUCCESS",
        "1 of 1 instances failed; the gate allows 0",
        "alarm a is ALARM",
    ]


def test_an_empty_batch_holds_unless_the_policy_allows_it() -> None:
    # Fail closed: a batch nobody was patched in tested nothing.
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), [], window_status="SUCCESS", alarm_states={}
    )
    assert not decision.passed
    assert decision.reasons[0].startswith("the batch had no instances: nothing was tested")
    allowed = evaluate_gate(
        RuntimeGate(batches=CHECKED, allow_empty=True), [], window_status="SUCCESS", alarm_states={}
    )
    assert allowed.passed
    assert allowed.reasons == ["the batch had no instances (allowed: allow_empty)"]


def test_a_batch_of_only_excepted_members_tested_nothing_and_says_why() -> None:
    # Given a batch whose one member's fleetpatch:skip exception applied
    excepted = InstanceEvidence(
        "i-x", "linux", None, state="excepted", note="excepted until 2026-12-31: freeze"
    )
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), [excepted], window_status=None, alarm_states={}
    )
    # Then it is not judged, is reported with its reason, and the gate holds (fail closed)
    assert excepted.outcome() == "skipped-by-exception"
    assert not decision.passed
    assert decision.instances == 0
    assert decision.not_counted == {"i-x": "excepted until 2026-12-31: freeze"}
    assert decision.reasons[0].startswith(
        "the batch had no instances (1 excepted by fleetpatch:skip): nothing was tested"
    )


def test_members_that_joined_or_are_busy_are_reported_not_judged() -> None:
    patched = InstanceEvidence("i-a", "one", "Success", 0, 0, 0)
    joined = InstanceEvidence("i-b", "one", None, state="joined")
    busy = InstanceEvidence("i-c", "one", None, state="busy", note="its launch run patches it")
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED), [patched, joined, busy], window_status=None, alarm_states={}
    )
    assert decision.passed
    assert decision.instances == 1
    assert set(decision.not_counted) == {"i-b", "i-c"}
    assert decision.not_counted["i-c"] == "not counted: its launch run patches it"


def test_a_canary_below_its_minimum_holds() -> None:
    patched = InstanceEvidence("i-a", "one", "Success", 0, 0, 0)
    decision = evaluate_gate(
        RuntimeGate(batches=CHECKED, min_instances=2),
        [patched],
        window_status=None,
        alarm_states={},
    )
    assert not decision.passed
    assert decision.reasons == ["1 instance patched; the gate needs at least 2"]


def test_a_serving_member_is_judged_by_its_serving_outcome() -> None:
    # A member a serving batch never patched because no budget place came: not reached, and
    # the gate names why (not the in-place batch's "stopped sending" note).
    waited = InstanceEvidence(
        instance_id="i-00000001",
        batch="web",
        command_status=None,
        note="the batch stopped sending before its turn (max_errors), or SendCommand refused it",
        serving="budget-exhausted",
        serving_reason="no place in its disruption budget within 14400 s",
    )
    assert waited.outcome() == "not-reached"
    assert waited.failure() == "not reached: no place in its disruption budget within 14400 s"
    assert waited.reason() == "no place in its disruption budget within 14400 s"
    # One patched, then rolled back after a failed check: failed, with the check, whatever
    # its command said.
    rolled = InstanceEvidence(
        instance_id="i-00000002",
        batch="web",
        command_status="Success",
        missing=0,
        failed=0,
        pending_reboot=0,
        compliance="COMPLIANT",
        serving="rolled-back",
        serving_reason="unhealthy after the patch (target-health: unhealthy): rolled back",
    )
    assert rolled.outcome() == "failed"
    assert rolled.failure() == (
        "rolled-back: unhealthy after the patch (target-health: unhealthy): rolled back"
    )
    decision = evaluate_gate(
        RuntimeGate(batches=["web"], maxFailed=1),
        [waited, rolled],
        window_status=None,
        alarm_states={},
    )
    assert not decision.passed
    assert set(decision.failed_instances) == {"i-00000001", "i-00000002"}
