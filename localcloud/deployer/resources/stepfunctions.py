"""Step Functions state machines, with their definition substitutions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates, tags
from localcloud.intrinsics import TemplateError, as_text


@creates(
    applies=(
        "StateMachineName StateMachineType RoleArn Definition DefinitionString "
        "DefinitionS3Location DefinitionSubstitutions LoggingConfiguration "
        "TracingConfiguration EncryptionConfiguration Tags"
    ),
)
def state_machine(ctx: Context, res: Resource) -> Created:
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
        tags=[{"key": k, "value": v} for k, v in tags(p).items()] or None,
    )["stateMachineArn"]
    return Created(arn, {"Arn": arn, "Name": name}, local_path=local)


def _definition_text(ctx: Context, res: Resource) -> tuple[str, Path | None]:
    """The definition as text, and the local file it came from (if it did)."""
    p = res.properties
    if "Definition" in p:
        return json.dumps(p["Definition"]), None
    if "DefinitionString" in p:
        return str(p["DefinitionString"]), None
    local = ctx.artifact(res.require("DefinitionS3Location"), "Bucket", "Key")
    return local.read_text(), local


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")


def _substitute(res: Resource, definition: str, substitutions: Mapping[str, Any]) -> str:
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
