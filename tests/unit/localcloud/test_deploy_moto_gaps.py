"""Canaries: the moto 5.2.5 behaviours localcloud.deployer compensates for, still as they were.

When one of these fails after a moto upgrade, the compensation named in the test can go.
"""

from __future__ import annotations

import inspect
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from localcloud.cloud import LocalCloud


def test_patch_baselines_cannot_be_tagged() -> None:
    # deploy records AWS::SSM::PatchBaseline Tags instead of applying them. Read from
    # moto's source: the SSM extension (installed process-wide once any LocalCloud ran)
    # fills the gap, so plain moto's behaviour is no longer observable through calls.
    from moto.ssm import models

    # The module file, not the (possibly patched) method.
    module_source = inspect.getsource(models)
    start = module_source.index("    def _validate_resource_type_and_id(")
    source = module_source[start : module_source.index("\n    def ", start + 1)]
    assert '"PatchBaseline",' in source
    assert 'if resource_type == "PatchBaseline"' not in source
    assert "raise InvalidResourceId()" in source.rsplit("else:", 1)[1]


def test_default_patch_baseline_cannot_be_registered() -> None:
    # deploy records AWS::SSM::PatchBaseline DefaultBaseline (see the test above for why
    # this reads moto's source).
    from moto.ssm import responses

    assert "def register_default_patch_baseline" not in inspect.getsource(responses)


def test_iam_rejects_policies_without_version(cloud: LocalCloud) -> None:
    # deploy gives SAM's version-less policy documents Version 2012-10-17.
    iam = cloud.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    statement = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    with pytest.raises(ClientError, match="MalformedPolicyDocument"):
        iam.put_role_policy(
            RoleName="r", PolicyName="p", PolicyDocument=json.dumps({"Statement": [statement]})
        )


def test_aws_managed_policies_are_not_loaded(cloud: LocalCloud) -> None:
    # deploy records AWS managed policy ARNs of roles instead of attaching them.
    iam = cloud.client("iam")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17"}))
    with pytest.raises(ClientError, match="NoSuchEntity"):
        iam.attach_role_policy(
            RoleName="r",
            PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        )


def test_bucket_policy_conditions_are_ignored() -> None:
    # moto's own bucket-policy check ignores conditions: this "deny unless TLS" statement
    # denies every request. localcloud/adapters/s3_policies.py makes that check neutral on the
    # local cloud (the IAM enforcer decides), so the deployer can store policies whole.
    from moto.s3.models import FakeBucket

    check = getattr(FakeBucket.get_permission, "_fleetpatch_original", FakeBucket.get_permission)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-central-1")
        s3.create_bucket(
            Bucket="canary-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        statement = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": ["arn:aws:s3:::canary-bucket", "arn:aws:s3:::canary-bucket/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        s3.put_bucket_policy(
            Bucket="canary-bucket",
            Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
        )
        from moto.iam.access_control import PermissionResult
        from moto.s3.models import s3_backends

        bucket = s3_backends["123456789012"]["aws"].get_bucket("canary-bucket")
        assert check(bucket, "s3:PutObject", "arn:aws:s3:::canary-bucket/k") == (
            PermissionResult.DENIED
        )
