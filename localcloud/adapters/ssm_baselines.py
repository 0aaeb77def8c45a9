"""SSM patch baselines and patch groups on the local cloud: AWS's predefined baselines,
the default per OS, and the patch-group bookkeeping moto gets wrong (see
localcloud.adapters.ssm).
"""

from __future__ import annotations

import functools
import weakref
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult

from localcloud.sim.baselines import Baseline, aws_default_baseline
from localcloud.sim.patch_catalogue import OPERATING_SYSTEMS, OperatingSystem

if TYPE_CHECKING:
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse


from localcloud.adapters.ssm_api import (
    paginate,
)

# moto's service modules are imported inside the functions that use them, on purpose: they
# load when a cloud starts, not when localcloud is imported (import cost, several seconds).

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
    page, token = paginate(self, [b for _, b in owned], 100)
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
    page, token = paginate(self, mappings, 100)
    return ActionResult({"Mappings": page, **token})


# Backend replacements (they do not need the fleet).


def register_patch_baseline_for_patch_group(
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


def get_patch_baseline_for_patch_group(
    self: SimpleSystemManagerBackend, patch_group: str, operating_system: str | None
) -> tuple[str, str, str]:
    os_name = operating_system or "WINDOWS"
    store = MotoBaselines(self.account_id, self.region_name)
    return store.registered(patch_group, os_name) or store.default_id(os_name), patch_group, os_name


def deregister_patch_baseline_for_patch_group(
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


# UpdatePatchBaseline (moto has none). Only the fields the request names change (API
# reference: "the fields you specify"); the lists are replaced whole, as AWS does, and hold
# at most 50 entries each (RejectedPatches/ApprovedPatches: "Array Members: Minimum number
# of 0 items. Maximum number of 50 items"; botocore does not check the maximum).
_UPDATABLE = {
    "Name": "name",
    "Description": "description",
    "GlobalFilters": "global_filters",
    "ApprovalRules": "approval_rules",
    "ApprovedPatches": "approved_patches",
    "ApprovedPatchesComplianceLevel": "approved_patches_compliance_level",
    "ApprovedPatchesEnableNonSecurity": "approved_patches_enable_non_security",
    "RejectedPatches": "rejected_patches",
    "RejectedPatchesAction": "rejected_patches_action",
    "Sources": "sources",
}
MAX_PATCH_LIST = 50


def update_patch_baseline(self: SimpleSystemManagerResponse) -> ActionResult:
    from moto.ssm.exceptions import BaselineDoesNotExistException, ValidationException

    store = _baselines(self)
    baseline_id = self._get_param("BaselineId")
    fake = store.backend.baselines.get(baseline_id)
    if fake is None:  # AWS's predefined baselines cannot be updated either
        raise BaselineDoesNotExistException()
    for field in ("ApprovedPatches", "RejectedPatches"):
        values = self._get_param(field)
        if values is not None and len(values) > MAX_PATCH_LIST:
            raise ValidationException(
                f"1 validation error detected: Value at '{field[0].lower()}{field[1:]}' failed "
                f"to satisfy constraint: Member must have length less than or equal to "
                f"{MAX_PATCH_LIST}"
            )
    for param, attribute in _UPDATABLE.items():
        value = self._get_param(param)
        if value is not None:
            setattr(fake, attribute, value)
    baseline = store.get(baseline_id)
    assert baseline is not None
    return ActionResult(baseline.to_api())
