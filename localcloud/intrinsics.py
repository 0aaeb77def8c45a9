"""CloudFormation template evaluation for the local deploy: no AWS involved.

What CloudFormation itself does with a template before and while it calls the service
APIs: read the YAML (short-form tags like ``!Ref`` included), evaluate ``Conditions``,
resolve intrinsic functions and pseudo parameters, and order resource creation by their
references and ``DependsOn``. :mod:`localcloud.deployer` supplies what only a deploy knows,
the physical ids and attributes of the resources created so far, through
:class:`ResourceLookup`.

Supported: ``Ref``, ``Fn::GetAtt``, ``Fn::Sub`` (both forms, ``${!Literal}``),
``Fn::Join``, ``Fn::Select``, ``Fn::Split``, ``Fn::GetAZs``, ``Fn::Base64``,
``Fn::FindInMap``, ``Fn::If`` with ``AWS::NoValue``; in ``Conditions``: ``Fn::Equals``,
``Fn::And``, ``Fn::Or``, ``Fn::Not`` and ``Condition``. Anything else, ``Fn::ImportValue``
included, is a :class:`TemplateError` naming the function.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, final

import yaml


class TemplateError(Exception):
    """The template cannot be deployed as written; the message says where and why."""


# --- reading templates ---------------------------------------------------------------------


class _TemplateLoader(yaml.SafeLoader):
    """YAML as CloudFormation reads it: short-form intrinsic tags, dates kept as text."""


def _short_form_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in {"Ref", "Condition"} else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":  # !GetAtt Resource.Attribute
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    # CloudFormation reads `AWSTemplateFormatVersion: 2010-09-09` and other dates as strings.
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_TemplateLoader.add_multi_constructor("!", _short_form_intrinsic)
_TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def load_template(path: Path) -> dict[str, Any]:
    """Read a CloudFormation or SAM template (YAML or JSON)."""
    try:
        text = path.read_text()
        if path.suffix == ".json":
            # JSON is YAML, but PyYAML takes seconds for a packaged template's 400 KB.
            template = json.loads(text)
        else:
            template = yaml.load(text, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        raise TemplateError(f"{path} is not a template: it has no Resources section")
    return template


# --- values ---------------------------------------------------------------------------------


@final
class _NoValue:
    """``Ref: AWS::NoValue``: the property or list item it stands for is removed."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def as_text(value: Any, where: str) -> str:
    """A scalar as CloudFormation renders it inside strings (``true``, ``30``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise TemplateError(f"{where}: expected a string, got {value!r}")


@dataclass(frozen=True)
class PseudoParameters:
    """The ``AWS::*`` values CloudFormation provides to every template."""

    region: str
    account_id: str
    stack_name: str
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    @property
    def stack_id(self) -> str:
        # Stable per stack name, so that the same deploy yields the same ids.
        stack_uuid = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.account_id}/{self.stack_name}")
        return (
            f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}"
            f":stack/{self.stack_name}/{stack_uuid}"
        )

    def values(self) -> dict[str, Any]:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": self.stack_id,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }


class ResourceLookup(Protocol):
    """What ``Ref`` and ``Fn::GetAtt`` return for a resource already created."""

    def ref(self, logical_id: str) -> Any: ...

    def get_att(self, logical_id: str, attribute: str) -> Any: ...


class _NoResources:
    """The lookup while no resource exists (Conditions, Parameters)."""

    def ref(self, logical_id: str) -> Any:
        raise TemplateError(f"Ref to {logical_id}: no parameter or resource has that name")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute}: no such resource")


# `${Name}`, `${Resource.Attribute}`, `${AWS::Region}`; `${!Name}` is the literal `${Name}`.
_SUB_VARIABLE = re.compile(r"\$\{([^}]*)\}")

# Condition functions: valid in the Conditions section, not as property values.
_CONDITION_FUNCTIONS = frozenset({"Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not"})


class Evaluator:
    """Resolves intrinsic functions and conditions of one template for one deploy."""

    def __init__(
        self,
        *,
        parameters: Mapping[str, Any],
        pseudo: PseudoParameters,
        conditions: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        resources: ResourceLookup | None = None,
    ) -> None:
        self.pseudo = pseudo
        self._names: dict[str, Any] = {**pseudo.values(), **parameters}
        self._conditions = dict(conditions or {})
        self._mappings = dict(mappings or {})
        self._resources: ResourceLookup = resources or _NoResources()
        self._condition_values: dict[str, bool] = {}
        self._evaluating: list[str] = []

    # --- conditions ---------------------------------------------------------------------

    def is_true(self, condition: str) -> bool:
        """The value of a named condition (evaluated once, cycles reported)."""
        if condition in self._condition_values:
            return self._condition_values[condition]
        if condition not in self._conditions:
            raise TemplateError(f"condition {condition!r} is not defined in Conditions")
        if condition in self._evaluating:
            cycle = [*self._evaluating[self._evaluating.index(condition) :], condition]
            raise TemplateError(f"circular conditions: {' -> '.join(cycle)}")
        self._evaluating.append(condition)
        try:
            value = self._condition(self._conditions[condition], condition)
        finally:
            self._evaluating.pop()
        self._condition_values[condition] = value
        return value

    def _condition(self, expression: Any, where: str) -> bool:
        function, args = _single_key(expression, f"condition {where}")
        if function == "Condition":
            return self.is_true(args)
        if function == "Fn::Equals":
            left, right = _arguments(function, args, 2)
            return _comparable(self.resolve(left)) == _comparable(self.resolve(right))
        if function == "Fn::Not":
            (operand,) = _arguments(function, args, 1)
            return not self._condition(operand, where)
        if function in {"Fn::And", "Fn::Or"}:
            if not isinstance(args, list) or not 2 <= len(args) <= 10:
                raise TemplateError(f"{function} in {where} takes 2 to 10 conditions")
            values = [self._condition(operand, where) for operand in args]
            return all(values) if function == "Fn::And" else any(values)
        raise TemplateError(f"{function} is not a condition function (in {where})")

    # --- resolution ---------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """``value`` with every intrinsic function resolved and ``AWS::NoValue`` removed."""
        if isinstance(value, list):
            items = (self.resolve(item) for item in value)
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        intrinsic = _intrinsic_name(value)
        if intrinsic is not None:
            return _FUNCTIONS[intrinsic](self, value[intrinsic])
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _ref(self, name: Any) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"Ref takes a name, got {name!r}")
        if name in self._names:
            return self._names[name]
        return self._resources.ref(name)

    def _get_att(self, args: Any) -> Any:
        logical_id, attribute = _get_att_arguments(args)
        return self._resources.get_att(logical_id, as_text(self.resolve(attribute), "Fn::GetAtt"))

    def _sub(self, args: Any) -> str:
        text, variables = _sub_arguments(args)
        local = {name: self.resolve(value) for name, value in variables.items()}

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in local:
                value = local[name]
            elif name in self._names or "." not in name:
                value = self._ref(name)
            else:
                logical_id, attribute = name.split(".", 1)
                value = self._resources.get_att(logical_id, attribute)
            return as_text(value, f"Fn::Sub ${{{name}}}")

        return _SUB_VARIABLE.sub(substitute, text)

    def _join(self, args: Any) -> str:
        delimiter, items = _arguments("Fn::Join", args, 2)
        values = self.resolve(items)
        if not isinstance(values, list):
            raise TemplateError(f"Fn::Join needs a list of values, got {values!r}")
        return as_text(delimiter, "Fn::Join").join(as_text(v, "Fn::Join") for v in values)

    def _select(self, args: Any) -> Any:
        index, items = _arguments("Fn::Select", args, 2)
        position = int(as_text(self.resolve(index), "Fn::Select"))
        values = self.resolve(items)
        if not isinstance(values, list) or not 0 <= position < len(values):
            raise TemplateError(f"Fn::Select index {position} is out of range of {values!r}")
        return values[position]

    def _split(self, args: Any) -> list[str]:
        delimiter, source = _arguments("Fn::Split", args, 2)
        return as_text(self.resolve(source), "Fn::Split").split(as_text(delimiter, "Fn::Split"))

    def _get_azs(self, region: Any) -> list[str]:
        # Zones a, b and c: what moto's EC2 reports for the local cloud's region (eu-central-1).
        name = as_text(self.resolve(region), "Fn::GetAZs") or self.pseudo.region
        return [f"{name}{zone}" for zone in "abc"]

    def _base64(self, value: Any) -> str:
        text = as_text(self.resolve(value), "Fn::Base64")
        return base64.b64encode(text.encode()).decode()

    def _find_in_map(self, args: Any) -> Any:
        keys = [
            as_text(self.resolve(key), "Fn::FindInMap")
            for key in _arguments("Fn::FindInMap", args, 3)
        ]
        value: Any = self._mappings
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                path = ".".join(keys[: depth + 1])
                raise TemplateError(f"Fn::FindInMap: Mappings has no {path}")
            value = value[key]
        return value

    def _if(self, args: Any) -> Any:
        condition, when_true, when_false = _arguments("Fn::If", args, 3)
        return self.resolve(when_true if self.is_true(condition) else when_false)

    def _import_value(self, args: Any) -> Any:
        raise TemplateError(
            f"Fn::ImportValue {args!r} is not supported locally: the local cloud deploys a "
            "single stack, so pass the value as a parameter instead"
        )

    # --- dependencies -------------------------------------------------------------------

    def references(self, value: Any) -> set[str]:
        """Names of resources ``value`` refers to (``Fn::If`` branches not taken excluded)."""
        found: set[str] = set()
        self._collect_references(value, found)
        return found

    def _collect_references(self, value: Any, found: set[str]) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect_references(item, found)
            return
        if not isinstance(value, dict):
            return
        intrinsic = _intrinsic_name(value)
        args = value.get(intrinsic) if intrinsic else None
        if intrinsic == "Ref":
            if isinstance(args, str) and args not in self._names:
                found.add(args)
        elif intrinsic == "Fn::GetAtt":
            logical_id, attribute = _get_att_arguments(args)
            found.add(logical_id)
            self._collect_references(attribute, found)
        elif intrinsic == "Fn::Sub":
            self._sub_references(args, found)
        elif intrinsic == "Fn::If":
            condition, when_true, when_false = _arguments("Fn::If", args, 3)
            self._collect_references(when_true if self.is_true(condition) else when_false, found)
        else:
            self._collect_references(list(value.values()), found)

    def _sub_references(self, args: Any, found: set[str]) -> None:
        """The resources an ``Fn::Sub`` refers to: in its text and in its variables' values.

        ``${Name}`` and ``${Name.Attr}`` name a resource unless Name is one of the Sub's own
        variables, a parameter or a pseudo-parameter (``${!Literal}`` names nothing).
        """
        text, variables = _sub_arguments(args)
        for name in _SUB_VARIABLE.findall(text):
            if not name.startswith("!") and name not in variables and name not in self._names:
                found.add(name.split(".", 1)[0])
        self._collect_references(list(variables.values()), found)


_FUNCTIONS: dict[str, Callable[[Evaluator, Any], Any]] = {
    "Ref": Evaluator._ref,
    "Fn::GetAtt": Evaluator._get_att,
    "Fn::Sub": Evaluator._sub,
    "Fn::Join": Evaluator._join,
    "Fn::Select": Evaluator._select,
    "Fn::Split": Evaluator._split,
    "Fn::GetAZs": Evaluator._get_azs,
    "Fn::Base64": Evaluator._base64,
    "Fn::FindInMap": Evaluator._find_in_map,
    "Fn::If": Evaluator._if,
    "Fn::ImportValue": Evaluator._import_value,
}


def _intrinsic_name(value: dict[str, Any]) -> str | None:
    """The function a one-key mapping calls, ``None`` for an ordinary mapping."""
    if len(value) != 1:
        return None
    (key,) = value
    if key in _FUNCTIONS:
        return key
    if key in _CONDITION_FUNCTIONS:
        raise TemplateError(f"{key} is only valid in the Conditions section")
    if key.startswith("Fn::"):
        supported = ", ".join(sorted(_FUNCTIONS))
        raise TemplateError(f"{key} is not supported by the local deploy (supported: {supported})")
    return None


def _single_key(expression: Any, where: str) -> tuple[str, Any]:
    if not isinstance(expression, dict) or len(expression) != 1:
        raise TemplateError(f"{where}: expected one condition function, got {expression!r}")
    ((function, args),) = expression.items()
    return str(function), args


def _arguments(function: str, args: Any, count: int) -> list[Any]:
    if not isinstance(args, list) or len(args) != count:
        raise TemplateError(f"{function} takes a list of {count} arguments, got {args!r}")
    return args


def _get_att_arguments(args: Any) -> tuple[str, Any]:
    if isinstance(args, str) and "." in args:
        logical_id, attribute = args.split(".", 1)
        return logical_id, attribute
    logical_id, attribute = _arguments("Fn::GetAtt", args, 2)
    if not isinstance(logical_id, str):
        raise TemplateError(f"Fn::GetAtt takes a resource name, got {logical_id!r}")
    return logical_id, attribute


def _sub_arguments(args: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(args, str):
        return args, {}
    text, variables = _arguments("Fn::Sub", args, 2)
    if not isinstance(text, str) or not isinstance(variables, dict):
        raise TemplateError(f"Fn::Sub takes [string, {{variables}}], got {args!r}")
    return text, variables


def _comparable(value: Any) -> str | list[str]:
    # Fn::Equals compares as CloudFormation does: everything as its string form.
    if isinstance(value, list):
        return [as_text(item, "Fn::Equals") for item in value]
    return as_text(value, "Fn::Equals")


# --- creation order -------------------------------------------------------------------------


def creation_order(resources: Mapping[str, Mapping[str, Any]], evaluator: Evaluator) -> list[str]:
    """Logical ids in an order where each resource comes after everything it refers to.

    Dependencies are the resources a resource's ``Properties`` refer to plus its
    ``DependsOn``; ties keep template order. A reference to a resource that is not in
    ``resources`` (unknown, or its Condition is false) and a cycle are errors, as in
    CloudFormation.
    """
    dependencies = {
        logical_id: _dependencies(logical_id, resource, evaluator)
        for logical_id, resource in resources.items()
    }
    for logical_id, needed in dependencies.items():
        missing = sorted(needed - resources.keys())
        if missing:
            raise TemplateError(
                f"resource {logical_id} refers to {', '.join(missing)}, which the template "
                "does not create (undefined, or its Condition is false)"
            )
    position = {logical_id: index for index, logical_id in enumerate(resources)}
    order: list[str] = []
    done: set[str] = set()
    path: list[str] = []

    def visit(logical_id: str) -> None:
        if logical_id in done:
            return
        if logical_id in path:
            cycle = [*path[path.index(logical_id) :], logical_id]
            raise TemplateError(f"circular dependency between resources: {' -> '.join(cycle)}")
        path.append(logical_id)
        for dependency in sorted(dependencies[logical_id], key=position.__getitem__):
            visit(dependency)
        path.pop()
        done.add(logical_id)
        order.append(logical_id)

    for logical_id in resources:
        visit(logical_id)
    return order


def _dependencies(logical_id: str, resource: Mapping[str, Any], evaluator: Evaluator) -> set[str]:
    depends_on = resource.get("DependsOn", [])
    explicit: Iterable[str] = [depends_on] if isinstance(depends_on, str) else depends_on
    try:
        return {*explicit, *evaluator.references(resource.get("Properties", {}))}
    except TemplateError as exc:
        raise TemplateError(f"resource {logical_id}: {exc}") from exc
