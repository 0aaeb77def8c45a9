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
STDIN = Path("-")


def expand(paths: list[Path]) -> list[Path]:
    """``-`` (stdin) and files as given; a folder is every ``*.json`` under it, sorted."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return found


def _read(path: Path) -> bytes:
    return sys.stdin.buffer.read() if path == STDIN else path.read_bytes()


def check_files(paths: list[Path], *, as_json: bool = False) -> int:
    """One JSON line per valid file, one stderr line per invalid one (with ``as_json``: one
    JSON object with both); 2 if any is invalid."""
    results: list[dict[str, str]] = []
    for path in expand(paths):
        name = "<stdin>" if path == STDIN else str(path)
        try:
            event = parse_event_json(_read(path), source_name=name)
        except OSError as exc:
            results.append({"file": name, "error": f"{name}: file: cannot read ({exc.strerror})"})
        except InvalidEventError as exc:
            results.append({"file": name, "error": str(exc)})
        else:
            decision = route_event(event)
            results.append({"file": name, "route": decision.route.value, "reason": decision.reason})
    invalid = sum("error" in r for r in results)
    if as_json:
        print(json.dumps({"files": results, "invalid": invalid}, indent=2))
    else:
        for result in results:
            if "error" in result:
                print(result["error"], file=sys.stderr)
            else:
                print(json.dumps(result))
    return EXIT_INVALID if invalid else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    events = subparsers.add_parser(
        "events",
        help="work with EventBridge event files",
        description="Check EventBridge event files against fleetpatch's event contract.",
        epilog=examples("fleetpatch events check events/"),
    )
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="validate event files and print the route each takes",
        description="Validate EventBridge event files against fleetpatch's event contract. "
        "Prints one JSON object per valid file (a line each) and one error line per invalid "
        "file on stderr; exits 2 if any file is invalid.",
        epilog=examples(
            "fleetpatch events check events/                 # every *.json under it",
            "fleetpatch events check events/aws.ec2/instance-running.json | jq .route",
            "fleetpatch events check - < event.json          # - reads stdin",
            "fleetpatch events check events/ --json",
        ),
    )
    check.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="event files, folders (every *.json under them) or - for stdin",
    )
    check.add_argument(
        "--json", action="store_true", help="print one JSON object, the invalid files included"
    )
    check.set_defaults(func=lambda args: check_files(args.files, as_json=args.json))
