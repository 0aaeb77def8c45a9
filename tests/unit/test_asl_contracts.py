"""Contract: every state-table key and S3 prefix the ASL spells is its Python owner's.

The workflows write and read the state table and name S3 prefixes in JSONata; they cannot
import ``fleetpatch.contracts``. Each DynamoDB task's key (and index key) is evaluated here
with sample variables and must be one the Python owner builds from the same values, and
every ``XXX#`` prefix written in the ASL must be one the owner defines. The error names the
ASL's Retry and Catch match are tests/unit/test_asl_error_names.py's; the promotion list's
key is tests/unit/test_promotion.py's.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from fleetpatch import snapshots
from fleetpatch.contracts import keys, names, s3, serving, tags
from fleetpatch.contracts.s3 import launch_output_prefix
from tests.unit.asl import STATEMACHINES, evaluate, states

MACHINES = ["gated_wave", "patch_new_instance"]
WAVE, RUN, STEP, STARTED = (
    "prod-linux",
    "manual-prod-linux-20261121T050000Z",
    3,
    "2026-11-21T05:00:00Z",
)
VARIABLES: dict[str, Any] = {"wave": WAVE, "runId": RUN, "step": STEP, "startedAt": STARTED}

KEYS = {
    "lease": keys.lease_key(WAVE),
    "wave run": keys.wave_run_key(RUN),
    "gate": {"pk": {"S": keys.wave_pk(RUN)}, "sk": {"S": keys.gate_sk(STEP)}},
    "launch run": keys.launch_run_key(RUN),
}
RUN_INDEX = {"gsi1pk": {"S": keys.RUNS_INDEX}, "gsi1sk": {"S": keys.by_time(STARTED, RUN)}}


def _dynamodb_tasks() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for machine in MACHINES:
        for name, state in states(machine).items():
            if str(state.get("Resource", "")).startswith("arn:aws:states:::dynamodb:"):
                arguments = state["Arguments"]
                found.append((machine, name, arguments.get("Item", arguments.get("Key"))))
    return found


TASKS = _dynamodb_tasks()


def _evaluated(attributes: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {
        name: {kind: evaluate(value, VARIABLES) for kind, value in attributes[name].items()}
        for name in names
        if name in attributes
    }


def test_the_workflows_use_the_state_table() -> None:
    assert {(m, n) for m, n, _ in TASKS} >= {
        ("gated_wave", "TakeLease"),
        ("gated_wave", "RecordApproval"),
        ("gated_wave", "RecordWave"),
        ("patch_new_instance", "RecordRun"),
    }


@pytest.mark.parametrize(("machine", "state", "item"), TASKS, ids=[f"{m}:{s}" for m, s, _ in TASKS])
def test_every_key_a_workflow_spells_is_one_the_owner_builds(
    machine: str, state: str, item: dict[str, Any]
) -> None:
    key = _evaluated(item, ("pk", "sk"))
    assert key in KEYS.values(), f"{machine} {state} spells the key {key}"
    index = _evaluated(item, ("gsi1pk", "gsi1sk"))
    if index:
        assert key["sk"] == {"S": keys.RUN_SK}
        assert index == RUN_INDEX, f"{machine} {state} spells the index key {index}"


PREFIX = re.compile(r"'((?:[A-Z_]+#)+)")
OWNED_PREFIXES = {
    value
    for name, value in vars(keys).items()
    if name.endswith("_PREFIX") and isinstance(value, str)
}


@pytest.mark.parametrize("machine", MACHINES)
def test_every_key_prefix_in_the_asl_is_the_owners(machine: str) -> None:
    text = (STATEMACHINES / f"{machine}.asl.json").read_text()
    spelled = set(PREFIX.findall(text))
    assert spelled, machine
    assert spelled <= OWNED_PREFIXES


def test_a_launch_run_writes_command_output_where_the_reports_link_it() -> None:
    send = states("patch_new_instance")["SendPatchCommand"]["Arguments"]
    assert evaluate(send["OutputS3KeyPrefix"], VARIABLES) == launch_output_prefix(RUN)


def test_the_stored_formats_do_not_change_by_accident() -> None:
    # Items already in the table, names already used as idempotency keys and objects already
    # in the bucket are read by these spellings: changing one is a migration, not a refactor.
    at = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
    assert keys.launch_run_key("r") == {"pk": {"S": "RUN#r"}, "sk": {"S": "RUN"}}
    assert keys.wave_run_key("r") == {"pk": {"S": "WAVE#r"}, "sk": {"S": "RUN"}}
    assert keys.gate_sk(2) == "GATE#02"
    assert (keys.plan_sk(2, 3), keys.send_sk(2, 3)) == ("PLAN#02#0003", "SEND#02#00003")
    assert keys.stopped_sk(at) == "STOPPED#2026-11-21T05:00:00+00:00"
    assert keys.RESUMED_SK == "RESUMED"
    assert keys.lease_key("w") == {"pk": {"S": "LEASE#WAVE#w"}, "sk": {"S": "LEASE"}}
    assert keys.command_key("c", None) == {"pk": {"S": "COMMAND#c"}, "sk": {"S": "COMMAND"}}
    assert keys.command_key("c", "i-1")["sk"] == {"S": "INSTANCE#i-1"}
    assert keys.compliance_key("i-1") == {"pk": {"S": "INSTANCE#i-1"}, "sk": {"S": "COMPLIANCE"}}
    assert keys.compliance_history_key("i-1", at, "e")["sk"] == {
        "S": "COMPLIANCE#2026-11-21T05:00:00+00:00#e"
    }
    assert keys.digest_entry_key(at, "i-1") == {
        "pk": {"S": "DIGEST"},
        "sk": {"S": "2026-11-21T05:00:00+00:00#i-1"},
    }
    assert keys.digest_entry_time("2026-11-21T05:00:00+00:00#i-1") == at
    assert keys.DIGEST_PENDING_KEY == {"pk": {"S": "DIGEST_PENDING"}, "sk": {"S": "DIGEST"}}
    assert keys.churn_key("g") == {"pk": {"S": "CHURN#g"}, "sk": {"S": "CHURN"}}
    assert keys.report_key("r") == {"pk": {"S": "REPORT#r"}, "sk": {"S": "REPORT"}}
    assert keys.IDEMPOTENCY_PREFIX == "IDEMPOTENCY#"
    assert keys.expires_at(100.7) == {"N": str(100 + 400 * 24 * 3600)}
    assert names.lifecycle_run_name("a b/c") == "launch-a_b_c"
    assert names.running_run_name("i-1") == "running-i-1"
    assert names.window_run_name("e-1") == "wave-e-1"
    assert names.manual_run_name("prod", at) == "manual-prod-20261121T050000Z"
    assert names.resumed_run_name("r", 2) == "r-resume-2"
    assert names.remediation_run_name("i-1", "e").startswith("remediate-i-1-")
    assert names.window_name("prod") == "wave-prod"
    assert names.state_table_name("dev") == "fleetpatch-dev-state"
    assert names.artifacts_bucket_name("dev", "1", "eu") == "fleetpatch-dev-artifacts-1-eu"
    assert names.policy_parameter_name("dev") == "/fleetpatch/dev/policy"
    day = datetime(2026, 11, 21, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 01:30 UTC
    assert s3.report_keys("r", day) == ("reports/2026/11/22/r.json", "reports/2026/11/22/r.html")
    assert s3.report_day_index_key(day) == "reports/2026/11/22/index.html"
    assert s3.launch_output_prefix("r") == "command-output/launch/r"
    assert s3.wave_output_prefix("w", "b") == "command-output/waves/w/b"
    assert s3.override_list_key("w") == "promotion/w/install-override-list.yaml"


def test_a_serving_instance_writes_command_output_where_its_wave_batch_does() -> None:
    send = states("patch_serving_instance")["SendCommand"]["Arguments"]
    prefix = evaluate(
        send["OutputS3KeyPrefix"], {"wave": WAVE, "batch": {"name": "web"}, "runId": RUN}
    )
    assert prefix == s3.wave_output_prefix(WAVE, "web")


def test_every_serving_outcome_the_asl_writes_is_one_the_gate_knows() -> None:
    # patch-serving-instance assigns outcomes as literals, as its catchers' defaults and as
    # Finish's default; the gate and the budget read them by name (fleetpatch.contracts).
    text = (STATEMACHINES / "patch_serving_instance.asl.json").read_text()
    literal = set(re.findall(r'"outcome": "([a-z-]+)"', text))
    defaults = set(re.findall(r"\$outcome != null \? \$outcome : '([a-z-]+)'", text))
    written = literal | defaults
    assert {"patched", "rolled-back", "unhealthy", "not-drained", "gone"} <= written
    assert written <= set(serving.SERVING_OUTCOMES)
    assert set(serving.SERVING_OUTCOMES) >= serving.FAILED_OUTCOMES | serving.HOLDS_BUDGET

    # Snapshots already taken are found and deleted by these tags.
    assert tags.SNAPSHOT_TAGS == (
        "fleetpatch:stage",
        "fleetpatch:run",
        "fleetpatch:instance",
        "fleetpatch:delete-after",
    )
    assert (tags.STAGE_TAG, tags.WAVE_TAG) == ("fleetpatch:stage", "fleetpatch:wave")


# --- the tags a serving run puts on its snapshots --------------------------------------------


def _snapshot_tags() -> dict[str, Any]:
    [spec] = states("patch_serving_instance")["Snapshot"]["Arguments"]["TagSpecifications"]
    assert spec["ResourceType"] == "snapshot"
    return {tag["Key"]: tag["Value"] for tag in spec["Tags"]}


def test_a_serving_runs_snapshots_carry_the_tags_snapshot_retention_reads() -> None:
    # The ASL writes exactly the owner's keys, the stage as the stack's Stage (the
    # retention function's filter and its role's condition)
    spelled = _snapshot_tags()
    assert tuple(spelled) == tags.SNAPSHOT_TAGS
    assert spelled[tags.STAGE_TAG] == "${Stage}"
    assert evaluate(spelled[tags.RUN_TAG], VARIABLES) == RUN


@pytest.mark.parametrize("days", [1, 7, 30])
def test_the_delete_after_a_serving_run_writes_is_one_the_retention_rule_reads(days: int) -> None:
    # Given the policy's retention, when the ASL computes the tag, the rule reads it back as
    # that many days from now (never "malformed": that would keep every snapshot forever)
    before = datetime.now(UTC)
    value = evaluate(
        _snapshot_tags()[tags.DELETE_AFTER_TAG], {"serving": {"snapshots": {"retentionDays": days}}}
    )
    after = datetime.now(UTC)
    due = snapshots.delete_after(value)
    assert before + timedelta(days=days) - timedelta(seconds=1) <= due
    assert due <= after + timedelta(days=days, milliseconds=1)  # JSONata's $now: in ms
    assert snapshots.judge("snap-1", {tags.DELETE_AFTER_TAG: value}, after).decision == "keep"
    later = after + timedelta(days=days, seconds=1)
    assert snapshots.judge("snap-1", {tags.DELETE_AFTER_TAG: value}, later).decision == "delete"
