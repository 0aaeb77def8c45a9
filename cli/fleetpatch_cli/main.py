"""Entry point of the ``fleetpatch`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from fleetpatch_cli import (
    doctor_cmd,
    events_cmd,
    local_cmd,
    plan_cmd,
    policy_cmd,
    reports_cmd,
    status_cmd,
    wave_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fleetpatch",
        description="Operate fleetpatch, the event-driven control plane for SSM Patch Manager.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    events_cmd.register(subparsers)
    local_cmd.register(subparsers)
    policy_cmd.register(subparsers)
    plan_cmd.register(subparsers)
    wave_cmd.register(subparsers)
    reports_cmd.register(subparsers)
    status_cmd.register(subparsers)
    doctor_cmd.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
