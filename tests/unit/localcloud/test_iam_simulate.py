"""iam:SimulatePrincipalPolicy answers with the local cloud's own policy evaluation."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _role(cloud: LocalCloud, statements: list[dict[str, object]]) -> str:
    iam = cloud.client("iam")
    arn = iam.create_role(RoleName="probe", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(
        RoleName="probe",
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    return str(arn)


def test_each_action_and_resource_gets_its_decision(cloud: LocalCloud) -> None:
    role = _role(
        cloud,
        [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "*"},
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::other/*",
                "Condition": {"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}},
            },
        ],
    )
    results = cloud.client("iam").simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:PutObject", "s3:DeleteObject", "s3:GetObject"],
        ResourceArns=["arn:aws:s3:::b/k", "arn:aws:s3:::other/k"],
    )["EvaluationResults"]
    decisions = {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in results}
    assert decisions == {
        ("s3:PutObject", "arn:aws:s3:::b/k"): "allowed",
        ("s3:PutObject", "arn:aws:s3:::other/k"): "implicitDeny",
        ("s3:DeleteObject", "arn:aws:s3:::b/k"): "explicitDeny",
        ("s3:DeleteObject", "arn:aws:s3:::other/k"): "explicitDeny",
        ("s3:GetObject", "arn:aws:s3:::b/k"): "allowed",
        ("s3:GetObject", "arn:aws:s3:::other/k"): "implicitDeny",
    }
    allowed = next(r for r in results if r["EvalDecision"] == "allowed")
    assert allowed["MatchedStatements"][0]["SourcePolicyId"].startswith("probe/p")
    # a context entry satisfies the condition
    [with_context] = cloud.client("iam").simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::other/k"],
        ContextEntries=[
            {
                "ContextKeyName": "kms:ViaService",
                "ContextKeyValues": ["s3.eu-central-1.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ],
    )["EvaluationResults"]
    assert with_context["EvalDecision"] == "allowed"


def test_an_unknown_role_is_no_such_entity(cloud: LocalCloud) -> None:
    with pytest.raises(ClientError) as raised:
        cloud.client("iam").simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{cloud.account_id}:role/nobody",
            ActionNames=["s3:PutObject"],
        )
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
