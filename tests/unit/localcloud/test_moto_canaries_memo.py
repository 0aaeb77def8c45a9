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


def test_moto_lists_a_response_class_methods_by_name_on_each_request() -> None:
    import inspect

    import moto.core.responses
    import moto.core.utils

    source = inspect.getsource(moto.core.responses.BaseResponse.call_action)
    assert "method_names = method_names_from_class(self.__class__)" in source
    memo.install()
    listed = moto.core.responses.method_names_from_class
    original = listed._fleetpatch_original  # type: ignore[attr-defined]
    assert original is moto.core.utils.method_names_from_class

    class Base:
        def describe_things(self) -> None: ...

    class Response(Base):
        def list_things(self) -> None: ...

    assert listed(Response) == original(Response) == ["describe_things", "list_things"]
    assert listed(Response) == original(Response)  # kept
    # An action the local cloud adds later (to the class or a base) is listed from then on
    Base.put_thing = lambda self: None  # type: ignore[attr-defined]
    assert listed(Response) == original(Response)
    assert "put_thing" in listed(Response)
    Response.get_thing = lambda self: None  # type: ignore[attr-defined]
    assert listed(Response) == original(Response)
    assert "get_thing" in listed(Response)
