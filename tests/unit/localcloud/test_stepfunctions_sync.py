"""A .sync task sees its nested execution end when it ends, as Step Functions does."""

from __future__ import annotations

import json
from datetime import timedelta

from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import create_state_machine, run_to_end

CHILD_WAIT_SECONDS = 301  # not a multiple of any poll interval


def _parent_and_child(cloud: LocalCloud, child_states: dict[str, object]) -> str:
    child = create_state_machine(
        cloud, {"QueryLanguage": "JSONata", "StartAt": "Work", "States": child_states}, "child"
    )
    return create_state_machine(
        cloud,
        {
            "QueryLanguage": "JSONata",
            "StartAt": "Child",
            "States": {
                "Child": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::states:startExecution.sync:2",
                    "Arguments": {"StateMachineArn": child, "Input": {}},
                    "Output": "{% $states.result.Output %}",
                    "End": True,
                }
            },
        },
        "parent",
    )


def test_the_parent_goes_on_the_moment_its_child_ends(cloud: LocalCloud) -> None:
    parent = _parent_and_child(
        cloud,
        {
            "Work": {"Type": "Wait", "Seconds": CHILD_WAIT_SECONDS, "Next": "Done"},
            "Done": {"Type": "Pass", "Output": {"done": True}, "End": True},
        },
    )
    start = cloud.clock.now()
    execution = run_to_end(cloud, parent, {})
    assert execution["status"] == "SUCCEEDED", execution
    assert json.loads(execution["output"]) == {"done": True}
    # A 2 s poll ended it at 302 s, the fallback alone at 360 s.
    assert execution["stopDate"] - execution["startDate"] == timedelta(seconds=CHILD_WAIT_SECONDS)
    assert cloud.clock.now() - start == timedelta(seconds=CHILD_WAIT_SECONDS)


def test_a_child_stopped_by_hand_fails_its_parents_task_at_once(cloud: LocalCloud) -> None:
    parent = _parent_and_child(cloud, {"Work": {"Type": "Wait", "Seconds": 3600, "End": True}})
    sfn = cloud.client("stepfunctions")
    started = sfn.start_execution(stateMachineArn=parent, input="{}")["executionArn"]
    cloud.clock.run(for_seconds=100)
    child = sfn.list_executions(
        stateMachineArn=parent.replace(":parent", ":child"), statusFilter="RUNNING"
    )["executions"][0]["executionArn"]
    sfn.stop_execution(executionArn=child)
    stopped_at = cloud.clock.now()
    cloud.settle()
    execution = sfn.describe_execution(executionArn=started)
    assert execution["status"] == "FAILED"
    assert execution["stopDate"] - stopped_at < timedelta(seconds=1)
