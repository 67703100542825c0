"""Organization keys: rotation, revocation with an effective time, and the master key at start."""

from __future__ import annotations

import base64
import os
import re
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ledger.core.records import LotCreate
from ledger.errors import ConfigError, ConflictError, InputError, NotFound
from ledger.service import Ledger
from ledger.settings import Settings
from ledger.store import log as store
from ledger.store.db import read_tx
from tests.helpers import (
    T0,
    Clock,
    add_org,
    add_product,
    client_entry,
    commissioning_event,
    event,
    lot_fields,
    new_client_key,
    register_client_key,
    seed,
)

KEY_1 = base64.b64encode(bytes(range(32))).decode()
KEY_2 = base64.b64encode(bytes(range(1, 33))).decode()


def _entries(ledger: Ledger, lot: str) -> list[Any]:
    with read_tx(ledger.engine) as conn:
        return store.lot_entries(conn, lot)


def test_rotation_keeps_old_entries_valid(ledger: Ledger, clock: Clock) -> None:
    sc = seed(ledger, codes=("PH-A", "PH-B"), rounds=1)
    [old] = ledger.get_org(sc.org)["keys"]
    clock.advance(hours=1)
    new = ledger.generate_key(sc.org)
    keys = {k["key_id"]: k for k in ledger.get_org(sc.org)["keys"]}
    assert keys[old["key_id"]]["status"] == "retired"
    assert keys[old["key_id"]]["retired_at"] == clock().isoformat()
    assert keys[new["key_id"]]["status"] == "active" and new["held_by"] == "server"
    assert all(set(k) == set(old) and "sealed_private_key" not in k for k in keys.values())
    res = ledger.record(sc.org, [{"lot": lot, "event": event("packing")} for lot in sc.lots])
    assert {r["signer"] for r in res} == {new["key_id"]}
    for lot in sc.lots:
        assert [e.signer for e in _entries(ledger, lot)] == [old["key_id"]] * 2 + [new["key_id"]]
        assert ledger.verify_lot(lot).verdict == "pending"


def _lot_with_hourly_events(ledger: Ledger, clock: Clock) -> tuple[str, str]:
    """A lot with seq 0..3 recorded at T0, T0+1h, T0+2h, T0+3h; its organization's key id."""
    sc = seed(ledger, codes=("PH-A",), rounds=0)
    for h in (1, 2, 3):
        clock.advance(hours=1)
        ledger.record(sc.org, [{"lot": sc.lots[0], "event": event(time=f"2026-07-0{h + 1}T08:00:00+07:00")}])
    return sc.lots[0], ledger.get_org(sc.org)["keys"][0]["key_id"]


@pytest.mark.parametrize(
    ("effective", "first_bad"),
    [
        pytest.param(timedelta(hours=2, minutes=30), 3, id="between-seq-2-and-3"),
        pytest.param(timedelta(hours=2), 2, id="exactly-at-seq-2"),
        pytest.param(timedelta(minutes=-1), 0, id="before-everything"),
        pytest.param(timedelta(days=30), None, id="in-the-future"),
    ],
)
def test_revocation_invalidates_entries_recorded_after_it(
    ledger: Ledger, clock: Clock, effective: timedelta, first_bad: int | None
) -> None:
    lot, kid = _lot_with_hourly_events(ledger, clock)
    info = ledger.revoke_key(kid, effective=T0 + effective, reason="máy tính bị mất")
    assert info["status"] == "revoked"
    assert datetime.fromisoformat(info["revoked_at"]) == T0 + effective
    report = ledger.verify_lot(lot)
    if first_bad is None:
        assert (report.verdict, report.failure) == ("pending", None)
        return
    assert report.verdict == "tampered"
    assert report.failure is not None
    assert (report.failure.seq, report.failure.check) == (first_bad, "key")
    assert f"key {kid} was revoked at" in report.failure.message
    assert all(e.checks["key"] == "ok" for e in report.entries[:first_bad])


def test_revocation_in_another_time_zone(ledger: Ledger, clock: Clock) -> None:
    lot, kid = _lot_with_hourly_events(ledger, clock)
    hanoi = timezone(timedelta(hours=7))
    ledger.revoke_key(kid, effective=(T0 + timedelta(hours=1, minutes=30)).astimezone(hanoi))
    report = ledger.verify_lot(lot)
    assert report.failure is not None and (report.failure.seq, report.failure.check) == (2, "key")


def test_revoked_and_retired_keys_sign_nothing_new(ledger: Ledger, clock: Clock) -> None:
    lot, kid = _lot_with_hourly_events(ledger, clock)
    ledger.revoke_key(kid, effective=clock() + timedelta(days=1))  # revoked from tomorrow: no new entries today
    with pytest.raises(InputError, match="no server-held active key"):
        ledger.record("htx-phu-hoi", [{"lot": lot, "event": event()}])
    with pytest.raises(ConflictError, match=f"key {kid} is already revoked"):
        ledger.revoke_key(kid)
    with pytest.raises(InputError, match="revocation time needs a timezone offset"):
        ledger.revoke_key(kid, effective=datetime(2026, 8, 1))
    with pytest.raises(NotFound, match="no key ed25519:00"):
        ledger.revoke_key("ed25519:00")
    new = ledger.generate_key("htx-phu-hoi")
    [r] = ledger.record("htx-phu-hoi", [{"lot": lot, "event": event()}])
    assert r["signer"] == new["key_id"]


def test_client_keys_after_rotation_and_revocation(ledger: Ledger, clock: Clock) -> None:
    add_org(ledger, "htx-tu-ky", generate_key=False)
    g = add_product(ledger, "htx-tu-ky", 88)
    k1, pub1 = new_client_key()
    register_client_key(ledger, "htx-tu-ky", k1, pub1)
    lot = LotCreate.model_validate(lot_fields(g, "TK-1"))
    e0 = client_entry(k1, lot=lot.lot_id, seq=0, prev=None, raw_event=commissioning_event(lot), now=clock())
    [r0] = ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": e0}])
    k2, pub2 = new_client_key()
    register_client_key(ledger, "htx-tu-ky", k2, pub2)  # retires k1
    with pytest.raises(ConflictError, match="is already registered"):
        register_client_key(ledger, "htx-tu-ky", k2, pub2)
    stale = client_entry(k1, lot=lot.lot_id, seq=1, prev=r0["leaf_hash"], raw_event=event(), now=clock())
    with pytest.raises(InputError, match=f"wrong signer: '{k1.key_id}' is not an active key"):
        ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": stale}])
    ledger.revoke_key(k2.key_id, effective=clock() + timedelta(hours=1))
    revoked = client_entry(k2, lot=lot.lot_id, seq=1, prev=r0["leaf_hash"], raw_event=event(), now=clock())
    with pytest.raises(InputError, match=f"wrong signer: '{k2.key_id}' is not an active key"):
        ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": revoked}])
    assert ledger.verify_lot(lot.lot_id).verdict == "pending"  # k1's entry predates everything


# --- the master key at start ----------------------------------------------------------------


@pytest.fixture
def opened(db_url: str, tmp_path: Path) -> Iterator[list[Ledger]]:
    """Ledgers opened by a test; their engines are disposed afterwards."""
    out: list[Ledger] = []
    yield out
    for led in out:
        led.engine.dispose()


def _settings(db_url: str, data_dir: Path, master_key: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=db_url, master_key=master_key, _env_file=None)  # type: ignore[call-arg]


def test_wrong_master_key_is_refused_at_open(db_url: str, tmp_path: Path, opened: list[Ledger]) -> None:
    led = Ledger.open(_settings(db_url, tmp_path, KEY_1))
    opened.append(led)
    add_org(led, "htx-phu-hoi")
    with pytest.raises(ConfigError, match="the master key is wrong for this ledger: expected fingerprint"):
        Ledger.open(_settings(db_url, tmp_path, KEY_2))
    with pytest.raises(ConfigError, match="master key has wrong length: expected 32 bytes, got 16"):
        Ledger.open(_settings(db_url, tmp_path, base64.b64encode(bytes(16)).decode()))
    with pytest.raises(ConfigError, match="LEDGER_MASTER_KEY is not valid base64"):
        Ledger.open(_settings(db_url, tmp_path, "not*base64"))
    again = Ledger.open(_settings(db_url, tmp_path, KEY_1))
    opened.append(again)
    assert again.get_org("htx-phu-hoi")["keys"][0]["status"] == "active"


def test_master_key_file_is_created_once_and_required_after(db_url: str, tmp_path: Path, opened: list[Ledger]) -> None:
    key_file = tmp_path / "data" / "master.key"
    led = Ledger.open(_settings(db_url, tmp_path / "data", None))
    opened.append(led)
    assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text().strip())) == 32
    add_org(led, "htx-phu-hoi")
    reopened = Ledger.open(_settings(db_url, tmp_path / "data", None))
    opened.append(reopened)
    assert reopened.get_org("htx-phu-hoi")["slug"] == "htx-phu-hoi"
    saved = key_file.read_text()
    key_file.unlink()
    missing = f"master key missing: set LEDGER_MASTER_KEY or restore the key file {re.escape(str(key_file))}"
    with pytest.raises(ConfigError, match=missing):
        Ledger.open(_settings(db_url, tmp_path / "data", None))
    assert not key_file.exists()  # never silently replaced by a new key
    key_file.write_text("garbage!\n")
    with pytest.raises(ConfigError, match="is not valid base64"):
        Ledger.open(_settings(db_url, tmp_path / "data", None))
    key_file.write_text(saved)
    opened.append(Ledger.open(_settings(db_url, tmp_path / "data", None)))


def test_sealed_keys_under_another_master_key_are_refused(ledger: Ledger, db_url: str, tmp_path: Path) -> None:
    # a ledger written before it recorded its master key's fingerprint: the sealed keys decide
    add_org(ledger, "htx-phu-hoi")
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigError, match="cannot decrypt the private key of ed25519:.*the master key is wrong"):
        Ledger.open(_settings(db_url, tmp_path, other))
    led = Ledger.open(_settings(db_url, tmp_path, KEY_1))  # the fixture's master key is bytes 0..31
    try:
        assert led.get_org("htx-phu-hoi")["keys"]
    finally:
        led.engine.dispose()
