"""tools/iam_report.py: the check behind `make iam-check` can fail, and says why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import iam_report


def test_a_run_that_used_almost_nothing_fails_the_check_naming_the_grants(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the decisions of a run in which one role made one call
    decision = {
        "principal": "fleetpatch-local-PatchOnLaunchFunctionRole-X",
        "role_logical_id": "PatchOnLaunchFunctionRole",
        "action": "states:StartExecution",
        "resource": "arn:aws:states:eu-central-1:123456789012:stateMachine:m",
        "allowed": True,
        "statements": ["fleetpatch-local-PatchOnLaunchFunctionRole-X/start-patch-new-instance#0"],
        "on_behalf_of": "",
        "reason": "",
    }
    (tmp_path / "decisions-1.jsonl").write_text(json.dumps(decision) + "\n")
    # When the check reads it
    status = iam_report.report(tmp_path, check=True)
    # Then every grant nothing used and docs/security.md does not explain is named
    err = capsys.readouterr().err
    assert status == 1
    assert "BatchGateFunctionRole/logs-and-dead-letters#5 states:StartExecution" in err
    assert "PatchOnLaunchFunctionRole/start-patch-new-instance#0" not in err


def test_no_decisions_is_an_error_not_a_pass(tmp_path: Path) -> None:
    assert iam_report.report(tmp_path, check=True) == 2


def test_only_the_roles_own_statements_count_as_its_grants() -> None:
    refs = ["role-A/inline#3", "kms:arn:aws:kms:eu-central-1:1:key/k#0", "sqs:arn:q#1"]
    assert iam_report._identity_refs(refs) == ["role-A/inline#3"]
