"""Packaging, as ``sam package`` does it but offline: local artifact paths become placeholders.

The template's local paths (code directories, layer content, definitions, nested templates)
are rewritten to ``s3://`` locations in a bucket that does not exist; the deploy keeps the
placeholder -> local path map, and the local cloud runs what the local path holds.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localcloud.intrinsics import TemplateError

# Where ``sam package`` would have uploaded local artifacts: a name for the placeholders only.
ARTIFACT_BUCKET = "localcloud-artifacts"


def _s3_uri(key: str) -> str:
    return f"s3://{ARTIFACT_BUCKET}/{key}"


def _s3_object(key: str) -> dict[str, str]:
    return {"S3Bucket": ARTIFACT_BUCKET, "S3Key": key}


def _s3_location(key: str) -> dict[str, str]:
    return {"Bucket": ARTIFACT_BUCKET, "Key": key}


TEMPLATE_URL_PREFIX = f"https://{ARTIFACT_BUCKET}.s3.amazonaws.com/"


def _template_url(key: str) -> str:
    return TEMPLATE_URL_PREFIX + key


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


def package(template: dict[str, Any], template_dir: Path) -> dict[str, Path]:
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


def placeholder_zip() -> bytes:
    """A dummy deployment package: moto stores it, the local runtime runs the directory."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("LOCALCLOUD.txt", "the local cloud runs this code from its directory\n")
    return archive.getvalue()
