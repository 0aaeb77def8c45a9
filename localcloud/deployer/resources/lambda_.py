"""Lambda functions, layers, asynchronous invoke configs and permissions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from localcloud.adapters.awslambda import FunctionSpec
from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, tags
from localcloud.intrinsics import TemplateError, as_text


@creates(
    passes="LayerName CompatibleRuntimes CompatibleArchitectures Description LicenseInfo",
    applies="Content",
)
def layer(ctx: Context, res: Resource) -> Created:
    """A dummy layer version: its package is importable in the local cloud already."""
    local = ctx.artifact(res.require("Content"), "S3Bucket", "S3Key")
    arn = ctx.call(
        "lambda",
        "publish_layer_version",
        **res.passed,
        Content={"ZipFile": ctx.placeholder_zip},
    )["LayerVersionArn"]
    return Created(arn, {"LayerVersionArn": arn}, local_path=local)


@creates(
    passes=(
        "Handler Runtime Role Timeout MemorySize Layers DeadLetterConfig Architectures "
        "Description TracingConfig LoggingConfig EphemeralStorage"
    ),
    applies="FunctionName Code Environment ReservedConcurrentExecutions Tags KmsKeyArn",
)
def function(ctx: Context, res: Resource) -> Created:
    """A function in moto (with a dummy package) whose real code the local runtime runs."""
    p = res.properties
    name = p.get("FunctionName") or ctx.name(res.logical_id, 64)
    code_dir = _function_code_dir(ctx, res)
    environment = {
        key: as_text(value, f"environment variable {key}")
        for key, value in (p.get("Environment") or {}).get("Variables", {}).items()
    }
    arn = ctx.call(
        "lambda",
        "create_function",
        FunctionName=name,
        Code={"ZipFile": ctx.placeholder_zip},
        Environment={"Variables": environment},
        Tags=tags(p) or None,
        # CloudFormation spells it KmsKeyArn, the Lambda API KMSKeyArn.
        **({"KMSKeyArn": p["KmsKeyArn"]} if p.get("KmsKeyArn") else {}),
        **res.passed,
    )["FunctionArn"]
    if "ReservedConcurrentExecutions" in p:
        reserved = p["ReservedConcurrentExecutions"]
        ctx.call(
            "lambda",
            "put_function_concurrency",
            FunctionName=name,
            ReservedConcurrentExecutions=reserved,
        )
    ctx.cloud.lambdas.register(
        FunctionSpec(
            function_name=name,
            code_dir=code_dir,
            handler=p["Handler"],
            environment=environment,
            timeout_seconds=int(p.get("Timeout", 3)),
            memory_mb=int(p.get("MemorySize", 128)),
            dead_letter_arn=(p.get("DeadLetterConfig") or {}).get("TargetArn"),
            role_arn=p.get("Role"),
        )
    )
    return Created(name, {"Arn": arn}, local_path=code_dir)


def _function_code_dir(ctx: Context, res: Resource) -> Path:
    """The function's code directory, checked as far as the local runtime needs it."""
    runtime = str(res.require("Runtime"))
    if not runtime.startswith("python"):
        raise TemplateError(f"runtime {runtime} cannot run locally (Python only)")
    code_dir = ctx.artifact(res.require("Code"), "S3Bucket", "S3Key")
    module = str(res.require("Handler")).rpartition(".")[0]
    source = code_dir / f"{module.replace('.', '/')}.py"
    if not source.is_file():
        raise TemplateError(f"handler module {source} does not exist")
    return code_dir


@creates(
    passes="Qualifier MaximumRetryAttempts MaximumEventAgeInSeconds DestinationConfig",
    applies="FunctionName",
)
def event_invoke_config(ctx: Context, res: Resource) -> Created:
    """Lambda's asynchronous retries and on-failure destination, for the local runtime too."""
    p = res.properties
    name = str(res.require("FunctionName")).rsplit(":", 1)[-1]
    ctx.call("lambda", "put_function_event_invoke_config", FunctionName=name, **res.passed)
    spec = ctx.cloud.lambdas.functions[name]
    on_failure = (p.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
    retries = int(p.get("MaximumRetryAttempts", spec.maximum_retry_attempts))
    ctx.cloud.lambdas.register(
        replace(spec, maximum_retry_attempts=retries, on_failure_arn=on_failure)
    )
    return Created(ctx.name(res.logical_id, 128))


@creates(
    passes="SourceArn SourceAccount EventSourceToken PrincipalOrgID FunctionUrlAuthType",
    applies="FunctionName Action Principal",
)
def permission(ctx: Context, res: Resource) -> Created:
    """A statement of the function's resource policy (what EventBridge and SNS deliver by)."""
    statement_id = ctx.name(res.logical_id, 100)
    ctx.call(
        "lambda",
        "add_permission",
        FunctionName=res.require("FunctionName"),
        StatementId=statement_id,
        Action=res.require("Action"),
        Principal=res.require("Principal"),
        **res.passed,
    )
    return Created(statement_id)
