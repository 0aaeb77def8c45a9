"""Security Hub's BatchImportFindings on the local cloud refuses what AWS refuses (issue 21)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from fleetpatch.reports import DriftEntry
from fleetpatch.security_hub import Account, finding
from localcloud.cloud import LocalCloud

ACCOUNT = Account("aws", "eu-central-1", "123456789012")


def drift(instance: str, transition: str = "drifted", hour: int = 1) -> dict[str, object]:
    entry = DriftEntry(
        instance_id=instance,
        transition=transition,  # type: ignore[arg-type]
        at=datetime(2026, 11, 7, hour, tzinfo=UTC),
        severity="CRITICAL",
    )
    return finding(entry, ACCOUNT)


def test_findings_are_refused_one_by_one_and_a_batch_over_100_whole(cloud: LocalCloud) -> None:
    hub = cloud.client("securityhub")
    # Not enabled: every finding fails, InvalidAccess.
    answer = hub.batch_import_findings(Findings=[drift("i-0000000000000001")])
    assert [f["ErrorCode"] for f in answer["FailedFindings"]] == ["InvalidAccess"]
    hub.enable_security_hub()
    # botocore itself refuses a finding without a required attribute; AWS refuses an empty one.
    no_types = {**drift("i-0000000000000002"), "Types": []}
    other_account = {**drift("i-0000000000000003"), "AwsAccountId": "111111111111"}
    answer = hub.batch_import_findings(
        Findings=[drift("i-0000000000000001"), no_types, other_account]  # type: ignore[list-item]
    )
    assert answer["SuccessCount"] == 1
    assert [(f["ErrorCode"], f["ErrorMessage"]) for f in answer["FailedFindings"]] == [
        ("InvalidInput", "Finding is missing required attributes: Types"),
        ("InvalidInput", "AwsAccountId must be the account that calls BatchImportFindings"),
    ]
    with pytest.raises(ClientError) as refused:
        hub.batch_import_findings(
            Findings=[drift(f"i-{n:017x}") for n in range(101)]  # type: ignore[misc]
        )
    assert refused.value.response["Error"]["Code"] == "InvalidInputException"


def test_an_update_applies_only_when_later_and_resolves_the_workflow(cloud: LocalCloud) -> None:
    hub = cloud.client("securityhub")
    hub.enable_security_hub()
    hub.batch_import_findings(Findings=[drift("i-0000000000000001", hour=2)])  # type: ignore[list-item]
    # An older recovery (a late digest) changes nothing.
    hub.batch_import_findings(
        Findings=[drift("i-0000000000000001", "recovered", hour=1)]  # type: ignore[list-item]
    )
    [stored] = hub.get_findings()["Findings"]
    assert (stored["RecordState"], stored["Workflow"]["Status"]) == ("ACTIVE", "NEW")
    hub.batch_import_findings(
        Findings=[drift("i-0000000000000001", "recovered", hour=3)]  # type: ignore[list-item]
    )
    [stored] = hub.get_findings()["Findings"]
    assert stored["Compliance"]["Status"] == "PASSED"
    assert (stored["RecordState"], stored["Workflow"]["Status"]) == ("ARCHIVED", "RESOLVED")
    assert stored["CreatedAt"] == "2026-11-07T02:00:00.000Z"
