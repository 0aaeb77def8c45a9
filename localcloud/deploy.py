"""Deploy the real SAM template into a running LocalCloud, as ``sam package`` + ``deploy`` would.

    with LocalCloud() as cloud:
        stack = cloud.deploy()                         # template.yaml with its defaults
        stack.function_name("PatchOnLaunchFunction")   # the physical name, as in AWS

What a deploy does, and why:

1. Package. aws-sam-translator accepts only S3 locations for ``CodeUri``, ``ContentUri``
   and ``DefinitionUri``. Like ``sam package``, each local path becomes a placeholder
   ``s3://`` location and the deploy keeps the local path: that directory (or file) is
   what the local cloud runs. Nothing is uploaded.
2. Transform SAM to CloudFormation offline with the translator.
3. Parameters (defaults, overrides, validation), pseudo parameters, Conditions.
4. Create each resource in dependency order through boto3 against the cloud, with the API
   calls CloudFormation makes, so everything deployed is observable through the AWS APIs.
   Functions are also registered with the local Lambda runtime, which runs their code from
   the template's directories. (moto's own CloudFormation is not used: it ignores state
   machines' ``DefinitionSubstitutions`` and knows nothing of the local runtime.)
5. Resolve ``Outputs`` into the returned :class:`Stack`.

Every property of a supported type is either applied or *recorded*: kept on the
:class:`Stack` because the local cloud cannot apply it (each type's list says why). Any
other property, and any resource type outside :data:`SUPPORTED_TYPES`, fails the deploy
naming them: a template feature ignored in silence would let tests pass that AWS fails.
Types in :data:`RECORDED_ONLY_TYPES` are kept on the stack without any API call.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import time
import zipfile
from base64 import b32encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import yaml
from botocore.exceptions import BotoCoreError, ClientError
from botocore.model import Shape
from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform

from localcloud.extensions.awslambda import FunctionSpec
from localcloud.intrinsics import (
    Evaluator,
    PseudoParameters,
    TemplateError,
    as_text,
    creation_order,
    load_template,
)

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

__all__ = [
    "ARTIFACT_BUCKET",
    "DEFAULT_STACK_NAME",
    "RECORDED_ONLY_TYPES",
    "SUPPORTED_TYPES",
    "DeployError",
    "Stack",
    "StackResource",
    "TemplateError",
    "deploy_template",
]

LOG = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "fleetpatch-local"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


class DeployError(Exception):
    """A resource failed to create (CloudFormation's CREATE_FAILED), with the AWS error."""

    def __init__(self, logical_id: str, resource_type: str, reason: str) -> None:
        super().__init__(f"{logical_id} ({resource_type}) failed to create: {reason}")
        self.logical_id = logical_id
        self.resource_type = resource_type


# --- the stack ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackResource:
    """One deployed resource, as ``DescribeStackResources`` plus what the deploy resolved."""

    logical_id: str
    resource_type: str
    physical_id: str
    """What ``Ref`` returns: a name, an ARN, a queue URL or an id, per type."""
    attributes: Mapping[str, Any]
    """What ``Fn::GetAtt`` returns, by attribute name."""
    properties: Mapping[str, Any]
    """The properties with every intrinsic resolved."""
    recorded: Mapping[str, Any] = field(default_factory=dict)
    """Properties kept here but not applied to the cloud (see the resource type)."""
    local_path: Path | None = None
    """The code directory, layer content or definition file the local cloud uses."""
    nested: Stack | None = None
    """For an ``AWS::CloudFormation::Stack``: the stack it deployed."""


@dataclass
class Stack:
    """A deployed stack: its resources by logical id, outputs, parameters and template."""

    name: str
    stack_id: str
    parameters: dict[str, Any]
    template: dict[str, Any]
    """The CloudFormation template after the SAM transform (artifacts as ``s3://`` placeholders)."""
    resources: dict[str, StackResource] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    exports: dict[str, Any] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    """SAM logical id -> the id the transform gave it (layers get a content hash suffix)."""

    @property
    def physical_ids(self) -> dict[str, str]:
        return {logical_id: r.physical_id for logical_id, r in self.resources.items()}

    def resource(self, logical_id: str) -> StackResource:
        """A resource by its CloudFormation logical id, or by its id in the SAM template."""
        try:
            return self.resources[self.renamed.get(logical_id, logical_id)]
        except KeyError:
            known = ", ".join(sorted(self.resources))
            raise KeyError(
                f"stack {self.name} has no resource {logical_id} (it has: {known})"
            ) from None

    def physical_id(self, logical_id: str) -> str:
        return self.resource(logical_id).physical_id

    def nested(self, logical_id: str) -> Stack:
        """The stack a nested-stack resource (``AWS::CloudFormation::Stack``) deployed."""
        child = self._of_type(logical_id, "AWS::CloudFormation::Stack").nested
        assert child is not None  # every created nested-stack resource has one
        return child

    def arn(self, logical_id: str) -> str:
        return str(self.get_att(self.resource(logical_id).logical_id, "Arn"))

    def output(self, key: str) -> Any:
        try:
            return self.outputs[key]
        except KeyError:
            known = ", ".join(sorted(self.outputs))
            raise KeyError(f"stack {self.name} has no output {key} (it has: {known})") from None

    def function_name(self, logical_id: str) -> str:
        return self._of_type(logical_id, "AWS::Lambda::Function").physical_id

    def state_machine_arn(self, logical_id: str) -> str:
        return self._of_type(logical_id, "AWS::StepFunctions::StateMachine").physical_id

    def queue_url(self, logical_id: str) -> str:
        return self._of_type(logical_id, "AWS::SQS::Queue").physical_id

    def of_type(self, resource_type: str) -> list[StackResource]:
        return [r for r in self.resources.values() if r.resource_type == resource_type]

    def _of_type(self, logical_id: str, resource_type: str) -> StackResource:
        resource = self.resource(logical_id)
        if resource.resource_type != resource_type:
            raise TypeError(f"{logical_id} is a {resource.resource_type}, not a {resource_type}")
        return resource

    # ResourceLookup: intrinsics resolve against the resources created so far.

    def ref(self, logical_id: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(
                f"Ref to {logical_id}: no parameter or created resource has that name"
            )
        return self.resources[logical_id].physical_id

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: no such resource")
        resource = self.resources[logical_id]
        if attribute not in resource.attributes:
            known = ", ".join(sorted(resource.attributes)) or "none"
            raise TemplateError(
                f"Fn::GetAtt {logical_id}.{attribute}: the local cloud knows these attributes "
                f"of {resource.resource_type}: {known}"
            )
        return resource.attributes[attribute]


# --- deploying ------------------------------------------------------------------------------


def deploy_template(
    cloud: LocalCloud,
    template_path: Path,
    parameters: Mapping[str, str],
    *,
    stack_name: str = DEFAULT_STACK_NAME,
) -> Stack:
    """Deploy a SAM or CloudFormation template into ``cloud``; see the module docstring."""
    started = time.perf_counter()
    template_path = template_path.resolve()
    template = load_template(template_path)
    pseudo = PseudoParameters(cloud.region, cloud.account_id, stack_name)
    values = _parameter_values(template.get("Parameters") or {}, parameters, _SsmParameters(cloud))
    artifacts = _package(template, template_path.parent)
    renamed: dict[str, str] = {}
    if _transforms(template) == [SAM_TRANSFORM]:
        sam_ids = list(template["Resources"])
        template = _sam_to_cloudformation(template, parameters, pseudo)
        renamed = _renamed_by_sam(sam_ids, template["Resources"])
    stack = Stack(stack_name, pseudo.stack_id, values, template, renamed=renamed)
    evaluator = Evaluator(
        parameters=values,
        pseudo=pseudo,
        conditions=template.get("Conditions"),
        mappings=template.get("Mappings"),
        resources=stack,
    )
    resources = _enabled_resources(template["Resources"], evaluator)
    _check_types(resources)
    context = _Context(cloud, pseudo, artifacts)
    for logical_id in creation_order(resources, evaluator):
        stack.resources[logical_id] = _create(context, evaluator, logical_id, resources[logical_id])
    _resolve_outputs(stack, template.get("Outputs") or {}, evaluator)
    LOG.info(
        "deployed stack %s: %d resources in %.2f s",
        stack_name,
        len(stack.resources),
        time.perf_counter() - started,
    )
    return stack


def _transforms(template: Mapping[str, Any]) -> list[str]:
    declared = template.get("Transform") or []
    transforms = [declared] if isinstance(declared, str) else list(declared)
    unsupported = [name for name in transforms if name != SAM_TRANSFORM]
    if unsupported:
        raise TemplateError(f"transforms not supported by the local deploy: {unsupported}")
    return transforms


def _enabled_resources(
    resources: Mapping[str, Any], evaluator: Evaluator
) -> dict[str, Mapping[str, Any]]:
    """The resources whose Condition (if any) is true: the ones CloudFormation creates."""
    enabled: dict[str, Mapping[str, Any]] = {}
    for logical_id, resource in resources.items():
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(f"resource {logical_id} has no Type")
        condition = resource.get("Condition")
        if condition is None or evaluator.is_true(condition):
            enabled[logical_id] = resource
    return enabled


def _check_types(resources: Mapping[str, Mapping[str, Any]]) -> None:
    unknown: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] not in _RESOURCE_TYPES:
            unknown.setdefault(resource["Type"], []).append(logical_id)
    if unknown:
        listed = "; ".join(f"{kind} ({', '.join(ids)})" for kind, ids in sorted(unknown.items()))
        raise TemplateError(
            f"resource types the local cloud does not support: {listed}. Supported: "
            f"{', '.join(SUPPORTED_TYPES)}; recorded only: {', '.join(RECORDED_ONLY_TYPES)}"
        )


def _create(
    context: _Context, evaluator: Evaluator, logical_id: str, resource: Mapping[str, Any]
) -> StackResource:
    resource_type: str = resource["Type"]
    kind = _RESOURCE_TYPES[resource_type]
    try:
        properties = evaluator.resolve(resource.get("Properties") or {})
    except TemplateError as exc:
        raise TemplateError(f"resource {logical_id}: {exc}") from exc
    try:
        kind.check(properties)
        created = kind.create(
            context, _Resource(logical_id, resource_type, properties, kind.passes)
        )
    except TemplateError as exc:
        raise TemplateError(f"resource {logical_id} ({resource_type}): {exc}") from exc
    except (ClientError, BotoCoreError) as exc:
        raise DeployError(logical_id, resource_type, str(exc)) from exc
    except DeployError:
        raise
    except Exception as exc:  # a bug here or in moto: keep its traceback, say where
        exc.add_note(f"while creating {logical_id} ({resource_type})")
        raise
    recorded = {
        name: value
        for name, value in properties.items()
        if kind.recorded_only or name in kind.records
    }
    return StackResource(
        logical_id,
        resource_type,
        created.physical_id,
        created.attributes,
        properties,
        {**recorded, **created.recorded},
        created.local_path,
        created.nested,
    )


def _resolve_outputs(stack: Stack, outputs: Mapping[str, Any], evaluator: Evaluator) -> None:
    for key, output in outputs.items():
        condition = output.get("Condition")
        if condition is not None and not evaluator.is_true(condition):
            continue
        try:
            stack.outputs[key] = evaluator.resolve(output["Value"])
            if "Export" in output:
                stack.exports[evaluator.resolve(output["Export"]["Name"])] = stack.outputs[key]
        except TemplateError as exc:
            raise TemplateError(f"output {key}: {exc}") from exc


# --- parameters -----------------------------------------------------------------------------


class _SsmParameters:
    """Values of ``AWS::SSM::Parameter::Value<...>`` parameters, read from the cloud's SSM."""

    def __init__(self, cloud: LocalCloud) -> None:
        self._cloud = cloud

    def __call__(self, name: str) -> str:
        ssm = self._cloud.client("ssm")
        try:
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound as exc:
            raise TemplateError(f"SSM parameter {name} does not exist in the local cloud") from exc


_SSM_PARAMETER_TYPE = re.compile(r"AWS::SSM::Parameter::Value<(.+)>")


def _parameter_values(
    declared: Mapping[str, Any], given: Mapping[str, str], ssm_value: Callable[[str], str]
) -> dict[str, Any]:
    """Each parameter's value as ``Ref`` returns it: defaults overridden, then validated."""
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise TemplateError(f"parameters {unknown} do not exist in the template")
    missing = sorted(
        name for name, spec in declared.items() if name not in given and "Default" not in spec
    )
    if missing:
        raise TemplateError(f"parameters {missing} must have values (they have no Default)")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        text = as_text(given.get(name, spec.get("Default")), f"parameter {name}")
        kind = str(spec.get("Type", "String"))
        ssm_type = _SSM_PARAMETER_TYPE.fullmatch(kind)
        if ssm_type:
            text, kind = ssm_value(text), ssm_type.group(1)
        values[name] = _typed_parameter(name, spec, kind, text)
    return values


def _typed_parameter(name: str, spec: Mapping[str, Any], kind: str, text: str) -> Any:
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    items = [item.strip() for item in text.split(",")] if is_list else [text]
    for item in items:
        _validate_parameter(name, spec, kind, item)
    return items if is_list else text


def _validate_parameter(name: str, spec: Mapping[str, Any], kind: str, value: str) -> None:
    def fail(reason: str) -> NoReturn:
        raise TemplateError(f"parameter {name}={value!r}: {reason}")

    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [as_text(v, name) for v in allowed]:
        fail(f"must be one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        fail(f"must match {pattern}")
    if not spec.get("MinLength", 0) <= len(value) <= spec.get("MaxLength", len(value)):
        fail("has the wrong length")
    if kind in {"Number", "List<Number>"}:
        try:
            number = float(value)
        except ValueError:
            fail("must be a number")
        else:
            if not spec.get("MinValue", number) <= number <= spec.get("MaxValue", number):
                fail("is out of range")


# --- packaging and the SAM transform --------------------------------------------------------

# Where ``sam package`` would have uploaded local artifacts: a name for the placeholders only.
ARTIFACT_BUCKET = "localcloud-artifacts"


def _s3_uri(key: str) -> str:
    return f"s3://{ARTIFACT_BUCKET}/{key}"


def _s3_object(key: str) -> dict[str, str]:
    return {"S3Bucket": ARTIFACT_BUCKET, "S3Key": key}


def _s3_location(key: str) -> dict[str, str]:
    return {"Bucket": ARTIFACT_BUCKET, "Key": key}


_TEMPLATE_URL_PREFIX = f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/"


def _template_url(key: str) -> str:
    return _TEMPLATE_URL_PREFIX + key


# The properties whose local paths ``sam package`` uploads, and the shape it writes instead.
_ARTIFACT_PROPERTIES: dict[str, tuple[str, Callable[[str], Any]]] = {
    "AWS::Serverless::Function": ("CodeUri", _s3_uri),
    "AWS::Serverless::LayerVersion": ("ContentUri", _s3_uri),
    "AWS::Serverless::StateMachine": ("DefinitionUri", _s3_uri),
    "AWS::Lambda::Function": ("Code", _s3_object),
    "AWS::Lambda::LayerVersion": ("Content", _s3_object),
    "AWS::StepFunctions::StateMachine": ("DefinitionS3Location", _s3_location),
    "AWS::CloudFormation::Stack": ("TemplateURL", _template_url),
}


def _package(template: dict[str, Any], template_dir: Path) -> dict[str, Path]:
    """Rewrite local artifact paths to placeholder S3 locations; return key -> local path."""
    artifacts: dict[str, Path] = {}

    def placeholder(owner: str, value: str, shape: Callable[[str], Any]) -> Any:
        local = Path(os.path.normpath(template_dir / value))
        if not local.exists():
            raise TemplateError(f"{owner}: {value} does not exist (relative to {template_dir})")
        key = Path(os.path.relpath(local, template_dir)).as_posix()
        artifacts[key] = local
        return shape(key)

    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") not in _ARTIFACT_PROPERTIES:
            continue
        name, shape = _ARTIFACT_PROPERTIES[resource["Type"]]
        properties = resource.get("Properties") or {}
        if _is_local_path(properties.get(name)):
            properties[name] = placeholder(f"{logical_id}.{name}", properties[name], shape)
    function_globals = (template.get("Globals") or {}).get("Function") or {}
    if _is_local_path(function_globals.get("CodeUri")):
        function_globals["CodeUri"] = placeholder(
            "Globals.Function.CodeUri", function_globals["CodeUri"], _s3_uri
        )
    return artifacts


def _is_local_path(value: Any) -> bool:
    return isinstance(value, str) and not value.startswith(("s3://", "https://"))


class _NoManagedPolicyLookup:
    """The translator's fallback lookup of AWS managed policy names, answered offline.

    The translator resolves names from the map bundled with it (every AWS managed policy of
    the partition) and asks this loader only for names missing there; the real loader would
    list IAM's policies in AWS. A name no map knows is not an AWS managed policy: returning
    nothing makes the translator keep it as written, and the role's creation then fails
    naming it.
    """

    def load(self) -> dict[str, str]:
        return {}


def _sam_to_cloudformation(
    template: dict[str, Any], parameters: Mapping[str, str], pseudo: PseudoParameters
) -> dict[str, Any]:
    values = {
        **parameters,
        "AWS::Region": pseudo.region,
        "AWS::AccountId": pseudo.account_id,
        "AWS::Partition": pseudo.partition,
        "AWS::StackName": pseudo.stack_name,
    }
    try:
        transformed: dict[str, Any] = transform(template, values, _NoManagedPolicyLookup())
    except InvalidDocumentException as exc:
        problems = "; ".join(cause.message for cause in exc.causes)
        raise TemplateError(f"the SAM transform rejected the template: {problems}") from exc
    finally:
        # The translator times itself into metrics nobody publishes, and warns about them
        # when they are garbage-collected; its publisher here is a dummy.
        MetricsMethodWrapperSingleton.get_instance().publish()
    return transformed


def _renamed_by_sam(sam_ids: list[str], resources: Mapping[str, Any]) -> dict[str, str]:
    """SAM ids the transform replaced by ``<id><10 hex digits>`` (layer versions do)."""
    renamed: dict[str, str] = {}
    for sam_id in sam_ids:
        if sam_id in resources:
            continue
        pattern = re.compile(re.escape(sam_id) + "[0-9a-f]{10}")
        matches = [logical_id for logical_id in resources if pattern.fullmatch(logical_id)]
        if len(matches) == 1:
            renamed[sam_id] = matches[0]
    return renamed


# --- what creators work with ----------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    passes: frozenset[str] = frozenset()

    @property
    def passed(self) -> dict[str, Any]:
        """The properties the API takes exactly as CloudFormation has them."""
        return {name: value for name, value in self.properties.items() if name in self.passes}

    def require(self, name: str) -> Any:
        if name not in self.properties:
            raise TemplateError(f"property {name} is required")
        return self.properties[name]


@dataclass(frozen=True)
class _Created:
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    local_path: Path | None = None
    recorded: dict[str, Any] = field(default_factory=dict)
    nested: Stack | None = None


def _placeholder_zip() -> bytes:
    """A dummy deployment package: moto stores it, the local runtime runs the directory."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("LOCALCLOUD.txt", "the local cloud runs this code from its directory\n")
    return archive.getvalue()


class _Context:
    """The cloud as creators see it: API calls, generated names, ARNs and artifacts."""

    def __init__(
        self, cloud: LocalCloud, pseudo: PseudoParameters, artifacts: Mapping[str, Path]
    ) -> None:
        self.cloud = cloud
        self.pseudo = pseudo
        self.artifacts = artifacts
        self.placeholder_zip = _placeholder_zip()
        self._clients: dict[str, Any] = {}

    def call(self, service: str, method: str, **params: Any) -> Any:
        """Call an AWS API with CloudFormation's leniency about scalar types.

        Templates say ``Timeout: !Ref Seconds`` (a string) where the API wants an integer;
        CloudFormation converts, and so do we, guided by the operation's input shape.
        ``None`` arguments are left out, so creators can pass optional properties as-is.
        """
        if service not in self._clients:
            self._clients[service] = self.cloud.client(service)
        client = self._clients[service]
        operation = client.meta.service_model.operation_model(
            client.meta.method_to_api_mapping[method]
        )
        present = {name: value for name, value in params.items() if value is not None}
        return getattr(client, method)(**_conform(present, operation.input_shape))

    def name(self, logical_id: str, max_length: int, *, lowercase: bool = False) -> str:
        """The name CloudFormation generates: ``<stack>-<LogicalId>-<SUFFIX>``, truncated.

        The suffix is derived from the stack and logical id, so names are stable per deploy.
        """
        digest = hashlib.sha256(f"{self.pseudo.stack_name}/{logical_id}".encode()).digest()
        suffix = b32encode(digest).decode()[:12]
        budget = max_length - len(suffix) - 2
        stack = self.pseudo.stack_name[: max(budget - len(logical_id), budget // 2)]
        name = f"{stack}-{logical_id[: budget - len(stack)]}-{suffix}"
        return name.lower() if lowercase else name

    def arn(self, service: str, resource: str) -> str:
        pseudo = self.pseudo
        return f"arn:{pseudo.partition}:{service}:{pseudo.region}:{pseudo.account_id}:{resource}"

    def artifact(self, location: Mapping[str, Any], bucket: str, key: str) -> Path:
        """The local path behind a packaged location; anything else cannot run locally."""
        if location.get(bucket) == ARTIFACT_BUCKET and location.get(key) in self.artifacts:
            return self.artifacts[location[key]]
        raise TemplateError(
            f"{location!r} is not a local path of the template; "
            "the local cloud runs code and definitions from the template's directories"
        )


def _conform(value: Any, shape: Shape) -> Any:
    """``value`` with scalars converted to the types ``shape`` (an API input) declares."""
    if shape.type_name == "structure" and isinstance(value, dict):
        members = shape.members  # type: ignore[attr-defined]
        return {k: _conform(v, members[k]) if k in members else v for k, v in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_conform(item, shape.member) for item in value]  # type: ignore[attr-defined]
    if shape.type_name == "map" and isinstance(value, dict):
        return {k: _conform(v, shape.value) for k, v in value.items()}  # type: ignore[attr-defined]
    if shape.type_name in {"integer", "long"} and isinstance(value, str):
        return int(value)
    if shape.type_name in {"float", "double"} and isinstance(value, str | int):
        return float(value)
    if shape.type_name == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if shape.type_name == "string" and isinstance(value, bool | int | float):
        return as_text(value, shape.name)
    return value


# --- the resource type registry -------------------------------------------------------------

_Creator = Callable[[_Context, _Resource], _Created]


@dataclass(frozen=True)
class _ResourceType:
    create: _Creator
    passes: frozenset[str]
    """Properties handed to the API unchanged (the creator uses ``_Resource.passed``)."""
    applies: frozenset[str]
    """Properties the creator translates or applies with further API calls."""
    records: frozenset[str]
    """Properties accepted and kept on the stack, but not applied (the type says why)."""
    recorded_only: bool

    def check(self, properties: Mapping[str, Any]) -> None:
        if self.recorded_only:
            return
        unsupported = sorted(set(properties) - self.passes - self.applies - self.records)
        if unsupported:
            raise TemplateError(
                f"properties the local cloud does not support: {', '.join(unsupported)}"
            )


_RESOURCE_TYPES: dict[str, _ResourceType] = {}


def _resource(
    resource_type: str, *, passes: str = "", applies: str = "", records: str = ""
) -> Callable[[_Creator], _Creator]:
    """Register a creator; the arguments are whitespace-separated property names."""

    def register(create: _Creator) -> _Creator:
        _RESOURCE_TYPES[resource_type] = _ResourceType(
            create,
            frozenset(passes.split()),
            frozenset(applies.split()),
            frozenset(records.split()),
            recorded_only=False,
        )
        return create

    return register


def _recorded_only(resource_type: str) -> Callable[[_Creator], _Creator]:
    """Register a type kept on the stack with no API call; its creator says why."""

    def register(create: _Creator) -> _Creator:
        empty: frozenset[str] = frozenset()
        _RESOURCE_TYPES[resource_type] = _ResourceType(
            create, empty, empty, empty, recorded_only=True
        )
        return create

    return register


def _tags(properties: Mapping[str, Any]) -> dict[str, str]:
    """CloudFormation's ``[{Key, Value}]`` tags as the map most APIs take."""
    return {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}


def _json(value: Any) -> str | None:
    """A policy or pattern as the APIs take it: CloudFormation accepts objects or text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _attribute_text(value: Any, name: str) -> str:
    """An SQS or SNS attribute value: JSON documents as text, scalars as CloudFormation prints."""
    return json.dumps(value) if isinstance(value, dict | list) else as_text(value, name)


def _renamed(properties: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``properties`` with CloudFormation's key names replaced by the API's (``names``)."""
    return {names.get(key, key): value for key, value in properties.items()}


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _generated_name(ctx: _Context, res: _Resource, max_length: int, fifo: bool) -> str:
    """A generated topic or queue name; FIFO ones must end in ``.fifo``."""
    if fifo:
        return ctx.name(res.logical_id, max_length - len(".fifo")) + ".fifo"
    return ctx.name(res.logical_id, max_length)


# --- KMS ------------------------------------------------------------------------------------


@_resource(
    "AWS::KMS::Key",
    passes="Description KeyUsage KeySpec MultiRegion",
    applies="KeyPolicy EnableKeyRotation Enabled Tags",
    # Deletion and rotation schedules: nothing in the local cloud deletes or rotates keys.
    records="PendingWindowInDays RotationPeriodInDays",
)
def _kms_key(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    key = ctx.call(
        "kms",
        "create_key",
        **res.passed,
        Policy=_json(p.get("KeyPolicy")),
        Tags=[{"TagKey": k, "TagValue": v} for k, v in _tags(p).items()] or None,
    )["KeyMetadata"]
    if _is_true(p.get("EnableKeyRotation", False)):
        ctx.call("kms", "enable_key_rotation", KeyId=key["KeyId"])
    if not _is_true(p.get("Enabled", True)):
        ctx.call("kms", "disable_key", KeyId=key["KeyId"])
    return _Created(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


@_resource("AWS::KMS::Alias", passes="AliasName TargetKeyId")
def _kms_alias(ctx: _Context, res: _Resource) -> _Created:
    ctx.call("kms", "create_alias", **res.passed)
    return _Created(res.require("AliasName"))


# --- S3 -------------------------------------------------------------------------------------


def _encryption(configuration: Mapping[str, Any]) -> dict[str, Any]:
    rules = configuration["ServerSideEncryptionConfiguration"]
    default = {"ServerSideEncryptionByDefault": "ApplyServerSideEncryptionByDefault"}
    return {"Rules": [_renamed(rule, default) for rule in rules]}


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


@_resource(
    "AWS::S3::Bucket",
    applies=" ".join(["BucketName", *_BUCKET_SETTINGS]),
    # Notifications: moto emits no S3 events to EventBridge. Access logging: nothing writes
    # access logs locally, and moto checks the target bucket's policy at PutBucketLogging,
    # which CloudFormation does not order before the logged bucket.
    records="NotificationConfiguration LoggingConfiguration",
)
def _bucket(ctx: _Context, res: _Resource) -> _Created:
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
    return _Created(
        name,
        {
            "Arn": f"arn:{ctx.pseudo.partition}:s3:::{name}",
            "DomainName": f"{name}.s3.{suffix}",
            "RegionalDomainName": f"{name}.s3.{region}.{suffix}",
            "DualStackDomainName": f"{name}.s3.dualstack.{region}.{suffix}",
            "WebsiteURL": f"http://{name}.s3-website.{region}.{suffix}",
        },
    )


@_resource("AWS::S3::BucketPolicy", passes="Bucket", applies="PolicyDocument")
def _bucket_policy(ctx: _Context, res: _Resource) -> _Created:
    """Apply the policy; record its conditional statements, which moto cannot evaluate.

    moto enforces ``Principal: "*"`` statements but ignores their ``Condition``: the usual
    "deny unless TLS" statement would deny every request. Such statements are kept under
    ``recorded`` (cfn-lint and checkov read them from the template as written).
    """
    document = res.require("PolicyDocument")
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    conditional = [s for s in statements if "Condition" in s]
    applied = [s for s in statements if "Condition" not in s]
    if applied:
        policy = _json({**document, "Statement": applied})
        ctx.call("s3", "put_bucket_policy", **res.passed, Policy=policy)
    recorded = {"ConditionalStatements": conditional} if conditional else {}
    return _Created(ctx.name(res.logical_id, 128), recorded=recorded)


# --- SNS ------------------------------------------------------------------------------------

_TOPIC_ATTRIBUTES = (
    "DisplayName KmsMasterKeyId FifoTopic ContentBasedDeduplication SignatureVersion TracingConfig"
)


@_resource(
    "AWS::SNS::Topic",
    applies=f"TopicName Subscription Tags {_TOPIC_ATTRIBUTES}",
)
def _topic(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("TopicName") or _generated_name(ctx, res, 256, _is_true(p.get("FifoTopic")))
    attributes = {
        key: _attribute_text(p[key], key) for key in _TOPIC_ATTRIBUTES.split() if key in p
    }
    arn = ctx.call("sns", "create_topic", Name=name, Attributes=attributes, Tags=p.get("Tags"))[
        "TopicArn"
    ]
    for subscription in p.get("Subscription", []):
        ctx.call("sns", "subscribe", TopicArn=arn, **subscription)
    return _Created(arn, {"TopicArn": arn, "TopicName": name})


_SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicy FilterPolicyScope RawMessageDelivery RedrivePolicy DeliveryPolicy"
)


@_resource(
    "AWS::SNS::Subscription",
    passes="TopicArn Protocol Endpoint",
    applies=_SUBSCRIPTION_ATTRIBUTES,
    # The local cloud is one region: a subscription's region is always its own.
    records="Region",
)
def _subscription(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    attributes = {
        key: _attribute_text(p[key], key) for key in _SUBSCRIPTION_ATTRIBUTES.split() if key in p
    }
    arn = ctx.call(
        "sns",
        "subscribe",
        **res.passed,
        Attributes=attributes or None,
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return _Created(arn, {"Arn": arn})


@_resource("AWS::SNS::TopicPolicy", applies="Topics PolicyDocument")
def _topic_policy(ctx: _Context, res: _Resource) -> _Created:
    policy = _json(res.require("PolicyDocument"))
    for topic in res.require("Topics"):
        ctx.call(
            "sns",
            "set_topic_attributes",
            TopicArn=topic,
            AttributeName="Policy",
            AttributeValue=policy,
        )
    return _Created(ctx.name(res.logical_id, 128))


# --- SQS ------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "DelaySeconds MaximumMessageSize MessageRetentionPeriod ReceiveMessageWaitTimeSeconds "
    "VisibilityTimeout KmsMasterKeyId KmsDataKeyReusePeriodSeconds SqsManagedSseEnabled "
    "FifoQueue ContentBasedDeduplication DeduplicationScope FifoThroughputLimit "
    "RedrivePolicy RedriveAllowPolicy"
)


@_resource("AWS::SQS::Queue", applies=f"QueueName Tags {_QUEUE_ATTRIBUTES}")
def _queue(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("QueueName") or _generated_name(ctx, res, 80, _is_true(p.get("FifoQueue")))
    attributes = {
        key: _attribute_text(p[key], key) for key in _QUEUE_ATTRIBUTES.split() if key in p
    }
    url = ctx.call(
        "sqs", "create_queue", QueueName=name, Attributes=attributes, tags=_tags(p) or None
    )["QueueUrl"]
    arn = ctx.call("sqs", "get_queue_attributes", QueueUrl=url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    return _Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@_resource("AWS::SQS::QueuePolicy", applies="Queues PolicyDocument")
def _queue_policy(ctx: _Context, res: _Resource) -> _Created:
    policy = _json(res.require("PolicyDocument"))
    for url in res.require("Queues"):
        ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes={"Policy": policy})
    return _Created(ctx.name(res.logical_id, 128))


# --- DynamoDB -------------------------------------------------------------------------------


@_resource(
    "AWS::DynamoDB::Table",
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
def _table(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("TableName") or ctx.name(res.logical_id, 255)
    sse = p.get("SSESpecification")
    stream = p.get("StreamSpecification")
    table = ctx.call(
        "dynamodb",
        "create_table",
        TableName=name,
        **res.passed,
        SSESpecification=_renamed(sse, {"SSEEnabled": "Enabled"}) if sse else None,
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
    return _Created(name, attributes)


# --- IAM ------------------------------------------------------------------------------------


def _identity_policy(document: Any) -> str | None:
    """An IAM policy document as moto accepts it.

    SAM writes its policy templates without ``Version``; IAM accepts that, moto 5.2.5
    rejects it (MalformedPolicyDocument), so a missing Version gets IAM's current one.
    """
    if isinstance(document, dict) and "Version" not in document:
        document = {"Version": "2012-10-17", **document}
    return _json(document)


_AWS_MANAGED_POLICY = re.compile(r"arn:aws[a-z-]*:iam::aws:policy/.+")


def _attach(ctx: _Context, role: str, policy_arns: list[str]) -> list[str]:
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


@_resource(
    "AWS::IAM::Role",
    passes="Path Description MaxSessionDuration PermissionsBoundary Tags",
    applies="RoleName AssumeRolePolicyDocument Policies ManagedPolicyArns",
)
def _role(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("RoleName") or ctx.name(res.logical_id, 64)
    role = ctx.call(
        "iam",
        "create_role",
        RoleName=name,
        AssumeRolePolicyDocument=_json(res.require("AssumeRolePolicyDocument")),
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
    return _Created(
        name,
        {"Arn": role["Arn"], "RoleId": role["RoleId"]},
        recorded={"ManagedPolicyArns": aws_managed} if aws_managed else {},
    )


@_resource("AWS::IAM::Policy", applies="PolicyName PolicyDocument Roles")
def _role_policy(ctx: _Context, res: _Resource) -> _Created:
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
    return _Created(physical_id, {"Id": physical_id})


@_resource(
    "AWS::IAM::ManagedPolicy",
    passes="Path Description",
    applies="ManagedPolicyName PolicyDocument Roles",
)
def _managed_policy(ctx: _Context, res: _Resource) -> _Created:
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
    return _Created(arn, {"PolicyArn": arn})


# --- CloudWatch Logs and alarms -------------------------------------------------------------


@_resource(
    "AWS::Logs::LogGroup",
    applies="LogGroupName RetentionInDays KmsKeyId LogGroupClass Tags",
    # Data protection masks sensitive data in log events; the local cloud writes none.
    records="DataProtectionPolicy",
)
def _log_group(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("LogGroupName") or ctx.name(res.logical_id, 512)
    ctx.call(
        "logs",
        "create_log_group",
        logGroupName=name,
        kmsKeyId=p.get("KmsKeyId"),
        logGroupClass=p.get("LogGroupClass"),
        tags=_tags(p) or None,
    )
    if "RetentionInDays" in p:
        days = p["RetentionInDays"]
        ctx.call("logs", "put_retention_policy", logGroupName=name, retentionInDays=days)
    return _Created(name, {"Arn": ctx.arn("logs", f"log-group:{name}:*")})


@_resource(
    "AWS::CloudWatch::Alarm",
    passes=(
        "AlarmDescription ActionsEnabled AlarmActions OKActions InsufficientDataActions "
        "MetricName Namespace Statistic ExtendedStatistic Dimensions Period Unit "
        "EvaluationPeriods DatapointsToAlarm Threshold ComparisonOperator TreatMissingData "
        "EvaluateLowSampleCountPercentile Metrics ThresholdMetricId Tags"
    ),
    applies="AlarmName",
)
def _alarm(ctx: _Context, res: _Resource) -> _Created:
    name = res.properties.get("AlarmName") or ctx.name(res.logical_id, 255)
    ctx.call("cloudwatch", "put_metric_alarm", AlarmName=name, **res.passed)
    return _Created(name, {"Arn": ctx.arn("cloudwatch", f"alarm:{name}")})


# --- Lambda ---------------------------------------------------------------------------------


@_resource(
    "AWS::Lambda::LayerVersion",
    passes="LayerName CompatibleRuntimes CompatibleArchitectures Description LicenseInfo",
    applies="Content",
)
def _layer(ctx: _Context, res: _Resource) -> _Created:
    """A dummy layer version: its package is importable in the local cloud already."""
    local = ctx.artifact(res.require("Content"), "S3Bucket", "S3Key")
    arn = ctx.call(
        "lambda",
        "publish_layer_version",
        **res.passed,
        Content={"ZipFile": ctx.placeholder_zip},
    )["LayerVersionArn"]
    return _Created(arn, {"LayerVersionArn": arn}, local_path=local)


@_resource(
    "AWS::Lambda::Function",
    passes=(
        "Handler Runtime Role Timeout MemorySize Layers DeadLetterConfig Architectures "
        "Description TracingConfig LoggingConfig EphemeralStorage"
    ),
    applies="FunctionName Code Environment ReservedConcurrentExecutions Tags KmsKeyArn",
)
def _function(ctx: _Context, res: _Resource) -> _Created:
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
        Tags=_tags(p) or None,
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
    return _Created(name, {"Arn": arn}, local_path=code_dir)


def _function_code_dir(ctx: _Context, res: _Resource) -> Path:
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


@_resource(
    "AWS::Lambda::EventInvokeConfig",
    passes="Qualifier MaximumRetryAttempts MaximumEventAgeInSeconds DestinationConfig",
    applies="FunctionName",
)
def _event_invoke_config(ctx: _Context, res: _Resource) -> _Created:
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
    return _Created(ctx.name(res.logical_id, 128))


@_resource(
    "AWS::Lambda::Permission",
    passes="SourceArn SourceAccount EventSourceToken PrincipalOrgID FunctionUrlAuthType",
    applies="FunctionName Action Principal",
)
def _permission(ctx: _Context, res: _Resource) -> _Created:
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
    return _Created(statement_id)


# --- EventBridge and Scheduler --------------------------------------------------------------


@_resource(
    "AWS::Events::Rule",
    passes="Description ScheduleExpression EventBusName RoleArn",
    applies="Name EventPattern State Targets",
)
def _rule(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("Name") or ctx.name(res.logical_id, 64)
    arn = ctx.call(
        "events",
        "put_rule",
        Name=name,
        EventPattern=_json(p.get("EventPattern")),
        State=p.get("State", "ENABLED"),
        **res.passed,
    )["RuleArn"]
    if p.get("Targets"):
        failed = ctx.call(
            "events",
            "put_targets",
            Rule=name,
            EventBusName=p.get("EventBusName"),
            Targets=p["Targets"],
        )["FailedEntries"]
        if failed:
            raise DeployError(res.logical_id, res.type, f"PutTargets failed: {failed}")
    return _Created(name, {"Arn": arn})


@_recorded_only("AWS::Scheduler::Schedule")
def _schedule(ctx: _Context, res: _Resource) -> _Created:
    """Recorded only: schedules never fire in moto; simulations drive time themselves."""
    name = res.properties.get("Name") or ctx.name(res.logical_id, 64)
    group = res.properties.get("GroupName", "default")
    return _Created(name, {"Arn": ctx.arn("scheduler", f"schedule/{group}/{name}")})


# --- Step Functions -------------------------------------------------------------------------


@_resource(
    "AWS::StepFunctions::StateMachine",
    applies=(
        "StateMachineName StateMachineType RoleArn Definition DefinitionString "
        "DefinitionS3Location DefinitionSubstitutions LoggingConfiguration "
        "TracingConfiguration EncryptionConfiguration Tags"
    ),
)
def _state_machine(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("StateMachineName") or ctx.name(res.logical_id, 80)
    text, local = _definition_text(ctx, res)
    definition = _substitute(res, text, p.get("DefinitionSubstitutions") or {})
    if local is not None and local.suffix in {".yaml", ".yml"}:
        definition = json.dumps(yaml.safe_load(definition))
    arn = ctx.call(
        "stepfunctions",
        "create_state_machine",
        name=name,
        definition=definition,
        roleArn=res.require("RoleArn"),
        type=p.get("StateMachineType", "STANDARD"),
        loggingConfiguration=_camel_keys(p.get("LoggingConfiguration")),
        tracingConfiguration=_camel_keys(p.get("TracingConfiguration")),
        encryptionConfiguration=_camel_keys(p.get("EncryptionConfiguration")),
        tags=[{"key": k, "value": v} for k, v in _tags(p).items()] or None,
    )["stateMachineArn"]
    return _Created(arn, {"Arn": arn, "Name": name}, local_path=local)


def _definition_text(ctx: _Context, res: _Resource) -> tuple[str, Path | None]:
    """The definition as text, and the local file it came from (if it did)."""
    p = res.properties
    if "Definition" in p:
        return json.dumps(p["Definition"]), None
    if "DefinitionString" in p:
        return str(p["DefinitionString"]), None
    local = ctx.artifact(res.require("DefinitionS3Location"), "Bucket", "Key")
    return local.read_text(), local


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def _substitute(res: _Resource, definition: str, substitutions: Mapping[str, Any]) -> str:
    """Apply ``DefinitionSubstitutions`` to the definition text, as CloudFormation does.

    A placeholder with no substitution is an error here, where AWS would deploy the literal
    ``${Name}`` and the workflow would fail at run time.
    """
    values = {
        key: as_text(value, f"DefinitionSubstitutions.{key}")
        for key, value in substitutions.items()
    }
    missing = sorted({name for name in _PLACEHOLDER.findall(definition) if name not in values})
    if missing:
        raise TemplateError(
            f"the definition uses {', '.join(missing)} but "
            "DefinitionSubstitutions does not define them"
        )
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], definition)


def _camel_keys(value: Any) -> Any:
    """CloudFormation's ``LogGroupArn`` as the Step Functions API's ``logGroupArn``."""
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel_keys(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel_keys(item) for item in value]
    return value


# --- CloudFormation ------------------------------------------------------------------------


@_resource(
    "AWS::CloudFormation::Stack",
    applies="TemplateURL Parameters",
    # Stack-level settings with nothing to act on locally (no notifications, no timeouts).
    records="TimeoutInMinutes NotificationARNs Tags",
)
def _nested_stack(ctx: _Context, res: _Resource) -> _Created:
    url = str(res.require("TemplateURL"))
    key = url.removeprefix(_TEMPLATE_URL_PREFIX)
    if key == url or key not in ctx.artifacts:
        raise TemplateError(
            f"TemplateURL {url}: the local cloud deploys nested stacks from local paths "
            "relative to the template"
        )
    parameters = {
        name: as_text(value, f"Parameters.{name}")
        for name, value in (res.properties.get("Parameters") or {}).items()
    }
    child = deploy_template(
        ctx.cloud, ctx.artifacts[key], parameters, stack_name=ctx.name(res.logical_id, 128)
    )
    outputs = {f"Outputs.{name}": value for name, value in child.outputs.items()}
    return _Created(child.stack_id, outputs, nested=child)


# --- Secrets Manager ------------------------------------------------------------------------


@_resource(
    "AWS::SecretsManager::Secret",
    passes="Description KmsKeyId Tags",
    applies="Name SecretString GenerateSecretString",
)
def _secret(ctx: _Context, res: _Resource) -> _Created:
    arn = ctx.call(
        "secretsmanager",
        "create_secret",
        Name=res.properties.get("Name") or ctx.name(res.logical_id, 512),
        SecretString=_secret_string(ctx, res.properties),
        **res.passed,
    )["ARN"]
    return _Created(arn, {"Id": arn})


def _secret_string(ctx: _Context, p: Mapping[str, Any]) -> str | None:
    generate = p.get("GenerateSecretString")
    if generate is None:
        return p.get("SecretString")
    template_keys = {"SecretStringTemplate", "GenerateStringKey"}
    options = {k: v for k, v in generate.items() if k not in template_keys}
    password: str = ctx.call("secretsmanager", "get_random_password", **options)["RandomPassword"]
    if "SecretStringTemplate" not in generate:
        return password
    document = json.loads(generate["SecretStringTemplate"])
    document[generate["GenerateStringKey"]] = password
    return json.dumps(document)


# --- SSM ------------------------------------------------------------------------------------


@_resource(
    "AWS::SSM::Parameter",
    passes="Type Value Description Tier AllowedPattern DataType",
    applies="Name Tags",
    # Parameter policies (expiration, notification) act over time; none is simulated.
    records="Policies",
)
def _parameter(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    name = p.get("Name") or f"CFN-{ctx.name(res.logical_id, 2044)}"
    # Unlike most types, a parameter's Tags are a plain map in CloudFormation.
    tags = [{"Key": key, "Value": value} for key, value in (p.get("Tags") or {}).items()]
    ctx.call("ssm", "put_parameter", Name=name, **res.passed, Tags=tags or None)
    return _Created(name, {"Type": res.require("Type"), "Value": res.require("Value")})


@_resource(
    "AWS::SSM::PatchBaseline",
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
def _patch_baseline(ctx: _Context, res: _Resource) -> _Created:
    baseline_id = ctx.call("ssm", "create_patch_baseline", **res.passed)["BaselineId"]
    for group in res.properties.get("PatchGroups", []):
        ctx.call(
            "ssm",
            "register_patch_baseline_for_patch_group",
            BaselineId=baseline_id,
            PatchGroup=group,
        )
    return _Created(baseline_id)


@_resource(
    "AWS::SSM::MaintenanceWindow",
    passes=(
        "Name Schedule Duration Cutoff AllowUnassociatedTargets Description "
        "ScheduleTimezone ScheduleOffset StartDate EndDate Tags"
    ),
)
def _maintenance_window(ctx: _Context, res: _Resource) -> _Created:
    return _Created(ctx.call("ssm", "create_maintenance_window", **res.passed)["WindowId"])


@_resource(
    "AWS::SSM::MaintenanceWindowTarget",
    passes="WindowId ResourceType Targets Name Description OwnerInformation",
)
def _maintenance_window_target(ctx: _Context, res: _Resource) -> _Created:
    target = ctx.call("ssm", "register_target_with_maintenance_window", **res.passed)
    return _Created(target["WindowTargetId"])


# CloudFormation's names in a window task's properties -> the SSM API's.
_LOGGING_INFO = {"S3Bucket": "S3BucketName", "S3Prefix": "S3KeyPrefix", "Region": "S3Region"}
_TASK_INVOCATION_PARAMETERS = {
    "MaintenanceWindowRunCommandParameters": "RunCommand",
    "MaintenanceWindowAutomationParameters": "Automation",
    "MaintenanceWindowStepFunctionsParameters": "StepFunctions",
    "MaintenanceWindowLambdaParameters": "Lambda",
}


@_resource(
    "AWS::SSM::MaintenanceWindowTask",
    passes=(
        "WindowId TaskArn TaskType Targets Priority MaxConcurrency MaxErrors ServiceRoleArn "
        "Name Description CutoffBehavior"
    ),
    applies="LoggingInfo TaskInvocationParameters",
)
def _maintenance_window_task(ctx: _Context, res: _Resource) -> _Created:
    p = res.properties
    logging_info = p.get("LoggingInfo")
    invocation = p.get("TaskInvocationParameters")
    task = ctx.call(
        "ssm",
        "register_task_with_maintenance_window",
        **res.passed,
        LoggingInfo=_renamed(logging_info, _LOGGING_INFO) if logging_info else None,
        TaskInvocationParameters=_renamed(invocation, _TASK_INVOCATION_PARAMETERS)
        if invocation
        else None,
    )
    return _Created(task["WindowTaskId"])


SUPPORTED_TYPES: tuple[str, ...] = tuple(
    sorted(name for name, kind in _RESOURCE_TYPES.items() if not kind.recorded_only)
)
RECORDED_ONLY_TYPES: tuple[str, ...] = tuple(
    sorted(name for name, kind in _RESOURCE_TYPES.items() if kind.recorded_only)
)
