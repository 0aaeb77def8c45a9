"""The cold-start benchmark's helpers (no subprocesses: the benchmark itself runs apart)."""

from __future__ import annotations

import json

import pytest

from benchmarks.cold_start import (
    MARKER,
    ImportTime,
    handlers,
    lambda_environment,
    parse_importtime,
    parse_probe,
    top_packages,
    top_self,
)

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       300 |        300 | json
import time:      1000 |       1000 |     pydantic.types
import time:      4000 |       5000 |   pydantic
import time:      2500 |       2500 |     botocore.client
import time:       500 |       3000 |   boto3
import time:       200 |       8200 | app
import time:        50 |         50 | later
"""


def test_parse_importtime_keeps_only_the_subtree_of_app() -> None:
    lines = parse_importtime(IMPORTTIME)
    assert [line.module for line in lines] == [
        "pydantic.types",
        "pydantic",
        "botocore.client",
        "boto3",
        "app",
    ]
    assert lines[-1] == ImportTime("app", 200, 8200, 0)
    assert lines[0].depth == 2


def test_parse_importtime_without_app_fails() -> None:
    with pytest.raises(ValueError, match="no top-level import of app"):
        parse_importtime("import time:       300 |        300 | json\n")


def test_top_self_and_top_packages() -> None:
    lines = parse_importtime(IMPORTTIME)
    assert top_self(lines, top=2) == "pydantic 4.0 ms; botocore.client 2.5 ms"
    assert top_packages(lines, top=3) == "pydantic 5.0 ms; botocore 2.5 ms; boto3 0.5 ms"


def test_parse_probe_finds_the_marked_line_among_other_output() -> None:
    data = {
        "import_ms": 12.5,
        "xray": False,
        "cached_clients": 0,
        "default_session": False,
        "boto3_imported": True,
        "modules": 900,
    }
    probe = parse_probe(f"some log line\n{MARKER}{json.dumps(data)}\n")
    assert probe.import_ms == 12.5
    assert probe.cached_clients == 0
    assert not probe.xray
    with pytest.raises(ValueError, match="no result"):
        parse_probe("nothing here\n")


def test_environment_is_lambdas_with_tracing_off_and_no_endpoint() -> None:
    name = handlers()[0]
    env = lambda_environment(name)
    assert env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"
    assert not any(key.startswith("AWS_ENDPOINT_URL") for key in env)
    assert "AWS_PROFILE" not in env
    function_dir, layer = env["PYTHONPATH"].split(":")
    assert function_dir.endswith(f"functions/{name}")
    assert layer.endswith("layers/fleetpatch")
    assert "PYTHONPATH" not in lambda_environment(None)
