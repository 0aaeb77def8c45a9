"""The gate before a batch: the evidence of the batches it checks, and the decision.

Pure code: the gated-wave workflow gathers the evidence (window status, per-instance
command results and patch states, CloudWatch alarm states) and this decides, with every
reason written down. A gate fails closed: missing evidence is a reason to stop, never to
go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fleetpatch.contracts.serving import FAILED_OUTCOMES
from fleetpatch.contracts.verdict import COMMAND_SUCCESS, InstanceVerdict, PatchCounts, verdict
from fleetpatch.outcomes import FAILING, Outcome, Tally

WINDOW_SUCCESS = "SUCCESS"


class Gate(Protocol):
    """A gate's rules, as the compiled policy (``fleetpatch.batch_policy.RuntimeGate``) holds them.

    The policy file's gate (``fleetpatch_authoring``) has the same fields: the decision
    reads no more than these.
    """

    @property
    def max_failed(self) -> int | None: ...
    @property
    def max_failed_percent(self) -> float | None: ...
    @property
    def require_compliant(self) -> bool: ...
    @property
    def alarms(self) -> list[str]: ...
    @property
    def allow_empty(self) -> bool: ...
    @property
    def min_instances(self) -> int | None: ...


@dataclass(frozen=True)
class InstanceEvidence:
    """What one instance of a checked batch shows after its patch run."""

    instance_id: str
    batch: str
    command_status: str | None
    """The final Run Command status (Success, Failed, TimedOut...); None: no command ran."""
    missing: int | None = None
    failed: int | None = None
    pending_reboot: int | None = None
    """Patch state counts after the run (DescribeInstancePatchStates); None: no patch state."""
    compliance: str | None = None
    """The Patch compliance status (COMPLIANT, NON_COMPLIANT); None: not reported."""
    state: str = "ready"
    """Its batch membership state (``fleetpatch.membership.MemberState``)."""
    note: str | None = None
    """Why it was not sent the batch's patch (its membership state's reason)."""
    command_id: str | None = None
    """The patch command that is its evidence (this run's, or its own launch run's)."""
    operation: str | None = None
    """That command's operation (Scan or Install), when known."""
    serving: str | None = None
    """A serving batch's instance outcome (``fleetpatch.contracts.serving``), None otherwise."""
    serving_reason: str | None = None
    out_of_service_seconds: float | None = None
    """How long it was out of service (drain to back in service, or until now if still out)."""

    @property
    def counted(self) -> bool:
        """Whether the gate judges it: a member the batch reached, or should have reached.

        Not counted, and reported apart: a member that joined after the batch was sent
        without a patch run of its own, one another run is still patching, one gone after
        its patch succeeded (a scale-in). One gone during its patch counts, as failed: the
        patch may be what took it down.
        """
        if self.command_status is not None:
            return self.state != "terminated" or self.command_status != COMMAND_SUCCESS
        return self.state in ("ready", "not-managed", "stopped")

    @property
    def patched(self) -> bool:
        """A patch command ran on it to success (evidence that the batch was tested)."""
        return self.counted and self.command_status == COMMAND_SUCCESS

    def verdict(self) -> InstanceVerdict | None:
        """The instance verdict (``fleetpatch.contracts.verdict``); None: no command ran."""
        if self.command_status is None:
            return None
        counts = (
            None
            if self.missing is None or self.failed is None or self.pending_reboot is None
            else PatchCounts(self.missing, self.failed, self.pending_reboot)
        )
        return verdict(
            self.command_status, counts, operation=self.operation, compliance=self.compliance
        )

    def failure(self) -> str | None:
        """Why this instance counts as failed, or None."""
        if self.serving in FAILED_OUTCOMES:
            return f"{self.serving}: {self.serving_reason or 'no reason recorded'}"
        if self.command_status is None:
            why = self.serving_reason or self.note
            if why:
                return f"not reached: {why}"
            return "no patch command ran on it"
        if self.command_status != COMMAND_SUCCESS and self.state == "terminated":
            ended = self.command_status
            return f"terminated during its patch (AWS-RunPatchBaseline ended {ended})"
        found = self.verdict()
        return found.reason if found is not None and found.outcome == "failed" else None

    def outcome(self) -> Outcome:
        """Its outcome in the reports' words (``fleetpatch.outcomes``), as this gate counts it."""
        if not self.counted:
            if self.state == "excepted":
                return "skipped-by-exception"
            if self.state in ("terminated", "busy"):
                return "terminated" if self.state == "terminated" else "busy"
            return "joined"
        if self.serving in FAILED_OUTCOMES:
            return "failed"
        found = self.verdict()
        return "not-reached" if found is None else found.outcome

    def reason(self) -> str | None:
        """Why it has its outcome (None when it was patched or found compliant)."""
        outcome = self.outcome()
        if outcome == "not-reached":
            return self.serving_reason or self.note or "no patch command ran on it"
        if outcome == "failed":
            return self.failure()
        if outcome == "non-compliant":
            return self.non_compliance()
        if outcome == "terminated":
            return "terminated since the batch was sent"
        if outcome == "busy":
            return self.note or "another run is patching it"
        if outcome == "skipped-by-exception":
            return self.note or "its fleetpatch:skip exception applies"
        if outcome == "joined":
            return "joined the batch after it was sent; no patch run of its own covered it yet"
        return None

    def non_compliance(self) -> str | None:
        """Why this instance is not compliant after the run, or None."""
        found = self.verdict()
        return found.reason if found is not None and found.outcome == "non-compliant" else None


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    """Why the gate failed; when it passed, what it checked."""
    failed_instances: dict[str, str] = field(default_factory=dict)
    """Instance id -> why it failed or is not compliant."""
    instances: int = 0
    """How many instances the gate judged."""
    not_counted: dict[str, str] = field(default_factory=dict)
    """Members the gate did not judge (joined later, still busy, gone), with the reason."""


def evaluate_gate(
    gate: Gate,
    evidence: Sequence[InstanceEvidence],
    *,
    window_status: str | None,
    alarm_states: Mapping[str, str],
) -> GateDecision:
    """Decide the gate; ``alarm_states`` maps each alarm name found to its state."""
    reasons: list[str] = []
    if window_status is not None and window_status != WINDOW_SUCCESS:
        reasons.append(f"the maintenance window ended {window_status}, not SUCCESS")
    not_counted = {e.instance_id: _not_counted(e) for e in evidence if not e.counted}
    excepted = sum(1 for e in evidence if e.outcome() == "skipped-by-exception")
    evidence = [e for e in evidence if e.counted]
    tally = Tally.of(e.outcome() for e in evidence)
    failed = {e.instance_id: why for e in evidence if (why := e.failure()) is not None}
    reasons += _allowance(gate, tally)
    not_compliant: dict[str, str] = {}
    if gate.require_compliant:
        # Failed instances are the failure allowance's business; every other instance
        # must really be compliant, whatever its command said.
        not_compliant = {
            e.instance_id: why
            for e in evidence
            if e.instance_id not in failed and (why := e.non_compliance()) is not None
        }
        if not_compliant:
            reasons.append(
                f"{len(not_compliant)} of {len(evidence)} instances are not compliant after the run"
            )
    reasons += _tested(gate, sum(e.patched for e in evidence), len(evidence), excepted)
    reasons += _alarms(gate, alarm_states)
    failed_instances = {**failed, **not_compliant}
    if reasons:
        return GateDecision(False, reasons, failed_instances, len(evidence), not_counted)
    summary = _summary(gate, tally)
    return GateDecision(True, summary, failed_instances, len(evidence), not_counted)


def _not_counted(evidence: InstanceEvidence) -> str:
    why = evidence.reason() or evidence.outcome()
    return f"not counted: {why}" if evidence.outcome() == "busy" else why


def _tested(gate: Gate, patched: int, total: int, excepted: int = 0) -> list[str]:
    """Fail closed on missing evidence: a batch nobody was patched in tested nothing.

    Members excepted by ``fleetpatch:skip`` are not evidence either: a batch of only those
    tested nothing, and the reason says why it is empty.
    """
    if not total:
        if gate.allow_empty:
            return []
        why = f" ({excepted} excepted by fleetpatch:skip)" if excepted else ""
        return [
            f"the batch had no instances{why}: nothing was tested before the next batch "
            "(a gate passes an empty batch only with allow_empty)"
        ]
    if gate.min_instances is not None and patched < gate.min_instances:
        return [
            f"{patched} instance{'s' if patched != 1 else ''} patched; the gate needs at "
            f"least {gate.min_instances}"
        ]
    return []


def _allowance(gate: Gate, tally: Tally) -> list[str]:
    """Members not reached count as failed, and the reason says how many of each."""
    reasons = []
    failed, total = tally.failing, tally.judged
    if gate.max_failed is not None and failed > gate.max_failed:
        reasons.append(f"{tally.failing_phrase()}; the gate allows {gate.max_failed}")
    if gate.max_failed_percent is not None and total:
        percent = 100 * failed / total
        if percent > gate.max_failed_percent:
            reasons.append(
                f"{tally.failing_phrase(f'{percent:.0f}%')}; the gate allows "
                f"{gate.max_failed_percent:g}%"
            )
    return reasons


def _alarms(gate: Gate, alarm_states: Mapping[str, str]) -> list[str]:
    reasons = []
    for alarm in gate.alarms:
        state = alarm_states.get(alarm)
        if state is None:
            reasons.append(f"alarm {alarm} does not exist (a gate cannot check what is not there)")
        elif state != "OK":
            reasons.append(f"alarm {alarm} is {state}")
    return reasons


def _summary(gate: Gate, tally: Tally) -> list[str]:
    failed, total = tally.failing, tally.judged
    if not total:
        summary = ["the batch had no instances (allowed: allow_empty)"]
    elif failed:
        summary = [
            f"{total - failed} of {total} instances patched and verified; "
            f"{tally.describe(FAILING)}, within the gate's allowance"
        ]
    else:
        summary = [f"{total} instance{'s' if total != 1 else ''} patched and verified"]
    if gate.alarms:
        summary.append(f"alarms OK: {', '.join(gate.alarms)}")
    return summary
