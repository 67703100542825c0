"""Against a real anvil: version-2 bundles of a shipment and of a transformed lot, through verify-bundle.

The durian scenario (``tests/exports/scenario.py``): RAW-1 and RAW-2 frozen into FROZEN-1, which
is packed into a pallet. The shipment bundle covers FROZEN-1 and, through the signed
``ocop:inputs`` heads, the raw lots; one flipped byte in an input lot's entry is caught and named.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ledger.chain.rpc import RpcChain
from ledger.core.bundle import verify_bundle
from ledger.store import shipments
from tests.api.anvil_support import ChainWorld
from tests.api.test_chain import Memo, flip, run_cli
from tests.exports.scenario import Scene, build

pytestmark = pytest.mark.chain


@pytest.fixture
def shipped(chain_world: ChainWorld, tmp_path: Path) -> tuple[ChainWorld, Scene, dict[str, Any], Path]:
    scene = build(chain_world.ledger)
    chain_world.new_lot("OTHER-1", events=2)  # entries of unrelated lots in the log
    chain_world.anchor()
    r = chain_world.client().get(f"/api/v1/shipments/{scene.sscc}/bundle")
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    bundle = r.json()
    path = tmp_path / "shipment.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    return chain_world, scene, bundle, path


def test_shipment_bundle_round_trip(shipped: tuple[ChainWorld, Scene, dict[str, Any], Path], tmp_path: Path) -> None:
    world, scene, bundle, path = shipped
    assert bundle["version"] == 2 and bundle["kind"] == "shipment"
    assert bundle["sscc"] == scene.sscc and bundle["lots"] == [scene.frozen]
    assert [c["lot"] for c in bundle["chains"]] == [scene.frozen, scene.raw1, scene.raw2]
    done = run_cli(["verify-bundle", str(path), "--rpc", world.rpc, "--json"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["verdict"] == "verified" and report["kind"] == "shipment" and report["sscc"] == scene.sscc
    assert set(report["checks"]) >= {"lineage", "membership"} and set(report["checks"].values()) == {"ok"}
    assert report["lots"] == [scene.frozen, scene.raw1, scene.raw2]
    text = run_cli(["verify-bundle", str(path), "--rpc", world.rpc], tmp_path)
    assert text.returncode == 0 and f"shipment {scene.sscc}" in text.stdout and "VERIFIED" in text.stdout


def test_transformed_lot_bundle_covers_its_inputs(shipped: tuple[ChainWorld, Scene, dict[str, Any], Path]) -> None:
    world, scene, _, _ = shipped
    client = world.client()
    lot = client.get(f"/api/v1/lots/{scene.frozen}/bundle").json()
    assert lot["version"] == 2 and lot["kind"] == "lot" and lot["lot"] == scene.frozen
    assert [c["lot"] for c in lot["chains"]] == [scene.frozen, scene.raw1, scene.raw2]
    report = verify_bundle(lot, RpcChain(world.rpc))
    assert report.verdict == "verified", report.failure
    assert report.checks["lineage"] == "ok" and "membership" not in report.checks
    raw = client.get(f"/api/v1/lots/{scene.raw1}/bundle").json()  # made from nothing: still version 1
    assert raw["version"] == 1 and "kind" not in raw and raw["lot"] == scene.raw1
    assert verify_bundle(raw, RpcChain(world.rpc)).verdict == "verified"


INPUT_FLIPS = [
    ("input lot's event", '"bizStep":"ocop:cooling"', "signature"),
    ("input lot's signature", '"sig":"', "signature"),
    ("input head named by the transformation", '"head":"', "signature"),
    ("input lot's proof", '"proof":["', "inclusion"),
]


@pytest.mark.parametrize("what,needle,check", INPUT_FLIPS, ids=[f[0] for f in INPUT_FLIPS])
def test_flipped_byte_in_an_input_lot_is_caught_and_named(
    shipped: tuple[ChainWorld, Scene, dict[str, Any], Path], what: str, needle: str, check: str
) -> None:
    world, scene, _, path = shipped
    text = path.read_text(encoding="utf-8")
    start = text.index(f'{{"lot":"{scene.raw1}","entries"') if needle != '"head":"' else 0
    bad = text[:start] + flip(text[start:], needle)
    report = verify_bundle(json.loads(bad), RpcChain(world.rpc))
    assert report.verdict == "tampered", what
    assert report.failure is not None and report.failure["check"] == check, report.failure


def test_flipped_input_lot_via_the_cli(shipped: tuple[ChainWorld, Scene, dict[str, Any], Path], tmp_path: Path) -> None:
    world, scene, _, path = shipped
    text = path.read_text(encoding="utf-8")
    start = text.index(f'{{"lot":"{scene.raw2}","entries"')
    bad = tmp_path / "bad.json"
    bad.write_text(text[:start] + flip(text[start:], '"eventTime":"'), encoding="utf-8")
    done = run_cli(["verify-bundle", str(bad), "--rpc", world.rpc], tmp_path)
    assert done.returncode == 1
    assert "TAMPERED" in done.stdout and "FAILED signature" in done.stdout and scene.raw2 in done.stdout


def edited(bundle: dict[str, Any], fn: Any) -> dict[str, Any]:
    b = copy.deepcopy(bundle)
    fn(b)
    return b


def test_structural_edits_are_caught_and_named(shipped: tuple[ChainWorld, Scene, dict[str, Any], Path]) -> None:
    world, scene, bundle, _ = shipped
    chain = Memo(RpcChain(world.rpc))
    assert verify_bundle(bundle, chain).verdict == "verified"
    cases: list[tuple[str, Any, str]] = [
        ("input lot left out", lambda b: b["chains"].pop(2), "lineage"),
        ("input lot's entry at the named head cut", lambda b: b["chains"][1]["entries"].pop(), "lineage"),
        ("input lot's history cut before the head", lambda b: b["chains"][1].update(entries=[]), "format"),
        ("unrelated lot added", lambda b: b["chains"].append(copy.deepcopy(b["chains"][1]) | {"lot": "x"}), "chain"),
        ("listed lot dropped", lambda b: b.update(lots=[]), "format"),
        ("a raw lot listed as in the shipment", lambda b: b["lots"].append(scene.raw1), "membership"),
        ("member chain missing", lambda b: b["chains"].pop(0), "membership"),
        ("kind unknown", lambda b: b.update(kind="pallet"), "format"),
        ("version 3", lambda b: b.update(version=3), "format"),
    ]
    for what, fn, expected in cases:
        report = verify_bundle(edited(bundle, fn), chain)
        assert report.verdict == "tampered", what
        assert report.failure is not None and report.failure["check"] == expected, (what, report.failure)


def test_unpacked_lot_is_not_a_member(chain_world: ChainWorld) -> None:
    scene = build(chain_world.ledger)
    shipments.unpack(chain_world.ledger, "cty-dong-lanh", scene.sscc, event_time="2026-07-10T09:00:00+07:00")
    chain_world.anchor()
    r = chain_world.client().get(f"/api/v1/shipments/{scene.sscc}/bundle")
    assert r.status_code == 409 and "holds no lots" in r.json()["error"]["message"]
    # a bundle claiming the unpacked lot is still inside fails on the signed DELETE
    lot_bundle = chain_world.client().get(f"/api/v1/lots/{scene.frozen}/bundle").json()
    fake = {**lot_bundle, "kind": "shipment", "sscc": scene.sscc, "lots": [scene.frozen]}
    del fake["lot"]
    report = verify_bundle(fake, RpcChain(chain_world.rpc))
    assert report.verdict == "tampered" and report.failure is not None
    assert report.failure["check"] == "membership" and "DELETE" in report.failure["message"]


def test_sampled_byte_flips_of_a_shipment_bundle_never_verify(
    shipped: tuple[ChainWorld, Scene, dict[str, Any], Path],
) -> None:
    world, _, _, path = shipped
    raw = path.read_bytes()
    chain = Memo(RpcChain(world.rpc))
    for i in range(0, len(raw), 7):
        mutated = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]
        try:
            data: Any = json.loads(mutated)
        except ValueError:
            continue
        assert verify_bundle(data, chain).verdict != "verified", f"byte {i} ({raw[i : i + 1]!r}) flipped still verifies"
