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

The operations live in ssm_baselines, ssm_commands (managed instances, Run Command) and
ssm_state (patch state, compliance), on the shared helpers of ssm_api; this module installs
them.

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

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.fleet import FLEET, FleetSimulator

if TYPE_CHECKING:
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse


from localcloud.adapters.ssm_api import (
    SsmApiError,
    active_fleet,
    operation_names,
)
from localcloud.adapters.ssm_baselines import (
    MotoBaselines,
    deregister_patch_baseline_for_patch_group,
    describe_patch_baselines,
    describe_patch_groups,
    get_default_patch_baseline,
    get_patch_baseline,
    get_patch_baseline_for_patch_group,
    register_default_patch_baseline,
    register_patch_baseline_for_patch_group,
    update_patch_baseline,
)
from localcloud.adapters.ssm_catalogue import (
    describe_available_patches,
    describe_effective_patches_for_patch_baseline,
)
from localcloud.adapters.ssm_commands import (
    cancel_command,
    describe_instance_information,
    get_command_invocation,
    list_command_invocations,
    list_commands,
    send_command,
)
from localcloud.adapters.ssm_state import (
    describe_instance_patch_states,
    describe_instance_patch_states_for_patch_group,
    describe_instance_patches,
    list_compliance_items,
    list_resource_compliance_summaries,
    put_compliance_items,
)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

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
    update_patch_baseline,
    describe_available_patches,
    describe_effective_patches_for_patch_baseline,
)
_REPLACED = (send_command, list_commands, get_command_invocation, describe_patch_baselines)


def _throttling_call_action(
    original: Callable[[SimpleSystemManagerResponse], Any],
) -> Callable[[SimpleSystemManagerResponse], Any]:
    def call_action(self: SimpleSystemManagerResponse) -> Any:
        fleet = active_fleet()
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
        fleet = active_fleet()
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
        ("register_patch_baseline_for_patch_group", register_patch_baseline_for_patch_group),
        ("get_patch_baseline_for_patch_group", get_patch_baseline_for_patch_group),
        ("deregister_patch_baseline_for_patch_group", deregister_patch_baseline_for_patch_group),
    ):
        _patch(SimpleSystemManagerBackend, name, function)
    _patch(
        SimpleSystemManagerBackend,
        "_validate_resource_type_and_id",
        _validate_resource(SimpleSystemManagerBackend._validate_resource_type_and_id),
    )
    _patch(InstanceBackend, "run_instances", _launch_hook(InstanceBackend.run_instances))
    return fleet
