"""Each handler's accepting path, imported as a package and run on moto.

A handler parses its event at the edge, calls one service, and returns; these tests call
``functions.<name>.app.lambda_handler`` directly with a real-shaped event (events/) and
check what it did in the (moto) account. Where moto lacks an API (SSM's managed-instance
inventory, a running window execution, a waiting task token) a ``Patched`` client answers
that one call and passes everything else to moto.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch import aws, clock
from localcloud.cloud import REPO_ROOT
from localcloud.intrinsics import load_template
from tests.conftest import load_event
from tests.unit.conftest import STATE_TABLE, create_state_table

REGION = "eu-central-1"
STAGE = "dev"
AMI = "ami-04681a1dbd79675a5"
BUCKET = "fleetpatch-dev-artifacts"
POLICY_PARAMETER = f"/fleetpatch/{STAGE}/policy"
PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@cache
def compiled_policy() -> str:
    """The compiled policy the policy stack stores (policy/rendered, committed)."""
    stack = load_template(REPO_ROOT / "policy" / "rendered" / "fleet-policy.yaml")
    [value] = [
        r["Properties"]["Value"]
        for r in stack["Resources"].values()
        if r["Type"] == "AWS::SSM::Parameter"
    ]
    assert isinstance(value, str)
    return value


@dataclass
class FakeContext:
    function_name: str = "fleetpatch-dev-fn"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:123456789012:function:fleetpatch-dev-fn"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class Patched:
    """A moto client with some calls answered here (what moto does not implement)."""

    def __init__(self, client: Any, **calls: Callable[..., Any]) -> None:
        self._client = client
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        return self._calls.get(name) or getattr(self._client, name)


@dataclass
class Account:
    monkeypatch: pytest.MonkeyPatch
    patched: dict[str, Patched] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]

    def patch(self, service: str, **calls: Callable[..., Any]) -> None:
        self.patched[service] = Patched(self.client(service), **calls)

    def instance(self, tags: dict[str, str]) -> str:
        reservation = self.client("ec2").run_instances(
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

    def state_machine(self, name: str) -> str:
        role = self.client("iam").create_role(
            RoleName=f"{name}-role", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        arn: str = self.client("stepfunctions").create_state_machine(
            name=name, definition=PASS, roleArn=role
        )["stateMachineArn"]
        return arn

    def executions(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        found: list[dict[str, Any]] = sfn.list_executions(stateMachineArn=arn)["executions"]
        return [
            {
                **e,
                "input": json.loads(
                    sfn.describe_execution(executionArn=e["executionArn"])["input"]
                ),
            }
            for e in found
        ]


@pytest.fixture
def account(monkeypatch: pytest.MonkeyPatch) -> Iterator[Account]:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    for name, value in {
        "POWERTOOLS_SERVICE_NAME": "fleetpatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Fleetpatch",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": "fleetpatch-dev-fn",
        "FLEETPATCH_TABLE_NAME": STATE_TABLE,
        "FLEETPATCH_ARTIFACTS_BUCKET": BUCKET,
        "FLEETPATCH_POLICY_PARAMETER": POLICY_PARAMETER,
        "FLEETPATCH_STAGE": STAGE,
        # issue 22: publish-report's sharing (no central bucket: a single account)
        "FLEETPATCH_CENTRAL_REPORTS_BUCKET": "",
        "FLEETPATCH_DEAD_LETTER_QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/123456789012/dlq",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        aws.reset_clients()
        found = Account(monkeypatch)
        create_state_table(found.client("dynamodb"))
        found.client("ssm").put_parameter(
            Name=POLICY_PARAMETER, Value=compiled_policy(), Type="String"
        )
        found.client("s3").create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        moto_client = aws.client
        monkeypatch.setattr(
            aws, "client", lambda service: found.patched.get(service) or moto_client(service)
        )
        yield found


def invoke(function: str, event: dict[str, Any]) -> Any:
    """Call ``functions.<function>.app.lambda_handler`` as Lambda would.

    Imported here, not at the top: the handler's module builds powertools' Metrics, which
    reads its namespace from the environment the fixture sets.
    """
    app = importlib.import_module(f"functions.{function}.app")
    return app.lambda_handler(event, FakeContext())


# --- routes -----------------------------------------------------------------------------------


def test_patch_on_launch_starts_one_run_per_lifecycle_action(account: Account) -> None:
    # Given the launch policy of policy/fleet.yaml and the patch-new-instance workflow
    arn = account.state_machine("patch-new-instance")
    account.monkeypatch.setenv("FLEETPATCH_PATCH_NEW_INSTANCE_ARN", arn)
    launch = json.loads(compiled_policy())["launch"]
    account.monkeypatch.setenv("FLEETPATCH_LAUNCH_POLICY", json.dumps(launch))
    event = load_event("aws.autoscaling/launch-lifecycle-action")
    token = event["detail"]["LifecycleActionToken"]
    # When the lifecycle action is delivered twice
    first = invoke("patch_on_launch", event)
    invoke("patch_on_launch", event)
    # Then one run, named after the action's token, carries the action
    assert first == {
        "route": "patch-on-launch",
        "reason": first["reason"],
        "execution": f"launch-{token}",
    }
    [run] = account.executions(arn)
    assert run["name"] == f"launch-{token}"
    assert run["input"]["lifecycle"]["token"] == token
    assert run["input"]["trigger"] == "lifecycle"


@pytest.fixture
def wave_window(account: Account) -> tuple[str, str]:
    """The test wave's window (tagged as the policy stack tags it), and gated-wave."""
    ssm = account.client("ssm")
    window = ssm.create_maintenance_window(
        Name="wave-test",
        Schedule="cron(0 6 ? * SAT#1 *)",
        Duration=4,
        Cutoff=1,
        AllowUnassociatedTargets=False,
    )["WindowId"]
    ssm.add_tags_to_resource(
        ResourceType="MaintenanceWindow",
        ResourceId=window,
        Tags=[
            {"Key": "fleetpatch:wave", "Value": "test"},
            {"Key": "fleetpatch:stage", "Value": STAGE},
        ],
    )
    arn = account.state_machine("gated-wave")
    account.monkeypatch.setenv("FLEETPATCH_GATED_WAVE_ARN", arn)
    return window, arn


def test_batch_gate_starts_the_waves_run_once_on_the_window_event(
    account: Account, wave_window: tuple[str, str]
) -> None:
    window, arn = wave_window
    event = load_event("aws.ssm/maintenance-window-execution-success")
    event["detail"]["window-id"] = window
    execution = event["detail"]["window-execution-id"]
    ended = datetime.fromisoformat(event["detail"]["end-time"])
    # Given the event arrives five minutes after the window ended
    clock.use((ended + timedelta(minutes=5)).timestamp)
    try:
        first = invoke("batch_gate", event)
        invoke("batch_gate", event)
    finally:
        clock.use(None)
    assert first == {
        "route": "batch-gate",
        "reason": "window of wave test",
        "execution": f"wave-{execution}",
    }
    [run] = account.executions(arn)
    assert run["name"] == f"wave-{execution}"
    assert run["input"]["wave"] == "test"
    assert run["input"]["windowExecutionId"] == execution
    assert [b["name"] for b in run["input"]["batches"]] == ["linux-databases", "windows-apps"]


def test_batch_gate_starts_the_waves_run_on_its_window_task(
    account: Account, wave_window: tuple[str, str]
) -> None:
    window, arn = wave_window
    running = "3c4f1d2e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    account.patch(
        "ssm",
        describe_maintenance_window_executions=lambda **_: {
            "WindowExecutions": [{"WindowExecutionId": running, "Status": "IN_PROGRESS"}]
        },
    )
    result = invoke(
        "batch_gate", {"source": "fleetpatch.window", "wave": "test", "windowId": window}
    )
    assert result["execution"] == f"wave-{running}"
    [run] = account.executions(arn)
    assert run["input"]["windowId"] == window


def compliance_change_configured(account: Account) -> str:
    """Configure compliance-change as the template does; the remediation workflow's ARN."""
    arn = account.state_machine("patch-new-instance")
    for name, value in {
        "FLEETPATCH_PATCH_NEW_INSTANCE_ARN": arn,
        "FLEETPATCH_DIGEST_FUNCTION_ARN": f"arn:aws:lambda:{REGION}:123456789012:function:digest",
        "FLEETPATCH_DIGEST_ROLE_ARN": "arn:aws:iam::123456789012:role/fleetpatch-digest",
        "FLEETPATCH_DIGEST_SCHEDULE_PREFIX": "fleetpatch-dev-digest-",
    }.items():
        account.monkeypatch.setenv(name, value)
    return arn


def test_compliance_change_records_drift_schedules_the_digest_and_remediates_once(
    account: Account,
) -> None:
    # Given a test instance (its environment remediates by installing, or scanning outside
    # its window) and the workflows and digest target the template wires
    instance = account.instance({"Patch Group": "patch_test_0600_batch_1"})
    arn = compliance_change_configured(account)
    event = load_event("aws.ssm/compliance-patch-non-compliant")
    event["detail"]["resource-id"] = instance
    # When its non-compliant state is delivered twice
    first = invoke("compliance_change", event)
    again = invoke("compliance_change", event)
    # Then it drifted: recorded, the digest scheduled and a remediation run started, once
    assert first["route"] == "compliance-change"
    assert (first["transition"], first["notify"], first["environment"]) == ("drifted", True, "test")
    assert first["digestScheduled"] is not None
    assert first["remediation"]["execution"] is not None
    assert (again["transition"], again["notify"]) == ("stale", False)
    [run] = account.executions(arn)
    assert run["name"] == first["remediation"]["execution"]
    assert run["input"]["trigger"] == "remediation"
    [schedule] = account.client("scheduler").list_schedules()["Schedules"]
    assert schedule["Name"].startswith("fleetpatch-dev-digest-")


def test_a_burst_of_compliance_events_costs_one_tag_read(account: Account) -> None:
    # Given instances in two patch groups, one untagged and one whose two tags disagree
    tags = [
        {"Patch Group": "patch_test_0600_batch_1"},
        {"PatchGroup": "patch_test_0600_batch_1"},
        {"Patch Group": "patch_test_0600_batch_1"},
        {"Name": "untagged"},
        {"Patch Group": "patch_test_0600_batch_1", "PatchGroup": "other"},
    ]
    instances = [account.instance(t) for t in tags]
    compliance_change_configured(account)
    reads: list[str] = []
    aws.client("ec2").meta.events.register(
        "before-call.ec2.DescribeTags", lambda **_: reads.append("DescribeTags")
    )
    # When each reports its compliance in the same second (a command's instances do)
    environments = []
    for n, instance in enumerate(instances):
        event = load_event("aws.ssm/compliance-patch-compliant")
        event["id"] = str(uuid.UUID(int=n + 1))
        event["detail"]["resource-id"] = instance
        environments.append(invoke("compliance_change", event)["environment"])
    # Then one read of the patch group tags answered them all, each as its own tags say
    # (the untagged instance, which that read did not list, is asked about alone)
    assert environments == ["test", "test", "test", None, None]
    assert reads == ["DescribeTags"] * 2


class FakeStepFunctions:
    """Task tokens: moto's workflows never wait for one; this records the resumptions."""

    def __init__(self, real: Any) -> None:
        self.exceptions = real.exceptions
        self.resumed: list[tuple[str, dict[str, Any]]] = []

    def send_task_success(self, taskToken: str, output: str) -> None:  # boto3's names
        self.resumed.append((taskToken, json.loads(output)))


def test_await_command_and_command_status_resume_the_waiting_workflow(account: Account) -> None:
    sfn = FakeStepFunctions(account.client("stepfunctions"))
    account.patched["stepfunctions"] = sfn  # type: ignore[assignment]
    event = load_event("aws.ssm/command-invocation-success")
    command, instance = event["detail"]["command-id"], event["detail"]["instance-id"]
    # Given a workflow waiting for the invocation
    registered = invoke(
        "await_command", {"taskToken": "token-1", "commandId": command, "instanceId": instance}
    )
    assert registered == {"registered": True, "resumedAtOnce": False}
    # When the invocation's final status arrives
    result = invoke("command_status", event)
    # Then the workflow resumes with it
    assert result["route"] == "command-status"
    assert result["resumed"] is True
    [(token, output)] = sfn.resumed
    assert token == "token-1"
    assert output["status"] == "Success"
    assert (output["commandId"], output["instanceId"]) == (command, instance)


def test_resolve_instance_names_its_os_patch_group_and_baseline(account: Account) -> None:
    instance = account.instance({"Patch Group": "patch_test_0600_batch_1", "Environment": "test"})
    account.patch(
        "ssm",
        describe_instance_information=lambda **_: {
            "InstanceInformationList": [
                {"PlatformType": "Linux", "PlatformName": "Amazon Linux", "PlatformVersion": "2023"}
            ]
        },
        get_default_patch_baseline=lambda **_: {"BaselineId": "pb-0default0000000"},
        get_patch_baseline_for_patch_group=lambda **_: {"BaselineId": "pb-0group000000000"},
    )
    target = invoke("resolve_instance", {"instanceId": instance})
    assert target["instanceId"] == instance
    assert target["patchGroup"] == "patch_test_0600_batch_1"
    assert target["baselineId"] == "pb-0group000000000"
    assert target["environment"] == "test"


def test_launch_outcome_places_a_run_that_never_resolved_its_target(account: Account) -> None:
    instance = account.instance({"Environment": "prod"})
    outcome = invoke(
        "launch_outcome",
        {
            "runId": "launch-1",
            "instanceId": instance,
            "startedAt": "2026-11-21T05:00:00Z",
            "onFailure": "ABANDON",
        },
    )
    assert outcome["environment"] == "prod"


def test_publish_report_stores_and_announces_a_launch_run(account: Account) -> None:
    topic = account.client("sns").create_topic(Name="fleetpatch-reports")["TopicArn"]
    account.monkeypatch.setenv("FLEETPATCH_REPORTS_TOPIC_ARN", topic)
    instance = account.instance({"Name": "web-1", "Environment": "test"})
    account.patch(
        "ssm",
        describe_instance_information=lambda **_: {
            "InstanceInformationList": [
                {"InstanceId": instance, "PlatformName": "Amazon Linux", "PlatformVersion": "2023"}
            ]
        },
    )
    summary = {
        "runId": f"launch-{instance}-1",
        "instanceId": instance,
        "trigger": "launch",
        "outcome": "patched",
        "reason": "Patched",
        "summary": "patched on launch",
        "startedAt": "2026-11-21T05:00:00Z",
        "target": {"patchGroup": "patch_test_0600_batch_1", "environment": "test"},
    }
    published = invoke("publish_report", summary)
    again = invoke("publish_report", summary)
    assert published["runId"] == summary["runId"]
    assert published["messageId"] is not None
    assert (published["duplicate"], again["duplicate"]) == (False, True)
    # Each publish puts its Run Finished event (a retry again: the central index files once)
    assert published["shared"] == again["shared"] == {"sent": 1, "unsent": 0, "errors": []}
    s3 = account.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert published["report"] in keys
    assert published["html"] in keys
    # the instance's Name tag and operating system, read for the report
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=published["report"])["Body"].read())
    [shown] = stored["batches"][0]["instances"]
    assert (shown["name"], shown["platform"]) == ("web-1", "Amazon Linux 2023")


def test_publish_report_sends_an_empty_digest_as_nothing(account: Account) -> None:
    topic = account.client("sns").create_topic(Name="fleetpatch-reports")["TopicArn"]
    account.monkeypatch.setenv("FLEETPATCH_REPORTS_TOPIC_ARN", topic)
    sent = invoke("publish_report", {"kind": "compliance-digest"})
    assert sent.get("entries", 0) == 0


def test_notify_slack_without_a_webhook_sends_nothing(account: Account) -> None:
    account.monkeypatch.setenv("FLEETPATCH_SLACK_WEBHOOK_SECRET", "")
    event = {
        "Records": [
            {
                "EventSource": "aws:sns",
                "Sns": {
                    "TopicArn": f"arn:aws:sns:{REGION}:123456789012:fleetpatch-reports",
                    "MessageId": "message-1",
                    "Subject": "fleetpatch: launch patched",
                    "Message": "patched",
                    "MessageAttributes": {},
                },
            }
        ]
    }
    assert invoke("notify_slack", event) == {"sent": 0, "skipped": 1}


# --- the gated-wave workflow's tasks ------------------------------------------------------------

WAVE_RUN = "wave-ac537fc8-0995-41ff-83a2-23c98106532a"


def no_managed_instances(account: Account) -> None:
    account.patch("ssm", describe_instance_information=lambda **_: {"InstanceInformationList": []})


def test_patch_batch_plans_the_batch_and_records_the_plan(account: Account) -> None:
    no_managed_instances(account)
    batch = json.loads(compiled_policy())["waves"]["test"]["batches"][0]
    request = {"runId": WAVE_RUN, "wave": "test", "step": 0, "round": 0, "batch": batch}
    sent = invoke("patch_batch", request)
    assert sent["batch"] == "linux-databases"
    assert (sent["instances"], sent["commandIds"]) == (0, [])
    # A retry finds the plan the first attempt recorded and sends nothing more
    assert invoke("patch_batch", request) == sent


def test_evaluate_gate_decides_and_records_an_empty_batch(account: Account) -> None:
    no_managed_instances(account)
    batches = json.loads(compiled_policy())["waves"]["test"]["batches"]
    decision = invoke(
        "evaluate_gate",
        {
            "runId": WAVE_RUN,
            "wave": "test",
            "step": 1,
            "gate": batches[1]["gate"],
            "batches": batches,
            "startedAt": datetime(2026, 11, 7, 5, 0, tzinfo=UTC).isoformat(),
        },
    )
    # The gate refuses an empty batch (allowEmpty is false) and says why
    assert decision["batch"] == "windows-apps"
    assert decision["passed"] is False
    assert decision["reasons"]


def test_record_promotion_keeps_the_lists_when_nothing_was_installed(account: Account) -> None:
    batches = json.loads(compiled_policy())["waves"]["test"]["batches"]
    recorded = invoke(
        "record_promotion",
        {
            "runId": WAVE_RUN,
            "wave": "test",
            "batches": batches,
            "promotions": ["prod"],
            "startedAt": datetime(2026, 11, 7, 5, 0, tzinfo=UTC).isoformat(),
        },
    )
    assert recorded["patches"] == 0


def test_snapshot_retention_deletes_the_stages_expired_snapshots(account: Account) -> None:
    # Given a snapshot of this stage whose retention ended yesterday, and one of another stage
    ec2 = account.client("ec2")
    volume = ec2.create_volume(AvailabilityZone=f"{REGION}a", Size=8)["VolumeId"]
    yesterday = (clock.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def snapshot(stage: str) -> str:
        tags = [
            {"Key": "fleetpatch:stage", "Value": stage},
            {"Key": "fleetpatch:delete-after", "Value": yesterday},
        ]
        return str(
            ec2.create_snapshot(
                VolumeId=volume, TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags}]
            )["SnapshotId"]
        )

    expired, other = snapshot(STAGE), snapshot("prod")
    # When the daily schedule invokes the function (a Scheduler target without Input: {})
    result = invoke("snapshot_retention", {})
    # Then only this stage's is deleted
    left = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert expired not in left
    assert other in left
    assert (result["stage"], result["deleted"]) == (STAGE, 1)
