"""KMS keys and aliases, S3 buckets and bucket policies, DynamoDB tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, is_true, json_text, renamed, tags
from localcloud.intrinsics import TemplateError

# --- KMS ------------------------------------------------------------------------------------


@creates(
    passes="Description KeyUsage KeySpec MultiRegion",
    applies="KeyPolicy EnableKeyRotation Enabled Tags",
    # Deletion and rotation schedules: nothing in the local cloud deletes or rotates keys.
    records="PendingWindowInDays RotationPeriodInDays",
)
def kms_key(ctx: Context, res: Resource) -> Created:
    p = res.properties
    key = ctx.call(
        "kms",
        "create_key",
        **res.passed,
        Policy=json_text(p.get("KeyPolicy")),
        Tags=[{"TagKey": k, "TagValue": v} for k, v in tags(p).items()] or None,
    )["KeyMetadata"]
    if is_true(p.get("EnableKeyRotation", False)):
        ctx.call("kms", "enable_key_rotation", KeyId=key["KeyId"])
    if not is_true(p.get("Enabled", True)):
        ctx.call("kms", "disable_key", KeyId=key["KeyId"])
    return Created(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


@creates(passes="AliasName TargetKeyId")
def kms_alias(ctx: Context, res: Resource) -> Created:
    ctx.call("kms", "create_alias", **res.passed)
    return Created(res.require("AliasName"))


# --- S3 -------------------------------------------------------------------------------------


def _encryption(configuration: Mapping[str, Any]) -> dict[str, Any]:
    rules = configuration["ServerSideEncryptionConfiguration"]
    default = {"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}
    return {"Rules": [renamed(rule, default) for rule in rules]}


# CloudFormation's flat lifecycle rule properties the S3 API's nested ones are built from.
_LIFECYCLE_RULE_KEYS = frozenset(
    {
        "Id",
        "Status",
        "Prefix",
        "ExpirationInDays",
        "NoncurrentVersionExpiration",
        "NoncurrentVersionExpirationInDays",
        "AbortIncompleteMultipartUpload",
        "Transitions",
    }
)


def _lifecycle(configuration: Mapping[str, Any]) -> dict[str, Any]:
    return {"Rules": [_lifecycle_rule(rule) for rule in configuration["Rules"]]}


def _lifecycle_rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    unsupported = sorted(set(rule) - _LIFECYCLE_RULE_KEYS)
    if unsupported:
        raise TemplateError(f"lifecycle rule properties not supported: {', '.join(unsupported)}")
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": rule["ExpirationInDays"]}
    if "NoncurrentVersionExpirationInDays" in rule:
        days = rule["NoncurrentVersionExpirationInDays"]
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": days}
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "Transitions" in rule:
        api["Transitions"] = [
            {"StorageClass": t["StorageClass"], "Days": t["TransitionInDays"]}
            for t in rule["Transitions"]
        ]
    return api


def _unchanged(value: Any) -> Any:
    return value


# Bucket property -> the S3 call that applies it, its parameter, and the shape conversion.
_BUCKET_SETTINGS: dict[str, tuple[str, str, Callable[[Any], Any]]] = {
    "BucketEncryption": ("put_bucket_encryption", "ServerSideEncryptionConfiguration", _encryption),
    "VersioningConfiguration": ("put_bucket_versioning", "VersioningConfiguration", _unchanged),
    "PublicAccessBlockConfiguration": (
        "put_public_access_block",
        "PublicAccessBlockConfiguration",
        _unchanged,
    ),
    "LifecycleConfiguration": (
        "put_bucket_lifecycle_configuration",
        "LifecycleConfiguration",
        _lifecycle,
    ),
    "OwnershipControls": ("put_bucket_ownership_controls", "OwnershipControls", _unchanged),
    "Tags": ("put_bucket_tagging", "Tagging", lambda tags: {"TagSet": tags}),
}


@creates(
    applies=" ".join(["BucketName", *_BUCKET_SETTINGS]),
    # Notifications: moto emits no S3 events to EventBridge. Access logging: nothing writes
    # access logs locally, and moto checks the target bucket's policy at PutBucketLogging,
    # which CloudFormation does not order before the logged bucket.
    records="NotificationConfiguration LoggingConfiguration",
)
def bucket(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("BucketName") or ctx.name(res.logical_id, 63, lowercase=True)
    region = ctx.pseudo.region
    # S3 rejects an explicit us-east-1 location constraint.
    location = {"LocationConstraint": region} if region != "us-east-1" else None
    ctx.call("s3", "create_bucket", Bucket=name, CreateBucketConfiguration=location)
    for setting, (method, parameter, convert) in _BUCKET_SETTINGS.items():
        if setting in p:
            ctx.call("s3", method, Bucket=name, **{parameter: convert(p[setting])})
    suffix = ctx.pseudo.url_suffix
    return Created(
        name,
        {
            "Arn": f"arn:{ctx.pseudo.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.{suffix}",
            "RegionalDomainName": f"{name}.s3.{region}.{suffix}",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.{suffix}",
            "WebsiteURL": f"http://{name}.s3-website.{region}.{suffix}",
        },
    )


@creates(passes="Bucket", applies="PolicyDocument")
def bucket_policy(ctx: Context, res: Resource) -> Created:
    """Apply the whole policy, conditions included.

    The IAM enforcer evaluates bucket policies (conditions, policy variables, other
    accounts); moto's own check, which ignores conditions, is neutral on the local cloud
    (``localcloud.adapters.s3_policies``).
    """
    document = res.require("PolicyDocument")
    ctx.call("s3", "put_bucket_policy", **res.passed, Policy=json_text(document))
    return Created(ctx.name(res.logical_id, 128))


# --- DynamoDB -------------------------------------------------------------------------------


@creates(
    passes=(
        "AttributeDefinitions KeySchema BillingMode ProvisionedThroughput "
        "GlobalSecondaryIndexes LocalSecondaryIndexes DeletionProtectionEnabled TableClass Tags"
    ),
    applies=(
        "TableName SSESpecification StreamSpecification TimeToLiveSpecification "
        "PointInTimeRecoverySpecification"
    ),
    # Contributor Insights is CloudWatch analytics of live traffic: nothing to simulate.
    records="ContributorInsightsSpecification",
)
def table(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("TableName") or ctx.name(res.logical_id, 255)
    sse = p.get("SSESpecification")
    stream = p.get("StreamSpecification")
    table = ctx.call(
        "dynamodb",
        "create_table",
        TableName=name,
        **res.passed,
        SSESpecification=renamed(sse, {"SSEEnabled": "Enabled"}) if sse else None,
        StreamSpecification={"StreamEnabled": True, **stream} if stream else None,
    )["TableDescription"]
    if "TimeToLiveSpecification" in p:
        ctx.call(
            "dynamodb",
            "update_time_to_live",
            TableName=name,
            TimeToLiveSpecification=p["TimeToLiveSpecification"],
        )
    if "PointInTimeRecoverySpecification" in p:
        ctx.call(
            "dynamodb",
            "update_continuous_backups",
            TableName=name,
            PointInTimeRecoverySpecification=p["PointInTimeRecoverySpecification"],
        )
    attributes = {"Arn": table["TableArn"]}
    if "LatestStreamArn" in table:
        attributes["StreamArn"] = table["LatestStreamArn"]
    return Created(name, attributes)
