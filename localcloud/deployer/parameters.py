"""Template parameters: defaults, overrides, SSM-backed values and CloudFormation's checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from localcloud.intrinsics import TemplateError, as_text

if TYPE_CHECKING:
    from localcloud.cloud import LocalCloud


class SsmParameters:
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


def parameter_values(
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
