"""SSM Change Calendar on the local cloud: ChangeCalendar documents and GetCalendarState.

moto 5.2.5 refuses ``DocumentFormat: TEXT`` (its documents are JSON or YAML) and has no
GetCalendarState. This adapter:

* lets CreateDocument store a ``ChangeCalendar`` document in format ``TEXT`` (its content is
  iCalendar, checked by ``localcloud.sim.change_calendar.parse``: refused content answers
  ``InvalidDocumentContent``); a ChangeCalendar in another format is refused
  (``ValidationException``). DescribeDocument shows it with ``DocumentFormat: TEXT``;
  GetDocument does not serve its content (moto refuses format TEXT there: not needed);
* serves GetCalendarState on the simulated clock (``AtTime`` or now): per name or ARN,
  ``InvalidDocument`` for a document that does not exist, ``InvalidDocumentType`` for one
  that is not a ChangeCalendar, ``ValidationException`` for no names; ``State`` OPEN only
  if every calendar is open, ``NextTransitionTime`` when that changes (omitted if never).
  IAM (``ssm:GetCalendarState`` on each ``document`` ARN, with ``ssm:DocumentType``) is
  modelled in ``localcloud.core.iam.requests``.

moto internals touched (canaries in tests/unit/localcloud/test_moto_canaries_calendar.py):
``SimpleSystemManagerBackend.create_document`` (keyword arguments ``content``,
``document_type``, ``document_format``) wrapped; ``._get_documents`` (raises
``InvalidDocument``), ``Documents.get_default_version``, ``Document.content``,
``.document_format``, ``.document_type``, ``.content_json`` read and, for a calendar, set;
``moto.ssm.exceptions.InvalidDocumentContent`` and ``ValidationException``; a method
``get_calendar_state`` added to ``SimpleSystemManagerResponse`` (dispatched by name).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult

from localcloud.adapters.ssm_api import SsmApiError, ssm_backend
from localcloud.core import clock as sim_clock
from localcloud.core import motopatch
from localcloud.sim.change_calendar import (
    Calendar,
    CalendarContentError,
    at_time,
    combined_state,
    parse,
)

if TYPE_CHECKING:
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

CALENDAR_TYPE = "ChangeCalendar"
# What moto's Document constructor parses in place of the calendar's iCalendar text.
_STAND_IN = '{"schemaVersion": "2.0"}'


def _name(name_or_arn: str) -> str:
    return name_or_arn.rsplit("document/", 1)[-1] if name_or_arn.startswith("arn:") else name_or_arn


def calendar_of(backend: SimpleSystemManagerBackend, name_or_arn: str) -> Calendar:
    """The parsed calendar of a ChangeCalendar document, or the error AWS answers."""
    from moto.ssm.exceptions import InvalidDocument

    name = _name(name_or_arn)
    try:
        document = backend._get_documents(name).get_default_version()
    except InvalidDocument:
        raise SsmApiError("InvalidDocument", f"Document {name} does not exist.") from None
    if document.document_type != CALENDAR_TYPE:
        raise SsmApiError(
            "InvalidDocumentType",
            f"Document {name} is of type {document.document_type}, not {CALENDAR_TYPE}.",
        )
    return parse(str(document.content))


def document_type(name_or_arn: str, account: str, region: str) -> str | None:
    """A document's type (IAM's ``ssm:DocumentType``), or None when it does not exist."""
    from moto.ssm.exceptions import InvalidDocument
    from moto.ssm.models import ssm_backends

    try:
        found = ssm_backends[account][region]._get_documents(_name(name_or_arn))
    except InvalidDocument:
        return None
    return str(found.get_default_version().document_type)


def get_calendar_state(self: SimpleSystemManagerResponse) -> ActionResult:
    names = self._get_param("CalendarNames") or []
    if not names:
        raise SsmApiError("ValidationException", "CalendarNames must name at least one calendar.")
    backend = ssm_backend(self)
    calendars = [calendar_of(backend, n) for n in names]
    try:
        at = at_time(self._get_param("AtTime"), sim_clock.current().now())
    except ValueError:
        raise SsmApiError(
            "ValidationException", "AtTime is not an ISO 8601 date and time."
        ) from None
    state, following = combined_state(calendars, at)
    answer: dict[str, Any] = {"State": state, "AtTime": _iso(at)}
    if following is not None:
        answer["NextTransitionTime"] = _iso(following)
    return ActionResult(answer)


def _iso(when: Any) -> str:
    return str(when.strftime("%Y-%m-%dT%H:%M:%SZ"))


def _create_document(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_document(self: SimpleSystemManagerBackend, **kwargs: Any) -> Any:
        from moto.ssm.exceptions import InvalidDocumentContent, ValidationException

        if kwargs.get("document_type") != CALENDAR_TYPE:
            return original(self, **kwargs)
        if kwargs.get("document_format") != "TEXT":
            raise ValidationException(
                f"A {CALENDAR_TYPE} document's format is TEXT (iCalendar), not "
                f"{kwargs.get('document_format')}."
            )
        content = str(kwargs.get("content") or "")
        try:
            parse(content)
        except CalendarContentError as exc:
            raise InvalidDocumentContent(
                f"The content for the document is not valid: {exc}"
            ) from exc
        documents = original(self, **{**kwargs, "content": _STAND_IN, "document_format": "JSON"})
        document = documents.get_default_version()
        document.content = content
        document.document_format = "TEXT"
        document.content_json = {}
        return documents

    return create_document


def install() -> None:
    """Patch moto once per process (idempotent)."""
    from moto.ssm.models import SimpleSystemManagerBackend
    from moto.ssm.responses import SimpleSystemManagerResponse

    motopatch.replace(
        SimpleSystemManagerResponse, "get_calendar_state", get_calendar_state, tag="_fleetpatch_cal"
    )
    motopatch.patch(
        SimpleSystemManagerBackend, "create_document", _create_document, tag="_fleetpatch_cal"
    )
