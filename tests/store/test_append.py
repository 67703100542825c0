"""The append path on SQLite and PostgreSQL: lots, chains, batches, signers, transformations."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ledger.core import canonical, merkle
from ledger.core.records import LotCreate, OrganizationCreate
from ledger.errors import ConflictError, InputError, PermissionDenied
from ledger.service import Ledger
from ledger.store import log as store
from ledger.store.append import MAX_BATCH
from ledger.store.db import read_tx
from ledger.store.models import Lot, LotLink, TreeNode
from tests.helpers import (
    Clock,
    Scenario,
    add_lot,
    add_org,
    add_product,
    client_entry,
    commissioning_event,
    event,
    gtin,
    lot_fields,
    new_client_key,
    register_client_key,
    seed,
    transformation,
)

_link = LotLink.__table__
_lot = Lot.__table__
_node = TreeNode.__table__


def snapshot(ledger: Ledger) -> dict[str, Any]:
    """Everything an append writes, to show that a failed one wrote nothing."""
    with read_tx(ledger.engine) as conn:
        return {
            "entries": store.entry_count(conn),
            "head": store.read_head(conn),
            "nodes": conn.execute(select(func.count()).select_from(_node)).scalar_one(),
            "links": conn.execute(select(func.count()).select_from(_link)).scalar_one(),
            "lots": [tuple(r) for r in conn.execute(select(_lot.c.lot_id, _lot.c.last_seq, _lot.c.head_hash))],
        }


def entries(ledger: Ledger, lot: str) -> list[Any]:
    with read_tx(ledger.engine) as conn:
        return store.lot_entries(conn, lot)


def test_lot_creation_makes_a_commissioning_entry(ledger: Ledger) -> None:
    add_org(ledger, "htx-phu-hoi")
    g = add_product(ledger, "htx-phu-hoi", 4567)
    lot = ledger.create_lot("htx-phu-hoi", lot_fields(g, "PH-2026-07-A"))
    assert lot["lot_id"] == f"{g}.PH-2026-07-A"
    assert lot["last_seq"] == 0 and lot["origin_province"] == "Lâm Đồng"
    [e] = entries(ledger, lot["lot_id"])
    assert (e.idx, e.seq, e.prev, e.biz_step, e.event_type) == (0, 0, None, "commissioning", "ObjectEvent")
    assert lot["head_hash"] == bytes(e.leaf_hash).hex()
    ev = json.loads(e.event)
    assert ev["ilmd"]["ocop:originProvince"] == "Lâm Đồng"
    assert ev["ilmd"]["ocop:plot"] == {"type": "Point", "coordinates": [108.3721, 11.7294]}
    assert ev["quantityList"] == [{"lot": lot["lot_id"], "quantity": 1200, "uom": "KGM"}]
    assert ev["recordTime"] == "2026-08-01T03:00:00.000Z"
    assert ledger.head().size == 1
    assert ledger.verify_lot(lot["lot_id"]).verdict == "pending"


def test_events_chain_to_the_previous_leaf(ledger: Ledger) -> None:
    sc = seed(ledger, codes=("PH-A", "PH-B"), rounds=5)
    for lot in sc.lots:
        rows = entries(ledger, lot)
        assert [r.seq for r in rows] == list(range(6))
        assert rows[0].prev is None
        for before, after in zip(rows, rows[1:], strict=False):
            assert after.prev == bytes(before.leaf_hash).hex()
            assert after.idx > before.idx
        head = ledger.get_lot(lot)
        assert (head["last_seq"], head["head_hash"]) == (5, bytes(rows[-1].leaf_hash).hex())
        # the stored leaf is the hash of the canonical entry
        r = rows[3]
        stmt = canonical.statement(lot=lot, seq=r.seq, prev=r.prev, event=json.loads(r.event), signer=r.signer)
        assert bytes(r.leaf_hash) == merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, r.sig)))
    assert [r["index"] for r in sc.results] == list(range(2, 12))
    assert ledger.head().size == 12


def test_batch_is_all_or_nothing(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=1)
    before = snapshot(ledger)
    items = [{"lot": sc.lots[i % 3], "event": event("storing")} for i in range(100)]
    items[57]["event"]["eventTime"] = "2026-07-02 kinda early"
    with pytest.raises(InputError, match="1 invalid event") as exc:
        ledger.record(sc.org, items)
    [detail] = exc.value.details
    assert (detail["index"], detail["field"]) == (57, "events.57.event.eventTime")
    assert "ISO 8601" in str(detail["message"])
    assert snapshot(ledger) == before
    # the same batch without the bad event goes in whole, at consecutive indexes
    items[57]["event"]["eventTime"] = "2026-07-03T08:00:00+07:00"
    res = ledger.record(sc.org, items)
    assert [r["index"] for r in res] == list(range(before["head"].size, before["head"].size + 100))


def test_batch_reports_every_invalid_event(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=0)
    items = [{"lot": sc.lots[0], "event": event()} for _ in range(10)]
    del items[2]["event"]["bizStep"]
    items[5]["event"]["eventTime"] = "2026-07-02T06:30:00"
    items[8]["event"]["bizStep"] = "dancing"
    before = snapshot(ledger)
    with pytest.raises(InputError, match="3 invalid event") as exc:
        ledger.record(sc.org, items)
    assert [(d["index"], d["field"]) for d in exc.value.details] == [
        (2, "events.2.event.bizStep"),
        (5, "events.5.event.eventTime"),
        (8, "events.8.event.bizStep"),
    ]
    assert snapshot(ledger) == before


def test_error_found_while_appending_rolls_back_the_batch(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=0)
    items = [{"lot": sc.lots[i % 3], "event": event()} for i in range(100)]
    items[42]["lot"] = sc.gtin + ".NO-SUCH-LOT"
    before = snapshot(ledger)
    with pytest.raises(InputError, match="events.42: unknown lot") as exc:
        ledger.record(sc.org, items)
    assert exc.value.details == [{"index": 42, "field": "lot", "message": f"unknown lot '{sc.gtin}.NO-SUCH-LOT'"}]
    assert snapshot(ledger) == before


def test_malformed_items_are_all_reported(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=0)
    items: list[Any] = [{"lot": sc.lots[0], "event": event()} for _ in range(6)]
    items[1] = {"lot": sc.lots[0]}
    items[4] = "packing"
    before = snapshot(ledger)
    with pytest.raises(InputError, match="2 invalid event") as exc:
        ledger.record(sc.org, items)
    assert [(d["index"], d["field"]) for d in exc.value.details] == [(1, "events.1"), (4, "events.4")]
    assert snapshot(ledger) == before


BadBatch = Callable[[Scenario], list[Any]]
BAD_BATCHES: dict[str, tuple[BadBatch, str]] = {
    "unknown-lot": (lambda sc: [{"lot": sc.gtin + ".ZZZ", "event": event()}], "unknown lot"),
    "bad-gtin-in-lot-id": (lambda sc: [{"lot": "08930000045670.PH-A", "event": event()}], "unknown lot"),
    "malformed-time": (lambda sc: [{"lot": sc.lots[0], "event": event(time="02/07/2026")}], "ISO 8601"),
    "no-offset": (lambda sc: [{"lot": sc.lots[0], "event": event(time="2026-07-02T06:30:00")}], "timezone offset"),
    "future-time": (lambda sc: [{"lot": sc.lots[0], "event": event(time="2027-01-01T00:00:00Z")}], "in the future"),
    "missing-fields": (lambda sc: [{"lot": sc.lots[0], "event": {"type": "ObjectEvent"}}], "Field required"),
    "no-event": (lambda sc: [{"lot": sc.lots[0]}], "give exactly one of 'event'"),
    "unknown-item-field": (lambda sc: [{"lot": sc.lots[0], "event": event(), "x": 1}], "unknown fields"),
    "not-an-object": (lambda sc: ["packing"], "must be an object"),
    "empty-batch": (lambda sc: [], "no events to record"),
    "too-many": (lambda sc: [{"lot": sc.lots[0], "event": event()}] * (MAX_BATCH + 1), "batch too large"),
    "unknown-input-lot": (
        lambda sc: [{"lot": sc.lots[0], "event": transformation([sc.gtin + ".GONE"])}],
        "unknown input lot",
    ),
    "own-lot-as-input": (
        lambda sc: [{"lot": sc.lots[0], "event": transformation([sc.lots[0]])}],
        "cannot take its own output lot",
    ),
    "ledger-owned-field": (
        lambda sc: [{"lot": sc.lots[0], "event": {**event(), "recordTime": "2026-07-02T00:00:00Z"}}],
        "set by the ledger",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_input_raises_and_stores_nothing(ledger: Ledger, case: str) -> None:
    sc = seed(ledger, rounds=1)
    build, match = BAD_BATCHES[case]
    bad = build(sc)
    items = [{"lot": sc.lots[1], "event": event("storing")}, *bad] if bad else []  # a good event goes first
    before = snapshot(ledger)
    with pytest.raises(InputError, match=match):
        ledger.record(sc.org, items)
    assert snapshot(ledger) == before


def test_lot_creation_errors(ledger: Ledger) -> None:
    add_org(ledger, "htx-phu-hoi")
    add_org(ledger, "cty-durivy", kind="company")
    g = add_product(ledger, "htx-phu-hoi", 4567)
    add_lot(ledger, "htx-phu-hoi", g, "PH-1")
    before = snapshot(ledger)
    with pytest.raises(InputError, match="GTIN check digit is wrong: expected 6, got 0") as exc:
        ledger.create_lot("htx-phu-hoi", lot_fields("08930000045670", "PH-2"))
    assert exc.value.field == "lot.gtin"
    with pytest.raises(InputError, match="lot.code: .*lot code must be 1 to 20 characters"):
        ledger.create_lot("htx-phu-hoi", lot_fields(g, "PH 2"))
    with pytest.raises(InputError, match=f"unknown product: no GTIN {gtin(9999)} is registered"):
        ledger.create_lot("htx-phu-hoi", lot_fields(gtin(9999), "PH-2"))
    with pytest.raises(PermissionDenied, match="wrong signer: product .* belongs to another organization"):
        ledger.create_lot("cty-durivy", lot_fields(g, "PH-2"))
    with pytest.raises(ConflictError, match="exists already"):
        ledger.create_lot("htx-phu-hoi", lot_fields(g, "PH-1"))
    with pytest.raises(InputError, match="eventTime is in the future"):
        ledger.create_lot("htx-phu-hoi", lot_fields(g, "PH-2", event_time="2027-01-01T00:00:00+07:00"))
    assert snapshot(ledger) == before


def test_signers_on_other_organizations_lots(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=1)
    add_org(ledger, "cuc-qlcl-nafiqad", kind="inspector")
    add_org(ledger, "cty-xuat-khau", kind="exporter")
    add_org(ledger, "htx-khac")
    lot = sc.lots[0]
    before = snapshot(ledger)
    for org, step in [
        ("cuc-qlcl-nafiqad", "shipping"),
        ("cuc-qlcl-nafiqad", "ocop:harvesting"),
        ("htx-khac", "packing"),
    ]:
        with pytest.raises(PermissionDenied, match=f"wrong signer: a .* organization may not record {step}"):
            ledger.record(org, [{"lot": lot, "event": event(step)}])
    assert snapshot(ledger) == before
    [r] = ledger.record("cuc-qlcl-nafiqad", [{"lot": lot, "event": event("inspecting", disposition="conformant")}])
    assert r["seq"] == 2
    [r] = ledger.record("cty-xuat-khau", [{"lot": lot, "event": event("shipping", action="OBSERVE")}])
    assert r["seq"] == 3
    keys = {ledger.get_org(o)["keys"][0]["key_id"] for o in ("cuc-qlcl-nafiqad", "cty-xuat-khau")}
    assert {e.signer for e in entries(ledger, lot)[2:]} == keys
    assert ledger.verify_lot(lot).verdict == "pending"


# --- entries the organization signed itself --------------------------------------------------


def _client_org(ledger: Ledger) -> tuple[Any, str, LotCreate]:
    add_org(ledger, "htx-tu-ky", generate_key=False)
    g = add_product(ledger, "htx-tu-ky", 88)
    signer, pub = new_client_key()
    info = register_client_key(ledger, "htx-tu-ky", signer, pub)
    assert info["key_id"] == signer.key_id and info["held_by"] == "organization"
    return signer, g, LotCreate.model_validate(lot_fields(g, "TK-1"))


def test_client_signed_entries(ledger: Ledger, clock: Clock) -> None:
    signer, g, lot = _client_org(ledger)
    with pytest.raises(InputError, match="no server-held active key"):
        ledger.create_lot("htx-tu-ky", lot)
    e0 = client_entry(signer, lot=lot.lot_id, seq=0, prev=None, raw_event=commissioning_event(lot), now=clock())
    [r0] = ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": e0}])
    row = ledger.get_lot(lot.lot_id)
    assert (row["origin_commune"], row["quantity"], row["unit"]) == ("xã Phú Hội", 1200, "KGM")
    clock.advance(hours=2)
    e1 = client_entry(signer, lot=lot.lot_id, seq=1, prev=r0["leaf_hash"], raw_event=event("packing"), now=clock())
    [r1] = ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": e1}])
    assert (r1["seq"], r1["signer"], r1["recordTime"]) == (1, signer.key_id, "2026-08-01T05:00:00.000Z")
    # stored exactly as signed: the leaf is the hash of the client's entry
    assert r1["leaf_hash"] == merkle.leaf_hash(canonical.entry_bytes(e1)).hex()
    assert ledger.verify_lot(lot.lot_id).verdict == "pending"
    before = snapshot(ledger)
    with pytest.raises(ConflictError, match="entry.seq does not match the lot's head: expected 2, got 1"):
        ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": e1}])
    stale = client_entry(signer, lot=lot.lot_id, seq=2, prev=r0["leaf_hash"], raw_event=event(), now=clock())
    with pytest.raises(ConflictError, match="entry.prev does not match the lot's head"):
        ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": stale}])
    assert snapshot(ledger) == before


def _bad_client_entries(signer: Any, lot: str, prev: str, now: Any) -> dict[str, tuple[dict[str, Any], str]]:
    good = client_entry(signer, lot=lot, seq=1, prev=prev, raw_event=event("packing"), now=now)
    other, _ = new_client_key()
    flipped = good["sig"][:10] + ("A" if good["sig"][10] != "A" else "B") + good["sig"][11:]
    edited = {**good, "event": {**good["event"], "bizStep": "shipping"}}
    unnormalized = json.loads(json.dumps(good))
    unnormalized["event"]["bizStep"] = "urn:epcglobal:cbv:bizstep:packing"
    return {
        "flipped-signature": ({**good, "sig": flipped}, "entry.sig: signature does not verify"),
        "edited-after-signing": (edited, "entry.sig: signature does not verify"),
        "unregistered-key": (
            client_entry(other, lot=lot, seq=1, prev=prev, raw_event=event(), now=now),
            "is not an active key of your organization",
        ),
        "stale-record-time": (
            client_entry(signer, lot=lot, seq=1, prev=prev, raw_event=event(), now=now - timedelta(minutes=6)),
            "recordTime is 0:06:00 away from the ledger's clock",
        ),
        "not-normalized": (unnormalized, "event is not in normalized form"),
        "missing-sig": ({k: v for k, v in good.items() if k != "sig"}, "entry must have exactly"),
        "wrong-version": (
            {**good, "v": 2},
            "unsupported statement version: expected 1, got 2",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "flipped-signature",
        "edited-after-signing",
        "unregistered-key",
        "stale-record-time",
        "not-normalized",
        "missing-sig",
        "wrong-version",
    ],
)
def test_bad_client_entries_are_refused(ledger: Ledger, clock: Clock, case: str) -> None:
    signer, _, lot = _client_org(ledger)
    e0 = client_entry(signer, lot=lot.lot_id, seq=0, prev=None, raw_event=commissioning_event(lot), now=clock())
    [r0] = ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": e0}])
    entry, match = _bad_client_entries(signer, lot.lot_id, r0["leaf_hash"], clock())[case]
    before = snapshot(ledger)
    with pytest.raises(InputError, match=match) as exc:
        ledger.record("htx-tu-ky", [{"lot": lot.lot_id, "entry": entry}])
    assert not isinstance(exc.value, ConflictError)
    assert snapshot(ledger) == before


def test_client_commissioning_errors_name_the_batch_item(ledger: Ledger, clock: Clock) -> None:
    signer, g, lot = _client_org(ledger)
    other = add_org(ledger, "htx-khac")["slug"]
    foreign = LotCreate.model_validate(lot_fields(add_product(ledger, other, 99), "KHAC-1"))
    items = [
        {"lot": lc.lot_id, "entry": client_entry(signer, lot=lc.lot_id, seq=0, prev=None, raw_event=ev, now=clock())}
        for lc, ev in ((lot, commissioning_event(lot)), (foreign, commissioning_event(foreign)))
    ]
    before = snapshot(ledger)
    with pytest.raises(
        PermissionDenied, match="events.1: wrong signer: product .* belongs to another organization"
    ) as exc:
        ledger.record("htx-tu-ky", items)
    assert [d["index"] for d in exc.value.details] == [1]
    assert snapshot(ledger) == before
    ledger.record("htx-tu-ky", items[:1])
    with pytest.raises(ConflictError, match="events.0: entry.seq does not match the lot's head: expected 1, got 0"):
        ledger.record("htx-tu-ky", items[:1])


def test_client_entry_signed_with_another_orgs_key(ledger: Ledger, clock: Clock) -> None:
    sc = seed(ledger, rounds=0)
    signer, _, _ = _client_org(ledger)
    lot = sc.lots[0]
    prev = ledger.get_lot(lot)["head_hash"]
    e1 = client_entry(signer, lot=lot, seq=1, prev=prev, raw_event=event(), now=clock())
    with pytest.raises(InputError, match="wrong signer"):
        ledger.record(sc.org, [{"lot": lot, "entry": e1}])


# --- transformations ------------------------------------------------------------------------


def test_transformation_links_every_input_head(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=2)
    a, b, _ = sc.lots
    dried = add_lot(ledger, sc.org, sc.gtin, "SAY-2026-07")
    heads = {lot: ledger.get_lot(lot)["head_hash"] for lot in (a, b)}
    [res] = ledger.record(sc.org, [{"lot": dried, "event": transformation([a, b])}])
    [*_, last] = entries(ledger, dried)
    ev = json.loads(last.event)
    assert ev["ocop:inputs"] == [{"lot": a, "head": heads[a]}, {"lot": b, "head": heads[b]}]
    assert last.event_type == "TransformationEvent" and last.seq == 1
    with read_tx(ledger.engine) as conn:
        links = {tuple(r) for r in conn.execute(select(_link.c.input_lot, _link.c.output_lot, _link.c.entry_idx))}
    assert links == {(a, dried, res["index"]), (b, dried, res["index"])}
    for lot in (a, b, dried):
        assert ledger.verify_lot(lot).verdict == "pending"


def test_transformation_sees_input_events_of_the_same_batch(ledger: Ledger) -> None:
    sc = seed(ledger, rounds=0)
    a, b, out = sc.lots
    res = ledger.record(
        sc.org,
        [{"lot": a, "event": event("ocop:cooling")}, {"lot": out, "event": transformation([a, b])}],
    )
    [*_, last] = entries(ledger, out)
    inputs = json.loads(last.event)["ocop:inputs"]
    assert inputs[0] == {"lot": a, "head": res[0]["leaf_hash"]}
    assert inputs[1] == {"lot": b, "head": ledger.get_lot(b)["head_hash"]}
    assert ledger.verify_lot(out).verdict == "pending"


def test_client_transformation_must_name_input_heads(ledger: Ledger, clock: Clock) -> None:
    signer, g, lot = _client_org(ledger)
    lots = {}
    for code in ("TK-1", "TK-2"):
        lc = LotCreate.model_validate(lot_fields(g, code))
        e0 = client_entry(signer, lot=lc.lot_id, seq=0, prev=None, raw_event=commissioning_event(lc), now=clock())
        [r] = ledger.record("htx-tu-ky", [{"lot": lc.lot_id, "entry": e0}])
        lots[lc.lot_id] = r["leaf_hash"]
    (src, src_head), (dst, dst_head) = lots.items()
    raw = transformation([src])
    without = client_entry(signer, lot=dst, seq=1, prev=dst_head, raw_event=raw, now=clock())
    with pytest.raises(ConflictError, match="ocop:inputs must name the input lots' heads"):
        ledger.record("htx-tu-ky", [{"lot": dst, "entry": without}])
    inputs = [{"lot": src, "head": src_head}]
    good = client_entry(signer, lot=dst, seq=1, prev=dst_head, raw_event=raw, now=clock(), inputs=inputs)
    ledger.record("htx-tu-ky", [{"lot": dst, "entry": good}])
    assert ledger.verify_lot(dst).verdict == "pending"


def test_a_unique_race_is_a_conflict_not_a_server_error(ledger) -> None:
    """Two writers creating the same product at once: the loser gets ConflictError."""
    from sqlalchemy import insert

    from ledger.store.db import write_tx
    from ledger.store.models import Organization

    org = ledger.create_org(OrganizationCreate(name="HTX Race", slug="htx-race"))
    table = Organization.__table__
    with pytest.raises(ConflictError, match="conflicting write"), write_tx(ledger.engine) as conn:
        # the existence check already passed in the other writer; the insert hits the constraint
        conn.execute(insert(table).values(slug=org["slug"], name="x", kind="cooperative", created_at=ledger.clock()))
    assert [o["slug"] for o in ledger.list_orgs()] == ["htx-race"]
