"""Canaries: the moto 5.2.5 internals localcloud.adapters.ssm_calendar relies on.

If one fails after a moto upgrade, revisit localcloud/adapters/ssm_calendar.py before
trusting the simulated Change Calendar again.
"""

from __future__ import annotations

import inspect


def test_moto_has_no_get_calendar_state_of_its_own() -> None:
    from moto.ssm.responses import SimpleSystemManagerResponse

    from localcloud.core import motopatch

    found = getattr(SimpleSystemManagerResponse, "get_calendar_state", None)
    # Not there, or ours (a cloud started earlier in this process installed it).
    assert found is None or motopatch.is_patched(found, "_fleetpatch_cal")


def test_moto_refuses_text_documents_and_create_document_takes_keywords() -> None:
    from moto.ssm import models, responses

    assert "def _validate_document_format" in inspect.getsource(models)
    assert 'aws_doc_formats = ["JSON", "YAML"]' in inspect.getsource(
        models._validate_document_format
    )
    parameters = inspect.signature(
        getattr(models.SimpleSystemManagerBackend.create_document, "_fleetpatch_original", None)
        or models.SimpleSystemManagerBackend.create_document
    ).parameters
    assert {"content", "document_type", "document_format"} <= set(parameters)
    source = inspect.getsource(responses.SimpleSystemManagerResponse.create_document)
    assert "document_format=document_format," in source  # called with keywords
    assert "document.describe(tags=tags)" in source


def test_documents_and_their_attributes_are_where_the_adapter_reads_them() -> None:
    from moto.ssm import exceptions, models

    document = models.Document(
        account_id="123456789012",
        name="calendar",
        version_name="",
        content='{"schemaVersion": "2.0"}',
        document_type="ChangeCalendar",
        document_format="JSON",
        requires=[],
        attachments=[],
        target_type="",
    )
    for attribute in ("content", "document_format", "document_type", "content_json"):
        assert hasattr(document, attribute), attribute
    documents = models.Documents(document)
    assert documents.get_default_version() is document
    assert documents.describe()["DocumentFormat"] == "JSON"
    document.document_format = "TEXT"  # what DescribeDocument shows is the attribute
    assert documents.describe()["DocumentFormat"] == "TEXT"
    backend = models.SimpleSystemManagerBackend("eu-central-1", "123456789012")
    try:
        backend._get_documents("missing")
    except exceptions.InvalidDocument:
        pass
    else:  # pragma: no cover - the canary's point
        raise AssertionError("_get_documents no longer raises InvalidDocument")
    assert exceptions.InvalidDocumentContent("x").code == "InvalidDocumentContent"
    assert exceptions.ValidationException("x").code == "ValidationException"
