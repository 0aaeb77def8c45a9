"""What one API request asks IAM: its action, the resources it touches, its condition keys.

The Service Authorization Reference (:mod:`.sar`) says which resource types IAM checks for
an action; this module says which ARNs of those types a given request names (that is the
service's business, not the reference's): the instance ids of a SendCommand, the table of a
PutItem, the schedule a CreateSchedule creates. An action whose reference lists resource
types but that has no entry here is an error (:class:`UnmodelledRequestError`), so a new
call is never allowed by accident.

Some requests make the service act for the caller, and AWS authorizes that too:

* a customer managed KMS key behind an encrypted queue, topic, bucket, table, secret or
  parameter: ``kms:GenerateDataKey`` / ``kms:Decrypt`` with ``kms:ViaService``;
* passing a role to a service (``scheduler:CreateSchedule``'s target role):
  ``iam:PassRole`` with ``iam:PassedToService``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from localcloud.core.iam import sar


class UnmodelledRequestError(LookupError):
    """A request the local cloud cannot authorize, because it does not know its resources."""


# botocore service name -> IAM service prefix, where they differ.
_PREFIXES = {
    "stepfunctions": "states",
    "monitoring": "cloudwatch",
    "elbv2": "elasticloadbalancing",
}

# API operation -> IAM action, where the action is not named after the operation.
_ACTIONS = {
    ("lambda", "Invoke"): "lambda:InvokeFunction",
    ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs (``ssm``, ``SendCommand`` -> ``ssm:SendCommand``)."""
    action = _ACTIONS.get((service, operation))
    if action is None:
        action = f"{_PREFIXES.get(service, service)}:{operation}"
    return sar.action(action).qualified


class Lookups(Protocol):
    """What the request model asks the cloud (answered by the enforcer, unauthorized)."""

    region: str
    account: str
    partition: str

    def instance_tags(self, instance_ids: list[str]) -> dict[str, dict[str, str]]: ...
    def managed_node_tags(self, node_id: str) -> dict[str, str]: ...
    def document_type(self, name_or_arn: str) -> str | None: ...
    def group(self, name: str) -> tuple[str, dict[str, str]]: ...
    def target_group_tags(self, arn: str) -> dict[str, str]: ...
    def queue(self, url: str) -> tuple[str, str | None]: ...
    def topic_key(self, arn: str) -> str | None: ...
    def bucket_key(self, bucket: str) -> str | None: ...
    def table(self, name: str) -> tuple[str, str | None, str]: ...
    def secret(self, secret_id: str) -> tuple[str, str | None]: ...
    def function_arn(self, name: str) -> str: ...
    def key_arn(self, key_id: str) -> str: ...


@dataclass
class Target:
    """One resource a request touches, with the condition keys it carries."""

    type: str  # the reference's resource type name ("instance"); "" for "*"
    arn: str
    keys: dict[str, list[str] | None] = field(default_factory=dict)


@dataclass
class Check:
    """One authorization question of a request (its main action, or an implied one)."""

    action: str
    targets: list[Target]
    request_keys: dict[str, list[str] | None] = field(default_factory=dict)
    # which resource policy applies: ("sqs", queue arn), ("kms", key arn), ...
    resource_policy: tuple[str, str] | None = None
    # for implied checks: why the service asks (shown in reports)
    on_behalf_of: str = ""


def _arn(
    lookups: Lookups, service: str, resource: str, *, region: bool = True, account: bool = True
) -> str:
    return (
        f"arn:{lookups.partition}:{service}:{lookups.region if region else ''}:"
        f"{lookups.account if account else ''}:{resource}"
    )


def _tag_keys(tags: Mapping[str, str], *prefixes: str) -> dict[str, list[str] | None]:
    return {f"{prefix}/{key}": [value] for key, value in tags.items() for prefix in prefixes}


def _instance_targets(lookups: Lookups, instance_ids: list[str]) -> list[Target]:
    tags = lookups.instance_tags([i for i in instance_ids if i.startswith("i-")])
    targets = []
    for instance_id in instance_ids:
        if instance_id.startswith("mi-"):
            arn = _arn(lookups, "ssm", f"managed-instance/{instance_id}")
            keys = _tag_keys(
                lookups.managed_node_tags(instance_id), "aws:ResourceTag", "ssm:resourceTag"
            )
            targets.append(Target("managed-instance", arn, keys))
            continue
        keys = _tag_keys(tags.get(instance_id, {}), "aws:ResourceTag", "ssm:resourceTag")
        targets.append(Target("instance", _arn(lookups, "ec2", f"instance/{instance_id}"), keys))
    return targets


def _kms(
    lookups: Lookups, key_id: str | None, service: str, actions: tuple[str, ...], why: str
) -> list[Check]:
    """The key a service uses for the caller, if it is a customer managed key."""
    if not key_id or key_id.startswith("alias/aws/"):
        return []  # AWS owned or AWS managed keys: no key policy of the account's to check
    key_arn = lookups.key_arn(key_id)
    # The service calls KMS in the key's (its resource's) Region, not always the caller's.
    region = key_arn.split(":")[3] if key_arn.count(":") > 4 else lookups.region
    via = f"{service}.{region or lookups.region}.amazonaws.com"
    return [
        Check(
            action,
            [Target("key", key_arn)],
            {"kms:ViaService": [via], "kms:CallerAccount": [lookups.account]},
            ("kms", key_arn),
            why,
        )
        for action in actions
    ]


_Model = Callable[[Mapping[str, Any], Lookups], list[Check]]
_MODELS: dict[str, _Model] = {}


def _model(*actions: str) -> Callable[[_Model], _Model]:
    def register(function: _Model) -> _Model:
        for action in actions:
            _MODELS[action] = function
        return function

    return register


def register(models: Mapping[str, _Model]) -> None:
    """Add request models kept in a module of their own (``requests_ec2.MODELS``)."""
    _MODELS.update(models)


# --- SSM ----------------------------------------------------------------------------------


@_model("ssm:SendCommand")
def _send_command(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    document = str(params.get("DocumentName", ""))
    if document.startswith("arn:"):
        document_arn = document
    elif document.startswith("AWS-"):
        # AWS-owned documents have no account in their ARN.
        document_arn = _arn(lookups, "ssm", f"document/{document}", account=False)
    else:
        document_arn = _arn(lookups, "ssm", f"document/{document}")
    targets = [Target("document", document_arn)]
    if params.get("InstanceIds"):
        targets += _instance_targets(lookups, list(params["InstanceIds"]))
    elif params.get("Targets"):
        # Tag or resource-group targets: IAM sees every instance of the account.
        targets.append(Target("instance", _arn(lookups, "ec2", "instance/*")))
    if params.get("OutputS3BucketName"):
        bucket = params["OutputS3BucketName"]
        targets.append(Target("bucket", f"arn:{lookups.partition}:s3:::{bucket}"))
    return [Check("ssm:SendCommand", targets)]


@_model("ssm:DescribeInstancePatchStates", "ssm:DescribeInstancePatches")
def _instance_patch_states(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    ids = params.get("InstanceIds") or ([params["InstanceId"]] if params.get("InstanceId") else [])
    return [Check("", _instance_targets(lookups, list(ids)))]


@_model("ssm:GetMaintenanceWindow", "ssm:DescribeMaintenanceWindowExecutions")
def _window(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn = _arn(lookups, "ssm", f"maintenancewindow/{params.get('WindowId', '')}")
    return [Check("", [Target("maintenancewindow", arn)])]


# ListTagsForResource names one resource by type and id; only the types fleetpatch reads.
_SSM_TAGGED_TYPES = {"MaintenanceWindow": "maintenancewindow", "PatchBaseline": "patchbaseline"}


@_model("ssm:ListTagsForResource")
def _ssm_tags(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    kind = _SSM_TAGGED_TYPES.get(str(params.get("ResourceType", "")))
    if kind is None:
        raise UnmodelledRequestError(
            f"ssm:ListTagsForResource on {params.get('ResourceType')!r} is not modelled"
        )
    arn = _arn(lookups, "ssm", f"{kind}/{params.get('ResourceId', '')}")
    return [Check("", [Target(kind, arn)])]


@_model("ssm:GetParameter")
def _parameter(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    name = str(params.get("Name", ""))
    arn = name if name.startswith("arn:") else _arn(lookups, "ssm", f"parameter/{name.lstrip('/')}")
    return [Check("ssm:GetParameter", [Target("parameter", arn)])]


@_model("ssm:GetDefaultPatchBaseline")
def _default_baseline(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    return [
        Check(
            "ssm:GetDefaultPatchBaseline",
            [Target("patchbaseline", _arn(lookups, "ssm", "patchbaseline/*"))],
        )
    ]


@_model(
    "ssm:GetPatchBaseline",
    "ssm:UpdatePatchBaseline",
    "ssm:DescribeEffectivePatchesForPatchBaseline",
)
def _baseline(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    # BaselineId is a pb- id (custom baselines) or an ARN (AWS's predefined ones).
    baseline = str(params.get("BaselineId", ""))
    arn = (
        baseline
        if baseline.startswith("arn:")
        else _arn(lookups, "ssm", f"patchbaseline/{baseline}")
    )
    return [Check("", [Target("patchbaseline", arn)])]


@_model("securityhub:BatchImportFindings")
def _import_findings(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    # Authorized on the product each finding names (the SAR's resource type "product").
    products = sorted({str(f.get("ProductArn", "")) for f in params.get("Findings") or []})
    return [Check("", [Target("product", arn) for arn in products])]


@_model("ssm:GetCalendarState")
def _calendar_state(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    # Each calendar is a document (a name, or an ARN: a calendar shared by another account).
    targets = []
    for name in params.get("CalendarNames") or []:
        arn = name if name.startswith("arn:") else _arn(lookups, "ssm", f"document/{name}")
        kind = lookups.document_type(name)
        targets.append(Target("document", arn, {"ssm:DocumentType": [kind] if kind else None}))
    return [Check("ssm:GetCalendarState", targets)]


# --- Step Functions, Lambda, Scheduler ----------------------------------------------------


@_model("states:StartExecution")
def _start_execution(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    return [
        Check(
            "states:StartExecution",
            [Target("stateMachine", str(params.get("stateMachineArn", "")))],
        )
    ]


@_model("states:DescribeExecution", "states:StopExecution")
def _execution(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    return [Check("", [Target("execution", str(params.get("executionArn", "")))])]


@_model("lambda:InvokeFunction")
def _invoke(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn = lookups.function_arn(str(params.get("FunctionName", "")))
    qualifier = params.get("Qualifier")
    target = f"{arn}:{qualifier}" if qualifier else arn
    return [
        Check(
            "lambda:InvokeFunction", [Target("function", target)], resource_policy=("lambda", arn)
        )
    ]


def _schedule_arn(params: Mapping[str, Any], lookups: Lookups) -> str:
    group = params.get("GroupName") or "default"
    return _arn(lookups, "scheduler", f"schedule/{group}/{params.get('Name', '')}")


@_model("scheduler:CreateSchedule", "scheduler:UpdateSchedule")
def _create_schedule(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    checks = [Check("", [Target("schedule", _schedule_arn(params, lookups))])]
    role = (params.get("Target") or {}).get("RoleArn")
    if role:
        checks.append(
            Check(
                "iam:PassRole",
                [Target("role", str(role))],
                {"iam:PassedToService": ["scheduler.amazonaws.com"]},
                on_behalf_of="the schedule's target role",
            )
        )
    return checks


@_model("scheduler:DeleteSchedule", "scheduler:GetSchedule")
def _schedule(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    return [Check("", [Target("schedule", _schedule_arn(params, lookups))])]


# --- Auto Scaling -------------------------------------------------------------------------


@_model(
    "autoscaling:CompleteLifecycleAction",
    "autoscaling:RecordLifecycleActionHeartbeat",
    "autoscaling:SuspendProcesses",
    "autoscaling:ResumeProcesses",
    "autoscaling:EnterStandby",
    "autoscaling:ExitStandby",
)
def _lifecycle(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn, tags = lookups.group(str(params.get("AutoScalingGroupName", "")))
    keys = _tag_keys(tags, "aws:ResourceTag", "autoscaling:ResourceTag")
    return [Check("", [Target("autoScalingGroup", arn, keys)])]


# --- Elastic Load Balancing ---------------------------------------------------------------


@_model("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets")
def _targets(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    # The target group's ARN is the request's; the targets themselves are not authorized.
    arn = str(params.get("TargetGroupArn", ""))
    keys = _tag_keys(
        lookups.target_group_tags(arn), "aws:ResourceTag", "elasticloadbalancing:ResourceTag"
    )
    return [Check("", [Target("targetgroup", arn, keys)])]


# --- data stores: DynamoDB, S3, SQS, SNS, Secrets Manager --------------------------------

_DDB_READS = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"}


def _leading_keys(items: list[Mapping[str, Any]], hash_key: str) -> list[str]:
    values = []
    for item in items:
        attribute = item.get(hash_key) or {}
        values += [str(v) for v in attribute.values()][:1]
    return values


def _query_leading_key(params: Mapping[str, Any], hash_key: str) -> list[str] | None:
    """The partition key value a Query's ``KeyConditionExpression`` compares to."""
    names = params.get("ExpressionAttributeNames") or {}
    values = params.get("ExpressionAttributeValues") or {}
    expression = str(params.get("KeyConditionExpression", ""))
    for left, right in re.findall(r"([#\w]+)\s*=\s*(:\w+)", expression):
        if names.get(left, left) == hash_key:
            return [str(v) for v in (values.get(right) or {}).values()][:1]
    return None


@_model(
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:BatchWriteItem",
)
def _dynamodb(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    checks: list[Check] = []
    if "RequestItems" in params:  # BatchWriteItem
        for table_name, requests in params["RequestItems"].items():
            arn, key_id, hash_key = lookups.table(table_name)
            items = [
                (r.get("PutRequest") or {}).get("Item")
                or (r.get("DeleteRequest") or {}).get("Key")
                or {}
                for r in requests
            ]
            checks.append(
                Check(
                    "dynamodb:BatchWriteItem",
                    [Target("table", arn)],
                    {"dynamodb:LeadingKeys": _leading_keys(items, hash_key)},
                )
            )
            checks += _kms(lookups, key_id, "dynamodb", ("kms:Decrypt",), "the table's key")
        return checks
    table_name = str(params.get("TableName", ""))
    arn, key_id, hash_key = lookups.table(table_name)
    if params.get("IndexName"):
        target = Target("index", f"{arn}/index/{params['IndexName']}")
        leading = None
        action = "dynamodb:Query"
    else:
        target = Target("table", arn)
        item = params.get("Key") or params.get("Item")
        leading = _leading_keys([item], hash_key) if item else _query_leading_key(params, hash_key)
        action = ""
    checks.append(Check(action, [target], {"dynamodb:LeadingKeys": leading}))
    # DynamoDB decrypts the table key with the caller's permission on a customer managed key.
    checks += _kms(lookups, key_id, "dynamodb", ("kms:Decrypt",), "the table's key")
    return checks


def _s3_object(params: Mapping[str, Any], lookups: Lookups) -> str:
    return f"arn:{lookups.partition}:s3:::{params.get('Bucket', '')}/{params.get('Key', '')}"


def _object(
    params: Mapping[str, Any], lookups: Lookups, action: str, key_action: str, key: str | None
) -> list[Check]:
    bucket = str(params.get("Bucket", ""))
    target = Target("object", _s3_object(params, lookups))
    checks = [Check(action, [target], resource_policy=("s3", bucket))]
    key = key or lookups.bucket_key(bucket)
    return checks + _kms(lookups, key, "s3", (key_action,), "the bucket's key")


@_model("s3:PutObject")
def _put_object(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    checks = _object(
        params, lookups, "s3:PutObject", "kms:GenerateDataKey", params.get("SSEKMSKeyId")
    )
    if params.get("IfMatch"):
        # A conditional write on the object's ETag also needs s3:GetObject (S3 User Guide,
        # "How to prevent object overwrites with conditional writes"); If-None-Match does not.
        checks.append(
            Check(
                "s3:GetObject",
                [Target("object", _s3_object(params, lookups))],
                resource_policy=("s3", str(params.get("Bucket", ""))),
                on_behalf_of="PutObject with If-Match",
            )
        )
    return checks


@_model("s3:GetObject")
def _get_object(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    return _object(params, lookups, "s3:GetObject", "kms:Decrypt", None)


@_model("s3:ListBucket")
def _list_bucket(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    bucket = str(params.get("Bucket", ""))
    # s3:prefix is the listing's Prefix; a policy conditioned on it denies a listing without.
    prefix = params.get("Prefix")
    return [
        Check(
            "s3:ListBucket",
            [Target("bucket", f"arn:{lookups.partition}:s3:::{bucket}")],
            {"s3:prefix": [str(prefix)] if prefix is not None else None},
            resource_policy=("s3", bucket),
        )
    ]


@_model("sqs:SendMessage", "sqs:SendMessageBatch")
def _send_message(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn, key = lookups.queue(str(params.get("QueueUrl", "")))
    # SendMessageBatch is authorized as SendMessage.
    checks = [Check("sqs:SendMessage", [Target("queue", arn)], resource_policy=("sqs", arn))]
    return checks + _kms(
        lookups, key, "sqs", ("kms:GenerateDataKey", "kms:Decrypt"), "the queue's key"
    )


@_model("sns:Publish")
def _publish(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn = str(params.get("TopicArn") or params.get("TargetArn") or "")
    checks = [Check("sns:Publish", [Target("topic", arn)], resource_policy=("sns", arn))]
    return checks + _kms(
        lookups,
        lookups.topic_key(arn),
        "sns",
        ("kms:GenerateDataKey", "kms:Decrypt"),
        "the topic's key",
    )


@_model("secretsmanager:GetSecretValue")
def _secret(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    arn, key = lookups.secret(str(params.get("SecretId", "")))
    checks = [Check("secretsmanager:GetSecretValue", [Target("Secret", arn)])]
    return checks + _kms(lookups, key, "secretsmanager", ("kms:Decrypt",), "the secret's key")


# --- CloudWatch ---------------------------------------------------------------------------


@_model("cloudwatch:DescribeAlarms")
def _describe_alarms(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    names = params.get("AlarmNames") or []
    if not names:
        prefix = params.get("AlarmNamePrefix", "")
        names = [f"{prefix}*"]
    return [
        Check(
            "cloudwatch:DescribeAlarms",
            [Target("alarm", _arn(lookups, "cloudwatch", f"alarm:{n}")) for n in names],
        )
    ]


@_model("cloudwatch:DescribeAlarmHistory")
def _describe_alarm_history(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    # One alarm, or (no AlarmName) the history of every alarm.
    name = params.get("AlarmName") or "*"
    return [
        Check(
            "cloudwatch:DescribeAlarmHistory",
            [Target("alarm", _arn(lookups, "cloudwatch", f"alarm:{name}"))],
        )
    ]


_TRANSACT_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


def _transact_write(params: Mapping[str, Any], lookups: Lookups) -> list[Check]:
    """TransactWriteItems has no IAM action of its own: IAM authorizes each item's action
    (PutItem, UpdateItem, DeleteItem, ConditionCheckItem) on its table, with its leading key
    (DynamoDB developer guide, "Using IAM with DynamoDB transactions")."""
    checks: list[Check] = []
    for entry in params.get("TransactItems") or []:
        for kind, action in _TRANSACT_ACTIONS.items():
            if kind not in entry:
                continue
            body = entry[kind]
            arn, key_id, hash_key = lookups.table(str(body.get("TableName", "")))
            item = body.get("Key") or body.get("Item") or {}
            keys: dict[str, list[str] | None] = {
                "dynamodb:LeadingKeys": _leading_keys([item], hash_key)
            }
            checks.append(Check(action, [Target("table", arn)], keys))
            checks += _kms(lookups, key_id, "dynamodb", ("kms:Decrypt",), "the table's key")
    return checks


# Operations without an IAM action of their own, authorized as the actions they contain.
_COMPOSITE: dict[tuple[str, str], _Model] = {("dynamodb", "TransactWriteItems"): _transact_write}


def checks_for(
    service: str, operation: str, params: Mapping[str, Any], lookups: Lookups
) -> list[Check]:
    """Every authorization question one request asks, the request's own action first."""
    composite = _COMPOSITE.get((service, operation))
    if composite is not None:
        return composite(params, lookups)
    action = sar.action(iam_action(service, operation))
    model = _MODELS.get(action.qualified)
    if model is None:
        if action.has_resource_types:
            raise UnmodelledRequestError(
                f"{action.qualified} is authorized per resource "
                f"({', '.join(r.name for r in action.resource_types)}), and the local cloud "
                "does not know which resources this request names: add it to "
                "localcloud/core/iam/requests.py"
            )
        return [Check(action.qualified, [Target("", "*")])]
    checks = model(params, lookups)
    for check in checks:
        if not check.action:
            check.action = action.qualified
        entry = sar.action(check.action)
        for target in check.targets:
            if not entry.has_resource_types:
                target.type, target.arn = "", "*"
            else:
                entry.resource_type(target.type)  # the reference must list it
    return checks
