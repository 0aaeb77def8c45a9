"""The patch filter values AWS accepts, per operating system, and the check of one value.

An approval rule's classifications, severities, products, priorities and sections become the
values of the baseline's ``PatchFilter`` keys. AWS accepts only the values
``DescribePatchProperties`` returns for the baseline's operating system (or the wildcard
``*``): an unknown one fails the deploy, or makes a filter that matches nothing. The lists
live in ``patch_properties.json`` next to this module (so they ship in the layer), with the
documentation they come from and the date they were taken; ``tools/refresh_patch_properties.py``
rebuilds them from an account. A key whose ``values`` is null has no closed list there, and
any value passes.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

DATA_FILE = "patch_properties.json"
WILDCARD = "*"
# Approval-rule fields and the PatchFilter key each one sets, in the order they are rendered.
RULE_FILTERS: Mapping[str, str] = {
    "products": "PRODUCT",
    "classifications": "CLASSIFICATION",
    "severities": "SEVERITY",
    "priorities": "PRIORITY",
    "sections": "SECTION",
}
# A list this short is quoted in full when no valid value resembles the wrong one.
_QUOTED_LIST = 12


def filter_key(field: str, operating_system: str) -> str:
    """The ``PatchFilter`` key an approval-rule field sets on ``operating_system``."""
    key = RULE_FILTERS[field]
    # Windows rates patches by the Microsoft Security Response Center's severity.
    return "MSRC_SEVERITY" if key == "SEVERITY" and operating_system == "WINDOWS" else key


@cache
def catalogue() -> dict[str, Any]:
    """The parsed data file (read once, on first use: nothing is read at import time)."""
    text = resources.files("fleetpatch").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def filter_keys(operating_system: str) -> frozenset[str]:
    """The filter keys an approval rule may set on ``operating_system``."""
    return frozenset(catalogue()["operating_systems"][operating_system])


def allowed_values(operating_system: str, key: str) -> tuple[str, ...] | None:
    """The values ``key`` takes on ``operating_system``; None: any value (no closed list)."""
    values = catalogue()["operating_systems"][operating_system][key]["values"]
    return None if values is None else tuple(values)


def value_problem(operating_system: str, key: str, value: str) -> str | None:
    """Why ``value`` is not a ``key`` value on ``operating_system``, or None if it is."""
    entry = catalogue()["operating_systems"][operating_system][key]
    values: list[str] | None = entry["values"]
    if values is None or value == WILDCARD or value in values:
        return None
    wrong = f"{value!r} is not a {operating_system} {key} value"
    closest = _closest(value, values, entry.get("hints", {}))
    if closest is not None and closest.casefold() == value.casefold():
        # AWS answers with one spelling per value and compares filters with it.
        return f"{wrong} (values are case-sensitive); did you mean {closest!r}?"
    if closest is not None:
        return f"{wrong}; did you mean {closest!r}?"
    if len(values) <= _QUOTED_LIST:
        return f"{wrong}: give one of {', '.join(values)} (or {WILDCARD})"
    return f"{wrong}: see fleetpatch/{DATA_FILE} for the {len(values)} valid ones"


def _closest(value: str, values: list[str], hints: Mapping[str, str]) -> str | None:
    if value in hints:  # a synonym the documentation names (Moderate for Medium...)
        return hints[value]
    by_folded = {v.casefold(): v for v in values}
    matches = difflib.get_close_matches(value.casefold(), list(by_folded), n=1)
    return by_folded[matches[0]] if matches else None
