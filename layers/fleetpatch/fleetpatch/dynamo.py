"""DynamoDB items as plain values: the one reader of the state table's attribute types.

Every reader of the state table (the report index, the CLI's wave commands) turns items
into plain values here, so a number, a list or a map reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def plain_value(value: Mapping[str, Any]) -> Any:
    """One attribute value (S, N, BOOL, NULL, L, M; sets as sorted lists) as a plain value."""
    if "S" in value:
        return value["S"]
    if "N" in value:
        number = float(value["N"])
        return int(number) if number.is_integer() else number
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "NULL" in value:
        return None
    if "L" in value:
        return [plain_value(v) for v in value["L"]]
    if "M" in value:
        return plain(value["M"])
    for kind in ("SS", "NS"):
        if kind in value:
            return sorted(plain_value({kind[0]: v}) for v in value[kind])
    raise ValueError(f"unsupported DynamoDB attribute type: {sorted(value)}")


def plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A DynamoDB item as plain values."""
    return {key: plain_value(value) for key, value in item.items()}
