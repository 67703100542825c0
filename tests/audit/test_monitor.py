"""The external monitor, against the real API app: incremental checks, and a rewritten log
served by a second, tampered server is caught against the head remembered from the first run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ledger.audit.monitor import monitor
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import log as store
from ledger.store import migrate
from ledger.store.db import make_engine, read_tx, write_tx
from ledger.store.keys import KeyRing
from ledger.store.models import LogEntry
from tests.exports.scenario import build
from tests.helpers import Clock, event, seed

URL = "http://testserver"


def make_ledger(tmp_path: Path, name: str) -> Ledger:
    engine = make_engine(f"sqlite:///{tmp_path / name}.db")
    migrate.upgrade(engine)
    return Ledger(engine, KeyRing(bytes(range(32))), clock=Clock(), log_masterdata=False)


def server(ledger: Ledger, tmp_path: Path) -> TestClient:
    from api.app import create_app

    settings = Settings(data_dir=tmp_path / "data", database_url="sqlite://")
    return TestClient(create_app(settings, ledger=ledger, connect_chain=False))


class Chain:
    def __init__(self, roots: dict[int, bytes]) -> None:
        self.roots = roots

    def root_at(self, size: int) -> bytes:
        return self.roots.get(size, b"\x00" * 32)


def test_monitor_incremental_then_rewritten(tmp_path: Path) -> None:
    honest = make_ledger(tmp_path, "honest")
    build(honest)
    state = tmp_path / "state.json"
    with server(honest, tmp_path) as client:
        first = monitor(client, URL, state, page=5)
        assert first.ok, first.findings
        assert (first.tree_size, first.entries_checked) == (12, 12)
        seed(honest)  # the log grows by 15 entries
        second = monitor(client, URL, state, page=5)
        assert second.ok and second.entries_checked == 15 and second.previous_size == 12
    saved = json.loads(state.read_text())
    assert saved["tree_size"] == 27 and saved["root"] == honest.head().root.hex()

    rewritten = make_ledger(tmp_path, "rewritten")  # another history, served at the same URL
    other = seed(rewritten, org="htx-khac")
    build(rewritten)
    rewritten.record("htx-khac", [{"lot": other.lots[0], "event": event("storing", time="2026-07-20T08:00:00+07:00")}])
    with server(rewritten, tmp_path) as client:
        rep = monitor(client, URL, state)
    assert not rep.ok
    assert rep.findings[0]["check"] == "rewritten"
    assert "does not extend the verified head at size 27" in rep.findings[0]["message"]
    assert json.loads(state.read_text())["root"] == saved["root"]  # the verified head is kept
    with server(rewritten, tmp_path) as client:
        assert monitor(client, URL, state).findings[0]["check"] == "rewritten"  # and caught again


def test_monitor_catches_entries_that_do_not_match_the_checkpoint(tmp_path: Path) -> None:
    led = make_ledger(tmp_path, "l")
    build(led)
    t = LogEntry.__table__  # type: ignore[attr-defined]
    with write_tx(led.engine) as conn:
        conn.execute(update(t).where(t.c.idx == 5).values(sig="A" * 88))
    with server(led, tmp_path) as client:
        rep = monitor(client, URL, tmp_path / "s.json")
    assert [f["check"] for f in rep.findings] == ["leaf", "root"]
    assert rep.findings[0]["index"] == 5
    assert not (tmp_path / "s.json").exists()


def test_monitor_checks_anchors_on_chain(tmp_path: Path) -> None:
    from tests.audit.test_audit import anchor

    led = make_ledger(tmp_path, "l")
    build(led)
    with write_tx(led.engine) as conn:
        roots = {8: anchor(conn, 8), 12: anchor(conn, 12)}
    with server(led, tmp_path) as client:
        ok = monitor(client, URL, tmp_path / "a.json", chain=Chain(roots))
        assert ok.ok and ok.anchors_checked == 2, ok.findings
        bad = monitor(client, URL, tmp_path / "b.json", chain=Chain({8: b"\x05" * 32, 12: roots[12]}))
    assert [f["check"] for f in bad.findings] == ["anchor_chain"]
    with read_tx(led.engine) as conn:
        assert store.read_head(conn).size == 12


def test_state_file_belongs_to_one_server(tmp_path: Path) -> None:
    from ledger.errors import LedgerError

    led = make_ledger(tmp_path, "l")
    build(led)
    with server(led, tmp_path) as client:
        monitor(client, URL, tmp_path / "s.json")
        with pytest.raises(LedgerError, match="belongs to"):
            monitor(client, "http://other", tmp_path / "s.json")
