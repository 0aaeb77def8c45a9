"""Canaries for the Step Functions interpreter internals the local cloud's nested executions use.

localcloud/adapters/stepfunctions.py makes a .sync task's poll wait for an execution to end
(the loop's one ``time.sleep`` of a module constant, after the resolver's DescribeExecution;
the worker announcing the end through ``terminated()``), and gives states:startExecution AWS's parameter and
result names through the task's two normalisation hooks, which moto 5.2.5 leaves empty.
"""

from __future__ import annotations

import inspect

from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_callback,
    state_task_service_sfn,
)

from localcloud.adapters import sfn_sync, stepfunctions
from localcloud.core import motopatch


def moto_own(owner: object, name: str) -> object:
    """moto's own method, also once the local cloud has wrapped it."""
    method = getattr(owner, name)
    return motopatch.original(owner, name) if motopatch.is_patched(method, _SYNC_TAG) else method


_SYNC_TAG = sfn_sync._SYNC_TAG


def test_sync_tasks_sleep_once_per_poll_after_asking_their_resolver() -> None:
    source = inspect.getsource(state_task_service_callback.StateTaskServiceCallback._eval_sync)
    assert "sync_result = sync_resolver()" in source
    assert "time.sleep(_DELAY_SECONDS_SYNC_CONDITION_CHECK)" in source
    assert source.index("sync_resolver()") < source.index("time.sleep(")
    stepfunctions.install()
    assert (
        state_task_service_callback._DELAY_SECONDS_SYNC_CONDITION_CHECK
        == sfn_sync.SYNC_FALLBACK_SECONDS
    )
    assert isinstance(state_task_service_callback.time, sfn_sync._SyncTimeShim)


def test_an_execution_announces_its_end_through_terminated() -> None:
    from moto.stepfunctions.parser.backend import execution, execution_worker

    worker = inspect.getsource(execution_worker.ExecutionWorker)
    assert "self._execution_communication.terminated()" in worker
    assert "def terminated(self) -> None:" in inspect.getsource(
        execution.BaseExecutionWorkerCommunication
    )
    for name in ("_build_sync_resolver", "_build_sync2_resolver"):
        assert hasattr(state_task_service_sfn.StateTaskServiceSfn, name)


def test_the_normalisation_hooks_are_called_around_the_service_call() -> None:
    source = inspect.getsource(state_task_service.StateTaskService._eval_execution)
    assert "self._normalise_parameters(" in source
    assert "self._normalise_response(output_value)" in source
    # moto's own hooks do nothing (the reason for the patch); the sfn task's parameters hook
    # only turns Input into a string before calling the base one.
    base = inspect.getsource(state_task_service.StateTaskService._normalise_response)
    assert base.rstrip().endswith("pass")
    sync2 = inspect.getsource(
        moto_own(state_task_service_sfn.StateTaskServiceSfn, "_build_sync2_resolver")
    )
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
