"""`fleetpatch package --stackset`: template.yaml as plain CloudFormation for StackSets.

What StackSets with service-managed permissions refuse (a Transform, SAM resource types, a
nested stack for the default execution role) is absent; every function's and the layer's
code is in the bucket of the stack instance's own region; the archives are deterministic.
The packaged template deploying and patching a launch: tests/workflows/test_stackset.py.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from fleetpatch_cli.main import main
from fleetpatch_cli.stackset_template import (
    BUCKET_PARAMETER,
    REGIONAL_BUCKET,
    TEMPLATE_URL_LIMIT,
    PackagingError,
    StackSetPackage,
    build,
    check,
    deterministic_zip,
)

ROOT = Path(__file__).parents[2]
REGION = "eu-central-1"


@pytest.fixture(scope="module")
def package() -> StackSetPackage:
    return build(ROOT / "template.yaml", allow_unbuilt=True)


def _resources(package: StackSetPackage, kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in package.template["Resources"].items() if v["Type"] == kind}


def test_nothing_stacksets_refuse_is_left(package: StackSetPackage) -> None:
    template = package.template
    assert "Transform" not in template
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert not [k for k in kinds if k.startswith("AWS::Serverless::")]
    assert "AWS::CloudFormation::Stack" not in kinds
    assert '"FleetPolicy"' not in json.dumps(template)
    assert package.size <= TEMPLATE_URL_LIMIT
    assert package.needs_template_url  # over TemplateBody's 51,200 bytes: a TemplateURL


def test_every_code_location_is_the_regional_bucket(package: StackSetPackage) -> None:
    functions = _resources(package, "AWS::Lambda::Function")
    layers = _resources(package, "AWS::Lambda::LayerVersion")
    assert len(functions) >= 10
    assert len(layers) == 1
    locations = [f["Properties"]["Code"] for f in functions.values()]
    locations += [layer["Properties"]["Content"] for layer in layers.values()]
    for location in locations:
        assert location["S3Bucket"] == REGIONAL_BUCKET
        assert location["S3Key"] in package.artifacts
    assert REGIONAL_BUCKET == {"Fn::Sub": "${" + BUCKET_PARAMETER + "}-${AWS::Region}"}
    assert BUCKET_PARAMETER in package.template["Parameters"]


def test_each_archive_holds_its_handler_and_the_layer_its_python_folder(
    package: StackSetPackage,
) -> None:
    for function in _resources(package, "AWS::Lambda::Function").values():
        properties = function["Properties"]
        body = package.artifacts[properties["Code"]["S3Key"]].body
        module = properties["Handler"].rpartition(".")[0]
        assert f"{module}.py" in zipfile.ZipFile(io.BytesIO(body)).namelist()
    [layer] = _resources(package, "AWS::Lambda::LayerVersion").values()
    names = zipfile.ZipFile(
        io.BytesIO(package.artifacts[layer["Properties"]["Content"]["S3Key"]].body)
    ).namelist()
    assert "python/fleetpatch/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n]


def test_the_layer_name_keeps_the_stage_parameter(package: StackSetPackage) -> None:
    # The translator resolves LayerName's !Sub with the default Stage; a StackSet's Stage
    # override must still reach it.
    [layer] = _resources(package, "AWS::Lambda::LayerVersion").values()
    assert layer["Properties"]["LayerName"] == {"Fn::Sub": "fleetpatch-${Stage}"}


def test_the_policy_stack_is_inlined_with_the_parents_values(package: StackSetPackage) -> None:
    resources = package.template["Resources"]
    baseline = resources["FleetPolicyBaselineTestAmazonLinux2023"]["Properties"]["Name"]
    assert baseline == {
        "Fn::Sub": ["fleetpatch-${Stage}-test-amazon-linux-2023", {"Stage": {"Ref": "Stage"}}]
    }
    launch = resources["PatchOnLaunchFunction"]["Properties"]["Environment"]["Variables"]
    assert json.loads(launch["FLEETPATCH_LAUNCH_POLICY"])["hookNames"] == ["fleetpatch-launch"]


def test_state_machine_definitions_are_objects_with_their_substitutions(
    package: StackSetPackage,
) -> None:
    machines = _resources(package, "AWS::StepFunctions::StateMachine")
    assert machines
    for machine in machines.values():
        properties = machine["Properties"]
        assert "DefinitionString" not in properties
        assert "States" in properties["Definition"]
    launch = machines["PatchNewInstanceStateMachine"]["Properties"]
    assert "${" in json.dumps(launch["Definition"])
    assert launch["DefinitionSubstitutions"]


def test_archives_are_deterministic() -> None:
    first = deterministic_zip(ROOT / "functions" / "patch_on_launch")
    assert first == deterministic_zip(ROOT / "functions" / "patch_on_launch")


@pytest.mark.parametrize(
    ("mutation", "why"),
    [
        (lambda t: t.update(Transform="AWS::Serverless-2016-10-31"), "declares a Transform"),
        (
            lambda t: t["Resources"].update(F={"Type": "AWS::Serverless::Function"}),
            "F is AWS::Serverless::Function",
        ),
        (
            lambda t: t["Resources"].update(S={"Type": "AWS::CloudFormation::Stack"}),
            "S is a nested stack",
        ),
        (
            lambda t: t["Resources"].update(
                M={"Type": "AWS::SNS::Topic", "Properties": {"Fn::Transform": {"Name": "X"}}}
            ),
            "Fn::Transform",
        ),
    ],
)
def test_the_check_refuses_what_stacksets_refuse(
    package: StackSetPackage, mutation: Any, why: str
) -> None:
    check(package.template)  # the real output passes
    mutated = copy.deepcopy(package.template)
    mutation(mutated)
    with pytest.raises(PackagingError, match=re.escape(why)):
        check(mutated)


def test_a_missing_template_is_a_packaging_error(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="cannot read template"):
        build(tmp_path / "template.yaml")


def test_source_with_requirements_is_refused_unless_allowed() -> None:
    with pytest.raises(PackagingError, match=r"requirements\.txt"):
        build(ROOT / "template.yaml")


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def test_the_command_says_which_bucket_is_missing(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "stackset.json"
    code = main(
        [
            "package",
            "--stackset",
            "--regions",
            REGION,
            "--bucket-prefix",
            "acme",
            "--output",
            str(out),
        ]
    )
    assert code == 2
    assert capsys.readouterr().err == (
        f"fleetpatch package: bucket acme-{REGION} does not exist: create it in {REGION} (and "
        "let the organization's accounts read it: docs/multi-account.md)\n"
    )
    assert not out.exists()


def test_the_command_refuses_a_bucket_in_another_region(
    s3: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = boto3.client("s3", region_name="eu-west-1")
    elsewhere.create_bucket(
        Bucket=f"acme-{REGION}", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    args = ["--regions", REGION, "--bucket-prefix", "acme", "--output", str(tmp_path / "t.json")]
    assert main(["package", "--stackset", *args]) == 2
    assert "is in eu-west-1, not eu-central-1" in capsys.readouterr().err


def test_the_command_uploads_code_and_template(s3: Any, tmp_path: Path) -> None:
    s3.create_bucket(
        Bucket=f"acme-{REGION}", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    out = tmp_path / "stackset.json"
    args = ["--regions", REGION, "--bucket-prefix", "acme", "--output", str(out), "--allow-unbuilt"]
    assert main(["package", "--stackset", *args]) == 0
    template = json.loads(out.read_text())
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=f"acme-{REGION}")["Contents"]}
    codes = [
        r["Properties"]["Code"]["S3Key"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    ]
    assert set(codes) <= keys
    assert [k for k in keys if k.startswith("fleetpatch/template-")]


def test_without_stackset_the_command_says_what_it_offers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--regions", REGION, "--bucket-prefix", "acme", "--output", str(tmp_path / "t")]
    assert main(["package", *args]) == 2
    assert "only --stackset packaging is offered" in capsys.readouterr().err
