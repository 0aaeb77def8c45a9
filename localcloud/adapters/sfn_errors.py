"""The error names Step Functions gives a failed service call, for the local cloud's interpreter.

What AWS documents:

* AWS SDK integrations (``arn:aws:states:::aws-sdk:<service>:<action>``) name an error
  ``ServiceName.ErrorName``, both in Pascal case, with the ``Exception`` suffix added when
  the service's own name lacks it (``AcmPca.ResourceNotFoundException``,
  ``S3.BucketAlreadyExistsException``); the service's API reference lists the names.
  https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html
  The service names are those of the AWS SDK for Java 2.x clients (``AcmPca``, ``DynamoDb``,
  ``Sfn``, ``Ssm``, ``AutoScaling``): LocalStack, which records its Step Functions tests
  against AWS, binds ``dynamodb`` to ``DynamoDb`` and ``sfn`` to ``Sfn``.
* The optimized Lambda integration: ``Lambda.ServiceException``, ``Lambda.AWSLambdaException``,
  ``Lambda.SdkClientException``, ``Lambda.ClientExecutionTimeoutException``,
  ``Lambda.TooManyRequestsException``; ``Lambda.Unknown`` for unhandled function errors.
  https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html
* The optimized DynamoDB and SNS integrations prefix ``DynamoDB.`` and ``SNS.`` (the AWS SDK
  for Java 1.x service names; ``DynamoDB.AmazonDynamoDBException`` for an error it does not
  model). Their pages list no names: this is what LocalStack recorded against AWS.

What AWS leaves open, and what the local cloud does then (the ASL retries both spellings;
tests/unit/test_asl_error_names.py checks that):

* An error code the service model does not list (Auto Scaling's ``Throttling``, a common
  error): the SDK raises its service's base exception, so the local cloud names it after
  that (``AutoScaling.AutoScalingException``, ``Lambda.AWSLambdaException``), while the
  documented rule would give ``AutoScaling.ThrottlingException``.
* A DynamoDB name without the suffix (``InternalServerError``) on the optimized integration:
  the local cloud adds it (``DynamoDB.InternalServerErrorException``), as the SDK's class
  name does.
"""

from __future__ import annotations

from functools import cache

import botocore.session

# botocore service name -> the Pascal-case name of aws-sdk errors (AWS SDK for Java 2.x).
AWS_SDK_SERVICE_NAMES = {
    "autoscaling": "AutoScaling",
    "cloudwatch": "CloudWatch",
    "dynamodb": "DynamoDb",
    "ec2": "Ec2",
    "events": "EventBridge",
    "lambda": "Lambda",
    "s3": "S3",
    "scheduler": "Scheduler",
    "secretsmanager": "SecretsManager",
    "sns": "Sns",
    "sqs": "Sqs",
    "ssm": "Ssm",
    "stepfunctions": "Sfn",
}
# The service part of aws-sdk resource ARNs that botocore names otherwise.
AWS_SDK_RESOURCE_SERVICES = {"sfn": "stepfunctions", "eventbridge": "events"}

# Optimized integrations: botocore service -> (error prefix, name of an unmodeled error).
OPTIMIZED_ERROR_NAMES = {
    "lambda": ("Lambda", "AWSLambdaException"),
    "dynamodb": ("DynamoDB", "AmazonDynamoDBException"),
    "sns": ("SNS", "AmazonSNSException"),
    # states:startExecution(.sync:2): "StepFunctions.ExecutionLimitExceededException" and the
    # like, as the Step Functions guide names them for a nested workflow.
    "stepfunctions": ("StepFunctions", "AWSStepFunctionsException"),
}


@cache
def _modeled_names(service: str) -> dict[str, str]:
    """Error code -> the SDK's exception name, for every error the service model lists."""
    model = botocore.session.get_session().get_service_model(service)
    names = {}
    for shape in model.error_shapes:
        code = (shape.metadata.get("error") or {}).get("code", shape.name)
        names[code] = exception_name(shape.name)
        names.setdefault(shape.name, exception_name(shape.name))
    return names


def exception_name(shape_name: str) -> str:
    """An error shape's SDK class name: ``...Fault`` and ``...Error`` end in ``Exception``."""
    base = shape_name.removesuffix("Fault")
    return base if base.endswith("Exception") else base + "Exception"


def modeled_exception(service: str, code: str) -> str | None:
    """The SDK's exception name for ``code``, or None when the service model lacks it."""
    return _modeled_names(service).get(code)


def botocore_service(resource_service: str) -> str:
    """The botocore name of the service in ``arn:aws:states:::aws-sdk:<service>:...``."""
    lowered = resource_service.lower()
    return AWS_SDK_RESOURCE_SERVICES.get(lowered, lowered)


def aws_sdk_service_name(resource_service: str) -> str:
    service = botocore_service(resource_service)
    return AWS_SDK_SERVICE_NAMES.get(service, resource_service[:1].upper() + resource_service[1:])


def aws_sdk_error_name(resource_service: str, code: str) -> str:
    """``Ssm.InvalidInstanceIdException`` for an aws-sdk task's ClientError ``code``."""
    prefix = aws_sdk_service_name(resource_service)
    service = botocore_service(resource_service)
    try:
        name = modeled_exception(service, code)
    except botocore.exceptions.UnknownServiceError:
        name = exception_name(code)
    return f"{prefix}.{name or prefix + 'Exception'}"


def optimized_error_name(service: str, code: str) -> str:
    """``DynamoDB.ConditionalCheckFailedException`` for an optimized integration's ``code``."""
    prefix, unmodeled = OPTIMIZED_ERROR_NAMES[service]
    return f"{prefix}.{modeled_exception(service, code) or unmodeled}"
