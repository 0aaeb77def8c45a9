"""template.yaml as CloudFormation StackSets with service-managed permissions accept it.

StackSets refuse a template with a transform ("Transform is not supported in
SERVICE_MANAGED permission model", a ValidationError of CreateStackSet), and their default
execution role (``stacksets-exec-*``) cannot provision nested stacks either (AWS
CloudFormation User Guide, *Configure a custom execution role template for StackSets*). So,
offline and without any AWS call:

1. each function's code and the layer are zipped (deterministic archives: sorted entries,
   fixed timestamps and modes) under a key that is their content's SHA-256;
2. each state machine's definition file is inlined (``Definition``), so it needs no bucket;
3. the SAM transform runs with aws-sam-translator and a static managed-policy map (the one
   bundled with the translator), into plain CloudFormation;
4. every ``Code``/``Content`` location points at ``${ArtifactBucketPrefix}-${AWS::Region}``
   (a new parameter): a Lambda function's code must come from a bucket in its own region,
   and one template body serves every region;
5. the fleet policy's nested stack is inlined: its resources become ``FleetPolicy<Id>``,
   its parameters are replaced by what the parent passed, and each
   ``!GetAtt FleetPolicy.Outputs.X`` by that output's value.

The transform is run twice, with different regions, accounts and parameter values: equal
results prove nothing was resolved into the template that a stack instance must decide.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from samtranslator.metrics.method_decorator import MetricsMethodWrapperSingleton
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.utils.py27hash_fix import (
    to_py27_compatible_template,
    undo_mark_unicode_str_in_template,
)

from localcloud.intrinsics import TemplateError, load_template

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
_SAM_LAYER = "AWS::Serverless::LayerVersion"
BUCKET_PARAMETER = "ArtifactBucketPrefix"
# The bucket of the stack instance's own region, as the template names it.
REGIONAL_BUCKET: dict[str, Any] = {"Fn::Sub": "${" + BUCKET_PARAMETER + "}-${AWS::Region}"}
KEY_PREFIX = "fleetpatch/"

# CreateStackSet's limits (AWS CloudFormation API Reference, CreateStackSet): TemplateBody
# 51,200 bytes; a template behind TemplateURL 1 MB. Resources per template: 500
# (AWS CloudFormation User Guide, *Understand CloudFormation quotas*).
TEMPLATE_BODY_LIMIT = 51_200
TEMPLATE_URL_LIMIT = 1_048_576
RESOURCE_LIMIT = 500

# What the translator sees as the artifacts' bucket; replaced by REGIONAL_BUCKET afterwards.
_PLACEHOLDER_BUCKET = "fleetpatch-stackset-placeholder"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


class PackagingError(Exception):
    """The template cannot become a StackSet template; the message says why."""


@dataclass(frozen=True)
class Artifact:
    key: str
    body: bytes
    source: Path


@dataclass(frozen=True)
class StackSetPackage:
    template: dict[str, Any]
    artifacts: dict[str, Artifact]

    def body(self) -> str:
        """The template as compact JSON (what is uploaded or passed as TemplateBody)."""
        return json.dumps(self.template, separators=(",", ":"))

    @property
    def size(self) -> int:
        return len(self.body().encode())

    @property
    def needs_template_url(self) -> bool:
        """Too big for TemplateBody: CreateStackSet must be given a TemplateURL (S3)."""
        return self.size > TEMPLATE_BODY_LIMIT


def build(template_path: Path, *, allow_unbuilt: bool = False) -> StackSetPackage:
    """The StackSet template of ``template_path`` and the artifacts it refers to."""
    try:
        sam = load_template(template_path)
    except TemplateError as exc:
        raise PackagingError(str(exc)) from exc
    base = template_path.resolve().parent
    declared = sam.get("Transform") or []
    transforms = [declared] if isinstance(declared, str) else list(declared)
    if transforms not in ([], [SAM_TRANSFORM]):
        raise PackagingError(f"only the {SAM_TRANSFORM} transform can be expanded: {transforms}")
    artifacts: dict[str, Artifact] = {}
    _package_code(sam, base, artifacts, allow_unbuilt=allow_unbuilt)
    _inline_definitions(sam, base)
    nested = _nested_templates(sam, base)
    first = _translate(copy.deepcopy(sam), _variant(sam, 0)) if transforms else copy.deepcopy(sam)
    if transforms:
        second = _translate(copy.deepcopy(sam), _variant(sam, 1))
        ids = [i for i, r in sam["Resources"].items() if r.get("Type") == _SAM_LAYER]
        for translated in (first, second):
            _restore_layer_names(translated, sam, ids)
        a, b = _canonical_layer_ids(first, ids), _canonical_layer_ids(second, ids)
        if a != b:
            raise PackagingError(
                "the SAM transform resolved a region, account or parameter into the template "
                f"({_first_difference(a, b)}): one body cannot serve every stack instance"
            )
    template = _definitions_as_objects(_regional_buckets(first))
    for logical_id, child in nested.items():
        template = _inline_stack(template, logical_id, child)
    template.setdefault("Parameters", {})[BUCKET_PARAMETER] = {
        "Type": "String",
        "AllowedPattern": "^[a-z0-9][a-z0-9.-]{1,40}$",
        "Description": "artifact buckets are <prefix>-<region>, one per region (fleetpatch "
        "package --stackset uploads the code there)",
    }
    check(template)
    return StackSetPackage(template, artifacts)


def check(template: Mapping[str, Any]) -> None:
    """Refuse what StackSets with service-managed permissions refuse (or would fail on)."""
    problems = []
    if "Transform" in template:
        problems.append("it declares a Transform")
    resources = template.get("Resources") or {}
    for logical_id, resource in resources.items():
        kind = str(resource.get("Type", ""))
        if kind.startswith("AWS::Serverless::"):
            problems.append(f"{logical_id} is {kind}")
        if kind == "AWS::CloudFormation::Stack":
            problems.append(f"{logical_id} is a nested stack")
    if _contains_key(template, "Fn::Transform"):
        problems.append("it uses Fn::Transform (a macro)")
    if len(resources) > RESOURCE_LIMIT:
        problems.append(f"{len(resources)} resources (at most {RESOURCE_LIMIT})")
    size = len(json.dumps(template, separators=(",", ":")).encode())
    if size > TEMPLATE_URL_LIMIT:
        problems.append(f"{size} bytes (a TemplateURL allows at most {TEMPLATE_URL_LIMIT})")
    if problems:
        raise PackagingError("not a StackSet template: " + "; ".join(problems))


# --- code and definitions ---------------------------------------------------------------------


def _package_code(
    sam: dict[str, Any], base: Path, artifacts: dict[str, Artifact], *, allow_unbuilt: bool
) -> None:
    def location(owner: str, value: Any, *, layer: bool) -> Any:
        if not isinstance(value, str) or value.startswith("s3://"):
            return value
        local = Path(os.path.normpath(base / value))
        if not local.is_dir():
            raise PackagingError(f"{owner}: {value} is not a directory (relative to {base})")
        if (local / "requirements.txt").is_file() and not allow_unbuilt:
            raise PackagingError(
                f"{owner}: {value} has a requirements.txt whose packages a zip of the source "
                "would lack: run `sam build` and package .aws-sam/build/template.yaml "
                "(or pass --allow-unbuilt for a test)"
            )
        prefix = "python/" if layer and not (local / "python").is_dir() else ""
        body = deterministic_zip(local, prefix)
        key = f"{KEY_PREFIX}{hashlib.sha256(body).hexdigest()}.zip"
        artifacts[key] = Artifact(key, body, local)
        return {"Bucket": _PLACEHOLDER_BUCKET, "Key": key}

    function_globals = (sam.get("Globals") or {}).get("Function") or {}
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = location(
            "Globals.Function.CodeUri", function_globals["CodeUri"], layer=False
        )
    for logical_id, resource in sam["Resources"].items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = location(
                f"{logical_id}.CodeUri", properties["CodeUri"], layer=False
            )
        elif resource.get("Type") == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = location(
                f"{logical_id}.ContentUri", properties.get("ContentUri"), layer=True
            )


def deterministic_zip(directory: Path, prefix: str = "") -> bytes:
    """``directory`` zipped so the same files give the same bytes (and the same key)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for path in sorted(directory.rglob("*")):
            relative = path.relative_to(directory)
            if not path.is_file() or "__pycache__" in relative.parts or path.suffix == ".pyc":
                continue
            info = zipfile.ZipInfo(prefix + relative.as_posix(), date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(info, path.read_bytes())
    return archive.getvalue()


def _inline_definitions(sam: dict[str, Any], base: Path) -> None:
    for logical_id, resource in sam["Resources"].items():
        properties = resource.get("Properties") or {}
        uri = properties.get("DefinitionUri")
        if resource.get("Type") != "AWS::Serverless::StateMachine" or not isinstance(uri, str):
            continue
        if uri.startswith("s3://"):
            raise PackagingError(
                f"{logical_id}.DefinitionUri {uri}: a definition in S3 is in one region only"
            )
        path = base / uri
        try:
            text = path.read_text()
        except OSError as exc:
            raise PackagingError(f"{logical_id}.DefinitionUri: cannot read {path}: {exc}") from exc
        definition = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        del properties["DefinitionUri"]
        properties["Definition"] = definition


# --- the transform ----------------------------------------------------------------------------


_VARIANTS = (
    {"AWS::Region": "eu-central-1", "AWS::AccountId": "111111111111"},
    {"AWS::Region": "us-west-2", "AWS::AccountId": "222222222222"},
)


def _variant(sam: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Pseudo parameters, and (for the second) every parameter with a non-default value."""
    values: dict[str, Any] = {
        **_VARIANTS[index],
        "AWS::Partition": "aws",
        "AWS::StackName": f"StackSet-fleetpatch-{index}",
    }
    if index:
        for name, spec in (sam.get("Parameters") or {}).items():
            values[name] = f"{spec.get('Default', '')}1"
    return values


def _translate(sam: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    # What samtranslator.translator.transform.transform does, with a session of the variant's
    # region (a session makes no call) and the managed-policy map bundled with the translator
    # alone: a name it does not know is kept as written (no IAM ListPolicies call).
    session = boto3.session.Session(region_name=values["AWS::Region"])
    translator = Translator(None, Parser(), boto_session=session)
    try:
        to_py27_compatible_template(sam, values)
        translated = translator.translate(sam, values, get_managed_policy_map=dict)
        result: dict[str, Any] = undo_mark_unicode_str_in_template(translated)
    except InvalidDocumentException as exc:
        problems = "; ".join(cause.message for cause in exc.causes)
        raise PackagingError(f"the SAM transform rejected the template: {problems}") from exc
    finally:
        MetricsMethodWrapperSingleton.get_instance().publish()
    return result


def _restore_layer_names(template: dict[str, Any], sam: Mapping[str, Any], ids: list[str]) -> None:
    """Each layer's ``LayerName`` as the SAM template wrote it.

    The translator resolves parameters in a layer's ``LayerName`` (``!Sub fleetpatch-${Stage}``
    becomes ``fleetpatch-default``): a StackSet's parameter override would not reach it.
    """
    for sam_id in ids:
        name = (sam["Resources"][sam_id].get("Properties") or {}).get("LayerName")
        pattern = re.compile(re.escape(sam_id) + "[0-9a-f]{10}")
        for logical_id, resource in template["Resources"].items():
            if pattern.fullmatch(logical_id) and name is not None:
                resource["Properties"]["LayerName"] = copy.deepcopy(name)


def _canonical_layer_ids(template: dict[str, Any], layer_ids: list[str]) -> Any:
    """``template`` with each layer version's id back to its SAM id.

    The translator names a layer version ``<SamId><10 hex digits>``, a hash of its properties
    with the parameters resolved: a logical id, fixed when packaging, not a value.
    """
    text = json.dumps(template)
    for sam_id in layer_ids:
        pattern = re.compile(re.escape(sam_id) + "[0-9a-f]{10}")
        for logical_id in [i for i in template["Resources"] if pattern.fullmatch(i)]:
            text = text.replace(f'"{logical_id}"', f'"{sam_id}"')
    return json.loads(text)


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _first_difference(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{index}]")
    return path.lstrip(".") or "the whole template"


def _regional_buckets(template: dict[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if value.get("S3Bucket") == _PLACEHOLDER_BUCKET:
                return {**value, "S3Bucket": copy.deepcopy(REGIONAL_BUCKET)}
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    result: dict[str, Any] = walk(template)
    if _contains_value(result, _PLACEHOLDER_BUCKET):
        raise PackagingError("an artifact location is left that is not a Code or Content")
    return result


def _definitions_as_objects(template: dict[str, Any]) -> dict[str, Any]:
    """Each state machine's ``Definition`` as an object again.

    The translator writes an inline definition as ``DefinitionString: !Join ["\\n", lines]``
    of the pretty-printed JSON: a third larger, and beyond cfn-lint's recursion limit.
    CloudFormation takes the object (``Definition``) with the same substitutions.
    """
    for resource in template["Resources"].values():
        properties = resource.get("Properties") or {}
        joined = properties.get("DefinitionString")
        if resource.get("Type") != "AWS::StepFunctions::StateMachine" or not isinstance(
            joined, dict
        ):
            continue
        separator, lines = joined.get("Fn::Join", (None, None))
        if separator == "\n" and all(isinstance(line, str) for line in lines):
            del properties["DefinitionString"]
            properties["Definition"] = json.loads("\n".join(lines))
    return template


# --- nested stacks ----------------------------------------------------------------------------


def _nested_templates(sam: Mapping[str, Any], base: Path) -> dict[str, dict[str, Any]]:
    nested = {}
    for logical_id, resource in sam["Resources"].items():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        url = (resource.get("Properties") or {}).get("TemplateURL")
        if not isinstance(url, str) or url.startswith("https://"):
            raise PackagingError(
                f"{logical_id}: a nested stack from {url!r} cannot be inlined (a local path can)"
            )
        try:
            child = load_template(base / url)
        except TemplateError as exc:
            raise PackagingError(str(exc)) from exc
        if child.get("Transform") or child.get("Conditions") or child.get("Mappings"):
            raise PackagingError(f"{logical_id}: only a plain nested template can be inlined")
        nested[logical_id] = child
    return nested


def _inline_stack(
    template: dict[str, Any], stack_id: str, child: Mapping[str, Any]
) -> dict[str, Any]:
    resources = template["Resources"]
    stack = resources.pop(stack_id)
    passed = (stack.get("Properties") or {}).get("Parameters") or {}
    declared = child.get("Parameters") or {}
    values = {}
    for name, spec in declared.items():
        if name in passed:
            values[name] = passed[name]
        elif "Default" in spec:
            values[name] = spec["Default"]
        else:
            raise PackagingError(f"{stack_id}: parameter {name} has no value")
    renamed = {logical_id: f"{stack_id}{logical_id}" for logical_id in child["Resources"]}
    clash = sorted(set(renamed.values()) & set(resources))
    if clash:
        raise PackagingError(f"{stack_id}: inlined ids clash with the template's: {clash}")
    rewrite = _Rewriter(values, renamed)
    for logical_id, resource in child["Resources"].items():
        moved = rewrite(copy.deepcopy(resource))
        if "DependsOn" in moved:
            depends = moved["DependsOn"]
            names = [depends] if isinstance(depends, str) else depends
            moved["DependsOn"] = [renamed.get(n, n) for n in names]
        resources[renamed[logical_id]] = moved
    outputs = {name: rewrite(spec["Value"]) for name, spec in (child.get("Outputs") or {}).items()}
    inner = list(renamed.values())
    return _replace_stack_references(template, stack_id, outputs, inner)


class _Rewriter:
    """A child resource's intrinsics, as they read inside the parent template."""

    def __init__(self, values: Mapping[str, Any], renamed: Mapping[str, str]) -> None:
        self.values = values
        self.renamed = renamed

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name in self.values:
                return copy.deepcopy(self.values[name])
            return {"Ref": self.renamed.get(name, name)}
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            parts = target.split(".", 1) if isinstance(target, str) else list(target)
            return {"Fn::GetAtt": [self.renamed.get(parts[0], parts[0]), *parts[1:]]}
        if set(value) == {"Fn::Sub"}:
            return {"Fn::Sub": self._sub(value["Fn::Sub"])}
        return {k: self(v) for k, v in value.items()}

    def _sub(self, spec: Any) -> Any:
        text, variables = (spec, {}) if isinstance(spec, str) else (spec[0], dict(spec[1]))
        variables = {k: self(v) for k, v in variables.items()}
        for name, replacement in self.renamed.items():
            text = text.replace("${" + name + "}", "${" + replacement + "}")
            text = text.replace("${" + name + ".", "${" + replacement + ".")
        for name, passed in self.values.items():
            if "${" + name + "}" in text and name not in variables:
                variables[name] = copy.deepcopy(passed)
        return [text, variables] if variables else text


def _replace_stack_references(
    template: dict[str, Any], stack_id: str, outputs: Mapping[str, Any], inner: list[str]
) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, list):
            return [walk(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Fn::GetAtt"}:
            target = value["Fn::GetAtt"]
            parts = target.split(".", 1) if isinstance(target, str) else list(target)
            if parts[0] == stack_id:
                name = str(parts[1]).removeprefix("Outputs.")
                if name not in outputs:
                    raise PackagingError(f"{stack_id} has no output {name}")
                return copy.deepcopy(outputs[name])
        if value.get("Ref") == stack_id:
            raise PackagingError(f"Ref {stack_id} (a nested stack's id) cannot be inlined")
        return {k: walk(v) for k, v in value.items()}

    result: dict[str, Any] = walk(template)
    for resource in result["Resources"].values():
        depends = resource.get("DependsOn")
        names = [depends] if isinstance(depends, str) else depends or []
        if stack_id in names:
            resource["DependsOn"] = [n for n in names if n != stack_id] + inner
    return result


def _contains_key(value: Any, key: str) -> bool:
    return _any(value, lambda v: isinstance(v, dict) and key in v)


def _contains_value(value: Any, text: str) -> bool:
    return _any(value, lambda v: v == text)


def _any(value: Any, test: Callable[[Any], bool]) -> bool:
    if test(value):
        return True
    if isinstance(value, dict):
        return any(_any(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_any(v, test) for v in value)
    return False
