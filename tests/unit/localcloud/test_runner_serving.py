"""What the runner reads back of a serving wave: a target group's lowest healthy count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from localcloud.runner import lowest_healthy

T0 = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_the_lowest_counts_from_when_the_tier_was_first_at_full_strength() -> None:
    # registered one by one and healthy after their first checks: not an outage
    samples = [(at(0), 0, 6), (at(1), 3, 6), (at(2), 6, 6)]
    # then one out (deregistered: registered drops too), back, and another out twice
    samples += [(at(10), 5, 5), (at(15), 6, 6), (at(20), 5, 5), (at(30), 5, 6), (at(31), 6, 6)]
    assert lowest_healthy(samples) == (6, at(2), 5, at(10))


def test_a_drop_below_the_budget_is_the_lowest() -> None:
    samples = [(at(0), 4, 4), (at(5), 3, 3), (at(6), 2, 3), (at(9), 4, 4)]
    assert lowest_healthy(samples) == (4, at(0), 2, at(6))


def test_a_target_group_never_healthy_has_no_lowest() -> None:
    assert lowest_healthy([]) is None
    assert lowest_healthy([(at(0), 0, 3), (at(1), 0, 3)]) is None
