"""How a creator declares its resource type, and the property shapes several families share."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from localcloud.deployer.context import Context, Created, Resource
from localcloud.intrinsics import TemplateError, as_text

Creator = Callable[[Context, Resource], Created]


@dataclass(frozen=True)
class ResourceType:
    """A resource type's creator and what it does with each property it accepts."""

    create: Creator
    passes: frozenset[str]
    """Properties handed to the API unchanged (the creator uses ``Resource.passed``)."""
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


def creates(
    *, passes: str = "", applies: str = "", records: str = ""
) -> Callable[[Creator], ResourceType]:
    """Declare a creator's properties; the arguments are whitespace-separated names."""

    def declare(create: Creator) -> ResourceType:
        return ResourceType(
            create,
            frozenset(passes.split()),
            frozenset(applies.split()),
            frozenset(records.split()),
            recorded_only=False,
        )

    return declare


def recorded_only(create: Creator) -> ResourceType:
    """Declare a type kept on the stack with no API call; its creator says why."""
    empty: frozenset[str] = frozenset()
    return ResourceType(create, empty, empty, empty, recorded_only=True)


def tags(properties: Mapping[str, Any]) -> dict[str, str]:
    """CloudFormation's ``[{Key, Value}]`` tags as the map most APIs take."""
    return {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}


def json_text(value: Any) -> str | None:
    """A policy or pattern as the APIs take it: CloudFormation accepts objects or text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def attribute_text(value: Any, name: str) -> str:
    """An SQS or SNS attribute value: JSON documents as text, scalars as CloudFormation prints."""
    return json.dumps(value) if isinstance(value, dict | list) else as_text(value, name)


def renamed(properties: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """``properties`` with CloudFormation's key names replaced by the API's (``names``)."""
    return {names.get(key, key): value for key, value in properties.items()}


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")
