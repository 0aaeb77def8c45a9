"""Contract: the gated-wave ASL takes, renews and releases the wave's lease as fleetpatch.lease says.

The ASL cannot import the owner of the lease's key and horizons; these checks read the ASL
and evaluate its expressions. The graph checks hold the guarantee the workflow tests cannot
reach path by path: nothing is sent before the lease is taken, and every path from a taken
lease to the run's end (Catch edges included) goes through its release.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetpatch import lease
from fleetpatch_cli.wave_cmd import RESUME_ACTIONS
from localcloud.adapters.stepfunctions import evaluate_jsonata

ASL = json.loads(
    (Path(__file__).resolve().parents[2] / "statemachines" / "gated_wave.asl.json").read_text()
)
STATES: dict[str, Any] = ASL["States"]
LEASE_STATES = ("TakeLease", "LeaseHolder", "RenewLease", "ReleaseLease")


def evaluate(expression: str, **bindings: Any) -> Any:
    """A JSONata template of the ASL with variables bound and the clock at 0 (or a literal)."""
    if not expression.startswith("{%"):
        return expression
    body = expression.removeprefix("{%").removesuffix("%}").replace("$millis()", "0")
    declared = "".join(f"${k} := {json.dumps(v)}; " for k, v in bindings.items())
    return evaluate_jsonata(f"({declared}{body})")


def successors(state: dict[str, Any]) -> Iterator[str]:
    for key in ("Next", "Default"):
        if key in state:
            yield state[key]
    for choice in state.get("Choices", []):
        yield choice["Next"]
    for catcher in state.get("Catch", []):
        yield catcher["Next"]


def reachable(start: str, *, avoiding: str | None = None) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name == avoiding:
            continue
        seen.add(name)
        todo += successors(STATES[name])
    return seen


def ends(names: set[str]) -> set[str]:
    return {n for n in names if STATES[n]["Type"] in ("Succeed", "Fail") or STATES[n].get("End")}


@pytest.mark.parametrize("state", LEASE_STATES)
def test_every_lease_state_writes_the_owners_key(state: str) -> None:
    key = STATES[state]["Arguments"]["Key"]
    assert {k: {"S": evaluate(v["S"], wave="prod")} for k, v in key.items()} == (
        lease.lease_key("prod")
    )


def test_the_lease_is_taken_before_anything_is_sent() -> None:
    # Only the governance check (issue 21: a freeze, an operator's skip) comes first: it
    # sends nothing, and a skipped run ends without the lease.
    assert STATES["Start"]["Next"] == "Governed?"
    assert STATES["Governed?"]["Default"] == "TakeLease"
    assert "PatchBatch" not in reachable("Start", avoiding="TakeLease")
    # Refused (another run holds it): nothing is sent and nothing released
    refused = reachable("LeaseHolder")
    assert not refused & {"PatchBatch", "ReleaseLease", "MoreBatches?"}
    assert ends(refused) == {"WaveAlreadyRunning"}


def test_every_path_from_a_taken_lease_to_the_end_releases_it() -> None:
    taken = STATES["TakeLease"]["Next"]
    assert ends(reachable(taken, avoiding="ReleaseLease")) == set()
    assert ends(reachable(taken)) == {"WaveDone", "WaveHeld"}


def test_the_horizons_are_the_owners() -> None:
    batches = [
        {"name": "one", "gate": None},
        {"name": "two", "gate": {"bakeMinutes": 30}},
        {"name": "three", "gate": {"bakeMinutes": 120}},
    ]
    take = STATES["TakeLease"]["Arguments"]["ExpressionAttributeValues"][":until"]["N"]
    for step, bake in ((0, 0), (1, 30), (2, 120)):
        assert int(evaluate(take, batches=batches, step=step)) == lease.first_horizon(bake)
    renew = STATES["RenewLease"]["Arguments"]["ExpressionAttributeValues"][":until"]["N"]
    for step, commands, bake in ((0, 1, 30), (1, 81, 120), (2, 0, 0)):
        sent = {"commandIds": [f"c{i}" for i in range(commands)]}
        assert int(evaluate(renew, batches=batches, step=step, sent=sent)) == (
            lease.renewal_horizon(commands, bake)
        )
    # which rest on the ASL's own waits
    assert STATES["AwaitBatch"]["MaxConcurrency"] == lease.AWAIT_MAX_CONCURRENCY
    waiter = STATES["AwaitBatch"]["ItemProcessor"]["States"]["AwaitBatchCommand"]
    assert waiter["TimeoutSeconds"] == lease.AWAIT_COMMAND_TIMEOUT_SECONDS


def test_a_run_renews_its_lease_after_each_send_and_releases_only_its_own() -> None:
    assert STATES["PatchBatch"]["Next"] == "RenewLease"
    assert STATES["RenewLease"]["Next"] == "Serving?"
    assert STATES["Serving?"]["Default"] == "AwaitBatch"
    assert STATES["PatchServing"]["Next"] == "ServingDone"
    assert STATES["ServingDone"]["Next"] == "AwaitBatch"
    for state in ("RenewLease", "ReleaseLease"):
        assert STATES[state]["Arguments"]["ConditionExpression"] == "run_id = :run"
    condition = STATES["TakeLease"]["Arguments"]["ConditionExpression"]
    assert condition == "attribute_not_exists(pk) OR run_id = :run OR expires_at < :now"


def test_every_resumable_reason_is_one_the_workflow_holds_with() -> None:
    text = json.dumps(ASL)
    for reason in RESUME_ACTIONS:
        assert f"'reason': '{reason}'" in text, reason
    gated = json.dumps(STATES["Gated?"])
    for action in set(RESUME_ACTIONS.values()) - {"override"}:
        assert f"$resume.action = '{action}'" in gated, action
