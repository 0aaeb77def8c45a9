"""Canaries: each moto 5.2.5 internal the core extensions patch, checked before we rely on it.

If one fails after a moto upgrade, the extension named in the test must be revisited.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import threading
import time

from localcloud.adapters import stepfunctions as sfn_ext


def test_moto_is_the_pinned_version() -> None:
    assert importlib.metadata.version("moto") == "5.2.5"


def test_lambda_invocations_funnel_through_invoke_lambda() -> None:
    # localcloud.adapters.awslambda replaces it.
    from moto.awslambda import models

    source = inspect.getsource(models)  # the module file: unaffected by our patches
    assert "def _invoke_lambda(self, event: str | None = None) -> tuple[str, bool, str]:" in source
    assert "res, errored, logs = self._invoke_lambda(event=body)" in source


def test_jsonata_is_disabled_in_moto_and_has_our_hook() -> None:
    # localcloud.adapters.stepfunctions sets _eval_jsonata.
    from moto.stepfunctions.parser.asl.jsonata import jsonata

    source = inspect.getsource(jsonata.eval_jsonata_expression)
    assert "_eval_jsonata" in source
    assert hasattr(jsonata, "encode_jsonata_variable_declarations")
    assert hasattr(jsonata, "_eval_jsonata")


def test_interpreter_threads_events_and_sleeps_are_module_level_names() -> None:
    # The simulated clock replaces these module globals; if moto imports them differently,
    # waits would go back to real time.
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
    from moto.stepfunctions.parser.asl.eval import count_down_latch, environment
    from moto.stepfunctions.parser.asl.eval.callback import callback
    from moto.stepfunctions.parser.backend import execution_worker

    sfn_ext._patch_time_and_threads([])  # the patcher itself must still import
    for module, names in [  # names present as module globals (patched or not)
        (retrier_decl, {"time"}),
        (wait_function, {"time"}),
        (execute_state, {"threading", "Thread"}),
        (environment, {"threading"}),
        (count_down_latch, {"threading"}),
        (callback, {"Event"}),
        (execution_worker, {"Thread"}),
    ]:
        present = set(vars(module))
        assert names <= present, (module.__name__, names - present)
    assert "env.program_state_event.wait(wait_seconds)" in inspect.getsource(wait_function)
    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl)
    assert "terminated_event.wait(timeout_seconds)" in inspect.getsource(execute_state)
    assert "self._notify_event.wait(timeout=timeout)" in inspect.getsource(callback)
    assert "self.lock = threading.Condition()" in inspect.getsource(count_down_latch)
    # After install() the interpreter's names point at the clock-aware stand-ins.
    sfn_ext.install()
    assert retrier_decl.time.sleep is not time.sleep
    assert execute_state.Thread is not threading.Thread


def test_start_execution_and_aws_sdk_hooks_exist() -> None:
    from moto.stepfunctions.parser import models
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )

    assert (
        "    def start_execution(\n        self,\n        state_machine_arn: str,\n        name: Name = None,"
        in inspect.getsource(models)
    )
    for name in (
        "_eval_service_task",
        "_normalise_service_error_name",
        "_normalise_exception_name",
    ):
        assert hasattr(StateTaskServiceAwsSdk, name), name


def test_optimized_integration_error_hooks_exist() -> None:
    # localcloud.adapters.stepfunctions renames the errors of the optimized Lambda and
    # DynamoDB integrations through _error_cause_from_client_error (a staticmethod taking
    # the ClientError, returning (error, cause)), and SNS's by rewriting the code that
    # _from_error reads before it appends "Exception".
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb as dynamodb,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda as awslambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sns as sns,
    )

    for module, cls in (
        (dynamodb, dynamodb.StateTaskServiceDynamoDB),
        (awslambda, awslambda.StateTaskServiceLambda),
    ):
        source = inspect.getsource(module)
        assert (
            "    def _error_cause_from_client_error(client_error: ClientError) -> tuple[str, str]:"
            in source
        ), module.__name__
        assert "self._error_cause_from_client_error(ex)" in source, module.__name__
        assert isinstance(
            inspect.getattr_static(cls, "_error_cause_from_client_error"), staticmethod
        )
    source = inspect.getsource(sns)
    assert 'error_code = ex.response["Error"]["Code"]' in source
    assert 'error_name = f"SNS.{exception_name}"' in source
    assert "    def _from_error(self, env: Environment, ex: Exception) -> FailureEvent:" in source


def test_cloudwatch_describe_alarms_and_composite_alarm_points() -> None:
    # localcloud.adapters.cloudwatch filters DescribeAlarms' result by AlarmTypes and
    # routes PutCompositeAlarm to PutMetricAlarm (which reads AlarmRule).
    from moto.cloudwatch import responses

    # The module's source as shipped (install() may already have wrapped the methods).
    source = inspect.getsource(responses)
    assert "    def describe_alarms(self) -> ActionResult:" in source
    assert 'result = {"MetricAlarms": metric_alarms, "CompositeAlarms": composite_alarms}' in source
    assert "        return ActionResult(result)" in source
    assert "    def put_metric_alarm(self) -> ActionResult:" in source
    assert 'rule = self._get_param("AlarmRule")' in source
    # moto still ignores AlarmTypes and lacks PutCompositeAlarm and DescribeAlarmHistory (why
    # the extension exists).
    assert "AlarmTypes" not in source
    assert "def put_composite_alarm" not in source
    assert "def describe_alarm_history" not in source
    assert "self.cloudwatch_backend.put_metric_alarm(\n            name=name," in source


def test_s3_stamps_objects_through_module_level_utcnow() -> None:
    # localcloud.adapters.sim_dates swaps the module's utcnow for the simulated clock.
    from moto.s3 import models

    source = inspect.getsource(models)
    assert "from moto.core.utils import (" in source
    assert "        self.last_modified = utcnow()" in source
    assert "datetime.datetime.utcnow()" not in source


def test_s3_put_object_checks_conditions_in_the_response_before_it_writes() -> None:
    # localcloud.adapters.s3_atomic holds one lock over S3Response.put_object (and
    # get_object): moto must still check If-Match and If-None-Match there (nowhere the
    # lock does not cover), from self.headers, before the backend stores the object.
    from moto.s3.responses import S3Response

    from localcloud.core import motopatch

    method = S3Response.put_object
    source = inspect.getsource(getattr(method, motopatch.ORIGINAL, method))
    assert 'if_match = self.headers.get("If-Match")' in source
    assert 'if_none_match = self.headers.get("If-None-Match")' in source
    assert source.index('raise PreconditionFailed("If-Match")') < source.index(
        "new_key = self.backend.put_object("
    )
    assert source.index('raise PreconditionFailed("If-None-Match")') < source.index(
        "new_key = self.backend.put_object("
    )
    assert "self.put_object()" in inspect.getsource(S3Response._key_response_put)
    # and the body is read (key.value) inside get_object, which the lock covers too
    getter = S3Response.get_object
    read = inspect.getsource(getattr(getter, motopatch.ORIGINAL, getter))
    assert "return 200, response_headers, key.value" in read
    assert "self.get_object()" in inspect.getsource(S3Response._key_response_get)


def test_ssm_stamps_parameters_through_module_level_utcnow() -> None:
    # localcloud.adapters.sim_dates swaps the module's utcnow for the simulated clock.
    from moto.ssm import models

    source = inspect.getsource(models)
    assert "from moto.core.utils import utcnow" in source
    assert "        last_modified_date = utcnow()" in source


def test_logs_accepts_events_around_module_level_utcnow() -> None:
    # localcloud.adapters.sim_dates swaps the module's utcnow for the simulated clock, so
    # PutLogEvents accepts events stamped with simulated time (local up's Lambda logs).
    from moto.logs import models

    source = inspect.getsource(models)
    assert "from moto.core.utils import unix_time_millis, utcnow" in source
    assert "oldest = int(unix_time_millis(utcnow() - timedelta(days=14)))" in source
    assert "newest = int(unix_time_millis(utcnow() + timedelta(hours=2)))" in source


def test_cloudwatch_backend_points_for_composites_and_history() -> None:
    # localcloud.adapters.cloudwatch wraps these backend methods (records each state change,
    # re-evaluates composite rules) and swaps the module's utcnow for the simulated clock.
    from moto.cloudwatch import models

    source = inspect.getsource(models)
    assert "from moto.core.utils import utcnow" in source
    assert "        self.state_updated_timestamp = utcnow()" in source
    assert (
        "    def set_alarm_state(\n"
        "        self, alarm_name: str, reason: str, reason_data: str, state_value: str\n"
        "    ) -> None:" in source
    )
    assert (
        "        self.alarms[alarm_name].update_state(reason, reason_data, state_value)" in source
    )
    assert "    def put_metric_alarm(\n        self,\n        name: str," in source
    assert "        self.alarms[name] = alarm\n" in source
    assert "    def delete_alarms(self, alarm_names: list[str]) -> None:" in source
    assert (
        "    def update_state(self, reason: str, reason_data: str, state_value: str) -> None:"
        in source
    )
    for attribute in ("self.rule = rule", "self.state_value = ", "self.state_reason = "):
        assert attribute in source
    # moto still evaluates no composite rule (why the extension evaluates them).
    assert re.findall(r"\.rule\b", source) == [".rule"]  # the assignment only


def test_events_rule_delivery_point() -> None:
    from moto.events import models

    source = inspect.getsource(models)
    assert (
        "    def send_to_targets(\n        self, original_event: EventMessageType, transform_input: bool = True\n"
        in source
    )
    assert "from .utils import (" in source
    assert "EventTemplateParser" in source
    # moto still cannot deliver to Lambda or Step Functions itself (why the extension exists).
    assert 'raise NotImplementedError(f"Expr not defined for {type(self)}")' in source


def test_execution_dates_come_from_module_level_datetime() -> None:
    # localcloud.adapters.stepfunctions swaps these modules' ``datetime`` for one on the
    # simulated clock; each must import the module (not the class) and call now() on it.
    import importlib

    for name in sfn_ext._SIMULATED_DATETIME_MODULES:
        module = importlib.import_module(name)
        source = inspect.getsource(module)
        assert "import datetime\n" in source, name
        assert "datetime.datetime.now(" in source, name


def test_scheduler_backend_stores_schedules_where_the_simulator_reads_them() -> None:
    # localcloud.adapters.scheduler wraps create/update/delete_schedule and reads the
    # stored schedules' attributes; moto itself never fires a schedule.
    from moto.scheduler import models

    source = inspect.getsource(models)  # the module file: unaffected by our patches
    for line in (
        "def create_schedule(",
        "def update_schedule(",
        "def delete_schedule(self, group_name: str | None, name: str) -> None:",
        'group = self.schedule_groups[group_name or "default"]',
        "self.schedules: dict[str, Schedule] = {}",
        'scheduler_backends = BackendDict(EventBridgeSchedulerBackend, "scheduler")',
    ):
        assert line in source, line
    for attribute in (
        'self.arn = f"arn:{get_partition(region)}:scheduler:{region}:{account_id}:schedule/{group_name}/{name}"',
        "self.schedule_expression = schedule_expression",
        'self.schedule_expression_timezone = schedule_expression_timezone or "UTC"',
        "self.target = Schedule.validate_target(target)",
        "self.start_date = self._validate_start_date(start_date)",
        "self.end_date = end_date",
        "self.action_after_completion = action_after_completion",
        'self.state = state or "ENABLED"',
    ):
        assert attribute in source, attribute
    # moto still never runs them
    assert "def fire" not in source
    assert "threading" not in source


def test_hash_and_uuid_are_stubbed_by_moto_declarations() -> None:
    # localcloud.adapters.stepfunctions drops these two declarations so that its own
    # $hash and $uuid apply; moto still ships the stubs.
    from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as declarations

    source = inspect.getsource(declarations)
    assert '"Function $hash is currently not supported"' in source
    assert '"Function $uuid is currently not supported"' in source
    assert "_DECLARATION_BY_VARIABLE_REFERENCE.get(variable_reference)" in source


def test_sns_lambda_delivery_point() -> None:
    # localcloud.adapters.sns replaces Subscription.publish for protocol "lambda" and
    # repeats the two steps moto's publish takes before it looks at the protocol.
    from moto.sns import models

    source = inspect.getsource(models)  # the module file: unaffected by our patches
    assert (
        "    def publish(\n"
        "        self,\n"
        "        message: str,\n"
        "        message_id: str,\n"
        "        subject: str | None = None,\n"
        "        message_attributes: dict[str, Any] | None = None,\n"
        "        group_id: str | None = None,\n"
        "        deduplication_id: str | None = None,\n"
        "        message_structure: str | None = None,\n"
        "    ) -> None:\n"
        "        if self._filter_policy_matcher is not None:\n"
        "            if not self._filter_policy_matcher.matches(message_attributes, message):\n"
        "                return\n"
        "\n"
        '        if message_structure == "json":\n'
        "            message = self._parse_message_structure(message, self.protocol)\n"
    ) in source
    # Topic.publish hands every subscription the message id and the attributes.
    assert (
        "            subscription.publish(\n                message,\n                message_id,\n"
        in source
    )
    assert "                message_attributes=message_attributes,\n" in source
    # What we read from a subscription.
    for attribute in (
        "self.topic = topic",
        "self.endpoint = endpoint",
        "self.protocol = protocol",
        "self.arn = make_arn_for_subscription(self.topic.arn)",
    ):
        assert attribute in source, attribute
    # moto still sends Lambda a canned, synchronous event (why the extension exists).
    assert 'elif self.protocol == "lambda":' in source
    assert ").send_sns_message(" in source
    from moto.awslambda import models as lambda_models

    lambda_source = inspect.getsource(lambda_models.LambdaBackend.send_sns_message)
    assert '"TopicArn": "arn:aws:sns:EXAMPLE"' in lambda_source
    assert "func.invoke(json.dumps(event), {}, {})" in lambda_source


def test_sns_publish_transforms_message_attributes_to_the_lambda_shape() -> None:
    # localcloud.adapters.sns passes moto's parsed attributes on as Lambda's
    # {"Type", "Value"} (binary values base64), relying on this transformation.
    from moto.sns import responses

    source = inspect.getsource(responses.SNSResponse._transform_message_attributes)
    assert 'transform_value = base64.b64encode(value["BinaryValue"]).decode()' in source
    assert '"Type": data_type,\n                "Value": transform_value,' in source
    assert "message_attributes = self._parse_message_attributes()" in inspect.getsource(
        responses.SNSResponse.publish
    )


def test_moto_answers_as_the_account_in_moto_account_id() -> None:
    # LocalCloud(account_id=...) sets MOTO_ACCOUNT_ID so one template deploys into several
    # accounts (tests/workflows/test_multi_account.py); moto must read it per request.
    from moto.core import responses

    source = inspect.getsource(responses.BaseResponse.get_current_account)
    assert 'if "MOTO_ACCOUNT_ID" in os.environ:' in source
    assert 'return os.environ["MOTO_ACCOUNT_ID"]' in source


def test_botocore_backs_off_only_through_endpoint_time_sleep() -> None:
    # LocalCloud swaps botocore.endpoint's ``time`` for one whose sleep returns at once.
    import inspect

    import botocore.endpoint

    source = inspect.getsource(botocore.endpoint)
    assert "time.sleep(handler_response)" in inspect.getsource(
        botocore.endpoint.Endpoint._needs_retry
    )
    uses = {
        line.strip() for line in source.splitlines() if "time." in line and "datetime." not in line
    }
    assert uses == {"time.sleep(handler_response)"}, uses


def test_stop_execution_hooks_exist() -> None:
    # localcloud.adapters.stepfunctions makes StopExecution abort at once: it wraps
    # Execution.stop and the worker's _reflect_execution_status, tolerates the aborted Map
    # iteration's string details in _construct_error_output_value, and keeps a stopped
    # program from failing in Environment.set_error.
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        iteration_worker,
    )
    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.backend import execution

    source = inspect.getsource(execution)
    assert (
        "    def stop(self, stop_date: datetime.datetime, error: str | None, cause: str | None):"
        in source
    )
    assert "    def _reflect_execution_status(self):" in source
    assert "executionFailedEventDetails=end_program_state.error" in inspect.getsource(
        iteration_worker
    )
    assert isinstance(
        inspect.getattr_static(ExecutionState, "_construct_error_output_value"), staticmethod
    )
    source = inspect.getsource(environment)
    assert "    def set_error(self, error: ExecutionFailedEventDetails) -> None:" in source
    assert "            self._program_state = ProgramError(error=error)" in source


def test_a_cloudformation_stack_can_be_recorded_without_resources() -> None:
    # localcloud.deployer.visible builds moto's Stack from outputs and parameters only.
    from moto.cloudformation import models

    parameters = list(inspect.signature(models.Stack.__init__).parameters)
    assert parameters[1:7] == [
        "stack_id",
        "name",
        "template",
        "parameters",
        "account_id",
        "region_name",
    ]
    assert hasattr(models.Stack, "mark_creation_complete")
    backend = models.cloudformation_backends["123456789012"]["eu-central-1"]
    assert isinstance(backend.stacks, dict)


def test_put_events_hands_the_request_entries_to_the_backend() -> None:
    # localcloud.adapters.events.put_aws_event calls the backend as moto's handler does.
    from moto.events import responses

    source = inspect.getsource(responses.EventsHandler.put_events)
    assert 'events = self._get_param("Entries")' in source
    assert "self.events_backend.put_events(events)" in source


def test_an_aws_event_arrives_as_one_put_through_the_api() -> None:
    import json

    import boto3
    from moto import mock_aws

    from localcloud.adapters.events import put_aws_event

    # Given a rule delivering aws.ec2 events to a queue
    with mock_aws():
        region, account = "eu-central-1", "123456789012"
        sqs = boto3.client("sqs", region_name=region)
        url = sqs.create_queue(QueueName="seen")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = boto3.client("events", region_name=region)
        events.put_rule(Name="ec2", EventPattern=json.dumps({"source": ["aws.ec2"]}))
        events.put_targets(Rule="ec2", Targets=[{"Id": "q", "Arn": arn}])
        entry = {
            "Source": "aws.ec2",
            "DetailType": "EC2 Instance State-change Notification",
            "Detail": json.dumps({"instance-id": "i-0123456789abcdef0", "state": "running"}),
            "Resources": ["arn:aws:ec2:eu-central-1:123456789012:instance/i-0123456789abcdef0"],
        }
        # When the same event is put through the API and emitted directly
        events.put_events(Entries=[{**entry, "Time": 1_800_000_000}])
        put_aws_event(account, region, {**entry, "Time": 1_800_000_000})
        bodies = [
            json.loads(m["Body"])
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        ]
    # Then the queue received the same event twice (but for its id and ingestion time)
    assert len(bodies) == 2
    for body in bodies:
        body.pop("id")
        body.pop("ingestion-time", None)
    assert bodies[0] == bodies[1]
    assert bodies[0]["detail"]["state"] == "running"


def test_moto_checks_bucket_policies_itself_through_get_permission() -> None:
    # localcloud/adapters/s3_policies.py makes this check neutral: the IAM enforcer decides.
    import inspect as _inspect

    from moto.iam.access_control import PermissionResult
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    from localcloud.adapters import s3_policies

    assert list(_inspect.signature(FakeBucket.get_permission).parameters) == [
        "self",
        "action",
        "resource",
    ]
    assert "bucket.get_permission(" in _inspect.getsource(S3Response)
    s3_policies.install()
    assert FakeBucket.get_permission(None, "s3:PutObject", "arn:aws:s3:::b/k") == (
        PermissionResult.NEUTRAL
    )
    # ... because moto's own evaluator ignores conditions: "deny unless TLS" denies all.
    from moto.iam.access_control import IAMPolicy

    deny_unless_tls = (
        '{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", '
        '"Action": "s3:*", "Resource": "arn:aws:s3:::b/*", '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}'
    )
    assert IAMPolicy(deny_unless_tls).is_action_permitted("s3:PutObject", "arn:aws:s3:::b/k") == (
        PermissionResult.DENIED
    )
