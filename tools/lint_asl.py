"""Lint ASL files: statelint, plus the JSONata that statelint 3.1.0 cannot read.

AWS accepts a JSONata expression ({% ... %}) in the numeric fields of JSONata states
(Wait ``Seconds``, Task ``TimeoutSeconds``/``HeartbeatSeconds``, Map ``MaxConcurrency``,
``ToleratedFailure*``); statelint 3.1.0 insists on integers there. For those fields only,
this script compiles the expression with jsonata-python (a syntax error fails the lint),
substitutes an integer, and hands the rest of the definition to statelint unchanged.
Every other field, and every other problem statelint finds, is reported as is.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonata

NUMERIC_FIELDS = {
    "Seconds",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "MaxConcurrency",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
}


def _is_jsonata(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("{%") and value.endswith("%}")


def _substitute(node: Any, path: str, problems: list[str]) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in NUMERIC_FIELDS and _is_jsonata(value):
                try:
                    jsonata.Jsonata(value[2:-2].strip())
                except Exception as exc:  # jsonata-python raises its own exception types
                    problems.append(f"{where}: JSONata does not compile: {exc}")
                result[key] = 1
            else:
                result[key] = _substitute(value, where, problems)
        return result
    if isinstance(node, list):
        return [_substitute(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def lint(path: Path, statelint: str) -> int:
    problems: list[str] = []
    definition = _substitute(json.loads(path.read_text()), "State Machine", problems)
    with tempfile.NamedTemporaryFile("w", suffix=".asl.json", delete=False) as handle:
        json.dump(definition, handle)
    result = subprocess.run(  # noqa: S603 - our own venv's statelint on our own file
        [statelint, "--ignore=FLOAT", handle.name], capture_output=True, text=True, check=False
    )
    Path(handle.name).unlink()
    for problem in problems:
        print(f"{path}: {problem}")
    if result.returncode != 0:
        print(f"{path}: statelint:\n{result.stdout}{result.stderr}", end="")
    return 1 if problems or result.returncode != 0 else 0


def main(argv: list[str]) -> int:
    statelint = str(Path(sys.executable).with_name("statelint"))
    files = [Path(a) for a in argv]
    if not files:
        print("no ASL files to lint")
        return 0
    failed = sum(lint(f, statelint) for f in files)
    if not failed:
        print(f"{len(files)} state machine(s) pass statelint and JSONata checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
