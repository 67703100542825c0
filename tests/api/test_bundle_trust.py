"""Against a real anvil: verdicts of ``verify-bundle`` when the chain, contract or trust roots differ
(issue 11 item 5) and ``--require-latest`` on a stale bundle (item 4). Exit codes: 0 verified,
1 tampered, 2 unusable input, 3 unverifiable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.api.anvil_support import ChainWorld
from tests.api.test_chain import quoted, run_cli

pytestmark = pytest.mark.chain


def served_bundle(world: ChainWorld, tmp_path: Path) -> tuple[dict[str, Any], Path]:
    lot = world.new_lot("TRUST/1", events=2)
    world.anchor()
    r = world.client().get(f"/api/v1/lots/{quoted(lot)}/bundle")
    assert r.status_code == 200, r.text
    path = tmp_path / "bundle.json"
    path.write_text(r.text, encoding="utf-8")
    return r.json(), path


def well_known(world: ChainWorld, tmp_path: Path, **change: Any) -> Path:
    doc = {"chain_id": 31337, "contract": world.chain.address, "log_key": None, "bundle_versions": [1, 2, 3]}
    path = tmp_path / "ocop-ledger.json"
    path.write_text(json.dumps(doc | change), encoding="utf-8")
    return path


def verify(path: Path, world: ChainWorld, tmp_path: Path, *more: str) -> tuple[int, dict[str, Any]]:
    done = run_cli(["verify-bundle", str(path), "--rpc", world.rpc, "--json", *more], tmp_path)
    assert done.returncode in (0, 1, 3), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def test_verdicts_and_exit_codes_under_trust(chain_world: ChainWorld, tmp_path: Path) -> None:
    bundle, path = served_bundle(chain_world, tmp_path)
    code, report = verify(path, chain_world, tmp_path, "--trust", str(well_known(chain_world, tmp_path)))
    assert (code, report["verdict"]) == (0, "verified")
    assert report["trust"]["chain_id"] == 31337 and report["contract_source"] == "pinned"
    other_chain = well_known(chain_world, tmp_path, chain_id=11155111)
    code, report = verify(path, chain_world, tmp_path, "--trust", str(other_chain))
    assert (code, report["verdict"], report["failure"]["check"]) == (3, "unverifiable", "anchor")
    assert "expected chain id 11155111, got 31337" in report["failure"]["message"]
    other_contract = well_known(chain_world, tmp_path, contract="0x" + "22" * 20)
    code, report = verify(path, chain_world, tmp_path, "--trust", str(other_contract))
    assert (code, report["verdict"]) == (3, "unverifiable")


def test_a_precompile_or_an_empty_address_is_unverifiable(chain_world: ChainWorld, tmp_path: Path) -> None:
    bundle, _ = served_bundle(chain_world, tmp_path)
    for address, says in (("0x" + "0" * 39 + "2", "precompile"), ("0x" + "33" * 20, "no contract code")):
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(bundle | {"anchor": bundle["anchor"] | {"contract": address}}), encoding="utf-8")
        code, report = verify(bad, chain_world, tmp_path)
        assert (code, report["verdict"]) == (3, "unverifiable"), report
        assert says in report["failure"]["message"]


def test_a_chain_that_cannot_answer_is_unverifiable(chain_world: ChainWorld, tmp_path: Path) -> None:
    _, path = served_bundle(chain_world, tmp_path)
    done = run_cli(["verify-bundle", str(path), "--rpc", "http://127.0.0.1:9", "--json"], tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    assert json.loads(done.stdout)["verdict"] == "unverifiable"


def test_unusable_trust_document_is_exit_2(chain_world: ChainWorld, tmp_path: Path) -> None:
    _, path = served_bundle(chain_world, tmp_path)
    bad = tmp_path / "trust.json"
    bad.write_text('{"chain_id": 1, "chain_id": 2}', encoding="utf-8")
    done = run_cli(["verify-bundle", str(path), "--rpc", chain_world.rpc, "--trust", str(bad)], tmp_path)
    assert done.returncode == 2 and "duplicate key 'chain_id'" in done.stderr
    trust = well_known(chain_world, tmp_path)
    args = ["verify-bundle", str(path), "--rpc", chain_world.rpc, "--trust", str(trust), "--contract", "0x" + "44" * 20]
    done = run_cli(args, tmp_path)
    assert done.returncode == 2 and "disagrees with the trusted contract" in done.stderr


def test_a_stale_bundle_is_reported_and_fails_require_latest(chain_world: ChainWorld, tmp_path: Path) -> None:
    _, path = served_bundle(chain_world, tmp_path)
    code, report = verify(path, chain_world, tmp_path, "--require-latest")
    assert (code, report["latest"], report["checks"]["latest"]) == (0, True, "ok")
    chain_world.new_lot("TRUST/2", events=1)  # newer history, anchored after the bundle was made
    chain_world.anchor()
    code, report = verify(path, chain_world, tmp_path)
    assert (code, report["verdict"], report["latest"]) == (0, "verified", False)
    code, report = verify(path, chain_world, tmp_path, "--require-latest")
    assert (code, report["verdict"], report["failure"]["check"]) == (1, "tampered", "latest")
    assert "the bundle is stale" in report["failure"]["message"]
