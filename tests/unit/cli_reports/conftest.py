"""The stage every reports command test reads, and a history of reports in it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from tests.unit.cli_reports.stage import (
    BUCKET,
    REGION,
    TABLE,
    Stage,
    digest_report,
    launch_report,
    remediation_report,
    wave_report,
)
from tests.unit.conftest import create_state_table


@pytest.fixture
def stage() -> Iterator[Stage]:
    """The default stage's state table (with gsi1) and artifacts bucket, as the template has them."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Stage(dynamodb, s3)


@pytest.fixture
def history(stage: Stage) -> dict[str, datetime]:
    """Four reports: three in the last week, one older."""
    ended = {
        "digest-recent": stage.now - timedelta(hours=3),
        "launch-i-0ccccccccccccccc1": stage.now - timedelta(days=1),
        "wave-prod-held": stage.now - timedelta(days=2),
        "remediation-old": stage.now - timedelta(days=10),
    }
    stage.publish(digest_report("digest-recent", ended["digest-recent"]))
    stage.publish(launch_report("launch-i-0ccccccccccccccc1", ended["launch-i-0ccccccccccccccc1"]))
    stage.publish(wave_report("wave-prod-held", ended["wave-prod-held"]))
    stage.publish(remediation_report("remediation-old", ended["remediation-old"]))
    return ended
