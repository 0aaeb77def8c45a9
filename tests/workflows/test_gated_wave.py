"""gated-wave: a wave's window ends, the gate decides, the next batch is patched or held.

The real template, handlers and ASL on the local cloud, with the example policy's test
wave: batch 1 (Linux, patch_test_0600_batch_1) runs in the rendered maintenance window,
batch 2 (Windows, patch_test_0600_batch_2) only through the gate.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.fleet import Behaviour
from tests.workflows.conftest import Deployed

WINDOW = "fleetpatch-default-wave-test"
LINUX = "patch_test_0600_batch_1"
WINDOWS = "patch_test_0600_batch_2"


def launch_fleet(deployed: Deployed, *, failing_linux: bool = False) -> dict[str, str]:
    """Two test Linux hosts, one test Windows host and one prod Windows host; name -> id."""
    fleet = deployed.cloud.fleet
    assert fleet is not None
    ids: dict[str, str] = {}
    for name, os_name, group, behaviour in [
        ("db-test-rhel", "REDHAT_ENTERPRISE_LINUX", LINUX, Behaviour(install_fails=failing_linux)),
        ("app-test-ubuntu", "UBUNTU", LINUX, Behaviour()),
        ("app-test-windows", "WINDOWS", WINDOWS, Behaviour()),
        ("app-prod-windows", "WINDOWS", "patch_prod_0600_batch_2", Behaviour()),
    ]:
        [ids[name]] = fleet.launch(
            os_name, tags={"Name": name, "Patch Group": group}, behaviour=behaviour
        )
    deployed.cloud.settle(max_seconds=3600)  # agents online
    return ids


def wave_runs(deployed: Deployed) -> list[dict[str, Any]]:
    sfn = deployed.cloud.client("stepfunctions")
    arn = deployed.stack.state_machine_arn("GatedWaveStateMachine")
    return [
        sfn.describe_execution(executionArn=e["executionArn"])
        for e in sfn.list_executions(stateMachineArn=arn)["executions"]
    ]


def commands_on(deployed: Deployed, instance: str) -> list[dict[str, Any]]:
    return [
        c
        for c in deployed.cloud.client("ssm").list_commands()["Commands"]
        if instance in c["InstanceIds"]
    ]


def gate_record(deployed: Deployed, run: str, step: int) -> dict[str, Any]:
    item: dict[str, Any] = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key={"pk": {"S": f"WAVE#{run}"}, "sk": {"S": f"GATE#{step:02d}"}},
    )["Item"]
    return item


def wave_report(deployed: Deployed) -> dict[str, Any]:
    [message] = [m for m in deployed.messages() if m["message"].get("kind") == "wave"]
    return message


def test_a_passed_gate_patches_the_next_batch(deployed: Deployed) -> None:
    ids = launch_fleet(deployed)
    execution_id = deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["name"] == f"wave-{execution_id}"
    assert run["status"] == "SUCCEEDED", run.get("cause")
    assert json.loads(run["output"])["outcome"] == "completed"
    # the gate looked at both Linux hosts and passed; then Windows was patched
    decision = gate_record(deployed, run["name"], 1)
    assert decision["passed"] == {"BOOL": True}
    assert decision["reasons"] == {"L": [{"S": "2 instances patched and verified"}]}
    [windows_command] = commands_on(deployed, ids["app-test-windows"])
    assert windows_command["Parameters"]["Operation"] == ["Install"]
    assert windows_command["Status"] == "Success"
    # no other wave's instance was touched
    assert commands_on(deployed, ids["app-prod-windows"]) == []
    report = wave_report(deployed)
    assert report["subject"] == "test wave: completed"
    assert report["attributes"]["outcome"] == "completed"


def test_a_failed_linux_host_holds_the_windows_batch(deployed: Deployed) -> None:
    ids = launch_fleet(deployed, failing_linux=True)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["status"] == "FAILED"
    assert run["error"] == "GateFailed"
    # the window's task failed with the install, and so did the instance: both are said
    assert run["cause"] == (
        "the gate before windows-apps failed: the maintenance window ended FAILED, not "
        "SUCCESS; 1 of 2 instances failed; the gate allows 0"
    )
    # batch 2 untouched: not one command reached the Windows host
    assert commands_on(deployed, ids["app-test-windows"]) == []
    decision = gate_record(deployed, run["name"], 1)
    assert decision["passed"] == {"BOOL": False}
    assert decision["failed_instances"]["M"] == {
        ids["db-test-rhel"]: {"S": "AWS-RunPatchBaseline ended Failed"}
    }
    report = wave_report(deployed)
    assert report["subject"] == "test wave: held before windows-apps"
    assert report["message"]["failedInstances"] == {
        ids["db-test-rhel"]: "AWS-RunPatchBaseline ended Failed"
    }


def test_a_window_that_did_not_succeed_stops_the_wave(deployed: Deployed) -> None:
    ids = launch_fleet(deployed)
    windows = deployed.cloud.windows
    assert windows is not None
    execution_id = windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=1)
    windows.cancel(execution_id)
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["status"] == "FAILED"
    assert "the maintenance window ended CANCELLED, not SUCCESS" in run["cause"]
    assert commands_on(deployed, ids["app-test-windows"]) == []


def test_a_duplicate_window_event_starts_one_run(deployed: Deployed) -> None:
    launch_fleet(deployed)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    [ended] = [
        d.event
        for d in deployed.cloud.delivery.deliveries
        if d.event.get("detail-type") == "Maintenance Window Execution State-change Notification"
        and d.event["detail"]["status"] == "SUCCESS"
    ]
    deployed.cloud.put_event(ended)
    deployed.cloud.settle(max_seconds=12 * 3600)

    assert len(wave_runs(deployed)) == 1
    results = [
        i.result
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("batch-gate") and isinstance(i.result, dict)
    ]
    assert [r["reason"] for r in results if r["route"] == "batch-gate"][-1] == (
        "duplicate: run already started"
    )


def test_a_window_of_no_wave_is_ignored(deployed: Deployed) -> None:
    ssm = deployed.cloud.client("ssm")
    window_id = ssm.create_maintenance_window(
        Name="someone-elses-window",
        Schedule="cron(0 3 ? * SUN *)",
        Duration=2,
        Cutoff=1,
        AllowUnassociatedTargets=True,
    )["WindowId"]
    deployed.cloud.windows.run_window(window_id)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=6 * 3600)
    assert wave_runs(deployed) == []
    [result] = [
        i.result
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("batch-gate") and isinstance(i.result, dict)
    ]
    assert result == {
        "route": "ignored",
        "reason": "window someone-elses-window runs no wave of the fleet policy",
    }


def test_a_large_batch_goes_out_fifty_instances_per_command(deployed: Deployed) -> None:
    fleet = deployed.cloud.fleet
    assert fleet is not None
    fleet.launch("UBUNTU", tags={"Name": "db", "Patch Group": LINUX})
    windows = fleet.launch("WINDOWS", tags={"Name": "app", "Patch Group": WINDOWS}, count=120)
    deployed.cloud.settle(max_seconds=3600)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    wave_commands = [
        c
        for c in deployed.cloud.client("ssm").list_commands()["Commands"]
        if c["Comment"].startswith("fleetpatch wave test batch windows-apps")
    ]
    assert sorted(len(c["InstanceIds"]) for c in wave_commands) == [20, 50, 50]  # ceil(120/50)
    assert sorted(i for c in wave_commands for i in c["InstanceIds"]) == sorted(windows)
    assert json.loads(run["output"])["message"] == (
        "every batch ran; last batch: 120 instances patched and verified"
    )
