"""Throttling that outlasts botocore's retries leaves a handler as AwsThrottledError."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from fleetpatch.aws import is_throttling
from fleetpatch.errors import AwsThrottledError


def failing(code: str) -> Any:
    def handler(event: dict[str, Any], context: Any) -> Any:
        raise ClientError({"Error": {"Code": code, "Message": "x"}}, "DescribeInstanceInformation")

    return handler


def test_throttling_is_renamed_so_the_workflow_retries_it() -> None:
    # Imported here: the module builds powertools' Metrics, which reads the environment
    # the handler tests set up.
    from fleetpatch_lambda.observability import _throttling_named

    with pytest.raises(AwsThrottledError) as raised:
        _throttling_named(failing("ThrottlingException"))({}, None)
    assert isinstance(raised.value.__cause__, ClientError)


def test_other_client_errors_pass_unchanged() -> None:
    from fleetpatch_lambda.observability import _throttling_named

    with pytest.raises(ClientError):
        _throttling_named(failing("InvalidInstanceId"))({}, None)
    assert not is_throttling(ValueError("ThrottlingException"))


def test_an_invocation_may_wait_out_throttling_for_half_its_time() -> None:
    from fleetpatch_lambda.observability import _throttling_named

    from fleetpatch import aws, clock

    # Given an invocation with 10 s left, on a clock whose sleeps take no real time
    now = [1_800_000_000.0]
    clock.use(lambda: now[0], lambda seconds: now.__setitem__(0, now[0] + seconds))

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 10_000

    def always_throttled(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "x"}}, "X")

    def handler(event: dict[str, Any], context: Any) -> Any:
        return aws.patiently(always_throttled)

    try:
        # When a call stays throttled, Then the handler waits at most 5 s, then the
        # throttling leaves as AwsThrottledError for the workflow's Retry
        with pytest.raises(AwsThrottledError):
            _throttling_named(handler)({}, Context())
    finally:
        clock.use(None)
    assert 1 < now[0] - 1_800_000_000.0 <= 5
