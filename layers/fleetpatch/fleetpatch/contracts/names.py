"""Names that cross a boundary: execution names, window names, the stage's resource names.

An execution name is an idempotency key: the same event (or the same person's action)
gives the same name, so a duplicate cannot start a second run (``ExecutionAlreadyExists``).
Step Functions allows 1-80 characters of ``[A-Za-z0-9_-]``.

The resource names are the template's (template.yaml names them after the stage), read by
the CLI, which finds the deployed control plane from ``--stage`` alone.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

MAX_EXECUTION_NAME = 80
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

# --- patch-new-instance runs ---------------------------------------------------------------------


def _safe(prefix: str, key: str) -> str:
    return f"{prefix}-{_NAME_UNSAFE.sub('_', key)}"[:MAX_EXECUTION_NAME]


def lifecycle_run_name(lifecycle_action_token: str) -> str:
    """A launch lifecycle action's run: one per action token."""
    return _safe("launch", lifecycle_action_token)


def running_run_name(instance_id: str) -> str:
    """An EC2 ``running`` event's run: one per instance, whatever the duplicates."""
    return _safe("running", instance_id)


def remediation_run_name(instance_id: str, event_id: str) -> str:
    """One remediation per drift event: a redelivered event starts nothing new."""
    digest = hashlib.sha256(event_id.encode()).hexdigest()[:16]
    return f"remediate-{instance_id}-{digest}"[:MAX_EXECUTION_NAME]


# --- gated-wave runs -----------------------------------------------------------------------------


def window_run_name(window_execution_id: str) -> str:
    """A wave's run started by its window: one per window execution."""
    return f"wave-{window_execution_id}"


def manual_run_name(wave: str, now: datetime) -> str:
    """A run started by ``fleetpatch wave start`` (one per wave and second)."""
    return f"manual-{wave}-{now:%Y%m%dT%H%M%SZ}"


def resumed_run_name(run: str, step: int) -> str:
    """The resumed run's execution name: ``<run>-resume-<step>``, shortened to fit 80."""
    name = f"{run}-resume-{step}"
    if len(name) <= MAX_EXECUTION_NAME:
        return name
    return f"resume-{hashlib.sha256(run.encode()).hexdigest()[:32]}-{step}"


# --- the readiness watcher ----------------------------------------------------------------------


def emergency_wave(cve: str) -> str:
    """An emergency run's wave: its lease (``LEASE#WAVE#<wave>``) is one run per CVE."""
    return f"emergency-{cve.upper()}"


def emergency_run_name(cve: str, now: datetime) -> str:
    """An emergency run for ``cve``, started at ``now`` (one per CVE at a time: the lease)."""
    return _safe("emergency", f"{cve.upper()}-{now:%Y%m%dT%H%M%SZ}")


def watcher_run_name(now: datetime, nonce: str) -> str:
    """A readiness watcher's execution (and lease owner): unique, sortable by start."""
    return f"watch-{now:%Y%m%dT%H%M%S}-{_NAME_UNSAFE.sub('_', nonce)}"[:MAX_EXECUTION_NAME]


# --- the stage's resources -----------------------------------------------------------------------


def window_name(wave: str) -> str:
    """A wave's maintenance window, without the ``fleetpatch-<stage>-`` prefix."""
    return f"wave-{wave}"


def resource_name(stage: str, name: str) -> str:
    """A resource the template names after the stage: ``fleetpatch-<stage>-<name>``."""
    return f"fleetpatch-{stage}-{name}"


def state_table_name(stage: str) -> str:
    return resource_name(stage, "state")


def artifacts_bucket_name(stage: str, account: str, region: str) -> str:
    return resource_name(stage, f"artifacts-{account}-{region}")


def gated_wave_machine_name(stage: str) -> str:
    return resource_name(stage, "gated-wave")


def policy_parameter_name(stage: str) -> str:
    """The SSM parameter holding the compiled policy."""
    return f"/fleetpatch/{stage}/policy"


HOOK_DOCUMENT_PREFIX = "fleetpatch-"
"""The account's SSM command documents a serving batch may run as hooks or health checks.

The policy accepts no other (``fleetpatch_authoring.serving``), patch-serving-instance's role
may send no other (template ``SendHookDocuments``), and the command-status rule and route
wake the workflow for their status changes as for the patch document's.
"""
