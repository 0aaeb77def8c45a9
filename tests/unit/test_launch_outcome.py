"""A run's outcome, accounted before release: context from tags, churn, Launch suspended."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from fleetpatch.churn import ChurnRecords
from fleetpatch.launch_outcome import OutcomeRequest, account_launch
from tests.unit.conftest import STATE_TABLE, create_state_table

REGION = "eu-central-1"
GROUP = "web-prod"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
CONFLICT = "ConflictingPatchGroupTagsError: both tags are set"
AMI = "ami-04681a1dbd79675a5"


@dataclass
class Aws:
    ec2: Any
    autoscaling: Any
    dynamodb: Any

    def instance(self, tags: dict[str, str]) -> str:
        reservation = self.ec2.run_instances(
            ImageId=AMI,
            MinCount=1,
            MaxCount=1,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
                }
            ],
        )
        return str(reservation["Instances"][0]["InstanceId"])

    def suspended(self) -> list[str]:
        [group] = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
            "AutoScalingGroups"
        ]
        return [p["ProcessName"] for p in group["SuspendedProcesses"]]

    def account(self, request: OutcomeRequest, autoscaling: Any = None) -> dict[str, Any]:
        return account_launch(
            request,
            ec2=self.ec2,
            autoscaling=autoscaling or self.autoscaling,
            records=ChurnRecords(self.dynamodb, STATE_TABLE),
            now=lambda: T0 + timedelta(minutes=5),
        ).as_dict()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    # Any image id will do; moto's 2,500 stock AMIs would only slow EC2 down.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb)
        ec2.create_launch_template(LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI})
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=GROUP,
            LaunchTemplate={"LaunchTemplateName": "web"},
            MinSize=0,
            MaxSize=2,
            AvailabilityZones=[f"{REGION}a"],
        )
        yield Aws(ec2, autoscaling, dynamodb)


def request(instance: str, n: int = 1, **fields: Any) -> OutcomeRequest:
    return OutcomeRequest.model_validate(
        {
            "runId": f"launch-{n}",
            "instanceId": instance,
            "startedAt": (T0 + timedelta(minutes=n)).isoformat(),
            "onFailure": "ABANDON",
            **fields,
        }
    )


def test_a_launch_that_never_resolved_a_target_is_placed_by_its_tags(aws: Aws) -> None:
    instance = aws.instance({"Environment": "prod", "aws:autoscaling:groupName": GROUP})
    failed = {"reason": "AgentNeverOnline", "message": "did not report Online"}
    outcome = aws.account(request(instance, group=GROUP, failure=failed))
    assert (outcome["environment"], outcome["autoScalingGroup"], outcome["lifecycleResult"]) == (
        "prod",
        GROUP,
        "ABANDON",
    )
    assert (outcome["churn"]["streak"], outcome["churn"]["announce"]) == (1, "report")


def test_an_instance_launched_outside_auto_scaling_has_no_group_and_no_churn(aws: Aws) -> None:
    instance = aws.instance({"Environment": "test"})
    failed = {"reason": "AgentNeverOnline", "message": "did not report Online"}
    outcome = aws.account(request(instance, failure=failed))
    assert outcome == {
        "environment": "test",
        "autoScalingGroup": None,
        "lifecycleResult": "ABANDON",
        "churn": None,
    }


def test_a_resolved_launch_reads_no_tags(aws: Aws) -> None:
    # Its target gave the environment and its lifecycle action the group: no DescribeTags.
    with Stubber(aws.ec2) as ec2:
        outcome = aws.account(request("i-0a1b2c3d4e5f60718", group=GROUP, environment="prod"))
        ec2.assert_no_pending_responses()
    assert (outcome["environment"], outcome["lifecycleResult"]) == ("prod", "CONTINUE")
    assert outcome["churn"]["endedStreak"] is None


def test_the_escalating_failure_suspends_the_groups_launch_process(aws: Aws) -> None:
    instance = aws.instance({"Environment": "prod"})
    failed = {"reason": "TargetUnresolved", "message": CONFLICT}
    outcomes = [
        aws.account(request(instance, n, group=GROUP, environment="prod", failure=failed))
        for n in (1, 2, 3)
    ]
    assert [o["churn"]["announce"] for o in outcomes] == ["report", "quiet", "escalate"]
    assert (outcomes[-1]["churn"]["suspended"], outcomes[-1]["churn"]["suspendError"]) == (
        True,
        None,
    )
    assert aws.suspended() == ["Launch"]
    # a retried task replays the decision and suspends again, which Auto Scaling accepts
    again = aws.account(request(instance, 3, group=GROUP, environment="prod", failure=failed))
    assert again == outcomes[-1]
    assert aws.suspended() == ["Launch"]


def test_a_suspension_that_fails_is_reported_not_raised(aws: Aws) -> None:
    instance = aws.instance({"Environment": "prod"})
    failed = {"reason": "TargetUnresolved", "message": CONFLICT}
    for n in (1, 2):
        aws.account(request(instance, n, group=GROUP, environment="prod", failure=failed))
    denied = boto3.client("autoscaling", region_name=REGION)
    with Stubber(denied) as stub:
        stub.add_client_error(
            "suspend_processes",
            service_error_code="AccessDenied",
            service_message="not authorized to perform: autoscaling:SuspendProcesses",
            http_status_code=403,
        )
        outcome = aws.account(
            request(instance, 3, group=GROUP, environment="prod", failure=failed), denied
        )
    assert (outcome["churn"]["announce"], outcome["churn"]["suspended"]) == ("escalate", False)
    assert outcome["churn"]["suspendError"] == (
        "AccessDenied: not authorized to perform: autoscaling:SuspendProcesses"
    )
    assert aws.suspended() == []


def test_a_request_names_its_wrong_field() -> None:
    with pytest.raises(ValueError, match="instanceId"):
        request("not-an-instance")


def test_an_excepted_launch_neither_ends_nor_extends_the_streak(aws: Aws) -> None:
    # Given a group with one launch failure in its streak
    instance = aws.instance({"Environment": "prod"})
    failed = {"reason": "TargetUnresolved", "message": CONFLICT}
    first = aws.account(request(instance, 1, group=GROUP, failure=failed))
    assert first["churn"]["streak"] == 1
    # When an excepted launch of the group is released unpatched
    excepted = aws.account(request(instance, 2, group=GROUP, environment="prod", excepted=True))
    # Then it goes into service and the streak is untouched: the next failure is the second
    assert (excepted["lifecycleResult"], excepted["churn"]) == ("CONTINUE", None)
    second = aws.account(request(instance, 3, group=GROUP, failure=failed))
    assert second["churn"]["streak"] == 2
