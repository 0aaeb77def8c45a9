"""``fleetpatch wave status RUN`` of a running run, on the real workflow: batch k of n, the
commands in flight, then the bake and when it ends."""

from __future__ import annotations

import re
from typing import Any

from tests.workflows.conftest import Deployed
from tests.workflows.test_gated_wave import wave_cli
from tests.workflows.test_gated_wave_gates import launch, start_wave
from tests.workflows.test_wave_lease import FIRST, two_batches


def test_status_of_a_running_run_shows_where_it_stands(deployed: Deployed, capsys: Any) -> None:
    # Given a run whose first batch installs for an hour, then bakes for an hour
    launch(deployed, "UBUNTU", "g1", 2, command_duration_seconds=3600)
    launch(deployed, "WINDOWS", "g2")
    deployed.cloud.settle(max_seconds=3600)
    start_wave(deployed, two_batches(bake_minutes=60))
    deployed.cloud.advance(600)
    # When the operator asks while the batch is being patched
    code, out = wave_cli(deployed, capsys, "status", run=FIRST)
    # Then batch 1 of 2 and its command in flight are named
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"{FIRST}: wave custom, RUNNING"
    assert lines[1].startswith("  now: batch 1 of 2 (one), ")
    assert "  this batch: 2 instances sent, 0 skipped" in lines
    assert re.search(
        r"so far: 1 command\(s\) to 2 instances, 0 finished \(0 failed\); "
        r"1 command\(s\) in flight: \S+",
        out,
    ), out
    # And once the batch is done and the gate's bake runs, when the bake ends
    deployed.cloud.advance(3600)
    code, out = wave_cli(deployed, capsys, "status", run=FIRST)
    assert "  now: gate before batch 2 of 2 (two), Bake" in out, out
    assert re.search(r"  bake ends at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", out), out
    assert "0 command(s) in flight" in out
