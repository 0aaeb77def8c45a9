"""Canary: the botocore and moto internals localcloud.core.iam relies on, checked before we rely on them."""

from __future__ import annotations

import inspect
import json


def test_every_session_gets_the_iam_hooks_through_builtin_handlers() -> None:
    # localcloud.core.iam.enforcer appends its hooks where moto appends its stubber.
    import boto3
    from botocore import handlers

    from localcloud.core.iam import enforcer

    assert ("before-call", enforcer._before_call) in handlers.BUILTIN_HANDLERS
    assert ("before-parameter-build", enforcer._remember_params) in handlers.BUILTIN_HANDLERS
    session = boto3.Session(region_name="eu-central-1")._session
    assert session.get_component("event_emitter") is not None
    assert any(spec[0] == "before-call" for spec in handlers.BUILTIN_HANDLERS), (
        "botocore no longer registers BUILTIN_HANDLERS in new sessions"
    )


def test_a_before_call_response_short_circuits_the_request() -> None:
    # _before_call answers (http, parsed) instead of sending; botocore then raises the error
    # from parsed["Error"]["Code"], and the same request context reaches both events.
    from botocore.client import BaseClient

    source = inspect.getsource(BaseClient._make_api_call)
    assert (
        "emit_until_response(\n            f'before-call.{service_id}.{operation_name}'" in source
    )
    assert "context=request_context" in source
    assert "http, parsed_response = event_response" in source
    emit = inspect.getsource(BaseClient._emit_api_params)
    assert "before-parameter-build" in emit
    assert "context=context" in emit


def test_moto_answers_every_request_through_the_stubber() -> None:
    from moto.core import botocore_stubber

    source = inspect.getsource(botocore_stubber)
    assert "def __call__(\n        self, event_name: str, request: AWSPreparedRequest" in source


def test_the_step_functions_execution_knows_its_role_and_starts_in_start() -> None:
    # localcloud.adapters.stepfunctions wraps Execution.start to run it as the role.
    from moto.stepfunctions.parser.backend import execution

    source = inspect.getsource(execution)  # the module file: unaffected by our patches
    assert "self.role_arn = role_arn" in source
    assert "self.state_machine_arn = state_machine.arn" in source
    assert "    def start(self) -> None:" in source
    assert "self.exec_worker.start()" in source


def test_moto_ships_the_aws_managed_policy_documents_the_template_attaches() -> None:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    policies = json.loads(aws_managed_policies_data)
    statements = policies["AWSXrayWriteOnlyAccess"]["Document"]["Statement"]
    assert any("xray:PutTraceSegments" in s["Action"] for s in statements)


def test_iam_reads_a_group_as_describe_auto_scaling_groups_answers_it() -> None:
    # localcloud.core.iam.lookups.group reads moto's backend (autoscaling_groups, .arn,
    # .tags) instead of DescribeAutoScalingGroups, whose answer lists every instance.
    from localcloud.cloud import LocalCloud

    with LocalCloud() as cloud:
        autoscaling = cloud.client("autoscaling")
        autoscaling.create_launch_configuration(
            LaunchConfigurationName="lc", ImageId="ami-04681a1dbd79675a5", InstanceType="t3.micro"
        )
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName="web",
            LaunchConfigurationName="lc",
            MinSize=0,
            MaxSize=2,
            DesiredCapacity=1,
            AvailabilityZones=["eu-central-1a"],
            Tags=[{"Key": "Environment", "Value": "test", "PropagateAtLaunch": True}],
        )
        autoscaling.create_or_update_tags(
            Tags=[
                {
                    "ResourceId": "web",
                    "ResourceType": "auto-scaling-group",
                    "Key": "team",
                    "Value": "ops",
                    "PropagateAtLaunch": False,
                }
            ]
        )
        described = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
        group = described["AutoScalingGroups"][0]
        assert cloud.iam.group("web") == (
            group["AutoScalingGroupARN"],
            {t["Key"]: t["Value"] for t in group["Tags"]},
        )
        assert cloud.iam.group("web")[1] == {"Environment": "test", "team": "ops"}
        arn, tags = cloud.iam.group("missing")
        assert arn.endswith(":autoScalingGroupName/missing")
        assert tags == {}
