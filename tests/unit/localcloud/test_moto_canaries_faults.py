"""Canary: the moto 5.2.5 internal localcloud.core.faults wraps, checked before we rely on it."""

from __future__ import annotations

import inspect


def test_every_mocked_call_passes_the_botocore_stubbers_before_send_hook() -> None:
    # localcloud.core.faults wraps BotocoreStubber.__call__ to answer a call with an error.
    from moto.core import botocore_stubber, models

    source = inspect.getsource(botocore_stubber)  # the module file: unaffected by our patches
    assert "def __call__(\n        self, event_name: str, request: AWSPreparedRequest" in source
    assert "if not self.enabled:" in source
    assert 'BUILTIN_HANDLERS.append(("before-send", botocore_stubber))' in inspect.getsource(models)
