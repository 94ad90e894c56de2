"""Shared test fixtures: where ../shared is, and a fresh database per test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CROWDPULSE_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
DATA = SHARED / "data"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the test cleanly when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared not available: {path}")
    return path


@pytest.fixture
def fresh_store(tmp_path):
    from crowdpulse.store import Store

    store = Store.open(tmp_path / "test.duckdb")
    yield store
    store.close()
