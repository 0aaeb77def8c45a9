"""``fleetpatch local``: run the control plane on the local cloud.

``local run SCENARIO`` deploys the real template into the local cloud, plays the
scenario and prints what happened (a timeline, or one JSON object with ``--json``).
``local up`` keeps the local cloud running on 127.0.0.1 for ``aws --endpoint-url``.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fleetpatch_authoring.yamlfile import InvalidFileError
from fleetpatch_cli.parser import examples

if TYPE_CHECKING:
    from localcloud.scenario import Scenario

EXIT_INVALID = 2
# Handlers that publish no metric on a path warn about it on every invocation; in Lambda
# that goes to the log, here it would drown the timeline.
NO_METRICS_WARNING = "No application metrics to publish"


def _load_scenario(path: Path) -> Scenario | None:
    """The scenario at ``path``, or None after printing each problem (one per line)."""
    from fleetpatch_cli.scenario_file import load_scenario

    try:
        return load_scenario(path)
    except InvalidFileError as exc:
        for error in exc.errors:
            print(str(error), file=sys.stderr)
        return None


def run_scenario(
    path: Path,
    *,
    as_json: bool,
    time_factor: float | None,
    template: Path | None,
    reports_dir: Path | None = None,
    verbose: bool = False,
) -> int:
    if template is not None and not template.is_file():
        # Before the local cloud starts: the deploy would find out seconds later.
        raise FileNotFoundError(errno.ENOENT, "no such file (--template)", str(template))
    from localcloud.runner import play
    from localcloud.scenario import ScenarioError
    from localcloud.timeline import render_timeline

    warnings.filterwarnings("ignore", message=NO_METRICS_WARNING)
    scenario = _load_scenario(path)
    if scenario is None:
        return EXIT_INVALID
    try:
        result = play(
            scenario,
            time_factor=time_factor,
            template=template,
            progress=not as_json,
            reports_dir=reports_dir,
        )
    except ScenarioError as exc:  # found once the stack is deployed, before any step
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=False))
    else:
        render_timeline(result, verbose=verbose)
    return 0


def start_time(text: str) -> datetime:
    """``--start``: an ISO-8601 time with its time zone (``Z`` for UTC)."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO-8601 time (e.g. 2026-11-07T04:00:00Z)"
        ) from None
    if when.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no time zone (add Z for UTC, e.g. 2026-11-07T04:00:00Z)"
        )
    return when


def serve(
    host: str,
    port: int,
    time_factor: float,
    template: Path | None,
    *,
    start: datetime | None = None,
    scenario_path: Path | None = None,
) -> int:
    from localcloud.server import serve_forever

    if template is not None and not template.is_file():
        raise FileNotFoundError(errno.ENOENT, "no such file (--template)", str(template))
    scenario = None
    if scenario_path is not None:
        scenario = _load_scenario(scenario_path)
        if scenario is None:
            return EXIT_INVALID
    warnings.filterwarnings("ignore", message=NO_METRICS_WARNING)
    try:
        serve_forever(
            host=host,
            port=port,
            time_factor=time_factor,
            template=template,
            start=start,
            scenario=scenario,
            sleep=time.sleep,
        )
    except ValueError as exc:  # a non-loopback host, a time factor of 0
        print(f"fleetpatch local up: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:  # the port is taken
        print(f"fleetpatch local up: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    local = subparsers.add_parser(
        "local",
        help="run the control plane on the local cloud (no AWS)",
        description="Run the real template, handlers and state machines on the local cloud: "
        "play a scenario, or serve the stack to the AWS CLI.",
        epilog=examples(
            "fleetpatch local run scenarios/demo.yaml",
            "fleetpatch local up --port 4566",
        ),
    )
    actions = local.add_subparsers(dest="action", required=True, metavar="ACTION")

    run = actions.add_parser(
        "run",
        help="deploy the template into the local cloud and play a scenario",
        description="Deploy the real template.yaml into the local cloud, play SCENARIO on a "
        "simulated fleet and print what happened. Exits 0 when the scenario played "
        "(whatever the runs' outcomes), 2 for an invalid scenario file.",
        epilog=examples(
            "fleetpatch local run scenarios/demo.yaml",
            "fleetpatch local run scenarios/demo.yaml --json | jq '.runs[].status'",
            "fleetpatch local run scenarios/demo.yaml --reports out/ --time-factor 0.001",
        ),
    )
    run.add_argument("scenario", type=Path, metavar="SCENARIO", help="a scenario file")
    run.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the timeline"
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show each Lambda invocation and each event in the timeline",
    )
    run.add_argument(
        "--reports",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy every run's stored report (HTML and JSON) from the local bucket into DIR",
    )
    run.add_argument(
        "--time-factor",
        type=float,
        default=None,
        metavar="F",
        help="real seconds per simulated second (default: the scenario's, 0 = as fast as possible)",
    )
    run.add_argument(
        "--template",
        type=Path,
        default=None,
        metavar="FILE",
        help="template to deploy (default: template.yaml)",
    )
    run.set_defaults(
        func=lambda a: run_scenario(
            a.scenario,
            as_json=a.json,
            time_factor=a.time_factor,
            template=a.template,
            reports_dir=a.reports,
            verbose=a.verbose,
        )
    )

    up = actions.add_parser(
        "up",
        help="keep the local cloud running on 127.0.0.1 with the stack deployed",
        description="Start the local cloud as a server on 127.0.0.1 with the stack deployed, print "
        "the endpoint, the simulator's images (AMIs) and where e-mails and Slack messages go, "
        "then stream the timeline until interrupted. Explore with `aws --endpoint-url`: "
        "instances launched from the printed images run an SSM agent, Lambda logs are in "
        "CloudWatch Logs. (No --json: it serves until interrupted.)",
        epilog=examples(
            "fleetpatch local up",
            "fleetpatch local up --scenario scenarios/sandbox.yaml --time-factor 0.1",
            "aws --endpoint-url http://127.0.0.1:4566 autoscaling set-desired-capacity "
            "--auto-scaling-group-name web-test --desired-capacity 1",
        ),
    )
    up.add_argument("--host", default="127.0.0.1", help="a loopback address")
    up.add_argument("--port", type=int, default=4566, help="the port to listen on")
    up.add_argument(
        "--time-factor",
        type=float,
        default=1.0,
        metavar="F",
        help="real seconds per simulated second",
    )
    up.add_argument(
        "--template",
        type=Path,
        default=None,
        metavar="FILE",
        help="template to deploy (default: template.yaml)",
    )
    up.add_argument(
        "--scenario",
        type=Path,
        default=None,
        metavar="FILE",
        help="build this scenario's fleet and Auto Scaling groups (its steps are not played; "
        "default: no fleet)",
    )
    up.add_argument(
        "--start",
        type=start_time,
        default=None,
        metavar="TIME",
        help="simulated time to start at, ISO-8601 with a zone; a scenario's start is for "
        "local run (default: now)",
    )
    up.set_defaults(
        func=lambda a: serve(
            a.host,
            a.port,
            a.time_factor,
            a.template,
            start=a.start,
            scenario_path=a.scenario,
        )
    )
