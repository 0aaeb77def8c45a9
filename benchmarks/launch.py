"""Launch runs: how soon a new instance is released, what a run costs, a 500-launch scale-out.

Everything runs on the local cloud at time factor 0 (simulated time jumps over every wait):
the real template, ASL and handlers, an Auto Scaling group with the launch hook, simulated
instances whose SSM agents register after a set delay, and AWS's rate limits on. Every time
below is SIMULATED time (the local cloud's clock) unless a figure says otherwise:

* **agent Online -> SendCommand**: from the simulated instance's agent registering (the
  fleet simulator's ``registered_at``, when DescribeInstanceInformation starts answering
  Online) to the SSM command's ``RequestedDateTime``.
* **final command status event -> CompleteLifecycleAction**: from the fleet emitting the
  invocation's final status-change event to the lifecycle action ending by
  CompleteLifecycleAction (the Auto Scaling simulator's record).
* **launch overhead**: the lifecycle action's hold (start to CONTINUE) minus what no control
  plane can save: the agent's registration (action start to agent Online) and the patch
  command's own run on the instance (invocation start to end).
* **scale-out**: ``instances`` launched in batches over one minute, agents registering at
  times spread over 20-700 s, patches of 2-5 minutes, under the modelled rate limits: every
  run's outcome (released / abandoned, with reasons), whether a throttling error ended any
  run, and every DescribeInstanceInformation call made.
* **cost per run**: one instance scaled out into an otherwise idle account; transitions are
  the states the run entered (Step Functions bills one per state), API calls are counted with
  a botocore ``before-parameter-build`` hook on the session the handlers and the state
  machines' service integrations use (the simulators' own calls use another session). The
  readiness watcher's share is reported apart: its transitions, and its Lambda's billed
  duration (simulated: it sleeps between polls while anything waits) at its memory size.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass

from benchmarks.figures import Figure, median, p95
from benchmarks.launch_world import (
    AGENT_DELAYS,
    CALL_LOG,
    LAUNCH_MACHINE,
    WATCHER_FUNCTION,
    WATCHER_MACHINE,
    FinalStatusClock,
    Launch,
    deployed_cloud,
    executions,
    history,
    launch_instances,
    outcomes,
    present,
    transitions,
)
from benchmarks.scale_out import scale_out_figures
from localcloud.sim.instances import Behaviour

TARGET_TRANSITIONS = 30
TARGET_ONLINE_TO_SEND_MEDIAN = 5.0
TARGET_ONLINE_TO_SEND_P95 = 10.0
TARGET_EVENT_TO_COMPLETE_MEDIAN = 2.0
TARGET_OVERHEAD_MEDIAN = 10.0
TARGET_SCALE_OUT_OVERHEAD_P95 = 60.0

# Agents register this long after launch (seconds): quick, typical, slow, and one past the
# policy's 600 s heartbeat interval.
# --- latency: launches one at a time ----------------------------------------------------------


def latency_figures(launches: int = 20, seed: int = 19) -> list[Figure]:
    """Each launch alone in the account, agents registering after 20 s to 700 s."""
    began = time.perf_counter()
    # Agents register at any fraction of a second, not on the watcher's 2 s grid.
    rng = random.Random(seed)
    measured: list[Launch] = []
    with deployed_cloud() as cloud:
        final = FinalStatusClock(cloud)
        for n in range(launches):
            delay = AGENT_DELAYS[n % len(AGENT_DELAYS)] + rng.uniform(0, 2)
            instances = launch_instances(
                cloud, [Behaviour(agent_delay_seconds=delay, command_duration_seconds=120)]
            )
            cloud.settle(max_seconds=6 * 3600)
            measured += outcomes(cloud, instances, final)
    wall = time.perf_counter() - began
    released = sum(1 for m in measured if m.result == "CONTINUE")
    how = (
        f"{launches} launches one after another, each alone in the account (settled before the "
        f"next), agents registering after {', '.join(map(str, AGENT_DELAYS))} s in turn "
        f"(plus 0-2 s, uniform, seed {seed}), "
        f"2-minute patches; {released} released; simulated seconds"
    )
    online = present([m.online_to_send for m in measured])
    complete = present([m.event_to_complete for m in measured])
    overhead = present([m.overhead for m in measured])
    return [
        Figure(
            "launch latency",
            "agent Online -> SendCommand, median",
            round(median(online), 1),
            "s (sim)",
            "agent registered (fleet simulator) -> the command's RequestedDateTime; " + how,
            target=f"<= {TARGET_ONLINE_TO_SEND_MEDIAN:g} s",
            met=median(online) <= TARGET_ONLINE_TO_SEND_MEDIAN,
        ),
        Figure(
            "launch latency",
            "agent Online -> SendCommand, p95",
            round(p95(online), 1),
            "s (sim)",
            "as the median, 95th percentile (nearest rank); " + how,
            target=f"<= {TARGET_ONLINE_TO_SEND_P95:g} s",
            met=p95(online) <= TARGET_ONLINE_TO_SEND_P95,
        ),
        Figure(
            "launch latency",
            "final command status event -> CompleteLifecycleAction, median",
            round(median(complete), 1),
            "s (sim)",
            "the fleet emitting the invocation's final status event -> the lifecycle action "
            "ended by CompleteLifecycleAction; " + how,
            target=f"<= {TARGET_EVENT_TO_COMPLETE_MEDIAN:g} s",
            met=median(complete) <= TARGET_EVENT_TO_COMPLETE_MEDIAN,
        ),
        Figure(
            "launch latency",
            "launch overhead, median",
            round(median(overhead), 1),
            "s (sim)",
            "lifecycle action start -> CONTINUE, minus action start -> agent Online, minus the "
            "patch invocation's own run (start -> end on the instance); " + how,
            target=f"<= {TARGET_OVERHEAD_MEDIAN:g} s",
            met=median(overhead) <= TARGET_OVERHEAD_MEDIAN,
        ),
        Figure(
            "launch latency",
            "launch overhead, p95",
            round(p95(overhead), 1),
            "s (sim)",
            "as the median, 95th percentile; " + how,
        ),
        Figure(
            "launch latency",
            "wall time of these launches",
            round(wall, 1),
            "s (real)",
            "real seconds for the whole measurement, deploy included (perf_counter)",
        ),
    ]


# --- cost per run -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCost:
    transitions: int
    calls: Counter[str]
    status: str
    invocations: int
    gb_seconds: float
    watcher_transitions: int
    watcher_gb_seconds: float
    watcher_invocations: int


def run_cost(behaviour: Behaviour) -> RunCost:
    """What one launch run, alone in the account, costs: transitions, calls, Lambda time."""
    with deployed_cloud() as cloud:
        before = len(cloud.lambdas.invocations)
        [instance] = launch_instances(cloud, [behaviour])
        cloud.settle(max_seconds=12 * 3600)
        [execution] = [
            e
            for e in executions(cloud, LAUNCH_MACHINE)
            if json.loads(e["input"])["instanceId"] == instance
        ]
        invocations = cloud.lambdas.invocations[before:]
        own = [i for i in invocations if not i.function_name.endswith(WATCHER_FUNCTION)]
        watched = [i for i in invocations if i.function_name.endswith(WATCHER_FUNCTION)]
        watchers = executions(cloud, WATCHER_MACHINE)
        watcher_memory = watched[0].memory_mb if watched else 0
        return RunCost(
            transitions=transitions(history(cloud, execution["executionArn"])),
            calls=Counter(c.operation for c in CALL_LOG.calls),
            status=execution["status"],
            invocations=len(own),
            # Lambda bills each invocation's duration, rounded up to the millisecond.
            gb_seconds=sum(math.ceil(i.duration_ms) / 1000 * i.memory_mb / 1024 for i in own),
            watcher_transitions=sum(
                transitions(history(cloud, w["executionArn"])) for w in watchers
            ),
            # The watcher sleeps between polls, on the simulated clock: its billed duration is
            # the simulated time its rounds ran, which its executions' span bounds from above.
            watcher_gb_seconds=sum(
                (w["stopDate"] - w["startDate"]).total_seconds() for w in watchers
            )
            * watcher_memory
            / 1024,
            watcher_invocations=len(watched),
        )


def cost_figures() -> list[Figure]:
    cases = {
        "2-minute patch": Behaviour(agent_delay_seconds=30, command_duration_seconds=120),
        "60-minute patch": Behaviour(agent_delay_seconds=30, command_duration_seconds=3600),
        "agent never online": Behaviour(never_online=True),
    }
    figures: list[Figure] = []
    entered: dict[str, int] = {}
    for name, behaviour in cases.items():
        cost = run_cost(behaviour)
        entered[name] = cost.transitions
        bounded = name != "agent never online"
        figures.append(
            Figure(
                "launch run",
                f"state transitions, {name}",
                cost.transitions,
                "transitions",
                "states entered in the execution history of one run, alone in the account, "
                f"agent Online after 30 s (run ended {cost.status}); Step Functions bills one "
                "transition per state entered",
                target=f"<= {TARGET_TRANSITIONS}" if bounded else None,
                met=cost.transitions <= TARGET_TRANSITIONS if bounded else None,
            )
        )
        top = ", ".join(f"{op} {n}" for op, n in cost.calls.most_common(6))
        figures += [
            Figure(
                "launch run",
                f"AWS API calls, {name}",
                sum(cost.calls.values()),
                "calls",
                "every call the run's handlers, service integrations and the readiness watcher "
                f"made (botocore before-parameter-build hook); most: {top}",
            ),
            Figure(
                "launch run",
                f"Lambda invocations, {name}",
                cost.invocations,
                "invocations",
                "every handler invocation the run set off (synchronous and asynchronous), "
                "the readiness watcher's apart",
            ),
            Figure(
                "launch run",
                f"Lambda GB-seconds, {name}",
                round(cost.gb_seconds, 4),
                "GB-s",
                f"{cost.invocations} invocations of the run's handlers: their real duration on "
                "the local cloud (in-process, warm after the first) x the template's memory "
                "size; an estimate of Lambda's billed duration",
            ),
            Figure(
                "launch run",
                f"readiness watcher transitions, {name}",
                cost.watcher_transitions,
                "transitions",
                "states entered by the readiness watcher's executions while this run, alone, "
                "waited (shared by every run waiting at the same time)",
            ),
            Figure(
                "launch run",
                f"readiness watcher GB-seconds, {name}",
                round(cost.watcher_gb_seconds, 4),
                "GB-s",
                f"{cost.watcher_invocations} watch-ready round(s): the watcher's executions' "
                "span in simulated time (it sleeps 2 s between polls while anything waits) x "
                "its memory size (128 MB); shared by every run waiting at the same time",
            ),
            Figure(
                "launch run",
                f"readiness watcher invocations, {name}",
                cost.watcher_invocations,
                "invocations",
                "watch-ready rounds (up to 4 minutes each) while this run, alone, waited",
            ),
        ]
    same = entered["2-minute patch"] == entered["60-minute patch"]
    figures.append(
        Figure(
            "launch run",
            "transitions 60-minute minus 2-minute patch",
            entered["60-minute patch"] - entered["2-minute patch"],
            "transitions",
            "equal when nothing polls while the patch runs (one task-token wait)",
            target="0",
            met=same,
        )
    )
    return figures


def measure(launches: int = 20, scale: int = 500) -> list[Figure]:
    return cost_figures() + latency_figures(launches) + scale_out_figures(scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=20, help="launches for the latencies")
    parser.add_argument("--scale", type=int, default=500, help="instances in the scale-out")
    parser.add_argument(
        "--only", choices=("cost", "latency", "scale"), help="measure one part only"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.only == "cost":
        figures = cost_figures()
    elif args.only == "latency":
        figures = latency_figures(args.launches)
    elif args.only == "scale":
        figures = scale_out_figures(args.scale)
    else:
        figures = measure(args.launches, args.scale)
    if args.json:
        print(json.dumps([f.as_dict() for f in figures], indent=1))
    else:
        for figure in figures:
            verdict = "" if figure.met is None else (" [met]" if figure.met else " [NOT met]")
            print(
                f"{figure.group:<15} {figure.name:<62} {figure.value!s:>12} {figure.unit}{verdict}"
            )
            print(f"{'':<15} how: {figure.how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
