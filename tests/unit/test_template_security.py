"""Security properties of template.yaml and the rendered policy stack, checked structurally.

Each check is a function that returns the violations it finds, so every test runs it twice:
on the real template (no violations) and on a mutated copy (the violation it exists to
catch). docs/security.md explains the properties; this file keeps them true.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import REPO_ROOT
from localcloud.intrinsics import load_template
from tests.unit.template_checks import (
    CHECKS,
    KEY,
    KEY_ARN,
    Check,
    Template,
    _resources,
    actions,
    grants_that_grant_nothing,
    identity_statements,
    key_grants,
    loose_event_patterns,
    open_resource_policies,
    secret_readers,
    stores_without_tls_only_policy,
    unencrypted_stores,
    unjustified_star_resources,
    unscoped_send_command,
    wildcard_actions,
)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO_ROOT / "template.yaml")


@pytest.fixture(scope="module")
def policy_stack() -> Template:
    return load_template(REPO_ROOT / "policy" / "rendered" / "fleet-policy.yaml")


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_template_has_no_violations(template: Template, check: Check) -> None:
    assert check(template) == []


# --- every check catches what it is for ----------------------------------------------------


def _role_statements(template: Template, role: str) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = template["Resources"][role]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    return statements


def _add_statement(role: str, statement: dict[str, Any]) -> Callable[[Template], None]:
    def mutate(template: Template) -> None:
        _role_statements(template, role).append(statement)

    return mutate


def _drop_tag_condition(template: Template) -> None:
    for statement in _role_statements(template, "PatchBatchFunctionRole"):
        if statement.get("Sid") == "SendToInstancesWithPatchGroupTag":
            del statement["Condition"]


def _any_document(template: Template) -> None:
    for statement in _role_statements(template, "PatchNewInstanceStateMachineRole"):
        if statement.get("Sid") == "SendPatchBaselineDocument":
            statement["Resource"] = {
                "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}::document/*"
            }


def _prefix_source(template: Template) -> None:
    pattern = template["Resources"]["InstanceRunningRule"]["Properties"]["EventPattern"]
    pattern["source"] = [{"prefix": "aws."}]


def _unencrypted_queue(template: Template) -> None:
    del template["Resources"]["PatchOnLaunchFunctionDeadLetterQueue"]["Properties"][
        "KmsMasterKeyId"
    ]


def _no_pitr(template: Template) -> None:
    del template["Resources"]["StateTable"]["Properties"]["PointInTimeRecoverySpecification"]


def _s3_managed_artifacts(template: Template) -> None:
    [rule] = template["Resources"]["ArtifactsBucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    rule["ServerSideEncryptionByDefault"] = {"SSEAlgorithm": "AES256"}


def _no_tls_deny_on_queue(template: Template) -> None:
    document = template["Resources"]["WindowExecutionEventsDeadLetterQueuePolicy"]["Properties"][
        "PolicyDocument"
    ]
    document["Statement"] = [s for s in document["Statement"] if s.get("Effect") != "Deny"]


def _topic_open_to_everyone(template: Template) -> None:
    document = template["Resources"]["ReportsTopicPolicy"]["Properties"]["PolicyDocument"]
    document["Statement"].append(
        {"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": "x"}
    )


def _publisher_without_key(template: Template) -> None:
    statements = _role_statements(template, "EvaluateGateFunctionRole")
    statements[:] = [s for s in statements if not any(a.startswith("kms:") for a in actions(s))]


MUTATIONS: list[tuple[str, Check, Callable[[Template], None]]] = [
    (
        "action wildcard",
        wildcard_actions,
        _add_statement(
            "BatchGateFunctionRole", {"Effect": "Allow", "Action": "ssm:*", "Resource": "x"}
        ),
    ),
    (
        "write on star",
        unjustified_star_resources,
        _add_statement(
            "BatchGateFunctionRole",
            {"Effect": "Allow", "Action": "ssm:StartAutomationExecution", "Resource": "*"},
        ),
    ),
    (
        "task tokens scoped to a state machine",
        grants_that_grant_nothing,
        _add_statement(
            "CommandStatusFunctionRole",
            {
                "Effect": "Allow",
                "Action": "states:SendTaskSuccess",
                "Resource": {"Ref": "PatchNewInstanceStateMachine"},
            },
        ),
    ),
    ("SendCommand to untagged instances", unscoped_send_command, _drop_tag_condition),
    ("SendCommand of any document", unscoped_send_command, _any_document),
    ("prefix source", loose_event_patterns, _prefix_source),
    ("unencrypted queue", unencrypted_stores, _unencrypted_queue),
    ("no point-in-time recovery", unencrypted_stores, _no_pitr),
    ("S3-managed artifacts", unencrypted_stores, _s3_managed_artifacts),
    ("queue without TLS deny", stores_without_tls_only_policy, _no_tls_deny_on_queue),
    ("topic open to everyone", open_resource_policies, _topic_open_to_everyone),
    (
        "a second secret reader",
        secret_readers,
        _add_statement(
            "PublishReportFunctionRole",
            {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": {"Fn::GetAtt": ["FleetPolicy", "Outputs.SlackWebhookSecretArn"]},
            },
        ),
    ),
    (
        "key use through any service",
        key_grants,
        _add_statement(
            "RecordPromotionFunctionRole",
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY_ARN},
        ),
    ),
    ("table writer without the key", key_grants, _publisher_without_key),
]


@pytest.mark.parametrize(
    ("check", "mutate"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_each_check_catches_its_violation(
    template: Template, check: Check, mutate: Callable[[Template], None]
) -> None:
    mutated = copy.deepcopy(template)
    mutate(mutated)
    assert check(mutated) != []


# --- roles, the key policy and the policy stack ------------------------------------------------


def test_every_function_has_its_own_role_from_this_template(template: Template) -> None:
    # SAM's Policies property would generate statements these checks never see.
    roles = []
    for function, properties in _resources(template, "AWS::Serverless::Function"):
        assert "Policies" not in properties, function
        role = properties["Role"]
        assert role == {"Fn::GetAtt": [f"{function}Role", "Arn"]}, function
        roles.append(role)
    assert len(roles) == len({repr(r) for r in roles})


def test_service_principals_use_the_key_only_for_this_stage(template: Template) -> None:
    statements = template["Resources"][KEY]["Properties"]["KeyPolicy"]["Statement"]
    for statement in statements:
        principal = statement["Principal"]
        if "Service" in principal:
            # A service may use the key only on behalf of this stage's resources.
            conditions = statement["Condition"]
            keys = {k for test in conditions.values() for k in test}
            assert keys & {"aws:SourceArn", "kms:EncryptionContext:aws:logs:arn"}, statement["Sid"]
        else:
            # The account root: lets IAM policies (the roles above) grant use of the key.
            assert principal == {
                "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            }


def test_the_organization_may_subscribe_only_when_named(template: Template) -> None:
    statements = template["Resources"]["ReportsTopicPolicy"]["Properties"]["PolicyDocument"][
        "Statement"
    ]
    [shared] = [s for s in statements if "Fn::If" in s]
    condition, allow, otherwise = shared["Fn::If"]
    assert condition == "SharesReportsWithOrganization"
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert allow["Action"] == "sns:Subscribe"
    assert allow["Condition"]["StringEquals"]["sns:Protocol"] == ["sqs", "lambda"]
    assert template["Parameters"]["ReportsOrganizationId"]["Default"] == ""


def test_the_policy_stack_grants_nothing_and_its_windows_only_start_waves(
    policy_stack: Template, template: Template
) -> None:
    kinds = {r["Type"] for r in policy_stack["Resources"].values()}
    assert not {k for k in kinds if k.startswith("AWS::IAM::")}
    tasks = list(_resources(policy_stack, "AWS::SSM::MaintenanceWindowTask"))
    assert tasks
    for task, properties in tasks:
        # A window patches nothing itself: it invokes the start-wave function, as the
        # stack's window task role, and the run patches with the control plane's membership.
        assert properties["TaskType"] == "LAMBDA", task
        assert properties["TaskArn"] == {"Ref": "StartWaveFunctionArn"}, task
        assert properties["ServiceRoleArn"] == {"Ref": "WindowTaskRoleArn"}, task
    role = template["Resources"]["WindowTaskRole"]["Properties"]
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert (
        statement["Resource"]
        == template["Resources"]["FleetPolicy"]["Properties"]["Parameters"]["StartWaveFunctionArn"]
    )


def test_lifecycle_actions_are_limited_to_the_launch_policy_groups(
    template: Template, policy_stack: Template
) -> None:
    groups = {"Fn::Split": [",", {"Fn::GetAtt": ["FleetPolicy", "Outputs.LaunchGroupArns"]}]}
    lifecycle = [
        (role, s)
        for role, s in identity_statements(template)
        if any(a.startswith("autoscaling:") and "Lifecycle" in a for a in actions(s))
    ]
    assert {role for role, _ in lifecycle} == {
        "PatchNewInstanceStateMachineRole",
        "LaunchHeartbeatSchedulerRole",
    }
    assert all(s["Resource"] == groups for _, s in lifecycle)
    # policy/fleet.yaml names its groups: the ARNs name them too.
    joined = policy_stack["Outputs"]["LaunchGroupArns"]["Value"]["Fn::Join"][1]
    names = [str(arn["Fn::Sub"]).rsplit("/", 1)[1] for arn in joined]
    assert names == ["web-test", "web-prod"]


def test_every_queue_is_an_output_that_doctor_and_status_watch(template: Template) -> None:
    # `fleetpatch doctor` and `fleetpatch status` find the dead-letter queues by the stack's
    # outputs: a queue without one is a dead letter nobody is told about.
    queues = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"}
    outputs = {
        value["Value"]["Ref"]
        for value in template["Outputs"].values()
        if isinstance(value.get("Value"), dict) and "Ref" in value["Value"]
    }
    assert queues - outputs == set()
