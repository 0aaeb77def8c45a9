"""The readiness watcher: one poll for every waiting run, a lease, no lost wake-up."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from fleetpatch.readiness import (
    AGENT_ONLINE,
    EXPIRED_GRACE_SECONDS,
    LEASE_SECONDS,
    AgentOnline,
    Waiter,
    WaiterStore,
    Watcher,
)
from fleetpatch.services.readiness import start_watcher

from .conftest import STATE_TABLE


@dataclass
class FakeAgents:
    """A checker: instances come Online at a time; counts its calls like AgentOnline would."""

    online_at: dict[str, float]
    clock: list[float]
    asked: list[list[str]] = field(default_factory=list)

    def calls(self, waiters: Sequence[Waiter]) -> int:
        return math.ceil(len(waiters) / 50)

    def ready(self, waiters: Sequence[Waiter]) -> Mapping[str, Mapping[str, Any]]:
        self.asked.append([w.subject for w in waiters])
        return {
            w.sort_key: {"pingStatus": "Online"}
            for w in waiters
            if self.online_at.get(w.subject, math.inf) <= self.clock[0]
        }


@dataclass
class World:
    store: WaiterStore
    clock: list[float]
    agents: FakeAgents
    resumed: list[tuple[str, float]] = field(default_factory=list)
    gone: set[str] = field(default_factory=set)  # task tokens that no longer wait
    slept: list[float] = field(default_factory=list)
    on_sleep: list[Any] = field(default_factory=list)

    def resume(self, waiter: Waiter, output: Mapping[str, Any]) -> bool:
        if waiter.task_token in self.gone:
            return False
        self.resumed.append((waiter.subject, self.clock[0]))
        self.gone.add(waiter.task_token)
        return True

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock[0] += seconds
        for action in list(self.on_sleep):
            action()

    def watcher(self, owner: str = "watch-1", **kwargs: Any) -> Watcher:
        return Watcher(
            store=self.store,
            checkers={AGENT_ONLINE: self.agents},
            resume=self.resume,
            owner=owner,
            time=lambda: self.clock[0],
            sleep=self.sleep,
            **kwargs,
        )

    def wait(self, instance: str, run: str | None = None, timeout: float = 600) -> Waiter:
        waiter = Waiter(
            AGENT_ONLINE,
            instance,
            run or f"run-{instance}",
            f"token-{instance}-{self.clock[0]}",
            deadline=self.clock[0] + timeout,
        )
        self.store.register(waiter, self.clock[0])
        return waiter


@pytest.fixture
def world(state_table: Any) -> World:
    clock = [1_000_000.0]
    return World(WaiterStore(STATE_TABLE, state_table), clock, FakeAgents({}, clock))


def test_one_poll_asks_about_every_waiting_instance_at_once_and_resumes_the_ready(
    world: World,
) -> None:
    # Given 120 launches waiting, 30 of them already Online
    instances = [f"i-{n:08x}" for n in range(120)]
    for instance in instances:
        world.wait(instance)
    world.agents.online_at = {i: 0 for i in instances[:30]}
    assert world.store.take_lease("watch-1", world.clock[0])
    # When the watcher polls once
    left, calls = world.watcher().poll()
    # Then it asked about all 120 in one pass, three calls' worth (50 a call), resumed the
    # 30 and still waits for 90
    assert [len(a) for a in world.agents.asked] == [120]
    assert calls == 3
    assert sorted(s for s, _ in world.resumed) == instances[:30]
    assert left == 90
    assert len(world.store.waiting()) == 90


def test_a_round_reacts_within_one_poll_and_stops_when_nothing_waits(world: World) -> None:
    # Given two launches whose agents register 7 s and 31 s from now
    now = world.clock[0]
    world.agents.online_at = {"i-00000001": now + 7, "i-00000002": now + 31}
    world.wait("i-00000001")
    world.wait("i-00000002")
    assert world.store.take_lease("watch-1", now)
    # When a round runs
    result = world.watcher(poll_seconds=2).run_round(240)
    # Then each run was resumed within one poll interval of its agent's registration
    resumed = dict(world.resumed)
    assert 0 <= resumed["i-00000001"] - (now + 7) <= 2
    assert 0 <= resumed["i-00000002"] - (now + 31) <= 2
    # and the watcher stopped by itself, leaving no lease behind
    assert (result.watching, result.reason, result.resumed) == (False, "nothing waits", 2)
    assert world.store.take_lease("someone-else", world.clock[0])


def test_the_poll_slows_down_rather_than_exceed_its_call_rate(world: World) -> None:
    # 120 waiting instances are three calls a poll: at one call a second, one poll per 3 s
    # (500 at two a second: ten calls, one poll per 5 s)
    for n in range(120):
        world.wait(f"i-{n:08x}")
    assert world.store.take_lease("watch-1", world.clock[0])
    result = world.watcher(poll_seconds=2, calls_per_second=1).run_round(12)
    assert world.slept == [3.0] * 4  # polls at 0, 3, 6, 9 and 12 s
    assert result.watching
    assert result.waiting == 120


def test_a_round_ends_in_time_for_the_next_and_keeps_the_lease(world: World) -> None:
    world.wait("i-00000001")
    assert world.store.take_lease("watch-1", world.clock[0])
    result = world.watcher(poll_seconds=2).run_round(20)
    assert (result.watching, result.waiting) == (True, 1)
    assert sum(world.slept) <= 20
    # nobody else may start a watcher while this one's lease is live
    assert not world.store.take_lease("watch-2", world.clock[0])


def test_a_registration_while_the_watcher_gives_up_its_lease_is_not_lost(world: World) -> None:
    # Given a watcher whose last waiter was just resumed
    assert world.store.take_lease("watch-1", world.clock[0])
    store = world.store
    real_release = store.release_lease
    late: list[Waiter] = []

    def release_then_a_run_registers(owner: str) -> None:
        # A run registers after the watcher's last poll but before it gives the lease
        # back: that run saw the lease held, so it started no watcher of its own.
        if not late:
            late.append(world.wait("i-0000000a"))
            assert not store.take_lease("watch-of-the-late-run", world.clock[0])
        real_release(owner)

    store.release_lease = release_then_a_run_registers  # type: ignore[method-assign]
    world.agents.online_at = {"i-0000000a": world.clock[0] + 3}
    # When the watcher finds nothing waiting and gives its lease back
    result = world.watcher(poll_seconds=2).run_round(240)
    # Then it looked again, took the lease back and resumed the late run
    assert [s for s, _ in world.resumed] == ["i-0000000a"]
    assert (result.watching, result.reason) == (False, "nothing waits")


def test_a_watcher_whose_lease_was_taken_over_stops(world: World) -> None:
    world.wait("i-00000001")
    assert world.store.take_lease("watch-1", world.clock[0])
    # watch-1 stalls past its lease; watch-2 takes over
    world.clock[0] += LEASE_SECONDS + 1
    assert world.store.take_lease("watch-2", world.clock[0])
    result = world.watcher("watch-1").run_round(240)
    assert (result.watching, result.reason) == (False, "another watcher holds the lease")
    assert world.agents.asked == []


def test_a_run_that_stopped_waiting_is_dropped(world: World) -> None:
    # Given a run whose task timed out long ago (it asked for itself and moved on)
    world.wait("i-00000001", timeout=10)
    world.clock[0] += 10 + EXPIRED_GRACE_SECONDS + 1
    assert world.store.take_lease("watch-1", world.clock[0])
    left, _ = world.watcher().poll()
    assert left == 0
    assert world.store.waiting() == []
    assert world.agents.asked == []


def test_registering_again_replaces_the_runs_token(world: World) -> None:
    # A run that timed out registers again with a new token: one waiter, the new token
    first = world.wait("i-00000001", run="run-1")
    world.clock[0] += 5
    second = world.wait("i-00000001", run="run-1")
    assert [w.task_token for w in world.store.waiting()] == [second.task_token]
    # and removing the old registration leaves the new one
    world.store.remove(first)
    assert [w.task_token for w in world.store.waiting()] == [second.task_token]


def test_a_token_that_no_longer_waits_is_removed_without_error(world: World) -> None:
    waiter = world.wait("i-00000001")
    world.gone.add(waiter.task_token)
    world.agents.online_at = {"i-00000001": 0}
    assert world.store.take_lease("watch-1", world.clock[0])
    assert world.watcher().poll() == (0, 1)
    assert world.resumed == []
    assert world.store.waiting() == []


# --- AgentOnline against the SSM API -----------------------------------------------------


class FakeSsm:
    """DescribeInstanceInformation as AWS answers it: ids filter, pages of MaxResults, and
    InvalidInstanceId for the whole call when one id is refused."""

    class exceptions:
        class InvalidInstanceId(Exception):
            pass

    def __init__(self, online: set[str], refused: set[str]) -> None:
        self.online = online
        self.refused = refused
        self.requests: list[dict[str, Any]] = []

    def describe_instance_information(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        [flt] = request["Filters"]
        assert flt["Key"] == "InstanceIds"
        assert 1 <= len(flt["Values"]) <= 50
        assert 5 <= request["MaxResults"] <= 50
        if self.refused & set(flt["Values"]):
            raise self.exceptions.InvalidInstanceId("Instances [...] not in a valid state")
        found = [
            {"InstanceId": i, "PingStatus": "Online"} for i in flt["Values"] if i in self.online
        ]
        return {"InstanceInformationList": found}


def test_agent_online_asks_fifty_at_a_time_and_isolates_a_refused_id() -> None:
    ids = [f"i-{n:08x}" for n in range(120)]
    ssm = FakeSsm(online=set(ids[::2]), refused={ids[7]})
    ready = AgentOnline(ssm).online(ids)
    assert set(ready) == set(ids[::2])
    sizes = [len(r["Filters"][0]["Values"]) for r in ssm.requests]
    assert sizes[0] == 50
    assert max(sizes) == 50
    # the batch with the refused id was split until the refused one stood alone
    assert [ids[7]] in [r["Filters"][0]["Values"] for r in ssm.requests]


class RefusingStepFunctions:
    """StartExecution refused (a quota or throttle); counts the attempts."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.started: list[str] = []

    def start_execution(self, **request: Any) -> dict[str, Any]:
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError("ThrottlingException")
        self.started.append(request["name"])
        return {"executionArn": f"arn:exec:{request['name']}"}


def test_a_watcher_that_could_not_be_started_gives_its_lease_back(world: World) -> None:
    world.wait("i-00000001")
    sfn = RefusingStepFunctions(refusals=1)
    with pytest.raises(RuntimeError):
        start_watcher(world.store, sfn, "arn:sm:watcher", world.clock[0])
    # the next registration (the run's retry) starts one at once, not a lease later
    owner = start_watcher(world.store, sfn, "arn:sm:watcher", world.clock[0] + 1)
    assert owner is not None
    assert sfn.started == [owner]
    # and while it holds the lease, nobody starts a second
    assert start_watcher(world.store, sfn, "arn:sm:watcher", world.clock[0] + 2) is None


class CountingLambda:
    """serve-instance answering 'not yet' until ``ready_at``; counts the invocations."""

    def __init__(self, clock: list[float], ready_at: float) -> None:
        self.clock = clock
        self.ready_at = ready_at
        self.invoked: list[float] = []

    def invoke(self, FunctionName: str, Payload: str) -> dict[str, Any]:
        import io
        import json

        self.invoked.append(self.clock[0])
        answer = {"drained": self.clock[0] >= self.ready_at}
        return {"Payload": io.BytesIO(json.dumps(answer).encode())}


def test_a_serving_check_is_asked_at_once_then_at_most_every_interval(world: World) -> None:
    from fleetpatch.readiness import SERVING_CHECK, SERVING_CHECK_INTERVAL_SECONDS, ServingCheck

    lam = CountingLambda(world.clock, ready_at=world.clock[0] + 31)
    check = ServingCheck(lam, "serve", time=lambda: world.clock[0])
    waiter = Waiter(
        SERVING_CHECK, "i-00000001", "run-1", "token-1", deadline=world.clock[0] + 60,
        request='{"action": "drained"}',
    )  # fmt: skip
    answers = []
    start = world.clock[0]
    while world.clock[0] - start <= 40:
        answers.append(check.ready([waiter]))
        world.clock[0] += 2  # the watcher's poll
    # asked at once, then every interval, not every poll; ready within an interval of the drain
    assert lam.invoked[0] == start
    gaps = {b - a for a, b in zip(lam.invoked, lam.invoked[1:], strict=False)}
    assert min(gaps) >= SERVING_CHECK_INTERVAL_SECONDS
    assert len(lam.invoked) <= 40 / SERVING_CHECK_INTERVAL_SECONDS + 1
    first_ready = next(i for i, a in enumerate(answers) if a)
    assert start + 2 * first_ready - (start + 31) <= SERVING_CHECK_INTERVAL_SECONDS + 2
