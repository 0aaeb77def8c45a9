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
