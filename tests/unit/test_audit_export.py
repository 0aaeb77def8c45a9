"""The audit export's rows, CSV and time to remediate (issue 21, part 5), without AWS."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

from fleetpatch.audit_export import (
    COLUMNS,
    Drift,
    Export,
    InstanceFacts,
    RunSpan,
    drifts_of,
    in_period,
    mean_time_to_remediate,
    patch_row,
)
from fleetpatch.exclusions import CompiledExclusion

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)
FACTS = InstanceFacts("i-0abc", name='web "blue", 1', patch_group="g1", environment="prod")
CURL = {
    "Title": "curl.x86_64:0:8.3.0-1.amzn2.0.7",
    "KBId": "curl.x86_64",
    "Classification": "Security",
    "Severity": "Critical",
    "State": "INSTALLED",
    "InstalledTime": datetime(2026, 12, 1, 5, 10, tzinfo=UTC),
    "CVEIds": "CVE-2024-7264,CVE-2024-0001",
}
SPAN = RunSpan(
    "wave-prod-1",
    "i-0abc",
    datetime(2026, 12, 1, 5, tzinfo=UTC),
    datetime(2026, 12, 1, 6, tzinfo=UTC),
)


def test_a_row_names_its_run_cves_and_state() -> None:
    row = patch_row(FACTS, CURL, spans=[SPAN], exclusions=[], at=NOW)
    assert row.state == "Installed"
    assert row.run_id == "wave-prod-1"
    assert row.cve_ids == ["CVE-2024-7264", "CVE-2024-0001"]
    values = dict(zip(COLUMNS, row.csv_values(), strict=True))
    assert values["installed_at"] == "2026-12-01T05:10:00Z"
    assert values["cve_ids"] == "CVE-2024-7264 CVE-2024-0001"
    # An install outside every run's span is not attributed to one.
    late = patch_row(FACTS, {**CURL, "InstalledTime": NOW}, spans=[SPAN], exclusions=[], at=NOW)
    assert late.run_id == ""


def test_a_missing_patch_has_no_install_time_even_if_aws_says_1970() -> None:
    missing = {**CURL, "State": "MISSING", "InstalledTime": datetime(1970, 1, 1, tzinfo=UTC)}
    row = patch_row(FACTS, missing, spans=[SPAN], exclusions=[], at=NOW)
    assert (row.state, row.installed_at, row.run_id) == ("Missing", None, "")
    assert in_period(row, SINCE)  # a gap now is always evidence
    old = patch_row(
        FACTS, {**CURL, "InstalledTime": SINCE - timedelta(days=1)}, spans=[], exclusions=[], at=NOW
    )
    assert not in_period(old, SINCE)  # installed before the period


def test_the_exception_column_names_an_exclusion_or_a_skip_tag() -> None:
    exclusion = CompiledExclusion(
        patches=["curl*"],
        environments=["prod"],
        operating_systems=["AMAZON_LINUX_2"],
        until=date(2026, 12, 31),
        reason="vendor pin OPS-1",
    )
    rejected = {**CURL, "State": "INSTALLED_REJECTED"}
    row = patch_row(FACTS, rejected, spans=[], exclusions=[exclusion], at=NOW)
    assert row.exception == "policy exclusion: curl* until 2026-12-31: vendor pin OPS-1"
    tagged = InstanceFacts("i-0abc", environment="prod", skip_tag="until=2026-12-24; reason=freeze")
    row = patch_row(tagged, CURL, spans=[], exclusions=[exclusion], at=NOW)
    assert row.exception == "fleetpatch:skip: excepted until 2026-12-24: freeze"
    expired = InstanceFacts("i-0abc", environment="prod", skip_tag="until=2026-11-01; reason=x")
    assert patch_row(expired, CURL, spans=[], exclusions=[], at=NOW).exception == ""


def test_the_csv_is_rfc_4180_and_reads_back_whole() -> None:
    export = Export(since=SINCE, until=NOW)
    export.rows.append(patch_row(FACTS, CURL, spans=[SPAN], exclusions=[], at=NOW))
    text = export.to_csv()
    assert text.startswith(",".join(COLUMNS) + "\r\n")
    assert '"web ""blue"", 1"' in text
    [row] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert row["name"] == 'web "blue", 1'


def test_mean_time_to_remediate_is_per_severity_over_drifts_ended_in_the_period() -> None:
    history = [
        {"at": "2026-11-10T00:00:00+00:00", "to": "non_compliant", "severity": "CRITICAL"},
        {"at": "2026-11-10T06:00:00+00:00", "to": "non_compliant", "severity": "CRITICAL"},
        {"at": "2026-11-10T12:00:00+00:00", "to": "compliant", "severity": ""},
        {"at": "2026-11-20T00:00:00+00:00", "to": "non_compliant", "severity": "CRITICAL"},
        {"at": "2026-11-21T00:00:00+00:00", "to": "compliant", "severity": ""},
        {"at": "2026-12-02T00:00:00+00:00", "to": "non_compliant", "severity": "HIGH"},
    ]
    drifts = drifts_of(history, "i-0abc")
    assert [d.recovered_at is None for d in drifts] == [False, False, True]
    before = Drift("i-0old", "CRITICAL", SINCE - timedelta(days=9), SINCE - timedelta(days=8))
    mttr = mean_time_to_remediate([*drifts, before], SINCE, NOW)
    # 12 h and 24 h: a repeated non-compliant event does not restart the clock.
    assert mttr["CRITICAL"] == {
        "remediated": 2,
        "mean_hours": 18.0,
        "open": 0,
        "oldest_open_hours": None,
    }
    assert mttr["HIGH"] == {
        "remediated": 0,
        "mean_hours": None,
        "open": 1,
        "oldest_open_hours": 36.0,
    }
