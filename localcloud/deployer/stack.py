"""A deployed stack: its resources, outputs and exports, and the lookups intrinsics make."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.intrinsics import Evaluator, TemplateError


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


def resolve_outputs(stack: Stack, outputs: Mapping[str, Any], evaluator: Evaluator) -> None:
    """Each output whose Condition holds, and its export, resolved onto ``stack``."""
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
