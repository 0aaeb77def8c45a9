"""A gate's alarms: their state now, and every time they were in ALARM since the bake started.

The state at the end of the bake is not enough: an alarm that fires and clears within the
bake (a latency spike while the patched batch reboots, a SetAlarmState test) is OK by the
time the gate looks. Its history (DescribeAlarmHistory, ``StateUpdate`` items) still shows
it, and the gate holds on it like on an alarm in ALARM now, naming when.

Both calls ask for metric and composite alarms: without ``AlarmTypes`` CloudWatch answers
for metric alarms only (CloudWatch API reference, DescribeAlarms and DescribeAlarmHistory),
and composite alarms are read only with the permissions on ``*`` (template).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetpatch.gate import GateDecision


ALARM_TYPES = ["MetricAlarm", "CompositeAlarm"]
ALARM = "ALARM"
# DescribeAlarms takes at most 100 names per call.
MAX_NAMES_PER_CALL = 100


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str]:
    """Alarm name -> its state now, for every alarm of ``names`` that exists."""
    if not names:
        return {}
    found: dict[str, str] = {}
    for start in range(0, len(names), MAX_NAMES_PER_CALL):
        chunk = list(names[start : start + MAX_NAMES_PER_CALL])
        response = cloudwatch.describe_alarms(AlarmNames=chunk, AlarmTypes=ALARM_TYPES)
        for alarm in response.get("MetricAlarms", []) + response.get("CompositeAlarms", []):
            found[alarm["AlarmName"]] = alarm["StateValue"]
    return found


@dataclass(frozen=True)
class Spell:
    """A time an alarm was in ALARM: from ``start`` (None: already before ``since``) to ``end``."""

    start: datetime | None
    end: datetime | None
    """None: still in ALARM at the last item read."""


def alarm_spells(cloudwatch: Any, names: Sequence[str], since: datetime) -> dict[str, list[Spell]]:
    """Alarm name -> the times it was in ALARM at or after ``since``, from its state history."""
    spells: dict[str, list[Spell]] = {}
    paginator = cloudwatch.get_paginator("describe_alarm_history")
    for name in names:
        updates = []
        for page in paginator.paginate(
            AlarmName=name,
            AlarmTypes=ALARM_TYPES,
            HistoryItemType="StateUpdate",
            StartDate=since,
            ScanBy="TimestampAscending",
        ):
            for item in page["AlarmHistoryItems"]:
                data = json.loads(item["HistoryData"])
                updates.append(
                    (
                        item["Timestamp"],
                        data["oldState"]["stateValue"],
                        data["newState"]["stateValue"],
                    )
                )
        found = spells_of(updates)
        if found:
            spells[name] = found
    return spells


def spells_of(updates: Sequence[tuple[datetime, str, str]]) -> list[Spell]:
    """The ALARM spells in a time-ordered list of (when, old state, new state)."""
    spells: list[Spell] = []
    start: datetime | None = None
    open_spell = False
    for index, (when, old, new) in enumerate(sorted(updates, key=lambda u: u[0])):
        if index == 0 and old == ALARM:
            open_spell, start = True, None  # in ALARM when the window began
        if new == ALARM and not open_spell:
            open_spell, start = True, when
        elif new != ALARM and open_spell:
            spells.append(Spell(start, when))
            open_spell = False
    if open_spell:
        spells.append(Spell(start, None))
    return spells


def history_reasons(
    names: Sequence[str],
    states: Mapping[str, str],
    spells: Mapping[str, Sequence[Spell]],
    *,
    since: datetime,
) -> list[str]:
    """Why the gate holds for alarms that are OK now but were in ALARM since ``since``.

    An alarm not OK now, or missing, is already a reason of the gate's own (fleetpatch.gate).
    """
    reasons = []
    for name in names:
        if states.get(name) != "OK" or not spells.get(name):
            continue
        first, *others = spells[name]
        began = _stamp(first.start) if first.start else f"before the bake ({_stamp(since)})"
        ended = _stamp(first.end) if first.end else "later"
        more = f", and {len(others)} more time{'s' if len(others) > 1 else ''}" if others else ""
        reasons.append(
            f"alarm {name} was ALARM during the bake, from {began} to {ended}{more}; it is OK now"
        )
    return reasons


def held_by_history(decision: GateDecision, reasons: Sequence[str]) -> GateDecision:
    """The gate's decision with the alarm history's reasons: any of them holds it."""
    if not reasons:
        return decision
    # A passed decision's reasons say what it checked ("alarms OK: ..."): no longer true.
    kept = [] if decision.passed else decision.reasons
    # Imported here: the serving and compliance handlers use this module's reads, not gates.
    from fleetpatch.gate import GateDecision

    return GateDecision(False, [*kept, *reasons], decision.failed_instances, decision.instances)


def with_alarm_history(
    decision: GateDecision,
    cloudwatch: Any,
    names: Sequence[str],
    states: Mapping[str, str],
    *,
    since: datetime | None,
) -> GateDecision:
    """``decision``, held as well by any of ``names`` in ALARM at any time since ``since``.

    ``states`` are the alarms' states now (what the decision judged); None: no bake start
    known (a run started before the workflow passed it), only the states now count.
    """
    if since is None or not names:
        return decision
    spells = alarm_spells(cloudwatch, names, since)
    return held_by_history(decision, history_reasons(names, states, spells, since=since))


def _stamp(when: datetime) -> str:
    # The reports' time format (fleetpatch.reports.format_stamp, whose module imports the
    # gate's evidence readers, which import this one).
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
