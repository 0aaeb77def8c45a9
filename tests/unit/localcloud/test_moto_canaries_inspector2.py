"""Canaries: the moto 5.2.5 inspector2 internals localcloud.adapters.inspector2 relies on."""

from __future__ import annotations

import inspect


def test_list_findings_is_a_response_method_reading_its_params() -> None:
    # Replaced by localcloud.adapters.inspector2.list_findings (moto's answers a canned queue).
    from moto.inspector2 import models, responses

    source = inspect.getsource(responses.Inspector2Response)
    assert "    def list_findings(self) -> str:" in source
    assert 'self._get_param("filterCriteria")' in source
    assert "findings_queue" in inspect.getsource(models.Inspector2Backend.list_findings)
    base = inspect.getsource(responses.BaseResponse.setup_class)
    assert "self.current_account =" in base
    assert "self.region =" in base
