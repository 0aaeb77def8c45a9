"""Contract: the patch-new-instance ASL's verdict is the Python verdict.

One instance verdict (``fleetpatch.contracts.verdict``) is used by the gate
(``InstanceEvidence``) and the reports (``reports.instance_outcome``). The ASL cannot import
it: its ``CommandSucceeded?``, ``CommandFailed``, ``Compliant?`` and ``Summarise`` states
spell the rule again in JSONata. These tests evaluate those expressions, read from the ASL
file, over a table of patch states and check they agree with
:func:`~fleetpatch.contracts.verdict.launch_run_outcome` (and the gate and the reports with
:func:`~fleetpatch.contracts.verdict.verdict`).

The gated-wave ASL's ``Summarise`` judges no instance: it reads the gate's decision.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from fleetpatch.contracts.verdict import PatchCounts, launch_run_outcome, verdict
from fleetpatch.gate import InstanceEvidence
from fleetpatch.reports import instance_outcome
from tests.unit.asl import evaluate, states

MACHINE = states("patch_new_instance")
INSTANCE = "i-0123456789abcdef0"

STATUSES = ["Success", "Failed", "TimedOut", "Cancelled"]
COUNTS: dict[str, tuple[int, int, int] | None] = {
    "no-state": None,
    "clean": (0, 0, 0),
    "missing": (2, 0, 0),
    "failed": (0, 1, 0),
    "pending-reboot": (0, 0, 1),
    "missing-and-failed": (2, 1, 0),
}
OPERATIONS = ["Install", "Scan"]
TRIGGERS = ["lifecycle", "ec2-running", "warm-pool-exit", "remediation"]
REINSTALLED = "install now"


def patch_state(counts: tuple[int, int, int] | None, operation: str) -> dict[str, Any] | None:
    if counts is None:
        return None
    missing, failed, pending = counts
    return {
        "InstanceId": INSTANCE,
        "Operation": operation,
        "InstalledCount": 4,
        "InstalledOtherCount": 0,
        "InstalledPendingRebootCount": pending,
        "InstalledRejectedCount": 0,
        "MissingCount": missing,
        "FailedCount": failed,
        "NotApplicableCount": 7,
    }


def asl_outcome(status: str, state: dict[str, Any] | None, operation: str, trigger: str) -> str:
    """Run the ASL's states from CommandSucceeded? to Summarise, as Step Functions would."""
    variables: dict[str, Any] = {
        "instanceId": INSTANCE,
        "commandId": "cmd-1",
        "commandStatus": status,
        "operation": operation,
        "trigger": trigger,
        "remediationReason": None,
        "failure": None,
        "patchState": state,
    }
    succeeded = MACHINE["CommandSucceeded?"]
    if not any(evaluate(c["Condition"], variables) for c in succeeded["Choices"]):
        assert succeeded["Default"] == "CommandFailed"
        failed = MACHINE["CommandFailed"]
        variables |= {k: evaluate(v, variables) for k, v in failed["Assign"].items()}
        assert failed["Next"] == "Verify"
    choice = MACHINE["Compliant?"]
    for option in choice["Choices"]:
        if evaluate(option["Condition"], variables):
            assigned = {k: evaluate(v, variables) for k, v in option.get("Assign", {}).items()}
            variables |= assigned
            if option["Next"] != "Release":
                assert assigned.get("operation") == "Install", option
                return REINSTALLED
            break
    assigned = {k: evaluate(v, variables) for k, v in MACHINE["Summarise"]["Assign"].items()}
    return str(assigned["outcome"])


CASES = list(itertools.product(STATUSES, COUNTS, OPERATIONS, TRIGGERS))


@pytest.mark.parametrize(("status", "counts", "operation", "trigger"), CASES)
def test_the_asl_summarises_a_run_as_the_python_verdict_does(
    status: str, counts: str, operation: str, trigger: str
) -> None:
    state = patch_state(COUNTS[counts], operation)
    found = asl_outcome(status, state, operation, trigger)
    expected = launch_run_outcome(
        status, PatchCounts.of(state), operation=operation, trigger=trigger
    )
    if found == REINSTALLED:
        # Leaving a warm pool, a scan that found something installs it at once: the run
        # goes on, and its Install's state is judged (not a verdict of its own).
        assert (trigger, operation, status) == ("warm-pool-exit", "Scan", "Success")
        assert verdict(status, PatchCounts.of(state), operation=operation).outcome in (
            "non-compliant",
            "failed",
        )
        assert state is not None
        return
    assert found == expected


@pytest.mark.parametrize(
    ("status", "counts", "operation"), list(itertools.product(STATUSES, COUNTS, OPERATIONS))
)
def test_the_gate_and_the_reports_give_the_one_verdict(
    status: str, counts: str, operation: str
) -> None:
    state = patch_state(COUNTS[counts], operation)
    expected = verdict(status, PatchCounts.of(state), operation=operation)
    assert instance_outcome(status, state) == (expected.outcome, expected.reason)
    missing, failed, pending = COUNTS[counts] or (None, None, None)
    evidence = InstanceEvidence(
        INSTANCE,
        "linux",
        status,
        missing=missing,
        failed=failed,
        pending_reboot=pending,
        operation=operation,
    )
    assert (evidence.outcome(), evidence.reason()) == (expected.outcome, expected.reason)


def test_a_scan_that_finds_failed_patches_finds_the_instance_non_compliant() -> None:
    # Given a Scan (it installs nothing) reporting patches whose install failed earlier,
    # When the reports, the gate and the ASL judge it
    state = patch_state((0, 2, 0), "Scan")
    evidence = InstanceEvidence(
        INSTANCE, "linux", "Success", missing=0, failed=2, pending_reboot=0, operation="Scan"
    )
    # Then the instance is non-compliant (issue 17: the reports and the gate said failed,
    # "2 patch(es) failed to install", while the ASL reported the remediation scan as scanned)
    assert instance_outcome("Success", state) == ("non-compliant", "2 failed")
    assert (evidence.outcome(), evidence.failure(), evidence.non_compliance()) == (
        "non-compliant",
        None,
        "2 failed",
    )
    assert asl_outcome("Success", state, "Scan", "remediation") == "scanned"
    # and an Install that leaves them failed is still a failure
    installed = patch_state((0, 2, 0), "Install")
    assert instance_outcome("Success", installed) == ("failed", "2 patch(es) failed to install")
    assert asl_outcome("Success", installed, "Install", "lifecycle") == "failed"


def test_the_table_reaches_every_outcome_the_asl_can_give() -> None:
    reached = {
        asl_outcome(*case[:1], patch_state(COUNTS[case[1]], case[2]), *case[2:]) for case in CASES
    }
    assert reached == {"patched", "compliant", "scanned", "failed", REINSTALLED}
