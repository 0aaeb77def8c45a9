"""One batch membership in a live fleet: who is in a batch, in which state, and what counts.

Each test is one of the ways a live fleet is untidy (issue 16): members that are not managed,
stopped, busy with another run or joining mid-batch; empty batches; big batches under one
rate control. The real template, handlers and ASL on the local cloud; the waves start as
`fleetpatch wave start` starts them (batch one patched by the workflow).
"""

from __future__ import annotations

import json

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import gate_record
from tests.workflows.test_gated_wave_gates import (
    batch,
    finished,
    gate,
    launch,
    patched,
    run_wave,
    start_wave,
)

ON_LAUNCH = {"fleetpatch:patch-on-launch": "true"}


def failures(deployed: Deployed, run: str, step: int) -> dict[str, str]:
    item = gate_record(deployed, run, step)
    return {k: v["S"] for k, v in item["failed_instances"]["M"].items()}


def test_a_member_that_is_not_managed_does_not_block_the_rest_of_its_batch(
    deployed: Deployed,
) -> None:
    # Given a batch of three healthy hosts and one whose agent never registered
    healthy = launch(deployed, "UBUNTU", "g1", 3)
    [lost] = launch(deployed, "UBUNTU", "g1", never_online=True)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    # When the wave runs with a gate that allows one failure
    execution = run_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", maxFailed=1))]
    )
    # Then the healthy hosts were patched, the lost one was not sent anything, and it
    # counts as failed (not reached, not managed) under the gate's rules
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert patched(deployed, healthy)
    assert patched(deployed, later)
    assert not patched(deployed, [lost])
    assert "not managed" in failures(deployed, "manual-custom", 1)[lost]


def test_a_stopped_member_is_counted_and_named(deployed: Deployed) -> None:
    # Given a batch with a stopped (not terminated) member
    launch(deployed, "UBUNTU", "g1", 2)
    [stopped] = launch(deployed, "UBUNTU", "g1")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    deployed.cloud.client("ec2").stop_instances(InstanceIds=[stopped])
    deployed.cloud.settle(max_seconds=600)
    # When the wave runs with a gate that allows no failure
    execution = run_wave(deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one"))])
    # Then the gate holds, naming the stopped member
    assert execution["status"] == "FAILED"
    assert "stopped" in failures(deployed, "manual-custom", 1)[stopped]
    assert not patched(deployed, later)


def test_an_empty_first_batch_holds_the_wave(deployed: Deployed) -> None:
    # Given a first batch whose tag nobody carries (a typo, or every canary terminated)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    # When the wave runs
    execution = run_wave(deployed, [batch("one", "g-typo"), batch("two", "g2", gate=gate("one"))])
    # Then nothing was tested, so nothing after it is patched
    assert execution["status"] == "FAILED"
    assert "no instances" in execution["cause"]
    assert not patched(deployed, later)


def test_an_empty_batch_passes_only_where_the_policy_allows_it(deployed: Deployed) -> None:
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    execution = run_wave(
        deployed,
        [batch("one", "g-typo"), batch("two", "g2", gate=gate("one", allowEmpty=True))],
    )
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert patched(deployed, later)


def test_a_canary_batch_below_its_minimum_holds(deployed: Deployed) -> None:
    launch(deployed, "UBUNTU", "g1", 1)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    execution = run_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", minInstances=2))]
    )
    assert execution["status"] == "FAILED"
    assert "at least 2" in execution["cause"]
    assert not patched(deployed, later)


def test_a_member_that_joins_during_the_bake_and_is_patched_by_its_launch_run_counts(
    deployed: Deployed,
) -> None:
    # Given a running wave whose first batch has been sent and is baking
    launch(deployed, "UBUNTU", "g1", 2)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    arn = start_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", bakeMinutes=60))]
    )
    deployed.cloud.advance(600)
    # When an instance joins batch one (a scale-out) and its own launch run patches it
    assert deployed.cloud.fleet is not None
    [joined] = deployed.cloud.fleet.launch(
        "UBUNTU", tags={"Patch Group": "g1", **ON_LAUNCH}, behaviour=Behaviour()
    )
    execution = finished(deployed, arn)
    # Then its launch run's command is evidence: the gate passes and batch two is patched
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert patched(deployed, later)
    commands = deployed.cloud.client("ssm").list_commands(InstanceId=joined)["Commands"]
    assert [c["Comment"].startswith("fleetpatch wave") for c in commands] == [False]


def test_a_member_its_launch_run_is_patching_is_not_sent_a_second_patch(
    deployed: Deployed,
) -> None:
    # Given an instance whose own launch run is still patching it (a long install)
    launch(deployed, "UBUNTU", "g1", 2)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    assert deployed.cloud.fleet is not None
    [busy] = deployed.cloud.fleet.launch(
        "UBUNTU",
        tags={"Patch Group": "g1", **ON_LAUNCH},
        behaviour=Behaviour(command_duration_seconds=1800),
    )
    deployed.cloud.advance(300)
    # When the wave's first batch is sent
    execution = finished(
        deployed,
        start_wave(
            deployed, [batch("one", "g1"), batch("two", "g2", gate=gate("one", bakeMinutes=60))]
        ),
    )
    # Then the busy instance got no second patch; its own run's result is the evidence
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    commands = deployed.cloud.client("ssm").list_commands(InstanceId=busy)["Commands"]
    assert len(commands) == 1
    assert not commands[0]["Comment"].startswith("fleetpatch wave")
    assert patched(deployed, later)


def test_rate_control_holds_across_the_whole_batch(deployed: Deployed) -> None:
    # Given 51 instances (two SendCommand chunks) and max_concurrency 1
    fleet = launch(deployed, "UBUNTU", "g1", 51, command_duration_seconds=60, reboot_seconds=0)
    deployed.cloud.settle(max_seconds=3600)
    one = batch("one", "g1") | {"maxConcurrency": "1", "maxErrors": "0"}
    # When the batch is patched
    execution = run_wave(deployed, [one])
    # Then never more than one instance was patched at a time, whatever the chunks
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert deployed.cloud.fleet is not None
    spans = [
        (inv.started, inv.ended)
        for command in deployed.cloud.fleet.commands()
        for inv in command.invocations.values()
        if inv.instance_id in fleet and inv.started is not None
    ]
    assert len(spans) == 51
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert peak == 1


def test_max_errors_holds_across_the_whole_batch(deployed: Deployed) -> None:
    # Given 51 instances in two chunks, one failing install in each chunk
    fleet = sorted(launch(deployed, "UBUNTU", "g1", 51, command_duration_seconds=60))
    assert deployed.cloud.fleet is not None
    for bad in (fleet[0], fleet[50]):
        deployed.cloud.fleet.set_behaviour(bad, Behaviour(install_fails=True))
    deployed.cloud.settle(max_seconds=3600)
    one = batch("one", "g1") | {"maxConcurrency": "1", "maxErrors": "0"}
    # When the batch is patched with no error allowed
    run_wave(deployed, [one])
    # Then after the first failure nothing more was started, in either chunk
    failed = [
        inv.instance_id
        for command in deployed.cloud.fleet.commands()
        for inv in command.invocations.values()
        if inv.status == "Failed"
    ]
    assert failed == [fleet[0]]


def test_a_batch_emptied_mid_wave_holds_and_its_hosts_are_reported(deployed: Deployed) -> None:
    # Given a three-batch wave whose second batch's hosts are all terminated while the
    # first batch bakes (a scale-in, a replaced tier)
    launch(deployed, "UBUNTU", "g1")
    gone = launch(deployed, "UBUNTU", "g2", 2)
    last = launch(deployed, "WINDOWS", "g3")
    deployed.cloud.settle(max_seconds=3600)
    arn = start_wave(
        deployed,
        [
            batch("one", "g1"),
            batch("two", "g2", gate=gate("one", bakeMinutes=60)),
            batch("three", "g3", gate=gate("two")),
        ],
    )
    deployed.cloud.advance(900)
    deployed.cloud.client("ec2").terminate_instances(InstanceIds=gone)
    execution = finished(deployed, arn)
    # Then batch two tested nothing: the gate before three holds, and the report names them
    assert execution["status"] == "FAILED"
    assert execution["cause"].startswith("the gate before three failed: the batch had no")
    assert not patched(deployed, last)
    reported = {
        i["instance_id"]
        for b in deployed.report("manual-custom")["batches"]
        for i in b["instances"]
    }
    assert set(gone) <= reported


def test_a_policy_redeployed_mid_wave_is_named_in_the_report(deployed: Deployed) -> None:
    # Given the test wave running with the deployed policy's batches
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.output("PolicyParameterName")
    policy = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    launch(deployed, "UBUNTU", "patch_test_0600_batch_1")
    launch(deployed, "WINDOWS", "patch_test_0600_batch_2")
    deployed.cloud.settle(max_seconds=3600)
    arn = start_wave(deployed, policy["waves"]["test"]["batches"], wave="test")
    deployed.cloud.advance(60)
    # When the policy is redeployed mid-wave with a different second batch
    policy["waves"]["test"]["batches"][1]["maxConcurrency"] = "25%"
    ssm.put_parameter(
        Name=name,
        Value=json.dumps(policy, separators=(",", ":")),  # as rendered: compact
        Type="String",
        Tier="Intelligent-Tiering",  # the policy is near the Standard tier's 4,096 characters
        Overwrite=True,
    )
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the run went on with the batches it started with, and its report says so
    assert finished(deployed, arn)["status"] == "SUCCEEDED"
    notes = deployed.report("manual-test")["notes"]
    assert any("redeployed during this run" in n for n in notes), notes
