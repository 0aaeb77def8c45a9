"""Where things live in the artifacts bucket."""

from __future__ import annotations

from datetime import UTC, datetime

REPORTS_PREFIX = "reports/"
COMMAND_OUTPUT_PREFIX = "command-output/"
PROMOTION_PREFIX = "promotion/"
EMERGENCY_PREFIX = "emergency/"
DAY_INDEX_NAME = "index.html"


def report_day_prefix(started_at: datetime) -> str:
    """The folder of a day's reports: ``reports/YYYY/MM/DD/``, the UTC day a run started.

    Its start, not its end: a retried publish ends later (perhaps the next day) and must
    write the same keys. Reports stored before reports were filed by day keep their keys
    (``reports/<run>.json|.html``): the index and the messages that name them still work.
    """
    return f"{REPORTS_PREFIX}{started_at.astimezone(UTC):%Y/%m/%d}/"


def report_keys(run_id: str, started_at: datetime) -> tuple[str, str]:
    """Where a run's report lives: (JSON key, HTML key), in its day's folder."""
    folder = report_day_prefix(started_at)
    return f"{folder}{run_id}.json", f"{folder}{run_id}.html"


def report_day_index_key(started_at: datetime) -> str:
    """The page that lists a day's runs (``reports/YYYY/MM/DD/index.html``)."""
    return f"{report_day_prefix(started_at)}{DAY_INDEX_NAME}"


def launch_output_prefix(run_id: str) -> str:
    """Run Command output of a patch-new-instance run (its ASL's OutputS3KeyPrefix)."""
    return f"{COMMAND_OUTPUT_PREFIX}launch/{run_id}"


def wave_output_prefix(wave: str, batch: str) -> str:
    """Run Command output of a wave's batch (patch-batch's OutputS3KeyPrefix)."""
    return f"{COMMAND_OUTPUT_PREFIX}waves/{wave}/{batch}"


def emergency_list_key(run_id: str, operating_system: str) -> str:
    """An emergency run's InstallOverrideList for one operating system."""
    return f"{EMERGENCY_PREFIX}{run_id}/{operating_system}/install-override-list.yaml"


def override_list_key(wave: str) -> str:
    """Where a promoted wave's InstallOverrideList lives."""
    return f"{PROMOTION_PREFIX}{wave}/install-override-list.yaml"


# issue 21: the monthly audit export (fleetpatch.services.audit).
AUDIT_PREFIX = "audit/"


def audit_export_keys(year: int, month: int) -> tuple[str, str]:
    """A month's audit export: (CSV key, JSON summary key), ``audit/YYYY/MM/``."""
    folder = f"{AUDIT_PREFIX}{year:04d}/{month:02d}/"
    return (
        f"{folder}patches-{year:04d}-{month:02d}.csv",
        f"{folder}summary-{year:04d}-{month:02d}.json",
    )
