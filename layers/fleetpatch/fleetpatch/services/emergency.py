"""Emergency runs: start one for a CVE (``fleetpatch emergency``, an operator's event, an
Inspector finding), once per CVE at a time (docs/emergency.md).

**One run per CVE.** The run's wave is ``emergency-<CVE>`` and its lease the gated-wave
lease of that wave (``fleetpatch.lease``). The service takes the lease *before* it resolves
anything, with the run's execution name, so of a burst of findings for one CVE exactly one
conditional write wins and starts the run; the others (and any finding while the run goes
on) are recorded (``EMERGENCY#<cve>`` items) and start nothing. The workflow's own
``TakeLease`` then finds the lease its own (same run id) and renews it; it gives it back at
its end. A service that took the lease and died before the start leaves it for at most
``CLAIM_SECONDS``.

**Freeze.** An emergency respects the policy's change freeze (``fleetpatch.change_freeze``)
as a window's run does: the run's input carries the freeze (:func:`emergency_governance`),
and the gated wave's governance check waits for the calendar to open or skips the run, by
the policy's ``on_closed``, before anything is sent. A run that may wait holds its CVE's lease
through the wait, so findings meanwhile join it. An operator's ``--override-freeze REASON``
goes through any freeze; the reason is carried in the run input and the report.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from fleetpatch import aws, clock
from fleetpatch.change_freeze import deadline_for
from fleetpatch.contracts import names
from fleetpatch.contracts.s3 import emergency_list_key
from fleetpatch.emergency import (
    Finding,
    Resolution,
    Scope,
    Target,
    emergency_batches,
    override_list,
    resolve,
)
from fleetpatch.emergency_records import CLAIM_SECONDS, claim, record_findings
from fleetpatch.errors import InvalidEventError
from fleetpatch.events import EmergencyRequestEvent, InspectorFindingEvent
from fleetpatch.exclusions import CompiledExclusion, active_exclusions
from fleetpatch.lease import read_lease, release_lease
from fleetpatch.membership import tagged
from fleetpatch.policy import CompiledPolicy
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.waves import run_input
from fleetpatch.workflows import start_once

LOG = logging.getLogger(__name__)

SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNTRIAGED")
DEFAULT_SEVERITY = "CRITICAL"  # an operator's emergency with no finding and no severity


class EmergencySettings(Protocol):
    @property
    def state_machine_arn(self) -> str: ...
    @property
    def table_name(self) -> str: ...
    @property
    def artifacts_bucket(self) -> str: ...


@dataclass(frozen=True)
class EmergencyRequest:
    """Who asks for which CVE, why, and (from a finding) on which instance since when."""

    target: Target
    source: str  # "cli", "operator-event" or "inspector"
    requested_by: str
    requested_at: datetime
    reason: str = ""
    environment: str | None = None
    severity: str | None = None
    override_freeze: str | None = None
    findings: Mapping[str, datetime] = field(default_factory=dict)
    """Instance -> when its finding was first observed (an Inspector event's)."""


# --- the freeze hook -----------------------------------------------------------------------------


def _freeze_note(request: EmergencyRequest) -> str | None:
    """What the report says about a freeze: only an operator's override is decided here; the
    freeze itself is checked by the run (:func:`emergency_governance`)."""
    return f"freeze overridden: {request.override_freeze}" if request.override_freeze else None


def emergency_governance(
    policy: CompiledPolicy, request: EmergencyRequest, now: datetime
) -> dict[str, Any] | None:
    """``run_input``'s ``governance`` for an emergency: the policy's change freeze, waited for
    up to its ``max_wait_hours`` (an emergency has no window), unless an operator overrode
    it. No operator skip applies (``wave skip`` names a wave, not a CVE)."""
    freeze = policy.change_freeze
    if freeze is None or request.override_freeze:
        return None
    return {
        "operatorSkips": False,
        "freeze": {
            "calendars": list(freeze.calendars),
            "onClosed": freeze.on_closed,
            "deadline": deadline_for(now, freeze, 0).isoformat(),
        },
    }


def _claim_seconds(governance: Mapping[str, Any] | None) -> int:
    """How long the service's claim on the CVE's lease lasts: through a freeze's wait too."""
    freeze = (governance or {}).get("freeze")
    if not freeze or freeze["onClosed"] != "wait":
        return CLAIM_SECONDS
    waited = datetime.fromisoformat(freeze["deadline"]) - clock.now()
    return CLAIM_SECONDS + max(0, int(waited.total_seconds()))


# --- the policy's exclusions --------------------------------------------------------------------


def _environments(policy: CompiledPolicy, scope: Scope) -> list[str]:
    groups = {g for _, batch in scope.batches(policy) for g in batch.patch_groups}
    return sorted({policy.patch_groups[g] for g in groups if g in policy.patch_groups})


def leave_out_exclusions(
    policy: CompiledPolicy, environments: list[str], resolution: Resolution, now: datetime
) -> list[str]:
    """Drop from each OS's fix the patches a policy exclusion covers in any environment of
    the run, and say so (one line each).

    An InstallOverrideList installs what it names whatever the baseline rejects, so the
    exclusion (fleetpatch.exclusions, rendered as RejectedPatches) is applied here. The
    lists are per OS across the run's environments: an exclusion in one of them leaves the
    patch out for all (the safe side). An OS left with no fix leaves its hosts unpatched,
    each with the reason.
    """
    lines: list[str] = []
    for os_name, fixes in sorted(resolution.fixes.items()):
        active = [
            e
            for env in environments
            for e in active_exclusions(policy.exclusions, env, os_name, now)
        ]
        kept = []
        for fix in fixes:
            hit = next((e for e in active if _covers(e, fix.id)), None)
            if hit is None:
                kept.append(fix)
            else:
                lines.append(f"{fix.id} ({os_name}) left out: {hit.describe()}")
        if kept:
            resolution.fixes[os_name] = kept
            continue
        del resolution.fixes[os_name]
        for instance_id, system in sorted(resolution.affected.items()):
            if system == os_name:
                resolution.not_patched[instance_id] = (
                    f"every fix on {os_name} is excluded by the policy"
                )
                del resolution.affected[instance_id]
    return lines


def _covers(exclusion: CompiledExclusion, fix_id: str) -> bool:
    """The exclusion names the fix, or the fix (a wildcard entry) would install one it names."""
    return exclusion.matches(fix_id) or any(
        fnmatch.fnmatchcase(pattern, fix_id) for pattern in exclusion.patches
    )


# --- starting ------------------------------------------------------------------------------------


def _severity(request: EmergencyRequest, resolution: Resolution) -> str:
    if request.severity:
        return request.severity.upper()
    seen = [f.severity for f in resolution.findings.values()]
    ranked = sorted(seen, key=lambda s: SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else 99)
    return ranked[0] if ranked else DEFAULT_SEVERITY


def _first_seen(request: EmergencyRequest, found: Mapping[str, Finding]) -> dict[str, str]:
    times = {i: f.first_observed for i, f in found.items()}
    for instance_id, when in request.findings.items():
        times[instance_id] = min(when, times.get(instance_id, when))
    return {i: t.isoformat() for i, t in sorted(times.items())}


def start_emergency(
    request: EmergencyRequest,
    settings: EmergencySettings,
    policy: CompiledPolicy,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Resolve and start the CVE's run, or record the request for the run that holds it."""
    cve = request.target.cve
    dynamodb = client("dynamodb")
    freeze_note = _freeze_note(request)
    now = clock.now()
    wave = names.emergency_wave(cve)
    run_id = names.emergency_run_name(cve, now)
    governance = emergency_governance(policy, request, now)
    holder = claim(
        dynamodb, settings.table_name, wave, run_id, clock.time(), hold=_claim_seconds(governance)
    )
    if holder is not None:
        _record(dynamodb, settings.table_name, request, holder.run_id)
        LOG.info("emergency already running", extra={"cve": cve, "run": holder.run_id})
        return {
            "outcome": "recorded",
            "cve": cve,
            "run": holder.run_id,
            "reason": f"run {holder.run_id} is patching {cve}: recorded, no second run",
        }
    _record(dynamodb, settings.table_name, request, run_id)
    lease = read_lease(dynamodb, settings.table_name, wave)
    try:
        return _resolve_and_start(
            request,
            settings,
            policy,
            run_id=run_id,
            wave=wave,
            freeze_note=freeze_note,
            governance=governance,
            client=client,
        )
    except BaseException:
        if lease is not None:
            release_lease(dynamodb, settings.table_name, lease)
        raise


def _resolve_and_start(
    request: EmergencyRequest,
    settings: EmergencySettings,
    policy: CompiledPolicy,
    *,
    run_id: str,
    wave: str,
    freeze_note: str | None,
    governance: Mapping[str, Any] | None,
    client: ClientFactory,
) -> dict[str, Any]:
    cve = request.target.cve
    scope = Scope.of(policy, request.environment)
    ec2 = client("ec2")
    members = {f"{w}/{b.name}": tagged(ec2, b.patch_groups)[0] for w, b in scope.batches(policy)}
    candidates = sorted({i for found in members.values() for i in found})
    resolution = resolve(
        request.target, candidates, ssm=client("ssm"), inspector2=client("inspector2")
    )
    answer: dict[str, Any] = {
        "cve": cve,
        "source": resolution.source,
        "affected": resolution.by_os,
        "notPatched": resolution.not_patched,
    }
    if not resolution.affected:
        _give_back(client("dynamodb"), settings.table_name, wave, run_id)
        scope_text = f"environment {request.environment}" if request.environment else "the fleet"
        return {
            **answer,
            "outcome": "nothing-to-patch",
            "reason": f"no instance of {scope_text} is affected by {cve} (by {resolution.source})",
        }
    excluded = leave_out_exclusions(policy, _environments(policy, scope), resolution, clock.now())
    if not resolution.affected:
        _give_back(client("dynamodb"), settings.table_name, wave, run_id)
        return {
            **answer,
            "notPatched": resolution.not_patched,
            "outcome": "nothing-to-patch",
            "reason": f"every fix for {cve} is excluded by the policy: {'; '.join(excluded)}",
        }
    lists = {}
    s3 = client("s3")
    for os_name, fixes in sorted(resolution.fixes.items()):
        key = emergency_list_key(run_id, os_name)
        aws.patiently(
            s3.put_object,
            Bucket=settings.artifacts_bucket,
            Key=key,
            Body=override_list(cve, os_name, fixes).encode(),
            ContentType="application/yaml",
        )
        lists[os_name] = f"s3://{settings.artifacts_bucket}/{key}"
    batches = emergency_batches(policy, scope, members, resolution.affected, lists)
    severity = _severity(request, resolution)
    emergency = {
        "cve": cve,
        "severity": severity,
        "slaHours": policy.emergency.sla_of(severity),
        "source": request.source,
        "requestedBy": request.requested_by,
        "requestedAt": request.requested_at.isoformat(),
        "reason": request.reason,
        "environment": request.environment,
        "overrideFreeze": request.override_freeze,
        "freezeNote": freeze_note,
        "resolvedBy": resolution.source,
        "firstSeen": _first_seen(request, resolution.findings),
        "fixes": {os: [f.id for f in fixes] for os, fixes in sorted(resolution.fixes.items())},
        "lists": lists,
        "notPatched": resolution.not_patched,
        "excluded": excluded,
    }
    started = start_once(
        client("stepfunctions"),
        settings.state_machine_arn,
        run_id,
        run_input(
            wave,
            [b.model_dump(by_alias=True) for b in batches],
            start_step=0,
            emergency=emergency,
            governance=governance,
        ),
    )
    LOG.info("emergency started", extra={"cve": cve, "run": run_id, "batches": len(batches)})
    return {
        **answer,
        "outcome": "duplicate" if started.duplicate else "started",
        "run": run_id,
        "severity": severity,
        "batches": [b.name for b in batches],
        "lists": lists,
    }


def _record(dynamodb: Any, table: str, request: EmergencyRequest, run_id: str | None) -> None:
    record_findings(
        dynamodb,
        table,
        cve=request.target.cve,
        findings=request.findings,
        severity=request.severity,
        at=request.requested_at,
        run_id=run_id,
    )


def _give_back(dynamodb: Any, table: str, wave: str, run_id: str) -> None:
    lease = read_lease(dynamodb, table, wave)
    if lease is not None and lease.run_id == run_id:
        release_lease(dynamodb, table, lease)


# --- started by an event -------------------------------------------------------------------------


def request_of_event(
    event: InspectorFindingEvent | EmergencyRequestEvent, policy: CompiledPolicy
) -> EmergencyRequest | str:
    """The request an event makes, or why it makes none (the policy's inspector switch)."""
    if isinstance(event, EmergencyRequestEvent):
        d = event.detail
        environments = set(policy.patch_groups.values())
        if d.environment is not None and d.environment not in environments:
            raise InvalidEventError(
                "detail.environment",
                f"{d.environment!r} is not an environment of the fleet policy "
                f"({', '.join(sorted(environments)) or 'none'})",
            )
        return EmergencyRequest(
            target=Target(d.cve, tuple(d.kbs), tuple(d.packages)),
            source="operator-event",
            requested_by=d.requested_by,
            requested_at=event.time,
            reason=d.reason,
            environment=d.environment,
            severity=d.severity,
            override_freeze=d.override_freeze,
        )
    finding = event.detail
    rules = policy.emergency.inspector
    details = finding.package_vulnerability_details
    assert details is not None  # routing ignores findings without them
    if not rules.enabled:
        return "the policy's emergency.inspector is not enabled: findings start no run"
    if finding.severity not in rules.severities:
        return (
            f"{finding.severity} finding: the policy starts runs for "
            f"{', '.join(rules.severities)} findings only"
        )
    return EmergencyRequest(
        target=Target(details.vulnerability_id),
        source="inspector",
        requested_by=finding.finding_arn,
        requested_at=event.time,
        reason=f"Amazon Inspector {finding.severity} finding",
        severity=finding.severity,
        findings=dict.fromkeys(finding.instance_ids(), finding.first_observed_at),
    )


def start_for_event(
    event: InspectorFindingEvent | EmergencyRequestEvent,
    settings: EmergencySettings,
    policy: CompiledPolicy,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """An Inspector finding or an operator's event: start (or join) the CVE's run."""
    request = request_of_event(event, policy)
    if isinstance(request, str):
        return {"route": "ignored", "reason": request}
    return {"route": "emergency", **start_emergency(request, settings, policy, client=client)}
