"""`fleetpatch export` after a real wave on the local cloud (issue 21, part 5).

The CSV is read back with the csv module, as a spreadsheet would: the header is the
documented columns, each row an instance and a patch, the installed patches name the wave
run that installed them, an excepted host's gaps name its fleetpatch:skip tag.
"""

from __future__ import annotations

import argparse
import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from fleetpatch.audit_export import COLUMNS
from fleetpatch_cli.export_cmd import run_export
from tests.workflows.conftest import Deployed
from tests.workflows.test_wave_exclusions import LINUX, WINDOWS, run_window


def export_args(output: Path, fmt: str = "csv", since: str = "30d") -> argparse.Namespace:
    return argparse.Namespace(
        command="export",
        since=since,
        format=fmt,
        output=str(output),
        stage="default",
        endpoint_url=None,
        region=None,
        profile=None,
    )


def test_the_export_lists_each_instance_and_patch_with_its_run(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a test wave that patched an Amazon Linux host and a Windows host, and an
    # Ubuntu host excepted by its fleetpatch:skip tag
    fleet = deployed.cloud.fleet
    assert fleet is not None
    until = deployed.cloud.clock.now().date() + timedelta(days=30)
    [db] = fleet.launch("AMAZON_LINUX_2023", tags={"Name": "db, primary", "Patch Group": LINUX})
    [app] = fleet.launch("WINDOWS", tags={"Name": "app", "Patch Group": WINDOWS})
    [held] = fleet.launch(
        "UBUNTU",
        tags={
            "Name": "held",
            "Patch Group": LINUX,
            "fleetpatch:skip": f"until={until}; reason=vendor freeze INC-9",
        },
    )
    deployed.cloud.settle(max_seconds=3600)
    report = run_window(deployed)
    # When an auditor exports the last 30 days as CSV
    output = tmp_path / "evidence.csv"
    code = run_export(
        export_args(output), clients=deployed.cloud.client, now=deployed.cloud.clock.now()
    )
    # Then the file is UTF-8 CSV with the documented header
    assert code == 0
    raw = output.read_bytes()
    assert raw.startswith(b"instance_id,name,")
    assert b"\r\n" in raw  # RFC 4180 line ends
    with output.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0].keys()) == COLUMNS
    by_instance = {i: [r for r in rows if r["instance_id"] == i] for i in (db, app, held)}
    assert all(by_instance.values()), "every instance has rows"
    # And an installed patch names the run that installed it, with its time and CVE ids
    [curl] = [r for r in by_instance[db] if r["patch_id"] == "curl-minimal.x86_64"]
    assert curl["state"] == "Installed"
    assert curl["run_id"] == report["run_id"]
    assert curl["installed_at"].endswith("Z")
    assert curl["cve_ids"] == "CVE-2024-7264"
    assert curl["name"] == "db, primary"  # quoted in the file, whole in the spreadsheet
    assert curl["environment"] == "test"
    assert curl["patch_group"] == LINUX
    assert curl["severity"] == "Critical"
    assert curl["classification"] == "Security"
    assert {r["state"] for r in by_instance[app]} == {"Installed"}
    assert all(r["exception"] == "" for r in by_instance[db] + by_instance[app])
    # And the excepted host, never scanned (the wave sent it nothing), has its one row,
    # which says why
    assert [r["state"] for r in by_instance[held]] == ["NoPatchData"]
    assert (by_instance[held][0]["patch_group"], by_instance[held][0]["environment"]) == (
        LINUX,
        "test",
    )
    assert {r["exception"] for r in by_instance[held]} == {
        f"fleetpatch:skip: excepted until {until}: vendor freeze INC-9"
    }
    # And the summary (stderr with CSV) gives the time to remediate by severity
    err = capsys.readouterr().err
    assert "mean time to remediate" in err
    assert f"wrote {len(rows)} rows to {output}" in err

    # When the same period is exported as JSON
    as_json = tmp_path / "evidence.json"
    assert (
        run_export(
            export_args(as_json, "json"),
            clients=deployed.cloud.client,
            now=deployed.cloud.clock.now(),
        )
        == 0
    )
    data = json.loads(as_json.read_text())
    # Then it holds the same rows and the summary
    assert len(data["rows"]) == len(rows)
    assert data["summary"]["rows"] == len(rows)
    assert data["summary"]["instances"] == 3
    assert set(data["rows"][0]) == set(COLUMNS)


def test_a_wrong_since_is_one_line_and_exit_2(
    deployed: Deployed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_export(
        export_args(tmp_path / "x.csv", since="thirty days"), clients=deployed.cloud.client
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("fleetpatch export: --since: expected a duration")
    assert not (tmp_path / "x.csv").exists()
