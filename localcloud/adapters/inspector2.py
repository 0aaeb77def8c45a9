"""Amazon Inspector (inspector2) on the local cloud: ListFindings from the simulator.

moto 5.2.5 answers ListFindings from a queue of canned results, whatever the filter. This
extension replaces ``Inspector2Response.list_findings`` with the simulator's findings
(localcloud.sim.inspector), filtered by the ``filterCriteria`` fleetpatch uses and AWS
documents (StringFilter ``EQUALS`` / ``NOT_EQUALS`` / ``PREFIX`` on ``vulnerabilityId``,
``findingStatus``, ``findingType``, ``resourceType``, ``resourceId``, ``severity``,
``awsAccountId``), paged with ``maxResults`` (1-100) and ``nextToken``. A filter key it
does not know is refused (ValidationException) rather than ignored, so a test never passes
on a filter the local cloud did not apply.

moto internals touched (canary: tests/unit/localcloud/test_moto_canaries_inspector2.py):
``moto.inspector2.responses.Inspector2Response.list_findings`` replaced (reads
``_get_param``, ``current_account``, ``region``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import JsonRESTError

from localcloud.core import motopatch
from localcloud.core.context import Cloud
from localcloud.sim.fleet import FLEET
from localcloud.sim.inspector import INSPECTOR, Finding, InspectorSimulator

_TAG = "_fleetpatch_inspector2"
_FIELDS: dict[str, Callable[[Finding], str]] = {
    "vulnerabilityId": lambda f: f.cve,
    "findingStatus": lambda f: f.status,
    "findingType": lambda f: "PACKAGE_VULNERABILITY",
    "resourceType": lambda f: "AWS_EC2_INSTANCE",
    "resourceId": lambda f: f.instance_id,
    "severity": lambda f: f.severity,
}


class ValidationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ValidationException", message)


def _compare(value: str, condition: dict[str, Any]) -> bool:
    wanted = str(condition.get("value", ""))
    comparison = condition.get("comparison")
    if comparison == "EQUALS":
        return value == wanted
    if comparison == "NOT_EQUALS":
        return value != wanted
    if comparison == "PREFIX":
        return value.startswith(wanted)
    raise ValidationException(f"comparison {comparison!r} is not EQUALS, NOT_EQUALS or PREFIX")


def _matches(finding: Finding, account_id: str, criteria: dict[str, Any]) -> bool:
    for key, conditions in criteria.items():
        if key == "awsAccountId":
            value = account_id
        elif key in _FIELDS:
            value = _FIELDS[key](finding)
        else:
            raise ValidationException(f"the local cloud does not filter findings by {key}")
        # Conditions on one key: any EQUALS/PREFIX matches; every NOT_EQUALS must hold.
        positive = [c for c in conditions if c.get("comparison") != "NOT_EQUALS"]
        negative = [c for c in conditions if c.get("comparison") == "NOT_EQUALS"]
        if positive and not any(_compare(value, c) for c in positive):
            return False
        if not all(_compare(value, c) for c in negative):
            return False
    return True


def list_findings(self: Any) -> str:
    inspector = INSPECTOR.get()
    criteria = self._get_param("filterCriteria") or {}
    size = int(self._get_param("maxResults") or 50)
    if not 1 <= size <= 100:
        raise ValidationException("maxResults must be between 1 and 100")
    unknown = sorted(set(criteria) - set(_FIELDS) - {"awsAccountId"})
    if unknown:
        raise ValidationException(f"the local cloud does not filter findings by {unknown[0]}")
    token = self._get_param("nextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationException("invalid nextToken") from None
    findings = (
        [f for f in inspector.findings() if _matches(f, self.current_account, criteria)]
        if inspector is not None
        else []
    )
    page = findings[start : start + size]
    body: dict[str, Any] = {
        "findings": [
            {
                **f.api(self.current_account, self.region),
                "firstObservedAt": f.first_observed.timestamp(),
                "lastObservedAt": f.last_observed.timestamp(),
                "updatedAt": f.last_observed.timestamp(),
            }
            for f in page
        ]
    }
    if start + size < len(findings):
        body["nextToken"] = str(start + size)
    return json.dumps(body)


def install(cloud: Cloud) -> InspectorSimulator:
    """Create the cloud's Inspector (on its fleet) and route ListFindings to it."""
    inspector = INSPECTOR.get()
    if inspector is not None and inspector.cloud is cloud:
        return inspector
    fleet = FLEET.require("Inspector scans the fleet (localcloud.adapters.ssm first)")

    def os_of(instance_id: str) -> Any:
        try:
            return fleet.instance(instance_id).os
        except KeyError:
            return None

    inspector = InspectorSimulator(cloud, os_of, fleet.reference)
    INSPECTOR.set(inspector)
    from moto.inspector2.responses import Inspector2Response

    motopatch.replace(Inspector2Response, "list_findings", list_findings, tag=_TAG)
    return inspector
