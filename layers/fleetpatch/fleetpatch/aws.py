"""boto3 clients, created lazily and shared per service: nothing touches AWS at import time.

Tests and the local cloud call :func:`reset_clients` when the environment changes.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


# What a warm container remembers between invocations (by its owner's key), forgotten with
# the clients.
_remembered: dict[str, Any] = {}


def remembered() -> dict[str, Any]:
    """The warm container's memory (see :func:`reset_clients`)."""
    return _remembered


def reset_clients() -> None:
    """Forget clients, the cached policy and what the container remembered (a new account,
    region or simulation)."""
    client.cache_clear()
    _policies.clear()
    _remembered.clear()


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


# --- waiting out throttling ------------------------------------------------------------------

# AWS's advice for throttling is to back off exponentially with jitter. botocore does (a few
# attempts, seconds at most); a read that pages through thousands of instances (SSM answers
# 50 a call at a handful of calls a second) needs more than that, and failing the whole task
# would start it again from its first call. So such reads wait in-process, on
# ``fleetpatch.clock`` (simulated time on the local cloud), within the invocation's time.
BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 8.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "fleetpatch_patience_deadline", default=None
)


@contextmanager
def patience(seconds: float) -> Iterator[None]:
    """Let throttled calls (:func:`patiently`) wait up to ``seconds`` from now, in all.

    The Lambda wrapper opens one per invocation with the time it has left; outside one, a
    throttled call fails at once (after botocore's own retries), as it always did.
    """
    from fleetpatch import clock

    token = _deadline.set(clock.time() + max(0.0, seconds))
    try:
        yield
    finally:
        _deadline.reset(token)


def patiently[T](call: Callable[..., T], /, **kwargs: Any) -> T:
    """``call(**kwargs)``; throttling is waited out (equal jitter) while patience lasts."""
    from fleetpatch import clock

    ceiling = BACKOFF_FIRST_SECONDS
    while True:
        try:
            return call(**kwargs)
        except ClientError as exc:
            deadline = _deadline.get()
            if not is_throttling(exc) or deadline is None:
                raise
            wait = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy
            if clock.time() + wait > deadline:
                raise
            clock.sleep(wait)
            ceiling = min(BACKOFF_MAX_SECONDS, ceiling * 2)


def pages(call: Callable[..., dict[str, Any]], /, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page of a ``NextToken`` API, each call made :func:`patiently`."""
    token: str | None = None
    while True:
        page = patiently(call, **kwargs, **({"NextToken": token} if token else {}))
        yield page
        token = page.get("NextToken")
        if not token:
            return
