"""Against a real anvil, on SQLite and PostgreSQL: an AggregationEvent OBSERVE of a shipment changes
nothing about what it holds, and the shipment page, its bundle and the verifier agree (issue 11).

Before, an OBSERVE by the lot's owner on a listed lot left the page at "verified" while the served
bundle failed ``membership``; an OBSERVE on an unlisted lot passed although the rule said it must not.
Now only ADD and DELETE change membership, in the store (``shipments.members``) and in the verifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.rpc import RpcChain
from ledger.core.bundle import verify_bundle
from ledger.store import shipments
from tests.api.anvil_support import ChainWorld, start_chain_world
from tests.exports.scenario import build

pytestmark = pytest.mark.chain


@pytest.fixture
def any_db_world(db_url: str, tmp_path: Path) -> Iterator[ChainWorld]:
    worlds = start_chain_world(tmp_path, db_url)
    world = next(worlds)
    try:
        yield world
    finally:
        world.ledger.engine.dispose()  # PostgreSQL connections closed before the schema goes
        worlds.close()


def observe(world: ChainWorld, org: str, sscc: str, lot: str) -> None:
    shipments._aggregate(
        world.ledger, org, sscc, [lot], "OBSERVE", "inspecting", "2026-07-09T10:00:00+07:00", None, None, None
    )


def page_bundle_verifier(world: ChainWorld, sscc: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    world.anchor()
    client = world.client()
    page = client.get(f"/api/v1/shipments/{sscc}").json()
    r = client.get(f"/api/v1/shipments/{sscc}/bundle")
    assert r.status_code == 200, r.text
    return page, r.json(), verify_bundle(r.json(), RpcChain(world.rpc))


def test_observe_of_a_shipment_changes_no_membership_and_all_three_agree(any_db_world: ChainWorld) -> None:
    world = any_db_world
    scene = build(world.ledger)
    observe(world, "cty-dong-lanh", scene.sscc, scene.frozen)  # the listed lot, by its owner
    observe(world, "htx-cai-mon", scene.sscc, scene.raw1)  # an upstream lot that is not in the shipment
    page, bundle, report = page_bundle_verifier(world, scene.sscc)
    assert [m["lot"] for m in page["lots"]] == [scene.frozen] == bundle["lots"]
    assert page["verdict"] == "verified"
    assert report.verdict == "verified", report.failure
    assert scene.raw1 in [c["lot"] for c in bundle["chains"]]  # its OBSERVE is in the bundle and changes nothing
    # an unpack still counts: the page empties and a bundle claiming the lot fails membership on the DELETE
    shipments.unpack(world.ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-10T09:00:00+07:00")
    world.anchor()
    assert world.client().get(f"/api/v1/shipments/{scene.sscc}").json()["lots"] == []
    stale = verify_bundle(
        {**bundle, "chains": world.client().get(f"/api/v1/lots/{scene.frozen}/bundle").json()["chains"]},
        RpcChain(world.rpc),
    )
    assert stale.verdict == "tampered" and stale.failure is not None
    assert stale.failure["check"] in ("membership", "inclusion")
