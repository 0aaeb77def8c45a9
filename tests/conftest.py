"""Shared test helpers: event fixtures live once, in events/<source>/<scenario>.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = REPO_ROOT / "events"


def event_path(name: str) -> Path:
    """``name`` is ``<source>/<scenario>``, e.g. ``aws.ssm/command-invocation-success``."""
    return EVENTS_DIR / f"{name}.json"


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads(event_path(name).read_text()))


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT
