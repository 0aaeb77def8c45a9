"""``fleetpatch plan`` shows each batch's serving block: drain, budget, health, snapshots, hooks."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from fleetpatch.contracts.names import policy_parameter_name
from fleetpatch_authoring.placement import InstanceFacts
from fleetpatch_authoring.validate import validate_policy
from fleetpatch_cli import plan_cmd
from fleetpatch_cli.main import main
from fleetpatch_cli.policy_cmd import load_policy

ROOT = Path(__file__).parents[2]
SERVING_EXAMPLE = ROOT / "policy" / "examples" / "serving.yaml"
AT = datetime(2026, 11, 23, tzinfo=UTC)
FLEET = [
    InstanceFacts(
        instance_id="i-0123456789abcdef0",
        tags={"Name": "web-1", "Patch Group": "patch_test_0600_batch_1"},
        platform_type="Linux",
        platform_name="Amazon Linux",
        platform_version="2023",
    )
]


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(SERVING_EXAMPLE.read_text())
    return data


def test_the_text_plan_shows_drain_budget_health_snapshots_and_hooks(
    example: dict[str, Any],
) -> None:
    # Given the example: web serves (snapshots, hooks, an alarm), the others are in place
    waves, not_placed = plan_cmd.plan(validate_policy(example), FLEET, AT, None)

    # When the plan is printed
    lines = plan_cmd.as_text("default", waves, not_placed)

    # Then the web batch says how it is drained, budgeted, checked, snapshotted and hooked
    web = lines.index("  batch 1 web: 1 instance, in the window")
    assert lines[web + 1 : web + 6] == [
        "    serving: drain Auto Scaling standby + deregister from target groups (within "
        "15 min); reboot controlled (install with NoReboot, reboot if pending)",
        "    budget: at most 1 out of service per auto-scaling-group, target-group, "
        "availability-zone; an instance waits up to 240 min",
        "    health: status checks, SSM agent online, target health, alarms web-test-5xx "
        "(15 min per phase)",
        "    snapshots: yes, kept 7 days, rollback on a failed health check",
        "    hooks: before install fleetpatch-web-stop, after reboot fleetpatch-web-warm",
    ]
    assert lines[web + 6].startswith("    i-0123456789abcdef0  web-1")
    # and the batches with serving: false are patched in place, as before
    databases = lines.index("  batch 2 linux-databases: 0 instances, after the gate on web")
    assert lines[databases + 1] == "    serving: no (patched in place)"


def test_the_text_plan_shows_no_drain_zone_order_and_no_checks(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    changed["waves"]["test"]["batches"][0]["serving"] = {
        "drain": {"auto_scaling": "none", "target_groups": "none"},
        "reboot": "none",
        "budget": {"max_unavailable": "25%", "scopes": ["availability-zone"], "zone_by_zone": True},
        "health": {"status_checks": False, "agent": False, "target_health": False},
    }
    waves, not_placed = plan_cmd.plan(validate_policy(changed), FLEET, AT, "test")

    lines = plan_cmd.as_text("default", waves, not_placed)

    web = lines.index("  batch 1 web: 1 instance, in the window")
    assert lines[web + 1 : web + 6] == [
        "    serving: drain none; reboot none (install with NoReboot, never reboot)",
        "    budget: at most 25% out of service per availability-zone; zone by zone; an "
        "instance waits up to 240 min",
        "    health: no checks",
        "    snapshots: no",
        "    hooks: none",
    ]


def test_the_json_plan_carries_the_compiled_serving_block_or_null(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a fleet read without AWS
    @contextmanager
    def fleet(*_: object) -> Iterator[list[InstanceFacts]]:
        yield FLEET

    monkeypatch.setattr(plan_cmd, "aws_fleet", fleet)

    # When `fleetpatch plan --json` runs on the example (in an account with no stage deployed)
    with mock_aws():
        code = main(["plan", "--policy", str(SERVING_EXAMPLE), "--json", "--at", AT.isoformat()])

    # Then each batch carries its serving block as the control plane reads it, or null
    assert code == 0
    [wave] = json.loads(capsys.readouterr().out)["waves"]
    web, databases, windows = wave["batches"]
    assert web["serving"]["drainTimeoutSeconds"] == 900
    assert web["serving"]["snapshots"] == {"enabled": True, "retentionDays": 7, "rollback": True}
    assert web["serving"]["hooks"] == {
        "beforeInstall": "fleetpatch-web-stop",
        "afterInstall": None,
        "afterReboot": "fleetpatch-web-warm",
    }
    assert web["serving"]["health"]["alarms"] == ["web-test-5xx"]
    assert [i["name"] for i in web["instances"]] == ["web-1"]
    assert databases["serving"] is None
    assert windows["serving"] is None


def test_policy_check_marks_serving_batches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(SERVING_EXAMPLE)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "    1. web [patch_test_0600_batch_1] Install, concurrency 50%, errors 1, serving "
        "(at most 1 out of service); in the window"
    ) in lines
    assert any(
        line.startswith(
            "    2. linux-databases [patch_test_0600_batch_2] Install, concurrency 1, "
            "errors 0; gate on web"
        )
        for line in lines
    ), lines


# --- the deployed policy ------------------------------------------------------------------------

FLEET_POLICY = ROOT / "policy" / "fleet.yaml"


@pytest.mark.parametrize(
    ("deployed_edit", "warned"),
    [
        (None, None),
        (
            ("max_errors: 0", "max_errors: 1"),
            "waves.prod.batches.0.maxErrors",
        ),
    ],
)
def test_plan_against_a_stack_warns_when_the_deployed_policy_differs(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    deployed_edit: tuple[str, str] | None,
    warned: str | None,
) -> None:
    # Given a stage whose deployed policy is the local file, or an edited copy of it
    text = FLEET_POLICY.read_text()
    if deployed_edit is not None:
        old, new = deployed_edit
        start = text.index("  prod:\n", text.index("\nwaves:"))
        assert old in text[start:]
        text = text[:start] + text[start:].replace(old, new, 1)
    edited = tmp_path / "deployed.yaml"
    edited.write_text(text)
    with mock_aws():
        boto3.client("ssm", region_name="eu-central-1").put_parameter(
            Name=policy_parameter_name("default"),
            Type="String",
            Value=load_policy(edited).runtime().model_dump_json(by_alias=True),
        )
        # When the plan reads that stage's (empty) fleet
        code = main(["plan", "--policy", str(FLEET_POLICY), "--region", "eu-central-1", "--json"])
    # Then it says where the local file differs, and still plans from it
    out, err = capsys.readouterr()
    assert code == 0
    deployed = json.loads(out)["deployedPolicy"]
    if warned is None:
        assert (deployed["matches"], err) == (True, "")
    else:
        assert deployed["differences"] == [warned]
        assert err.startswith(
            f"fleetpatch plan: warning: {FLEET_POLICY} differs from the policy deployed in "
            f"stage default (/fleetpatch/default/policy) at {warned}; "
        )


def test_plan_against_a_stage_not_deployed_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    with mock_aws():
        code = main(["plan", "--policy", str(FLEET_POLICY), "--region", "eu-central-1"])
    assert code == 0
    assert capsys.readouterr().err == (
        "fleetpatch plan: note: no deployed policy /fleetpatch/default/policy: stage default "
        "is not deployed here\n"
    )


def test_plan_of_an_unknown_wave_names_the_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--policy", str(FLEET_POLICY), "--wave", "prd"]) == 2
    assert capsys.readouterr().err == (
        "fleetpatch plan: --wave: no wave prd (waves: test, prod, web) (did you mean prod?)\n"
    )


def test_the_plan_shows_each_members_exception_as_the_next_run_reads_it(
    example: dict[str, Any],
) -> None:
    # Given three members of the web batch: excepted past the next run, excepted until
    # before it (expired by then), and an unreadable tag (it does not skip)
    tagged = [
        InstanceFacts(
            instance_id=f"i-0123456789abcdef{n}",
            tags={"Name": f"web-{n}", "Patch Group": "patch_test_0600_batch_1", SKIP: value},
            platform_type="Linux",
            platform_name="Amazon Linux",
            platform_version="2023",
        )
        for n, value in enumerate(
            [
                "until=2027-06-30; reason=vendor freeze INC-123",
                "until=2026-11-23; reason=old freeze",
                "reason=no date",
            ]
        )
    ]
    waves, not_placed = plan_cmd.plan(validate_policy(example), tagged, AT, "test")
    # When the plan is printed, as text and as JSON
    lines = plan_cmd.as_text("default", waves, not_placed)
    data = plan_cmd.as_json("default", waves, not_placed)
    # Then each member's exception is shown under it, as the wave's next run will read it
    assert (
        "      fleetpatch:skip: excepted until 2027-06-30: vendor freeze INC-123 "
        "(not patched at this run)"
    ) in lines
    assert "      fleetpatch:skip: exception expired on 2026-11-23" in lines
    assert any(
        line.startswith("      fleetpatch:skip: invalid fleetpatch:skip tag") for line in lines
    )
    members = data["waves"][0]["batches"][0]["instances"]
    assert [m["exception"]["status"] for m in members] == ["applies", "expired", "invalid"]


SKIP = "fleetpatch:skip"


def test_plan_against_a_stack_names_a_skipped_next_run(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a deployed stage where an operator skipped the prod wave's next run
    from fleetpatch import wave_skip
    from fleetpatch.contracts.names import state_table_name
    from tests.unit.conftest import create_state_table

    with mock_aws():
        boto3.client("ssm", region_name="eu-central-1").put_parameter(
            Name=policy_parameter_name("default"),
            Type="String",
            Value=load_policy(FLEET_POLICY).runtime().model_dump_json(by_alias=True),
        )
        dynamodb = boto3.client("dynamodb", region_name="eu-central-1")
        create_state_table(dynamodb, state_table_name("default"))
        wave_skip.request(
            dynamodb,
            state_table_name("default"),
            "prod",
            reason="CHG-4711 close",
            by="arn:aws:iam::123456789012:user/alice",
            now=AT,
        )
        # When the plan runs against it
        code = main(["plan", "--policy", str(FLEET_POLICY), "--region", "eu-central-1", "--json"])
    # Then it names the skip, in the notes and in the JSON
    out, err = capsys.readouterr()
    assert code == 0
    assert "fleetpatch plan: note: wave prod's next run is skipped, skipped by " in err
    assert "CHG-4711 close" in json.loads(out)["skippedNext"]["prod"]
