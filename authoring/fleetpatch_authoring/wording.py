"""pydantic's errors about the policy file in the operator's words, with close matches.

An unknown key names the closest known keys at its place (read from the file's JSON Schema,
the one editors use); an unknown value the closest allowed values; a name that fails its
pattern says what a name is made of instead of showing the regex.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel

from fleetpatch_authoring.fields import BASELINE_SOURCE_NAME, NAME, PATCH_GROUP_NAME

PATTERNS = {
    NAME: "a lowercase letter, then lowercase letters, digits or '-' (31 characters at most)",
    PATCH_GROUP_NAME: "letters, digits, spaces and _ . : / = + @ - (1 to 256 characters)",
    BASELINE_SOURCE_NAME: "3 to 50 letters, digits, '_', '-' or '.'",
}
_LISTED = 12  # the allowed keys named when none is close


def did_you_mean(given: str, known: list[str]) -> str:
    close = difflib.get_close_matches(given, known, n=2, cutoff=0.6)
    return f"did you mean {' or '.join(close)}?" if close else ""


def message(
    error: Mapping[str, Any], loc: tuple[str | int, ...], model: type[BaseModel] | None = None
) -> str:
    """One pydantic error (from ``ValidationError.errors()``) of ``model`` (default: the
    policy file) in plain words."""
    kind, text = error["type"], str(error["msg"])
    given = error.get("input")
    if kind == "extra_forbidden":
        known = allowed_keys(loc[:-1], model)
        hint = did_you_mean(str(loc[-1]), known)
        if not hint and known:
            more = ", ..." if len(known) > _LISTED else ""
            hint = f"known here: {', '.join(known[:_LISTED])}{more}"
        return f"unknown key ({hint})" if hint else "unknown key"
    if kind == "literal_error" and isinstance(given, str):
        allowed = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(given, allowed)
        return f"{text} ({hint})" if hint else text
    if kind == "string_pattern_mismatch":
        words = PATTERNS.get(str(error.get("ctx", {}).get("pattern")))
        if words and loc and loc[-1] == "[key]":
            return f"use {words}"  # after "KEY is not allowed as a key here: "
        if words:
            return f"{given!r} is not a valid name here: use {words}"
    if kind == "missing":
        return "required, and missing"
    return text


@cache
def _schema(model: type[BaseModel] | None) -> dict[str, Any]:
    if model is None:
        from fleetpatch_authoring.policy import FleetPolicy

        model = FleetPolicy
    return model.model_json_schema(mode="validation")


def allowed_keys(loc: tuple[str | int, ...], model: type[BaseModel] | None = None) -> list[str]:
    """The keys ``model``'s schema allows in the mapping at ``loc`` (every branch of a union)."""
    schema = _schema(model)
    nodes: list[Mapping[str, Any]] = [schema]
    for part in loc:
        nodes = [child for node in nodes for child in _children(schema, node, part)]
    keys = {
        key
        for node in nodes
        for branch in _branches(schema, node)
        for key in branch.get("properties", {})
    }
    return sorted(keys)


def _branches(schema: Mapping[str, Any], node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        yield from _branches(schema, schema["$defs"][name])
        return
    for union in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(union, []):
            yield from _branches(schema, branch)
    yield node


def _children(
    schema: Mapping[str, Any], node: Mapping[str, Any], part: str | int
) -> Iterator[Mapping[str, Any]]:
    for branch in _branches(schema, node):
        if isinstance(part, int) and isinstance(branch.get("items"), dict):
            yield branch["items"]
        elif isinstance(part, str) and part in branch.get("properties", {}):
            yield branch["properties"][part]
        elif isinstance(part, str):
            if isinstance(branch.get("additionalProperties"), dict):
                yield branch["additionalProperties"]
            patterned = branch.get("patternProperties", {})
            matching = [child for pattern, child in patterned.items() if re.search(pattern, part)]
            # A key that fails its pattern (reported on its own) still holds the same section.
            yield from matching or patterned.values()
