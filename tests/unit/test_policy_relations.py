"""The policy's relations: what only the whole file shows, each named where it is."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from fleetpatch_authoring.validate import unused_patch_groups, validate_policy
from tests.unit.test_policy import EXAMPLE, only, problems


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


# --- relations ------------------------------------------------------------------------------


def test_a_patch_group_in_two_baselines(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["prod"]["patch_groups"].append("patch_test_0600_batch_1")

    found = problems(example, change)
    assert found[0] == (
        "environments.prod.patch_groups.2: patch_test_0600_batch_1 is also in environment test: "
        "a patch group has one baseline per operating system"
    )


def test_a_patch_group_in_two_batches(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["batches"][1]["patch_groups"].append("patch_test_0600_batch_1")

    found = problems(example, change)
    assert (
        "waves.prod.batches.1.patch_groups.1: patch_test_0600_batch_1 is already in wave test "
        "batch linux-databases: a group is in one batch"
    ) in found


def test_a_batch_group_no_environment_lists(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["batches"][1]["patch_groups"] = [
            "patch_prod_0600_batch_2",
            "patch_qa_0600_batch_2",
        ]

    found = problems(example, change)
    assert found[0] == (
        "waves.prod.batches.1.patch_groups.1: patch_qa_0600_batch_2 is in no environment's "
        "patch_groups, so no baseline covers it"
    )


def test_a_gate_referencing_a_later_batch(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        batches = d["waves"]["prod"]["batches"]
        batches.append({"name": "web", "patch_groups": ["patch_prod_0600_batch_3"]})
        d["environments"]["prod"]["patch_groups"].append("patch_prod_0600_batch_3")
        batches[1]["gate"] = {"batches": ["web"]}

    assert only(problems(example, change)) == (
        "waves.prod.batches.1.gate.batches.0: batch web runs after (or is) this batch; "
        "a gate checks earlier batches"
    )


def test_a_gate_referencing_an_unknown_batch(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["batches"][1]["gate"] = {"batches": ["linux-dbs"]}

    assert only(problems(example, change)) == (
        "waves.prod.batches.1.gate.batches.0: no batch linux-dbs in this wave"
    )


def test_a_gate_on_the_first_batch(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][0]["gate"] = {"max_failed": 0}

    assert only(problems(example, change)).startswith("waves.test.batches.0.gate: ")


def test_duplicate_batch_names(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["test"]["batches"][1]["name"] = "linux-databases"

    assert "waves.test.batches.1.name: batch linux-databases appears twice" in problems(
        example, change
    )


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        ({"test": "test"}, ["waves.test.promote_from: promotion cycle: test <- test"]),
        (
            {"test": "prod", "prod": "test"},
            [
                "waves.test.promote_from: promotion cycle: test <- prod <- test",
                "waves.prod.promote_from: promotion cycle: prod <- test <- prod",
            ],
        ),
    ],
)
def test_a_promotion_cycle(
    example: dict[str, Any], chain: dict[str, str], expected: list[str]
) -> None:
    def change(d: dict[str, Any]) -> None:
        for wave, source in chain.items():
            d["waves"][wave]["promote_from"] = source

    assert problems(example, change) == expected


def test_promotion_from_an_unknown_wave(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["waves"]["prod"]["promote_from"] = "staging"

    assert only(problems(example, change)) == "waves.prod.promote_from: no wave staging"


def test_promotion_without_cycle_is_valid(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["waves"]["prod"]["promote_from"] = "test"
    assert validate_policy(changed).waves["prod"].promote_from == "test"


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ("patch-prod-0600-batch-1", "does not follow the naming convention"),
        ("patch_test_0600_batch_1x", "does not follow the naming convention"),
        ("patch_prod_0700_batch_1", "names 0700 but the wave starts at 0600 local time"),
        ("patch_prod_0600_batch_2", "names batch 2 but is in batch 1"),
        ("patch_test_0600_batch_3", "names environment test but is in prod"),
    ],
)
def test_the_naming_convention(example: dict[str, Any], group: str, message: str) -> None:
    def change(d: dict[str, Any]) -> None:
        d["environments"]["prod"]["patch_groups"] = [group, "patch_prod_0600_batch_2"]
        d["waves"]["prod"]["batches"][0]["patch_groups"] = [group]
        d["environments"]["test"]["patch_groups"] = [
            "patch_test_0600_batch_1",
            "patch_test_0600_batch_2",
        ]
        if group == "patch_prod_0600_batch_2":
            d["waves"]["prod"]["batches"][1]["patch_groups"] = ["patch_prod_0600_batch_1"]
            d["environments"]["prod"]["patch_groups"] = [group, "patch_prod_0600_batch_1"]

    found = problems(example, change)
    assert any(
        p.startswith("waves.prod.batches.0.patch_groups.0: ") and message in p for p in found
    ), found


def test_naming_can_be_turned_off(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["patch_group_naming"] = None
    changed["environments"]["prod"]["patch_groups"] = ["databases", "apps"]
    changed["waves"]["prod"]["batches"][0]["patch_groups"] = ["databases"]
    changed["waves"]["prod"]["batches"][1]["patch_groups"] = ["apps"]
    validate_policy(changed)


def test_naming_with_an_unknown_placeholder(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["patch_group_naming"] = "patch_{env}_{batch}"

    assert "unknown placeholder {env}" in only(problems(example, change))


@pytest.mark.parametrize(
    ("naming", "message"),
    [
        ("patch_{batch}_{batch}", "{batch} appears twice"),
        ("{environment}{environment}", "{environment} appears twice"),
        ("patch_{}_{batch}", "a { or } that is not part of"),
        ("patch_{environment_{batch}", "a { or } that is not part of"),
        ("patch_environment}_{batch}", "a { or } that is not part of"),
    ],
)
def test_naming_with_repeated_placeholders_or_stray_braces(
    example: dict[str, Any], naming: str, message: str
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["patch_group_naming"] = naming

    found = only(problems(example, change))
    assert found.startswith("patch_group_naming: ")
    assert message in found


def test_remediation_of_an_unknown_environment(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["compliance"]["remediation"]["qa"] = "scan"

    assert only(problems(example, change)) == "compliance.remediation.qa: no environment qa"


def test_install_remediation_needs_a_window(example: dict[str, Any]) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["waves"]["test"]
        del d["waves"]["web"]  # test's web tier has a wave of its own
        d["compliance"]["remediation"]["prod"] = "install"
        d["compliance"]["remediation"]["test"] = "install"

    assert only(problems(example, change)).startswith(
        "compliance.remediation.test: install remediation needs a wave patching test"
    )


def test_unused_patch_groups_are_noted_not_rejected(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["environments"]["test"]["patch_groups"].append("patch_test_0600_batch_9")
    assert unused_patch_groups(validate_policy(changed)) == ["patch_test_0600_batch_9"]


def test_the_compiled_batches_read_back_as_the_workflows_read_them(
    example: dict[str, Any],
) -> None:
    from fleetpatch.batch_policy import RuntimeBatch

    policy = validate_policy(example)
    for name, wave in policy.runtime().model_dump(by_alias=True)["waves"].items():
        batches = [RuntimeBatch.model_validate(b) for b in wave["batches"]]
        assert [b.name for b in batches] == [b.name for b in policy.waves[name].batches]
        assert batches[0].gate is None
        gate = batches[1].gate
        assert gate is not None
        # The compiled gate holds every rule of the file's gate, its batches made explicit.
        file_gate = policy.waves[name].gate_of(1)
        assert file_gate is not None
        assert (
            gate.model_dump()
            == file_gate.model_copy(update={"batches": [batches[0].name]}).model_dump()
        )


def test_a_change_freeze_and_notices_compile_and_are_checked(example: dict[str, Any]) -> None:
    # Valid: a calendar by name (or ARN), wait with a bound, notices three days ahead
    valid = copy.deepcopy(example)
    valid["change_freeze"] = {"calendar": "year-end", "on_closed": "wait", "max_wait_hours": 2}
    valid["notice"] = {"days_before": 3}
    compiled = validate_policy(valid).runtime().model_dump(by_alias=True)
    assert compiled["changeFreeze"] == {
        "calendars": ["year-end"],
        "onClosed": "wait",
        "maxWaitHours": 2,
        "launches": "patch",
    }
    assert compiled["notice"] == {"daysBefore": 3, "hourBefore": True}

    # A bound that can never apply, a name SSM refuses, launches held: each named at its place
    def skip_with_bound(d: dict[str, Any]) -> None:
        d["change_freeze"] = {"calendar": "year-end", "on_closed": "skip", "max_wait_hours": 2}

    assert only(problems(example, skip_with_bound)) == (
        "change_freeze.max_wait_hours: max_wait_hours applies only with on_closed: wait "
        "(a skipped run does not wait)"
    )

    def bad_name(d: dict[str, Any]) -> None:
        d["change_freeze"] = {"calendar": "no spaces allowed"}

    assert only(problems(example, bad_name)).startswith("change_freeze.calendar: ")

    def hold(d: dict[str, Any]) -> None:
        d["change_freeze"] = {"calendar": "year-end", "launches": "hold"}

    assert only(problems(example, hold)).startswith("change_freeze.launches: ")

    def too_early(d: dict[str, Any]) -> None:
        d["notice"] = {"days_before": 15}

    assert only(problems(example, too_early)).startswith("notice.days_before: ")
