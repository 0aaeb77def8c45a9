"""Maintenance-window schedules as Systems Manager reads them: AWS cron in a time zone.

    schedule("cron(0 6 ? * SAT#1 *)", "Europe/Zurich").next_runs(now)   # first Saturdays
    schedule("cron(0 22 ? * TUE#2 *)", "UTC", offset_days=9)            # Patch Tuesday + 9

AWS cron has six fields, ``minutes hours day-of-month month day-of-week year``; one of the
two day fields must be ``?``. Day-of-week counts 1 = SUN .. 7 = SAT and accepts ``L``
(``6L``, ``FRIL``: the last Friday) and ``#`` (``SAT#1``: the first Saturday);
day-of-month accepts ``L``, ``LW`` and ``15W`` (the weekday nearest the 15th, never
crossing the month).

The time zone applies to the wall clock: "06:00 Europe/Zurich" is 05:00 UTC in winter and
04:00 UTC in summer. A wall time that does not exist (the spring-forward gap) is read with
``fold=0``, as :mod:`zoneinfo` does: 02:30 on the switch day becomes 03:30 local
(01:30 UTC). A time that exists twice (the fall-back hour) is its first occurrence. Two
wall times that land on the same instant that way (02:15 and 03:15 on the switch day) are
one run, not two.

SSM's ``ScheduleOffset`` runs a window 1-6 days after a ``#`` occurrence; fleetpatch
allows 0-14 days and rewrites what SSM cannot express (:meth:`Schedule.ssm_schedule`).

Stdlib only: the domain package and the CLI use it, with no AWS call.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_OFFSET_DAYS = 14
SSM_MAX_OFFSET_DAYS = 6
# Every month has a 4th occurrence of each weekday (days 22-28); not every one a 5th.
_ALWAYS_EXISTS = 4
_MIN_YEAR, _MAX_YEAR = 1970, 2199
# How many days in a row next_runs looks at without a match before giving up (a cron for
# 30 February). The longest real gap is a 29 February across a skipped leap year: 8 years.
_SEARCH_DAYS = 366 * 11

_FIELDS = ("minutes", "hours", "day-of-month", "month", "day-of-week", "year")
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS = {k.upper(): v for k, v in _MONTHS.items()}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValueError):
    """An invalid schedule; the message names the field and the problem."""


def _aws_weekday(day: date) -> int:
    # Python: Monday = 0 .. Sunday = 6; AWS: Sunday = 1 .. Saturday = 7.
    return (day.weekday() + 1) % 7 + 1


def _is_number(text: str) -> bool:
    # ASCII only: str.isdigit() also accepts digits such as "²" that int() refuses.
    return text.isascii() and text.isdigit()


def _number(token: str, field: str, names: dict[str, int] | None, low: int, high: int) -> int:
    upper = token.upper()
    if names is not None and upper in names:
        return names[upper]
    if not _is_number(token):
        raise ScheduleError(
            f"{field}: {token!r} is not a number"
            + (f" or a name ({', '.join(names)})" if names else "")
        )
    value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"{field}: {value} is outside {low}-{high}")
    return value


def _values(
    text: str, field: str, low: int, high: int, names: dict[str, int] | None = None
) -> frozenset[int]:
    """A field of lists, ranges, ``*`` and increments as the set of values it allows."""
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ScheduleError(f"{field}: empty list item in {text!r}")
        step = 1
        part = item
        if "/" in item:
            part, step_text = item.split("/", 1)
            if not _is_number(step_text) or int(step_text) == 0:
                raise ScheduleError(f"{field}: increment {step_text!r} must be a positive number")
            step = int(step_text)
        if part == "*":
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start = _number(first, field, names, low, high)
            end = _number(last, field, names, low, high)
            if end < start:
                raise ScheduleError(f"{field}: range {part!r} runs backwards")
        else:
            start = _number(part, field, names, low, high)
            # "5/15": from 5 in steps of 15 to the end; a lone value: just itself.
            end = high if step > 1 else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class _DayOfMonth:
    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: int | None = None  # 15W

    def matches(self, day: date) -> bool:
        month_days = calendar.monthrange(day.year, day.month)[1]
        if self.last:
            return day.day == month_days
        if self.last_weekday:
            last = date(day.year, day.month, month_days)
            while last.weekday() >= 5:  # Saturday or Sunday
                last -= timedelta(days=1)
            return day == last
        if self.nearest_weekday is not None:
            return day == _nearest_weekday(day.year, day.month, self.nearest_weekday)
        return day.day in self.days


def _nearest_weekday(year: int, month: int, target: int) -> date | None:
    month_days = calendar.monthrange(year, month)[1]
    if target > month_days:
        return None
    day = date(year, month, target)
    if day.weekday() == 5:  # Saturday: Friday before, unless that leaves the month
        return day - timedelta(days=1) if target > 1 else day + timedelta(days=2)
    if day.weekday() == 6:  # Sunday: Monday after, unless that leaves the month
        return day + timedelta(days=1) if target < month_days else day - timedelta(days=2)
    return day


@dataclass(frozen=True)
class _DayOfWeek:
    days: frozenset[int] = frozenset()  # AWS numbering, 1 = SUN
    last_of: int | None = None  # 6L: the last Friday
    nth: tuple[int, int] | None = None  # (weekday, n): SAT#1
    token: str = ""  # as written, for rewriting the occurrence

    def matches(self, day: date) -> bool:
        weekday = _aws_weekday(day)
        if self.last_of is not None:
            return weekday == self.last_of and day.month != (day + timedelta(days=7)).month
        if self.nth is not None:
            return weekday == self.nth[0] and (day.day - 1) // 7 + 1 == self.nth[1]
        return weekday in self.days


@dataclass(frozen=True)
class CronExpression:
    """A parsed AWS cron expression; :func:`parse_cron` makes one."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    day_of_month: _DayOfMonth | None  # None: "?"
    months: frozenset[int]
    day_of_week: _DayOfWeek | None  # None: "?"
    years: frozenset[int]

    def matches_date(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.day_of_month is not None:
            return self.day_of_month.matches(day)
        assert self.day_of_week is not None  # parse_cron makes sure one is set
        return self.day_of_week.matches(day)

    def times(self) -> list[time]:
        """The wall-clock times it fires on a matching date, in order."""
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]

    @property
    def fields(self) -> list[str]:
        return self.text[len("cron(") : -1].split()


def parse_cron(expression: str) -> CronExpression:
    """Parse ``cron(...)``; :class:`ScheduleError` names the field and the problem."""
    text = expression.strip()
    if text.startswith(("rate(", "at(")):
        raise ScheduleError(
            f"{text}: waves need a cron expression (a calendar schedule), not rate() or at()"
        )
    if not (text.startswith("cron(") and text.endswith(")")):
        raise ScheduleError(
            f"{text!r}: write AWS cron as cron(minutes hours day-of-month month day-of-week year)"
        )
    fields = text[len("cron(") : -1].split()
    if len(fields) != len(_FIELDS):
        raise ScheduleError(f"{text}: needs 6 fields ({' '.join(_FIELDS)}), got {len(fields)}")
    minutes, hours, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ScheduleError(f"{text}: exactly one of day-of-month and day-of-week must be '?'")
    for name, value in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in value:
            raise ScheduleError(f"{name}: '?' is only for day-of-month or day-of-week")
    return CronExpression(
        text=text,
        minutes=_values(minutes, "minutes", 0, 59),
        hours=_values(hours, "hours", 0, 23),
        day_of_month=None if dom == "?" else _day_of_month(dom),
        months=_values(month, "month", 1, 12, _MONTHS),
        day_of_week=None if dow == "?" else _day_of_week(dow),
        years=_values(year, "year", _MIN_YEAR, _MAX_YEAR),
    )


def _day_of_month(text: str) -> _DayOfMonth:
    upper = text.upper()
    if upper == "L":
        return _DayOfMonth(last=True)
    if upper == "LW":
        return _DayOfMonth(last_weekday=True)
    match = re.fullmatch(r"([0-9]{1,2})W", upper)
    if match:
        return _DayOfMonth(nearest_weekday=_number(match[1], "day-of-month", None, 1, 31))
    if "W" in upper or "L" in upper or "#" in upper:
        raise ScheduleError(f"day-of-month: {text!r}: use L, LW, <day>W, or numbers")
    return _DayOfMonth(days=_values(text, "day-of-month", 1, 31))


def _day_of_week(text: str) -> _DayOfWeek:
    upper = text.upper()
    if "#" in upper:
        if re.search(r"[,\-/*]", upper):
            raise ScheduleError(
                f"day-of-week: {text!r}: # takes one weekday, not a list or range (e.g. SAT#1)"
            )
        day, _, occurrence = text.partition("#")
        weekday = _number(day, "day-of-week", _DAYS, 1, 7)
        if not _is_number(occurrence) or not 1 <= int(occurrence) <= 5:
            raise ScheduleError(f"day-of-week: {text!r}: the occurrence after # must be 1-5")
        # The token keeps the user's spelling (TUE, tue or 3): ssm_schedule rewrites only the
        # occurrence.
        return _DayOfWeek(nth=(weekday, int(occurrence)), token=day)
    if upper.endswith("L") and upper != "L":
        return _DayOfWeek(last_of=_number(upper[:-1], "day-of-week", _DAYS, 1, 7), token=text)
    if upper == "L":
        return _DayOfWeek(days=frozenset({7}), token=text)  # L alone: Saturday, as in Quartz
    return _DayOfWeek(days=_values(upper, "day-of-week", 1, 7, _DAYS), token=text)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; :class:`ScheduleError` if there is none."""
    try:
        return ZoneInfo(name)
    # ValueError: a malformed key (absolute path, ".."); OSError: a directory such as
    # "Europe", or a name too long for the file system.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(
            f"unknown timezone {name!r} (use an IANA name, e.g. Europe/Zurich)"
        ) from None


@dataclass(frozen=True)
class SsmSchedule:
    """A schedule in the terms of AWS::SSM::MaintenanceWindow."""

    expression: str
    timezone: str
    offset_days: int | None


def _check_offset(offset_days: int) -> None:
    if not 0 <= offset_days <= MAX_OFFSET_DAYS:
        raise ScheduleError(f"offset_days: {offset_days} is outside 0-{MAX_OFFSET_DAYS}")


def _instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz``.

    ``fold=0`` (datetime's default) picks the first of a repeated time and reads a missing
    one with the offset before the change, so it comes out one gap later (02:30 -> 03:30).
    """
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@dataclass(frozen=True)
class Schedule:
    """A cron in a time zone, run ``offset_days`` (0-14) days after each occurrence."""

    cron: CronExpression
    timezone: ZoneInfo
    offset_days: int = 0

    def __post_init__(self) -> None:
        # Checked here as well as in schedule(): a Schedule built directly with an offset
        # outside 0-14 would make ssm_schedule() rewrite the occurrence into nonsense.
        _check_offset(self.offset_days)

    def next_runs(self, after: datetime, count: int = 3) -> list[datetime]:
        """The next ``count`` runs strictly after ``after``, in order, in the schedule's zone.

        ``after`` must be aware (any zone). Each run is a cron occurrence on a local date,
        plus ``offset_days`` calendar days, at the same local wall time; see the module
        docstring for times in the DST gap (fold=0: one gap later) and the repeated hour
        (the first). Fewer than ``count`` come back when the search reaches 2199 or finds
        no matching date for ~11 years in a row (a cron for 30 February).
        """
        if after.utcoffset() is None:
            raise ScheduleError("after: give an aware datetime (with a time zone)")
        # Compare instants in UTC: two datetimes sharing a tzinfo compare by wall clock and
        # ignore fold, which misorders the repeated fall-back hour.
        last = after.astimezone(UTC)
        runs: list[datetime] = []
        # Start early enough that an occurrence before ``after`` whose offset lands after it
        # is found too (and one day more: the gap moves a run later, never earlier).
        day = after.astimezone(self.timezone).date() - timedelta(days=self.offset_days + 1)
        times = self.cron.times()
        idle = 0  # days in a row without a match
        while len(runs) < count and idle < _SEARCH_DAYS and day.year <= _MAX_YEAR:
            if day.year not in self.cron.years:
                # A year the cron excludes: jump to the next one it allows, so a cron for
                # one year far ahead is found; this is not time without a match.
                later = [y for y in self.cron.years if y > day.year]
                if not later:
                    break
                day = date(min(later), 1, 1)
                continue
            if self.cron.matches_date(day):
                idle = 0
                run_day = day + timedelta(days=self.offset_days)
                # Sorted and deduplicated: read with fold=0, 02:30 in the gap is 03:30 and
                # comes after 03:15, and 02:15 and 03:15 are the same instant.
                for instant in sorted({_instant(run_day, at, self.timezone) for at in times}):
                    if instant > last and len(runs) < count:
                        runs.append(instant.astimezone(self.timezone))
                        last = instant
            else:
                idle += 1
            day += timedelta(days=1)
        return runs

    def ssm_schedule(self) -> SsmSchedule:
        """How SSM expresses this schedule; :class:`ScheduleError` if it cannot.

        SSM's ScheduleOffset is 1-6 days and only follows a ``X#k`` day-of-week. An offset
        of 7-14 days moves the occurrence instead: ``X#k`` + 7m + r days is ``X#(k+m)`` + r
        days, as long as k + m <= 4 (every month has a 4th ``X``, not every one a 5th).
        """
        if self.offset_days == 0:
            return SsmSchedule(self.cron.text, self.timezone.key, None)
        dow = self.cron.day_of_week
        if dow is None or dow.nth is None:
            raise ScheduleError(
                f"offset_days: SSM offsets only a schedule on the n-th weekday (day-of-week "
                f"like TUE#2), not {self.cron.text}"
            )
        _, occurrence = dow.nth
        # The n-th weekday plus 7m + r days is the (n+m)-th weekday plus r days.
        weeks, days = divmod(self.offset_days, 7)
        if weeks and occurrence + weeks > _ALWAYS_EXISTS:
            raise ScheduleError(
                f"offset_days: {dow.token}#{occurrence} + {self.offset_days} days: SSM offsets "
                f"at most {SSM_MAX_OFFSET_DAYS} days, and the {occurrence + weeks}th "
                f"{dow.token} is not in every month"
            )
        fields = self.cron.fields
        fields[4] = f"{dow.token}#{occurrence + weeks}"
        return SsmSchedule(f"cron({' '.join(fields)})", self.timezone.key, days or None)


def schedule(expression: str, timezone: str = "UTC", offset_days: int = 0) -> Schedule:
    """Parse and validate a schedule: cron, time zone and an offset of 0-14 days."""
    _check_offset(offset_days)
    return Schedule(parse_cron(expression), zone(timezone), offset_days)
