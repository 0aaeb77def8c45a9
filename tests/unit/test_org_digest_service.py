"""The organization's digest, sent once a day (fleetpatch.services.org_digest) on moto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch.org_index import OrgIndex
from fleetpatch.services.org_digest import send_org_digest
from fleetpatch.shared_events import ComplianceSummary, GroupCount
from tests.unit.conftest import create_state_table

TICK = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
ACCOUNT = "111111111111"


@dataclass(frozen=True)
class Settings:
    table_name: str = "org"
    topic_arn: str = "arn:aws:sns:eu-central-1:111111111111:fleetpatch-default-central-reports"


class Topic:
    """SNS Publish, recorded; ``fail`` makes the next call raise (a crash half way)."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []
        self.fail = False

    def publish(self, **kwargs: Any) -> dict[str, str]:
        if self.fail:
            self.fail = False
            raise RuntimeError("the function stopped here")
        self.published.append(kwargs)
        return {"MessageId": f"m-{len(self.published)}"}


@pytest.fixture
def world() -> Iterator[tuple[Any, Topic]]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        create_state_table(dynamodb, "org")
        yield dynamodb, Topic()


def _file(dynamodb: Any, non_compliant: int, as_of: datetime) -> None:
    OrgIndex(dynamodb, "org", as_of.timestamp).record_compliance(
        ComplianceSummary(
            account=ACCOUNT,
            region="eu-west-1",
            stage="prod",
            as_of=as_of,
            groups=[GroupCount(environment="prod", compliant=4, non_compliant=non_compliant)],
        ),
        f"e-{as_of.isoformat()}",
    )


def _send(world: tuple[Any, Topic], tick: datetime) -> dict[str, Any]:
    dynamodb, topic = world
    clients = {"dynamodb": dynamodb, "sns": topic}
    return send_org_digest(tick, Settings(), client=lambda name: clients[name])


def test_a_repeated_tick_sends_nothing_and_a_retry_after_a_crash_finishes(
    world: tuple[Any, Topic],
) -> None:
    dynamodb, topic = world
    _file(dynamodb, 2, TICK - timedelta(hours=1))
    # When the first delivery stops after claiming the day's digest, before publishing it
    topic.fail = True
    with pytest.raises(RuntimeError):
        _send(world, TICK)
    assert topic.published == []
    # ... and a summary arrives before Lambda retries
    _file(dynamodb, 3, TICK + timedelta(minutes=1))
    # Then the retry sends what the claim froze, once
    sent = _send(world, TICK)
    [message] = topic.published
    assert sent == {"day": "2026-12-05", "duplicate": False, "messageId": "m-1", "places": 1}
    [row] = [line.split() for line in message["Message"].splitlines() if line.startswith(ACCOUNT)]
    assert row[:4] == [ACCOUNT, "eu-west-1", "4", "2"]
    assert message["Subject"].endswith("1 account/region, 2 non-compliant")
    # And another delivery of the same tick (later the same day) sends nothing
    assert _send(world, TICK + timedelta(minutes=5))["duplicate"] is True
    assert len(topic.published) == 1


def test_the_next_day_counts_drift_from_the_previous_digest(world: tuple[Any, Topic]) -> None:
    dynamodb, topic = world
    _file(dynamodb, 2, TICK - timedelta(hours=1))
    _send(world, TICK)
    _file(dynamodb, 5, TICK + timedelta(hours=12))
    _send(world, TICK + timedelta(days=1))
    second = topic.published[-1]["Message"]
    [row] = [line.split() for line in second.splitlines() if line.startswith(ACCOUNT)]
    assert row[2:5] == ["4", "5", "+3"]
    assert "since the previous org digest (2026-12-05 07:00 UTC)" in second
