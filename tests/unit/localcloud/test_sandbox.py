"""``local up``'s sandbox: images, a scenario's fleet, Lambda logs, the e-mail inbox, EC2 events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from localcloud.cloud import LocalCloud
from localcloud.deployer.stack import Stack
from localcloud.sandbox import EMAIL_QUEUE, Sandbox
from localcloud.scenario import Scenario
from localcloud.sim.patch_catalogue import OPERATING_SYSTEMS
from tests.unit.localcloud.conftest import deploy_function
from tests.unit.localcloud.test_autoscaling_lifecycle import EventQueue, of_type

HANDLERS = Path(__file__).parent / "handlers"
STATE_CHANGE = "EC2 Instance State-change Notification"


def _stack(outputs: dict[str, str]) -> Stack:
    return Stack("sandbox", "arn:aws:cloudformation:::stack/sandbox/1", {}, {}, outputs=outputs)


def test_images_fleet_and_inbox_are_ready_for_the_cli() -> None:
    with LocalCloud() as cloud:
        topic = cloud.client("sns").create_topic(Name="reports")["TopicArn"]
        scenario = Scenario.model_validate(
            {
                "name": "small",
                "fleet": [{"name": "db", "os": "UBUNTU", "tags": {"Patch Group": "g"}}],
                "auto_scaling_groups": [
                    {"name": "web", "os": "AMAZON_LINUX_2023", "desired_capacity": 1}
                ],
                "steps": [{"note": {"text": "not played"}}],
            }
        )
        # Given the sandbox prepared on a stack with a reports topic and a scenario
        sandbox = Sandbox.prepare(cloud, _stack({"ReportsTopicArn": topic}), scenario)

        # Then every simulated OS has an image registered in EC2, by its id
        assert set(sandbox.images) == set(OPERATING_SYSTEMS)
        images = cloud.client("ec2").describe_images(ImageIds=list(sandbox.images.values()))
        assert len(images["Images"]) == len(OPERATING_SYSTEMS)
        # And the scenario's fleet and group exist, its steps not played
        names = {
            tag["Value"]
            for reservation in cloud.client("ec2").describe_instances()["Reservations"]
            for instance in reservation["Instances"]
            for tag in instance.get("Tags", [])
            if tag["Key"] == "Name"
        }
        assert names == {"db", "web"}
        texts = [entry.text for entry in sandbox.pump()]
        assert any(text.startswith("launched db (UBUNTU, g)") for text in texts)
        assert any("its 1 steps are not played" in text for text in texts)
        assert sandbox.pump() == []  # each entry is streamed once

        # And what is published to the reports topic lands in the e-mail queue
        assert sandbox.email_queue_url is not None
        assert sandbox.email_queue_url.endswith(f"/{EMAIL_QUEUE}")
        cloud.client("sns").publish(TopicArn=topic, Subject="hello", Message="body")
        cloud.settle()
        [message] = cloud.client("sqs").receive_message(QueueUrl=sandbox.email_queue_url)[
            "Messages"
        ]
        assert json.loads(message["Body"])["Subject"] == "hello"


def test_lambda_output_goes_to_the_function_log_group() -> None:
    with LocalCloud() as cloud:
        sandbox = Sandbox.prepare(cloud, _stack({}), None)
        deploy_function(cloud, "echo", HANDLERS / "echo")
        # When the function is invoked and the sandbox pumps
        invoked = cloud.client("lambda").invoke(FunctionName="echo", Payload=b"{}")
        assert invoked["StatusCode"] == 200
        sandbox.pump()
        # Then its log group holds Lambda's lines around what the handler printed
        logs = cloud.client("logs")
        [stream] = logs.describe_log_streams(logGroupName="/aws/lambda/echo")["logStreams"]
        assert "/[$LATEST]" in stream["logStreamName"]
        assert stream["logStreamName"].startswith(cloud.clock.now().strftime("%Y/%m/%d"))
        messages = [
            event["message"]
            for event in logs.get_log_events(
                logGroupName="/aws/lambda/echo", logStreamName=stream["logStreamName"]
            )["events"]
        ]
        assert messages[0].startswith("START RequestId: ")
        assert messages[1] == "echo handler ran"
        assert messages[2].startswith("END RequestId: ")
        assert messages[3].startswith("REPORT RequestId: ")
        assert "\tDuration: " in messages[3]
        assert "\tMemory Size: " in messages[3]


def test_run_instances_from_any_image_emits_pending_and_running() -> None:
    with LocalCloud() as cloud:
        events = EventQueue(cloud, ["aws.ec2"])
        # An image the fleet does not know: no agent, but EC2 still reports the launch.
        image = cloud.client("ec2").register_image(Name="plain")["ImageId"]
        [instance] = cloud.client("ec2").run_instances(ImageId=image, MinCount=1, MaxCount=1)[
            "Instances"
        ]
        cloud.settle()
        states = [
            e["detail"]["state"]
            for e in of_type(events.drain(), STATE_CHANGE)
            if e["detail"]["instance-id"] == instance["InstanceId"]
        ]
        assert states == ["pending", "running"]


def test_windows_open_on_their_schedule() -> None:
    with LocalCloud(start=datetime(2026, 11, 7, 4, 0, tzinfo=UTC)) as cloud:
        ssm = cloud.client("ssm")
        window = ssm.create_maintenance_window(
            Name="saturdays",
            Schedule="cron(0 5 ? * SAT *)",
            Duration=2,
            Cutoff=1,
            AllowUnassociatedTargets=False,
        )["WindowId"]
        sandbox = Sandbox.prepare(cloud, _stack({}), None)
        # Given nothing ran before its time
        cloud.advance(3599)
        assert ssm.describe_maintenance_window_executions(WindowId=window)["WindowExecutions"] == []
        # When the clock passes 05:00, and a week later again
        cloud.advance(7 * 86400 + 60)
        # Then it ran twice, as Systems Manager would have run it
        executions = ssm.describe_maintenance_window_executions(WindowId=window)["WindowExecutions"]
        assert sorted(e["StartTime"].isoformat()[:16] for e in executions) == [
            "2026-11-07T05:00",
            "2026-11-14T05:00",
        ]
        detail = ssm.get_maintenance_window_execution(
            WindowExecutionId=executions[0]["WindowExecutionId"]
        )
        assert detail["Status"] == "SUCCESS"  # no tasks: nothing to fail
        assert any("saturdays opened on its schedule" in e.text for e in sandbox.pump())
