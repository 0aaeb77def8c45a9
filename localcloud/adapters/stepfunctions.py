"""Step Functions on the local cloud: moto's ASL interpreter, made to behave like AWS.

What this extends in moto 5.2.5 (each has a canary in tests/unit/test_moto_canaries.py):

* JSONata: moto ships it disabled (``_eval_jsonata = None``); we evaluate with
  jsonata-python and add the Step Functions functions ($partition, $range, $hash,
  $random, $uuid, $parse). Variable bindings are encoded as real JSON (moto does not
  escape strings).
* Simulated time: every thread, event, condition and sleep inside the interpreter goes
  through :mod:`localcloud.core.clock`, so Wait states, Retry intervals, task timeouts and
  task-token timeouts take simulated seconds.
* moto's stub declarations of $hash and $uuid (strings saying they are unsupported) are
  dropped, so the real implementations apply.
* StartExecution without a name gets a unique one (EventBridge never passes a name).
* ``aws-sdk:*`` results are made JSON-safe (datetimes become ISO-8601 strings), and SDK
  errors are named as AWS names them (``Ssm.InvalidInstanceIdException``); so are the
  optimized Lambda, DynamoDB and SNS integrations' errors (:mod:`.sfn_errors`).
* StopExecution: the execution is ABORTED when the call returns, as on AWS, and stays so.
  moto only flags the program as stopped: the status followed when its thread next woke,
  and a Map iteration that woke stopped crashed (its abort carries the stop's error string
  where a dict is expected), ending it FAILED.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import importlib
import json
import math
import pkgutil
import random
import re
import sys
import threading
import time as _time
import types
import uuid
from collections.abc import Callable
from typing import Any

import jsonata
from botocore.exceptions import ClientError
from jsonata.utils import Utils as _JsonataUtils

from localcloud.adapters import sfn_errors, sfn_history, sfn_programs, sfn_sync
from localcloud.core import clock as sim
from localcloud.core import motopatch
from localcloud.core.iam import enforcer
from localcloud.core.iam.principal import acting_as

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# --- clock-aware stand-ins for the interpreter's threading/time/datetime -------------------


class _ThreadingShim(types.ModuleType):
    """Looks like ``threading`` to moto, with the simulated-time primitives swapped in."""

    Thread = sim.ClockThread
    Event = sim.ClockEvent
    Condition = sim.ClockCondition

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


class _TimeShim(types.ModuleType):
    @staticmethod
    def sleep(seconds: float) -> None:
        sim.current().sleep(seconds)

    @staticmethod
    def time() -> float:
        return sim.current().time()

    def __getattr__(self, name: str) -> Any:
        return getattr(_time, name)


class _SimDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz: _dt.tzinfo | None = None) -> _SimDatetime:
        now = sim.current().now()
        value = now.astimezone(tz) if tz is not None else now.astimezone().replace(tzinfo=None)
        return cls.fromtimestamp(value.timestamp(), tz)


class _DatetimeShim(types.ModuleType):
    datetime = _SimDatetime

    def __getattr__(self, name: str) -> Any:
        return getattr(_dt, name)


_THREADING = _ThreadingShim("threading")
_TIME = _TimeShim("time")
_DATETIME = _DatetimeShim("datetime")

# Modules whose ``datetime.now()`` reads the simulated clock: how long a Wait with a
# Timestamp waits, and every date an execution reports (start, stop, history events,
# $states.context.Execution.StartTime and State.EnteredTime). Each uses ``datetime``
# only for ``now()`` and ``timezone``, which the shim passes through.
_SIMULATED_DATETIME_MODULES = (
    "moto.stepfunctions.parser.asl.component.state.wait.wait_function.timestamp",
    "moto.stepfunctions.parser.models",
    "moto.stepfunctions.parser.backend.execution",
    "moto.stepfunctions.parser.asl.component.state.state",
    "moto.stepfunctions.parser.asl.eval.event.event_manager",
    "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.map_run_record",
    "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
)


def _interpreter_modules() -> list[types.ModuleType]:
    package = importlib.import_module("moto.stepfunctions.parser")
    modules = []
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if ".antlr" in info.name or ".resource_providers" in info.name:
            continue
        try:
            modules.append(importlib.import_module(info.name))
        except ImportError:
            # A few vendored LocalStack modules import LocalStack-only code; moto never
            # loads them, so neither do we.
            continue
    return modules


def _patch_time_and_threads(modules: list[types.ModuleType]) -> int:
    patched = 0
    for module in modules:
        names = vars(module)
        if names.get("threading") is threading:
            module.threading = _THREADING  # type: ignore[attr-defined]
            patched += 1
        if names.get("Thread") is threading.Thread:
            module.Thread = sim.ClockThread  # type: ignore[attr-defined]
            patched += 1
        if names.get("Event") is threading.Event:
            module.Event = sim.ClockEvent  # type: ignore[attr-defined]
            patched += 1
        if names.get("time") is _time:
            module.time = _TIME  # type: ignore[attr-defined]
            patched += 1
        if module.__name__ in _SIMULATED_DATETIME_MODULES and names.get("datetime") is _dt:
            module.datetime = _DATETIME  # type: ignore[attr-defined]
            patched += 1
    return patched


# --- JSONata ---------------------------------------------------------------------------------


def _partition(array: list[Any] | None, size: float) -> list[list[Any]]:
    items = list(array or [])
    step = int(size)
    if step <= 0:
        raise ValueError("$partition size must be positive")
    return [items[i : i + step] for i in range(0, len(items), step)]


def _range(start: float, end: float, step: float) -> list[int | float]:
    if step == 0:
        raise ValueError("$range step must not be 0")
    values: list[int | float] = []
    value = start
    while (step > 0 and value <= end) or (step < 0 and value >= end):
        values.append(int(value) if float(value).is_integer() else value)
        value += step
    return values


def _hash(value: Any, algorithm: str = "SHA-256") -> str:
    names = {
        "MD5": "md5",
        "SHA-1": "sha1",
        "SHA-256": "sha256",
        "SHA-384": "sha384",
        "SHA-512": "sha512",
    }
    if algorithm not in names:
        raise ValueError(f"$hash algorithm {algorithm!r} is not one of {sorted(names)}")
    data = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return hashlib.new(names[algorithm], data.encode()).hexdigest()


def _random(seed: float | None = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()  # noqa: S311


def _uuid() -> str:
    return str(uuid.uuid4())


def _parse(text: str) -> Any:
    return json.loads(text)


def _now(picture: str | None = None, timezone: str | None = None) -> str:
    # JSONata's own $now() reads the wall clock; the local cloud runs on simulated time.
    now = sim.current().now().astimezone(_dt.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _millis() -> int:
    return int(sim.current().now().timestamp() * 1000)


STEP_FUNCTIONS_JSONATA_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "partition": _partition,
    "range": _range,
    "hash": _hash,
    "random": _random,
    "uuid": _uuid,
    "parse": _parse,
    "now": _now,
    "millis": _millis,
}


def _to_json_value(value: Any) -> Any:
    # jsonata-python returns its own sequence type and floats for integers.
    if isinstance(value, dict):
        return {str(k): _to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json_value(v) for v in value]
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 2**53
    ):
        return int(value)
    return value


def evaluate_jsonata(expression: str) -> Any:
    """Evaluate a composed Step Functions JSONata expression (bindings included).

    moto composes each evaluation as ``($states:=<value>;...<expression>)``. The values we
    encode (``_encode_bindings``) are JSON text with its length in a comment, so they are
    read with ``json.loads`` and bound as variables; the rest, the same text for every
    evaluation of a state, is parsed once. Parsing the values as JSONata cost more than the
    whole rest of the evaluation.
    """
    body, bindings = _split_bindings(expression)
    return _to_json_value(_compiled(body).evaluate(None, bindings))


JSONATA_NULL = _JsonataUtils.NULL_VALUE

# $name:=/*fp:<length>*/<JSON text of that length>;
_BINDING = re.compile(r"\$([A-Za-z0-9_]+):=/\*fp:(\d+)\*/")


def _split_bindings(expression: str) -> tuple[str, dict[str, Any]]:
    """The expression without its encoded bindings, and the bindings it refers to.

    moto binds every variable of the execution into every evaluation (its own TODO: "sample
    only those invoked"); a launch run has some 35, and decoding them all was most of an
    evaluation. A binding whose ``$name`` the rest of the text never mentions cannot be
    read (JSONata has no dynamic variable lookup, and Step Functions forbids ``$eval``), so
    it is left out.
    """
    found_bindings: list[tuple[str, int, int]] = []
    pieces: list[str] = []
    position = 0
    while (found := _BINDING.search(expression, position)) is not None:
        start = found.end()
        end = start + int(found.group(2))
        if expression[end : end + 1] != ";":
            raise ValueError(f"malformed encoded binding at {found.start()}: {expression[:200]}")
        found_bindings.append((found.group(1), start, end))
        pieces.append(expression[position : found.start()])
        position = end + 1
    pieces.append(expression[position:])
    body = "".join(pieces)
    bindings: dict[str, Any] = {}
    for name, start, end in found_bindings:
        if f"${name}" in body:
            bindings[name] = _jsonata_value(json.loads(expression[start:end]))
    return body, bindings


def _jsonata_value(value: Any) -> Any:
    """A JSON value as JSONata holds it: null is its own value (None means undefined)."""
    if value is None:
        return JSONATA_NULL
    if isinstance(value, dict):
        return {k: _jsonata_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonata_value(v) for v in value]
    return value


@functools.lru_cache(maxsize=4096)
def _compiled(expression: str) -> jsonata.Jsonata:
    # A parsed expression is reusable across evaluations and threads: jsonata-python keeps
    # each thread's evaluation state apart (Jsonata.get_per_thread_instance).
    compiled = jsonata.Jsonata(expression)
    for name, function in STEP_FUNCTIONS_JSONATA_FUNCTIONS.items():
        compiled.register_lambda(name, _adapt(function))
    return compiled


def _adapt(function: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        return function(*[_to_json_value(a) for a in args])

    return call


def _encode_bindings(bindings: dict[str, Any]) -> str:
    # moto writes string values as f'"{value}"', which breaks on quotes and newlines; its own
    # encoder (which knows the context object's datetimes) escapes them properly. The length
    # comment lets evaluate_jsonata take the value out as JSON instead of parsing it as JSONata
    # (a comment is valid JSONata, so the text still means what moto composed).
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    parts = []
    for name, value in bindings.items():
        text = to_json_str(value, separators=(",", ":"))
        parts.append(f"{name}:=/*fp:{len(text)}*/{text};")
    return "".join(parts)


def _patch_jsonata(modules: list[types.ModuleType]) -> None:
    from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata

    original_encode = moto_jsonata.encode_jsonata_variable_declarations
    moto_jsonata._eval_jsonata = evaluate_jsonata
    for module in modules:
        if vars(module).get("encode_jsonata_variable_declarations") is original_encode:
            module.encode_jsonata_variable_declarations = _encode_bindings  # type: ignore[attr-defined]


# --- executions, SDK results and SDK error names ---------------------------------------------


def _json_safe(value: Any) -> Any:
    if isinstance(value, _dt.datetime):
        text = value.astimezone(_dt.UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _patch_executions_and_sdk() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk as aws_sdk,
    )
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    original_start = StepFunctionsParserBackend.start_execution
    if not motopatch.is_patched(original_start):

        def start_execution(
            self: Any, state_machine_arn: str, name: str | None = None, *args: Any, **kwargs: Any
        ) -> Any:
            return original_start(
                self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs
            )

        motopatch.replace(StepFunctionsParserBackend, "start_execution", start_execution)

    from moto.stepfunctions.parser.backend.execution import Execution

    original_execution_start = Execution.start
    if not motopatch.is_patched(original_execution_start):

        def execution_start(self: Any) -> None:
            # Every task of the execution calls AWS as the state machine's role (its threads
            # copy this context when they start).
            iam = enforcer.active()
            if iam is None:
                original_execution_start(self)
                return
            role = iam.assume(
                self.role_arn, "states.amazonaws.com", source_arn=self.state_machine_arn
            )
            with acting_as(role):
                original_execution_start(self)

        motopatch.replace(Execution, "start", execution_start)

    sdk = aws_sdk.StateTaskServiceAwsSdk
    original_eval = sdk._eval_service_task
    if not motopatch.is_patched(original_eval):

        def _eval_service_task(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
            original_eval(self, env, *args, **kwargs)
            env.stack.append(_json_safe(env.stack.pop()))

        motopatch.replace(sdk, "_eval_service_task", _eval_service_task)

    sdk._normalise_service_error_name = staticmethod(sfn_errors.aws_sdk_service_name)  # type: ignore[assignment]
    sdk._normalise_exception_name = staticmethod(_aws_sdk_exception_name)
    _patch_optimized_error_names()
    _patch_stop_execution()
    _patch_nested_executions()


def _patch_nested_executions() -> None:
    """states:startExecution(.sync, .sync:2) takes and gives the names AWS documents.

    The Step Functions guide writes the task's Arguments as ``StateMachineArn``, ``Input``
    and ``Name``, and its result (and a .sync task's) as ``ExecutionArn``, ``StartDate``,
    ``Output``...: the API's camelCase names with a capital. moto 5.2.5 drops LocalStack's
    normalisation (its ``_normalise_parameters``/``_normalise_response`` do nothing), so the
    SDK call fails on ``StateMachineArn`` and a .sync task on ``ExecutionArn``.
    """
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_task,
    )

    cls = sfn_task.StateTaskServiceSfn
    original = cls._normalise_parameters
    if motopatch.is_patched(original):
        return

    def normalise_parameters(
        self: Any, parameters: dict[str, Any], *args: Any, **kwargs: Any
    ) -> None:
        original(self, parameters, *args, **kwargs)
        renamed = {key[:1].lower() + key[1:]: value for key, value in parameters.items()}
        parameters.clear()
        parameters.update(renamed)

    def normalise_response(self: Any, response: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(response, dict):
            renamed = {key[:1].upper() + key[1:]: value for key, value in response.items()}
            response.clear()
            response.update(renamed)

    motopatch.replace(cls, "_normalise_parameters", normalise_parameters)
    motopatch.replace(cls, "_normalise_response", normalise_response)


def _patch_stop_execution() -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    original_stop = Execution.stop
    if motopatch.is_patched(original_stop):
        return

    def stop(self: Any, stop_date: Any, error: str | None, cause: str | None) -> None:
        original_stop(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            # moto's API layer passes "" for both (it drops StopExecution's error and cause).
            self.error = error or None
            self.cause = cause or None

    motopatch.replace(Execution, "stop", stop)

    original_reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect(self: Any) -> None:
        # Stopped executions end where StopExecution left them; their threads finish later.
        if self.execution.exec_status != ExecutionStatus.ABORTED:
            original_reflect(self)  # type: ignore[no-untyped-call]

    BaseExecutionWorkerCommunication._reflect_execution_status = reflect

    original_output = ExecutionState._construct_error_output_value

    def error_output(failure_event: Any) -> Any:
        details = next(iter(failure_event.event_details.values()))
        if isinstance(details, dict):
            return original_output(failure_event)
        # A Map iteration aborted by StopExecution: nothing reads it, the program is stopped.
        return {"Error": "", "Cause": ""}

    ExecutionState._construct_error_output_value = staticmethod(error_output)

    original_set_error = Environment.set_error

    def set_error(self: Any, error: Any) -> None:
        # A stopped execution cannot fail afterwards: a task of it still waiting (a task
        # token's timeout) ends into the stop, not into an error.
        if not isinstance(self._program_state, ProgramStopped):
            original_set_error(self, error)

    Environment.set_error = set_error


_SERVICE_BY_ERROR_NAME = {
    name: service for service, name in sfn_errors.AWS_SDK_SERVICE_NAMES.items()
}


def _error_code(ex: Exception) -> str:
    code = getattr(ex, "response", {}).get("Error", {}).get("Code") or type(ex).__name__
    return str(code).split(".")[-1].split("#")[-1]


def _aws_sdk_exception_name(norm_service_name: str, ex: Exception) -> str:
    service = _SERVICE_BY_ERROR_NAME.get(norm_service_name, norm_service_name)
    return sfn_errors.aws_sdk_error_name(service, _error_code(ex))


def _patch_optimized_error_names() -> None:
    """Lambda, DynamoDB and SNS tasks name errors as AWS does (see sfn_errors)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_dynamodb as dynamodb,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_lambda as awslambda,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sns as sns,
    )

    for cls, service in (
        (dynamodb.StateTaskServiceDynamoDB, "dynamodb"),
        (awslambda.StateTaskServiceLambda, "lambda"),
    ):
        original = cls._error_cause_from_client_error
        if motopatch.is_patched(original):
            continue

        def named(client_error: ClientError, _o: Any = original, _s: str = service) -> Any:
            _, cause = _o(client_error)
            return sfn_errors.optimized_error_name(_s, _error_code(client_error)), cause

        named._fleetpatch = True  # type: ignore[attr-defined]
        cls._error_cause_from_client_error = staticmethod(named)

    original_sns = sns.StateTaskServiceSns._from_error
    if not motopatch.is_patched(original_sns):
        # moto names SNS errors code + "Exception"; the code is rewritten to the name's
        # stem first, so its failure event (cause and all) carries AWS's name.
        def from_error(self: Any, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                name = sfn_errors.optimized_error_name("sns", _error_code(ex))
                ex.response["Error"]["Code"] = name.removeprefix("SNS.").removesuffix("Exception")
            return original_sns(self, env, ex)

        motopatch.replace(sns.StateTaskServiceSns, "_from_error", from_error)


def install() -> None:
    """Apply the extensions (idempotent; process-wide, as moto itself is)."""
    if not motopatch.first_time("stepfunctions"):
        return
    modules = _interpreter_modules()
    _patch_time_and_threads(modules)
    _patch_jsonata(modules)
    _drop_stub_functions()
    _patch_executions_and_sdk()
    sfn_sync.install()
    sfn_history.install()
    sfn_programs.install()


# moto prepends JSONata declarations to every expression that mentions these functions;
# for $hash and $uuid they are stubs returning "Function ... is currently not supported",
# which would shadow (as variables) the real implementations registered above.
_STUBBED_FUNCTIONS = ("$hash", "$uuid")


def _drop_stub_functions() -> None:
    from moto.stepfunctions.parser.asl.component.intrinsic import jsonata as declarations

    for name in _STUBBED_FUNCTIONS:
        declarations._DECLARATION_BY_VARIABLE_REFERENCE.pop(name, None)


def interpreter_module_names() -> list[str]:
    """For the canary: the interpreter modules currently loaded."""
    return sorted(name for name in sys.modules if name.startswith("moto.stepfunctions.parser"))
