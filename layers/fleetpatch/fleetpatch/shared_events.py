"""issue 22: the events a member shares with the organization's central account (one owner).

A member's publish-report puts them on its own default bus (``fleetpatch.sharing``); when the
stack is given a central bus, a rule forwards them there (template.yaml
``CentralForwardingRule``), and the central stack's ingest function indexes them
(``fleetpatch.services.central``). ``source`` and the detail-types are
``fleetpatch.contracts.org``'s.

``Run Finished``: one per published run report (launch, wave, emergency, remediation) and
per compliance digest (``compliance-digest``: its drifted instances are ``failed``).
``Compliance Summary``: an account and region's compliance counts per environment and patch
group, sent with each compliance digest.

Both carry the member's ``account`` and ``region`` in their detail; the central side checks
the detail's account against the envelope's, which EventBridge sets from the sender and a
member cannot choose, so no member can file its runs under another account. Detail keys are
camelCase, as AWS's own events write them. Each entry must stay within PutEvents' 256 KB
(EventBridge API Reference, PutEvents; the size as *Calculating PutEvents event entry size*
counts it), checked by :func:`entry`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel

from fleetpatch.contracts.org import COMPLIANCE_SUMMARY, RUN_FINISHED, SOURCE
from fleetpatch.errors import InvalidEventError
from fleetpatch.ids import AccountId, Region

SCHEMA_VERSION: Literal[1] = 1
MAX_ENTRY_BYTES = 256 * 1024
"""PutEvents' limit on one entry (Time 14 bytes, Source, DetailType, Detail, Resources)."""
MAX_ENTRIES_PER_CALL = 10
"""PutEvents takes at most 10 entries a request (API Reference, ``Entries``)."""

RunKind = Literal["launch", "wave", "emergency", "remediation", "compliance-digest"]
Text = Annotated[str, StringConstraints(max_length=1024)]
RunId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Detail(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
        defer_build=True,
    )


class ReportLocation(_Detail):
    """Where the run's report can be read: the central bucket's copy when it was made."""

    bucket: str = Field(min_length=3, max_length=63)
    json_key: str = Field(min_length=1, max_length=1024)
    html_key: str = Field(min_length=1, max_length=1024)


class RunFinished(_Detail):
    schema_version: Literal[1] = SCHEMA_VERSION
    account: AccountId
    region: Region
    stage: str = Field(min_length=1, max_length=32)
    run_id: RunId
    kind: RunKind
    status: Text = Field(description="the run's outcome (fleetpatch.outcomes' vocabulary)")
    title: Text
    subject: Text
    environment: str | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime
    instances: int = Field(ge=0)
    failed: int = Field(ge=0)
    report: ReportLocation | None = Field(
        default=None, description="None: the report could not be stored"
    )
    execution_arn: str | None = None


class GroupCount(_Detail):
    environment: str | None = None
    patch_group: str | None = None
    compliant: int = Field(ge=0)
    non_compliant: int = Field(ge=0)


class ComplianceSummary(_Detail):
    schema_version: Literal[1] = SCHEMA_VERSION
    account: AccountId
    region: Region
    stage: str = Field(min_length=1, max_length=32)
    as_of: AwareDatetime
    groups: list[GroupCount]

    @property
    def compliant(self) -> int:
        return sum(g.compliant for g in self.groups)

    @property
    def non_compliant(self) -> int:
        return sum(g.non_compliant for g in self.groups)


SharedDetail = RunFinished | ComplianceSummary
_DETAIL_TYPES: dict[str, type[RunFinished] | type[ComplianceSummary]] = {
    RUN_FINISHED: RunFinished,
    COMPLIANCE_SUMMARY: ComplianceSummary,
}


class SharedEventTooLargeError(ValueError):
    """An entry over PutEvents' 256 KB: EventBridge would refuse it."""


def detail_type_of(detail: SharedDetail) -> str:
    return RUN_FINISHED if isinstance(detail, RunFinished) else COMPLIANCE_SUMMARY


def entry(detail: SharedDetail, *, at: datetime) -> dict[str, Any]:
    """The PutEvents entry for ``detail`` on the caller's default bus."""
    resources = (
        [detail.execution_arn] if isinstance(detail, RunFinished) and detail.execution_arn else []
    )
    built: dict[str, Any] = {
        "Time": at,
        "Source": SOURCE,
        "DetailType": detail_type_of(detail),
        "Detail": detail.model_dump_json(by_alias=True),
        "Resources": resources,
    }
    size = entry_size(built)
    if size > MAX_ENTRY_BYTES:
        raise SharedEventTooLargeError(
            f"{built['DetailType']} entry is {size} bytes, over PutEvents' {MAX_ENTRY_BYTES}"
        )
    return built


def entry_size(built: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it (*Calculating PutEvents event entry size*)."""
    size = 14 if built.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(built.get(name) or "").encode())
    return size + sum(len(str(r).encode()) for r in built.get("Resources") or [])


# --- the central side: a forwarded event, validated at the edge ---------------------------------


class SharedEvent(BaseModel):
    """A forwarded event as the central bus delivers it (the EventBridge envelope)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    account: AccountId
    region: Region
    detail_type: str
    detail: SharedDetail


def parse_shared_event(raw: Any) -> SharedEvent:
    """Validate a forwarded event; :class:`InvalidEventError` names what is wrong."""
    if not isinstance(raw, Mapping):
        raise InvalidEventError("event", f"expected an object, got {type(raw).__name__}")
    if raw.get("source") != SOURCE:
        raise InvalidEventError("source", f"expected {SOURCE!r}, got {raw.get('source')!r}")
    detail_type = raw.get("detail-type")
    model = _DETAIL_TYPES.get(str(detail_type))
    if model is None:
        raise InvalidEventError(
            "detail-type", f"expected one of {sorted(_DETAIL_TYPES)}, got {detail_type!r}"
        )
    try:
        detail = model.model_validate(raw.get("detail"))
        event = SharedEvent.model_validate(
            {
                "id": str(raw.get("id") or ""),
                "account": raw.get("account"),
                "region": raw.get("region"),
                "detail_type": str(detail_type),
                "detail": detail,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "detail"
        raise InvalidEventError(where, first["msg"]) from None
    if event.detail.account != event.account:
        # EventBridge sets the envelope's account from the sender: a detail claiming another
        # account is a member speaking for someone else.
        raise InvalidEventError(
            "detail.account",
            f"{event.detail.account} is not the sending account {event.account}",
        )
    return event


def summary_groups(fleet: Sequence[Mapping[str, str]]) -> list[GroupCount]:
    """The compliance ledger's latest states, counted per environment and patch group."""
    counts: dict[tuple[str, str], list[int]] = {}
    for state in fleet:
        where = (state.get("environment") or "", state.get("patch_group") or "")
        tally = counts.setdefault(where, [0, 0])
        tally[1 if state.get("status") == "non_compliant" else 0] += 1
    return [
        GroupCount(
            environment=env or None,
            patch_group=group or None,
            compliant=compliant,
            non_compliant=drifted,
        )
        for (env, group), (compliant, drifted) in sorted(counts.items())
    ]


def dumps(detail: SharedDetail) -> str:
    """The detail as stored or printed (camelCase keys)."""
    return json.dumps(detail.model_dump(mode="json", by_alias=True))
