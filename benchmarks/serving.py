"""Serving waves: how much of a tier keeps serving while it is patched, and how long it takes.

One local cloud at time factor 0 (simulated waits take no real time) with the real
template.yaml, Slack answered by the local receiver. Per case, a web tier: an Auto Scaling
group of N Amazon Linux 2023 instances, all InService behind its own ELBv2 target group
(deregistration delay 30 s; health check every 10 s, healthy after 3), each tier in its
own patch group. The fleet settles until every target is healthy, then the gated wave is
started directly (as ``fleetpatch wave start`` and the workflow tests do) with one serving
batch: the policy's serving defaults (Standby drain, NoReboot install, controlled reboot,
status checks + agent + target health) and the case's disruption budget
(``max_unavailable``), its rate ``max_concurrency`` one more than the budget allows (the
next run waits on the budget, asking every 15 s to 1 min, while the last one rescans). The
cases (default: 6 instances with a budget of 1, 8 with 25 %, i.e. 2) run one after the
other.

Per wave it reports:

* the lowest healthy fraction of the tier's target group: the fewest healthy targets from
  the wave's start to the end, over the most ever healthy (the tier at full strength), as
  ``cloud.load_balancing.healthy_counts`` sampled them (at every change);
* the makespan: simulated time from the execution's start to its stop;
* the ideal for the budget: ``ceil(N / allowed) x`` the median time one instance was out of
  service in the same run (``outOfServiceSeconds`` of its serving record: from its drain to
  its return), i.e. perfectly packed rounds with no time between them; and the makespan
  over that ideal (what the workflow spends outside any instance's time out of service:
  starting runs, the budget, the rescan, recording).

Figures are printed, not asserted.

    .venv/bin/python -m benchmarks.serving [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from benchmarks.figures import Figure
from fleetpatch.batch_policy import RuntimeServing
from fleetpatch.contracts import keys
from fleetpatch.waves import run_input
from localcloud.cloud import LocalCloud
from localcloud.runner import create_group, create_target_group, lowest_healthy
from localcloud.scenario import GroupSpec, HealthCheckSpec, TargetGroupSpec
from localcloud.slack import SlackWebhookReceiver

GROUP = "serving"
DEREGISTRATION_DELAY = 30


@dataclass(frozen=True)
class Case:
    size: int
    budget: str  # max_unavailable: "N" or "X%"

    @property
    def allowed(self) -> int:
        """What the budget lets out at once (a percentage rounds down, never below one)."""
        if self.budget.endswith("%"):
            return max(1, math.floor(self.size * int(self.budget[:-1]) / 100))
        return int(self.budget)

    @property
    def label(self) -> str:
        return f"{self.size} instances, budget {self.budget}"


# Small enough for about a minute of real time (3 to 5 s an instance, with the stack's
# deployment); larger tiers with --cases (12:1,12:25% gave the same ratios).
DEFAULT_CASES = (Case(6, "1"), Case(8, "25%"))


@dataclass(frozen=True)
class Result:
    case: Case
    status: str
    peak: int
    lowest: int
    makespan: float
    out_of_service: list[float]
    outcomes: dict[str, int]
    wall: float

    @property
    def ideal(self) -> float:
        rounds = math.ceil(self.case.size / self.case.allowed)
        return rounds * statistics.median(self.out_of_service or [0.0])


def _tier(cloud: LocalCloud, index: int, case: Case) -> tuple[str, str]:
    """A tier of ``case.size`` behind its own target group, all healthy: (target group, group)."""
    target_group = f"tier{index}-tg"
    patch_group = f"serving-bench-{index}"
    arn = create_target_group(
        cloud,
        TargetGroupSpec(
            name=target_group,
            deregistration_delay_seconds=DEREGISTRATION_DELAY,
            health_check=HealthCheckSpec(interval_seconds=10, healthy_threshold=3),
        ),
    )
    create_group(
        cloud,
        GroupSpec(
            name=f"tier{index}",
            os="AMAZON_LINUX_2023",
            tags={"Patch Group": patch_group},
            max_size=case.size + 2,
            desired_capacity=case.size,
            target_groups=[target_group],
        ),
        target_group_arns=[arn],
    )
    cloud.settle(max_seconds=3600)
    return target_group, patch_group


def _batch(case: Case, patch_group: str) -> dict[str, Any]:
    serving = RuntimeServing().model_dump(by_alias=True) | {"maxUnavailable": case.budget}
    return {
        "name": "web",
        "patchGroups": [patch_group],
        # One more run than the budget allows: the next instance's run is waiting on the
        # budget when a place comes free (a run holds its place only while the instance is
        # out; its rescan and record overlap the next instance's drain).
        "maxConcurrency": str(case.allowed + 1),
        "maxErrors": "100%",
        "operation": "Install",
        "rebootOption": "NoReboot",
        "gate": None,
        "serving": serving,
    }


def _records(cloud: LocalCloud, run: str) -> list[dict[str, Any]]:
    assert cloud.stack is not None
    items = cloud.client("dynamodb").query(
        TableName=cloud.stack.physical_id("StateTable"),
        KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues={
            ":pk": {"S": keys.wave_pk(run)},
            ":prefix": {"S": keys.SERVING_PREFIX},
        },
    )["Items"]
    return [json.loads(item["record"]["S"]) for item in items]


def _since(samples: list[tuple[datetime, int, int]], start: datetime) -> list[Any]:
    """The samples from ``start`` on, led by the count in force at ``start``."""
    before = [s for s in samples if s[0] <= start]
    return before[-1:] + [s for s in samples if s[0] > start]


def run_case(cloud: LocalCloud, index: int, case: Case) -> Result:
    target_group, patch_group = _tier(cloud, index, case)
    assert cloud.stack is not None
    assert cloud.load_balancing is not None
    sfn = cloud.client("stepfunctions")
    name = f"serving-bench-{index}"
    began = time.perf_counter()
    arn = sfn.start_execution(
        stateMachineArn=cloud.stack.state_machine_arn("GatedWaveStateMachine"),
        name=name,
        input=json.dumps(run_input("serving-bench", [_batch(case, patch_group)])),
    )["executionArn"]
    cloud.settle(max_seconds=24 * 3600)
    wall = time.perf_counter() - began
    execution = sfn.describe_execution(executionArn=arn)
    start, stop = execution["startDate"], execution.get("stopDate") or cloud.clock.now()
    samples = _since(cloud.load_balancing.healthy_counts(target_group), start)
    found = lowest_healthy(samples)
    peak, lowest = (found[0], found[2]) if found else (0, 0)
    records = _records(cloud, name)
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record["outcome"]] = outcomes.get(record["outcome"], 0) + 1
    return Result(
        case=case,
        status=execution["status"],
        peak=peak,
        lowest=lowest,
        makespan=(stop - start).total_seconds(),
        out_of_service=[r["outOfServiceSeconds"] for r in records if r["outOfServiceSeconds"]],
        outcomes=outcomes,
        wall=wall,
    )


def run(cases: Sequence[Case] = DEFAULT_CASES) -> list[Result]:
    with LocalCloud() as cloud, SlackWebhookReceiver() as slack:
        stack = cloud.deploy()
        secret = stack.outputs.get("SlackWebhookSecret")
        if secret:
            cloud.client("secretsmanager").create_secret(Name=secret, SecretString=slack.url)
        return [run_case(cloud, index, case) for index, case in enumerate(cases, start=1)]


def figures_from(results: Sequence[Result]) -> list[Figure]:
    figures: list[Figure] = []
    for result in results:
        case = result.case
        outcomes = ", ".join(f"{n} {o}" for o, n in sorted(result.outcomes.items()))
        median_out = statistics.median(result.out_of_service or [0.0])
        figures += [
            Figure(
                GROUP,
                f"{case.label}: lowest healthy fraction",
                f"{result.lowest}/{result.peak}",
                f"= {result.lowest / result.peak:.0%}" if result.peak else "",
                how=f"fewest healthy targets of the tier's target group from the wave's start "
                f"to its end over the most ever healthy; budget allows {case.allowed} out; "
                f"wave {result.status}, {outcomes}",
            ),
            Figure(
                GROUP,
                f"{case.label}: makespan",
                round(result.makespan / 60, 1),
                "sim min",
                how="simulated time from the gated wave's start to its stop",
            ),
            Figure(
                GROUP,
                f"{case.label}: ideal for the budget",
                round(result.ideal / 60, 1),
                "sim min",
                how=f"ceil({case.size}/{case.allowed}) rounds x the median time one instance "
                f"was out of service in the same run ({median_out:.0f} s, drain to return)",
            ),
            Figure(
                GROUP,
                f"{case.label}: makespan / ideal",
                round(result.makespan / result.ideal, 2) if result.ideal else "-",
                "x",
                how=f"the wave took {result.wall:.1f} s of real time on the local cloud",
            ),
        ]
    return figures


def measure(cases: Sequence[Case] = DEFAULT_CASES) -> list[Figure]:
    return figures_from(run(cases))


def _case(text: str) -> Case:
    size, _, budget = text.partition(":")
    return Case(int(size), budget or "1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default=",".join(f"{c.size}:{c.budget}" for c in DEFAULT_CASES),
        help="SIZE:BUDGET,... (e.g. 6:1,24:25%%)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    began = time.perf_counter()
    figures = measure([_case(c) for c in args.cases.split(",") if c])
    if args.json:
        print(json.dumps([f.as_dict() for f in figures], indent=1))
    else:
        for figure in figures:
            print(f"{figure.name:<62} {figure.value!s:>8} {figure.unit}")
        print(f"({time.perf_counter() - began:.0f} s of real time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
