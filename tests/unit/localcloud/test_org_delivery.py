"""Across an organization's accounts: an EventBridge rule forwarding to another account's bus,
and a member's role writing to another account's bucket, each allowed only as AWS allows it.

EventBridge (PutPermission / PutTargets, API reference): a bus that lets an organization in
(``aws:PrincipalOrgID``) is reached only through a target ``RoleArn``, whose policy allows
``events:PutEvents`` on the bus. S3 across accounts (IAM User Guide, cross-account policy
evaluation): the role's policy and the bucket policy must both allow the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core.iam.principal import acting_as
from localcloud.org.organization import Organization

REGION = "eu-central-1"
CENTRAL_BUS = "fleetpatch-central"
TRUST_EVENTS = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "lambda.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def org() -> Iterator[Organization]:
    with Organization() as organization:
        yield organization


def _accounts(org: Organization) -> tuple[str, str]:
    ou = org.create_organizational_unit("workloads")
    return org.create_account("central"), org.create_account("member", ou)


def _role(cloud: LocalCloud, name: str, *statements: dict[str, Any]) -> str:
    iam = cloud.client("iam")
    arn = str(
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_EVENTS))["Role"][
            "Arn"
        ]
    )
    if statements:
        iam.put_role_policy(
            RoleName=name,
            PolicyName="inline",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
        )
    return arn


def _central_bus(org: Organization, central: str, condition: dict[str, Any]) -> str:
    """The central bus (its policy lets in whom ``condition`` says) and a queue it feeds."""
    with org.using(central, REGION) as cloud:
        events = cloud.client("events")
        bus = events.create_event_bus(Name=CENTRAL_BUS)["EventBusArn"]
        events.put_permission(
            EventBusName=CENTRAL_BUS,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "MembersPutEvents",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "events:PutEvents",
                            "Resource": bus,
                            "Condition": {"StringEquals": condition},
                        }
                    ],
                }
            ),
        )
        queue = cloud.client("sqs").create_queue(QueueName="central-runs")["QueueUrl"]
        queue_arn = f"arn:aws:sqs:{REGION}:{central}:central-runs"
        events.put_rule(
            Name="runs",
            EventBusName=CENTRAL_BUS,
            EventPattern=json.dumps({"source": ["fleetpatch"]}),
        )
        events.put_targets(
            Rule="runs", EventBusName=CENTRAL_BUS, Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        return str(queue)


def _member_rule(org: Organization, member: str, bus: str, *, role: bool = True) -> None:
    with org.using(member, REGION) as cloud:
        role_arn = _role(
            cloud,
            "forward-runs",
            {"Effect": "Allow", "Action": "events:PutEvents", "Resource": bus},
        )
        events = cloud.client("events")
        events.put_rule(Name="forward", EventPattern=json.dumps({"source": ["fleetpatch"]}))
        target: dict[str, Any] = {"Id": "central", "Arn": bus}
        if role:
            target["RoleArn"] = role_arn
        events.put_targets(Rule="forward", Targets=[target])


def _emit_in(org: Organization, member: str) -> LocalCloud:
    with org.using(member, REGION) as cloud:
        cloud.iam.denials_expected = True
        cloud.emit("fleetpatch", "Run Finished", {"runId": "launch-i-0abc"})
        cloud.settle()
        return cloud


def _received(org: Organization, central: str, queue: str) -> list[dict[str, Any]]:
    with org.using(central, REGION) as cloud:
        cloud.settle()
        messages = cloud.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def test_a_bus_that_lets_in_the_organization_receives_a_members_events(
    org: Organization,
) -> None:
    # Given a central bus allowing aws:PrincipalOrgID, and a member rule targeting it with a role
    central, member = _accounts(org)
    queue = _central_bus(org, central, {"aws:PrincipalOrgID": org.id})
    bus = f"arn:aws:events:{REGION}:{central}:event-bus/{CENTRAL_BUS}"
    _member_rule(org, member, bus)
    # When the member emits a run event
    cloud = _emit_in(org, member)
    # Then it is on its way to the central account, and arrives there as the member's event
    assert cloud.delivery.failed_invocations == {}
    [forwarded] = org.pending(central, REGION)
    assert (forwarded["account"], forwarded["region"]) == (member, REGION)
    [event] = _received(org, central, queue)
    assert event["detail"] == {"runId": "launch-i-0abc"}
    assert org.pending(central, REGION) == []


def test_a_bus_of_another_organization_refuses_the_members_events(org: Organization) -> None:
    # Given a central bus that lets in another organization only
    central, member = _accounts(org)
    queue = _central_bus(org, central, {"aws:PrincipalOrgID": "o-someoneelse"})
    bus = f"arn:aws:events:{REGION}:{central}:event-bus/{CENTRAL_BUS}"
    _member_rule(org, member, bus)
    # When the member emits a run event
    cloud = _emit_in(org, member)
    # Then EventBridge fails the invocation (the bus policy refused the role) and drops it
    assert cloud.delivery.failed_invocations == {"forward": 1}
    [failed] = [d for d in cloud.delivery.deliveries if not d.delivered]
    assert "events:PutEvents" in (failed.error or "")
    assert "no resource-based policy allows it" in (failed.error or "")
    assert org.pending(central, REGION) == []
    assert _received(org, central, queue) == []


def test_a_bus_that_names_the_member_account_lets_its_role_in(org: Organization) -> None:
    central, member = _accounts(org)
    queue = _central_bus(org, central, {"aws:PrincipalAccount": member})
    bus = f"arn:aws:events:{REGION}:{central}:event-bus/{CENTRAL_BUS}"
    _member_rule(org, member, bus)
    _emit_in(org, member)
    assert len(_received(org, central, queue)) == 1


def test_a_target_bus_of_another_account_without_a_role_fails(org: Organization) -> None:
    # Given the organization's bus, and a member target with no RoleArn
    central, member = _accounts(org)
    queue = _central_bus(org, central, {"aws:PrincipalOrgID": org.id})
    bus = f"arn:aws:events:{REGION}:{central}:event-bus/{CENTRAL_BUS}"
    _member_rule(org, member, bus, role=False)
    # Then the event never arrives: the organization grant needs the target's role
    cloud = _emit_in(org, member)
    assert cloud.delivery.failed_invocations == {"forward": 1}
    assert _received(org, central, queue) == []


# --- S3 across accounts ---------------------------------------------------------------------------


def _central_bucket(org: Organization, central: str, *, org_may_write: bool) -> str:
    bucket = f"central-reports-{central}"
    with org.using(central, REGION) as cloud:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        if org_may_write:
            statement = {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/reports/*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org.id}},
            }
            s3.put_bucket_policy(
                Bucket=bucket,
                Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
            )
    return bucket


def _put_as_member(org: Organization, member: str, bucket: str, *, allowed: bool) -> None:
    with org.using(member, REGION) as cloud:
        cloud.iam.denials_expected = True
        resource = f"arn:aws:s3:::{bucket}/reports/*" if allowed else "arn:aws:s3:::elsewhere/*"
        arn = _role(
            cloud,
            "publish",
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": resource},
            # Any key: the central key's own policy is what the key tests are about.
            {"Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": "*"},
        )
        principal = cloud.iam.assume(arn, "lambda.amazonaws.com")
        with acting_as(principal):
            cloud.client("s3").put_object(Bucket=bucket, Key="reports/run.json", Body=b"{}")


def test_a_member_writes_to_the_central_bucket_when_both_policies_allow(
    org: Organization,
) -> None:
    central, member = _accounts(org)
    bucket = _central_bucket(org, central, org_may_write=True)
    _put_as_member(org, member, bucket, allowed=True)
    with org.using(central, REGION) as cloud:
        assert cloud.client("s3").get_object(Bucket=bucket, Key="reports/run.json")


@pytest.mark.parametrize(
    ("org_may_write", "role_may_write", "why"),
    [
        (False, True, "no resource-based policy allows it"),
        (True, False, "no identity-based policy allows it"),
    ],
)
def test_a_member_cannot_write_to_the_central_bucket_unless_both_allow(
    org: Organization, *, org_may_write: bool, role_may_write: bool, why: str
) -> None:
    central, member = _accounts(org)
    bucket = _central_bucket(org, central, org_may_write=org_may_write)
    with pytest.raises(ClientError) as denied:
        _put_as_member(org, member, bucket, allowed=role_may_write)
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert why in denied.value.response["Error"]["Message"]


def _encrypt_with_central_key(
    org: Organization, central: str, bucket: str, *, org_may_use: bool
) -> None:
    """SSE-KMS with the central account's customer managed key (its policy decides)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "Owner",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{central}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if org_may_use:
        statements.append(
            {
                "Sid": "OrganizationEncrypts",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org.id}},
            }
        )
    with org.using(central, REGION) as cloud:
        key = cloud.client("kms").create_key(
            Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
        )["KeyMetadata"]["Arn"]
        cloud.client("s3").put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key,
                        }
                    }
                ]
            },
        )


@pytest.mark.parametrize("org_may_use", [True, False])
def test_the_central_buckets_key_policy_decides_too(
    org: Organization, *, org_may_use: bool
) -> None:
    # Given the central bucket writable by the organization, encrypted with a central key
    central, member = _accounts(org)
    bucket = _central_bucket(org, central, org_may_write=True)
    _encrypt_with_central_key(org, central, bucket, org_may_use=org_may_use)
    # When a member's role allowed to write there (and to use any key) puts a report
    if org_may_use:
        _put_as_member(org, member, bucket, allowed=True)
        return
    # Then without the key policy's grant S3 refuses it
    with pytest.raises(ClientError) as denied:
        _put_as_member(org, member, bucket, allowed=True)
    assert "kms:GenerateDataKey" in denied.value.response["Error"]["Message"]
