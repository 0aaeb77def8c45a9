"""SSM Change Calendar on the local cloud: a calendar's iCalendar content, evaluated at a time.

A Change Calendar is an SSM document of type ``ChangeCalendar`` in format ``TEXT`` whose
content is iCalendar 2.0 (RFC 5545). The calendar's type says its state outside events,
``X-CALENDAR-TYPE:DEFAULT_OPEN`` (events close it: a freeze) or ``DEFAULT_CLOSED`` (events
open it: a change window); each ``VEVENT`` with ``DTSTART`` and ``DTEND`` is a period in the
other state. ``GetCalendarState`` answers ``OPEN`` only if every calendar asked is open, and
``NextTransitionTime``: when that combined state changes (absent if it never does).

What is simulated: UTC times (``...Z``), times in a ``TZID``, and all-day dates
(``VALUE=DATE``); overlapping events. Recurring events (``RRULE``) are refused with
:class:`CalendarContentError` rather than evaluated wrongly. Nothing here touches moto
(``localcloud.adapters.ssm_calendar`` stores the documents and serves the API).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

State = Literal["OPEN", "CLOSED"]


class CalendarContentError(ValueError):
    """Content SSM would refuse as a Change Calendar (``InvalidDocumentContent``)."""


@dataclass(frozen=True)
class Calendar:
    default: State
    events: tuple[tuple[datetime, datetime], ...]

    def state_at(self, at: datetime) -> State:
        inside = any(start <= at < end for start, end in self.events)
        return _other(self.default) if inside else self.default

    def boundaries(self) -> set[datetime]:
        return {edge for event in self.events for edge in event}


def _other(state: State) -> State:
    return "CLOSED" if state == "OPEN" else "OPEN"


def parse(content: str) -> Calendar:
    """The calendar of a ChangeCalendar document's iCalendar ``content``."""
    lines = _unfolded(content)
    if not lines or lines[0] != "BEGIN:VCALENDAR" or lines[-1] != "END:VCALENDAR":
        raise CalendarContentError("a Change Calendar is one VCALENDAR (BEGIN:VCALENDAR ...)")
    default: State = "OPEN"
    events: list[tuple[datetime, datetime]] = []
    event: dict[str, str] | None = None
    for line in lines[1:-1]:
        name, _, value = line.partition(":")
        if line == "BEGIN:VEVENT":
            event = {}
        elif line == "END:VEVENT":
            if event is None:
                raise CalendarContentError("END:VEVENT without BEGIN:VEVENT")
            events.append(_event(event))
            event = None
        elif event is not None:
            event[name.split(";", 1)[0].upper()] = line
        elif name.upper() == "X-CALENDAR-TYPE":
            if value not in ("DEFAULT_OPEN", "DEFAULT_CLOSED"):
                raise CalendarContentError(f"X-CALENDAR-TYPE {value!r} is not DEFAULT_OPEN/CLOSED")
            default = "OPEN" if value == "DEFAULT_OPEN" else "CLOSED"
    if event is not None:
        raise CalendarContentError("a VEVENT has no END:VEVENT")
    return Calendar(default, tuple(events))


def _unfolded(content: str) -> list[str]:
    lines: list[str] = []
    for raw in content.replace("\r\n", "\n").split("\n"):
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        elif raw.strip():
            lines.append(raw.strip())
    return lines


def _event(fields: dict[str, str]) -> tuple[datetime, datetime]:
    if "RRULE" in fields:
        raise CalendarContentError("recurring events (RRULE) are not simulated by the local cloud")
    if "DTSTART" not in fields or "DTEND" not in fields:
        raise CalendarContentError("a VEVENT needs DTSTART and DTEND")
    start, end = _when(fields["DTSTART"]), _when(fields["DTEND"])
    if end <= start:
        raise CalendarContentError(f"a VEVENT ends ({end}) at or before it starts ({start})")
    return start, end


_PARAM = re.compile(r";([A-Z-]+)=([^;:]+)")


def _when(line: str) -> datetime:
    head, _, value = line.partition(":")
    params = dict(_PARAM.findall(head.upper()))
    try:
        if params.get("VALUE") == "DATE":
            return datetime.strptime(value, "%Y%m%d").replace(tzinfo=UTC)
        if value.endswith("Z"):
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        zone = _zone(head)
        return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=zone).astimezone(UTC)
    except ValueError as exc:
        raise CalendarContentError(f"{line!r} is not an iCalendar date-time") from exc


def _zone(head: str) -> tzinfo:
    found = re.search(r";TZID=([^;:]+)", head)
    if found is None:
        return UTC  # a floating time: taken as UTC
    try:
        return ZoneInfo(found.group(1))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CalendarContentError(f"unknown TZID {found.group(1)!r}") from exc


def combined_state(calendars: list[Calendar], at: datetime) -> tuple[State, datetime | None]:
    """OPEN only if every calendar is open at ``at``; when that changes next (None: never)."""

    def state(when: datetime) -> State:
        return "OPEN" if all(c.state_at(when) == "OPEN" for c in calendars) else "CLOSED"

    now = state(at)
    for edge in sorted(e for c in calendars for e in c.boundaries() if e > at):
        if state(edge) != now:
            return now, edge
    return now, None


def at_time(text: str | None, now: datetime) -> datetime:
    """GetCalendarState's ``AtTime`` (ISO 8601), or ``now``."""
    if not text:
        return now
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ics(default: State, closed_or_open: list[tuple[datetime, datetime]]) -> str:
    """A Change Calendar's content (for scenarios and tests): events in UTC."""
    stamp = "20260101T000000Z"
    body = [
        "BEGIN:VCALENDAR",
        "PRODID:-//AWS//Change Calendar 1.0//EN",
        "VERSION:2.0",
        f"X-CALENDAR-TYPE:DEFAULT_{default}",
        "X-WR-CALDESC:",
    ]
    for number, (start, end) in enumerate(closed_or_open):
        body += [
            "BEGIN:VEVENT",
            f"DTSTAMP:{stamp}",
            f"UID:event-{number}",
            "SEQUENCE:0",
            f"DTSTART:{_utc(start)}",
            f"DTEND:{_utc(end)}",
            f"SUMMARY:event {number}",
            "END:VEVENT",
        ]
    return "\r\n".join([*body, "END:VCALENDAR"]) + "\r\n"


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
