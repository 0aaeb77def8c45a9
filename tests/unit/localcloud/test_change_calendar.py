"""SSM Change Calendar on the local cloud: documents, GetCalendarState on the simulated clock,
errors as AWS names them, and IAM (ssm:GetCalendarState on the document, ssm:DocumentType).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from localcloud.cloud import LocalCloud
from localcloud.core.iam.principal import acting_as
from localcloud.sim.change_calendar import CalendarContentError, combined_state, ics, parse
from tests.unit.localcloud.test_iam_enforcement import role


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with LocalCloud() as running:
        running.iam.denials_expected = True
        yield running


def freeze(cloud: LocalCloud, name: str, start: datetime, end: datetime) -> None:
    cloud.client("ssm").create_document(
        Name=name,
        Content=ics("OPEN", [(start, end)]),
        DocumentType="ChangeCalendar",
        DocumentFormat="TEXT",
    )


def test_a_default_open_calendar_is_closed_during_its_event_and_says_when_it_opens(
    cloud: LocalCloud,
) -> None:
    # Given a calendar closed from in one hour to in three hours
    now = cloud.clock.now().replace(microsecond=0)
    freeze(cloud, "year-end", now + timedelta(hours=1), now + timedelta(hours=3))
    ssm = cloud.client("ssm")
    # When its state is asked now, during the event (AtTime), and after it
    before = ssm.get_calendar_state(CalendarNames=["year-end"])
    during = ssm.get_calendar_state(
        CalendarNames=["year-end"], AtTime=(now + timedelta(hours=2)).isoformat()
    )
    after = ssm.get_calendar_state(
        CalendarNames=["year-end"], AtTime=(now + timedelta(hours=4)).isoformat()
    )
    # Then it is OPEN until the event, CLOSED during it, and OPEN for good after
    assert before["State"] == "OPEN"
    assert before["NextTransitionTime"] == (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert during["State"] == "CLOSED"
    assert during["NextTransitionTime"] == (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert after["State"] == "OPEN"
    assert "NextTransitionTime" not in after
    # And the simulated clock moves the answer without AtTime
    cloud.advance(2 * 3600)
    assert ssm.get_calendar_state(CalendarNames=["year-end"])["State"] == "CLOSED"
    # And the document is described as a TEXT ChangeCalendar
    document = ssm.describe_document(Name="year-end")["Document"]
    assert (document["DocumentType"], document["DocumentFormat"]) == ("ChangeCalendar", "TEXT")


def test_errors_are_named_as_aws_names_them(cloud: LocalCloud) -> None:
    ssm = cloud.client("ssm")
    ssm.create_document(
        Name="fleetpatch-check",
        Content=json.dumps({"schemaVersion": "2.2", "mainSteps": []}),
        DocumentType="Command",
    )

    def code(**kwargs: object) -> str:
        with pytest.raises(ClientError) as raised:
            ssm.get_calendar_state(**kwargs)
        return str(raised.value.response["Error"]["Code"])

    assert code(CalendarNames=["no-such-calendar"]) == "InvalidDocument"
    assert code(CalendarNames=["fleetpatch-check"]) == "InvalidDocumentType"
    with pytest.raises(ClientError) as raised:
        ssm.create_document(
            Name="bad-calendar",
            Content="BEGIN:VCALENDAR\nX-CALENDAR-TYPE:SOMETIMES\nEND:VCALENDAR",
            DocumentType="ChangeCalendar",
            DocumentFormat="TEXT",
        )
    assert raised.value.response["Error"]["Code"] == "InvalidDocumentContent"
    with pytest.raises(ClientError) as raised:
        ssm.create_document(
            Name="json-calendar",
            Content=json.dumps({"schemaVersion": "2.2"}),
            DocumentType="ChangeCalendar",
            DocumentFormat="JSON",
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"


def test_iam_authorizes_get_calendar_state_on_the_document_and_its_type(
    cloud: LocalCloud,
) -> None:
    now = cloud.clock.now()
    freeze(cloud, "year-end", now, now + timedelta(hours=1))
    freeze(cloud, "other", now, now + timedelta(hours=1))
    arn = f"arn:aws:ssm:{cloud.region}:{cloud.account_id}:document/"
    only_year_end = role(
        cloud,
        "reader",
        {"Effect": "Allow", "Action": "ssm:GetCalendarState", "Resource": arn + "year-end"},
    )
    calendars_only = role(
        cloud,
        "calendars",
        {
            "Effect": "Allow",
            "Action": "ssm:GetCalendarState",
            "Resource": arn + "*",
            "Condition": {"StringEquals": {"ssm:DocumentType": "ChangeCalendar"}},
        },
    )
    ssm = cloud.client("ssm")
    with acting_as(only_year_end):
        assert ssm.get_calendar_state(CalendarNames=["year-end"])["State"] == "CLOSED"
        with pytest.raises(ClientError) as denied:
            ssm.get_calendar_state(CalendarNames=["year-end", "other"])
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    with acting_as(calendars_only):
        assert ssm.get_calendar_state(CalendarNames=["year-end", "other"])["State"] == "CLOSED"


def test_calendar_content_is_read_strictly_and_combined_as_aws_says() -> None:
    # Two calendars: OPEN only if both are open; the next transition is the combined one
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    a = parse(ics("OPEN", [(t0, t0 + timedelta(hours=2))]))
    b = parse(ics("OPEN", [(t0 + timedelta(hours=1), t0 + timedelta(hours=4))]))
    assert combined_state([a, b], t0) == ("CLOSED", t0 + timedelta(hours=4))
    assert combined_state([a, b], t0 - timedelta(hours=1)) == ("OPEN", t0)
    # A DEFAULT_CLOSED calendar is open only during its events (a change window)
    window = parse(ics("CLOSED", [(t0, t0 + timedelta(hours=1))]))
    assert combined_state([window], t0 + timedelta(minutes=5)) == (
        "OPEN",
        t0 + timedelta(hours=1),
    )
    assert combined_state([window], t0 + timedelta(hours=2)) == ("CLOSED", None)
    # A time in a TZID, an all-day date, and a recurring event refused
    zoned = parse(
        "BEGIN:VCALENDAR\nX-CALENDAR-TYPE:DEFAULT_OPEN\nBEGIN:VEVENT\n"
        "DTSTART;TZID=Europe/Zurich:20261224T000000\nDTEND;VALUE=DATE:20261227\n"
        "END:VEVENT\nEND:VCALENDAR\n"
    )
    assert zoned.events[0] == (
        datetime(2026, 12, 23, 23, tzinfo=UTC),
        datetime(2026, 12, 27, tzinfo=UTC),
    )
    with pytest.raises(CalendarContentError, match="RRULE"):
        parse(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART:20261224T000000Z\nDTEND:20261225T000000Z\n"
            "RRULE:FREQ=YEARLY\nEND:VEVENT\nEND:VCALENDAR\n"
        )
