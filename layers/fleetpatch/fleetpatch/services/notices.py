"""Advance notices of waves: the hourly tick (publish-report, ``kind: wave-notice``).

:func:`send_wave_notices` sends the notices due in the coming hour (``fleetpatch.wave_notice``)
on the reports topic: e-mail subscribers get the text, and the Slack notifier posts it (a
notice has no stored report, so it posts the notification as sent). Each notice is claimed
in the state table first (one conditional write per wave, occurrence and kind): a repeated
tick sends nothing twice; a claim whose publish failed is given back, so a retry sends it.
"""

from __future__ import annotations

import logging
from typing import Any

from fleetpatch import aws, clock, instance_facts, wave_skip
from fleetpatch.change_freeze import freeze_state
from fleetpatch.contracts import keys
from fleetpatch.membership import MemberState, roster
from fleetpatch.policy import CompiledPolicy
from fleetpatch.services import ClientFactory, aws_client
from fleetpatch.services.reports import ReportSettings
from fleetpatch.wave_notice import (
    BatchNotice,
    DueNotice,
    Host,
    due_notices,
    notice_subject,
    notice_text,
)

LOG = logging.getLogger(__name__)
OCCURRENCES = 6
"""Next occurrences looked at per wave (covers 14 days before a weekly wave)."""


def send_wave_notices(
    settings: ReportSettings, *, client: ClientFactory = aws_client
) -> dict[str, Any]:
    now = clock.now()
    policy = aws.compiled_policy(settings.policy_parameter)
    if policy.notice is None:
        return {"sent": [], "duplicates": [], "reason": "the policy asks for no notices"}
    occurrences = {
        name: wave.schedule.resolved().next_runs(now, OCCURRENCES)
        for name, wave in policy.waves.items()
    }
    sent, duplicates = [], []
    dynamodb = client("dynamodb")
    for due in due_notices(occurrences, policy.notice, now):
        key = keys.notice_key(due.wave, due.occurrence, due.kind)
        if not _claim(dynamodb, settings.table_name, key, due, now.timestamp()):
            duplicates.append(due.notice_id)
            continue
        try:
            _publish(due, policy, settings, client)
        except Exception:
            dynamodb.delete_item(TableName=settings.table_name, Key=key)
            raise
        sent.append(due.notice_id)
    LOG.info("wave notices", extra={"sent": sent, "duplicates": duplicates})
    return {"sent": sent, "duplicates": duplicates}


def _claim(dynamodb: Any, table: str, key: keys.Key, due: DueNotice, now: float) -> bool:
    try:
        dynamodb.put_item(
            TableName=table,
            Item={
                **key,
                "notice": {"S": due.notice_id},
                "wave": {"S": due.wave},
                keys.TTL_ATTRIBUTE: keys.expires_at(now),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        return False
    return True


def _publish(
    due: DueNotice, policy: CompiledPolicy, settings: ReportSettings, client: ClientFactory
) -> None:
    ec2, ssm = client("ec2"), client("ssm")
    wave = policy.waves[due.wave]
    batches = []
    for batch in wave.batches:
        found = roster(batch.patch_groups, ec2=ec2, ssm=ssm, autoscaling=client("autoscaling"))
        members = [m for m in found.members if m.state is not MemberState.TERMINATED]
        ids = [m.instance_id for m in members]
        facts = instance_facts.describe(ec2, ssm, ids).facts
        missing = _missing(ssm, ids)
        hosts = [
            Host(
                m.instance_id,
                facts[m.instance_id].name if m.instance_id in facts else None,
                facts[m.instance_id].platform if m.instance_id in facts else None,
                missing.get(m.instance_id),
                m.reason if m.state is MemberState.EXCEPTED else None,
            )
            for m in members
        ]
        starts = (
            "in the window"
            if batch.gate is None
            else f"after the gate on {', '.join(batch.gate.batches)}"
        )
        batches.append(BatchNotice(batch.name, batch.patch_groups, starts, hosts))
    stops = _stops(due, policy, settings, client)
    count = sum(len(b.hosts) for b in batches)
    client("sns").publish(
        TopicArn=settings.topic_arn,
        Subject=notice_subject(due, count, stops[0] if stops else None),
        Message=notice_text(due, wave.schedule.timezone, batches, stops),
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "notice"},
            "wave": {"DataType": "String", "StringValue": due.wave},
            "run": {"DataType": "String", "StringValue": due.notice_id},
        },
    )


def _missing(ssm: Any, instance_ids: list[str]) -> dict[str, int]:
    """Each host's MissingCount (one DescribeInstancePatchStates call per 50 hosts)."""
    found: dict[str, int] = {}
    for start in range(0, len(instance_ids), 50):
        chunk = instance_ids[start : start + 50]
        for state in ssm.describe_instance_patch_states(InstanceIds=chunk)["InstancePatchStates"]:
            found[state["InstanceId"]] = int(state.get("MissingCount", 0))
    return found


def _stops(
    due: DueNotice, policy: CompiledPolicy, settings: ReportSettings, client: ClientFactory
) -> list[str]:
    """What will keep this occurrence from patching, as far as is known now."""
    stops = []
    skip = wave_skip.current(client("dynamodb"), settings.table_name, due.wave)
    if skip is not None and skip.pending:
        stops.append(f"the next occurrence is skipped: {skip.describe()}")
    if policy.change_freeze is not None:
        state = freeze_state(client("ssm"), policy.change_freeze.calendars, due.occurrence)
        if state.closed:
            then = (
                f"the run waits up to {policy.change_freeze.max_wait_hours} h for it to open"
                if policy.change_freeze.on_closed == "wait"
                else "the run will be skipped"
            )
            stops.append(f"{state.describe()} at that time: {then}")
    return stops
