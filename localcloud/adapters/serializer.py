"""moto's response serializer, without its per-member cost for plain dicts.

moto 5.2.5 renders every response from the service model, member by member, and finds each
member's value with an "attribute picker": for every member of every structure it builds a
context object and walks six alias providers (explicit ``Meta`` aliases, the shape's name,
the key itself, prefixes, the model's serialization name) before it reads the value. The
local cloud's own handlers (SSM's patch states, command invocations, managed instances) and
many of moto's answer with plain dicts keyed by the model's member names, and a
10,000-instance wave's handlers spent most of their time there: in cProfile at N = 3,000, the
picker was 22 of publish-report's 67 s.

For a plain ``dict`` (exactly ``dict``: it has no ``Meta`` aliases, and its class name is
``dict``) the keys moto's picker would try are worked out once per shape and member, in the
picker's own order (the shape's name when ``ShapeNameAlias`` offers it, the key, the key
without its parent's name, without ``dict``, the model's serialization name, each followed
by its snake_case form for ``XFormedAttributePicker``), and the first one present is read, as
the picker reads it. Anything else (another object, a dotted key or alias, a picker with
response transformers or its own alias providers) goes through moto's picker unchanged, so
every response is the one moto would render.
``tests/unit/localcloud/test_moto_canaries_serializer.py`` compares the keys tried with
moto's ``get_possible_keys`` for every output member of six services, and renders responses
both ways.

moto internals touched: ``moto.core.serialize.ResponseSerializer.get_value`` wrapped; reads
``_value_picker`` and the pickers' classes (``DefaultAttributePicker``, ``AttributePicker``,
``XFormedAttributePicker``), ``alias_providers``, ``response_transformers`` and
``DEFAULT_ALIAS_PROVIDERS`` (its order), and ``shape.parent`` as the structure serializer
sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from localcloud.core import motopatch

_PATCHED = "_fleetpatch_serializer"
_MISSING = object()


def _pickers() -> tuple[Any, Any, Any, Any]:
    from moto.core import serialize

    return (
        serialize.DefaultAttributePicker,
        serialize.AttributePicker,
        serialize.XFormedAttributePicker,
        serialize.DEFAULT_ALIAS_PROVIDERS,
    )


def _get_value(original: Callable[..., Any]) -> Callable[..., Any]:
    default_picker, alias_picker, xformed_picker, default_aliases = _pickers()
    # (id(shape), key, xformed) -> (shape, parent, the keys moto tries, in its order); the
    # shape and parent are kept so an id is never reused while its entry lives.
    tried: dict[tuple[int, str, bool], tuple[Any, Any, tuple[str, ...] | None]] = {}

    def keys_tried(shape: Any, key: str, xformed: bool) -> tuple[str, ...] | None:
        parent = getattr(shape, "parent", None)
        entry = tried.get((id(shape), key, xformed))
        if entry is None or entry[0] is not shape or entry[1] is not parent:
            entry = (shape, parent, _keys_tried(shape, key, xformed))
            tried[(id(shape), key, xformed)] = entry
        return entry[2]

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        if type(value) is not dict or "." in key:
            return original(self, value, key, shape)
        picker = self._value_picker
        kind = type(picker)
        if kind is default_picker:
            return value.get(key)  # moto: get_value(obj, key, None)
        if (
            kind not in (alias_picker, xformed_picker)
            or picker.alias_providers is not default_aliases
            or picker.response_transformers
        ):
            return original(self, value, key, shape)
        keys = keys_tried(shape, key, kind is xformed_picker)
        if keys is None:
            return original(self, value, key, shape)
        for candidate in keys:
            if candidate in value:
                return value[candidate]
        return None

    return get_value


def _keys_tried(shape: Any, key: str, xformed: bool) -> tuple[str, ...] | None:
    """The keys moto's alias providers try on a plain dict, in order (None: not known)."""
    from botocore import xform_name

    keys = [key]
    if _shape_name_alias(shape, key):
        keys.insert(0, shape.name)
    parent = getattr(shape, "parent", None)
    # ShapePrefixAlias: the key without its parent structure's name as a prefix.
    if (
        shape is not None
        and parent is not None
        and parent.type_name == "structure"
        and key.lower().startswith(parent.name.lower())
        and key[len(parent.name) :] not in parent.members
    ):
        keys.append(key[len(parent.name) :])
    if key.lower().startswith("dict"):
        keys.append(key[len("dict") :])  # ClassPrefixAlias, for an object of class dict
    if shape is not None:
        name = shape.serialization.get("name", key)
        if name != key:
            keys.append(name)  # ModelAlias
    if any("." in k for k in keys):
        return None  # moto would follow a path: its way
    if xformed:
        keys = [k for pair in ((k, xform_name(k)) for k in keys) for k in pair]
    return tuple(keys)


def _shape_name_alias(shape: Any, key: str) -> bool:
    """Whether moto's ``ShapeNameAlias`` offers the shape's name for this member."""
    if shape is None or shape.type_name not in ("list", "structure"):
        return False
    parent = getattr(shape, "parent", None)
    members = getattr(parent, "members", None)
    if members is not None and shape.name in members:
        return False
    return bool(key != shape.name)


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.core.serialize import ResponseSerializer

    motopatch.patch(ResponseSerializer, "get_value", _get_value, tag=_PATCHED, wraps=True)
