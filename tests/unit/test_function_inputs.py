"""Each function's inputs (``fleetpatch_lambda.inputs.<function>``): one module per function,
and every model in it complete once built.

The models defer their build (cold start, issue 19), so a field type they cannot resolve would
only show at a function's first invocation; building each here shows it now.
"""

from __future__ import annotations

import importlib
import pkgutil

import fleetpatch_lambda.inputs
import pytest
from pydantic import BaseModel

from tests.conftest import REPO_ROOT

FUNCTIONS = sorted(path.parent.name for path in (REPO_ROOT / "functions").glob("*/app.py"))
MODULES = sorted(found.name for found in pkgutil.iter_modules(fleetpatch_lambda.inputs.__path__))


def test_one_inputs_module_per_function() -> None:
    assert MODULES == FUNCTIONS


@pytest.mark.parametrize("name", MODULES)
def test_every_model_builds(name: str) -> None:
    module = importlib.import_module(f"fleetpatch_lambda.inputs.{name}")
    models = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
    ]
    assert models
    for model in models:
        model.model_rebuild()
        assert model.__pydantic_complete__, model.__qualname__
