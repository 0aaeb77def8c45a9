"""The launch benchmarks' arithmetic: the launch overhead and the cost model's watcher share.

The benchmarks themselves run on the local cloud (``make bench``); these check what they
compute from what they measured.
"""

from __future__ import annotations

import pytest

from benchmarks import cost_model
from benchmarks.figures import Figure
from benchmarks.launch_world import Launch

RUN = {
    "state transitions, 2-minute patch": 30,
    "Lambda GB-seconds, 2-minute patch": 0.2,
    "Lambda invocations, 2-minute patch": 9,
}
WATCHER = {
    "readiness watcher transitions, 2-minute patch": 4,
    "readiness watcher GB-seconds, 2-minute patch": 4.0,
    "readiness watcher invocations, 2-minute patch": 1,
}
WAVE = {
    "N=1000 state transitions": 41,
    "N=1000 Lambda GB-seconds": 5,
    "N=1000 Lambda invocations": 2050,
}


def launch(result: str | None = "CONTINUE", **times: float | None) -> Launch:
    values: dict[str, float | None] = {
        "online_to_send": 1.0,
        "event_to_complete": 0.0,
        "hold": 300.0,
        "registration": 90.0,
        "patch": 180.0,
    }
    return Launch("i-0123456789abcdef0", result, "", **{**values, **times})  # type: ignore[arg-type]


def figures(launch_run: dict[str, float]) -> list[Figure]:
    return [Figure("launch run", n, v, "") for n, v in launch_run.items()] + [
        Figure("wave scale", n, v, "") for n, v in WAVE.items()
    ]


def test_the_overhead_is_the_hold_less_the_agent_and_the_patch() -> None:
    # Given a launch held 300 s, whose agent took 90 s and whose patch ran 180 s
    # Then the control plane's share is the 30 s left
    assert launch().overhead == 30.0


@pytest.mark.parametrize(
    "made",
    [launch("ABANDON"), launch(None), launch(hold=None), launch(patch=None)],
)
def test_no_overhead_for_a_launch_not_released_or_not_timed(made: Launch) -> None:
    assert made.overhead is None


def test_a_launch_run_costs_its_own_share_and_the_watchers() -> None:
    # Given the figures of a run and of the watcher that waited with it
    with_watcher = cost_model.model(figures(RUN | WATCHER))
    without = cost_model.model(figures(RUN | dict.fromkeys(WATCHER, 0)))
    per_launch = {f.name: f.value for f in with_watcher}["per launch run"]
    alone = {f.name: f.value for f in without}["per launch run"]
    # Then the watcher's 4 transitions, 4 GB-s and one request are priced in
    share = (
        4 * cost_model.PRICE_PER_TRANSITION
        + 4.0 * cost_model.PRICE_PER_GB_SECOND
        + cost_model.PRICE_PER_REQUEST
    )
    assert per_launch == pytest.approx(float(alone) + share, abs=1e-6)
    transitions = {f.name: f.value for f in with_watcher}["month: state transitions"]
    launches = cost_model.LAUNCHES_PER_DAY * cost_model.DAYS_PER_MONTH
    assert transitions == (30 + 4) * launches + 41


def test_the_model_needs_the_watchers_figures() -> None:
    with pytest.raises(LookupError, match="readiness watcher"):
        cost_model.model(figures(RUN))
