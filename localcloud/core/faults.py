"""Fault injection for the local cloud: what goes wrong in AWS, through the real paths.

    cloud.faults.drop_events("EC2 Command Status-change Notification")
    cloud.faults.duplicate_events("EC2 Command Status-change Notification", copies=3, seed=7)
    cloud.faults.crash_once("patch-batch")                 # the handler raises, once
    cloud.faults.fail_api("s3", "PutObject", "AccessDenied", status=403)
    cloud.faults.fail_api("dynamodb", "UpdateItem", "TransactionConflictException",
                          matching="COMMAND#", times=2)

Three kinds, each injected where AWS would fail:

* EventBridge delivery (at-least-once, unordered, and lost when a target or a rule is
  misconfigured): a matching event is not delivered to Lambda / Step Functions targets, or
  delivered several times, each copy after its own random delay, so copies and other
  events arrive out of order. Consulted by :mod:`localcloud.adapters.events`.
* Lambda: the named function's handler raises an unhandled error (``InjectedCrash``) on
  its next invocation(s); Lambda's asynchronous retries and Step Functions' ``Retry`` see
  an ordinary function error. Consulted by :mod:`localcloud.adapters.awslambda`.
* AWS API errors for any client in the process (the handlers', Step Functions' SDK
  integrations'): the call is answered with the service's own error document at moto's
  ``before-send`` hook, so botocore parses it, applies its retry rules, and raises the
  real ``ClientError`` (``client.exceptions.ConditionalCheckFailedException`` and all).

SSM throttling has its own switch (``cloud.fleet.throttle``), as SSM is simulated.

moto internal touched (canary in tests/unit/localcloud/test_moto_canaries_faults.py):
``moto.core.botocore_stubber.BotocoreStubber.__call__(event_name, request)``, the
``before-send`` handler every client runs while ``mock_aws`` is active; wrapped once. The
same wrapper consults the API rate limits (:mod:`localcloud.core.ratelimits`, set with
:func:`limit_rates`) after the scripted faults.
"""

from __future__ import annotations

import io
import json
import random
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from localcloud.core import motopatch
from localcloud.core.registry import Slot

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# The wire format each service's errors come in (botocore parses them by protocol).
_JSON_PREFIXES = {"dynamodb": "com.amazonaws.dynamodb.v20120810"}
_PROTOCOLS = {
    "dynamodb": "json",
    "stepfunctions": "json",
    "lambda": "rest-json",
    "scheduler": "rest-json",
    "s3": "rest-xml",
    "sns": "query",
    "sqs": "json",
    "autoscaling": "query",
    "ec2": "ec2",
}
# botocore names events after the service id ("before-send.sfn.StartExecution"), which is
# not always the client's name.
_CLIENT_NAMES = {"sfn": "stepfunctions", "auto-scaling": "autoscaling"}


def client_name(service_id: str) -> str:
    """The boto3 client name for a service id as botocore's event names spell it."""
    return _CLIENT_NAMES.get(service_id, service_id)


class InjectedCrash(RuntimeError):
    """An unhandled error a fault made a handler raise (not a bug in the handler)."""


@dataclass
class _EventRule:
    detail_type: str
    copies: int  # 0: drop
    max_delay_seconds: float
    rng: random.Random
    affected: int = 0


@dataclass
class _CrashRule:
    function: str
    remaining: int
    crashed: list[str] = field(default_factory=list)


@dataclass
class _ApiRule:
    service: str
    operation: str
    code: str
    status: int
    message: str
    matching: str | None
    times: int | None  # None: every matching call (or by probability)
    probability: float
    rng: random.Random
    injected: int = 0

    def matches(self, service: str, operation: str, request: Any) -> bool:
        if (service, operation) != (self.service, self.operation):
            return False
        if self.matching is None:
            return True
        body = request.body
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        return self.matching in text or self.matching in str(request.url)


class FaultInjector:
    """The faults scripted for one LocalCloud, and what they did (for tests and tables)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, _EventRule] = {}
        self._crashes: dict[str, _CrashRule] = {}
        self._api: list[_ApiRule] = []

    # --- EventBridge ----------------------------------------------------------------------------

    def drop_events(self, detail_type: str) -> None:
        """Never deliver events of ``detail_type`` to Lambda or Step Functions targets."""
        self._set_event_rule(detail_type, copies=0, max_delay_seconds=0, seed=None)

    def duplicate_events(
        self,
        detail_type: str,
        *,
        copies: int = 2,
        max_delay_seconds: float = 90.0,
        seed: int | None = None,
    ) -> None:
        """Deliver each event of ``detail_type`` ``copies`` times, each after a random delay."""
        if copies < 2:
            raise ValueError(f"copies must be at least 2, not {copies}")
        if max_delay_seconds < 0:
            raise ValueError(f"max_delay_seconds must not be negative, not {max_delay_seconds}")
        self._set_event_rule(
            detail_type, copies=copies, max_delay_seconds=max_delay_seconds, seed=seed
        )

    def _set_event_rule(
        self, detail_type: str, *, copies: int, max_delay_seconds: float, seed: int | None
    ) -> None:
        if not detail_type:
            raise ValueError("detail_type must name an EventBridge detail-type")
        with self._lock:
            self._events[detail_type] = _EventRule(
                detail_type,
                copies,
                max_delay_seconds,
                random.Random(seed),  # noqa: S311 - a simulation, not cryptography
            )

    def delivery_delays(self, event: dict[str, Any]) -> list[float]:
        """When to deliver ``event`` to one target, in seconds from now ([] = never)."""
        with self._lock:
            rule = self._events.get(str(event.get("detail-type")))
            if rule is None:
                return [0.0]
            rule.affected += 1
            return [rule.rng.uniform(0, rule.max_delay_seconds) for _ in range(rule.copies)]

    def events_affected(self, detail_type: str) -> int:
        """Deliveries dropped or multiplied for ``detail_type`` so far (one per target)."""
        with self._lock:
            rule = self._events.get(detail_type)
            return rule.affected if rule else 0

    # --- Lambda ---------------------------------------------------------------------------------

    def crash_once(self, function: str, *, times: int = 1) -> None:
        """Make ``function`` (its name, or its name's last part: ``patch-batch``) raise."""
        if times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        if not function:
            raise ValueError("function must name a deployed function")
        with self._lock:
            self._crashes[function] = _CrashRule(function, times)

    def before_invoke(self, function_name: str) -> None:
        """Called by the Lambda runtime inside the handler's invocation: raise if scripted."""
        with self._lock:
            rule = self._crashes.get(function_name) or next(
                (r for r in self._crashes.values() if function_name.endswith(f"-{r.function}")),
                None,
            )
            if rule is None or rule.remaining <= 0:
                return
            rule.remaining -= 1
            rule.crashed.append(function_name)
        raise InjectedCrash(f"{function_name} crashed (injected fault)")

    def crashes(self, function: str) -> int:
        with self._lock:
            rule = self._crashes.get(function)
            return len(rule.crashed) if rule else 0

    # --- AWS API errors -------------------------------------------------------------------------

    def fail_api(
        self,
        service: str,
        operation: str,
        code: str,
        *,
        status: int = 400,
        message: str = "injected fault",
        matching: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> None:
        """Answer calls to ``service``'s ``operation`` with error ``code``.

        ``matching``: only calls whose request body or URL contains this text (a table
        name, a key prefix, a condition). ``times``: only the next n matching calls;
        otherwise each matching call fails with ``probability``.
        """
        if service not in _PROTOCOLS:
            raise ValueError(
                f"service {service!r} has no error format here (known: {sorted(_PROTOCOLS)})"
            )
        if not operation[:1].isupper():
            raise ValueError(
                f"operation must be the API name (e.g. 'PutObject'), not {operation!r}"
            )
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, not {times}")
        if not 0 <= probability <= 1:
            raise ValueError(f"probability must be within [0, 1], not {probability}")
        with self._lock:
            self._api.append(
                _ApiRule(
                    service,
                    operation,
                    code,
                    status,
                    message,
                    matching,
                    times,
                    probability,
                    random.Random(seed),  # noqa: S311 - a simulation, not cryptography
                )
            )

    def fails_api(self, service: str, operation: str) -> bool:
        """Whether any fault is scripted for ``service``'s ``operation`` (used or not)."""
        with self._lock:
            return any((r.service, r.operation) == (service, operation) for r in self._api)

    def api_failures(self, service: str, operation: str) -> int:
        """How many calls to ``service``'s ``operation`` were answered with an injected error."""
        with self._lock:
            return sum(
                r.injected for r in self._api if (r.service, r.operation) == (service, operation)
            )

    def api_error(self, event_name: str, request: Any) -> AWSResponse | None:
        """The injected error response for one request about to be sent, or None."""
        # before-send.<service>.<Operation>
        parts = event_name.split(".")
        if len(parts) < 3:
            return None
        service, operation = client_name(parts[1]), parts[2]
        with self._lock:
            for rule in self._api:
                if not rule.matches(service, operation, request):
                    continue
                if rule.times is not None:
                    if rule.injected >= rule.times:
                        continue
                elif rule.probability < 1 and rule.rng.random() >= rule.probability:
                    continue
                rule.injected += 1
                return _error_response(request, rule)
        return None


def _error_response(request: Any, rule: _ApiRule) -> AWSResponse:
    return error_response(
        request,
        protocol=_PROTOCOLS[rule.service],
        code=rule.code,
        status=rule.status,
        message=rule.message,
        json_prefix=_JSON_PREFIXES.get(rule.service),
    )


def error_response(
    request: Any,
    *,
    protocol: str,
    code: str,
    status: int,
    message: str,
    json_prefix: str | None = None,
) -> AWSResponse:
    """A service's error document for ``request``, in its wire ``protocol`` (botocore's name:
    json, rest-json, rest-xml, ec2, query), as botocore parses it into a ``ClientError``."""
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if protocol in {"json", "rest-json"}:
        error_type = f"{json_prefix}#{code}" if json_prefix else code
        body = json.dumps({"__type": error_type, "message": message}).encode()
        headers |= {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}
    elif protocol == "rest-xml":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers["Content-Type"] = "application/xml"
    elif protocol == "ec2":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}"
            f"</Code><Message>{message}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    else:  # query
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
            "</ErrorResponse>"
        ).encode()
        headers["Content-Type"] = "text/xml"
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(request.url, status, http_headers, _Raw(body))


class _Raw(io.BytesIO):
    """The raw body botocore reads from a response (the shape of moto's MockRawResponse)."""

    def stream(self, **kwargs: Any) -> Any:
        contents = self.read()
        while contents:
            yield contents
            contents = self.read()


# The running cloud's injector and rate-limit check (localcloud.core.registry).
INJECTOR: Slot[FaultInjector] = Slot("faults")
# The rate limits' check (localcloud.core.ratelimits): an error response for a call over its
# bucket, or None.
BeforeSend = Callable[[str, Any], AWSResponse | None]
LIMITER: Slot[BeforeSend] = Slot("rate-limits")


def install(injector: FaultInjector) -> None:
    """Answer API calls with ``injector``'s errors (wraps moto's before-send hook once)."""
    INJECTOR.set(injector)
    _wrap_before_send()


def limit_rates(check: BeforeSend | None) -> None:
    """Consult ``check`` for every call the scripted faults let through (None: no limits)."""
    LIMITER.set(check)
    _wrap_before_send()


def _wrap_before_send() -> None:
    # moto's stubber, imported when a cloud starts (not when this module loads).
    from moto.core.botocore_stubber import BotocoreStubber

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if self.enabled:
                injector = INJECTOR.get()
                for check in (injector.api_error if injector else None, LIMITER.get()):
                    response = check(event_name, request) if check else None
                    if response is not None:
                        return response
            return original(self, event_name, request, **kwargs)

        return __call__

    motopatch.patch(BotocoreStubber, "__call__", make, tag="_fleetpatch_faults")


def uninstall() -> None:
    """No injector and no rate limits: calls reach moto untouched (the wrapper stays, inert)."""
    INJECTOR.set(None)
    LIMITER.set(None)
