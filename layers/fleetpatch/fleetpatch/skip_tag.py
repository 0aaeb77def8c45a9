"""An instance's patching exception: the ``fleetpatch:skip`` tag, parsed strictly.

The tag's value is ``until=YYYY-MM-DD; reason=TEXT`` (fields in either order, spaces
around them ignored). The exception applies through the whole ``until`` day, in UTC, by the
control plane's clock (``fleetpatch.clock``): from the next day on it has *expired* and the
instance is patched as usual. A value that does not say exactly both things is *invalid*:
reported, and never a reason to skip (an exception nobody can read is no exception).

The value is an EC2 tag value: at most 256 Unicode characters (EC2's ``Tag`` API
reference). The reason cannot contain ``;`` (it separates the fields). Pure code: the
tag is read with the patch group tags (``fleetpatch.membership``) and the launch's tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from fleetpatch.tags import SKIP_TAG_KEY

MAX_VALUE_LENGTH = 256  # EC2: a tag value holds at most 256 Unicode characters
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELDS = ("until", "reason")

Status = Literal["applies", "expired", "invalid"]


class InvalidSkipTag(ValueError):
    """The tag's value is not ``until=YYYY-MM-DD; reason=TEXT``; the message says why."""


@dataclass(frozen=True)
class SkipException:
    until: date
    reason: str

    def applies(self, now: datetime) -> bool:
        """Through the whole ``until`` day, in UTC."""
        return now.date() <= self.until


def parse(value: str) -> SkipException:
    """The exception the tag's ``value`` states, or :class:`InvalidSkipTag`."""
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidSkipTag(f"longer than {MAX_VALUE_LENGTH} characters (EC2's tag value limit)")
    fields: dict[str, str] = {}
    for part in value.split(";"):
        if not part.strip():
            continue
        key, sep, text = part.partition("=")
        key = key.strip()
        if not sep:
            raise InvalidSkipTag(f"{part.strip()!r} is not key=value")
        if key not in _FIELDS:
            raise InvalidSkipTag(f"unknown field {key!r} (expected until= and reason=)")
        if key in fields:
            raise InvalidSkipTag(f"{key}= is given twice")
        fields[key] = text.strip()
    missing = [k for k in _FIELDS if k not in fields]
    if missing:
        raise InvalidSkipTag(f"missing {' and '.join(k + '=' for k in missing)}")
    if not fields["reason"]:
        raise InvalidSkipTag("the reason is empty")
    return SkipException(_until(fields["until"]), fields["reason"])


def _until(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise InvalidSkipTag(f"until={text!r} is not a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidSkipTag(f"until={text!r} is not a date ({exc})") from exc


@dataclass(frozen=True)
class SkipStatus:
    """What an instance's ``fleetpatch:skip`` tag means now."""

    status: Status
    until: date | None = None
    reason: str | None = None
    problem: str | None = None
    """Why the tag is invalid."""

    @property
    def applies(self) -> bool:
        return self.status == "applies"

    def describe(self) -> str:
        """One line for a report: what the exception is and what it did."""
        if self.status == "applies":
            return f"excepted until {self.until}: {self.reason}"
        if self.status == "expired":
            return f"exception expired on {self.until}"
        return f"invalid {SKIP_TAG_KEY} tag ignored: {self.problem}"


def evaluate(value: str, now: datetime) -> SkipStatus:
    """The tag's value, read at ``now`` (UTC): applies, expired or invalid."""
    try:
        found = parse(value)
    except InvalidSkipTag as exc:
        return SkipStatus("invalid", problem=str(exc))
    status: Status = "applies" if found.applies(now) else "expired"
    return SkipStatus(status, found.until, found.reason)
