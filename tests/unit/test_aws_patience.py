"""fleetpatch.aws.patiently: throttling is waited out in-process, within the invocation's time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from fleetpatch import aws, clock


@pytest.fixture
def simulated() -> Iterator[list[float]]:
    """A clock whose sleeps advance it (no real waiting); yields [now, total slept]."""
    state = [1_800_000_000.0, 0.0]

    def sleep(seconds: float) -> None:
        state[0] += seconds
        state[1] += seconds

    clock.use(lambda: state[0], sleep)
    yield state
    clock.use(None)


def throttled_then(answers: int, code: str = "ThrottlingException") -> Any:
    """A call refused ``answers`` times with ``code``, then answering {"ok": n}."""
    calls = [0]

    def call(**kwargs: Any) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] <= answers:
            raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, "X")
        return {"ok": calls[0], **kwargs}

    return call


def test_a_throttled_call_is_retried_after_a_growing_wait(simulated: list[float]) -> None:
    # Given a call AWS throttles 4 times, inside an invocation with a minute to spare
    with aws.patience(60):
        # When it is made patiently
        answer = aws.patiently(throttled_then(4), Key="v")
    # Then the fifth attempt answers, after waits of at least 0.25 + 0.5 + 1 + 2 seconds
    assert answer == {"ok": 5, "Key": "v"}
    assert 3.75 <= simulated[1] <= 7.5


def test_without_patience_throttling_fails_at_once(simulated: list[float]) -> None:
    # Given no invocation opened patience (a unit test, a script)
    # When the call is throttled, Then it fails as before, without waiting
    with pytest.raises(ClientError):
        aws.patiently(throttled_then(1))
    assert simulated[1] == 0


def test_waiting_stops_at_the_deadline(simulated: list[float]) -> None:
    # Given 5 seconds of patience and a call that is always throttled
    began = simulated[0]
    with aws.patience(5), pytest.raises(ClientError):
        aws.patiently(throttled_then(10**6))
    # Then it gives up before its next wait would pass the deadline
    assert simulated[0] - began <= 5


def test_other_errors_are_not_retried(simulated: list[float]) -> None:
    with aws.patience(60), pytest.raises(ClientError):
        aws.patiently(throttled_then(1, code="InvalidInstanceId"))
    assert simulated[1] == 0


def test_pages_follow_next_token_and_wait_out_throttling(simulated: list[float]) -> None:
    # Given a paged API throttled once before its second page
    book = {None: {"Items": [1], "NextToken": "2"}, "2": {"Items": [2]}}
    refused = [False]

    def call(**kwargs: Any) -> dict[str, Any]:
        token = kwargs.get("NextToken")
        if token == "2" and not refused[0]:
            refused[0] = True
            raise ClientError({"Error": {"Code": "Throttling", "Message": "x"}}, "X")
        assert kwargs["Filter"] == "f"
        return book[token]

    with aws.patience(60):
        items = [i for page in aws.pages(call, Filter="f") for i in page["Items"]]
    # Then every page is read once, in order
    assert items == [1, 2]
    assert simulated[1] > 0
