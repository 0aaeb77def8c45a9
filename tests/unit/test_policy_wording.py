"""The policy file's errors in plain words: close matches, names without regexes, one error
per YAML anchor."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.validate import validate_policy
from fleetpatch_authoring.yamlfile import InvalidFileError, load_model
from fleetpatch_cli.scenario_file import load_scenario
from localcloud.scenario import Scenario

EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def problem(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> str:
    changed = copy.deepcopy(data)
    change(changed)
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(changed)
    [found] = raised.value.problems
    return str(found)


def test_an_unknown_key_names_the_close_one(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][0]["max_concurency"] = 1

    assert problem(example, change) == (
        "waves.test.batches.0.max_concurency: unknown key (did you mean max_concurrency?)"
    )


def test_an_unknown_key_with_no_close_one_lists_the_known_keys(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["launch"]["churn"]["window"] = 3

    assert (
        problem(example, change) == "launch.churn.window: unknown key (known here: action, after)"
    )


def test_an_unknown_value_names_the_close_one(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["reboot"] = "RebootIfNeded"

    found = problem(example, change)
    assert found.startswith("waves.test.reboot: Input should be ")
    assert found.endswith("(did you mean RebootIfNeeded?)")


def test_a_bad_name_says_what_a_name_is_not_its_regex(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][0]["name"] = "Linux_DBs"

    assert problem(example, change) == (
        "waves.test.batches.0.name: 'Linux_DBs' is not a valid name here: use a lowercase "
        "letter, then lowercase letters, digits or '-' (31 characters at most)"
    )


def test_a_bad_mapping_key_says_what_a_name_is(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["Test"] = d["waves"].pop("test")

    found = problem(example, change)
    assert found.startswith("waves.Test: Test is not allowed as a key here: use a lowercase")
    assert "^" not in found


def test_a_missing_key_is_said_to_be_missing(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["waves"]["test"]["schedule"]["cron"]

    assert problem(example, change) == "waves.test.schedule.cron: required, and missing"


# --- one error per YAML anchor ---------------------------------------------------------------------


def test_a_typo_in_an_anchor_is_one_error_naming_every_place(tmp_path: Path) -> None:
    # Given a scenario whose three groups share one anchored hook with a typo in it
    scenario = tmp_path / "anchored.yaml"
    hook = "{name: fleetpatch-launch, heartbeat_timout: 600}"
    scenario.write_text(
        "name: anchored\n"
        "auto_scaling_groups:\n"
        f"  - {{name: g0, os: AMAZON_LINUX_2023, lifecycle_hook: &hook {hook}}}\n"
        "  - {name: g1, os: AMAZON_LINUX_2023, lifecycle_hook: *hook}\n"
        "  - {name: g2, os: AMAZON_LINUX_2023, lifecycle_hook: *hook}\n"
    )
    # When it is loaded
    with pytest.raises(InvalidFileError) as raised:
        load_model(scenario, Scenario)
    # Then the typo is one error, on the anchor's line, with the other places listed
    errors = [e for e in raised.value.errors if "heartbeat_timout" in e.field]
    assert len(errors) == 1, raised.value.errors
    assert (errors[0].line, errors[0].field) == (
        3,
        "auto_scaling_groups.0.lifecycle_hook.heartbeat_timout",
    )
    assert errors[0].also == (
        "auto_scaling_groups.1.lifecycle_hook.heartbeat_timout",
        "auto_scaling_groups.2.lifecycle_hook.heartbeat_timout",
    )
    assert str(errors[0]).endswith(
        "(the same YAML anchor at auto_scaling_groups.1.lifecycle_hook.heartbeat_timout, "
        "auto_scaling_groups.2.lifecycle_hook.heartbeat_timout)"
    )


def test_the_same_error_on_two_keys_of_one_line_stays_two(tmp_path: Path) -> None:
    scenario = tmp_path / "flow.yaml"
    scenario.write_text("name: flow\nsteps:\n  - {note: {text: a, colour: red, size: 2}}\n")
    with pytest.raises(InvalidFileError) as raised:
        load_scenario(scenario)
    assert sorted(e.field for e in raised.value.errors) == [
        "steps.0.note.note.colour",  # pydantic names the tagged union's tag too
        "steps.0.note.note.size",
    ]
