"""Advance notice of a wave (issue 21, part 4): N days and one hour before each window.

The policy's ``notice`` (``NoticePolicy``) says how many days before; the hour-before notice
is always sent when notices are on. An hourly tick (the stack's ``WaveNoticeSchedule``, one
EventBridge Scheduler schedule: 720 invocations a month, no poller per minute) asks
:func:`due_notices` which notices fall in the hour starting now, and sends each once
(``contracts.keys.notice_key``: a conditional write per wave, occurrence and kind, so a
repeated tick sends nothing twice). A notice is therefore sent up to an hour early, never
late; a tick lost entirely loses the notices of its hour (Scheduler retries a failed
invocation; the report of the run itself still follows the window).

What a notice says (:func:`notice_text`): when, which batches in which order with their
patch groups, each host with its Name tag and operating system, what is missing per
operating system (the patch states' MissingCount: one DescribeInstancePatchStates call per
50 hosts), and what will keep a host or the whole occurrence from being patched (a
fleetpatch:skip exception, an operator's ``wave skip --next``, a change freeze closed then).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from fleetpatch.batch_policy import Compiled

Kind = Literal["days", "hour"]
HORIZON = timedelta(hours=1)
"""A tick sends the notices due from now to this much later (the tick's interval)."""


class NoticePolicy(Compiled):
    """The policy's ``notice``, compiled (``CompiledPolicy.notice``)."""

    days_before: int = Field(default=3, ge=1, le=14, alias="daysBefore")
    hour_before: bool = Field(default=True, alias="hourBefore")


@dataclass(frozen=True)
class DueNotice:
    wave: str
    occurrence: datetime
    kind: Kind
    send_at: datetime

    @property
    def notice_id(self) -> str:
        return f"notice-{self.wave}-{self.occurrence.astimezone(UTC):%Y%m%dT%H%MZ}-{self.kind}"


def due_notices(
    occurrences: Mapping[str, Sequence[datetime]],
    policy: NoticePolicy,
    now: datetime,
    horizon: timedelta = HORIZON,
) -> list[DueNotice]:
    """The notices to send from ``now`` to ``now + horizon`` (each wave's next occurrences)."""
    leads: list[tuple[Kind, timedelta]] = [("days", timedelta(days=policy.days_before))]
    if policy.hour_before:
        leads.append(("hour", timedelta(hours=1)))
    found = []
    for wave, runs in sorted(occurrences.items()):
        for run in runs:
            for kind, lead in leads:
                send_at = run - lead
                if now <= send_at < now + horizon:
                    found.append(DueNotice(wave, run, kind, send_at))
    return found


@dataclass(frozen=True)
class Host:
    instance_id: str
    name: str | None
    platform: str | None
    missing: int | None
    excepted: str | None = None


@dataclass(frozen=True)
class BatchNotice:
    name: str
    patch_groups: list[str]
    starts: str
    hosts: list[Host] = field(default_factory=list)


def notice_subject(notice: DueNotice, hosts: int, stopped: str | None) -> str:
    when = "in 1 hour" if notice.kind == "hour" else f"in {_days(notice)}"
    head = f"{notice.wave} wave {when}: {hosts} host{'s' if hosts != 1 else ''}"
    text = f"{head} ({stopped})" if stopped else f"{head}, {_stamp(notice.occurrence)}"
    return text[:99]


def notice_text(
    notice: DueNotice, timezone: str, batches: Sequence[BatchNotice], stops: Sequence[str]
) -> str:
    local = notice.occurrence.astimezone(ZoneInfo(timezone))
    lines = [
        f"The {notice.wave} wave patches at {_stamp(notice.occurrence)} "
        f"({local:%a %Y-%m-%d %H:%M %Z} {timezone}).",
    ]
    lines += [f"NOTE: {stop}" for stop in stops]
    missing: Counter[str] = Counter()
    for number, batch in enumerate(batches, start=1):
        lines += [
            "",
            f"Batch {number} {batch.name} ({', '.join(batch.patch_groups)}), {batch.starts}: "
            f"{len(batch.hosts)} host{'s' if len(batch.hosts) != 1 else ''}",
        ]
        for host in batch.hosts:
            count = "-" if host.missing is None else f"{host.missing} missing"
            line = (
                f"  {host.instance_id}  {host.name or '-':<20} {host.platform or '-':<24} {count}"
            )
            if host.excepted:
                line += f"  NOT PATCHED: {host.excepted}"
            elif host.missing:
                missing[host.platform or "unknown OS"] += host.missing
            lines.append(line)
    lines += ["", "Patches missing now, per operating system (what the baseline would install):"]
    lines += [f"  {os_name}: {count}" for os_name, count in sorted(missing.items())] or [
        "  none reported"
    ]
    lines += [
        "",
        f"To skip this occurrence: fleetpatch wave skip {notice.wave} --next --reason TEXT",
    ]
    return "\n".join(lines) + "\n"


def _days(notice: DueNotice) -> str:
    days = round((notice.occurrence - notice.send_at) / timedelta(days=1))
    return f"{days} day{'s' if days != 1 else ''}"


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
