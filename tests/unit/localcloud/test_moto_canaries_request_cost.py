"""Canaries for the botocore and moto internals localcloud/adapters/request_cost.py relies on."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import botocore.auth
import botocore.useragent
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from localcloud.adapters import request_cost

CREDENTIALS = Credentials("AKIDEXAMPLE", "secret", "token")


def _request() -> AWSRequest:
    return AWSRequest(
        method="POST",
        url="https://dynamodb.eu-central-1.amazonaws.com/",
        data=b'{"TableName": "t"}',
        headers={"X-Amz-Target": "DynamoDB_20120810.GetItem"},
    )


def test_user_agent_components_are_immutable_tuples_rendered_alike() -> None:
    request_cost.install()
    component = botocore.useragent.UserAgentComponent("md", "pyimpl", "CPython 3.13")
    assert isinstance(component, tuple)
    hash(component)  # the memo keys on it
    original = botocore.useragent.UserAgentComponent.to_string._fleetpatch_original  # type: ignore[attr-defined]
    assert component.to_string() == original(component) == "md/pyimpl#CPython-3.13"
    assert component.to_string() == original(component)  # the second, memoized


def test_sigv4_headers_are_kept_with_an_unverified_signature() -> None:
    request_cost.install()
    signer = botocore.auth.SigV4Auth(CREDENTIALS, "dynamodb", "eu-central-1")
    fast, full = _request(), _request()
    signer.add_auth(fast)
    botocore.auth.SigV4Auth.add_auth._fleetpatch_original(signer, full)  # type: ignore[attr-defined]
    assert set(fast.headers.keys()) == set(full.headers.keys())
    assert fast.headers["X-Amz-Security-Token"] == "token"
    fast_auth, full_auth = fast.headers["Authorization"], full.headers["Authorization"]
    # The credential scope (the rate limiter's region) and signed headers are botocore's own.
    assert fast_auth.rsplit("Signature=", 1)[0] == full_auth.rsplit("Signature=", 1)[0]
    assert fast_auth.endswith("Signature=" + request_cost.UNVERIFIED_SIGNATURE)
    assert "Credential=AKIDEXAMPLE/" in fast_auth
    assert "/eu-central-1/dynamodb/" in fast_auth


def test_s3_requests_are_still_signed_by_botocore() -> None:
    request_cost.install()
    signer = botocore.auth.S3SigV4Auth(CREDENTIALS, "s3", "eu-central-1")
    request = AWSRequest(method="GET", url="https://b.s3.eu-central-1.amazonaws.com/k")
    signer.add_auth(request)
    assert not request.headers["Authorization"].endswith(request_cost.UNVERIFIED_SIGNATURE)
    assert "X-Amz-Content-SHA256" in request.headers


def test_every_step_functions_task_module_builds_its_client_with_the_shared_function() -> None:
    request_cost.install()
    from moto.stepfunctions.parser.asl.utils import boto_client

    assert list(inspect.signature(boto_client.boto_client_for).parameters) == [
        "region",
        "service",
        "state_credentials",
    ]
    package = importlib.import_module("moto.stepfunctions.parser")
    users = []
    for module_info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        try:
            module = importlib.import_module(module_info.name)
        except ImportError:
            continue  # a module of LocalStack's that moto ships unused (no 'analytics')
        if hasattr(module, "boto_client_for"):
            users.append(module_info.name)
            assert module.boto_client_for is boto_client.boto_client_for, module_info.name
    # Every one of them is in the list request_cost imports, so none is missed at install.
    assert set(users) - {boto_client.__name__} <= set(request_cost._TASK_MODULES)


def test_the_shared_client_is_built_once_per_session_region_and_service() -> None:
    request_cost.install()
    from moto.stepfunctions.parser.asl.utils import boto_client

    first = boto_client.boto_client_for("eu-central-1", "lambda")
    assert boto_client.boto_client_for("eu-central-1", "lambda") is first
    assert boto_client.boto_client_for("eu-west-1", "lambda") is not first
    assert boto_client.boto_client_for("eu-central-1", "sqs") is not first


def test_moto_draws_request_ids_from_its_seedable_random_strings() -> None:
    request_cost.install()
    from moto.moto_api._internal import mock_random
    from moto.moto_api._internal.moto_random import MotoRandom
    from moto.utilities import aws_headers

    assert isinstance(mock_random, MotoRandom)
    assert "get_random_string(length=52)" in inspect.getsource(aws_headers)
    drawn = mock_random.get_random_string(length=52)
    assert len(drawn) == 52
    assert drawn.isalnum()
    assert mock_random.get_random_string(8, include_digits=False, lower_case=True).islower()
    state = mock_random.getstate()
    try:
        mock_random.seed(7)
        first = mock_random.get_random_string()
        mock_random.seed(7)
        assert mock_random.get_random_string() == first  # still deterministic when seeded
    finally:
        mock_random.setstate(state)
