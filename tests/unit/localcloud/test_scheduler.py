"""EventBridge Scheduler on the local cloud: universal and Lambda targets fire on the simulated clock."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from localcloud.cloud import LocalCloud
from tests.unit.localcloud.conftest import deploy_function, role_arn


def create(cloud: LocalCloud, name: str, expression: str, **extra: object) -> None:
    cloud.client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage",
            "RoleArn": role_arn(cloud),
            "Input": json.dumps({"QueueUrl": extra.pop("queue"), "MessageBody": name}),
        },
        **extra,  # type: ignore[arg-type]
    )


def received(cloud: LocalCloud, queue: str) -> list[str]:
    sqs = cloud.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages"):
        for m in messages:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_a_rate_schedule_calls_its_target_until_its_end_date(cloud: LocalCloud) -> None:
    queue = cloud.client("sqs").create_queue(QueueName="beats")["QueueUrl"]
    start = cloud.clock.now()
    create(cloud, "beat", "rate(10 minutes)", queue=queue, EndDate=start + timedelta(minutes=45))
    cloud.advance(3 * 3600)
    assert received(cloud, queue) == ["beat"] * 4  # at 10, 20, 30 and 40 minutes
    assert [f.at - start for f in cloud.scheduler.firings] == [  # type: ignore[union-attr]
        timedelta(minutes=m) for m in (10, 20, 30, 40)
    ]


def test_an_endless_rate_schedule_does_not_keep_settle_playing(cloud: LocalCloud) -> None:
    # Given a daily schedule without an end date, and one with an end date
    queue = cloud.client("sqs").create_queue(QueueName="daily")["QueueUrl"]
    start = cloud.clock.now()
    create(cloud, "daily", "rate(1 day)", queue=queue)
    # When the world settles with nothing else to do: no time passes, nothing fires
    cloud.settle()
    assert cloud.clock.now() == start
    # Then playing two days fires it twice
    cloud.advance(2 * 86400 + 1)
    assert received(cloud, queue) == ["daily", "daily"]
    # And a finite schedule still keeps settle playing until its last firing, and no further
    created = cloud.clock.now()
    create(cloud, "beat", "rate(1 hour)", queue=queue, EndDate=start + timedelta(days=3))
    cloud.settle()
    assert received(cloud, queue) == ["beat"] * 23  # the daily one is due after the last beat
    assert cloud.clock.now() == created + timedelta(hours=23)


def test_a_deleted_schedule_stops(cloud: LocalCloud) -> None:
    queue = cloud.client("sqs").create_queue(QueueName="beats")["QueueUrl"]
    create(cloud, "beat", "rate(1 minute)", queue=queue)
    cloud.advance(150)
    cloud.client("scheduler").delete_schedule(Name="beat")
    cloud.advance(3600)
    assert received(cloud, queue) == ["beat", "beat"]


def test_an_at_schedule_fires_once_and_deletes_itself(cloud: LocalCloud) -> None:
    queue = cloud.client("sqs").create_queue(QueueName="once")["QueueUrl"]
    when = (cloud.clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    create(cloud, "once", f"at({when})", queue=queue, ActionAfterCompletion="DELETE")
    cloud.advance(3 * 3600)
    assert received(cloud, queue) == ["once"]
    assert cloud.client("scheduler").list_schedules()["Schedules"] == []


def test_a_failing_call_is_recorded(cloud: LocalCloud) -> None:
    create(
        cloud,
        "broken",
        "rate(5 minutes)",
        queue="https://sqs.eu-central-1.amazonaws.com/123456789012/missing",
    )
    cloud.advance(301)
    [firing] = cloud.scheduler.firings  # type: ignore[union-attr]
    assert firing.error is not None
    assert "QueueDoesNotExist" in firing.error or "NonExistentQueue" in firing.error


def test_a_daily_cron_fires_and_other_cron_schedules_are_reported_unsupported(
    cloud: LocalCloud,
) -> None:
    queue = cloud.client("sqs").create_queue(QueueName="cron")["QueueUrl"]
    create(cloud, "nightly", "cron(0 1 * * ? *)", queue=queue)
    create(cloud, "mondays", "cron(0 1 ? * MON *)", queue=queue)
    cloud.advance(2 * 86400)
    assert received(cloud, queue) == ["nightly", "nightly"]
    assert cloud.scheduler.unsupported == ["mondays: cron(0 1 ? * MON *)"]  # type: ignore[union-attr]


# --- templated Lambda targets --------------------------------------------------------------

HANDLERS = Path(__file__).parent / "handlers"


def lambda_schedule(cloud: LocalCloud, name: str, expression: str, **target: object) -> None:
    cloud.client("scheduler").create_schedule(
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": cloud.lambdas.arn("echo"),
            "RoleArn": role_arn(cloud),
            **target,
        },
        ActionAfterCompletion="DELETE",
    )


def test_an_at_schedule_invokes_its_lambda_target_once_with_the_input(cloud: LocalCloud) -> None:
    # Given a function and a one-time schedule for it two hours from now
    deploy_function(cloud, "echo", HANDLERS / "echo")
    due = cloud.clock.now() + timedelta(hours=2)
    lambda_schedule(
        cloud,
        "wake",
        f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
        Input=json.dumps({"instance": "i-1", "at": "<aws.scheduler.scheduled-time>", "n": 1}),
    )
    # When simulated time passes the due time (and well beyond)
    cloud.advance(3600)
    assert cloud.lambdas.invocations == []
    cloud.advance(5 * 3600)
    # Then the handler ran once, asynchronously, at the due time, with the Input as event
    [invocation] = cloud.lambdas.invocations
    assert invocation.asynchronous
    assert invocation.started == due.isoformat()
    assert invocation.result["event"] == {"instance": "i-1", "at": "2026-11-07T06:00:00Z", "n": 1}
    [firing] = cloud.scheduler.firings  # type: ignore[union-attr]
    assert (firing.at, firing.target, firing.error) == (due, cloud.lambdas.arn("echo"), None)
    # and the schedule deleted itself
    assert cloud.client("scheduler").list_schedules()["Schedules"] == []


def test_a_lambda_target_without_input_gets_an_empty_object(cloud: LocalCloud) -> None:
    deploy_function(cloud, "echo", HANDLERS / "echo")
    lambda_schedule(cloud, "tick", "rate(1 hour)")
    cloud.advance(2.5 * 3600)
    assert [i.result["event"] for i in cloud.lambdas.invocations] == [{}, {}]


def test_a_missing_function_is_a_failed_firing(cloud: LocalCloud) -> None:
    lambda_schedule(cloud, "orphan", "rate(5 minutes)", Input="{}")
    cloud.advance(301)
    [firing] = cloud.scheduler.firings  # type: ignore[union-attr]
    assert firing.error is not None
    assert "ResourceNotFoundException" in firing.error
    assert cloud.lambdas.invocations == []


def test_a_monthly_cron_is_due_on_its_day_and_skips_months_without_it() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from localcloud.sim.scheduler import _next_monthly

    utc = ZoneInfo("UTC")
    after = datetime(2026, 11, 7, 4, tzinfo=UTC)
    assert _next_monthly(after, utc, 0, 3, 1) == datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert _next_monthly(datetime(2026, 12, 1, 3, tzinfo=UTC), utc, 0, 3, 1) == datetime(
        2027, 1, 1, 3, tzinfo=UTC
    )
    # The 31st: November has none, so December's.
    assert _next_monthly(after, utc, 0, 3, 31) == datetime(2026, 12, 31, 3, tzinfo=UTC)


def test_a_daily_cron_is_due_at_its_time_each_day() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from localcloud.sim.scheduler import _next_monthly

    utc = ZoneInfo("UTC")
    assert _next_monthly(datetime(2026, 11, 7, 4, tzinfo=UTC), utc, 1, 0, None) == datetime(
        2026, 11, 8, 0, 1, tzinfo=UTC
    )
    assert _next_monthly(datetime(2026, 11, 7, 0, 0, tzinfo=UTC), utc, 1, 0, None) == datetime(
        2026, 11, 7, 0, 1, tzinfo=UTC
    )
