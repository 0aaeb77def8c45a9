"""The local deploy: a SAM template using every supported type, checked through the AWS APIs.

One deploy per module (about a second): the tests read the deployed stack; the two that
put events or start executions only add to it. The template and its app are in
:mod:`tests.unit.localcloud.every_type_app`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deployer.registry import RECORDED_ONLY_TYPES, SUPPORTED_TYPES
from localcloud.deployer.stack import Stack
from localcloud.intrinsics import TemplateError
from tests.unit.localcloud.every_type_app import deployed_app


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalCloud, Stack]]:
    with deployed_app(tmp_path_factory.mktemp("app")) as running:
        yield running


@pytest.fixture
def cloud(deployed: tuple[LocalCloud, Stack]) -> LocalCloud:
    return deployed[0]


@pytest.fixture
def stack(deployed: tuple[LocalCloud, Stack]) -> Stack:
    return deployed[1]


def test_every_supported_type_is_deployed(stack: Stack) -> None:
    deployed_types = {resource.resource_type for resource in stack.resources.values()}
    assert deployed_types == set(SUPPORTED_TYPES) | set(RECORDED_ONLY_TYPES)


def test_a_nested_stack_is_deployed_with_its_parameters_and_outputs(
    cloud: LocalCloud, stack: Stack
) -> None:
    child = stack.nested("Policy")
    # CloudFormation hands nested stacks their parameters as strings
    assert child.parameters == {"Stage": "dev", "Days": "3"}
    baseline_id = child.physical_id("Baseline")
    ssm = cloud.client("ssm")
    baseline = ssm.get_patch_baseline(BaselineId=baseline_id)
    assert baseline["Name"] == "nested-dev"
    assert baseline["ApprovalRules"]["PatchRules"][0]["ApproveAfterDays"] == 3
    # the parent reads the child's output through Fn::GetAtt Policy.Outputs.Launch
    consumer = ssm.get_parameter(Name=stack.physical_id("PolicyConsumer"))["Parameter"]
    assert json.loads(consumer["Value"]) == {"stage": "dev", "baseline": baseline_id}


def test_resources_whose_condition_is_false_are_not_created(stack: Stack) -> None:
    assert "ProdOnlyQueue" not in stack.resources
    assert "ProdQueue" not in stack.outputs
    assert "EchoLogs" in stack.resources  # KeepLogs: RetentionDays is 30


def test_names_are_generated_as_cloudformation_does(stack: Stack) -> None:
    name = stack.function_name("EchoFunction")
    assert name.startswith("fleetpatch-local-EchoFunction-")
    assert len(name.rsplit("-", 1)[1]) == 12
    assert stack.physical_id("ReportsBucket").startswith("fleetpatch-local-reportsbucket-")


def test_bucket_is_encrypted_versioned_private_and_expires_reports(
    cloud: LocalCloud, stack: Stack
) -> None:
    s3 = cloud.client("s3")
    bucket = stack.physical_id("ReportsBucket")
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": stack.arn("DataKey"),
    }
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    [lifecycle] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert lifecycle["Expiration"] == {"Days": 30}
    assert lifecycle["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    # The whole policy is stored, its TLS-only statement too: the IAM enforcer evaluates its
    # condition (moto's own check, which ignores conditions, is neutral).
    [statement] = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Resource"][1] == f"arn:aws:s3:::{bucket}/*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    s3.put_object(Bucket=bucket, Key="reports/r.json", Body=b"{}")
    assert stack.resource("ReportsBucket").recorded == {
        "NotificationConfiguration": {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    }


def test_table_has_keys_index_encryption_stream_ttl_and_pitr(
    cloud: LocalCloud, stack: Stack
) -> None:
    dynamodb = cloud.client("dynamodb")
    name = stack.physical_id("StateTable")
    table = dynamodb.describe_table(TableName=name)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["by-status"]
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert stack.get_att("StateTable", "StreamArn") == table["LatestStreamArn"]
    assert dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires",
    }
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_function_has_its_configuration_and_is_registered_with_the_runtime(
    cloud: LocalCloud, stack: Stack
) -> None:
    name = stack.function_name("EchoFunction")
    config = cloud.client("lambda").get_function_configuration(FunctionName=name)
    environment = config["Environment"]["Variables"]
    assert environment == {
        "STAGE": "dev",
        "LOG_LEVEL": "DEBUG",
        "GREETING": "hello from eu-central-1",
        "TABLE_NAME": stack.physical_id("StateTable"),
        "TOPIC_ARN": stack.physical_id("ReportsTopic"),
        "KEY_ID": stack.physical_id("DataKey"),
        "TABLE_STREAM": stack.get_att("StateTable", "StreamArn"),
    }
    assert (config["Runtime"], config["Timeout"], config["MemorySize"]) == ("python3.13", 20, 256)
    assert config["Role"] == stack.arn("EchoFunctionRole")
    assert [layer["Arn"] for layer in config["Layers"]] == [stack.physical_id("DomainLayer")]
    spec = cloud.lambdas.functions[name]
    assert spec.code_dir == stack.resource("EchoFunction").local_path
    assert (spec.code_dir / "app.py").is_file()
    assert spec.environment == environment
    assert spec.timeout_seconds == 20
    assert spec.dead_letter_arn == stack.arn("LaunchDeadLetters")
    assert spec.on_failure_arn == stack.arn("LaunchDeadLetters")
    assert spec.maximum_retry_attempts == 1


def test_sam_event_rule_has_pattern_target_retry_policy_and_dlq(
    cloud: LocalCloud, stack: Stack
) -> None:
    events = cloud.client("events")
    rule = stack.physical_id("EchoFunctionInstanceRunning")
    assert json.loads(events.describe_rule(Name=rule)["EventPattern"]) == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running"]},
    }
    [target] = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert target["Arn"] == stack.arn("EchoFunction")
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"]["Arn"] == stack.arn("EchoFunctionInstanceRunningQueue")


def test_queue_policy_lets_only_its_rule_send_to_the_dlq(cloud: LocalCloud, stack: Stack) -> None:
    attributes = cloud.client("sqs").get_queue_attributes(
        QueueUrl=stack.queue_url("EchoFunctionInstanceRunningQueue"), AttributeNames=["Policy"]
    )["Attributes"]
    [statement] = json.loads(attributes["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == stack.arn(
        "EchoFunctionInstanceRunning"
    )


def test_an_event_on_the_bus_reaches_the_deployed_function(cloud: LocalCloud, stack: Stack) -> None:
    # Given the deployed stack; When EC2 reports an instance running
    before = len(cloud.lambdas.invocations)
    cloud.emit(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        {"instance-id": "i-0123456789abcdef0", "state": "running"},
    )
    cloud.settle()
    # Then the function ran once, with the environment the template gave it
    [invocation] = cloud.lambdas.invocations[before:]
    assert invocation.function_name == stack.function_name("EchoFunction")
    assert invocation.error_type is None
    assert invocation.result["greeting"] == "hello from eu-central-1"
    assert invocation.result["event"]["detail"]["instance-id"] == "i-0123456789abcdef0"


def test_state_machine_runs_its_substituted_definition(cloud: LocalCloud, stack: Stack) -> None:
    # Given the workflow, its YAML definition substituted with the function and topic
    sfn = cloud.client("stepfunctions")
    machine = sfn.describe_state_machine(stateMachineArn=stack.state_machine_arn("Workflow"))
    definition = json.loads(machine["definition"])
    assert definition["States"]["Echo"]["Arguments"]["FunctionName"] == stack.arn("EchoFunction")
    assert machine["roleArn"] == stack.arn("WorkflowRole")
    assert machine["loggingConfiguration"]["destinations"] == [
        {"cloudWatchLogsLogGroup": {"logGroupArn": stack.arn("WorkflowLogs")}}
    ]
    assert machine["tracingConfiguration"] == {"enabled": True}
    # When an instance stops (the rule passes the event's detail)
    cloud.emit(
        "aws.ec2",
        "EC2 Instance State-change Notification",
        {"instance-id": "i-0fedcba9876543210", "state": "stopped"},
    )
    cloud.settle()
    # Then it ran the function and published the report to the subscribed queue
    [execution] = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    assert execution["status"] == "SUCCEEDED"
    sqs = cloud.client("sqs")
    [message] = sqs.receive_message(QueueUrl=stack.queue_url("ReportsInbox"))["Messages"]
    assert json.loads(message["Body"]) == {"instance-id": "i-0fedcba9876543210", "state": "stopped"}


def test_inline_definition_is_substituted_and_encrypted(cloud: LocalCloud, stack: Stack) -> None:
    machine = cloud.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.state_machine_arn("AuditMachine")
    )
    definition = json.loads(machine["definition"])
    assert definition["States"]["Notify"]["Result"] == {"topic": stack.physical_id("ReportsTopic")}
    assert machine["type"] == "EXPRESS"
    assert machine["encryptionConfiguration"] == {
        "type": "CUSTOMER_MANAGED_KMS_KEY",
        "kmsKeyId": stack.arn("DataKey"),
        "kmsDataKeyReusePeriodSeconds": 300,
    }
    assert stack.resource("AuditMachine").local_path is None
    workflow_file = stack.resource("Workflow").local_path
    assert workflow_file is not None
    assert workflow_file.name == "workflow.asl.yaml"


def test_roles_have_inline_and_account_policies_and_record_aws_managed_ones(
    cloud: LocalCloud, stack: Stack
) -> None:
    iam = cloud.client("iam")
    role = stack.physical_id("WorkflowRole")
    assert sorted(iam.list_role_policies(RoleName=role)["PolicyNames"]) == ["invoke", "logs"]
    attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [stack.physical_id("WorkflowPolicy")]
    assert stack.resource("WorkflowRole").recorded == {
        "ManagedPolicyArns": ["arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"]
    }
    function_role = stack.physical_id("EchoFunctionRole")
    policies = iam.list_role_policies(RoleName=function_role)["PolicyNames"]
    assert len(policies) == 4  # two policy templates, the DLQ and the on-failure destination


def test_kms_sns_logs_secret_and_alarm(cloud: LocalCloud, stack: Stack) -> None:
    kms = cloud.client("kms")
    key_id = stack.physical_id("DataKey")
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    aliases = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/fleetpatch-dev"]
    topic = cloud.client("sns").get_topic_attributes(TopicArn=stack.physical_id("ReportsTopic"))
    assert topic["Attributes"]["KmsMasterKeyId"] == "alias/aws/sns"
    assert json.loads(topic["Attributes"]["Policy"])["Statement"][0]["Action"] == "sns:Publish"
    [group] = cloud.client("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/lambda/{stack.function_name('EchoFunction')}"
    )["logGroups"]
    assert group["retentionInDays"] == 30
    secret = cloud.client("secretsmanager").get_secret_value(
        SecretId=stack.physical_id("WebhookSecret")
    )
    document = json.loads(secret["SecretString"])
    assert document["url"] == "https://hooks.example.com"
    assert len(document["token"]) == 24
    [alarm] = cloud.client("cloudwatch").describe_alarms(
        AlarmNames=[stack.physical_id("EchoErrors")]
    )["MetricAlarms"]
    assert alarm["Dimensions"] == [
        {"Name": "FunctionName", "Value": stack.function_name("EchoFunction")}
    ]
    assert alarm["AlarmActions"] == [stack.physical_id("ReportsTopic")]
    body = cloud.client("cloudwatch").get_dashboard(DashboardName=stack.physical_id("Overview"))[
        "DashboardBody"
    ]
    [widget] = json.loads(body)["widgets"]
    assert widget["properties"]["metrics"][0][3] == stack.function_name("EchoFunction")


def test_a_dashboard_body_that_is_not_json_is_refused() -> None:
    from localcloud.deployer.context import Resource
    from localcloud.deployer.resources.logs import dashboard

    bad = Resource(
        "Board",
        "AWS::CloudWatch::Dashboard",
        {"DashboardName": "board", "DashboardBody": "{widgets: []"},
    )
    with pytest.raises(TemplateError, match="DashboardBody is not JSON"):
        dashboard.create(None, bad)  # type: ignore[arg-type]


def test_ssm_parameter_baseline_and_maintenance_window(cloud: LocalCloud, stack: Stack) -> None:
    ssm = cloud.client("ssm")
    assert ssm.get_parameter(Name="/fleetpatch/dev/policy-version")["Parameter"]["Value"] == "7"
    baseline_id = stack.physical_id("LinuxBaseline")
    # Besides the AWS-owned default baselines, which every account lists:
    [baseline] = ssm.describe_patch_baselines(
        Filters=[
            {"Key": "OWNER", "Values": ["Self"]},
            {"Key": "NAME_PREFIX", "Values": ["fleetpatch-dev-linux"]},
        ]
    )["BaselineIdentities"]
    assert (baseline["BaselineId"], baseline["BaselineName"]) == (
        baseline_id,
        "fleetpatch-dev-linux",
    )
    for group in ("web", "db"):
        registered = ssm.get_patch_baseline_for_patch_group(
            PatchGroup=group, OperatingSystem="AMAZON_LINUX_2"
        )
        assert registered["BaselineId"] == baseline_id
    assert stack.resource("LinuxBaseline").recorded == {
        "Tags": [{"Key": "app", "Value": "fleetpatch"}]
    }
    window_id = stack.physical_id("Window")
    window = ssm.get_maintenance_window(WindowId=window_id)
    assert (window["Schedule"], window["Duration"], window["Cutoff"]) == (
        "cron(0 2 ? * SUN *)",
        3,
        1,
    )
    [target] = ssm.describe_maintenance_window_targets(WindowId=window_id)["Targets"]
    assert target["Targets"] == [{"Key": "tag:Patch Group", "Values": ["web"]}]
    [task] = ssm.describe_maintenance_window_tasks(WindowId=window_id)["Tasks"]
    assert task["TaskArn"] == "AWS-RunPatchBaseline"
    assert task["Targets"] == [{"Key": "WindowTargetIds", "Values": [target["WindowTargetId"]]}]
    assert task["LoggingInfo"] == {
        "S3BucketName": stack.physical_id("ReportsBucket"),
        "S3KeyPrefix": "windows",
        "S3Region": "eu-central-1",
    }


def test_a_command_document_is_created_under_a_generated_name(
    cloud: LocalCloud, stack: Stack
) -> None:
    name = stack.physical_id("HealthCheck")
    assert "-HealthCheck-" in name  # <stack>-<LogicalId>-<suffix>, as CloudFormation names it
    document = cloud.client("ssm").get_document(Name=name)
    assert document["DocumentType"] == "Command"
    assert json.loads(document["Content"])["mainSteps"][0]["name"] == "CheckHealth"


def test_a_schedule_is_created_in_scheduler(cloud: LocalCloud, stack: Stack) -> None:
    schedule = stack.resource("NightlyScan")
    created = cloud.client("scheduler").get_schedule(Name=schedule.physical_id)
    assert created["ScheduleExpression"] == "cron(0 1 * * ? *)"
    assert created["Target"]["Arn"] == stack.state_machine_arn("Workflow")
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert stack.get_att("NightlyScan", "Arn") == created["Arn"]
    assert created["Arn"].endswith(f":schedule/default/{schedule.physical_id}")


def test_a_lambda_permission_is_a_statement_of_the_functions_policy(
    cloud: LocalCloud, stack: Stack
) -> None:
    [permission] = stack.of_type("AWS::Lambda::Permission")
    policy = json.loads(
        cloud.client("lambda").get_policy(FunctionName=stack.function_name("EchoFunction"))[
            "Policy"
        ]
    )
    [statement] = [s for s in policy["Statement"] if s["Sid"] == permission.physical_id]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == stack.arn(
        "EchoFunctionInstanceRunning"
    )


def test_outputs_parameters_and_exports(stack: Stack) -> None:
    assert stack.output("ReportsTopicArn") == stack.physical_id("ReportsTopic")
    assert stack.output("WorkflowArn") == stack.state_machine_arn("Workflow")
    assert stack.output("Bucket") == f"s3://{stack.physical_id('ReportsBucket')}/reports"
    assert stack.exports == {"fleetpatch-local-reports": stack.physical_id("ReportsTopic")}
    assert stack.parameters == {
        "Stage": "dev",
        "RetentionDays": "30",
        "PatchGroups": ["web", "db"],
        "ApprovalDays": "7",
    }
    assert stack.stack_id.startswith(
        "arn:aws:cloudformation:eu-central-1:123456789012:stack/fleetpatch-local/"
    )
    assert "AWS::Serverless::Function" not in json.dumps(stack.template)


def test_helpers_name_what_is_missing(stack: Stack) -> None:
    with pytest.raises(KeyError, match="has no resource Nope"):
        stack.physical_id("Nope")
    with pytest.raises(TypeError, match="is a AWS::SQS::Queue"):
        stack.function_name("ReportsInbox")
    with pytest.raises(KeyError, match="has no output Nope"):
        stack.output("Nope")


def test_the_deployed_stacks_are_visible_to_cloudformation(cloud: LocalCloud, stack: Stack) -> None:
    cfn = cloud.client("cloudformation")
    [described] = cfn.describe_stacks(StackName=stack.name)["Stacks"]
    assert described["StackStatus"] == "CREATE_COMPLETE"
    assert described["StackId"] == stack.stack_id
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
    assert outputs == {
        key: value if isinstance(value, str) else json.dumps(value)
        for key, value in stack.outputs.items()
    }
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
    # as CloudFormation returns them: strings, a CommaDelimitedList joined with commas
    assert parameters == {
        key: ",".join(value) if isinstance(value, list) else str(value)
        for key, value in stack.parameters.items()
    }
    # and the nested stack, by its own name
    names = {s["StackName"] for s in cfn.describe_stacks()["Stacks"]}
    assert {stack.name, stack.nested("Policy").name} <= names


def test_an_event_bus_gets_its_policy_statement(cloud: LocalCloud, stack: Stack) -> None:
    # issue 22: AWS::Events::EventBusPolicy adds its statement (Sid = StatementId)
    bus = cloud.client("events").describe_event_bus(Name=stack.physical_id("CentralBus"))
    assert bus["Arn"] == stack.resources["CentralBus"].attributes["Arn"]
    [statement] = json.loads(bus["Policy"])["Statement"]
    assert statement["Sid"] == "AllowOrganization"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
