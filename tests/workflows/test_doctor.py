"""`fleetpatch doctor` on a deployed stage: what an operator missed after `sam deploy`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from fleetpatch_cli import doctor_cmd
from fleetpatch_cli.main import build_parser
from localcloud.sim.instances import Behaviour

from .conftest import GROUP, PATCH_GROUP, Deployed

POLICY = Path(__file__).resolve().parents[2] / "policy" / "fleet.yaml"


def doctor(deployed: Deployed, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    args: argparse.Namespace = build_parser().parse_args(
        ["doctor", "--stack-name", deployed.stack.name, "--policy", str(POLICY), "--json"]
    )
    code = doctor_cmd.run(args, clients=deployed.cloud.client)
    return code, json.loads(capsys.readouterr().out)


def about(report: dict[str, Any], check: str, subject: str) -> dict[str, Any]:
    [finding] = [f for f in report["findings"] if f["check"] == check and f["subject"] == subject]
    return finding


def test_doctor_names_each_missing_step_and_how_to_fix_it(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a fresh stage: one of the policy's two groups exists, with a good hook
    deployed.auto_scaling_group(heartbeat_timeout=1800)
    code, report = doctor(deployed, capsys)
    assert code == 1
    assert about(report, "hook", GROUP)["status"] == "ok"
    assert about(report, "hook", "web-prod")["status"] == "warn"  # named, not there
    slack = about(report, "slack", deployed.stack.outputs["SlackWebhookSecret"])
    assert slack["status"] == "fail"
    assert slack["fix"].startswith("aws secretsmanager create-secret --name fleetpatch/")
    assert about(report, "policy", str(POLICY))["status"] == "ok"
    # every dead-letter queue of the stack is looked at (each has an output)
    queues = [r for r in deployed.stack.resources.values() if r.resource_type == "AWS::SQS::Queue"]
    assert about(report, "dead-letters", f"{len(queues)} queues")["status"] == "ok"

    # When the secret is created, nothing is left to fix
    deployed.cloud.client("secretsmanager").create_secret(
        Name=deployed.stack.outputs["SlackWebhookSecret"], SecretString="https://hooks.example"
    )
    code, report = doctor(deployed, capsys)
    assert code == 0
    assert report["ok"] is True


def test_doctor_finds_a_short_hook_conflicting_tags_and_dead_letters(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    deployed.cloud.client("secretsmanager").create_secret(
        Name=deployed.stack.outputs["SlackWebhookSecret"], SecretString="https://hooks.example"
    )
    # a hook that times out before the policy's 600 s heartbeat
    deployed.auto_scaling_group(heartbeat_timeout=300)
    # an instance with two patch groups
    [instance] = deployed.scale_out(Behaviour())
    deployed.cloud.advance(120)  # the agent registers
    deployed.cloud.client("ec2").create_tags(
        Resources=[instance], Tags=[{"Key": "PatchGroup", "Value": "patch_prod_0600_batch_1"}]
    )
    # a failed event parked in a dead-letter queue
    deployed.cloud.client("sqs").send_message(
        QueueUrl=deployed.stack.outputs["PatchOnLaunchFunctionDeadLetterQueueUrl"],
        MessageBody="{}",
    )
    code, report = doctor(deployed, capsys)
    assert code == 1
    hook = about(report, "hook", GROUP)
    assert hook["status"] == "fail"
    assert "HeartbeatTimeout 300 s" in hook["detail"]
    assert "--heartbeat-timeout 900" in hook["fix"]
    tags = about(report, "tags", instance)
    assert tags["status"] == "fail"
    assert PATCH_GROUP in tags["detail"]
    dead = about(report, "dead-letters", "PatchOnLaunchFunctionDeadLetterQueue")
    assert dead["status"] == "fail"
    assert dead["detail"].startswith("1 message(s)")


def test_doctor_without_the_stack_says_so_in_one_line(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["doctor", "--stage", "nope"])
    assert doctor_cmd.run(args, clients=deployed.cloud.client) == 2
    captured = capsys.readouterr()
    assert captured.err == "fleetpatch doctor: no stack fleetpatch-nope: is it deployed here?\n"
    assert captured.out == ""


def _profile(deployed: Deployed, name: str, statements: list[dict[str, Any]]) -> str:
    iam = deployed.cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ec2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps(trust))
    if statements:
        iam.put_role_policy(
            RoleName=f"{name}-role",
            PolicyName="output",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
        )
    arn = iam.create_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=f"{name}-role")
    return str(arn)


def test_doctor_asks_iam_whether_each_instance_profile_may_write_command_output(
    deployed: Deployed, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given two instances in a patch group: one profile may write the command output, one
    # may only read it, and one that may write is denied by its own explicit Deny
    bucket = deployed.stack.outputs["ArtifactsBucketName"]
    output = f"arn:aws:s3:::{bucket}/command-output/*"
    profiles = {
        "writer": _profile(
            deployed, "writer", [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": output}]
        ),
        "reader": _profile(
            deployed, "reader", [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": output}]
        ),
        "denied": _profile(
            deployed,
            "denied",
            [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": output},
            ],
        ),
    }
    ec2 = deployed.cloud.client("ec2")
    assert deployed.cloud.fleet is not None
    image = deployed.cloud.fleet.image_id("AMAZON_LINUX_2023")
    for name, arn in profiles.items():
        ec2.run_instances(
            ImageId=image,
            MinCount=1,
            MaxCount=1,
            IamInstanceProfile={"Arn": arn},
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Patch Group", "Value": PATCH_GROUP},
                        {"Key": "Name", "Value": name},
                    ],
                }
            ],
        )
    # When the doctor looks
    _, report = doctor(deployed, capsys)
    # Then IAM's answer for each profile is reported, never "could not check"
    assert about(report, "profile", "writer")["status"] == "ok"
    for name in ("reader", "denied"):
        finding = about(report, "profile", name)
        assert finding["status"] == "warn", finding
        assert finding["detail"].startswith("may not write command output"), finding
