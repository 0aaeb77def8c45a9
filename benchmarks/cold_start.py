"""Cold start: each handler's import in a fresh interpreter, next to ``import boto3``.

Every handler is ``functions/<name>/app.py``, imported as Lambda imports it: module ``app``
with ``PYTHONPATH = functions/<name>:layers/fleetpatch``, the function directory as the
working directory and an environment like the template's, with tracing off
(``POWERTOOLS_TRACE_DISABLED=true``), dummy credentials and no endpoint override.

Each run starts one fresh interpreter for ``import boto3`` and then one per handler for
``import app`` (interleaved, so drift on the machine hits both alike); the child times the
import alone with ``time.perf_counter`` and prints it, so interpreter start-up is left out.
One warm-up round is discarded first (it writes the bytecode caches). The target is the
issue's: a handler's median import at most 1.5x the median ``import boto3`` of the same runs.

The child also reports what the import left behind: ``aws_xray_sdk`` must not be in
``sys.modules`` with tracing off, and no boto3 client may exist yet
(``fleetpatch.aws.client``'s cache is empty and boto3 has no default session). An audit hook
refuses any socket connection during the import: importing never calls AWS.

Finally one ``python -X importtime`` run of the slowest handler says where its time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.figures import Figure, median

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
LAYER = ROOT / "layers" / "fleetpatch"
REGION = "eu-central-1"
TARGET_RATIO = 1.5
TOP = 5
GROUP = "cold start"
MARKER = "COLD-START-PROBE "

# What the child runs (``-c``): nothing is imported before the timed import but what the
# interpreter has already loaded (sys, time are built in); json only after it.
PROBE = """\
import sys, time

def _refuse_network(event, args):
    if event in ("socket.connect", "socket.getaddrinfo"):
        raise RuntimeError(f"cold-start probe: {event} {args!r} while importing")

sys.addaudithook(_refuse_network)
began = time.perf_counter()
import __MODULE__
elapsed = time.perf_counter() - began

import json
aws = sys.modules.get("fleetpatch.aws")
boto3 = sys.modules.get("boto3")
print(__MARKER__ + json.dumps({
    "import_ms": elapsed * 1000,
    "xray": "aws_xray_sdk" in sys.modules,
    "cached_clients": aws.client.cache_info().currsize if aws is not None else 0,
    "default_session": boto3 is not None and boto3.DEFAULT_SESSION is not None,
    "boto3_imported": boto3 is not None,
    "modules": len(sys.modules),
}))
"""

IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)\s*$")


@dataclass(frozen=True)
class Probe:
    """What one fresh interpreter reported about one import."""

    import_ms: float
    xray: bool
    cached_clients: int
    default_session: bool
    boto3_imported: bool
    modules: int


@dataclass(frozen=True)
class ImportTime:
    """One line of ``-X importtime``: times in microseconds, depth 0 for a top-level import."""

    module: str
    self_us: int
    cumulative_us: int
    depth: int


def handlers() -> list[str]:
    return sorted(path.parent.name for path in FUNCTIONS.glob("*/app.py"))


def lambda_environment(handler: str | None) -> dict[str, str]:
    """An environment like the template's for ``handler`` (``None``: plain ``import boto3``).

    Built from scratch, not inherited: nothing of the caller's AWS or Python settings
    (endpoint URLs, profiles, PYTHONPATH) leaks in.
    """
    env = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "fleetpatch",
        "POWERTOOLS_METRICS_NAMESPACE": "Fleetpatch",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "FLEETPATCH_STAGE": "bench",
        "FLEETPATCH_TABLE_NAME": "fleetpatch-bench-state",
        "FLEETPATCH_ARTIFACTS_BUCKET": "fleetpatch-bench-artifacts",
        "FLEETPATCH_REPORTS_TOPIC_ARN": f"arn:aws:sns:{REGION}:123456789012:fleetpatch-reports",
    }
    if handler is not None:
        env |= {
            "PYTHONPATH": os.pathsep.join([str(FUNCTIONS / handler), str(LAYER)]),
            "LAMBDA_TASK_ROOT": str(FUNCTIONS / handler),
            "AWS_LAMBDA_FUNCTION_NAME": f"fleetpatch-bench-{handler}",
        }
    return env


def parse_probe(stdout: str) -> Probe:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data = json.loads(line.removeprefix(MARKER))
            return Probe(
                import_ms=float(data["import_ms"]),
                xray=bool(data["xray"]),
                cached_clients=int(data["cached_clients"]),
                default_session=bool(data["default_session"]),
                boto3_imported=bool(data["boto3_imported"]),
                modules=int(data["modules"]),
            )
    raise ValueError("the probe printed no result")


def run_probe(handler: str | None, importtime: bool = False) -> tuple[Probe, str]:
    """Import ``app`` of ``handler`` (``None``: ``boto3``) in a fresh interpreter.

    Returns the probe and the child's stderr (the ``-X importtime`` lines, when asked).
    ``-P``: the working directory (the function's, as Lambda's) is not put on sys.path.
    """
    module = "boto3" if handler is None else "app"
    command = [sys.executable, "-P"]
    if importtime:
        command += ["-X", "importtime"]
    command += ["-c", PROBE.replace("__MODULE__", module).replace("__MARKER__", repr(MARKER))]
    done = subprocess.run(
        command,
        env=lambda_environment(handler),
        cwd=FUNCTIONS / handler if handler is not None else ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"import {module} ({handler or 'baseline'}) failed:\n{tail}")
    return parse_probe(done.stdout), done.stderr


def parse_importtime(stderr: str, root: str = "app") -> list[ImportTime]:
    """The ``-X importtime`` lines of the import of ``root`` (its own and its subtree's).

    Python prints a module after everything it imported, at depth 0 for a top-level
    import, so the subtree of ``root`` is the run of lines after the previous depth-0 line.
    """
    lines: list[ImportTime] = []
    for raw in stderr.splitlines():
        match = IMPORTTIME_LINE.match(raw)
        if match:
            self_us, cumulative_us, indent, module = match.groups()
            lines.append(ImportTime(module, int(self_us), int(cumulative_us), len(indent) // 2))
    for end in range(len(lines) - 1, -1, -1):
        if lines[end].module == root and lines[end].depth == 0:
            start = end
            while start > 0 and lines[start - 1].depth > 0:
                start -= 1
            return lines[start : end + 1]
    raise ValueError(f"no top-level import of {root} in the -X importtime output")


def top_self(lines: Sequence[ImportTime], top: int = TOP) -> str:
    """The ``top`` modules by self time: ``module 12.3 ms; ...``."""
    slowest = sorted(lines, key=lambda line: line.self_us, reverse=True)[:top]
    return "; ".join(f"{line.module} {line.self_us / 1000:.1f} ms" for line in slowest)


def top_packages(lines: Sequence[ImportTime], top: int = TOP) -> str:
    """Self time summed per top-level package, the ``top`` largest: ``pydantic 40.1 ms; ...``."""
    totals: defaultdict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.module.split(".")[0]] += line.self_us
    slowest = sorted(totals.items(), key=lambda item: item[1], reverse=True)[:top]
    return "; ".join(f"{package} {us / 1000:.1f} ms" for package, us in slowest)


def collect(runs: int) -> tuple[list[float], dict[str, list[Probe]]]:
    """``runs`` interleaved rounds (after one discarded warm-up): boto3, then every handler."""
    names = handlers()
    baseline: list[float] = []
    probes: dict[str, list[Probe]] = {name: [] for name in names}
    for round_ in range(runs + 1):
        boto3_probe, _ = run_probe(None)
        measured = [(name, run_probe(name)[0]) for name in names]
        if round_ == 0:
            continue  # warm-up: bytecode caches written, files in the page cache
        baseline.append(boto3_probe.import_ms)
        for name, probe in measured:
            probes[name].append(probe)
    return baseline, probes


def _side_effects(probes: Sequence[Probe]) -> tuple[str, bool]:
    xray = sum(probe.xray for probe in probes)
    clients = max(probe.cached_clients for probe in probes)
    sessions = sum(probe.default_session for probe in probes)
    parts = [
        "aws_xray_sdk imported" if xray else "no aws_xray_sdk",
        f"{clients} cached clients",
        "boto3 default session created" if sessions else "no boto3 session",
    ]
    if not probes[0].boto3_imported:
        parts.append("boto3 not imported")
    return ", ".join(parts), not xray and clients == 0 and not sessions


def measure(runs: int = 7) -> list[Figure]:
    if runs < 1:
        raise ValueError("runs must be at least 1")
    baseline, probes = collect(runs)
    boto3_ms = median(baseline)
    interpreters = f"median of {runs} fresh interpreters"
    setting = (
        "PYTHONPATH as Lambda's (functions/<name>:layers/fleetpatch), tracing off, "
        "interleaved with `import boto3`, after one discarded warm-up round"
    )
    target = f"<= {TARGET_RATIO}x import boto3"
    figures = [
        Figure(
            GROUP,
            "import boto3, median",
            round(boto3_ms, 1),
            "ms",
            f"{interpreters}, perf_counter around `import boto3` in the child, same environment "
            f"without PYTHONPATH; range {min(baseline):.1f}-{max(baseline):.1f} ms",
        )
    ]
    ratios: dict[str, float] = {}
    for name, handler_probes in probes.items():
        timings = [probe.import_ms for probe in handler_probes]
        handler_ms = median(timings)
        ratio = handler_ms / boto3_ms
        ratios[name] = ratio
        effects, clean = _side_effects(handler_probes)
        figures += [
            Figure(
                GROUP,
                f"{name}: import app, median",
                round(handler_ms, 1),
                "ms",
                f"{interpreters}, perf_counter around `import app`, {setting}; "
                f"range {min(timings):.1f}-{max(timings):.1f} ms, "
                f"{handler_probes[0].modules} modules loaded after",
            ),
            Figure(
                GROUP,
                f"{name}: import app / import boto3",
                round(ratio, 2),
                "x",
                f"ratio of medians: {handler_ms:.1f} ms / {boto3_ms:.1f} ms ({interpreters})",
                target,
                ratio <= TARGET_RATIO,
            ),
            Figure(
                GROUP,
                f"{name}: after import app, tracing off",
                effects,
                "",
                "in every child after `import app`, tracing off: aws_xray_sdk in sys.modules, "
                "fleetpatch.aws.client.cache_info().currsize, boto3.DEFAULT_SESSION",
                "no aws_xray_sdk, 0 clients, no session",
                clean,
            ),
        ]
    worst = max(ratios, key=ratios.__getitem__)
    figures.append(
        Figure(
            GROUP,
            "worst handler / import boto3",
            round(ratios[worst], 2),
            "x",
            f"{worst}: the largest ratio of median `import app` to median `import boto3` "
            f"({interpreters})",
            target,
            ratios[worst] <= TARGET_RATIO,
        )
    )
    slowest = max(probes, key=lambda name: median([p.import_ms for p in probes[name]]))
    _, stderr = run_probe(slowest, importtime=True)
    lines = parse_importtime(stderr)
    how = (
        f"one `python -X importtime` run of `import app` for {slowest}, the slowest median; "
        f"{len(lines)} modules imported, {lines[-1].cumulative_us / 1000:.1f} ms cumulative "
        "(importtime's own overhead included)"
    )
    figures += [
        Figure(
            GROUP,
            f"slowest handler: top {TOP} modules by self time",
            f"{slowest}: {top_self(lines)}",
            "",
            how,
        ),
        Figure(
            GROUP,
            f"slowest handler: self time per top-level package, top {TOP}",
            f"{slowest}: {top_packages(lines)}",
            "",
            how,
        ),
    ]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured rounds (default 7)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of figures")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    if args.json:
        print(json.dumps([figure.as_dict() for figure in figures], indent=1))
        return 0
    for figure in figures:
        verdict = "" if figure.met is None else ("met" if figure.met else "NOT MET")
        target = f"target {figure.target}: {verdict}" if figure.target else ""
        value = f"{figure.value} {figure.unit}".strip()
        print(f"{figure.name:<52} {value:>10}  {target}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
