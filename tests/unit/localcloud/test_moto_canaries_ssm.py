"""Canaries: each moto 5.2.5 internal localcloud.adapters.ssm touches, checked as we use it.

If one fails after a moto upgrade, revisit localcloud/adapters/ssm.py (and the fleet's
``Ec2Instance`` protocol) before trusting the simulated fleet again.
"""

from __future__ import annotations

import importlib.metadata
import inspect

from localcloud.adapters import ssm as ssm_extension
from localcloud.sim.patch_catalogue import OPERATING_SYSTEMS


def test_moto_is_the_pinned_version() -> None:
    assert importlib.metadata.version("moto") == "5.2.5"


def test_ssm_responses_dispatch_by_method_name_and_serialize_service_exceptions() -> None:
    # Added operations are plain methods on the response class; errors are ServiceExceptions
    # defined outside moto, rendered with the SSM model (call_action is wrapped for faults).
    from moto.core import errors, responses

    source = inspect.getsource(responses.BaseResponse.call_action)
    assert "action = camelcase_to_underscores(self._get_action())" in source
    assert "method_names = method_names_from_class(self.__class__)" in source
    assert "except ServiceException as e:" in source
    assert 'if not exception_module.startswith("moto"):' in inspect.getsource(
        errors.get_exception_service_model
    )
    for name in (
        "_get_param",
        "_get_action",
        "serialized",
        "_transform_response",
        "_enrich_response",
    ):
        assert hasattr(responses.BaseResponse, name), name
    setup = inspect.getsource(responses.BaseResponse.setup_class)
    for assignment in ("self.region =", "self.response_headers =", "self.current_account ="):
        assert assignment in setup, assignment
    assert list(inspect.signature(responses.ActionResult).parameters) == ["result"]


def test_replaced_ssm_operations_exist_and_added_ones_do_not() -> None:
    from moto.ssm import responses

    source = inspect.getsource(responses)
    for handler in ssm_extension._REPLACED:
        assert f"    def {handler.__name__}(self) -> ActionResult:" in source, handler.__name__
    for handler in ssm_extension._ADDED:
        # If moto implements one of these, decide whether ours still has to replace it.
        assert f"def {handler.__name__}(" not in source, handler.__name__


def test_moto_send_command_still_succeeds_at_once() -> None:
    # Why the fleet runs RunPatchBaseline itself.
    from moto.ssm import models

    source = inspect.getsource(models.Command)
    assert 'self.status = "Success"' in source
    for attribute in (
        "self.command_id",
        "self.instance_ids",
        "self.invocations",
        "self.requested_date_time",
        "self.document_name",
        "self.comment",
    ):
        assert attribute in source, attribute
    assert hasattr(models.Command, "response_object")
    assert hasattr(models.SimpleSystemManagerBackend, "get_command_by_id")


def test_patch_group_bookkeeping_is_what_the_extension_replaces() -> None:
    from moto.ssm import exceptions, models

    backend = models.SimpleSystemManagerBackend
    for name, parameters in (
        ("register_patch_baseline_for_patch_group", ["self", "baseline_id", "patch_group"]),
        ("get_patch_baseline_for_patch_group", ["self", "patch_group", "operating_system"]),
        ("deregister_patch_baseline_for_patch_group", ["self", "baseline_id", "patch_group"]),
        ("_validate_resource_type_and_id", ["self", "resource_type", "resource_id"]),
    ):
        original = getattr(backend, name)
        original = getattr(original, "_fleetpatch_original", None) or original
        assert list(inspect.signature(original).parameters) == parameters, name
    source = inspect.getsource(models)
    # moto's own versions: a second OS in a group is refused, and tags on a baseline fail.
    assert "if self.patch_groups[patch_group].associations[baseline_os] != baseline_id:" in source
    assert '"PatchBaseline",\n            "OpsItem",' in source
    assert "self.baselines: dict[str, FakePatchBaseline] = {}" in source
    assert "self.patch_groups: dict[str, FakePatchGroup] = {}" in source
    assert list(inspect.signature(models.FakePatchGroup).parameters) == ["name", "region_name"]
    assert "self.associations = self.default_associations" in source
    assert {"BaselineId", "BaselineName", "BaselineDescription", "OperatingSystem"} <= set(
        inspect.getsource(models.FakePatchBaseline.to_json).replace('"', " ").split()
    )
    assert exceptions.AlreadyExistsException("WINDOWS").code == "AlreadyExistsException"
    assert exceptions.BaselineDoesNotExistException().code == "DoesNotExistException"


def test_default_baseline_arns_cover_every_simulated_os() -> None:
    from moto.utilities.utils import load_resource

    ids = load_resource("ssm/resources/default_baselines.json")["eu-central-1"]
    for os_name in OPERATING_SYSTEMS:
        assert ids[os_name].startswith("arn:aws:ssm:eu-central-1:"), os_name


def test_run_instances_is_where_every_launch_passes() -> None:
    from moto.autoscaling import models as autoscaling
    from moto.ec2.models import instances, tags

    run = instances.InstanceBackend.run_instances
    run = getattr(run, "_fleetpatch_original", None) or run
    assert list(inspect.signature(run).parameters)[:5] == [
        "self",
        "image_id",
        "count",
        "user_data",
        "security_group_names",
    ]
    assert "return new_reservation" in inspect.getsource(run)
    assert "reservation = self.autoscaling_backend.ec2_backend.run_instances(" in inspect.getsource(
        autoscaling
    )
    # What the agent reads from an instance.
    source = inspect.getsource(instances.Instance)
    assert "self.image_id = template_version.image_id" in source
    assert "self.launch_time = utcnow()" in source  # re-stamped from the simulated clock
    assert isinstance(instances.Instance.state, property)
    assert isinstance(instances.Instance.private_ip, property)
    assert "self.tags: dict[str, dict[str, str]] = defaultdict(dict)" in inspect.getsource(
        tags.TagBackend
    )
    assert "ec2_backend" in inspect.signature(instances.Instance).parameters


def test_update_patch_baseline_sets_the_attributes_moto_stores() -> None:
    """UpdatePatchBaseline (localcloud.adapters.ssm_baselines) sets FakePatchBaseline's
    attributes by name, and moto has no UpdatePatchBaseline of its own to defer to."""
    from moto.ssm import exceptions, models

    from localcloud.adapters.ssm_baselines import _UPDATABLE

    init = inspect.getsource(models.FakePatchBaseline.__init__)
    for attribute in _UPDATABLE.values():
        assert f"self.{attribute} = {attribute}" in init, attribute
    assert not hasattr(models.SimpleSystemManagerBackend, "update_patch_baseline")
    assert exceptions.ValidationException("x").code == "ValidationException"
