"""Canary: the moto 5.2.5 internals localcloud.adapters.quotas wraps, checked before we rely on them.

Each reads the module's source file (unaffected by our patches): if an upgrade renames a
method, reorders its parameters or moves a check, this fails before a quota silently stops
being enforced.
"""

from __future__ import annotations

import importlib
import inspect


def source(module: str) -> str:
    return inspect.getsource(importlib.import_module(module))


def test_step_functions_internals_the_quotas_wrap() -> None:
    # The payload check: is_within_size_quota, imported by name by three modules.
    for module in (
        "moto.stepfunctions.parser.asl.component.state.state",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda",
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
    ):
        text = source(module)
        assert "from moto.stepfunctions.parser.quotas import is_within_size_quota" in text
        assert "is_within_size_quota(value" in text
    assert "return len_item_bytes < MAX_STATE_SIZE_UTF8_BYTES" in source(
        "moto.stepfunctions.parser.quotas"
    )
    # Execution names and input: StartExecution's positional parameters, and the name
    # rules moto's ASL backend inherits but never applies.
    models = source("moto.stepfunctions.parser.models")
    assert (
        "def start_execution(\n        self,\n        state_machine_arn: str,\n"
        "        name: Name = None,\n        execution_input: SensitiveData = None,"
    ) in models
    assert "_validate_name" not in models
    assert "def _validate_name(self, name: str) -> None:" in source("moto.stepfunctions.models")
    # The history: one EventManager per root environment, shared by its frames.
    environment = source("moto.stepfunctions.parser.asl.eval.environment")
    assert "self.event_manager = EventManager(" in environment
    assert "frame.event_manager = env.event_manager" in environment
    events = source("moto.stepfunctions.parser.asl.eval.event.event_manager")
    assert "def add_event(\n        self,\n        context: EventHistoryContext," in events
    assert "_history_event_list: Final[HistoryEventList]" in events
    # Inline Map: one worker per item when MaxConcurrency is 0 (no limit).
    inline = source(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration."
        "inline_iteration_component"
    )
    assert "eval_input = env.stack.pop()" in inline
    assert "if max_concurrency == DEFAULT_MAX_CONCURRENCY_VALUE" in inline
    # States.ALL: moto matches every error with it, the terminal ones included.
    error_equals = source(
        "moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl"
    )
    assert "error_name: ErrorName = env.stack.pop()" in error_equals
    assert "if ErrorEqualsDecl._STATE_ALL_ERROR in self.error_names:\n            res = True" in (
        error_equals
    )


def test_lambda_internals_the_quotas_wrap() -> None:
    models = source("moto.awslambda.models")
    assert (
        "def invoke(\n        self,\n        function_name: str,\n        qualifier: str | None,"
        "\n        body: Any,\n        headers: Any,"
    ) in models
    assert "res, errored, logs = self._invoke_lambda(event=body)" in models
    responses = source("moto.awslambda.responses")
    assert "import sys\n" in responses
    assert "if sys.getsizeof(payload) > 6000000:" in responses


def test_messaging_internals_the_quotas_wrap() -> None:
    assert "def put_events(self, events: list[dict[str, Any]])" in source("moto.events.models")
    sns = source("moto.sns.models")
    assert "def publish(\n        self,\n        message: str,\n        arn: str | None," in sns
    assert "if len(message) > MAXIMUM_MESSAGE_LENGTH:" in sns  # characters, not bytes
    sqs = source("moto.sqs.models")
    assert (
        "def send_message(\n        self,\n        queue_name: str,\n        message_body: str,"
        "\n        message_attributes: dict[str, Any] | None = None,"
    ) in sqs
    assert "message = self.send_message(" in sqs  # what send_message_batch does per entry


def test_storage_and_control_internals_the_quotas_wrap() -> None:
    dynamo = source("moto.dynamodb.models.dynamo_type")
    assert "class LimitedSizeDict(dict[str, Any]):" in dynamo
    assert "if (current_item_size + new_item_size) > 405000:" in dynamo
    assert "except ItemSizeTooLarge:\n                raise ItemSizeToUpdateTooLarge()" in source(
        "moto.dynamodb.models"
    )
    ssm = source("moto.ssm.models")
    assert (
        "def put_parameter(\n        self,\n        name: str,\n        description: str,"
        "\n        value: str,\n        parameter_type: str,\n        allowed_pattern: str,"
        "\n        keyid: str,\n        overwrite: bool,\n        tags: list[dict[str, str]],"
        "\n        data_type: str,\n        tier: str | None,"
    ) in ssm
    assert "def send_command(self) -> ActionResult:" in source("moto.ssm.responses")
    scheduler = source("moto.scheduler.models")
    assert "kms_key_arn: str,\n        name: str,\n        schedule_expression: str," in scheduler
    s3 = source("moto.s3.models")
    assert "def put_object(\n        self,\n        bucket_name: str,\n        key_name: str," in s3
    assert (
        "def create_multipart_upload(\n        self,\n        bucket_name: str,\n"
        "        key_name: str,"
    ) in s3
    assert (
        "def copy_object(\n        self,\n        src_key: FakeKey,\n        dest_bucket_name: str,"
        "\n        dest_key_name: str,"
    ) in s3
