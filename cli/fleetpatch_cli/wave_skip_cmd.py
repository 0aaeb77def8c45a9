"""``fleetpatch wave skip``: skip a wave's next occurrence, audited (issue 21, part 4).

``wave skip WAVE --next --reason TEXT``   the wave's next window run is skipped (who, when, why)
``wave skip WAVE --cancel``               undo a pending skip

The skip is one item in the state table (``fleetpatch.wave_skip``); the next run the wave's
window starts takes it, sends nothing and is reported as skipped by the operator with the
reason. It applies to that one occurrence. ``wave status`` lists pending skips.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fleetpatch import wave_skip
from fleetpatch.contracts.names import state_table_name
from fleetpatch_cli.parser import examples
from fleetpatch_cli.wave_plane import ControlPlane, WaveError


def skip(plane: ControlPlane, args: argparse.Namespace, now: datetime) -> tuple[Any, list[str]]:
    """Do what ``wave skip`` asks; what was done as JSON and as lines of text."""
    wave = args.wave
    if wave not in plane.policy().waves:
        raise WaveError(f"no wave {wave} in the deployed policy")
    dynamodb, table = plane.clients("dynamodb"), state_table_name(plane.stage)
    who = plane.clients("sts").get_caller_identity()["Arn"]
    try:
        if args.cancel:
            done = wave_skip.cancel(dynamodb, table, wave, by=who, now=now)
            return (
                {"wave": wave, "cancelled": _json(done)},
                [f"cancelled the skip of wave {wave}'s next occurrence ({done.reason})"],
            )
        if not args.next:
            raise WaveError("say which occurrence: --next (or --cancel to undo a skip)")
        if not args.reason.strip():
            raise WaveError("--reason: say why the occurrence is skipped (it is recorded)")
        done = wave_skip.request(dynamodb, table, wave, reason=args.reason, by=who, now=now)
    except wave_skip.SkipError as exc:
        raise WaveError(str(exc)) from None
    return (
        {"wave": wave, "skip": _json(done)},
        [f"wave {wave}: the next occurrence will be skipped ({done.describe()})"],
    )


def pending(dynamodb: Any, stage: str, waves: Iterable[str]) -> dict[str, str]:
    """Wave -> its pending skip of the next occurrence (``wave status``, ``plan``)."""
    found = {}
    for wave in sorted(waves):
        skip = wave_skip.current(dynamodb, state_table_name(stage), wave)
        if skip is not None and skip.pending:
            found[wave] = skip.describe()
    return found


def pending_lines(plane: ControlPlane) -> list[str]:
    """``wave status``'s line per wave whose next occurrence is skipped."""
    skips = pending(plane.clients("dynamodb"), plane.stage, plane.policy().waves)
    return [f"wave {wave}: next occurrence skipped, {why}" for wave, why in skips.items()]


def _json(found: wave_skip.Skip) -> dict[str, Any]:
    return {"reason": found.reason, "by": found.by, "at": found.at}


def register(actions: argparse._SubParsersAction[argparse.ArgumentParser], common: Any) -> None:
    parser = actions.add_parser(
        "skip",
        help="skip a wave's next occurrence (recorded with who and why), or --cancel it",
        description="Skip WAVE's next occurrence: the run its window starts next sends "
        "nothing and is reported as skipped, with your reason. One occurrence only; recorded "
        "with who and when. --cancel undoes a pending skip.",
        epilog=examples(
            'fleetpatch wave skip prod --next --reason "CHG-4711: quarter-end close"',
            "fleetpatch wave skip prod --cancel",
        ),
    )
    parser.add_argument("wave", metavar="WAVE", help="a wave of the deployed policy")
    parser.add_argument("--next", action="store_true", help="skip the next occurrence")
    parser.add_argument("--cancel", action="store_true", help="undo a pending skip")
    parser.add_argument("--reason", default="", help="why (required with --next; recorded)")
    common(parser)
