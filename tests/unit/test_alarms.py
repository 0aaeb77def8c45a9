"""A gate's alarm history: the spells in ALARM since the bake started, and what they hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetpatch.alarms import Spell, held_by_history, history_reasons, spells_of
from fleetpatch.gate import GateDecision

BAKE = datetime(2026, 11, 7, 6, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return BAKE + timedelta(minutes=minutes)


def test_spells_open_and_close_with_the_state_updates() -> None:
    assert spells_of([]) == []
    assert spells_of([(at(5), "OK", "ALARM"), (at(9), "ALARM", "OK")]) == [Spell(at(5), at(9))]
    # in ALARM when the bake began; fired again and still firing; INSUFFICIENT_DATA ends one
    assert spells_of(
        [
            (at(2), "ALARM", "INSUFFICIENT_DATA"),
            (at(4), "INSUFFICIENT_DATA", "ALARM"),
            (at(6), "ALARM", "OK"),
            (at(8), "OK", "ALARM"),
        ]
    ) == [Spell(None, at(2)), Spell(at(4), at(6)), Spell(at(8), None)]


def test_an_alarm_ok_now_that_was_in_alarm_during_the_bake_is_a_reason() -> None:
    spells = {
        "api-errors": [Spell(at(10), at(15)), Spell(at(20), at(21)), Spell(at(25), at(26))],
        "db-latency": [Spell(None, at(3))],
        "still-firing": [Spell(at(1), None)],
    }
    states = {"api-errors": "OK", "db-latency": "OK", "still-firing": "ALARM", "quiet": "OK"}
    names = ["api-errors", "db-latency", "still-firing", "quiet", "missing"]

    assert history_reasons(names, states, spells, since=BAKE) == [
        "alarm api-errors was ALARM during the bake, from 2026-11-07 06:10:00 UTC to "
        "2026-11-07 06:15:00 UTC, and 2 more times; it is OK now",
        "alarm db-latency was ALARM during the bake, from before the bake (2026-11-07 "
        "06:00:00 UTC) to 2026-11-07 06:03:00 UTC; it is OK now",
    ]  # ALARM now, or missing: the gate's own reasons already


def test_a_reason_from_the_history_holds_a_gate_that_passed_and_adds_to_one_that_failed() -> None:
    passed = GateDecision(True, ["2 instances patched and verified", "alarms OK: a"], {}, 2)
    failed = GateDecision(False, ["1 of 2 instances failed"], {"i-1": "failed"}, 2)

    assert held_by_history(passed, []) is passed
    assert held_by_history(passed, ["alarm a was ALARM"]) == GateDecision(
        False, ["alarm a was ALARM"], {}, 2
    )
    assert held_by_history(failed, ["alarm a was ALARM"]) == GateDecision(
        False, ["1 of 2 instances failed", "alarm a was ALARM"], {"i-1": "failed"}, 2
    )
