"""Schedule arithmetic: AWS cron in a time zone, across DST, with day offsets SSM cannot express."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from fleetpatch.schedule import Schedule, ScheduleError, parse_cron, schedule, zone

ZURICH = ZoneInfo("Europe/Zurich")
JAN_2026 = datetime(2026, 1, 1, tzinfo=UTC)


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th ``weekday`` (calendar.MONDAY...) of a month, computed independently."""
    days = [
        day
        for day in calendar.Calendar().itermonthdates(year, month)
        if day.month == month and day.weekday() == weekday
    ]
    return days[n - 1]


def months(count: int, year: int = 2026) -> list[tuple[int, int]]:
    return [(year + (m - 1) // 12, (m - 1) % 12 + 1) for m in range(1, count + 1)]


# --- first and third Saturday in Zurich, across DST ------------------------------------------


def test_first_saturday_0600_zurich_for_a_year() -> None:
    runs = schedule("cron(0 6 ? * SAT#1 *)", "Europe/Zurich").next_runs(JAN_2026, 12)
    expected = [nth_weekday(y, m, calendar.SATURDAY, 1) for y, m in months(12)]
    assert [r.date() for r in runs] == expected
    assert all(r.tzinfo == ZURICH and r.time() == time(6, 0) for r in runs)


def test_first_saturday_follows_summer_time() -> None:
    runs = schedule("cron(0 6 ? * SAT#1 *)", "Europe/Zurich").next_runs(JAN_2026, 12)
    utc = {r.date(): r.astimezone(UTC) for r in runs}
    # 7 March 2026: CET, UTC+1. Clocks go forward on 29 March.
    assert utc[date(2026, 3, 7)] == datetime(2026, 3, 7, 5, 0, tzinfo=UTC)
    # 4 April 2026: CEST, UTC+2.
    assert utc[date(2026, 4, 4)] == datetime(2026, 4, 4, 4, 0, tzinfo=UTC)
    # 3 October: still CEST. Clocks go back on 25 October; 7 November is CET again.
    assert utc[date(2026, 10, 3)] == datetime(2026, 10, 3, 4, 0, tzinfo=UTC)
    assert utc[date(2026, 11, 7)] == datetime(2026, 11, 7, 5, 0, tzinfo=UTC)


def test_third_saturday_0600_zurich_across_the_october_change() -> None:
    runs = schedule("cron(0 6 ? * SAT#3 *)", "Europe/Zurich").next_runs(JAN_2026, 24)
    expected = [nth_weekday(y, m, calendar.SATURDAY, 3) for y, m in months(24)]
    assert [r.date() for r in runs] == expected
    by_date = {r.date(): r.astimezone(UTC) for r in runs}
    assert by_date[date(2026, 10, 17)] == datetime(2026, 10, 17, 4, 0, tzinfo=UTC)  # CEST
    assert by_date[date(2026, 11, 21)] == datetime(2026, 11, 21, 5, 0, tzinfo=UTC)  # CET
    assert by_date[date(2026, 3, 21)] == datetime(2026, 3, 21, 5, 0, tzinfo=UTC)  # before 29 Mar


def test_runs_are_strictly_after_the_given_time() -> None:
    sched = schedule("cron(0 6 ? * SAT#1 *)", "Europe/Zurich")
    first = datetime(2026, 12, 5, 6, 0, tzinfo=ZURICH)
    assert sched.next_runs(first - timedelta(seconds=1), 1) == [first]
    assert sched.next_runs(first, 1)[0].date() == date(2027, 1, 2)
    # the same instant given in another time zone
    assert sched.next_runs(first.astimezone(UTC), 1)[0].date() == date(2027, 1, 2)


def test_a_wall_time_in_the_spring_forward_gap_moves_an_hour_later() -> None:
    # 02:30 does not exist in Zurich on 29 March 2026: read with fold=0 it is 03:30 CEST.
    [run] = schedule("cron(30 2 29 3 ? 2026)", "Europe/Zurich").next_runs(JAN_2026, 1)
    assert run.astimezone(UTC) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert (run.hour, run.minute) == (3, 30)


def test_an_ambiguous_wall_time_is_its_first_occurrence() -> None:
    # 02:30 happens twice on 25 October 2026; the first time is CEST (00:30 UTC).
    [run] = schedule("cron(30 2 25 10 ? 2026)", "Europe/Zurich").next_runs(JAN_2026, 1)
    assert run.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_strictly_after_compares_instants_in_the_repeated_hour() -> None:
    sched = schedule("cron(30 2 25 10 ? 2026)", "Europe/Zurich")
    # 02:10, second time round (CET, 01:10 UTC): the 02:30 run (00:30 UTC) is already past,
    # though its wall clock reads later.
    assert sched.next_runs(datetime(2026, 10, 25, 2, 10, fold=1, tzinfo=ZURICH), 1) == []
    # 02:10, first time round (CEST, 00:10 UTC): the run is still ahead.
    [run] = sched.next_runs(datetime(2026, 10, 25, 2, 10, fold=0, tzinfo=ZURICH), 1)
    assert run.astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


def test_wall_times_that_meet_in_the_gap_are_one_run_each_instant_in_order() -> None:
    # In the gap 02:15 and 03:15 are the same instant (01:15 UTC), 02:30 and 03:30 too.
    runs = schedule("cron(15,30 2,3 29 3 ? 2026)", "Europe/Zurich").next_runs(JAN_2026, 10)
    assert [r.astimezone(UTC) for r in runs] == [
        datetime(2026, 3, 29, 1, 15, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    ]
    assert [(r.hour, r.minute) for r in runs] == [(3, 15), (3, 30)]


# --- second Tuesday + N days ----------------------------------------------------------------


@pytest.mark.parametrize("offset", range(15))
def test_second_tuesday_plus_n_days(offset: int) -> None:
    sched = schedule("cron(0 22 ? * TUE#2 *)", "Europe/Zurich", offset)
    runs = sched.next_runs(JAN_2026, 12)
    expected = [
        nth_weekday(y, m, calendar.TUESDAY, 2) + timedelta(days=offset) for y, m in months(12)
    ]
    assert [r.date() for r in runs] == expected
    assert all((r.hour, r.minute) == (22, 0) for r in runs)  # local wall time, any season
    assert all(r.tzinfo == ZURICH for r in runs)


@pytest.mark.parametrize(
    ("offset", "expression", "ssm_offset"),
    [
        (0, "cron(0 22 ? * TUE#2 *)", None),
        (3, "cron(0 22 ? * TUE#2 *)", 3),
        (6, "cron(0 22 ? * TUE#2 *)", 6),
        (7, "cron(0 22 ? * TUE#3 *)", None),
        (9, "cron(0 22 ? * TUE#3 *)", 2),
        (13, "cron(0 22 ? * TUE#3 *)", 6),
        (14, "cron(0 22 ? * TUE#4 *)", None),
    ],
)
def test_what_ssm_is_told(offset: int, expression: str, ssm_offset: int | None) -> None:
    ssm = schedule("cron(0 22 ? * TUE#2 *)", "Europe/Zurich", offset).ssm_schedule()
    assert (ssm.expression, ssm.timezone, ssm.offset_days) == (
        expression,
        "Europe/Zurich",
        ssm_offset,
    )


@pytest.mark.parametrize("offset", range(15))
def test_the_ssm_rewrite_runs_at_the_same_times(offset: int) -> None:
    wanted = schedule("cron(0 22 ? * TUE#2 *)", "Europe/Zurich", offset)
    ssm = wanted.ssm_schedule()
    told = schedule(ssm.expression, ssm.timezone, ssm.offset_days or 0)
    assert told.next_runs(JAN_2026, 24) == wanted.next_runs(JAN_2026, 24)


def test_the_day_of_week_is_rewritten_as_written() -> None:
    ssm = schedule("cron(0 22 ? * 3#2 *)", "UTC", 8).ssm_schedule()
    assert (ssm.expression, ssm.offset_days) == ("cron(0 22 ? * 3#3 *)", 1)
    ssm = schedule("cron(0 22 ? * tue#2 *)", "UTC", 8).ssm_schedule()
    assert (ssm.expression, ssm.offset_days) == ("cron(0 22 ? * tue#3 *)", 1)


def test_an_offset_past_the_fourth_occurrence_is_refused() -> None:
    with pytest.raises(ScheduleError, match=r"offset_days: TUE#3 \+ 14 days.*5th"):
        schedule("cron(0 22 ? * TUE#3 *)", "UTC", 14).ssm_schedule()
    with pytest.raises(ScheduleError, match=r"offset_days: TUE#4 \+ 7 days: SSM offsets at most 6"):
        schedule("cron(0 22 ? * TUE#4 *)", "UTC", 7).ssm_schedule()
    # a 5th occurrence takes an offset SSM can hold as it is
    ssm = schedule("cron(0 22 ? * TUE#5 *)", "UTC", 6).ssm_schedule()
    assert (ssm.expression, ssm.offset_days) == ("cron(0 22 ? * TUE#5 *)", 6)


def test_an_offset_needs_an_nth_weekday() -> None:
    with pytest.raises(ScheduleError, match="offset_days: SSM offsets only"):
        schedule("cron(0 22 ? * TUE *)", "UTC", 2).ssm_schedule()
    with pytest.raises(ScheduleError, match="offset_days: SSM offsets only"):
        schedule("cron(0 22 L * ? *)", "UTC", 2).ssm_schedule()
    with pytest.raises(ScheduleError, match="offset_days: SSM offsets only"):
        schedule("cron(0 22 ? * FRIL *)", "UTC", 9).ssm_schedule()


# --- other cron syntax ----------------------------------------------------------------------


def test_lists_ranges_and_increments() -> None:
    cron = parse_cron("cron(0/15 8-9,17 ? * MON-FRI *)")
    assert sorted(cron.minutes) == [0, 15, 30, 45]
    assert sorted(cron.hours) == [8, 9, 17]
    assert cron.matches_date(date(2026, 11, 23))  # Monday
    assert not cron.matches_date(date(2026, 11, 22))  # Sunday
    assert cron.times()[:3] == [time(8, 0), time(8, 15), time(8, 30)]
    assert sorted(parse_cron("cron(5/20 */12 1 * ? *)").minutes) == [5, 25, 45]
    assert sorted(parse_cron("cron(5/20 */12 1 * ? *)").hours) == [0, 12]


def test_times_are_sorted_whatever_the_order_written() -> None:
    cron = parse_cron("cron(45,5 9,7 1 * ? *)")
    assert cron.times() == [time(7, 5), time(7, 45), time(9, 5), time(9, 45)]


def test_day_of_week_numbers_count_from_sunday() -> None:
    assert parse_cron("cron(0 0 ? * 1 *)").matches_date(date(2026, 11, 22))  # Sunday
    assert parse_cron("cron(0 0 ? * 7 *)").matches_date(date(2026, 11, 28))  # Saturday


def test_last_day_and_last_weekday_of_the_month() -> None:
    runs = schedule("cron(0 3 L * ? *)").next_runs(JAN_2026, 3)
    assert [r.date() for r in runs] == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31)]
    last_friday = schedule("cron(0 3 ? * FRIL *)").next_runs(JAN_2026, 2)
    assert [r.date() for r in last_friday] == [date(2026, 1, 30), date(2026, 2, 27)]
    assert schedule("cron(0 3 ? * 6L *)").next_runs(JAN_2026, 2) == last_friday
    lw = schedule("cron(0 3 LW * ? *)").next_runs(date_time(2026, 5, 1), 1)
    assert lw[0].date() == date(2026, 5, 29)  # 31 May 2026 is a Sunday


def date_time(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def test_nearest_weekday() -> None:
    # 15 August 2026 is a Saturday: the nearest weekday is Friday the 14th.
    [run] = schedule("cron(0 3 15W 8 ? 2026)").next_runs(JAN_2026, 1)
    assert run.date() == date(2026, 8, 14)
    # 1 August 2026 is a Saturday: the nearest weekday in the month is Monday the 3rd.
    [run] = schedule("cron(0 3 1W 8 ? 2026)").next_runs(JAN_2026, 1)
    assert run.date() == date(2026, 8, 3)


def test_month_names_and_years() -> None:
    runs = schedule("cron(0 6 1 JAN,JUL ? 2026-2027)").next_runs(JAN_2026 - timedelta(days=1), 10)
    assert [r.date() for r in runs] == [
        date(2026, 1, 1),
        date(2026, 7, 1),
        date(2027, 1, 1),
        date(2027, 7, 1),
    ]


def test_a_date_that_never_comes_gives_no_runs() -> None:
    assert schedule("cron(0 6 30 2 ? *)").next_runs(JAN_2026, 1) == []


def test_a_yearly_schedule_is_followed_for_more_than_the_search_window() -> None:
    # The search gives up after ~11 years *without a match*, not after 11 years in all.
    runs = schedule("cron(0 6 1 1 ? *)").next_runs(JAN_2026, 15)
    assert [r.date() for r in runs] == [date(y, 1, 1) for y in range(2026, 2041)]


def test_the_29th_of_february_across_2100() -> None:
    runs = schedule("cron(0 6 29 2 ? *)").next_runs(datetime(2095, 1, 1, tzinfo=UTC), 3)
    # 2100 is not a leap year: eight years from 2096 to 2104.
    assert [r.date() for r in runs] == [date(2096, 2, 29), date(2104, 2, 29), date(2108, 2, 29)]


def test_a_year_far_ahead_is_found() -> None:
    [run] = schedule("cron(0 6 1 1 ? 2150)").next_runs(JAN_2026, 3)
    assert run.date() == date(2150, 1, 1)


def test_the_search_ends_with_2199() -> None:
    runs = schedule("cron(0 6 1 1 ? *)").next_runs(datetime(2197, 6, 1, tzinfo=UTC), 5)
    assert [r.date() for r in runs] == [date(2198, 1, 1), date(2199, 1, 1)]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("cron(0 6 ? * SAT#1)", r"needs 6 fields .* got 5"),
        ("0 6 ? * SAT#1 *", r"write AWS cron as cron\("),
        ("rate(7 days)", r"waves need a cron expression"),
        ("at(2026-12-05T06:00:00)", r"waves need a cron expression"),
        ("cron(0 6 1 * SAT *)", r"exactly one of day-of-month and day-of-week must be '\?'"),
        ("cron(0 6 ? * ? *)", r"exactly one of day-of-month and day-of-week must be '\?'"),
        ("cron(60 6 ? * SAT *)", r"minutes: 60 is outside 0-59"),
        ("cron(0 24 ? * SAT *)", r"hours: 24 is outside 0-23"),
        ("cron(0 6 32 * ? *)", r"day-of-month: 32 is outside 1-31"),
        ("cron(0 6 1 13 ? *)", r"month: 13 is outside 1-12"),
        ("cron(0 6 ? * 8 *)", r"day-of-week: 8 is outside 1-7"),
        ("cron(0 6 1 * ? 2200)", r"year: 2200 is outside 1970-2199"),
        ("cron(0 6 ? * SAT#6 *)", r"day-of-week: 'SAT#6': the occurrence after # must be 1-5"),
        ("cron(0 6 ? * SAT#0 *)", r"day-of-week: 'SAT#0': the occurrence after # must be 1-5"),
        ("cron(0 6 ? * SAT# *)", r"day-of-week: 'SAT#': the occurrence after # must be 1-5"),
        ("cron(0 6 ? * 8#1 *)", r"day-of-week: 8 is outside 1-7"),
        ("cron(0 6 ? * SAT#1,SUN#1 *)", r"day-of-week: 'SAT#1,SUN#1': # takes one weekday"),
        ("cron(0 6 ? * SOL *)", r"day-of-week: 'SO' is not a number or a name"),
        ("cron(0 \u00b2 ? * SAT *)", r"hours: '\u00b2' is not a number"),
        ("cron(0 6 ? * SAT#\u00b2 *)", r"the occurrence after # must be 1-5"),
        ("cron(0 6 \u0661\u0665W * ? *)", r"day-of-month: '\u0661\u0665W': use L, LW"),
        ("cron(0 6 ? * SATURDAY *)", r"day-of-week: 'SATURDAY' is not a number or a name"),
        ("cron(0 6 1 JANUARY ? *)", r"month: 'JANUARY' is not a number or a name"),
        ("cron(0 6 ? * FRI-MON *)", r"day-of-week: range 'FRI-MON' runs backwards"),
        ("cron(0/0 6 ? * SAT *)", r"minutes: increment '0' must be a positive number"),
        ("cron(? 6 1 * ? *)", r"minutes: '\?' is only for day-of-month or day-of-week"),
        ("cron(0 6 L5 * ? *)", r"day-of-month: 'L5': use L, LW, <day>W, or numbers"),
        ("cron(0,,5 6 1 * ? *)", r"minutes: empty list item"),
    ],
)
def test_invalid_cron(expression: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_cron(expression)


@pytest.mark.parametrize(
    "name", ["Europe/Zurch", "../etc/passwd", "/etc/localtime", "Europe", "", "Europe/" + "x" * 300]
)
def test_unknown_timezone(name: str) -> None:
    with pytest.raises(ScheduleError, match=f"unknown timezone {name!r}"):
        zone(name)
    with pytest.raises(ScheduleError, match="unknown timezone"):
        schedule("cron(0 6 ? * SAT#1 *)", name)


@pytest.mark.parametrize("offset", [-1, 15])
def test_offset_out_of_range(offset: int) -> None:
    with pytest.raises(ScheduleError, match=r"offset_days: -?\d+ is outside 0-14"):
        schedule("cron(0 22 ? * TUE#2 *)", "UTC", offset)


def test_offset_out_of_range_on_a_schedule_built_directly() -> None:
    with pytest.raises(ScheduleError, match=r"offset_days: 20 is outside 0-14"):
        Schedule(parse_cron("cron(0 22 ? * TUE#2 *)"), ZURICH, 20)


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: datetime calls such a value naive."""

    def utcoffset(self, dt: datetime | None) -> None:
        return None

    def dst(self, dt: datetime | None) -> None:
        return None

    def tzname(self, dt: datetime | None) -> None:
        return None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ScheduleError, match="after: give an aware datetime"):
        schedule("cron(0 6 ? * SAT#1 *)").next_runs(datetime(2026, 1, 1))
    with pytest.raises(ScheduleError, match="after: give an aware datetime"):
        schedule("cron(0 6 ? * SAT#1 *)").next_runs(datetime(2026, 1, 1, tzinfo=_NoOffset()))


def test_an_occurrence_before_the_start_whose_offset_lands_after_it_counts() -> None:
    # Second Tuesday of January 2026 is the 13th; + 9 days is the 22nd, after the 15th.
    sched = schedule("cron(0 22 ? * TUE#2 *)", "UTC", 9)
    assert sched.next_runs(datetime(2026, 1, 15, tzinfo=UTC), 1)[0].date() == date(2026, 1, 22)
