"""The fleetpatch:skip tag's value: strict parsing, and expiry by the UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fleetpatch.skip_tag import InvalidSkipTag, evaluate, parse


def test_a_valid_value_gives_the_date_and_the_reason() -> None:
    # Given the documented format, fields in either order, spaces around them
    found = parse("until=2026-12-31; reason=vendor freeze INC-123")
    again = parse(" reason = vendor freeze INC-123 ;until=2026-12-31;")
    # Then both read the same exception
    assert found.until == date(2026, 12, 31)
    assert found.reason == "vendor freeze INC-123"
    assert again == found


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "missing until= and reason="),
        ("reason=vendor freeze", "missing until="),
        ("until=2026-12-31", "missing reason="),
        ("until=2026-12-31; reason=", "the reason is empty"),
        ("until=2026-12-31; reason=   ", "the reason is empty"),
        ("until=; reason=x", "until='' is not a date YYYY-MM-DD"),
        ("until=31/12/2026; reason=x", "until='31/12/2026' is not a date YYYY-MM-DD"),
        ("until=2026-12-31T10:00; reason=x", "is not a date YYYY-MM-DD"),
        ("until=2026-02-30; reason=x", "until='2026-02-30' is not a date (day is out of range"),
        ("until=2026-12-31; reason=a; reason=b", "reason= is given twice"),
        ("until=2026-12-31; reason=a; owner=me", "unknown field 'owner'"),
        ("until=2026-12-31; vendor freeze", "'vendor freeze' is not key=value"),
        ("until=2026-12-31; reason=" + "x" * 240, "longer than 256 characters"),
    ],
)
def test_an_invalid_value_is_refused_and_says_why(value: str, problem: str) -> None:
    with pytest.raises(InvalidSkipTag) as raised:
        parse(value)
    assert problem in str(raised.value)


def test_the_exception_applies_through_its_last_day_in_utc() -> None:
    value = "until=2026-12-31; reason=vendor freeze"
    last = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    after = datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert evaluate(value, last).applies
    assert evaluate(value, last).describe() == "excepted until 2026-12-31: vendor freeze"
    expired = evaluate(value, after)
    assert expired.status == "expired"
    assert expired.describe() == "exception expired on 2026-12-31"


def test_an_invalid_value_never_applies_and_is_described() -> None:
    found = evaluate("until=someday; reason=x", datetime(2026, 1, 1, tzinfo=UTC))
    assert found.status == "invalid"
    assert not found.applies
    assert found.describe() == (
        "invalid fleetpatch:skip tag ignored: until='someday' is not a date YYYY-MM-DD"
    )
