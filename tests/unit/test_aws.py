"""fleetpatch.aws: the compiled policy is read once a minute per warm container, not per event."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from fleetpatch import aws, clock
from fleetpatch.policy import CompiledPolicy

PARAMETER = "/fleetpatch/test/policy"


@pytest.fixture
def now() -> Iterator[list[float]]:
    current = [1_800_000_000.0]
    clock.use(lambda: current[0])
    yield current
    clock.use(None)


def test_the_compiled_policy_is_cached_for_a_minute(now: list[float]) -> None:
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-central-1")
        ssm.put_parameter(Name=PARAMETER, Type="String", Value=json.dumps({"version": 1}))
        assert aws.compiled_policy(PARAMETER) == CompiledPolicy(version=1)
        ssm.put_parameter(
            Name=PARAMETER, Type="String", Value=json.dumps({"version": 2}), Overwrite=True
        )
        now[0] += aws.POLICY_CACHE_SECONDS - 1
        assert aws.compiled_policy(PARAMETER) == CompiledPolicy(version=1)  # still the cached one
        now[0] += 2
        assert aws.compiled_policy(PARAMETER) == CompiledPolicy(version=2)  # re-read after a minute
        aws.reset_clients()
        ssm.put_parameter(
            Name=PARAMETER, Type="String", Value=json.dumps({"version": 3}), Overwrite=True
        )
        assert aws.compiled_policy(PARAMETER) == CompiledPolicy(version=3)  # a reset forgets it
