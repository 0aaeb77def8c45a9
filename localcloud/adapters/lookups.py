"""Lookups by id on the local cloud without scanning the whole account.

moto 5.2.5 answers "this instance" and "this instance's tags" by walking every instance and
every tag in the account, and it asks for one instance's tags that way for every instance it
renders (``TaggedEC2Resource.get_tags``). A wave over N instances makes O(N) such calls, so
the local cloud spent O(N^2) in moto at fleet scale: at N = 10,000 most of a benchmark run
went into ``describe_tags`` scans. These fast paths answer the same questions from an index
and hand everything else (wildcards, other filters, errors) to moto's own code, so results
are moto's results; ``tests/unit/localcloud/test_moto_canaries_lookups.py`` checks each fast
path against moto's original on the same account.

Also, for the same reason (cost per request, not behaviour):

* ``S3Backend._url_module`` reloads ``moto.s3.urls`` on every S3 request (the URLs may depend
  on environment variables); the local cloud never changes them while it runs, so the module
  is reloaded once, at install.
* SQS SendMessage reads ``Queue.attributes`` for one key (``ContentBasedDeduplication``),
  and moto builds every attribute to answer, counting the queue's messages three times
  (O(messages) per send: a dead-letter queue filling with thousands of throttled events
  made its sends quadratic). While moto sends, that read is answered from the queue's one
  attribute.
* DynamoDB answers a Query on a table's own key from every item of the table, sorted
  (``Table.all_items``), then keeps the partition asked for: O(table) per Query, and the
  state table holds every run's records (the readiness watcher's Query of its few waiters,
  every 2 s, cost more the longer the benchmark ran). While moto runs such a Query,
  ``all_items`` answers with that one partition (moto keeps items by partition key), in
  moto's order; queries of an index, and everything else, are moto's own.
* DynamoDB parses an UpdateExpression twice per UpdateItem; the parsed tree is cached by its
  text.
* moto serialises every response from the service's model, member by member: an item's
  attribute values (``{"S": "i-0abc"}``) are each an ``AttributeValue`` structure of ten
  members, every one looked up under several spellings. A query of a wave's plan (thousands
  of instance ids) spent seconds there. An attribute value is already in its wire form
  when it holds only strings, numbers (strings), booleans, lists and maps of those: it is
  copied as it is. Binary values (``B``, ``BS``: base64 on the wire) and anything else go
  through moto's serialiser. moto deep-copies the tree before it validates and fills it
  (``moto.dynamodb.parsing.validators.Validator.__init__``), so a cached tree is never
  changed by a request.

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_lookups.py):

* ``moto.ec2.models.tags.TagBackend.describe_tags`` wrapped (a literal ``resource-id`` or
  ``key`` filter: only those resources' tags, or those keys, are handed to moto's matching);
  reads ``tags`` and ``VALID_TAG_FILTERS``;
* ``moto.ec2.models.instances.InstanceBackend``: ``get_instance``, ``get_instance_by_id``,
  ``get_multi_instances_by_id``, ``get_reservations_by_instance_ids`` and
  ``all_reservations`` wrapped; reads ``reservations`` (``Reservation.instances``,
  ``Instance.id``, ``Instance.applies``) and ``moto.ec2.utils.filter_reservations``;
* ``moto.s3.models.S3Backend._url_module`` replaced;
* ``moto.sqs.models.SQSBackend.send_message`` wrapped and ``Queue.attributes`` replaced (reads
  ``Queue.fifo_queue`` and ``Queue.content_based_deduplication``; moto's ``send_message``
  and ``Queue.add_message`` read no other attribute);
* ``moto.dynamodb.parsing.expressions.UpdateExpressionParser.make`` wrapped;
* ``moto.core.serialize.BaseJSONSerializer._serialize_type_structure`` wrapped, for shapes
  named ``AttributeValue`` with a key (a member of a map or a list) in DynamoDB's
  responses; reads ``_default_serialize`` and ``operation_model``;
* ``moto.dynamodb.models.table.Table.query`` and ``Table.all_items`` wrapped; reads
  ``Table.items`` (partition key -> item, or -> sort key -> item) and ``range_key_attr``,
  and relies on ``query`` taking its candidates from ``all_items`` by ``item.hash_key``.
"""

from __future__ import annotations

import copy
import functools
import importlib
import inspect
import re
import threading
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from moto.ec2.utils import filter_reservations

from localcloud.core import motopatch

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# An AWS filter value with no wildcard names exactly one thing (fnmatch-style '*', '?', '[').
_WILDCARD = re.compile(r"[*?\[]")
_PATCHED = "_fleetpatch_lookups"


def _literal(values: Iterable[str]) -> list[str] | None:
    """The values if every one is a literal id; None if any is a pattern."""
    values = list(values)
    if not values or any(_WILDCARD.search(v) for v in values):
        return None
    return values


def _wrap(owner: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    motopatch.patch(owner, name, make, tag=_PATCHED, wraps=True)


# --- EC2 tags --------------------------------------------------------------------------------


def _describe_tags(original: Callable[..., Any]) -> Callable[..., Any]:
    def describe_tags(self: Any, filters: dict[str, list[str]] | None = None) -> Any:
        ids = _literal(filters.get("resource-id", ())) if filters else None
        keys = _literal(filters.get("key", ())) if filters else None
        if ids is None and keys is None:
            return original(self, filters)
        # moto's own matching, over the named resources' tags (or the named keys) only, in
        # moto's order: a literal key filter matches exactly that key (fnmatch, anchored).
        tags = self.tags
        if ids is not None:
            tags = {rid: tags[rid] for rid in dict.fromkeys(ids) if rid in tags}
        if keys is not None:
            wanted = frozenset(keys)
            tags = {
                rid: {key: value for key, value in held.items() if key in wanted}
                for rid, held in tags.items()
                if not wanted.isdisjoint(held)
            }
        narrowed = SimpleNamespace(tags=tags, VALID_TAG_FILTERS=self.VALID_TAG_FILTERS)
        return original(narrowed, filters)

    return describe_tags


# --- EC2 instances ---------------------------------------------------------------------------


class _InstanceIndex:
    """instance id -> (reservation, instance, position in it), rebuilt when an id is missing.

    Instances never move between reservations and moto never drops one (terminated instances
    stay listed), so an entry stays right once made; a reservation that was replaced or
    removed is detected on use and the index rebuilt.
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, Any, int]] = {}
        # reservation id -> (the reservation, how many of its instances are indexed)
        self._indexed: dict[str, tuple[Any, int]] = {}
        self._lock = threading.Lock()

    def _rebuild(self, backend: Any) -> None:
        self._entries = {}
        self._indexed = {}
        self._add_new(backend)

    def _add_new(self, backend: Any) -> None:
        """Index the instances added since the last look (O(reservations + new instances)).

        RunInstances registers its reservation first and then looks each new instance up as
        it creates it (moto's ``Instance.setup_defaults`` attaches its root volume): a full
        rebuild per new instance made launching N instances O(N^2).
        """
        for rid, reservation in list(backend.reservations.items()):
            known, counted = self._indexed.get(rid, (reservation, 0))
            if known is not reservation:
                counted = 0
            instances = list(reservation.instances)
            for position in range(counted, len(instances)):
                self._entries[instances[position].id] = (reservation, instances[position], position)
            self._indexed[rid] = (reservation, len(instances))

    def find(self, backend: Any, ids: list[str]) -> list[tuple[Any, Any, int]] | None:
        """Entries for every id, or None if one is not an instance (let moto say so)."""
        with self._lock:
            for attempt in range(3):
                found = [self._entries.get(i) for i in ids]
                if all(e is not None and self._current(backend, e) for e in found):
                    return [e for e in found if e is not None]
                if attempt == 0:
                    self._add_new(backend)
                elif attempt == 1:
                    self._rebuild(backend)
            return None

    @staticmethod
    def _current(backend: Any, entry: tuple[Any, Any, int]) -> bool:
        reservation, instance, position = entry
        reservations = backend.reservations
        return (
            reservations.get(reservation.id) is reservation
            and position < len(reservation.instances)
            and reservation.instances[position] is instance
        )


def _index(backend: Any) -> _InstanceIndex:
    index: _InstanceIndex | None = backend.__dict__.get("_fleetpatch_instance_index")
    if index is None:
        index = backend.__dict__.setdefault("_fleetpatch_instance_index", _InstanceIndex())
    return index


def _reservations_of(entries: list[tuple[Any, Any, int]], backend: Any) -> list[Any]:
    """Shallow copies of the reservations holding ``entries``, each with only those instances,
    in moto's order (reservations as stored, instances as launched)."""
    order = {rid: n for n, rid in enumerate(backend.reservations)}
    grouped: dict[str, tuple[Any, list[tuple[int, Any]]]] = {}
    for reservation, instance, position in entries:
        grouped.setdefault(reservation.id, (reservation, []))[1].append((position, instance))
    copies = []
    for rid in sorted(grouped, key=order.__getitem__):
        reservation, members = grouped[rid]
        narrowed = copy.copy(reservation)
        narrowed.instances = [i for _, i in sorted(dict(members).items())]
        copies.append(narrowed)
    return copies


def _one_instance(original: Callable[..., Any]) -> Callable[..., Any]:
    """``get_instance`` and ``get_instance_by_id``: the same lookup, moto's own miss."""

    def lookup(self: Any, instance_id: str) -> Any:
        entries = _index(self).find(self, [instance_id])
        return entries[0][1] if entries else original(self, instance_id)

    return lookup


def _get_multi_instances_by_id(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_multi_instances_by_id(self: Any, instance_ids: list[str], filters: Any = None) -> Any:
        entries = _index(self).find(self, list(instance_ids))
        if entries is None:
            return original(self, instance_ids, filters)
        return [instance for _, instance, _ in entries if instance.applies(filters)]

    return get_multi_instances_by_id


def _get_reservations_by_instance_ids(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_reservations_by_instance_ids(
        self: Any, instance_ids: list[str], filters: Any = None
    ) -> Any:
        entries = _index(self).find(self, list(dict.fromkeys(instance_ids)))
        if entries is None:
            return original(self, instance_ids, filters)
        reservations = _reservations_of(entries, self)
        if filters is not None:
            reservations = filter_reservations(reservations, filters)
        return reservations

    return get_reservations_by_instance_ids


def _all_reservations(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_reservations(self: Any, filters: Any = None) -> Any:
        ids = _literal(filters.get("instance-id", ())) if filters else None
        if ids is None:
            return original(self, filters)
        # An id filter names instances that may not exist: those simply match nothing.
        index = _index(self)
        entries = []
        for instance_id in dict.fromkeys(ids):
            found = index.find(self, [instance_id])
            if found:
                entries += found
        return filter_reservations(_reservations_of(entries, self), filters)

    return all_reservations


# --- S3, SQS and DynamoDB: per-request costs ---------------------------------------------------

_sending = threading.local()


def sending_attributes(queue: Any) -> dict[str, Any]:
    """What ``Queue.attributes`` says of ``ContentBasedDeduplication``, without the rest."""
    if not queue.fifo_queue:
        return {}
    value = queue.content_based_deduplication
    return {"ContentBasedDeduplication": str(value).lower() if isinstance(value, bool) else value}


def _queue_attributes(original: property) -> property:
    def attributes(self: Any) -> Any:
        if getattr(_sending, "active", False):
            return sending_attributes(self)
        return original.fget(self) if original.fget else None

    setattr(attributes, _PATCHED, True)
    attributes._fleetpatch_original = original.fget  # type: ignore[attr-defined]
    return property(attributes)


def _send_message(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        previous = getattr(_sending, "active", False)
        _sending.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _sending.active = previous

    return send_message


_partition = threading.local()


def _query(original: Callable[..., Any]) -> Callable[..., Any]:
    """A Query on the table's own key reads only its partition (see ``_all_items``)."""
    signature = inspect.signature(original)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key = bound.arguments.get("hash_key")
        if bound.arguments.get("index_name") or hash_key is None:
            return original(self, *args, **kwargs)
        previous = getattr(_partition, "asked", None)
        _partition.asked = (self, hash_key)
        try:
            return original(self, *args, **kwargs)
        finally:
            _partition.asked = previous

    return query


def partition_items(table: Any, hash_key: Any) -> list[Any]:
    """The items of one partition, in moto's ``all_items`` order (sort key ascending)."""
    found = table.items.get(hash_key)
    if found is None:
        return []
    if not table.range_key_attr:
        return [found]
    return sorted(found.values(), key=lambda item: item.range_key)


def _all_items(original: Callable[..., Any]) -> Callable[..., Any]:
    def all_items(self: Any) -> Any:
        asked = getattr(_partition, "asked", None)
        if asked is None or asked[0] is not self:
            return original(self)
        return partition_items(self, asked[1])

    return all_items


_DYNAMODB_SERVICES = frozenset({"dynamodb", "dynamodbstreams"})
_TEXT_TYPES = frozenset({"S", "N"})
_FLAG_TYPES = frozenset({"BOOL", "NULL"})
_SET_TYPES = frozenset({"SS", "NS"})


def plain_attribute(value: Any) -> dict[str, Any] | None:
    """An attribute value's wire form if it needs no encoding (see the module's doc), or None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    [(kind, inner)] = value.items()
    if kind in _TEXT_TYPES:
        return {kind: inner} if isinstance(inner, str) else None
    if kind in _FLAG_TYPES:
        return {kind: inner} if isinstance(inner, bool) else None
    if kind in _SET_TYPES:
        if isinstance(inner, list) and all(isinstance(v, str) for v in inner):
            return {kind: list(inner)}
        return None
    if kind == "L" and isinstance(inner, list):
        members = [plain_attribute(v) for v in inner]
        return None if any(m is None for m in members) else {"L": members}
    if kind == "M" and isinstance(inner, dict):
        entries = {k: plain_attribute(v) for k, v in inner.items()}
        if any(not isinstance(k, str) or v is None for k, v in entries.items()):
            return None
        return {"M": entries}
    return None


def _serialize_structure(original: Callable[..., Any]) -> Callable[..., Any]:
    def _serialize_type_structure(
        self: Any, serialized: Any, value: Any, shape: Any, key: str
    ) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.operation_model.service_model.service_name in _DYNAMODB_SERVICES
        ):
            plain = plain_attribute(value)
            if plain is not None:
                self._default_serialize(serialized, plain, shape, key)
                return
        original(self, serialized, value, shape, key)

    return _serialize_type_structure


def _s3_url_module() -> property:
    import moto.s3.urls

    module = importlib.reload(moto.s3.urls)

    def _url_module(self: Any) -> Any:
        return module

    setattr(_url_module, _PATCHED, True)
    return property(_url_module)


def _parse_once(make: Any) -> classmethod[Any, Any, Any]:
    """``UpdateExpressionParser.make`` (a bound classmethod) with its trees cached by text."""
    cached = functools.lru_cache(maxsize=1024)(make)

    def parse(cls: type, expression_str: str) -> Any:
        return cached(expression_str)

    setattr(parse, _PATCHED, True)
    parse._fleetpatch_original = make  # type: ignore[attr-defined]
    return classmethod(parse)


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.core.serialize import BaseJSONSerializer
    from moto.dynamodb.models.table import Table
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.tags import TagBackend
    from moto.s3.models import S3Backend
    from moto.sqs.models import Queue, SQSBackend

    _wrap(TagBackend, "describe_tags", _describe_tags)
    _wrap(InstanceBackend, "get_instance", _one_instance)
    _wrap(InstanceBackend, "get_instance_by_id", _one_instance)
    _wrap(InstanceBackend, "get_multi_instances_by_id", _get_multi_instances_by_id)
    _wrap(InstanceBackend, "get_reservations_by_instance_ids", _get_reservations_by_instance_ids)
    _wrap(InstanceBackend, "all_reservations", _all_reservations)
    if not getattr(S3Backend.__dict__["_url_module"].fget, _PATCHED, False):
        S3Backend._url_module = _s3_url_module()  # type: ignore[assignment]
    _wrap(SQSBackend, "send_message", _send_message)
    if not getattr(Queue.__dict__["attributes"].fget, _PATCHED, False):
        Queue.attributes = _queue_attributes(Queue.__dict__["attributes"])  # type: ignore[assignment]
    _wrap(BaseJSONSerializer, "_serialize_type_structure", _serialize_structure)
    _wrap(Table, "query", _query)
    _wrap(Table, "all_items", _all_items)
    if not getattr(UpdateExpressionParser.__dict__["make"].__func__, _PATCHED, False):
        UpdateExpressionParser.make = _parse_once(UpdateExpressionParser.make)
