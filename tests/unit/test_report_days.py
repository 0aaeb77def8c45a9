"""Reports filed by day, and each day's page of runs, updated race-free (conditional writes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch.contracts.s3 import report_day_index_key, report_keys
from fleetpatch.report_days import (
    ATTEMPTS,
    GENERATOR,
    DayIndex,
    DayIndexError,
    entry_of,
    parse,
    render,
)
from fleetpatch.reports import BatchResult, InstanceResult, RunReport
from tests.unit.report_page import HOSTILE_REASON

REGION = "eu-central-1"
BUCKET = "fleetpatch-artifacts-123456789012"
DAY = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
PAGE = report_day_index_key(DAY)


def run(run_id: str, started: datetime = DAY, outcome: str = "patched") -> RunReport:
    return RunReport(
        kind="launch",
        run_id=run_id,
        title=f"launch of {run_id}",
        outcome=outcome,
        summary="patched before it joined its group",
        environment="prod",
        started_at=started,
        ended_at=started + timedelta(minutes=6),
        batches=[
            BatchResult(
                name="web",
                status="ran",
                instances=[InstanceResult(instance_id="i-0a1b2c3d4e5f60001", outcome="patched")],
            )
        ],
    )


def html_key(report: RunReport) -> str:
    return report_keys(report.run_id, report.started_at)[1]


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        yield client


def listed(s3: Any, key: str = PAGE) -> list[str]:
    page = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [e["run_id"] for e in parse(page)]


def no_wait() -> dict[str, Any]:
    return {"sleep": lambda _: None}


# --- the page ----------------------------------------------------------------------------------


def test_a_day_page_lists_its_runs_in_start_order_and_links_each_report() -> None:
    later, earlier = run("launch-b", DAY + timedelta(hours=2)), run("launch-a")
    entries = [entry_of(r, html_key(r)) for r in (earlier, later)]
    page = render(DAY, entries)
    assert f'<meta name="generator" content="{GENERATOR}">' in page
    assert "Runs started on 2026-11-21 (UTC): 2" in page
    assert '<a href="launch-a.html">launch of launch-a</a>' in page
    assert parse(page) == entries  # the page is its own store
    assert "<script" not in page


def test_hostile_titles_are_escaped_and_read_back_whole() -> None:
    report = run("launch-x").model_copy(update={"title": HOSTILE_REASON, "environment": '"><b>'})
    entries = [entry_of(report, html_key(report))]
    page = render(DAY, entries)
    assert "<img" not in page
    assert "<b>" not in page
    assert parse(page) == entries


def test_a_page_fleetpatch_did_not_write_is_left_alone() -> None:
    with pytest.raises(DayIndexError):
        parse("<html><body>someone else's index</body></html>")


# --- updating it ---------------------------------------------------------------------------------


def test_the_first_run_of_a_day_creates_its_page_and_the_next_ones_join_it(s3: Any) -> None:
    index = DayIndex(s3, BUCKET, **no_wait())
    first, second = run("launch-a", DAY + timedelta(hours=3)), run("launch-b")
    assert index.add(first, html_key(first)) == 1  # created (If-None-Match)
    assert index.add(second, html_key(second)) == 2  # refused creation, then If-Match
    assert listed(s3) == ["launch-b", "launch-a"]
    # a retried publish of the same run writes nothing
    assert index.add(second, html_key(second)) == 0
    assert listed(s3) == ["launch-b", "launch-a"]
    # a run of another day has a page of its own
    other = run("launch-c", DAY + timedelta(days=1))
    index.add(other, html_key(other))
    assert listed(s3, report_day_index_key(other.started_at)) == ["launch-c"]


class Interleaved:
    """S3 where another publisher's whole update happens between this one's read and write."""

    def __init__(self, s3: Any, meanwhile: Callable[[], None]) -> None:
        self._s3 = s3
        self._meanwhile: Callable[[], None] | None = meanwhile
        self.conditions: list[str] = []

    def get_object(self, **request: Any) -> Any:
        found = self._s3.get_object(**request)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            meanwhile()  # after our read, before our write
        return found

    def put_object(self, **request: Any) -> Any:
        self.conditions.append(next((k for k in ("IfMatch", "IfNoneMatch") if k in request), ""))
        return self._s3.put_object(**request)


def test_a_concurrent_update_between_read_and_write_is_never_lost(s3: Any) -> None:
    # Given a day's page with one run, and two runs publishing at once: B's whole update
    # lands after A read the page and before A writes it
    first = run("launch-a")
    DayIndex(s3, BUCKET, **no_wait()).add(first, html_key(first))
    b, c = run("launch-b"), run("launch-c")
    racing = Interleaved(s3, lambda: DayIndex(s3, BUCKET, **no_wait()).add(b, html_key(b)))

    # When A adds its run
    writes = DayIndex(racing, BUCKET, **no_wait()).add(c, html_key(c))

    # Then A's write on the version it read was refused, it read again, and both are listed
    assert racing.conditions == ["IfNoneMatch", "IfMatch", "IfMatch"]
    assert writes == 3
    assert listed(s3) == ["launch-a", "launch-b", "launch-c"]


class Unconditional:
    """S3 that drops the conditions (a plain PutObject): what the page is protected from."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def get_object(self, **request: Any) -> Any:
        return self._s3.get_object(**request)

    def put_object(self, **request: Any) -> Any:
        request.pop("IfMatch", None)
        request.pop("IfNoneMatch", None)
        return self._s3.put_object(**request)


def test_without_the_conditions_the_same_race_loses_a_run(s3: Any) -> None:
    # The test above can fail: with plain writes, A's write replaces B's page
    first = run("launch-a")
    DayIndex(s3, BUCKET, **no_wait()).add(first, html_key(first))
    b, c = run("launch-b"), run("launch-c")
    racing = Interleaved(
        Unconditional(s3), lambda: DayIndex(s3, BUCKET, **no_wait()).add(b, html_key(b))
    )
    # (a plain write of a new page "succeeds", so A's first write already replaces it)
    DayIndex(racing, BUCKET, **no_wait()).add(c, html_key(c))
    assert "launch-b" not in listed(s3) or "launch-a" not in listed(s3)


def conflict(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


class Busy:
    """S3 that answers the first ``times`` writes with ``error``."""

    def __init__(self, s3: Any, error: ClientError, times: int) -> None:
        self._s3 = s3
        self._error = error
        self.left = times

    def get_object(self, **request: Any) -> Any:
        return self._s3.get_object(**request)

    def put_object(self, **request: Any) -> Any:
        if self.left > 0:
            self.left -= 1
            raise self._error
        return self._s3.put_object(**request)


def test_a_409_conflict_is_retried_after_a_jittered_wait(s3: Any) -> None:
    first = run("launch-a")
    DayIndex(s3, BUCKET, **no_wait()).add(first, html_key(first))
    waits: list[float] = []
    busy = Busy(s3, conflict("ConditionalRequestConflict", 409), times=3)
    second = run("launch-b")
    index = DayIndex(busy, BUCKET, sleep=waits.append, jitter=lambda low, high: high)
    assert index.add(second, html_key(second)) == 4
    assert listed(s3) == ["launch-a", "launch-b"]
    # the refused creation (the page exists) is read at once; each refused replacement waits,
    # fully jittered up to a doubling ceiling (here: the ceiling)
    assert waits == [0.2, 0.4]


def test_a_race_lost_every_time_gives_up_with_an_error(s3: Any) -> None:
    first = run("launch-a")
    DayIndex(s3, BUCKET, **no_wait()).add(first, html_key(first))
    busy = Busy(s3, conflict("PreconditionFailed", 412), times=ATTEMPTS)
    second = run("launch-b")
    with pytest.raises(DayIndexError, match=f"after {ATTEMPTS} conditional writes"):
        DayIndex(busy, BUCKET, **no_wait()).add(second, html_key(second))
    assert listed(s3) == ["launch-a"]


def test_any_other_error_is_not_retried(s3: Any) -> None:
    busy = Busy(s3, conflict("AccessDenied", 403), times=1)
    with pytest.raises(ClientError):
        DayIndex(busy, BUCKET, **no_wait()).add(run("launch-a"), html_key(run("launch-a")))
