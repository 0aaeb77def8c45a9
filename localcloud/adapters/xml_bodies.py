"""moto's XML response bodies, written without a SAX generator per element.

moto 5.2.5 renders every XML response (EC2, Auto Scaling, IAM, SNS, S3, ...) with
``xmltodict.unparse``, which walks the body through ``xml.sax.saxutils.XMLGenerator`` one call
per element and validates every element name each time. A wave's handlers read thousands of
instances' tags and statuses from EC2 per batch: in cProfile at N = 3,000 that walk was 5 to 7
of each per-batch handler's seconds.

This writes the same text: the same walk as ``xmltodict._emit`` (one element per item of a
list, ``None`` as an empty element, ``@`` keys as attributes, ``#text`` as character data,
empty lists left out, booleans as ``true``/``false``), the same escaping (``escape`` and
``quoteattr`` from ``xml.sax.saxutils``), the same short empty elements and XML declaration.
Names are validated by xmltodict's own check, once per name. Anything unusual (pretty
printing, an output stream, another encoding or option, comments, namespace maps, an
invalid name, a second root) is left to ``xmltodict.unparse`` itself, so errors are its
errors. ``tests/unit/localcloud/test_moto_canaries_xml_bodies.py`` compares the two on real
responses and on edge cases.

moto internals touched: ``moto.core.serialize.xmltodict`` (the module moto calls ``unparse``
on) is replaced by a proxy whose ``unparse`` is this one; every other attribute is
xmltodict's. Reads ``xmltodict._validate_name``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import xmltodict  # type: ignore[import-untyped]

_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'
_TEXT = "#text"
_COMMENT = "#comment"
_valid_names: set[str] = set()


class _Unusual(Exception):
    """Something this writer leaves to xmltodict."""


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _name(name: Any, kind: str) -> str:
    if type(name) is not str:
        raise _Unusual
    if name not in _valid_names:
        try:
            xmltodict._validate_name(name, kind)
        except ValueError:
            raise _Unusual from None
        _valid_names.add(name)
    return name


class _Writer:
    """``XMLGenerator``'s output, appended to a list (short empty elements or not)."""

    def __init__(self, short_empty_elements: bool) -> None:
        self.parts: list[str] = []
        self.short = short_empty_elements
        self.pending = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        parts = self.parts
        if self.pending:
            parts.append(">")
        parts.append("<" + name)
        for key, value in attrs.items():
            parts.append(f" {key}={quoteattr(value)}")
        if self.short:
            self.pending = True
        else:
            parts.append(">")
            self.pending = False

    def end(self, name: str) -> None:
        if self.pending:
            self.parts.append("/>")
            self.pending = False
        else:
            self.parts.append(f"</{name}>")

    def characters(self, content: str) -> None:
        if content:
            if self.pending:
                self.parts.append(">")
                self.pending = False
            self.parts.append(escape(content))


def _as_mapping(item: Any) -> dict[Any, Any]:
    if item is None:
        return {}
    if isinstance(item, dict):
        return item
    return {_TEXT: item if isinstance(item, str) else _text(item)}


def _parts(item: dict[Any, Any]) -> tuple[str | None, dict[str, str], list[tuple[Any, Any]]]:
    """An element's character data, attributes and children, as ``xmltodict._emit`` splits."""
    cdata = None
    attrs: dict[str, str] = {}
    children = []
    for key, child in item.items():
        if key == _TEXT:
            cdata = None if child is None else _text(child)
        elif isinstance(key, str) and key.startswith("@"):
            if key == "@xmlns" and isinstance(child, dict):
                raise _Unusual
            attrs[_name(key[1:], "attribute")] = "" if child is None else _text(child)
        elif not (isinstance(child, list) and not child):
            children.append((key, child))
    return cdata, attrs, children


def _emit(key: Any, value: Any, out: _Writer, depth: int, full_document: bool) -> None:
    if key == _COMMENT:
        raise _Unusual
    name = _name(key, "element")
    if not hasattr(value, "__iter__") or isinstance(
        value, (str, bytes, bytearray, memoryview, dict)
    ):
        value = [value]
    for index, item in enumerate(value):
        if full_document and depth == 0 and index > 0:
            raise _Unusual  # xmltodict: "document with multiple roots"
        cdata, attrs, children = _parts(_as_mapping(item))
        out.start(name, attrs)
        for child_key, child in children:
            _emit(child_key, child, out, depth + 1, full_document)
        if cdata is not None:
            out.characters(cdata)
        out.end(name)


def unparse(
    input_dict: Any,
    output: Any = None,
    encoding: str = "utf-8",
    full_document: bool = True,
    short_empty_elements: bool = False,
    **kwargs: Any,
) -> Any:
    """``xmltodict.unparse``, the same text; the unusual cases are xmltodict's own."""

    def theirs() -> Any:
        return _original_unparse(
            input_dict,
            output=output,
            encoding=encoding,
            full_document=full_document,
            short_empty_elements=short_empty_elements,
            **kwargs,
        )

    if (
        output is not None
        or encoding != "utf-8"
        or kwargs.keys() - {"pretty"}
        or kwargs.get("pretty")
    ):
        return theirs()
    out = _Writer(short_empty_elements)
    try:
        roots = 0
        for key, value in input_dict.items():
            if key == _COMMENT or (full_document and roots):
                raise _Unusual
            _emit(key, value, out, 0, full_document)
            roots += 1
        if full_document and not roots:
            raise _Unusual
    except _Unusual:
        return theirs()
    body = "".join(out.parts)
    return _DECLARATION + body if full_document else body


_original_unparse: Callable[..., Any] = xmltodict.unparse


class _Proxy(types.ModuleType):
    """xmltodict, with this module's ``unparse``."""

    def __getattr__(self, name: str) -> Any:
        return getattr(xmltodict, name)


def install() -> None:
    """Give moto's serializers this ``unparse`` (idempotent)."""
    from moto.core import serialize

    current = vars(serialize)["xmltodict"]
    if isinstance(current, _Proxy):
        return
    proxy = _Proxy("xmltodict")
    proxy.unparse = unparse  # type: ignore[attr-defined]
    proxy._fleetpatch_original = current  # type: ignore[attr-defined]
    setattr(serialize, "xmltodict", proxy)  # noqa: B010 - moto does not export the name
