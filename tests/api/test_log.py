"""Log routes for auditors: checkpoint, entries, consistency proofs; all checked with ledger.core.merkle."""

from __future__ import annotations

from ledger.core import canonical, merkle
from tests.api.conftest import LOT_A, World, event


def fill(world: World, n: int) -> None:
    items = [{"lot": LOT_A, "event": event("storing")} for _ in range(n)]
    r = world.client.post("/api/v1/events:batch", json={"events": items}, headers=world.auth("a"))
    assert r.status_code == 201, r.text


def test_entries_rebuild_the_checkpoint_root(world: World) -> None:
    fill(world, 12)
    cp = world.client.get("/api/v1/log/checkpoint").json()
    assert cp["tree_size"] == 13
    page = world.client.get(f"/api/v1/log/entries?start=0&end={cp['tree_size']}").json()
    leaves = []
    for e in page["entries"]:
        leaf = merkle.leaf_hash(canonical.entry_bytes(e["entry"]))
        assert leaf.hex() == e["leaf_hash"]
        leaves.append(leaf)
    assert merkle.root(leaves).hex() == cp["root"]


def test_entries_are_paged_and_bounded(world: World) -> None:
    fill(world, 20)
    r = world.client.get("/api/v1/log/entries?start=5&end=9").json()
    assert [e["index"] for e in r["entries"]] == [5, 6, 7, 8]
    r = world.client.get("/api/v1/log/entries?start=15&end=100").json()
    assert r["end"] == 21 and len(r["entries"]) == 6
    r = world.client.get("/api/v1/log/entries?start=21").json()
    assert r["entries"] == []


def test_consistency_proofs_verify(world: World) -> None:
    fill(world, 3)
    first = world.client.get("/api/v1/log/checkpoint").json()
    fill(world, 9)
    second = world.client.get("/api/v1/log/checkpoint").json()
    r = world.client.get(f"/api/v1/log/consistency?first={first['tree_size']}&second={second['tree_size']}")
    body = r.json()
    assert body["first_root"] == first["root"] and body["second_root"] == second["root"]
    merkle.verify_consistency(
        first["tree_size"],
        second["tree_size"],
        [bytes.fromhex(h) for h in body["proof"]],
        bytes.fromhex(first["root"]),
        bytes.fromhex(second["root"]),
    )


def test_consistency_for_every_pair_of_small_sizes(world: World) -> None:
    fill(world, 6)
    size = world.client.get("/api/v1/log/checkpoint").json()["tree_size"]
    page = world.client.get(f"/api/v1/log/entries?start=0&end={size}").json()
    leaves = [bytes.fromhex(e["leaf_hash"]) for e in page["entries"]]
    for a in range(1, size + 1):
        for b in range(a, size + 1):
            body = world.client.get(f"/api/v1/log/consistency?first={a}&second={b}").json()
            merkle.verify_consistency(
                a, b, [bytes.fromhex(h) for h in body["proof"]], merkle.root(leaves[:a]), merkle.root(leaves[:b])
            )


def test_anchors_list_is_empty_without_anchoring(world: World) -> None:
    r = world.client.get("/api/v1/anchors").json()
    assert r == {"anchors": [], "count": 0}
