"""The policy schema: the example is valid, and every kind of mistake is named where it is."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.policy import FleetPolicy
from fleetpatch_authoring.schema import json_schema
from fleetpatch_authoring.validate import unused_patch_groups, validate_policy

EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def problems(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> list[str]:
    """The problems of ``data`` after ``change``, as ``path: message`` lines."""
    changed = copy.deepcopy(data)
    change(changed)
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(changed)
    return [str(p) for p in raised.value.problems]


def only(found: list[str]) -> str:
    assert len(found) == 1, found
    return found[0]


# --- the example ------------------------------------------------------------------------------


def test_the_example_policy_is_valid(example: dict[str, Any]) -> None:
    policy = validate_policy(example)
    assert list(policy.environments) == ["test", "prod"]
    assert sorted(policy.environments["prod"].baselines) == sorted(
        ["AMAZON_LINUX_2023", "REDHAT_ENTERPRISE_LINUX", "CENTOS", "SUSE", "UBUNTU", "WINDOWS"]
    )
    assert policy.waves["test"].schedule.cron == "cron(0 6 ? * SAT#1 *)"
    assert policy.waves["prod"].schedule.cron == "cron(0 6 ? * SAT#3 *)"
    assert [b.name for b in policy.waves["prod"].batches] == ["linux-databases", "windows-apps"]
    assert policy.waves["prod"].gated_batches(1) == ["linux-databases"]
    assert unused_patch_groups(policy) == []


def test_environment_delay_fills_rules_without_one(example: dict[str, Any]) -> None:
    policy = validate_policy(example)
    rule = policy.environments["prod"].baselines["WINDOWS"].approval_rules[0]
    assert rule.approve_after_days is None
    assert policy.effective_rule("prod", rule).approve_after_days == 14
    assert policy.effective_rule("test", rule).approve_after_days == 0


def test_placement_and_baselines(example: dict[str, Any]) -> None:
    policy = validate_policy(example)
    assert policy.placement("patch_prod_0600_batch_2") == ("prod", 1)
    assert policy.environment_of("patch_test_0600_batch_1") == "test"
    assert policy.baseline_for("patch_test_0600_batch_1", "MACOS") is None
    assert policy.baseline_for("patch_nowhere", "WINDOWS") is None


def test_runtime_policy_carries_batches_gates_and_launch(example: dict[str, Any]) -> None:
    runtime = validate_policy(example).runtime().model_dump(by_alias=True)
    prod = runtime["waves"]["prod"]
    assert prod["schedule"]["ssm"] == {
        "expression": "cron(0 6 ? * SAT#3 *)",
        "timezone": "Europe/Zurich",
        "offsetDays": None,
    }
    assert prod["batches"][0]["gate"] is None
    assert prod["batches"][1]["gate"] == {
        "batches": ["linux-databases"],
        "maxFailed": 0,
        "maxFailedPercent": None,
        "requireCompliant": True,
        "alarms": [],
        "bakeMinutes": 30,
        "allowEmpty": False,
        "minInstances": None,
    }
    assert runtime["launch"]["agentTimeoutSeconds"] == 900
    assert runtime["launch"]["autoScalingGroupNames"] == ["web-test", "web-prod"]
    assert runtime["patchGroups"]["patch_prod_0600_batch_2"] == "prod"
    assert runtime["compliance"]["remediation"] == {"test": "install", "prod": "scan"}
    assert runtime["notifications"]["slackWebhookSecret"] == "fleetpatch/slack-webhook"


def test_json_schema_describes_the_file() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"version", "environments"}
    assert "^x-" in schema["patternProperties"]
    assert schema["additionalProperties"] is False


def test_x_keys_hold_anchors_and_are_ignored(example: dict[str, Any]) -> None:
    example = copy.deepcopy(example)
    example["x-anything"] = {"not": "validated"}
    assert isinstance(validate_policy(example), FleetPolicy)


# --- structure ------------------------------------------------------------------------------


def test_wrong_cron(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"]["cron"] = "cron(0 6 ? * SAT#1)"

    found = only(problems(example, change))
    assert found.startswith("waves.test.schedule.cron: ")
    assert "6 fields" in found


def test_rate_expression_is_not_a_wave_schedule(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"]["cron"] = "rate(7 days)"

    assert only(problems(example, change)).startswith("waves.test.schedule.cron: ")


def test_unknown_timezone(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["schedule"]["timezone"] = "Europe/Zurch"

    found = only(problems(example, change))
    assert found.startswith("waves.prod.schedule.timezone: ")
    assert "Europe/Zurch" in found


def test_offset_ssm_cannot_express(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"] = {"cron": "cron(0 6 ? * SAT#4 *)", "offset_days": 9}

    assert only(problems(example, change)).startswith("waves.test.schedule: ")


def test_offset_out_of_range(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"]["offset_days"] = 15

    assert only(problems(example, change)).startswith("waves.test.schedule.offset_days: ")


def test_unknown_operating_system(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["test"]["baselines"] = dict(d["environments"]["test"]["baselines"])
        d["environments"]["test"]["baselines"]["WINDOWS_SERVER"] = {
            "approved_patches": ["KB5046616"]
        }

    found = only(problems(example, change))
    assert found.startswith("environments.test.baselines.WINDOWS_SERVER: ")
    assert "WINDOWS" in found  # the message lists the names SSM knows


@pytest.mark.parametrize(("days", "ok"), [(-1, False), (0, True), (360, True), (361, False)])
def test_approval_delay_range(example: dict[str, Any], days: int, ok: bool) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["prod"]["baselines"] = copy.deepcopy(
            d["environments"]["prod"]["baselines"]
        )
        d["environments"]["prod"]["baselines"]["UBUNTU"]["approval_rules"][0][
            "approve_after_days"
        ] = days

    if ok:
        changed = copy.deepcopy(example)
        change(changed)
        validate_policy(changed)
    else:
        found = only(problems(example, change))
        assert found.startswith(
            "environments.prod.baselines.UBUNTU.approval_rules.0.approve_after_days: "
        )


def test_environment_delay_out_of_range(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["prod"]["approve_after_days"] = 400

    assert only(problems(example, change)).startswith("environments.prod.approve_after_days: ")


def test_delay_and_date_together(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        rules = [
            {
                "approve_after_days": 7,
                "approve_until_date": "2026-11-01",
                "priorities": ["Required"],
            }
        ]
        d["environments"]["test"]["baselines"] = {"UBUNTU": {"approval_rules": rules}}

    found = only(problems(example, change))
    assert found == (
        "environments.test.baselines.UBUNTU.approval_rules.0: "
        "give approve_after_days or approve_until_date, not both"
    )


def test_rule_without_any_delay(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["environments"]["test"]["approve_after_days"]

    found = problems(example, change)
    # every rule of every test baseline: 10 rules across six operating systems
    assert len(found) == 10
    assert all("give approve_after_days or approve_until_date" in p for p in found)


def test_too_many_approval_rules(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        rules = [{"priorities": ["Required"]}] * 11
        d["environments"]["test"]["baselines"] = {"UBUNTU": {"approval_rules": rules}}

    found = only(problems(example, change))
    assert found.startswith("environments.test.baselines.UBUNTU.approval_rules: ")
    assert "10" in found


def test_a_baseline_that_approves_nothing(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["test"]["baselines"] = {"UBUNTU": {"rejected_patches": ["x"]}}

    assert "approves nothing" in only(problems(example, change))


def test_non_security_updates_are_linux_only(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        rule = {"classifications": ["SecurityUpdates"], "enable_non_security": True}
        d["environments"]["test"]["baselines"] = {"WINDOWS": {"approval_rules": [rule]}}

    assert only(problems(example, change)) == (
        "environments.test.baselines.WINDOWS.approval_rules.0.enable_non_security: "
        "non-security updates are Linux only"
    )


def test_sources_are_linux_only(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        source = {"name": "internal", "products": ["WindowsServer2022"], "configuration": "x"}
        d["environments"]["test"]["baselines"] = {
            "WINDOWS": {"approved_patches": ["KB1"], "sources": [source]}
        }

    assert only(problems(example, change)).startswith(
        "environments.test.baselines.WINDOWS.sources: "
    )


def test_ubuntu_filters_on_priority_not_classification(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        rule = {"classifications": ["Security"]}
        d["environments"]["test"]["baselines"] = {"UBUNTU": {"approval_rules": [rule]}}

    assert "priorities and sections" in only(problems(example, change))


def test_priorities_are_debian_family_only(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        rule = {"priorities": ["Required"]}
        d["environments"]["test"]["baselines"] = {"SUSE": {"approval_rules": [rule]}}

    assert only(problems(example, change)).endswith(
        "priorities filter only Ubuntu and Debian baselines"
    )


def test_unknown_field_is_named(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][0]["max_concurency"] = "10%"

    found = only(problems(example, change))
    assert found.startswith("waves.test.batches.0.max_concurency: ")


def test_an_unknown_key_written_like_pydantics_key_marker_is_named_as_itself(
    example: dict[str, Any],
) -> None:
    # pydantic marks a failing mapping key with "[key]": a key spelled so is still a key.
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["schedule"]["[key]"] = 1

    found = only(problems(example, change))
    assert (
        found == "waves.prod.schedule.[key]: unknown key (known here: cron, offset_days, timezone)"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrency", "0"),
        ("max_concurrency", "150%"),
        ("max_errors", "-1"),
        ("max_errors", "ten"),
    ],
)
def test_rate_control_values(example: dict[str, Any], field: str, value: str) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][0][field] = value

    assert only(problems(example, change)).startswith(f"waves.test.batches.0.{field}: ")


def test_integer_rate_control_is_read_as_a_count(example: dict[str, Any]) -> None:
    policy = validate_policy(example)
    assert policy.waves["test"].batches[0].max_errors == "1"


def test_cutoff_must_leave_time_in_the_window(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["window"] = {"duration_hours": 2, "cutoff_hours": 2}

    assert only(problems(example, change)) == (
        "waves.test.window: cutoff_hours must be less than duration_hours"
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "xoxb-123-456-abc",
        "hooks.slack.com/services/T0/B0/X",
    ],
)
def test_a_secret_where_a_secret_name_belongs(example: dict[str, Any], value: str) -> None:
    def change(d: dict[str, Any]) -> None:
        d["notifications"]["slack"]["webhook_secret"] = value

    found = only(problems(example, change))
    assert found.startswith("notifications.slack.webhook_secret: ")
    assert "store it in Secrets Manager" in found
    assert value not in found  # never echo a secret back


def test_secret_arn_is_accepted(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["notifications"]["slack"]["webhook_secret"] = (
        "arn:aws:secretsmanager:eu-central-1:123456789012:secret:fleetpatch/slack-AbCdEf"
    )
    validate_policy(changed)


def test_email_addresses_are_checked(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["notifications"]["sns"]["email"] = ["ops@example.com", "patching-at-example.com"]

    assert only(problems(example, change)) == (
        "notifications.sns.email.1: 'patching-at-example.com' is not an e-mail address"
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("waves", "test", "batches", 1, "gate", "bake_minutes"), True),  # YAML `yes`
        (("waves", "test", "batches", 1, "gate", "max_failed"), False),
        (("waves", "test", "batches", 1, "gate", "max_failed_percent"), True),
        (("waves", "test", "batches", 1, "gate", "require_compliant"), 0),
        (("waves", "test", "batches", 1, "gate", "require_compliant"), "yes"),
        (("environments", "test", "approve_after_days"), True),
        (("launch", "heartbeat_seconds"), "600"),
        (("compliance", "notify_recoveries"), 1),
        (("version",), True),
    ],
)
def test_a_count_is_a_number_and_a_switch_is_true_or_false(
    example: dict[str, Any], path: tuple[str | int, ...], value: Any
) -> None:
    def change(d: dict[str, Any]) -> None:
        parent: Any = d
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = value

    assert only(problems(example, change)).startswith(".".join(map(str, path)) + ": ")


def test_a_whole_number_is_a_percentage(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["waves"]["test"]["batches"][1]["gate"]["max_failed_percent"] = 5
    validate_policy(changed)


@pytest.mark.parametrize("cron", ["cron(0 6 30 2 ? *)", "cron(0 6 31 4,6,9,11 ? *)"])
def test_a_cron_that_never_runs(example: dict[str, Any], cron: str) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"]["cron"] = cron

    assert only(problems(example, change)) == (
        f"waves.test.schedule.cron: {cron} matches no date: the wave's window would never open"
    )


def test_launch_policy_rules_apply(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["launch"]["heartbeat_seconds"] = 7200
        d["launch"]["command_timeout_minutes"] = 10

    found = only(problems(example, change))
    assert found.startswith("launch: ")
    assert "heartbeatSeconds must not exceed" in found


def test_wrong_version(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["version"] = 2

    assert only(problems(example, change)).startswith("version: ")


def test_every_structural_error_is_reported_at_once(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["schedule"]["timezone"] = "Mars/Olympus"
        d["waves"]["prod"]["schedule"]["cron"] = "cron(0 25 ? * SAT#3 *)"
        d["notifications"]["slack"]["webhook_secret"] = "https://hooks.slack.com/x"

    assert [p.split(":")[0] for p in problems(example, change)] == [
        "waves.test.schedule.timezone",
        "waves.prod.schedule.cron",
        "notifications.slack.webhook_secret",
    ]
