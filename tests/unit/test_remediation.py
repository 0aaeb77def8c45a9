"""Remediation of drift: what the policy allows when, and when an instance must be left alone."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest
import yaml
from moto import mock_aws

from fleetpatch.contracts.names import remediation_run_name
from fleetpatch.launch import LaunchPolicy
from fleetpatch.policy import CompiledPolicy
from fleetpatch.remediation import (
    RemediationPlan,
    blocked,
    environment_waves,
    next_window,
    open_window,
    plan,
    remediate,
)
from fleetpatch_authoring.validate import validate_policy

REGION = "eu-central-1"
POLICY = Path(__file__).parents[2] / "policy" / "fleet.yaml"
ZURICH = ZoneInfo("Europe/Zurich")
INSTANCE = "i-0a1b2c3d4e5f60718"


@pytest.fixture(scope="module")
def fleet_runtime() -> dict[str, Any]:
    """policy/fleet.yaml as the control plane reads it (test installs, prod scans)."""
    return validate_policy(yaml.safe_load(POLICY.read_text())).runtime().model_dump(by_alias=True)


@pytest.fixture
def runtime(fleet_runtime: dict[str, Any]) -> dict[str, Any]:
    """The fleet's policy with one wave per environment (without test's web-tier wave)."""
    found = copy.deepcopy(fleet_runtime)
    del found["waves"]["web"]
    return found


def test_the_web_tier_wave_opens_a_second_window_for_test(fleet_runtime: dict[str, Any]) -> None:
    # policy/fleet.yaml as it is: test's web tier has a wave of its own at 08:00, so test
    # installs in either window, and the later one is open after the first has closed.
    policy = compiled(copy.deepcopy(fleet_runtime))
    assert environment_waves(policy, "test") == ["test", "web"]
    assert environment_waves(policy, "prod") == ["prod"]
    found = open_window(policy, "test", zurich(2026, 12, 5, 11, 0))
    assert found is not None
    assert found[:2] == ("web", zurich(2026, 12, 5, 8, 0))
    assert open_window(policy, "test", zurich(2026, 12, 5, 12, 0)) is None


def compiled(runtime: dict[str, Any]) -> CompiledPolicy:
    """The policy as the handlers load it from its parameter (the tests change its JSON form)."""
    return CompiledPolicy.model_validate(runtime)


def zurich(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZURICH)


# The test wave: first Saturday of the month, 06:00 in Zurich, a four-hour window.
DECEMBER_WINDOW = zurich(2026, 12, 5, 6, 0)


def test_the_policy_is_what_these_tests_assume(runtime: dict[str, Any]) -> None:
    assert runtime["compliance"]["remediation"] == {"test": "install", "prod": "scan"}
    assert runtime["waves"]["test"]["schedule"]["cron"] == "cron(0 6 ? * SAT#1 *)"
    assert runtime["waves"]["test"]["windowHours"] == 4
    assert environment_waves(compiled(runtime), "test") == ["test"]
    assert environment_waves(compiled(runtime), "prod") == ["prod"]
    assert environment_waves(compiled(runtime), "qa") == []


# --- plan ---------------------------------------------------------------------------------------


def test_no_environment_no_remediation(runtime: dict[str, Any]) -> None:
    assert plan(compiled(runtime), None, DECEMBER_WINDOW) is None


def test_an_environment_the_policy_does_not_name_is_never_remediated(
    runtime: dict[str, Any],
) -> None:
    assert plan(compiled(runtime), "qa", DECEMBER_WINDOW) is None


def test_never_records_and_notifies_only(runtime: dict[str, Any]) -> None:
    runtime["compliance"]["remediation"]["prod"] = "never"
    assert plan(compiled(runtime), "prod", DECEMBER_WINDOW) is None


def test_scan_remediates_by_scanning_at_any_time(runtime: dict[str, Any]) -> None:
    expected = RemediationPlan("Scan", "prod remediates by scanning")
    assert (
        plan(compiled(runtime), "prod", zurich(2026, 12, 19, 7, 0)) == expected
    )  # in prod's window
    assert plan(compiled(runtime), "prod", zurich(2026, 12, 1, 12, 0)) == expected


@pytest.mark.parametrize(
    "now",
    [
        DECEMBER_WINDOW,
        zurich(2026, 12, 5, 7, 30),
        zurich(2026, 12, 5, 9, 59),
        datetime(2026, 12, 5, 6, 30, tzinfo=UTC),  # 07:30 in Zurich
    ],
    ids=["opening", "inside", "last-minute", "utc"],
)
def test_install_inside_the_window_names_the_wave(runtime: dict[str, Any], now: datetime) -> None:
    assert plan(compiled(runtime), "test", now) == RemediationPlan(
        "Install", "inside the test window, open until 2026-12-05 10:00 CET"
    )


@pytest.mark.parametrize(
    ("now", "next_run"),
    [
        (zurich(2026, 12, 5, 10, 0), "2027-01-02 06:00 CET"),  # the window has closed
        (zurich(2026, 12, 5, 5, 59), "2026-12-05 06:00 CET"),  # not yet open
        (zurich(2026, 12, 10, 12, 0), "2027-01-02 06:00 CET"),
        (zurich(2026, 4, 20, 12, 0), "2026-05-02 06:00 CEST"),
    ],
    ids=["closed", "not-yet", "mid-month", "summer"],
)
def test_install_outside_the_window_scans_and_names_the_next_window(
    runtime: dict[str, Any], now: datetime, next_run: str
) -> None:
    assert plan(compiled(runtime), "test", now) == RemediationPlan(
        "Scan", f"outside test's window: scan only; the test window at {next_run} installs"
    )


def test_install_without_a_wave_scans_and_names_no_window(runtime: dict[str, Any]) -> None:
    runtime["compliance"]["remediation"]["qa"] = "install"
    assert plan(compiled(runtime), "qa", DECEMBER_WINDOW) == RemediationPlan(
        "Scan", "outside qa's window: scan only"
    )
    assert next_window(compiled(runtime), "qa", DECEMBER_WINDOW) is None


def test_a_wave_without_a_window_length_has_no_open_window(runtime: dict[str, Any]) -> None:
    runtime["waves"]["test"]["windowHours"] = 0
    assert open_window(compiled(runtime), "test", DECEMBER_WINDOW + timedelta(minutes=1)) is None


# --- windows and daylight saving time -----------------------------------------------------------


def test_the_window_follows_zurich_time_across_the_change_to_summer_time(
    runtime: dict[str, Any],
) -> None:
    # 7 March 2026 (CET, UTC+1) and 4 April 2026 (CEST, UTC+2): both open at 06:00 local.
    march = open_window(compiled(runtime), "test", datetime(2026, 3, 7, 5, 0, tzinfo=UTC))
    assert march == ("test", zurich(2026, 3, 7, 6, 0), zurich(2026, 3, 7, 10, 0))
    assert open_window(compiled(runtime), "test", datetime(2026, 3, 7, 4, 59, tzinfo=UTC)) is None
    april = open_window(compiled(runtime), "test", datetime(2026, 4, 4, 4, 0, tzinfo=UTC))
    assert april == ("test", zurich(2026, 4, 4, 6, 0), zurich(2026, 4, 4, 10, 0))
    assert open_window(compiled(runtime), "test", datetime(2026, 4, 4, 8, 0, tzinfo=UTC)) is None
    assert (
        open_window(compiled(runtime), "test", datetime(2026, 4, 4, 7, 59, tzinfo=UTC)) is not None
    )


def sunday_night(runtime: dict[str, Any]) -> dict[str, Any]:
    """The test wave moved to 01:00 every Sunday: its window spans the clock change."""
    runtime["waves"]["test"]["schedule"]["cron"] = "cron(0 1 ? * SUN *)"
    return runtime


def test_a_window_spanning_the_change_to_summer_time_lasts_its_hours(
    runtime: dict[str, Any],
) -> None:
    # 01:00 CET = 00:00 UTC; four hours later is 04:00 UTC (06:00 CEST).
    found = open_window(
        compiled(sunday_night(runtime)), "test", datetime(2026, 3, 29, 3, 30, tzinfo=UTC)
    )
    assert found is not None
    wave, start, end = found
    assert (wave, start) == ("test", datetime(2026, 3, 29, 0, 0, tzinfo=UTC))
    assert end == datetime(2026, 3, 29, 4, 0, tzinfo=UTC)


def test_a_window_spanning_the_change_to_winter_time_lasts_its_hours(
    runtime: dict[str, Any],
) -> None:
    # 01:00 CEST = 23:00 UTC the day before; four hours later is 03:00 UTC (04:00 CET).
    found = open_window(
        compiled(sunday_night(runtime)), "test", datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
    )
    assert found is not None
    assert found[2] == datetime(2026, 10, 25, 3, 0, tzinfo=UTC)


def test_a_window_spanning_the_change_to_winter_time_closes_on_time(
    runtime: dict[str, Any],
) -> None:
    # 03:00 UTC is four hours after 01:00 CEST: the window is closed from then on.
    found = open_window(
        compiled(sunday_night(runtime)), "test", datetime(2026, 10, 25, 3, 15, tzinfo=UTC)
    )
    assert found is None


def test_next_window_is_the_earliest_of_the_environments_waves(runtime: dict[str, Any]) -> None:
    # A second wave patching test's groups, on the second Saturday.
    runtime["waves"]["test-late"] = copy.deepcopy(runtime["waves"]["test"])
    runtime["waves"]["test-late"]["schedule"]["cron"] = "cron(0 6 ? * SAT#2 *)"
    assert next_window(compiled(runtime), "test", zurich(2026, 12, 6, 0, 0)) == (
        "test-late",
        zurich(2026, 12, 12, 6, 0),
    )
    assert next_window(compiled(runtime), "test", zurich(2026, 12, 1, 0, 0)) == (
        "test",
        DECEMBER_WINDOW,
    )


# --- execution names ----------------------------------------------------------------------------


def test_an_execution_name_is_stable_per_event() -> None:
    name = remediation_run_name(INSTANCE, "7bf73129-1428-4cd3-a780-95db273d1602")
    assert name == remediation_run_name(INSTANCE, "7bf73129-1428-4cd3-a780-95db273d1602")
    assert name.startswith(f"remediate-{INSTANCE}-")
    assert len(name) <= 80
    assert name != remediation_run_name(INSTANCE, "another-event")
    assert name != remediation_run_name(
        "i-0ffffffffffffffff", "7bf73129-1428-4cd3-a780-95db273d1602"
    )


def test_an_execution_name_fits_step_functions_for_any_id() -> None:
    name = remediation_run_name("mi-" + "0" * 200, "e" * 500)
    assert len(name) == 80
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


# --- blocked ------------------------------------------------------------------------------------


@dataclass
class Clients:
    ec2: Any
    autoscaling: Any
    ssm: Any

    def blocked(self, instance_id: str, **fakes: Any) -> str | None:
        clients = {"ec2": self.ec2, "autoscaling": self.autoscaling, "ssm": self.ssm} | fakes
        return blocked(instance_id, **clients)

    def launch(self) -> str:
        response = self.ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
        return str(response["Instances"][0]["InstanceId"])

    def group_member(self, group: str) -> str:
        """A new Auto Scaling group of one InService instance; the instance's id."""
        self.ec2.create_launch_template(
            LaunchTemplateName=group,
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group,
            LaunchTemplate={"LaunchTemplateName": group},
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=1,
            AvailabilityZones=[f"{REGION}a"],
        )
        found = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        [member] = found["AutoScalingGroups"][0]["Instances"]
        return str(member["InstanceId"])


@pytest.fixture(scope="module")
def aws() -> Iterator[Clients]:
    """One moto account for the module (each test launches its own instances): moto's EC2
    is slow to start and to reset."""
    with mock_aws():
        yield Clients(
            boto3.client("ec2", region_name=REGION),
            boto3.client("autoscaling", region_name=REGION),
            boto3.client("ssm", region_name=REGION),
        )


class FakeAutoScaling:
    def __init__(self, state: str) -> None:
        self.state = state

    def describe_auto_scaling_instances(self, InstanceIds: list[str]) -> dict[str, Any]:
        return {
            "AutoScalingInstances": [
                {
                    "InstanceId": i,
                    "AutoScalingGroupName": "web-prod",
                    "LifecycleState": self.state,
                }
                for i in InstanceIds
            ]
        }


class FakeSsm:
    def __init__(self, commands: list[dict[str, Any]]) -> None:
        self.commands = commands
        self.asked: list[dict[str, Any]] = []

    def list_commands(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        return {"Commands": self.commands}


def test_a_free_running_instance_may_be_remediated(aws: Clients) -> None:
    instance_id = aws.launch()
    # A finished patch command on it is no obstacle.
    aws.ssm.send_command(
        DocumentName="AWS-RunPatchBaseline",
        InstanceIds=[instance_id],
        Parameters={"Operation": ["Scan"]},
    )
    assert aws.blocked(instance_id) is None


def test_a_stopped_instance_is_left_alone(aws: Clients) -> None:
    instance_id = aws.launch()
    aws.ec2.stop_instances(InstanceIds=[instance_id])
    assert aws.blocked(instance_id) == "it is stopped"


def test_an_excepted_instance_is_not_remediated_until_its_exception_expires(
    aws: Clients,
) -> None:
    # Given a running instance whose fleetpatch:skip exception runs through 2026-12-31
    instance_id = aws.launch()
    value = "until=2026-12-31; reason=vendor freeze INC-123"
    aws.ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "fleetpatch:skip", "Value": value}])
    last_day = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)
    # Then on its last day (UTC) drift is recorded but not remediated, and from the next
    # day on it is remediated as usual
    assert aws.blocked(instance_id, now=last_day) == (
        "excepted until 2026-12-31: vendor freeze INC-123: drift recorded, not remediated"
    )
    assert aws.blocked(instance_id, now=last_day + timedelta(hours=1)) is None


def test_an_invalid_exception_does_not_stop_a_remediation(aws: Clients) -> None:
    instance_id = aws.launch()
    value = "until=someday; reason=vendor freeze"
    aws.ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "fleetpatch:skip", "Value": value}])
    assert aws.blocked(instance_id, now=datetime(2026, 1, 1, tzinfo=UTC)) is None


def test_an_instance_that_does_not_exist_is_left_alone(aws: Clients) -> None:
    assert aws.blocked("i-0123456789abcdef0") == (
        "it is not an EC2 instance of this account (or no longer exists)"
    )


def test_an_instance_in_standby_is_left_to_the_launch_workflow(aws: Clients) -> None:
    instance_id = aws.group_member("web-prod")
    assert aws.blocked(instance_id) is None  # InService
    aws.autoscaling.enter_standby(
        InstanceIds=[instance_id],
        AutoScalingGroupName="web-prod",
        ShouldDecrementDesiredCapacity=True,
    )
    assert aws.blocked(instance_id) == (
        "it is Standby in Auto Scaling group web-prod: the launch workflow patches it"
    )


@pytest.mark.parametrize("state", ["Pending:Wait", "Warmed:Pending:Wait"])
def test_an_instance_held_by_a_launch_hook_is_left_to_the_launch_workflow(
    aws: Clients, state: str
) -> None:
    instance_id = aws.launch()
    assert aws.blocked(instance_id, autoscaling=FakeAutoScaling(state)) == (
        f"it is {state} in Auto Scaling group web-prod: the launch workflow patches it"
    )


@pytest.mark.parametrize("status", ["Pending", "InProgress", "Delayed", "Cancelling"])
def test_a_running_patch_command_blocks_a_second_one(aws: Clients, status: str) -> None:
    instance_id = aws.launch()
    ssm = FakeSsm(
        [
            {"CommandId": "cmd-other", "DocumentName": "AWS-RunShellScript", "Status": status},
            {"CommandId": "cmd-done", "DocumentName": "AWS-RunPatchBaseline", "Status": "Success"},
            {"CommandId": "cmd-busy", "DocumentName": "AWS-RunPatchBaseline", "Status": status},
        ]
    )
    assert aws.blocked(instance_id, ssm=ssm) == f"patch command cmd-busy is still {status} on it"
    assert ssm.asked == [{"InstanceId": instance_id, "MaxResults": 50}]


def test_other_documents_running_do_not_block(aws: Clients) -> None:
    instance_id = aws.launch()
    ssm = FakeSsm(
        [{"CommandId": "cmd-1", "DocumentName": "AWS-RunShellScript", "Status": "InProgress"}]
    )
    assert aws.blocked(instance_id, ssm=ssm) is None


# --- remediate ----------------------------------------------------------------------------------


def test_drift_starts_one_remediation_run_per_event(aws: Clients, runtime: dict[str, Any]) -> None:
    instance_id = aws.launch()
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="patch-new-instance",
        definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]

    def drift(event_id: str) -> dict[str, Any] | None:
        return remediate(
            compiled(runtime),
            instance_id=instance_id,
            environment="prod",
            event_id=event_id,
            now=zurich(2026, 11, 10, 12, 0),
            state_machine_arn=machine,
            stepfunctions=sfn,
            ec2=aws.ec2,
            autoscaling=aws.autoscaling,
            ssm=aws.ssm,
        )

    name = remediation_run_name(instance_id, "event-1")
    assert drift("event-1") == {
        "execution": name,
        "operation": "Scan",
        "reason": "prod remediates by scanning",
    }
    # EventBridge delivers the same event again: StartExecution with the same name and input
    # is idempotent, so the same run is named and nothing new starts.
    assert drift("event-1")["execution"] == name  # type: ignore[index]
    [started] = sfn.list_executions(stateMachineArn=machine)["executions"]
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert json.loads(described["input"]) == {
        "instanceId": instance_id,
        "trigger": "remediation",
        "operation": "Scan",
        "reason": "prod remediates by scanning",
        # what a launch run gets: the command wait included (the ASL reads it)
        "policy": LaunchPolicy.model_validate(runtime["launch"]).workflow_policy(),
    }
    assert json.loads(described["input"])["policy"]["commandWaitSeconds"] > 3600


def test_drift_of_a_busy_instance_starts_nothing(aws: Clients, runtime: dict[str, Any]) -> None:
    instance_id = aws.launch()
    aws.ec2.stop_instances(InstanceIds=[instance_id])

    class NoStepFunctions:
        def start_execution(self, **_: Any) -> None:
            raise AssertionError("a blocked remediation must not start a run")

    assert remediate(
        compiled(runtime),
        instance_id=instance_id,
        environment="prod",
        event_id="event-2",
        now=zurich(2026, 11, 10, 12, 0),
        state_machine_arn="arn:aws:states:eu-central-1:123456789012:stateMachine:x",
        stepfunctions=NoStepFunctions(),
        ec2=aws.ec2,
        autoscaling=aws.autoscaling,
        ssm=aws.ssm,
    ) == {"execution": None, "operation": "Scan", "skipped": "it is stopped"}
    # An environment that never remediates does not even look at the instance.
    assert (
        remediate(
            compiled(runtime),
            instance_id=instance_id,
            environment="nowhere",
            event_id="event-3",
            now=zurich(2026, 11, 10, 12, 0),
            state_machine_arn="unused",
            stepfunctions=NoStepFunctions(),
            ec2=None,
            autoscaling=None,
            ssm=None,
        )
        is None
    )


def test_an_install_on_an_instance_serving_in_a_serving_batch_is_a_scan(
    aws: Clients, runtime: dict[str, Any]
) -> None:
    # Given the test wave's first batch is a serving batch, and a drifting instance of it
    # that serves (InService in its Auto Scaling group)
    [first] = [b for b in runtime["waves"]["test"]["batches"] if b["name"] == "linux-databases"]
    first["serving"] = {}
    member = aws.group_member("web-test-serving")
    sfn = boto3.client("stepfunctions", region_name=REGION)
    machine = sfn.create_state_machine(
        name="patch-new-instance-serving",
        definition='{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}',
        roleArn="arn:aws:iam::123456789012:role/states",
    )["stateMachineArn"]

    def drift(patch_group: str, event_id: str) -> dict[str, Any] | None:
        return remediate(
            compiled(runtime),
            instance_id=member,
            environment="test",
            event_id=event_id,
            now=DECEMBER_WINDOW + timedelta(hours=1),  # inside the test window: install
            state_machine_arn=machine,
            stepfunctions=sfn,
            ec2=aws.ec2,
            autoscaling=aws.autoscaling,
            ssm=aws.ssm,
            patch_group=patch_group,
            elbv2=boto3.client("elbv2", region_name=REGION),
        )

    # When it drifts inside the window, its install is a scan, saying why
    found = drift("patch_test_0600_batch_1", "event-serving")
    assert found is not None
    assert found["operation"] == "Scan"
    assert "serves traffic in a serving batch" in found["reason"]
    # A member of a batch patched in place is installed as before
    other = drift("patch_test_0600_batch_2", "event-in-place")
    assert other is not None
    assert other["operation"] == "Install"


class FrozenSsm:
    """moto's SSM, with a Change Calendar answering CLOSED (plain moto has no calendars)."""

    def __init__(self, ssm: Any, state: str) -> None:
        self.ssm, self.state, self.asked = ssm, state, []  # type: ignore[var-annotated]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ssm, name)

    def get_calendar_state(self, **request: Any) -> dict[str, Any]:
        self.asked.append(request)
        return {"State": self.state, "AtTime": request["AtTime"]}


@pytest.mark.parametrize("state", ["CLOSED", "OPEN"])
def test_no_remediation_starts_while_the_change_calendar_is_closed(
    aws: Clients, runtime: dict[str, Any], state: str
) -> None:
    # Given a policy with a change freeze and a free running instance
    instance_id = aws.launch()
    policy = compiled({**runtime, "changeFreeze": {"calendars": ["year-end"]}})
    started: list[dict[str, Any]] = []

    class StepFunctions:
        def start_execution(self, **request: Any) -> dict[str, Any]:
            started.append(request)
            return {"executionArn": "arn:x"}

    ssm = FrozenSsm(aws.ssm, state)
    # When drift asks for a remediation
    found = remediate(
        policy,
        instance_id=instance_id,
        environment="prod",
        event_id=f"event-freeze-{state}",
        now=zurich(2026, 11, 10, 12, 0),
        state_machine_arn="arn:aws:states:eu-central-1:123456789012:stateMachine:x",
        stepfunctions=StepFunctions(),
        ec2=aws.ec2,
        autoscaling=aws.autoscaling,
        ssm=ssm,
    )
    # Then during the freeze nothing starts, and the result says why; open, it starts
    assert found is not None
    assert ssm.asked == [{"CalendarNames": ["year-end"], "AtTime": "2026-11-10T11:00:00Z"}]
    if state == "CLOSED":
        assert started == []
        assert found["skipped"] == (
            "not remediated: change freeze: calendar year-end is CLOSED with no end in sight"
        )
    else:
        assert len(started) == 1
        assert "skipped" not in found
