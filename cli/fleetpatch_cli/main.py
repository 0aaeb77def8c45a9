"""Entry point of the ``fleetpatch`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version
from typing import cast

from fleetpatch_cli import (
    doctor_cmd,
    emergency_cmd,
    events_cmd,
    export_cmd,
    local_cmd,
    org_cmd,
    package_cmd,
    plan_cmd,
    policy_cmd,
    reports_cmd,
    status_cmd,
    wave_cmd,
)
from fleetpatch_cli.boundary import run_command
from fleetpatch_cli.completion import script
from fleetpatch_cli.parser import Parser, examples


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="fleetpatch",
        description="Operate fleetpatch, the event-driven control plane for SSM Patch Manager.",
        epilog=examples(
            "fleetpatch policy check                     # validate policy/fleet.yaml",
            "fleetpatch plan --local-fleet scenarios/demo.yaml",
            "fleetpatch wave status --region eu-central-1",
            "fleetpatch COMMAND --help                   # each command's options and examples",
        )
        + "\n\nAn ordinary problem (no credentials, a missing file, ...) is one line on stderr, "
        "`fleetpatch COMMAND: why`, and exit 2.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('fleetpatch')}")
    # Every command's parser is a Parser (argparse gives subparsers their parent's class).
    subparsers = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    events_cmd.register(subparsers)
    local_cmd.register(subparsers)
    policy_cmd.register(subparsers)
    plan_cmd.register(subparsers)
    wave_cmd.register(subparsers)
    emergency_cmd.register(subparsers)
    reports_cmd.register(subparsers)
    status_cmd.register(subparsers)
    org_cmd.register(subparsers)  # issue 22: --org on runs, report, compliance and status
    doctor_cmd.register(subparsers)
    export_cmd.register(subparsers)
    package_cmd.register(subparsers)  # issue 22: StackSets
    completion = subparsers.add_parser(
        "completion",
        help="print a shell completion script",
        description="Print the completion script for your shell; load it from your shell's "
        "start-up file.",
        epilog=examples(
            "fleetpatch completion bash > ~/.local/share/bash-completion/completions/fleetpatch",
            'eval "$(fleetpatch completion zsh)"        # in ~/.zshrc',
        ),
    )
    completion.add_argument("shell", choices=["bash", "zsh"], help="your shell")
    completion.set_defaults(func=lambda a: print(script(parser, a.shell), end="") or 0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(args, args.func)


if __name__ == "__main__":
    sys.exit(main())
