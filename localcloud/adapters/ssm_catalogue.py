"""The patch catalogue as SSM serves it: DescribeAvailablePatches and
DescribeEffectivePatchesForPatchBaseline, from the fleet simulator's catalogue (see
localcloud.adapters.ssm).

Shapes as the SSM API reference gives them (``Patch``, ``EffectivePatch``, ``PatchStatus``):
``CVEIds``, ``AdvisoryIds`` and the package fields apply to Linux patches only; Windows
patches carry ``KbNumber``, ``MsrcSeverity`` and ``Id``. Linux filters need a ``PRODUCT``
(AWS: "When specifying filters for Linux patches, you must specify a key-pair for
PRODUCT"), so a CVE is searched per product.
"""

from __future__ import annotations

import fnmatch
import zlib
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult

from localcloud.adapters.ssm_api import SsmApiError, api, paginate, require_fleet
from localcloud.adapters.ssm_baselines import MotoBaselines
from localcloud.sim.patch_catalogue import OPERATING_SYSTEMS, Patch, available

if TYPE_CHECKING:
    from moto.ssm.responses import SimpleSystemManagerResponse

# The filter keys DescribeAvailablePatches documents, per platform (written out on purpose:
# the simulator is an independent oracle of what AWS accepts).
_WINDOWS_KEYS = {
    "PATCH_SET",
    "PRODUCT",
    "PRODUCT_FAMILY",
    "MSRC_SEVERITY",
    "CLASSIFICATION",
    "PATCH_ID",
}
_LINUX_KEYS = {
    "PRODUCT",
    "NAME",
    "SEVERITY",
    "EPOCH",
    "VERSION",
    "RELEASE",
    "ARCH",
    "REPOSITORY",
    "ADVISORY_ID",
    "BUGZILLA_ID",
    "CVE_ID",
    "CLASSIFICATION",
}


def _version_parts(patch: Patch) -> tuple[str, str, str]:
    """(epoch, version, release) of a Linux title ``name.arch:epoch:version-release``."""
    _, epoch, rest = patch.title.split(":", 2)
    version, _, release = rest.rpartition("-")
    return epoch, version or rest, release


def render_patch(patch: Patch) -> dict[str, Any]:
    """A catalogue entry as the API's ``Patch`` structure."""
    found: dict[str, Any] = {
        "ReleaseDate": patch.released,
        "Title": patch.title,
        "Product": patch.properties.get("PRODUCT", ""),
        "Classification": patch.classification,
    }
    if "PRODUCT_FAMILY" in patch.properties:
        found["ProductFamily"] = patch.properties["PRODUCT_FAMILY"]
    if "MSRC_SEVERITY" in patch.properties:  # Windows
        found |= {
            "Id": f"{zlib.crc32(patch.title.encode()):08x}-{patch.kb_id.lower()}",
            "KbNumber": patch.kb_id,
            "MsrcSeverity": patch.severity,
            "Vendor": "Microsoft",
        }
        return found
    epoch, version, release = _version_parts(patch)
    found |= {
        "Name": patch.properties.get("NAME", ""),
        "Arch": patch.properties.get("ARCH", ""),
        "Epoch": int(epoch) if epoch.isdigit() else 0,
        "Version": version,
        "Release": release,
        "Severity": patch.severity,
        "Repository": patch.properties.get("SECTION", "updates"),
        "CVEIds": list(patch.cve_ids),
        "AdvisoryIds": [patch.advisory_id] if patch.advisory_id else [],
        "BugzillaIds": [],
    }
    return found


def _value(patch: Patch, key: str) -> list[str]:
    """The values a filter ``key`` compares for ``patch``."""
    if key == "CVE_ID":
        return list(patch.cve_ids)
    if key == "ADVISORY_ID":
        return [patch.advisory_id] if patch.advisory_id else []
    if key == "PATCH_ID":
        return [patch.kb_id]
    if key in {"EPOCH", "VERSION", "RELEASE"}:
        epoch, version, release = _version_parts(patch)
        return [{"EPOCH": epoch, "VERSION": version, "RELEASE": release}[key]]
    if key == "REPOSITORY":
        return [patch.properties.get("SECTION", "updates")]
    if key == "BUGZILLA_ID":
        return []
    return [patch.properties[key]] if key in patch.properties else []


def _matches(patch: Patch, filters: dict[str, list[str]]) -> bool:
    return all(
        any(fnmatch.fnmatchcase(v, w) for v in _value(patch, key) for w in wanted)
        for key, wanted in filters.items()
    )


def _filters(self: SimpleSystemManagerResponse) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in self._get_param("Filters") or []:
        key = f["Key"]
        if key not in _WINDOWS_KEYS | _LINUX_KEYS:
            raise SsmApiError("ValidationException", f"Invalid filter key: {key}")
        found.setdefault(key, []).extend(f.get("Values") or [])
    linux_only = set(found) - _WINDOWS_KEYS
    if linux_only and "PRODUCT" not in found:
        raise SsmApiError(
            "ValidationException",
            f"Filters for Linux patches must include PRODUCT (given: {', '.join(sorted(found))})",
        )
    return found


@api
def describe_available_patches(self: SimpleSystemManagerResponse) -> ActionResult:
    fleet = require_fleet("DescribeAvailablePatches")
    filters = _filters(self)
    now = fleet.clock.now()
    patches: list[Patch] = []
    for os_name in OPERATING_SYSTEMS:
        for patch in available(os_name, fleet.reference, now):
            linux = "MSRC_SEVERITY" not in patch.properties
            # Without a PRODUCT, only Windows patches are searched (Linux needs one).
            if linux and "PRODUCT" not in filters:
                continue
            if _matches(patch, filters):
                patches.append(patch)
    page, token = paginate(self, [render_patch(p) for p in patches], 100)
    return ActionResult({"Patches": page, **token})


@api
def describe_effective_patches_for_patch_baseline(
    self: SimpleSystemManagerResponse,
) -> ActionResult:
    fleet = require_fleet("DescribeEffectivePatchesForPatchBaseline")
    baseline_id = self._get_param("BaselineId")
    baseline = MotoBaselines(self.current_account, self.region).get(baseline_id)
    if baseline is None:
        from moto.ssm.exceptions import BaselineDoesNotExistException

        raise BaselineDoesNotExistException()
    now = fleet.clock.now()
    effective = []
    for patch in available(baseline.operating_system, fleet.reference, now):
        level = baseline.approval(patch, now)
        if level is None:
            continue
        effective.append(
            {
                "Patch": render_patch(patch),
                "PatchStatus": {"DeploymentStatus": "APPROVED", "ComplianceLevel": level},
            }
        )
    page, token = paginate(self, effective, 100)
    return ActionResult({"EffectivePatches": page, **token})
