"""Disruption budgets: at most the limit out of service per scope, all scopes or none."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from fleetpatch import budget
from fleetpatch.budget import Claim
from fleetpatch.errors import BudgetExhaustedError
from fleetpatch.serving import Placement, Registration, claims, limit, scope_ids, zone_order

from .conftest import STATE_TABLE

GROUP = "auto-scaling-group:web"
ZONE = "availability-zone:eu-central-1a"


def running(ids: Sequence[str]) -> Mapping[str, str]:
    return dict.fromkeys(ids, "running")


def take(
    dynamodb: Any,
    instance_id: str,
    scopes: Sequence[Claim],
    states: Any = running,
    run: str = "run-1",
) -> None:
    budget.acquire(
        dynamodb,
        STATE_TABLE,
        instance_id,
        scopes,
        run_id=run,
        now="2026-11-07T06:00:00+00:00",
        instance_states=states,
    )


def test_a_scope_takes_at_most_its_limit(state_table: Any) -> None:
    # Given a group that allows two out of service at once
    web = [Claim(GROUP, 2, 6)]
    # When three instances ask
    take(state_table, "i-00000001", web)
    take(state_table, "i-00000002", web)
    # Then the third is refused, naming the scope and who holds it
    with pytest.raises(BudgetExhaustedError) as refused:
        take(state_table, "i-00000003", web)
    assert "auto-scaling-group:web has 2 of 6 out of service already" in str(refused.value)
    assert "i-00000001, i-00000002" in str(refused.value)
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000001", "i-00000002"}


def test_asking_again_is_not_a_second_place(state_table: Any) -> None:
    # A retried step (or a failed instance patched again) already holds its place.
    web = [Claim(GROUP, 1, 6)]
    take(state_table, "i-00000001", web)
    take(state_table, "i-00000001", web)
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000001"}


def test_all_scopes_or_none(state_table: Any) -> None:
    # Given the zone is full but the group is not
    take(state_table, "i-00000009", [Claim(ZONE, 1, 10)])
    # When an instance in both asks
    with pytest.raises(BudgetExhaustedError):
        take(state_table, "i-00000001", [Claim(GROUP, 2, 6), Claim(ZONE, 1, 10)])
    # Then it took no place in the group either
    assert budget.holders(state_table, STATE_TABLE, GROUP) == set()
    assert budget.holder(state_table, STATE_TABLE, "i-00000001") is None


def test_release_gives_every_place_back(state_table: Any) -> None:
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6), Claim(ZONE, 1, 10)])
    assert budget.release(state_table, STATE_TABLE, "i-00000001") == [GROUP, ZONE]
    assert budget.holders(state_table, STATE_TABLE, GROUP) == set()
    assert budget.holders(state_table, STATE_TABLE, ZONE) == set()
    # Releasing again is harmless
    assert budget.release(state_table, STATE_TABLE, "i-00000001") == []
    take(state_table, "i-00000002", [Claim(GROUP, 1, 6)])


def test_a_terminated_holder_is_released_before_refusing(state_table: Any) -> None:
    # Given an instance that failed its health check holds the only place, and is
    # terminated since (an instance terminated in Standby)
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6), Claim(ZONE, 1, 10)])

    def states(ids: Sequence[str]) -> Mapping[str, str]:
        return {i: "terminated" for i in ids if i == "i-00000001"}

    # When another asks, it gets the place, and the gone one holds nothing anywhere
    take(state_table, "i-00000002", [Claim(GROUP, 1, 6)], states)
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000002"}
    assert budget.holders(state_table, STATE_TABLE, ZONE) == set()


def test_a_running_holder_keeps_its_place(state_table: Any) -> None:
    # A failed instance still running (out of service) keeps consuming the budget.
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6)])
    with pytest.raises(BudgetExhaustedError):
        take(state_table, "i-00000002", [Claim(GROUP, 1, 6)])


@pytest.mark.parametrize(
    ("value", "total", "expected"),
    [("1", 6, 1), ("2", 6, 2), ("50%", 6, 3), ("10%", 6, 1), ("34%", 3, 1), ("100%", 4, 4)],
)
def test_limits(value: str, total: int, expected: int) -> None:
    assert limit(value, total) == expected


def test_scopes_of_an_instance() -> None:
    arn = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/web/0123456789abcdef"
    other = (
        "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/api/0123456789abcdef"
    )
    where = Placement(
        "i-00000001",
        "running",
        zone="eu-central-1a",
        group="web",
        lifecycle="InService",
        targets=[Registration(arn, 80, attached=True), Registration(other, 8080)],
    )
    every = ["auto-scaling-group", "target-group", "availability-zone"]
    assert scope_ids(where, every, drain_targets=True) == [
        "auto-scaling-group:web",
        "availability-zone:eu-central-1a",
        f"target-group:{other}",
        f"target-group:{arn}",
    ]
    # A target group it is not taken out of does not count (only the attached one drains).
    assert f"target-group:{other}" not in scope_ids(where, every, drain_targets=False)
    assert scope_ids(where, ["auto-scaling-group"], drain_targets=True) == [GROUP]
    # An instance that serves nothing has no scope, not even its zone.
    idle = Placement("i-00000002", "running", zone="eu-central-1a")
    assert scope_ids(idle, every, drain_targets=True) == []
    assert [c.limit for c in claims([GROUP], {GROUP: 6}, "50%")] == [3]


def test_zone_by_zone_order() -> None:
    zones = {"i-3": "eu-central-1b", "i-1": "eu-central-1a", "i-2": "eu-central-1b"}
    assert zone_order(zones, zone_by_zone=True, concurrency=100) == {
        "zones": [
            {"zone": "eu-central-1a", "instances": ["i-1"]},
            {"zone": "eu-central-1b", "instances": ["i-2", "i-3"]},
        ],
        "concurrency": 40,
    }
    assert zone_order(zones, zone_by_zone=False, concurrency=2)["zones"] == [
        {"zone": "all", "instances": ["i-1", "i-2", "i-3"]}
    ]
    assert zone_order({}, zone_by_zone=False, concurrency=2)["zones"] == []


def test_another_run_waits_while_a_run_patches_the_instance(state_table: Any) -> None:
    # Given run 1 holds the instance's place (it is patching it)
    take(state_table, "i-00000001", [Claim(GROUP, 2, 6)], run="run-1")
    # When run 2 asks for the same instance, it waits: the instance is not its to drain
    with pytest.raises(BudgetExhaustedError, match="out of service for run run-1"):
        take(state_table, "i-00000001", [Claim(GROUP, 2, 6)], run="run-2")
    # and run 2 giving back what it never got gives back nothing
    assert budget.release(state_table, STATE_TABLE, "i-00000001", "run-2") == []
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000001"}
    # Once run 1 gave it back, run 2 may take it
    assert budget.release(state_table, STATE_TABLE, "i-00000001", "run-1") == [GROUP]
    take(state_table, "i-00000001", [Claim(GROUP, 2, 6)], run="run-2")


def test_an_instance_a_run_left_out_of_service_may_be_taken_over(state_table: Any) -> None:
    # Given run 1 failed the instance's checks and left it out (it keeps its place)
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6)], run="run-1")
    budget.keep(state_table, STATE_TABLE, "i-00000001", "run-1")
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000001"}
    # When run 2 patches it again, it takes the same place over (no second place)
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6)], run="run-2")
    held = budget.holder(state_table, STATE_TABLE, "i-00000001")
    assert held is not None
    assert held["run"] == "run-2"
    assert budget.holders(state_table, STATE_TABLE, GROUP) == {"i-00000001"}


def test_places_go_back_before_the_instance_does(state_table: Any) -> None:
    # Given run 1 put the instance back in service and gave its places back (give-back)
    take(state_table, "i-00000001", [Claim(GROUP, 1, 6)], run="run-1")
    assert budget.release(state_table, STATE_TABLE, "i-00000001", "run-1", keep_instance=True) == [
        GROUP
    ]
    # Then another instance may go out, but another run still waits for this one
    take(state_table, "i-00000002", [Claim(GROUP, 1, 6)], run="run-1")
    with pytest.raises(BudgetExhaustedError, match="out of service for run run-1"):
        take(state_table, "i-00000001", [Claim(GROUP, 2, 6)], run="run-2")
    # until run 1 finished with it
    assert budget.release(state_table, STATE_TABLE, "i-00000001", "run-1") == []
    assert budget.holder(state_table, STATE_TABLE, "i-00000001") is None
