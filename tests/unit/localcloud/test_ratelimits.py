"""API rate limits: each row of the rate table refuses a burst as AWS does, and refills in time.

Every test calls through a fresh boto3 client with botocore's retries off, so each call is
one request and one token. The calls name resources that do not exist: AWS charges a
refused request like any other, and moto's answer (not found, invalid) is not throttling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core import ratelimits
from localcloud.core.ratelimits import LIMITS, Limit

INSTANCE = "i-0123456789abcdef0"
ACCOUNT = "123456789012"
# Scheduler's CreateSchedule bucket is 5,000 in the cloud's region: its row is checked in a
# region with the smaller (250) bucket, which keeps the burst short.
SCHEDULER_REGION = "ca-central-1"
# Step Functions' buckets hold 800 and 1,500 calls: checked at a scale of 100 (rates scaled
# alike), as each call costs milliseconds.
MAX_BURST = 100


def _client(service: str, region: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service, region_name=region, config=Config(retries={"total_max_attempts": 1})
    )


def _call(limit: Limit, region: str) -> Callable[[int], Any]:
    """One request to the row's API, numbered (for names that must be unique)."""
    client = _client(limit.service, region)
    calls: dict[tuple[str, str], Callable[[int], Any]] = {
        ("ssm", "SendCommand"): lambda i: client.send_command(
            DocumentName="AWS-RunShellScript", InstanceIds=[INSTANCE]
        ),
        ("ssm", "DescribeInstanceInformation"): lambda i: client.describe_instance_information(),
        ("ssm", "GetCommandInvocation"): lambda i: client.get_command_invocation(
            CommandId="00000000-0000-0000-0000-000000000000", InstanceId=INSTANCE
        ),
        ("ssm", "ListCommands"): lambda i: client.list_commands(),
        ("ssm", "DescribeInstancePatchStates"): lambda i: client.describe_instance_patch_states(
            InstanceIds=[INSTANCE]
        ),
        ("stepfunctions", "StartExecution"): lambda i: client.start_execution(
            stateMachineArn=f"arn:aws:states:{region}:{ACCOUNT}:stateMachine:absent"
        ),
        ("stepfunctions", "SendTaskSuccess"): lambda i: client.send_task_success(
            taskToken=f"token-{i}", output="{}"
        ),
        ("autoscaling", "CompleteLifecycleAction"): lambda i: client.complete_lifecycle_action(
            AutoScalingGroupName="absent",
            LifecycleHookName="hook",
            LifecycleActionResult="CONTINUE",
            InstanceId=INSTANCE,
        ),
        (
            "autoscaling",
            "RecordLifecycleActionHeartbeat",
        ): lambda i: client.record_lifecycle_action_heartbeat(
            AutoScalingGroupName="absent", LifecycleHookName="hook", InstanceId=INSTANCE
        ),
        ("scheduler", "CreateSchedule"): lambda i: client.create_schedule(
            Name=f"schedule-{i}",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": f"arn:aws:lambda:{region}:{ACCOUNT}:function:absent",
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/scheduler",
            },
        ),
        ("ec2", "Describe*"): lambda i: client.describe_instances(
            Filters=[{"Name": "tag:Patch Group", "Values": ["none"]}]
        ),
        ("ec2", "Describe* (unfiltered, unpaginated)"): lambda i: client.describe_instances(),
    }
    return calls[(limit.service, limit.operation)]


def _throttled(limit: Limit, call: Callable[[], Any]) -> ClientError | None:
    """The throttling error of one call, or None when it got through to the service."""
    try:
        call()
    except ClientError as error:
        if error.response["Error"]["Code"] == limit.code:
            return error
    return None


@pytest.mark.parametrize("limit", LIMITS, ids=lambda r: f"{r.service}-{r.operation}")
def test_a_burst_over_the_bucket_is_throttled_as_aws_does_and_refills_in_simulated_time(
    cloud: LocalCloud, limit: Limit
) -> None:
    region = SCHEDULER_REGION if limit.service == "scheduler" else cloud.region
    burst, refill = limit.rate(region)
    if burst > MAX_BURST:  # the same bucket, shrunk to keep the test fast
        cloud.rate_limits.scale(MAX_BURST / burst)
        burst, refill = MAX_BURST, refill * MAX_BURST / burst
    call = _call(limit, region)
    numbers = iter(range(10_000))

    # Given a full bucket, when a burst of its size arrives at one simulated instant
    # Then every call gets through
    assert [i for i in range(round(burst)) if _throttled(limit, lambda: call(next(numbers)))] == []

    # When one more call arrives at the same instant
    error = _throttled(limit, lambda: call(next(numbers)))

    # Then AWS's throttling error refuses it: code, HTTP status and message
    assert error is not None, f"call {round(burst) + 1} to {limit.operation} was not throttled"
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == limit.status
    assert error.response["Error"]["Message"] == limit.message
    assert cloud.rate_limits.throttled(limit.service) == 1

    # When the bucket has refilled one token's worth of simulated time
    cloud.advance(1 / refill)

    # Then one call gets through, and the next is refused again
    assert _throttled(limit, lambda: call(next(numbers))) is None
    assert _throttled(limit, lambda: call(next(numbers))) is not None


def test_the_table_restates_aws_published_rates() -> None:
    # An independent oracle: the figures of the AWS pages each row cites (docs/limits.md).
    def rate(service: str, operation: str, region: str) -> tuple[float, float]:
        [row] = [r for r in LIMITS if (r.service, r.operation) == (service, operation)]
        return row.rate(region)

    assert rate("stepfunctions", "StartExecution", "us-east-1") == (1300, 300)
    assert rate("stepfunctions", "StartExecution", "eu-central-1") == (800, 150)
    assert rate("stepfunctions", "SendTaskSuccess", "eu-west-1") == (3000, 500)
    assert rate("stepfunctions", "SendTaskSuccess", "eu-central-1") == (1500, 300)
    assert rate("ec2", "Describe*", "eu-central-1") == (100, 20)
    assert rate("ec2", "Describe* (unfiltered, unpaginated)", "eu-central-1") == (50, 10)
    assert rate("scheduler", "CreateSchedule", "eu-central-1") == (5000, 5000)
    assert rate("scheduler", "CreateSchedule", "ca-central-1") == (250, 250)
    documented = {(r.service, r.documented) for r in LIMITS}
    assert documented == {
        ("ssm", False),
        ("autoscaling", False),
        ("stepfunctions", True),
        ("scheduler", True),
        ("ec2", True),
    }


def test_ec2_paginated_calls_draw_on_the_larger_bucket(cloud: LocalCloud) -> None:
    # Given the unfiltered DescribeInstances bucket (50) emptied
    ec2 = _client("ec2", cloud.region)
    for _ in range(50):
        ec2.describe_instances()
    with pytest.raises(ClientError, match="RequestLimitExceeded"):
        ec2.describe_instances()
    # When the same API is called with pagination, it draws on the Describe* bucket (100)
    ec2.describe_instances(MaxResults=5)
    # Then only the unfiltered calls were refused
    assert cloud.rate_limits.throttled("ec2", "DescribeInstances") == 1


def test_buckets_are_per_region(cloud: LocalCloud) -> None:
    # Given SendCommand's bucket emptied in the cloud's region
    cloud.rate_limits.set("ssm", "ListCommands", burst=1, refill=0.01)
    _client("ssm", cloud.region).list_commands()
    with pytest.raises(ClientError, match="ThrottlingException"):
        _client("ssm", cloud.region).list_commands()
    # When the same account calls in another region, then its own bucket serves it
    _client("ssm", "us-east-1").list_commands()


def test_switches_turn_the_limits_off_and_scale_them(cloud: LocalCloud) -> None:
    ssm = _client("ssm", cloud.region)
    # Given the limits scaled to a tenth (a bucket of 2 ListCommands)
    cloud.rate_limits.scale(0.1)
    ssm.list_commands()
    ssm.list_commands()
    with pytest.raises(ClientError, match="ThrottlingException"):
        ssm.list_commands()
    # When they are turned off, then nothing is throttled
    cloud.rate_limits.enabled = False
    for _ in range(50):
        ssm.list_commands()
    assert cloud.rate_limits.throttled() == 1


def test_calls_an_aws_service_makes_for_the_account_are_not_charged(cloud: LocalCloud) -> None:
    # Given a bucket of one call
    cloud.rate_limits.set("ssm", "ListCommands", burst=1, refill=0.01)
    ssm = _client("ssm", cloud.region)
    # When a simulated service (Scheduler, EventBridge) calls twice on the account's behalf
    with ratelimits.on_behalf_of_aws():
        ssm.list_commands()
        ssm.list_commands()
    # Then the account's own call still finds its token
    ssm.list_commands()
    assert cloud.rate_limits.throttled() == 0


def test_botocore_retries_a_throttled_call_as_on_aws(cloud: LocalCloud) -> None:
    # Given a bucket of one call and botocore's standard retries (3 attempts)
    cloud.rate_limits.set("ssm", "ListCommands", burst=1, refill=0.01)
    ssm = boto3.client("ssm", region_name=cloud.region, config=Config(retries={"mode": "standard"}))
    ssm.list_commands()
    # When the next call is throttled
    with pytest.raises(ssm.exceptions.ThrottlingException) as refused:
        ssm.list_commands()
    # Then botocore retried it (no simulated time passes between attempts here)
    assert refused.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert cloud.rate_limits.throttled("ssm", "ListCommands") == 3


def test_a_retry_may_borrow_what_the_bucket_refills_during_its_backoff(cloud: LocalCloud) -> None:
    # Given a bucket of one call that refills one token a second, and botocore's retries
    cloud.rate_limits.set("ssm", "ListCommands", burst=1, refill=1.0)
    ssm = boto3.client("ssm", region_name=cloud.region, config=Config(retries={"mode": "standard"}))
    ssm.list_commands()
    # When the next call is throttled at once
    answer = ssm.list_commands()
    # Then its retry gets through: on AWS it would have come after a backoff of up to 2 s,
    # by when the bucket had refilled (botocore's backoff takes no time on the local cloud)
    assert answer["ResponseMetadata"]["RetryAttempts"] == 1
    assert cloud.rate_limits.throttled("ssm", "ListCommands") == 1
    # and the borrowed token is owed: a first try right after is refused
    first_try_only = boto3.client(
        "ssm", region_name=cloud.region, config=Config(retries={"total_max_attempts": 1})
    )
    with pytest.raises(first_try_only.exceptions.ThrottlingException):
        first_try_only.list_commands()


def test_the_calls_of_one_handler_run_come_one_after_another(cloud: LocalCloud) -> None:
    # Given a bucket of one call refilling 20 a second, and no botocore retries
    from localcloud.core import ratelimits

    cloud.rate_limits.set("ssm", "ListCommands", burst=1, refill=20.0)
    ssm = boto3.client(
        "ssm", region_name=cloud.region, config=Config(retries={"total_max_attempts": 1})
    )
    # When one handler run makes ten calls (each takes it about CALL_SECONDS on AWS)
    with ratelimits.invocation():
        for _ in range(10):
            ssm.list_commands()
    # Then none is refused: the bucket refilled while the run went on
    assert cloud.rate_limits.throttled("ssm", "ListCommands") == 0
    # while ten calls at one instant outside a handler run find it empty
    with pytest.raises(ssm.exceptions.ThrottlingException):
        ssm.list_commands()
