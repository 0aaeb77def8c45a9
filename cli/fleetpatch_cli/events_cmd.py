"""``fleetpatch events check``: validate event files and show the route each would take."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fleetpatch.errors import InvalidEventError
from fleetpatch.events import parse_event_json
from fleetpatch.routing import route_event
from fleetpatch_cli.parser import examples

EXIT_INVALID = 2


def check_files(paths: list[Path]) -> int:
    """Print one JSON line per valid file, one stderr line per invalid one; 2 if any invalid."""
    invalid = 0
    for path in paths:
        try:
            event = parse_event_json(path.read_bytes(), source_name=str(path))
        except OSError as exc:
            print(f"{path}: file: cannot read ({exc.strerror})", file=sys.stderr)
            invalid += 1
            continue
        except InvalidEventError as exc:
            print(str(exc), file=sys.stderr)
            invalid += 1
            continue
        decision = route_event(event)
        print(
            json.dumps(
                {"file": str(path), "route": decision.route.value, "reason": decision.reason}
            )
        )
    return EXIT_INVALID if invalid else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = subparsers.add_parser(
        "events",
        help="work with EventBridge event files",
        description="Check EventBridge event files against fleetpatch's event contract.",
        epilog=examples("fleetpatch events check events/*/*.json"),
    )
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate event files and print the route each takes",
        description="Validate EventBridge event files against fleetpatch's event contract. "
        "Prints one JSON object per valid file; exits 2 if any file is invalid.",
        epilog=examples(
            "fleetpatch events check events/*/*.json",
            "fleetpatch events check events/aws.ec2/instance-running.json | jq .route",
        ),
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="event files")
    check.set_defaults(func=lambda args: check_files(args.files))
