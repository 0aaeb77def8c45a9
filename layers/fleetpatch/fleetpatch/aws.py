"""boto3 clients, created lazily and shared per service: nothing touches AWS at import time.

Tests and the local cloud call :func:`reset_clients` when the environment changes.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from fleetpatch.policy import CompiledPolicy


@cache
def client(service: str) -> Any:
    """The client for ``service`` in the function's region (``AWS_REGION``)."""
    return boto3.client(service)  # type: ignore[call-overload]


def reset_clients() -> None:
    """Forget clients and the cached policy (a new account, region or simulation)."""
    client.cache_clear()
    _policies.clear()


# A warm container re-reads the compiled policy at most this often: a burst of 10,000
# compliance events must not become 10,000 GetParameter calls (SSM's default is 40 a
# second), and a redeployed policy is still seen within a minute.
POLICY_CACHE_SECONDS = 60.0
_policies: dict[str, tuple[float, CompiledPolicy]] = {}


def compiled_policy(parameter: str) -> CompiledPolicy:
    """The compiled fleet policy (``fleetpatch policy render`` wrote it) from its SSM parameter."""
    from fleetpatch import clock
    from fleetpatch.policy import CompiledPolicy

    now = clock.time()
    cached = _policies.get(parameter)
    if cached is not None and 0 <= now - cached[0] < POLICY_CACHE_SECONDS:
        return cached[1]
    value = client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    policy = CompiledPolicy.model_validate_json(value)
    _policies[parameter] = (now, policy)
    return policy


# The error codes AWS throttles with (botocore's list of throttled codes): a call that still
# fails with one after botocore's own retries is worth retrying later, not a failure.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


def is_throttling(error: BaseException) -> bool:
    """True for a ClientError AWS throttled with (see :data:`THROTTLING_CODES`)."""
    return (
        isinstance(error, ClientError)
        and error.response.get("Error", {}).get("Code") in THROTTLING_CODES
    )
