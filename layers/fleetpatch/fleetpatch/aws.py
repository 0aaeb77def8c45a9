"""boto3 clients, created lazily and shared per service: nothing touches AWS at import time.

Tests and the local cloud call :func:`reset_clients` when the environment changes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3


@cache
def client(service: str) -> Any:
    """The client for ``service`` in the function's region (``AWS_REGION``)."""
    return boto3.client(service)  # type: ignore[call-overload]


def reset_clients() -> None:
    client.cache_clear()
