"""Amazon Inspector findings on the local cloud (issue 21, part 6): ListFindings filtered as
AWS filters it, the EventBridge event shaped as Inspector sends it, IAM enforced."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core.iam.principal import acting_as


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalCloud]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with LocalCloud() as running:
        yield running


def _events(cloud: LocalCloud) -> Any:
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName="inspector-events")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="inspector", EventPattern=json.dumps({"source": ["aws.inspector2"]}))
    events.put_targets(Rule="inspector", Targets=[{"Id": "q", "Arn": arn}])

    def read() -> list[dict[str, Any]]:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    return read


def test_a_finding_is_listed_by_cve_and_announced(cloud: LocalCloud) -> None:
    assert cloud.fleet is not None
    assert cloud.inspector is not None
    read = _events(cloud)
    # Given two Amazon Linux 2 instances, one with a finding for CVE-2024-7264
    first, second = cloud.fleet.launch("AMAZON_LINUX_2", count=2)
    cloud.settle()
    cloud.inspector.raise_finding(first, "CVE-2024-7264", "CRITICAL")
    cloud.settle()
    # When the findings are listed by the CVE
    found = cloud.client("inspector2").list_findings(
        filterCriteria={
            "vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-2024-7264"}],
            "findingStatus": [{"comparison": "EQUALS", "value": "ACTIVE"}],
        }
    )["findings"]
    # Then only that instance's finding comes back, shaped as Inspector's
    assert [f["resources"][0]["id"] for f in found] == [first]
    assert found[0]["packageVulnerabilityDetails"]["vulnerablePackages"][0]["name"] == "curl"
    assert isinstance(found[0]["firstObservedAt"], datetime)
    other = cloud.client("inspector2").list_findings(
        filterCriteria={"vulnerabilityId": [{"comparison": "EQUALS", "value": "CVE-2024-1086"}]}
    )["findings"]
    assert other == []
    # And EventBridge carried the event as Inspector sends it
    (event,) = read()
    assert event["source"] == "aws.inspector2"
    assert event["detail-type"] == "Inspector2 Finding"
    assert event["resources"] == [first]
    assert event["detail"]["packageVulnerabilityDetails"]["vulnerabilityId"] == "CVE-2024-7264"
    assert event["detail"]["firstObservedAt"].endswith(("AM", "PM"))
    assert second not in json.dumps(event)


def test_an_unknown_filter_key_is_refused(cloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as raised:
        cloud.client("inspector2").list_findings(
            filterCriteria={"ecrImageTags": [{"comparison": "EQUALS", "value": "x"}]}
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_list_findings_needs_its_iam_action(cloud: LocalCloud) -> None:
    cloud.iam.denials_expected = True
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    arn = iam.create_role(RoleName="no-inspector", AssumeRolePolicyDocument=json.dumps(trust))[
        "Role"
    ]["Arn"]
    principal = cloud.iam.assume(arn, "lambda.amazonaws.com")
    with acting_as(principal), pytest.raises(ClientError) as raised:
        cloud.client("inspector2").list_findings()
    assert raised.value.response["Error"]["Code"] in {"AccessDeniedException", "AccessDenied"}
