"""``fleetpatch status`` against a deployed stage on the local cloud: the one-screen overview
reads the report index, the compliance ledger, the dead-letter queues and the alarms."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

import pytest

from fleetpatch_cli.status_cmd import run_status_command
from localcloud.slack import SlackWebhookReceiver
from tests.unit.cli_reports.stage import Stage, record, wave_report
from tests.workflows.conftest import Deployed
from tests.workflows.test_control_plane_alarms import DLQ_ALARM, _park_a_message


def _args(**options: object) -> argparse.Namespace:
    defaults: dict[str, object] = {"stage": "default", "since": "7d", "json": True}
    return argparse.Namespace(**(defaults | options))


def test_status_shows_runs_compliance_queues_and_alarms(
    deployed: Deployed, slack: SlackWebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given: a held wave reported, two instances' compliance, and a message parked in a
    # dead-letter queue whose alarm has fired
    cloud = deployed.cloud
    cloud.alarms.enabled = True
    stage = Stage(cloud.client("dynamodb"), cloud.client("s3"), now=cloud.clock.now())
    stage.publish(wave_report("wave-prod-held", stage.now - timedelta(hours=2)))
    record(stage, "i-0aaaaaaaaaaaaaaa1", "compliant", timedelta(hours=1))
    record(stage, "i-0aaaaaaaaaaaaaaa2", "non_compliant", timedelta(hours=1))
    _park_a_message(deployed)
    cloud.settle(max_seconds=600)
    now = cloud.clock.now()

    # When: the operator asks for the status, as JSON
    code = run_status_command(_args(), clients=cloud.client, now=now)
    out, err = capsys.readouterr()

    # Then: every section is there
    assert (code, err) == (0, "")
    view = json.loads(out)
    assert view["runs"]["total"] == 1
    assert view["runs"]["outcomes"] == {"held": 1}
    assert view["runs"]["recent"][0]["run_id"] == "wave-prod-held"
    assert view["compliance"] == {"prod": {"compliant": 1, "non_compliant": 1}}
    queues = {q["name"]: q["messages"] for q in view["dead_letter_queues"]}
    # every dead-letter queue of the stack (each has an output)
    assert len(queues) == len(deployed.stack.of_type("AWS::SQS::Queue"))
    assert queues.pop("patch-compliance-events") == 1
    assert set(queues.values()) == {0}
    # every alarm the monitoring stack deployed (one per function, queue, state machine, ...)
    deployed_alarms = [
        a
        for page in cloud.client("cloudwatch").get_paginator("describe_alarms").paginate()
        for a in page["MetricAlarms"] + page["CompositeAlarms"]
    ]
    assert view["alarms"]["watching"] == len(deployed_alarms) > 50
    assert [a["name"] for a in view["alarms"]["in_alarm"]] == [DLQ_ALARM]
    assert view["waves"] == []

    # When: on a terminal screen
    code = run_status_command(_args(json=False), clients=cloud.client, now=now)
    lines = capsys.readouterr().out.splitlines()

    # Then: one screen, saying what is wrong
    assert code == 0
    assert len(lines) <= 24
    assert lines[0].startswith("fleetpatch default")
    assert any(line.startswith("runs since") and "1 held" in line for line in lines)
    assert "compliance  prod: 1 compliant, 1 non-compliant" in lines
    assert f"dead-letter queues: {len(queues) + 1}, 1 not empty" in lines
    assert any(line.strip().startswith("patch-compliance-events") for line in lines)
    assert f"alarms: {len(deployed_alarms)}, 1 in ALARM" in lines
    assert any(line.strip().startswith(DLQ_ALARM) for line in lines)


def test_status_of_a_stage_that_is_not_deployed(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_status_command(_args(stage="prod"), clients=deployed.cloud.client)
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        "fleetpatch status: no state table fleetpatch-prod-state: is stage prod deployed "
        "(in this account and region)?\n"
    )
