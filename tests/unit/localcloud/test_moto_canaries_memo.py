"""Canaries for the internals localcloud/adapters/memo.py relies on (moto and botocore pinned)."""

from __future__ import annotations

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto.stepfunctions.parser.api import InvalidDefinition
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from localcloud.adapters import memo

VALID = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'


def test_botocore_sessions_build_their_loader_with_create_loader() -> None:
    # memo replaces botocore.session.create_loader: sessions must still call it by that name.
    memo.install()
    fresh = botocore.session.Session()
    assert fresh.get_component("data_loader") is botocore.session.Session().get_component(
        "data_loader"
    )
    assert isinstance(fresh.get_component("data_loader"), botocore.loaders.Loader)
    assert botocore.loaders.create_loader() is not botocore.loaders.create_loader()


def test_boto3_sessions_append_their_data_path_once_to_a_shared_loader() -> None:
    memo.install()
    boto3.Session(region_name="eu-central-1")
    paths = list(boto3.Session(region_name="eu-central-1")._loader.search_paths)
    assert len(paths) == len(set(paths))
    assert any(p.endswith("boto3/data") for p in paths)


def test_moto_validates_definitions_in_a_static_method_raising_invalid_definition() -> None:
    memo.install()
    validate = StepFunctionsParserBackend._validate_definition
    validate(VALID)
    validate(VALID)  # memoized: no second parse
    assert VALID in memo._valid_definitions
    with pytest.raises(InvalidDefinition):
        validate('{"StartAt": "Nowhere", "States": {}}x')
    with pytest.raises(InvalidDefinition):  # an invalid one is refused every time
        validate('{"StartAt": "Nowhere", "States": {}}x')


def test_moto_asks_only_whether_the_action_is_among_the_response_class_methods() -> None:
    import inspect

    from moto.core import responses, utils
    from moto.ec2.responses import EC2Response

    memo.install()
    source = inspect.getsource(responses.BaseResponse.call_action)
    assert "method_names = method_names_from_class(self.__class__)" in source
    assert "if action in method_names:" in source
    assert source.count("method_names") == 3  # the call, its result, the one question
    names = responses.method_names_from_class(EC2Response)
    listed = set(utils.method_names_from_class(EC2Response))
    assert "describe_instances" in names
    assert "describe_instances" in listed
    assert "no_such_action" not in names
    assert "no_such_action" not in listed
    assert set(names) == listed
    for name in dir(EC2Response):
        assert (name in names) == (name in listed), name
