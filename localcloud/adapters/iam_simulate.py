"""iam:SimulatePrincipalPolicy, answered by the local cloud's own IAM (moto lacks it).

AWS (IAM API reference, SimulatePrincipalPolicy): the policies attached to the user, group
or role named by ``PolicySourceArn`` are evaluated for each action in ``ActionNames`` on each
resource in ``ResourceArns`` (``*`` when none), with the ``ContextEntries`` given as
condition keys; resource-based policies only when ``ResourcePolicy`` is passed. Each
result says ``allowed``, ``explicitDeny`` or ``implicitDeny`` and the statements that
decided it. An ARN that names no such role is ``NoSuchEntity`` (404). The local cloud
evaluates with the same rules it enforces every call with (localcloud/core/iam/policy.py),
so ``fleetpatch doctor`` asks it what it would ask AWS.
"""

from __future__ import annotations

from typing import Any

from localcloud.core import motopatch
from localcloud.core.iam import enforcer as iam_enforcer
from localcloud.core.iam import policy
from localcloud.core.iam.principal import Principal

TAG = "_fleetpatch_iam_simulate"


def _context(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        str(entry["ContextKeyName"]): [str(v) for v in entry.get("ContextKeyValues", [])]
        for entry in entries
    }


def _result(action: str, resource: str, decision: policy.Decision) -> dict[str, Any]:
    if decision.allowed:
        verdict = "allowed"
    elif decision.explicit_deny:
        verdict = "explicitDeny"
    else:
        verdict = "implicitDeny"
    return {
        "EvalActionName": action,
        "EvalResourceName": resource,
        "EvalDecision": verdict,
        "MatchedStatements": [
            {"SourcePolicyId": ref.policy, "SourcePolicyType": "IAM Policy"}
            for ref in decision.statements
        ],
        "MissingContextValues": [],
    }


def simulate(
    role_arn: str,
    actions: list[str],
    resources: list[str],
    context_entries: list[dict[str, Any]],
    resource_policy: str | None,
) -> list[dict[str, Any]]:
    """The evaluation results, in AWS's order (by action, then by resource)."""
    enforcer = iam_enforcer.active()
    if enforcer is None:
        raise RuntimeError("the local cloud's IAM is not running")
    principal = Principal.role(role_arn, org_id=enforcer.org_id)
    identity = enforcer.identity_statements(principal)
    resource_statements = (
        policy.parse_policy(resource_policy, "ResourcePolicy", resource_policy=True)
        if resource_policy
        else None
    )
    keys = enforcer.principal_keys(principal) | _context(context_entries)
    results = []
    for action in actions:
        for resource in resources or ["*"]:
            request = policy.Request(action, resource, policy.ConditionContext(keys))
            decision = policy.evaluate(principal, request, identity, resource_statements)
            results.append(_result(action, resource, decision))
    return results


def install() -> None:
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import NotFoundException
    from moto.iam.responses import IamResponse

    def simulate_principal_policy(self: Any) -> Any:
        source = str(self._get_param("PolicySourceArn") or "")
        role_name = source.rsplit("/", 1)[-1]
        missing = NotFoundException(f"The role with name {role_name} cannot be found.")
        if ":role/" not in source:
            raise missing
        try:
            self.backend.get_role(role_name)
        except NotFoundException:
            raise missing from None
        results = simulate(
            source,
            list(self._get_param("ActionNames", [])),
            list(self._get_param("ResourceArns", [])),
            list(self._get_param("ContextEntries", [])),
            self._get_param("ResourcePolicy"),
        )
        return ActionResult({"EvaluationResults": results, "IsTruncated": False})

    motopatch.replace(IamResponse, "simulate_principal_policy", simulate_principal_policy, tag=TAG)
