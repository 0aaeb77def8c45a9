"""The control plane watches itself: every dead-letter queue, state machine and function of
template.yaml has its alarms in the monitoring stack, notifying the reports topic.

Checked from the templates themselves (not from tools/render_monitoring.py's own lists), and
each check also on a mutated copy, so it is known to fail: a queue, state machine or
function added to template.yaml without its alarm is caught here as well as by
``make lint-template``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from localcloud.cloud import REPO_ROOT
from localcloud.intrinsics import load_template

Template = dict[str, Any]

# What each kind of resource must be watched for: (namespace, metric, dimension, statistic).
WATCHED = {
    "queue": [("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "Maximum")],
    "state-machine": [
        ("AWS/States", "ExecutionsFailed", "StateMachineArn", "Sum"),
        ("AWS/States", "ExecutionsTimedOut", "StateMachineArn", "Sum"),
        ("AWS/States", "ExecutionsAborted", "StateMachineArn", "Sum"),
    ],
    "function": [
        ("AWS/Lambda", "Errors", "FunctionName", "Sum"),
        ("AWS/Lambda", "Throttles", "FunctionName", "Sum"),
    ],
}
# The value template.yaml must pass for a watched resource: what the dimension holds.
PASSED = {
    "queue": lambda logical_id: {"Fn::GetAtt": [logical_id, "QueueName"]},
    "state-machine": lambda logical_id: {"Ref": logical_id},
    "function": lambda logical_id: {"Ref": logical_id},
}
ALARM_PREFIX = "fleetpatch-${Stage}-"
SOURCE_ARN = (
    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:fleetpatch-${Stage}-*"
)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO_ROOT / "template.yaml")


@pytest.fixture(scope="module")
def monitoring() -> Template:
    return load_template(REPO_ROOT / "monitoring" / "rendered" / "monitoring.yaml")


def _kind(logical_id: str, resource: dict[str, Any]) -> str | None:
    kind = resource["Type"]
    if kind == "AWS::SQS::Queue" and logical_id.endswith("DeadLetterQueue"):
        return "queue"
    if kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
        return "state-machine"
    if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        return "function"
    return None


def unwatched(template: Template, monitoring: Template) -> list[str]:
    """Each watched resource's missing alarms, and alarms that notify no one useful."""
    stacks = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFormation::Stack"
    ]
    [stack] = [s for s in stacks if s["Properties"]["TemplateURL"].startswith("monitoring/")]
    passed: dict[str, Any] = stack["Properties"]["Parameters"]
    topic_parameters = {name for name, value in passed.items() if value == {"Ref": "ReportsTopic"}}
    alarms = [
        r["Properties"]
        for r in monitoring["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    found = []
    for logical_id, resource in template["Resources"].items():
        kind = _kind(logical_id, resource)
        if kind is None:
            continue
        carrying = {name for name, value in passed.items() if value == PASSED[kind](logical_id)}
        for namespace, metric, dimension, statistic in WATCHED[kind]:
            matching = [
                a
                for a in alarms
                if (a["Namespace"], a["MetricName"], a["Statistic"])
                == (namespace, metric, statistic)
                and [d["Name"] for d in a["Dimensions"]] == [dimension]
                and a["Dimensions"][0]["Value"].get("Ref") in carrying
                and a["ComparisonOperator"] == "GreaterThanThreshold"
                and a["Threshold"] == 0
                and a["TreatMissingData"] == "notBreaching"
                and {v.get("Ref") for v in a["AlarmActions"]} & topic_parameters
            ]
            if not matching:
                found.append(f"{logical_id}: no {namespace} {metric} alarm to the reports topic")
    return found


def misnamed_alarms(monitoring: Template) -> list[str]:
    """Names the key and topic policies let CloudWatch publish for, within CloudWatch's limits."""
    found = []
    for logical_id, resource in monitoring["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        properties = resource["Properties"]
        name = properties["AlarmName"]["Fn::Sub"]
        description = properties["AlarmDescription"]["Fn::Sub"]
        # ${Stage} is at most 7 characters (default); CloudWatch: names 255, descriptions 1024.
        expanded = len(name.replace("${Stage}", "default"))
        if not name.startswith(ALARM_PREFIX) or expanded > 255:
            found.append(f"{logical_id}: name {name}")
        if len(description.replace("${Stage}", "default")) > 1024:
            found.append(f"{logical_id}: description over 1024 characters")
    return found


def cloudwatch_cannot_notify(template: Template) -> list[str]:
    """The topic's policy and its key's must let CloudWatch in for this stage's alarms only."""
    found = []
    grants = {
        "ReportsTopicPolicy": (
            template["Resources"]["ReportsTopicPolicy"]["Properties"]["PolicyDocument"],
            {"sns:Publish"},
        ),
        "FleetpatchKey": (
            template["Resources"]["FleetpatchKey"]["Properties"]["KeyPolicy"],
            {"kms:Decrypt", "kms:GenerateDataKey*"},
        ),
    }
    for where, (document, needed) in grants.items():
        allowed: set[str] = set()
        for statement in document["Statement"]:
            if statement.get("Principal") != {"Service": "cloudwatch.amazonaws.com"}:
                continue
            condition = statement.get("Condition", {})
            scoped = condition.get("ArnLike", {}).get("aws:SourceArn") == {"Fn::Sub": SOURCE_ARN}
            own = condition.get("StringEquals", {}).get("aws:SourceAccount") == {
                "Ref": "AWS::AccountId"
            }
            if not (scoped and own):
                found.append(f"{where}: CloudWatch allowed beyond this stage's alarms")
                continue
            granted = statement["Action"]
            allowed |= set(granted if isinstance(granted, list) else [granted])
        if not needed <= allowed:
            found.append(f"{where}: CloudWatch lacks {sorted(needed - allowed)}")
    return found


def test_every_queue_state_machine_and_function_has_its_alarms(
    template: Template, monitoring: Template
) -> None:
    assert unwatched(template, monitoring) == []
    kinds = [_kind(i, r) for i, r in template["Resources"].items()]
    alarms = [r for r in monitoring["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    # 12 dead-letter queues, 4 state machines, 16 functions when this was written.
    expected = sum(len(WATCHED[k]) for k in kinds if k is not None)
    assert kinds.count("queue") >= 12
    assert kinds.count("function") >= 16
    assert len(alarms) == expected


def test_alarm_names_and_descriptions(monitoring: Template) -> None:
    assert misnamed_alarms(monitoring) == []


def test_cloudwatch_may_publish_to_the_encrypted_topic(template: Template) -> None:
    assert cloudwatch_cannot_notify(template) == []


# --- each check catches what it is for ---------------------------------------------------------


def _new_queue(template: Template, monitoring: Template) -> None:
    template["Resources"]["ReportStoreDeadLetterQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Properties": {"KmsMasterKeyId": {"Ref": "FleetpatchKey"}},
    }


def _new_function(template: Template, monitoring: Template) -> None:
    function = copy.deepcopy(template["Resources"]["NotifySlackFunction"])
    template["Resources"]["NotifyTeamsFunction"] = function


def _dropped_alarm(template: Template, monitoring: Template) -> None:
    del monitoring["Resources"]["GatedWaveStateMachineTimedOutAlarm"]


def _alarm_on_another_queue(template: Template, monitoring: Template) -> None:
    alarm = monitoring["Resources"]["NotifySlackFunctionDeadLetterQueueAlarm"]["Properties"]
    alarm["Dimensions"][0]["Value"] = {"Ref": "PublishReportFunctionDeadLetterQueueName"}


def _no_action(template: Template, monitoring: Template) -> None:
    monitoring["Resources"]["PatchBatchFunctionErrorsAlarm"]["Properties"]["AlarmActions"] = []


def _missing_data_breaches(template: Template, monitoring: Template) -> None:
    alarm = monitoring["Resources"]["PatchBatchFunctionThrottlesAlarm"]["Properties"]
    alarm["TreatMissingData"] = "breaching"


@pytest.mark.parametrize(
    "mutate",
    [
        _new_queue,
        _new_function,
        _dropped_alarm,
        _alarm_on_another_queue,
        _no_action,
        _missing_data_breaches,
    ],
)
def test_an_unwatched_resource_is_caught(
    template: Template, monitoring: Template, mutate: Callable[[Template, Template], None]
) -> None:
    changed, rendered = copy.deepcopy(template), copy.deepcopy(monitoring)
    mutate(changed, rendered)
    assert len(unwatched(changed, rendered)) >= 1


def test_a_long_or_foreign_alarm_name_is_caught(monitoring: Template) -> None:
    changed = copy.deepcopy(monitoring)
    properties = changed["Resources"]["PatchBatchFunctionErrorsAlarm"]["Properties"]
    properties["AlarmName"] = {"Fn::Sub": "patch-batch-errors"}
    properties["AlarmDescription"] = {"Fn::Sub": "x" * 1025}
    assert len(misnamed_alarms(changed)) == 2


def test_a_topic_or_key_policy_without_cloudwatch_is_caught(template: Template) -> None:
    for resource, path in (
        ("ReportsTopicPolicy", ("Properties", "PolicyDocument")),
        ("FleetpatchKey", ("Properties", "KeyPolicy")),
    ):
        changed = copy.deepcopy(template)
        document = changed["Resources"][resource][path[0]][path[1]]
        document["Statement"] = [
            s
            for s in document["Statement"]
            if s.get("Principal") != {"Service": "cloudwatch.amazonaws.com"}
        ]
        assert cloudwatch_cannot_notify(changed) == [
            f"{resource}: CloudWatch lacks "
            + str(
                ["sns:Publish"]
                if resource == "ReportsTopicPolicy"
                else ["kms:Decrypt", "kms:GenerateDataKey*"]
            )
        ]
    unscoped = copy.deepcopy(template)
    for statement in unscoped["Resources"]["FleetpatchKey"]["Properties"]["KeyPolicy"]["Statement"]:
        if statement.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}:
            del statement["Condition"]["ArnLike"]
    assert cloudwatch_cannot_notify(unscoped) == [
        "FleetpatchKey: CloudWatch allowed beyond this stage's alarms",
        "FleetpatchKey: CloudWatch lacks ['kms:Decrypt', 'kms:GenerateDataKey*']",
    ]


# --- the dashboard -----------------------------------------------------------------------------

_SUB = re.compile(r"\$\{([^}]+)\}")


def _substituted(text: str, values: dict[str, str]) -> str:
    """What Fn::Sub makes of ``text``; a name it cannot resolve fails the test."""
    return _SUB.sub(lambda m: values[m.group(1)], text)


def test_the_dashboard_body_is_json_once_substituted(
    template: Template, monitoring: Template
) -> None:
    parameters = monitoring["Parameters"]
    values = {name: f"value-of-{name}" for name in parameters}
    values |= {"AWS::Region": "eu-central-1", "AWS::Partition": "aws", "AWS::AccountId": "1" * 12}
    dashboard = monitoring["Resources"]["Dashboard"]["Properties"]
    body = json.loads(_substituted(dashboard["DashboardBody"]["Fn::Sub"], values))

    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for wanted in ("Runs and outcomes", "Held waves", "Compliance by environment", "Dead-letter"):
        assert any(t.startswith(wanted) for t in titles), wanted
    [depths] = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Dead")]
    shown = {m[3] for m in depths["properties"]["metrics"]}
    queues = [i for i, r in template["Resources"].items() if _kind(i, r) == "queue"]
    assert shown == {f"value-of-{q}Name" for q in queues}
    [board] = [w for w in body["widgets"] if w["type"] == "alarm"]
    alarms = [r for r in monitoring["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(board["properties"]["alarms"]) == len(alarms) <= 100  # an alarm widget's limit
    assert all(w["properties"].get("region") == "eu-central-1" for w in body["widgets"][1:-1])
