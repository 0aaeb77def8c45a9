"""A scale-out: hundreds of launches within one minute, under AWS's modelled rate limits.

    .venv/bin/python -m benchmarks.launch --only scale --scale 500

Every launch's outcome (released, or abandoned with its reason), the launch overhead's
spread, whether a throttling error ended any run, and every DescribeInstanceInformation
call made (the readiness watcher's, and any run's own): simulated time, see
``benchmarks.launch``.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.figures import Figure, median, p95
from benchmarks.launch_world import (
    CALL_LOG,
    LAUNCH_MACHINE,
    THROTTLING,
    WATCHER_MACHINE,
    FinalStatusClock,
    Launch,
    deployed_cloud,
    executions,
    launch_instances,
    machine_load,
    outcomes,
    present,
)
from localcloud.sim.instances import Behaviour

TARGET_SCALE_OUT_OVERHEAD_P95 = 60.0

# --- a scale-out under the rate limits --------------------------------------------------------


@dataclass(frozen=True)
class ScaleOut:
    launches: list[Launch]
    still_running: int
    failed_runs: list[str]
    describe_calls: int
    describe_calls_by: Counter[str]
    throttled: dict[str, int]
    watcher_executions: int
    watcher_seconds: float
    wall_seconds: float
    setup_seconds: float
    cpu_seconds: float
    simulated_seconds: float
    load: str


def scale_out(instances: int = 500, batches: int = 10, seed: int = 19) -> ScaleOut:
    """``instances`` launched in ``batches`` spread over one minute (simulated)."""
    rng = random.Random(seed)
    began = time.perf_counter()
    cpu = time.process_time()
    load = machine_load()
    with deployed_cloud(max_size=instances) as cloud:
        final = FinalStatusClock(cloud)
        setup = time.perf_counter() - began
        start = cloud.clock.time()
        launched: list[str] = []
        size = math.ceil(instances / batches)
        while len(launched) < instances:
            count = min(size, instances - len(launched))
            launched += launch_instances(
                cloud,
                [
                    Behaviour(
                        agent_delay_seconds=rng.uniform(20, 700),
                        command_duration_seconds=rng.uniform(120, 300),
                    )
                    for _ in range(count)
                ],
            )
            if len(launched) < instances:
                cloud.advance(60 / batches)
        cloud.settle(max_seconds=12 * 3600)
        simulated = cloud.clock.time() - start
        measured = outcomes(cloud, launched, final)
        runs = executions(cloud, LAUNCH_MACHINE)
        failed = [
            f"{r['error']}: {r.get('cause', '')}" for r in runs if r["status"] not in {"SUCCEEDED"}
        ]
        describe = [c for c in CALL_LOG.calls if c.operation == "ssm:DescribeInstanceInformation"]
        watchers = executions(cloud, WATCHER_MACHINE)
        throttled = {
            service: cloud.rate_limits.throttled(service)
            for service in ("ssm", "stepfunctions", "autoscaling", "lambda", "scheduler")
        }
        return ScaleOut(
            launches=measured,
            still_running=sum(1 for r in runs if r["status"] == "RUNNING"),
            failed_runs=failed,
            describe_calls=len(describe),
            describe_calls_by=Counter(
                "CheckAgent (a run's own)" if _one_instance(c.params) else "watcher"
                for c in describe
            ),
            throttled=throttled,
            watcher_executions=len(watchers),
            watcher_seconds=sum(
                (w["stopDate"] - w["startDate"]).total_seconds()
                for w in watchers
                if "stopDate" in w
            ),
            wall_seconds=time.perf_counter() - began,
            setup_seconds=setup,
            cpu_seconds=time.process_time() - cpu,
            simulated_seconds=simulated,
            load=load,
        )


def _one_instance(params: dict[str, Any]) -> bool:
    filters = params.get("Filters") or []
    return "MaxResults" not in params and len(filters) == 1 and len(filters[0]["Values"]) == 1


def scale_out_figures(instances: int = 500) -> list[Figure]:
    result = scale_out(instances)
    launches = result.launches
    released = [m for m in launches if m.result == "CONTINUE"]
    abandoned = [m for m in launches if m.result == "ABANDON"]
    held = [m for m in launches if m.result is None]
    reasons = Counter(m.reason.split(":")[0] or "no reason" for m in abandoned + held)
    overhead = present([m.overhead for m in released])
    throttle_ended = [
        r
        for r in result.failed_runs + [m.reason for m in launches]
        if any(t in r for t in THROTTLING)
    ]
    how = (
        f"{instances} instances launched in 10 scale-outs over one simulated minute, agents "
        "registering after 20-700 s and patches of 120-300 s (uniform, seed 19), AWS's rate "
        "limits on (localcloud.core.ratelimits), settled"
    )
    online = present([m.online_to_send for m in launches])
    return [
        Figure(
            "scale-out",
            f"{instances} launches: released (CONTINUE)",
            len(released),
            "instances",
            how,
            target=f"{instances} released or abandoned with a reason",
            met=not held and all(m.reason for m in abandoned),
        ),
        Figure(
            "scale-out",
            f"{instances} launches: abandoned / still held",
            f"{len(abandoned)} / {len(held)}",
            "instances",
            "reasons: " + (", ".join(f"{r} {n}" for r, n in reasons.most_common()) or "none"),
        ),
        Figure(
            "scale-out",
            f"{instances} launches: launch overhead, p95",
            round(p95(overhead), 1) if overhead else "-",
            "s (sim)",
            "released instances: hold minus agent registration minus the patch's run; " + how,
            target=f"<= {TARGET_SCALE_OUT_OVERHEAD_P95:g} s",
            met=bool(overhead) and p95(overhead) <= TARGET_SCALE_OUT_OVERHEAD_P95,
        ),
        Figure(
            "scale-out",
            f"{instances} launches: launch overhead, median",
            round(median(overhead), 1) if overhead else "-",
            "s (sim)",
            how,
        ),
        Figure(
            "scale-out",
            f"{instances} launches: agent Online -> SendCommand, median / p95",
            f"{median(online):.1f} / {p95(online):.1f}" if online else "-",
            "s (sim)",
            how,
        ),
        Figure(
            "scale-out",
            f"{instances} launches: runs ended by a throttling error",
            len(throttle_ended),
            "runs",
            "runs that failed, or lifecycle actions that ended, with a throttling error in the "
            f"cause; calls refused by the rate limits (then retried): {result.throttled}; "
            f"runs not SUCCEEDED: {len(result.failed_runs)}, still running: "
            f"{result.still_running}",
            target="0",
            met=not throttle_ended,
        ),
        Figure(
            "scale-out",
            f"{instances} launches: DescribeInstanceInformation calls",
            result.describe_calls,
            "calls",
            "every call made (botocore hook on the handlers' and state machines' session): "
            + ", ".join(f"{k} {v}" for k, v in result.describe_calls_by.most_common())
            + f"; {result.watcher_executions} watcher execution(s) ran "
            f"{result.watcher_seconds:.0f} s (sim) of the {result.simulated_seconds:.0f} s the "
            "scale-out took: the cost follows the time anything waits / 50 instances a call, "
            "not instances x wait",
        ),
        Figure(
            "scale-out",
            f"{instances} launches: wall time",
            round(result.wall_seconds, 1),
            "s (real)",
            f"real seconds (perf_counter), deploy and group set-up {result.setup_seconds:.1f} s "
            f"included; the process's CPU time {result.cpu_seconds:.0f} s; load average "
            f"{result.load} at the start on {os.cpu_count()} CPUs",
        ),
    ]
