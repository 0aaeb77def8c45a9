"""Lambda on the local cloud: the real handlers, run in-process.

moto 5.2.5 runs Lambda code in Docker, which this machine does not have. Every
invocation (direct ``Invoke``, Step Functions ``lambda:invoke``, SNS, EventBridge) passes
through ``moto.awslambda.models.LambdaFunction._invoke_lambda``; we route it to the
handler registered for the function: its code directory from the template, imported in
this interpreter, with the function's environment variables and a Lambda context.

Errors come back in Lambda's shape (``errorType``, ``errorMessage``, ``stackTrace``) so
Step Functions ``Retry``/``Catch`` match on the exception's class name, as in AWS.

Asynchronous invocations (EventBridge targets) are queued on the simulated clock and
retried like Lambda does (``MaximumRetryAttempts``, default 2); what still fails goes to
the function's dead-letter queue with Lambda's message attributes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from localcloud.adapters.handlers import LambdaHandler, load_handler
from localcloud.core import clock as sim
from localcloud.core import motopatch, ratelimits
from localcloud.core.iam import enforcer
from localcloud.core.iam.principal import Principal, acting_as
from localcloud.core.registry import Slot

if TYPE_CHECKING:
    from localcloud.core.faults import FaultInjector

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

LOG = logging.getLogger(__name__)

# Lambda retries a failed asynchronous invocation after about one and then two minutes.
ASYNC_RETRY_DELAYS_SECONDS = (60.0, 120.0)


@dataclass
class FunctionSpec:
    """What the local runtime needs to run one deployed function."""

    function_name: str
    code_dir: Path
    handler: str
    environment: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int = 30
    memory_mb: int = 256
    dead_letter_arn: str | None = None
    on_failure_arn: str | None = None
    maximum_retry_attempts: int = 2
    # The execution role the handler's AWS calls are made as (None: not authorized).
    role_arn: str | None = None


@dataclass
class Invocation:
    """One finished invocation, for the timeline and for tests."""

    function_name: str
    request_id: str
    event: Any
    result: Any
    error_type: str | None
    error_message: str | None
    output: str
    """What the handler printed (its logs without the error's stack trace)."""
    started: str
    asynchronous: bool = False
    attempt: int = 1
    duration_ms: float = 0.0
    """Real time the handler ran (in-process: no cold start, no network), for benchmarks."""
    memory_mb: int = 0
    # The error's stack, formatted only when the logs are read: at fleet scale thousands of
    # throttled invocations fail and nobody reads their logs (formatting was a tenth of a
    # 10,000-instance fleet's set-up).
    stack: traceback.TracebackException | None = field(default=None, repr=False)

    @property
    def logs(self) -> str:
        """The handler's output, then the error's stack trace as Lambda logs it."""
        return self.output + ("".join(self.stack.format()) if self.stack is not None else "")


class LambdaContext:
    """The attributes of the Lambda context object handlers (and powertools) read."""

    def __init__(self, spec: FunctionSpec, arn: str, request_id: str) -> None:
        self.function_name = spec.function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{spec.function_name}"
        self.log_stream_name = f"local/[$LATEST]{request_id.replace('-', '')}"
        self._deadline = time.monotonic() + spec.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _SharedStdout(io.TextIOBase):
    """Per-thread capture of stdout while a handler runs (powertools logs to stdout).

    Installed as ``sys.stdout`` while the runtime runs; output of threads that are not
    running a handler passes through to the stdout it replaced.
    """

    def __init__(self, real: Any) -> None:
        self._real = real
        self._local = threading.local()

    def capture(self) -> contextlib.AbstractContextManager[io.StringIO]:
        @contextlib.contextmanager
        def _ctx() -> Iterator[io.StringIO]:
            buffer = io.StringIO()
            previous = getattr(self._local, "buffer", None)
            self._local.buffer = buffer
            try:
                yield buffer
            finally:
                self._local.buffer = previous

        return _ctx()

    def write(self, text: str) -> int:
        buffer = getattr(self._local, "buffer", None)
        written: int = (buffer or self._real).write(text)
        return written

    def flush(self) -> None:
        buffer = getattr(self._local, "buffer", None)
        target = buffer or self._real
        # The stdout it replaced may be closed by now (pytest's capture after a test):
        # this object's own finaliser flushes, and must not fail there.
        if not getattr(target, "closed", False):
            target.flush()


class LambdaRuntime:
    """Registry of deployed functions and the in-process executor behind moto's invoke."""

    def __init__(self, region: str, account_id: str) -> None:
        self.region = region
        self.account_id = account_id
        self.functions: dict[str, FunctionSpec] = {}
        self.invocations: list[Invocation] = []
        self.base_environment: dict[str, str] = {}
        # One handler at a time: a real Lambda has its own process and environment; here
        # they share one, so environment variables are swapped in for each invocation.
        self._environment_lock = threading.RLock()
        # The functions this thread is running (a handler may invoke another in-process).
        self._local = threading.local()
        self._handlers: dict[str, LambdaHandler] = {}
        self._listeners: list[Callable[[Invocation], None]] = []
        self._stdout: _SharedStdout | None = None
        # Lambda's own client for dead letters: made once (building a client costs more than
        # the call; thousands of throttled events may be dead-lettered in a burst).
        self._sqs: Any = None
        # Scripted crashes (a handler raising once): see localcloud.core.faults.
        self.faults: FaultInjector | None = None

    def register(self, spec: FunctionSpec) -> None:
        self.functions[spec.function_name] = spec

    def on_invocation(self, listener: Callable[[Invocation], None]) -> None:
        self._listeners.append(listener)

    def arn(self, function_name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{function_name}"

    @contextlib.contextmanager
    def _environment(self, spec: FunctionSpec) -> Iterator[None]:
        overlay = self._overlay(spec)
        saved = {key: os.environ.get(key) for key in overlay}
        os.environ.update(overlay)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def _overlay(self, spec: FunctionSpec) -> dict[str, str]:
        return {
            **self.base_environment,
            **spec.environment,
            "AWS_LAMBDA_FUNCTION_NAME": spec.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

    def sleep(self, seconds: float) -> None:
        """A handler's ``fleetpatch.clock.sleep``: simulated time, and other handlers run meanwhile.

        Handlers share one process here, so one runs at a time (the environment lock). A
        handler that sleeps (the readiness watcher polls every few seconds for minutes) gives
        the lock up while it sleeps, as its own Lambda would not hold anyone up, and takes
        it back, with its environment, when it wakes.
        """
        running: list[FunctionSpec] = getattr(self._local, "running", [])
        if not running:
            sim.current().sleep(seconds)
            return
        for _ in running:
            self._environment_lock.release()
        try:
            sim.current().sleep(seconds)
        finally:
            for _ in running:
                self._environment_lock.acquire()
            os.environ.update(self._overlay(running[-1]))
            ratelimits.slept()

    def _handler(self, spec: FunctionSpec) -> LambdaHandler:
        handler = self._handlers.get(spec.function_name)
        if handler is None:
            handler = load_handler(spec.code_dir, spec.handler)
            self._handlers[spec.function_name] = handler
        return handler

    def invoke(
        self, function_name: str, event: Any, *, asynchronous: bool = False, attempt: int = 1
    ) -> Invocation:
        """Run the handler now, in this thread; never raises for handler errors."""
        spec = self.functions.get(function_name)
        request_id = str(uuid.uuid4())
        started = sim.current().now().isoformat()
        if spec is None:
            invocation = Invocation(
                function_name,
                request_id,
                event,
                None,
                "ResourceNotFoundException",
                f"function {function_name} is not deployed on the local cloud",
                "",
                started,
                asynchronous,
                attempt,
            )
            self._record(invocation)
            return invocation
        result: Any = None
        error_type: str | None = None
        error_message: str | None = None
        stack: traceback.TracebackException | None = None
        with self._environment_lock, self._captured() as output, self._environment(spec):
            began = time.perf_counter()
            try:
                handler = self._handler(spec)
                if self.faults is not None:
                    self.faults.before_invoke(function_name)
                running = self._local.__dict__.setdefault("running", [])
                running.append(spec)
                try:
                    with acting_as(self._principal(spec)), ratelimits.invocation():
                        result = handler(
                            event, LambdaContext(spec, self.arn(function_name), request_id)
                        )
                finally:
                    running.pop()
                json.dumps(result)  # Lambda fails on a result it cannot serialise
            except Exception as exc:
                error_type = type(exc).__name__
                error_message = str(exc)
                # Frames summarised now (no frame is kept alive), source lines read later.
                stack = traceback.TracebackException.from_exception(exc, lookup_lines=False)
                LOG.debug("%s failed: %s", function_name, error_message)
            duration_ms = (time.perf_counter() - began) * 1000
        invocation = Invocation(
            function_name,
            request_id,
            event,
            result,
            error_type,
            error_message,
            output.getvalue(),
            started,
            asynchronous,
            attempt,
            duration_ms,
            spec.memory_mb,
            stack,
        )
        self._record(invocation)
        return invocation

    @staticmethod
    def _principal(spec: FunctionSpec) -> Principal | None:
        iam = enforcer.active()
        if iam is None or spec.role_arn is None:
            return None
        return iam.assume(spec.role_arn, "lambda.amazonaws.com")

    @contextlib.contextmanager
    def _captured(self) -> Iterator[io.StringIO]:
        if self._stdout is None:
            self._stdout = _SharedStdout(sys.stdout)
            sys.stdout = self._stdout
        with self._stdout.capture() as buffer:
            yield buffer

    def close(self) -> None:
        """Give stdout back (the cloud stops)."""
        if self._stdout is not None:
            if sys.stdout is self._stdout:
                sys.stdout = self._stdout._real
            self._stdout = None

    def _record(self, invocation: Invocation) -> None:
        self.invocations.append(invocation)
        for listener in self._listeners:
            listener(invocation)

    # --- asynchronous invocation (EventBridge, SNS) -----------------------------------------

    def invoke_async(self, function_name: str, event: Any, *, attempt: int = 1) -> None:
        """Queue an asynchronous invocation on the simulated clock, with Lambda's retries."""
        sim.current().call_later(
            0 if attempt == 1 else ASYNC_RETRY_DELAYS_SECONDS[min(attempt - 2, 1)],
            lambda: self._run_async(function_name, event, attempt),
            label=f"lambda:{function_name}",
        )

    def _run_async(self, function_name: str, event: Any, attempt: int) -> None:
        invocation = self.invoke(function_name, event, asynchronous=True, attempt=attempt)
        if invocation.error_type is None:
            return
        spec = self.functions.get(function_name)
        retries = spec.maximum_retry_attempts if spec else 0
        if attempt <= retries:
            self.invoke_async(function_name, event, attempt=attempt + 1)
            return
        self._dead_letter(spec, invocation)

    def _dead_letter(self, spec: FunctionSpec | None, invocation: Invocation) -> None:
        target = spec.dead_letter_arn or spec.on_failure_arn if spec else None
        if not target:
            LOG.warning(
                "asynchronous invocation of %s failed and has no DLQ", invocation.function_name
            )
            return
        queue_name = target.rsplit(":", 1)[-1]
        if self._sqs is None:
            self._sqs = boto3.client("sqs", region_name=self.region)
        sqs = self._sqs
        queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        # The shape Lambda uses for a dead-letter queue: the event as the body, the error
        # in message attributes.
        # Lambda writes to the dead-letter queue with the function's execution role.
        with acting_as(self._principal(spec) if spec else None):
            self._send_dead_letter(sqs, queue_url, invocation)

    @staticmethod
    def _send_dead_letter(sqs: Any, queue_url: str, invocation: Invocation) -> None:
        sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(invocation.event),
            MessageAttributes={
                "RequestID": {"DataType": "String", "StringValue": invocation.request_id},
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {
                    "DataType": "String",
                    "StringValue": f"{invocation.error_type}: {invocation.error_message}"[:256],
                },
            },
        )


# The running cloud's lambda-runtime (localcloud.core.registry).
RUNTIME: Slot[LambdaRuntime] = Slot("lambda-runtime")


def install(runtime: LambdaRuntime) -> None:
    """Route moto's Lambda invocations to ``runtime`` (replaces any earlier runtime)."""
    RUNTIME.set(runtime)
    from moto.awslambda.models import LambdaFunction

    if motopatch.is_patched(LambdaFunction._invoke_lambda):
        return

    def _invoke_lambda(self: Any, event: Any = None) -> tuple[str, bool, str]:
        runtime = RUNTIME.get()
        if runtime is None:
            raise RuntimeError("the local Lambda runtime is not installed")
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        invocation = runtime.invoke(self.function_name, event if event is not None else {})
        if invocation.error_type is not None:
            payload: dict[str, Any] = {
                "errorType": invocation.error_type,
                "errorMessage": invocation.error_message,
                "stackTrace": [],
            }
            return json.dumps(payload), True, invocation.logs
        return json.dumps(invocation.result), False, invocation.logs

    motopatch.replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)
