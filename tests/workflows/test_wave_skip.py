"""``fleetpatch wave skip WAVE --next`` skips one occurrence, audited (issue 21, part 4).

The real template, ASL and handlers on the local cloud; the CLI acts on it as an operator's
would. The skip is taken by the next run the wave's window starts, which sends nothing and
is reported as skipped by the operator; the occurrence after it patches as usual.
"""

from __future__ import annotations

import json
from typing import Any

from fleetpatch.contracts import keys
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import WINDOW, commands_on, launch_fleet, wave_cli, wave_runs


def skip_audit(deployed: Deployed, wave: str) -> list[dict[str, Any]]:
    found = deployed.cloud.client("dynamodb").query(
        TableName=deployed.stack.physical_id("StateTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :log)",
        ExpressionAttributeValues={
            ":pk": {"S": f"{keys.SKIP_PREFIX}{wave}"},
            ":log": {"S": keys.SKIP_LOG_PREFIX},
        },
    )["Items"]
    return [{k: v.get("S") for k, v in item.items()} for item in found]


def test_a_skipped_occurrence_sends_nothing_and_the_next_one_patches(
    deployed: Deployed, capsys: Any
) -> None:
    # Given the test wave's hosts and an operator's skip of its next occurrence
    ids = launch_fleet(deployed)
    code, out = wave_cli(deployed, capsys, "skip", wave="test", next=True, cancel=False, reason="")
    assert (code, "--reason" in out) == (2, True)
    code, out = wave_cli(
        deployed, capsys, "skip", wave="test", next=True, cancel=False, reason="CHG-4711 close"
    )
    assert code == 0, out
    code, out = wave_cli(deployed, capsys, "status")
    assert "wave test: next occurrence skipped, skipped by arn:aws:" in out
    assert "CHG-4711 close" in out
    code, out = wave_cli(deployed, capsys, "status", json=True)
    assert "CHG-4711 close" in json.loads(out)["skippedNext"]["test"]
    # When the wave's window opens
    first = deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    # Then that run sent nothing and is reported as skipped by the operator, with the reason
    [run] = wave_runs(deployed)
    assert run["name"] == f"wave-{first}"
    assert json.loads(run["output"])["outcome"] == "skipped"
    assert all(commands_on(deployed, i) == [] for i in ids.values())
    report = deployed.report(run["name"])
    assert (report["outcome"], report["reason"]) == ("skipped", "SkippedByOperator")
    assert "CHG-4711 close" in report["summary"]
    subjects = [m["subject"] for m in deployed.messages() if m["attributes"].get("kind") == "wave"]
    assert "test wave: skipped (by an operator), nothing sent" in subjects
    # And status no longer lists it; the audit has the request and its application
    code, out = wave_cli(deployed, capsys, "status")
    assert "next occurrence skipped" not in out
    actions = sorted(str(a["action"]) for a in skip_audit(deployed, "test"))
    assert actions == ["applied", "requested"]
    # When the window opens again: the skip applied to one occurrence, this one patches
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    second = next(r for r in wave_runs(deployed) if r["name"] != run["name"])
    assert json.loads(second["output"])["outcome"] == "completed"
    assert commands_on(deployed, ids["app-test-ubuntu"])


def test_a_cancelled_skip_skips_nothing(deployed: Deployed, capsys: Any) -> None:
    ids = launch_fleet(deployed)
    wave_cli(deployed, capsys, "skip", wave="test", next=True, cancel=False, reason="oops")
    code, out = wave_cli(deployed, capsys, "skip", wave="test", next=False, cancel=True)
    assert code == 0, out
    code, out = wave_cli(deployed, capsys, "skip", wave="test", next=False, cancel=True)
    assert (code, "no pending skip" in out) == (2, True)
    deployed.cloud.windows.run_window(WINDOW)  # type: ignore[union-attr]
    deployed.cloud.settle(max_seconds=12 * 3600)
    [run] = wave_runs(deployed)
    assert json.loads(run["output"])["outcome"] == "completed"
    assert commands_on(deployed, ids["app-test-ubuntu"])
    assert sorted(str(a["action"]) for a in skip_audit(deployed, "test")) == [
        "cancelled",
        "requested",
    ]
