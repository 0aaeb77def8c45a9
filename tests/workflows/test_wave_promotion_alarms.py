"""Promotion that cannot be emptied by accident, and gates that see every alarm (issue 16, 8-9).

The real template and ASL on the local cloud. Runs are started the way `fleetpatch wave
start` starts them, each with its own name, so one test can run a wave more than once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fleetpatch.contracts.s3 import override_list_key
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave_gates import (
    batch,
    finished,
    gate,
    installed_during,
    launch,
    patched,
    start_wave,
)

LIST_KEY = override_list_key("prod")


def run(deployed: Deployed, name: str, batches: list[dict[str, Any]], **extra: Any) -> Any:
    return finished(deployed, start_wave(deployed, batches, name=name, **extra))


def wave_email(deployed: Deployed, run_id: str) -> dict[str, Any]:
    [email] = [
        m
        for m in deployed.messages()
        if m["channel"] == "sns" and m["attributes"].get("run") == run_id
    ]
    return email


def email_notes(deployed: Deployed, run_id: str) -> list[str]:
    """The Note rows of the run's e-mail."""
    body = wave_email(deployed, run_id)["message"]
    return [
        line.removeprefix("Note:").strip() for line in body.splitlines() if line.startswith("Note:")
    ]


def commands(deployed: Deployed) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = deployed.cloud.client("ssm").list_commands()["Commands"]
    return found


def stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- promotion ----------------------------------------------------------------------------------


def test_a_source_rerun_that_installs_nothing_keeps_the_promoted_waves_list(
    deployed: Deployed,
) -> None:
    # Given test and prod Ubuntu hosts from one image, and a test run that installed
    # updates and recorded them as prod's list
    [test_host] = launch(deployed, "UBUNTU", "test-g")
    [prod_host] = launch(deployed, "UBUNTU", "prod-g")
    deployed.cloud.settle(max_seconds=3600)
    source = [batch("only", "test-g")]
    first = run(deployed, "test-1", source, wave="test", promotions=["prod"])
    assert first["status"] == "SUCCEEDED", first.get("cause")
    installed_by_test = installed_during(deployed, test_host, first)
    assert installed_by_test, "the first test run installed something"

    # When test runs again an hour later, with nothing left to install
    deployed.cloud.advance(3600)
    rerun = run(deployed, "test-2", source, wave="test", promotions=["prod"])

    # Then the rerun says it installed nothing and prod's list is still the first run's
    assert rerun["status"] == "SUCCEEDED", rerun.get("cause")
    assert installed_during(deployed, test_host, rerun) == set()
    assert json.loads(rerun["output"])["message"].endswith(
        "; this run installed nothing: the patch list of prod is kept as it was"
    )
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    head = deployed.cloud.client("s3").head_object(Bucket=bucket, Key=LIST_KEY)
    assert head["Metadata"]["source-run"] == "test-1"
    assert first["startDate"] <= head["LastModified"] <= first["stopDate"]

    # And prod, promoted from test, installs what the first run installed and says whose list
    deployed.cloud.advance(13 * 24 * 3600)
    promoted = run(deployed, "prod-1", [batch("only", "prod-g")], wave="prod", promoteFrom="test")
    assert promoted["status"] == "SUCCEEDED", promoted.get("cause")
    assert installed_during(deployed, prod_host, promoted) == installed_by_test
    note = (
        f"patch list from test run test-1, recorded {stamp(head['LastModified'])}: "
        f"s3://{bucket}/{LIST_KEY}"
    )
    assert deployed.report("prod-1")["notes"] == [note]
    assert email_notes(deployed, "prod-1") == [note]


def test_a_promoted_wave_without_a_list_says_so_in_its_report(deployed: Deployed) -> None:
    # Given a prod wave promoted from test, and no test run has ever recorded a list
    [prod_host] = launch(deployed, "UBUNTU", "prod-g")
    deployed.cloud.settle(max_seconds=3600)

    # When prod runs
    promoted = run(deployed, "prod-1", [batch("only", "prod-g")], wave="prod", promoteFrom="test")

    # Then nothing was installed, and its report names the missing list as the reason
    assert promoted["status"] == "SUCCEEDED", promoted.get("cause")
    assert installed_during(deployed, prod_host, promoted) == set()
    bucket = deployed.stack.physical_id("ArtifactsBucket")
    note = (
        f"no patch list from test: s3://{bucket}/{LIST_KEY} does not exist (no test run "
        "has recorded one), so this run had nothing to install"
    )
    report = deployed.report("prod-1")
    assert report["notes"] == [note]
    [result] = report["batches"][0]["instances"]
    assert result["outcome"] == "failed"
    assert email_notes(deployed, "prod-1") == [note]


# --- alarms -------------------------------------------------------------------------------------


def metric_alarm(deployed: Deployed, name: str) -> None:
    deployed.cloud.client("cloudwatch").put_metric_alarm(
        AlarmName=name,
        MetricName="Errors",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


def entered(deployed: Deployed, arn: str, state: str) -> bool:
    pages = (
        deployed.cloud.client("stepfunctions")
        .get_paginator("get_execution_history")
        .paginate(executionArn=arn, maxResults=1000)
    )
    history = [event for page in pages for event in page["events"]]
    return any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in history)


def test_an_alarm_that_fires_and_clears_within_the_bake_holds_the_gate(
    deployed: Deployed,
) -> None:
    # Given a gate with a 30-minute bake on an alarm that is OK now
    metric_alarm(deployed, "api-errors")
    launch(deployed, "UBUNTU", "g1")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    rules = gate("one", alarms=["api-errors"], bakeMinutes=30)
    arn = start_wave(
        deployed, [batch("one", "g1"), batch("two", "g2", gate=rules)], name="custom-1"
    )
    deployed.cloud.clock.run(until=lambda: entered(deployed, arn, "Bake"))

    # When the alarm fires ten minutes into the bake and clears five minutes later
    cloudwatch = deployed.cloud.client("cloudwatch")
    deployed.cloud.advance(600)
    fired = deployed.cloud.clock.now()
    cloudwatch.set_alarm_state(AlarmName="api-errors", StateValue="ALARM", StateReason="5xx")
    deployed.cloud.advance(300)
    cleared = deployed.cloud.clock.now()
    cloudwatch.set_alarm_state(AlarmName="api-errors", StateValue="OK", StateReason="recovered")
    execution = finished(deployed, arn)

    # Then the gate holds the next batch, naming the alarm and when it was in ALARM
    assert execution["status"] == "FAILED"
    assert execution["cause"] == (
        "the gate before two failed: alarm api-errors was ALARM during the bake, "
        f"from {stamp(fired)} to {stamp(cleared)}; it is OK now"
    )
    assert not patched(deployed, later)


def test_a_gate_on_a_composite_alarm_passes_when_it_is_ok_and_holds_when_it_is_not(
    deployed: Deployed,
) -> None:
    # Given a composite alarm over a metric alarm, both OK, and a gate naming the composite
    metric_alarm(deployed, "db-errors")
    cloudwatch = deployed.cloud.client("cloudwatch")
    cloudwatch.put_composite_alarm(AlarmName="db-health", AlarmRule='ALARM("db-errors")')
    launch(deployed, "UBUNTU", "g1")
    later = launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    batches = [batch("one", "g1"), batch("two", "g2", gate=gate("one", alarms=["db-health"]))]

    # When a wave runs, the gate passes
    passing = run(deployed, "custom-1", batches)
    assert passing["status"] == "SUCCEEDED", passing.get("cause")
    assert patched(deployed, later)
    assert deployed.report("custom-1")["batches"][1]["gate"]["reasons"] == [
        "1 instance patched and verified",
        "alarms OK: db-health",
    ]

    # When the metric alarm fires (the composite follows it) and the wave runs again
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="errors")
    held = run(deployed, "custom-2", batches)

    # Then the gate holds on the composite alarm: batch two is not sent again
    assert held["status"] == "FAILED"
    assert held["cause"] == "the gate before two failed: alarm db-health is ALARM"
    sent = [
        c for c in commands(deployed) if c["Comment"].startswith("fleetpatch wave custom batch two")
    ]
    assert len(sent) == 1  # the passing run's
