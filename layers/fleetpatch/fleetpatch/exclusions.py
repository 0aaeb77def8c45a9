"""Package and KB exclusions of the fleet policy: what they keep off which hosts, until when.

An exclusion (``exclusions:`` in ``policy/fleet.yaml``) names patches as a patch baseline's
``RejectedPatches`` names them (Linux: package names with at most one ``*``, e.g.
``openssl*``; Windows: KB ids such as ``KB5034441``), the environments and operating
systems whose baselines it applies to, the last UTC day it applies (``until``) and why.

The mechanism is AWS's own: an exclusion that applies is an entry of the baseline's
``RejectedPatches``, so Patch Manager itself never installs it, whoever sends
AWS-RunPatchBaseline (a wave, a launch, remediation, an emergency's install without an
override list). The policy stack renders every exclusion into its baselines; expiry needs
no redeploy: :func:`fleetpatch.exclusions_aws.sync_baselines` rewrites each affected
baseline's ``RejectedPatches`` (``ssm:UpdatePatchBaseline``) to the baseline's own
entries plus the exclusions that apply *now* (by :mod:`fleetpatch.clock`), and the control
plane calls it before a wave starts and
before remediation installs. From 00:00 UTC on the day after ``until`` an exclusion no
longer applies.

:func:`active_exclusions` is the one question everything else asks (a report's list, an
emergency's ``InstallOverrideList`` filter); it takes no client.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from pydantic import Field

from fleetpatch.batch_policy import Compiled

ExclusionStatus = Literal["applies", "expired"]


class CompiledExclusion(Compiled):
    """One exclusion as the control plane reads it (the compiled policy's ``exclusions``)."""

    patches: list[str] = Field(min_length=1)
    environments: list[str] = Field(min_length=1)
    operating_systems: list[str] = Field(
        min_length=1, alias="operatingSystems", description="filled in by the compiler"
    )
    until: date = Field(description="the last UTC day the exclusion applies")
    reason: str = Field(min_length=1)

    @property
    def exclusion_id(self) -> str:
        """A stable id (what it excludes, until when, why): the expiry record's key."""
        text = "|".join([*sorted(self.patches), self.until.isoformat(), self.reason])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def applies_on(self, at: datetime) -> bool:
        """Through the whole ``until`` day in UTC; expired from 00:00 UTC the day after."""
        return at.astimezone(UTC).date() <= self.until

    def covers(self, environment: str, operating_system: str | None = None) -> bool:
        return environment in self.environments and (
            operating_system is None or operating_system in self.operating_systems
        )

    def matches(self, name: str) -> bool:
        """Whether a patch name (package, name.arch, title, KB id) is one this excludes."""
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.patches)

    def describe(self) -> str:
        return f"{', '.join(self.patches)} until {self.until.isoformat()}: {self.reason}"


def active_exclusions(
    exclusions: Iterable[CompiledExclusion],
    environment: str,
    operating_system: str | None,
    at: datetime,
) -> list[CompiledExclusion]:
    """The exclusions that apply to ``environment`` (and ``operating_system``; None: any)
    at ``at``: the one question reports and emergencies ask."""
    return [e for e in exclusions if e.covers(environment, operating_system) and e.applies_on(at)]


def excluded_patterns(
    exclusions: Iterable[CompiledExclusion], environment: str, operating_system: str, at: datetime
) -> list[str]:
    """The RejectedPatches entries the exclusions add to one baseline at ``at``, in order."""
    found: list[str] = []
    for exclusion in active_exclusions(exclusions, environment, operating_system, at):
        found.extend(p for p in exclusion.patches if p not in found)
    return found


@dataclass(frozen=True)
class ExclusionNote:
    """An exclusion as a run's report lists it."""

    status: ExclusionStatus
    exclusion: CompiledExclusion

    def line(self) -> str:
        e = self.exclusion
        envs = ", ".join(e.environments)
        if self.status == "applies":
            return f"exclusion applied ({envs}): {e.describe()}"
        return (
            f"exclusion expired on {e.until.isoformat()} ({envs}): "
            f"{', '.join(e.patches)} installed again as the baseline approves ({e.reason})"
        )


def report_notes(
    exclusions: Iterable[CompiledExclusion],
    environments: Iterable[str],
    at: datetime,
    *,
    first_report_of_expiry: ExpiryRecorder | None = None,
) -> list[ExclusionNote]:
    """What a run started at ``at`` in ``environments`` lists: each exclusion that applied,
    and each one expired that no report listed yet (``first_report_of_expiry`` says so)."""
    envs = sorted(set(environments))
    notes: list[ExclusionNote] = []
    for exclusion in exclusions:
        covered = [env for env in envs if exclusion.covers(env)]
        if not covered:
            continue
        if exclusion.applies_on(at):
            notes.append(ExclusionNote("applies", exclusion))
        elif first_report_of_expiry is not None and all(
            first_report_of_expiry(exclusion, env) for env in covered
        ):
            notes.append(ExclusionNote("expired", exclusion))
    return notes


class ExpiryRecorder:
    """Records, once per exclusion and environment, the run whose report says it expired.

    A conditional put (``attribute_not_exists(pk) OR run_id = :run``): the first run to
    report an expiry keeps it, and a retried publish of that same run lists it again.
    """

    def __init__(self, dynamodb: object, table: str, run_id: str, now: float) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._run_id = run_id
        self._now = now

    def __call__(self, exclusion: CompiledExclusion, environment: str) -> bool:
        from botocore.exceptions import ClientError

        from fleetpatch.contracts import keys

        try:
            self._dynamodb.put_item(  # type: ignore[attr-defined]
                TableName=self._table,
                Item={
                    **keys.exclusion_expiry_key(exclusion.exclusion_id, environment),
                    "run_id": {"S": self._run_id},
                    "until": {"S": exclusion.until.isoformat()},
                    **{keys.TTL_ATTRIBUTE: keys.expires_at(self._now)},
                },
                ConditionExpression="attribute_not_exists(pk) OR run_id = :run",
                ExpressionAttributeValues={":run": {"S": self._run_id}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


def desired_rejected(
    current: Sequence[str], managed: Iterable[str], active: Sequence[str]
) -> list[str]:
    """The baseline's own entries (those no exclusion manages), then the active exclusions'."""
    managed_set = set(managed)
    own = [p for p in current if p not in managed_set]
    return own + [p for p in active if p not in own]
