"""Waiting for a condition no event announces, at a cost that does not grow with each wait.

A new instance's SSM agent registering says nothing on EventBridge: the only way to know
is ``DescribeInstanceInformation``. A run that polled for itself, with a backoff, both
reacted late (a median of 30 s after the agent came Online) and cost one call per waiting
run per poll, which a 500-instance scale-out turned into a throttled flood.

Instead a run parks a task token here (``register``), and **one watcher per account**
(``Watcher``, run by the readiness-watcher state machine while anything waits) asks about
every waiting subject together: up to 50 instances per ``DescribeInstanceInformation``,
every ``poll_seconds`` (slower when more calls are needed, so it stays under its call
rate), and resumes each run whose condition holds. The cost is one call per 50 waiting
subjects per poll, whatever the number of runs or how long they wait; the reaction, one
poll interval.

Each run still bounds its own wait: its task times out (at most its heartbeat interval or
what is left of its deadline), and the run then asks once itself and registers again. A
watcher that died, or a wake-up that was lost, delays a run by that bound and no more.

The watcher holds a lease (one item, renewed at every poll): a registration that finds no
live lease takes it and starts a watcher. The watcher gives the lease back only when
nothing waits, and looks once more after giving it back, so a registration that saw the
lease held just before it went is never left without a watcher.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from fleetpatch.contracts import keys

LOG = logging.getLogger(__name__)

AGENT_ONLINE = "agent-online"
"""The SSM agent of an instance reports ``PingStatus`` Online (``subject``: the instance id)."""
SERVING_CHECK = "serving-check"
"""A serving instance drained, or healthy (out of service, or back in it): the waiter's
``request`` is the serve-instance check it waits on (``drained`` or ``check``)."""

KINDS = frozenset({AGENT_ONLINE, SERVING_CHECK})

LEASE_SECONDS = 60
"""A watcher that has not renewed its lease for this long is presumed gone."""
EXPIRED_GRACE_SECONDS = 60
"""A waiter this long past its deadline is dropped: its run stopped waiting and moved on."""
WAITER_TTL_SECONDS = 2 * 24 * 3600
"""Waiter items are removed by the table's TTL after this, should nothing else remove them."""

DESCRIBE_BATCH = 50
"""Instance ids per ``DescribeInstanceInformation`` (``MaxResults`` is 5 to 50)."""


@dataclass(frozen=True)
class Waiter:
    """One run waiting for ``kind`` to hold for ``subject``."""

    kind: str
    subject: str
    run_id: str
    task_token: str
    deadline: float
    """Epoch seconds: by then the run's task has timed out and it asks for itself."""
    registered_at: float = 0.0
    request: str | None = None
    """What to check, as JSON, for kinds that need more than the subject."""

    @property
    def key(self) -> keys.Key:
        return keys.waiting_key(self.kind, self.subject, self.run_id)

    @property
    def sort_key(self) -> str:
        return self.key["sk"]["S"]


class Checker(Protocol):
    """Which ``waiters`` are ready (by ``sort_key``), each with what its run is told."""

    def calls(self, waiters: Sequence[Waiter]) -> int: ...

    def ready(self, waiters: Sequence[Waiter]) -> Mapping[str, Mapping[str, Any]]: ...


# --- the store -----------------------------------------------------------------------------


class WaiterStore:
    """Waiter items in the state table (``WAITING`` partition) and the watcher's lease."""

    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._table = table_name
        self._dynamodb = dynamodb

    def register(self, waiter: Waiter, now: float) -> None:
        """Store the waiter (a run registering again replaces its own earlier token)."""
        self._dynamodb.put_item(
            TableName=self._table,
            Item={
                **waiter.key,
                "kind": {"S": waiter.kind},
                "subject": {"S": waiter.subject},
                "run_id": {"S": waiter.run_id},
                "task_token": {"S": waiter.task_token},
                "deadline": {"N": str(round(waiter.deadline, 3))},
                "registered_at": {"N": str(round(now, 3))},
                keys.TTL_ATTRIBUTE: keys.expires_at(now, WAITER_TTL_SECONDS),
                **({"request": {"S": waiter.request}} if waiter.request is not None else {}),
            },
        )

    def waiting(self) -> list[Waiter]:
        """Every registered waiter (one Query, paged)."""
        found: list[Waiter] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": keys.WAITING_PK}},
            "ConsistentRead": True,
        }
        while True:
            page = self._dynamodb.query(**request)
            found += [_waiter(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return found
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, waiter: Waiter) -> None:
        """Remove this registration (not a newer one of the same run, with another token)."""
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=waiter.key,
                ConditionExpression="task_token = :t",
                ExpressionAttributeValues={":t": {"S": waiter.task_token}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            LOG.info("%s registered again: keeping its newer token", waiter.key["sk"]["S"])

    # --- the lease ---------------------------------------------------------------------------

    def take_lease(self, owner: str, now: float) -> bool:
        """Take the watcher's lease if nobody holds a live one (or ``owner`` does)."""
        return self._lease(
            owner,
            now,
            "attribute_not_exists(pk) OR #until < :now OR #owner = :owner",
        )

    def renew_lease(self, owner: str, now: float) -> bool:
        """Extend ``owner``'s lease; False if another watcher holds it now."""
        return self._lease(owner, now, "#owner = :owner")

    def release_lease(self, owner: str) -> None:
        try:
            self._dynamodb.delete_item(
                TableName=self._table,
                Key=keys.WATCHER_KEY,
                ConditionExpression="#owner = :owner",
                ExpressionAttributeNames={"#owner": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            LOG.info("the watcher's lease is no longer %s's", owner)

    def _lease(self, owner: str, now: float, condition: str) -> bool:
        values: dict[str, dict[str, str]] = {
            ":owner": {"S": owner},
            ":until": {"N": str(round(now + LEASE_SECONDS, 3))},
            ":ttl": keys.expires_at(now, WAITER_TTL_SECONDS),
        }
        if ":now" in condition:
            values[":now"] = {"N": str(round(now, 3))}
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=keys.WATCHER_KEY,
                UpdateExpression="SET #owner = :owner, #until = :until, expires_at = :ttl",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#owner": "owner", "#until": "until"},
                ExpressionAttributeValues=values,
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _waiter(item: Mapping[str, Any]) -> Waiter:
    return Waiter(
        kind=item["kind"]["S"],
        subject=item["subject"]["S"],
        run_id=item["run_id"]["S"],
        task_token=item["task_token"]["S"],
        deadline=float(item["deadline"]["N"]),
        registered_at=float(item.get("registered_at", {}).get("N", "0")),
        request=item.get("request", {}).get("S"),
    )


# --- the checks ------------------------------------------------------------------------------


class AgentOnline:
    """Instances whose SSM agent reports Online: ``DescribeInstanceInformation``, 50 at a time."""

    def __init__(self, ssm: Any) -> None:
        self._ssm = ssm

    def calls(self, waiters: Sequence[Waiter]) -> int:
        return math.ceil(len({w.subject for w in waiters}) / DESCRIBE_BATCH)

    def ready(self, waiters: Sequence[Waiter]) -> dict[str, dict[str, Any]]:
        online = self.online(sorted({w.subject for w in waiters}))
        return {w.sort_key: online[w.subject] for w in waiters if w.subject in online}

    def online(self, subjects: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Which of ``subjects`` are Online: 50 ids per call."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(subjects), DESCRIBE_BATCH):
            found |= self._describe(list(subjects[start : start + DESCRIBE_BATCH]))
        return found

    def _describe(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        request: dict[str, Any] = {
            "Filters": [{"Key": "InstanceIds", "Values": ids}],
            "MaxResults": DESCRIBE_BATCH,
        }
        found: dict[str, dict[str, Any]] = {}
        try:
            while True:
                page = self._ssm.describe_instance_information(**request)
                for info in page.get("InstanceInformationList", []):
                    if info.get("PingStatus") == "Online":
                        found[info["InstanceId"]] = {"pingStatus": "Online"}
                if not page.get("NextToken"):
                    return found
                request["NextToken"] = page["NextToken"]
        except self._ssm.exceptions.InvalidInstanceId:
            # One id AWS does not accept fails the whole call: ask for halves, so the others
            # are still answered (the bad one is never Online; its run's own bound ends it).
            if len(ids) == 1:
                LOG.warning("DescribeInstanceInformation refuses %s", ids[0])
                return {}
            half = len(ids) // 2
            return self._describe(ids[:half]) | self._describe(ids[half:])


# How often one waiting serving instance's check is asked (ServingCheck).
SERVING_CHECK_INTERVAL_SECONDS = 5.0


class ServingCheck:
    """A serving instance drained or healthy: the serve-instance function's own check.

    The watcher asks serve-instance (``lambda:InvokeFunction``) what the run's check task
    would ask it, so the checks have one owner (``fleetpatch.services.serving``). A few
    instances wait at a time (the disruption budget), so one invocation each, at most every
    ``interval`` seconds per waiter (first at once): a drain lasts the deregistration delay
    and a health check needs several intervals of the target group's own checks, so asking
    every 2 s would cost invocations (waiting instances x wait time / 2 s) for no sooner
    answer than within the interval.
    """

    READY: ClassVar[dict[str, str]] = {"drained": "drained", "check": "healthy"}

    def __init__(
        self,
        lambda_client: Any,
        function_name: str,
        *,
        time: Callable[[], float],
        interval: float = SERVING_CHECK_INTERVAL_SECONDS,
    ) -> None:
        self._lambda = lambda_client
        self._function = function_name
        self._time = time
        self._interval = interval
        self._asked: dict[str, float] = {}  # waiter -> when it was last asked, this round

    def _due(self, waiters: Sequence[Waiter]) -> list[Waiter]:
        now = self._time()
        return [
            w for w in waiters if now - self._asked.get(w.sort_key, -math.inf) >= self._interval
        ]

    def calls(self, waiters: Sequence[Waiter]) -> int:
        return len(self._due(waiters))

    def ready(self, waiters: Sequence[Waiter]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for waiter in self._due(waiters):
            self._asked[waiter.sort_key] = self._time()
            request = json.loads(waiter.request or "{}")
            answer = self._lambda.invoke(FunctionName=self._function, Payload=json.dumps(request))
            payload = json.loads(answer["Payload"].read() or b"null")
            if answer.get("FunctionError") or not isinstance(payload, dict):
                # The run's own check meets the error at its bound and handles it there.
                LOG.warning("serve-instance failed for %s: %s", waiter.subject, payload)
                continue
            if payload.get(self.READY.get(str(request.get("action")), "")) is True:
                found[waiter.sort_key] = {"ready": True}
        return found


# --- the watcher -----------------------------------------------------------------------------


@dataclass
class RoundResult:
    """What one round of the watcher did; ``watching`` False: this watcher stops."""

    watching: bool
    waiting: int
    polls: int = 0
    resumed: int = 0
    dropped: int = 0
    reason: str = ""

    def as_output(self) -> dict[str, Any]:
        return {
            "watching": self.watching,
            "waiting": self.waiting,
            "polls": self.polls,
            "resumed": self.resumed,
            "dropped": self.dropped,
            "reason": self.reason,
        }


@dataclass
class Watcher:
    """Polls for every waiter at once and resumes the ready ones (see the module's doc)."""

    store: WaiterStore
    checkers: Mapping[str, Checker]
    resume: Callable[[Waiter, Mapping[str, Any]], bool]
    owner: str
    time: Callable[[], float]
    sleep: Callable[[float], None]
    poll_seconds: float = 2.0
    calls_per_second: float = 2.0
    stats: RoundResult = field(default_factory=lambda: RoundResult(True, 0))

    def run_round(self, seconds: float) -> RoundResult:
        """Poll until nothing waits or ``seconds`` have passed (the caller runs the next round)."""
        self.stats = RoundResult(True, 0)
        began = self.time()
        while True:
            if not self.store.renew_lease(self.owner, self.time()):
                return self._stop("another watcher holds the lease")
            waiting, calls = self.poll()
            if waiting == 0:
                # Give the lease back, then look once more: a run that registered while we
                # held it (and so started no watcher) is seen here.
                self.store.release_lease(self.owner)
                if not self.store.waiting():
                    return self._stop("nothing waits")
                if not self.store.take_lease(self.owner, self.time()):
                    return self._stop("another watcher took over")
                continue
            interval = max(self.poll_seconds, calls / self.calls_per_second)
            if self.time() - began + interval > seconds:
                self.stats.waiting = waiting
                return self.stats
            self.sleep(interval)

    def poll(self) -> tuple[int, int]:
        """One pass over every waiter: (waiting afterwards, the checks' API calls)."""
        self.stats.polls += 1
        now = self.time()
        live: dict[str, list[Waiter]] = {}
        for waiter in self.store.waiting():
            if waiter.deadline + EXPIRED_GRACE_SECONDS < now or waiter.kind not in self.checkers:
                self.store.remove(waiter)
                self.stats.dropped += 1
            else:
                live.setdefault(waiter.kind, []).append(waiter)
        calls = 0
        left = 0
        for kind, waiters in live.items():
            checker = self.checkers[kind]
            calls += checker.calls(waiters)
            ready = checker.ready(waiters)
            for waiter in waiters:
                output = ready.get(waiter.sort_key)
                if output is None:
                    left += 1
                    continue
                if self.resume(waiter, output):
                    self.stats.resumed += 1
                self.store.remove(waiter)
        return left, calls

    def _stop(self, reason: str) -> RoundResult:
        self.stats.watching = False
        self.stats.reason = reason
        self.stats.waiting = 0
        return self.stats
