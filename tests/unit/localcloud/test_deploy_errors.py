"""The local deploy fails early and names the problem: types, parameters, cycles, properties."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deployer.errors import DeployError
from localcloud.intrinsics import TemplateError


def template(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_unknown_resource_types_are_listed_not_skipped(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          Queue: {Type: AWS::SQS::Queue}
          Api: {Type: AWS::ApiGateway::RestApi}
          Stage: {Type: AWS::ApiGateway::Stage}
          Vpc: {Type: AWS::EC2::VPC}
        """,
    )
    with pytest.raises(
        TemplateError,
        match=r"does not support: AWS::ApiGateway::RestApi \(Api\); AWS::ApiGateway::Stage "
        r"\(Stage\); AWS::EC2::VPC \(Vpc\)",
    ):
        cloud.deploy(path)
    # Nothing was created: types are checked before the first API call.
    assert cloud.client("sqs").list_queues().get("QueueUrls", []) == []


def test_a_parameter_without_default_must_be_given(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Parameters:
          AlertEmail: {Type: String}
          Stage: {Type: String, Default: dev}
        Resources:
          Topic: {Type: AWS::SNS::Topic}
        """,
    )
    with pytest.raises(TemplateError, match=r"parameters \['AlertEmail'\] must have values"):
        cloud.deploy(path)
    with pytest.raises(TemplateError, match=r"parameters \['Nope'\] do not exist"):
        cloud.deploy(path, {"AlertEmail": "ops@example.com", "Nope": "x"})


def test_parameter_values_are_validated(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Parameters:
          Stage: {Type: String, AllowedValues: [dev, prod], Default: dev}
          Days: {Type: Number, MinValue: 1, MaxValue: 3653, Default: 30}
        Resources:
          Topic: {Type: AWS::SNS::Topic}
        """,
    )
    with pytest.raises(TemplateError, match=r"Stage='qa': must be one of \['dev', 'prod'\]"):
        cloud.deploy(path, {"Stage": "qa"})
    with pytest.raises(TemplateError, match="Days='thirty': must be a number"):
        cloud.deploy(path, {"Days": "thirty"})
    with pytest.raises(TemplateError, match="Days='0': is out of range"):
        cloud.deploy(path, {"Days": "0"})


def test_a_dependency_cycle_is_reported(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          First:
            Type: AWS::SQS::Queue
            Properties:
              RedrivePolicy: {deadLetterTargetArn: !GetAtt Second.Arn, maxReceiveCount: 3}
          Second:
            Type: AWS::SQS::Queue
            Properties:
              RedrivePolicy: {deadLetterTargetArn: !GetAtt First.Arn, maxReceiveCount: 3}
        """,
    )
    with pytest.raises(
        TemplateError, match="circular dependency between resources: First -> Second -> First"
    ):
        cloud.deploy(path)


def test_unsupported_properties_are_named(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          Bucket:
            Type: AWS::S3::Bucket
            Properties:
              WebsiteConfiguration: {IndexDocument: index.html}
        """,
    )
    with pytest.raises(
        TemplateError,
        match=r"Bucket \(AWS::S3::Bucket\): properties the local cloud does not support: "
        "WebsiteConfiguration",
    ):
        cloud.deploy(path)


def test_a_state_machine_placeholder_without_substitution_is_an_error(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          Role:
            Type: AWS::IAM::Role
            Properties:
              AssumeRolePolicyDocument: {Version: "2012-10-17", Statement: []}
          Machine:
            Type: AWS::StepFunctions::StateMachine
            Properties:
              RoleArn: !GetAtt Role.Arn
              DefinitionString: '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "${Topic}", "End": true}}}'
              DefinitionSubstitutions: {Queue: q}
        """,
    )
    with pytest.raises(
        TemplateError, match="the definition uses Topic but DefinitionSubstitutions"
    ):
        cloud.deploy(path)


def test_code_in_a_bucket_that_does_not_exist_fails_as_lambda_does(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Code in S3 (a packaged template) is read from the bucket, as Lambda reads it.
    path = template(
        tmp_path,
        """
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: s3://somewhere/code.zip
              Handler: app.handler
              Runtime: python3.13
        """,
    )
    with pytest.raises(
        TemplateError, match=r"Fn \(AWS::Lambda::Function\): .* S3 Error Code: NoSuchBucket"
    ):
        cloud.deploy(path)


def test_a_missing_code_directory_fails_like_sam_build(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: functions/missing/
              Handler: app.handler
              Runtime: python3.13
        """,
    )
    with pytest.raises(TemplateError, match=r"Fn\.CodeUri: functions/missing/ does not exist"):
        cloud.deploy(path)


def test_sam_transform_errors_are_reported(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties:
              Handler: app.handler
              Runtime: python3.13
        """,
    )
    with pytest.raises(TemplateError, match=r"the SAM transform rejected the template: .*CodeUri"):
        cloud.deploy(path)


def test_an_aws_error_names_the_resource(cloud: LocalCloud, tmp_path: Path) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          Window:
            Type: AWS::SSM::MaintenanceWindow
            Properties:
              Name: w
              Schedule: cron(0 2 ? * SUN *)
              Duration: 3
              Cutoff: 1
              AllowUnassociatedTargets: false
        """,
    )
    with pytest.raises(
        DeployError, match=r"Window \(AWS::SSM::MaintenanceWindow\) failed to create"
    ):
        cloud.deploy(path)


def test_a_nested_stack_needs_its_template_next_to_the_parent(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    path = template(
        tmp_path,
        """
        Resources:
          Policy:
            Type: AWS::CloudFormation::Stack
            Properties: {TemplateURL: policy/missing.yaml}
        """,
    )
    with pytest.raises(
        TemplateError, match=r"Policy.TemplateURL: policy/missing.yaml does not exist"
    ):
        cloud.deploy(path)
    with pytest.raises(TemplateError, match="deploys nested stacks from local paths"):
        cloud.deploy(
            template(
                tmp_path,
                """
                Resources:
                  Policy:
                    Type: AWS::CloudFormation::Stack
                    Properties: {TemplateURL: https://example.com/policy.yaml}
                """,
            )
        )
