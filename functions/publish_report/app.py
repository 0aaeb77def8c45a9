"""Publish report: the last task of every run (workflow task), and the compliance digest.

Builds the run's report (a wave's evidence is gathered again, the way its gates read it:
every member of every batch, ``fleetpatch.wave_report``), stores it as JSON and HTML in the
artifacts bucket, indexes it and announces it once on the reports topic. The workflows
catch any failure here and fall back to a bare SNS message, so a run never ends unreported.

Invoked by the one-time digest schedule (``{"kind": "compliance-digest"}``), it sends the
drift and recovery recorded since the last digest as one report, then removes what it sent
(``fleetpatch.publishing.send_digest``; a repeated invocation sends nothing twice).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fleetpatch_lambda.config import FunctionConfig, load_config
from fleetpatch_lambda.observability import instrumented, logger
from pydantic import Field

from fleetpatch import aws, clock
from fleetpatch.compliance import DigestCollector
from fleetpatch.launch_summary import InstanceRunSummary, instance_report
from fleetpatch.promotion import list_note
from fleetpatch.publishing import ReportPublisher, send_digest
from fleetpatch.wave_report import WaveRunSummary, wave_report
from fleetpatch.waves import WaveRecords


class Config(FunctionConfig):
    table_name: str = Field(alias="FLEETPATCH_TABLE_NAME", min_length=3)
    bucket: str = Field(alias="FLEETPATCH_BUCKET_NAME", min_length=3)
    topic_arn: str = Field(alias="FLEETPATCH_REPORTS_TOPIC_ARN", min_length=20)
    policy_parameter: str = Field(alias="FLEETPATCH_POLICY_PARAMETER", min_length=1)
    region: str = Field(alias="AWS_REGION", min_length=1)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = load_config(Config)
    ended_at = clock.now()
    publisher = _publisher(config)
    if event.get("kind") == "compliance-digest":
        return _digest(config, publisher, ended_at, event.get("due"))
    if event.get("kind") == "wave":
        wave_run = WaveRunSummary.model_validate(event)
        records = WaveRecords(
            aws.client("dynamodb"), config.table_name, wave_run.run_id, clock.time
        )
        report = wave_report(
            wave_run,
            ended_at=ended_at,
            patch_group_environments=_patch_group_environments(config.policy_parameter),
            plans=lambda step: records.batch(step).plan(),
            ssm=aws.client("ssm"),
            ec2=aws.client("ec2"),
            notes=[
                *_promotion_notes(config, wave_run),
                *_policy_notes(config.policy_parameter, wave_run),
            ],
            autoscaling=aws.client("autoscaling"),
        )
    else:
        run = InstanceRunSummary.model_validate(event)
        report = instance_report(run, ended_at=ended_at, bucket=config.bucket)
    # A launch-churn streak's failures between its first and its escalation are kept quiet.
    quiet = report.churn is not None and not report.churn.announced
    published = publisher.publish(report, announce=not quiet)
    logger.info(
        "report published",
        extra={
            "run": report.run_id,
            "outcome": report.outcome,
            "duplicate": published.duplicate,
            "quiet": published.quiet,
        },
    )
    return published.as_dict()


def _digest(
    config: Config, publisher: ReportPublisher, now: datetime, due: str | None
) -> dict[str, Any]:
    policy = aws.compiled_policy(config.policy_parameter)
    sent = send_digest(
        DigestCollector(aws.client("dynamodb"), config.table_name),
        publisher,
        now=now,
        due=datetime.fromisoformat(due) if due else None,
        include_recoveries=bool(policy.get("compliance", {}).get("notifyRecoveries", True)),
    )
    logger.info("digest sent", extra=sent)
    return sent


def _publisher(config: Config) -> ReportPublisher:
    return ReportPublisher(
        s3=aws.client("s3"),
        sns=aws.client("sns"),
        dynamodb=aws.client("dynamodb"),
        table=config.table_name,
        bucket=config.bucket,
        topic_arn=config.topic_arn,
        region=config.region,
        now=clock.time,
        log=lambda message, extra: logger.warning(message, extra=extra),
    )


def _patch_group_environments(parameter: str) -> dict[str, str]:
    groups: dict[str, str] = aws.compiled_policy(parameter).get("patchGroups", {})
    return groups


def _policy_notes(parameter: str, run: WaveRunSummary) -> list[str]:
    """Whether the fleet policy's batches for the wave changed while the run went on.

    A run keeps the batches it started with (its input): a policy redeployed mid-wave takes
    effect from the wave's next run, and the report says so. Read afresh, not from the
    functions' policy cache.
    """
    found = aws.client("ssm").get_parameter(Name=parameter)["Parameter"]
    if found["LastModifiedDate"] <= run.started_at:
        return []  # not redeployed since (a run started by hand may have batches of its own)
    wave = json.loads(found["Value"]).get("waves", {}).get(run.wave)
    started = [b.model_dump(by_alias=True) for b in run.batches]
    if wave is None or wave.get("batches") == started:
        return []
    return [
        f"the fleet policy was redeployed during this run and changed the {run.wave} wave's "
        f"batches; this run went on with the batches it started with "
        f"({', '.join(b.name for b in run.batches)}); the change applies from the next run"
    ]


def _promotion_notes(config: Config, run: WaveRunSummary) -> list[str]:
    """A promoted wave's report names the list it installed, or that it had none."""
    if run.promote_from is None:
        return []
    note = list_note(
        aws.client("s3"),
        config.bucket,
        wave=run.wave,
        source_wave=run.promote_from,
        run_started_at=run.started_at,
    )
    return [note]
