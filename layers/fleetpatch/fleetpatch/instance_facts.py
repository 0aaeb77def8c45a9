"""What a report shows beside an instance id: its Name tag and its operating system.

Read once per report, for every instance in it, in batches: the Name tags with
``ec2:DescribeTags`` (200 ids a call, as ``fleetpatch.membership`` reads tags; up to 1,000
tags a page) and the operating system with ``ssm:DescribeInstanceInformation`` (50 ids a
call: its ``PlatformName`` and ``PlatformVersion``, "Amazon Linux" and "2023"). Both
actions have no resource types in the Service Authorization Reference: IAM grants them on
``"*"`` only (template.yaml, publish-report's role).

A report is never lost to these facts: an instance without a Name tag, one gone since (EC2
lists no tags for it, Systems Manager does not describe stopped or terminated nodes) or an
answer refused altogether leaves the fact unknown (the page shows "-"), and a refusal is
returned as a note for the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from fleetpatch import aws

TAGS_PER_CALL = 200
"""Instance ids per DescribeTags filter (as membership's tag reads)."""
TAGS_PAGE = 1000
"""DescribeTags' largest page."""
AGENTS_PER_CALL = 50
"""Instance ids per DescribeInstanceInformation (its MaxResults is 5 to 50)."""
NAME_TAG = "Name"


@dataclass(frozen=True)
class InstanceFacts:
    name: str | None = None
    platform: str | None = None
    """PlatformName and PlatformVersion, e.g. "Amazon Linux 2023"."""


@dataclass(frozen=True)
class FactsFound:
    facts: dict[str, InstanceFacts]
    problems: list[str] = field(default_factory=list)
    """What could not be read (then those facts show "-")."""


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def names(ec2: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> its Name tag (left out: no tag, or an instance EC2 no longer lists)."""
    found: dict[str, str] = {}
    for chunk in _chunks(instance_ids, TAGS_PER_CALL):
        filters = [
            {"Name": "resource-type", "Values": ["instance"]},
            {"Name": "resource-id", "Values": chunk},
            {"Name": "key", "Values": [NAME_TAG]},
        ]
        describe = ec2.describe_tags
        for page in aws.pages(describe, Filters=filters, MaxResults=TAGS_PAGE):
            for tag in page.get("Tags", []):
                if tag.get("Value"):
                    found[tag["ResourceId"]] = tag["Value"]
    return found


def platforms(ssm: Any, instance_ids: Sequence[str]) -> dict[str, str]:
    """Instance id -> "PlatformName PlatformVersion" (left out: not a managed node now)."""
    found: dict[str, str] = {}
    for chunk in _chunks(instance_ids, AGENTS_PER_CALL):
        found |= _platforms(ssm, chunk)
    return found


def _platforms(ssm: Any, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    describe = ssm.describe_instance_information
    try:
        for page in aws.pages(
            describe, Filters=[{"Key": "InstanceIds", "Values": ids}], MaxResults=AGENTS_PER_CALL
        ):
            for info in page.get("InstanceInformationList", []):
                text = " ".join(
                    str(info.get(k) or "").strip() for k in ("PlatformName", "PlatformVersion")
                ).strip()
                if text:
                    found[info["InstanceId"]] = text
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "InvalidInstanceId":
            raise
        # One id Systems Manager does not accept (gone) fails the whole call: ask for
        # halves, so the others are still answered; the bad one stays unknown.
        if len(ids) == 1:
            return {}
        half = len(ids) // 2
        return _platforms(ssm, ids[:half]) | _platforms(ssm, ids[half:])
    return found


def describe(ec2: Any, ssm: Any, instance_ids: Sequence[str]) -> FactsFound:
    """The Name tag and operating system of each of ``instance_ids`` (each id read once)."""
    ids = sorted({i for i in instance_ids if i})
    problems: list[str] = []
    found_names: Mapping[str, str] = {}
    found_platforms: Mapping[str, str] = {}
    try:
        found_names = names(ec2, ids)
    except (ClientError, BotoCoreError) as exc:
        problems.append(f"instance names could not be read ({_why(exc)})")
    try:
        found_platforms = platforms(ssm, ids)
    except (ClientError, BotoCoreError) as exc:
        problems.append(f"operating systems could not be read ({_why(exc)})")
    facts = {
        i: InstanceFacts(found_names.get(i), found_platforms.get(i))
        for i in ids
        if i in found_names or i in found_platforms
    }
    return FactsFound(facts, problems)


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
