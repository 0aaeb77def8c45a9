"""Load a Lambda handler from its code directory, as the Lambda runtime would.

Every function's module is called ``app``; each load gets a unique module name so several
functions, and several clouds, live in one interpreter. Like a Lambda execution environment,
each load is a cold start: module state (caches, counters) is never shared between clouds.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LambdaHandler = Callable[[Any, Any], Any]

_environments = itertools.count(1)


def load_handler(code_dir: Path, handler: str) -> LambdaHandler:
    """Import ``<code_dir>/<module>.py``; return the function ``handler`` names.

    ``handler`` is Lambda's ``module.function`` (``app.lambda_handler``).
    """
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"handler {handler!r} is not of the form 'module.function'")
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} does not exist")
    unique_name = (
        f"fleetpatch_fn_{code_dir.resolve().name}_{module_name.replace('.', '_')}"
        f"_{next(_environments)}"
    )
    spec = importlib.util.spec_from_file_location(unique_name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs: pydantic and dataclasses look their module up by name.
    sys.modules[unique_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique_name]
        raise
    function: LambdaHandler = getattr(module, function_name)
    return function
