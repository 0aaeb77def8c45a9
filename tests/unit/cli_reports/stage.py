"""A moto stage for the reports commands: its table and bucket, the reports published in it, the CLI run on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import pytest

from fleetpatch.compliance import ComplianceChange, ComplianceLedger
from fleetpatch.contracts.names import artifacts_bucket_name, state_table_name
from fleetpatch.contracts.s3 import report_keys
from fleetpatch.report_index import ReportIndex
from fleetpatch.report_text import subject
from fleetpatch.reports import (
    BatchResult,
    DigestReport,
    DriftEntry,
    GateSummary,
    InstanceResult,
    RunReport,
)
from fleetpatch_cli.main import main

REGION: Final = "eu-central-1"
ACCOUNT = "123456789012"  # moto's
TABLE = state_table_name("default")
BUCKET = artifacts_bucket_name("default", ACCOUNT, REGION)


@dataclass
class Stage:
    dynamodb: Any
    s3: Any
    # The commands read the real clock: tests take their times from the time the test started.
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def index(self) -> ReportIndex:
        return ReportIndex(self.dynamodb, TABLE, self.now.timestamp)

    def ledger(self) -> ComplianceLedger:
        return ComplianceLedger(self.dynamodb, TABLE, self.now.timestamp)

    def publish(
        self, report: RunReport | DigestReport, *, store_error: str | None = None
    ) -> tuple[str, str]:
        """Store and index a report as the publisher does; a failed store indexes no keys."""
        json_key, html_key = report_keys(report.run_id, report.started_at)
        if store_error is None:
            self.s3.put_object(Bucket=BUCKET, Key=json_key, Body=report.model_dump_json(indent=1))
            self.s3.put_object(Bucket=BUCKET, Key=html_key, Body=page(report.run_id))
        if isinstance(report, RunReport):
            line = subject(report)
        else:
            line = f"compliance digest: {len(report.drifted)} instances drifted"
        stored = store_error is None
        self.index().record(
            report,
            subject_line=line,
            json_key=json_key if stored else None,
            html_key=html_key if stored else None,
            store_error=store_error,
        )
        return json_key, html_key


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--region", REGION])
    out, err = capsys.readouterr()
    return code, out, err


def page(run_id: str) -> str:
    return f"<!doctype html><title>{run_id}</title><h1>report of {run_id}</h1>\n"


def instance(instance_id: str, outcome: str, **counts: Any) -> InstanceResult:
    return InstanceResult(
        instance_id=instance_id,
        outcome=outcome,  # type: ignore[arg-type]
        patch_group="patch_prod_0600_batch_1",
        **counts,
    )


def wave_report(run_id: str, ended: datetime) -> RunReport:
    """A prod wave held before its second batch: 1 of 2 instances failed."""
    return RunReport(
        kind="wave",
        run_id=run_id,
        title="prod wave",
        outcome="held",
        reason="gate before windows-apps failed",
        summary="linux-databases ran; the gate held windows-apps.",
        environment="prod",
        trigger="maintenance window",
        started_at=ended - timedelta(minutes=42),
        ended_at=ended,
        execution_arn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:fleetpatch-default-gated-wave:{run_id}",
        batches=[
            BatchResult(
                name="linux-databases",
                status="ran",
                instances=[
                    instance("i-0aaaaaaaaaaaaaaa1", "patched", installed=4, missing=0, failed=0),
                    instance("i-0aaaaaaaaaaaaaaa2", "failed", installed=1, failed=2),
                ],
            ),
            BatchResult(
                name="windows-apps",
                status="held",
                gate=GateSummary(passed=False, reasons=["1 of 2 instances failed"]),
                instances=[instance("i-0bbbbbbbbbbbbbbb1", "not-reached")],
            ),
        ],
    )


def launch_report(run_id: str, ended: datetime) -> RunReport:
    return RunReport(
        kind="launch",
        run_id=run_id,
        title="launch of i-0ccccccccccccccc1",
        outcome="patched",
        summary="Patched before it joined its group.",
        environment="test",
        started_at=ended - timedelta(minutes=6),
        ended_at=ended,
        batches=[
            BatchResult(
                name="launch",
                status="ran",
                instances=[instance("i-0ccccccccccccccc1", "patched", installed=7)],
            )
        ],
    )


def remediation_report(run_id: str, ended: datetime) -> RunReport:
    return RunReport(
        kind="remediation",
        run_id=run_id,
        title="remediation of i-0ddddddddddddddd1",
        outcome="failed",
        reason="AWS-RunPatchBaseline ended TimedOut",
        summary="The remediation did not finish.",
        environment="prod",
        started_at=ended - timedelta(hours=2),
        ended_at=ended,
        batches=[
            BatchResult(
                name="remediation",
                status="ran",
                instances=[instance("i-0ddddddddddddddd1", "failed", reason="timed out")],
            )
        ],
    )


def digest_report(run_id: str, ended: datetime) -> DigestReport:
    return DigestReport(
        run_id=run_id,
        started_at=ended - timedelta(hours=6),
        ended_at=ended,
        entries=[
            DriftEntry(
                instance_id="i-0eeeeeeeeeeeeeee2",
                transition="drifted",
                at=ended - timedelta(hours=5),
                environment="prod",
                patch_group="patch_prod_0600_batch_2",
                severity="critical",
            ),
            DriftEntry(
                instance_id="i-0eeeeeeeeeeeeeee1",
                transition="drifted",
                at=ended - timedelta(hours=4),
                environment="prod",
                patch_group="patch_prod_0600_batch_1",
                severity="important",
                changes=3,
            ),
            DriftEntry(
                instance_id="i-0fffffffffffffff1",
                transition="recovered",
                at=ended - timedelta(hours=1),
                environment="test",
                patch_group="patch_test_0600_batch_1",
            ),
        ],
    )


def minute(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}"


def record(
    stage: Stage,
    instance_id: str,
    status: str,
    ago: timedelta,
    *,
    environment: str | None = "prod",
    patch_group: str | None = "patch_prod_0600_batch_1",
    severity: str | None = None,
) -> None:
    stage.ledger().record(
        ComplianceChange(
            instance_id=instance_id,
            status=status,  # type: ignore[arg-type]
            baseline_id="pb-0c10e65780EXAMPLE",
            severity=severity,
            event_time=stage.now - ago,
            event_id=f"{instance_id}-{ago.total_seconds():.0f}",
            patch_group=patch_group,
            environment=environment,
        )
    )
