"""A wave's report from the gate's evidence: every member, this run's own command, one count.

Pure parts only: the members and their evidence are built here as ``fleetpatch.evidence``
gathers them; tests/workflows/test_wave_reports.py gathers them from the local cloud.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.evidence import Invocation, Member, state_source
from fleetpatch.gate import InstanceEvidence
from fleetpatch.membership import Member as RosterMember
from fleetpatch.membership import MemberState
from fleetpatch.outcomes import Tally
from fleetpatch.wave_report import (
    batch_statuses,
    installed_by_run,
    member_result,
    unreached_result,
)

T0 = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
BATCH = RuntimeBatch.model_validate(
    {
        "name": "linux",
        "patchGroups": ["patch_prod_0600_batch_1"],
        "maxConcurrency": "100%",
        "maxErrors": "100%",
        "operation": "Install",
        "rebootOption": "RebootIfNeeded",
    }
)


def install(command: str = "cmd-wave", status: str = "Success", minutes: int = 10) -> Invocation:
    """This wave's Install on one instance: sent at T0, ran from T0+1 for ``minutes``."""
    return Invocation(
        command,
        status,
        output=f"s3://bucket/waves/{command}/i-1/",
        requested=T0,
        started=T0 + timedelta(minutes=1),
        ended=T0 + timedelta(minutes=1 + minutes),
        operation="Install",
        reboot_option="RebootIfNeeded",
    )


def patch_state(operation: str, start: datetime, **counts: int) -> dict[str, Any]:
    return {
        "Operation": operation,
        "OperationStartTime": start,
        "OperationEndTime": start + timedelta(minutes=2),
        "RebootOption": "NoReboot" if operation == "Scan" else "RebootIfNeeded",
        "InstalledCount": 40,
        "InstalledOtherCount": 2,
        "InstalledPendingRebootCount": 0,
        "MissingCount": 0,
        "FailedCount": 0,
        **counts,
    }


def member(
    instance_id: str,
    *,
    status: str | None = None,
    state: str = "ready",
    note: str | None = None,
    run: Invocation | None = None,
    patch: dict[str, Any] | None = None,
    own: bool = True,
) -> Member:
    """A member as ``fleetpatch.evidence.gather`` hands it over (its patch state applied)."""
    source = state_source(patch, run)
    usable = patch if source else None
    evidence = InstanceEvidence(
        instance_id,
        "linux",
        status,
        missing=usable["MissingCount"] if usable else None,
        failed=usable["FailedCount"] if usable else None,
        pending_reboot=usable["InstalledPendingRebootCount"] if usable else None,
        state=state,
        note=note,
        command_id=run.command_id if run else None,
        operation=run.operation if run else None,
    )
    return Member(evidence, run, own=own, patch_state=patch, source=source)


# --- whose patch state it is ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "operation", "expected"),
    [
        (T0 + timedelta(minutes=1), "Install", "this-run"),
        (T0 + timedelta(minutes=30), "Scan", "later"),
        (T0 + timedelta(minutes=11), "Install", "later"),  # a remediation at the very end
        (T0 + timedelta(minutes=5), "Scan", "later"),  # not the command's operation
        (T0 - timedelta(hours=2), "Install", None),  # older than the command: no evidence
    ],
    ids=["this-run", "later-scan", "later-at-the-end", "other-operation", "older"],
)
def test_whose_patch_state_it_is(start: datetime, operation: str, expected: str | None) -> None:
    assert state_source(patch_state(operation, start), install()) == expected


def test_a_plain_read_takes_a_state_after_the_command_as_evidence() -> None:
    # The gate reads no invocation times: a state at or after the command is the state after
    # the run, as the report also judges it (only its label differs).
    plain = Invocation("cmd-wave", "Success", requested=T0)
    assert state_source(patch_state("Scan", T0 + timedelta(hours=1)), plain) == "this-run"
    assert state_source(patch_state("Scan", T0 - timedelta(hours=1)), plain) is None
    assert state_source(None, plain) is None


# --- one member -----------------------------------------------------------------------------


def test_a_patched_member_shows_its_own_command() -> None:
    found = member(
        "i-1",
        status="Success",
        run=install(),
        patch=patch_state("Install", T0 + timedelta(minutes=1)),
    )
    result = member_result(found, BATCH, {"i-1": 4})
    assert result.model_dump(exclude_none=True) == {
        "instance_id": "i-1",
        "outcome": "patched",
        "state": "ready",
        "patch_group": "patch_prod_0600_batch_1",
        "command_id": "cmd-wave",
        "command_status": "Success",
        "operation": "Install",
        "reboot_option": "RebootIfNeeded",
        "installed": 40,
        "installed_by_run": 4,
        "installed_other": 2,
        "pending_reboot": 0,
        "missing": 0,
        "failed": 0,
        "started_at": T0 + timedelta(minutes=1),
        "ended_at": T0 + timedelta(minutes=11),
        "output": "s3://bucket/waves/cmd-wave/i-1/",
    }


def test_a_later_scan_is_named_and_never_shown_as_the_runs_result() -> None:
    # Given the wave's Install (RebootIfNeeded), then a remediation Scan (NoReboot) after it
    later = patch_state("Scan", T0 + timedelta(minutes=30), MissingCount=3)
    result = member_result(member("i-1", status="Success", run=install(), patch=later), BATCH, {})
    # Then the operation, reboot option and times are the wave's command's...
    assert (result.operation, result.reboot_option) == ("Install", "RebootIfNeeded")
    assert (result.started_at, result.ended_at) == (
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=11),
    )
    # ...the later state's counts are the instance's now, and the report says whose they are
    assert (result.outcome, result.reason, result.missing) == ("non-compliant", "3 missing", 3)
    assert result.evidence_note == (
        "the latest patch state is a later Scan (2026-11-21 05:30:00 UTC): its counts are "
        "the instance's now, not this run's result"
    )


def test_a_patch_state_older_than_the_command_is_not_shown() -> None:
    old = patch_state("Install", T0 - timedelta(days=3))
    result = member_result(member("i-1", status="Failed", run=install(), patch=old), BATCH, {})
    assert (result.outcome, result.reason) == ("failed", "AWS-RunPatchBaseline ended Failed")
    assert (result.installed, result.missing) == (None, None)
    assert result.evidence_note is not None
    assert result.evidence_note.endswith("is older than this run's command: not shown")


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (
            member("i-2", state="stopped", note="it is stopped"),
            ("not-reached", "stopped", "it is stopped"),
        ),
        (
            member("i-3", state="not-managed", note="not managed: its SSM agent is ConnectionLost"),
            ("not-reached", "not-managed", "not managed: its SSM agent is ConnectionLost"),
        ),
        (
            member("i-4", note="the batch stopped sending (max_errors) before its turn"),
            ("not-reached", "ready", "the batch stopped sending (max_errors) before its turn"),
        ),
        (
            member("i-5", state="busy", note="another run's patch command c-9 is still running"),
            ("busy", "busy", "another run's patch command c-9 is still running"),
        ),
        (
            member("i-6", state="joined"),
            (
                "joined",
                "joined",
                "joined the batch after it was sent; no patch run of its own covered it yet",
            ),
        ),
        (
            member("i-7", status="Success", state="terminated", run=install()),
            ("terminated", "terminated", "terminated since the batch was sent"),
        ),
        (
            member("i-8", status="Failed", run=install(status="Failed")),
            ("failed", "ready", "AWS-RunPatchBaseline ended Failed"),
        ),
    ],
    ids=["stopped", "not-managed", "max-errors", "busy", "joined", "terminated", "failed"],
)
def test_every_member_has_its_state_and_reason(
    found: Member, expected: tuple[str, str, str]
) -> None:
    result = member_result(found, BATCH, {})
    assert (result.outcome, result.state, result.reason) == expected


def test_a_member_its_own_launch_run_patched_says_whose_command_is_its_evidence() -> None:
    launch = install("cmd-launch")
    found = member(
        "i-9",
        status="Success",
        state="joined",
        run=launch,
        patch=patch_state("Install", T0 + timedelta(minutes=2)),
        own=False,
    )
    result = member_result(found, BATCH, {})
    assert (result.outcome, result.command_id, result.installed_by_run) == (
        "patched",
        "cmd-launch",
        None,
    )
    assert result.evidence_note == "its evidence is another run's patch command (cmd-launch)"


def test_members_of_a_held_batch_are_not_reached_and_say_why() -> None:
    ready = RosterMember("i-1", MemberState.READY)
    stopped = RosterMember("i-2", MemberState.STOPPED, "it is stopped")
    gone = RosterMember("i-3", MemberState.TERMINATED, "it is terminated")
    held = [unreached_result(m, BATCH, "held") for m in (ready, stopped, gone)]
    assert [(r.outcome, r.state, r.reason) for r in held] == [
        ("not-reached", "ready", "its batch was held by a gate"),
        ("not-reached", "stopped", "its batch was held by a gate; it is stopped"),
        ("terminated", "terminated", "it is terminated"),
    ]
    later = unreached_result(ready, BATCH, "not-reached")
    assert later.reason == "the wave stopped before its batch"


# --- the gate counts them as the report does -----------------------------------------------


def test_the_gate_and_the_report_count_a_batch_alike() -> None:
    from fleetpatch.batch_policy import RuntimeGate
    from fleetpatch.gate import evaluate_gate

    members = [
        member("i-1", status="Success", run=install(), patch=patch_state("Install", T0)),
        member("i-2", status="Failed", run=install(status="Failed")),
        member("i-3", state="stopped", note="it is stopped"),
        member("i-4", state="not-managed", note="not managed: it is still booting"),
        member("i-5", state="joined"),
    ]
    decision = evaluate_gate(
        RuntimeGate(batches=["linux"], max_failed=0),
        [m.evidence for m in members],
        window_status=None,
        alarm_states={},
    )
    tally = Tally.of(member_result(m, BATCH, {}).outcome for m in members)
    assert tally.describe() == "1 patched, 1 failed, 2 not reached, 1 joined"
    assert decision.reasons == [f"{tally.failing_phrase()}; the gate allows 0"]
    assert decision.reasons == [
        "3 of 4 instances failed or were not reached (1 failed, 2 not reached); the gate allows 0"
    ]
    assert decision.instances == tally.judged == 4


# --- what the run installed -----------------------------------------------------------------


class PatchesSsm:
    """DescribeInstancePatches' paginator over a fixed list of installed patches."""

    class exceptions:
        class InvalidInstanceId(Exception):
            pass

    def __init__(self, installed: dict[str, list[datetime]]) -> None:
        self.installed = installed
        self.asked: list[str] = []

    def get_paginator(self, operation: str) -> Any:
        assert operation == "describe_instance_patches"
        outer = self

        class Pages:
            def paginate(self, InstanceId: str, Filters: list[Any]) -> list[dict[str, Any]]:
                outer.asked.append(InstanceId)
                if InstanceId not in outer.installed:  # terminated since
                    raise PatchesSsm.exceptions.InvalidInstanceId(InstanceId)
                return [
                    {
                        "Patches": [
                            {"KBId": f"kb-{n}", "Title": f"patch {n}", "InstalledTime": at}
                            for n, at in enumerate(outer.installed[InstanceId])
                        ]
                    }
                ]

        return Pages()


def test_installed_by_this_run_counts_what_its_own_commands_installed() -> None:
    ssm = PatchesSsm(
        {
            "i-1": [T0 - timedelta(days=60)] * 30 + [T0 + timedelta(minutes=3)] * 4,
            "i-2": [T0 - timedelta(days=60)] * 30,
        }
    )
    scan = Invocation("cmd-scan", "Success", requested=T0, operation="Scan")
    members = [
        member("i-1", status="Success", run=install()),
        member("i-2", status="Failed", run=install(status="Failed")),
        member("i-3", status="Success", run=scan),
        member("i-4", status="Success", run=install("cmd-launch"), own=False),
        member("i-5", state="stopped", note="it is stopped"),
        member("i-6", status="TimedOut", run=install(status="TimedOut")),  # terminated since
    ]
    counted, note = installed_by_run(ssm, members, limit=10)
    assert (counted, note) == ({"i-1": 4, "i-2": 0, "i-3": 0}, None)
    assert ssm.asked == ["i-1", "i-2", "i-6"]  # a Scan installs nothing: not looked up


def test_installed_by_this_run_is_not_counted_over_the_lookup_limit() -> None:
    ssm = PatchesSsm({})
    members = [member(f"i-{n}", status="Success", run=install()) for n in range(3)]
    counted, note = installed_by_run(ssm, members, limit=2)
    assert counted == {}
    assert note == (
        "3 instances ran an Install, more than the 2 a report looks up; each instance shows "
        "its cumulative InstalledCount"
    )
    assert ssm.asked == []


def test_batch_statuses() -> None:
    assert batch_statuses(3, 1, held=True) == ["ran", "held", "not-reached"]
    assert batch_statuses(3, 3, held=False) == ["ran", "ran", "ran"]
    assert batch_statuses(2, 1, held=False) == ["ran", "not-reached"]


def test_installed_since_leaves_out_an_instance_systems_manager_no_longer_answers_for() -> None:
    # A promotion lists running members, then asks for each one's patches: one stopped or
    # terminated in between (or whose agent never registered) answers InvalidInstanceId.
    from fleetpatch.promotion import installed_since

    ssm = PatchesSsm({"i-1": [T0 + timedelta(minutes=3)]})
    assert installed_since(ssm, ["i-1", "i-gone"], T0) == {"i-1": [("kb-0", "patch 0")]}
    assert ssm.asked == ["i-1", "i-gone"]


def test_the_audit_export_shows_a_host_without_answers_as_having_no_patch_data() -> None:
    from fleetpatch.audit_export_aws import instance_patches

    class Gone:
        class exceptions:
            InvalidInstanceId = PatchesSsm.exceptions.InvalidInstanceId

        def describe_instance_patches(self, **_: Any) -> dict[str, Any]:
            raise self.exceptions.InvalidInstanceId("i-gone")

    assert instance_patches(Gone(), "i-gone") == []
