"""The JSON Schema of the policy file, for editors (``fleetpatch policy schema``)."""

from __future__ import annotations

from typing import Any

from fleetpatch_authoring.policy import FleetPolicy


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the policy file, for editors (yaml-language-server and others)."""
    schema = FleetPolicy.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "fleetpatch fleet patch policy"
    return schema
