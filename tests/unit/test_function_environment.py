"""Every environment variable a function reads is set on it in template.yaml, and back.

What a handler reads is its configuration model (``fleetpatch_lambda.config``: each
field's alias is a variable; the model lives in ``fleetpatch_lambda.inputs`` and the handler
imports it when it runs); what the layer reads directly is found in its source
(``os.environ`` / ``os.getenv`` with a literal name). The template sets variables in
``Globals`` and per function. Four properties:

- every variable a function reads is set on it (or set by Lambda itself);
- every ``FLEETPATCH_*`` variable a function sets is read by that function;
- every ``FLEETPATCH_*`` variable in ``Globals`` is read by a function that takes it from
  there (a function that sets its own hides the global);
- one name per resource: two variables never carry the same value.

Like tests/unit/test_template_security.py, each check also runs on a mutated copy, so it
is known to fail.
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fleetpatch_lambda.config import FunctionConfig

from localcloud.cloud import REPO_ROOT
from localcloud.intrinsics import load_template

Template = dict[str, Any]
Reads = Mapping[str, frozenset[str]]  # CodeUri -> the variables its handler reads

LAYER = REPO_ROOT / "layers" / "fleetpatch"

# Set by Lambda in every execution environment (an independent oracle, restated from
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime):
# a function reads them without the template setting them.
LAMBDA_RESERVED = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
OURS = "FLEETPATCH_"


# --- what the code reads ----------------------------------------------------------------------


def handler_config_models(code_uri: str, handler: str) -> list[type[FunctionConfig]]:
    """The configuration models a handler uses: those it defines, and those it imports from
    ``fleetpatch_lambda.inputs`` (at module level or, as handlers do to keep pydantic out of
    their cold start, inside a function): every ``from ... import`` of its source, resolved."""
    module_name = handler.rpartition(".")[0]
    package = ".".join(Path(code_uri.rstrip("/")).parts)
    module = importlib.import_module(f"{package}.{module_name}")
    assert module.__file__ is not None
    candidates = list(vars(module).values())
    for node in ast.walk(ast.parse(Path(module.__file__).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported = importlib.import_module(node.module)
            candidates += [getattr(imported, alias.name, None) for alias in node.names]
    models = [
        value
        for value in candidates
        if isinstance(value, type)
        and issubclass(value, FunctionConfig)
        and value is not FunctionConfig
    ]
    return list(dict.fromkeys(models))


def handler_reads(code_uri: str, handler: str) -> frozenset[str]:
    """The variables the handler's configuration models read (their fields' aliases)."""
    return frozenset(
        field.alias or name
        for model in handler_config_models(code_uri, handler)
        for name, field in model.model_fields.items()
    )


def source_reads(source: str) -> frozenset[str]:
    """Variables read by name in ``source``: os.environ[...], os.environ.get(...), os.getenv(...)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        name: ast.expr | None = None
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            name = node.slice
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in {
            "os.environ.get",
            "os.getenv",
            "os.environ.setdefault",
        }:
            name = node.args[0] if node.args else None
        if name is not None:
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                raise AssertionError(
                    f"an environment variable read by a computed name: {ast.unparse(node)}"
                )
            found.add(name.value)
    return frozenset(found)


@cache
def layer_reads() -> frozenset[str]:
    """What the layer (domain and Lambda wiring) reads directly: any handler may call it."""
    return frozenset().union(
        *(source_reads(path.read_text()) for path in sorted(LAYER.rglob("*.py")))
    )


# --- what the template sets -------------------------------------------------------------------


def _variables(properties: Mapping[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = (properties.get("Environment") or {}).get("Variables") or {}
    return variables


def functions(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            yield logical_id, resource["Properties"]


def global_variables(template: Template) -> dict[str, Any]:
    return _variables(template.get("Globals", {}).get("Function", {}))


def all_reads(template: Template) -> dict[str, frozenset[str]]:
    return {
        properties["CodeUri"]: handler_reads(properties["CodeUri"], properties["Handler"])
        for _, properties in functions(template)
    }


# --- the checks ---------------------------------------------------------------------------------


def environment_problems(template: Template, reads: Reads, layer: frozenset[str]) -> list[str]:
    problems: list[str] = []
    shared = global_variables(template)
    read_from_globals: set[str] = set()
    for logical_id, properties in functions(template):
        own = _variables(properties)
        available = set(shared) | set(own) | LAMBDA_RESERVED
        handler = reads[properties["CodeUri"]]
        for name in sorted(handler - available):
            problems.append(f"{logical_id} reads {name}, which the template does not set on it")
        # The layer's own reads of our variables: any function may run that code.
        for name in sorted({n for n in layer if n.startswith(OURS)} - available):
            problems.append(f"{logical_id} may run layer code reading {name}, which is not set")
        read = handler | layer
        for name in sorted(n for n in own if n.startswith(OURS) and n not in read):
            problems.append(f"{logical_id} sets {name}, which its handler never reads")
        read_from_globals |= {n for n in read if n in shared and n not in own}
    for name in sorted(n for n in shared if n.startswith(OURS) and n not in read_from_globals):
        problems.append(
            f"Globals sets {name}, which no function reads from there "
            "(unread, or every reader sets its own)"
        )
    return problems


def resource_name_problems(template: Template) -> list[str]:
    """One variable name per value: the same resource is never passed under two names."""
    names: dict[str, set[str]] = defaultdict(set)
    scopes = [("Globals", global_variables(template))] + [
        (logical_id, _variables(properties)) for logical_id, properties in functions(template)
    ]
    for _, variables in scopes:
        for name, value in variables.items():
            # A resource is a reference (Ref, GetAtt, Sub); equal plain settings ("2") are not
            # one thing passed twice.
            if name.startswith(OURS) and isinstance(value, dict):
                names[json.dumps(value, sort_keys=True)].add(name)
    return [
        f"{value} is passed as {', '.join(sorted(found))}: one name per resource"
        for value, found in sorted(names.items())
        if len(found) > 1
    ]


# --- the tests --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template(REPO_ROOT / "template.yaml")


@pytest.fixture(scope="module")
def reads(template: Template) -> Iterator[dict[str, frozenset[str]]]:
    with pytest.MonkeyPatch.context() as env:
        # Importing a handler decorates it (with tracing on that builds the X-Ray tracer)
        # and builds powertools' Metrics, which keeps the namespace of its first import.
        env.setenv("POWERTOOLS_TRACE_DISABLED", "true")
        env.setenv("POWERTOOLS_SERVICE_NAME", "fleetpatch")
        env.setenv("POWERTOOLS_METRICS_NAMESPACE", "Fleetpatch")
        yield all_reads(template)


def _function(template: Template, logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


def _set(template: Template, logical_id: str, name: str, value: Any) -> None:
    environment = _function(template, logical_id).setdefault("Environment", {})
    environment.setdefault("Variables", {})[name] = value


def test_every_function_reads_what_it_is_given_and_is_given_what_it_reads(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    assert environment_problems(template, reads, layer_reads()) == []


def test_a_variable_the_handler_reads_but_the_template_does_not_set_is_found(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    # Given the template without the gated-wave ARN batch-gate's configuration requires
    mutated = copy.deepcopy(template)
    del _function(mutated, "BatchGateFunction")["Environment"]["Variables"][
        "FLEETPATCH_GATED_WAVE_ARN"
    ]
    # Then the check names the function and the variable
    assert environment_problems(mutated, reads, layer_reads()) == [
        "BatchGateFunction reads FLEETPATCH_GATED_WAVE_ARN, which the template does not set on it"
    ]


def test_a_global_the_handlers_read_is_missed_by_every_function(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    mutated = copy.deepcopy(template)
    del mutated["Globals"]["Function"]["Environment"]["Variables"]["FLEETPATCH_TABLE_NAME"]
    problems = environment_problems(mutated, reads, layer_reads())
    assert (
        "PublishReportFunction reads FLEETPATCH_TABLE_NAME, which the template does not set on it"
        in problems
    )
    assert all("FLEETPATCH_TABLE_NAME" in p for p in problems)


def test_a_variable_nothing_reads_is_found(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    mutated = copy.deepcopy(template)
    # Given a variable patch-batch never reads, and the stage set again in Globals (only
    # batch-gate reads it, and batch-gate sets its own)
    _set(mutated, "PatchBatchFunction", "FLEETPATCH_UNUSED", "x")
    mutated["Globals"]["Function"]["Environment"]["Variables"]["FLEETPATCH_STAGE"] = {
        "Ref": "Stage"
    }
    assert environment_problems(mutated, reads, layer_reads()) == [
        "PatchBatchFunction sets FLEETPATCH_UNUSED, which its handler never reads",
        "Globals sets FLEETPATCH_STAGE, which no function reads from there "
        "(unread, or every reader sets its own)",
    ]


def test_a_layer_read_of_our_variable_must_be_set_on_every_function(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    layer = layer_reads() | source_reads('import os\nos.environ["FLEETPATCH_NEW"]\n')
    problems = environment_problems(template, reads, layer)
    assert len(problems) == len(list(functions(template)))
    assert all(
        p.endswith("may run layer code reading FLEETPATCH_NEW, which is not set") for p in problems
    )


def test_source_reads_finds_every_spelling() -> None:
    source = (
        "import os\n"
        'os.environ["A"]\n'
        'os.environ.get("B", "x")\n'
        'os.getenv("C")\n'
        'os.environ.setdefault("D", "1")\n'
    )
    assert source_reads(source) == {"A", "B", "C", "D"}
    with pytest.raises(AssertionError, match="computed name"):
        source_reads("import os\nname = 'X'\nos.environ[name]\n")


def test_one_name_per_resource(template: Template) -> None:
    assert resource_name_problems(template) == []


def test_a_resource_passed_under_two_names_is_found(template: Template) -> None:
    # Given the artifacts bucket passed to patch-batch under a second name
    mutated = copy.deepcopy(template)
    _set(
        mutated,
        "PatchBatchFunction",
        "FLEETPATCH_ARTIFACTS_BUCKET_NAME",
        {"Ref": "ArtifactsBucket"},
    )
    assert resource_name_problems(mutated) == [
        '{"Ref": "ArtifactsBucket"} is passed as FLEETPATCH_ARTIFACTS_BUCKET, '
        "FLEETPATCH_ARTIFACTS_BUCKET_NAME: one name per resource"
    ]


def test_the_models_found_are_those_the_handler_imports_when_it_runs(
    template: Template, reads: dict[str, frozenset[str]]
) -> None:
    from fleetpatch_lambda.inputs import command_status

    # Given command-status, whose handler imports its Config inside lambda_handler
    assert handler_config_models("functions/command_status/", "app.lambda_handler") == [
        command_status.Config
    ]
    # And every handler that loads a configuration has its model found (none is read as empty)
    for logical_id, properties in functions(template):
        source = (REPO_ROOT / properties["CodeUri"] / "app.py").read_text()
        if "load_config(" in source:
            assert reads[properties["CodeUri"]], logical_id
