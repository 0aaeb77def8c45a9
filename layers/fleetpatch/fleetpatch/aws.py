"""boto3 clients, created lazily and shared per service: nothing touches AWS at import time.

Tests and the local cloud call :func:`reset_clients` when the environment changes.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    """The client for ``service`` in the function's region (``AWS_REGION``)."""
    return boto3.client(service)  # type: ignore[call-overload]


def reset_clients() -> None:
    client.cache_clear()


def compiled_policy(parameter: str) -> dict[str, Any]:
    """The compiled fleet policy (``FleetPolicy.runtime()``) from its SSM parameter."""
    value = client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    policy: dict[str, Any] = json.loads(value)
    return policy
