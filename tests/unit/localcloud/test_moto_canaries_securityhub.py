"""Canaries: the moto internals localcloud.adapters.securityhub relies on (moto 5.2.5)."""

from __future__ import annotations

import inspect


def test_batch_import_findings_is_what_the_adapter_replaces() -> None:
    from moto.securityhub import exceptions, models, responses

    backend = models.SecurityHubBackend
    original = backend.batch_import_findings
    original = getattr(original, "_fleetpatch_original", None) or original
    assert list(inspect.signature(original).parameters) == ["self", "findings"]
    # The response calls it by keyword and reads (failed count, success count, failed list).
    source = inspect.getsource(responses.SecurityHubResponse.batch_import_findings)
    assert "batch_import_findings(\n                findings=findings," in source
    assert "failed_count, success_count, failed_findings" in source
    # Findings are kept as Finding(id, data) in backend.findings; enabled says subscribed.
    assert list(inspect.signature(models.Finding).parameters) == ["finding_id", "finding_data"]
    init = inspect.getsource(backend.__init__)
    assert "self.findings: list[Finding] = []" in init
    assert "self.enabled = False" in init
    assert inspect.getsource(models.Finding.as_dict).strip().endswith("return self.data")
    error = exceptions.InvalidInputException(op="BatchImportFindings", msg="x")
    assert error.code == "InvalidInputException"
