"""Secrets Manager secrets, with generated passwords."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.resources.base import creates


@creates(
    passes="Description KmsKeyId Tags",
    applies="Name SecretString GenerateSecretString",
)
def secret(ctx: Context, res: Resource) -> Created:
    arn = ctx.call(
        "secretsmanager",
        "create_secret",
        Name=res.properties.get("Name") or ctx.name(res.logical_id, 512),
        SecretString=_secret_string(ctx, res.properties),
        **res.passed,
    )["ARN"]
    return Created(arn, {"Id": arn})


def _secret_string(ctx: Context, p: Mapping[str, Any]) -> str | None:
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
