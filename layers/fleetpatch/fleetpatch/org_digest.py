"""The organization's compliance digest: one message a day for every account and region.

The central stack's digest schedule (``fleetpatch.services.org_digest``) reads the org index
(``fleetpatch.org_index``): each account and region's latest ``Compliance Summary`` and the
runs filed since the previous org digest. This module is the pure part: what the digest says
(:func:`build`) and its subject and text (:func:`subject`, :func:`body`), which go on the
central topic as they are and which the central notify-slack posts (its notification-text
message, ``fleetpatch.slack_message.fallback_message``: no stored report behind it).

Per account and region: compliant and non-compliant instances, the change of non-compliant
ones since the previous org digest when that digest knew the place, and the runs and failed
runs since it. A place whose latest summary is older than :data:`SILENT_AFTER` is *silent*:
named first, so a member that stopped forwarding never disappears quietly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fleetpatch import report_text

SILENT_AFTER = timedelta(days=2)
"""No summary for longer than this: the account and region is named as silent."""
DIGEST_KIND = "compliance-digest"
"""A member's own digest is a ``Run Finished`` of this kind: not a run, not counted."""
FAILED_OUTCOMES = frozenset({"failed", "held", "completed-with-failures"})
"""A run's outcome that counts it as failed (as does any failed instance)."""
ORG_DIGEST_KIND = "org-compliance-digest"
"""The ``kind`` message attribute of the org digest on the central topic."""


@dataclass(frozen=True)
class Place:
    """One account and region in the digest."""

    account: str
    region: str
    compliant: int | None  # None: no summary ever filed
    non_compliant: int | None
    as_of: datetime | None
    drift: int | None  # change of non-compliant since the previous org digest; None: unknown
    runs: int
    failed_runs: int
    silent: bool

    @property
    def key(self) -> str:
        return f"{self.account}#{self.region}"


@dataclass(frozen=True)
class OrgDigest:
    day: str  # YYYY-MM-DD (UTC), the digest's id
    sent_at: datetime
    since: datetime | None  # the previous org digest (None: the first one)
    places: tuple[Place, ...]

    @property
    def run_id(self) -> str:
        return f"org-digest-{self.day}"

    @property
    def silent(self) -> list[Place]:
        return [p for p in self.places if p.silent]

    def counts(self) -> dict[str, int]:
        """Non-compliant count per place (``account#region``): the next digest's baseline."""
        return {p.key: p.non_compliant for p in self.places if p.non_compliant is not None}


def build(
    summaries: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]],
    *,
    day: str,
    now: datetime,
    since: datetime | None,
    previous: Mapping[str, int],
) -> OrgDigest:
    """The digest of ``summaries`` (the org index's latest per place) and ``runs`` since."""
    tally: dict[tuple[str, str], list[int]] = {}
    for run in runs:
        if run.get("kind") == DIGEST_KIND:
            continue
        counts = tally.setdefault((str(run["account"]), str(run["region"])), [0, 0])
        counts[0] += 1
        if run.get("outcome") in FAILED_OUTCOMES or int(run.get("failed") or 0) > 0:
            counts[1] += 1
    latest = {(str(s["account"]), str(s["region"])): s for s in summaries}
    places = []
    for account, region in sorted(set(latest) | set(tally)):
        summary = latest.get((account, region))
        ran, failed = tally.get((account, region), [0, 0])
        as_of = datetime.fromisoformat(str(summary["as_of"])) if summary else None
        non_compliant = int(summary["non_compliant"]) if summary else None
        before = previous.get(f"{account}#{region}")
        places.append(
            Place(
                account=account,
                region=region,
                compliant=int(summary["compliant"]) if summary else None,
                non_compliant=non_compliant,
                as_of=as_of,
                drift=None if before is None or non_compliant is None else non_compliant - before,
                runs=ran,
                failed_runs=failed,
                silent=as_of is None or now - as_of > SILENT_AFTER,
            )
        )
    return OrgDigest(day=day, sent_at=now, since=since, places=tuple(places))


def subject(digest: OrgDigest) -> str:
    places = digest.places
    non_compliant = sum(p.non_compliant or 0 for p in places)
    parts = [
        f"{len(places)} account/region{'s' if len(places) != 1 else ''}",
        f"{non_compliant} non-compliant",
    ]
    if digest.silent:
        parts.append(f"{len(digest.silent)} silent")
    return report_text.clip(
        f"organization compliance digest {digest.day}: {', '.join(parts)}",
        report_text.SUBJECT_LIMIT,
    )


def body(digest: OrgDigest) -> str:
    """The e-mail text (and the Slack post): one line per account and region."""
    since = (
        f"since the previous org digest ({_at(digest.since)})"
        if digest.since
        else "(the first org digest: no earlier one to compare with)"
    )
    lines = [subject(digest), "", f"Compliance of every account and region, runs {since}.", ""]
    silent = digest.silent
    if silent:
        lines.append(
            f"SILENT: no compliance summary for over {SILENT_AFTER.days} days ({len(silent)}):"
        )
        for place in silent:
            last = f"last summary {_at(place.as_of)}" if place.as_of else "no summary ever"
            lines.append(f"  {place.account} {place.region}: {last}")
        lines.append("")
    lines.append(
        f"{'account':<13} {'region':<15} {'compliant':>9} {'non-compl.':>10} "
        f"{'drift':>6} {'runs':>5} {'failed':>6}"
    )
    for p in digest.places:
        lines.append(
            f"{p.account:<13} {p.region:<15} {_n(p.compliant):>9} {_n(p.non_compliant):>10} "
            f"{_drift(p.drift):>6} {p.runs:>5} {p.failed_runs:>6}"
            + ("  silent" if p.silent else "")
        )
    if not digest.places:
        lines.append("(no account has reported yet)")
    total_c = sum(p.compliant or 0 for p in digest.places)
    total_n = sum(p.non_compliant or 0 for p in digest.places)
    runs = sum(p.runs for p in digest.places)
    failed = sum(p.failed_runs for p in digest.places)
    lines += [
        "",
        f"Total: {total_c} compliant, {total_n} non-compliant; {runs} runs, {failed} failed.",
        "drift: change of non-compliant instances since the previous org digest (? unknown).",
    ]
    return "\n".join(lines) + "\n"


def attributes(digest: OrgDigest) -> dict[str, dict[str, str]]:
    """SNS message attributes (as a member's announcement has ``kind`` and ``run``)."""
    values = {
        "kind": ORG_DIGEST_KIND,
        "run": digest.run_id,
        "outcome": "drift" if any(p.non_compliant for p in digest.places) else "compliant",
    }
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def _drift(value: int | None) -> str:
    return "?" if value is None else f"{value:+d}"


def _at(when: datetime | None) -> str:
    return "-" if when is None else f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
