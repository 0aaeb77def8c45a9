"""Template evaluation: intrinsic functions, conditions, creation order and YAML tags."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from localcloud.intrinsics import (
    Evaluator,
    PseudoParameters,
    TemplateError,
    creation_order,
    load_template,
)

PSEUDO = PseudoParameters(region="eu-central-1", account_id="123456789012", stack_name="demo")


class Created:
    """Resources already created, as the deploy's stack answers Ref and Fn::GetAtt."""

    def ref(self, logical_id: str) -> Any:
        return {"Queue": "https://sqs/queue", "Fn": "demo-Fn-ABC"}[logical_id]

    def get_att(self, logical_id: str, attribute: str) -> Any:
        return f"arn:{logical_id}:{attribute}"


def evaluator(**kwargs: Any) -> Evaluator:
    defaults: dict[str, Any] = {
        "parameters": {"Stage": "prod", "Zones": ["a", "b"]},
        "pseudo": PSEUDO,
        "resources": Created(),
        "conditions": {
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
            "ProdOrDev": {"Fn::Or": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]},
            "ProdAndDev": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "IsDev"}]},
        },
        "mappings": {"Stages": {"prod": {"Retention": 90}}},
    }
    return Evaluator(**{**defaults, **kwargs})


def test_sub_substitutes_pseudo_parameters_parameters_and_attributes() -> None:
    resolved = evaluator().resolve(
        {"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Stage}/${Fn.Arn}"}
    )
    assert resolved == "arn:aws:x:eu-central-1:123456789012:prod/arn:Fn:Arn"


def test_sub_with_variables_refs_and_literals() -> None:
    resolved = evaluator().resolve(
        {"Fn::Sub": ["${Name} ${Fn} ${!Literal} ${AWS::StackName}", {"Name": {"Ref": "Stage"}}]}
    )
    assert resolved == "prod demo-Fn-ABC ${Literal} demo"


def test_ref_returns_parameters_pseudo_parameters_and_physical_ids() -> None:
    ev = evaluator()
    assert ev.resolve({"Ref": "Stage"}) == "prod"
    assert ev.resolve({"Ref": "AWS::StackId"}) == PSEUDO.stack_id
    assert ev.resolve({"Ref": "AWS::URLSuffix"}) == "amazonaws.com"
    assert ev.resolve({"Ref": "Queue"}) == "https://sqs/queue"
    assert ev.resolve({"Ref": "Zones"}) == ["a", "b"]


def test_get_att_in_both_forms() -> None:
    ev = evaluator()
    assert ev.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:Queue:Arn"
    assert ev.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "arn:Queue:QueueName"


def test_if_and_no_value_remove_properties_and_list_items() -> None:
    resolved = evaluator().resolve(
        {
            "Kept": {"Fn::If": ["IsProd", "yes", "no"]},
            "Dropped": {"Fn::If": ["IsDev", "dev only", {"Ref": "AWS::NoValue"}]},
            "List": ["a", {"Fn::If": ["IsDev", "b", {"Ref": "AWS::NoValue"}]}, "c"],
        }
    )
    assert resolved == {"Kept": "yes", "List": ["a", "c"]}


def test_conditions_combine() -> None:
    ev = evaluator()
    assert ev.is_true("IsProd") is True
    assert ev.is_true("IsDev") is False
    assert ev.is_true("ProdOrDev") is True
    assert ev.is_true("ProdAndDev") is False


def test_equals_compares_as_text() -> None:
    ev = evaluator(conditions={"Thirty": {"Fn::Equals": [30, "30"]}})
    assert ev.is_true("Thirty") is True


def test_find_in_map_join_select_split_base64_and_azs() -> None:
    ev = evaluator()
    assert ev.resolve({"Fn::FindInMap": ["Stages", {"Ref": "Stage"}, "Retention"]}) == 90
    assert ev.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}, 3]]}) == "a-prod-3"
    assert ev.resolve({"Fn::Select": ["1", {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert ev.resolve({"Fn::Base64": "hi"}) == base64.b64encode(b"hi").decode()
    assert ev.resolve({"Fn::GetAZs": ""}) == ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
    assert ev.resolve({"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}) == (
        "eu-central-1a"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"Fn::ImportValue": "shared-vpc"}, "Fn::ImportValue .* not supported locally"),
        ({"Fn::Cidr": ["10.0.0.0/16", 2, 8]}, "Fn::Cidr is not supported"),
        ({"Fn::Equals": ["a", "a"]}, "only valid in the Conditions section"),
        ({"Fn::FindInMap": ["Stages", "dev", "Retention"]}, "Mappings has no Stages.dev"),
        ({"Fn::Select": [5, ["a"]]}, "index 5 is out of range"),
        ({"Fn::If": ["Unknown", 1, 2]}, "condition 'Unknown' is not defined"),
        ({"Fn::Join": ["-", [{"k": "v"}]]}, "expected a string"),
        ({"Ref": "Nope"}, "no parameter or resource"),
    ],
)
def test_errors_name_the_problem(value: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        evaluator(resources=None).resolve(value)


def test_circular_conditions_are_reported() -> None:
    ev = evaluator(conditions={"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}})
    with pytest.raises(TemplateError, match="circular conditions: A -> B -> A"):
        ev.is_true("A")


def test_references_follow_only_the_branch_taken() -> None:
    value = {
        "Arn": {"Fn::GetAtt": ["Table", "Arn"]},
        "Text": {
            "Fn::Sub": [
                "${Topic} ${Bucket.Arn} ${AWS::Region} ${Stage} ${Local}",
                {"Local": {"Ref": "Key"}},
            ]
        },
        "Chosen": {"Fn::If": ["IsProd", {"Ref": "ProdQueue"}, {"Ref": "DevQueue"}]},
        "Parameter": {"Ref": "Stage"},
    }
    assert evaluator().references(value) == {"Table", "Topic", "Bucket", "Key", "ProdQueue"}


def test_creation_order_follows_references_and_depends_on() -> None:
    resources: dict[str, dict[str, Any]] = {
        "Function": {"Properties": {"Role": {"Fn::GetAtt": ["Role", "Arn"]}}},
        "Rule": {"Properties": {"Target": {"Ref": "Function"}}, "DependsOn": "Queue"},
        "Role": {"Properties": {}},
        "Queue": {"Properties": {}},
    }
    assert creation_order(resources, evaluator()) == ["Role", "Function", "Queue", "Rule"]


def test_a_cycle_is_reported_with_its_path() -> None:
    resources: dict[str, dict[str, Any]] = {
        "A": {"Properties": {"X": {"Ref": "B"}}},
        "B": {"Properties": {"X": {"Fn::GetAtt": ["C", "Arn"]}}},
        "C": {"DependsOn": ["A"]},
    }
    with pytest.raises(
        TemplateError, match="circular dependency between resources: A -> B -> C -> A"
    ):
        creation_order(resources, evaluator())


def test_a_reference_to_a_resource_not_created_is_reported() -> None:
    resources = {"A": {"Properties": {"X": {"Ref": "Missing"}}}}
    with pytest.raises(
        TemplateError, match="A refers to Missing, which the template does not create"
    ):
        creation_order(resources, evaluator())


def test_yaml_short_forms_and_dates(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "AWSTemplateFormatVersion: 2010-09-09\n"
        "Resources:\n"
        "  Q:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !GetAtt Other.Arn\n"
        "      B: !Sub ['${X}', {X: !Ref Stage}]\n"
        "      C: !If [IsProd, !Join ['', [a, b]], !Ref 'AWS::NoValue']\n"
        "      D: !Equals [a, b]\n"
    )
    loaded = load_template(template)
    assert loaded["AWSTemplateFormatVersion"] == "2010-09-09"
    assert loaded["Resources"]["Q"]["Properties"] == {
        "A": {"Fn::GetAtt": ["Other", "Arn"]},
        "B": {"Fn::Sub": ["${X}", {"X": {"Ref": "Stage"}}]},
        "C": {"Fn::If": ["IsProd", {"Fn::Join": ["", ["a", "b"]]}, {"Ref": "AWS::NoValue"}]},
        "D": {"Fn::Equals": ["a", "b"]},
    }


def test_a_file_without_resources_is_not_a_template(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text("Description: nothing\n")
    with pytest.raises(TemplateError, match="has no Resources section"):
        load_template(template)
