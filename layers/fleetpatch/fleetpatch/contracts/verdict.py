"""The instance verdict: what a patch command and the patch state after it say about one instance.

Written once, here. The gate (``fleetpatch.gate.InstanceEvidence``) and the reports
(``fleetpatch.reports.instance_outcome``) call :func:`verdict`; the patch-new-instance ASL,
which cannot import, spells the same rule in its ``Compliant?`` and ``Summarise`` states, and
``tests/unit/test_verdict_contract.py`` evaluates those expressions over a table of patch
states against :func:`launch_run_outcome`.

The rule (the words are ``fleetpatch.outcomes``'):

* the command did not end ``Success``: **failed**;
* no patch state after it: **non-compliant** (nothing shows it is patched);
* an Install left patches that failed to install: **failed**;
* patches missing, failed (after a Scan: it installs nothing, so it cannot have failed them)
  or waiting for a reboot, or Patch compliance other than COMPLIANT: **non-compliant**;
* otherwise **compliant** after a Scan, **patched** after an Install.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

COMMAND_SUCCESS = "Success"
SCAN = "Scan"

Verdict = Literal["patched", "compliant", "non-compliant", "failed"]
LaunchRunOutcome = Literal["patched", "compliant", "scanned", "failed", "skipped-by-exception"]
"""A patch-new-instance run's outcome (its Summarise state); ``skipped-by-exception``: its
``fleetpatch:skip`` exception applied and it was released unpatched (``fleetpatch.skip_tag``)."""


@dataclass(frozen=True)
class PatchCounts:
    """The counts of a patch state (DescribeInstancePatchStates) the verdict reads."""

    missing: int
    failed: int
    pending_reboot: int

    @classmethod
    def of(cls, state: Mapping[str, Any] | None) -> PatchCounts | None:
        """From a patch state as the API returns it (an absent count is 0); None: no state."""
        if state is None:
            return None
        return cls(
            missing=int(state.get("MissingCount") or 0),
            failed=int(state.get("FailedCount") or 0),
            pending_reboot=int(state.get("InstalledPendingRebootCount") or 0),
        )


@dataclass(frozen=True)
class InstanceVerdict:
    outcome: Verdict
    reason: str | None
    """Why (None when patched or compliant)."""


def verdict(
    command_status: str,
    counts: PatchCounts | None,
    *,
    operation: str | None = None,
    compliance: str | None = None,
) -> InstanceVerdict:
    """The verdict on an instance a patch command ran on (``command_status``: its final status).

    ``operation``: the command's (Scan or Install; None: Install); ``compliance``: the Patch
    compliance status when known (COMPLIANT, NON_COMPLIANT).
    """
    if command_status != COMMAND_SUCCESS:
        return InstanceVerdict("failed", f"AWS-RunPatchBaseline ended {command_status}")
    if counts is None:
        return InstanceVerdict("non-compliant", "no patch state reported after the run")
    scan = operation == SCAN
    if counts.failed and not scan:
        return InstanceVerdict("failed", f"{counts.failed} patch(es) failed to install")
    problems = [
        f"{count} {what}"
        for count, what in (
            (counts.missing, "missing"),
            (counts.failed, "failed"),
            (counts.pending_reboot, "pending reboot"),
        )
        if count
    ]
    if problems:
        return InstanceVerdict("non-compliant", ", ".join(problems))
    if compliance not in (None, "COMPLIANT"):
        return InstanceVerdict("non-compliant", f"Patch compliance is {compliance}")
    return InstanceVerdict("compliant" if scan else "patched", None)


def launch_run_outcome(
    command_status: str, counts: PatchCounts | None, *, operation: str, trigger: str
) -> LaunchRunOutcome:
    """A patch-new-instance run's outcome (its ASL's ``Summarise``) from its instance's verdict.

    A run fails unless its instance is patched or compliant, but for a remediation scan:
    that one reports what it found (**scanned**), and the environment's window installs it.
    """
    found = verdict(command_status, counts, operation=operation)
    if found.outcome in ("patched", "compliant"):
        return "compliant" if found.outcome == "compliant" else "patched"
    if (
        found.outcome == "non-compliant"
        and counts is not None
        and trigger == "remediation"
        and operation == SCAN
    ):
        return "scanned"
    return "failed"
