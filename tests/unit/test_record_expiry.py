"""Every record the workflows write to the state table expires like the Python-written ones.

The table's TTL attribute is ``expires_at`` (template.yaml). Items the handlers write carry
it (``fleetpatch.contracts.keys.RECORD_TTL_SECONDS``: 400 days); an item the ASL writes without it
would never expire (issue 17: approvals, run and wave records did not). The ASL cannot
import the constant, so this checks each putItem against it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch.contracts.keys import RECORD_TTL_SECONDS
from tests.unit.asl import STATEMACHINES, states

ROOT = Path(__file__).resolve().parents[2]
MACHINES = sorted(path.name.removesuffix(".asl.json") for path in STATEMACHINES.glob("*.asl.json"))


def _puts() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (f"{machine}.asl.json", name, state["Arguments"]["Item"])
        for machine in MACHINES
        for name, state in states(machine).items()
        if state.get("Resource") == "arn:aws:states:::dynamodb:putItem"
    ]


def test_the_table_expires_items_by_expires_at() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    ttl = template["Resources"]["StateTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}


PUTS = _puts()


@pytest.mark.parametrize(("machine", "state", "item"), PUTS, ids=[f"{m}:{s}" for m, s, _ in PUTS])
def test_every_record_a_workflow_writes_expires_with_the_records_ttl(
    machine: str, state: str, item: dict[str, Any]
) -> None:
    assert "expires_at" in item, f"{machine} {state} writes a record that never expires"
    expression = item["expires_at"]["N"]
    seconds = [int(n) for n in re.findall(r"\d{5,}", expression)]
    assert seconds == [RECORD_TTL_SECONDS], expression
    assert "$now()" in expression
