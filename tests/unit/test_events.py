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
    assert error.field == "detail"
    assert "compliance-type" in error.message


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
