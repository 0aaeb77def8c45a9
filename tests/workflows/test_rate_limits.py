"""A scale-out under AWS's API rate limits alone: no injected fault, only the token buckets.

Launches arrive in waves within one simulated minute; every run polls the agent, sends its
command, waits, verifies and completes the lifecycle action through the same buckets
(localcloud/core/ratelimits.py). The workflows' ASL ``Retry`` and the handlers' retry of
``AwsThrottledError`` must absorb the throttling: every instance is released, or abandoned
for a reason of its own, never because AWS throttled a call.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_fault_suite import Observed, launch_accounting

WAVES = 4
WAVE_SECONDS = 15  # four waves in one simulated minute


def scale_out_within_a_minute(deployed: Deployed, launches: int) -> list[str]:
    deployed.auto_scaling_group(max_size=launches)
    instances: list[str] = []
    for wave in range(WAVES):
        size = launches // WAVES + (wave < launches % WAVES)
        instances += deployed.scale_out(*[Behaviour(agent_delay_seconds=30)] * size)
        deployed.cloud.advance(WAVE_SECONDS)
    return instances


def throttled_in_runs(deployed: Deployed) -> int:
    """Throttling errors the runs' SDK tasks saw (each then retried by the ASL)."""
    return sum(
        1
        for e in deployed.executions()
        for h in deployed.history(e)
        if h["type"] == "TaskFailed" and "Throttl" in h["taskFailedEventDetails"]["error"]
    )


def assert_scale_out_survives_the_rate_limits(deployed: Deployed, launches: int) -> Observed:
    # Given no injected fault at all: only AWS's rate limits
    assert deployed.cloud.rate_limits.enabled
    # When the group scales out by `launches` instances within one simulated minute
    instances = scale_out_within_a_minute(deployed, launches)
    deployed.cloud.settle(max_seconds=8 * 3600)

    # Then every instance was released, or abandoned for a reason, and reported once
    figures = launch_accounting(deployed, instances)
    assert figures["released"] + figures["abandoned"] == launches
    assert (figures["duplicate runs"], figures["duplicate commands"]) == (0, 0)
    # and no run failed because AWS throttled it
    failed = [e for e in deployed.executions() if e["status"] == "FAILED"]
    reasons = {f"{e.get('error')}: {e.get('cause')}" for e in failed}
    assert not [r for r in reasons if "Throttl" in r or "Rate exceeded" in r], reasons
    assert all(e.get("error") for e in failed), "an abandoned instance without a reason"
    # and the buckets did throttle: the scenario is not trivially under the limits
    throttled = deployed.cloud.rate_limits.throttled()
    assert throttled > 0
    observed = Observed(
        scenario=f"rate limits: {launches} launches within a minute",
        injected="none: AWS's API rate limits only (docs/limits.md)",
    )
    observed.figures = figures | {
        "calls throttled by the buckets": throttled,
        "throttling errors retried by the runs' ASL": throttled_in_runs(deployed),
        "abandoned for": dict(Counter(str(e.get("error")) for e in failed)),
    }
    return observed


def test_a_scale_out_within_a_minute_survives_rate_limits_a_twentieth_of_aws(
    deployed: Deployed,
) -> None:
    # The 200-launch scenario (make soak) at a scale `make test` affords: 4 launches against
    # buckets a twentieth of AWS's (SSM: one call at once, a token every 4 s). Before the
    # workflow's throttling retries were given 10 attempts capped at 60 s, this abandoned
    # instances with AgentCheckFailed and TargetUnresolved (AwsThrottledError).
    deployed.cloud.rate_limits.scale(0.05)
    observed = assert_scale_out_survives_the_rate_limits(deployed, 4)
    assert observed.figures["released"] == 4


@pytest.mark.skipif(os.environ.get("FLEETPATCH_SOAK") != "1", reason="make soak runs it")
def test_a_scale_out_of_200_within_a_minute_survives_the_rate_limits(deployed: Deployed) -> None:
    observed = assert_scale_out_survives_the_rate_limits(deployed, 200)
    assert observed.figures["released"] == 200
    directory = os.environ.get("FLEETPATCH_FAULTS_OUT")
    if directory:
        observed.save(directory, "test_a_scale_out_of_200_within_a_minute")
