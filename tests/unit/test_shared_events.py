"""issue 22: the shared-event contract, PutEvents with partial failures, the org index."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from fleetpatch.contracts.org import COMPLIANCE_SUMMARY, RUN_FINISHED, SOURCE
from fleetpatch.errors import InvalidEventError
from fleetpatch.org_index import OrgIndex
from fleetpatch.shared_events import (
    MAX_ENTRY_BYTES,
    ComplianceSummary,
    GroupCount,
    RunFinished,
    SharedEventTooLargeError,
    entry,
    entry_size,
    parse_shared_event,
    summary_groups,
)
from fleetpatch.sharing import EventSharer, batches, keep_unsent
from tests.unit.conftest import create_state_table

AT = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)
ACCOUNT = "111111111111"


def run(run_id: str = "launch-1", ended: datetime = AT, **more: Any) -> RunFinished:
    return RunFinished(
        account=more.pop("account", ACCOUNT),
        region="eu-west-1",
        stage="prod",
        run_id=run_id,
        kind="launch",
        status="patched",
        title=f"launch of {run_id}",
        subject="launch: patched",
        started_at=ended - timedelta(minutes=5),
        ended_at=ended,
        instances=1,
        failed=0,
        **more,
    )


# --- the contract ---------------------------------------------------------------------------------


def test_an_entry_is_a_put_events_entry_with_camel_case_detail() -> None:
    built = entry(run(execution_arn="arn:aws:states:eu-west-1:111111111111:execution:x:y"), at=AT)
    assert (built["Source"], built["DetailType"]) == (SOURCE, RUN_FINISHED)
    detail = json.loads(built["Detail"])
    assert detail["runId"] == "launch-1"
    assert detail["account"] == ACCOUNT
    assert detail["schemaVersion"] == 1
    assert built["Resources"] == ["arn:aws:states:eu-west-1:111111111111:execution:x:y"]
    # As EventBridge counts it: Time 14 bytes, then the UTF-8 bytes of the rest
    assert entry_size(built) == 14 + len(SOURCE) + len(RUN_FINISHED) + len(
        built["Detail"].encode()
    ) + len(built["Resources"][0])


def test_an_entry_over_256_kb_is_refused_before_eventbridge_refuses_it() -> None:
    groups = [
        GroupCount(environment="prod", patch_group=f"g{n:05d}" * 8, compliant=1, non_compliant=0)
        for n in range(3000)
    ]
    summary = ComplianceSummary(
        account=ACCOUNT, region="eu-west-1", stage="prod", as_of=AT, groups=groups
    )
    with pytest.raises(SharedEventTooLargeError, match=str(MAX_ENTRY_BYTES)):
        entry(summary, at=AT)


def _forwarded(detail: dict[str, Any], **envelope: Any) -> dict[str, Any]:
    return {
        "id": "e-1",
        "source": SOURCE,
        "detail-type": RUN_FINISHED,
        "account": ACCOUNT,
        "region": "eu-west-1",
        "detail": detail,
        **envelope,
    }


def test_a_forwarded_event_is_validated_and_its_account_must_be_the_sender() -> None:
    detail = json.loads(entry(run(), at=AT)["Detail"])
    parsed = parse_shared_event(_forwarded(detail))
    assert parsed.detail == run()
    with pytest.raises(
        InvalidEventError, match=r"detail\.account: 111111111111 is not the sending"
    ):
        parse_shared_event(_forwarded(detail, account="222222222222"))
    with pytest.raises(InvalidEventError, match="source"):
        parse_shared_event(_forwarded(detail, source="aws.ssm"))
    with pytest.raises(InvalidEventError, match="detail-type"):
        parse_shared_event(_forwarded(detail, **{"detail-type": "Run Started"}))
    with pytest.raises(InvalidEventError, match="runId"):
        parse_shared_event(_forwarded({**detail, "runId": ""}))


def test_compliance_is_counted_per_environment_and_patch_group() -> None:
    fleet = [
        {"status": "compliant", "environment": "prod", "patch_group": "web"},
        {"status": "non_compliant", "environment": "prod", "patch_group": "web"},
        {"status": "compliant", "environment": "test"},
    ]
    assert [g.model_dump() for g in summary_groups(fleet)] == [
        {"environment": "prod", "patch_group": "web", "compliant": 1, "non_compliant": 1},
        {"environment": "test", "patch_group": None, "compliant": 1, "non_compliant": 0},
    ]
    summary = ComplianceSummary(
        account=ACCOUNT, region="eu-west-1", stage="prod", as_of=AT, groups=summary_groups(fleet)
    )
    assert entry(summary, at=AT)["DetailType"] == COMPLIANCE_SUMMARY


# --- PutEvents: 10 entries a call, failed entries put again, the rest kept ----------------------


class Events:
    """PutEvents answering per entry as scripted: an error code fails that entry once."""

    def __init__(self, failures: list[dict[int, str]], raises: int = 0) -> None:
        self.failures = failures
        self.raises = raises
        self.calls: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(Entries)
        if self.raises:
            self.raises -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "PutEvents"
            )
        failing = self.failures.pop(0) if self.failures else {}
        answers = [
            {"ErrorCode": failing[n], "ErrorMessage": "try again"}
            if n in failing
            else {"EventId": f"id-{len(self.calls)}-{n}"}
            for n in range(len(Entries))
        ]
        return {"FailedEntryCount": len(failing), "Entries": answers}


def _entries(count: int) -> list[dict[str, Any]]:
    return [entry(run(f"run-{n}"), at=AT) for n in range(count)]


def test_requests_hold_at_most_10_entries() -> None:
    assert [len(b) for b in batches(_entries(25))] == [10, 10, 5]


def test_only_the_failed_entries_are_put_again() -> None:
    events = Events([{1: "ThrottlingException"}])
    shared = EventSharer(events).put(_entries(3))
    assert shared.as_dict() == {"sent": 3, "unsent": 0, "errors": []}
    first, again = events.calls
    assert len(first) == 3
    assert [json.loads(e["Detail"])["runId"] for e in again] == ["run-1"]


def test_a_refused_request_is_put_again_whole() -> None:
    events = Events([], raises=1)
    shared = EventSharer(events).put(_entries(2))
    assert (shared.as_dict()["sent"], len(events.calls)) == (2, 2)


def test_entries_still_failing_are_kept_in_the_dead_letter_queue() -> None:
    events = Events([{0: "InternalFailure"}] * 3)
    shared = EventSharer(events, attempts=3).put(_entries(2))
    assert shared.as_dict() == {"sent": 1, "unsent": 1, "errors": ["InternalFailure"]}
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        keep_unsent(sqs, url, shared.unsent, run_id="run-0")
        [kept] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    unsent = json.loads(kept["Body"])["unsentEvent"]
    assert (unsent["Source"], unsent["DetailType"]) == (SOURCE, RUN_FINISHED)
    assert json.loads(unsent["Detail"])["runId"] == "run-0"
    assert kept["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "InternalFailure"


# --- the org index: at least once, in any order -------------------------------------------------


@pytest.fixture
def index() -> Iterator[OrgIndex]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        create_state_table(dynamodb, "org")
        yield OrgIndex(dynamodb, "org", AT.timestamp)


def test_a_run_is_filed_once_and_an_older_delivery_changes_nothing(index: OrgIndex) -> None:
    assert index.record_run(run(), "e1") is True
    assert index.record_run(run(), "e1-again") is False
    assert index.record_run(run(ended=AT - timedelta(minutes=1)), "older") is False
    assert index.record_run(run(ended=AT + timedelta(minutes=1)), "retried publish") is True
    [filed] = index.runs()
    assert (filed["account"], filed["region"], filed["event_id"]) == (
        ACCOUNT,
        "eu-west-1",
        "retried publish",
    )
    # The same run id in another account is another run
    assert index.record_run(run(account="222222222222"), "e2") is True
    assert len(index.runs()) == 2


def test_a_compliance_summary_is_replaced_by_a_newer_one_only(index: OrgIndex) -> None:
    def summary(as_of: datetime, drifted: int) -> ComplianceSummary:
        return ComplianceSummary(
            account=ACCOUNT,
            region="eu-west-1",
            stage="prod",
            as_of=as_of,
            groups=[GroupCount(environment="prod", compliant=2, non_compliant=drifted)],
        )

    assert index.record_compliance(summary(AT, 1), "e1") is True
    assert index.record_compliance(summary(AT - timedelta(hours=1), 5), "late") is False
    [kept] = index.compliance()
    assert (kept["non_compliant"], kept["groups"][0]["non_compliant"]) == (1, 1)
