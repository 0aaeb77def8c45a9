"""Nested stacks (``AWS::CloudFormation::Stack``), deployed into the same cloud."""

from __future__ import annotations

from localcloud.deployer.context import Context, Created, Resource
from localcloud.deployer.packaging import TEMPLATE_URL_PREFIX
from localcloud.deployer.resources.base import creates
from localcloud.intrinsics import TemplateError, as_text


@creates(
    applies="TemplateURL Parameters",
    # Stack-level settings with nothing to act on locally (no notifications, no timeouts).
    records="TimeoutInMinutes NotificationARNs Tags",
)
def nested_stack(ctx: Context, res: Resource) -> Created:
    url = str(res.require("TemplateURL"))
    key = url.removeprefix(TEMPLATE_URL_PREFIX)
    if key == url or key not in ctx.artifacts:
        raise TemplateError(
            f"TemplateURL {url}: the local cloud deploys nested stacks from local paths "
            "relative to the template"
        )
    parameters = {
        name: as_text(value, f"Parameters.{name}")
        for name, value in (res.properties.get("Parameters") or {}).items()
    }
    child = ctx.deploy_nested(ctx.artifacts[key], parameters, ctx.name(res.logical_id, 128))
    outputs = {f"Outputs.{name}": value for name, value in child.outputs.items()}
    return Created(child.stack_id, outputs, nested=child)
