"""API rate limits: AWS's token buckets, per account, region, service and API, on simulated time.

    cloud.rate_limits.throttled("ssm", "SendCommand")        # calls refused so far
    cloud.rate_limits.scale(0.1)                            # a tenth of AWS's rates
    cloud.rate_limits.set("ssm", "SendCommand", burst=5, refill=1)
    cloud.rate_limits.enabled = False                       # no limits (this cloud only)

AWS throttles each API with a token bucket: a call takes a token, an empty bucket refuses
the call with the service's throttling error, and the bucket refills at a fixed rate up to
its size. Here every call from the process passes moto's ``before-send`` hook (the wrapper
in :mod:`localcloud.core.faults`, after the scripted faults), takes a token from its bucket, and
a call over the limit is answered with the service's own error document (code, HTTP status,
wire protocol). botocore then applies its retry rules as it does on AWS, and a Step Functions
SDK task sees ``Ssm.ThrottlingException`` and the like for its ASL ``Retry``. Buckets refill
on the simulated clock (:func:`localcloud.core.clock.current`): a burst at one simulated instant
empties them, and only simulated time lets calls through again. botocore's own retries back
off for no simulated time on the local cloud (cloud.py), so a burst that outlasts them
reaches the workflow's ``Retry`` or the handler's ``AwsThrottledError``: stricter than AWS,
never laxer.

The rates, their sources, and which are documented and which are estimates: :data:`LIMITS`
and docs/limits.md ("Rate limits"). Calls AWS services make on the account's behalf from the
simulators (EventBridge delivering to a target, Scheduler calling a universal target) are
not charged: those services retry throttled calls on AWS, which the simulators do not
model (:func:`on_behalf_of_aws`).

The random SSM throttling switch (``cloud.fleet.throttle``) and the fault injector's API
errors stay as they are; the buckets come in addition.
"""

from __future__ import annotations

import contextvars
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

from localcloud.core import clock as sim
from localcloud.core import faults

# Step Functions' "US East (N. Virginia), US West (Oregon), and Europe (Ireland)" rates.
_SFN_LARGE_REGIONS = frozenset({"us-east-1", "us-west-2", "eu-west-1"})
# EventBridge Scheduler's regions with the higher CreateSchedule rate.
_SCHEDULER_LARGE_REGIONS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "ap-northeast-1",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "sa-east-1",
    }
)

SFN_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
EC2_THROTTLING = "https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html"
SCHEDULER_QUOTAS = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html"
SSM_ESTIMATE = (
    "no published rate (https://docs.aws.amazon.com/general/latest/gr/ssm.html lists none "
    "for Run Command); SSM throttles bursts of about 20 calls "
    "(github.com/segmentio/chamber/issues/34, github.com/sudolabs-io/aws-ssm-cli/issues/503)"
)
AUTOSCALING_ESTIMATE = (
    "no published rate; throttled as Throttling / 400 'Rate exceeded' "
    "(github.com/aws/aws-sdk-go/issues/3119)"
)


@dataclass(frozen=True)
class Limit:
    """One row of the rate table: an API's bucket and how AWS refuses a call over it."""

    service: str  # the boto3 client name
    operation: str  # the API name; "Describe*" for every Describe action of the service
    burst: float  # bucket size (calls at once)
    refill: float  # tokens added per second
    code: str
    status: int
    message: str
    protocol: str  # botocore's wire protocol name
    source: str
    documented: bool  # False: an estimate, AWS publishes no figure
    large_regions: frozenset[str] = frozenset()
    large: tuple[float, float] | None = None  # (burst, refill) in ``large_regions``

    def rate(self, region: str) -> tuple[float, float]:
        if self.large is not None and region in self.large_regions:
            return self.large
        return self.burst, self.refill


def _ssm(operation: str) -> Limit:
    return Limit(
        "ssm",
        operation,
        20,
        5,
        "ThrottlingException",
        400,
        "Rate exceeded",
        "json",
        SSM_ESTIMATE,
        documented=False,
    )


def _autoscaling(operation: str) -> Limit:
    return Limit(
        "autoscaling",
        operation,
        20,
        5,
        "Throttling",
        400,
        "Rate exceeded",
        "query",
        AUTOSCALING_ESTIMATE,
        documented=False,
    )


def _sfn(operation: str, other: tuple[float, float], large: tuple[float, float]) -> Limit:
    return Limit(
        "stepfunctions",
        operation,
        *other,
        "ThrottlingException",
        400,
        "Rate exceeded",
        "json",
        SFN_QUOTAS,
        documented=True,
        large_regions=_SFN_LARGE_REGIONS,
        large=large,
    )


def _ec2(operation: str, burst: float, refill: float) -> Limit:
    # RequestLimitExceeded is one of EC2's server errors (500 series); AWS answers it
    # with 503 (e.g. github.com/cloudfoundry/bosh-aws-cpi-release/issues/61).
    return Limit(
        "ec2",
        operation,
        burst,
        refill,
        "RequestLimitExceeded",
        503,
        "Request limit exceeded.",
        "ec2",
        EC2_THROTTLING,
        documented=True,
    )


# EC2's "unfiltered and unpaginated non-mutating actions": called with neither a filter nor
# pagination they draw on a smaller bucket of their own (EC2_THROTTLING).
EC2_UNFILTERED = frozenset(
    {
        "DescribeInstances",
        "DescribeInstanceStatus",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
        "DescribeSnapshots",
        "DescribeSpotInstanceRequests",
        "DescribeVolumes",
    }
)
EC2_UNFILTERED_LIMIT = _ec2("Describe* (unfiltered, unpaginated)", 50, 10)

LIMITS: tuple[Limit, ...] = (
    _ssm("SendCommand"),
    _ssm("DescribeInstanceInformation"),
    _ssm("GetCommandInvocation"),
    _ssm("ListCommands"),
    _ssm("DescribeInstancePatchStates"),
    _sfn("StartExecution", (800, 150), (1300, 300)),
    _sfn("SendTaskSuccess", (1500, 300), (3000, 500)),
    _autoscaling("CompleteLifecycleAction"),
    _autoscaling("RecordLifecycleActionHeartbeat"),
    # "Maximum CreateSchedule requests per second": one second's worth at once.
    Limit(
        "scheduler",
        "CreateSchedule",
        250,
        250,
        "ThrottlingException",
        429,
        "Rate exceeded",
        "rest-json",
        SCHEDULER_QUOTAS,
        documented=True,
        large_regions=_SCHEDULER_LARGE_REGIONS,
        large=(5000, 5000),
    ),
    _ec2("Describe*", 100, 20),
    EC2_UNFILTERED_LIMIT,
)

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/")
_EC2_PAGED_OR_FILTERED = re.compile(r"(?:^|&)(?:Filter\.\d|MaxResults=|NextToken=)")


# The simulated clock counts whole microseconds: a token due after 1/300 s is due after
# 3,333 of them.
_RESOLUTION = 1e-3


@dataclass
class _Bucket:
    tokens: float
    stamp: float  # simulated seconds when ``tokens`` was last brought up to date


@dataclass
class RateLimiter:
    """The buckets of one LocalCloud, and what they refused (for tests and reports)."""

    account_id: str
    region: str
    enabled: bool = True
    factor: float = 1.0
    _overrides: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    _buckets: dict[tuple[str, str, str, str], _Bucket] = field(default_factory=dict)
    _refused: dict[tuple[str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- switches (for one test) ----------------------------------------------------------------

    def scale(self, factor: float) -> None:
        """Multiply every bucket's size and refill rate by ``factor`` (1: AWS's rates)."""
        if factor <= 0:
            raise ValueError(f"factor must be positive, not {factor}")
        with self._lock:
            self.factor = factor
            self._buckets.clear()

    def set(self, service: str, operation: str, *, burst: float, refill: float) -> None:
        """Give one API (a row of :data:`LIMITS`) another bucket size and refill rate."""
        if burst < 1 or refill <= 0:
            raise ValueError(f"burst must be >= 1 and refill > 0, not {burst}, {refill}")
        if _row(service, operation) is None:
            raise ValueError(f"{service} {operation} has no rate limit here (see LIMITS)")
        with self._lock:
            self._overrides[(service, operation)] = (burst, refill)
            self._buckets.clear()

    # --- what happened --------------------------------------------------------------------------

    def throttled(self, service: str | None = None, operation: str | None = None) -> int:
        """Calls refused so far, for one API, one service, or all (operation: the API name)."""
        with self._lock:
            return sum(
                n
                for (s, o), n in self._refused.items()
                if service in (None, s) and operation in (None, o)
            )

    # --- the check ------------------------------------------------------------------------------

    def check(self, event_name: str, request: Any) -> AWSResponse | None:
        """The throttling error for one request about to be sent, or None (it may go)."""
        parts = event_name.split(".")
        if len(parts) < 3 or not self.enabled or getattr(_local, "aws", False):
            return None
        service = faults.client_name(parts[1])
        operation = parts[2]
        limit = _limit_for(service, operation, request)
        if limit is None:
            return None
        region = _region(request) or self.region
        with self._lock:
            burst, refill = self._overrides.get((service, limit.operation), limit.rate(region))
            burst, refill = max(1.0, burst * self.factor), refill * self.factor
            # One bucket per API ("each API is evaluated individually", EC2_THROTTLING);
            # EC2's unfiltered calls draw on a second, smaller one.
            bucket = operation + (" unfiltered" if limit is EC2_UNFILTERED_LIMIT else "")
            credit = refill * (_retry_backoff_seconds(request) + _handler_elapsed())
            if self._take((self.account_id, region, service, bucket), burst, refill, credit):
                return None
            self._refused[(service, operation)] = self._refused.get((service, operation), 0) + 1
        return faults.error_response(
            request,
            protocol=limit.protocol,
            code=limit.code,
            status=limit.status,
            message=limit.message,
        )

    def _take(
        self, key: tuple[str, str, str, str], burst: float, refill: float, credit: float = 0.0
    ) -> bool:
        """Take a token; ``credit``: tokens a retry may borrow from the refill to come."""
        now = sim.current().time()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(burst, now)
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(burst, bucket.tokens + elapsed * refill)
        bucket.stamp = now
        if bucket.tokens + credit < 1 - _RESOLUTION:
            return False
        # A borrowed token leaves the bucket in debt, repaid by the refill.
        bucket.tokens -= 1
        return True


# How long one AWS API call takes a handler on AWS (an estimate: tens of milliseconds), and
# so how far into its run the n-th call of one invocation comes.
CALL_SECONDS = 0.05

_elapsed: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "fleetpatch_ratelimits_elapsed", default=None
)


@contextmanager
def invocation() -> Iterator[None]:
    """One handler run: its calls come one after another, not all at one instant.

    A handler's run takes no simulated time on the local cloud, so its hundredth call would
    find the bucket as its first did. On AWS each call takes time, and the bucket refills
    meanwhile: the n-th call of an invocation may borrow what ``n * CALL_SECONDS`` refill.
    """
    token = _elapsed.set([0.0])
    try:
        yield
    finally:
        _elapsed.reset(token)


def slept() -> None:
    """The running handler slept on the simulated clock: the buckets refilled for real, so
    its calls borrow nothing more for the ones before the sleep."""
    holder = _elapsed.get()
    if holder is not None:
        holder[0] = 0.0


def _handler_elapsed() -> float:
    holder = _elapsed.get()
    if holder is None:
        return 0.0
    elapsed = holder[0]
    holder[0] += CALL_SECONDS
    return elapsed


def _retry_backoff_seconds(request: Any) -> float:
    """How long botocore would have waited before this retry, at most (0 for a first try).

    On the local cloud botocore's backoff takes no time (a handler cannot block the
    simulated clock), so a retry arrives at once. On AWS it arrives after its backoff, when
    the bucket has refilled that long: the retry may borrow that refill. Both retry modes
    back off at most ``2 ** (attempt - 1)`` seconds before ``attempt`` (standard mode caps
    it at 20 s).
    """
    header = request.headers.get("amz-sdk-request") if hasattr(request, "headers") else None
    if not header:
        return 0.0
    text = header.decode() if isinstance(header, bytes) else str(header)
    match = re.search(r"attempt=(\d+)", text)
    attempt = int(match.group(1)) if match else 1
    return 0.0 if attempt <= 1 else float(min(20, 2 ** (attempt - 1)))


def _row(service: str, operation: str) -> Limit | None:
    return next((r for r in LIMITS if (r.service, r.operation) == (service, operation)), None)


def _limit_for(service: str, operation: str, request: Any) -> Limit | None:
    row = _row(service, operation)
    if row is not None or service != "ec2" or not operation.startswith("Describe"):
        return row
    if operation in EC2_UNFILTERED and not _EC2_PAGED_OR_FILTERED.search(_body(request)):
        return EC2_UNFILTERED_LIMIT
    return _row("ec2", "Describe*")


def _body(request: Any) -> str:
    body = request.body
    return body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")


def _region(request: Any) -> str | None:
    """The region the request was signed for (its SigV4 credential scope)."""
    authorization = request.headers.get("Authorization")
    if isinstance(authorization, bytes):
        authorization = authorization.decode(errors="replace")
    found = _SCOPE.search(str(authorization or ""))
    return found[1] if found else None


_local = threading.local()


@contextmanager
def on_behalf_of_aws() -> Iterator[None]:
    """Calls an AWS service makes for the account (a simulator's), not charged to its buckets."""
    previous = getattr(_local, "aws", False)
    _local.aws = True
    try:
        yield
    finally:
        _local.aws = previous


def install(limiter: RateLimiter) -> None:
    """Throttle every call over its bucket (until the fault wrapper is uninstalled)."""
    faults.limit_rates(limiter.check)
