"""Importing a handler does no heavy work: no pydantic model is built at import (issue 19).

Every model of the layer and of the handlers defers its build (``defer_build=True``): a
model is built when it first validates or serializes, so a handler pays only for the
models it uses, and a cold start only for what the first invocation needs. The probe
imports every handler in one fresh interpreter, as Lambda would (function directory and
layer on the path, each ``app.py`` under its own name), then lists the layer's and the
handlers' ``BaseModel`` classes that are already complete (built).
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "fleetpatch"
FUNCTIONS = REPO_ROOT / "functions"
HANDLERS = sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py"))

PROBE = """\
import importlib.util, json, sys
from pydantic import BaseModel

# What the check runs first (a mutation test prepends an eager model here).
__SETUP__

for name, path in json.loads(sys.argv[1]).items():
    spec = importlib.util.spec_from_file_location(f"handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(spec.origin).rsplit("/", 1)[0])
    spec.loader.exec_module(module)
    sys.path.pop(0)


def models(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from models(sub)


ours = [
    m for m in set(models(BaseModel))
    if m.__module__.split(".")[0] in {"fleetpatch", "fleetpatch_lambda"}
    or m.__module__.startswith("handler_")
]
print(json.dumps({
    "models": len(ours),
    "built": sorted(f"{m.__module__}.{m.__qualname__}" for m in ours if m.__pydantic_complete__),
}))
"""


def built_at_import(setup: str = "") -> dict[str, object]:
    handlers = {name: str(FUNCTIONS / name / "app.py") for name in HANDLERS}
    done = subprocess.run(
        [sys.executable, "-P", "-c", PROBE.replace("__SETUP__", setup), json.dumps(handlers)],
        env={
            "PYTHONPATH": str(LAYER),
            "AWS_DEFAULT_REGION": "eu-central-1",
            "POWERTOOLS_TRACE_DISABLED": "true",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_importing_every_handler_builds_no_model() -> None:
    # Given every handler imported, as Lambda imports each at cold start
    result = built_at_import()
    # Then the probe saw the models (handlers', events', the policy's) and none is built
    assert isinstance(result["models"], int)
    assert result["models"] > 30
    assert result["built"] == []


def test_the_check_sees_a_model_built_at_import() -> None:
    # Given a layer module whose model builds eagerly (no defer_build)
    setup = (
        "import fleetpatch.ids\n"
        "class Eager(BaseModel):\n"
        "    x: int\n"
        "Eager.__module__ = 'fleetpatch.ids'\n"
    )
    # Then the check names it
    assert built_at_import(setup)["built"] == ["fleetpatch.ids.Eager"]
