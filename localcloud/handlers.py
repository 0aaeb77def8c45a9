"""Load a Lambda handler from its code directory, as the Lambda runtime would.

Every function's module is called ``app``; each is loaded under a unique module name so
several functions can live in one interpreter (the local cloud, the tests).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

LambdaHandler = Callable[[Any, Any], Any]


def load_handler(code_dir: Path, handler: str) -> LambdaHandler:
    """Import ``<code_dir>/<module>.py``; return its function (``handler`` = "app.lambda_handler")."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"handler {handler!r} is not of the form 'module.function'")
    source = code_dir / f"{module_name.replace('.', '/')}.py"
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} does not exist")
    unique_name = f"fleetpatch_fn_{code_dir.resolve().name}_{module_name.replace('.', '_')}"
    module = sys.modules.get(unique_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique_name, source)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[unique_name]
            raise
    function: LambdaHandler = getattr(module, function_name)
    return function
