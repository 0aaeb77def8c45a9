"""Gated-wave helpers: wave of a window, chunking, retry-safe sends, evidence."""

from __future__ import annotations

from typing import Any

import pytest

from fleetpatch.policy import RuntimeBatch
from fleetpatch.waves import chunked, evidence, send_batch, wave_of_window

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
    def __init__(self, fail_on_call: int | None = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.fail_on_call = fail_on_call

    def send_command(self, **request: Any) -> dict[str, Any]:
        if self.fail_on_call is not None and len(self.sent) == self.fail_on_call:
            raise RuntimeError("ThrottlingException")
        self.sent.append(request)
        return {"Command": {"CommandId": f"cmd-{len(self.sent)}"}}


def send(
    ssm: FakeSsm, ids: list[str], already: dict[int, str], recorded: dict[int, str]
) -> list[str]:
    return send_batch(
        ssm,
        ids,
        BATCH,
        wave="test",
        run_id="wave-1",
        output_bucket="bucket",
        timeout_seconds=600,
        already_sent=already,
        record=recorded.__setitem__,
    )


def test_the_wave_of_a_window_is_in_its_name() -> None:
    waves = {"test": {}, "prod": {}}
    assert (
        wave_of_window("fleetpatch-default-wave-prod", "fleetpatch-default-wave-", waves) == "prod"
    )
    assert wave_of_window("fleetpatch-default-wave-qa", "fleetpatch-default-wave-", waves) is None
    assert wave_of_window("someone-elses", "fleetpatch-default-wave-", waves) is None


def test_chunks_of_fifty() -> None:
    assert [len(c) for c in chunked(list(range(120)))] == [50, 50, 20]
    assert list(chunked([])) == []


def test_each_command_carries_the_batch_settings() -> None:
    ssm, recorded = FakeSsm(), {}
    ids = [f"i-{n:017x}" for n in range(51)]
    assert send(ssm, ids, {}, recorded) == ["cmd-1", "cmd-2"]
    first = ssm.sent[0]
    assert first["InstanceIds"] == ids[:50]
    assert first["Parameters"] == {"Operation": ["Install"], "RebootOption": ["RebootIfNeeded"]}
    assert (first["MaxConcurrency"], first["MaxErrors"]) == ("10%", "1")
    assert first["OutputS3KeyPrefix"] == "command-output/waves/test/windows-apps"
    assert recorded == {0: "cmd-1", 1: "cmd-2"}


def test_a_retry_sends_only_what_the_failed_attempt_did_not() -> None:
    ids = [f"i-{n:017x}" for n in range(120)]
    recorded: dict[int, str] = {}
    failing = FakeSsm(fail_on_call=1)
    with pytest.raises(RuntimeError):
        send(failing, ids, {}, recorded)
    assert recorded == {0: "cmd-1"}  # the first chunk went out before the failure
    retry = FakeSsm()
    assert send(retry, ids, dict(recorded), recorded) == ["cmd-1", "cmd-1", "cmd-2"]
    assert [c["InstanceIds"][0] for c in retry.sent] == [ids[50], ids[100]]


def test_evidence_covers_instances_no_command_reached() -> None:
    found = evidence(
        "linux",
        {"i-a": "Success"},
        ["i-a", "i-b"],
        {"i-a": {"MissingCount": 0, "FailedCount": 0, "InstalledPendingRebootCount": 0}},
    )
    assert [(e.instance_id, e.command_status, e.failure()) for e in found] == [
        ("i-a", "Success", None),
        ("i-b", None, "no patch command ran on it"),
    ]


def test_promotion_inputs_name_source_and_targets() -> None:
    from fleetpatch.waves import promotion_input

    waves = {"test": {}, "prod": {"promoteFrom": "test"}, "dr": {"promoteFrom": "test"}}
    assert promotion_input(waves, "test") == {"promoteFrom": None, "promotions": ["dr", "prod"]}
    assert promotion_input(waves, "prod") == {"promoteFrom": "test", "promotions": []}


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
