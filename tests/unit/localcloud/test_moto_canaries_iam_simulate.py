"""Canaries for what localcloud/adapters/iam_simulate.py relies on in moto (pinned)."""

from __future__ import annotations

from moto.iam.exceptions import NotFoundException
from moto.iam.responses import IamResponse

from localcloud.adapters import iam_simulate
from localcloud.core import motopatch


def test_moto_does_not_answer_simulate_principal_policy_itself() -> None:
    iam_simulate.install()
    ours = IamResponse.simulate_principal_policy
    assert motopatch.is_patched(ours, iam_simulate.TAG)
    # moto had nothing by that name: if it gains one, compare it with ours before dropping ours
    assert motopatch.original(IamResponse, "simulate_principal_policy") is None


def test_moto_names_a_missing_role_no_such_entity() -> None:
    assert NotFoundException.code == "NoSuchEntity"
    assert NotFoundException("x").code == "NoSuchEntity"
