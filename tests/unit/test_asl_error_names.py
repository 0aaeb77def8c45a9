"""Contract: every Retry and Catch in the ASL names errors as AWS names them for that task.

A misspelt name matches nothing on AWS: the retry never happens, the catch falls through to
``States.ALL``. The oracle here restates AWS's naming on purpose, independently of the local
cloud (which must agree: last test):

* ``States.*``: the names the Amazon States Language defines.
* ``lambda:invoke`` tasks: the names our functions raise (fleetpatch's domain errors, and
  pydantic's ``ValidationError`` when an input does not parse), and ``Lambda.X`` for the
  errors of Lambda's Invoke plus those the Step Functions guide names
  (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
* ``aws-sdk:<service>:<action>`` tasks: ``ServiceName.ErrorNameException``, the service name
  in Pascal case as the AWS SDK for Java 2.x spells it (``DynamoDb``, ``Ssm``, ``Sfn``,
  ``AutoScaling``, ``Scheduler``), the error one the service model lists
  (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html).
* optimized ``dynamodb:*`` and ``sns:*`` tasks: ``DynamoDB.X`` and ``SNS.X``.

Where the documentation leaves the name open, the ASL must retry both spellings, in the
same retrier:

* an error the service model does not list (Auto Scaling's ``Throttling``): AWS may name it
  by the rule (``AutoScaling.ThrottlingException``) or after the SDK's base exception
  (``AutoScaling.AutoScalingException``); the base name is required wherever such a name is
  retried;
* an optimized-integration error whose model name has no ``Exception`` suffix
  (``InternalServerError``): ``DynamoDB.InternalServerError`` and
  ``DynamoDB.InternalServerErrorException``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from fleetpatch import errors
from localcloud.adapters import sfn_errors

_SESSION = botocore.session.get_session()
STATEMACHINES = Path(__file__).resolve().parents[2] / "statemachines"

STATES_ERRORS = {
    "States.ALL",
    "States.HeartbeatTimeout",
    "States.Timeout",
    "States.TaskFailed",
    "States.Permissions",
    "States.ResultPathMatchFailure",
    "States.ParameterPathFailure",
    "States.QueryEvaluationError",
    "States.BranchFailed",
    "States.NoChoiceMatched",
    "States.IntrinsicFailure",
    "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed",
    "States.ResultWriterFailed",
    "States.Runtime",
}

# The AWS SDK for Java 2.x client names (the independent oracle; the local cloud's table
# must agree, see the last test).
AWS_SDK_NAMES = {
    "autoscaling": "AutoScaling",
    "dynamodb": "DynamoDb",
    "ec2": "Ec2",
    "scheduler": "Scheduler",
    "sfn": "Sfn",
    "sns": "Sns",
    "ssm": "Ssm",
}
BOTOCORE = {"sfn": "stepfunctions"}
OPTIMIZED = {
    "dynamodb": "DynamoDB",
    "sns": "SNS",
    "lambda": "Lambda",
    "stepfunctions": "StepFunctions",
}

# Documented by Step Functions for lambda:invoke, whatever Lambda's model says.
LAMBDA_DOCUMENTED = {
    "ClientExecutionTimeoutException",
    "ServiceException",
    "AWSLambdaException",
    "SdkClientException",
    "TooManyRequestsException",
    "Unknown",
}
# What a lambda:invoke task must retry: the guide's transient service errors and throttling.
LAMBDA_TRANSIENT = LAMBDA_DOCUMENTED - {"Unknown"}

# Raised by our functions: the domain errors, and pydantic's when an input does not parse.
FUNCTION_ERRORS = {
    cls.__name__
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.FleetpatchError)
} | {"ValidationError"}

# AWS's common errors (any API may answer them) that models often leave out.
# https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html
COMMON_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "InternalFailure",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "ValidationError",
    "RequestExpired",
    # EC2's common client and server errors (its model lists no error shapes at all):
    # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
    "RequestLimitExceeded",
    "InternalError",
    "Unavailable",
}


@cache
def _shapes(service: str) -> tuple[Any, ...]:
    return tuple(_SESSION.get_service_model(service).error_shapes)


@cache
def _model_names(service: str) -> frozenset[str]:
    return frozenset(sfn_errors.exception_name(shape.name) for shape in _shapes(service))


def tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []):
            yield from tasks(branch["States"])
        for key in ("ItemProcessor", "Iterator"):
            if key in state:
                yield from tasks(state[key]["States"])


def _integration(resource: str) -> tuple[str, str]:
    """('aws-sdk', 'ssm'), ('optimized', 'dynamodb'), ('lambda', '')."""
    parts = resource.split(":::", 1)[-1].split(":")
    if parts[0] == "aws-sdk":
        return "aws-sdk", parts[1]
    if parts[0] == "lambda":
        return "lambda", ""
    if parts[0] == "states":
        return "optimized", "stepfunctions"
    return "optimized", parts[0]


def check_retrier(resource: str, names: list[str], siblings: set[str]) -> list[str]:
    """What is wrong with one ErrorEquals list of a task calling ``resource``.

    ``siblings``: every name in the task's Retry (or Catch), where a second spelling may be.
    """
    kind, service = _integration(resource)
    problems = []
    for name in names:
        if name in STATES_ERRORS:
            continue
        if "." not in name:
            if kind != "lambda" or name not in FUNCTION_ERRORS:
                problems.append(f"{name}: no {resource} task raises it")
            continue
        prefix, error = name.split(".", 1)
        if kind == "lambda":
            if prefix != "Lambda" or error not in LAMBDA_DOCUMENTED | _model_names("lambda"):
                problems.append(f"{name}: not a Lambda error Step Functions reports")
        elif kind == "aws-sdk":
            problems += _check_aws_sdk(service, name, prefix, error, siblings)
        else:
            problems += _check_optimized(service, name, prefix, error, siblings)
    return problems


def _check_aws_sdk(
    service: str, name: str, prefix: str, error: str, siblings: set[str]
) -> list[str]:
    expected = AWS_SDK_NAMES[service]
    base = f"{expected}.{expected}Exception"
    if prefix != expected:
        return [f"{name}: aws-sdk:{service} errors start {expected}."]
    if name == base or error in _model_names(BOTOCORE.get(service, service)):
        return []
    if error.removesuffix("Exception") not in {c.removesuffix("Exception") for c in COMMON_CODES}:
        return [f"{name}: not an error of {service}'s model"]
    if base not in siblings:
        return [f"{name}: not in {service}'s model; retry {base} too"]
    return []


def _check_optimized(
    service: str, name: str, prefix: str, error: str, siblings: set[str]
) -> list[str]:
    expected = OPTIMIZED[service]
    bare = {s.name for s in _shapes(service) if not s.name.endswith("Exception")}
    if prefix != expected:
        return [f"{name}: the optimized {service} integration says {expected}."]
    if error == sfn_errors.OPTIMIZED_ERROR_NAMES[service][1]:
        return []
    if error in _model_names(service):
        stem = error.removesuffix("Exception")
        if stem in bare and f"{prefix}.{stem}" not in siblings:
            return [f"{name}: spelling open; retry {prefix}.{stem} too"]
        return []
    if error in bare:
        if f"{name}Exception" not in siblings:
            return [f"{name}: spelling open; retry {name}Exception too"]
        return []
    return [f"{name}: not an error of {service}'s model"]


def check_definition(definition: dict[str, Any]) -> list[str]:
    problems = []
    for name, task in tasks(definition["States"]):
        resource = task["Resource"]
        for field in ("Retry", "Catch"):
            siblings = {n for rule in task.get(field, []) for n in rule["ErrorEquals"]}
            for i, rule in enumerate(task.get(field, [])):
                problems += [
                    f"{name} {field}[{i}] {p}"
                    for p in check_retrier(resource, rule["ErrorEquals"], siblings)
                ]
        if _integration(resource)[0] == "lambda":
            retried = {n for r in task.get("Retry", []) for n in r["ErrorEquals"]}
            missing = sorted(
                f"Lambda.{e}" for e in LAMBDA_TRANSIENT if f"Lambda.{e}" not in retried
            )
            if missing and "States.ALL" not in retried:
                problems.append(f"{name} does not retry Lambda's transient errors {missing}")
    return problems


def definitions() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(STATEMACHINES.glob("*.asl.json"))}


@pytest.mark.parametrize("file", sorted(definitions()))
def test_every_retry_and_catch_matches_the_names_aws_gives(file: str) -> None:
    # Given one of our state machines
    definition = definitions()[file]
    # When each Retry and Catch is checked against the task it belongs to
    problems = check_definition(definition)
    # Then every name is one AWS (or our functions) can raise there
    assert problems == []


def _first_task(definition: dict[str, Any], resource_prefix: str) -> dict[str, Any]:
    return next(
        t for _, t in tasks(definition["States"]) if t["Resource"].startswith(resource_prefix)
    )


@pytest.mark.parametrize(
    ("resource", "wrong", "why"),
    [
        ("arn:aws:states:::sns:publish", "Sns.ThrottledException", "says SNS."),
        ("arn:aws:states:::dynamodb:putItem", "DynamoDb.ThrottlingException", "says DynamoDB."),
        ("arn:aws:states:::aws-sdk:ssm:", "SSM.ThrottlingException", "start Ssm."),
        ("arn:aws:states:::aws-sdk:ssm:", "Ssm.InvalidInstanceId", "model"),
        ("arn:aws:states:::aws-sdk:autoscaling:", "AutoScaling.ThrottlingException", "too"),
        ("arn:aws:states:::lambda:invoke", "InstanceNotFound", "raises it"),
    ],
)
def test_the_check_catches_a_misspelt_name(resource: str, wrong: str, why: str) -> None:
    # Given a copy of the launch workflow where a task retries only a misspelt name
    definition = copy.deepcopy(definitions()["patch_new_instance.asl.json"])
    task = _first_task(definition, resource)
    task["Retry"] = [{"ErrorEquals": [wrong]}]
    # When it is checked
    problems = check_definition(definition)
    # Then the name is reported, and why
    assert any(wrong in p and why in p for p in problems), problems


def test_a_lambda_task_must_retry_lambdas_transient_errors() -> None:
    # Given a copy of the launch workflow whose ResolveTarget forgets AWSLambdaException
    definition = copy.deepcopy(definitions()["patch_new_instance.asl.json"])
    task = definition["States"]["ResolveTarget"]
    for rule in task["Retry"]:
        rule["ErrorEquals"] = [n for n in rule["ErrorEquals"] if n != "Lambda.AWSLambdaException"]
    # When it is checked
    problems = check_definition(definition)
    # Then the omission is reported
    assert any("ResolveTarget does not retry" in p for p in problems), problems


def test_the_local_cloud_names_errors_as_the_oracle_does() -> None:
    # Given the services our ASL calls through aws-sdk and the optimized integrations
    # Then the local cloud's interpreter uses the same service names
    for service, name in AWS_SDK_NAMES.items():
        assert sfn_errors.aws_sdk_service_name(service) == name
    for service, prefix in OPTIMIZED.items():
        assert sfn_errors.OPTIMIZED_ERROR_NAMES[service][0] == prefix
