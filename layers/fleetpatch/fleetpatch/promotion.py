"""Exact promotion: what a source wave installed becomes the patch list of the waves it feeds.

One owner for the list's contents (AWS-RunPatchBaseline's InstallOverrideList) and its
metadata (which wave and run recorded it); its place in the artifacts bucket
(``promotion/<wave>/...``) is ``fleetpatch.contracts.s3.override_list_key``. The gated-wave
ASL, which cannot import, spells the same key; a contract test (tests/unit/test_promotion.py)
checks it against that.

Two rules keep a promoted wave from installing nothing by accident:

* a source run that installed nothing leaves the lists as they were (an empty list would
  make every promoted run of the cycle install nothing, and say "patched");
* a promoted run's report names the list it installed (the source run that recorded it,
  and when) or that there was none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fleetpatch.contracts.s3 import override_list_key

INSTALLED_STATES = ("Installed", "InstalledPendingReboot")
SOURCE_WAVE = "source-wave"
SOURCE_RUN = "source-run"
"""S3 user metadata on a list: the wave and the run that recorded it."""


def installed_since(
    ssm: Any, instance_ids: Sequence[str], since: datetime
) -> dict[str, list[tuple[str, str]]]:
    """Per instance, the (id, title) of every patch installed at or after ``since``.

    An instance Systems Manager does not answer for (InvalidInstanceId: stopped or terminated
    since it was listed, or an agent that never registered) is left out: it installed nothing
    anyone can see.
    """
    installed: dict[str, list[tuple[str, str]]] = {}
    paginator = ssm.get_paginator("describe_instance_patches")
    for instance_id in instance_ids:
        found = []
        try:
            for page in paginator.paginate(
                InstanceId=instance_id,
                Filters=[{"Key": "State", "Values": list(INSTALLED_STATES)}],
            ):
                for patch in page["Patches"]:
                    at = patch.get("InstalledTime")
                    if at is not None and at >= since:
                        found.append((patch["KBId"], patch["Title"]))
        except ssm.exceptions.InvalidInstanceId:
            continue
        installed[instance_id] = sorted(found)
    return installed


def override_list(
    installed: Mapping[str, Sequence[tuple[str, str]]], excepted: Mapping[str, str] | None = None
) -> str:
    """AWS-RunPatchBaseline's InstallOverrideList: exactly these patches (id and title).

    ``excepted``: the source wave's members its fleetpatch:skip exceptions left out (id ->
    why), named in comments: the list holds nothing of theirs.
    """
    unique = sorted({patch for patches in installed.values() for patch in patches})
    skipped = [
        f"# not from {instance} ({why}): excepted by fleetpatch:skip, not patched"
        for instance, why in sorted((excepted or {}).items())
    ]
    lines = ["# fleetpatch: exactly what the source wave installed", *skipped, "patches:"]
    if not unique:
        return "# fleetpatch: the source wave installed nothing\npatches: []\n"
    for patch_id, title in unique:
        lines.append(f"  - id: {json.dumps(patch_id)}")
        lines.append(f"    title: {json.dumps(title)}")
    return "\n".join(lines) + "\n"


# --- recording a source run's list --------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What a source run did to the lists of the waves promoting from it."""

    patches: int
    instances: int
    locations: list[str]
    """The lists written, or (``kept``) left as they were."""
    kept: bool
    excepted: Mapping[str, str] | None = None
    """Members left out by their fleetpatch:skip exception (id -> why)."""

    def note(self, promotions: Sequence[str]) -> str | None:
        """What the source run's summary says about it (None: lists written as usual)."""
        if not self.kept:
            return None
        waves = ", ".join(promotions)
        return f"this run installed nothing: the patch list of {waves} is kept as it was"

    def as_dict(self, promotions: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {
            "patches": self.patches,
            "instances": self.instances,
            "locations": self.locations,
            "kept": self.kept,
        }
        if self.excepted:
            found["excepted"] = dict(self.excepted)
        note = self.note(promotions)
        if note is not None:
            found["note"] = note
        return found


def record_lists(
    s3: Any,
    bucket: str,
    *,
    source_wave: str,
    run_id: str,
    promotions: Sequence[str],
    installed: Mapping[str, Sequence[tuple[str, str]]],
    excepted: Mapping[str, str] | None = None,
) -> Recorded:
    """Write what ``installed`` holds as each promoted wave's list, unless it holds nothing.

    A rerun of the source wave on hosts it already patched installs nothing: that is no
    reason to tell the promoted waves to install nothing. They keep the list of the last
    run that installed something (or, with none, have none, which their reports name).
    """
    patches = len({p for found in installed.values() for p in found})
    locations = [f"s3://{bucket}/{override_list_key(target)}" for target in promotions]
    if not patches:
        return Recorded(0, len(installed), locations, kept=True, excepted=excepted)
    document = override_list(installed, excepted).encode()
    for target in promotions:
        s3.put_object(
            Bucket=bucket,
            Key=override_list_key(target),
            Body=document,
            ContentType="application/yaml",
            Metadata={SOURCE_WAVE: source_wave, SOURCE_RUN: run_id},
        )
    return Recorded(patches, len(installed), locations, kept=False, excepted=excepted)


# --- what a promoted run installed from ---------------------------------------------------------


def _stamp(when: datetime) -> str:
    # The reports' time format (fleetpatch.reports.format_stamp, which imports this package's
    # waves module, which imports this one).
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def list_note(
    s3: Any, bucket: str, *, wave: str, source_wave: str, run_started_at: datetime
) -> str:
    """The promoted run's report line: whose list ``wave`` installs, or that it has none.

    Listed first (``s3:ListBucket``), then read: without ListBucket, S3 answers a missing
    object with AccessDenied, not NotFound, and a denial is not evidence of absence. The
    list is read when the report is built: one recorded after the run started is said to be.
    """
    key = override_list_key(wave)
    location = f"s3://{bucket}/{key}"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    if not any(item["Key"] == key for item in listed):
        return (
            f"no patch list from {source_wave}: {location} does not exist (no {source_wave} "
            "run has recorded one), so this run had nothing to install"
        )
    head = s3.head_object(Bucket=bucket, Key=key)
    run = head.get("Metadata", {}).get(SOURCE_RUN) or "unknown"
    recorded: datetime = head["LastModified"]
    late = (
        " (after this run started: its earlier batches may have installed the list before)"
        if recorded > run_started_at
        else ""
    )
    return f"patch list from {source_wave} run {run}, recorded {_stamp(recorded)}{late}: {location}"
