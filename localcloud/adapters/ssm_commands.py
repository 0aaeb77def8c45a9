"""SSM managed instances and Run Command, served from the fleet simulator (see
localcloud.adapters.ssm).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult, EmptyResult

from localcloud.core import motopatch
from localcloud.sim.fleet import FleetSimulator
from localcloud.sim.instances import AGENT_VERSION, PATCH_DOCUMENTS, ManagedInstance
from localcloud.sim.run_command import (
    Command,
    Invocation,
    SendCommandRequest,
    iso_timestamp,
)

if TYPE_CHECKING:
    from moto.ssm.responses import SimpleSystemManagerResponse


from localcloud.adapters.ssm_api import (
    SsmApiError,
    active_fleet,
    api,
    elapsed_text,
    paginate,
    require_fleet,
    ssm_backend,
    validation_error,
)
from localcloud.adapters.ssm_documents import command_plugins, plugin_name

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

# --- managed instances ---------------------------------------------------------------------------

_INSTANCE_FILTERS: dict[str, Callable[[ManagedInstance, str], str | None]] = {
    "InstanceIds": lambda i, _: i.instance_id,
    "PingStatus": lambda i, ping: ping,
    "PlatformTypes": lambda i, _: i.platform.platform_type,
    "ResourceType": lambda i, _: "EC2Instance",
    "AgentVersion": lambda i, _: AGENT_VERSION,
    # Nothing in the simulation is associated, activated or carries an IAM role for SSM.
    "AssociationStatus": lambda i, _: None,
    "ActivationIds": lambda i, _: None,
    "IamRole": lambda i, _: None,
}


_MANAGED_ID = re.compile(r"^(?:i-[0-9a-f]{8}(?:[0-9a-f]{9})?|mi-[0-9a-f]{17})$")


def _instance_filters(self: SimpleSystemManagerResponse) -> list[tuple[str, set[str]]]:
    legacy = self._get_param("InstanceInformationFilterList") or []
    current = self._get_param("Filters") or []
    if legacy and current:
        # The API reference: "Attempting to use InstanceInformationFilterList and Filters
        # leads to an exception error."
        raise SsmApiError(
            "InvalidInstanceInformationFilterValue",
            "InstanceInformationFilterList and Filters cannot be used together.",
        )
    size = self._get_param("MaxResults")
    if size is not None and not 5 <= int(size) <= 50:
        raise validation_error("maxResults", size, "Member must have value between 5 and 50")
    for n, f in enumerate(current, start=1):
        # InstanceInformationFilterValueSet: 1 to 100 values (the service model).
        if not 1 <= len(f.get("Values", [])) <= 100:
            raise validation_error(
                f"filters.{n}.member.values",
                f.get("Values", []),
                "Member must have length less than or equal to 100",
            )
    filters = [(f["key"], set(f.get("valueSet", []))) for f in legacy]
    filters += [(f["Key"], set(f.get("Values", []))) for f in current]
    for key, values in filters:
        if key == "InstanceIds" and (bad := sorted(v for v in values if not _MANAGED_ID.match(v))):
            raise SsmApiError("InvalidInstanceId", f"Instances {bad} not in a valid state")
    for key, _ in filters:
        if key not in _INSTANCE_FILTERS and not key.startswith("tag:") and key != "tag-key":
            raise SsmApiError("InvalidFilterKey", f"The filter key {key} is not valid.")
    return filters


def _matches(instance: ManagedInstance, ping: str, filters: Iterable[tuple[str, set[str]]]) -> bool:
    tags = instance.tags()
    for key, values in filters:
        if key == "tag-key":
            ok = bool(values & set(tags))
        elif key.startswith("tag:"):
            ok = tags.get(key.removeprefix("tag:")) in values
        else:
            ok = _INSTANCE_FILTERS[key](instance, ping) in values
        if not ok:
            return False
    return True


def _instance_information(
    instance: ManagedInstance, ping: str, now: datetime, region: str
) -> dict[str, Any]:
    platform = instance.platform
    ip = instance.ec2.private_ip or ""
    computer = (
        f"EC2AMAZ-{instance.instance_id[-7:].upper()}"
        if platform.platform_type == "Windows"
        else f"ip-{ip.replace('.', '-')}.{region}.compute.internal"
    )
    return {
        "InstanceId": instance.instance_id,
        "PingStatus": ping,
        "LastPingDateTime": instance.last_ping(now),
        "AgentVersion": AGENT_VERSION,
        "IsLatestVersion": False,
        "PlatformType": platform.platform_type,
        "PlatformName": platform.name,
        "PlatformVersion": platform.version,
        "ResourceType": "EC2Instance",
        "IPAddress": ip,
        "ComputerName": computer,
        "SourceId": instance.instance_id,
        "SourceType": "AWS::EC2::Instance",
    }


@api
def describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("DescribeInstanceInformation")
    filters = _instance_filters(self)
    now = fleet.clock.now()
    # A filter by instance id reads only those instances (the answer is the same: every
    # filter is still applied, in launch order); a scan per call made a wave's checks, one
    # call per 50 instances, quadratic in the fleet.
    among = next((values for key, values in filters if key == "InstanceIds"), None)
    found = []
    for instance in fleet.managed_instances(among):
        ping = instance.ping_status(now)
        if ping is not None and _matches(instance, ping, filters):
            found.append(_instance_information(instance, ping, now, self.region))
    page, token = paginate(self, found, 50)
    return ActionResult({"InstanceInformationList": page, **token})


# --- Run Command ---------------------------------------------------------------------------------

_MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
_MAX_ERRORS = re.compile(r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$")


def _send_command_request(self: SimpleSystemManagerResponse, document: str) -> SendCommandRequest:
    instance_ids = list(self._get_param("InstanceIds") or [])
    targets = list(self._get_param("Targets") or [])
    if len(instance_ids) > 50:
        raise validation_error(
            "instanceIds", instance_ids, "Member must have length less than or equal to 50"
        )
    if len(targets) > 5:
        raise validation_error(
            "targets", targets, "Member must have length less than or equal to 5"
        )
    if bool(instance_ids) == bool(targets):
        raise SsmApiError(
            "ValidationException", "Specify either InstanceIds or Targets (exactly one of them)."
        )
    concurrency = self._get_param("MaxConcurrency") or "50"
    errors = self._get_param("MaxErrors") or "0"
    if not _MAX_CONCURRENCY.match(concurrency):
        raise validation_error(
            "maxConcurrency",
            concurrency,
            f"Member must satisfy regular expression pattern: {_MAX_CONCURRENCY.pattern}",
        )
    if not _MAX_ERRORS.match(errors):
        raise validation_error(
            "maxErrors",
            errors,
            f"Member must satisfy regular expression pattern: {_MAX_ERRORS.pattern}",
        )
    timeout = self._get_param("TimeoutSeconds")
    timeout = int(timeout) if timeout is not None else 3600
    if not 30 <= timeout <= 2592000:
        raise validation_error(
            "timeoutSeconds", timeout, "Member must have value between 30 and 2592000"
        )
    bucket = self._get_param("OutputS3BucketName") or ""
    return SendCommandRequest(
        document_name=document,
        parameters={k: list(v) for k, v in (self._get_param("Parameters") or {}).items()},
        instance_ids=instance_ids,
        targets=targets,
        comment=self._get_param("Comment") or "",
        timeout_seconds=timeout,
        max_concurrency=concurrency,
        max_errors=errors,
        output_bucket=bucket,
        output_prefix=self._get_param("OutputS3KeyPrefix") or "",
        output_region=self._get_param("OutputS3Region") or (self.region if bucket else ""),
        service_role=self._get_param("ServiceRoleArn") or "",
        notification_config=self._get_param("NotificationConfig") or {},
    )


def _render_command(command: Command, *, just_sent: bool = False) -> dict[str, Any]:
    request = command.request
    # SendCommand's own response carries zero counts; later reads carry the real ones.
    counts = {
        "TargetCount": 0 if just_sent else command.target_count,
        "CompletedCount": 0 if just_sent else command.count(lambda i: i.terminal),
        "ErrorCount": 0 if just_sent else command.count(lambda i: i.counts_as_error),
        "DeliveryTimedOutCount": 0
        if just_sent
        else command.count(lambda i: i.details == "DeliveryTimedOut"),
    }
    return {
        "CommandId": command.command_id,
        "DocumentName": request.document_name,
        "DocumentVersion": "$DEFAULT",
        "Comment": request.comment,
        "ExpiresAfter": command.expires_after,
        "Parameters": request.parameters,
        "InstanceIds": request.instance_ids,
        "Targets": request.targets,
        "RequestedDateTime": command.requested,
        "Status": command.status,
        "StatusDetails": command.details,
        "OutputS3Region": request.output_region,
        "OutputS3BucketName": request.output_bucket,
        "OutputS3KeyPrefix": request.output_prefix,
        "MaxConcurrency": request.max_concurrency,
        "MaxErrors": request.max_errors,
        **counts,
        "ServiceRole": request.service_role,
        "NotificationConfig": request.notification_config,
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
        "TimeoutSeconds": request.timeout_seconds,
    }


def _output_url(invocation: Invocation, stream: str) -> str:
    key = invocation.output_key(stream)  # type: ignore[arg-type]
    if key is None or not invocation.started:
        return ""
    request = invocation.command.request
    return f"https://s3.{request.output_region}.amazonaws.com/{request.output_bucket}/{key}"


def _render_plugin(invocation: Invocation) -> dict[str, Any]:
    request = invocation.command.request
    plugin: dict[str, Any] = {
        "Name": plugin_name(invocation.plugin[1]),
        "Status": invocation.status,
        "StatusDetails": invocation.details,
        "ResponseCode": invocation.response_code,
        "Output": invocation.stdout[:2500],
        "StandardOutputUrl": _output_url(invocation, "stdout"),
        "StandardErrorUrl": _output_url(invocation, "stderr"),
        "OutputS3Region": request.output_region,
        "OutputS3BucketName": request.output_bucket,
        "OutputS3KeyPrefix": request.output_prefix,
    }
    if invocation.started is not None:
        plugin["ResponseStartDateTime"] = invocation.started
    if invocation.ended is not None and invocation.started is not None:
        plugin["ResponseFinishDateTime"] = invocation.ended
    return plugin


def _render_invocation(invocation: Invocation, details: bool) -> dict[str, Any]:
    command = invocation.command
    rendered: dict[str, Any] = {
        "CommandId": command.command_id,
        "InstanceId": invocation.instance_id,
        "InstanceName": "",
        "Comment": command.request.comment,
        "DocumentName": command.request.document_name,
        "DocumentVersion": "$DEFAULT",
        "RequestedDateTime": command.requested,
        "Status": invocation.status,
        "StatusDetails": invocation.details,
        "TraceOutput": "",
        "StandardOutputUrl": _output_url(invocation, "stdout"),
        "StandardErrorUrl": _output_url(invocation, "stderr"),
        "CommandPlugins": [_render_plugin(invocation)] if details else [],
        "ServiceRole": command.request.service_role,
        "NotificationConfig": command.request.notification_config,
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }
    return rendered


def _moto_invocation(command: Any, invocation: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "CommandId": command.command_id,
        "InstanceId": invocation["InstanceId"],
        "Comment": command.comment,
        "DocumentName": command.document_name,
        "RequestedDateTime": command.requested_date_time,
        "Status": invocation["Status"],
        "StatusDetails": invocation["StatusDetails"],
    }


def _command_filters(self: SimpleSystemManagerResponse) -> Callable[[str, datetime], bool]:
    """ListCommands/ListCommandInvocations Filters as a predicate on (status, requested).

    DocumentName filters are applied by the caller, which knows the document.
    """
    filters = [(f["key"], f["value"]) for f in self._get_param("Filters") or []]
    for key, _ in filters:
        if key not in {"Status", "InvokedAfter", "InvokedBefore", "DocumentName"}:
            raise SsmApiError("InvalidFilterKey", f"The filter key {key} is not valid.")

    def keep(status: str, requested: datetime) -> bool:
        for key, value in filters:
            if key == "Status" and status != value:
                return False
            if key in {"InvokedAfter", "InvokedBefore"}:
                bound = datetime.fromisoformat(value.replace("Z", "+00:00"))
                if (requested < bound) if key == "InvokedAfter" else (requested > bound):
                    return False
        return True

    return keep


def _document_filter(self: SimpleSystemManagerResponse) -> set[str] | None:
    names = {f["value"] for f in self._get_param("Filters") or [] if f["key"] == "DocumentName"}
    return names or None


def _original(name: str) -> Callable[[SimpleSystemManagerResponse], Any]:
    from moto.ssm.responses import SimpleSystemManagerResponse

    method: Callable[[SimpleSystemManagerResponse], Any] = motopatch.original(
        SimpleSystemManagerResponse, name
    )
    return method


@api
def send_command(self: SimpleSystemManagerResponse) -> Any:
    fleet = active_fleet()
    document = self._get_param("DocumentName")
    if fleet is None:
        return _original("send_command")(self)
    request = _send_command_request(self, document)
    if document not in PATCH_DOCUMENTS:
        plugins = command_plugins(ssm_backend(self), document, request.parameters)
        request = dataclasses.replace(request, plugins=plugins)
    command = fleet.send_command(request)
    return ActionResult({"Command": _render_command(command, just_sent=True)})


@api
def list_commands(self: SimpleSystemManagerResponse) -> Any:
    fleet = active_fleet()
    if fleet is None:
        return _original("list_commands")(self)
    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    keep = _command_filters(self)
    documents = _document_filter(self)
    entries: list[tuple[datetime, dict[str, Any]]] = []
    for command in fleet.commands():
        if (
            (command_id is None or command.command_id == command_id)
            and (instance_id is None or instance_id in command.invocations)
            and (documents is None or command.request.document_name in documents)
            and keep(command.status, command.requested)
        ):
            entries.append((command.requested, _render_command(command)))
    for moto_command in ssm_backend(self)._commands:
        if (
            (command_id is None or moto_command.command_id == command_id)
            and (instance_id is None or instance_id in moto_command.instance_ids)
            and (documents is None or moto_command.document_name in documents)
            and keep(moto_command.status, moto_command.requested_date_time)
        ):
            entries.append((moto_command.requested_date_time, moto_command.response_object()))
    if command_id is not None and not entries and not _command_exists(self, fleet, command_id):
        raise SsmApiError("InvalidCommandId", "")
    entries.sort(key=lambda entry: entry[0].timestamp(), reverse=True)
    page, token = paginate(self, [e for _, e in entries], 50)
    return ActionResult({"Commands": page, **token})


def _command_exists(
    self: SimpleSystemManagerResponse, fleet: FleetSimulator, command_id: str
) -> bool:
    return fleet.command(command_id) is not None or any(
        c.command_id == command_id for c in ssm_backend(self)._commands
    )


@api
def list_command_invocations(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("ListCommandInvocations")
    command_id, instance_id = self._get_param("CommandId"), self._get_param("InstanceId")
    details = bool(self._get_param("Details"))
    if command_id is not None and not _command_exists(self, fleet, command_id):
        raise SsmApiError("InvalidCommandId", "")
    keep = _command_filters(self)
    documents = _document_filter(self)
    entries: list[tuple[datetime, dict[str, Any]]] = []
    for command in fleet.commands():
        if command_id not in {None, command.command_id} or (
            documents is not None and command.request.document_name not in documents
        ):
            continue
        for invocation in command.invocations.values():
            if instance_id in {None, invocation.instance_id} and keep(
                invocation.status, command.requested
            ):
                entries.append((command.requested, _render_invocation(invocation, details)))
    for moto_command in ssm_backend(self)._commands:
        if command_id not in {None, moto_command.command_id} or (
            documents is not None and moto_command.document_name not in documents
        ):
            continue
        for moto_invocation in moto_command.invocations:
            if instance_id in {None, moto_invocation["InstanceId"]} and keep(
                moto_invocation["Status"], moto_command.requested_date_time
            ):
                entries.append(
                    (
                        moto_command.requested_date_time,
                        _moto_invocation(moto_command, moto_invocation),
                    )
                )
    entries.sort(key=lambda entry: entry[0].timestamp(), reverse=True)
    page, token = paginate(self, [e for _, e in entries], 50)
    return ActionResult({"CommandInvocations": page, **token})


@api
def get_command_invocation(self: SimpleSystemManagerResponse) -> Any:
    fleet = active_fleet()
    command = fleet.command(self._get_param("CommandId")) if fleet is not None else None
    if command is None:
        return _original("get_command_invocation")(self)
    invocation = command.invocations.get(self._get_param("InstanceId"))
    if invocation is None:
        raise SsmApiError("InvocationDoesNotExist", "")
    step = plugin_name(invocation.plugin[1])
    plugin = self._get_param("PluginName")
    skipped = {"PatchLinux", "PatchWindows"} - {step} if command.patch is not None else set()
    if plugin is not None and plugin != step and plugin not in skipped:
        raise SsmApiError("InvalidPluginName", "")
    rendered: dict[str, Any] = {
        "CommandId": command.command_id,
        "InstanceId": invocation.instance_id,
        "Comment": command.request.comment,
        "DocumentName": command.request.document_name,
        "DocumentVersion": "$DEFAULT",
        "PluginName": step,
        "ResponseCode": invocation.response_code,
        "ExecutionStartDateTime": iso_timestamp(invocation.started) if invocation.started else "",
        "ExecutionElapsedTime": elapsed_text(invocation),
        "ExecutionEndDateTime": iso_timestamp(invocation.ended)
        if invocation.started and invocation.ended
        else "",
        "Status": invocation.status,
        "StatusDetails": invocation.details,
        "StandardOutputContent": invocation.stdout[:24000],
        "StandardOutputUrl": _output_url(invocation, "stdout"),
        "StandardErrorContent": invocation.stderr[:8000],
        "StandardErrorUrl": _output_url(invocation, "stderr"),
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }
    if plugin in skipped:  # the other platform's step: skipped by its precondition
        rendered |= {
            "PluginName": plugin,
            "ResponseCode": 0,
            "Status": "Success",
            "StatusDetails": "Success",
            "StandardOutputContent": "Step execution skipped due to unsatisfied preconditions: "
            f"'StringEquals: platformType, {'Windows' if plugin == 'PatchWindows' else 'Linux'}'",
            "StandardOutputUrl": "",
            "StandardErrorContent": "",
            "StandardErrorUrl": "",
        }
    return ActionResult(rendered)


@api
def cancel_command(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("CancelCommand")
    command_id = self._get_param("CommandId")
    if fleet.command(command_id) is not None:
        fleet.cancel_command(command_id, list(self._get_param("InstanceIds") or []))
    else:
        ssm_backend(self).get_command_by_id(command_id)  # raises InvalidCommandId; moto's are done
    return EmptyResult()
