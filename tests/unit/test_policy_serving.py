"""The serving block (issue 18): each field validated where it is, defaults merged, compiled."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch.batch_policy import RuntimeBatch, RuntimeServing
from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.schema import json_schema
from fleetpatch_authoring.serving import Serving
from fleetpatch_authoring.validate import validate_policy

ROOT = Path(__file__).parents[2]
FLEET = ROOT / "policy" / "fleet.yaml"
SERVING_EXAMPLE = ROOT / "policy" / "examples" / "serving.yaml"
WEB = ("waves", "test", "batches", 0)

Change = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SERVING_EXAMPLE.read_text())
    return data


def changed(data: dict[str, Any], change: Change) -> dict[str, Any]:
    copied = copy.deepcopy(data)
    change(copied)
    return copied


def problems(data: dict[str, Any], change: Change) -> list[str]:
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(changed(data, change))
    return [str(p) for p in raised.value.problems]


def web(data: dict[str, Any]) -> dict[str, Any]:
    batch: dict[str, Any] = data["waves"]["test"]["batches"][0]
    return batch


def compiled_batches(data: dict[str, Any]) -> list[dict[str, Any]]:
    dumped = validate_policy(data).runtime().model_dump(mode="json", by_alias=True)
    batches: list[dict[str, Any]] = dumped["waves"]["test"]["batches"]
    return batches


def _set(block: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        block = block.setdefault(part, {})
    block[last] = value


# --- the files --------------------------------------------------------------------------------


def test_fleet_yaml_has_serving_defaults_and_serves_only_the_web_tier() -> None:
    data = yaml.safe_load(FLEET.read_text())
    policy = validate_policy(data)
    assert policy.serving is not None
    assert policy.serving.budget.max_unavailable == "1"
    assert policy.serving.reboot == "controlled"
    assert not policy.serving.snapshots.enabled
    waves = policy.runtime().model_dump(by_alias=True)["waves"]
    for wave in ("test", "prod"):
        assert [policy.serving_of(wave, i) for i in range(2)] == [None, None]
        # Nothing changes for the control plane: no serving key, the wave's reboot option.
        for batch in waves[wave]["batches"]:
            assert "serving" not in batch
            assert batch["rebootOption"] == "RebootIfNeeded"
    # The web wave (the demo's web tier): batch 1 serves, with snapshots and rollback and
    # the fleet's budget of one; the API batch behind its gate is patched in place.
    web, api = waves["web"]["batches"]
    assert web["rebootOption"] == "NoReboot"
    assert web["serving"]["maxUnavailable"] == "1"
    assert web["serving"]["snapshots"] == {"enabled": True, "retentionDays": 7, "rollback": True}
    assert web["serving"]["health"]["timeoutSeconds"] == 300
    assert "serving" not in api
    assert api["gate"]["batches"] == ["web"]


def test_the_serving_example_compiles_the_web_batch_exactly(example: dict[str, Any]) -> None:
    web_batch, databases, windows = compiled_batches(example)
    assert web_batch["rebootOption"] == "NoReboot"
    assert web_batch["serving"] == {
        "drainAutoScaling": True,
        "drainTargetGroups": True,
        "drainTimeoutSeconds": 900,
        "controlledReboot": True,
        "maxUnavailable": "1",
        "budgetScopes": ["auto-scaling-group", "target-group", "availability-zone"],
        "zoneByZone": False,
        "budgetWaitSeconds": 14400,
        "health": {
            "statusChecks": True,
            "agent": True,
            "targetHealth": True,
            "alarms": ["web-test-5xx"],
            "document": None,
            "timeoutSeconds": 900,
        },
        "snapshots": {"enabled": True, "retentionDays": 7, "rollback": True},
        "hooks": {
            "beforeInstall": "fleetpatch-web-stop",
            "afterInstall": None,
            "afterReboot": "fleetpatch-web-warm",
        },
    }
    # serving: false batches compile as before: no serving key, the wave's reboot option
    for batch in (databases, windows):
        assert "serving" not in batch
        assert batch["rebootOption"] == "RebootIfNeeded"


def test_the_compiled_batch_reads_back_and_keeps_no_defaults_of_its_own(
    example: dict[str, Any],
) -> None:
    dumped = compiled_batches(example)
    batches = [RuntimeBatch.model_validate(b) for b in dumped]
    assert batches[0].serving is not None
    assert batches[0].serving.snapshots.retention_days == 7
    assert batches[1].serving is None
    # The authoring defaults and the compiled model's defaults are the same values.
    assert Serving().runtime() == RuntimeServing()


# --- merging ----------------------------------------------------------------------------------


def test_a_batch_override_changes_only_the_fields_it_names(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["serving"]["budget"] = {"max_unavailable": "2", "scopes": ["target-group"]}
        d["serving"]["health"]["alarms"] = ["fleet-wide"]
        web(d)["serving"] = {"budget": {"max_unavailable": "10%"}, "health": {"alarms": ["a"]}}

    serving = compiled_batches(changed(example, change))[0]["serving"]
    assert serving["maxUnavailable"] == "10%"  # the batch's
    assert serving["budgetScopes"] == ["target-group"]  # the fleet's, kept beside it
    assert serving["health"]["alarms"] == ["a"]  # a list replaces the fleet's list
    assert serving["health"]["statusChecks"] is True


def test_without_fleet_defaults_a_batch_block_starts_from_the_built_in_ones(
    example: dict[str, Any],
) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["serving"]
        web(d)["serving"] = {}
        del d["waves"]["test"]["batches"][1]["serving"]

    web_batch, databases, _ = compiled_batches(changed(example, change))
    assert web_batch["serving"] == RuntimeServing().model_dump(mode="json", by_alias=True)
    assert "serving" not in databases  # no block anywhere: in place


def test_fleet_defaults_apply_to_a_batch_that_says_nothing(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["waves"]["test"]["batches"][1]["serving"]

    databases = compiled_batches(changed(example, change))[1]
    assert databases["serving"]["maxUnavailable"] == "1"
    assert databases["rebootOption"] == "NoReboot"


def test_disabled_fleet_defaults_need_a_batch_to_enable_them(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["serving"]["enabled"] = False
        web(d)["serving"] = {"budget": {"max_unavailable": "2"}}
        d["waves"]["test"]["batches"][1]["serving"] = {"enabled": True}

    web_batch, databases, _ = compiled_batches(changed(example, change))
    assert "serving" not in web_batch
    assert databases["serving"]["maxUnavailable"] == "1"


def test_serving_false_patches_in_place_with_the_batch_reboot(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        web(d)["serving"] = False
        web(d)["reboot"] = "RebootIfNeeded"

    web_batch = compiled_batches(changed(example, change))[0]
    assert "serving" not in web_batch
    assert web_batch["rebootOption"] == "RebootIfNeeded"


def test_serving_reboot_none_compiles_to_no_reboot(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        web(d)["serving"]["reboot"] = "none"
        web(d)["serving"]["drain"] = {"auto_scaling": "none", "timeout_minutes": 120}

    web_batch = compiled_batches(changed(example, change))[0]
    assert web_batch["rebootOption"] == "NoReboot"
    serving = web_batch["serving"]
    assert (serving["controlledReboot"], serving["drainAutoScaling"]) == (False, False)
    assert (serving["drainTargetGroups"], serving["drainTimeoutSeconds"]) == (True, 7200)


# --- each field, at the batch and at the top level ----------------------------------------------

INVALID = [
    ("enabled", "yes", "Input should be a valid boolean"),
    ("drain.auto_scaling", "terminate", "Input should be 'standby' or 'none'"),
    ("drain.target_groups", "remove", "Input should be 'deregister' or 'none'"),
    ("drain.timeout_minutes", 0, "greater than or equal to 1"),
    ("drain.timeout_minutes", 121, "less than or equal to 120"),
    ("drain.timeout_minutes", True, "Input should be a valid integer"),
    ("drain.wait", 1, "unknown key (known here: auto_scaling, target_groups, timeout_minutes)"),
    ("reboot", "RebootIfNeeded", "Input should be 'controlled' or 'none'"),
    ("budget.max_unavailable", "0", "'0' is not a count"),
    ("budget.max_unavailable", "0%", "'0%' is not a count"),
    ("budget.max_unavailable", "101%", "'101%' is not a count"),
    ("budget.max_unavailable", "half", "'half' is not a count"),
    ("budget.max_unavailable", 0, "'0' is not a count"),
    ("budget.scopes", [], "at least 1 item"),
    ("budget.scopes", ["target-group", "target-group"], "target-group listed twice"),
    ("budget.scopes.0", "region", "Input should be 'auto-scaling-group', 'target-group'"),
    ("budget.zone_by_zone", 1, "Input should be a valid boolean"),
    ("budget.wait_minutes", 0, "greater than or equal to 1"),
    ("budget.wait_minutes", 1441, "less than or equal to 1440"),
    ("health.status_checks", "on", "Input should be a valid boolean"),
    ("health.agent", 0, "Input should be a valid boolean"),
    ("health.target_health", None, "Input should be a valid boolean"),
    ("health.alarms", ["ok"] * 101, "at most 100 items"),
    ("health.alarms.0", "", "at least 1 character"),
    ("health.document", "fleetpatch-", "'fleetpatch-' is not a document the serving workflow"),
    ("health.document", "fleetpatch-my check", "'fleetpatch-my check' is not a document"),
    # The workflow's role may send only the account's fleetpatch-* documents (and the patch).
    ("health.document", "AWS-RunShellScript", "'AWS-RunShellScript' is not a document the"),
    ("health.timeout_minutes", 0, "greater than or equal to 1"),
    ("health.timeout_minutes", 121, "less than or equal to 120"),
    ("snapshots.enabled", "true", "Input should be a valid boolean"),
    ("snapshots.retention_days", 0, "greater than or equal to 1"),
    ("snapshots.retention_days", 366, "less than or equal to 365"),
    ("snapshots.rollback", "yes", "Input should be a valid boolean"),
    ("hooks.before_install", "fleetpatch-" + "a" * 118, "is not a document the serving"),
    ("hooks.after_install", "fleetpatch-stop;start", "is not a document the serving"),
    ("hooks.after_reboot", "x", "'x' is not a document the serving workflow may run"),
    (
        "hooks.after_reboot",
        "arn:aws:ssm:eu-central-1:123456789012:document/fleetpatch-x",
        "is not a document the serving workflow may run",
    ),
    ("hooks.on_failure", "AWS-RunShellScript", "unknown key (known here: after_install,"),
]


@pytest.mark.parametrize(("path", "value", "message"), INVALID)
def test_each_batch_field_is_checked_and_named(
    example: dict[str, Any], path: str, value: Any, message: str
) -> None:
    def change(d: dict[str, Any]) -> None:
        if path == "budget.scopes.0":
            web(d)["serving"]["budget"] = {"scopes": [value]}
        elif path == "health.alarms.0":
            web(d)["serving"]["health"] = {"alarms": [value]}
        else:
            _set(web(d)["serving"], path, value)

    [found] = problems(example, change)
    assert found.startswith(f"waves.test.batches.0.serving.{path}: "), found
    assert message in found, found


@pytest.mark.parametrize(("path", "value", "message"), INVALID)
def test_each_fleet_default_is_checked_and_named(
    example: dict[str, Any], path: str, value: Any, message: str
) -> None:
    def change(d: dict[str, Any]) -> None:
        if path == "budget.scopes.0":
            d["serving"]["budget"] = {"scopes": [value]}
        elif path == "health.alarms.0":
            d["serving"]["health"] = {"alarms": [value]}
        else:
            _set(d["serving"], path, value)

    [found] = problems(example, change)
    assert found.startswith(f"serving.{path}: "), found
    assert message in found, found


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("budget.max_unavailable", "1"),
        ("budget.max_unavailable", 3),
        ("budget.max_unavailable", "100%"),
        ("budget.max_unavailable", "5%"),
        ("budget.scopes", ["availability-zone"]),
        ("health.document", "fleetpatch-My_Check-1.0"),
        ("hooks.after_install", "fleetpatch-" + "a" * 117),
        ("drain.timeout_minutes", 120),
        ("snapshots.retention_days", 365),
    ],
)
def test_valid_values_pass(example: dict[str, Any], path: str, value: Any) -> None:
    validate_policy(changed(example, lambda d: _set(web(d)["serving"], path, value)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "serving is a block (write {} for the fleet's serving defaults) or false"),
        (0, "or false, not 0"),
        ("off", "or false, not 'off'"),
    ],
)
def test_serving_is_a_block_or_false(example: dict[str, Any], value: Any, message: str) -> None:
    [found] = problems(example, lambda d: web(d).update(serving=value))
    assert found.startswith("waves.test.batches.0.serving: "), found
    assert message in found, found
    [found] = problems(example, lambda d: d.update(serving=value))
    assert found.startswith("serving: "), found
    assert message in found, found


# --- relations: what the effective block contradicts -------------------------------------------


def test_a_serving_batch_cannot_ask_for_reboot_if_needed(example: dict[str, Any]) -> None:
    [found] = problems(example, lambda d: web(d).update(reboot="RebootIfNeeded"))
    assert found == (
        "waves.test.batches.0.reboot: a serving batch installs with NoReboot: the workflow "
        "reboots it itself (serving.reboot: controlled); remove reboot or set serving: false"
    )

    def never(d: dict[str, Any]) -> None:
        web(d).update(reboot="RebootIfNeeded")
        web(d)["serving"]["reboot"] = "none"

    assert "it is never rebooted (serving.reboot: none)" in problems(example, never)[0]


def test_no_reboot_on_a_serving_batch_and_the_waves_reboot_are_fine(
    example: dict[str, Any],
) -> None:
    def change(d: dict[str, Any]) -> None:
        web(d)["reboot"] = "NoReboot"
        d["waves"]["test"]["reboot"] = "RebootIfNeeded"

    assert compiled_batches(changed(example, change))[0]["rebootOption"] == "NoReboot"


def test_a_scan_batch_cannot_serve(example: dict[str, Any]) -> None:
    [found] = problems(example, lambda d: web(d).update(operation="Scan"))
    assert found.startswith("waves.test.batches.0.serving: a Scan batch installs nothing")


def test_rollback_needs_snapshots(example: dict[str, Any]) -> None:
    expected = "rollback restores the snapshot taken before the install: it needs "
    # at the batch, where it says rollback: true without snapshots
    [found] = problems(example, lambda d: web(d)["serving"].update(snapshots={"rollback": True}))
    assert found == f"waves.test.batches.0.serving.snapshots.rollback: {expected}" + (
        "snapshots.enabled: true"
    )
    # at the top level, once (not at each batch that inherits it)
    [found] = problems(example, lambda d: d["serving"].update(snapshots={"rollback": True}))
    assert found.startswith(f"serving.snapshots.rollback: {expected}")


def test_rollback_with_snapshots_from_the_fleet_defaults_is_fine(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["serving"]["snapshots"] = {"enabled": True}
        web(d)["serving"] = {"snapshots": {"rollback": True, "retention_days": 30}}

    snapshots = compiled_batches(changed(example, change))[0]["serving"]["snapshots"]
    assert snapshots == {"enabled": True, "retentionDays": 30, "rollback": True}


def test_the_default_rollback_is_no_error_while_snapshots_are_off(example: dict[str, Any]) -> None:
    # rollback defaults to true; only a rollback written without snapshots is a mistake.
    compiled = compiled_batches(changed(example, lambda d: web(d)["serving"].pop("snapshots")))
    assert compiled[0]["serving"]["snapshots"] == {
        "enabled": False,
        "retentionDays": 7,
        "rollback": True,
    }


def test_the_schema_offers_a_block_or_false() -> None:
    schema = json_schema()
    for where in (schema["properties"], schema["$defs"]["Batch"]["properties"]):
        options = where["serving"]["anyOf"]
        assert {"$ref": "#/$defs/Serving"} in options
        assert {"const": False, "type": "boolean"} in options
