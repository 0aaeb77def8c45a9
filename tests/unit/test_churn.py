"""Launch churn: which failures count, what each one does, and the per-group record."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleetpatch.churn import (
    INSTANCES_KEPT,
    REMEMBERED_RUNS,
    STREAK_GAP,
    ChurnPolicy,
    ChurnRecords,
    Decision,
    Failure,
    Streak,
    decide_failure,
    failure_key,
)
from fleetpatch.contracts.keys import churn_key
from fleetpatch.errors import ChurnConflictError
from fleetpatch_authoring.fields import InvalidPolicyError
from fleetpatch_authoring.validate import validate_policy
from tests.unit.conftest import STATE_TABLE

GROUP = "web-prod"
T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
CONFLICT = "ConflictingPatchGroupTagsError: both 'Patch Group' and 'PatchGroup' tags are set"
EXAMPLE = Path(__file__).parents[2] / "policy" / "fleet.yaml"
DEFAULT = ChurnPolicy()  # after 3, suspend-launch


def failure(n: int, reason: str = "TargetUnresolved", message: str = CONFLICT) -> Failure:
    return Failure(
        run_id=f"launch-{n}",
        instance_id=f"i-{n:017x}",
        reason=reason,
        message=message,
        started_at=T0 + timedelta(minutes=n),
    )


def play(
    failures: list[Failure],
    policy: ChurnPolicy = DEFAULT,
    *,
    streak: Streak | None = None,
    every: timedelta = timedelta(minutes=1),
) -> tuple[Streak | None, list[Decision]]:
    """Each failure in turn, one ``every`` apart, as the record would keep them."""
    decisions = []
    for index, each in enumerate(failures):
        new, decision = decide_failure(
            streak,
            each,
            group=GROUP,
            policy=policy,
            on_failure="ABANDON",
            now=T0 + every * (index + 1),
        )
        streak = new or streak
        decisions.append(decision)
    return streak, decisions


# --- which failures count -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "message", "key"),
    [
        ("AgentNeverOnline", "did not report Online within 900 s", "AgentNeverOnline"),
        ("TargetUnresolved", CONFLICT, "TargetUnresolved/ConflictingPatchGroupTagsError"),
        (
            "SendCommandFailed",
            "Ssm.SsmException: AccessDenied",
            "SendCommandFailed/Ssm.SsmException",
        ),
        ("CommandFailed", "AWS-RunPatchBaseline c1 on i-1 ended Failed", "CommandFailed"),
        ("NotCompliant", "i-1 after patching: 2 missing", "NotCompliant"),
        # the control plane's trouble, not the instance's
        ("LifecycleActionGone", "the lifecycle action no longer exists", None),
        ("AgentCheckFailed", "DescribeInstanceInformation failed", None),
        ("SendCommandFailed", "Ssm.ThrottlingException: Rate exceeded", None),
        ("TargetUnresolved", "AwsThrottledError: AWS throttled a call", None),
        ("TargetUnresolved", "InstanceNotFoundError: i-1 does not exist", None),
    ],
)
def test_only_failures_of_the_instance_count(reason: str, message: str, key: str | None) -> None:
    assert failure_key(reason, message) == key


# --- what each failure does ---------------------------------------------------------------------


def test_the_first_failure_is_reported_the_next_kept_quiet_the_third_escalates_and_suspends() -> (
    None
):
    streak, decisions = play([failure(1), failure(2), failure(3)])
    assert [(d.streak, d.announce, d.suspend) for d in decisions] == [
        (1, "report", False),
        (2, "quiet", False),
        (3, "escalate", True),
    ]
    assert all(d.lifecycle_result == "ABANDON" for d in decisions)
    assert decisions[-1].instances == (f"i-{1:017x}", f"i-{2:017x}", f"i-{3:017x}")
    assert decisions[-1].first_failed_at == (T0 + timedelta(minutes=1)).isoformat()
    assert streak is not None
    assert (streak.count, streak.escalations) == (3, 1)


def test_an_instance_launched_before_the_suspension_fails_quietly() -> None:
    # Its run started before the escalation: launched while Launch was not yet suspended.
    in_flight = Failure("launch-4", "i-4", "TargetUnresolved", CONFLICT, T0)
    _, decisions = play([failure(1), failure(2), failure(3), in_flight])
    assert (decisions[-1].streak, decisions[-1].announce, decisions[-1].suspend) == (
        4,
        "quiet",
        False,
    )


def test_a_launch_after_the_suspension_means_launch_was_resumed_unfixed_and_escalates_again() -> (
    None
):
    streak, _ = play([failure(1), failure(2), failure(3)])
    # Days later an operator resumes Launch without fixing the tags
    relaunched = failure(3 * 24 * 60)
    _, [decision] = play([relaunched], streak=streak, every=timedelta(days=3))
    assert (decision.streak, decision.announce, decision.suspend) == (4, "escalate", True)


def test_a_different_reason_starts_a_new_streak() -> None:
    _, decisions = play([failure(1), failure(2), failure(3, "AgentNeverOnline", "never online")])
    assert [(d.streak, d.reason, d.announce) for d in decisions] == [
        (1, "TargetUnresolved", "report"),
        (2, "TargetUnresolved", "quiet"),
        (1, "AgentNeverOnline", "report"),
    ]


def test_failures_a_day_apart_are_not_churn() -> None:
    _, decisions = play([failure(1), failure(2)], every=STREAK_GAP + timedelta(minutes=1))
    assert [(d.streak, d.announce) for d in decisions] == [(1, "report"), (1, "report")]


def test_a_failure_that_is_not_the_instances_leaves_the_streak_alone() -> None:
    streak, _ = play([failure(1), failure(2)])
    new, decision = decide_failure(
        streak,
        failure(3, "LifecycleActionGone", "the lifecycle action no longer exists"),
        group=GROUP,
        policy=ChurnPolicy(),
        on_failure="ABANDON",
        now=T0 + timedelta(minutes=3),
    )
    assert new is None
    assert (decision.counted, decision.announce, decision.lifecycle_result) == (
        False,
        "report",
        "ABANDON",
    )


def test_nothing_churns_when_failures_are_released_anyway() -> None:
    new, decision = decide_failure(
        None, failure(1), group=GROUP, policy=ChurnPolicy(), on_failure="CONTINUE", now=T0
    )
    assert new is None
    assert (decision.counted, decision.lifecycle_result) == (False, "CONTINUE")


def test_continue_releases_the_escalating_failure_and_reports_each_after_it() -> None:
    _, decisions = play(
        [failure(1), failure(2), failure(3)], ChurnPolicy(after=2, action="continue")
    )
    assert [(d.announce, d.lifecycle_result, d.suspend) for d in decisions] == [
        ("report", "ABANDON", False),
        ("escalate", "CONTINUE", False),
        ("report", "CONTINUE", False),
    ]


def test_notify_only_escalates_once_and_changes_nothing_else() -> None:
    _, decisions = play(
        [failure(n) for n in range(1, 6)], ChurnPolicy(after=3, action="notify-only")
    )
    assert [(d.announce, d.lifecycle_result, d.suspend) for d in decisions] == [
        ("report", "ABANDON", False),
        ("quiet", "ABANDON", False),
        ("escalate", "ABANDON", False),
        ("quiet", "ABANDON", False),
        ("quiet", "ABANDON", False),
    ]


def test_a_long_streak_keeps_its_latest_instances_and_decisions() -> None:
    count = REMEMBERED_RUNS + 5
    streak, _ = play([failure(n) for n in range(1, count + 1)], ChurnPolicy(after=100))
    assert streak is not None
    assert streak.count == count
    assert len(streak.instances) == INSTANCES_KEPT
    assert streak.instances[-1] == f"i-{count:017x}"
    assert len(streak.runs) == REMEMBERED_RUNS
    assert f"launch-{count}" in streak.runs


# --- the record: one item per group, conditional writes, replayed decisions --------------------


def record(records: ChurnRecords, each: Failure, minute: int) -> Decision:
    return records.record_failure(
        each,
        group=GROUP,
        policy=DEFAULT,
        on_failure="ABANDON",
        now=lambda: T0 + timedelta(minutes=minute),
    )


def test_a_retried_failure_gets_its_first_answer_and_counts_once(state_table: Any) -> None:
    records = ChurnRecords(state_table, STATE_TABLE)
    first = record(records, failure(1), 1)
    again = record(records, failure(1), 2)
    assert again == first
    item = state_table.get_item(TableName=STATE_TABLE, Key=churn_key(GROUP))["Item"]
    assert (item["streak"]["N"], item["version"]["N"]) == ("1", "1")
    assert item["failure_key"]["S"] == "TargetUnresolved/ConflictingPatchGroupTagsError"
    assert int(item["expires_at"]["N"]) > int((T0 + timedelta(days=6)).timestamp())


def test_a_write_that_loses_a_race_reads_again(state_table: Any) -> None:
    class Racing:
        """A client on which another run counts its failure between our read and our write."""

        def __init__(self) -> None:
            self.exceptions = state_table.exceptions
            self.raced = False

        def get_item(self, **kwargs: Any) -> Any:
            return state_table.get_item(**kwargs)

        def put_item(self, **kwargs: Any) -> Any:
            if not self.raced:
                self.raced = True
                record(ChurnRecords(state_table, STATE_TABLE), failure(9), 1)
            return state_table.put_item(**kwargs)

    decision = record(ChurnRecords(Racing(), STATE_TABLE), failure(1), 2)
    assert (decision.streak, decision.announce) == (2, "quiet")
    assert decision.instances == (f"i-{9:017x}", f"i-{1:017x}")


def test_a_record_that_never_stops_changing_raises_a_named_error(state_table: Any) -> None:
    class AlwaysRacing:
        exceptions = state_table.exceptions

        def get_item(self, **kwargs: Any) -> Any:
            return {}

        def put_item(self, **kwargs: Any) -> Any:
            raise state_table.exceptions.ConditionalCheckFailedException(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "-"}}, "PutItem"
            )

    with pytest.raises(ChurnConflictError, match=GROUP):
        record(ChurnRecords(AlwaysRacing(), STATE_TABLE), failure(1), 1)


def test_a_success_ends_the_streak_and_says_how_long_it_was(state_table: Any) -> None:
    records = ChurnRecords(state_table, STATE_TABLE)
    for n in (1, 2):
        record(records, failure(n), n)
    ended = records.record_success(group=GROUP, policy=DEFAULT)
    assert (ended.ended_streak, ended.reason, ended.lifecycle_result) == (
        2,
        "TargetUnresolved",
        "CONTINUE",
    )
    assert "Item" not in state_table.get_item(TableName=STATE_TABLE, Key=churn_key(GROUP))
    assert records.record_success(group=GROUP, policy=DEFAULT).ended_streak is None
    # the next failure starts from one
    assert record(records, failure(3), 3).streak == 1


# --- the policy field -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data


def test_the_example_policy_suspends_launch_after_three(example: dict[str, Any]) -> None:
    launch = validate_policy(example).runtime().model_dump(by_alias=True)["launch"]
    assert launch["churn"] == {"after": 3, "action": "suspend-launch"}


def test_churn_defaults_when_the_policy_says_nothing(example: dict[str, Any]) -> None:
    changed = copy.deepcopy(example)
    del changed["launch"]["churn"]
    launch = validate_policy(changed).launch.launch_policy()
    assert launch.churn == ChurnPolicy(after=3, action="suspend-launch")


@pytest.mark.parametrize(
    ("churn", "field"),
    [
        ({"after": 1}, "launch.churn.after"),
        ({"after": "3"}, "launch.churn.after"),
        ({"action": "pause"}, "launch.churn.action"),
        ({"actoin": "continue"}, "launch.churn.actoin"),
    ],
)
def test_a_wrong_churn_setting_names_its_field(
    example: dict[str, Any], churn: dict[str, Any], field: str
) -> None:
    changed = copy.deepcopy(example)
    changed["launch"]["churn"] = churn
    with pytest.raises(InvalidPolicyError) as raised:
        validate_policy(changed)
    [problem] = [str(p) for p in raised.value.problems]
    assert problem.startswith(f"{field}: ")
