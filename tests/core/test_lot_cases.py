"""The pure lot verifier (``ledger.core.verify.verify_lot``) over data files, one case per file.

Each file in ``data/lots`` holds what the store would hand the verifier (``LotData`` as JSON)
and the verdict, failed check, seq and log index the specification expects; the files are
made once by ``data/make_cases.py`` from the real signing and Merkle code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ledger.core import merkle
from ledger.core.verify import LotData, LotReport, verify_lot
from ledger.service import may_sign

CASES = sorted((Path(__file__).parent / "data" / "lots").glob("*.json"))


def lot_data(d: dict[str, Any]) -> LotData:
    return LotData(
        lot_id=d["lot_id"],
        lot_row=d["lot_row"],
        entries=[r | {"leaf_hash": bytes.fromhex(r["leaf_hash"])} for r in d["entries"]],
        keys={kid: k | {"public_key": bytes.fromhex(k["public_key"])} for kid, k in d["keys"].items()},
        tree_size=d["tree_size"],
        tree_root=bytes.fromhex(d["tree_root"]),
        nodes_root=bytes.fromhex(d["nodes_root"]),
        proofs={int(i): [bytes.fromhex(h) for h in p] for i, p in d["proofs"].items()},
        input_heads={(lot, head): idx for lot, head, idx in d["input_heads"]},
    )


def chain_holds(data: LotData) -> Any:
    """An anchor check for a chain that anchored the whole log: the entry's proof leads to its root."""

    def check(index: int, leaf: bytes) -> str:
        merkle.verify_inclusion(leaf, index, data.tree_size, data.proofs[index], data.tree_root)
        return "ok"

    return check


def run(path: Path) -> tuple[LotReport, dict[str, Any]]:
    case = json.loads(path.read_text())
    data = lot_data(case["data"])
    anchor = chain_holds(data) if case["data"].get("anchored") else None
    return verify_lot(data, may_sign, anchor), case["expected"]


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_lot_case(path: Path) -> None:
    report, want = run(path)
    assert report.verdict == want["verdict"], report.failure
    if want["check"] is None:
        assert report.failure is None
        assert all(set(e.checks.values()) <= {"ok", "pending"} for e in report.entries)
        return
    f = report.failure
    assert f is not None and (f.check, f.seq, f.index) == (want["check"], want["seq"], want["index"]), f
    assert path.stem.startswith(f.check)  # the file is named after the check it probes
    if f.index is not None:  # a stored entry failed: its row in the report says which check
        [entry] = [e for e in report.entries if e.index == f.index]
        assert (entry.checks[f.check], entry.error) == ("failed", f.message)
    assert report.to_json()["failure"]["check"] == f.check


def test_every_entry_check_has_a_case() -> None:
    checks = {json.loads(p.read_text())["expected"]["check"] for p in CASES}
    assert {"record", "signature", "key", "chain", "leaf", "inclusion"} <= checks
    assert {"pending", "verified", "not_found", "tampered"} <= {
        json.loads(p.read_text())["expected"]["verdict"] for p in CASES
    }
