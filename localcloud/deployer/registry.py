"""Every resource type the local deploy creates, mapped to its creator: the one list.

A type not here fails the deploy by name (see :func:`check_types`); a type here accepts
only the properties its creator declares (see :class:`~.resources.base.ResourceType`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from localcloud.deployer.resources import (
    cloudformation,
    event_bus,
    events,
    iam,
    lambda_,
    logs,
    messaging,
    secretsmanager,
    ssm,
    stepfunctions,
    storage,
)
from localcloud.deployer.resources.base import ResourceType
from localcloud.intrinsics import TemplateError

RESOURCE_TYPES: Mapping[str, ResourceType] = MappingProxyType(
    {
        "AWS::CloudFormation::Stack": cloudformation.nested_stack,
        "AWS::CloudWatch::Alarm": logs.alarm,
        "AWS::CloudWatch::Dashboard": logs.dashboard,
        "AWS::DynamoDB::Table": storage.table,
        "AWS::Events::Rule": events.rule,
        # issue 22: the central account's bus and its organization policy.
        "AWS::Events::EventBus": event_bus.event_bus,
        "AWS::Events::EventBusPolicy": event_bus.event_bus_policy,
        "AWS::IAM::ManagedPolicy": iam.managed_policy,
        "AWS::IAM::Policy": iam.role_policy,
        "AWS::IAM::Role": iam.role,
        "AWS::KMS::Alias": storage.kms_alias,
        "AWS::KMS::Key": storage.kms_key,
        "AWS::Lambda::EventInvokeConfig": lambda_.event_invoke_config,
        "AWS::Lambda::Function": lambda_.function,
        "AWS::Lambda::LayerVersion": lambda_.layer,
        "AWS::Lambda::Permission": lambda_.permission,
        "AWS::Logs::LogGroup": logs.log_group,
        "AWS::S3::Bucket": storage.bucket,
        "AWS::S3::BucketPolicy": storage.bucket_policy,
        "AWS::SNS::Subscription": messaging.subscription,
        "AWS::SNS::Topic": messaging.topic,
        "AWS::SNS::TopicPolicy": messaging.topic_policy,
        "AWS::SQS::Queue": messaging.queue,
        "AWS::SQS::QueuePolicy": messaging.queue_policy,
        "AWS::SSM::Document": ssm.document,
        "AWS::SSM::MaintenanceWindow": ssm.maintenance_window,
        "AWS::SSM::MaintenanceWindowTarget": ssm.maintenance_window_target,
        "AWS::SSM::MaintenanceWindowTask": ssm.maintenance_window_task,
        "AWS::SSM::Parameter": ssm.parameter,
        "AWS::SSM::PatchBaseline": ssm.patch_baseline,
        "AWS::Scheduler::Schedule": events.schedule,
        "AWS::SecretsManager::Secret": secretsmanager.secret,
        "AWS::StepFunctions::StateMachine": stepfunctions.state_machine,
    }
)

SUPPORTED_TYPES: tuple[str, ...] = tuple(
    sorted(name for name, kind in RESOURCE_TYPES.items() if not kind.recorded_only)
)
RECORDED_ONLY_TYPES: tuple[str, ...] = tuple(
    sorted(name for name, kind in RESOURCE_TYPES.items() if kind.recorded_only)
)


def check_types(resources: Mapping[str, Mapping[str, Any]]) -> None:
    """Fail naming every resource whose type the local cloud does not create or record."""
    unknown: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] not in RESOURCE_TYPES:
            unknown.setdefault(resource["Type"], []).append(logical_id)
    if unknown:
        listed = "; ".join(f"{kind} ({', '.join(ids)})" for kind, ids in sorted(unknown.items()))
        raise TemplateError(
            f"resource types the local cloud does not support: {listed}. Supported: "
            f"{', '.join(SUPPORTED_TYPES)}; recorded only: {', '.join(RECORDED_ONLY_TYPES)}"
        )
