"""The cost model: measured transitions and Lambda GB-seconds turned into dollars.

Prices are AWS's public list prices for us-east-1 (Step Functions Standard workflows and
Lambda on arm64), before any free tier; other regions differ by a few percent. Only what
scales with the fleet is priced: state transitions, Lambda duration and requests, the
readiness watcher's included (its Lambda billed while anything waits, at 128 MB, and its
transitions; a launch alone in the account pays for it alone). DynamoDB
on demand, S3, SNS and EventBridge add cents per month at these volumes and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.figures import Figure

PRICE_PER_TRANSITION = 0.025 / 1000  # Step Functions Standard, per state transition
PRICE_PER_GB_SECOND = 0.0000133334  # Lambda, arm64, per GB-second
PRICE_PER_REQUEST = 0.20 / 1_000_000  # Lambda, per request
PRICES = (
    "list prices, us-east-1, no free tier: Step Functions Standard $0.025 per 1,000 state "
    "transitions; Lambda arm64 $0.0000133334 per GB-second and $0.20 per million requests"
)

FLEET = 1000  # instances patched once a month
LAUNCHES_PER_DAY = 200
DAYS_PER_MONTH = 30


def _find(figures: Sequence[Figure], group: str, name: str) -> float:
    for figure in figures:
        if figure.group == group and figure.name == name:
            return float(figure.value)
    raise LookupError(f"the cost model needs the figure {group!r} / {name!r}")


def model(figures: Sequence[Figure]) -> list[Figure]:
    launch_transitions = _find(figures, "launch run", "state transitions, 2-minute patch")
    launch_gbs = _find(figures, "launch run", "Lambda GB-seconds, 2-minute patch")
    launch_requests = _find(figures, "launch run", "Lambda invocations, 2-minute patch")
    # The readiness watcher runs while anything waits for its agent; a launch alone in the
    # account pays for it alone (in a scale-out, one watcher serves every waiting launch).
    watcher_transitions = _find(
        figures, "launch run", "readiness watcher transitions, 2-minute patch"
    )
    watcher_gbs = _find(figures, "launch run", "readiness watcher GB-seconds, 2-minute patch")
    watcher_requests = _find(figures, "launch run", "readiness watcher invocations, 2-minute patch")
    wave_transitions = _find(figures, "wave scale", f"N={FLEET} state transitions")
    wave_gbs = _find(figures, "wave scale", f"N={FLEET} Lambda GB-seconds")
    wave_requests = _find(figures, "wave scale", f"N={FLEET} Lambda invocations")

    def dollars(transitions: float, gb_seconds: float, requests: float) -> float:
        return (
            transitions * PRICE_PER_TRANSITION
            + gb_seconds * PRICE_PER_GB_SECOND
            + requests * PRICE_PER_REQUEST
        )

    per_launch = dollars(
        launch_transitions + watcher_transitions,
        launch_gbs + watcher_gbs,
        launch_requests + watcher_requests,
    )
    watcher = dollars(watcher_transitions, watcher_gbs, watcher_requests)
    per_wave_instance = dollars(wave_transitions, wave_gbs, wave_requests) / FLEET
    launches = LAUNCHES_PER_DAY * DAYS_PER_MONTH
    monthly = per_launch * launches + per_wave_instance * FLEET
    how = f"from the measured figures above; {PRICES}"
    return [
        Figure(
            "cost",
            "per launch run",
            round(per_launch, 6),
            "USD",
            "the run's transitions and Lambda time, plus the readiness watcher's while it "
            f"waited alone (its share: ${watcher:.6f}: {watcher_transitions:g} transitions, "
            f"{watcher_gbs:g} GB-s at 128 MB, {watcher_requests:g} invocations); {how}",
        ),
        Figure(
            "cost",
            f"per instance in a {FLEET:,}-instance wave",
            round(per_wave_instance, 7),
            "USD",
            how,
        ),
        Figure(
            "cost",
            f"month: {FLEET:,} instances patched once + {LAUNCHES_PER_DAY} launches a day",
            round(monthly, 2),
            "USD",
            f"{launches:,} launch runs + one {FLEET:,}-instance wave; {how}",
        ),
        Figure(
            "cost",
            "month: state transitions",
            round((launch_transitions + watcher_transitions) * launches + wave_transitions),
            "transitions",
            "launch runs x (transitions per run + the readiness watcher's while it waited "
            "alone) + the wave's transitions",
        ),
    ]
