"""tools/refresh_patch_properties.py: what it asks, how it reads the answers, what it writes.

The tool talks to a real account only when an operator runs it; these tests cover the parts
that do not call AWS.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from tools import refresh_patch_properties as refresh


@pytest.fixture
def data() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(refresh.DATA.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_file_is_in_the_layout_the_tool_writes(data: dict[str, Any]) -> None:
    # A refresh's diff then shows only the values that changed.
    assert refresh.DATA.read_text(encoding="utf-8") == refresh.dump(data)


def test_it_asks_every_key_the_api_enumerates_and_never_section(data: dict[str, Any]) -> None:
    asked = refresh.queries(data)
    assert ("WINDOWS", "MSRC_SEVERITY") in asked
    assert ("AMAZON_LINUX_2023", "SEVERITY") in asked
    assert ("UBUNTU", "PRIORITY") in asked
    assert not any(key == "SECTION" for _, key in asked)
    every_os = set(data["operating_systems"])
    assert {os_name for os_name, key in asked if key == "PRODUCT"} == every_os


def test_it_reads_each_name_once_across_pages() -> None:
    pages: list[dict[str, Any]] = [
        {"Properties": [{"Name": "Security"}, {"Name": "Bugfix"}], "NextToken": "t"},
        {"Properties": [{"Name": "Bugfix"}, {"Name": "Newpackage"}]},
    ]
    assert refresh.property_values(pages, "SUSE CLASSIFICATION") == [
        "Security",
        "Bugfix",
        "Newpackage",
    ]


def test_a_property_without_a_name_is_an_error_naming_the_query() -> None:
    with pytest.raises(ValueError, match="WINDOWS PRODUCT: a property without a Name"):
        refresh.property_values([{"Properties": [{"Product": "X"}]}], "WINDOWS PRODUCT")


def test_answers_replace_the_documented_lists_and_say_where_they_come_from(
    data: dict[str, Any],
) -> None:
    answers = {
        ("WINDOWS", "PRODUCT"): ["WindowsServer2019", "WindowsServer2022"],
        ("AMAZON_LINUX_2023", "SEVERITY"): ["Critical", "Important", "Medium", "Low", "None"],
    }
    new = refresh.refreshed(data, answers, "eu-central-1", date(2027, 1, 4))
    windows = new["operating_systems"]["WINDOWS"]["PRODUCT"]
    assert windows == {
        "values": ["WindowsServer2019", "WindowsServer2022"],
        "sources": [refresh.SOURCE],
    }
    # A documented synonym survives while it still points at an answered value.
    assert new["operating_systems"]["AMAZON_LINUX_2023"]["SEVERITY"]["hints"] == {
        "Moderate": "Medium"
    }
    # What was not answered keeps its documented entry.
    assert new["operating_systems"]["UBUNTU"] == data["operating_systems"]["UBUNTU"]
    assert new["retrieved"] == "2027-01-04"
    assert "eu-central-1" in new["retrieved_from"]
    assert "eu-central-1" in new["sources"][refresh.SOURCE]["says"]
    assert data["operating_systems"]["WINDOWS"]["PRODUCT"]["values"] is None  # not mutated
