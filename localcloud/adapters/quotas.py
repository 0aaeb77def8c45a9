"""Quotas and limits: the local cloud refuses what AWS refuses, as AWS refuses it.

One table (``QUOTAS``, in :mod:`localcloud.adapters.quota_table`) holds each limit, its value,
how AWS fails a breach and the page the value comes from; docs/limits.md shows the same table.

Every check runs where moto handles the request (its backend or response method), so the
client gets the service's own error in its own wire format and botocore raises the real
``ClientError``; inside Step Functions a breach fails the execution as Step Functions does.

moto internals wrapped or replaced (canaries: tests/unit/localcloud/test_moto_canaries_quotas.py):
Step Functions ``start_execution``, ``is_within_size_quota`` (three importers),
``Environment.__init__``, ``EventManager.add_event``, ``InlineIterationComponent`` and
``ErrorEqualsDecl._eval_body``; Lambda ``LambdaBackend.invoke``, ``_invoke_lambda`` and
``responses.sys``; ``put_events``; SNS ``publish``; SQS ``send_message``; DynamoDB
``LimitedSizeDict.__setitem__``; SSM ``put_parameter`` and the ``send_command`` response;
Scheduler ``create_schedule``; S3 ``put_object``, ``copy_object``, ``create_multipart_upload``.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from localcloud.adapters.quota_table import limit
from localcloud.core import motopatch

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

_MARK = "_fleetpatch_quotas"


def _constraint(value: Any, field: str, maximum: int) -> str:
    # The shape AWS's request validation answers a too-long member with.
    return (
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: Member must have length less than or equal to {maximum}"
    )


def _utf8(text: Any) -> int:
    return len(text.encode("utf-8")) if isinstance(text, str) else len(text or b"")


def _wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.name`` by ``make(original)`` once per process.

    ``wraps=True`` keeps the markers the other adapters check for idempotency
    (``_fleetpatch``, ``_fleetpatch_ssm``, ``_fleetpatch_original``), so their second
    install does not wrap twice around ours.
    """
    motopatch.patch(owner, name, make, tag=_MARK, wraps=True)


# --- Step Functions ------------------------------------------------------------------------

_SIZE_QUOTA_USERS = (
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda",
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service",
)
_HISTORY_LOCK = threading.Lock()
_TERMINAL_EVENTS = {f"Execution{end}" for end in ("Failed", "Succeeded", "Aborted", "TimedOut")}
HISTORY_LIMIT_CAUSE = "The execution reached the maximum number of history events ({})."


def is_within_state_size(value: Any) -> bool:
    """A state's data fits: at most 256 KiB of UTF-8 JSON (moto refuses exactly 256 KiB)."""
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    # Measured as Step Functions shows state data: compact JSON, a string with its quotes
    # (moto measures a string bare and JSON with spaces after ':' and ',').
    return _utf8(to_json_str(value, separators=(",", ":"))) <= limit("sfn_payload")


def _install_step_functions() -> None:
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    for module_name in _SIZE_QUOTA_USERS:
        importlib.import_module(module_name).is_within_size_quota = is_within_state_size  # type: ignore[attr-defined]

    def start_execution(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(
            self: Any,
            state_machine_arn: str,
            name: str | None = None,
            execution_input: str | None = None,
            *args: Any,
            **kwargs: Any,
        ) -> Any:
            if name is not None:
                # moto's own name rules (length 80: ValidationException, forbidden
                # characters: InvalidName), which its ASL backend never applies.
                self._validate_name(name)
            if execution_input is not None and _utf8(execution_input) > limit("sfn_payload"):
                # A sensitive member: AWS leaves the value out of the message.
                raise ValidationException(
                    "1 validation error detected: Value at 'input' failed to satisfy "
                    f"constraint: Member must have length less than or equal to "
                    f"{limit('sfn_payload')}"
                )
            return original(self, state_machine_arn, name, execution_input, *args, **kwargs)

        return checked

    _wrap(StepFunctionsParserBackend, "start_execution", start_execution)


def _install_step_functions_history() -> None:
    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    def environment_init(original: Callable[..., Any]) -> Callable[..., Any]:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            # A frame replaces its event manager by its parent's: the root environment
            # is the one that owns (and ends) the execution.
            self.event_manager._fleetpatch_root = self

        return init

    _wrap(environment.Environment, "__init__", environment_init)

    def add_event(original: Callable[..., Any]) -> Callable[..., Any]:
        def add(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
            kind = str(getattr(event_type, "value", event_type))
            root = getattr(self, "_fleetpatch_root", None)
            with _HISTORY_LOCK:  # Map iterations and branches add events from many threads
                reached = len(self._history_event_list) >= limit("sfn_history") - 1
                if root is None or not reached:
                    return int(original(self, context, event_type, *args, **kwargs))
            if kind not in _TERMINAL_EVENTS:
                # AWS ends the execution here: its last event (number 25,000) is
                # ExecutionFailed; nothing the states do afterwards is recorded.
                if root.is_running():
                    root.set_error(_history_error())
                return len(self._history_event_list)
            if kind == "ExecutionFailed":
                root.set_error(_history_error())  # whatever a state raised meanwhile
                details = {"executionFailedEventDetails": _history_error()}
                return int(original(self, context, event_type, details))
            return int(original(self, context, event_type, *args, **kwargs))

        return add

    _wrap(event_manager.EventManager, "add_event", add_event)


def _install_step_functions_flow() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        inline_iteration_component as inline,
    )

    def inline_map(original: Callable[..., Any]) -> Callable[..., Any]:
        def eval_body(self: Any, env: Any) -> None:
            eval_input = env.stack[-1]
            cap = limit("sfn_inline_map_concurrency")
            if not 0 < eval_input.max_concurrency <= cap:
                eval_input.max_concurrency = cap
            original(self, env)

        return eval_body

    _wrap(inline.InlineIterationComponent, "_eval_body", inline_map)

    def error_equals(original: Callable[..., Any]) -> Callable[..., Any]:
        # States.DataLimitExceeded is terminal: States.ALL neither retries nor catches it
        # (naming it does). moto's States.ALL matches every error.
        def eval_body(self: Any, env: Any) -> None:
            names = {getattr(name, "error_name", None) for name in self.error_names}
            error = getattr(env.stack[-1], "error_name", None)
            if error == "States.DataLimitExceeded" and names == {"States.ALL"}:
                env.stack.pop()
                env.stack.append(False)
                return
            original(self, env)

        return eval_body

    _wrap(error_equals_decl.ErrorEqualsDecl, "_eval_body", error_equals)


def _history_error() -> dict[str, str]:
    return {
        "error": "States.Runtime",
        "cause": HISTORY_LIMIT_CAUSE.format(limit("sfn_history")),
    }


# --- Lambda ----------------------------------------------------------------------------------


def _install_lambda() -> None:
    from moto.awslambda.exceptions import LambdaClientError
    from moto.awslambda.models import LambdaBackend

    class RequestEntityTooLarge(LambdaClientError):
        code = 413

        def __init__(self, message: str) -> None:
            super().__init__("RequestEntityTooLargeException", message)

    def invoke(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(
            self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, *rest: Any
        ) -> Any:
            size = _utf8(body)
            if (headers or {}).get("X-Amz-Invocation-Type") == "Event":
                if size > limit("lambda_async_payload"):
                    raise RequestEntityTooLarge(
                        f"{size} byte payload is too large for the Event invocation type "
                        f"(limit {limit('lambda_async_payload')} bytes)"
                    )
            elif size > limit("lambda_sync_payload"):
                raise RequestEntityTooLarge(
                    f"Request must be smaller than {limit('lambda_sync_payload')} bytes for "
                    "the InvokeFunction operation"
                )
            return original(self, function_name, qualifier, body, headers, *rest)

        return checked

    _wrap(LambdaBackend, "invoke", invoke)


def _install_lambda_response() -> None:
    from moto.awslambda import responses
    from moto.awslambda.models import LambdaFunction

    def invoke_lambda(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any, *args: Any, **kwargs: Any) -> tuple[str, bool, str]:
            payload, failed, logs = original(self, *args, **kwargs)
            if not failed and _utf8(payload) > limit("lambda_response"):
                error = {
                    "errorMessage": "Response payload size exceeded maximum allowed payload "
                    f"size ({limit('lambda_response')} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
                return json.dumps(error), True, logs
            return payload, failed, logs

        return checked

    _wrap(LambdaFunction, "_invoke_lambda", invoke_lambda)

    # moto's Invoke response repeats the response check as ``sys.getsizeof(payload) >
    # 6000000``: Python's object size against a rounder number, refusing responses AWS
    # returns. Its module gets a ``sys`` whose getsizeof answers with AWS's measure.
    if not isinstance(vars(responses)["sys"], _AwsPayloadSizes):
        vars(responses)["sys"] = _AwsPayloadSizes()


class _AwsPayloadSizes:
    """``sys`` for moto.awslambda.responses: getsizeof over 6,000,000 iff AWS refuses."""

    def getsizeof(self, payload: Any) -> int:
        return 6_000_001 if _utf8(payload) > limit("lambda_response") else 0

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)


# --- EventBridge, SNS, SQS -------------------------------------------------------------------


def put_events_entry_size(entry: dict[str, Any]) -> int:
    """EventBridge's documented entry size: Time 14 bytes, then UTF-8 byte lengths."""
    size = 14 if entry.get("Time") is not None else 0
    for field in ("Source", "DetailType", "Detail"):
        size += _utf8(entry.get(field) or "")
    return size + sum(_utf8(resource) for resource in entry.get("Resources") or [] if resource)


def _install_messaging() -> None:
    from moto.events.exceptions import ValidationException as EventsValidation
    from moto.events.models import EventsBackend
    from moto.sns.exceptions import InvalidParameterValue as SnsInvalidParameter
    from moto.sns.models import SNSBackend

    def put_events(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any, events: list[dict[str, Any]]) -> Any:
            if sum(put_events_entry_size(e) for e in events) >= limit("eventbridge_entries"):
                raise EventsValidation(
                    "Total size of the entries in the request is over the limit."
                )
            return original(self, events)

        return checked

    _wrap(EventsBackend, "put_events", put_events)

    def publish(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any, message: str, *args: Any, **kwargs: Any) -> Any:
            phone_number = kwargs.get("phone_number") or (args[1] if len(args) > 1 else None)
            if not phone_number and _utf8(message) > limit("sns_message"):
                raise SnsInvalidParameter("Invalid parameter: Message too long")
            return original(self, message, *args, **kwargs)

        return checked

    _wrap(SNSBackend, "publish", publish)


def _install_sqs() -> None:
    from moto.sqs.exceptions import InvalidParameterValue as SqsInvalidParameter
    from moto.sqs.models import SQSBackend

    def too_long(queue: Any, body: str, attributes: dict[str, Any] | None) -> None:
        size = _utf8(body) + sum(
            _utf8(name)
            + _utf8(str(value.get("data_type") or value.get("DataType") or ""))
            + _utf8(value.get("string_value") or value.get("StringValue") or "")
            + _utf8(value.get("binary_value") or value.get("BinaryValue") or b"")
            for name, value in (attributes or {}).items()
        )
        maximum = int(queue.maximum_message_size)
        if size > maximum:
            raise SqsInvalidParameter(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{maximum} bytes."
            )

    def send_message(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(
            self: Any, queue_name: str, message_body: str, *args: Any, **kwargs: Any
        ) -> Any:
            attributes = kwargs.get("message_attributes", args[0] if args else None)
            too_long(self.get_queue(queue_name), message_body, attributes)
            return original(self, queue_name, message_body, *args, **kwargs)

        return checked

    _wrap(SQSBackend, "send_message", send_message)


# --- DynamoDB, SSM, Scheduler, S3 ---------------------------------------------------------


def _install_dynamodb() -> None:
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def setitem(original: Callable[..., Any]) -> Callable[..., Any]:
        # moto's own measure of the item, against AWS's 400 KB (moto stops at 405,000).
        def checked(self: Any, key: str, value: Any) -> None:
            def size(item: Any) -> int:
                return item.size() if type(item) is DynamoType else bytesize(str(item))

            current = sum(size(k) + size(v) for k, v in self.items() if k != key)
            if current + bytesize(key) + size(value) > limit("dynamodb_item"):
                raise ItemSizeTooLarge
            dict.__setitem__(self, key, value)

        return checked

    _wrap(LimitedSizeDict, "__setitem__", setitem)


def _install_ssm() -> None:
    from moto.ssm.exceptions import ValidationException as SsmValidation
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

    def put_parameter(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(
            self: Any, name: str, description: str, value: str, *args: Any, **kwargs: Any
        ) -> Any:
            tier = kwargs.get("tier", args[6] if len(args) > 6 else None)
            existing = self._parameters.get(name)
            if tier is None and existing:
                tier = existing[-1].tier
            if tier in (None, "Standard") and len(value) > limit("ssm_parameter_standard"):
                raise SsmValidation(
                    "Standard tier parameters support a maximum parameter value of "
                    f"{limit('ssm_parameter_standard')} characters. To create a larger "
                    "parameter value, upgrade the parameter to use the advanced-parameter "
                    "tier. For more information, see https://docs.aws.amazon.com/"
                    "systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
                )
            if len(value) > limit("ssm_parameter_advanced"):
                raise SsmValidation(
                    "1 validation error detected: Value at 'value' failed to satisfy "
                    "constraint: Member must have length less than or equal to "
                    f"{limit('ssm_parameter_advanced')}"
                )
            return original(self, name, description, value, *args, **kwargs)

        return checked

    _wrap(SimpleSystemManagerBackend, "put_parameter", put_parameter)

    def send_command(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any) -> Any:
            instance_ids = self._get_param("InstanceIds") or []
            if len(instance_ids) > limit("ssm_send_command_instances"):
                raise SsmValidation(
                    _constraint(instance_ids, "instanceIds", limit("ssm_send_command_instances"))
                )
            comment = self._get_param("Comment")
            if comment is not None and len(comment) > limit("ssm_send_command_comment"):
                raise SsmValidation(
                    _constraint(comment, "comment", limit("ssm_send_command_comment"))
                )
            return original(self)

        return checked

    _wrap(SimpleSystemManagerResponse, "send_command", send_command)


def _install_scheduler_and_s3() -> None:
    from moto.s3.exceptions import S3ClientError
    from moto.s3.models import S3Backend
    from moto.scheduler.exceptions import ValidationException as SchedulerValidation
    from moto.scheduler.models import EventBridgeSchedulerBackend

    def create_schedule(original: Callable[..., Any]) -> Callable[..., Any]:
        def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            name = kwargs.get("name", args[5] if len(args) > 5 else "")
            if len(name) > limit("scheduler_name"):
                raise SchedulerValidation(_constraint(name, "name", limit("scheduler_name")))
            return original(self, *args, **kwargs)

        return checked

    _wrap(EventBridgeSchedulerBackend, "create_schedule", create_schedule)

    class KeyTooLongError(S3ClientError):
        def __init__(self, key: str) -> None:
            super().__init__("KeyTooLongError", "Your key is too long")
            self.size = _utf8(key)
            self.max_size_allowed = limit("s3_key")

    def key_checked(position: int, keyword: str) -> Callable[[Callable[..., Any]], Any]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
                key = kwargs.get(keyword, args[position] if len(args) > position else "")
                if _utf8(key) > limit("s3_key"):
                    raise KeyTooLongError(key)
                return original(self, *args, **kwargs)

            return checked

        return make

    _wrap(S3Backend, "put_object", key_checked(1, "key_name"))
    _wrap(S3Backend, "create_multipart_upload", key_checked(1, "key_name"))
    _wrap(S3Backend, "copy_object", key_checked(2, "dest_key_name"))


def install() -> None:
    """Enforce every quota in ``QUOTAS`` (idempotent; process-wide, as moto is).

    Install after the other extensions: some checks wrap methods they replace.
    """
    _install_step_functions()
    _install_step_functions_history()
    _install_step_functions_flow()
    _install_lambda()
    _install_lambda_response()
    _install_messaging()
    _install_sqs()
    _install_dynamodb()
    _install_ssm()
    _install_scheduler_and_s3()
