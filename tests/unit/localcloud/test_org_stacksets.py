"""Service-managed StackSets on the local cloud (localcloud.org.stacksets): who gets a stack
instance, with which parameters, and what CreateStackSet refuses, as the CloudFormation API
reference and user guide say."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.org.organization import Organization

REGIONS = ["eu-central-1", "eu-west-1"]
TOPIC = {
    "Parameters": {"Name": {"Type": "String", "Default": "a"}},
    "Resources": {
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "t-${Name}"}}}
    },
}


@pytest.fixture
def org() -> Iterator[Organization]:
    with Organization() as organization:
        yield organization


def _create(org: Organization, template: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    arguments: dict[str, Any] = {
        "StackSetName": "s",
        "TemplateBody": json.dumps(template),
        "PermissionModel": "SERVICE_MANAGED",
        "AutoDeployment": {"Enabled": True},
        **kwargs,
    }
    return org.stack_sets.create_stack_set(**arguments)


def _topics(org: Organization, account: str, region: str) -> list[str]:
    with org.using(account, region) as cloud:
        return [
            t["TopicArn"].rsplit(":", 1)[-1] for t in cloud.client("sns").list_topics()["Topics"]
        ]


def _where(org: Organization) -> list[tuple[str, str, str]]:
    summaries = org.stack_sets.list_stack_instances(StackSetName="s")["Summaries"]
    return sorted((s["Account"], s["Region"], s["Status"]) for s in summaries)


def test_instances_go_to_every_account_under_the_target_ou_in_each_region(
    org: Organization,
) -> None:
    # Given an OU with an account and a child OU with another, and accounts elsewhere
    ou = org.create_organizational_unit("workloads")
    child = org.create_organizational_unit("team", ou)
    direct, nested = org.create_account("a", ou), org.create_account("b", child)
    elsewhere = org.create_account("c", org.create_organizational_unit("sandbox"))
    _create(org, TOPIC)
    # When the set deploys to the OU, with an override
    org.stack_sets.create_stack_instances(
        StackSetName="s",
        DeploymentTargets={"OrganizationalUnitIds": [ou]},
        Regions=REGIONS,
        ParameterOverrides=[{"ParameterKey": "Name", "ParameterValue": "b"}],
    )
    # Then both accounts under it have the stack in both regions, with the override; the
    # account elsewhere and the management account have nothing
    assert _where(org) == sorted((a, r, "CURRENT") for a in (direct, nested) for r in REGIONS)
    assert _topics(org, nested, "eu-west-1") == ["t-b"]
    assert _topics(org, elsewhere, "eu-west-1") == []
    assert _topics(org, org.management_account, "eu-central-1") == []


def test_an_account_moved_into_the_ou_gets_the_instances_only_with_auto_deployment(
    org: Organization,
) -> None:
    ou = org.create_organizational_unit("workloads")
    sandbox = org.create_organizational_unit("sandbox")
    org.create_account("a", ou)
    late = org.create_account("late", sandbox)
    _create(org, TOPIC)
    org.stack_sets.create_stack_instances(
        StackSetName="s", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=REGIONS[:1]
    )
    assert late not in [a for a, _, _ in _where(org)]
    org.move_account(late, ou)
    assert (late, REGIONS[0], "CURRENT") in _where(org)
    assert _topics(org, late, REGIONS[0]) == ["t-a"]


def test_without_auto_deployment_a_new_account_gets_nothing(org: Organization) -> None:
    ou = org.create_organizational_unit("workloads")
    org.create_account("a", ou)
    _create(org, TOPIC, AutoDeployment={"Enabled": False})
    org.stack_sets.create_stack_instances(
        StackSetName="s", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=REGIONS[:1]
    )
    late = org.create_account("late", ou)
    assert late not in [a for a, _, _ in _where(org)]


ROLE = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}}


@pytest.mark.parametrize(
    ("template", "kwargs", "code", "message"),
    [
        (
            {"Transform": "AWS::Serverless-2016-10-31", **TOPIC},
            {},
            "ValidationError",
            "Transform is not supported in SERVICE_MANAGED permission model",
        ),
        (
            {"Resources": {"F": {"Type": "AWS::Serverless::Function"}}},
            {},
            "ValidationError",
            "Template format error: Unrecognized resource types: [AWS::Serverless::Function]",
        ),
        (
            {"Resources": {"R": ROLE}},
            {},
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_IAM]",
        ),
        (
            {"Resources": {"R": {**ROLE, "Properties": {"RoleName": "x"}}}},
            {"Capabilities": ["CAPABILITY_IAM"]},
            "InsufficientCapabilitiesException",
            "Requires capabilities : [CAPABILITY_NAMED_IAM]",
        ),
        (
            TOPIC,
            {"Parameters": [{"ParameterKey": "Nope", "ParameterValue": "x"}]},
            "ValidationError",
            "Parameters: [Nope] do not exist in the template",
        ),
        (
            {**TOPIC, "Description": "x" * 51_200},
            {},
            "ValidationError",
            "1 validation error detected: Value at 'templateBody' failed to satisfy "
            "constraint: Member must have length less than or equal to 51200",
        ),
    ],
)
def test_create_stack_set_refuses_as_aws_does(
    org: Organization, template: dict[str, Any], kwargs: dict[str, Any], code: str, message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        _create(org, template, **kwargs)
    assert refused.value.response["Error"] == {"Code": code, "Message": message}


def test_a_nested_stack_fails_its_instances(org: Organization) -> None:
    ou = org.create_organizational_unit("workloads")
    account = org.create_account("a", ou)
    nested = {
        "Resources": {
            "N": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": "https://b.s3.amazonaws.com/t.yaml"},
            }
        }
    }
    _create(org, nested)
    org.stack_sets.create_stack_instances(
        StackSetName="s", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=REGIONS[:1]
    )
    [instance] = org.stack_sets.list_stack_instances(StackSetName="s")["Summaries"]
    assert (instance["Account"], instance["Status"]) == (account, "OUTDATED")
    assert instance["StackInstanceStatus"] == {"DetailedStatus": "FAILED"}
    assert "cannot provision nested stacks" in instance["StatusReason"]


# --- code in the management account's buckets -----------------------------------------------


def _code_bucket(org: Organization, region: str, *, org_may_read: bool) -> None:
    """A bucket of the management account in ``region`` holding a function's zip."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    with org.using(org.management_account, region) as cloud:
        s3 = cloud.client("s3")
        s3.create_bucket(Bucket="code", CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_object(Bucket="code", Key="fn.zip", Body=archive.getvalue())
        if org_may_read:
            statement = {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": "arn:aws:s3:::code/*",
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": org.id}},
            }
            s3.put_bucket_policy(Bucket="code", Policy=json.dumps({"Statement": [statement]}))


FUNCTION = {
    "Resources": {
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ]
                }
            },
        },
        "Fn": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Code": {"S3Bucket": "code", "S3Key": "fn.zip"},
                "Handler": "app.handler",
                "Runtime": "python3.13",
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            },
        },
    }
}


@pytest.mark.parametrize(
    ("bucket_region", "org_may_read", "status", "why"),
    [
        ("eu-central-1", True, "CURRENT", ""),
        ("eu-central-1", False, "OUTDATED", "S3 Error Code: AccessDenied"),
        ("eu-west-1", True, "OUTDATED", "S3 Error Code: PermanentRedirect"),
    ],
)
def test_a_members_stack_reads_its_code_from_the_organizations_bucket_as_lambda_does(
    org: Organization, bucket_region: str, *, org_may_read: bool, status: str, why: str
) -> None:
    # Given a function's code in a bucket of the management account
    ou = org.create_organizational_unit("workloads")
    account = org.create_account("a", ou)
    _code_bucket(org, bucket_region, org_may_read=org_may_read)
    # When a StackSet deploys the function to a member in eu-central-1
    _create(org, FUNCTION, Capabilities=["CAPABILITY_IAM"])
    org.stack_sets.create_stack_instances(
        StackSetName="s", DeploymentTargets={"OrganizationalUnitIds": [ou]}, Regions=REGIONS[:1]
    )
    # Then it reads the code only from its own region, if the bucket lets the member read it
    [instance] = org.stack_sets.list_stack_instances(StackSetName="s")["Summaries"]
    assert (instance["Account"], instance["Status"]) == (account, status)
    assert why in instance["StatusReason"]
