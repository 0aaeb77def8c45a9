"""The event contract: every fixture validates; each malformed kind is rejected, naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from fleetpatch.errors import InvalidEventError
from fleetpatch.events import (
    KNOWN_DETAIL_TYPES,
    AssociationComplianceDetail,
    LaunchLifecycleActionEvent,
    PatchComplianceDetail,
    parse_event,
    parse_event_json,
)
from tests.conftest import EVENTS_DIR, load_event

ALL_FIXTURES = sorted(
    p.relative_to(EVENTS_DIR).with_suffix("").as_posix() for p in EVENTS_DIR.glob("*/*.json")
)


def rejected(raw: Any) -> InvalidEventError:
    with pytest.raises(InvalidEventError) as info:
        parse_event(raw)
    return info.value


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_every_fixture_is_a_valid_event_of_its_directory_source(name: str) -> None:
    event = parse_event(load_event(name))
    assert event.source == name.split("/", maxsplit=1)[0]


def test_fixtures_cover_every_detail_type() -> None:
    seen = {load_event(name)["detail-type"] for name in ALL_FIXTURES}
    assert seen == set(KNOWN_DETAIL_TYPES)


def test_warm_pool_transitions_are_parsed() -> None:
    into_pool = parse_event(load_event("aws.autoscaling/warm-pool-launch-into-pool"))
    leave_pool = parse_event(load_event("aws.autoscaling/warm-pool-leave-pool"))
    assert isinstance(into_pool, LaunchLifecycleActionEvent)
    assert isinstance(leave_pool, LaunchLifecycleActionEvent)
    assert (into_pool.detail.origin, into_pool.detail.destination) == ("EC2", "WarmPool")
    assert (leave_pool.detail.origin, leave_pool.detail.destination) == (
        "WarmPool",
        "AutoScalingGroup",
    )


def test_compliance_variants_are_told_apart() -> None:
    patch = parse_event(load_event("aws.ssm/compliance-patch-non-compliant"))
    association = parse_event(load_event("aws.ssm/compliance-association-non-compliant"))
    assert isinstance(patch.detail, PatchComplianceDetail)
    assert isinstance(association.detail, AssociationComplianceDetail)


def test_not_json_is_rejected_naming_the_event() -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event_json(b"{not json", source_name="broken.json")
    assert info.value.field == "event"
    assert str(info.value).startswith("broken.json: event: not valid JSON")


@pytest.mark.parametrize("raw", [[], "text", 42, None])
def test_a_non_object_is_rejected(raw: Any) -> None:
    assert rejected(raw).field == "event"


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("aws.autoscaling/launch-lifecycle-action", ("detail", "LifecycleActionToken")),
        ("aws.autoscaling/launch-lifecycle-action", ("detail", "EC2InstanceId")),
        ("aws.ec2/instance-running", ("detail", "instance-id")),
        ("aws.ssm/maintenance-window-execution-success", ("detail", "window-execution-id")),
        ("aws.ssm/command-invocation-success", ("detail", "command-id")),
        ("aws.ssm/compliance-patch-compliant", ("detail", "patch-baseline-id")),
        ("aws.ssm/command-invocation-success", ("account",)),
    ],
)
def test_a_missing_field_is_named(name: str, path: tuple[str, ...]) -> None:
    raw = load_event(name)
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    error = rejected(raw)
    assert error.field == ".".join(path)
    assert error.message == "field required"


@pytest.mark.parametrize(
    ("name", "path", "value"),
    [
        ("aws.ec2/instance-running", ("detail", "state"), 7),
        ("aws.ssm/maintenance-window-execution-success", ("detail", "status"), "DONE"),
        ("aws.ssm/command-invocation-success", ("time",), "yesterday"),
        ("aws.autoscaling/launch-lifecycle-action", ("resources",), "not-a-list"),
        (
            "aws.autoscaling/launch-lifecycle-action",
            ("detail", "LifecycleTransition"),
            "autoscaling:EC2_INSTANCE_TERMINATING",
        ),
    ],
)
def test_a_mistyped_field_is_named(name: str, path: tuple[str, ...], value: Any) -> None:
    raw = load_event(name)
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert rejected(raw).field == ".".join(path)


@pytest.mark.parametrize(
    ("name", "path", "bad_id"),
    [
        ("aws.ec2/instance-running", ("detail", "instance-id"), "i-XYZ"),
        ("aws.ec2/instance-running", ("detail", "instance-id"), "i-0123456789abcdef"),  # 16 hex
        ("aws.autoscaling/launch-lifecycle-action", ("detail", "EC2InstanceId"), "instance-1"),
        (
            "aws.autoscaling/launch-lifecycle-action",
            ("detail", "LifecycleActionToken"),
            "not-a-uuid",
        ),
        ("aws.ssm/maintenance-window-execution-success", ("detail", "window-id"), "mw-123"),
        ("aws.ssm/command-invocation-success", ("detail", "command-id"), "12345"),
        ("aws.ssm/compliance-patch-non-compliant", ("detail", "resource-id"), "i-"),
        ("aws.ssm/command-invocation-success", ("account",), "12345"),
        ("aws.ssm/command-invocation-success", ("id",), "1"),
    ],
)
def test_a_bad_id_is_named_with_the_offending_value(
    name: str, path: tuple[str, ...], bad_id: str
) -> None:
    raw = load_event(name)
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = bad_id
    error = rejected(raw)
    assert error.field == ".".join(path)
    assert repr(bad_id) in error.message


@pytest.mark.parametrize(
    ("name", "spoofed"),
    [
        ("aws.autoscaling/launch-lifecycle-action", "aws.ssm"),
        ("aws.ec2/instance-running", "custom.app"),
        ("aws.ssm/command-invocation-success", "aws.123456789012"),
    ],
)
def test_a_spoofed_source_is_rejected(name: str, spoofed: str) -> None:
    raw = load_event(name)
    raw["source"] = spoofed
    error = rejected(raw)
    assert error.field == "source"
    assert spoofed in error.message


def test_an_unknown_detail_type_is_rejected() -> None:
    raw = load_event("aws.ssm/command-invocation-success")
    raw["detail-type"] = "EC2 Spot Instance Interruption Warning"
    error = rejected(raw)
    assert error.field == "detail-type"
    assert "unknown detail-type" in error.message


def test_a_missing_detail_type_is_rejected() -> None:
    raw = load_event("aws.ssm/command-invocation-success")
    del raw["detail-type"]
    assert rejected(raw).field == "detail-type"


def test_an_unknown_compliance_type_is_rejected() -> None:
    raw = load_event("aws.ssm/compliance-patch-compliant")
    raw["detail"]["compliance-type"] = "Custom:Inventory"
    error = rejected(raw)
    assert error.field == "detail.compliance-type"
    assert "'Custom:Inventory'" in error.message


@pytest.mark.parametrize("detail", [None, [], "Patch"])
def test_a_compliance_detail_that_is_not_an_object_is_named(detail: Any) -> None:
    raw = load_event("aws.ssm/compliance-patch-compliant")
    raw["detail"] = detail
    error = rejected(raw)
    assert (error.field, error.message) == (
        "detail",
        f"expected a JSON object, got {type(detail).__name__}",
    )


@pytest.mark.parametrize(
    "time",
    [
        1_700_000_000,  # epoch seconds: AWS writes text
        "1700000000",
        "2026-11-14",  # a date, not an instant
        "2026-11-14T06:41:07",  # no zone
        "2026-11-14 06:41:07Z",
    ],
)
def test_an_event_time_must_be_iso_text_with_a_zone(time: Any) -> None:
    raw = load_event("aws.ssm/compliance-patch-compliant")
    raw["time"] = time
    assert rejected(raw).field == "time"


def test_event_times_are_kept_in_utc() -> None:
    # The ledger orders changes by their time as ISO text: one zone for all of them.
    raw = load_event("aws.ssm/compliance-patch-compliant")
    raw["time"] = "2026-11-14T07:39:30+02:00"
    assert parse_event(raw).time.isoformat() == "2026-11-14T05:39:30+00:00"


def test_a_parameter_named_like_a_compliance_variant_keeps_its_path() -> None:
    raw = load_event("aws.ssm/command-success")
    raw["detail"]["parameters"]["patch"] = "Install"
    raw["detail"]["parameters"]["association"] = ["ok"]
    assert rejected(raw).field == "detail.parameters.patch"


@pytest.mark.parametrize(
    ("name", "path", "limit"),
    [
        ("aws.autoscaling/launch-lifecycle-action", ("detail", "NotificationMetadata"), 1023),
        ("aws.ssm/compliance-patch-compliant", ("detail", "severity"), 64),
        (
            "aws.ssm/maintenance-window-task-target-invocation-success",
            ("detail", "owner-information"),
            128,
        ),
        ("aws.ec2/instance-running", ("replay-name",), 64),
    ],
)
def test_free_text_longer_than_aws_allows_is_named(
    name: str, path: tuple[str, ...], limit: int
) -> None:
    raw = load_event(name)
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = "a" * limit
    parse_event(raw)
    parent[path[-1]] = "a" * (limit + 1)
    assert rejected(raw).field == ".".join(path)


@pytest.mark.parametrize("text", ["[" * 100_000, '{"a":' * 100_000])
def test_json_nested_too_deeply_is_an_invalid_event(text: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event_json(text)
    assert (info.value.field, info.value.message) == ("event", "not valid JSON: nested too deeply")


@pytest.mark.parametrize("value", [None, 42, {"version": "0"}])
def test_json_that_is_not_text_is_an_invalid_event(value: Any) -> None:
    with pytest.raises(InvalidEventError) as info:
        parse_event_json(value)
    assert info.value.field == "event"


def test_an_unexpected_envelope_field_is_rejected() -> None:
    raw = load_event("aws.ec2/instance-running")
    raw["injected"] = True
    assert rejected(raw).field == "injected"


def test_new_detail_fields_from_aws_are_tolerated() -> None:
    raw = load_event("aws.ec2/instance-running")
    raw["detail"]["a-field-aws-adds-later"] = "x"
    assert parse_event(raw).detail.state == "running"


def test_a_command_status_event_keeps_its_parameters() -> None:
    event = parse_event(load_event("aws.ssm/command-success"))
    assert event.detail.status == "Success"  # type: ignore[union-attr]
    assert event.detail.parameters == {  # type: ignore[union-attr]
        "Operation": ["Install"],
        "RebootOption": ["RebootIfNeeded"],
    }


@pytest.mark.parametrize(
    ("fixture", "field"),
    [
        ("aws.autoscaling/launch-lifecycle-action", "LifecycleActionToken"),
        ("aws.ssm/maintenance-window-execution-success", "window-execution-id"),
        ("aws.ssm/maintenance-window-task-execution-success", "task-execution-id"),
        ("aws.ssm/maintenance-window-task-target-invocation-success", "window-target-id"),
        ("aws.ssm/command-success", "command-id"),
        ("aws.ssm/command-invocation-success", "command-id"),
    ],
)
def test_upper_case_ids_are_accepted_as_aws_accepts_them(fixture: str, field: str) -> None:
    # Given a real event whose UUID id is written in upper case (the SSM API's patterns
    # are [0-9a-fA-F]; command ids and lifecycle tokens have no pattern, only a length)
    raw = load_event(fixture)
    raw["detail"][field] = raw["detail"][field].upper()
    # When it is parsed
    event = parse_event(raw)
    # Then it is valid, and the id is kept exactly as AWS wrote it
    assert raw["detail"][field] in event.model_dump_json(by_alias=True)
