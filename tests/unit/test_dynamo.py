"""One reader of the state table's attribute types (issue 17: two readers disagreed)."""

from __future__ import annotations

import pytest

from fleetpatch.dynamo import attribute, item, plain


def test_every_attribute_type_the_table_uses_reads_as_a_plain_value() -> None:
    item = {
        "pk": {"S": "item-1"},
        "count": {"N": "3"},
        "share": {"N": "1.5"},
        "passed": {"BOOL": False},
        "none": {"NULL": True},
        "reasons": {"L": [{"S": "a"}, {"N": "2"}]},
        "failed_instances": {"M": {"i-1": {"S": "why"}, "nested": {"L": [{"BOOL": True}]}}},
        "ids": {"SS": ["b", "a"]},
    }
    assert plain(item) == {
        "pk": "item-1",
        "count": 3,
        "share": 1.5,
        "passed": False,
        "none": None,
        "reasons": ["a", 2],
        "failed_instances": {"i-1": "why", "nested": [True]},
        "ids": ["a", "b"],
    }


def test_an_unknown_type_is_an_error_not_a_silent_gap() -> None:
    with pytest.raises(ValueError, match="unsupported DynamoDB attribute type"):
        plain({"blob": {"B": b"x"}})


def test_a_set_of_numbers_reads_as_a_sorted_list_of_numbers() -> None:
    assert plain({"ns": {"NS": ["10", "2", "2.5"]}}) == {"ns": [2, 2.5, 10]}


def test_an_unknown_type_inside_a_list_or_map_is_an_error_too() -> None:
    with pytest.raises(ValueError, match="unsupported DynamoDB attribute type"):
        plain({"l": {"L": [{"S": "a"}, {"B": b"x"}]}})
    with pytest.raises(ValueError, match="unsupported DynamoDB attribute type"):
        plain({"m": {"M": {"x": {"BS": [b"x"]}}}})


def test_plain_values_written_and_read_back_are_the_same() -> None:
    values = {
        "pk": "item-1",
        "count": 3,
        "share": 1.5,
        "passed": False,
        "none": None,
        "reasons": ["a", 2],
        "failed_instances": {"i-1": "why", "nested": [True]},
    }
    written = item(values)
    assert written["count"] == {"N": "3"}
    assert written["share"] == {"N": "1.5"}
    assert written["reasons"] == {"L": [{"S": "a"}, {"N": "2"}]}
    assert plain(written) == values
    assert attribute("x") == {"S": "x"}
