"""Governance: may a window's wave run go now? (the gated wave's CheckGovernance task)

A run its window starts carries ``governance`` in its input (``fleetpatch.waves.run_input``:
the policy's change freeze and the wave). Before it takes the wave's lease and sends anything,
the run asks :func:`check_governance` (evaluate-gate, ``check: governance``), which answers:

* ``skip`` (``skippedBy: operator``): an operator skipped the wave's next occurrence
  (``fleetpatch.wave_skip``), taken by this run;
* ``skip`` / ``wait`` / ``go`` from the change freeze (``fleetpatch.change_freeze.decide``):
  while the calendar is CLOSED, skip, or wait until its next transition and ask again
  (a ``Wait`` state until ``waitUntil``: no polling), never past the run's deadline;
* ``go`` otherwise.

The run then reports a skip through publish-report, as any run ends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetpatch import clock, wave_skip
from fleetpatch.change_freeze import OnClosed, decide, freeze_state
from fleetpatch.services import ClientFactory, aws_client


class FreezeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    calendars: list[str] = Field(min_length=1)
    on_closed: OnClosed = Field(alias="onClosed")
    deadline: datetime


class Governance(BaseModel):
    """The run input's ``governance`` (built by ``fleetpatch.waves.governance_input``)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)
    freeze: FreezeInput | None = None
    operator_skips: bool = Field(default=True, alias="operatorSkips")


def check_governance(
    run_id: str,
    wave: str,
    governance: Governance,
    *,
    table_name: str,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """``{"action": go|wait|skip, "reason", "waitUntil", "skippedBy"}`` for this run, now."""
    now = clock.now()
    if governance.operator_skips:
        taken = wave_skip.take(client("dynamodb"), table_name, wave, run_id=run_id, now=now)
        if taken is not None:
            return {
                "action": "skip",
                "reason": taken.describe(),
                "waitUntil": None,
                "skippedBy": "operator",
            }
    if governance.freeze is None:
        return {"action": "go", "reason": "no change freeze", "waitUntil": None, "skippedBy": None}
    freeze = governance.freeze
    state = freeze_state(client("ssm"), freeze.calendars, now)
    return decide(state, on_closed=freeze.on_closed, deadline=freeze.deadline).as_dict()
