"""``fleetpatch events check``: JSON per valid file, a named field per invalid one, exit 2."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from fleetpatch_cli.main import main
from tests.conftest import EVENTS_DIR, event_path, load_event


def test_every_fixture_routes(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(EVENTS_DIR.glob("*/*.json"))
    assert main(["events", "check", *map(str, files)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert all(line["route"] and line["reason"] for line in lines)


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("{not json", "event"),
        (json.dumps({**load_event("aws.ec2/instance-running"), "source": "evil.corp"}), "source"),
        (
            json.dumps({**load_event("aws.ec2/instance-running"), "detail-type": "Made Up"}),
            "detail-type",
        ),
    ],
)
def test_an_invalid_file_is_named_with_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, field: str
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    good = event_path("aws.ec2/instance-running")
    assert main(["events", "check", str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out)["file"] == str(good)
    assert err.strip().startswith(f"{bad}: {field}:")
    assert len(err.strip().splitlines()) == 1


def test_a_missing_file_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "check", str(tmp_path / "absent.json")]) == 2
    assert "absent.json: file: cannot read" in capsys.readouterr().err


def test_a_folder_is_every_json_file_under_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["events", "check", str(EVENTS_DIR)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in sorted(EVENTS_DIR.rglob("*.json"))]


def test_dash_reads_the_event_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    event = event_path("aws.ec2/instance-running").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(event)))
    assert main(["events", "check", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["file"] == "<stdin>"


def test_json_has_the_valid_and_the_invalid_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    good = event_path("aws.ec2/instance-running")
    assert main(["events", "check", str(good), str(bad), "--json"]) == 2
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (result["invalid"], err) == (1, "")
    assert [f["file"] for f in result["files"]] == [str(good), str(bad)]
    assert "route" in result["files"][0]
    assert result["files"][1]["error"].startswith(f"{bad}: event:")
