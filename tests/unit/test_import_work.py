"""Importing a handler does no heavy work (issue 19: cold start).

Every model of the layer and of the handlers defers its build (``defer_build=True``): a
model is built when it first validates or serializes, so a handler pays only for the
models it uses, and a cold start only for what the first invocation needs. And a handler's
module imports only the edge (observability, the event edge) and no pydantic: its
configuration and request models (``fleetpatch_lambda.inputs``), the event models, the
router, the use cases and the policy are imported by the handler when it runs. The probe imports every handler in one fresh interpreter, as Lambda
would (function directory and layer on the path, each ``app.py`` under its own name), notes
which modules that loaded, then imports every module of the layer and lists the layer's and
the handlers' ``BaseModel`` classes that are already complete (built).
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

# What the check runs first (a mutation test prepends an eager model here).
__SETUP__

handlers = []  # kept: a class only weakly referenced by __subclasses__ could be collected
for name, path in json.loads(sys.argv[1]).items():
    spec = importlib.util.spec_from_file_location(f"handler_{name}", path)
    module = importlib.util.module_from_spec(spec)
    # Registered, as Lambda's import (and the local cloud's) registers it: pydantic resolves
    # a model's annotations through its module, and builds one it can resolve.
    sys.modules[spec.name] = module
    sys.path.insert(0, str(spec.origin).rsplit("/", 1)[0])
    spec.loader.exec_module(module)
    handlers.append(module)
    sys.path.pop(0)
at_import = sorted(sys.modules)
from pydantic import BaseModel

# Then every model of the layer is defined, as the handlers' first invocations define them.
import fleetpatch, fleetpatch_lambda, pkgutil
for package in (fleetpatch, fleetpatch_lambda):
    for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(found.name)


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
    "at_import": at_import,
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
    assert result["models"] > 100
    assert result["built"] == []


def test_the_check_sees_a_model_built_at_import() -> None:
    # Given a layer module whose model builds eagerly (no defer_build)
    setup = (
        "import fleetpatch.ids\n"
        "from pydantic import BaseModel\n"
        "class Eager(BaseModel):\n"
        "    x: int\n"
        "Eager.__module__ = 'fleetpatch.ids'\n"
    )
    # Then the check names it
    assert built_at_import(setup)["built"] == ["fleetpatch.ids.Eager"]


# What a handler's import may load of the layer: the edge (observability, the event edge, the
# boto3 clients' home, errors, the clock), nothing that defines a model: not the ids, the
# configuration, a function's inputs, the events, the policy, the runtime batch or a use case.
EDGE = frozenset(
    {
        "fleetpatch",
        "fleetpatch.aws",
        "fleetpatch.clock",
        "fleetpatch.errors",
        "fleetpatch_lambda",
        "fleetpatch_lambda.edge",
        "fleetpatch_lambda.observability",
    }
)
# Third-party modules a handler's import leaves to its first invocation: powertools (the
# Logger, Metrics and idempotency utility are created when the handler first runs), the
# X-Ray SDK (only with tracing on) and pydantic (every model, the configuration's included,
# is defined in the layer's modules the handler imports when it runs).
DEFERRED = ("aws_lambda_powertools", "aws_xray_sdk", "pydantic")


def beyond_the_edge(result: dict[str, object]) -> list[str]:
    modules = result["at_import"]
    assert isinstance(modules, list)
    return [
        m
        for m in modules
        if (m.split(".")[0] in {"fleetpatch", "fleetpatch_lambda"} and m not in EDGE)
        or m.startswith(DEFERRED)
    ]


def test_importing_every_handler_loads_only_the_edge() -> None:
    # Given every handler imported, as Lambda imports each at cold start
    result = built_at_import()
    # Then the layer's modules loaded are the edge's (the probe did import it)
    assert "fleetpatch_lambda.observability" in result["at_import"]
    assert beyond_the_edge(result) == []


def test_the_check_sees_a_heavy_module_imported_at_import() -> None:
    # Given a handler that imports the event models and a use case at module level
    setup = "import fleetpatch.events, fleetpatch.services.launch\n"
    # Then the check names them (and what they brought)
    heavy = beyond_the_edge(built_at_import(setup))
    assert {"fleetpatch.events", "fleetpatch.services.launch", "fleetpatch.launch"} <= set(heavy)


def test_importing_every_handler_loads_no_pydantic() -> None:
    # Given every handler imported, as Lambda imports each at cold start
    modules = built_at_import()["at_import"]
    assert isinstance(modules, list)
    # Then pydantic is not loaded (nor pydantic_core), and the inputs are left to the invocation
    assert [m for m in modules if m.startswith(("pydantic", "fleetpatch_lambda.inputs"))] == []


def test_the_check_sees_pydantic_imported_at_import() -> None:
    # Given a handler whose module defines its configuration (as handlers did before)
    setup = "import fleetpatch_lambda.config\n"
    # Then the check names the configuration module and pydantic
    heavy = beyond_the_edge(built_at_import(setup))
    assert {"fleetpatch_lambda.config", "pydantic", "pydantic_core"} <= set(heavy)
