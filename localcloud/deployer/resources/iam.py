"""IAM roles, inline policies and managed policies."""

from __future__ import annotations

import re
from typing import Any

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, json_text
from localcloud.intrinsics import TemplateError


def _identity_policy(document: Any) -> str | None:
    """An IAM policy document as moto accepts it.

    SAM writes its policy templates without ``Version``; IAM accepts that, moto 5.2.5
    rejects it (MalformedPolicyDocument), so a missing Version gets IAM's current one.
    """
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return json_text(document)


_AWS_MANAGED_POLICY = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/.+")


def _attach(ctx: Context, role: str, policy_arns: list[str]) -> list[str]:
    """Attach managed policies to a role; return the AWS managed ones, which are recorded.

    moto 5 holds AWS managed policies only when ``iam.load_aws_managed_policies`` is set
    (which costs every cloud a fifth of a second), so AWS managed policies are kept on the
    stack and handed to the cloud's IAM enforcement (which reads their documents from moto's
    data); the account's own policies are attached.
    """
    aws_managed = [arn for arn in policy_arns if _AWS_MANAGED_POLICY.fullmatch(arn)]
    for arn in policy_arns:
        if not arn.startswith("arn:"):
            raise TemplateError(f"managed policy {arn!r} is neither an ARN nor an AWS policy name")
        if arn not in aws_managed:
            ctx.call("iam", "attach_role_policy", RoleName=role, PolicyArn=arn)
    return aws_managed


@creates(
    passes="Path Description MaxSessionDuration PermissionsBoundary Tags",
    applies="RoleName AssumeRolePolicyDocument Policies ManagedPolicyArns",
)
def role(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("RoleName") or ctx.name(res.logical_id, 64)
    role = ctx.call(
        "iam",
        "create_role",
        RoleName=name,
        AssumeRolePolicyDocument=json_text(res.require("AssumeRolePolicyDocument")),
        **res.passed,
    )["Role"]
    for policy in p.get("Policies", []):
        ctx.call(
            "iam",
            "put_role_policy",
            RoleName=name,
            PolicyName=policy["PolicyName"],
            PolicyDocument=_identity_policy(policy["PolicyDocument"]),
        )
    aws_managed = _attach(ctx, name, p.get("ManagedPolicyArns", []))
    ctx.cloud.iam.register_role(role["Arn"], res.logical_id, aws_managed)
    return Created(
        name,
        {"Arn": role["Arn"], "RoleId": role["RoleId"]},
        recorded={"ManagedPolicyArns": aws_managed} if aws_managed else {},
    )


@creates(applies="PolicyName PolicyDocument Roles")
def role_policy(ctx: Context, res: Resource) -> Created:
    document = _identity_policy(res.require("PolicyDocument"))
    for role in res.require("Roles"):
        ctx.call(
            "iam",
            "put_role_policy",
            RoleName=role,
            PolicyName=res.require("PolicyName"),
            PolicyDocument=document,
        )
    physical_id = ctx.name(res.logical_id, 128)
    return Created(physical_id, {"Id": physical_id})


@creates(
    passes="Path Description",
    applies="ManagedPolicyName PolicyDocument Roles",
)
def managed_policy(ctx: Context, res: Resource) -> Created:
    p = res.properties
    arn = ctx.call(
        "iam",
        "create_policy",
        PolicyName=p.get("ManagedPolicyName") or ctx.name(res.logical_id, 128),
        PolicyDocument=_identity_policy(res.require("PolicyDocument")),
        **res.passed,
    )["Policy"]["Arn"]
    for role in p.get("Roles", []):
        _attach(ctx, role, [arn])
    return Created(arn, {"PolicyArn": arn})
