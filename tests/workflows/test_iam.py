"""The template's roles may make the calls the main paths make, as IAM authorizes them on AWS.

Each case is a call the control plane makes, made as the role that makes it on the
deployed template, with IAM enforced by the local cloud. The first four were denied by the
template before issue 15 (the Service Authorization Reference lists no resource types for
these actions, so a grant scoped to ARNs grants nothing; SendCommand's resources include the
output bucket and hybrid nodes): every launch was abandoned, every task token left waiting
for its fallback, every wave held after its first batch.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from localcloud.core.iam.principal import acting_as
from tests.workflows.conftest import Deployed

SERVICE_OF = {
    "ResolveInstanceFunctionRole": "lambda.amazonaws.com",
    "CommandStatusFunctionRole": "lambda.amazonaws.com",
    "AwaitCommandFunctionRole": "lambda.amazonaws.com",
    "EvaluateGateFunctionRole": "lambda.amazonaws.com",
    "PublishReportFunctionRole": "lambda.amazonaws.com",
    "PatchBatchFunctionRole": "lambda.amazonaws.com",
    "PatchNewInstanceStateMachineRole": "states.amazonaws.com",
}


def call_as(deployed: Deployed, role: str, service: str, method: str, **params: Any) -> str:
    """Make the call as the role; the error code AWS answers with (never AccessDenied here)."""
    arn = deployed.stack.arn(role)
    principal = deployed.cloud.iam.assume(arn, SERVICE_OF[role])
    with acting_as(principal):
        try:
            getattr(deployed.cloud.client(service), method)(**params)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
    return "ok"


def send_command(deployed: Deployed, role: str, instance_ids: list[str]) -> str:
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    return call_as(
        deployed,
        role,
        "ssm",
        "send_command",
        DocumentName="AWS-RunPatchBaseline",
        InstanceIds=instance_ids,
        Parameters={"Operation": ["Install"]},
        OutputS3BucketName=bucket,
        OutputS3KeyPrefix="commands/probe",
    )


@pytest.mark.parametrize("role", ["CommandStatusFunctionRole", "AwaitCommandFunctionRole"])
def test_the_functions_that_resume_task_tokens_may(deployed: Deployed, role: str) -> None:
    # When a status resumes a waiting run (an unknown token: Step Functions answers for it)
    code = call_as(
        deployed, role, "stepfunctions", "send_task_success", taskToken="t" * 64, output="{}"
    )
    failed = call_as(
        deployed, role, "stepfunctions", "send_task_failure", taskToken="t" * 64, error="E"
    )
    # Then IAM lets the call through: SendTaskSuccess/Failure are authorized on "*"
    assert code != "AccessDeniedException"
    assert failed != "AccessDeniedException"


def test_resolve_instance_may_read_a_patch_groups_baseline(deployed: Deployed) -> None:
    code = call_as(
        deployed,
        "ResolveInstanceFunctionRole",
        "ssm",
        "get_patch_baseline_for_patch_group",
        PatchGroup="patch_test_0600_batch_1",
        OperatingSystem="AMAZON_LINUX_2",
    )
    assert code == "ok"


@pytest.mark.parametrize("role", ["EvaluateGateFunctionRole", "PublishReportFunctionRole"])
def test_the_gate_and_the_report_may_read_a_windows_task_evidence(
    deployed: Deployed, role: str
) -> None:
    tasks = call_as(
        deployed,
        role,
        "ssm",
        "describe_maintenance_window_execution_tasks",
        WindowExecutionId="0123abcd-0123-4567-89ab-0123456789ab",
    )
    invocations = call_as(
        deployed,
        role,
        "ssm",
        "describe_maintenance_window_execution_task_invocations",
        WindowExecutionId="0123abcd-0123-4567-89ab-0123456789ab",
        TaskId="0123abcd-0123-4567-89ab-0123456789ab",
    )
    assert tasks != "AccessDeniedException"
    assert invocations != "AccessDeniedException"


@pytest.mark.parametrize("role", ["PatchBatchFunctionRole", "PatchNewInstanceStateMachineRole"])
@pytest.mark.parametrize("tag", ["Patch Group", "PatchGroup"])
@pytest.mark.parametrize("node", ["i-0123456789abcdef0", "mi-0123456789abcdef0"])
def test_patch_commands_may_write_their_output_to_nodes_of_either_tag_spelling(
    deployed: Deployed, role: str, tag: str, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an EC2 instance or a hybrid node with a patch group under either tag key (Patch
    # Manager reads both). The fleet simulator registers no hybrid nodes and moto refuses
    # tags for unknown ones, so the tag lookups answer for the node.
    tags = {tag: "patch_test_0600_batch_1"}
    monkeypatch.setattr(deployed.cloud.iam, "managed_node_tags", lambda node_id: tags)
    monkeypatch.setattr(deployed.cloud.iam, "instance_tags", lambda ids: {i: tags for i in ids})
    # When a patch command with output to the artifacts bucket goes to it
    code = send_command(deployed, role, [node])
    # Then IAM allows it (SSM itself then refuses a node it does not know)
    assert code != "AccessDeniedException"


def test_a_node_without_a_patch_group_cannot_be_sent_a_patch_command(
    deployed: Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deployed.cloud.iam, "instance_tags", lambda ids: {i: {} for i in ids})
    deployed.cloud.iam.denials_expected = True
    assert send_command(deployed, "PatchBatchFunctionRole", ["i-0123456789abcdef0"]) == (
        "AccessDeniedException"
    )


def test_the_template_before_issue_15_is_refused_as_aws_refuses_it(deployed: Deployed) -> None:
    # The probe is known to fail: a role scoped like the old grant is denied.
    iam = deployed.cloud.client("iam")
    role = deployed.stack.physical_id("ResolveInstanceFunctionRole")
    iam.put_role_policy(
        RoleName=role,
        PolicyName="logs-and-read-instances",
        PolicyDocument=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", '
            '"Action": "ssm:GetPatchBaselineForPatchGroup", '
            '"Resource": "arn:aws:ssm:eu-central-1:123456789012:patchbaseline/*"}]}'
        ),
    )
    deployed.cloud.iam.denials_expected = True
    code = call_as(
        deployed,
        "ResolveInstanceFunctionRole",
        "ssm",
        "get_patch_baseline_for_patch_group",
        PatchGroup="patch_test_0600_batch_1",
    )
    assert code == "AccessDeniedException"
