"""The organization's compliance digest: what it says (fleetpatch.org_digest), pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fleetpatch import org_digest
from fleetpatch.report_text import SUBJECT_LIMIT

NOW = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
A, B, SILENT = "111111111111", "222222222222", "333333333333"


def _summary(account: str, region: str, compliant: int, non_compliant: int, age: timedelta):
    return {
        "account": account,
        "region": region,
        "as_of": (NOW - age).isoformat(),
        "compliant": compliant,
        "non_compliant": non_compliant,
    }


def _run(account: str, region: str, outcome: str, failed: int = 0, kind: str = "wave"):
    return {
        "account": account,
        "region": region,
        "kind": kind,
        "outcome": outcome,
        "failed": failed,
    }


def _digest(previous: dict[str, int] | None = None) -> org_digest.OrgDigest:
    # Given two reporting places, one silent account, and the runs since the last digest
    return org_digest.build(
        [
            _summary(B, "us-east-1", 7, 0, timedelta(hours=3)),
            _summary(A, "eu-west-1", 10, 2, timedelta(hours=1)),
            _summary(SILENT, "eu-west-1", 4, 1, timedelta(days=3)),
        ],
        [
            _run(A, "eu-west-1", "patched"),
            _run(A, "eu-west-1", "completed-with-failures"),
            _run(A, "eu-west-1", "patched", failed=1),
            _run(B, "us-east-1", "held"),
            # a member's own digest is not a run
            _run(A, "eu-west-1", "drift", failed=2, kind="compliance-digest"),
        ],
        day="2026-12-05",
        now=NOW,
        since=NOW - timedelta(days=1),
        previous=previous or {},
    )


def test_each_place_has_its_counts_runs_and_failed_runs_by_account_then_region() -> None:
    digest = _digest()
    assert [
        (p.account, p.region, p.compliant, p.non_compliant, p.runs, p.failed_runs)
        for p in digest.places
    ] == [
        (A, "eu-west-1", 10, 2, 3, 2),
        (B, "us-east-1", 7, 0, 1, 1),
        (SILENT, "eu-west-1", 4, 1, 0, 0),
    ]
    assert digest.run_id == "org-digest-2026-12-05"


def test_a_place_without_a_summary_for_over_two_days_is_silent_and_named_first() -> None:
    digest = _digest()
    assert [(p.account, p.silent) for p in digest.places] == [
        (A, False),
        (B, False),
        (SILENT, True),
    ]
    text = org_digest.body(digest)
    silent_part = text.split("SILENT")[1].split("\n\n")[0]
    assert SILENT in silent_part
    assert A not in silent_part
    assert B not in silent_part
    assert "1 silent" in org_digest.subject(digest)


def test_a_place_with_runs_but_no_summary_is_silent_with_unknown_counts() -> None:
    digest = org_digest.build(
        [], [_run(A, "eu-west-1", "patched")], day="2026-12-05", now=NOW, since=None, previous={}
    )
    [place] = digest.places
    assert (place.compliant, place.non_compliant, place.runs, place.silent) == (None, None, 1, True)
    assert "no summary ever" in org_digest.body(digest)
    assert "the first org digest" in org_digest.body(digest)


def test_drift_is_the_change_since_the_previous_digest_when_it_knew_the_place() -> None:
    digest = _digest(previous={f"{A}#eu-west-1": 5, f"{SILENT}#eu-west-1": 0})
    assert {p.account: p.drift for p in digest.places} == {A: -3, B: None, SILENT: 1}
    lines = {
        line.split()[0]: line.split()
        for line in org_digest.body(digest).splitlines()
        if line[:12].isdigit()
    }
    assert lines[A][2:7] == ["10", "2", "-3", "3", "2"]
    assert lines[B][2:7] == ["7", "0", "?", "1", "1"]
    assert lines[SILENT][-1] == "silent"
    # ... and the next digest compares with these counts
    assert digest.counts() == {f"{A}#eu-west-1": 2, f"{B}#us-east-1": 0, f"{SILENT}#eu-west-1": 1}


def test_the_subject_fits_sns_and_totals_every_place() -> None:
    digest = _digest()
    assert org_digest.subject(digest) == (
        "organization compliance digest 2026-12-05: 3 account/regions, 3 non-compliant, 1 silent"
    )
    many = org_digest.build(
        [_summary(f"{n:012d}", "eu-west-1", 1, 1, timedelta(0)) for n in range(1, 400)],
        [],
        day="2026-12-05",
        now=NOW,
        since=None,
        previous={},
    )
    assert len(org_digest.subject(many)) <= SUBJECT_LIMIT
    assert "Total: 21 compliant, 3 non-compliant; 4 runs, 3 failed." in org_digest.body(digest)


@pytest.mark.parametrize(("non_compliant", "outcome"), [(0, "compliant"), (1, "drift")])
def test_attributes_name_the_kind_the_run_and_an_outcome_slack_shows(
    non_compliant: int, outcome: str
) -> None:
    digest = org_digest.build(
        [_summary(A, "eu-west-1", 1, non_compliant, timedelta(0))],
        [],
        day="2026-12-05",
        now=NOW,
        since=None,
        previous={},
    )
    assert {k: v["StringValue"] for k, v in org_digest.attributes(digest).items()} == {
        "kind": "org-compliance-digest",
        "run": "org-digest-2026-12-05",
        "outcome": outcome,
    }
