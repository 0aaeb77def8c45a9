"""gated-wave: a wave's window ends, the gate decides, the next batch is patched or held.

The real template, handlers and ASL on the local cloud, with the example policy's test
wave: batch 1 (Linux, patch_test_0600_batch_1) runs in the rendered maintenance window,
batch 2 (Windows, patch_test_0600_batch_2) only through the gate.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch.contracts import keys
from localcloud.sim.instances import Behaviour
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
        Key={"pk": {"S": keys.wave_pk(run)}, "sk": {"S": keys.gate_sk(step)}},
    )["Item"]
    return item


def wave_report(deployed: Deployed) -> dict[str, Any]:
    [message] = [m for m in deployed.messages() if m["attributes"].get("kind") == "wave"]
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
    assert report["subject"] == "test wave: done; 3 instances: 3 patched"
    assert report["attributes"]["outcome"] == "completed"


def test_a_failed_linux_host_holds_the_windows_batch(deployed: Deployed) -> None:
    ids = launch_fleet(deployed, failing_linux=True)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["status"] == "FAILED"
    assert run["error"] == "GateFailed"
    assert run["cause"] == (
        "the gate before windows-apps failed: 1 of 2 instances failed; the gate allows 0"
    )
    # batch 2 untouched: not one command reached the Windows host
    assert commands_on(deployed, ids["app-test-windows"]) == []
    decision = gate_record(deployed, run["name"], 1)
    assert decision["passed"] == {"BOOL": False}
    assert decision["failed_instances"]["M"] == {
        ids["db-test-rhel"]: {"S": "AWS-RunPatchBaseline ended Failed"}
    }
    report = wave_report(deployed)
    assert report["subject"] == (
        "test wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )
    stored = deployed.report(run["name"])
    linux, windows = stored["batches"]
    assert {
        i["instance_id"]: i["reason"] for i in linux["instances"] if i["outcome"] == "failed"
    } == {ids["db-test-rhel"]: "AWS-RunPatchBaseline ended Failed"}
    assert windows["status"] == "held"
    assert [i["outcome"] for i in windows["instances"]] == ["not-reached"]


def test_the_window_only_starts_the_run(deployed: Deployed) -> None:
    # The window's one task starts the run and ends; the run patches every batch itself.
    # Cancelling the window's execution afterwards does not stop the run (`wave stop` does).
    ids = launch_fleet(deployed)
    windows = deployed.cloud.windows
    assert windows is not None
    execution_id = windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=1)
    execution = windows.execution(execution_id)
    assert [t.spec.task_type for t in execution.tasks] == ["LAMBDA"]
    assert execution.status == "SUCCESS"
    deployed.cloud.settle(max_seconds=12 * 3600)

    [run] = wave_runs(deployed)
    assert run["status"] == "SUCCEEDED", run.get("cause")
    [command] = commands_on(deployed, ids["db-test-rhel"])
    assert command["Comment"].startswith("fleetpatch wave test batch linux-databases")


def test_a_repeated_window_task_starts_one_run(deployed: Deployed) -> None:
    launch_fleet(deployed)
    windows = deployed.cloud.windows
    assert windows is not None
    execution_id = windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=12 * 3600)
    [invoked] = [
        i
        for i in deployed.cloud.lambdas.invocations
        if i.function_name.endswith("batch-gate")
        and isinstance(i.event, dict)
        and i.event.get("source") == "fleetpatch.window"
    ]
    # Systems Manager retries a task (or an operator runs it again) after the window ended
    again = deployed.cloud.lambdas.invoke(invoked.function_name, invoked.event)
    deployed.cloud.settle(max_seconds=12 * 3600)

    assert [r["name"] for r in wave_runs(deployed)] == [f"wave-{execution_id}"]
    assert again.result["route"] == "ignored"
    assert "is not running" in again.result["reason"]


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
    # its end event is validated; the window carries no wave's tags, so it starts nothing
    assert result["route"] == "ignored"
    assert result["reason"] == (
        f"window {window_id} is no wave's window of stage default (it lacks the "
        "fleetpatch:wave and fleetpatch:stage tags the policy stack sets)"
    )


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


# --- operator control: fleetpatch wave start|status|resume ------------------------------------


def wave_cli(deployed: Deployed, capsys: Any, action: str, **options: Any) -> tuple[int, str]:
    from argparse import Namespace

    from fleetpatch_cli.wave_cmd import run_wave_command

    args = Namespace(action=action, stage="default", run=None, wave=None, approve=False, reason="")
    for key, value in options.items():
        setattr(args, key, value)
    code = run_wave_command(args, deployed.cloud.client)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_wave_started_by_hand_patches_every_batch_through_its_gate(
    deployed: Deployed, capsys: Any
) -> None:
    ids = launch_fleet(deployed)
    code, out = wave_cli(deployed, capsys, "start", wave="test")
    assert code == 0
    run = out.split()[-1]
    assert run.startswith("manual-test-")
    deployed.cloud.settle(max_seconds=12 * 3600)

    [execution] = wave_runs(deployed)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    # batch 1 by the control plane (no window), then the gate, then batch 2
    for name in ("db-test-rhel", "app-test-ubuntu", "app-test-windows"):
        [command] = commands_on(deployed, ids[name])
        assert command["Comment"].startswith("fleetpatch wave test batch")
    assert commands_on(deployed, ids["app-prod-windows"]) == []
    code, out = wave_cli(deployed, capsys, "status", run=run)
    assert code == 0
    assert out.splitlines()[:3] == [
        f"{run}: wave test, SUCCEEDED",
        "  gate before windows-apps: passed",
        "    2 instances patched and verified",
    ]


def test_a_person_can_override_a_failed_gate_and_it_is_recorded(
    deployed: Deployed, capsys: Any
) -> None:
    ids = launch_fleet(deployed, failing_linux=True)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    [held] = wave_runs(deployed)
    assert held["status"] == "FAILED"

    code, out = wave_cli(deployed, capsys, "resume", run=held["name"], reason="db fixed by hand")
    assert code == 2
    assert "--approve" in out
    code, out = wave_cli(
        deployed, capsys, "resume", run=held["name"], approve=True, reason="db fixed by hand"
    )
    assert code == 0, out
    deployed.cloud.settle(max_seconds=12 * 3600)

    resumed = next(r for r in wave_runs(deployed) if r["name"] != held["name"])
    assert resumed["status"] == "SUCCEEDED", resumed.get("cause")
    [command] = commands_on(deployed, ids["app-test-windows"])
    assert command["Status"] == "Success"
    approval = gate_record(deployed, resumed["name"], 1)
    assert approval["approval_reason"] == {"S": "db fixed by hand"}
    assert approval["approved_by"]["S"].startswith("arn:aws:")
    assert approval["overrides_run"] == {"S": held["name"]}
    # a run that is not held cannot be resumed
    code, out = wave_cli(
        deployed, capsys, "resume", run=resumed["name"], approve=True, reason="again"
    )
    assert code == 2
    assert "only a held run can be resumed" in out


def test_wave_commands_name_what_is_wrong(deployed: Deployed, capsys: Any) -> None:
    code, out = wave_cli(deployed, capsys, "start", wave="staging")
    assert code == 2
    assert out.strip() == (
        "fleetpatch wave start: no wave staging in the deployed policy (waves: prod, test, web)"
    )
    code, out = wave_cli(deployed, capsys, "status", run="wave-nope")
    assert code == 2
    assert "no wave run wave-nope in stage default" in out
    code, out = wave_cli(deployed, capsys, "status")
    assert (code, out.strip()) == (0, "no wave runs yet")


def test_the_records_a_workflow_writes_expire_like_the_others(deployed: Deployed) -> None:
    # The run and wave records (and a gate's approval) carry the table's TTL attribute:
    # 400 days from when they were written, on the simulated clock like everything else.
    launch_fleet(deployed)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    [run] = wave_runs(deployed)
    item = deployed.cloud.client("dynamodb").get_item(
        TableName=deployed.stack.physical_id("StateTable"),
        Key=keys.wave_run_key(run["name"]),
    )["Item"]
    expires = int(item["expires_at"]["N"])
    written = run["stopDate"].timestamp()
    assert abs(expires - written - keys.RECORD_TTL_SECONDS) < 3600
