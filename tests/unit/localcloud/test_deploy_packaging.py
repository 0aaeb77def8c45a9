"""Local artifacts: what ``sam package`` would upload is run from the template's directories."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from localcloud.cloud import LocalCloud
from localcloud.deployer.packaging import ARTIFACT_BUCKET
from localcloud.intrinsics import TemplateError

HANDLERS = Path(__file__).parent / "handlers"


def sam_app(root: Path, resources: str, globals_: str = "") -> Path:
    shutil.copytree(HANDLERS / "echo", root / "src" / "echo")
    template = root / "template.yaml"
    template.write_text(
        "Transform: AWS::Serverless-2016-10-31\n"
        + textwrap.dedent(globals_)
        + "Resources:\n"
        + textwrap.indent(textwrap.dedent(resources), "  ")
    )
    return template


def test_globals_code_uri_is_packaged_and_run(cloud: LocalCloud, tmp_path: Path) -> None:
    template = sam_app(
        tmp_path,
        """
        Echo:
          Type: AWS::Serverless::Function
          Properties: {Handler: app.lambda_handler, Runtime: python3.13}
        """,
        globals_="Globals:\n  Function:\n    CodeUri: src/echo\n",
    )
    stack = cloud.deploy(template)
    assert stack.template["Resources"]["Echo"]["Properties"]["Code"] == {
        "S3Bucket": ARTIFACT_BUCKET,
        "S3Key": "src/echo",
    }
    name = stack.function_name("Echo")
    assert cloud.lambdas.functions[name].code_dir == tmp_path / "src" / "echo"
    response = cloud.client("lambda").invoke(FunctionName=name, Payload=b'{"ping": 1}')
    assert b'"ping": 1' in response["Payload"].read()


def test_a_layer_is_found_by_its_sam_logical_id(cloud: LocalCloud, tmp_path: Path) -> None:
    (tmp_path / "layer").mkdir()
    template = sam_app(
        tmp_path,
        """
        Domain:
          Type: AWS::Serverless::LayerVersion
          Properties: {ContentUri: layer/}
        """,
    )
    stack = cloud.deploy(template)
    [layer] = stack.of_type("AWS::Lambda::LayerVersion")
    assert layer.logical_id != "Domain"  # the transform adds a content hash
    assert stack.resource("Domain") is layer
    assert layer.local_path == tmp_path / "layer"
    assert layer.physical_id.endswith(":layer:Domain:1")


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        (
            "{CodeUri: src/echo, Handler: main.handler, Runtime: python3.13}",
            "main.py does not exist",
        ),
        ("{CodeUri: src/echo, Handler: app.handler, Runtime: nodejs22.x}", "nodejs22.x cannot run"),
        (
            "{InlineCode: 'def handler(e, c): pass', Handler: index.handler, Runtime: python3.13}",
            "not a local path",
        ),
    ],
)
def test_functions_the_local_runtime_cannot_run_are_refused(
    cloud: LocalCloud, tmp_path: Path, properties: str, message: str
) -> None:
    template = sam_app(
        tmp_path, f"Fn:\n  Type: AWS::Serverless::Function\n  Properties: {properties}\n"
    )
    with pytest.raises(TemplateError, match=message):
        cloud.deploy(template)
