"""``ledger.runtime``: what a serving process sets for itself."""

from __future__ import annotations

import base64
import gc
from pathlib import Path

import pytest

from ledger import runtime
from tests.conftest import MASTER_KEY


def test_serving_gc_freezes_the_startup_heap_and_collects_young_objects_less_often() -> None:
    before = gc.get_threshold()
    try:
        thresholds = runtime.tune_gc_for_serving()
        assert thresholds == (runtime.GC_GEN0_THRESHOLD, before[1], before[2]) == gc.get_threshold()
        assert gc.get_freeze_count() > 10_000  # the imported libraries' objects, walked no more
        cycle: list[object] = []
        cycle.append(cycle)  # garbage made after the freeze is still collected
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_the_serve_factory_tunes_gc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from ledger.cli import wiring

    calls: list[bool] = []
    monkeypatch.setattr(runtime, "tune_gc_for_serving", lambda: calls.append(True) or (0, 0, 0))
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'l.db'}")
    monkeypatch.setenv("LEDGER_MASTER_KEY", base64.b64encode(MASTER_KEY).decode())
    monkeypatch.setenv("LEDGER_DATA_DIR", str(tmp_path))
    app = wiring.create_app_from_env()
    assert calls == [True] and app.title == "OCOP Ledger"
