#!/usr/bin/env python3
"""Write the bundle version 3 test vectors of ``tests/core/data/bundles_v3/`` (run once; the files are committed).

A small log is built with the real pure code and FIXED keys (Ed25519 seeds derived from names), so
the vectors are reproducible byte for byte:

  0 org:htx-phu-hoi        (log key)          5 lot L2 commissioning
  1 key:<producer key>     (log key + pop)    6 lot L1 AggregationEvent ADD into the SSCC
  2 product:08930000045676 (producer key)     7 lot L2 AggregationEvent ADD into the SSCC
  3 lot L1 commissioning   (producer key)     8 lot L2 AggregationEvent DELETE (unpacked)
  4 lot L1 storing                            9 heads:log (log key), the map of [0, 9)

anchored at tree size 10. ``valid/`` holds the lot bundle of L2 and the shipment bundle (holding L1);
``invalid/`` one edit each, named after the check that must fail; ``unverifiable/`` a valid bundle
under trust roots it does not match. Each file: ``{"case", "expected", "chain", "bundle"}`` as in
``tests/core/data/bundles`` (``chain`` is what the RPC answers; ``trust`` a well-known document).

    .venv/bin/python scripts/make_bundle_vectors_v3.py
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.core import canonical, heads, masterdata, merkle, signing, statements  # noqa: E402
from ledger.core.bundle_v3 import build_v3  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "core" / "data" / "bundles_v3"
GTIN, SSCC = "08930000045676", "089300000000000019"
L1, L2 = f"{GTIN}.PH-2026-07", f"{GTIN}.PH-2026-08"
CONTRACT, TX = "0x5FbDB2315678afecb367f032d93F642f64180aa3", "0x" + "ab" * 32
URI = "https://id.gs1.org/00/" + SSCC


def signer(name: str) -> signing.Signer:
    return signing.Signer(hashlib.sha256(name.encode()).digest())


LOG, ORG = signer("vector log key"), signer("vector producer key")


class Log:
    def __init__(self) -> None:
        self.entries: list[tuple[str, dict[str, Any]]] = []  # (subject, entry)
        self.heads_of: dict[str, tuple[int, bytes]] = {}

    def leaf(self, i: int) -> bytes:
        subject, ent = self.entries[i]
        data = statements.entry_bytes(ent) if ":" in subject and not subject.startswith("lot:") else None
        return merkle.leaf_hash(data if data is not None else canonical.entry_bytes(ent))

    def v2(self, kind: str, ident: str, body: dict[str, Any], by: signing.Signer, pop: signing.Signer | None = None):  # type: ignore[no-untyped-def]
        subject = statements.subject_of(kind, ident)
        seq, prev = self._next(subject)
        stmt = statements.statement(kind=kind, subject=subject, seq=seq, prev=prev, body=body, signer=by.key_id)
        self._add(subject, statements.sign(stmt, by, pop))

    def event(self, lot: str, event: dict[str, Any]) -> None:
        subject = heads.lot_key(lot)
        seq, prev = self._next(subject)
        stmt = canonical.statement(lot=lot, seq=seq, prev=prev, event=event, signer=ORG.key_id)
        self._add(subject, canonical.entry(stmt, ORG.sign(canonical.statement_bytes(stmt))))

    def _next(self, subject: str) -> tuple[int, str | None]:
        seq = sum(1 for s, _ in self.entries if s == subject)
        return seq, (self.heads_of[subject][1].hex() if seq else None)

    def _add(self, subject: str, ent: dict[str, Any]) -> None:
        self.entries.append((subject, ent))
        self.heads_of[subject] = (len(self.entries) - 1, self.leaf(len(self.entries) - 1))


def event(step: str, day: int, **more: Any) -> dict[str, Any]:
    t = f"2026-07-{day:02d}T06:30:00+07:00"
    rec = f"2026-07-{day:02d}T00:00:00Z"
    return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "eventTime": t, "recordTime": rec} | more


def packing(action: str, lot: str, day: int) -> dict[str, Any]:
    return event("packing", day, type="AggregationEvent", action=action, parentID=URI, childQuantityList=[{"lot": lot}])


def build_log() -> tuple[Log, heads.HeadsMap]:
    log = Log()
    org = {"slug": "htx-phu-hoi", "name": "HTX Thanh long Phú Hội", "kind": "cooperative", "province": "Lâm Đồng",
           "tax_code": None, "gln": None, "gs1_prefixes": ["8930000"]}  # fmt: skip
    log.v2("org", "htx-phu-hoi", masterdata.validate_body("org", org), LOG)
    pub = base64.b64encode(ORG.public_key).decode()
    reg = masterdata.key_registration("htx-phu-hoi", pub, "2026-06-01T00:00:00Z", LOG.key_id)
    log.v2("key", ORG.key_id, reg["body"], LOG, pop=ORG)
    product = {"gtin": GTIN, "org": "htx-phu-hoi", "names": {"vi": "Thanh long ruột đỏ", "en": "Red dragon fruit"},
               "declared": {"ocop_stars": 4, "ocop_year": 2024, "certifications": []}}  # fmt: skip
    log.v2("product", GTIN, masterdata.validate_body("product", product), ORG)
    log.event(L1, event("commissioning", 1, action="ADD"))
    log.event(L1, event("storing", 2))
    log.event(L2, event("commissioning", 3, action="ADD"))
    log.event(L1, packing("ADD", L1, 4))
    log.event(L2, packing("ADD", L2, 4))
    log.event(L2, packing("DELETE", L2, 5))
    h = len(log.entries)
    leaves = [
        heads.head_leaf(s, e["seq"], log.leaf(i), i) for s, (i, _) in log.heads_of.items() for e in [log.entries[i][1]]
    ]
    m = heads.HeadsMap([*leaves, heads.shipment_leaf(SSCC, [L1], 8)])
    log.v2("heads", "log", heads.heads_body(h, m.root, m.size, None), LOG)
    return log, m


def bundle(log: Log, m: heads.HeadsMap, kind: str, lots: list[str]) -> dict[str, Any]:
    size, hashes = len(log.entries), [log.leaf(i) for i in range(len(log.entries))]
    subjects = [heads.lot_key(x) for x in lots] + ["product:" + GTIN, "key:" + ORG.key_id, "org:htx-phu-hoi"]
    chains = [(s, [(i, e) for i, (t, e) in enumerate(log.entries) if t == s]) for s in subjects]
    proofs = {i: merkle.inclusion_proof(hashes, i, size) for i in range(size)}
    keys = sorted(subjects) + ([heads.sscc_key(SSCC)] if kind == "shipment" else [])
    anchor = {"chain_id": 31337, "contract": CONTRACT, "tx_hash": TX, "block_number": 2}
    return build_v3(
        kind, SSCC if kind == "shipment" else lots[0], chains, proofs, (size - 1, log.entries[-1][1]),
        [m.proof(k) for k in keys], (LOG.key_id, LOG.public_key), (size, merkle.root(hashes)), anchor,
        lots=lots if kind == "shipment" else (),
    )  # fmt: skip


def chain_doc(b: dict[str, Any]) -> dict[str, Any]:
    size, root = b["tree_head"]["size"], b["tree_head"]["root"]
    tx = {"block_number": 2, "success": True, "anchored": [[CONTRACT, size, root]]}
    return {"chain_id": 31337, "contract": CONTRACT, "roots": {str(size): root}, "txs": {TX: tx}}


def chain(b: dict[str, Any], subject: str) -> dict[str, Any]:
    return next(c for c in b["chains"] if c["subject"] == subject)


Edit = Callable[[dict[str, Any]], Any]
INVALID: list[tuple[str, str, str, Edit]] = [
    ("format-unknown-field-ocop-stars", "lot", "format", lambda b: b.update(ocop_stars=5)),
    ("format-fake-lot-field-in-a-shipment", "shipment", "format", lambda b: b.update(lot=L2)),
    ("log-key-does-not-hash-to-its-id", "lot", "log_key", lambda b: b["log_key"].update(key_id="ed25519:" + "0" * 64)),
    (
        "key-signer-key-chain-left-out",
        "lot",
        "key",
        lambda b: b.update(chains=[c for c in b["chains"] if not c["subject"].startswith("key:")]),
    ),
    (
        "signature-event-edited",
        "lot",
        "signature",
        lambda b: chain(b, "lot:" + L2)["entries"][0]["entry"]["event"].update(bizStep="harvesting"),
    ),
    (
        "signature-product-stars-edited",
        "lot",
        "signature",
        lambda b: chain(b, "product:" + GTIN)["entries"][0]["entry"]["body"]["declared"].update(ocop_stars=5),
    ),
    ("chain-entries-swapped", "lot", "chain", lambda b: chain(b, "lot:" + L2)["entries"].reverse()),
    (
        "inclusion-proof-hash-flipped",
        "lot",
        "inclusion",
        lambda b: chain(b, "lot:" + L2)["entries"][0]["proof"].__setitem__(0, "00" * 32),
    ),
    ("heads-proof-hash-flipped", "lot", "heads", lambda b: b["heads"]["proof"].__setitem__(0, "00" * 32)),
    ("completeness-newest-entry-dropped", "lot", "completeness", lambda b: chain(b, "lot:" + L2)["entries"].pop()),
    ("completeness-map-proof-left-out", "lot", "completeness", lambda b: b["map"].pop(0)),
    ("completeness-shipment-lot-left-out", "shipment", "completeness", lambda b: b.update(lots=[])),
]


def write(
    folder: str, name: str, expected: dict[str, Any], b: dict[str, Any], trust: dict[str, Any] | None = None
) -> None:
    answers = chain_doc(b) | ({"trust": trust} if trust else {})
    doc = {"case": f"{folder}/{name}", "expected": expected, "chain": answers, "bundle": b}
    (OUT / folder).mkdir(parents=True, exist_ok=True)
    (OUT / folder / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> None:
    log, m = build_log()
    valid = {"lot": bundle(log, m, "lot", [L2]), "shipment": bundle(log, m, "shipment", [L1])}
    write("valid", "v3-lot-with-its-unpack", {"verdict": "verified"}, valid["lot"])
    write("valid", "v3-shipment", {"verdict": "verified"}, valid["shipment"])
    for name, kind, check, edit in INVALID:
        b = copy.deepcopy(valid[kind])
        edit(b)
        write("invalid", name, {"verdict": "tampered", "check": check}, b)
    other = signer("another operator")
    other_key = {"key_id": other.key_id, "public_key": base64.b64encode(other.public_key).decode()}
    trust = {"chain_id": 31337, "contract": CONTRACT, "bundle_versions": [1, 2, 3], "log_key": other_key}
    write(
        "unverifiable",
        "log-key-not-the-trusted-one",
        {"verdict": "unverifiable", "check": "log_key"},
        valid["lot"],
        trust,
    )
    print(f"wrote {2 + len(INVALID) + 1} vectors to {OUT}")


if __name__ == "__main__":
    main()
