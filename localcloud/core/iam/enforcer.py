"""IAM enforcement on the local cloud: every call a principal makes is authorized first.

A botocore hook runs in every client in the process (registered like moto's own stubber,
through ``botocore.handlers.BUILTIN_HANDLERS``). For a call made while a principal is set
(:mod:`localcloud.core.iam.principal`) it asks :mod:`localcloud.core.iam.requests` what the request
touches, evaluates each question (:mod:`localcloud.core.iam.policy`) against the role's inline
and managed policies and the resource's own policy (queue, topic, bucket, function, key),
and refuses a denied call as the service refuses it: the service's error code and HTTP
status, and a message naming the principal, the action and the resource, raised through
botocore as a ``ClientError`` (inside Step Functions, the task's error).

Every decision is logged (``decisions``) for ``make iam-report``; with the environment
variable ``FLEETPATCH_IAM_LOG`` set to a folder, each cloud appends its decisions there.

Off for one debugging run: ``LocalCloud(iam=False)`` or ``FLEETPATCH_IAM=off`` (refused
under CI).

moto/botocore internals touched (canaries in tests/unit/localcloud/test_moto_canaries_iam.py):
``botocore.handlers.BUILTIN_HANDLERS`` (appended to), the ``before-parameter-build`` and
``before-call`` events and the ``(http, parsed)`` short-circuit of ``before-call``; moto's
``BotocoreStubber.__call__`` (wrapped: moto answers a request as AWS itself, no principal);
``moto.iam.aws_managed_policies.aws_managed_policies_data`` (AWS managed policy documents).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore import handlers
from botocore.awsrequest import AWSResponse, HTTPHeaders

from localcloud.core import motopatch, ratelimits
from localcloud.core.iam import policy, requests, requests_ec2, requests_events
from localcloud.core.iam.lookups import ResourceLookups
from localcloud.core.iam.principal import Principal, acting_as, current
from localcloud.core.registry import Slot

# What EC2 requests touch (instances, volumes, snapshots), modelled in their own module.
requests.register(requests_ec2.MODELS)
# ... and EventBridge PutEvents (buses of this and other accounts: issue 22).
requests.register(requests_events.MODELS)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# How each service refuses an unauthorized call: (error code, HTTP status).
_DENIED = {
    "ssm": ("AccessDeniedException", 400),
    "stepfunctions": ("AccessDeniedException", 400),
    "dynamodb": ("AccessDeniedException", 400),
    "lambda": ("AccessDeniedException", 403),
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "autoscaling": ("AccessDenied", 403),
    "elbv2": ("AccessDenied", 403),
    "ec2": ("UnauthorizedOperation", 403),
    "scheduler": ("AccessDeniedException", 403),
    "secretsmanager": ("AccessDeniedException", 400),
    "cloudwatch": ("AccessDenied", 403),
    "kms": ("AccessDeniedException", 400),
    "events": ("AccessDeniedException", 400),
    "iam": ("AccessDenied", 403),
    "logs": ("AccessDeniedException", 400),
    "sts": ("AccessDenied", 403),
    "xray": ("AccessDeniedException", 403),
}
# How a service reports that the caller may not use the key it encrypts with.
_KMS_DENIED = {
    "sqs": ("KmsAccessDenied", 400),
    "sns": ("KMSAccessDenied", 400),
}

# Calls that change a policy or an encryption setting: cached lookups are dropped.
_POLICY_WRITES = {
    "iam": None,  # every IAM write
    "sqs": {"SetQueueAttributes", "CreateQueue", "DeleteQueue"},
    "sns": {"SetTopicAttributes", "CreateTopic", "DeleteTopic"},
    "s3": {"PutBucketPolicy", "DeleteBucketPolicy", "PutBucketEncryption", "CreateBucket"},
    "kms": {"PutKeyPolicy", "CreateKey", "CreateAlias", "UpdateAlias"},
    "lambda": {"AddPermission", "RemovePermission", "CreateFunction", "DeleteFunction"},
    "dynamodb": {"CreateTable", "UpdateTable", "DeleteTable"},
    "secretsmanager": {"CreateSecret", "UpdateSecret", "PutResourcePolicy"},
    "events": {"PutPermission", "RemovePermission", "CreateEventBus", "DeleteEventBus"},
}
_READ_PREFIXES = ("Get", "List", "Describe", "Head")


class AccessDenied(Exception):
    """A call the principal may not make (raised where no botocore client is involved)."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class DecisionRecord:
    principal: str  # role name, or service principal
    role_logical_id: str
    action: str
    resource: str
    allowed: bool
    statements: list[str] = field(default_factory=list)
    on_behalf_of: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class _Role:
    arn: str
    logical_id: str = ""
    aws_managed: list[str] = field(default_factory=list)


class IamEnforcer(ResourceLookups):
    """The IAM of one local cloud (one account and region)."""

    def __init__(
        self, region: str, account: str, *, enabled: bool = True, org_id: str | None = None
    ) -> None:
        self.region = region
        self.account = account
        self.partition = "aws"
        self.enabled = enabled
        self.org_id = org_id
        self.decisions: list[DecisionRecord] = []
        # A test that provokes denials on purpose says so; any other denial is reported by
        # the test suites' guard (take_unexpected_denials).
        self.denials_expected = False
        self._roles: dict[str, _Role] = {}
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        self._clients: dict[str, Any] = {}
        self._session: Any = None

    # --- roles --------------------------------------------------------------------------------

    def register_role(self, arn: str, logical_id: str, aws_managed: list[str]) -> None:
        """The deployer tells which template resource a role is (and its AWS managed policies)."""
        with self._lock:
            self._roles[arn] = _Role(arn, logical_id, list(aws_managed))
            self._cache.clear()

    def assume(self, role_arn: str, service: str, *, source_arn: str | None = None) -> Principal:
        """The role's session for ``service`` (lambda.amazonaws.com), if its trust allows it."""
        session = service.split(".", maxsplit=1)[0]
        principal = Principal.role(role_arn, session=session, org_id=self.org_id)
        if not self.enabled:
            return principal
        caller = Principal.service(service, self.account, source_arn)
        with acting_as(None), ratelimits.on_behalf_of_aws():
            trust = self._cached(("trust", role_arn), lambda: self._trust_policy(role_arn))
        context = policy.ConditionContext(self._service_keys(caller))
        decision = policy.evaluate(
            caller, policy.Request("sts:AssumeRole", role_arn, context), [], trust
        )
        self._log(caller, "sts:AssumeRole", role_arn, decision, "")
        if not decision.allowed:
            raise AccessDenied(
                "AccessDenied",
                403,
                f"{service} is not authorized to perform: sts:AssumeRole on resource: {role_arn} "
                f"{decision.reason} (the role's trust policy)",
            )
        return principal

    # --- policies -----------------------------------------------------------------------------

    def identity_statements(self, principal: Principal) -> list[policy.Statement]:
        """The statements of every identity policy of ``principal`` (IAM reading its state)."""
        with acting_as(None), ratelimits.on_behalf_of_aws():
            return self._identity(principal)

    def principal_keys(self, principal: Principal) -> dict[str, list[str] | None]:
        """The global condition keys AWS sets for a request by ``principal``."""
        return self._service_keys(principal)

    def _identity(self, principal: Principal) -> list[policy.Statement]:
        if principal.kind != "role":
            return []
        statements: list[policy.Statement] = self._cached(
            ("identity", principal.arn), lambda: self._load_identity(principal)
        )
        return statements

    def _load_identity(self, principal: Principal) -> list[policy.Statement]:
        iam = self._client("iam")
        name = principal.role_name
        statements: list[policy.Statement] = []
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            statements += policy.parse_policy(
                document, f"{name}/{policy_name}", resource_policy=False
            )
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            meta = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(
                PolicyArn=attached["PolicyArn"], VersionId=meta["DefaultVersionId"]
            )
            statements += policy.parse_policy(
                version["PolicyVersion"]["Document"],
                f"{name}/{attached['PolicyName']}",
                resource_policy=False,
            )
        role = self._roles.get(principal.arn)
        for arn in role.aws_managed if role else []:
            statements += policy.parse_policy(
                _aws_managed(arn), f"{name}/{arn.rsplit('/', 1)[-1]}", resource_policy=False
            )
        return statements

    def _trust_policy(self, role_arn: str) -> list[policy.Statement]:
        role = self._client("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]
        return policy.parse_policy(
            role["AssumeRolePolicyDocument"], f"{role['RoleName']}/trust", resource_policy=True
        )

    def _resource_policy(self, kind: str, resource: str) -> list[policy.Statement] | None:
        def load() -> list[policy.Statement] | None:
            document: Any = None
            if kind == "sqs":
                document = self._queue_policy(resource)
            elif kind == "sns":
                document = self._topic(resource).get("Policy")
            elif kind == "s3":
                document = self._bucket_policy(resource)
            elif kind == "lambda":
                lam = self._client("lambda")
                try:
                    document = lam.get_policy(FunctionName=resource)["Policy"]
                except lam.exceptions.ResourceNotFoundException:
                    document = None
            elif kind == "events":
                document = _bus_policy(resource)
            elif kind == "kms":
                document = self._key_policy(resource)
            if not document:
                return None
            return policy.parse_policy(document, f"{kind}:{resource}", resource_policy=True)

        result: list[policy.Statement] | None = self._cached((f"policy-{kind}", resource), load)
        return result

    def _key_policy(self, arn: str) -> str | None:
        if arn.split(":")[4] != self.account:
            return _foreign_key_policy(arn)
        return str(self._client("kms").get_key_policy(KeyId=arn, PolicyName="default")["Policy"])

    def _resource_account(self, kind: str, resource: str) -> str | None:
        """The account that owns the resource whose policy applies (None: this one)."""
        if kind == "s3":
            from moto.s3.models import s3_backends

            owner = s3_backends.bucket_accounts.get(resource)
            return owner[1] if owner else None
        parts = resource.split(":")
        if kind and len(parts) > 4 and parts[0] == "arn" and parts[4].isdigit():
            return parts[4]
        return None

    # --- deciding -----------------------------------------------------------------------------

    def _service_keys(self, principal: Principal) -> dict[str, list[str] | None]:
        keys: dict[str, list[str] | None] = {
            "aws:SecureTransport": ["true"],
            # The SDK negotiates TLS 1.2 or 1.3 with every AWS endpoint.
            "s3:TlsVersion": ["1.3"],
            "aws:PrincipalAccount": [principal.account],
        }
        if principal.kind == "service":
            keys["aws:SourceAccount"] = [principal.account]
            keys["aws:SourceArn"] = [principal.source_arn] if principal.source_arn else None
        else:
            keys["aws:PrincipalArn"] = [principal.arn]
            keys["aws:PrincipalOrgID"] = [principal.org_id] if principal.org_id else None
        return keys

    def authorize(
        self, principal: Principal, service: str, operation: str, params: Mapping[str, Any]
    ) -> AccessDenied | None:
        """None if every question of the request is allowed; else the error to answer with."""
        # The lookups below are IAM reading its own state, not calls of the account's: no
        # principal, and nothing charged to the account's rate limits.
        with acting_as(None), ratelimits.on_behalf_of_aws():
            checks = requests.checks_for(service, operation, params, self)
            base = self._service_keys(principal)
            for check in checks:
                kind, resource = check.resource_policy or ("", "")
                resource_policy = self._resource_policy(kind, resource) if kind else None
                for target in check.targets:
                    context = policy.ConditionContext({**base, **check.request_keys, **target.keys})
                    request = policy.Request(check.action, target.arn, context)
                    decision = policy.evaluate(
                        principal,
                        request,
                        self._identity(principal),
                        resource_policy,
                        key_policy=kind == "kms",
                        resource_account=self._resource_account(kind, resource),
                    )
                    self._log(principal, check.action, target.arn, decision, check.on_behalf_of)
                    if not decision.allowed:
                        return self._denial(principal, service, check, target.arn, decision)
        return None

    def require(
        self, principal: Principal | None, service: str, operation: str, params: Mapping[str, Any]
    ) -> None:
        """Raise :class:`AccessDenied` unless ``principal`` may make the call.

        For what a service does without an SDK call of ours to hook (EventBridge or SNS
        invoking a function, Scheduler invoking its target).
        """
        if principal is None or not self.enabled:
            return
        denied = self.authorize(principal, service, operation, params)
        if denied is not None:
            raise denied

    def service(self, name: str, source_arn: str) -> Principal:
        """A service principal acting for ``source_arn`` (a rule, a topic, a schedule)."""
        return Principal.service(name, self.account, source_arn)

    def _denial(
        self,
        principal: Principal,
        service: str,
        check: requests.Check,
        resource: str,
        decision: policy.Decision,
    ) -> AccessDenied:
        code, status = _DENIED.get(service, ("AccessDeniedException", 400))
        if check.on_behalf_of and check.action.startswith("kms:"):
            code, status = _KMS_DENIED.get(service, (code, status))
        why = f" (needed for {check.on_behalf_of})" if check.on_behalf_of else ""
        message = (
            f"User: {principal.caller_arn} is not authorized to perform: {check.action} "
            f"on resource: {resource} {decision.reason}{why}"
        )
        return AccessDenied(code, status, message)

    def _log(
        self,
        principal: Principal,
        action: str,
        resource: str,
        decision: policy.Decision,
        on_behalf_of: str,
    ) -> None:
        role = self._roles.get(principal.arn)
        record = DecisionRecord(
            principal.role_name or principal.arn,
            role.logical_id if role else "",
            action,
            resource,
            decision.allowed,
            [str(s) for s in decision.statements],
            on_behalf_of,
            decision.reason,
        )
        with self._lock:
            self.decisions.append(record)
            if not decision.allowed and not self.denials_expected:
                _UNEXPECTED.append(record)

    def denials(self) -> list[DecisionRecord]:
        return [d for d in self.decisions if not d.allowed]

    def observe(self, service: str, operation: str) -> None:
        """Drop cached policies when a call may have changed one."""
        writes = _POLICY_WRITES.get(service, set())
        if operation.startswith(_READ_PREFIXES):
            return
        if writes is None or operation in writes:
            with self._lock:
                self._cache.clear()

    def flush(self) -> None:
        """Append this cloud's decisions to ``$FLEETPATCH_IAM_LOG/<pid>.jsonl`` (if set)."""
        folder = os.environ.get("FLEETPATCH_IAM_LOG")
        if not folder or not self.decisions:
            return
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        with (path / f"decisions-{os.getpid()}.jsonl").open("a", encoding="utf-8") as out:
            for record in self.decisions:
                out.write(json.dumps(record.as_json()) + "\n")
        self.decisions.clear()


_UNEXPECTED: list[DecisionRecord] = []


def _foreign_key_policy(arn: str) -> str | None:
    """Another account's key policy, from moto's KMS backend of that account (canary:
    tests/unit/localcloud/test_moto_canaries_org.py); None if there is no such key."""
    from moto.kms.models import kms_backends

    _, _, _, region, account, resource = arn.split(":", 5)
    key = kms_backends[account][region].keys.get(resource.removeprefix("key/"))
    return None if key is None else str(key.policy)


def _bus_policy(arn: str) -> str | None:
    """An event bus's resource policy, from moto's backend of the bus's own account.

    Through the backend, not DescribeEventBus: the bus may be another account's, which no
    client of this account can describe. moto: ``events_backends[account][region]
    .event_buses[name].policy`` (canary: tests/unit/localcloud/test_moto_canaries_org.py).
    """
    from moto.events.models import events_backends

    _, _, _, region, account, resource = arn.split(":", 5)
    bus = events_backends[account][region].event_buses.get(resource.split("/", 1)[1])
    return None if bus is None else bus.policy


def take_unexpected_denials() -> list[DecisionRecord]:
    """Denials no test asked for, since the last call (the suites fail a test on any)."""
    taken = list(_UNEXPECTED)
    _UNEXPECTED.clear()
    return taken


def _aws_managed(arn: str) -> dict[str, Any]:
    policies = _aws_managed_documents()
    name = arn.rsplit("/", 1)[-1]
    if name not in policies:
        raise policy.PolicyModelError(f"{arn} is not an AWS managed policy moto knows")
    document: dict[str, Any] = policies[name]["Document"]
    return document


@functools.cache
def _aws_managed_documents() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    documents: dict[str, Any] = json.loads(aws_managed_policies_data)
    return documents


# --- the botocore hook ------------------------------------------------------------------------

# The running cloud's enforcer (localcloud.core.registry).
ENFORCER: Slot[IamEnforcer] = Slot("iam")
_PARAMS = "fleetpatch_iam_params"


def _remember_params(params: Mapping[str, Any], context: dict[str, Any], **kwargs: Any) -> None:
    context[_PARAMS] = params


def _before_call(
    model: Any, context: dict[str, Any], **kwargs: Any
) -> tuple[AWSResponse, dict[str, Any]] | None:
    enforcer = ENFORCER.get()
    if enforcer is None:
        return None
    service = model.service_model.service_name
    enforcer.observe(service, model.name)
    principal = current()
    if principal is None or not enforcer.enabled:
        return None
    denied = enforcer.authorize(principal, service, model.name, context.get(_PARAMS) or {})
    if denied is None:
        return None
    return _error(denied)


def _error(denied: AccessDenied) -> tuple[AWSResponse, dict[str, Any]]:
    request_id = str(uuid.uuid4())
    headers = HTTPHeaders()
    headers["x-amzn-RequestId"] = request_id
    http = AWSResponse("https://localcloud.invalid/", denied.status, headers, None)
    parsed = {
        "Error": {"Code": denied.code, "Message": str(denied)},
        "ResponseMetadata": {
            "RequestId": request_id,
            "HTTPStatusCode": denied.status,
            "HTTPHeaders": {},
        },
    }
    return http, parsed


def require(
    principal: Principal | None, service: str, operation: str, params: Mapping[str, Any]
) -> None:
    """:meth:`IamEnforcer.require` on the running cloud's enforcer (a no-op without one)."""
    enforcer = ENFORCER.get()
    if enforcer is not None:
        enforcer.require(principal, service, operation, params)


def _register_handlers() -> None:
    for spec in (("before-parameter-build", _remember_params), ("before-call", _before_call)):
        if spec not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(spec)


# Registered at import, before any session exists: moto registers its stubber the same way.
_register_handlers()


def _moto_answers_as_aws() -> None:
    """While moto handles a request it is AWS itself: the caller's principal does not apply."""
    if not motopatch.first_time("iam-stubber"):
        return
    from moto.core.botocore_stubber import BotocoreStubber

    original: Callable[..., Any] = BotocoreStubber.__call__

    def __call__(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        with acting_as(None):
            return original(self, event_name, request, **kwargs)

    # Other wrappers (the fault injector's) know theirs by a flag on the function.
    for name, value in vars(original).items():
        setattr(__call__, name, value)
    BotocoreStubber.__call__ = __call__  # type: ignore[method-assign]


def install(enforcer: IamEnforcer) -> None:
    ENFORCER.set(enforcer)
    _moto_answers_as_aws()
    # A default session made before this module was imported lacks the hooks: add them
    # (unique ids: registering twice is a no-op).
    if boto3.DEFAULT_SESSION is not None:
        events: Any = boto3.DEFAULT_SESSION._session
        events.register("before-parameter-build", _remember_params, unique_id=_PARAMS)
        events.register("before-call", _before_call, unique_id="fleetpatch_iam_before_call")


def enabled_by_default() -> bool:
    """On, unless ``FLEETPATCH_IAM=off`` for one debugging run (refused under CI)."""
    setting = os.environ.get("FLEETPATCH_IAM", "on").strip().lower()
    if setting in {"on", "1", "true", ""}:
        return True
    if setting in {"off", "0", "false"}:
        if os.environ.get("CI"):
            raise RuntimeError("FLEETPATCH_IAM=off is for a debugging run, never in CI")
        return False
    raise ValueError(f"FLEETPATCH_IAM must be 'on' or 'off', not {setting!r}")


def uninstall(enforcer: IamEnforcer) -> None:
    if ENFORCER.get() is enforcer:
        enforcer.flush()
        ENFORCER.set(None)


def active() -> IamEnforcer | None:
    return ENFORCER.get()
