"""The bundle verifier (``ledger.core.bundle.verify_bundle``) over data files, one case per file.

``data/bundles/valid`` must verify, ``data/bundles/invalid`` must be tampered with the failed
check, seq, log index (and, in version 2, lot) written in the file, ``data/bundles/unverifiable``
must be unverifiable (another chain, contract or trust root, or a chain that cannot answer: never
tampered). Each file also holds what the chain answers (``chain``), served here by a
``ChainReader`` stub; ``pin`` pins the contract, ``trust`` is a well-known document to pin,
``has_code`` false means no code at the address, ``rpc_error`` makes every chain read fail.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger.core.bundle import AnchorTx, ChainReader, verify_bundle
from ledger.core.trust import trust_from_json
from ledger.errors import AnchorError

DATA = Path(__file__).parent / "data" / "bundles"
VALID = sorted((DATA / "valid").glob("*.json"))
INVALID = sorted((DATA / "invalid").glob("*.json"))
UNVERIFIABLE = sorted((DATA / "unverifiable").glob("*.json"))


@dataclass
class StubChain:
    """The chain as the case file describes it: roots of one contract, and mined transactions."""

    doc: dict[str, Any]
    address: str = ""

    @property
    def chain_id(self) -> int:
        if "rpc_error" in self.doc:
            raise AnchorError(f"RPC eth_chainId failed: {self.doc['rpc_error']}")
        return int(self.doc["chain_id"])

    def has_code(self) -> bool:
        return bool(self.doc.get("has_code", True))

    def at(self, address: str) -> StubChain:
        return StubChain(self.doc, address)

    def _ours(self) -> bool:
        return self.address.lower() == str(self.doc["contract"]).lower()

    def latest_tree_size(self) -> int:
        return max(map(int, self.doc["roots"]), default=0) if self._ours() else 0

    def root_at(self, size: int) -> bytes:
        root = self.doc["roots"].get(str(size)) if self._ours() else None
        return bytes.fromhex(root) if root else bytes(32)

    def anchor_tx(self, tx_hash: str) -> AnchorTx | None:
        tx = self.doc["txs"].get(tx_hash)
        if tx is None:
            return None
        anchored = [(c, int(n), bytes.fromhex(r)) for c, n, r in tx["anchored"]]
        return AnchorTx(int(tx["block_number"]), bool(tx["success"]), anchored)


def run(path: Path) -> tuple[Any, dict[str, Any]]:
    case = json.loads(path.read_text())
    chain: ChainReader = StubChain(case["chain"])
    doc = case["chain"]
    trust = trust_from_json(doc["trust"], "trust") if "trust" in doc else None
    return verify_bundle(case["bundle"], chain, contract=doc.get("pin"), trust=trust), case["expected"]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_bundle_verifies(path: Path) -> None:
    report, want = run(path)
    assert want["verdict"] == "verified"
    assert report.verdict == "verified", report.failure
    assert report.failure is None and set(report.checks.values()) == {"ok"}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_bundle_is_tampered_at_the_named_check(path: Path) -> None:
    report, want = run(path)
    assert report.verdict == want["verdict"] == "tampered"
    f = report.failure
    assert f is not None and (f["check"], f["seq"], f["index"]) == (want["check"], want["seq"], want["index"]), f
    if "lot" in want:
        assert f["lot"] == want["lot"]
    assert path.stem.startswith(f["check"].replace("_", "-"))  # the file is named after the check it probes
    assert report.checks[f["check"]] == "failed"
    assert [c for c, v in report.checks.items() if v == "failed"] == [f["check"]]
    assert report.checks["anchor_tx"] == "skipped" or f["check"] == "anchor_tx"  # stopped at the failure


@pytest.mark.parametrize("path", UNVERIFIABLE, ids=lambda p: p.stem)
def test_wrong_or_silent_chain_is_unverifiable_never_tampered(path: Path) -> None:
    report, want = run(path)
    assert report.verdict == want["verdict"] == "unverifiable"
    f = report.failure
    assert f is not None and f["check"] == want["check"] == "anchor", f
    assert report.checks["anchor"] == "unverifiable" and "failed" not in report.checks.values()
    assert report.checks["anchor_tx"] == "skipped"
    # each case is a valid bundle: unpinned, on the chain it names, answering, it verifies
    # (except at a precompile, which never holds an anchor)
    case = json.loads(path.read_text())
    anchor = case["bundle"]["anchor"]
    honest = {k: v for k, v in case["chain"].items() if k not in ("pin", "trust", "has_code", "rpc_error")}
    honest |= {"chain_id": anchor["chain_id"], "contract": anchor["contract"]}
    assert verify_bundle(case["bundle"], StubChain(honest)).verdict == (
        "unverifiable" if "precompile" in path.stem else "verified"
    )


def test_every_bundle_check_has_a_case() -> None:
    checks = {json.loads(p.read_text())["expected"]["check"] for p in INVALID}
    want = {"format", "key", "signature", "chain", "inclusion", "lineage", "membership", "anchor", "anchor_tx"}
    assert checks == want and len(VALID) >= 3
