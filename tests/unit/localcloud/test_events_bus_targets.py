"""issue 22: a rule's event bus target (a member forwarding to the central bus), delivered
as EventBridge does: the event as it was, with the target's role, under the bus's policy.

Also the moto internal it relies on (canary), and IAM policy variables in a resource
(``${aws:PrincipalAccount}``, the central bucket's policy).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.cloud import ACCOUNT_ID, LocalCloud
from localcloud.core.iam.policy import ConditionContext, Request, evaluate, parse_policy
from localcloud.core.iam.principal import Principal

ORGANIZATION = "o-a1b2c3d4e5"
REGION = "eu-central-1"
BUS = "central"
BUS_ARN = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{BUS}"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def test_canary_moto_buses_keep_their_rules_by_name() -> None:
    # _deliver_to_bus reads EventsBackend.describe_event_bus(name).rules and calls each
    # rule's send_to_targets with the event as it was.
    from moto.events.models import EventsBackend, Rule

    assert callable(EventsBackend.describe_event_bus)
    assert callable(Rule.send_to_targets)
    with LocalCloud() as cloud:
        events = cloud.client("events")
        events.create_event_bus(Name=BUS)
        events.put_rule(Name="r", EventBusName=BUS, EventPattern='{"source": ["x"]}')
        from moto.events.models import events_backends

        bus = events_backends[ACCOUNT_ID][REGION].describe_event_bus(BUS)
        assert list(bus.rules) == ["r"]
        assert isinstance(bus.rules["r"], Rule)


def _world(cloud: LocalCloud, *, role_may_put: bool, bus_policy: bool) -> dict[str, str]:
    """A central bus (its rule to a queue) and a default-bus rule forwarding to it."""
    events, sqs, iam = cloud.client("events"), cloud.client("sqs"), cloud.client("iam")
    events.create_event_bus(Name=BUS)
    if bus_policy:
        events.put_permission(
            EventBusName=BUS,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AllowOrganizationToPutEvents",
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "events:PutEvents",
                            "Resource": BUS_ARN,
                            "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}},
                        }
                    ],
                }
            ),
        )
    received = sqs.create_queue(QueueName="received")["QueueUrl"]
    dead = sqs.create_queue(QueueName="dead")["QueueUrl"]
    arn_of = {
        url: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for url in (received, dead)
    }
    events.put_rule(Name="ingest", EventBusName=BUS, EventPattern='{"source": ["fleetpatch"]}')
    events.put_targets(
        Rule="ingest", EventBusName=BUS, Targets=[{"Id": "q", "Arn": arn_of[received]}]
    )
    role = iam.create_role(RoleName="forwarder", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if role_may_put:
        iam.put_role_policy(
            RoleName="forwarder",
            PolicyName="put",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS_ARN}
                    ],
                }
            ),
        )
    rule = events.put_rule(Name="to-central", EventPattern='{"source": ["fleetpatch"]}')
    sqs.set_queue_attributes(
        QueueUrl=dead,
        Attributes={
            "Policy": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Action": "sqs:SendMessage",
                            "Resource": arn_of[dead],
                            "Condition": {"ArnEquals": {"aws:SourceArn": rule["RuleArn"]}},
                        }
                    ],
                }
            )
        },
    )
    events.put_targets(
        Rule="to-central",
        Targets=[
            {
                "Id": "central",
                "Arn": BUS_ARN,
                "RoleArn": role,
                "DeadLetterConfig": {"Arn": arn_of[dead]},
            }
        ],
    )
    return {"received": received, "dead": dead}


def _put(cloud: LocalCloud) -> str:
    [result] = cloud.client("events").put_events(
        Entries=[
            {"Source": "fleetpatch", "DetailType": "Run Finished", "Detail": '{"runId": "r1"}'}
        ]
    )["Entries"]
    return str(result["EventId"])


def _messages(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    return list(
        cloud.client("sqs")
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages")
        or []
    )


def test_the_event_arrives_as_it_was_sent_through_the_targets_role() -> None:
    with LocalCloud(organization_id=ORGANIZATION) as cloud:
        queues = _world(cloud, role_may_put=True, bus_policy=False)
        event_id = _put(cloud)
        cloud.settle()
        [message] = _messages(cloud, queues["received"])
        event = json.loads(message["Body"])  # moto's SQS rendering (it has no account)
        assert (event["id"], event["region"]) == (event_id, REGION)
        assert event["detail"] == {"runId": "r1"}
        assert _messages(cloud, queues["dead"]) == []
        [forwarded] = [d for d in cloud.delivery.deliveries if d.target_arn == BUS_ARN]
        assert forwarded.delivered
        assert (forwarded.event["id"], forwarded.event["account"]) == (event_id, ACCOUNT_ID)


@pytest.mark.parametrize(
    ("organization", "delivered"), [(ORGANIZATION, True), ("o-otherorgxyz", False)]
)
def test_the_bus_policy_lets_the_organization_in_and_no_one_else(
    organization: str, delivered: bool
) -> None:
    # Given a role with no identity grant: only the bus policy's PrincipalOrgID can allow it
    with LocalCloud(organization_id=organization) as cloud:
        cloud.iam.denials_expected = not delivered
        queues = _world(cloud, role_may_put=False, bus_policy=True)
        _put(cloud)
        cloud.settle()
        assert bool(_messages(cloud, queues["received"])) is delivered
        dead = _messages(cloud, queues["dead"])
        assert bool(dead) is not delivered
        if dead:
            why = dead[0]["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"]
            assert "not authorized to perform: events:PutEvents" in why


def test_without_a_grant_the_event_goes_to_the_dead_letter_queue() -> None:
    with LocalCloud(organization_id=ORGANIZATION) as cloud:
        cloud.iam.denials_expected = True
        queues = _world(cloud, role_may_put=False, bus_policy=False)
        _put(cloud)
        cloud.settle()
        assert _messages(cloud, queues["received"]) == []
        [dead] = _messages(cloud, queues["dead"])
        assert json.loads(dead["Body"])["detail"] == {"runId": "r1"}


def test_a_resource_policy_variable_is_the_requests_value() -> None:
    statements = parse_policy(
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": "s3:PutObject",
                    "Resource": "arn:aws:s3:::central/accounts/${aws:PrincipalAccount}/*",
                    "Condition": {"StringEquals": {"aws:PrincipalOrgID": ORGANIZATION}},
                }
            ]
        },
        "bucket",
        resource_policy=True,
    )
    member = Principal.role("arn:aws:iam::111111111111:role/publisher", org_id=ORGANIZATION)

    def put(key: str) -> bool:
        context = ConditionContext(
            {"aws:PrincipalAccount": "111111111111", "aws:PrincipalOrgID": ORGANIZATION}
        )
        request = Request("s3:PutObject", f"arn:aws:s3:::central/{key}", context)
        return evaluate(member, request, [], statements).allowed

    assert put("accounts/111111111111/eu-west-1/reports/r.json")
    assert not put("accounts/222222222222/eu-west-1/reports/r.json")
