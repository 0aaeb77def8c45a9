"""CloudWatch on the local cloud: composite alarms come back only when AlarmTypes asks."""

from __future__ import annotations

from fleetpatch.waves import alarm_states
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
