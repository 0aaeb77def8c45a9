"""CloudWatch on the local cloud: alarm types, composite alarms and alarm history as on AWS."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from fleetpatch.alarms import Spell, alarm_spells, alarm_states
from localcloud.cloud import LocalCloud


def alarms(cloud: LocalCloud) -> None:
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="db-errors",
        MetricName="Errors",
        Namespace="App",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.put_composite_alarm(AlarmName="db-health", AlarmRule='ALARM("db-errors")')


def names(response: dict[str, list[dict[str, str]]], key: str) -> list[str]:
    return [a["AlarmName"] for a in response.get(key, [])]


def test_composite_alarms_are_returned_only_when_asked_for(cloud: LocalCloud) -> None:
    # Given a metric alarm and a composite alarm
    alarms(cloud)
    cloudwatch = cloud.client("cloudwatch")

    # When DescribeAlarms names both, without and with AlarmTypes
    default = cloudwatch.describe_alarms(AlarmNames=["db-errors", "db-health"])
    composite = cloudwatch.describe_alarms(
        AlarmNames=["db-errors", "db-health"], AlarmTypes=["CompositeAlarm"]
    )
    both = cloudwatch.describe_alarms(
        AlarmNames=["db-errors", "db-health"], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )

    # Then, as on AWS, the default is metric alarms only
    assert (names(default, "MetricAlarms"), names(default, "CompositeAlarms")) == (
        ["db-errors"],
        [],
    )
    assert (names(composite, "MetricAlarms"), names(composite, "CompositeAlarms")) == (
        [],
        ["db-health"],
    )
    assert (names(both, "MetricAlarms"), names(both, "CompositeAlarms")) == (
        ["db-errors"],
        ["db-health"],
    )


def test_a_gate_reads_the_state_of_a_composite_alarm(cloud: LocalCloud) -> None:
    # Given a gate naming a metric alarm and a composite alarm
    alarms(cloud)
    # When the gate's evidence reads them
    states = alarm_states(cloud.client("cloudwatch"), ["db-errors", "db-health"])
    # Then both are found (a composite alarm missing would hold the gate closed forever)
    assert set(states) == {"db-errors", "db-health"}


# --- composite alarms follow their children -----------------------------------------------------


def state(cloud: LocalCloud, name: str) -> str:
    found = cloud.client("cloudwatch").describe_alarms(
        AlarmNames=[name], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
    )
    [alarm] = found["MetricAlarms"] + found["CompositeAlarms"]
    return str(alarm["StateValue"])


def test_a_composite_alarm_follows_its_rule_when_a_child_changes_state(cloud: LocalCloud) -> None:
    # Given a composite alarm over a metric alarm (both OK) and one over the composite
    alarms(cloud)
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName="db latency",
        MetricName="Latency",
        Namespace="App",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.put_composite_alarm(
        AlarmName="paging",
        AlarmRule=(
            'ALARM(db-health) OR (ALARM("db latency") AND NOT OK('
            '"arn:aws:cloudwatch:eu-central-1:123456789012:alarm:db-errors"))'
        ),
    )
    assert (state(cloud, "db-health"), state(cloud, "paging")) == ("OK", "OK")

    # When the metric alarm fires, then clears
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="errors")
    fired = (state(cloud, "db-health"), state(cloud, "paging"))
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="OK", StateReason="recovered")

    # Then the composite (and the composite over it) followed, and are back to OK
    assert fired == ("ALARM", "ALARM")
    assert (state(cloud, "db-health"), state(cloud, "paging")) == ("OK", "OK")


def test_a_composite_rule_the_local_cloud_cannot_read_is_refused(cloud: LocalCloud) -> None:
    cloudwatch = cloud.client("cloudwatch")
    for rule in ('ALARM("a") AND', 'AT_LEAST(2, ALARM, ("a", "b"))', 'ALARM("a"'):
        with pytest.raises(ClientError) as raised:
            cloudwatch.put_composite_alarm(AlarmName="bad", AlarmRule=rule)
        assert raised.value.response["Error"]["Code"] == "ValidationError"


# --- alarm history ------------------------------------------------------------------------------


def test_every_state_change_is_in_the_alarm_history_on_simulated_time(cloud: LocalCloud) -> None:
    # Given a metric alarm and a composite alarm over it
    alarms(cloud)
    cloudwatch = cloud.client("cloudwatch")
    created = cloud.clock.now()

    # When the metric alarm fires ten minutes later, is set ALARM again, and clears
    cloud.advance(600)
    fired = cloud.clock.now()
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="errors")
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="again")
    cloud.advance(300)
    cleared = cloud.clock.now()
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="OK", StateReason="recovered")

    # Then the history has each change once, newest first, as CloudWatch shapes it
    history = cloudwatch.describe_alarm_history(
        AlarmName="db-errors", HistoryItemType="StateUpdate"
    )
    items = history["AlarmHistoryItems"]
    assert [(i["Timestamp"], i["HistorySummary"]) for i in items] == [
        (cleared, "Alarm updated from ALARM to OK"),
        (fired, "Alarm updated from OK to ALARM"),
    ]
    assert json.loads(items[1]["HistoryData"]) == {
        "version": "1.0",
        "oldState": {"stateValue": "OK", "stateReason": "Unchecked: Initial alarm creation"},
        "newState": {"stateValue": "ALARM", "stateReason": "errors"},
    }
    assert {i["AlarmType"] for i in items} == {"MetricAlarm"}
    # ... the alarm's own timestamps are simulated too
    [alarm] = cloudwatch.describe_alarms(AlarmNames=["db-errors"])["MetricAlarms"]
    assert alarm["StateUpdatedTimestamp"] == cleared

    # And the composite's history only when asked for composite alarms
    default = cloudwatch.describe_alarm_history(AlarmName="db-health")["AlarmHistoryItems"]
    composite = cloudwatch.describe_alarm_history(
        AlarmName="db-health", AlarmTypes=["CompositeAlarm"], ScanBy="TimestampAscending"
    )["AlarmHistoryItems"]
    assert default == []
    assert [(i["HistoryItemType"], i["HistorySummary"]) for i in composite] == [
        ("ConfigurationUpdate", 'Alarm "db-health" created'),
        ("StateUpdate", "Alarm updated from OK to ALARM"),
        ("StateUpdate", "Alarm updated from ALARM to OK"),
    ]

    # And StartDate and EndDate bound it (inclusive), and it outlives the alarm
    cloudwatch.delete_alarms(AlarmNames=["db-errors"])
    window = cloudwatch.describe_alarm_history(
        AlarmName="db-errors", StartDate=fired, EndDate=fired
    )["AlarmHistoryItems"]
    assert [i["HistorySummary"] for i in window] == ["Alarm updated from OK to ALARM"]
    everything = cloudwatch.describe_alarm_history(AlarmName="db-errors", StartDate=created)
    assert [i["HistorySummary"] for i in everything["AlarmHistoryItems"]] == [
        'Alarm "db-errors" deleted',
        "Alarm updated from ALARM to OK",
        "Alarm updated from OK to ALARM",
        'Alarm "db-errors" created',
    ]


def test_alarm_history_pages_and_refuses_what_cloudwatch_refuses(cloud: LocalCloud) -> None:
    alarms(cloud)
    cloudwatch = cloud.client("cloudwatch")
    for value in ("ALARM", "OK", "ALARM", "OK"):
        cloud.advance(60)
        cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue=value, StateReason="test")

    pages = cloudwatch.get_paginator("describe_alarm_history").paginate(
        AlarmName="db-errors", HistoryItemType="StateUpdate", PaginationConfig={"PageSize": 3}
    )
    assert [len(p["AlarmHistoryItems"]) for p in pages] == [3, 1]
    for bad in ({"HistoryItemType": "State"}, {"ScanBy": "Newest"}, {"MaxRecords": 101}):
        with pytest.raises(ClientError) as raised:
            cloudwatch.describe_alarm_history(AlarmName="db-errors", **bad)
        assert raised.value.response["Error"]["Code"] == "ValidationError"


# --- the gate's reading of it -------------------------------------------------------------------


def test_the_gate_finds_when_an_alarm_was_in_alarm_since_a_time(cloud: LocalCloud) -> None:
    # Given an alarm that fired before the bake and again during it (and is OK now)
    alarms(cloud)
    cloudwatch = cloud.client("cloudwatch")
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="early")
    cloud.advance(60)
    bake = cloud.clock.now()
    cloud.advance(60)
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="OK", StateReason="ok")
    cloud.advance(60)
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="ALARM", StateReason="again")
    fired = cloud.clock.now()
    cloud.advance(60)
    cloudwatch.set_alarm_state(AlarmName="db-errors", StateValue="OK", StateReason="ok")
    cleared = cloud.clock.now()

    # When the gate reads the history since the bake started
    spells = alarm_spells(cloudwatch, ["db-errors", "db-health"], bake)

    # Then both spells are found: one already on when the bake started, for both alarms
    assert spells["db-errors"] == [
        Spell(None, bake + timedelta(seconds=60)),
        Spell(fired, cleared),
    ]
    assert [s.end for s in spells["db-health"]] == [bake + timedelta(seconds=60), cleared]
