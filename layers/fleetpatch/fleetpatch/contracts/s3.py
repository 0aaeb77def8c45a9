"""Where things live in the artifacts bucket."""

from __future__ import annotations

REPORTS_PREFIX = "reports/"
COMMAND_OUTPUT_PREFIX = "command-output/"
PROMOTION_PREFIX = "promotion/"


def report_keys(run_id: str) -> tuple[str, str]:
    """Where a run's report lives: (JSON key, HTML key)."""
    return f"{REPORTS_PREFIX}{run_id}.json", f"{REPORTS_PREFIX}{run_id}.html"


def launch_output_prefix(run_id: str) -> str:
    """Run Command output of a patch-new-instance run (its ASL's OutputS3KeyPrefix)."""
    return f"{COMMAND_OUTPUT_PREFIX}launch/{run_id}"


def wave_output_prefix(wave: str, batch: str) -> str:
    """Run Command output of a wave's batch (patch-batch's OutputS3KeyPrefix)."""
    return f"{COMMAND_OUTPUT_PREFIX}waves/{wave}/{batch}"


def override_list_key(wave: str) -> str:
    """Where a promoted wave's InstallOverrideList lives."""
    return f"{PROMOTION_PREFIX}{wave}/install-override-list.yaml"
