"""A played scenario's reports, copied out of the local bucket by day, with a page over them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from localcloud.report_files import report_pages, run_index, save_reports

REGION = "eu-central-1"
BUCKET = "artifacts"


class Cloud:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def client(self, service: str) -> Any:
        assert service == "s3"
        return self._s3


@pytest.fixture
def cloud() -> Iterator[Cloud]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield Cloud(s3)


def store(cloud: Cloud, key: str, body: str) -> None:
    cloud.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body.encode())


def test_reports_keep_their_day_folders_and_the_top_page_links_each_and_each_day(
    cloud: Cloud, tmp_path: Path
) -> None:
    for day, run in (("2026/11/21", "wave-a"), ("2026/11/22", "launch-b")):
        report = {"run_id": run, "kind": "wave", "title": run, "outcome": "completed"}
        store(cloud, f"reports/{day}/{run}.json", json.dumps({**report, "started_at": day}))
        store(cloud, f"reports/{day}/{run}.html", "<html></html>")
        store(cloud, f"reports/{day}/index.html", "<html>day</html>")

    saved = save_reports(cloud, BUCKET, tmp_path, "demo")  # type: ignore[arg-type]

    [run_dir] = tmp_path.iterdir()
    assert (run_dir / "2026/11/21/wave-a.html").is_file()
    assert (run_dir / "2026/11/22/index.html").read_text() == "<html>day</html>"
    top = (run_dir / "index.html").read_text()
    assert '<a href="2026/11/21/wave-a.html">wave-a</a>' in top
    assert '<a href="2026/11/22/index.html">2026/11/22</a>' in top
    assert run_index(saved) == str(run_dir / "index.html") == saved[-1]
    assert sorted(Path(p).name for p in report_pages(saved)) == ["launch-b.html", "wave-a.html"]
