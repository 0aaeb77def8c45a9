"""Reports: publish every run's report, send the compliance digest, post to Slack.

:func:`publish_run_report` is the last task of every run. It builds the run's report (a
wave's evidence is gathered again, the way its gates read it: every member of every batch,
``fleetpatch.wave_report``), stores it as JSON and HTML in the artifacts bucket, indexes it
and announces it once on the reports topic. The workflows catch any failure here and fall
back to a bare SNS message, so a run never ends unreported.

:func:`send_compliance_digest`, invoked by the one-time digest schedule, sends the drift
and recovery recorded since the last digest as one report, then removes what it sent
(``fleetpatch.publishing.send_digest``; a repeated invocation sends nothing twice).

Posting the reports to Slack is ``fleetpatch.services.slack`` (apart, so notify-slack does
not load what building a report needs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from fleetpatch import aws, clock, instance_facts, security_hub
from fleetpatch.compliance import DigestCollector, digest_report
from fleetpatch.emergency_records import recorded_findings
from fleetpatch.emergency_report import emergency_notes, remediations, with_fix_verdicts
from fleetpatch.exclusions import ExpiryRecorder, report_notes
from fleetpatch.launch_summary import InstanceRunSummary, instance_report
from fleetpatch.membership import excepted_members
from fleetpatch.policy import CompiledPolicy
from fleetpatch.promotion import list_note
from fleetpatch.publishing import ReportPublisher, send_digest
from fleetpatch.reports import RunReport, with_instance_facts
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.services import sharing as sharing_service
from fleetpatch.wave_report import WaveRunSummary, wave_report
from fleetpatch.waves import WaveRecords

LOG = logging.getLogger(__name__)


class ReportSettings(Protocol):
    """What the publish-report function is configured with."""

    @property
    def table_name(self) -> str: ...
    @property
    def bucket(self) -> str: ...
    @property
    def topic_arn(self) -> str: ...
    @property
    def policy_parameter(self) -> str: ...
    @property
    def region(self) -> str: ...
    # issue 22: what the member shares with the organization's central account.
    @property
    def stage(self) -> str: ...
    @property
    def central_bucket(self) -> str: ...
    @property
    def dead_letter_queue_url(self) -> str: ...


def publish_run_report(
    run: WaveRunSummary | InstanceRunSummary,
    settings: ReportSettings,
    *,
    client: ClientFactory = aws_client,
) -> dict[str, Any]:
    """Build, store, index and announce a finished run's report (once)."""
    ended_at = clock.now()
    copy = sharing_service.central_copy(settings, client)
    publisher = _publisher(settings, client, mirror=copy)
    if isinstance(run, WaveRunSummary):
        records = WaveRecords(client("dynamodb"), settings.table_name, run.run_id, clock.time)
        report = wave_report(
            run,
            ended_at=ended_at,
            patch_group_environments=_patch_group_environments(settings.policy_parameter),
            plans=lambda step: records.batch(step).plan(),
            ssm=client("ssm"),
            ec2=client("ec2"),
            notes=[
                *_promotion_notes(settings, run, client),
                *_policy_notes(settings.policy_parameter, run, client),
                *_exclusion_notes(settings, run, client),
            ],
            autoscaling=client("autoscaling"),
            serving=records.serving,
        )
        report = _as_emergency(report, settings, run, client, ended_at)
    else:
        report = instance_report(run, ended_at=ended_at, bucket=settings.bucket)
        if report.environment is not None:
            extra = _exclusion_notes(settings, run, client, [report.environment])
            report = report.model_copy(update={"notes": [*report.notes, *extra]})
    report = _with_facts(report, client)
    # A launch-churn streak's failures between its first and its escalation are kept quiet.
    quiet = report.churn is not None and not report.churn.announced
    published = publisher.publish(report, announce=not quiet)
    LOG.info(
        "report published",
        extra={
            "run": report.run_id,
            "outcome": report.outcome,
            "duplicate": published.duplicate,
            "quiet": published.quiet,
        },
    )
    shared = sharing_service.share_run(
        report, published, settings, client, copy=copy, emergency=_is_emergency(run)
    )
    return {**published.as_dict(), "shared": shared}


def _is_emergency(run: WaveRunSummary | InstanceRunSummary) -> bool:
    return isinstance(run, WaveRunSummary) and run.emergency is not None


def _with_facts(report: RunReport, client: ClientFactory) -> RunReport:
    """Each instance's Name tag and operating system, read once for the whole report."""
    found = instance_facts.describe(
        client("ec2"), client("ssm"), [i.instance_id for i in report.instances()]
    )
    if found.problems:
        LOG.warning("instance facts not read", extra={"problems": found.problems})
    return with_instance_facts(report, found.facts, notes=found.problems)


def send_compliance_digest(
    settings: ReportSettings, due: str | None, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    """Send the drift and recovery recorded since the last digest, due at ``due``."""
    now = clock.now()
    copy = sharing_service.central_copy(settings, client)
    publisher = _publisher(settings, client, mirror=copy)
    policy = aws.compiled_policy(settings.policy_parameter)
    shared: dict[str, Any] = {}
    imported: dict[str, Any] = {}
    sent = send_digest(
        DigestCollector(client("dynamodb"), settings.table_name),
        publisher,
        now=now,
        due=datetime.fromisoformat(due) if due else None,
        include_recoveries=policy.compliance.notify_recoveries,
        exceptions=lambda ids: excepted_members(client("ec2"), ids, now),
        before_publish=_to_security_hub(settings, now, client, imported)
        if policy.security_hub.enabled
        else None,
        after_publish=lambda digest, published: shared.update(
            digest=sharing_service.share_run(digest, published, settings, client, copy=copy)
        ),
    )
    if imported:
        sent = {**sent, "securityHub": imported}
    # issue 22: the account and region's compliance counts, with each digest.
    shared["compliance"] = sharing_service.share_compliance(settings, client, now)
    sent = {**sent, "shared": shared}
    LOG.info("digest sent", extra=sent)
    return sent


def _to_security_hub(
    settings: ReportSettings, now: datetime, client: ClientFactory, imported: dict[str, Any]
) -> Callable[[list[dict[str, Any]]], None]:
    """issue 21: the digest's drift and recovery as Security Hub findings, 100 a call."""

    def publish(items: list[dict[str, Any]]) -> None:
        digest = digest_report(items, sent_at=now, digest_id=None, include_recoveries=True)
        if digest is None:
            return
        published = security_hub.publish(
            client("securityhub"), digest.entries, security_hub.Account.of_arn(settings.topic_arn)
        )
        imported.update(published.as_dict())
        LOG.info("findings imported", extra=imported)

    return publish


def _publisher(
    settings: ReportSettings,
    client: ClientFactory,
    mirror: Callable[[str, bytes, str], None] | None = None,
) -> ReportPublisher:
    return ReportPublisher(
        s3=client("s3"),
        sns=client("sns"),
        dynamodb=client("dynamodb"),
        table=settings.table_name,
        bucket=settings.bucket,
        topic_arn=settings.topic_arn,
        region=settings.region,
        now=clock.time,
        log=lambda message, extra: LOG.warning(message, extra=extra),
        mirror=mirror,
    )


def _patch_group_environments(parameter: str) -> dict[str, str]:
    return aws.compiled_policy(parameter).patch_groups


def _policy_notes(parameter: str, run: WaveRunSummary, client: ClientFactory) -> list[str]:
    """Whether the fleet policy's batches for the wave changed while the run went on.

    A run keeps the batches it started with (its input): a policy redeployed mid-wave takes
    effect from the wave's next run, and the report says so. Read afresh, not from the
    functions' policy cache.
    """
    found = client("ssm").get_parameter(Name=parameter)["Parameter"]
    if found["LastModifiedDate"] <= run.started_at:
        return []  # not redeployed since (a run started by hand may have batches of its own)
    wave = CompiledPolicy.model_validate_json(found["Value"]).waves.get(run.wave)
    if wave is None or wave.batches == run.batches:
        return []
    return [
        f"the fleet policy was redeployed during this run and changed the {run.wave} wave's "
        f"batches; this run went on with the batches it started with "
        f"({', '.join(b.name for b in run.batches)}); the change applies from the next run"
    ]


def _exclusion_notes(
    settings: ReportSettings,
    run: WaveRunSummary | InstanceRunSummary,
    client: ClientFactory,
    environments: list[str] | None = None,
) -> list[str]:
    """issue 21: the policy exclusions that applied to the run's environments when it
    started, and those expired since, each listed by the first report after its date."""
    policy = aws.compiled_policy(settings.policy_parameter)
    if not policy.exclusions:
        return []
    if environments is None and isinstance(run, WaveRunSummary):
        environments = [
            env
            for batch in run.batches
            for group in batch.patch_groups
            if (env := policy.environment_of(group)) is not None
        ]
    recorder = ExpiryRecorder(client("dynamodb"), settings.table_name, run.run_id, clock.time())
    notes = report_notes(
        policy.exclusions, environments or [], run.started_at, first_report_of_expiry=recorder
    )
    return [note.line() for note in notes]


def _as_emergency(
    report: RunReport,
    settings: ReportSettings,
    run: WaveRunSummary,
    client: ClientFactory,
    now: datetime,
) -> RunReport:
    """An emergency run's report: its CVE, fixes and each instance's time to remediate
    against the SLA first, and a host whose fix is installed judged patched."""
    if run.emergency is None:
        return report
    found = remediations(run.emergency, run.batches, ssm=client("ssm"))
    notes = emergency_notes(
        run.emergency,
        found,
        now=now,
        recorded=recorded_findings(client("dynamodb"), settings.table_name, run.emergency["cve"]),
    )
    judged = with_fix_verdicts(report, found)
    return judged.model_copy(update={"notes": [*notes, *judged.notes]})


def _promotion_notes(
    settings: ReportSettings, run: WaveRunSummary, client: ClientFactory
) -> list[str]:
    """A promoted wave's report names the list it installed, or that it had none."""
    if run.promote_from is None:
        return []
    note = list_note(
        client("s3"),
        settings.bucket,
        wave=run.wave,
        source_wave=run.promote_from,
        run_started_at=run.started_at,
    )
    return [note]
