"""IAM policy evaluation, as AWS documents it for calls within one account.

* An explicit ``Deny`` in any applicable policy wins.
* Otherwise the call is allowed when an identity policy of the calling role allows it, or a
  resource policy allows the principal itself (a service principal has no identity
  policies: only the resource policy can allow it).
* A role using a resource of another account (``resource_account``) needs both: its identity
  policy must allow the call and the resource policy must allow the role or its account.
* A KMS key policy is different: it must allow the call, either naming the principal, or
  naming the account (``arn:aws:iam::ACCOUNT:root``), which delegates to the caller's IAM
  policies.
* A statement applies when its action, resource (and principal, in a resource policy) match
  and every condition holds. A condition key this evaluator does not know is an error
  (:class:`UnknownConditionKeyError`), never a silent allow.

Pure: no AWS calls. The request's condition keys come from a :class:`ConditionContext`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from localcloud.core.iam.principal import Principal


class PolicyModelError(ValueError):
    """The policy uses something the local cloud cannot evaluate (it refuses to guess)."""


class UnknownConditionKeyError(PolicyModelError):
    """A condition key the evaluator does not know."""


# Condition keys the evaluator resolves: exact names and families (prefix + a suffix).
# Lower case: condition key names are case-insensitive in IAM.
KNOWN_KEYS = frozenset(
    {
        "aws:securetransport",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principaltype",
        "kms:viaservice",
        "kms:calleraccount",
        "iam:passedtoservice",
        "dynamodb:leadingkeys",
        "sns:protocol",
        "s3:tlsversion",
        "s3:prefix",  # ListBucket's Prefix (localcloud.core.iam.requests); absent on other calls
        # EC2 creating and tagging resources (localcloud.core.iam.requests_ec2)
        "ec2:createaction",
        "aws:tagkeys",
        # SSM GetCalendarState: the document's type (localcloud.core.iam.requests)
        "ssm:documenttype",
        # EventBridge PutEvents: the entries' sources and detail-types (issue 22)
        "events:source",
        "events:detail-type",
    }
)
KNOWN_KEY_FAMILIES = (
    "aws:resourcetag/",
    "ssm:resourcetag/",
    "autoscaling:resourcetag/",
    "ec2:resourcetag/",
    "aws:requesttag/",
    "kms:encryptioncontext:",
)


def is_known_key(key: str) -> bool:
    lower = key.lower()
    return lower in KNOWN_KEYS or any(
        lower.startswith(family) and len(lower) > len(family) for family in KNOWN_KEY_FAMILIES
    )


class ConditionContext:
    """The values of the request's condition keys; resolved lazily (tags cost a lookup)."""

    def __init__(
        self,
        values: Mapping[str, Iterable[str] | str | None] | None = None,
        resolver: Callable[[str], list[str] | None] | None = None,
    ) -> None:
        self._values: dict[str, list[str] | None] = {}
        for key, value in (values or {}).items():
            self._values[_normal_key(key)] = _as_list(value)
        self._resolver = resolver

    def get(self, key: str) -> list[str] | None:
        """The key's values, or None when the request has no such key."""
        if not is_known_key(key):
            raise UnknownConditionKeyError(
                f"condition key {key!r} is not one the local cloud evaluates "
                f"(known: {sorted(KNOWN_KEYS)} and {list(KNOWN_KEY_FAMILIES)}*)"
            )
        normal = _normal_key(key)
        if normal not in self._values:
            self._values[normal] = self._resolver(key) if self._resolver else None
        return self._values[normal]


def _normal_key(key: str) -> str:
    # The service and key name are case-insensitive; a tag key or encryption context key
    # after the family prefix is kept as written (tag keys are case-sensitive).
    lower = key.lower()
    for family in KNOWN_KEY_FAMILIES:
        if lower.startswith(family):
            return family + key[len(family) :]
    return lower


def _as_list(value: Iterable[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


# --- matching -----------------------------------------------------------------------------


def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    flags = re.IGNORECASE if ignore_case else 0
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, flags | re.DOTALL)


_GLOBS: dict[tuple[str, bool], re.Pattern[str]] = {}


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    key = (pattern, ignore_case)
    compiled = _GLOBS.get(key)
    if compiled is None:
        compiled = _GLOBS[key] = _glob(pattern, ignore_case=ignore_case)
    return compiled.fullmatch(value) is not None


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


# --- conditions ---------------------------------------------------------------------------


def _string_equals(a: str, b: str) -> bool:
    return a == b


def _string_like(a: str, pattern: str) -> bool:
    return glob_match(pattern, a)


def _ignore_case(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def _bool(a: str, b: str) -> bool:
    return a.lower() == str(b).lower()


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, str], bool]:
    def check(a: str, b: str) -> bool:
        try:
            return compare(float(a), float(b))
        except ValueError:
            return False

    return check


# operator -> (value test, negated)
_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (_string_equals, False),
    "ArnNotEquals": (_string_equals, True),
    "ArnLike": (_string_like, False),
    "ArnNotLike": (_string_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
}


def condition_holds(operator: str, key: str, expected: Any, context: ConditionContext) -> bool:
    """One ``operator: {key: values}`` entry of a Condition block, as IAM evaluates it."""
    qualifier, name, if_exists = _parse_operator(operator)
    expected_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _listed(expected)]
    actual = context.get(key)
    if name == "Null":
        want_absent = expected_values[0].lower() == "true"
        return (actual is None or actual == []) == want_absent
    if name not in _OPERATORS:
        raise PolicyModelError(f"condition operator {operator!r} is not known")
    test, negated = _OPERATORS[name]
    if actual is None:
        return _holds_without_key(qualifier, if_exists=if_exists, negated=negated)

    def matches(value: str) -> bool:
        return any(test(value, e) for e in expected_values)

    # ForAllValues: every value of the key matches; ForAnyValue (and a plain operator): one.
    over_values = all if qualifier == "ForAllValues" else any
    result = over_values(matches(v) for v in actual)
    return (not result) if negated else result


def _parse_operator(operator: str) -> tuple[str, str, bool]:
    """``ForAnyValue:StringLikeIfExists`` -> (qualifier, operator name, IfExists)."""
    qualifier = ""
    name = operator
    if ":" in operator:
        qualifier, name = operator.split(":", 1)
        if qualifier not in {"ForAllValues", "ForAnyValue"}:
            raise PolicyModelError(f"condition operator {operator!r} is not known")
    if_exists = name.endswith("IfExists")
    if if_exists:
        name = name[: -len("IfExists")]
    return qualifier, name, if_exists


def _holds_without_key(qualifier: str, *, if_exists: bool, negated: bool) -> bool:
    """A condition on a key the request does not have."""
    if if_exists or qualifier == "ForAllValues":
        return True
    # A missing key matches nothing; a negated operator then holds.
    return negated and qualifier != "ForAnyValue"


# --- statements and decisions -------------------------------------------------------------


@dataclass(frozen=True)
class StatementRef:
    """Where a statement lives: ``policy`` names the policy (role/policy name, or resource)."""

    policy: str
    index: int
    sid: str = ""

    def __str__(self) -> str:
        return f"{self.policy}#{self.index}"


@dataclass(frozen=True)
class Statement:
    ref: StatementRef
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: Mapping[str, tuple[str, ...]] | None  # None: an identity policy
    not_principal: bool
    conditions: Mapping[str, Mapping[str, Any]]

    def matches_action(self, action: str) -> bool:
        if self.actions:
            return any(glob_match(p, action, ignore_case=True) for p in self.actions)
        return not any(glob_match(p, action, ignore_case=True) for p in self.not_actions)

    def matches_resource(self, resource: str, context: ConditionContext | None = None) -> bool:
        if self.resources:
            return any(
                glob_match(p, resource)
                for p in (_with_variables(r, context) if "${" in r else r for r in self.resources)
                if p is not None
            )
        if self.not_resources:
            return not any(glob_match(p, resource) for p in self.not_resources)
        # A resource policy's statement may leave Resource out (Lambda permissions).
        return self.principals is not None

    def principal_match(self, principal: Principal) -> str | None:
        """'direct' when the statement names this principal, 'account' for its account."""
        if self.principals is None:
            return "direct"
        found = _principal_match(self.principals, principal)
        if self.not_principal:
            return None if found else "direct"
        return found

    def conditions_hold(self, context: ConditionContext) -> bool:
        return all(
            condition_holds(operator, key, expected, context)
            for operator, block in self.conditions.items()
            for key, expected in block.items()
        )


def _principal_match(principals: Mapping[str, tuple[str, ...]], principal: Principal) -> str | None:
    if principals.get("*") is not None:
        return "direct"
    if principal.kind == "service":
        return "direct" if principal.arn in principals.get("Service", ()) else None
    result = None
    for value in principals.get("AWS", ()):
        if value == "*" or value in {principal.arn, principal.caller_arn}:
            return "direct"
        if value in {principal.account, f"arn:aws:iam::{principal.account}:root"} or (
            value.endswith(":root") and value.split(":")[4] == principal.account
        ):
            result = "account"
    return result


def parse_policy(
    document: str | Mapping[str, Any], name: str, *, resource_policy: bool
) -> list[Statement]:
    """The statements of a policy document (JSON text or a dict)."""
    doc = json.loads(document) if isinstance(document, str) else dict(document)
    statements = []
    for index, raw in enumerate(_listed(doc.get("Statement"))):
        effect = raw.get("Effect")
        if effect not in {"Allow", "Deny"}:
            raise PolicyModelError(f"{name}: statement {index} has Effect {effect!r}")
        principals: dict[str, tuple[str, ...]] | None = None
        raw_principal = raw.get("Principal", raw.get("NotPrincipal"))
        if resource_policy:
            if raw_principal == "*":
                principals = {"*": ("*",)}
            elif isinstance(raw_principal, Mapping):
                principals = {
                    k: tuple(str(v) for v in _listed(vs)) for k, vs in raw_principal.items()
                }
            else:
                raise PolicyModelError(f"{name}: statement {index} has no Principal")
        conditions = raw.get("Condition") or {}
        for block in conditions.values():
            for key in block:
                if not is_known_key(key):
                    raise UnknownConditionKeyError(
                        f"{name}: statement {index} uses condition key {key!r}, which the "
                        "local cloud does not evaluate"
                    )
        statements.append(
            Statement(
                StatementRef(name, index, str(raw.get("Sid", ""))),
                effect,
                tuple(_listed(raw.get("Action"))),
                tuple(_listed(raw.get("NotAction"))),
                tuple(str(r) for r in _listed(raw.get("Resource"))),
                tuple(str(r) for r in _listed(raw.get("NotResource"))),
                principals,
                "NotPrincipal" in raw,
                conditions,
            )
        )
    return statements


@dataclass(frozen=True)
class Request:
    """One authorization question: may the principal do ``action`` on ``resource``?"""

    action: str
    resource: str  # an ARN, or "*" for actions without resource types
    context: ConditionContext


@dataclass
class Decision:
    allowed: bool
    explicit_deny: bool = False
    # the statements that allowed (or explicitly denied) it
    statements: list[StatementRef] = field(default_factory=list)
    reason: str = ""


@dataclass
class _Matched:
    """The statements that apply to a request, by what they do."""

    allows: list[StatementRef] = field(default_factory=list)  # identity-based
    delegates: list[StatementRef] = field(default_factory=list)  # resource-based, to the account
    resource_allows: list[StatementRef] = field(default_factory=list)  # resource-based, direct
    denies: list[StatementRef] = field(default_factory=list)


def evaluate(
    principal: Principal,
    request: Request,
    identity: list[Statement],
    resource_policy: list[Statement] | None,
    *,
    key_policy: bool = False,
    resource_account: str | None = None,
) -> Decision:
    """Decide one request (see the module docstring for the rules)."""
    matched = _match_statements(principal, request, identity, resource_policy)
    allows, resource_allows, denies = matched.allows, matched.resource_allows, matched.denies
    if denies:
        return Decision(
            False, True, denies, "with an explicit deny in " + ", ".join(map(str, denies))
        )
    if principal.kind == "role" and resource_account not in {None, principal.account}:
        return _cross_account_decision(matched)
    if key_policy:
        return _key_policy_decision(matched)
    if allows or resource_allows:
        return Decision(True, statements=allows + resource_allows)
    if principal.kind == "service":
        return Decision(False, reason="because no resource-based policy allows it")
    return Decision(
        False, reason=f"because no identity-based policy allows the {request.action} action"
    )


def _match_statements(
    principal: Principal,
    request: Request,
    identity: list[Statement],
    resource_policy: list[Statement] | None,
) -> _Matched:
    matched = _Matched()
    applicable = [*((s, "identity") for s in (identity if principal.kind == "role" else []))]
    applicable += [(s, "resource") for s in resource_policy or []]
    for statement, kind in applicable:
        if not (
            statement.matches_action(request.action)
            and statement.matches_resource(request.resource, request.context)
        ):
            continue
        match = statement.principal_match(principal) if kind == "resource" else "direct"
        if match is None or not statement.conditions_hold(request.context):
            continue
        if statement.effect == "Deny":
            matched.denies.append(statement.ref)
        elif kind == "identity":
            matched.allows.append(statement.ref)
        elif match == "direct":
            matched.resource_allows.append(statement.ref)
        else:
            matched.delegates.append(statement.ref)
    return matched


def _cross_account_decision(matched: _Matched) -> Decision:
    """A role using another account's resource: both accounts must allow it.

    The caller's identity policy must allow the request and the resource's policy (bucket,
    bus, key policy) must allow the role or its account (IAM User Guide, *Cross-account
    policy evaluation logic*). A key policy is the same here: it must name the external
    account or role, and the caller's own policies must allow the key's use.
    """
    trusted = matched.resource_allows + matched.delegates
    if matched.allows and trusted:
        return Decision(True, statements=trusted + matched.allows)
    if not trusted:
        return Decision(
            False, reason="because no resource-based policy allows it (a cross-account request)"
        )
    return Decision(
        False, reason="because no identity-based policy allows it (a cross-account request)"
    )


def _key_policy_decision(matched: _Matched) -> Decision:
    """A KMS key: its key policy must allow, itself or by delegating to identity policies."""
    if matched.resource_allows:
        return Decision(True, statements=matched.resource_allows)
    if matched.delegates and matched.allows:
        return Decision(True, statements=matched.delegates + matched.allows)
    if not matched.delegates:
        return Decision(False, reason="because no key policy statement allows it")
    return Decision(False, reason="because no identity-based policy allows it")


# issue 22: policy variables in Resource (IAM User Guide, "IAM policy elements: Variables
# and tags"): ``${aws:PrincipalAccount}`` is the request's value, and a key the request does
# not have makes the resource match nothing. Only single-valued keys are variables; the
# escapes ${*} ${?} ${$} are not modelled (a key the local cloud does not know is an error).
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


def _with_variables(pattern: str, context: ConditionContext | None) -> str | None:
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = context.get(match.group(1)) if context is not None else None
        if not found or len(found) != 1:
            missing = True
            return ""
        return found[0]

    substituted = _VARIABLE.sub(value, pattern)
    return None if missing else substituted
