"""Canaries for the Step Functions interpreter internals the local cloud's nested executions use.

localcloud/adapters/stepfunctions.py sets how often a .sync task polls its nested execution
(a module constant read at each poll) and gives states:startExecution AWS's parameter and
result names through the task's two normalisation hooks, which moto 5.2.5 leaves empty.
"""

from __future__ import annotations

import inspect

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_callback,
    state_task_service_sfn,
)

from localcloud.adapters import stepfunctions


def test_sync_tasks_poll_at_the_module_constant_read_at_each_poll() -> None:
    source = inspect.getsource(state_task_service_callback.StateTaskServiceCallback._eval_sync)
    assert "time.sleep(_DELAY_SECONDS_SYNC_CONDITION_CHECK)" in source
    stepfunctions.install()
    assert (
        state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
        == stepfunctions.SYNC_POLL_SECONDS
    )


def test_the_normalisation_hooks_are_called_around_the_service_call() -> None:
    source = inspect.getsource(state_task_service.StateTaskService._eval_execution)
    assert "self._normalise_parameters(" in source
    assert "self._normalise_response(output_value)" in source
    # moto's own hooks do nothing (the reason for the patch); the sfn task's parameters hook
    # only turns Input into a string before calling the base one.
    base = inspect.getsource(state_task_service.StateTaskService._normalise_response)
    assert base.rstrip().endswith("pass")
    sync2 = inspect.getsource(state_task_service_sfn.StateTaskServiceSfn._build_sync2_resolver)
    assert 'submission_output["ExecutionArn"]' in sync2


def test_start_execution_takes_and_gives_the_documented_names() -> None:
    stepfunctions.install()
    task = state_task_service_sfn.StateTaskServiceSfn.__new__(
        state_task_service_sfn.StateTaskServiceSfn
    )
    parameters = {"StateMachineArn": "arn", "Name": "n", "Input": "{}"}
    task._normalise_parameters(parameters, service_action_name="start_execution")
    assert parameters == {"stateMachineArn": "arn", "name": "n", "input": "{}"}
    response = {"executionArn": "arn", "startDate": 1}
    task._normalise_response(response)
    assert response == {"ExecutionArn": "arn", "StartDate": 1}
