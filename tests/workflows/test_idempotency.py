"""At least once, never twice: every side effect of a run happens once however often its
events, notifications and invocations are delivered (docs/idempotency.md).

The real template, ASL and handlers on the local cloud. A redelivery is the very event
(same id, same body) handed to the same target again, as EventBridge, SNS, Scheduler and
Lambda's own retries do.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fleetpatch_lambda.idempotency import partition

from fleetpatch.compliance import DigestScheduler
from localcloud.sim.instances import Behaviour
from localcloud.slack import SlackWebhookReceiver
from tests.workflows.conftest import Deployed, states_entered
from tests.workflows.test_reports import compliance_event, sns_messages


def redeliver(deployed: Deployed, logical_id: str, event: Any, times: int) -> None:
    function = deployed.stack.physical_id(logical_id)
    for _ in range(times):
        deployed.cloud.lambdas.invoke_async(function, event)


def delivered_events(deployed: Deployed, detail_type: str) -> list[dict[str, Any]]:
    return [
        d.event
        for d in deployed.cloud.delivery.deliveries
        if d.event.get("detail-type") == detail_type
    ]


def invocations(deployed: Deployed, logical_id: str) -> list[Any]:
    """The function's invocations, the stack's hourly wave-notice ticks aside (a background
    schedule: whether one falls in a test's settle depends only on how long it plays)."""
    function = deployed.stack.physical_id(logical_id)
    return [
        i
        for i in deployed.cloud.lambdas.invocations
        if i.function_name == function
        and not (isinstance(i.event, dict) and i.event.get("kind") == "wave-notice")
    ]


def results(deployed: Deployed, logical_id: str) -> list[Any]:
    return [i.result for i in invocations(deployed, logical_id)]


def errors(deployed: Deployed) -> list[tuple[str, str | None]]:
    return [
        (i.function_name, i.error_type)
        for i in deployed.cloud.lambdas.invocations
        if i.error_type is not None
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_statements(deployed: Deployed, logical_id: str) -> list[dict[str, Any]]:
    iam = deployed.cloud.client("iam")
    role = deployed.stack.physical_id(logical_id).rsplit("/", 1)[-1]
    statements: list[dict[str, Any]] = []
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        statements += document["Statement"]
    return statements


def test_every_side_effect_of_a_launch_happens_once_under_redelivery(
    deployed: Deployed, slack: SlackWebhookReceiver
) -> None:
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=60)
    # The lifecycle action arrives again while the run waits for the agent ...
    [action] = delivered_events(deployed, "EC2 Instance-launch Lifecycle Action")
    redeliver(deployed, "PatchOnLaunchFunction", action, 1)
    deployed.cloud.settle(max_seconds=6 * 3600)
    # ... and, with everything else the run caused, once more after it has ended.
    redeliver(deployed, "PatchOnLaunchFunction", action, 1)
    [status] = [
        e
        for e in delivered_events(deployed, "EC2 Command Invocation Status-change Notification")
        if e["detail"]["status"] == "Success"
    ]
    redeliver(deployed, "CommandStatusFunction", status, 2)
    [notification] = [n.event for n in deployed.cloud.notifications.notifications]
    redeliver(deployed, "NotifySlackFunction", notification, 2)
    [report_request] = [i.event for i in invocations(deployed, "PublishReportFunction")]
    # Step Functions retries PublishReport after a Lambda service error: it runs again.
    deployed.cloud.lambdas.invoke(
        deployed.stack.physical_id("PublishReportFunction"), report_request
    )
    deployed.cloud.settle(max_seconds=3600)

    # One run, one command, one lifecycle result, one e-mail, one Slack post.
    [execution] = deployed.executions()
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    commands = deployed.cloud.client("ssm").list_commands()["Commands"]
    assert [c["InstanceIds"] for c in commands] == [[instance]]
    assert deployed.cloud.autoscaling is not None
    actions = [a for a in deployed.cloud.autoscaling.lifecycle_actions if a.instance_id == instance]
    assert [a.result for a in actions] == ["CONTINUE"]
    assert [m["attributes"]["run"] for m in sns_messages(deployed, "launch")] == [execution["name"]]
    assert len(slack.delivered) == 1
    # Each duplicate was seen, recognised and dropped, none failed.
    # StartExecution with the name and input of a running execution answers with that
    # execution (Step Functions' own idempotency); once it has ended, the name is taken.
    launches = [r for r in results(deployed, "PatchOnLaunchFunction") if r["route"] != "ignored"]
    assert [r["execution"] for r in launches] == [execution["name"]] * 3
    assert launches[-1]["reason"] == "duplicate: run already started"
    # The status resumed the run once; its duplicates find the task token spent.
    resumed = [
        r["resumed"]
        for r in results(deployed, "CommandStatusFunction")
        if r.get("route") == "command-status" and f" on {instance} " in r["reason"]
    ]
    assert resumed == [True, False, False]
    assert [(r["sent"], r["duplicates"]) for r in results(deployed, "NotifySlackFunction")] == [
        (1, 0),
        (0, 1),
        (0, 1),
    ]
    assert results(deployed, "PublishReportFunction")[-1]["duplicate"] is True
    assert errors(deployed) == []
    # The notifier's record lives in its own partition, which is all its role may touch.
    function = deployed.stack.physical_id("NotifySlackFunction")
    table = deployed.stack.physical_id("StateTable")
    dynamodb = deployed.cloud.client("dynamodb")
    [record] = dynamodb.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": partition(function)}},
    )["Items"]
    assert record["status"]["S"] == "COMPLETED"
    granted = [
        s
        for s in role_statements(deployed, "NotifySlackFunctionRole")
        if any(a.startswith("dynamodb:") for a in as_list(s["Action"]))
    ]
    assert granted == [
        {
            "Effect": "Allow",
            "Action": [
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
            ],
            "Resource": dynamodb.describe_table(TableName=table)["Table"]["TableArn"],
            "Condition": {
                "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [partition(function)]}
            },
        }
    ]


def test_a_heartbeat_schedule_made_by_an_unanswered_call_is_used(deployed: Deployed) -> None:
    # CreateSchedule created the schedule but its answer was lost (a 500, a timeout): the
    # retried call finds the schedule, named after the run, already there.
    deployed.auto_scaling_group()
    [instance] = deployed.scale_out(Behaviour(agent_delay_seconds=30))
    deployed.cloud.settle(max_seconds=5)
    [execution] = deployed.executions()
    digest = hashlib.sha256(execution["name"].encode()).hexdigest()[:32]
    name = f"fleetpatch-default-hb-{digest}"
    scheduler = deployed.cloud.client("scheduler")
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": "arn:aws:scheduler:::aws-sdk:autoscaling:recordLifecycleActionHeartbeat",
            "RoleArn": "arn:aws:iam::123456789012:role/heartbeats",
            "Input": "{}",
        },
    )
    deployed.cloud.settle(max_seconds=6 * 3600)

    execution = deployed.execution_for(instance)
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    history = deployed.history(execution)
    assert [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"] == [
        "Scheduler.ConflictException"
    ]
    assert "StopHeartbeats" in states_entered(history)
    assert deployed.lifecycle_result(instance) == "CONTINUE"
    # Used, then deleted with the run's end like its own.
    assert name not in [s["Name"] for s in scheduler.list_schedules()["Schedules"]]


def test_drift_whose_first_attempt_failed_half_way_is_digested_once(
    deployed: Deployed, slack: SlackWebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first attempt records the drift, then cannot schedule the digest (throttled):
    # Lambda retries the event a minute later.
    ensure = DigestScheduler.ensure
    refused: list[int] = []

    def throttled_once(self: DigestScheduler, digest_minutes: int) -> Any:
        if not refused:
            refused.append(digest_minutes)
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "CreateSchedule",
            )
        return ensure(self, digest_minutes)

    monkeypatch.setattr(DigestScheduler, "ensure", throttled_once)
    compliance_event(deployed, "i-0000000000000000a", "non_compliant")
    deployed.cloud.settle(max_seconds=600)
    # EventBridge delivers the event twice more once it has been handled.
    [event] = delivered_events(deployed, "Configuration Compliance State Change")
    redeliver(deployed, "ComplianceChangeFunction", event, 2)
    deployed.cloud.settle(max_seconds=2 * 3600)

    transitions = [r["transition"] for r in results(deployed, "ComplianceChangeFunction") if r]
    assert transitions == ["drifted", "stale", "stale"]  # the retry, then the duplicates
    [digest] = sns_messages(deployed, "compliance-digest")
    assert digest["subject"] == "compliance digest: 1 instance drifted"
    # The digest schedule fires again (Scheduler delivers at least once) after new drift
    # was recorded: the repeat sends nothing and leaves the new drift to the next digest.
    compliance_event(deployed, "i-0000000000000000b", "non_compliant")
    deployed.cloud.settle(max_seconds=60)
    [digest_request] = [i.event for i in invocations(deployed, "PublishReportFunction")]
    redeliver(deployed, "PublishReportFunction", digest_request, 1)
    deployed.cloud.settle(max_seconds=2 * 3600)
    assert [d["subject"] for d in sns_messages(deployed, "compliance-digest")] == [
        "compliance digest: 1 instance drifted",
        "compliance digest: 1 instance drifted",
    ]
    later = sns_messages(deployed, "compliance-digest")[1]["attributes"]["run"]
    assert [e["instance_id"] for e in deployed.report(later)["entries"]] == ["i-0000000000000000b"]
    assert [m["text"] for m in slack.delivered] == ["compliance digest: 1 instance drifted"] * 2
    # The one failure: the throttled first attempt (named as throttling by the handlers'
    # edge, so a workflow's Retry could match it), which Lambda retried.
    assert errors(deployed) == [
        (deployed.stack.physical_id("ComplianceChangeFunction"), "AwsThrottledError")
    ]
