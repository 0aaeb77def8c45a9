"""The layer carries only what handlers run: it never imports the build-time packages."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

LAYER = REPO_ROOT / "layers" / "fleetpatch"
# Authoring (schema, checks, renderer), the operators' CLI and the local cloud use the layer;
# the layer uses none of them (nor the YAML parser only they need).
FORBIDDEN = ("fleetpatch_authoring", "fleetpatch_cli", "localcloud", "yaml")

# Every module of the layer, imported in a fresh interpreter with the layer alone on the
# path, as Lambda has it; then what got imported besides.
PROBE = """\
import importlib, json, pkgutil, sys
import fleetpatch, fleetpatch_lambda
for package in (fleetpatch, fleetpatch_lambda):
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
print(json.dumps(sorted(sys.modules)))
"""


def imported_by_the_layer(probe: str = PROBE) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe],
        env={"PYTHONPATH": str(LAYER), "AWS_DEFAULT_REGION": "eu-central-1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in FORBIDDEN]


def test_the_layer_imports_no_authoring_cli_or_local_cloud_code() -> None:
    modules = imported_by_the_layer()
    assert "fleetpatch.policy" in modules  # the probe did import the layer
    assert forbidden(modules) == []


def test_the_check_sees_a_forbidden_import() -> None:
    # The same probe on a layer that imported the authoring package would fail.
    mutated = PROBE.replace("import fleetpatch,", "import fleetpatch_authoring.policy, fleetpatch,")
    probe = f"import sys; sys.path.append({str(REPO_ROOT / 'authoring')!r})\n" + mutated
    assert "fleetpatch_authoring.policy" in forbidden(imported_by_the_layer(probe))
