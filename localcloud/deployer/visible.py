"""A deployed stack as CloudFormation shows it: DescribeStacks, its outputs and parameters.

The deployer creates each resource itself (:mod:`localcloud.deployer.deploy`), so moto's
CloudFormation backend never hears of the stack: ``aws cloudformation describe-stacks``
(and ``fleetpatch doctor``, which reads the stack's outputs) would answer "Stack with id
... does not exist". Here a deployed stack is also recorded in that backend, as
CloudFormation keeps it after a successful create: status ``CREATE_COMPLETE``, its
parameters, its outputs with their descriptions, its description. Its resources stay
where the deployer put them (moto's stack is given none: it would create them again).

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_core.py):
``moto.cloudformation.models.Stack(stack_id, name, template, parameters, account_id,
region_name)`` builds its outputs from the template's ``Outputs`` (literal values are kept
as they are), ``Stack.mark_creation_complete()`` and the backend's ``stacks`` dict (stack
id -> ``Stack``), reached through ``moto.cloudformation.models.cloudformation_backends``.
"""

from __future__ import annotations

import json
from typing import Any

from localcloud.deployer.stack import Stack


def record(account_id: str, region: str, stack: Stack) -> None:
    """Make ``stack`` visible to the CloudFormation API of ``account_id`` in ``region``."""
    from moto.cloudformation.models import Stack as MotoStack
    from moto.cloudformation.models import cloudformation_backends

    declared = stack.template.get("Outputs") or {}
    outputs = {
        key: {
            "Value": _text(value),
            **(
                {"Description": declared[key]["Description"]}
                if isinstance(declared.get(key), dict) and "Description" in declared[key]
                else {}
            ),
        }
        for key, value in stack.outputs.items()
    }
    parameters = {name: _text(value) for name, value in stack.parameters.items()}
    template: dict[str, Any] = {
        "Parameters": {name: {"Type": "String"} for name in parameters},
        "Resources": {},
        "Outputs": outputs,
    }
    if description := stack.template.get("Description"):
        template["Description"] = description
    backend = cloudformation_backends[account_id][region]
    for stack_id, existing in list(backend.stacks.items()):
        if existing.name == stack.name:
            del backend.stacks[stack_id]  # redeployed: the new one replaces it
    moto_stack = MotoStack(  # type: ignore[abstract]
        stack.stack_id,
        stack.name,
        json.dumps(template),
        parameters,
        account_id,
        region,
    )
    moto_stack.mark_creation_complete()
    backend.stacks[stack.stack_id] = moto_stack


def _text(value: Any) -> str:
    """An output or parameter value as CloudFormation returns it: a string."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return json.dumps(value)
