"""Run reports to test with: a held wave, waves of given outcomes, launches, patch states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fleetpatch.launch_summary import InstanceRunSummary, instance_report
from fleetpatch.reports import (
    BatchResult,
    GateSummary,
    InstanceResult,
    RunReport,
    instance_result,
)

REGION = "eu-central-1"
TABLE = "state"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
INSTANCE = "i-0a1b2c3d4e5f60718"
EXECUTION = "arn:aws:states:eu-central-1:123456789012:execution:fleetpatch-gated-wave:wave-prod-1"
HELD_REASON = "1 instance failed in linux-databases (max 0)"


def clean(operation: str = "Install", installed: int = 0, **counts: Any) -> dict[str, Any]:
    """A patch state as DescribeInstancePatchStates reports it."""
    return {
        "Operation": operation,
        "InstalledCount": installed,
        "InstalledOtherCount": 0,
        "InstalledPendingRebootCount": 0,
        "MissingCount": 0,
        "FailedCount": 0,
        **counts,
    }


def patched(instance_id: str, installed: int) -> InstanceResult:
    return instance_result(
        instance_id,
        command_status="Success",
        state=clean(installed=installed),
        command_id="cmd-linux-1",
    )


def held_wave() -> RunReport:
    """prod wave: linux-databases ran (one of six failed), the gate held windows-apps."""
    linux = [
        patched("i-0db00000000000001", 4),
        patched("i-0db00000000000002", 2),
        instance_result(
            "i-0db00000000000003", command_status="Failed", state=None, command_id="cmd-linux-1"
        ),
        patched("i-0db00000000000004", 3),
        patched("i-0db00000000000005", 0),
        patched("i-0db00000000000006", 1),
    ]
    windows = [
        instance_result(f"i-0ap0000000000000{n}", command_status=None, state=None, ran=False)
        for n in (1, 2)
    ]
    return RunReport(
        kind="wave",
        run_id="wave-prod-20261121T0500Z",
        title="prod wave",
        outcome="held",
        reason="gate failed",
        summary="The gate before windows-apps failed: 1 instance failed in linux-databases.",
        environment="prod",
        trigger="window",
        started_at=T0,
        ended_at=T0 + timedelta(minutes=42, seconds=30),
        execution_arn=EXECUTION,
        window_execution_id="6a0fd8c1-1d3c-4f4b-9a5e-0b1c2d3e4f50",
        batches=[
            BatchResult(
                name="linux-databases",
                patch_groups=["patch_prod_0600_batch_1"],
                status="ran",
                instances=linux,
            ),
            BatchResult(
                name="windows-apps",
                patch_groups=["patch_prod_0600_batch_2"],
                status="held",
                gate=GateSummary(passed=False, reasons=[HELD_REASON], checked=["linux-databases"]),
                instances=windows,
            ),
        ],
    )


def wave(outcome: str, per_batch: list[list[str]], title: str = "prod wave") -> RunReport:
    """A wave whose batches all ran, with the given instance outcomes."""
    return RunReport(
        kind="wave",
        run_id="wave-1",
        title=title,
        outcome=outcome,
        summary="-",
        environment="prod",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        batches=[
            BatchResult(
                name=f"batch-{b}",
                status="ran",
                instances=[
                    InstanceResult(instance_id=f"i-{b}{n:016x}", outcome=o)  # type: ignore[arg-type]
                    for n, o in enumerate(outcomes)
                ],
            )
            for b, outcomes in enumerate(per_batch)
        ],
    )


def serving_wave() -> RunReport:
    """A held web wave: a serving batch (one patched, one rolled back), then one in place."""
    served = {"installed": 6, "installed_by_run": 6, "missing": 0, "failed": 0}
    return RunReport(
        kind="wave",
        run_id="wave-web",
        title="web wave",
        outcome="held",
        summary="-",
        environment="test",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        batches=[
            BatchResult(
                name="web",
                status="ran",
                instances=[
                    InstanceResult(
                        instance_id="i-0000000000000000a",
                        outcome="patched",
                        serving="patched",
                        out_of_service_seconds=450,
                        **served,
                    ),
                    InstanceResult(
                        instance_id="i-0000000000000000b",
                        outcome="failed",
                        reason="rolled-back: unhealthy after the patch",
                        serving="rolled-back",
                        out_of_service_seconds=1210.4,
                    ),
                ],
            ),
            BatchResult(
                name="api",
                status="held",
                instances=[InstanceResult(instance_id="i-0000000000000000c", outcome="patched")],
            ),
        ],
    )


def one_of_each() -> RunReport:
    """A held wave: 2 patched, 1 failed, 1 stopped, 1 unmanaged, 1 excluded; 1 held behind."""

    def member(n: int, outcome: str, **fields: Any) -> InstanceResult:
        return InstanceResult.model_validate(
            {"instance_id": f"i-{n:016d}", "outcome": outcome, "state": "ready", **fields}
        )

    counts = {"missing": 0, "failed": 0, "pending_reboot": 0}
    linux = [
        member(1, "patched", installed=40, installed_by_run=4, **counts),
        member(2, "patched", installed=41, installed_by_run=5, **counts),
        member(3, "failed", reason="AWS-RunPatchBaseline ended Failed", installed_by_run=0),
        member(4, "not-reached", reason="it is stopped").model_copy(update={"state": "stopped"}),
        member(5, "not-reached", reason="not managed: its SSM agent is not registered"),
    ]
    return RunReport(
        kind="wave",
        run_id="wave-prod-2",
        title="prod wave",
        outcome="held",
        summary="-",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1),
        installed_by_run=9,
        batches=[
            BatchResult(
                name="linux",
                status="ran",
                instances=linux,
                excluded={"i-0000000000000009": "its patch group tags disagree"},
            ),
            BatchResult(
                name="windows",
                status="held",
                instances=[member(6, "not-reached", reason="its batch was held by a gate")],
            ),
        ],
    )


def run_summary(**fields: Any) -> InstanceRunSummary:
    base: dict[str, Any] = {
        "runId": "launch-i-0a1b2c3d4e5f60718-1",
        "instanceId": INSTANCE,
        "trigger": "launch",
        "outcome": "patched",
        "reason": "Patched",
        "summary": "patched on launch",
        "startedAt": "2026-11-21T05:00:00Z",
        "target": {"patchGroup": "patch_test_0600_batch_1", "environment": "test"},
    }
    return InstanceRunSummary.model_validate(base | fields)


def launch(**fields: Any) -> RunReport:
    return instance_report(
        run_summary(**fields), ended_at=T0 + timedelta(minutes=9), bucket="fleetpatch-artifacts"
    )


HELD_SUBJECT = "prod wave: windows-apps held; 8 instances: 5 patched, 1 failed, 2 not reached"
