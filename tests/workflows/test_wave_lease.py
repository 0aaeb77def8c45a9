"""One run per wave at a time, and an operator's resume and stop (issue 16, problem 6).

A gated-wave run takes its wave's lease (a conditional write in the state table) before it
sends anything and gives it back at its end, whatever the outcome. A second run of the wave
is refused while the lease is held and not expired; `fleetpatch wave start` names the run
that holds it. `wave resume` goes on from any held run (a failed gate is overridden, an
unevaluated gate evaluated again, a failed send completed with what is missing); `wave stop`
stops a run and cancels its commands in flight. The real template, handlers and ASL on the
local cloud.
"""

from __future__ import annotations

from typing import Any

from fleetpatch.contracts import keys
from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import launch_fleet, wave_cli, wave_runs
from tests.workflows.test_gated_wave_gates import (
    batch,
    describe,
    finished,
    gate,
    launch,
    patched,
    run_wave,
    start_wave,
)

FIRST = "manual-custom"  # start_wave's and run_wave's run


def all_wave_commands(deployed: Deployed) -> list[dict[str, Any]]:
    """Every wave command sent (launch runs' are not counted), read in a few pages."""
    pages = deployed.cloud.client("ssm").get_paginator("list_commands").paginate()
    return [
        c for page in pages for c in page["Commands"] if c["Comment"].startswith("fleetpatch wave")
    ]


def wave_commands(deployed: Deployed, instance: str) -> list[dict[str, Any]]:
    """The wave commands that reached ``instance``."""
    return [c for c in all_wave_commands(deployed) if instance in c["InstanceIds"]]


def commands_per_instance(deployed: Deployed, instances: list[str]) -> dict[str, int]:
    commands = all_wave_commands(deployed)
    return {i: sum(i in c["InstanceIds"] for c in commands) for i in instances}


def refusals(deployed: Deployed) -> list[dict[str, Any]]:
    return [
        m
        for m in deployed.messages()
        if m["attributes"].get("kind") == "wave" and m["attributes"].get("outcome") == "refused"
    ]


def two_batches(bake_minutes: int = 60) -> list[dict[str, Any]]:
    return [batch("one", "g1"), batch("two", "g2", gate=gate("one", bakeMinutes=bake_minutes))]


# --- one run per wave at a time -------------------------------------------------------------


def test_a_second_run_of_a_running_wave_is_refused_and_patches_nothing(
    deployed: Deployed,
) -> None:
    # Given a run whose first batch was sent and is baking before its gate
    first = launch(deployed, "UBUNTU", "g1", 2)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    running = start_wave(deployed, two_batches())
    deployed.cloud.advance(600)
    # When a second run of the same wave starts (a window's, or `wave start` next to it)
    second = start_wave(deployed, two_batches(), name="manual-custom-again")
    refused = finished(deployed, second)
    # Then it is refused, naming the run that holds the wave, and sends nothing: every
    # instance got exactly one wave command, from the first run, which completed
    assert refused["status"] == "FAILED"
    assert refused["error"] == "WaveAlreadyRunning"
    assert f"run {FIRST} holds" in refused["cause"]
    assert describe(deployed, running)["status"] == "SUCCEEDED"
    for instance in first + later:
        [command] = wave_commands(deployed, instance)
        assert f"({FIRST})" in command["Comment"]
    # and the refusal is announced, naming the holder
    [message] = refusals(deployed)
    assert message["subject"] == f"custom wave: refused, {FIRST} is running"
    assert message["message"].startswith(
        f"Run manual-custom-again of wave custom was refused: run {FIRST} holds the lease"
    )
    assert f"fleetpatch wave stop {FIRST}" in message["message"]


def test_the_lease_is_released_after_a_held_run_so_the_next_run_proceeds(
    deployed: Deployed,
) -> None:
    # Given a run held by its gate (a failed install in batch one)
    [bad] = launch(deployed, "UBUNTU", "g1", install_fails=True)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    held = run_wave(deployed, two_batches())
    assert held["error"] == "GateFailed"
    assert deployed.cloud.fleet is not None
    deployed.cloud.fleet.set_behaviour(bad, Behaviour())
    # When the next run of the wave starts, and a third one while it runs
    following = start_wave(deployed, two_batches(), name="manual-custom-2")
    deployed.cloud.advance(600)
    third = start_wave(deployed, two_batches(), name="manual-custom-3")
    # Then the held run left nothing behind: the next run proceeds and holds the wave in turn
    assert finished(deployed, following)["status"] == "SUCCEEDED"
    assert patched(deployed, later)
    refused = describe(deployed, third)
    assert (refused["status"], refused["error"]) == ("FAILED", "WaveAlreadyRunning")
    assert "run manual-custom-2 holds" in refused["cause"]


def test_an_expired_lease_is_taken_over(deployed: Deployed) -> None:
    # Given a run that died while baking (stopped outside fleetpatch): its lease stays
    launch(deployed, "UBUNTU", "g1", 2)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    dead = start_wave(deployed, two_batches())
    deployed.cloud.advance(600)
    deployed.cloud.client("stepfunctions").stop_execution(executionArn=dead)
    # When another run starts at once, it is refused: the lease has not expired
    early = finished(deployed, start_wave(deployed, two_batches(), name="manual-custom-early"))
    assert (early["status"], early["error"]) == ("FAILED", "WaveAlreadyRunning")
    assert not patched(deployed, later)
    # When one starts after the longest the dead run could have lasted, it takes over
    deployed.cloud.advance(24 * 3600)
    late = finished(deployed, start_wave(deployed, two_batches(), name="manual-custom-late"))
    # Then it runs the wave
    assert late["status"] == "SUCCEEDED", late.get("cause")
    assert patched(deployed, later)


# --- the operator's side: start, resume, stop -------------------------------------------------


def test_wave_start_names_the_run_that_holds_the_lease(deployed: Deployed, capsys: Any) -> None:
    # Given a run of the test wave started by hand, still running
    launch_fleet(deployed)
    code, out = wave_cli(deployed, capsys, "start", wave="test")
    assert code == 0, out
    holder = out.split()[-1]
    deployed.cloud.advance(300)
    # When the operator starts the wave again
    code, out = wave_cli(deployed, capsys, "start", wave="test")
    # Then nothing starts, and the message names the run to wait for or stop
    assert code == 2
    assert out.strip() == (
        f"fleetpatch wave start: wave test is already running as {holder} (it holds the "
        f"wave's lease); wait for it, or stop it with: fleetpatch wave stop {holder} "
        "--reason ..."
    )
    assert [r["name"] for r in wave_runs(deployed)] == [holder]


def test_resume_after_a_failed_send_sends_only_what_is_missing(
    deployed: Deployed, capsys: Any
) -> None:
    # Given 60 instances sent in two rounds of 50 and 10 (max_concurrency 50), and
    # patch-batch failing on every attempt of the second round
    group = launch(deployed, "UBUNTU", "g1", 60, command_duration_seconds=600, reboot_seconds=0)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    one = batch("one", "g1") | {"maxConcurrency": "50"}
    arn = start_wave(deployed, [one, batch("two", "g2", gate=gate("one"))])
    deployed.cloud.advance(120)
    deployed.cloud.faults.crash_once("patch-batch", times=5)  # the first try and 4 retries
    held = finished(deployed, arn)
    assert held["error"] == "PatchBatchFailed"
    assert sorted(commands_per_instance(deployed, group).values()) == [0] * 10 + [1] * 50
    # When the operator resumes it
    code, out = wave_cli(
        deployed, capsys, "resume", run=FIRST, approve=True, reason="SSM quota raised"
    )
    assert code == 0, out
    resumed = out.split()[-1]
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the resumed run sent the 10 that were missing, nothing twice, and went on
    run = next(r for r in wave_runs(deployed) if r["name"] == resumed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert set(commands_per_instance(deployed, group).values()) == {1}
    assert patched(deployed, later)
    # and the resume is on record: who, why, as which run
    code, out = wave_cli(deployed, capsys, "status", run=FIRST)
    assert f"  resumed as {resumed} (send the rest of one) by arn:aws:" in out
    assert "SSM quota raised" in out


def test_resume_after_an_unevaluated_gate_evaluates_it_again(
    deployed: Deployed, capsys: Any
) -> None:
    # Given a run held because its gate could not be evaluated (evaluate-gate failing on
    # its first try and its 3 retries)
    launch(deployed, "UBUNTU", "g1", 2)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    deployed.cloud.faults.crash_once("evaluate-gate", times=4)
    held = run_wave(deployed, two_batches(bake_minutes=0))
    assert held["error"] == "GateUnevaluated"
    # When the operator resumes it
    code, out = wave_cli(deployed, capsys, "resume", run=FIRST, approve=True, reason="retry")
    assert code == 0, out
    resumed = out.split()[-1]
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the gate is evaluated (not overridden) and, passing, lets batch two go
    run = next(r for r in wave_runs(deployed) if r["name"] == resumed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    decision = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key={"pk": {"S": keys.wave_pk(resumed)}, "sk": {"S": keys.gate_sk(1)}},
    )["Item"]
    assert decision["reasons"] == {"L": [{"S": "2 instances patched and verified"}]}
    assert "approved_by" not in decision
    [command] = wave_commands(deployed, later[0])
    assert f"({resumed})" in command["Comment"]


def test_a_second_resume_answers_already_resumed(deployed: Deployed, capsys: Any) -> None:
    # Given a run held by its gate, resumed once (the resumed run still running)
    launch_fleet(deployed, failing_linux=True)
    deployed.cloud.windows.run_window("fleetpatch-default-wave-test")  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    [held] = wave_runs(deployed)
    code, out = wave_cli(deployed, capsys, "resume", run=held["name"], approve=True, reason="ok")
    assert code == 0, out
    resumed = out.split()[-1]
    # When a second operator resumes it too
    code, out = wave_cli(deployed, capsys, "resume", run=held["name"], approve=True, reason="me")
    # Then they are told, with no traceback, and nothing else starts
    assert code == 2
    assert f"run {held['name']} was already resumed as {resumed} by arn:aws:" in out
    assert "Traceback" not in out
    deployed.cloud.settle(max_seconds=12 * 3600)
    assert sorted(r["name"] for r in wave_runs(deployed)) == sorted([held["name"], resumed])


def test_wave_stop_stops_the_run_and_cancels_its_commands(deployed: Deployed, capsys: Any) -> None:
    # Given a run whose first batch is being patched (a long install)
    group = launch(deployed, "UBUNTU", "g1", 2, command_duration_seconds=3600)
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    arn = start_wave(deployed, two_batches())
    deployed.cloud.advance(600)
    # When the operator stops it
    code, out = wave_cli(deployed, capsys, "stop", run=FIRST, reason="wrong patch list")
    assert code == 0, out
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the run ended, its commands in flight were cancelled, batch two never went
    assert describe(deployed, arn)["status"] == "ABORTED"
    for instance in group:
        [command] = wave_commands(deployed, instance)
        assert command["Status"] == "Cancelled"
    assert not patched(deployed, later)
    assert "cancelled 1 command" in out
    # and the stop is on record, and the wave is free again
    code, out = wave_cli(deployed, capsys, "status", run=FIRST)
    assert "  stopped by arn:aws:" in out
    assert "wrong patch list" in out
    again = finished(deployed, start_wave(deployed, two_batches(), name="manual-custom-again"))
    assert again["status"] == "SUCCEEDED", again.get("cause")
    # a run that is not running cannot be stopped
    code, out = wave_cli(deployed, capsys, "stop", run=FIRST, reason="again")
    assert code == 2
    assert "nothing to stop" in out
