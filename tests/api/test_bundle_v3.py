"""Against a real anvil, on SQLite and PostgreSQL: bundle version 3, served once the anchor worker
commits the heads map (issue 11, completeness), and the issue's truncation scenarios.

Each scenario starts from a served bundle that verifies and removes what an operator hiding history
would remove: the lot's newest entry, an input lot's tail, a lot of the shipment, an unpack. Every one
fails ``completeness``; a stale bundle verifies with ``latest`` false and fails ``--require-latest``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ledger.chain.rpc import RpcChain
from ledger.chain.worker import AnchorWorker, WorkerConfig
from ledger.core.bundle import verify_bundle
from ledger.store import shipments
from ledger.store.db import read_tx
from ledger.store.models import Anchor
from tests.api.anvil_support import ChainWorld, start_chain_world
from tests.api.test_chain import quoted, run_cli
from tests.exports.scenario import Scene, build

pytestmark = pytest.mark.chain


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[ChainWorld]:
    worlds = start_chain_world(tmp_path, db_url)
    w = next(worlds)
    w.worker = AnchorWorker(w.ledger.engine, w.chain, WorkerConfig(), heads_signer=w.ledger.keyring.log_signer)
    try:
        yield w
    finally:
        w.ledger.engine.dispose()
        worlds.close()


def anchor(world: ChainWorld) -> int:
    """Anchor with the heads entry and wait until the anchor of the whole log is confirmed."""
    world.worker.tick(force=True)
    size = world.ledger.head().size
    for _ in range(200):
        with read_tx(world.ledger.engine) as conn:
            q = select(Anchor.__table__).where(Anchor.tree_size == size, Anchor.status == "confirmed")  # type: ignore[attr-defined]
            if conn.execute(q).first() is not None:
                return size
        world.worker.tick()
        time.sleep(0.05)
    raise AssertionError(f"no confirmed anchor at size {size}")


def get(world: ChainWorld, path: str) -> dict[str, Any]:
    r = world.client().get(path)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def check(world: ChainWorld, bundle: dict[str, Any], **kw: Any) -> Any:
    return verify_bundle(bundle, RpcChain(world.rpc), **kw)


def failed(world: ChainWorld, bundle: dict[str, Any]) -> str:
    report = check(world, bundle)
    assert report.verdict == "tampered", report.to_json()
    assert report.failure is not None
    return str(report.failure["check"])


def chain_of(bundle: dict[str, Any], subject: str) -> dict[str, Any]:
    return next(c for c in bundle["chains"] if c["subject"] == subject)


@pytest.fixture
def scene(world: ChainWorld) -> Scene:
    s = build(world.ledger)
    anchor(world)
    return s


def test_served_v3_bundles_verify_with_every_check(world: ChainWorld, scene: Scene) -> None:
    for path in (f"/api/v1/lots/{quoted(scene.frozen)}/bundle", f"/api/v1/shipments/{scene.sscc}/bundle"):
        bundle = get(world, path)
        assert bundle["version"] == 3 and bundle["heads"]["index"] == bundle["tree_head"]["size"] - 1
        report = check(world, bundle, require_latest=True)
        assert report.verdict == "verified", report.failure
        assert set(report.checks.values()) == {"ok"} and report.latest is True
        kinds = {c["subject"].split(":")[0] for c in bundle["chains"]}
        assert kinds == {"lot", "key", "org", "product"}, kinds


def test_a_dropped_newest_entry_or_input_tail_fails_completeness(world: ChainWorld, scene: Scene) -> None:
    bundle = get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle")
    cut = copy.deepcopy(bundle)
    chain_of(cut, f"lot:{scene.frozen}")["entries"].pop()
    assert failed(world, cut) == "completeness"
    cut = copy.deepcopy(bundle)
    raw = chain_of(cut, f"lot:{scene.raw1}")["entries"]
    assert len(raw) >= 2
    raw.pop()  # the input lot's tail after the transformation's named head, or the head itself
    assert failed(world, cut) == "completeness"
    cut = copy.deepcopy(bundle)
    cut["chains"] = [
        c
        for c in cut["chains"]
        if c["subject"] != f"key:{chain_of(cut, 'lot:' + scene.raw1)['entries'][0]['entry']['signer']}"
    ]
    assert failed(world, cut) == "key"


def test_a_lot_left_out_of_a_shipment_fails_completeness(world: ChainWorld, scene: Scene) -> None:
    bundle = get(world, f"/api/v1/shipments/{scene.sscc}/bundle")
    left_out = copy.deepcopy(bundle) | {"lots": []}
    assert failed(world, left_out) == "completeness"


def test_a_dropped_unpack_fails_completeness(world: ChainWorld, scene: Scene) -> None:
    shipments.pack(world.ledger, "vina-export", scene.sscc, [scene.raw2], event_time="2026-07-08T10:00:00+07:00")
    shipments.unpack(world.ledger, "vina-export", scene.sscc, [scene.raw2], event_time="2026-07-08T11:00:00+07:00")
    anchor(world)
    ship = get(world, f"/api/v1/shipments/{scene.sscc}/bundle")
    assert ship["lots"] == [scene.frozen]
    assert check(world, ship).verdict == "verified"
    raw2 = chain_of(get(world, f"/api/v1/lots/{quoted(scene.raw2)}/bundle"), f"lot:{scene.raw2}")
    fake = copy.deepcopy(ship)
    fake["lots"].append(scene.raw2)
    chain_of(fake, f"lot:{scene.raw2}")["entries"] = raw2["entries"][:-1]  # its DELETE left out
    assert failed(world, fake) == "completeness"


def test_a_stale_bundle_says_so_and_fails_require_latest(world: ChainWorld, scene: Scene) -> None:
    bundle = get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle")
    world.ledger.record(
        "cty-dong-lanh",
        [{"lot": scene.frozen, "event": {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing",
                                          "eventTime": "2026-07-12T09:00:00+07:00"}}],
    )  # fmt: skip
    anchor(world)
    report = check(world, bundle)
    assert report.verdict == "verified" and report.latest is False
    report = check(world, bundle, require_latest=True)
    assert report.verdict == "tampered" and report.failure is not None and report.failure["check"] == "latest"
    fresh = get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle")
    assert check(world, fresh, require_latest=True).verdict == "verified"


def test_the_cli_says_whether_a_v3_bundle_is_the_latest_and_require_latest_fails_a_stale_one(
    world: ChainWorld, scene: Scene, tmp_path: Path
) -> None:
    """``verify-bundle`` (the command line, as a buyer runs it) on served v3 bundles of a lot and a shipment."""
    paths = []
    for name, url in (
        ("lot", f"/api/v1/lots/{quoted(scene.frozen)}/bundle"),
        ("ship", f"/api/v1/shipments/{scene.sscc}/bundle"),
    ):
        bundle = get(world, url)
        assert bundle["version"] == 3
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(bundle), encoding="utf-8")
    for path in paths:
        code, report = cli_verify(world, path, tmp_path, "--require-latest", "--json")
        assert (code, report["verdict"], report["latest"]) == (0, "verified", True), report
        assert report["checks"]["latest"] == report["checks"]["completeness"] == "ok"
        assert "latest anchor: yes" in cli_verify(world, path, tmp_path)[1]
    world.ledger.record(
        "cty-dong-lanh",
        [{"lot": scene.frozen, "event": {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "storing",
                                          "eventTime": "2026-07-12T09:00:00+07:00"}}],
    )  # fmt: skip
    anchor(world)  # newer history: a new heads entry and a newer anchor
    for path in paths:
        code, report = cli_verify(world, path, tmp_path, "--json")
        assert (code, report["verdict"], report["latest"]) == (0, "verified", False), report
        assert "latest anchor: NO - newer history may exist" in cli_verify(world, path, tmp_path)[1]
        code, report = cli_verify(world, path, tmp_path, "--require-latest", "--json")
        assert (code, report["verdict"], report["failure"]["check"]) == (1, "tampered", "latest"), report
        assert "the bundle is stale" in report["failure"]["message"]


def cli_verify(world: ChainWorld, path: Path, tmp_path: Path, *more: str) -> tuple[int, Any]:
    done = run_cli(["verify-bundle", str(path), "--rpc", world.rpc, *more], tmp_path)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout) if "--json" in more else done.stdout


def test_attestations_about_the_product_travel_with_their_authority(world: ChainWorld, scene: Scene) -> None:
    from ledger import attestations
    from ledger.core.records import OrganizationCreate

    world.ledger.create_org(OrganizationCreate(name="Hội đồng OCOP Bến Tre", slug="ocop-ben-tre", kind="authority"))
    gtin = scene.frozen.split(".")[0]
    rating = {"type": "ocop_rating", "stars": 4, "year": 2024, "decision": "12/QĐ-UBND", "expires": "2027-12-31"}
    made = attestations.attest(world.ledger, "ocop-ben-tre", {"type": "product", "id": gtin}, rating)
    anchor(world)
    bundle = get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle")
    assert made["subject"] in [c["subject"] for c in bundle["chains"]]
    assert "org:ocop-ben-tre" in [c["subject"] for c in bundle["chains"]]
    report = check(world, bundle)
    assert report.verdict == "verified"
    [vouched] = report.facts["attestations"]
    assert vouched["attested_by"] == "ocop-ben-tre" and vouched["claim"]["stars"] == 4
    no_authority = copy.deepcopy(bundle)
    no_authority["chains"] = [c for c in no_authority["chains"] if c["subject"] != "org:ocop-ben-tre"]
    no_authority["map"] = [m for m in no_authority["map"] if m["leaf"]["key"] != "org:ocop-ben-tre"]
    assert failed(world, no_authority) == "attribution"


def test_plot_attestations_travel_and_codes_say_who_vouches(world: ChainWorld, scene: Scene) -> None:
    """Attestations about a lot's plot (its declared growing-area code) are in the bundle and verified; the
    facts compare attested codes with the declared ones; an attestation about something else is refused."""
    from ledger import attestations
    from ledger.core.records import OrganizationCreate

    world.ledger.create_org(OrganizationCreate(name="Chi cục BVTV Bến Tre", slug="bvtv-ben-tre", kind="authority"))
    code = {"type": "growing_area_code", "code": "VN-BTCM-0007"}
    plot = attestations.attest(world.ledger, "bvtv-ben-tre", {"type": "plot", "id": "VN-BTCM-0007"}, code)
    other = {"type": "growing_area_code", "code": "VN-BTCM-9999"}  # raw2 declares VN-BTCM-0008
    wrong = attestations.attest(world.ledger, "bvtv-ben-tre", {"type": "lot", "id": scene.raw2}, other)
    unrelated = attestations.attest(world.ledger, "bvtv-ben-tre", {"type": "plot", "id": "VN-XX-0001"}, other)
    anchor(world)
    bundle = get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle")
    subjects = [c["subject"] for c in bundle["chains"]]
    assert plot["subject"] in subjects and wrong["subject"] in subjects
    assert unrelated["subject"] not in subjects
    report = check(world, bundle)
    assert report.verdict == "verified", report.failure
    lots = report.facts["lots"]
    assert lots[scene.raw1]["codes"]["growing_area_code"] == {
        "code": "VN-BTCM-0007",
        "declared": "VN-BTCM-0007",
        "status": "attested",
        "attested_by": ["bvtv-ben-tre"],
        "conflicts": [],
        "says": "attested by bvtv-ben-tre",
    }
    raw2 = lots[scene.raw2]["codes"]["growing_area_code"]
    assert raw2["status"] == "mismatch" and raw2["conflicts"] == [{"code": "VN-BTCM-9999", "by": "bvtv-ben-tre"}]
    assert raw2["says"] == (
        "WARNING: growing-area code mismatch: the producer declares VN-BTCM-0008, but bvtv-ben-tre attests VN-BTCM-9999"
    )
    assert lots[scene.frozen]["codes"] == {}  # declares no code and nobody attests one
    # a plot attestation with a broken signature fails like any chain
    bad = copy.deepcopy(bundle)
    chain_of(bad, plot["subject"])["entries"][0]["entry"]["body"]["claim"]["code"] = "VN-BTCM-0008"
    assert failed(world, bad) == "signature"
    # an attestation about none of the bundle's lots, products or plots is an extra: refused
    raw1 = get(world, f"/api/v1/lots/{quoted(scene.raw1)}/bundle")
    assert wrong["subject"] not in [c["subject"] for c in raw1["chains"]]
    extra = copy.deepcopy(raw1)
    extra["chains"].append(chain_of(bundle, wrong["subject"]))
    proof = next(m for m in bundle["map"] if m["leaf"]["key"] == wrong["subject"])
    extra["map"] = sorted([*extra["map"], proof], key=lambda m: m["leaf"]["key"])
    report = check(world, extra)
    assert report.verdict == "tampered" and report.failure is not None
    assert report.failure["check"] == "completeness" and "no lot of the bundle" in report.failure["message"]


def test_the_bundle_says_which_product_version_was_in_force_for_each_lot(world: ChainWorld, scene: Scene) -> None:
    from ledger.core.records import ProductCreate

    gtin = scene.raw1.split(".")[0]
    update = ProductCreate(
        gtin=gtin, name_vi="Sầu riêng Ri6 tươi", brand="Cái Mơn", net_content={"value": 2, "unit": "KGM"}
    )  # type: ignore[arg-type]
    world.ledger.update_product("htx-cai-mon", gtin, update)
    anchor(world)
    report = check(world, get(world, f"/api/v1/lots/{quoted(scene.frozen)}/bundle"))
    assert report.verdict == "verified", report.failure
    facts = report.facts
    assert facts["products"][gtin]["brand"] == "Cái Mơn"
    assert facts["products"][gtin]["net_content"] == {"value": 2, "unit": "KGM"}
    then = facts["lots"][scene.raw1]["product"]  # commissioned before the update
    assert then["brand"] is None and then["names"]["en"] == "Fresh Ri6 durian"
    assert then["declared"]["ocop_stars"] == 4


def test_observe_of_a_shipment_page_bundle_and_verifier_agree(world: ChainWorld, scene: Scene) -> None:
    for org, lot in (("cty-dong-lanh", scene.frozen), ("htx-cai-mon", scene.raw1)):  # listed, and not listed
        shipments._aggregate(
            world.ledger, org, scene.sscc, [lot], "OBSERVE", "inspecting", "2026-07-09T10:00:00+07:00", None, None, None
        )
    anchor(world)
    page = get(world, f"/api/v1/shipments/{scene.sscc}")
    bundle = get(world, f"/api/v1/shipments/{scene.sscc}/bundle")
    assert bundle["version"] == 3 and [m["lot"] for m in page["lots"]] == bundle["lots"] == [scene.frozen]
    assert page["verdict"] == "verified" and check(world, bundle).verdict == "verified"
