"""patch-new-instance: the real ASL, started by EventBridge from a launch, at time factor 0."""

from __future__ import annotations

import json

from fleetpatch.contracts import keys
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import GROUP, HOOK, Deployed, states_entered


def test_a_launched_instance_is_held_patched_verified_and_released(deployed: Deployed) -> None:
    # Given an Auto Scaling group whose launch hook fleetpatch covers
    deployed.auto_scaling_group()
    # When it launches an instance whose agent takes 45 s to come online
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=45))
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then EventBridge started one run for it, which succeeded
    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["input"])["lifecycle"]["hookName"] == HOOK
    history = deployed.history(execution)
    # through Lambda tasks, aws-sdk:ssm calls and JSONata, parked on a task token while the
    # agent registers (no Wait state: the account's readiness watcher resumes it)
    assert "WaitStateEntered" not in {e["type"] for e in history}
    scheduled = {
        (e["taskScheduledEventDetails"]["resourceType"], e["taskScheduledEventDetails"]["resource"])
        for e in history
        if "taskScheduledEventDetails" in e
    }
    assert {
        ("lambda", "invoke"),
        ("lambda", "invoke.waitForTaskToken"),
        ("aws-sdk:ssm", "sendCommand"),
        ("aws-sdk:ssm", "describeInstancePatchStates"),
        ("aws-sdk:autoscaling", "completeLifecycleAction"),
    } <= scheduled
    entered = states_entered(history)
    assert entered.count("AwaitAgent") == 1
    assert "CheckAgent" not in entered  # the watcher answered within the run's bound
    assert (
        entered.index("AwaitAgent")
        < entered.index("SendPatchCommand")
        < entered.index("CompleteLifecycleAction")
    )
    # and the command went out within one poll (2 s, simulated) of the agent's registration
    online = deployed.agent_online_at(instance)
    [sent] = [
        e["timestamp"]
        for e in history
        if e["type"] == "TaskStateEntered"
        and e["stateEnteredEventDetails"]["name"] == "SendPatchCommand"
    ]
    assert 0 <= (sent - online).total_seconds() <= 2
    # and the watcher, its work done, stopped
    [watcher] = deployed.executions_of("ReadinessWatcherStateMachine")
    assert watcher["status"] == "SUCCEEDED"

    # and the instance was patched (AWS state, not the run's word for it)
    patch_state = deployed.cloud.client("ssm").describe_instance_patch_states(
        InstanceIds=[instance]
    )["InstancePatchStates"][0]
    assert patch_state["Operation"] == "Install"
    assert patch_state["MissingCount"] == 0
    assert patch_state["FailedCount"] == 0
    # released into service with CONTINUE
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    assert deployed.group_state(instance) == "InService"
    # recorded and reported
    record = deployed.run_record(execution)
    assert (record["outcome"], record["lifecycle_result"]) == ("patched", "CONTINUE")
    [message] = deployed.messages()
    installed = patch_state["InstalledCount"]
    assert message["subject"] == (
        f"launch of {instance}: patched, {installed} installed, released [test]"
    )
    assert message["attributes"] == {
        "kind": "launch",
        "outcome": "patched",
        "environment": "test",
        "lifecycle": "CONTINUE",
        "group": GROUP,
        "run": execution["name"],
        "report": deployed.report_keys(execution["name"])[0],
    }
    [result] = deployed.report(execution["name"])["batches"][0]["instances"]
    assert (result["outcome"], result["missing"], result["installed"]) == ("patched", 0, installed)


def test_an_instance_whose_agent_never_comes_online_is_abandoned(deployed: Deployed) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(never_online=True))
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "AgentNeverOnline"
    # It waited the policy's agent timeout (900 s by default), then gave up: no command.
    assert (execution["stopDate"] - execution["startDate"]).total_seconds() >= 900
    assert deployed.cloud.fleet is not None
    assert not [c for c in deployed.cloud.fleet.commands() if instance in c.invocations], (
        "no patch command for an instance that never came online"
    )
    assert deployed.lifecycle_result(instance) == "ABANDON"
    assert deployed.ec2_state(instance) in {"shutting-down", "terminated"}
    [failed] = deployed.messages_about(instance)
    # named after the environment its tags give, though its agent never said a word
    assert failed["subject"] == f"launch of {instance}: failed (AgentNeverOnline), abandoned [test]"
    assert failed["attributes"]["outcome"] == "failed"


def test_a_failed_install_abandons_the_instance(deployed: Deployed) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(install_fails=True))
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "CommandFailed"
    assert deployed.lifecycle_result(instance) == "ABANDON"
    assert deployed.run_record(execution)["reason"] == "CommandFailed"


def test_a_duplicate_lifecycle_event_starts_no_second_run(deployed: Deployed) -> None:
    # EventBridge delivers at least once: the same lifecycle action may arrive twice.
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=60)
    [delivered] = [
        d.event
        for d in deployed.cloud.delivery.deliveries
        if d.event.get("detail-type") == "EC2 Instance-launch Lifecycle Action"
    ]
    deployed.cloud.put_event(delivered)
    deployed.cloud.settle(max_seconds=6 * 3600)

    assert len(deployed.executions()) == 1
    assert deployed.execution_for(instance)["status"] == "SUCCEEDED"
    # patch-on-launch saw the action twice (the run's name is the action's token)
    launches = [
        i
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("patch-on-launch")
        and isinstance(i.result, dict)
        and i.result.get("route") == "patch-on-launch"
    ]
    assert len(launches) == 2
    assert {i.result["execution"] for i in launches} == {deployed.executions()[0]["name"]}


def test_a_lost_command_status_event_falls_back_to_polling(deployed: Deployed) -> None:
    # EventBridge sometimes does not deliver: with the command-status rule off, no event
    # resumes the run, and its bounded wait must end by asking Run Command directly.
    events = deployed.cloud.client("events")
    events.disable_rule(Name=deployed.stack.physical_id("CommandInvocationRule"))
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    entered = states_entered(deployed.history(execution))
    assert "CheckCommand" in entered
    assert deployed.lifecycle_result(instance) == "CONTINUE"


def test_an_instance_launched_outside_auto_scaling_is_patched_when_tagged(
    deployed: Deployed,
) -> None:
    assert deployed.cloud.fleet is not None
    [tagged] = deployed.cloud.fleet.launch(
        "UBUNTU",
        tags={"fleetpatch:patch-on-launch": "true", "Patch Group": "patch_test_0600_batch_1"},
    )
    [untagged] = deployed.cloud.fleet.launch("UBUNTU")
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(tagged)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert json.loads(execution["input"])["trigger"] == "ec2-running"
    assert deployed.run_record(execution)["lifecycle_result"] == "NONE"
    assert all(json.loads(e["input"])["instanceId"] != untagged for e in deployed.executions())


def test_compliance_changes_are_recorded_once(deployed: Deployed) -> None:
    # Patching emits the instance's Patch compliance state: the compliance-change route
    # keeps it (and its history) in the state table; a redelivered event changes nothing.
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=6 * 3600)
    table = deployed.stack.physical_id("StateTable")
    dynamodb = deployed.cloud.client("dynamodb")
    state = dynamodb.get_item(TableName=table, Key=keys.compliance_key(instance))["Item"]
    assert state["status"]["S"] == "compliant"
    [delivered] = [
        d.event
        for d in deployed.cloud.delivery.deliveries
        if d.event.get("detail-type") == "Configuration Compliance State Change"
        and d.event["detail"]["resource-id"] == instance
    ][-1:]
    # EventBridge redelivers the very event (same id, same time) to the target.
    function = deployed.stack.physical_id("ComplianceChangeFunction")
    deployed.cloud.lambdas.invoke_async(function, delivered)
    deployed.cloud.settle(max_seconds=600)
    results = [
        i.result["transition"]
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("compliance-change")
        and isinstance(i.result, dict)
        and "transition" in i.result
    ]
    assert results[-1] == "stale"
    assert results.count("stale") == 1
