"""Failed service calls inside the real ASL get the names AWS gives, and the ASL matches them.

The names and why: localcloud/adapters/sfn_errors.py; the ASL's every Retry and Catch is
checked against them by tests/unit/test_asl_error_names.py.
"""

from __future__ import annotations

from localcloud.sim.instances import Behaviour
from tests.workflows.conftest import Deployed


def failures(deployed: Deployed, instance: str) -> list[str]:
    return [
        e["taskFailedEventDetails"]["error"]
        for e in deployed.history(deployed.execution_for(instance))
        if e["type"] == "TaskFailed"
    ]


def test_auto_scaling_throttling_on_an_sdk_task_is_named_and_retried(deployed: Deployed) -> None:
    # Given Auto Scaling throttling the first two CompleteLifecycleAction calls (Throttling
    # is a common error, not in Auto Scaling's model: the SDK's base exception names it)
    deployed.cloud.faults.fail_api(
        "autoscaling", "CompleteLifecycleAction", "Throttling", status=400, times=2
    )
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))

    # When the launch runs
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then both failures carried the aws-sdk name, the ASL retried them, and the instance
    # was released
    assert failures(deployed, instance) == ["AutoScaling.AutoScalingException"] * 2
    assert deployed.cloud.faults.api_failures("autoscaling", "CompleteLifecycleAction") == 2
    assert deployed.lifecycle_result(instance) == "CONTINUE"


def test_sns_throttling_on_the_optimized_publish_is_named_and_retried(deployed: Deployed) -> None:
    # Given the report function failing every time (so the run falls back to publishing the
    # bare report itself) and SNS throttling that fallback's first two Publish calls
    deployed.cloud.faults.crash_once("publish-report", times=3)
    deployed.cloud.faults.fail_api(
        "sns", "Publish", "Throttled", status=400, matching="reportError", times=2
    )
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))

    # When the launch runs
    deployed.cloud.settle(max_seconds=6 * 3600)

    # Then the optimized integration's name matched the ASL's retrier: the bare report went out
    assert failures(deployed, instance)[-2:] == ["SNS.ThrottledException"] * 2
    assert deployed.cloud.faults.api_failures("sns", "Publish") == 2
    [message] = [m for m in deployed.messages_about(instance) if m["channel"] != "slack"]
    assert message["attributes"]["outcome"] == "patched"
    assert deployed.lifecycle_result(instance) == "CONTINUE"
