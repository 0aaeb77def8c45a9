"""Wave scale: one gated wave over N instances through the real ASL, at N = 100 .. 10,000.

Each size runs in its own fresh interpreter (``--one N``), so the memory peak is that
size's alone. The child starts a local cloud at time factor 0 (simulated waits take no
real time), deploys the real template.yaml and launches 1 Ubuntu instance in patch group
g1 and N in g2 (60-second patch, no reboot wait), lets the fleet settle, then starts the
GatedWaveStateMachine directly, as ``fleetpatch wave start`` and the workflow tests do:
batch one (g1), then batch two (g2) gated on one. It times the run (``perf_counter``, real
seconds) until the cloud is quiet again, and then reads what the run cost:

* SendCommand calls for batch two (commands whose Comment starts with ``fleetpatch wave
  custom batch two``, every ListCommands page) against ``ceil(N / 50)``;
* state transitions: Step Functions bills one per state entered, so every
  ``...StateEntered`` event in the histories of the wave and of any other execution
  started while it ran;
* the largest execution history (events) and the largest state payload (bytes of
  ``json.dumps`` of any ``...EventDetails``, as the workflow test measures it), against
  Step Functions' quotas of 25,000 events and 256 KB;
* Lambda invocations set off by the run, their real duration on the local cloud
  (in-process, warm) and GB-seconds at each function's MemorySize from the template;
* Slack notifications go to the local webhook receiver (as ``benchmarks.launch`` does),
  so the notifier succeeds as it would in production;
* the child's peak RSS (``ru_maxrss`` after the run) and, for context, the fleet set-up's
  wall time.

Targets are the issue's: at most ``ceil(N / 50)`` SendCommand calls; no execution over
25,000 history events or 256 KB payload (quotas at any N; the issue names N = 10,000);
state transitions per instance falling, not rising, with N; 10,000 instances in under
2 minutes of wall time on the local cloud.

    .venv/bin/python -m benchmarks.wave_scale [--sizes 100,1000] [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import resource
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.figures import Figure

GROUP = "wave scale"
MARKER = "WAVE-SCALE-RESULT "
COMMAND_SIZE = 50  # instances per SendCommand (the patch-batch handler's chunk)
MAX_HISTORY_EVENTS = 25_000
MAX_PAYLOAD_BYTES = 256 * 1024
TARGET_WALL_SECONDS = 120.0
TARGET_WALL_SIZE = 10_000
DEFAULT_SIZES = (100, 1000, 10000)
DEFAULT_TIMEOUT_SECONDS = 3600.0
WAVE = "custom"


# --- the child: one size, one fresh cloud -----------------------------------------------------


def _batch(name: str, group: str, gate: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "patchGroups": [group],
        "maxConcurrency": "100%",
        "maxErrors": "100%",
        "operation": "Install",
        "rebootOption": "RebootIfNeeded",
        "gate": gate,
    }


def _gate(previous: str) -> dict[str, Any]:
    return {
        "batches": [previous],
        "maxFailed": 0,
        "maxFailedPercent": None,
        "requireCompliant": True,
        "alarms": [],
        "bakeMinutes": 0,
    }


def _executions(sfn: Any) -> set[str]:
    """Every execution of every state machine in the account."""
    found: set[str] = set()
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            for listed in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine["stateMachineArn"]
            ):
                found |= {e["executionArn"] for e in listed["executions"]}
    return found


def _history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
        events += page["events"]
    return events


def _largest_payload(history: list[dict[str, Any]]) -> int:
    return max(
        (
            len(json.dumps(details, default=str).encode())
            for event in history
            for key, details in event.items()
            if key.endswith("EventDetails")
        ),
        default=0,
    )


def run_one(size: int) -> dict[str, Any]:
    """One wave over ``size`` instances on a fresh local cloud; the raw measurements."""
    from fleetpatch.contracts.names import manual_run_name
    from fleetpatch.waves import run_input
    from localcloud.cloud import LocalCloud
    from localcloud.sim.instances import Behaviour
    from localcloud.slack import SlackWebhookReceiver

    # Handlers that publish no metric warn on every invocation; here that is noise.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    with LocalCloud() as cloud, SlackWebhookReceiver() as slack:
        began = time.perf_counter()
        stack = cloud.deploy()
        deploy_s = time.perf_counter() - began
        # Slack answered by the local receiver, as in production (else every notification
        # fails and is retried, which would inflate the invocations).
        secret = stack.outputs.get("SlackWebhookSecret")
        if secret:
            cloud.client("secretsmanager").create_secret(Name=secret, SecretString=slack.url)
        assert cloud.fleet is not None
        began = time.perf_counter()
        cloud.fleet.launch("UBUNTU", tags={"Patch Group": "g1"}, behaviour=Behaviour())
        fleet = cloud.fleet.launch(
            "UBUNTU",
            tags={"Patch Group": "g2"},
            behaviour=Behaviour(command_duration_seconds=60, reboot_seconds=0),
            count=size,
        )
        cloud.settle(max_seconds=3600)
        setup_s = time.perf_counter() - began
        sfn = cloud.client("stepfunctions")
        executions_before = _executions(sfn)
        invocations_before = len(cloud.lambdas.invocations)
        sim_began = cloud.clock.time()

        began = time.perf_counter()
        arn = sfn.start_execution(
            stateMachineArn=stack.state_machine_arn("GatedWaveStateMachine"),
            name=manual_run_name(WAVE, cloud.clock.now()),
            input=json.dumps(
                run_input(WAVE, [_batch("one", "g1"), _batch("two", "g2", _gate("one"))])
            ),
        )["executionArn"]
        cloud.settle(max_seconds=24 * 3600)
        wall_s = time.perf_counter() - began
        sim_s = cloud.clock.time() - sim_began
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

        execution = sfn.describe_execution(executionArn=arn)
        output = json.loads(execution.get("output") or "{}")
        commands = []
        for page in cloud.client("ssm").get_paginator("list_commands").paginate():
            commands += [
                c
                for c in page["Commands"]
                if c.get("Comment", "").startswith(f"fleetpatch wave {WAVE} batch two")
            ]
        targeted = sorted(i for c in commands for i in c["InstanceIds"])

        histories: dict[str, dict[str, Any]] = {}
        started = (_executions(sfn) - executions_before) | {arn}
        for other in sorted(started):
            history = _history(sfn, other)
            types = Counter(e["type"] for e in history)
            histories[other] = {
                "machine": other.split(":")[-2],
                "events": len(history),
                "entered": sum(n for t, n in types.items() if t.endswith("StateEntered")),
                "largest_payload": _largest_payload(history),
            }

        invocations = cloud.lambdas.invocations[invocations_before:]
        per_function: dict[str, dict[str, float]] = {}
        error_samples: dict[str, str] = {}
        for invocation in invocations:
            entry = per_function.setdefault(
                invocation.function_name,
                {
                    "count": 0,
                    "errors": 0,
                    "ms": 0.0,
                    "gb_s": 0.0,
                    "memory_mb": invocation.memory_mb,
                },
            )
            entry["count"] += 1
            if invocation.error_type is not None:
                entry["errors"] += 1
                error_samples.setdefault(
                    invocation.function_name,
                    f"{invocation.error_type}: {invocation.error_message}"[:200],
                )
            entry["ms"] += invocation.duration_ms
            # Lambda bills each invocation's duration, rounded up to the millisecond.
            entry["gb_s"] += math.ceil(invocation.duration_ms) / 1000 * invocation.memory_mb / 1024

    return {
        "size": size,
        "status": execution["status"],
        "cause": execution.get("cause"),
        "message": output.get("message"),
        "deploy_s": deploy_s,
        "setup_s": setup_s,
        "wall_s": wall_s,
        "simulated_s": sim_s,
        "peak_mb": peak_mb,
        "send_commands": len(commands),
        "targeted_exactly": targeted == sorted(fleet),
        "wave_arn": arn,
        "executions": histories,
        "invocations": len(invocations),
        "invocation_errors": sum(int(f["errors"]) for f in per_function.values()),
        "error_samples": error_samples,
        "functions": per_function,
    }


# --- the parent: one child per size, figures --------------------------------------------------


def run_child(size: int, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> dict[str, Any]:
    """Run ``--one size`` in a fresh interpreter; its result, or ``{"error": ...}``."""
    command = [sys.executable, "-m", "benchmarks.wave_scale", "--one", str(size), "--json-one"]
    began = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"size": size, "error": f"timed out after {timeout:.0f} s"}
    elapsed = time.perf_counter() - began
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            result: dict[str, Any] = json.loads(line.removeprefix(MARKER))
            result["child_s"] = elapsed
            return result
    tail = " | ".join(done.stderr.strip().splitlines()[-5:])
    return {"size": size, "error": f"exit {done.returncode} after {elapsed:.0f} s: {tail}"}


def _size_figures(result: dict[str, Any]) -> list[Figure]:
    n = int(result["size"])
    label = f"N={n}"
    if "error" in result:
        return [
            Figure(
                GROUP,
                f"{label} run",
                "failed",
                "",
                f"the child for N={n} did not finish: {result['error']}",
                "finishes",
                False,
            )
        ]
    setting = (
        f"one gated wave (batch one: 1 instance in g1; batch two: {n} in g2, gated on one) "
        "started directly on the GatedWaveStateMachine, local cloud at time factor 0, "
        f"fresh interpreter; run ended {result['status']}"
        + (f" ({result['cause']})" if result.get("cause") else "")
        + (f": {result['message']}" if result.get("message") else "")
    )
    executions: dict[str, dict[str, Any]] = result["executions"]
    wave = executions[result["wave_arn"]]
    others = len(executions) - 1
    transitions = sum(int(e["entered"]) for e in executions.values())
    largest_history = max(executions.values(), key=lambda e: int(e["events"]))
    largest_payload = max(executions.values(), key=lambda e: int(e["largest_payload"]))
    functions: dict[str, dict[str, float]] = result["functions"]
    gb_seconds = sum(f["gb_s"] for f in functions.values())
    lambda_ms = sum(f["ms"] for f in functions.values())
    by_function = "; ".join(
        f"{name.removeprefix('fleetpatch-').split('-', 1)[-1]} {int(f['count'])} x "
        f"{int(f['memory_mb'])} MB, {f['ms'] / 1000:.2f} s"
        for name, f in sorted(functions.items(), key=lambda item: -item[1]["ms"])
    )
    commands_target = math.ceil(n / COMMAND_SIZE)
    at_scale = n == TARGET_WALL_SIZE
    return [
        Figure(
            GROUP,
            f"{label} wall time of the wave",
            round(result["wall_s"], 2),
            "s",
            f"perf_counter from StartExecution until the cloud is quiet again; {setting}; "
            f"{result['simulated_s'] / 60:.0f} simulated minutes",
            f"< {TARGET_WALL_SECONDS:g} s at N={TARGET_WALL_SIZE}" if at_scale else None,
            result["wall_s"] < TARGET_WALL_SECONDS if at_scale else None,
        ),
        Figure(
            GROUP,
            f"{label} wall time of the fleet set-up",
            round(result["setup_s"], 2),
            "s",
            f"for context, not part of the wave: launching {n + 1} instances and settling "
            f"until every agent is online (deploying the template took "
            f"{result['deploy_s']:.1f} s more; the whole child {result['child_s']:.0f} s)",
        ),
        Figure(
            GROUP,
            f"{label} SendCommand calls",
            result["send_commands"],
            "calls",
            "commands whose Comment starts with 'fleetpatch wave custom batch two', every "
            "ListCommands page; "
            + (
                f"together they target each of the {n} instances exactly once"
                if result["targeted_exactly"]
                else "they do NOT target each instance exactly once"
            ),
            f"<= {commands_target} (ceil(N/{COMMAND_SIZE}))",
            result["send_commands"] <= commands_target and result["targeted_exactly"],
        ),
        Figure(
            GROUP,
            f"{label} state transitions",
            transitions,
            "transitions",
            f"'...StateEntered' events (Step Functions bills one per state entered) in the "
            f"wave's history ({wave['entered']}) and {others} other executions started "
            "while it ran",
        ),
        Figure(
            GROUP,
            f"{label} state transitions per instance",
            round(transitions / n, 3),
            "transitions",
            f"{transitions} transitions / {n} instances in batch two",
        ),
        Figure(
            GROUP,
            f"{label} largest execution history",
            int(largest_history["events"]),
            "events",
            f"the longest history (every GetExecutionHistory page) of {len(executions)} "
            f"executions: {largest_history['machine']}",
            f"< {MAX_HISTORY_EVENTS:,}",
            int(largest_history["events"]) < MAX_HISTORY_EVENTS,
        ),
        Figure(
            GROUP,
            f"{label} largest state payload",
            int(largest_payload["largest_payload"]),
            "bytes",
            "max bytes of json.dumps(details) over every '...EventDetails' of every history "
            f"({largest_payload['machine']})",
            f"< {MAX_PAYLOAD_BYTES:,} (256 KB)",
            int(largest_payload["largest_payload"]) < MAX_PAYLOAD_BYTES,
        ),
        Figure(
            GROUP,
            f"{label} Lambda invocations",
            result["invocations"],
            "invocations",
            "every handler invocation the wave set off, synchronous and asynchronous "
            f"({result['invocation_errors']} returned an error"
            + "".join(f"; {name}: {e}" for name, e in result.get("error_samples", {}).items())
            + ")",
        ),
        Figure(
            GROUP,
            f"{label} Lambda duration",
            round(lambda_ms / 1000, 2),
            "s",
            "sum of the handlers' real run time on the local cloud (in-process, warm after "
            f"the first call): {by_function}",
        ),
        Figure(
            GROUP,
            f"{label} wall time outside the handlers",
            round(max(0.0, result["wall_s"] - lambda_ms / 1000), 2),
            "s",
            "the wave's wall time minus the handlers' run time: the fleet simulator (status "
            "events, command output to S3), EventBridge delivery, the Step Functions "
            "interpreter and the simulated clock",
        ),
        Figure(
            GROUP,
            f"{label} Lambda GB-seconds",
            round(gb_seconds, 4),
            "GB-s",
            "each invocation's real duration rounded up to the ms x its function's "
            "MemorySize from the template (Globals 256 MB unless the function sets its own); "
            "an estimate of Lambda's billed duration",
        ),
        Figure(
            GROUP,
            f"{label} memory peak",
            round(result["peak_mb"], 0),
            "MB",
            "ru_maxrss of the child interpreter after the run (deploy, fleet and wave; one "
            "interpreter per size)",
        ),
    ]


def _growth_figures(results: Sequence[dict[str, Any]]) -> list[Figure]:
    done = sorted((r for r in results if "error" not in r), key=lambda r: int(r["size"]))
    figures: list[Figure] = []
    if len(done) < 2:
        return figures

    def transitions(result: dict[str, Any]) -> int:
        return sum(int(e["entered"]) for e in result["executions"].values())

    per_instance = [transitions(r) / int(r["size"]) for r in done]
    sizes = ", ".join(f"N={r['size']}" for r in done)
    falling = all(later <= earlier for earlier, later in itertools.pairwise(per_instance))
    figures.append(
        Figure(
            GROUP,
            "state transitions per instance as N grows",
            " -> ".join(f"{v:.3f}" for v in per_instance),
            "transitions",
            f"per instance at {sizes}",
            "falling, not rising, with N",
            falling,
        )
    )
    measures: dict[str, Callable[[dict[str, Any]], float]] = {
        "wall time": lambda r: float(r["wall_s"]),
        "state transitions": lambda r: float(transitions(r)),
        "largest execution history": lambda r: float(
            max(int(e["events"]) for e in r["executions"].values())
        ),
        "Lambda GB-seconds": lambda r: float(sum(f["gb_s"] for f in r["functions"].values())),
        "memory peak": lambda r: float(r["peak_mb"]),
    }
    for small, large in itertools.pairwise(done):
        n_small, n_large = int(small["size"]), int(large["size"])
        scale = n_large / n_small
        for name, value in measures.items():
            before, after = value(small), value(large)
            ratio = after / before if before else math.inf
            exponent = math.log(ratio) / math.log(scale) if 0 < ratio < math.inf else math.nan
            figures.append(
                Figure(
                    GROUP,
                    f"{name} growth N={n_small} -> N={n_large}",
                    round(ratio, 2),
                    "x",
                    f"{after:.4g} / {before:.4g} for {scale:g}x the instances: grows as "
                    f"N^{exponent:.2f} (1.00 is linear)",
                )
            )
    return figures


def figures_from(results: Sequence[dict[str, Any]]) -> list[Figure]:
    figures: list[Figure] = []
    for result in sorted(results, key=lambda r: int(r["size"])):
        figures += _size_figures(result)
    return figures + _growth_figures(results)


def measure(
    sizes: Sequence[int] = DEFAULT_SIZES, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> list[Figure]:
    """One wave per size, each in a fresh interpreter; figures per size and their growth."""
    return figures_from([run_child(size, timeout) for size in sizes])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(s) for s in DEFAULT_SIZES),
        help="instances in batch two, comma-separated (default 100,1000,10000)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of figures")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds one size may take before it is reported as failed",
    )
    parser.add_argument("--one", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--json-one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        result = run_one(args.one)
        if args.json_one:
            print(MARKER + json.dumps(result), flush=True)
        else:
            print(json.dumps(result, indent=1))
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    figures = measure(sizes, args.timeout)
    if args.json:
        print(json.dumps([figure.as_dict() for figure in figures], indent=1))
        return 0
    for figure in figures:
        verdict = "" if figure.met is None else ("  met" if figure.met else "  NOT MET")
        target = f"  (target {figure.target})" if figure.target else ""
        print(f"{figure.name:<52} {figure.value!s:>14} {figure.unit}{target}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
