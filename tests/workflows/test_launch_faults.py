"""patch-new-instance under faults, and through warm pools: the real ASL on the local cloud.

Each test asserts on the lifecycle action taken, the instance's patch state or command,
the DynamoDB run record and the SNS report.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.scenario import WarmPoolSpec
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import GROUP, Deployed, states_entered


def report_for(deployed: Deployed, instance: str) -> dict[str, Any]:
    [message] = deployed.messages_about(instance)
    return message


def commands_on(deployed: Deployed, instance: str) -> list[dict[str, Any]]:
    ssm = deployed.cloud.client("ssm")
    return [c for c in ssm.list_commands()["Commands"] if instance in c["InstanceIds"]]


def test_send_command_throttling_is_retried_with_backoff(deployed: Deployed) -> None:
    assert deployed.cloud.fleet is not None
    deployed.auto_scaling_group()
    # SSM throttles the next three SendCommand calls
    deployed.cloud.fleet.faults.throttle_next("SendCommand", 3)
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    history = deployed.history(execution)
    failed = [
        e
        for e in history
        if e["type"] == "TaskFailed"
        and e["taskFailedEventDetails"]["error"] == "Ssm.ThrottlingException"
    ]
    assert len(failed) == 3  # each retried by the state's Retry (jittered backoff)
    assert len(commands_on(deployed, instance)) == 1
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    assert deployed.run_record(execution)["outcome"] == "patched"


def test_a_command_that_times_out_abandons_the_instance(deployed: Deployed) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30, command_times_out=True))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Run Command reports the invocation TimedOut at AWS-RunPatchBaseline's two-hour
    # execution timeout; the run, still waiting then (its bound is the delivery plus the
    # execution timeout), abandons the instance at once rather than holding it.
    execution = deployed.execution_for(instance)
    assert execution["status"] == "FAILED"
    assert deployed.lifecycle_result(instance) == "ABANDON"
    record = deployed.run_record(execution)
    assert record["reason"] == "CommandTimedOut"
    assert record["message"].endswith(f"on {instance} ended TimedOut")
    policy = json.loads(execution["input"])["policy"]
    ran = (execution["stopDate"] - execution["startDate"]).total_seconds()
    assert 7200 < ran <= policy["agentTimeoutSeconds"] + 7200 + policy["heartbeatSeconds"]
    assert report_for(deployed, instance)["subject"] == (
        f"launch of {instance}: failed (CommandTimedOut), abandoned [test]"
    )


def test_a_patch_longer_than_the_delivery_timeout_is_waited_for(deployed: Deployed) -> None:
    # Given a launch whose patch runs 90 minutes: past the command's delivery timeout
    # (the policy's 60 minutes) plus 5, within AWS-RunPatchBaseline's 2 h execution
    # timeout, so Run Command lets it finish (events delivered, the hook heartbeated)
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(
        Behaviour(agent_delay_seconds=30, command_duration_seconds=5400)
    )

    # When the fleet runs until everything settles
    deployed.cloud.settle(max_seconds=8 * 3600)

    # Then the run waited for the patch and released the instance patched
    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert [c["Status"] for c in commands_on(deployed, instance)] == ["Success"]
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    assert deployed.run_record(execution)["outcome"] == "patched"
    policy = json.loads(execution["input"])["policy"]
    ran = (execution["stopDate"] - execution["startDate"]).total_seconds()
    assert policy["commandTimeoutSeconds"] + 300 < 5400 < ran < policy["commandWaitSeconds"]


def test_a_long_patch_is_waited_for_even_when_its_status_events_are_lost(
    deployed: Deployed,
) -> None:
    # Given the same 90-minute patch, and EventBridge losing every Run Command event
    deployed.auto_scaling_group()
    for detail_type in (
        "EC2 Command Status-change Notification",
        "EC2 Command Invocation Status-change Notification",
    ):
        deployed.cloud.faults.drop_events(detail_type)
    [instance] = deployed.scale_out(
        Behaviour(agent_delay_seconds=30, command_duration_seconds=5400)
    )

    # When the fleet runs until everything settles
    deployed.cloud.settle(max_seconds=8 * 3600)

    # Then the run asked Run Command at the end of each wait and, the patch still running
    # the first time, waited again: the instance is released patched
    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    checks = [
        e
        for e in deployed.history(execution)
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resource"] == "getCommandInvocation"
    ]
    assert len(checks) == 2


def test_an_instance_terminated_mid_patch_is_reported(deployed: Deployed) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(
        Behaviour(agent_delay_seconds=30, command_duration_seconds=1200)
    )
    deployed.cloud.settle(max_seconds=120)  # agent online, patch command running
    assert [c["Status"] for c in commands_on(deployed, instance)] == ["InProgress"]
    deployed.cloud.client("autoscaling").terminate_instance_in_auto_scaling_group(
        InstanceId=instance, ShouldDecrementDesiredCapacity=True
    )
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Nothing reports back from a terminated instance until Run Command times its
    # invocation out (the execution timeout): the run waits that long at most, finds the
    # lifecycle action gone with the instance, and says so. No instance is left held, no
    # run waits forever.
    execution = deployed.execution_for(instance)
    assert execution["status"] == "FAILED"
    assert deployed.ec2_state(instance) in {"shutting-down", "terminated"}
    policy = json.loads(execution["input"])["policy"]
    ran = (execution["stopDate"] - execution["startDate"]).total_seconds()
    assert ran <= policy["commandWaitSeconds"]
    record = deployed.run_record(execution)
    assert record["reason"] == "CommandTimedOut"
    assert report_for(deployed, instance)["attributes"]["outcome"] == "failed"
    report = deployed.report(execution["name"])
    assert (report["outcome"], report["reason"]) == ("failed", "CommandTimedOut")
    [note] = report["notes"]
    assert note.startswith("lifecycle action GONE: the lifecycle action no longer exists")
    # the heartbeat schedule was deleted when the run ended
    assert deployed.schedules_left() == []


def test_heartbeats_hold_the_hook_through_a_long_patch(deployed: Deployed) -> None:
    # A hook that times out after 15 minutes, a patch that takes 50: a heartbeat schedule
    # (EventBridge Scheduler, every heartbeatSeconds = 600 s) keeps the instance held,
    # outside the workflow: the run itself records one heartbeat, before patching.
    deployed.auto_scaling_group(heartbeat_timeout=900)
    [instance] = deployed.scale_out(
        Behaviour(agent_delay_seconds=30, command_duration_seconds=3000)
    )
    deployed.cloud.settle(max_seconds=8 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    in_workflow = [
        e
        for e in deployed.history(execution)
        if e["type"] == "TaskScheduled"
        and e["taskScheduledEventDetails"]["resource"] == "recordLifecycleActionHeartbeat"
    ]
    assert len(in_workflow) == 1
    assert deployed.cloud.scheduler is not None
    beats = deployed.cloud.scheduler.firings
    assert len(beats) == 5  # 3000 s of patching at one heartbeat per 600 s
    assert all(b.error is None for b in beats)
    assert {b.target for b in beats} == {
        "arn:aws:scheduler:::aws-sdk:autoscaling:recordLifecycleActionHeartbeat"
    }
    assert deployed.schedules_left() == []


def test_a_long_patch_costs_no_more_state_transitions_than_a_short_one(
    deployed: Deployed,
) -> None:
    deployed.auto_scaling_group()
    short, long = deployed.scale_out(
        Behaviour(agent_delay_seconds=30, command_duration_seconds=120),
        Behaviour(agent_delay_seconds=30, command_duration_seconds=3600),
    )
    deployed.cloud.settle(max_seconds=8 * 3600)

    def transitions(instance: str) -> int:
        execution = deployed.execution_for(instance)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        return len(states_entered(deployed.history(execution)))

    assert transitions(short) == transitions(long)
    assert transitions(short) <= 30


def warm_group(deployed: Deployed) -> None:
    # A pool of one: its size is MaxSize minus the desired capacity.
    deployed.auto_scaling_group(
        max_size=1, warm_pool=WarmPoolSpec(min_size=1, pool_state="Stopped")
    )


def runs_by_trigger(deployed: Deployed) -> dict[str, dict[str, Any]]:
    return {json.loads(e["input"])["trigger"]: e for e in deployed.executions()}


def test_warm_pool_instances_are_patched_going_in_and_only_scanned_coming_out(
    deployed: Deployed,
) -> None:
    warm_group(deployed)
    deployed.cloud.settle(max_seconds=6 * 3600)
    [entered] = deployed.executions()
    assert json.loads(entered["input"])["trigger"] == "warm-pool-enter"
    assert entered["status"] == "SUCCEEDED", entered.get("cause")
    instance = json.loads(entered["input"])["instanceId"]
    assert deployed.group_state(instance) == "Warmed:Stopped"

    # Leaving the pool an hour later: nothing new was released, a scan shows it compliant
    deployed.cloud.advance(3600)
    assert deployed.cloud.autoscaling is not None
    assert deployed.cloud.autoscaling.scale_out(GROUP, 1) == [instance]
    deployed.cloud.settle(max_seconds=6 * 3600)

    exited = runs_by_trigger(deployed)["warm-pool-exit"]
    assert exited["status"] == "SUCCEEDED", exited.get("cause")
    operations = [c["Parameters"]["Operation"] for c in commands_on(deployed, instance)]
    assert sorted(operations) == [["Install"], ["Scan"]]  # install going in, scan coming out
    assert deployed.group_state(instance) == "InService"
    record = deployed.run_record(exited)
    assert (record["outcome"], record["reason"]) == ("compliant", "AlreadyCompliant")
    [report] = [m for m in deployed.messages() if m["attributes"]["run"] == exited["name"]]
    assert report["subject"] == f"launch of {instance}: already compliant, released [test]"


def test_a_warm_pool_instance_that_fell_behind_is_patched_on_the_way_out(
    deployed: Deployed,
) -> None:
    warm_group(deployed)
    deployed.cloud.settle(max_seconds=6 * 3600)
    [entered] = deployed.executions()
    instance = json.loads(entered["input"])["instanceId"]
    # Twelve days in the pool: the catalogue releases new updates meanwhile, and the test
    # environment approves them on release (0 days).
    deployed.cloud.advance(12 * 24 * 3600)
    assert deployed.cloud.autoscaling is not None
    assert deployed.cloud.autoscaling.scale_out(GROUP, 1) == [instance]
    deployed.cloud.settle(max_seconds=6 * 3600)

    exited = runs_by_trigger(deployed)["warm-pool-exit"]
    assert exited["status"] == "SUCCEEDED", exited.get("cause")
    operations = [c["Parameters"]["Operation"] for c in commands_on(deployed, instance)]
    assert sorted(operations) == [["Install"], ["Install"], ["Scan"]]
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    assert deployed.run_record(exited)["outcome"] == "patched"
