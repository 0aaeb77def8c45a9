"""Gated-wave helpers: wave of a window, chunking, retry-safe sends, evidence."""

from __future__ import annotations

from typing import Any

import pytest

from fleetpatch.batch_policy import RuntimeBatch
from fleetpatch.batch_run import Plan, Round, send_round
from fleetpatch.gate import InstanceEvidence
from fleetpatch.policy import CompiledPolicy

BATCH = RuntimeBatch.model_validate(
    {
        "name": "windows-apps",
        "patchGroups": ["patch_test_0600_batch_2"],
        "maxConcurrency": "10%",
        "maxErrors": "1",
        "operation": "Install",
        "rebootOption": "RebootIfNeeded",
        "gate": {"batches": ["linux"], "maxFailed": 0},
    }
)


class FakeSsm:
    """SendCommand (optionally failing on one call) and ListCommands' ErrorCount."""

    class exceptions:
        class InvalidInstanceId(Exception):
            pass

    def __init__(self, fail_on_call: int | None = None, errors: int = 0) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_on_call = fail_on_call
        self.errors = errors

    def send_command(self, **request: Any) -> dict[str, Any]:
        if self.fail_on_call is not None and len(self.sent) == self.fail_on_call:
            raise RuntimeError("ThrottlingException")
        self.sent.append(request)
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}

    def list_commands(self, CommandId: str) -> dict[str, Any]:
        return {"Commands": [{"CommandId": CommandId, "ErrorCount": self.errors}]}


class FakeRecords:
    def __init__(self) -> None:
        self.recorded: dict[int, list[str]] = {}

    def sent(self) -> dict[int, list[str]]:
        return dict(self.recorded)

    def record_sent(self, chunk: int, command_ids: list[str]) -> None:
        self.recorded[chunk] = list(command_ids)


def send(
    ssm: FakeSsm,
    ids: list[str],
    records: FakeRecords,
    round_index: int = 0,
    batch: RuntimeBatch = BATCH,
    skipped: dict[str, tuple[str, str, str | None]] | None = None,
) -> Round:
    def one(instance_ids: Any, concurrency: str, errors: str) -> str:
        response = ssm.send_command(
            InstanceIds=list(instance_ids), MaxConcurrency=concurrency, MaxErrors=errors
        )
        return str(response["Command"]["CommandId"])

    plan = Plan(ids, skipped or {})
    return send_round(ssm, records, plan, batch, round_index, send=one)  # type: ignore[arg-type]


def test_a_batch_goes_out_in_chunks_of_fifty() -> None:
    plan = Plan([f"i-{n:017x}" for n in range(120)])
    assert [len(c) for c in plan.chunks()] == [50, 50, 20]
    assert Plan([]).chunks() == []


def test_one_round_carries_the_whole_batch_rate_control() -> None:
    # 10% of 120 instances is 12 at once: one command of 50 a round, MaxConcurrency 12,
    # MaxErrors "1" for the batch (one command in the round gets it all).
    ssm, records = FakeSsm(), FakeRecords()
    ids = [f"i-{n:017x}" for n in range(120)]
    first = send(ssm, ids, records)
    assert first.command_ids == ["cmd-1"]
    assert first.more
    assert ssm.sent[0]["InstanceIds"] == ids[:50]
    assert (ssm.sent[0]["MaxConcurrency"], ssm.sent[0]["MaxErrors"]) == ("12", "1")
    last = send(ssm, ids, records, round_index=2)
    assert last.command_ids == ["cmd-2"]
    assert not last.more
    assert ssm.sent[1]["InstanceIds"] == ids[100:]


def test_a_round_shares_the_concurrency_between_its_commands() -> None:
    ssm, records = FakeSsm(), FakeRecords()
    wide = BATCH.model_copy(update={"max_concurrency": "75", "max_errors": "4"})
    ids = [f"i-{n:017x}" for n in range(120)]
    sent = send(ssm, ids, records, batch=wide)
    assert sent.command_ids == ["cmd-1", "cmd-2"]
    assert sent.more
    assert [(c["MaxConcurrency"], c["MaxErrors"]) for c in ssm.sent] == [("50", "2"), ("25", "2")]


def test_no_round_goes_once_the_batch_errors_exceed_max_errors() -> None:
    ssm, records = FakeSsm(errors=2), FakeRecords()
    ids = [f"i-{n:017x}" for n in range(120)]
    send(ssm, ids, records)
    stopped = send(ssm, ids, records, round_index=1)
    assert stopped.command_ids == []
    assert not stopped.more
    assert stopped.stopped is not None
    assert "max_errors" in stopped.stopped
    assert len(ssm.sent) == 1


def test_busy_members_commands_are_awaited_with_the_first_round() -> None:
    ssm, records = FakeSsm(), FakeRecords()
    skipped = {"i-busy": ("busy", "its launch run patches it", "cmd-launch")}
    sent = send(ssm, ["i-a"], records, skipped=skipped)
    assert sent.command_ids == ["cmd-launch", "cmd-1"]


def test_a_retry_sends_only_what_the_failed_attempt_did_not() -> None:
    ids = [f"i-{n:017x}" for n in range(120)]
    records = FakeRecords()
    every = BATCH.model_copy(update={"max_concurrency": "100%"})
    with pytest.raises(RuntimeError):
        send(FakeSsm(fail_on_call=1), ids, records, batch=every)
    assert records.recorded == {0: ["cmd-1"]}  # the first chunk went out before the failure
    retry = FakeSsm()
    assert send(retry, ids, records, batch=every).command_ids == ["cmd-1", "cmd-1", "cmd-2"]
    assert [c["InstanceIds"][0] for c in retry.sent] == [ids[50], ids[100]]


def test_a_member_not_reached_counts_with_its_reason() -> None:
    found = InstanceEvidence("i-b", "linux", None, state="stopped", note="it is stopped")
    assert found.counted
    assert found.failure() == "not reached: it is stopped"
    joined = InstanceEvidence("i-c", "linux", None, state="joined")
    assert not joined.counted
    gone = InstanceEvidence("i-d", "linux", "Success", state="terminated")
    assert not gone.counted


def test_promotion_arguments_name_source_and_targets() -> None:
    from fleetpatch.waves import promotion_arguments

    schedule = {"cron": "cron(0 6 ? * SAT#1 *)"}
    policy = CompiledPolicy.model_validate(
        {
            "waves": {
                "test": {"schedule": schedule},
                "prod": {"schedule": schedule, "promoteFrom": "test"},
                "dr": {"schedule": schedule, "promoteFrom": "test"},
            }
        }
    )
    assert promotion_arguments(policy, "test") == {
        "promote_from": None,
        "promotions": ["dr", "prod"],
    }
    assert promotion_arguments(policy, "prod") == {"promote_from": "test", "promotions": []}


def test_the_workflow_reads_exactly_the_input_its_owner_builds() -> None:
    # One owner for the gated-wave input (batch-gate, wave start, wave resume use it); the
    # ASL's Start state, which cannot import it, reads exactly its keys.
    import json
    import re
    from pathlib import Path

    from fleetpatch.waves import run_input

    asl = Path(__file__).resolve().parents[2] / "statemachines" / "gated_wave.asl.json"
    start = json.dumps(json.loads(asl.read_text())["States"]["Start"])
    read = set(re.findall(r"\$states\.input\.(\w+)", start))
    built = run_input("w", [], commands={}, approval={}, resume={}, emergency={})
    assert read == set(built)


def test_the_override_list_is_the_union_of_what_was_installed() -> None:
    import yaml

    from fleetpatch.waves import override_list

    text = override_list(
        {
            "i-1": [("KB5046616", "2026-11 Cumulative Update (KB5046616)")],
            "i-2": [
                ("KB5046616", "2026-11 Cumulative Update (KB5046616)"),
                ("curl.amd64", "curl.amd64:0:7.81"),
            ],
        }
    )
    assert yaml.safe_load(text) == {
        "patches": [
            {"id": "KB5046616", "title": "2026-11 Cumulative Update (KB5046616)"},
            {"id": "curl.amd64", "title": "curl.amd64:0:7.81"},
        ]
    }
    assert yaml.safe_load(override_list({"i-1": []})) == {"patches": []}
