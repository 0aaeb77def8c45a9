"""DynamoDB attribute values rendered and sized without moto's copies.

moto 5.2.5 spends most of an UpdateItem, and of a Query's per-item cost, on two methods of
``DynamoType`` (one attribute value) that copy what they only read:

* ``to_regular_json`` (an attribute's wire form, used by ``Item.to_json`` for every map and
  list attribute: UpdateItem renders the item twice, GetItem and Query once per item)
  deep-copies the whole value first, then replaces each nested ``DynamoType`` in the copy by
  its own ``to_regular_json``, which deep-copies again: O(depth x size). The same answer is
  built in one pass: each nested value's ``to_regular_json``, each other member deep-copied
  as moto's copy would; atomic values (strings, numbers, booleans, bytes) are what
  ``copy.deepcopy`` returns for them, themselves. A value of any other class goes to moto's
  own method.
* ``size`` (the item size limit, checked on every write and twice per Query result) wraps
  each member of a map in a new ``DynamoType`` (a copy of the whole subtree) before asking
  its size. A member that already is exactly a ``DynamoType`` has the size its copy has; it
  is asked directly. Sets, and members of other classes, are sized by moto's own code.

* ``DepthFirstTraverser`` (each of the ten passes an UpdateItem's validator makes over its
  parsed expression) rebuilds its processing map (node class -> method) twice for every node
  it visits. The map is the same for the life of a traverser (each returns a literal dict of
  classes to its own methods), so each traverser builds it once.

None changes an answer: tests/unit/localcloud/test_moto_canaries_dynamodb_values.py
compares both with moto's originals over every attribute type, nested.

moto internals touched: ``moto.dynamodb.models.dynamo_type.DynamoType.to_regular_json`` and
``DynamoType.size`` replaced; read ``DynamoType.type`` and ``.value`` and
``moto.dynamodb.models.utilities.bytesize``;
``moto.dynamodb.parsing.ast_nodes.DepthFirstTraverser.nodes_to_be_processed`` and ``process``
replaced (no subclass overrides them); call ``_processing_map``.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from typing import Any

from localcloud.core import motopatch

TAG = "_fleetpatch_dynamodb_values"

# Classes copy.deepcopy returns as they are (its atomic types that a value can hold).
_ATOMIC = frozenset({str, bytes, bool, int, float, type(None)})
_SETS = frozenset({"SS", "NS", "BS"})


def _to_regular_json(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    def to_regular_json(self: Any) -> dict[str, Any]:
        value = self.value
        kind = type(value)
        out: Any
        if kind is dict:
            out = {
                key: member.to_regular_json()
                if isinstance(member, DynamoType)
                else copy.deepcopy(member)
                for key, member in value.items()
            }
        elif kind is list:
            out = [
                member.to_regular_json()
                if isinstance(member, DynamoType)
                else copy.deepcopy(member)
                for member in value
            ]
        elif kind in _ATOMIC:
            out = value
        else:
            return original(self)  # type: ignore[no-any-return]
        if self.type == "B" and isinstance(out, str):
            out = base64.b64decode(out)
        return {self.type: out}

    return to_regular_json


def _size(original: Callable[..., Any]) -> Callable[..., Any]:
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.utilities import bytesize

    def size(self: Any) -> int:
        kind = self.type
        value = self.value
        if kind == "N" or kind in _SETS:
            return original(self)  # type: ignore[no-any-return]
        if kind == "L":
            return sum(member.size() for member in value)
        if kind == "M":
            return sum(
                bytesize(key)
                + (member.size() if type(member) is DynamoType else DynamoType(member).size())
                for key, member in value.items()
            )
        if isinstance(value, bool):
            return 1
        return bytesize(value)

    return size


_MAP = "_fleetpatch_processing_map"


def _processing_map(traverser: Any) -> dict[type, Callable[[Any], Any]]:
    found: dict[type, Callable[[Any], Any]] | None = traverser.__dict__.get(_MAP)
    if found is None:
        found = traverser._processing_map()
        traverser.__dict__[_MAP] = found
    return found


def _nodes_to_be_processed(original: Callable[..., Any]) -> Callable[..., Any]:
    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        return tuple(_processing_map(self))

    return nodes_to_be_processed


def _process(original: Callable[..., Any]) -> Callable[..., Any]:
    def process(self: Any, node: Any) -> Any:
        for class_key, processor in _processing_map(self).items():
            if isinstance(node, class_key):
                return processor(node)
        return None

    return process


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]

    motopatch.patch(DynamoType, "to_regular_json", _to_regular_json, tag=TAG, wraps=True)
    motopatch.patch(DynamoType, "size", _size, tag=TAG, wraps=True)
    motopatch.patch(DepthFirstTraverser, "nodes_to_be_processed", _nodes_to_be_processed, tag=TAG)
    motopatch.patch(DepthFirstTraverser, "process", _process, tag=TAG)
