"""README's performance table comes from one bench run's JSON, replaced between its markers."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.readme_table import END, START, main, table

BENCH = {
    "measured_at": "2026-12-03T09:00:00+00:00",
    "machine": {"python": "3.13.0", "platform": "Linux", "cpus": 2},
    "seconds": 412.4,
    "figures": [
        {"group": "launch", "name": "agent Online -> SendCommand, median", "value": 1.4,
         "unit": "s", "how": "...", "target": "<= 5 s", "met": True},
        {"group": "cold start", "name": "patch_on_launch / import boto3", "value": 1.62,
         "unit": "x", "how": "...", "target": "<= 1.5x", "met": False},
        {"group": "wave", "name": "N=100: SendCommand calls", "value": 2, "unit": "",
         "how": "...", "target": None, "met": None},
    ],
}  # fmt: skip


def test_the_table_names_the_run_and_every_figure_with_a_target() -> None:
    text = table(BENCH)
    assert "2026-12-03T09:00:00+00:00" in text
    assert "the run took 412 s" in text
    assert "| launch | agent Online -> SendCommand, median | 1.4 s | <= 5 s | met |" in text
    assert "| 1.62 x | <= 1.5x | **not met** |" in text
    assert "SendCommand calls" not in text  # no target: in the JSON and docs, not here


def test_the_readme_section_is_replaced_and_the_rest_kept(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(BENCH))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{START}\nold table\n{END}\n\n## after\n")
    assert main([str(bench), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# x\n\n")
    assert text.endswith(f"{END}\n\n## after\n")
    assert "agent Online -> SendCommand" in text


def test_a_readme_without_the_markers_is_refused(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps(BENCH))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n")
    assert main([str(bench), "--readme", str(readme)]) == 2
    assert readme.read_text() == "# x\n"
