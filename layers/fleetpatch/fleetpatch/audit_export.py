"""Evidence for auditors: one row per instance and patch, and the time to remediate (pure).

The rows and the summary are built here from what :mod:`fleetpatch.audit_export_aws` read
(Systems Manager's patch states, the state table's run reports and compliance history, the
compiled policy), and written as CSV (RFC 4180, UTF-8, a header row, ISO 8601 UTC times)
or JSON. docs/audit-export.md documents every column and the definition of the mean time
to remediate; :data:`COLUMNS` is the one owner of the column names and order.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from fleetpatch.exclusions import CompiledExclusion, active_exclusions
from fleetpatch.skip_tag import evaluate as evaluate_skip_tag

EXPORT_VERSION = 1

COLUMNS: tuple[str, ...] = (
    "instance_id",
    "name",
    "patch_group",
    "environment",
    "patch_id",
    "title",
    "classification",
    "severity",
    "cve_ids",
    "state",
    "installed_at",
    "run_id",
    "exception",
)

# DescribeInstancePatches' State (PatchComplianceDataState) as people and its filters spell it.
STATE_LABELS = {
    "INSTALLED": "Installed",
    "INSTALLED_OTHER": "InstalledOther",
    "INSTALLED_PENDING_REBOOT": "InstalledPendingReboot",
    "INSTALLED_REJECTED": "InstalledRejected",
    "MISSING": "Missing",
    "NOT_APPLICABLE": "NotApplicable",
    "FAILED": "Failed",
    "AVAILABLE_SECURITY_UPDATE": "AvailableSecurityUpdate",
}
# An instance Patch Manager has no patch data for (never scanned): one row says so, so the
# evidence names every managed instance.
NO_PATCH_DATA = {"State": "NoPatchData"}
INSTALLED_STATES = frozenset({"Installed", "InstalledOther", "InstalledPendingReboot"})
# AWS answers InstalledTime 1970-01-01 for a patch that is not installed.
_NOT_INSTALLED_BEFORE = datetime(1970, 1, 2, tzinfo=UTC)


def stamp(when: datetime | None) -> str:
    """ISO 8601 in UTC, to the second, with Z (what a spreadsheet and a parser both read)."""
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class InstanceFacts:
    """What the export knows of one managed instance."""

    instance_id: str
    name: str = ""
    patch_group: str = ""
    environment: str = ""
    operating_system: str = ""
    skip_tag: str | None = None


@dataclass(frozen=True)
class RunSpan:
    """A run that patched an instance: its id and when it ran."""

    run_id: str
    instance_id: str
    started_at: datetime
    ended_at: datetime


@dataclass(frozen=True)
class Drift:
    """One non-compliant interval of an instance (the state table's compliance history)."""

    instance_id: str
    severity: str
    drifted_at: datetime
    recovered_at: datetime | None


@dataclass
class Row:
    instance_id: str
    name: str
    patch_group: str
    environment: str
    patch_id: str
    title: str
    classification: str
    severity: str
    cve_ids: list[str]
    state: str
    installed_at: datetime | None
    run_id: str
    exception: str

    def csv_values(self) -> list[str]:
        values = asdict(self)
        values["cve_ids"] = " ".join(self.cve_ids)
        values["installed_at"] = stamp(self.installed_at)
        return [str(values[c]) for c in COLUMNS]

    def json_value(self) -> dict[str, Any]:
        values = asdict(self)
        values["installed_at"] = stamp(self.installed_at) or None
        return values


@dataclass
class Export:
    since: datetime
    until: datetime
    rows: list[Row] = field(default_factory=list)
    drifts: list[Drift] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        states: dict[str, int] = defaultdict(int)
        for row in self.rows:
            states[row.state] += 1
        return {
            "version": EXPORT_VERSION,
            "since": stamp(self.since),
            "until": stamp(self.until),
            "instances": len({r.instance_id for r in self.rows}),
            "rows": len(self.rows),
            "states": dict(sorted(states.items())),
            "mean_time_to_remediate": mean_time_to_remediate(self.drifts, self.since, self.until),
            "notes": list(self.notes),
        }

    def to_csv(self) -> str:
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(COLUMNS)
        for row in self.rows:
            writer.writerow(row.csv_values())
        return buffer.getvalue()

    def to_json(self) -> str:
        return json.dumps(
            {"summary": self.summary(), "rows": [r.json_value() for r in self.rows]}, indent=2
        )


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return None if when < _NOT_INSTALLED_BEFORE else when.astimezone(UTC)


def run_of(spans: Iterable[RunSpan], instance_id: str, installed_at: datetime | None) -> str:
    """The run of the instance whose time span holds the install time ("" when none does)."""
    if installed_at is None:
        return ""
    for span in spans:
        if span.instance_id == instance_id and span.started_at <= installed_at <= span.ended_at:
            return span.run_id
    return ""


def exception_of(
    facts: InstanceFacts,
    patch_names: Sequence[str],
    exclusions: Sequence[CompiledExclusion],
    at: datetime,
) -> str:
    """The exception that applied to this instance and patch at ``at`` ("" when none did)."""
    if facts.skip_tag is not None:
        skip = evaluate_skip_tag(facts.skip_tag, at)
        if skip.applies:
            return f"fleetpatch:skip: {skip.describe()}"
    if facts.environment:
        for exclusion in active_exclusions(
            exclusions, facts.environment, facts.operating_system or None, at
        ):
            if any(exclusion.matches(n) for n in patch_names):
                return f"policy exclusion: {exclusion.describe()}"
    return ""


def patch_row(
    facts: InstanceFacts,
    patch: Mapping[str, Any],
    *,
    spans: Sequence[RunSpan],
    exclusions: Sequence[CompiledExclusion],
    at: datetime,
) -> Row:
    """One DescribeInstancePatches entry (PatchComplianceData) as a row."""
    state = STATE_LABELS.get(str(patch.get("State", "")), str(patch.get("State", "")))
    installed_at = parse_time(patch.get("InstalledTime")) if state in INSTALLED_STATES else None
    kb_id, title = str(patch.get("KBId", "")), str(patch.get("Title", ""))
    name = kb_id.rsplit(".", 1)[0] if "." in kb_id else kb_id
    cves = [c for c in str(patch.get("CVEIds") or "").replace(",", " ").split() if c]
    return Row(
        instance_id=facts.instance_id,
        name=facts.name,
        patch_group=facts.patch_group,
        environment=facts.environment,
        patch_id=kb_id,
        title=title,
        classification=str(patch.get("Classification") or ""),
        severity=str(patch.get("Severity") or ""),
        cve_ids=cves,
        state=state,
        installed_at=installed_at,
        run_id=run_of(spans, facts.instance_id, installed_at),
        exception=exception_of(facts, [kb_id, name, title], exclusions, at),
    )


def in_period(row: Row, since: datetime, until: datetime | None = None) -> bool:
    """Every gap the fleet has now, and what was installed in the period."""
    if row.installed_at is None or row.state not in INSTALLED_STATES:
        return True
    return row.installed_at >= since and (until is None or row.installed_at <= until)


def drifts_of(history: Sequence[Mapping[str, str]], instance_id: str) -> list[Drift]:
    """The non-compliant intervals in one instance's history (oldest change first)."""
    found: list[Drift] = []
    open_at: datetime | None = None
    severity = ""
    for change in history:
        at = parse_time(change.get("at"))
        if at is None:
            continue
        if change.get("to") == "non_compliant" and open_at is None:
            open_at, severity = at, (change.get("severity") or "UNSPECIFIED").upper()
        elif change.get("to") == "compliant" and open_at is not None:
            found.append(Drift(instance_id, severity, open_at, at))
            open_at = None
    if open_at is not None:
        found.append(Drift(instance_id, severity, open_at, None))
    return found


def mean_time_to_remediate(
    drifts: Iterable[Drift], since: datetime, until: datetime
) -> dict[str, dict[str, Any]]:
    """Per severity: drifts that ended in [since, until] and their mean duration in hours,
    and those still open at ``until`` with the oldest one's age."""
    closed: dict[str, list[float]] = defaultdict(list)
    still_open: dict[str, list[float]] = defaultdict(list)
    for drift in drifts:
        if drift.recovered_at is None:
            still_open[drift.severity].append((until - drift.drifted_at).total_seconds() / 3600)
        elif since <= drift.recovered_at <= until:
            hours = (drift.recovered_at - drift.drifted_at).total_seconds() / 3600
            closed[drift.severity].append(hours)
    found: dict[str, dict[str, Any]] = {}
    for severity in sorted(set(closed) | set(still_open)):
        done, left = closed.get(severity, []), still_open.get(severity, [])
        found[severity] = {
            "remediated": len(done),
            "mean_hours": round(sum(done) / len(done), 2) if done else None,
            "open": len(left),
            "oldest_open_hours": round(max(left), 2) if left else None,
        }
    return found
