"""DescribeMaintenanceWindowSchedule on the local cloud: upcoming executions on simulated time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud

# 04:00 UTC on the first Saturday of November 2026 (CET, UTC+1): an hour before 06:00 Zurich.
START = datetime(2026, 11, 7, 4, 0, tzinfo=UTC)


def _window(cloud: LocalCloud, name: str, schedule: str, **extra: object) -> str:
    return str(
        cloud.client("ssm").create_maintenance_window(
            Name=name,
            Schedule=schedule,
            Duration=4,
            Cutoff=1,
            AllowUnassociatedTargets=False,
            **extra,
        )["WindowId"]
    )


def test_upcoming_executions_in_the_window_time_zone_and_in_time_order() -> None:
    with LocalCloud(start=START) as cloud:
        # Given a monthly window in Zurich and a daily one in UTC
        monthly = _window(
            cloud, "monthly", "cron(0 6 ? * SAT#1 *)", ScheduleTimezone="Europe/Zurich"
        )
        _window(cloud, "daily", "cron(30 2 * * ? *)")
        ssm = cloud.client("ssm")

        # When an operator asks for one window's schedule
        one = ssm.describe_maintenance_window_schedule(WindowId=monthly)[
            "ScheduledWindowExecutions"
        ]
        # Then its next executions come after the simulated now, 06:00 Zurich in UTC
        assert one[:2] == [
            {"WindowId": monthly, "Name": "monthly", "ExecutionTime": "2026-11-07T05:00Z"},
            {"WindowId": monthly, "Name": "monthly", "ExecutionTime": "2026-12-05T05:00Z"},
        ]

        # And every window's, bounded by a filter, in time order across windows
        both = ssm.describe_maintenance_window_schedule(
            Filters=[{"Key": "ScheduledBefore", "Values": ["2026-11-09T00:00:00Z"]}]
        )["ScheduledWindowExecutions"]
        assert [(e["Name"], e["ExecutionTime"]) for e in both] == [
            ("monthly", "2026-11-07T05:00Z"),
            ("daily", "2026-11-08T02:30Z"),
        ]

        # And the simulated clock moves the schedule on
        cloud.advance(2 * 86400)
        later = ssm.describe_maintenance_window_schedule(
            Filters=[{"Key": "ScheduledAfter", "Values": ["2026-11-01T00:00:00Z"]}], MaxResults=1
        )
        assert later["ScheduledWindowExecutions"][0]["ExecutionTime"] == "2026-11-10T02:30Z"
        assert "NextToken" in later


def test_an_unknown_window_or_filter_is_refused_as_ssm_refuses_it() -> None:
    with LocalCloud(start=START) as cloud:
        ssm = cloud.client("ssm")
        with pytest.raises(ClientError) as missing:
            ssm.describe_maintenance_window_schedule(WindowId="mw-0123456789abcdef0")
        assert missing.value.response["Error"]["Code"] == "DoesNotExistException"
        with pytest.raises(ClientError) as bad:
            ssm.describe_maintenance_window_schedule(Filters=[{"Key": "Status", "Values": ["x"]}])
        assert bad.value.response["Error"]["Code"] == "ValidationException"


def test_windows_for_a_target_by_registered_or_task_target() -> None:
    with LocalCloud(start=START) as cloud:
        ssm = cloud.client("ssm")
        registered = _window(cloud, "registered", "cron(0 5 ? * SAT *)")
        ssm.register_target_with_maintenance_window(
            WindowId=registered,
            ResourceType="INSTANCE",
            Targets=[{"Key": "tag:Patch Group", "Values": ["web", "db"]}],
        )
        _window(cloud, "other", "cron(0 5 ? * SUN *)")

        # When an operator asks which windows patch the "db" group
        found = ssm.describe_maintenance_windows_for_target(
            Targets=[{"Key": "tag:Patch Group", "Values": ["db"]}], ResourceType="INSTANCE"
        )["WindowIdentities"]
        # Then the window with that registered target, and only it
        assert found == [{"WindowId": registered, "Name": "registered"}]
        assert (
            ssm.describe_maintenance_windows_for_target(
                Targets=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}],
                ResourceType="INSTANCE",
            )["WindowIdentities"]
            == []
        )
