"""Reading the ASL in unit tests: its states (nested ones too) and its JSONata, evaluated.

The expressions are evaluated with jsonata-python, the package the local cloud's Step
Functions uses, with the workflow's variables bound as the state machine binds them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonata

STATEMACHINES = Path(__file__).resolve().parents[2] / "statemachines"


def _walk(states: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        if state.get("Type") == "Map":
            yield from _walk(state["ItemProcessor"]["States"])
        for branch in state.get("Branches", []):
            yield from _walk(branch["States"])


@cache
def states(machine: str) -> dict[str, dict[str, Any]]:
    """Every state of ``statemachines/<machine>.asl.json`` by name."""
    definition = json.loads((STATEMACHINES / f"{machine}.asl.json").read_text())
    return dict(_walk(definition["States"]))


def expression(text: str) -> str:
    """The JSONata inside ``{% ... %}``."""
    assert text.startswith("{%"), text
    assert text.endswith("%}"), text
    return text[2:-2].strip()


def evaluate(text: str, variables: Mapping[str, Any]) -> Any:
    """A ``{% ... %}`` expression (or a plain value, which is itself) with ``variables`` bound."""
    if not (isinstance(text, str) and text.startswith("{%")):
        return text
    bindings = "".join(f"${name} := {json.dumps(value)};" for name, value in variables.items())
    result = jsonata.Jsonata(f"({bindings} {expression(text)})").evaluate(None)
    if isinstance(result, float) and result.is_integer():
        return int(result)
    return result
