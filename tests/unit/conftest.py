"""Unit tests never touch the network: pytest-socket blocks every socket but Unix ones."""

from __future__ import annotations

import pytest
from pytest_socket import disable_socket


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup() -> None:
    disable_socket(allow_unix_socket=True)
