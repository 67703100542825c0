"""The heads map of the stored log (``ledger.store.heads_map``) on SQLite and PostgreSQL.

Checked against an independent reading of the store: each lot's row (``last_seq``, ``head_hash``)
and its newest entry's index, and each shipment's members as the shipment page shows them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger.core import heads
from ledger.service import Ledger
from ledger.store import heads_map, shipments
from ledger.store import log as store
from ledger.store.db import read_tx
from ledger.store.models import Lot
from tests.exports.scenario import build

_lot = Lot.__table__  # type: ignore[attr-defined]


def reference_leaves(ledger: Ledger, sscc: str) -> list[dict[str, Any]]:
    with read_tx(ledger.engine) as conn:
        leaves = []
        for row in conn.execute(select(_lot.c.lot_id, _lot.c.last_seq, _lot.c.head_hash)):
            newest = store.lot_entries(conn, row.lot_id)[-1]
            assert int(newest.seq) == row.last_seq and bytes(newest.leaf_hash).hex() == row.head_hash
            leaves.append({"key": f"lot:{row.lot_id}", "seq": row.last_seq, "head": row.head_hash, "index": newest.idx})
        members = sorted(m.lot_id for m in shipments.members(conn, sscc))
        packings = [int(r.idx) for r, ev in shipments.aggregation_entries(conn, sscc) if ev["action"] != "OBSERVE"]
    return [*leaves, {"key": f"sscc:{sscc}", "members": members, "index": max(packings)}]


def test_map_of_the_whole_log_matches_the_store(ledger: Ledger) -> None:
    scene = build(ledger)
    size = ledger.head().size
    with read_tx(ledger.engine) as conn:
        body, m = heads_map.heads_body(conn, size)
    want = heads.HeadsMap(reference_leaves(ledger, scene.sscc))
    assert m.leaves == want.leaves and m.root == want.root
    assert body == {"size": size, "map_root": want.root.hex(), "map_size": want.size, "prev_heads": None}
    assert [lf["members"] for lf in m.leaves if lf["key"].startswith("sscc:")] == [[scene.frozen]]


def test_map_of_a_prefix_ignores_later_entries_and_observe(ledger: Ledger) -> None:
    scene = build(ledger)
    before = ledger.head().size
    with read_tx(ledger.engine) as conn:
        root_before = heads_map.heads_map(conn, before).root
    shipments._aggregate(
        ledger, "cty-dong-lanh", scene.sscc, [scene.frozen], "OBSERVE", "inspecting", "2026-07-09T10:00:00+07:00",
        None, None, None,
    )  # fmt: skip
    shipments.unpack(ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-10T09:00:00+07:00")
    with read_tx(ledger.engine) as conn:
        assert heads_map.heads_map(conn, before).root == root_before  # the prefix's map does not move
        after = heads_map.heads_map(conn, ledger.head().size)
    shipment = next(lf for lf in after.leaves if lf["key"] == f"sscc:{scene.sscc}")
    frozen = next(lf for lf in after.leaves if lf["key"] == f"lot:{scene.frozen}")
    assert shipment["members"] == [] and shipment["index"] == frozen["index"] == ledger.head().size - 1
    assert frozen["seq"] >= 2
