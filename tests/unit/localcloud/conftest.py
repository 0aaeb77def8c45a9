"""Helpers for local cloud tests: a running cloud and small deployable pieces."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.adapters.awslambda import FunctionSpec
from localcloud.cloud import LocalCloud

# The test role: every service that runs code here may assume it, and it may do anything
# (these tests are about the local cloud's mechanics; least privilege is the template's).
ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {
                    "Service": [
                        "lambda.amazonaws.com",
                        "states.amazonaws.com",
                        "scheduler.amazonaws.com",
                        "events.amazonaws.com",
                    ]
                },
                "Action": "sts:AssumeRole",
            }
        ],
    }
)
ANYTHING = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        yield running


def role_arn(cloud: LocalCloud) -> str:
    iam = cloud.client("iam")
    try:
        return str(iam.get_role(RoleName="test-role")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName="test-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"][
            "Arn"
        ]
        iam.put_role_policy(RoleName="test-role", PolicyName="anything", PolicyDocument=ANYTHING)
        return str(arn)


def deploy_function(cloud: LocalCloud, name: str, code_dir: Path, **spec: Any) -> str:
    """Create a function in moto and register its real code with the local runtime."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app.py", "# the local runtime runs the code from its directory\n")
    cloud.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role_arn(cloud),
        Handler="app.lambda_handler",
        Code={"ZipFile": archive.getvalue()},
    )
    # EventBridge rules and SNS topics of the account may invoke it (as SAM's event sources
    # allow their own rule or topic).
    for service in ("events.amazonaws.com", "sns.amazonaws.com"):
        cloud.client("lambda").add_permission(
            FunctionName=name,
            StatementId=service.split(".")[0],
            Action="lambda:InvokeFunction",
            Principal=service,
            SourceAccount=cloud.account_id,
        )
    spec.setdefault("role_arn", role_arn(cloud))
    cloud.lambdas.register(FunctionSpec(name, code_dir, "app.lambda_handler", **spec))
    return cloud.lambdas.arn(name)


def create_state_machine(
    cloud: LocalCloud, definition: dict[str, Any], name: str = "test-machine"
) -> str:
    return str(
        cloud.client("stepfunctions").create_state_machine(
            name=name, definition=json.dumps(definition), roleArn=role_arn(cloud)
        )["stateMachineArn"]
    )


def run_to_end(cloud: LocalCloud, machine_arn: str, payload: Any) -> dict[str, Any]:
    sfn = cloud.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(payload))[
        "executionArn"
    ]
    cloud.settle()
    return dict(sfn.describe_execution(executionArn=execution))


def history_types(cloud: LocalCloud, execution_arn: str) -> list[str]:
    pages = (
        cloud.client("stepfunctions")
        .get_paginator("get_execution_history")
        .paginate(executionArn=execution_arn, maxResults=1000)
    )
    return [event["type"] for page in pages for event in page["events"]]
