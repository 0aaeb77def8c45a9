"""Canaries: the moto 5.2.5 SSM maintenance window internals the local window runner relies on.

localcloud.sim.maintenance_windows reads moto's stored windows, targets and tasks; and
localcloud.adapters.ssm_windows adds the execution APIs moto lacks. If one of these
fails after a moto upgrade, revisit those modules.
"""

from __future__ import annotations

import inspect

from moto.ssm import models, responses

MODELS = inspect.getsource(models)
RESPONSES = inspect.getsource(responses)

ADDED = (
    "describe_maintenance_window_executions",
    "get_maintenance_window_execution",
    "describe_maintenance_window_execution_tasks",
    "get_maintenance_window_execution_task",
    "describe_maintenance_window_execution_task_invocations",
    "get_maintenance_window_execution_task_invocation",
    "cancel_maintenance_window_execution",
    "get_maintenance_window_task",
    # localcloud.adapters.ssm_schedule
    "describe_maintenance_window_schedule",
    "describe_maintenance_windows_for_target",
)


def test_moto_still_lacks_the_execution_apis() -> None:
    for name in ADDED:
        assert f"def {name}(" not in RESPONSES, name
        assert f"def {name}(" not in MODELS, name


def test_windows_are_stored_with_their_targets_and_tasks() -> None:
    window = models.FakeMaintenanceWindow("w", "", 2, 1, "cron(0 5 ? * SAT *)", "UTC", 0, "", "")
    assert window.id.startswith("mw-")
    assert len(window.id) == 20
    assert (window.duration, window.cutoff, window.targets, window.tasks) == (2, 1, {}, {})
    assert "window.targets[target.window_target_id] = target" in MODELS
    assert "window.tasks[task.window_task_id] = task" in MODELS


def test_targets_keep_owner_information_but_answer_it_blank() -> None:
    target = models.FakeMaintenanceWindowTarget(
        "mw-0123456789abcdef0",
        "INSTANCE",
        [{"Key": "tag:Patch Group", "Values": ["web"]}],
        "web (fleetpatch)",
        None,
        None,
    )
    assert target.owner_information == "web (fleetpatch)"
    assert target.targets == [{"Key": "tag:Patch Group", "Values": ["web"]}]
    # Read from the module file: the class attribute itself is our wrapper once installed.
    start = MODELS.index("class FakeMaintenanceWindowTarget:")
    source = MODELS[start : MODELS.index("\nclass ", start + 1)]
    assert "def to_json(self) -> dict[str, Any]:" in source
    assert '"OwnerInformation": "",' in source


def test_tasks_keep_what_the_runner_reads() -> None:
    task = models.FakeMaintenanceWindowTask(
        window_id="mw-0123456789abcdef0",
        targets=[{"Key": "WindowTargetIds", "Values": ["t"]}],
        task_arn="AWS-RunPatchBaseline",
        service_role_arn=None,
        task_type="RUN_COMMAND",
        task_parameters=None,
        task_invocation_parameters={"RunCommand": {"Parameters": {"Operation": ["Scan"]}}},
        priority=1,
        max_concurrency="1",
        max_errors="0",
        logging_info=None,
        name=None,
        description=None,
        cutoff_behavior="CANCEL_TASK",
        alarm_configurations=None,
    )
    for attribute in (
        "window_task_id",
        "window_id",
        "task_type",
        "task_arn",
        "service_role_arn",
        "task_parameters",
        "priority",
        "max_concurrency",
        "max_errors",
        "logging_info",
        "name",
        "description",
        "targets",
        "task_invocation_parameters",
        "cutoff_behavior",
        "alarm_configurations",
    ):
        assert hasattr(task, attribute), attribute


def test_the_backend_finds_windows_by_id() -> None:
    backend = models.SimpleSystemManagerBackend
    assert list(inspect.signature(backend.get_maintenance_window).parameters) == [
        "self",
        "window_id",
    ]
    assert "raise DoesNotExistException(window_id)" in inspect.getsource(
        backend.get_maintenance_window
    )
    assert "self.windows[window.id] = window" in MODELS


def test_windows_keep_what_the_schedule_is_computed_from() -> None:
    # localcloud.adapters.ssm_schedule reads these attributes to list upcoming executions.
    window = models.FakeMaintenanceWindow(
        "w",
        "",
        2,
        1,
        "cron(0 6 ? * SAT#1 *)",
        "Europe/Zurich",
        2,
        "2026-01-01T00:00:00Z",
        "2027-01-01T00:00:00Z",
    )
    assert (window.name, window.schedule, window.schedule_timezone, window.schedule_offset) == (
        "w",
        "cron(0 6 ? * SAT#1 *)",
        "Europe/Zurich",
        2,
    )
    assert (window.start_date, window.end_date) == ("2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z")
    assert "self.windows: dict[str, FakeMaintenanceWindow] = {}" in MODELS
    # ... and DescribeMaintenanceWindowsForTarget reads each task's targets.
    start = MODELS.index("class FakeMaintenanceWindowTask:")
    assert "        self.targets = targets\n" in MODELS[start : MODELS.index("\nclass ", start + 1)]
