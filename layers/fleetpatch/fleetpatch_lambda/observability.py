"""The one place that creates Logger, Metrics and Tracer.

Every handler uses :func:`instrumented`, which applies the decorators in the house order:
logger context (with the EventBridge event id as correlation id) -> metrics -> tracer.

Powertools is imported, and the Logger and Metrics created, by the first invocation, not by
the handler's import (cold start, issue 19): :func:`logger` and :func:`metrics` give the
process's one instance of each.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from fleetpatch import aws
from fleetpatch.errors import AwsThrottledError

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is at the time of the write.

    The logger lives for the whole process; binding it to the stdout of the moment it was
    created would send later logs to a stream that may since have been replaced (the
    local cloud captures each invocation's output, test runners capture per test).
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@cache
def logger() -> Logger:
    """The process's Logger (created by its first use)."""
    from aws_lambda_powertools import Logger

    return Logger(stream=_CurrentStdout())  # type: ignore[arg-type]


@cache
def metrics() -> Metrics:
    """The process's Metrics (created by its first use: it reads its namespace then)."""
    from aws_lambda_powertools import Metrics

    return Metrics()


Handler = Callable[[dict[str, Any], Any], Any]


def _tracing_enabled() -> bool:
    # Tracer() imports aws_xray_sdk (~240 ms of cold start) even when disabled, so only
    # build it when tracing is on (it is on in AWS: the template sets Tracing: Active).
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in {"1", "true"}


@cache
def _tracer() -> Any:
    from aws_lambda_powertools import Tracer

    return Tracer()


# The share of an invocation's time that throttled reads may spend waiting (the rest is
# for the work itself): ``fleetpatch.aws.patiently``.
PATIENCE_SHARE = 0.5


def _throttling_named(handler: Handler) -> Handler:
    """AWS throttling that outlasted botocore's retries leaves as ``AwsThrottledError``.

    Step Functions matches Retry on the error name: a bare ``ClientError`` would fail the
    task (an instance abandoned because SSM was busy); this name is retried with backoff.
    Before that, reads that page through a fleet wait throttling out in-process for up to
    half the invocation's remaining time (:func:`fleetpatch.aws.patience`).
    """

    @functools.wraps(handler)
    def call(event: dict[str, Any], context: Any) -> Any:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        try:
            if remaining is None:
                return handler(event, context)
            with aws.patience(remaining() / 1000 * PATIENCE_SHARE):
                return handler(event, context)
        except Exception as exc:
            if aws.is_throttling(exc):
                raise AwsThrottledError(f"AWS throttled a call: {exc}") from exc
            raise

    return call


def instrumented(handler: Handler) -> Handler:
    """Wrap a handler: logger context -> metrics -> tracer (when tracing is on).

    Innermost, throttling is renamed so workflows retry it (:func:`_throttling_named`).
    The wrapping is built by the first invocation (powertools is imported then), once.
    """

    @cache
    def wrapping() -> Handler:
        from aws_lambda_powertools.logging import correlation_paths

        wrapped: Handler = _throttling_named(handler)
        if _tracing_enabled():
            wrapped = _tracer().capture_lambda_handler(wrapped)
        wrapped = metrics().log_metrics(wrapped)
        return logger().inject_lambda_context(
            wrapped, correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True
        )

    @functools.wraps(handler)
    def call(event: dict[str, Any], context: Any) -> Any:
        return wrapping()(event, context)

    return call
