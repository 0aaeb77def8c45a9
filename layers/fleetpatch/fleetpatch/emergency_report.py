"""An emergency run's report lines: the CVE, its fix per OS, and each instance's time to
remediate against the policy's SLA for the severity (docs/emergency.md).

Time to remediate: from the instance's finding (Inspector's first observation, or a finding
recorded by the run) or else the request, to the install of its fix, read back from the
instance's patch state: a fix ``Installed`` or ``InstalledOther`` (installed, not yet
approved by the baseline: compliant) and not pending a reboot is patched and compliant for
this CVE. An instance not remediated yet is measured to the report's time: past the SLA
it has missed it already, within it the SLA is still open.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fleetpatch import aws
from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.reports import InstanceResult, RunReport


@dataclass(frozen=True)
class Remediation:
    instance_id: str
    operating_system: str
    since: datetime
    patched_at: datetime | None
    sla_hours: int | None
    # Systems Manager no longer answers for it (stopped, terminated or deregistered).
    unreachable: bool = False

    @property
    def elapsed(self) -> timedelta | None:
        return self.patched_at - self.since if self.patched_at else None

    def verdict(self, now: datetime) -> str:
        if self.sla_hours is None:
            return "no SLA"
        bound = timedelta(hours=self.sla_hours)
        if self.patched_at is not None:
            return "met" if self.patched_at - self.since <= bound else "missed"
        return "missed" if now - self.since > bound else "open"

    def line(self, now: datetime) -> str:
        sla = f"SLA {self.sla_hours} h: {self.verdict(now)}" if self.sla_hours else "no SLA"
        if self.elapsed is not None and self.elapsed <= timedelta(0):
            return f"{self.instance_id} ({self.operating_system}): already fixed when found ({sla})"
        if self.elapsed is not None:
            return (
                f"{self.instance_id} ({self.operating_system}): remediated in "
                f"{duration(self.elapsed)} ({sla})"
            )
        why = (
            " (Systems Manager no longer answers for it: stopped, terminated or deregistered)"
            if self.unreachable
            else ""
        )
        return (
            f"{self.instance_id} ({self.operating_system}): not remediated{why}, "
            f"{duration(now - self.since)} since {self.since:%Y-%m-%d %H:%M} UTC ({sla})"
        )


def duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _os_of(batch: RuntimeBatch, lists: Mapping[str, str]) -> str:
    return next((os for os, url in lists.items() if url == batch.install_override_list), "?")


class Unreachable(Exception):
    """Systems Manager answers InvalidInstanceId: the host is not a managed node now."""


def patched_at(ssm: Any, instance_id: str, fixes: Sequence[str]) -> datetime | None:
    """When the last of the fix's patches was installed (and not pending a reboot), or None.

    Raises :class:`Unreachable` for a host Systems Manager no longer answers for.
    """
    try:
        return _patched_at(ssm, instance_id, fixes)
    except ssm.exceptions.InvalidInstanceId as error:
        raise Unreachable(instance_id) from error


def _patched_at(ssm: Any, instance_id: str, fixes: Sequence[str]) -> datetime | None:
    times = []
    for page in aws.pages(
        ssm.describe_instance_patches,
        InstanceId=instance_id,
        # InstalledOther: a fix the baseline has not approved yet (the emergency's case).
        Filters=[
            {"Key": "State", "Values": ["Installed", "InstalledOther", "InstalledPendingReboot"]}
        ],
    ):
        for patch in page["Patches"]:
            if any(fnmatch.fnmatchcase(patch["KBId"], f) for f in fixes):
                if str(patch.get("State", "")).upper().replace("_", "") == "INSTALLEDPENDINGREBOOT":
                    return None  # installed, but not compliant until the reboot
                times.append(patch["InstalledTime"])
    return max(times) if times else None


def remediations(
    emergency: Mapping[str, Any], batches: Sequence[RuntimeBatch], *, ssm: Any
) -> list[Remediation]:
    """Each affected instance of the run, from its finding or the request to its fix."""
    requested = datetime.fromisoformat(emergency["requestedAt"])
    first_seen = {i: datetime.fromisoformat(t) for i, t in emergency.get("firstSeen", {}).items()}
    lists = emergency.get("lists", {})
    fixes = emergency.get("fixes", {})
    found = []
    for batch in batches:
        os_name = _os_of(batch, lists)
        for instance_id in batch.instance_ids or []:
            since = min(first_seen.get(instance_id, requested), requested)
            try:
                fixed_at, unreachable = patched_at(ssm, instance_id, fixes.get(os_name, [])), False
            except Unreachable:
                fixed_at, unreachable = None, True
            found.append(
                Remediation(
                    instance_id=instance_id,
                    operating_system=os_name,
                    since=since,
                    patched_at=fixed_at,
                    sla_hours=emergency.get("slaHours"),
                    unreachable=unreachable,
                )
            )
    return found


def with_fix_verdicts(report: RunReport, found: Sequence[Remediation]) -> RunReport:
    """An emergency installs the fix only: a host whose fix is installed is patched, even if
    other approved patches (the waves' business) are still missing."""
    fixed = {r.instance_id for r in found if r.patched_at is not None}

    def judged(instance: InstanceResult) -> InstanceResult:
        if instance.outcome != "non-compliant" or instance.instance_id not in fixed:
            return instance
        return instance.model_copy(
            update={
                "outcome": "patched",
                "reason": "the fix is installed; other approved patches are left to the waves",
            }
        )

    batches = [
        b.model_copy(update={"instances": [judged(i) for i in b.instances]}) for b in report.batches
    ]
    return report.model_copy(update={"batches": batches})


def emergency_notes(
    emergency: Mapping[str, Any],
    found: Sequence[Remediation],
    *,
    now: datetime,
    recorded: Mapping[str, Mapping[str, str]] | None = None,
) -> list[str]:
    """The report's lines for an emergency run (first: what it was)."""
    cve = emergency["cve"]
    sla = emergency.get("slaHours")
    why = f"; reason: {emergency['reason']}" if emergency.get("reason") else ""
    lines = [
        f"EMERGENCY run for {cve}: severity {emergency.get('severity')}, SLA "
        f"{f'{sla} h' if sla else 'none'} to remediate; requested by "
        f"{emergency.get('requestedBy')} ({emergency.get('source')}){why}; affected instances "
        f"from {emergency.get('resolvedBy')}"
    ]
    if emergency.get("overrideFreeze"):
        lines.append(f"change freeze overridden: {emergency['overrideFreeze']}")
    for os_name, ids in sorted(emergency.get("fixes", {}).items()):
        lines.append(f"{os_name}: installs exactly {', '.join(ids)} (InstallOverrideList)")
    lines += [f"policy exclusion: {line}" for line in emergency.get("excluded", [])]
    recorded = recorded or {}
    verdicts = [r.verdict(now) for r in found]
    lines.append(
        f"time to remediate: {verdicts.count('met')} met, {verdicts.count('missed')} missed, "
        f"{verdicts.count('open')} open of {len(found)} instance(s)"
    )
    lines += [r.line(now) for r in found]
    for instance_id, reason in sorted(emergency.get("notPatched", {}).items()):
        lines.append(f"{instance_id}: not patched by this run: {reason}")
    in_run = {r.instance_id for r in found} | set(emergency.get("notPatched", {}))
    for instance_id in sorted(set(recorded) - in_run):
        lines.append(
            f"{instance_id}: finding recorded while this run went on, not in it: start "
            f"`fleetpatch emergency --cve {cve}` again to patch it"
        )
    return lines
