"""Publishing a report: stored as JSON and HTML, indexed, announced once, even when S3 fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch import report_text
from fleetpatch.compliance import ComplianceChange, ComplianceLedger, DigestCollector
from fleetpatch.contracts.s3 import report_day_index_key, report_keys
from fleetpatch.publishing import (
    ReportPublisher,
    body_of,
    load_report,
    send_digest,
    subject_of,
)
from fleetpatch.report_days import parse as parse_day
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import email_body
from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)
from tests.unit.conftest import create_state_table

REGION: Final = "eu-central-1"
TABLE = "state"
BUCKET = "fleetpatch-artifacts-123456789012"
NOW = 1_800_000_000.0
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
EXECUTION = "arn:aws:states:eu-central-1:123456789012:execution:fleetpatch-gated-wave:wave-prod-1"
RUN = "wave-prod-20261121T0500Z"


def held_wave(run_id: str = RUN) -> RunReport:
    return RunReport(
        kind="wave",
        run_id=run_id,
        title="prod wave",
        outcome="held",
        reason="gate failed",
        summary="The gate before windows-apps failed.",
        environment="prod",
        trigger="window",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=40),
        execution_arn=EXECUTION,
        batches=[
            BatchResult(
                name="linux-databases",
                patch_groups=["patch_prod_0600_batch_1"],
                status="ran",
                instances=[
                    InstanceResult(
                        instance_id="i-0db00000000000001",
                        outcome="patched",
                        command_id="cmd-1",
                        command_status="Success",
                        installed=4,
                        missing=0,
                        failed=0,
                        pending_reboot=0,
                        started_at=T0 + timedelta(minutes=1),
                        ended_at=T0 + timedelta(minutes=6),
                    ),
                    InstanceResult(
                        instance_id="i-0db00000000000002",
                        outcome="failed",
                        reason="AWS-RunPatchBaseline ended Failed",
                        command_id="cmd-1",
                        command_status="Failed",
                    ),
                ],
            ),
            BatchResult(
                name="windows-apps",
                patch_groups=["patch_prod_0600_batch_2"],
                status="held",
                gate=GateSummary(
                    passed=False,
                    reasons=["1 instance failed in linux-databases (max 0)"],
                    checked=["linux-databases"],
                ),
                instances=[
                    InstanceResult(
                        instance_id="i-0ap00000000000001",
                        outcome="not-reached",
                        reason="its batch was held by a gate",
                    )
                ],
            ),
        ],
    )


def entry(n: int, transition: str, environment: str | None) -> DriftEntry:
    return DriftEntry(
        instance_id=f"i-{n:017x}",
        transition=transition,  # type: ignore[arg-type]
        at=T0 + timedelta(minutes=n % 60),
        environment=environment,
        patch_group=f"patch_{environment}_0600_batch_1" if environment else None,
        severity="critical" if transition == "drifted" else None,
    )


def digest(drifted: int, recovered: int) -> DigestReport:
    entries = [entry(n, "drifted", "prod" if n % 4 else "test") for n in range(drifted)]
    entries += [entry(1000 + n, "recovered", "test") for n in range(recovered)]
    return DigestReport(
        run_id="digest-20261121T0600Z",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        entries=entries,
    )


# --- the cloud: bucket, topic read through a queue, table with gsi1 ---------------------------


@dataclass
class Cloud:
    s3: Any
    sns: Any
    sqs: Any
    dynamodb: Any
    topic_arn: str
    queue_url: str

    def publisher(self, **overrides: Any) -> ReportPublisher:
        settings: dict[str, Any] = {
            "s3": self.s3,
            "sns": self.sns,
            "dynamodb": self.dynamodb,
            "table": TABLE,
            "bucket": BUCKET,
            "topic_arn": self.topic_arn,
            "region": REGION,
            "now": lambda: NOW,
        }
        return ReportPublisher(**(settings | overrides))

    def announced(self) -> list[dict[str, Any]]:
        """Every SNS notification delivered to the queue so far (the SNS envelope)."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic_arn = sns.create_topic(Name="fleetpatch-reports")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="reports-reader")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, TABLE)
        yield Cloud(s3, sns, sqs, dynamodb, topic_arn, queue_url)


def html_url(run_id: str) -> str:
    return (
        f"https://{REGION}.console.aws.amazon.com/s3/object/{BUCKET}"
        f"?region={REGION}&prefix={report_keys(run_id, T0)[1]}"
    )


# --- publishing ---------------------------------------------------------------------------------


def test_publish_stores_the_report_as_json_and_html(cloud: Cloud) -> None:
    report = held_wave()
    published = cloud.publisher().publish(report)
    assert (published.json_key, published.html_key) == (
        report_keys(RUN, T0)[0],
        report_keys(RUN, T0)[1],
    )
    stored = cloud.s3.get_object(Bucket=BUCKET, Key=report_keys(RUN, T0)[0])
    assert stored["ContentType"] == "application/json"
    assert load_report(stored["Body"].read()) == report
    page = cloud.s3.get_object(Bucket=BUCKET, Key=report_keys(RUN, T0)[1])
    assert page["ContentType"] == "text/html; charset=utf-8"
    html = page["Body"].read().decode()
    assert html.lower().startswith("<!doctype html>")
    assert RUN in html
    assert "i-0db00000000000002" in html


def test_publish_announces_subject_attributes_and_body(cloud: Cloud) -> None:
    report = held_wave()
    published = cloud.publisher().publish(report)
    [message] = cloud.announced()
    assert (
        message["Subject"]
        == "prod wave: windows-apps held; 3 instances: 1 patched, 1 failed, 1 not reached"
    )
    assert message["MessageId"] == published.message_id
    assert {k: v["Value"] for k, v in message["MessageAttributes"].items()} == {
        "kind": "wave",
        "environment": "prod",
        "outcome": "held",
        "run": RUN,
        "report": report_keys(RUN, T0)[0],
    }
    assert message["Message"] == body_of(report, report_url=html_url(RUN), region=REGION)
    assert message["Message"] == email_body(
        report,
        report_url=html_url(RUN),
        console_url=f"https://{REGION}.console.aws.amazon.com/states/home?region={REGION}"
        f"#/v2/executions/details/{EXECUTION}",
    )
    assert f"Report: {html_url(RUN)}\n" in message["Message"]
    assert published.as_dict() == {
        "runId": RUN,
        "subject": message["Subject"],
        "report": report_keys(RUN, T0)[0],
        "html": report_keys(RUN, T0)[1],
        "messageId": published.message_id,
        "duplicate": False,
        "storeError": None,
        "indexError": None,
        "quiet": False,
        "dayIndexError": None,
    }


def test_a_quiet_report_is_stored_and_indexed_but_not_announced(cloud: Cloud) -> None:
    # A launch-churn streak's second failure: kept for the record, sent with the escalation.
    published = cloud.publisher().publish(held_wave(), announce=False)
    assert (published.quiet, published.message_id) == (True, None)
    assert cloud.announced() == []
    record = ReportIndex(cloud.dynamodb, TABLE, lambda: NOW).get(RUN)
    assert record is not None
    assert (record["json_key"], "message_id" in record) == (report_keys(RUN, T0)[0], False)
    cloud.s3.head_object(Bucket=BUCKET, Key=report_keys(RUN, T0)[1])


def test_publish_indexes_the_report_and_its_message(cloud: Cloud) -> None:
    published = cloud.publisher().publish(held_wave())
    index = ReportIndex(cloud.dynamodb, TABLE, lambda: NOW)
    record = index.get(RUN)
    assert record is not None
    assert (record["message_id"], record["json_key"], record["html_key"]) == (
        published.message_id,
        report_keys(RUN, T0)[0],
        report_keys(RUN, T0)[1],
    )
    assert (record["instances"], record["failed"], record["store_error"]) == (3, 1, "")
    assert [r["run_id"] for r in index.list()] == [RUN]


def test_publishing_the_same_run_twice_announces_it_once(cloud: Cloud) -> None:
    publisher = cloud.publisher()
    first = publisher.publish(held_wave())
    again = publisher.publish(held_wave())
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.message_id == first.message_id
    assert len(cloud.announced()) == 1


def test_a_report_that_cannot_be_stored_is_still_announced(cloud: Cloud) -> None:
    logged: list[tuple[str, dict[str, Any]]] = []
    publisher = cloud.publisher(
        bucket="fleetpatch-artifacts-missing", log=lambda m, e: logged.append((m, e))
    )
    published = publisher.publish(held_wave())
    assert (published.json_key, published.html_key) == (None, None)
    assert published.store_error is not None
    assert published.store_error.startswith("NoSuchBucket: ")
    [message] = cloud.announced()
    assert "report" not in message["MessageAttributes"]
    assert message["MessageAttributes"]["outcome"]["Value"] == "held"
    body = message["Message"]
    assert body.endswith(f"\nThe report could not be stored: {published.store_error}\n")
    assert "Report: " not in body
    assert "i-0db00000000000002" in body  # the e-mail carries the text instead
    assert [m for m, _ in logged] == ["report not stored"]
    record = ReportIndex(cloud.dynamodb, TABLE, lambda: NOW).get(RUN)
    assert record is not None
    assert (record["json_key"], record["html_key"]) == ("", "")
    assert record["store_error"] == published.store_error
    assert record["message_id"] == published.message_id


class FailingHtml:
    """S3 that stores the JSON and refuses the HTML page."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def put_object(self, **request: Any) -> Any:
        if request["Key"].endswith(".html"):
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "PutObject"
            )
        return self._s3.put_object(**request)


def test_a_half_stored_report_gives_no_location(cloud: Cloud) -> None:
    published = cloud.publisher(s3=FailingHtml(cloud.s3)).publish(held_wave())
    assert published.store_error == (
        "ClientError: An error occurred (AccessDenied) when calling the PutObject operation: "
        "Access Denied"
    )
    assert (published.json_key, published.html_key) == (None, None)
    [message] = cloud.announced()
    assert "report" not in message["MessageAttributes"]
    assert "could not be stored" in message["Message"]


def test_an_index_that_cannot_be_written_does_not_stop_the_announcement(cloud: Cloud) -> None:
    published = cloud.publisher(table="state-missing").publish(held_wave())
    assert published.index_error is not None
    assert published.index_error.startswith("ResourceNotFoundException: ")
    assert published.message_id is not None
    assert published.duplicate is False
    [message] = cloud.announced()
    assert message["MessageAttributes"]["report"]["Value"] == report_keys(RUN, T0)[0]


def test_reports_are_filed_by_the_day_their_run_started_and_listed_on_its_page(
    cloud: Cloud,
) -> None:
    # A run that ends after midnight UTC is filed under the day it started (a retried
    # publish, ending later still, writes the same keys)
    late = held_wave().model_copy(
        update={
            "started_at": datetime(2026, 11, 21, 23, 50, tzinfo=UTC),
            "ended_at": datetime(2026, 11, 22, 0, 30, tzinfo=UTC),
        }
    )
    published = cloud.publisher().publish(late)
    assert published.html_key == f"reports/2026/11/21/{RUN}.html"
    assert published.day_index_error is None
    page = cloud.s3.get_object(Bucket=BUCKET, Key="reports/2026/11/21/index.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    assert [e["run_id"] for e in parse_day(page["Body"].read().decode())] == [RUN]


def test_a_day_page_that_cannot_be_updated_does_not_stop_the_announcement(cloud: Cloud) -> None:
    cloud.s3.put_object(
        Bucket=BUCKET, Key=report_day_index_key(T0), Body=b"<html>someone else's</html>"
    )
    logged: list[tuple[str, dict[str, Any]]] = []
    published = cloud.publisher(log=lambda m, e: logged.append((m, e))).publish(held_wave())
    assert published.day_index_error is not None
    assert published.day_index_error.startswith("DayIndexError: ")
    assert published.message_id is not None
    assert [m for m, _ in logged] == ["report not listed on its day's page"]
    assert len(cloud.announced()) == 1


# --- digests ------------------------------------------------------------------------------------


def test_the_digest_subject_counts_drift_and_recovery_per_environment() -> None:
    assert (
        subject_of(digest(200, 3))
        == "compliance digest: 200 instances drifted, 3 recovered (prod,test)"
    )
    assert subject_of(digest(1, 0)) == "compliance digest: 1 instance drifted (test)"
    assert subject_of(digest(0, 2)) == "compliance digest: 2 recovered (test)"


def test_the_digest_subject_without_environment_or_entries() -> None:
    nowhere = DigestReport(
        run_id="digest-1",
        started_at=T0,
        ended_at=T0,
        entries=[entry(1, "drifted", None)],
    )
    assert subject_of(nowhere) == "compliance digest: 1 instance drifted"
    empty = nowhere.model_copy(update={"entries": []})
    assert subject_of(empty) == "compliance digest: no change"


def test_the_digest_body() -> None:
    report = DigestReport(
        run_id="digest-20261121T0600Z",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        entries=[
            DriftEntry(
                instance_id="i-0a1b2c3d4e5f60718",
                transition="drifted",
                at=T0 + timedelta(minutes=5),
                environment="prod",
                patch_group="patch_prod_0600_batch_1",
                severity="critical",
            ),
            DriftEntry(
                instance_id="i-0b1b2c3d4e5f60718",
                transition="recovered",
                at=T0 + timedelta(minutes=50),
                environment="test",
                changes=2,
            ),
        ],
    )
    assert body_of(report, report_url="https://example.com/d.html", region=REGION) == (
        "compliance digest: 1 instance drifted, 1 recovered (prod,test)\n"
        "\n"
        "Changes of Patch compliance from 2026-11-21 05:00 to 2026-11-21 06:00 UTC.\n"
        "\n"
        "Drifted (1):\n"
        "  i-0a1b2c3d4e5f60718  prod/patch_prod_0600_batch_1 severity critical "
        "since 2026-11-21 05:05 UTC\n"
        "\n"
        "Recovered (1):\n"
        "  i-0b1b2c3d4e5f60718  test since 2026-11-21 05:50 UTC, 2 changes\n"
        "\n"
        "Report: https://example.com/d.html\n"
    )


def test_a_large_digest_body_lists_25_per_section() -> None:
    body = body_of(digest(200, 3), report_url=None, region=REGION)
    lines = body.splitlines()
    assert "Drifted (200):" in lines
    assert "  ... and 175 more in the report" in lines
    assert "Recovered (3):" in lines
    assert sum(1 for line in lines if line.startswith("  i-")) == 25 + 3
    assert not body.rstrip().endswith("Report:")


def test_the_digest_attributes() -> None:
    assert report_text.attributes(
        digest(2, 1), report_key=report_keys("digest-20261121T0600Z", T0)[0]
    ) == {
        "kind": {"DataType": "String", "StringValue": "compliance-digest"},
        "environment": {"DataType": "String", "StringValue": "prod,test"},
        "outcome": {"DataType": "String", "StringValue": "drift"},
        "run": {"DataType": "String", "StringValue": "digest-20261121T0600Z"},
        "report": {
            "DataType": "String",
            "StringValue": report_keys("digest-20261121T0600Z", T0)[0],
        },
    }
    assert (
        report_text.attributes(digest(0, 1), report_key=None)["outcome"]["StringValue"]
        == "recovered"
    )


def test_a_digest_is_published_like_a_run(cloud: Cloud) -> None:
    report = digest(200, 3)
    published = cloud.publisher().publish(report)
    stored = cloud.s3.get_object(Bucket=BUCKET, Key=report_keys("digest-20261121T0600Z", T0)[0])
    assert load_report(stored["Body"].read()) == report
    [message] = cloud.announced()
    assert message["Subject"] == (
        "compliance digest: 200 instances drifted, 3 recovered (prod,test)"
    )
    assert message["MessageAttributes"]["kind"]["Value"] == "compliance-digest"
    assert message["Message"].endswith(f"Report: {html_url('digest-20261121T0600Z')}\n")
    record = ReportIndex(cloud.dynamodb, TABLE, lambda: NOW).get("digest-20261121T0600Z")
    assert record is not None
    assert (record["kind"], record["instances"], record["failed"]) == (
        "compliance-digest",
        203,
        200,
    )
    assert record["message_id"] == published.message_id


# --- the digest, sent once however often its schedule fires -------------------------------------


def drift(ledger: ComplianceLedger, n: int, at: datetime) -> None:
    """Instance ``n`` drifted at ``at`` (recorded at the ledger's now)."""
    change = ComplianceChange(
        instance_id=f"i-{n:017x}",
        status="non_compliant",
        baseline_id="pb-0c10e65780EXAMPLE",
        severity="critical",
        event_time=at,
        event_id=f"event-{n}",
    )
    ledger.record(change)
    ledger.settle(change)


def test_a_repeated_digest_is_sent_once_and_keeps_later_drift_for_the_next(cloud: Cloud) -> None:
    clock = [T0.timestamp()]
    ledger = ComplianceLedger(cloud.dynamodb, TABLE, lambda: clock[0])
    collector = DigestCollector(cloud.dynamodb, TABLE)
    due = T0 + timedelta(hours=1)
    for n, minutes in ((1, 5), (2, 10)):
        clock[0] = (T0 + timedelta(minutes=minutes)).timestamp()
        drift(ledger, n, T0 + timedelta(minutes=minutes))
    first = send_digest(collector, cloud.publisher(), now=due, due=due, include_recoveries=True)
    # Drift after the digest was cut, and a late event (it happened before the cut, it
    # arrived after); then the schedule fires again (Scheduler and Lambda both deliver at
    # least once): twice more.
    clock[0] = (due + timedelta(minutes=1)).timestamp()
    drift(ledger, 3, due + timedelta(minutes=1))
    drift(ledger, 4, T0 + timedelta(minutes=30))
    repeats = [
        send_digest(
            collector,
            cloud.publisher(),
            now=due + timedelta(minutes=m),
            due=due,
            include_recoveries=True,
        )
        for m in (2, 3)
    ]
    [message] = cloud.announced()
    assert message["Subject"] == "compliance digest: 2 instances drifted"
    assert (first["runId"], first["duplicate"], first["entries"]) == (
        "digest-20261121T060000Z",
        False,
        2,
    )
    assert [(r["duplicate"], r["entries"]) for r in repeats] == [(True, 0), (True, 0)]
    # The later drift and the late event wait for the next digest.
    left = collector.entries(until=due + timedelta(hours=1))
    assert sorted(e["instance_id"]["S"] for e in left) == [f"i-{3:017x}", f"i-{4:017x}"]
    nxt = send_digest(
        collector,
        cloud.publisher(),
        now=due + timedelta(hours=1),
        due=due + timedelta(hours=1),
        include_recoveries=True,
    )
    assert (nxt["runId"], nxt["entries"]) == ("digest-20261121T070000Z", 2)
    [later] = cloud.announced()
    assert later["Subject"] == "compliance digest: 2 instances drifted"


def test_the_digest_names_the_exception_of_a_drifted_excepted_instance(cloud: Cloud) -> None:
    # Given two drifted instances, the first excepted by fleetpatch:skip when the digest is sent
    clock = [T0.timestamp()]
    ledger = ComplianceLedger(cloud.dynamodb, TABLE, lambda: clock[0])
    collector = DigestCollector(cloud.dynamodb, TABLE)
    for n in (1, 2):
        drift(ledger, n, T0 + timedelta(minutes=n))
    asked: list[list[str]] = []

    def exceptions(ids: list[str]) -> dict[str, str]:
        asked.append(sorted(ids))
        return {f"i-{1:017x}": "excepted until 2026-12-31: vendor freeze INC-123"}

    # When the digest is sent
    due = T0 + timedelta(hours=1)
    send_digest(
        collector,
        cloud.publisher(),
        now=due,
        due=due,
        include_recoveries=True,
        exceptions=exceptions,
    )
    # Then the e-mail names the exception under the excepted instance, and only there
    [message] = cloud.announced()
    body = message["Message"]
    assert asked == [[f"i-{1:017x}", f"i-{2:017x}"]]
    assert (
        "    excepted until 2026-12-31: vendor freeze INC-123: drift recorded, not remediated"
        in body.splitlines()
    )
    assert body.count("not remediated") == 1
