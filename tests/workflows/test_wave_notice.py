"""Advance notice: N days and one hour before a wave's window, by SNS and Slack, once each
(issue 21, part 4).

The real template on the local cloud: the stack's hourly WaveNoticeSchedule (EventBridge
Scheduler) invokes publish-report on the simulated clock. The test wave's compiled schedule
is moved close to the simulated start so a few days of ticks cover both notices.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import launch_fleet

# Tuesday 2026-11-10 12:00 UTC, the simulated clock starting on Saturday 2026-11-07 04:00.
WINDOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)


def with_notice(deployed: Deployed, **notice: Any) -> None:
    ssm = deployed.cloud.client("ssm")
    name = deployed.stack.output("PolicyParameterName")
    policy = json.loads(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    policy["notice"] = notice
    policy["waves"]["test"]["schedule"] = {"cron": "cron(0 12 ? * TUE#2 *)", "timezone": "UTC"}
    ssm.put_parameter(
        Name=name,
        Value=json.dumps(policy, separators=(",", ":")),  # as rendered: compact
        Type="String",
        Tier="Intelligent-Tiering",  # the policy is near the Standard tier's 4,096 characters
        Overwrite=True,
    )


def notices(deployed: Deployed, channel: str = "sns") -> list[dict[str, Any]]:
    return [
        m
        for m in deployed.messages()
        if m["channel"] == channel
        and m["attributes"].get("kind") == "notice"
        and m["attributes"].get("wave") == "test"
    ]


def advance_to(deployed: Deployed, when: datetime) -> None:
    deployed.cloud.advance((when - deployed.cloud.clock.now()).total_seconds())


def test_a_wave_is_announced_days_and_an_hour_before_once_each(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    # Given the test wave's hosts (one excepted), notices 2 days and an hour before
    ids = launch_fleet(deployed)
    tomorrow_week = (WINDOW + timedelta(days=7)).date()
    deployed.cloud.client("ec2").create_tags(
        Resources=[ids["app-test-ubuntu"]],
        Tags=[{"Key": "fleetpatch:skip", "Value": f"until={tomorrow_week}; reason=INC-9"}],
    )
    with_notice(deployed, daysBefore=2, hourBefore=True)
    # When the clock runs to just before the days notice: nothing yet
    advance_to(deployed, WINDOW - timedelta(days=2, hours=2))
    assert notices(deployed) == []
    # When the tick is delivered twice within the notice's hour (Scheduler and Lambda deliver
    # at least once), and the clock runs on past the notice
    advance_to(deployed, WINDOW - timedelta(days=2, minutes=30))
    function = deployed.stack.physical_id("PublishReportFunction")
    deployed.cloud.lambdas.invoke(function, {"kind": "wave-notice"})
    again = deployed.cloud.lambdas.invoke(function, {"kind": "wave-notice"}).result
    assert "notice-test-20261110T1200Z-days" in again["duplicates"]
    assert again["sent"] == []
    advance_to(deployed, WINDOW - timedelta(days=2) + timedelta(hours=2))
    # Then one notice, by SNS, says what will be patched, on which hosts, and who is excepted
    [days] = notices(deployed)
    assert days["subject"] == "test wave in 2 days: 3 hosts, 2026-11-10 12:00 UTC"
    body = days["message"]
    assert "Batch 1 linux-databases (patch_test_0600_batch_1), in the window: 2 hosts" in body
    assert "Batch 2 windows-apps (patch_test_0600_batch_2), after the gate on" in body
    assert ids["db-test-rhel"] in body
    assert "db-test-rhel" in body
    assert f"NOT PATCHED: excepted until {tomorrow_week}: INC-9" in body
    assert "missing" in body
    assert "fleetpatch wave skip test --next --reason TEXT" in body
    assert ids["app-prod-windows"] not in body
    # And by Slack (the notifier posts the notification)
    assert any("test wave in 2 days" in json.dumps(p) for p in slack.delivered)
    # When the clock runs past the window's hour-before notice
    advance_to(deployed, WINDOW - timedelta(minutes=10))
    # Then one more notice, an hour before; no notice was sent twice
    sent = notices(deployed)
    assert [m["subject"].split(":")[0] for m in sent] == [
        "test wave in 2 days",
        "test wave in 1 hour",
    ]
    assert len({m["attributes"]["run"] for m in sent}) == 2
