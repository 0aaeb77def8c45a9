"""The repository's own template.yaml deploys into the local cloud, whole and runnable."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from localcloud.cloud import REPO_ROOT, LocalCloud
from localcloud.deployer.stack import Stack

TEMPLATE = REPO_ROOT / "template.yaml"

pytestmark = pytest.mark.skipif(not TEMPLATE.exists(), reason="template.yaml does not exist yet")


@pytest.fixture(scope="module")
def deployed() -> Iterator[tuple[LocalCloud, Stack]]:
    with LocalCloud() as cloud:
        stack = cloud.deploy()
        yield cloud, stack


def test_every_function_runs_code_from_the_repository(
    deployed: tuple[LocalCloud, Stack],
) -> None:
    cloud, stack = deployed
    functions = stack.of_type("AWS::Lambda::Function")
    assert functions
    for function in functions:
        spec = cloud.lambdas.functions[function.physical_id]
        assert spec.code_dir.is_relative_to(REPO_ROOT / "functions"), function.logical_id
        assert (spec.code_dir / "app.py").is_file(), function.logical_id


def test_every_rule_targets_something_deployed_with_a_dead_letter_queue(
    deployed: tuple[LocalCloud, Stack],
) -> None:
    cloud, stack = deployed
    arns = {str(r.attributes.get("Arn", r.physical_id)) for r in stack.resources.values()}
    events = cloud.client("events")
    for rule in stack.of_type("AWS::Events::Rule"):
        targets = events.list_targets_by_rule(Rule=rule.physical_id)["Targets"]
        assert targets, rule.logical_id
        for target in targets:
            assert target["Arn"] in arns, (rule.logical_id, target["Arn"])
            assert target["DeadLetterConfig"]["Arn"] in arns, rule.logical_id


def test_state_machines_have_every_placeholder_substituted(
    deployed: tuple[LocalCloud, Stack],
) -> None:
    cloud, stack = deployed
    sfn = cloud.client("stepfunctions")
    for machine in stack.of_type("AWS::StepFunctions::StateMachine"):
        definition = sfn.describe_state_machine(stateMachineArn=machine.physical_id)["definition"]
        assert "${" not in definition, machine.logical_id
        assert json.loads(definition)["States"], machine.logical_id
