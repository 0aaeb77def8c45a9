"""The deploy itself: package, transform, parameters, then each resource in dependency order."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from localcloud.deployer import cache, visible
from localcloud.deployer.context import Context, NestedDeploy, Resource
from localcloud.deployer.errors import DeployError
from localcloud.deployer.packaging import package
from localcloud.deployer.parameters import SsmParameters, parameter_values
from localcloud.deployer.registry import RESOURCE_TYPES, check_types
from localcloud.deployer.sam import SAM_TRANSFORM, renamed_by_sam, sam_to_cloudformation, transforms
from localcloud.deployer.stack import Stack, StackResource, resolve_outputs
from localcloud.intrinsics import (
    Evaluator,
    PseudoParameters,
    TemplateError,
    creation_order,
)

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud

LOG = logging.getLogger(__name__)

DEFAULT_STACK_NAME = "fleetpatch-local"


def deploy_template(
    cloud: LocalCloud,
    template_path: Path,
    parameters: Mapping[str, str],
    *,
    stack_name: str = DEFAULT_STACK_NAME,
) -> Stack:
    """Deploy a SAM or CloudFormation template into ``cloud``; see :mod:`localcloud.deployer`."""
    started = time.perf_counter()
    template_path = template_path.resolve()
    template, digest = cache.parsed_template(template_path)
    pseudo = PseudoParameters(cloud.region, cloud.account_id, stack_name)
    values = parameter_values(template.get("Parameters") or {}, parameters, SsmParameters(cloud))
    artifacts = package(template, template_path.parent)
    renamed: dict[str, str] = {}
    if transforms(template) == [SAM_TRANSFORM]:
        sam_ids = list(template["Resources"])
        sam = template
        template = cache.transformed_template(
            digest, parameters, pseudo, lambda: sam_to_cloudformation(sam, parameters, pseudo)
        )
        renamed = renamed_by_sam(sam_ids, template["Resources"])
    stack = Stack(stack_name, pseudo.stack_id, values, template, renamed=renamed)
    evaluator = Evaluator(
        parameters=values,
        pseudo=pseudo,
        conditions=template.get("Conditions"),
        mappings=template.get("Mappings"),
        resources=stack,
    )
    resources = _enabled_resources(template["Resources"], evaluator)
    check_types(resources)
    context = Context(cloud, pseudo, artifacts, _nested_deploy(cloud))
    for logical_id in creation_order(resources, evaluator):
        stack.resources[logical_id] = _create(context, evaluator, logical_id, resources[logical_id])
    resolve_outputs(stack, template.get("Outputs") or {}, evaluator)
    visible.record(cloud.account_id, cloud.region, stack)
    LOG.info(
        "deployed stack %s: %d resources in %.2f s",
        stack_name,
        len(stack.resources),
        time.perf_counter() - started,
    )
    return stack


def _nested_deploy(cloud: LocalCloud) -> NestedDeploy:
    """How a nested stack resource deploys its template: as a stack of its own, here."""

    def deploy(template_path: Path, parameters: Mapping[str, str], stack_name: str) -> Stack:
        return deploy_template(cloud, template_path, parameters, stack_name=stack_name)

    return deploy


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


def _create(
    context: Context, evaluator: Evaluator, logical_id: str, resource: Mapping[str, Any]
) -> StackResource:
    resource_type: str = resource["Type"]
    kind = RESOURCE_TYPES[resource_type]
    try:
        properties = evaluator.resolve(resource.get("Properties") or {})
    except TemplateError as exc:
        raise TemplateError(f"resource {logical_id}: {exc}") from exc
    try:
        kind.check(properties)
        created = kind.create(context, Resource(logical_id, resource_type, properties, kind.passes))
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
