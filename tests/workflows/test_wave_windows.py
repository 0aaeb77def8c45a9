"""Which windows start a gated wave, and who their first batch patches (issue 16: 1, 7, 11).

The stack's own window starts the wave's run when it opens; the run patches the first batch
with the control plane's membership rule (the window patches nothing itself, so it cannot
patch what the control plane excludes). A window that only carries a wave window's name, or
a window event that arrives late, starts nothing.
"""

from __future__ import annotations

from datetime import timedelta

from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import WINDOW, commands_on, wave_runs

LINUX = "patch_test_0600_batch_1"
WINDOWS = "patch_test_0600_batch_2"


def test_an_instance_with_conflicting_patch_group_tags_is_patched_by_no_batch(
    deployed: Deployed,
) -> None:
    # Given a first-batch host and a host tagged for batch 1 by one key, batch 2 by the other
    fleet = deployed.cloud.fleet
    assert fleet is not None
    [first] = fleet.launch("UBUNTU", tags={"Patch Group": LINUX})
    [conflicting] = fleet.launch("UBUNTU", tags={"Patch Group": LINUX, "PatchGroup": WINDOWS})
    deployed.cloud.settle(max_seconds=3600)
    # When the wave's window opens and its run goes through
    assert deployed.cloud.windows is not None
    execution_id = deployed.cloud.windows.run_window(WINDOW)
    deployed.cloud.settle(max_seconds=24 * 3600)
    # Then the first batch was patched, the conflicting host by nobody, and the report says why
    [run] = wave_runs(deployed)
    assert run["name"] == f"wave-{execution_id}"
    assert commands_on(deployed, first)
    assert commands_on(deployed, conflicting) == []


def test_a_window_that_only_carries_a_wave_windows_name_starts_nothing(
    deployed: Deployed,
) -> None:
    # Given someone else's window with the same name as the test wave's (names are not unique)
    ssm = deployed.cloud.client("ssm")
    impostor = ssm.create_maintenance_window(
        Name=WINDOW,
        Schedule="cron(0 6 ? * SAT#1 *)",
        Duration=2,
        Cutoff=0,
        AllowUnassociatedTargets=True,
    )["WindowId"]
    ssm.register_task_with_maintenance_window(
        WindowId=impostor,
        TaskArn="AWS-RunPatchBaseline",
        TaskType="RUN_COMMAND",
        Targets=[{"Key": "tag:Patch Group", "Values": ["nobody"]}],
        MaxConcurrency="1",
        MaxErrors="0",
        Priority=1,
    )
    # When it runs
    assert deployed.cloud.windows is not None
    deployed.cloud.windows.run_window(impostor)
    deployed.cloud.settle(max_seconds=3600)
    # Then no gated wave started
    assert wave_runs(deployed) == []


def test_a_window_event_delivered_late_starts_no_wave(deployed: Deployed) -> None:
    # Given the stack's own test-wave window, whose end is announced a week late
    ssm = deployed.cloud.client("ssm")
    [window] = [
        w for w in ssm.describe_maintenance_windows()["WindowIdentities"] if w["Name"] == WINDOW
    ]
    now = deployed.cloud.clock.now()
    ended = now - timedelta(days=7)
    detail = {
        "start-time": (ended - timedelta(hours=1)).isoformat(),
        "end-time": ended.isoformat(),
        "window-id": window["WindowId"],
        "window-execution-id": "0e1d2c3b-4a59-6877-8695-a4b3c2d1e0f9",
        "status": "SUCCESS",
    }
    # When the event arrives now
    deployed.cloud.emit(
        "aws.ssm",
        "Maintenance Window Execution State-change Notification",
        detail,
        [
            f"arn:aws:ssm:{deployed.cloud.region}:{deployed.cloud.account_id}:maintenancewindow/"
            + window["WindowId"]
        ],
    )
    deployed.cloud.settle(max_seconds=3600)
    # Then no wave starts a week after its window
    assert wave_runs(deployed) == []
