"""Waiting for new instances' agents: one watcher for every launch, no run held by it.

The real launch and readiness-watcher ASL, await-ready and watch-ready on the local cloud
(IAM enforced, AWS's rate limits on). Times are simulated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed, states_entered


def sent_at(deployed: Deployed, instance: str) -> datetime:
    """When the instance's run entered SendPatchCommand."""
    history = deployed.history(deployed.execution_for(instance))
    [sent] = [
        e["timestamp"]
        for e in history
        if e["type"] == "TaskStateEntered"
        and e["stateEnteredEventDetails"]["name"] == "SendPatchCommand"
    ]
    when: datetime = sent
    return when


def watcher_calls(deployed: Deployed) -> list[dict[str, Any]]:
    """DescribeInstanceInformation calls watch-ready made (its invocations' own count)."""
    return [
        i.result
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("-watch-ready") and i.result
    ]


def test_one_watcher_serves_a_scale_out_each_run_patched_within_a_poll_of_its_agent(
    deployed: Deployed,
) -> None:
    # Given a group that scales out by five instances whose agents take from 20 s to 700 s
    # to register (700 s is past the policy's 600 s heartbeat interval)
    deployed.auto_scaling_group()
    delays = [20, 45, 90, 200, 700]
    instances = deployed.scale_out(*[Behaviour(agent_delay_seconds=d) for d in delays])
    deployed.cloud.settle(max_seconds=6 * 3600)

    for instance in instances:
        # Then each was patched and released
        assert deployed.lifecycle_result(instance) == "CONTINUE"
        # within one poll (2 s) of its agent registering
        lag = (sent_at(deployed, instance) - deployed.agent_online_at(instance)).total_seconds()
        assert 0 <= lag <= 2, (instance, lag)
    # and no run asked for its own agent: the watcher answered each within its bound
    for instance in instances[:-1]:
        assert "CheckAgent" not in states_entered(
            deployed.history(deployed.execution_for(instance))
        )
    # except that the slow one's wait ended once, for its heartbeat: it asked once, recorded
    # the heartbeat and waited again
    slow = states_entered(deployed.history(deployed.execution_for(instances[-1])))
    assert slow.count("CheckAgent") == 1
    assert slow.count("HeartbeatWhileWaitingForAgent") == 1
    assert slow.count("AwaitAgent") == 2
    # and one watcher execution served them all, and stopped when nothing waited
    [watcher] = deployed.executions_of("ReadinessWatcherStateMachine")
    assert watcher["status"] == "SUCCEEDED"
    rounds = watcher_calls(deployed)
    assert sum(r["resumed"] for r in rounds) == len(instances)
    assert rounds[-1]["reason"] == "nothing waits"


def test_a_watcher_that_fails_holds_no_run_and_the_next_one_takes_over(
    deployed: Deployed,
) -> None:
    # Given watch-ready failing every time for a while (its state machine gives up after
    # its retries), and a launch whose agent registers after 60 s
    deployed.auto_scaling_group()
    deployed.cloud.faults.crash_once("watch-ready", times=6)
    [first] = deployed.scale_out(Behaviour(agent_delay_seconds=60))
    deployed.cloud.advance(180)
    first_watcher = deployed.executions_of("ReadinessWatcherStateMachine")[0]
    assert first_watcher["status"] == "FAILED"
    assert deployed.lifecycle_result(first) is None  # still held, waiting
    # When a second launch registers after the dead watcher's lease ran out
    [second] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then its registration started a new watcher, which resumed the first run too: at the
    # second launch, long before the first run's own bound (its heartbeat, 600 s)
    watchers = deployed.executions_of("ReadinessWatcherStateMachine")
    assert [w["status"] for w in watchers] == ["FAILED", "SUCCEEDED"]
    assert deployed.lifecycle_result(first) == "CONTINUE"
    assert deployed.lifecycle_result(second) == "CONTINUE"
    launched_second = watchers[1]["startDate"]
    assert 0 <= (sent_at(deployed, first) - launched_second).total_seconds() <= 2
    assert 0 <= (sent_at(deployed, second) - deployed.agent_online_at(second)).total_seconds() <= 2


def test_without_any_watcher_a_run_asks_for_itself_at_its_bound(deployed: Deployed) -> None:
    # Given no watcher can run at all (watch-ready fails every time)
    deployed.auto_scaling_group()
    deployed.cloud.faults.crash_once("watch-ready", times=1000)
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=60))
    deployed.cloud.settle(max_seconds=6 * 3600)
    # Then the run still patched the instance: its wait timed out at the heartbeat due
    # (600 s), it asked for itself, found the agent Online and went on
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    entered = states_entered(deployed.history(deployed.execution_for(instance)))
    assert entered.count("CheckAgent") == 1
    waited = (sent_at(deployed, instance) - deployed.agent_online_at(instance)).total_seconds()
    assert 600 - 60 - 5 <= waited <= 600
