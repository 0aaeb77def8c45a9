"""Systems Manager on the local cloud: Run Command, managed instances, patching, compliance.

moto 5.2.5 stores patch baselines and patch groups but never makes anything a managed
instance, and its SendCommand succeeds at once everywhere. This extension routes the SSM
operations fleetpatch uses to the :class:`~localcloud.sim.fleet.FleetSimulator` (the agent,
the patch runs) and fixes moto's patch baseline bookkeeping:

* Run Command for AWS-RunPatchBaseline(-WithHooks): SendCommand (request validation as
  AWS: at most 50 InstanceIds, 5 Targets, MaxConcurrency/MaxErrors patterns),
  ListCommands, ListCommandInvocations, GetCommandInvocation, CancelCommand. Commands of
  other documents keep moto's behaviour and are listed alongside.
* DescribeInstanceInformation, DescribeInstancePatchStates(-ForPatchGroup),
  DescribeInstancePatches, PutComplianceItems, ListComplianceItems,
  ListResourceComplianceSummaries.
* GetPatchBaseline, DescribePatchBaselines (AWS's predefined baselines included),
  DescribePatchGroups, GetDefaultPatchBaseline, RegisterDefaultPatchBaseline;
  RegisterPatchBaselineForPatchGroup no longer refuses a second OS in a group;
  GetPatchBaselineForPatchGroup answers the OS's default baseline for a group with none
  registered (as AWS does: its only documented error is InternalServerError) and defaults
  OperatingSystem to WINDOWS; DeregisterPatchBaselineForPatchGroup deregisters;
  CreatePatchBaseline accepts Tags.
* ThrottlingException on demand (``fleet.throttle``) for any SSM operation.

Pages: ``MaxResults`` (default: the operation's maximum) and ``NextToken`` work everywhere.

moto internals touched (each has a canary in tests/unit/localcloud/test_moto_canaries_ssm.py):

* ``moto.ssm.responses.SimpleSystemManagerResponse``: ``call_action`` wrapped (faults);
  ``send_command``, ``list_commands``, ``get_command_invocation`` and
  ``describe_patch_baselines`` replaced (moto's still serve other documents, or when no
  fleet runs); methods added for the operations listed above that moto lacks; reads
  ``_get_param``, ``_get_action``, ``serialized``, ``_transform_response``,
  ``_enrich_response``, ``response_headers``, ``current_account``, ``region``.
* ``moto.ssm.models.SimpleSystemManagerBackend``: ``register_``, ``get_`` and
  ``deregister_patch_baseline_for_patch_group`` replaced; ``_validate_resource_type_and_id``
  wrapped; reads ``baselines`` (``FakePatchBaseline.to_json``, ``.operating_system``,
  ``.id``), ``patch_groups`` (``FakePatchGroup.associations``), ``_commands``
  (``Command.response_object``, ``.invocations``, ``.instance_ids``) and
  ``get_command_by_id``; ``moto.ssm.models.ssm_backends``, ``FakePatchGroup``.
* ``moto.ssm.exceptions``: ``AlreadyExistsException``, ``BaselineDoesNotExistException``.
* ``moto/ssm/resources/default_baselines.json`` (AWS's default baseline ARNs per region)
  through ``moto.utilities.utils.load_resource``.
* ``moto.ec2.models.instances.InstanceBackend.run_instances`` wrapped: every launched
  ``Instance`` is offered to the fleet (reads ``id``, ``image_id``, ``state``,
  ``private_ip``, and its tags from ``ec2_backend.tags``).
"""

from __future__ import annotations

import contextlib
import functools
import re
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.fleet import FLEET, FleetSimulator
from localcloud.sim.instances import AGENT_VERSION, PATCH_DOCUMENTS, ApiError, ManagedInstance
from localcloud.sim.patches import (
    OPERATING_SYSTEMS,
    Baseline,
    OperatingSystem,
    aws_default_baseline,
)
from localcloud.sim.run_command import (
    Command,
    ComplianceItem,
    ComplianceRecord,
    Invocation,
    PatchReport,
    SendCommandRequest,
    iso_timestamp,
    state_label,
)

if TYPE_CHECKING:
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse


class SsmApiError(ServiceException):
    """An SSM error code and message, rendered by moto as AWS renders it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)


def _active_fleet() -> FleetSimulator | None:
    """The running cloud's fleet, if it has one (else moto answers as it would)."""
    return FLEET.get()


def _require_fleet(operation: str) -> FleetSimulator:
    fleet = _active_fleet()
    if fleet is None:
        raise NotImplementedError(f"{operation} needs the fleet simulator (localcloud.sim.fleet)")
    return fleet


@functools.cache
def operation_names() -> frozenset[str]:
    """SSM's API operation names (what ``fleet.throttle(api=...)`` accepts)."""
    from moto.core.utils import get_service_model

    return frozenset(get_service_model("ssm").operation_names)


def _api(
    method: Callable[[SimpleSystemManagerResponse], ActionResult],
) -> Callable[[SimpleSystemManagerResponse], ActionResult]:
    """Read the fleet under its lock; turn its ApiError into the AWS error response."""

    @functools.wraps(method)
    def handler(self: SimpleSystemManagerResponse) -> ActionResult:
        fleet = _active_fleet()
        try:
            with fleet.lock if fleet is not None else contextlib.nullcontext():
                return method(self)
        except ApiError as exc:
            raise SsmApiError(exc.code, exc.message) from exc

    return handler


def _backend(self: SimpleSystemManagerResponse) -> SimpleSystemManagerBackend:
    from moto.ssm.models import ssm_backends

    return ssm_backends[self.current_account][self.region]


def _page[T](
    self: SimpleSystemManagerResponse, items: Sequence[T], maximum: int
) -> tuple[list[T], dict[str, str]]:
    """One page of ``items`` and the NextToken entry for the response, if more follow."""
    token = self._get_param("NextToken")
    size = int(self._get_param("MaxResults") or maximum)
    try:
        start = int(token) if token else 0
    except ValueError:
        raise SsmApiError("InvalidNextToken", "The specified token isn't valid.") from None
    end = start + size
    return list(items[start:end]), ({"NextToken": str(end)} if end < len(items) else {})


def _validation_error(field: str, value: Any, constraint: str) -> SsmApiError:
    return SsmApiError(
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}",
    )


def _compare(value: str | int | None, wanted: Sequence[str], operator: str) -> bool:
    """ComplianceStringFilter/InstancePatchStateFilter comparison (case-insensitive names)."""
    if value is None:
        return False
    op = operator.upper().replace("_", "")
    if op in {"LESSTHAN", "GREATERTHAN"}:
        numeric = isinstance(value, int)
        bound: Any = int(wanted[0]) if numeric else wanted[0]
        return bool(value < bound) if op == "LESSTHAN" else bool(value > bound)
    text = str(value)
    if op == "NOTEQUAL":
        return text not in wanted
    if op == "BEGINWITH":
        return any(text.startswith(w) for w in wanted)
    return text in wanted


def _elapsed(invocation: Invocation) -> str:
    """ISO 8601 duration as GetCommandInvocation shows it (PT1H0.271S)."""
    if invocation.started is None or invocation.ended is None:
        return ""
    seconds = (invocation.ended - invocation.started).total_seconds()
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    text = "PT" + (f"{int(hours)}H" if hours else "") + (f"{int(minutes)}M" if minutes else "")
    return text + f"{rest:.3f}S"


# --- patch baselines -----------------------------------------------------------------------------


@functools.cache
def _aws_default_ids(region: str) -> dict[str, str]:
    from moto.utilities.utils import load_resource

    ids: dict[str, str] = load_resource("ssm/resources/default_baselines.json")[region]
    return ids


# The default baseline chosen per OS with RegisterDefaultPatchBaseline, per moto backend (so
# it is reset with moto's state).
_registered_defaults: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


class MotoBaselines:
    """Patch baselines as moto stores them, AWS's predefined ones, and the defaults."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    @property
    def backend(self) -> SimpleSystemManagerBackend:
        from moto.ssm.models import ssm_backends

        return ssm_backends[self.account_id][self.region]

    def aws_defaults(self) -> list[Baseline]:
        ids = _aws_default_ids(self.region)
        return [aws_default_baseline(os_name, ids[os_name]) for os_name in OPERATING_SYSTEMS]

    def get(self, baseline_id: str) -> Baseline | None:
        """A custom baseline by id, or an AWS one by ARN (or by its pb- id, leniently)."""
        fake = self.backend.baselines.get(baseline_id)
        if fake is not None:
            data = fake.to_json()
            return Baseline.from_api(
                fake.id,
                {**data, "Name": data["BaselineName"], "Description": data["BaselineDescription"]},
            )
        return next(
            (
                b
                for b in self.aws_defaults()
                if baseline_id in {b.baseline_id, b.baseline_id.rsplit("/", 1)[-1]}
            ),
            None,
        )

    def default_id(self, os_name: str) -> str:
        registered = _registered_defaults.get(self.backend, {})
        return registered.get(os_name) or _aws_default_ids(self.region)[os_name]

    def register_default(self, baseline: Baseline) -> None:
        _registered_defaults.setdefault(self.backend, {})[baseline.operating_system] = (
            baseline.baseline_id
        )

    def registered(self, patch_group: str, os_name: str) -> str | None:
        """The custom baseline registered for ``patch_group`` and ``os_name``, if any."""
        group = self.backend.patch_groups.get(patch_group)
        baseline_id = group.associations.get(os_name) if group is not None else None
        return baseline_id if baseline_id in self.backend.baselines else None

    def groups_of(self, baseline_id: str) -> list[str]:
        return [
            name
            for name, group in self.backend.patch_groups.items()
            if baseline_id in group.associations.values() and baseline_id in self.backend.baselines
        ]

    def for_patch_group(self, os_name: OperatingSystem, patch_group: str | None) -> Baseline:
        baseline_id = (self.registered(patch_group, os_name) if patch_group else None) or (
            self.default_id(os_name)
        )
        baseline = self.get(baseline_id)
        if baseline is None:  # a registered default deleted since: AWS's applies
            baseline = aws_default_baseline(os_name, _aws_default_ids(self.region)[os_name])
        return baseline


def _baselines(self: SimpleSystemManagerResponse) -> MotoBaselines:
    return MotoBaselines(self.current_account, self.region)


def _identity(baseline: Baseline, default_id: str) -> dict[str, Any]:
    return {
        "BaselineId": baseline.baseline_id,
        "BaselineName": baseline.name,
        "OperatingSystem": baseline.operating_system,
        "BaselineDescription": baseline.description,
        "DefaultBaseline": baseline.baseline_id == default_id,
    }


def get_patch_baseline(self: SimpleSystemManagerResponse) -> ActionResult:
    from moto.ssm.exceptions import BaselineDoesNotExistException

    store = _baselines(self)
    baseline = store.get(self._get_param("BaselineId"))
    if baseline is None:
        raise BaselineDoesNotExistException()
    return ActionResult({**baseline.to_api(), "PatchGroups": store.groups_of(baseline.baseline_id)})


def describe_patch_baselines(self: SimpleSystemManagerResponse) -> ActionResult:
    store = _baselines(self)
    owned = [("AWS", b) for b in store.aws_defaults()] + [
        ("Self", b) for b in (store.get(i) for i in store.backend.baselines) if b is not None
    ]
    for f in self._get_param("Filters") or []:
        key, values = f["Key"], f.get("Values", [])
        if key == "NAME_PREFIX":
            owned = [(o, b) for o, b in owned if any(b.name.startswith(v) for v in values)]
        elif key == "OWNER":
            owned = [(o, b) for o, b in owned if o in values]
        elif key == "OPERATING_SYSTEM":
            owned = [(o, b) for o, b in owned if b.operating_system in values]
    page, token = _page(self, [b for _, b in owned], 100)
    identities = [_identity(b, store.default_id(b.operating_system)) for b in page]
    return ActionResult({"BaselineIdentities": identities, **token})


def get_default_patch_baseline(self: SimpleSystemManagerResponse) -> ActionResult:
    os_name = self._get_param("OperatingSystem") or "WINDOWS"
    return ActionResult(
        {"BaselineId": _baselines(self).default_id(os_name), "OperatingSystem": os_name}
    )


def register_default_patch_baseline(self: SimpleSystemManagerResponse) -> ActionResult:
    from moto.ssm.exceptions import BaselineDoesNotExistException

    store = _baselines(self)
    baseline = store.get(self._get_param("BaselineId"))
    if baseline is None:
        raise BaselineDoesNotExistException()
    store.register_default(baseline)
    return ActionResult({"BaselineId": baseline.baseline_id})


def describe_patch_groups(self: SimpleSystemManagerResponse) -> ActionResult:
    store = _baselines(self)
    mappings: list[dict[str, Any]] = []
    for name, group in store.backend.patch_groups.items():
        for baseline_id in dict.fromkeys(group.associations.values()):
            baseline = store.get(baseline_id) if baseline_id in store.backend.baselines else None
            if baseline is not None:
                identity = _identity(baseline, store.default_id(baseline.operating_system))
                mappings.append({"PatchGroup": name, "BaselineIdentity": identity})
    for f in self._get_param("Filters") or []:
        key, values = f["Key"], f.get("Values", [])
        if key == "NAME_PREFIX":
            mappings = [m for m in mappings if any(m["PatchGroup"].startswith(v) for v in values)]
        elif key == "OPERATING_SYSTEM":
            mappings = [m for m in mappings if m["BaselineIdentity"]["OperatingSystem"] in values]
    page, token = _page(self, mappings, 100)
    return ActionResult({"Mappings": page, **token})


# Backend replacements (they do not need the fleet).


def _register_patch_baseline_for_patch_group(
    self: SimpleSystemManagerBackend, baseline_id: str, patch_group: str
) -> tuple[str, str]:
    from moto.ssm.exceptions import AlreadyExistsException, BaselineDoesNotExistException
    from moto.ssm.models import FakePatchGroup

    if baseline_id not in self.baselines:
        raise BaselineDoesNotExistException()
    os_name = self.baselines[baseline_id].operating_system
    group = self.patch_groups.get(patch_group)
    if group is None:
        group = self.patch_groups[patch_group] = FakePatchGroup(patch_group, self.region_name)
    current = group.associations.get(os_name)
    if current in self.baselines and current != baseline_id:
        raise AlreadyExistsException(os_name)
    group.associations[os_name] = baseline_id
    return baseline_id, patch_group


def _get_patch_baseline_for_patch_group(
    self: SimpleSystemManagerBackend, patch_group: str, operating_system: str | None
) -> tuple[str, str, str]:
    os_name = operating_system or "WINDOWS"
    store = MotoBaselines(self.account_id, self.region_name)
    return store.registered(patch_group, os_name) or store.default_id(os_name), patch_group, os_name


def _deregister_patch_baseline_for_patch_group(
    self: SimpleSystemManagerBackend, baseline_id: str, patch_group: str
) -> tuple[str, str]:
    from moto.ssm.exceptions import BaselineDoesNotExistException

    if baseline_id not in self.baselines:
        raise BaselineDoesNotExistException()
    group = self.patch_groups.get(patch_group)
    os_name = self.baselines[baseline_id].operating_system
    if group is not None and group.associations.get(os_name) == baseline_id:
        group.associations[os_name] = _aws_default_ids(self.region_name)[os_name]
    return baseline_id, patch_group


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


def _instance_filters(self: SimpleSystemManagerResponse) -> list[tuple[str, set[str]]]:
    filters = [
        (f["key"], set(f.get("valueSet", [])))
        for f in self._get_param("InstanceInformationFilterList") or []
    ]
    filters += [(f["Key"], set(f.get("Values", []))) for f in self._get_param("Filters") or []]
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


@_api
def describe_instance_information(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("DescribeInstanceInformation")
    filters = _instance_filters(self)
    now = fleet.clock.now()
    found = []
    for instance in fleet.managed_instances():
        ping = instance.ping_status(now)
        if ping is not None and _matches(instance, ping, filters):
            found.append(_instance_information(instance, ping, now, self.region))
    page, token = _page(self, found, 50)
    return ActionResult({"InstanceInformationList": page, **token})


# --- Run Command ---------------------------------------------------------------------------------

_MAX_CONCURRENCY = re.compile(r"^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$")
_MAX_ERRORS = re.compile(r"^([1-9][0-9]*|[0]|[1-9][0-9]%|[0-9]%|100%)$")


def _send_command_request(self: SimpleSystemManagerResponse, document: str) -> SendCommandRequest:
    instance_ids = list(self._get_param("InstanceIds") or [])
    targets = list(self._get_param("Targets") or [])
    if len(instance_ids) > 50:
        raise _validation_error(
            "instanceIds", instance_ids, "Member must have length less than or equal to 50"
        )
    if len(targets) > 5:
        raise _validation_error(
            "targets", targets, "Member must have length less than or equal to 5"
        )
    if bool(instance_ids) == bool(targets):
        raise SsmApiError(
            "ValidationException", "Specify either InstanceIds or Targets (exactly one of them)."
        )
    concurrency = self._get_param("MaxConcurrency") or "50"
    errors = self._get_param("MaxErrors") or "0"
    if not _MAX_CONCURRENCY.match(concurrency):
        raise _validation_error(
            "maxConcurrency",
            concurrency,
            f"Member must satisfy regular expression pattern: {_MAX_CONCURRENCY.pattern}",
        )
    if not _MAX_ERRORS.match(errors):
        raise _validation_error(
            "maxErrors",
            errors,
            f"Member must satisfy regular expression pattern: {_MAX_ERRORS.pattern}",
        )
    timeout = self._get_param("TimeoutSeconds")
    timeout = int(timeout) if timeout is not None else 3600
    if not 30 <= timeout <= 2592000:
        raise _validation_error(
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
        "Name": invocation.instance.platform.plugin[1],
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


@_api
def send_command(self: SimpleSystemManagerResponse) -> Any:
    fleet = _active_fleet()
    document = self._get_param("DocumentName")
    if fleet is None or document not in PATCH_DOCUMENTS:
        return _original("send_command")(self)
    command = fleet.send_command(_send_command_request(self, document))
    return ActionResult({"Command": _render_command(command, just_sent=True)})


@_api
def list_commands(self: SimpleSystemManagerResponse) -> Any:
    fleet = _active_fleet()
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
    for moto_command in _backend(self)._commands:
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
    page, token = _page(self, [e for _, e in entries], 50)
    return ActionResult({"Commands": page, **token})


def _command_exists(
    self: SimpleSystemManagerResponse, fleet: FleetSimulator, command_id: str
) -> bool:
    return fleet.command(command_id) is not None or any(
        c.command_id == command_id for c in _backend(self)._commands
    )


@_api
def list_command_invocations(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("ListCommandInvocations")
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
    for moto_command in _backend(self)._commands:
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
    page, token = _page(self, [e for _, e in entries], 50)
    return ActionResult({"CommandInvocations": page, **token})


@_api
def get_command_invocation(self: SimpleSystemManagerResponse) -> Any:
    fleet = _active_fleet()
    command = fleet.command(self._get_param("CommandId")) if fleet is not None else None
    if command is None:
        return _original("get_command_invocation")(self)
    invocation = command.invocations.get(self._get_param("InstanceId"))
    if invocation is None:
        raise SsmApiError("InvocationDoesNotExist", "")
    step = invocation.instance.platform.plugin[1]
    plugin = self._get_param("PluginName")
    skipped = {"PatchLinux", "PatchWindows"} - {step}
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
        "ExecutionElapsedTime": _elapsed(invocation),
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


@_api
def cancel_command(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("CancelCommand")
    command_id = self._get_param("CommandId")
    if fleet.command(command_id) is not None:
        fleet.cancel_command(command_id, list(self._get_param("InstanceIds") or []))
    else:
        _backend(self).get_command_by_id(command_id)  # raises InvalidCommandId; moto's are done
    return EmptyResult()


# --- patch state ---------------------------------------------------------------------------------


def _render_patch_state(report: PatchReport) -> dict[str, Any]:
    non_compliant = report.non_compliant
    critical = {s.patch.kb_id for s in non_compliant if s.compliance_level == "CRITICAL"}
    security = {s.patch.kb_id for s in non_compliant if s.patch.security}
    state: dict[str, Any] = {
        "InstanceId": report.instance_id,
        "PatchGroup": report.patch_group,
        "BaselineId": report.baseline_id,
        "SnapshotId": report.snapshot_id,
        "OwnerInformation": "",
        "InstalledCount": report.count("INSTALLED"),
        "InstalledOtherCount": report.count("INSTALLED_OTHER"),
        "InstalledPendingRebootCount": report.count("INSTALLED_PENDING_REBOOT"),
        "InstalledRejectedCount": report.count("INSTALLED_REJECTED"),
        "MissingCount": report.count("MISSING"),
        "FailedCount": report.count("FAILED"),
        "UnreportedNotApplicableCount": 0,
        "NotApplicableCount": 0,
        "OperationStartTime": report.started,
        "OperationEndTime": report.ended,
        "Operation": report.operation,
        "RebootOption": report.reboot_option,
        "CriticalNonCompliantCount": len(critical),
        "SecurityNonCompliantCount": len(security),
        "OtherNonCompliantCount": len({s.patch.kb_id for s in non_compliant} - critical - security),
    }
    if report.install_override_list:
        state["InstallOverrideList"] = report.install_override_list
    if report.last_no_reboot_install is not None:
        state["LastNoRebootInstallOperationTime"] = report.last_no_reboot_install
    return state


@_api
def describe_instance_patch_states(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("DescribeInstancePatchStates")
    wanted = list(self._get_param("InstanceIds") or [])
    if len(wanted) > 50:
        raise _validation_error(
            "instanceIds", wanted, "Member must have length less than or equal to 50"
        )
    reports = {r.instance_id: r for r in fleet.patch_states()}
    states = [_render_patch_state(reports[i]) for i in dict.fromkeys(wanted) if i in reports]
    page, token = _page(self, states, 100)
    return ActionResult({"InstancePatchStates": page, **token})


_STATE_COUNT_KEYS = {
    "InstalledCount",
    "InstalledOtherCount",
    "InstalledPendingRebootCount",
    "InstalledRejectedCount",
    "MissingCount",
    "FailedCount",
    "NotApplicableCount",
    "UnreportedNotApplicableCount",
}


@_api
def describe_instance_patch_states_for_patch_group(
    self: SimpleSystemManagerResponse,
) -> ActionResult:
    fleet = _require_fleet("DescribeInstancePatchStatesForPatchGroup")
    group = self._get_param("PatchGroup")
    states = [_render_patch_state(r) for r in fleet.patch_states() if r.patch_group == group]
    for f in self._get_param("Filters") or []:
        if f["Key"] not in _STATE_COUNT_KEYS:
            raise SsmApiError("InvalidFilter", f"The filter key {f['Key']} is not valid.")
        states = [s for s in states if _compare(s[f["Key"]], f["Values"], f["Type"])]
    page, token = _page(self, states, 100)
    return ActionResult({"InstancePatchStates": page, **token})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@_api
def describe_instance_patches(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("DescribeInstancePatches")
    instance_id = self._get_param("InstanceId")
    instance = fleet.managed_instance(instance_id)
    if instance is None:
        raise SsmApiError("InvalidInstanceId", "")
    report = instance.patch_state
    patches: list[dict[str, Any]] = [
        {
            "Title": s.patch.title,
            "KBId": s.patch.kb_id,
            "Classification": s.patch.classification,
            "Severity": s.patch.severity,
            "State": s.state,
            "InstalledTime": s.installed_time or _EPOCH,
            "CVEIds": ",".join(s.patch.cve_ids),
        }
        for s in (report.statuses if report is not None else ())
    ]
    fields = {"Classification": "Classification", "KBId": "KBId", "Severity": "Severity"}
    for f in self._get_param("Filters") or []:
        key, values = f["Key"], set(f.get("Values", []))
        if key == "State":
            patches = [p for p in patches if state_label(p["State"]) in values]
        elif key in fields:
            patches = [p for p in patches if p[fields[key]] in values]
        else:
            raise SsmApiError("InvalidFilter", f"The filter key {key} is not valid.")
    page, token = _page(self, patches, 100)
    return ActionResult({"Patches": page, **token})


# --- compliance ----------------------------------------------------------------------------------


@_api
def put_compliance_items(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("PutComplianceItems")
    if self._get_param("ResourceType") != "ManagedInstance":
        raise SsmApiError("InvalidResourceType", "ManagedInstance is the only supported type.")
    summary = self._get_param("ExecutionSummary") or {}
    executed = summary.get("ExecutionTime")
    record = ComplianceRecord(
        resource_id=self._get_param("ResourceId"),
        compliance_type=self._get_param("ComplianceType"),
        execution_time=datetime.fromtimestamp(float(executed), UTC)
        if executed is not None
        else fleet.clock.now(),
        execution_id=summary.get("ExecutionId"),
        execution_type=summary.get("ExecutionType"),
        items=tuple(
            ComplianceItem(
                id=item.get("Id", ""),
                title=item.get("Title", ""),
                status=item["Status"],
                severity=item["Severity"],
                details=item.get("Details") or {},
            )
            for item in self._get_param("Items") or []
        ),
    )
    fleet.put_compliance(record, partial=self._get_param("UploadType") == "PARTIAL")
    return EmptyResult()


def _execution_summary(record: ComplianceRecord) -> dict[str, Any]:
    summary: dict[str, Any] = {"ExecutionTime": record.execution_time}
    if record.execution_id is not None:
        summary["ExecutionId"] = record.execution_id
    if record.execution_type is not None:
        summary["ExecutionType"] = record.execution_type
    return summary


def _item_value(record: ComplianceRecord, item: ComplianceItem, key: str) -> str | None:
    return {
        "ComplianceType": record.compliance_type,
        "Status": item.status,
        "Severity": item.severity,
        "Id": item.id,
        "ExecutionId": record.execution_id,
    }.get(key)


@_api
def list_compliance_items(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("ListComplianceItems")
    resource_ids = set(self._get_param("ResourceIds") or [])
    types = set(self._get_param("ResourceTypes") or ["ManagedInstance"])
    filters = self._get_param("Filters") or []
    for f in filters:
        if f["Key"] not in {"ComplianceType", "Status", "Severity", "Id", "ExecutionId"}:
            raise SsmApiError("InvalidFilter", f"The filter key {f['Key']} is not valid.")
    items = [
        {
            "ComplianceType": record.compliance_type,
            "ResourceType": record.resource_type,
            "ResourceId": record.resource_id,
            "Id": item.id,
            "Title": item.title,
            "Status": item.status,
            "Severity": item.severity,
            "ExecutionSummary": _execution_summary(record),
            "Details": dict(item.details),
        }
        for record in fleet.compliance.records()
        if (not resource_ids or record.resource_id in resource_ids)
        and record.resource_type in types
        for item in record.items
        if all(
            _compare(
                _item_value(record, item, f["Key"]), f.get("Values", []), f.get("Type", "EQUAL")
            )
            for f in filters
        )
    ]
    page, token = _page(self, items, 50)
    return ActionResult({"ComplianceItems": page, **token})


def _severity_summary(items: Iterable[ComplianceItem]) -> dict[str, int]:
    summary = dict.fromkeys(
        (
            "CriticalCount",
            "HighCount",
            "MediumCount",
            "LowCount",
            "InformationalCount",
            "UnspecifiedCount",
        ),
        0,
    )
    for item in items:
        summary[f"{item.severity.capitalize()}Count"] += 1
    return summary


@_api
def list_resource_compliance_summaries(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = _require_fleet("ListResourceComplianceSummaries")
    summaries: list[dict[str, Any]] = []
    for record in fleet.compliance.records():
        compliant = [i for i in record.items if i.status == "COMPLIANT"]
        non_compliant = [i for i in record.items if i.status == "NON_COMPLIANT"]
        summaries.append(
            {
                "ComplianceType": record.compliance_type,
                "ResourceType": record.resource_type,
                "ResourceId": record.resource_id,
                "Status": record.status,
                "OverallSeverity": record.overall_severity,
                "ExecutionSummary": _execution_summary(record),
                "CompliantSummary": {
                    "CompliantCount": len(compliant),
                    "SeveritySummary": _severity_summary(compliant),
                },
                "NonCompliantSummary": {
                    "NonCompliantCount": len(non_compliant),
                    "SeveritySummary": _severity_summary(non_compliant),
                },
            }
        )
    for f in self._get_param("Filters") or []:
        key = f["Key"]
        if key not in {"ComplianceType", "Status", "OverallSeverity", "ResourceId", "ResourceType"}:
            raise SsmApiError("InvalidFilter", f"The filter key {key} is not valid.")
        summaries = [
            s for s in summaries if _compare(s[key], f.get("Values", []), f.get("Type", "EQUAL"))
        ]
    page, token = _page(self, summaries, 50)
    return ActionResult({"ResourceComplianceSummaryItems": page, **token})


# --- installing ----------------------------------------------------------------------------------

_ADDED = (
    describe_instance_information,
    list_command_invocations,
    cancel_command,
    describe_instance_patch_states,
    describe_instance_patch_states_for_patch_group,
    describe_instance_patches,
    put_compliance_items,
    list_compliance_items,
    list_resource_compliance_summaries,
    get_patch_baseline,
    get_default_patch_baseline,
    register_default_patch_baseline,
    describe_patch_groups,
)
_REPLACED = (send_command, list_commands, get_command_invocation, describe_patch_baselines)


def _throttling_call_action(
    original: Callable[[SimpleSystemManagerResponse], Any],
) -> Callable[[SimpleSystemManagerResponse], Any]:
    def call_action(self: SimpleSystemManagerResponse) -> Any:
        fleet = _active_fleet()
        if fleet is not None and fleet.faults.should_throttle(self._get_action()):
            status, headers, body = self.serialized(
                ActionResult(SsmApiError("ThrottlingException", "Rate exceeded"))
            )
            response = self._transform_response(
                self.response_headers, (body, {**headers, "status": status})
            )
            headers, body = self._enrich_response(response[1], response[2])
            return response[0], headers, body
        return original(self)

    return call_action


def _validate_resource(
    original: Callable[[SimpleSystemManagerBackend, str, str], str],
) -> Callable[[SimpleSystemManagerBackend, str, str], str]:
    # moto rejects every PatchBaseline id, so CreatePatchBaseline with Tags fails.
    def _validate_resource_type_and_id(
        self: SimpleSystemManagerBackend, resource_type: str, resource_id: str
    ) -> str:
        if resource_type == "PatchBaseline" and resource_id in self.baselines:
            return resource_id
        return original(self, resource_type, resource_id)

    return _validate_resource_type_and_id


def _launch_hook(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(
        self: Any,
        image_id: str,
        count: int,
        user_data: Any,
        security_group_names: list[str],
        **kwargs: Any,
    ) -> Any:
        reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
        fleet = _active_fleet()
        if (
            fleet is not None
            and self.account_id == fleet.cloud.account_id
            and self.region_name == fleet.cloud.region
        ):
            for instance in reservation.instances:
                fleet.on_launch(instance)
        return reservation

    return run_instances


def _patch(owner: type, name: str, replacement: Callable[..., Any]) -> None:
    motopatch.replace(owner, name, replacement, tag="_fleetpatch_ssm")


def install(cloud: Cloud) -> FleetSimulator:
    """Create the fleet of ``cloud`` and route SSM operations and EC2 launches to it.

    Idempotent: installing again while the fleet runs returns it. moto is patched once per
    process.
    """
    fleet = FLEET.get()
    if fleet is not None and fleet.cloud is cloud:
        return fleet
    fleet = FleetSimulator(
        cloud,
        baselines=MotoBaselines(cloud.account_id, cloud.region),
        operation_names=operation_names(),
    )
    FLEET.set(fleet)
    # moto's SSM and EC2 internals, imported when a cloud starts (not when this loads).
    from moto.ec2.models.instances import InstanceBackend
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

    for handler in _ADDED + _REPLACED:
        _patch(SimpleSystemManagerResponse, handler.__name__, handler)
    _patch(
        SimpleSystemManagerResponse,
        "call_action",
        _throttling_call_action(SimpleSystemManagerResponse.call_action),
    )
    for name, function in (
        ("register_patch_baseline_for_patch_group", _register_patch_baseline_for_patch_group),
        ("get_patch_baseline_for_patch_group", _get_patch_baseline_for_patch_group),
        ("deregister_patch_baseline_for_patch_group", _deregister_patch_baseline_for_patch_group),
    ):
        _patch(SimpleSystemManagerBackend, name, function)
    _patch(
        SimpleSystemManagerBackend,
        "_validate_resource_type_and_id",
        _validate_resource(SimpleSystemManagerBackend._validate_resource_type_and_id),
    )
    _patch(InstanceBackend, "run_instances", _launch_hook(InstanceBackend.run_instances))
    return fleet
