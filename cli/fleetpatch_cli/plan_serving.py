"""How ``fleetpatch plan`` shows a batch's serving block: drain, budget, health, snapshots, hooks.

A batch without one is patched in place, as before serving existed; the plan says so.
"""

from __future__ import annotations

from fleetpatch_authoring.serving import Drain, Health, Hooks, Serving, Snapshots

IN_PLACE = "serving: no (patched in place)"


def serving_lines(serving: Serving | None) -> list[str]:
    """One line per part of the block, for the plan's text (without indentation)."""
    if serving is None:
        return [IN_PLACE]
    budget = serving.budget
    order = "; zone by zone" if budget.zone_by_zone else ""
    return [
        f"serving: drain {_drain_text(serving.drain)}; reboot {_reboot_text(serving)}",
        f"budget: at most {budget.max_unavailable} out of service per "
        f"{', '.join(budget.scopes)}{order}; an instance waits up to {budget.wait_minutes} min",
        f"health: {_health_text(serving.health)}",
        f"snapshots: {_snapshots_text(serving.snapshots)}",
        f"hooks: {_hooks_text(serving.hooks)}",
    ]


def _drain_text(drain: Drain) -> str:
    steps = []
    if drain.auto_scaling == "standby":
        steps.append("Auto Scaling standby")
    if drain.target_groups == "deregister":
        steps.append("deregister from target groups")
    if not steps:
        return "none"
    return f"{' + '.join(steps)} (within {drain.timeout_minutes} min)"


def _reboot_text(serving: Serving) -> str:
    if serving.reboot == "controlled":
        return "controlled (install with NoReboot, reboot if pending)"
    return "none (install with NoReboot, never reboot)"


def _health_text(health: Health) -> str:
    checks = [
        name
        for name, on in (
            ("status checks", health.status_checks),
            ("SSM agent online", health.agent),
            ("target health", health.target_health),
        )
        if on
    ]
    if health.alarms:
        checks.append(f"alarms {', '.join(health.alarms)}")
    if health.document:
        checks.append(f"document {health.document}")
    if not checks:
        return "no checks"
    return f"{', '.join(checks)} ({health.timeout_minutes} min per phase)"


def _snapshots_text(snapshots: Snapshots) -> str:
    if not snapshots.enabled:
        return "no"
    rollback = "rollback on a failed health check" if snapshots.rollback else "no rollback"
    return f"yes, kept {snapshots.retention_days} days, {rollback}"


def _hooks_text(hooks: Hooks) -> str:
    named = [
        f"{when} {document}"
        for when, document in (
            ("before install", hooks.before_install),
            ("after install", hooks.after_install),
            ("after reboot", hooks.after_reboot),
        )
        if document
    ]
    return ", ".join(named) or "none"
