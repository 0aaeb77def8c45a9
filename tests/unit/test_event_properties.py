"""Bad input, generated: every real fixture mutated into malformed events, each rejected by name.

Each case starts from one event of ``events/<source>/<scenario>.json`` and breaks it one way
(a field dropped or nulled, a wrong type, a bad id, time or enumeration value, an oversized
string, a spoofed source, an unknown detail-type or envelope key, junk inside lists and
maps). The edge must raise :class:`InvalidEventError` (never a ``ValueError``,
``KeyError``, ``TypeError`` or pydantic ``ValidationError``) naming the field the mutation
broke, both for the decoded event and for its JSON text. Tolerated changes (key order,
fields AWS may add to ``detail``) must still parse to the same event.

The contract (which detail fields AWS always sends, which are ids, times and enumerations)
is written out in event_contract.py, from docs/aws-facts.md, not read from the models: a
model that silently loosened a field would fail these properties.

Runs are derandomized (CI is stable) and each test checks it ran its quota of examples:
``MALFORMED_EVENTS_PER_RUN`` malformed events in all.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from fleetpatch.errors import InvalidEventError
from fleetpatch.events import parse_event, parse_event_json
from fleetpatch.routing import route_raw
from tests.conftest import EVENTS_DIR, load_event
from tests.unit.event_contract import (
    ENUM_FIELDS,
    ENVELOPE_REQUIRED,
    ID_FIELDS,
    TEXT_LIMITS,
    TIME_FIELDS,
    TOLERATED_DETAIL_FIELDS,
    any_json,
    bad_enum,
    bad_id,
    bad_time,
    not_a_string,
    required_detail,
)

FIXTURES: dict[str, dict[str, Any]] = {
    p.relative_to(EVENTS_DIR).with_suffix("").as_posix(): load_event(
        p.relative_to(EVENTS_DIR).with_suffix("").as_posix()
    )
    for p in sorted(EVENTS_DIR.glob("*/*.json"))
}

# Deterministic: the same examples on every run and machine (no example database). No
# shrinking: a failure shows the case as generated, with its mutation and expected field,
# and shrinking several distinct failures took minutes.
PROPERTY = settings(
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUOTAS = {"malformed": 1000, "junk_json": 200, "non_object": 100}
# Junk text that happens to decode to an object is not counted as junk: draw a margin.
JUNK_JSON_EXAMPLES = 250
MALFORMED_EVENTS_PER_RUN = sum(QUOTAS.values())

# --- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    fixture: str
    mutation: str
    raw: Any
    field: str | None  # the field the error must name; None: any field under ``prefix``
    prefix: str = ""


def _set(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def _get(raw: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = raw
    for key in path:
        value = value[key]
    return value


def _fields(raw: dict[str, Any]) -> list[tuple[str, ...]]:
    """Every envelope and detail field the fixture has, as paths (not those no model reads)."""
    tolerated = TOLERATED_DETAIL_FIELDS.get(raw["detail-type"], frozenset())
    return [(k,) for k in raw] + [("detail", k) for k in raw["detail"] if k not in tolerated]


@st.composite
def malformed_events(draw: st.DrawFn) -> Case:
    name = draw(st.sampled_from(sorted(FIXTURES)))
    raw = copy.deepcopy(FIXTURES[name])
    mutation = draw(
        st.sampled_from(
            [
                "drop-required",
                "null-required",
                "wrong-type",
                "bad-value",
                "oversized-text",
                "spoofed-source",
                "unknown-detail-type",
                "unknown-envelope-key",
                "junk-in-resources",
                "junk-in-parameters",
                "detail-not-an-object",
                "empty-detail",
            ]
        )
    )
    required = [(k,) for k in ENVELOPE_REQUIRED] + [("detail", k) for k in required_detail(raw)]
    return _mutate(draw, name, raw, mutation, required)


Mutated = tuple[tuple[str, ...] | str | None, str]
"""What a mutation broke: the path (or field name) and the error-message prefix."""


def _drop_required(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    path = draw(st.sampled_from(required))
    del _get(raw, path[:-1])[path[-1]]
    return path, ""


def _null_required(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    path = draw(st.sampled_from(required))
    _set(raw, path, None)
    return path, ""


def _wrong_type(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    path = draw(st.sampled_from(_fields(raw)))
    current = _get(raw, path)
    value: Any
    if isinstance(current, list):  # resources
        value = draw(st.one_of(st.text(max_size=10), st.integers(), st.booleans()))
    elif isinstance(current, dict):  # detail, parameters
        value = draw(st.one_of(st.text(max_size=10), st.integers(), st.lists(any_json)))
    else:
        value = draw(not_a_string)
    _set(raw, path, value)
    return path, ""


def _bad_value(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    candidates = [p for p in _fields(raw) if p[-1] in ID_FIELDS | ENUM_FIELDS | TIME_FIELDS]
    path = draw(st.sampled_from(candidates))
    key = path[-1]
    current = _get(raw, path)
    if key in ID_FIELDS:
        value: Any = draw(bad_id(current))
    elif key in TIME_FIELDS:
        value = draw(bad_time)
    else:
        value = draw(bad_enum(current))
    _set(raw, path, value)
    # An unknown detail-type is reported as one, whatever else the event says.
    return path, ""


def _oversized_text(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    candidates = [p for p in _fields(raw) if p[-1] in TEXT_LIMITS]
    path = draw(st.sampled_from([*candidates, ("replay-name",)]))
    limit = TEXT_LIMITS[path[-1]]
    _set(raw, path, "a" * draw(st.integers(limit + 1, limit + 4096)))
    return path, ""


def _spoofed_source(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    raw["source"] = draw(
        st.one_of(
            st.sampled_from(["aws.autoscaling", "aws.ec2", "aws.ssm", "aws.events"]),
            st.text(max_size=30),
        ).filter(lambda s: s != FIXTURES[name]["source"])
    )
    return "source", ""


def _unknown_detail_type(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    raw["detail-type"] = draw(bad_enum(raw["detail-type"]))
    return "detail-type", ""


def _unknown_envelope_key(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    key = draw(st.text(min_size=1, max_size=20).filter(lambda k: k not in raw))
    # replay-name is part of the envelope (archive replays); anything else is not.
    if key == "replay-name":
        key = "replay-name-2"
    raw[key] = draw(any_json)
    return key, ""


def _junk_in_resources(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    index = draw(st.integers(0, len(raw["resources"])))
    raw["resources"].insert(index, draw(not_a_string | st.none()))
    return ("resources", str(index)), ""


def _junk_in_parameters(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    if "parameters" not in raw["detail"]:
        # Only command status events carry parameters; others: a nested null instead.
        path = draw(st.sampled_from([p for p in required if p[0] == "detail"]))
        _set(raw, path, None)
        return path, ""
    key = draw(st.text(min_size=1, max_size=12))
    if draw(st.booleans()):
        raw["detail"]["parameters"][key] = draw(not_a_string.filter(_not_a_list))
        return ("detail", "parameters", key), ""
    values: list[Any] = draw(st.lists(st.text(max_size=5), max_size=3))
    index = draw(st.integers(0, len(values)))
    values.insert(index, draw(not_a_string | st.none()))
    raw["detail"]["parameters"][key] = values
    return ("detail", "parameters", key, str(index)), ""


def _detail_not_an_object(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    raw["detail"] = draw(st.one_of(st.none(), not_a_string.filter(_not_a_dict)))
    return "detail", ""


def _empty_detail(
    draw: st.DrawFn, name: str, raw: dict[str, Any], required: list[tuple[str, ...]]
) -> Mutated:
    raw["detail"] = {}
    return None, "detail."


MUTATORS: dict[str, Callable[..., Mutated]] = {
    "drop-required": _drop_required,
    "null-required": _null_required,
    "wrong-type": _wrong_type,
    "bad-value": _bad_value,
    "oversized-text": _oversized_text,
    "spoofed-source": _spoofed_source,
    "unknown-detail-type": _unknown_detail_type,
    "unknown-envelope-key": _unknown_envelope_key,
    "junk-in-resources": _junk_in_resources,
    "junk-in-parameters": _junk_in_parameters,
    "detail-not-an-object": _detail_not_an_object,
    "empty-detail": _empty_detail,
}


def _mutate(
    draw: st.DrawFn, name: str, raw: dict[str, Any], mutation: str, required: list[tuple[str, ...]]
) -> Case:
    path, prefix = MUTATORS[mutation](draw, name, raw, required)
    field = ".".join(path) if isinstance(path, tuple) else path
    return Case(name, mutation, raw, field, prefix)


def _not_a_list(value: Any) -> bool:
    return not isinstance(value, list)


def _not_a_dict(value: Any) -> bool:
    return not isinstance(value, dict)


# --- the properties ---------------------------------------------------------------------------


def rejected(parse: Callable[[], Any]) -> InvalidEventError:
    """The error ``parse`` raised; anything but InvalidEventError fails the test as it is."""
    with pytest.raises(InvalidEventError) as raised:
        parse()
    error = raised.value
    assert error.message, "an error must say what is wrong"
    assert str(error) == f"{error.field}: {error.message}"
    return error


def assert_names(error: InvalidEventError, case: Case) -> None:
    if case.field is not None:
        assert error.field == case.field, (case.mutation, case.fixture, error)
    else:
        assert error.field.startswith(case.prefix), (case.mutation, case.fixture, error)


class Count:
    """Examples a property ran: hypothesis stops early when a strategy runs out of cases."""

    def __init__(self) -> None:
        self.examples = 0
        self.by_mutation: dict[str, int] = {}

    def add(self, mutation: str = "") -> None:
        self.examples += 1
        self.by_mutation[mutation] = self.by_mutation.get(mutation, 0) + 1


def test_malformed_events_are_rejected_naming_the_mutated_field() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=QUOTAS["malformed"])
    @given(malformed_events())
    def check(case: Case) -> None:
        count.add(case.mutation)
        # The decoded event (what Lambda hands a handler) through the edge's router...
        assert_names(rejected(lambda: route_raw(case.raw)), case)
        # ... and its JSON text (what `fleetpatch events check` reads) alike.
        text = json.dumps(case.raw)
        assert_names(rejected(lambda: parse_event_json(text)), case)

    check()
    assert count.examples >= QUOTAS["malformed"]
    # Every kind of mutation was tried, on a fair share of the examples.
    assert len(count.by_mutation) == 12, count.by_mutation
    # (empty-detail has one case per fixture: 20.)
    assert min(count.by_mutation.values()) >= 15, count.by_mutation


junk_text = st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    # A real event's text cut short or with one byte changed.
    st.tuples(st.sampled_from(sorted(FIXTURES)), st.integers(0, 10**6)).map(
        lambda c: json.dumps(FIXTURES[c[0]])[: c[1] % len(json.dumps(FIXTURES[c[0]]))]
    ),
    st.tuples(
        st.sampled_from(sorted(FIXTURES)), st.integers(0, 10**6), st.binary(min_size=1, max_size=1)
    ).map(lambda c: _replace_byte(json.dumps(FIXTURES[c[0]]).encode(), c[1], c[2])),
    # Nesting deeper than a JSON decoder recurses.
    st.integers(1, 200_000).map(lambda n: "[" * n),
    st.integers(1, 200_000).map(lambda n: '{"a":' * n),
)


def _replace_byte(text: bytes, position: int, byte: bytes) -> bytes:
    position %= len(text)
    return text[:position] + byte + text[position + 1 :]


def test_junk_json_text_is_rejected_as_an_invalid_event() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=JUNK_JSON_EXAMPLES)
    @given(junk_text)
    def check(text: str | bytes) -> None:
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        if isinstance(decoded, dict):
            # A changed byte inside a value may leave a valid event (another hex digit of an
            # id): parsed, or rejected by name, never a crash; not counted as malformed.
            with contextlib.suppress(InvalidEventError):
                parse_event_json(text)
            return
        count.add()
        # Not JSON, or JSON that is not an object: the event as a whole is the problem.
        assert rejected(lambda: parse_event_json(text)).field == "event"

    check()
    assert count.examples >= QUOTAS["junk_json"]


def test_what_is_not_an_object_is_rejected_as_the_event() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=QUOTAS["non_object"])
    @given(any_json.filter(_not_a_dict))
    def check(value: Any) -> None:
        count.add()
        assert rejected(lambda: parse_event(value)).field == "event"
        if not isinstance(value, str):
            # A caller that hands parse_event_json something that is not text at all.
            assert rejected(lambda: parse_event_json(value)).field == "event"

    check()
    assert count.examples >= QUOTAS["non_object"]


def _shuffled(value: Any, order: list[int]) -> Any:
    """``value`` with every mapping's keys in another order (rotated by the drawn amounts)."""
    if isinstance(value, dict):
        items = list(value.items())
        shift = order[len(items) % len(order)] % max(1, len(items))
        return {k: _shuffled(v, order) for k, v in items[shift:] + items[:shift]}
    if isinstance(value, list):
        return [_shuffled(v, order) for v in value]
    return value


def test_tolerated_changes_parse_to_the_same_event() -> None:
    count = Count()

    @settings(PROPERTY, max_examples=150)
    @given(
        st.sampled_from(sorted(FIXTURES)),
        st.lists(st.integers(0, 50), min_size=1, max_size=5),
        st.dictionaries(st.text(min_size=1, max_size=15), any_json, max_size=4),
    )
    def check(name: str, order: list[int], additions: dict[str, Any]) -> None:
        count.add()
        original = parse_event(FIXTURES[name])
        raw = _shuffled(copy.deepcopy(FIXTURES[name]), order)
        # Fields AWS may add to detail later are ignored, not errors. An operator's own event
        # (fleetpatch.operator) is strict: a misspelt key there is an error, not a silently
        # wider emergency (docs/emergency.md).
        if raw["source"].startswith("aws."):
            for key, value in additions.items():
                raw["detail"].setdefault(f"x-added-{key}", value)
        assert parse_event(raw) == original
        assert parse_event_json(json.dumps(raw)) == original

    check()
    assert count.examples >= 150


def test_the_quotas_add_up_to_a_thousand_malformed_events() -> None:
    assert MALFORMED_EVENTS_PER_RUN >= 1000
