"""DynamoDB items and plain values, both ways: the one (de)serialiser of the state table.

boto3's :class:`~boto3.dynamodb.types.TypeSerializer` and ``TypeDeserializer`` do the work;
this module adds the state table's reading of them, so a number, a list or a map reads the
same everywhere (the report index, the CLI's wave commands): a number is an ``int`` when
integral, else a ``float``; a set is a sorted list; binary values are not used and are an
error, never a silent gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_DESERIALIZER = TypeDeserializer()
_SERIALIZER = TypeSerializer()
_UNSUPPORTED = frozenset({"B", "BS"})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def _check(value: Mapping[str, Any]) -> None:
    kinds = set(value)
    if kinds & _UNSUPPORTED or len(kinds) != 1:
        raise ValueError(f"unsupported DynamoDB attribute type: {sorted(value)}")
    (kind,) = kinds
    if kind == "L":
        for v in value["L"]:
            _check(v)
    elif kind == "M":
        for v in value["M"].values():
            _check(v)


def plain_value(value: Mapping[str, Any]) -> Any:
    """One attribute value (S, N, BOOL, NULL, L, M; sets as sorted lists) as a plain value."""
    _check(value)
    try:
        return _plain(_DESERIALIZER.deserialize(cast(Any, dict(value))))
    except TypeError as error:
        raise ValueError(f"unsupported DynamoDB attribute type: {sorted(value)}") from error


def plain(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A DynamoDB item as plain values."""
    return {key: plain_value(value) for key, value in item.items()}


def _typed(value: Any) -> Any:
    # boto3 refuses floats (they lose precision): write their shortest exact decimal.
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_typed(v) for v in value]
    return value


def attribute(value: Any) -> dict[str, Any]:
    """A plain value as one attribute value (the inverse of :func:`plain_value`)."""
    return cast(dict[str, Any], _SERIALIZER.serialize(_typed(value)))


def item(values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Plain values as a DynamoDB item (the inverse of :func:`plain`)."""
    return {key: attribute(value) for key, value in values.items()}
