"""The event contract the property tests hold the models to, written out from docs/aws-facts.md.

Which envelope and detail fields AWS always sends, which are ids, times, enumerations and
bounded text, and the generated bad values for each. Written here, not read from the models:
a model that silently loosened a field would fail the properties in test_event_properties.py.
"""

from __future__ import annotations

import re
from typing import Any, get_args

from hypothesis import strategies as st

from fleetpatch import events
from fleetpatch.events import KNOWN_DETAIL_TYPES

# --- the contract -----------------------------------------------------------------------------

ENVELOPE_REQUIRED = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)
# What AWS always sends in ``detail``, per detail-type (compliance: per variant).
DETAIL_REQUIRED: dict[str, tuple[str, ...]] = {
    events.LAUNCH_LIFECYCLE_ACTION: (
        "LifecycleActionToken",
        "AutoScalingGroupName",
        "LifecycleHookName",
        "EC2InstanceId",
        "LifecycleTransition",
    ),
    events.EC2_STATE_CHANGE: ("instance-id", "state"),
    events.WINDOW_EXECUTION: ("window-id", "window-execution-id", "status"),
    events.WINDOW_TASK_EXECUTION: (
        "window-id",
        "window-execution-id",
        "task-execution-id",
        "status",
    ),
    events.WINDOW_TARGET_INVOCATION: (
        "window-id",
        "window-execution-id",
        "task-execution-id",
        "window-target-id",
        "status",
    ),
    "Patch": (
        "resource-type",
        "resource-id",
        "compliance-status",
        "compliance-type",
        "patch-baseline-id",
    ),
    "Association": ("resource-type", "resource-id", "compliance-status", "compliance-type"),
    events.COMMAND_INVOCATION: ("command-id", "document-name", "instance-id", "status"),
    events.COMMAND_STATUS: ("command-id", "document-name", "status"),
    # The Inspector API reference's required Finding fields that the control plane reads.
    events.INSPECTOR_FINDING: (
        "findingArn",
        "severity",
        "status",
        "type",
        "firstObservedAt",
        "resources",
    ),
    # docs/emergency.md: an operator's request.
    events.EMERGENCY_REQUESTED: ("cve", "reason", "requested-by"),
}
# Fields AWS sends that no model reads (tolerated, as events.py says; never validated).
TOLERATED_DETAIL_FIELDS: dict[str, frozenset[str]] = {
    events.INSPECTOR_FINDING: frozenset(
        {
            "awsAccountId",
            "description",
            "exploitAvailable",
            "fixAvailable",
            "inspectorScore",
            "inspectorScoreDetails",
            "lastObservedAt",
            "remediation",
            "title",
            "updatedAt",
        }
    ),
}

# Ids and names in AWS's formats: junk characters, a wrong length or nothing is not an id.
ID_FIELDS = frozenset(
    {
        "id",
        "account",
        "region",
        "LifecycleActionToken",
        "EC2InstanceId",
        "LifecycleHookName",
        "instance-id",
        "window-id",
        "window-execution-id",
        "task-execution-id",
        "window-target-id",
        "resource-id",
        "patch-baseline-id",
        "command-id",
        "document-name",
        "findingArn",
        "cve",
    }
)
# Free text AWS bounds: longer than AWS allows is not an AWS event.
TEXT_LIMITS = {
    "AutoScalingGroupName": 255,
    "NotificationMetadata": 1023,
    "owner-information": 128,
    "severity": 64,
    "replay-name": 64,
    "reason": 512,
    "requested-by": 256,
    "override-freeze": 512,
}
ENUM_FIELDS = frozenset(
    {
        "version",
        "source",
        "detail-type",
        "state",
        "status",
        "LifecycleTransition",
        "Origin",
        "Destination",
        "resource-type",
        "compliance-status",
        "compliance-type",
        "type",
    }
)
TIME_FIELDS = frozenset(
    {
        "time",
        "start-time",
        "end-time",
        "requested-date-time",
        "expire-after",
        "last-runtime",
        "firstObservedAt",
    }
)
# EventBridge and SSM write ISO 8601 with a zone (Z), always as text.
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def _literals() -> frozenset[str]:
    values: set[str] = {
        *KNOWN_DETAIL_TYPES,
        "aws.autoscaling",
        "aws.ec2",
        "aws.ssm",
        "aws.inspector2",
        "fleetpatch.operator",
        "0",
    }
    for alias in (
        events.WindowStatus,
        events.CommandInvocationStatus,
        events.AutoScalingLocation,
        events.InstanceState,
        events.FindingSeverity,
    ):
        values.update(get_args(alias))
    values.update({"managed-instance", "compliant", "non_compliant", "Patch", "Association"})
    values.add("autoscaling:EC2_INSTANCE_LAUNCHING")
    values.update({"ACTIVE", "SUPPRESSED", "CLOSED"})
    values.update({"PACKAGE_VULNERABILITY", "NETWORK_REACHABILITY", "CODE_VULNERABILITY"})
    return frozenset(values)


ALLOWED_LITERALS = _literals()


def required_detail(raw: dict[str, Any]) -> tuple[str, ...]:
    detail_type = raw["detail-type"]
    if detail_type == events.COMPLIANCE_CHANGE:
        kind = raw["detail"]["compliance-type"]
        return DETAIL_REQUIRED["Patch" if kind == "Patch" else "Association"]
    return DETAIL_REQUIRED[detail_type]


# --- generated values -------------------------------------------------------------------------

# JSON values of no string type (a number is not an id, a time or a name).
not_a_string = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
any_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
# Characters no AWS id or name contains: quotes, spaces, control characters, non-ASCII.
junk = st.text(alphabet=" !\"$%&'()*;<>?[\\]^`{|}~\n\t\x00éß€", min_size=1, max_size=8)


def bad_id(valid: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.just(""),
        junk.map(lambda j: valid + j),
        junk.map(lambda j: j + valid),
        st.integers(1, max(1, len(valid) - 1)).map(lambda n: valid[:n] + "!" + valid[n:]),
        st.integers(300, 5000).map(lambda n: valid + "a" * n),  # longer than any id or name
    )


def bad_enum(valid: str) -> st.SearchStrategy[str]:
    near_misses = [valid.upper(), valid.lower(), valid + " ", " " + valid, valid + "X", ""]
    return st.one_of(
        st.sampled_from([v for v in near_misses if v not in ALLOWED_LITERALS]),
        st.text(max_size=40).filter(
            # "Association:<id>" is how some compliance events name the association.
            lambda s: s not in ALLOWED_LITERALS and not s.startswith("Association:")
        ),
    )


bad_time = st.one_of(
    st.sampled_from(
        [
            "yesterday",
            "",
            "2026-11-14",  # a date is not an instant
            "2026-11-14T06:41:07",  # no zone: which 06:41?
            "2026-13-14T06:41:07Z",
            "2026-11-31T06:41:07Z",
            "2026-11-14T25:41:07Z",
            "1700000000",  # epoch seconds as text
            "14/11/2026 06:41",
        ]
    ),
    st.integers(-(2**40), 2**40),  # epoch seconds: AWS writes ISO text
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30).filter(lambda s: not ISO_INSTANT.fullmatch(s)),
)
