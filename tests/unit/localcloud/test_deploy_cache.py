"""Deploys of the same template reuse its parse and SAM transform, never one another's stack."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deployer import cache, deploy
from localcloud.deployer.stack import Stack
from localcloud.intrinsics import TemplateError

HANDLERS = Path(__file__).parent / "handlers"

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/echo
      Handler: app.lambda_handler
      Runtime: python3.13
      Environment: {Variables: {STAGE: !Ref Stage}}
"""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """How often the deploy parsed a template and ran the SAM transform, from a cold cache."""
    counts = {"parse": 0, "transform": 0}
    load_template, sam_to_cloudformation = cache.load_template, deploy.sam_to_cloudformation

    def counted_load(path: Path) -> dict[str, Any]:
        counts["parse"] += 1
        return load_template(path)

    def counted_transform(*args: Any) -> dict[str, Any]:
        counts["transform"] += 1
        return sam_to_cloudformation(*args)

    monkeypatch.setattr(cache, "load_template", counted_load)
    monkeypatch.setattr(deploy, "sam_to_cloudformation", counted_transform)
    cache.clear()
    yield counts
    cache.clear()


def app(root: Path, template: str = TEMPLATE) -> Path:
    if not (root / "src" / "echo").exists():
        shutil.copytree(HANDLERS / "echo", root / "src" / "echo")
    (root / "template.yaml").write_text(template)
    return root / "template.yaml"


def deploy_in_fresh_cloud(template: Path, parameters: dict[str, str] | None = None) -> Stack:
    with LocalCloud() as cloud:
        stack = cloud.deploy(template, parameters)
        # the function exists in this cloud, created by this deploy
        name = stack.function_name("Echo")
        assert cloud.client("lambda").get_function(FunctionName=name)
        return stack


def stage(stack: Stack) -> str:
    properties = stack.resource("Echo").properties
    return str(properties["Environment"]["Variables"]["STAGE"])


def test_the_same_template_is_parsed_and_transformed_once(
    calls: dict[str, int], tmp_path: Path
) -> None:
    # Given a template deployed once, whose stack a test then changes
    template = app(tmp_path)
    first = deploy_in_fresh_cloud(template)
    first.template["Resources"]["EchoRole"]["Properties"]["Changed"] = True
    first.resource("Echo").properties["Environment"]["Variables"]["STAGE"] = "changed"
    # When it is deployed again into another cloud
    second = deploy_in_fresh_cloud(template)
    # Then the parse and the transform are reused, and nothing the first stack holds is shared
    assert calls == {"parse": 1, "transform": 1}
    assert "Changed" not in second.template["Resources"]["EchoRole"]["Properties"]
    assert stage(second) == "dev"
    assert second.template is not first.template


def test_a_changed_template_is_read_again(calls: dict[str, int], tmp_path: Path) -> None:
    template = app(tmp_path)
    assert stage(deploy_in_fresh_cloud(template)) == "dev"
    app(tmp_path, TEMPLATE.replace("Default: dev", "Default: prod"))
    assert stage(deploy_in_fresh_cloud(template)) == "prod"
    assert calls == {"parse": 2, "transform": 2}


def test_other_parameters_are_transformed_again(calls: dict[str, int], tmp_path: Path) -> None:
    template = app(tmp_path)
    assert stage(deploy_in_fresh_cloud(template)) == "dev"
    assert stage(deploy_in_fresh_cloud(template, {"Stage": "test"})) == "test"
    assert calls == {"parse": 1, "transform": 2}


def test_artifacts_are_checked_on_every_deploy(calls: dict[str, int], tmp_path: Path) -> None:
    # Given a template deployed once, whose function code is then removed
    template = app(tmp_path)
    deploy_in_fresh_cloud(template)
    shutil.rmtree(tmp_path / "src" / "echo")
    # When it is deployed again, the cached transform does not hide the missing code
    with pytest.raises(TemplateError, match="src/echo does not exist"):
        deploy_in_fresh_cloud(template)
