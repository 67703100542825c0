"""Fixtures for the exporter tests: the durian scenario on a fresh ledger (SQLite by default)."""

from __future__ import annotations

import pytest

from ledger.service import Ledger
from tests.exports.scenario import Scene, build


@pytest.fixture
def scene(ledger: Ledger) -> Scene:
    return build(ledger)
