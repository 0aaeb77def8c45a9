"""The local cloud's layers, checked from the source (until import-linter runs in make lint).

Bottom to top: ``localcloud.core`` (clock, registry, faults, IAM, rate limits, moto
patching), ``localcloud.sim`` (the simulators), ``localcloud.adapters`` (moto adapters),
the deployer, and on top the composition root (``localcloud.cloud``) with the runner, the
recorder, the server and the scenario model. Every ``import`` counts, at module level, under
``if TYPE_CHECKING:`` or inside a function; cycles are looked for among the imports that
run (``TYPE_CHECKING`` ones do not).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from localcloud.cloud import REPO_ROOT

PACKAGE = REPO_ROOT / "localcloud"

# Layer name -> the modules (by prefix) it may import from localcloud.
CORE = "localcloud.core"
SIM = "localcloud.sim"
ADAPTERS = "localcloud.adapters"
DEPLOYER = ("localcloud.deployer", "localcloud.intrinsics")
TOP = (
    "localcloud.cloud",
    "localcloud.runner",
    "localcloud.recorder",
    "localcloud.server",
    "localcloud.scenario",
    "localcloud.timeline",
    "localcloud.slack",
    "localcloud.demo",
)
ALLOWED: dict[str, tuple[str, ...]] = {
    CORE: (CORE,),
    SIM: (CORE, SIM),
    ADAPTERS: (CORE, SIM, ADAPTERS),
}
# What the deployer must not build on (it may name LocalCloud's type, the cloud it deploys to).
DEPLOYER_FORBIDDEN = tuple(m for m in TOP if m != "localcloud.cloud")
FORBIDDEN_EVERYWHERE = ("fleetpatch_cli",)


@dataclass(frozen=True)
class Import:
    target: str  # the module imported (for ``from a import b``: a.b if that is a module, else a)
    line: int
    runtime: bool  # False under ``if TYPE_CHECKING:``
    in_function: bool


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, module: str, known: set[str]) -> list[Import]:
    """Every import in ``source`` (the module ``module``), resolved against ``known`` modules."""
    found: list[Import] = []
    package = module if module in _packages(known) else module.rpartition(".")[0]

    def visit(node: ast.AST, *, runtime: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit_one(stmt, runtime=False, in_function=in_function)
                for stmt in child.orelse:
                    visit_one(stmt, runtime=runtime, in_function=in_function)
                continue
            visit_one(child, runtime=runtime, in_function=in_function)

    def visit_one(node: ast.AST, *, runtime: bool, in_function: bool) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in _import_targets(node, package, known):
                found.append(Import(target, node.lineno, runtime, in_function))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        visit(node, runtime=runtime, in_function=inner)

    visit(ast.parse(source), runtime=True, in_function=False)
    return found


def _import_targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> list[str]:
    """The modules an import statement names, relative ones resolved from ``package``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
    candidates = (f"{base}.{alias.name}" for alias in node.names)
    return [candidate if candidate in known else base for candidate in candidates]


def _packages(known: set[str]) -> set[str]:
    return {m.rpartition(".")[0] for m in known if "." in m}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def localcloud_sources() -> dict[str, str]:
    return {module_name(p): p.read_text() for p in sorted(PACKAGE.rglob("*.py"))}


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(sources: dict[str, str]) -> list[str]:
    """Imports that break the layer order, as "module:line imports target"."""
    known = set(sources)
    problems = []
    for module, source in sources.items():
        for imp in imports_of(source, module, known):
            where = f"{module}:{imp.line} imports {imp.target}"
            if any(_within(imp.target, f) for f in FORBIDDEN_EVERYWHERE):
                problems.append(f"{where} (localcloud never imports the CLI)")
            if not _within(imp.target, "localcloud"):
                continue
            for layer, allowed in ALLOWED.items():
                if _within(module, layer) and not any(_within(imp.target, a) for a in allowed):
                    problems.append(f"{where} ({layer} may import only {', '.join(allowed)})")
            below = any(_within(module, d) for d in DEPLOYER) and imp.runtime
            if below and any(_within(imp.target, t) for t in DEPLOYER_FORBIDDEN):
                problems.append(f"{where} (the deployer is below {imp.target})")
    return problems


def import_cycles(sources: dict[str, str]) -> list[list[str]]:
    """Cycles among the localcloud modules, following every import that runs."""
    graph = _import_graph(sources)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return cycles


def _import_graph(sources: dict[str, str]) -> dict[str, set[str]]:
    """module -> the localcloud modules importing it runs (its own imports and its parents)."""
    known = set(sources)
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for module, source in sources.items():
        for imp in imports_of(source, module, known):
            if imp.runtime and imp.target in known and imp.target != module:
                graph[module].add(imp.target)
    # A package's __init__ runs before its modules: importing a.b imports a.
    for module in sources:
        graph[module] |= _parents(module, known)
    return graph


def _parents(module: str, known: set[str]) -> set[str]:
    """The packages above ``module`` that are localcloud modules, up to the first that is not."""
    parents = set()
    parent = module.rpartition(".")[0]
    while parent and parent in known:
        if parent != module:
            parents.add(parent)
        parent = parent.rpartition(".")[0]
    return parents


def test_every_layer_imports_only_below_it() -> None:
    assert layer_violations(localcloud_sources()) == []


def test_no_import_cycles_between_localcloud_modules() -> None:
    assert import_cycles(localcloud_sources()) == []


def test_the_check_sees_the_package() -> None:
    sources = localcloud_sources()
    for layer in (CORE, SIM, ADAPTERS):
        assert any(_within(m, layer) for m in sources), layer


# --- the check itself refuses what it should ---------------------------------------------


def _with(module: str, source: str) -> dict[str, str]:
    return {**localcloud_sources(), module: source}


@pytest.mark.parametrize(
    ("module", "source", "reason"),
    [
        ("localcloud.core.mutant", "from localcloud.sim import fleet\n", "localcloud.core may"),
        (
            "localcloud.core.mutant",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from localcloud.cloud import LocalCloud\n",
            "localcloud.core may",
        ),
        ("localcloud.sim.mutant", "from localcloud.adapters import ssm\n", "localcloud.sim may"),
        (
            "localcloud.sim.mutant",
            "def f():\n    from localcloud.cloud import active\n    return active()\n",
            "localcloud.sim may",
        ),
        ("localcloud.adapters.mutant", "import localcloud.runner\n", "localcloud.adapters may"),
        ("localcloud.adapters.mutant", "from localcloud import deployer\n", "localcloud.adapters"),
        ("localcloud.deployer.mutant", "from fleetpatch_cli import yamlfile\n", "never imports"),
        (
            "localcloud.deployer.deploy",
            "from localcloud.runner import play\n",
            "the deployer is below",
        ),
    ],
)
def test_a_forbidden_import_is_refused(module: str, source: str, reason: str) -> None:
    problems = layer_violations(_with(module, source))
    assert any(p.startswith(module) and reason in p for p in problems), problems


def test_a_cycle_through_an_in_function_import_is_refused() -> None:
    sources = _with(
        "localcloud.sim.mutant_a",
        "def later():\n    from localcloud.sim import mutant_b\n",
    )
    sources["localcloud.sim.mutant_b"] = "from localcloud.sim import mutant_a\n"
    cycles = import_cycles(sources)
    assert any({"localcloud.sim.mutant_a", "localcloud.sim.mutant_b"} <= set(c) for c in cycles)


def test_a_type_checking_import_makes_no_cycle() -> None:
    sources = _with(
        "localcloud.sim.mutant_a",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from localcloud.sim import mutant_b\n",
    )
    sources["localcloud.sim.mutant_b"] = "from localcloud.sim import mutant_a\n"
    assert import_cycles(sources) == []
