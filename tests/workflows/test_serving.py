"""Serving batches: patched out of service under a disruption budget, back only when healthy.

The real template, handlers and both ASLs (gated-wave and patch-serving-instance) on the
local cloud, with an Auto Scaling web tier behind an ELB target group (issue 18). Each test
is one way it goes wrong in a live fleet, and what must still hold: the healthy count of the
tier never drops below what the budget allows, no instance is held out forever, and the
gate after the batch counts what went wrong.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from fleetpatch import budget
from fleetpatch.batch_policy import RuntimeServing
from fleetpatch.contracts import keys
from localcloud.runner import create_group, create_target_group
from localcloud.scenario import (
    BehaviourSpec,
    GroupSpec,
    HealthCheckSpec,
    LifecycleHookSpec,
    TargetGroupSpec,
)
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import GROUP, HOOK, Deployed
from tests.workflows.test_gated_wave_gates import batch, gate, launch, patched, start_wave
from tests.workflows.test_reports import TEST_WINDOW_OPENS, compliance_event

# The launch policy's group (policy/fleet.yaml launch.auto_scaling_groups) and its hook.
TIER = GROUP
TARGETS = "web-tg"
GROUP_TAG = "web-g"


def web_tier(
    deployed: Deployed,
    size: int,
    *,
    behaviours: list[BehaviourSpec] | None = None,
    deregistration_delay: int = 30,
    launch_hook: bool = False,
) -> list[str]:
    """An Auto Scaling group of ``size`` behind a target group, all healthy; its ids.

    ``launch_hook``: the group is the policy's web-test, with its launch hook (new instances
    are patched by a launch run before they serve).
    """
    arn = create_target_group(
        deployed.cloud,
        TargetGroupSpec(
            name=TARGETS,
            deregistration_delay_seconds=deregistration_delay,
            health_check=HealthCheckSpec(interval_seconds=10, healthy_threshold=3),
        ),
    )
    create_group(
        deployed.cloud,
        GroupSpec(
            name=TIER,
            os="AMAZON_LINUX_2023",
            tags={"Patch Group": GROUP_TAG, "Name": TIER},
            min_size=0,
            max_size=size + 2,
            desired_capacity=size,
            behaviours=behaviours or [],
            target_groups=[TARGETS],
            lifecycle_hook=LifecycleHookSpec(name=HOOK, heartbeat_timeout=1800)
            if launch_hook
            else None,
        ),
        target_group_arns=[arn],
    )
    deployed.cloud.settle(max_seconds=3600)
    ids = members(deployed)
    assert len(ids) == size
    assert healthy(deployed) == size
    return ids


def members(deployed: Deployed) -> list[str]:
    groups = deployed.cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[TIER]
    )["AutoScalingGroups"]
    return sorted(i["InstanceId"] for i in groups[0]["Instances"])


def lifecycle(deployed: Deployed, group: str = TIER) -> dict[str, str]:
    """Instance id -> its lifecycle state in ``group``."""
    groups = deployed.cloud.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group]
    )["AutoScalingGroups"]
    return {i["InstanceId"]: i["LifecycleState"] for i in groups[0]["Instances"]}


def healthy(deployed: Deployed) -> int:
    elbv2 = deployed.cloud.client("elbv2")
    arn = elbv2.describe_target_groups(Names=[TARGETS])["TargetGroups"][0]["TargetGroupArn"]
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return sum(1 for t in found if t["TargetHealth"]["State"] == "healthy")


def lowest_healthy(deployed: Deployed, since: datetime) -> int:
    """The fewest healthy targets the target group had at any time since ``since``."""
    assert deployed.cloud.load_balancing is not None
    samples = deployed.cloud.load_balancing.healthy_counts(TARGETS)
    before = [h for t, h, _ in samples if t <= since]
    during = [h for t, h, _ in samples if t > since]
    return min(([before[-1]] if before else []) + during)


def serving(**overrides: Any) -> dict[str, Any]:
    """A compiled serving block (the policy's defaults), with camelCase overrides."""
    block: dict[str, Any] = RuntimeServing().model_dump(by_alias=True)
    for key, value in overrides.items():
        if isinstance(value, dict):
            block[key] = block[key] | value
        else:
            block[key] = value
    return block


def serving_batch(name: str = "web", **overrides: Any) -> dict[str, Any]:
    return batch(name, GROUP_TAG, reboot="NoReboot") | {
        "maxConcurrency": "100%",
        "serving": serving(**overrides),
    }


def outcomes(deployed: Deployed, run: str, step: int = 0) -> dict[str, dict[str, Any]]:
    """Instance id -> its serving outcome record in batch ``step`` of ``run``."""
    items = deployed.cloud.client("dynamodb").query(
        TableName=deployed.stack.physical_id("StateTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.wave_pk(run)},
            ":prefix": {"S": keys.batch_prefix(keys.SERVING_PREFIX, step)},
        },
    )["Items"]
    return {
        record["instanceId"]: record
        for record in (json.loads(item["record"]["S"]) for item in items)
    }


def out_of_service(deployed: Deployed) -> set[str]:
    table = deployed.stack.physical_id("StateTable")
    return budget.holders(deployed.cloud.client("dynamodb"), table, f"auto-scaling-group:{TIER}")


def run(deployed: Deployed, batches: list[dict[str, Any]]) -> tuple[dict[str, Any], datetime]:
    started = deployed.cloud.clock.now()
    arn = start_wave(deployed, batches)
    deployed.cloud.settle(max_seconds=24 * 3600)
    execution = deployed.cloud.client("stepfunctions").describe_execution(executionArn=arn)
    return execution, started


def test_a_web_tier_is_patched_one_at_a_time_and_never_drops_below_its_budget(
    deployed: Deployed,
) -> None:
    # Given a web tier of four behind a target group, and a budget of one at a time
    ids = web_tier(deployed, 4)
    # When the wave patches it
    execution, started = run(deployed, [serving_batch()])
    # Then every instance was drained, patched, rebooted under control and put back
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    found = outcomes(deployed, "manual-custom")
    assert {i: r["outcome"] for i, r in found.items()} == dict.fromkeys(ids, "patched")
    assert all(r["rebooted"] and r["outOfServiceSeconds"] > 0 for r in found.values())
    # one at a time: the target group always had three healthy targets or more
    assert lowest_healthy(deployed, started) >= 3
    assert healthy(deployed) == 4
    assert set(lifecycle(deployed).values()) == {"InService"}
    # the install did not reboot (NoReboot); the workflow did, once per instance
    commands = deployed.cloud.client("ssm").list_commands()["Commands"]
    installs = [c for c in commands if c["Parameters"].get("Operation") == ["Install"]]
    assert {c["Parameters"]["RebootOption"][0] for c in installs} == {"NoReboot"}
    assert sorted(i for c in installs for i in c["InstanceIds"]) == ids
    # and the places went back: nobody holds the budget
    assert out_of_service(deployed) == set()
    # and no run polled on its own for the drain's end or its health: the readiness watcher
    # resumed each run's waits (within 2 s of the condition, not after a 15 s Wait)
    for serving_run in deployed.executions_of("PatchServingInstanceStateMachine"):
        resumed_by = [
            json.loads(e["taskSucceededEventDetails"]["output"]).get("source")
            for e in deployed.history(serving_run)
            if e["type"] == "TaskSucceeded"
            and '"source"' in e["taskSucceededEventDetails"].get("output", "")
        ]
        assert "watcher" in resumed_by, (serving_run["name"], resumed_by)


def test_an_instance_that_never_becomes_healthy_is_rolled_back_and_holds_the_wave(
    deployed: Deployed,
) -> None:
    # Given a tier whose first instance's application breaks at the reboot after the patch
    ids = web_tier(deployed, 3, behaviours=[BehaviourSpec(unhealthy_after_reboot=True)])
    bad = _first_launched(deployed, ids)
    later = launch(deployed, "UBUNTU", "g2")
    deployed.cloud.settle(max_seconds=600)
    # When the wave patches it with snapshots and rollback, a gate before the next batch
    web = serving_batch(snapshots={"enabled": True, "rollback": True})
    execution, started = run(deployed, [web, batch("two", "g2", gate=gate("web"))])
    # Then the broken instance was rolled back from its snapshot and is serving again
    found = outcomes(deployed, "manual-custom")
    assert found[bad]["outcome"] == "rolled-back"
    assert "rolled back from snap-" in found[bad]["reason"]
    assert found[bad]["snapshots"]
    assert all(found[i]["outcome"] == "patched" for i in ids if i != bad)
    assert healthy(deployed) == 3
    # and the gate counts a rollback as a failure: the next batch is never touched
    assert execution["status"] == "FAILED"
    assert execution["error"] == "GateFailed"
    assert not patched(deployed, later)
    assert lowest_healthy(deployed, started) >= 2


def test_a_failed_rollback_leaves_it_out_of_service_and_the_budget_taken(
    deployed: Deployed,
) -> None:
    # Given a broken patch whose rollback fails too, and a budget of one
    ids = web_tier(
        deployed,
        3,
        behaviours=[BehaviourSpec(unhealthy_after_reboot=True, rollback_fails=True)],
    )
    bad = _first_launched(deployed, ids)
    # When the wave patches the tier (each waits at most 25 minutes for a place: long enough
    # for the broken one to get its turn, whoever goes first)
    web = serving_batch(snapshots={"enabled": True, "rollback": True}, budgetWaitSeconds=1500)
    execution, started = run(deployed, [web])
    # Then the broken one stays out of service (Standby), named with its failing check
    found = outcomes(deployed, "manual-custom")
    assert found[bad]["outcome"] == "unhealthy"
    assert "target-health" in found[bad]["reason"] or "rollback" in found[bad]["reason"]
    assert lifecycle(deployed)[bad] == "Standby"
    # it keeps its place: failures consume the budget, nobody else went out after it
    assert out_of_service(deployed) == {bad}
    for other in (i for i in ids if i != bad):
        if found[other]["outcome"] == "patched":  # before the broken one went out
            assert found[other]["backAt"] <= found[bad]["outAt"]
        else:  # after: it waited for a place that never came, and was never taken out
            assert found[other]["outcome"] == "budget-exhausted"
            assert found[other]["outAt"] is None
            assert "no place in its disruption budget" in found[other]["reason"]
    assert lowest_healthy(deployed, started) >= 2
    # and the run ended (nothing waits forever), reporting the failure
    assert execution["status"] in ("SUCCEEDED", "FAILED")


def test_a_drain_that_outlasts_its_timeout_puts_the_instance_back_unpatched(
    deployed: Deployed,
) -> None:
    # Given a target group that drains for 20 minutes, and a drain timeout of 5
    ids = web_tier(deployed, 2, deregistration_delay=1200)
    # When the wave patches it
    execution, _ = run(deployed, [serving_batch(drainTimeoutSeconds=300)])
    # Then nothing was patched, every instance is back in service, and it is reported
    found = outcomes(deployed, "manual-custom")
    assert {r["outcome"] for r in found.values()} == {"not-drained"}
    assert all("still draining" in r["reason"] for r in found.values())
    assert not patched(deployed, ids)
    assert set(lifecycle(deployed).values()) == {"InService"}
    assert out_of_service(deployed) == set()
    assert execution["status"] == "SUCCEEDED"


def _first_launched(deployed: Deployed, ids: list[str]) -> str:
    """The group's first instance (the one the scenario's first behaviour scripted)."""
    reservations = deployed.cloud.client("ec2").describe_instances(InstanceIds=ids)
    instances = [i for r in reservations["Reservations"] for i in r["Instances"]]
    return str(min(instances, key=lambda i: (i["LaunchTime"], i["AmiLaunchIndex"]))["InstanceId"])


def test_an_instance_terminated_in_standby_is_reported_gone_and_frees_its_place(
    deployed: Deployed,
) -> None:
    # Given a tier of two and a budget of one
    ids = web_tier(deployed, 2)
    arn = start_wave(deployed, [serving_batch()])
    # When the first instance taken out of service is terminated while in Standby
    standby: list[str] = []
    for _ in range(240):
        deployed.cloud.advance(15)
        standby = [i for i, state in lifecycle(deployed).items() if state == "Standby"]
        if standby:
            break
    [gone] = standby
    deployed.cloud.client("ec2").terminate_instances(InstanceIds=[gone])
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then it is reported gone, its place came back, and the other one was patched
    execution = deployed.cloud.client("stepfunctions").describe_execution(executionArn=arn)
    found = outcomes(deployed, "manual-custom")
    assert found[gone]["outcome"] == "gone"
    [other] = [i for i in ids if i != gone]
    assert found[other]["outcome"] == "patched"
    assert out_of_service(deployed) == set()
    # the group did not replace it (Standby decremented its desired capacity)
    assert lifecycle(deployed) == {other: "InService"}
    # a terminated member is not judged: the run completes
    assert execution["status"] == "SUCCEEDED", execution.get("cause")


def test_a_launch_in_the_same_group_during_the_wave_takes_no_place_and_is_patched_by_its_run(
    deployed: Deployed,
) -> None:
    # Given the launch policy's group, three InService behind a target group, a budget of one
    ids = web_tier(deployed, 3, launch_hook=True)
    started = deployed.cloud.clock.now()
    arn = start_wave(deployed, [serving_batch()])
    deployed.cloud.advance(60)
    # When the group scales out while the wave patches it
    [new] = deployed.scale_out(Behaviour())
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the new instance was patched by its own launch run and released into service
    assert deployed.lifecycle_result(new) == "CONTINUE"
    assert lifecycle(deployed)[new] == "InService"
    assert healthy(deployed) == 4
    # the wave patched the members it planned, one at a time, and nothing holds a place
    execution = deployed.cloud.client("stepfunctions").describe_execution(executionArn=arn)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    found = outcomes(deployed, "manual-custom")
    assert {i: r["outcome"] for i, r in found.items()} == dict.fromkeys(ids, "patched")
    assert lowest_healthy(deployed, started) >= 2
    assert out_of_service(deployed) == set()


def command_document(deployed: Deployed, name: str) -> None:
    """A Command document in the account (as the operator's stack would create it)."""
    content = {
        "schemaVersion": "2.2",
        "description": name,
        "mainSteps": [
            {"action": "aws:runShellScript", "name": "run", "inputs": {"runCommand": ["true"]}}
        ],
    }
    deployed.cloud.client("ssm").create_document(
        Name=name, Content=json.dumps(content), DocumentType="Command", DocumentFormat="JSON"
    )


def documents_run_on(deployed: Deployed, instance_id: str) -> list[str]:
    commands = deployed.cloud.client("ssm").list_commands()["Commands"]
    mine = [c for c in commands if instance_id in c["InstanceIds"]]
    ordered = sorted(mine, key=lambda c: c["RequestedDateTime"])
    return [
        c["DocumentName"]
        + (
            f" {c['Parameters']['Operation'][0]}"
            if c["DocumentName"] == "AWS-RunPatchBaseline"
            else ""
        )
        for c in ordered
    ]


def test_hooks_run_in_order_and_a_failing_health_document_keeps_the_instance_out(
    deployed: Deployed,
) -> None:
    # Given hook and health-check documents, and an instance whose health check exits 1
    for name in ("fleetpatch-web-stop", "fleetpatch-web-warm", "fleetpatch-web-check"):
        command_document(deployed, name)
    ids = web_tier(
        deployed, 2, behaviours=[BehaviourSpec(hook_exit_codes={"fleetpatch-web-check": 1})]
    )
    bad = _first_launched(deployed, ids)
    [good] = [i for i in ids if i != bad]
    # When the wave patches the tier with the hooks and the health document (both at once:
    # the failed one keeps its place, and the other must not wait for it)
    web = serving_batch(
        hooks={"beforeInstall": "fleetpatch-web-stop", "afterReboot": "fleetpatch-web-warm"},
        health={"document": "fleetpatch-web-check"},
        maxUnavailable="2",
    )
    execution, _ = run(deployed, [web])
    # Then the hooks ran around the install and the reboot, then the check, then a scan
    assert documents_run_on(deployed, good) == [
        "fleetpatch-web-stop",
        "AWS-RunPatchBaseline Install",
        "fleetpatch-web-warm",
        "fleetpatch-web-check",
        "AWS-RunPatchBaseline Scan",
    ]
    found = outcomes(deployed, "manual-custom")
    assert found[good]["outcome"] == "patched"
    # each hook's status event woke the workflow: minutes out of service, not the hours of
    # the fallback wait for a status that never comes (simulated time)
    assert found[good]["outOfServiceSeconds"] < 15 * 60
    # and the instance whose check failed stays out of service (no snapshot to roll back to)
    assert found[bad]["outcome"] == "unhealthy"
    assert "health document fleetpatch-web-check ended Failed" in found[bad]["reason"]
    assert lifecycle(deployed)[bad] == "Standby"
    assert out_of_service(deployed) == {bad}
    assert execution["status"] == "SUCCEEDED"  # no gate after it: the report names it


def test_the_budget_holds_across_two_waves_patching_the_same_tier_at_once(
    deployed: Deployed,
) -> None:
    # Given a tier of three with a budget of one, in two waves started together
    ids = web_tier(deployed, 3)
    started = deployed.cloud.clock.now()
    first = start_wave(deployed, [serving_batch()], wave="web-a")
    second = start_wave(deployed, [serving_batch()], wave="web-b")
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then never more than one instance of the tier was out of service at once
    assert lowest_healthy(deployed, started) >= 2
    sfn = deployed.cloud.client("stepfunctions")
    for arn, run_id in ((first, "manual-web-a"), (second, "manual-web-b")):
        execution = sfn.describe_execution(executionArn=arn)
        assert execution["status"] == "SUCCEEDED", execution.get("cause")
        assert {r["outcome"] for r in outcomes(deployed, run_id).values()} == {"patched"}
    assert out_of_service(deployed) == set()
    assert healthy(deployed) == 3
    assert len(ids) == 3


def test_drift_of_a_serving_instance_inside_its_window_is_only_scanned(
    deployed: Deployed,
) -> None:
    # Given a web-tier instance of policy/fleet.yaml's web wave, whose first batch (its patch
    # group, patch_test_0800_batch_1) is a serving batch, InService behind its target group
    arn = create_target_group(deployed.cloud, TargetGroupSpec(name="web-tier-tg"))
    create_group(
        deployed.cloud,
        GroupSpec(
            name="web-tier",
            os="AMAZON_LINUX_2023",
            tags={"Patch Group": "patch_test_0800_batch_1"},
            desired_capacity=1,
            target_groups=["web-tier-tg"],
        ),
        target_group_arns=[arn],
    )
    deployed.cloud.settle(max_seconds=3600)
    [instance] = lifecycle(deployed, "web-tier")
    # When it drifts at 09:30 in Zurich, inside the web window (test remediates by installing)
    inside = TEST_WINDOW_OPENS + timedelta(hours=3, minutes=30)
    deployed.cloud.advance((inside - deployed.cloud.clock.now()).total_seconds())
    compliance_event(deployed, instance, "non_compliant")
    deployed.cloud.settle(max_seconds=3 * 3600)
    # Then the remediation only scans it: installing in place would bypass its drain and
    # its disruption budget; its wave installs it
    sfn = deployed.cloud.client("stepfunctions")
    machine = deployed.stack.state_machine_arn("PatchNewInstanceStateMachine")
    [summary] = sfn.list_executions(stateMachineArn=machine)["executions"]
    payload = json.loads(sfn.describe_execution(executionArn=summary["executionArn"])["input"])
    assert payload["operation"] == "Scan"
    assert "serves traffic in a serving batch" in payload["reason"]
    assert lifecycle(deployed, "web-tier") == {instance: "InService"}
