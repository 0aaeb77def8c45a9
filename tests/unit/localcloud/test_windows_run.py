"""Running maintenance windows on the local cloud, observed through the SSM API and events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.adapters.ssm import install as install_fleet
from localcloud.adapters.ssm_windows import install as install_windows
from localcloud.cloud import LocalCloud
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import Behaviour
from localcloud.sim.maintenance_windows import WindowRunner
from tests.conftest import load_event
from tests.unit.localcloud.test_autoscaling_lifecycle import EventQueue, of_type

PATCH = "AWS-RunPatchBaseline"
BUCKET = "patch-logs"
WINDOW_EVENT = "Maintenance Window Execution State-change Notification"
TASK_EVENT = "Maintenance Window Task Execution State-change Notification"
INVOCATION_EVENT = "Maintenance Window Task Target Invocation State-change Notification"


@dataclass
class Env:
    cloud: LocalCloud
    fleet: FleetSimulator
    windows: WindowRunner

    @property
    def ssm(self) -> Any:
        return self.cloud.client("ssm")

    def instances(
        self, group: str, count: int = 1, behaviour: Behaviour | None = None
    ) -> list[str]:
        ids = self.fleet.launch(
            "AMAZON_LINUX_2", tags={"Patch Group": group}, count=count, behaviour=behaviour
        )
        self.cloud.advance(60)  # the agents come online
        return ids

    def window(self, *, duration: int = 2, cutoff: int = 1, name: str = "patch-window") -> str:
        return str(
            self.ssm.create_maintenance_window(
                Name=name,
                Schedule="cron(0 5 ? * SAT *)",
                ScheduleTimezone="Europe/Berlin",
                Duration=duration,
                Cutoff=cutoff,
                AllowUnassociatedTargets=False,
            )["WindowId"]
        )

    def target(self, window_id: str, group: str) -> str:
        return str(
            self.ssm.register_target_with_maintenance_window(
                WindowId=window_id,
                ResourceType="INSTANCE",
                Targets=[{"Key": "tag:Patch Group", "Values": [group]}],
                OwnerInformation=f"{group} (fleetpatch)",
            )["WindowTargetId"]
        )

    def task(
        self,
        window_id: str,
        target_id: str,
        *,
        priority: int,
        operation: str = "Install",
        concurrency: str = "50%",
        errors: str = "1",
        **extra: Any,
    ) -> str:
        return str(
            self.ssm.register_task_with_maintenance_window(
                WindowId=window_id,
                Targets=[{"Key": "WindowTargetIds", "Values": [target_id]}],
                TaskArn=PATCH,
                TaskType="RUN_COMMAND",
                Priority=priority,
                MaxConcurrency=concurrency,
                MaxErrors=errors,
                TaskInvocationParameters={
                    "RunCommand": {
                        "Parameters": {"Operation": [operation]},
                        "OutputS3BucketName": BUCKET,
                        "OutputS3KeyPrefix": "windows/{{WINDOW_EXECUTION_ID}}",
                        "TimeoutSeconds": 600,
                    }
                },
                **extra,
            )["WindowTaskId"]
        )

    def execution(self, execution_id: str) -> dict[str, Any]:
        return dict(self.ssm.get_maintenance_window_execution(WindowExecutionId=execution_id))

    def tasks(self, execution_id: str) -> list[dict[str, Any]]:
        found = self.ssm.describe_maintenance_window_execution_tasks(
            WindowExecutionId=execution_id
        )["WindowExecutionTaskIdentities"]
        return sorted(found, key=lambda t: t["StartTime"])

    def invocations(self, execution_id: str, task_id: str) -> list[dict[str, Any]]:
        found = self.ssm.describe_maintenance_window_execution_task_invocations(
            WindowExecutionId=execution_id, TaskId=task_id
        )["WindowExecutionTaskInvocationIdentities"]
        return sorted(found, key=lambda i: i["StartTime"])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as cloud:
        cloud.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": cloud.region}
        )
        yield Env(cloud, install_fleet(cloud), install_windows(cloud))


def test_tasks_run_in_priority_order_against_their_targets_with_s3_output(env: Env) -> None:
    # Given databases scanned first (priority 1), then web servers installed one at a time
    [db] = env.instances("db")
    web = env.instances("web", count=2)
    window_id = env.window()
    db_target, web_target = env.target(window_id, "db"), env.target(window_id, "web")
    env.task(window_id, db_target, priority=1, operation="Scan")
    env.task(window_id, web_target, priority=2, concurrency="1")
    # When the window opens and plays out
    execution_id = env.windows.run_window(window_id)
    assert env.execution(execution_id)["Status"] == "PENDING"
    env.cloud.settle()
    # Then it succeeded, the db task ended before the web task started
    execution = env.execution(execution_id)
    assert execution["Status"] == "SUCCESS"
    scan, install = env.tasks(execution_id)
    assert {scan["TaskExecutionId"], install["TaskExecutionId"]} == set(execution["TaskIds"])
    assert scan["EndTime"] <= install["StartTime"]
    assert (scan["Status"], install["Status"]) == ("SUCCESS", "SUCCESS")
    # And each target got its own command, one web server after the other
    [scan_invocation] = env.invocations(execution_id, scan["TaskExecutionId"])
    assert json.loads(scan_invocation["Parameters"])["instanceIds"] == [db]
    first, second = env.invocations(execution_id, install["TaskExecutionId"])
    assert first["EndTime"] <= second["StartTime"]
    for invocation in (first, second):
        assert invocation["WindowTargetId"] == web_target
        assert invocation["OwnerInformation"] == "web (fleetpatch)"
        assert invocation["TaskType"] == "RUN_COMMAND"
        parameters = json.loads(invocation["Parameters"])
        assert parameters["documentName"] == PATCH
        assert parameters["parameters"] == {"Operation": ["Install"]}
        [instance_id] = parameters["instanceIds"]
        assert instance_id in web
        command = env.ssm.get_command_invocation(
            CommandId=invocation["ExecutionId"], InstanceId=instance_id
        )
        assert command["Status"] == "Success"
        keys = env.cloud.client("s3").list_objects_v2(
            Bucket=BUCKET,
            Prefix=f"windows/{execution_id}/{invocation['ExecutionId']}/{instance_id}/",
        )
        assert keys["KeyCount"] >= 1


def test_the_run_emits_window_task_and_invocation_events(env: Env) -> None:
    queue = EventQueue(env.cloud, ["aws.ssm"])
    env.instances("web")
    window_id = env.window()
    target_id = env.target(window_id, "web")
    env.task(window_id, target_id, priority=1)
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    events = queue.drain()
    window_events = of_type(events, WINDOW_EVENT)
    assert [e["detail"]["status"] for e in window_events] == ["IN_PROGRESS", "SUCCESS"]
    assert set(window_events[1]["detail"]) == set(
        load_event("aws.ssm/maintenance-window-execution-success")["detail"]
    )
    assert set(window_events[0]["detail"]) == set(
        load_event("aws.ssm/maintenance-window-execution-in-progress")["detail"]
    )
    arn = f"arn:aws:ssm:eu-central-1:123456789012:maintenancewindow/{window_id}"
    window_kinds = {WINDOW_EVENT, TASK_EVENT, INVOCATION_EVENT}
    assert {e["resources"][0] for e in events if e["detail-type"] in window_kinds} == {arn}
    assert window_events[1]["detail"]["window-execution-id"] == execution_id
    task_events = of_type(events, TASK_EVENT)
    assert [e["detail"]["status"] for e in task_events] == ["IN_PROGRESS", "SUCCESS"]
    assert set(task_events[1]["detail"]) == set(
        load_event("aws.ssm/maintenance-window-task-execution-success")["detail"]
    )
    invocation_events = of_type(events, INVOCATION_EVENT)
    assert [e["detail"]["status"] for e in invocation_events] == ["IN_PROGRESS", "SUCCESS"]
    final = invocation_events[1]["detail"]
    assert set(final) == set(
        load_event("aws.ssm/maintenance-window-task-target-invocation-success")["detail"]
    )
    assert (final["window-target-id"], final["owner-information"]) == (
        target_id,
        "web (fleetpatch)",
    )
    assert final["end-time"].endswith("Z")


def test_equal_priorities_run_in_parallel(env: Env) -> None:
    env.instances("db")
    env.instances("web")
    window_id = env.window()
    env.task(window_id, env.target(window_id, "db"), priority=3)
    env.task(window_id, env.target(window_id, "web"), priority=3)
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    first, second = env.tasks(execution_id)
    assert first["StartTime"] == second["StartTime"]
    assert env.execution(execution_id)["Status"] == "SUCCESS"


def test_a_failing_target_fails_the_task_and_the_window(env: Env) -> None:
    queue = EventQueue(env.cloud, ["aws.ssm"])
    [healthy] = env.instances("web")
    [broken] = env.instances("web", behaviour=Behaviour(install_fails=True))
    window_id = env.window()
    env.task(window_id, env.target(window_id, "web"), priority=1, errors="1")
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    statuses = {
        json.loads(i["Parameters"])["instanceIds"][0]: i["Status"]
        for i in env.invocations(execution_id, task["TaskExecutionId"])
    }
    assert statuses == {healthy: "SUCCESS", broken: "FAILED"}
    assert (task["Status"], task["StatusDetails"]) == ("FAILED", "1 of 2 invocations FAILED")
    assert env.execution(execution_id)["Status"] == "FAILED"
    finals = [e["detail"]["status"] for e in of_type(queue.drain(), WINDOW_EVENT)]
    assert finals == ["IN_PROGRESS", "FAILED"]


def test_max_errors_stops_starting_invocations(env: Env) -> None:
    env.instances("web", behaviour=Behaviour(install_fails=True))
    env.instances("web", count=2)
    window_id = env.window()
    env.task(window_id, env.target(window_id, "web"), priority=1, concurrency="1", errors="0")
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    [failed] = env.invocations(execution_id, task["TaskExecutionId"])
    assert failed["Status"] == "FAILED"
    assert task["StatusDetails"] == (
        "1 of 1 invocations FAILED; MaxErrors (0) exceeded: 2 of 3 targets not run"
    )


def test_a_window_running_past_its_duration_ends_timed_out(env: Env) -> None:
    queue = EventQueue(env.cloud, ["aws.ssm"])
    [slow] = env.instances("web", behaviour=Behaviour(command_duration_seconds=5000))
    window_id = env.window(duration=1, cutoff=0)
    env.task(window_id, env.target(window_id, "web"), priority=1)
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    execution = env.execution(execution_id)
    assert execution["Status"] == "TIMED_OUT"
    assert execution["EndTime"] - execution["StartTime"] == timedelta(hours=1)
    [task] = env.tasks(execution_id)
    [invocation] = env.invocations(execution_id, task["TaskExecutionId"])
    assert (task["Status"], invocation["Status"]) == ("TIMED_OUT", "TIMED_OUT")
    # The command itself runs on in Run Command, as in AWS
    command = env.ssm.get_command_invocation(CommandId=invocation["ExecutionId"], InstanceId=slow)
    assert command["Status"] == "Success"
    [_, final] = of_type(queue.drain(), WINDOW_EVENT)
    assert final["detail"]["status"] == "TIMED_OUT"


def test_tasks_not_started_before_the_cutoff_are_skipped(env: Env) -> None:
    env.instances("web", behaviour=Behaviour(command_duration_seconds=4000))
    env.instances("db")
    window_id = env.window(duration=2, cutoff=1)
    env.task(window_id, env.target(window_id, "web"), priority=1)
    env.task(window_id, env.target(window_id, "db"), priority=2)
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    execution = env.execution(execution_id)
    [task] = env.tasks(execution_id)  # the db task never started
    assert task["Status"] == "SUCCESS"
    assert (execution["Status"], execution["StatusDetails"]) == (
        "TIMED_OUT",
        "1 task(s) not started before the cutoff",
    )


def test_cancel_task_cancels_the_command_at_the_cutoff(env: Env) -> None:
    [slow] = env.instances("web", behaviour=Behaviour(command_duration_seconds=5000))
    window_id = env.window(duration=2, cutoff=1)
    env.task(window_id, env.target(window_id, "web"), priority=1, CutoffBehavior="CANCEL_TASK")
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    [invocation] = env.invocations(execution_id, task["TaskExecutionId"])
    assert task["EndTime"] - task["StartTime"] == timedelta(hours=1)
    assert (task["Status"], invocation["Status"]) == ("TIMED_OUT", "TIMED_OUT")
    command = env.ssm.get_command_invocation(CommandId=invocation["ExecutionId"], InstanceId=slow)
    assert command["Status"] == "Cancelled"
    assert env.execution(execution_id)["Status"] == "TIMED_OUT"


def test_a_cancelled_execution_finishes_running_tasks_and_starts_no_more(env: Env) -> None:
    env.instances("web")
    env.instances("db")
    window_id = env.window()
    env.task(window_id, env.target(window_id, "web"), priority=1)
    env.task(window_id, env.target(window_id, "db"), priority=2)
    execution_id = env.windows.run_window(window_id)
    env.cloud.advance(30)
    env.ssm.cancel_maintenance_window_execution(WindowExecutionId=execution_id)
    assert env.execution(execution_id)["Status"] == "CANCELLING"
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    assert task["Status"] == "SUCCESS"
    assert env.execution(execution_id)["Status"] == "CANCELLED"


def test_a_target_that_cannot_receive_the_command_fails_its_invocation(env: Env) -> None:
    env.instances("web", behaviour=Behaviour(never_online=True))
    window_id = env.window()
    env.task(window_id, env.target(window_id, "web"), priority=1)
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    [invocation] = env.invocations(execution_id, task["TaskExecutionId"])
    assert invocation["Status"] == "FAILED"
    assert "InvalidInstanceId" in invocation["StatusDetails"]
    assert "ExecutionId" not in invocation


def test_other_documents_and_pseudo_parameters(env: Env) -> None:
    # Other Command documents run on the simulated fleet too (exit code 0 unless scripted).
    [instance_id] = env.instances("web")
    window_id = env.window()
    env.ssm.register_task_with_maintenance_window(
        WindowId=window_id,
        Targets=[{"Key": "InstanceIds", "Values": [instance_id]}],
        TaskArn="AWS-RunShellScript",
        TaskType="RUN_COMMAND",
        MaxConcurrency="1",
        MaxErrors="0",
        TaskInvocationParameters={
            "RunCommand": {"Parameters": {"commands": ["echo {{RESOURCE_ID}} {{WINDOW_ID}}"]}}
        },
    )
    execution_id = env.windows.run_window("patch-window")  # by name
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    [invocation] = env.invocations(execution_id, task["TaskExecutionId"])
    assert invocation["Status"] == "SUCCESS"
    assert "WindowTargetId" not in invocation
    assert json.loads(invocation["Parameters"])["parameters"] == {
        "commands": [f"echo {instance_id} {window_id}"]
    }


def test_a_lambda_task_needs_a_service_role_and_automation_does_not_run(env: Env) -> None:
    window_id = env.window()
    env.ssm.register_task_with_maintenance_window(
        WindowId=window_id,
        TaskArn="arn:aws:lambda:eu-central-1:123456789012:function:report",
        TaskType="LAMBDA",
    )
    execution_id = env.windows.run_window(window_id)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    assert task["Status"] == "FAILED"
    assert "needs a service role" in task["StatusDetails"]
    other = env.window()
    env.ssm.register_task_with_maintenance_window(
        WindowId=other, TaskArn="AWS-RestartEC2Instance", TaskType="AUTOMATION"
    )
    execution_id = env.windows.run_window(other)
    env.cloud.settle()
    [task] = env.tasks(execution_id)
    assert (task["Status"], task["StatusDetails"]) == (
        "FAILED",
        "The local cloud does not run AUTOMATION tasks",
    )


def test_execution_apis_list_get_and_refuse_unknown_ids(env: Env) -> None:
    env.instances("web")
    window_id = env.window()
    target_id = env.target(window_id, "web")
    task_id = env.task(window_id, target_id, priority=1)
    first = env.windows.run_window(window_id)
    env.cloud.settle()
    second = env.windows.run_window(window_id)
    env.cloud.settle()
    listed = env.ssm.describe_maintenance_window_executions(WindowId=window_id)
    assert [e["WindowExecutionId"] for e in listed["WindowExecutions"]] == [second, first]
    paged = env.ssm.describe_maintenance_window_executions(WindowId=window_id, MaxResults=10)
    assert len(paged["WindowExecutions"]) == 2
    [task] = env.tasks(first)
    detail = env.ssm.get_maintenance_window_execution_task(
        WindowExecutionId=first, TaskId=task["TaskExecutionId"]
    )
    assert (detail["Type"], detail["Priority"], detail["MaxConcurrency"]) == (
        "RUN_COMMAND",
        1,
        "50%",
    )
    assert detail["TaskParameters"] == [{"Operation": {"Values": ["Install"]}}]
    [invocation] = env.invocations(first, task["TaskExecutionId"])
    fetched = env.ssm.get_maintenance_window_execution_task_invocation(
        WindowExecutionId=first,
        TaskId=task["TaskExecutionId"],
        InvocationId=invocation["InvocationId"],
    )
    assert fetched["ExecutionId"] == invocation["ExecutionId"]
    failed_only = env.ssm.describe_maintenance_window_execution_task_invocations(
        WindowExecutionId=first,
        TaskId=task["TaskExecutionId"],
        Filters=[{"Key": "STATUS", "Values": ["FAILED"]}],
    )
    assert failed_only["WindowExecutionTaskInvocationIdentities"] == []
    registered = env.ssm.get_maintenance_window_task(WindowId=window_id, WindowTaskId=task_id)
    assert registered["TaskInvocationParameters"]["RunCommand"]["OutputS3BucketName"] == BUCKET
    assert registered["Targets"] == [{"Key": "WindowTargetIds", "Values": [target_id]}]
    [target] = env.ssm.describe_maintenance_window_targets(WindowId=window_id)["Targets"]
    assert target["OwnerInformation"] == "web (fleetpatch)"
    unknown = "ac537fc8-0995-41ff-83a2-23c98106532a"
    with pytest.raises(ClientError, match="DoesNotExistException"):
        env.ssm.get_maintenance_window_execution(WindowExecutionId=unknown)
    with pytest.raises(ClientError, match="DoesNotExistException"):
        env.ssm.get_maintenance_window_task(WindowId=window_id, WindowTaskId=unknown)
