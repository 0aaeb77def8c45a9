"""SSM parameters, documents, patch baselines, maintenance windows, targets and tasks."""

from __future__ import annotations

import json

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, renamed


@creates(
    passes="Type Value Description Tier AllowedPattern DataType",
    applies="Name Tags",
    # Parameter policies (expiration, notification) act over time; none is simulated.
    records="Policies",
)
def parameter(ctx: Context, res: Resource) -> Created:
    p = res.properties
    name = p.get("Name") or f"CFN-{ctx.name(res.logical_id, 2044)}"
    # Unlike most types, a parameter's Tags are a plain map in CloudFormation.
    tags = [{"Key": key, "Value": value} for key, value in (p.get("Tags") or {}).items()]
    ctx.call("ssm", "put_parameter", Name=name, **res.passed, Tags=tags or None)
    return Created(name, {"Type": res.require("Type"), "Value": res.require("Value")})


@creates(
    passes="DocumentType DocumentFormat TargetType VersionName Requires Attachments Tags",
    applies="Name Content",
    # How CloudFormation replaces a document on update; the local deploy only creates.
    records="UpdateMethod",
)
def document(ctx: Context, res: Resource) -> Created:
    """A Command document (a hook, a health check) or any other type SSM stores.

    ``Content`` is an object (JSON documents) or text (YAML); ``Ref`` is the document's name,
    generated as CloudFormation generates names when ``Name`` is not set.
    """
    name = res.properties.get("Name") or ctx.name(res.logical_id, 128)
    content = res.require("Content")
    text = content if isinstance(content, str) else json.dumps(content)
    ctx.call("ssm", "create_document", Name=name, Content=text, **res.passed)
    return Created(name)


@creates(
    passes=(
        "Name OperatingSystem Description ApprovalRules ApprovedPatches "
        "ApprovedPatchesComplianceLevel ApprovedPatchesEnableNonSecurity GlobalFilters "
        "RejectedPatches RejectedPatchesAction Sources"
    ),
    applies="PatchGroups",
    # moto 5.2.5 fails CreatePatchBaseline given Tags (and AddTagsToResource on baselines)
    # and does not implement RegisterDefaultPatchBaseline.
    records="Tags DefaultBaseline",
)
def patch_baseline(ctx: Context, res: Resource) -> Created:
    baseline_id = ctx.call("ssm", "create_patch_baseline", **res.passed)["BaselineId"]
    for group in res.properties.get("PatchGroups", []):
        ctx.call(
            "ssm",
            "register_patch_baseline_for_patch_group",
            BaselineId=baseline_id,
            PatchGroup=group,
        )
    return Created(baseline_id)


@creates(
    passes=(
        "Name Schedule Duration Cutoff AllowUnassociatedTargets Description "
        "ScheduleTimezone ScheduleOffset StartDate EndDate Tags"
    ),
)
def maintenance_window(ctx: Context, res: Resource) -> Created:
    return Created(ctx.call("ssm", "create_maintenance_window", **res.passed)["WindowId"])


@creates(
    passes="WindowId ResourceType Targets Name Description OwnerInformation",
)
def maintenance_window_target(ctx: Context, res: Resource) -> Created:
    target = ctx.call("ssm", "register_target_with_maintenance_window", **res.passed)
    return Created(target["WindowTargetId"])


# CloudFormation's names in a window task's properties -> the SSM API's.
_LOGGING_INFO = {"S3Bucket": "S3BucketName", "S3Prefix": "S3KeyPrefix", "Region": "S3Region"}
_TASK_INVOCATION_PARAMETERS = {
    "MaintenanceWindowRunCommandParameters": "RunCommand",
    "MaintenanceWindowAutomationParameters": "Automation",
    "MaintenanceWindowStepFunctionsParameters": "StepFunctions",
    "MaintenanceWindowLambdaParameters": "Lambda",
}


@creates(
    passes=(
        "WindowId TaskArn TaskType Targets Priority MaxConcurrency MaxErrors ServiceRoleArn "
        "Name Description CutoffBehavior"
    ),
    applies="LoggingInfo TaskInvocationParameters",
)
def maintenance_window_task(ctx: Context, res: Resource) -> Created:
    p = res.properties
    logging_info = p.get("LoggingInfo")
    invocation = p.get("TaskInvocationParameters")
    task = ctx.call(
        "ssm",
        "register_task_with_maintenance_window",
        **res.passed,
        LoggingInfo=renamed(logging_info, _LOGGING_INFO) if logging_info else None,
        TaskInvocationParameters=renamed(invocation, _TASK_INVOCATION_PARAMETERS)
        if invocation
        else None,
    )
    return Created(task["WindowTaskId"])
