"""Approval-rule filter values are checked per operating system against AWS's allowed values.

A classification, severity, product, priority or section that Patch Manager does not know
would fail the deploy at best, and at worst make a baseline that approves nothing: each is an
error naming the field (down to the value's index) and the closest valid value.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.validate import validate_policy
from fleetpatch_cli.main import main

EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def problems_with(example: dict[str, Any], os_name: str, rule: dict[str, Any]) -> list[str]:
    """The problems of the example whose test environment has one baseline: ``rule``."""
    data = copy.deepcopy(example)
    data["environments"]["test"]["baselines"] = {os_name: {"approval_rules": [rule]}}
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(data)
    return [str(p) for p in raised.value.problems]


def valid_with(example: dict[str, Any], os_name: str, rule: dict[str, Any]) -> None:
    data = copy.deepcopy(example)
    data["environments"]["test"]["baselines"] = {os_name: {"approval_rules": [rule]}}
    validate_policy(data)


RULE = "environments.test.baselines.{os}.approval_rules.0.{field}.{index}"

TYPOS = [
    # (operating system, field, values, index of the typo, the closest valid value)
    ("AMAZON_LINUX_2023", "classifications", ["Securty"], 0, "Security"),
    ("AMAZON_LINUX_2023", "severities", ["Critical", "Importnt"], 1, "Important"),
    ("REDHAT_ENTERPRISE_LINUX", "severities", ["Critcal"], 0, "Critical"),
    ("SUSE", "classifications", ["Security", "Recomended"], 1, "Recommended"),
    ("WINDOWS", "classifications", ["SecurityUpdate"], 0, "SecurityUpdates"),
    ("WINDOWS", "severities", ["Critical", "Importent"], 1, "Important"),  # MSRC_SEVERITY
    ("UBUNTU", "priorities", ["Requried"], 0, "Required"),
    ("DEBIAN", "priorities", ["Standart"], 0, "Standard"),
    ("AMAZON_LINUX", "products", ["AmazonLinux2018.3"], 0, "AmazonLinux2018.03"),
]


@pytest.mark.parametrize(("os_name", "field", "values", "index", "closest"), TYPOS)
def test_a_typo_names_the_field_and_the_closest_valid_value(
    example: dict[str, Any], os_name: str, field: str, values: list[str], index: int, closest: str
) -> None:
    found = problems_with(example, os_name, {field: values})
    assert len(found) == 1, found
    where = RULE.format(os=os_name, field=field, index=index)
    assert found[0].startswith(f"{where}: '{values[index]}' "), found
    assert found[0].endswith(f"did you mean '{closest}'?"), found


def test_a_wrong_case_is_an_error_with_the_right_spelling(example: dict[str, Any]) -> None:
    # AWS answers with one spelling per value and checks filters against it.
    found = problems_with(example, "SUSE", {"classifications": ["security"]})
    assert len(found) == 1, found
    assert "case" in found[0]
    assert found[0].endswith("did you mean 'Security'?")


def test_a_value_nothing_resembles_lists_the_valid_ones(example: dict[str, Any]) -> None:
    found = problems_with(example, "SUSE", {"classifications": ["Kernel"]})
    assert len(found) == 1, found
    assert "Security, Recommended, Optional, Feature, Document, Yast" in found[0]


def test_every_value_of_a_rule_is_checked_and_each_is_named(example: dict[str, Any]) -> None:
    rule = {"classifications": ["Securty", "Bugfix", "Bugfx"], "severities": ["Critcal"]}
    found = problems_with(example, "REDHAT_ENTERPRISE_LINUX", rule)
    paths = [line.split(": ", 1)[0] for line in found]
    assert paths == [
        RULE.format(os="REDHAT_ENTERPRISE_LINUX", field="classifications", index=0),
        RULE.format(os="REDHAT_ENTERPRISE_LINUX", field="classifications", index=2),
        RULE.format(os="REDHAT_ENTERPRISE_LINUX", field="severities", index=0),
    ]


def test_a_value_valid_on_another_os_is_not_valid_here(example: dict[str, Any]) -> None:
    # Windows classifications are Windows Update's, not yum's.
    found = problems_with(example, "WINDOWS", {"classifications": ["Security"]})
    assert len(found) == 1, found
    assert found[0].endswith("did you mean 'SecurityUpdates'?")


@pytest.mark.parametrize(
    ("os_name", "field"),
    [
        ("AMAZON_LINUX_2023", "classifications"),
        ("WINDOWS", "severities"),
        ("UBUNTU", "priorities"),
        ("AMAZON_LINUX", "products"),
    ],
)
def test_the_wildcard_matches_all_values(example: dict[str, Any], os_name: str, field: str) -> None:
    valid_with(example, os_name, {field: ["*"]})


def test_a_pair_without_a_closed_list_accepts_any_value(example: dict[str, Any]) -> None:
    # AWS documents no closed list of Debian sections (only their length) nor of current
    # Windows products: anything is accepted there, as patch_properties.json says.
    valid_with(example, "UBUNTU", {"priorities": ["Required"], "sections": ["python"]})
    valid_with(example, "WINDOWS", {"products": ["WindowsServer2025"]})


def test_macos_baselines_have_no_severity_filter(example: dict[str, Any]) -> None:
    found = problems_with(example, "MACOS", {"severities": ["Critical"]})
    assert found == [
        "environments.test.baselines.MACOS.approval_rules.0.severities: "
        "MACOS baselines have no SEVERITY filter"
    ]


def test_the_shipped_policy_still_validates(example: dict[str, Any]) -> None:
    validate_policy(copy.deepcopy(example))


def test_policy_check_prints_the_typo_with_its_line_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shared rules sit behind a YAML anchor: one error, naming both environments' fields.
    text = EXAMPLE.read_text()
    old = "      - classifications: [Recommended]"
    assert old in text
    text = text.replace(old, "      - classifications: [Recomended]", 1)
    broken = tmp_path / "fleet.yaml"
    broken.write_text(text)
    assert main(["policy", "check", str(broken)]) == 2
    captured = capsys.readouterr()
    line = text[: text.index("[Recomended]")].count("\n") + 1
    field = "baselines.SUSE.approval_rules.1.classifications.0"
    assert captured.err.splitlines() == [
        f"{broken}:{line}: environments.test.{field}: "
        "'Recomended' is not a SUSE CLASSIFICATION value; did you mean 'Recommended'? "
        f"(the same YAML anchor at environments.prod.{field})",
        "1 error",
    ]
    assert "Traceback" not in captured.err + captured.out


# --- the data file ------------------------------------------------------------------------------


def test_the_data_file_covers_every_os_of_the_schema_and_names_its_sources() -> None:
    from datetime import date
    from typing import get_args

    from fleetpatch import patch_properties
    from fleetpatch_authoring.fields import OperatingSystem

    data = patch_properties.catalogue()
    # It ships in the layer (template.yaml: ContentUri layers/fleetpatch), in the package
    # that reads it.
    layer_copy = (
        EXAMPLE.parents[1] / "layers" / "fleetpatch" / "fleetpatch" / "patch_properties.json"
    )
    assert Path(patch_properties.__file__).parent / patch_properties.DATA_FILE == layer_copy
    assert json.loads(layer_copy.read_text()) == data
    date.fromisoformat(data["retrieved"])
    assert data["wildcard"] == patch_properties.WILDCARD
    assert set(data["operating_systems"]) == set(get_args(OperatingSystem))
    known_keys = {*patch_properties.RULE_FILTERS.values(), "MSRC_SEVERITY"}
    for os_name, keys in data["operating_systems"].items():
        assert "PRODUCT" in keys, os_name
        assert set(keys) <= known_keys, os_name
        for key, entry in keys.items():
            assert entry["sources"], (os_name, key)
            assert set(entry["sources"]) <= set(data["sources"]), (os_name, key)
            values = entry["values"]
            if values is None:
                assert entry["note"], (os_name, key)  # why any value is accepted
                continue
            assert values, (os_name, key)
            assert len(set(values)) == len(values), (os_name, key)
            assert all(0 < len(v) <= 64 and v != "*" for v in values), (os_name, key)
            assert set(entry.get("hints", {}).values()) <= set(values), (os_name, key)
    assert all(s["url"].startswith("https://") for s in data["sources"].values())


def test_the_rendered_keys_are_the_os_keys_of_the_data_file() -> None:
    from fleetpatch.patch_properties import filter_key, filter_keys

    assert filter_key("severities", "WINDOWS") == "MSRC_SEVERITY"
    assert filter_key("severities", "SUSE") == "SEVERITY"
    assert filter_keys("UBUNTU") == {"PRODUCT", "PRIORITY", "SECTION"}
    assert filter_keys("WINDOWS") == {"PRODUCT", "CLASSIFICATION", "MSRC_SEVERITY"}
