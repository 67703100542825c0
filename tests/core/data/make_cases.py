"""Write the data files of tests/core: one case per file, built from the real code and fixed keys.

    PYTHONPATH=. .venv/bin/python tests/core/data/make_cases.py

Run once; the files are committed. Every case is the honest log below with one thing changed,
and its expected verdict and failed check are written HERE, by hand, from the specification
(the module docstrings of ledger.core.verify and ledger.core.bundle, and docs/bundle.md): they
are never computed by running a verifier. Ed25519 signatures are deterministic, so running the
script again writes the same bytes.

The honest log (13 entries): farm F (kind producer) and processor P (kind processor) own lots;
exporter X (kind exporter) signs shipping steps on lots of others.

    idx 0  RAW    seq 0 commissioning  F    idx 1  OTHER  seq 0 commissioning  F
    idx 2  RAW    seq 1 harvesting     F    idx 3  OTHER  seq 1 harvesting     F
    idx 4  RAW    seq 2 shipping       X    idx 5  MADE   seq 0 commissioning  P
    idx 6  MADE   seq 1 transforming   P (inputs: RAW at idx 4)
    idx 7  MADE   seq 2 packing        X (AggregationEvent ADD into the shipment SSCC)
    idx 8-12 OTHER seq 2-6 observing   F

The log is anchored at size 13 on chain 31337.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.core import canonical, merkle, signing
from ledger.core.bundle import SSCC_URI, build_bundle, build_multi_bundle

HERE = Path(__file__).parent
ROWS: list[dict[str, Any]] = []  # the honest log, once main() built it


def LEAVES() -> list[bytes]:  # noqa: N802 - reads like the constant it is
    return [bytes.fromhex(r["leaf_hash"]) for r in ROWS]


RAW, OTHER, MADE = "08930000010018.RAW-1", "08930000010018.OTHER-1", "08930000020017.MADE-1"
SSCC_BODY = "38930000000000001"
SSCC = SSCC_BODY + str(
    (10 - sum(int(c) * (3 if i % 2 == 0 else 1) for i, c in enumerate(reversed(SSCC_BODY))) % 10) % 10
)
CHAIN_ID, CONTRACT = 31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TX = "0x" + "ab" * 32
ORGS = {"F": ("org-farm", "producer"), "P": ("org-proc", "processor"), "X": ("org-exp", "exporter")}
PRIVATE = {who: Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32) for n, who in enumerate(ORGS)}
PUBLIC = {who: k.public_key().public_bytes_raw() for who, k in PRIVATE.items()}
KID = {who: signing.key_id(pub) for who, pub in PUBLIC.items()}
OWNER = {RAW: "F", OTHER: "F", MADE: "P"}
LOT_FIELDS = {
    RAW: {"code": "RAW-1", "quantity": 1200, "unit": "KGM", "origin_province": "Lâm Đồng", "plot": "A1"},
    OTHER: {"code": "OTHER-1", "quantity": 50, "unit": "KGM", "origin_province": "Sơn La", "plot": "B2"},
    MADE: {"code": "MADE-1", "quantity": 300, "unit": "KGM", "origin_province": "Lâm Đồng", "plot": None},
}


def event(step: str, n: int, **extra: Any) -> dict[str, Any]:
    when = f"2026-08-01T{8 + n // 60:02d}:{n % 60:02d}:00Z"
    return {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": step, "eventTime": when, "recordTime": when} | extra


def commissioning(lot: str, n: int) -> dict[str, Any]:
    f = LOT_FIELDS[lot]
    ilmd = {"ocop:gtin": lot[:14], "ocop:lotCode": f["code"], "ocop:originProvince": f["origin_province"]}
    ilmd |= {"ocop:plot": f["plot"]} if f["plot"] else {}
    qty = [{"epcClass": lot, "quantity": f["quantity"], "uom": f["unit"]}]
    return event("commissioning", n, action="ADD", ilmd=ilmd, quantityList=qty)


# (lot, signer, event) in log order; prev and seq follow from the order
def honest_plan() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (RAW, "F", commissioning(RAW, 0)),
        (OTHER, "F", commissioning(OTHER, 1)),
        (RAW, "F", event("harvesting", 2)),
        (OTHER, "F", event("harvesting", 3)),
        (RAW, "X", event("shipping", 4)),
        (MADE, "P", commissioning(MADE, 5)),
        (MADE, "P", event("transforming", 6, type="TransformationEvent")),  # inputs filled in by build_log
        (MADE, "X", event("packing", 7, type="AggregationEvent", action="ADD", parentID=SSCC_URI + SSCC)),
        *[(OTHER, "F", event("observing", 8 + i)) for i in range(5)],
    ]


def sign(stmt: dict[str, Any], who: str) -> str:
    return base64.b64encode(PRIVATE[who].sign(canonical.statement_bytes(stmt))).decode()


def build_log(plan: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Sign each planned event as the next entry of its lot: rows as the store holds them."""
    heads: dict[str, tuple[int, str | None]] = {}
    rows = []
    for idx, (lot, who, ev) in enumerate(plan):
        seq, prev = heads.get(lot, (-1, None))
        if ev["bizStep"] == "transforming" and "ocop:inputs" not in ev:
            ev = ev | {"ocop:inputs": [{"lot": RAW, "head": heads[RAW][1]}]}
        stmt = canonical.statement(lot=lot, seq=seq + 1, prev=prev, event=ev, signer=KID[who])
        sig = sign(stmt, who)
        leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, sig)))
        heads[lot] = (seq + 1, leaf.hex())
        rows.append(row_of(idx, stmt, sig, leaf))
    return rows


def row_of(idx: int, stmt: dict[str, Any], sig: str, leaf: bytes) -> dict[str, Any]:
    ev = stmt["event"]
    return {
        "idx": idx,
        "lot_id": stmt["lot"],
        "seq": stmt["seq"],
        "prev": stmt["prev"],
        "signer": stmt["signer"],
        "sig": sig,
        "event": canonical.canonicalize(ev).decode(),
        "event_type": ev["type"],
        "biz_step": ev["bizStep"],
        "event_time": ev["eventTime"],
        "leaf_hash": leaf.hex(),
    }


def lot_data(rows: list[dict[str, Any]], lot: str) -> dict[str, Any]:
    """What ``Ledger.lot_data`` reads for ``lot``, as JSON (bytes as hex, times as RFC 3339)."""
    leaves = [bytes.fromhex(r["leaf_hash"]) for r in rows]
    size, root = len(rows), merkle.root(leaves)
    mine = [r for r in rows if r["lot_id"] == lot]
    keys = {KID[w]: {"public_key": PUBLIC[w].hex(), "org_id": ORGS[w][0], "org_kind": ORGS[w][1]} for w in ORGS}
    inputs = {(r["lot_id"], r["leaf_hash"]): r["idx"] for r in rows}
    heads = []
    for r in mine:
        for inp in json.loads(r["event"]).get("ocop:inputs", []):
            if (inp["lot"], inp["head"]) in inputs:
                heads.append([inp["lot"], inp["head"], inputs[(inp["lot"], inp["head"])]])
    last = mine[-1]
    lot_row = {"org_id": ORGS[OWNER[lot]][0], "last_seq": last["seq"], "head_hash": last["leaf_hash"]}
    lot_row |= {"product_gtin": lot[:14], "growing_area_code": None, "origin_commune": None, "plot_area_ha": None}
    lot_row |= {"harvest_start": None, "harvest_end": None} | LOT_FIELDS[lot]
    return {
        "lot_id": lot,
        "lot_row": lot_row,
        "entries": mine,
        "keys": {k: v | {"revoked_at": None} for k, v in keys.items()},
        "tree_size": size,
        "tree_root": root.hex(),
        "nodes_root": root.hex(),
        "proofs": {str(r["idx"]): [h.hex() for h in merkle.inclusion_proof(leaves, r["idx"], size)] for r in mine},
        "input_heads": heads,
    }


def resign(d: dict[str, Any], seq: int, who: str = "F", **changes: Any) -> None:
    """Re-sign entry ``seq`` of a lot-data case after ``changes`` to its statement (event or links)."""
    row = next(r for r in d["entries"] if r["seq"] == seq)
    ev = json.loads(row["event"]) | changes.pop("event", {})
    stmt = canonical.statement(lot=row["lot_id"], seq=row["seq"], prev=row["prev"], event=ev, signer=KID[who]) | changes
    sig = sign(stmt, who)
    row |= row_of(row["idx"], stmt, sig, merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, sig))))
    row["event"] = canonical.canonicalize(ev).decode()


def flip_b64(text: str, at: int = 10) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


LotCase = tuple[str, str, str, dict[str, Any], Callable[[dict[str, Any]], None]]


def entry_of(d: dict[str, Any], seq: int) -> dict[str, Any]:
    return next(r for r in d["entries"] if r["seq"] == seq)


def lot_cases() -> dict[str, tuple[str, dict[str, Any], Callable[[dict[str, Any]], Any]]]:
    """name -> (lot, expected {verdict, check, seq, index}, mutation of that lot's data)."""

    def ok(verdict: str = "pending") -> dict[str, Any]:
        return {"verdict": verdict, "check": None, "seq": None, "index": None}

    def bad(check: str, seq: int | None, index: int | None) -> dict[str, Any]:
        return {"verdict": "tampered", "check": check, "seq": seq, "index": index}

    def set_(
        path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any
    ) -> Callable[[dict[str, Any]], None]:
        return lambda d: path(d).__setitem__(key, value)

    def not_canonical(d: dict[str, Any]) -> None:
        entry_of(d, 1)["event"] = entry_of(d, 1)["event"].replace(",", ", ", 1)

    def edit_signed_event(d: dict[str, Any]) -> None:  # the event changed after signing
        r = entry_of(d, 1)
        r["event"] = canonical.canonicalize(json.loads(r["event"]) | {"eventTime": "2026-08-02T08:02:00Z"}).decode()
        r["event_time"] = "2026-08-02T08:02:00Z"

    def other_lots_entry(d: dict[str, Any]) -> None:  # OTHER's seq 1 (idx 3, signed by F) in RAW's place
        d["entries"][1] = dict(ROWS[3])
        d["proofs"]["3"] = [h.hex() for h in merkle.inclusion_proof(LEAVES(), 3, len(ROWS))]

    def drop(seq: int) -> Callable[[dict[str, Any]], None]:
        return lambda d: d["entries"].remove(entry_of(d, seq))

    def flip_proof(d: dict[str, Any]) -> None:
        p = d["proofs"]["2"]
        p[0] = ("0" if p[0][0] != "0" else "1") + p[0][1:]

    return {
        "honest-raw-lot-is-pending": (RAW, ok(), lambda d: None),
        "honest-raw-lot-anchored-is-verified": (RAW, ok("verified"), lambda d: d.__setitem__("anchored", True)),
        "honest-transformed-lot-with-inputs-is-pending": (MADE, ok(), lambda d: None),
        "no-lot-row-and-no-entries-is-not-found": (
            "08930000010018.NONE",
            {"verdict": "not_found", "check": None, "seq": None, "index": None},
            lambda d: d.update(lot_id="08930000010018.NONE", lot_row=None, entries=[], proofs={}),
        ),
        "record-event-not-canonical": (RAW, bad("record", 1, 2), not_canonical),
        "record-column-disagrees-with-signed-event": (
            RAW,
            bad("record", 1, 2),
            set_(lambda d: entry_of(d, 1), "biz_step", "inspecting"),
        ),
        "record-lot-field-contradicts-signed-commissioning": (
            RAW,
            bad("record", 0, 0),
            set_(lambda d: d["lot_row"], "origin_province", "Đắk Lắk"),
        ),
        "record-lot-quantity-contradicts-signed-commissioning": (
            RAW,
            bad("record", 0, 0),
            set_(lambda d: d["lot_row"], "quantity", 12000),
        ),
        "record-lot-row-missing": (RAW, bad("record", 0, 0), set_(lambda d: d, "lot_row", None)),
        "signature-byte-flipped": (
            RAW,
            bad("signature", 1, 2),
            lambda d: entry_of(d, 1).update(sig=flip_b64(entry_of(d, 1)["sig"])),
        ),
        "signature-signed-event-edited": (RAW, bad("signature", 1, 2), edit_signed_event),
        "signature-signer-not-registered": (RAW, bad("signature", 0, 0), lambda d: d["keys"].pop(KID["F"])),
        "key-revoked-before-recording": (
            RAW,
            bad("key", 1, 2),
            set_(lambda d: d["keys"][KID["F"]], "revoked_at", "2026-08-01T08:01:30+00:00"),
        ),
        "key-of-another-farm-may-not-sign": (
            RAW,
            bad("key", 2, 4),
            set_(lambda d: d["keys"][KID["X"]], "org_kind", "producer"),
        ),
        "key-record-time-not-a-timestamp": (
            RAW,
            bad("key", 1, 2),
            lambda d: resign(d, 1, event={"recordTime": "yesterday"}),
        ),
        "chain-entry-deleted-in-the-middle": (RAW, bad("chain", 2, 4), drop(1)),
        "chain-first-entry-deleted": (RAW, bad("chain", 1, 2), drop(0)),
        "chain-newest-entry-deleted": (RAW, bad("chain", 2, None), drop(2)),
        "chain-prev-does-not-link": (RAW, bad("chain", 1, 2), lambda d: resign(d, 1, prev="00" * 32)),
        "signature-row-moved-to-another-lot": (
            RAW,
            bad("signature", 1, 2),
            set_(lambda d: entry_of(d, 1), "lot_id", OTHER),
        ),
        "chain-signed-entry-of-another-lot-listed": (RAW, bad("chain", 1, 3), other_lots_entry),
        "chain-input-head-unknown": (
            MADE,
            bad("chain", 1, 6),
            lambda d: resign(d, 1, "P", event={"ocop:inputs": [{"lot": RAW, "head": "11" * 32}]}),
        ),
        "chain-input-head-after-the-transformation": (
            MADE,
            bad("chain", 1, 6),
            lambda d: d["input_heads"][0].__setitem__(2, 9),
        ),
        "leaf-stored-hash-differs": (RAW, bad("leaf", 1, 2), set_(lambda d: entry_of(d, 1), "leaf_hash", "22" * 32)),
        "inclusion-proof-hash-flipped": (RAW, bad("inclusion", 1, 2), flip_proof),
        "inclusion-proof-missing": (RAW, bad("inclusion", 1, 2), lambda d: d["proofs"].pop("2")),
        "inclusion-stored-nodes-give-another-root": (
            RAW,
            bad("inclusion", None, None),
            set_(lambda d: d, "nodes_root", "33" * 32),
        ),
    }


# --- bundles -----------------------------------------------------------------------------------


def chain_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    root = merkle.root([bytes.fromhex(r["leaf_hash"]) for r in rows]).hex()
    return {
        "chain_id": CHAIN_ID,
        "contract": CONTRACT,
        "roots": {str(len(rows)): root},
        "txs": {TX: {"block_number": 7, "success": True, "anchored": [[CONTRACT.lower(), len(rows), root]]}},
    }


def bundle_parts(
    rows: list[dict[str, Any]], lots: list[str]
) -> tuple[list[Any], dict[str, bytes], int, bytes, dict[int, list[bytes]], dict[str, Any]]:
    leaves = [bytes.fromhex(r["leaf_hash"]) for r in rows]
    size = len(rows)
    chains = []
    for lot in lots:
        ents = []
        for r in rows:
            if r["lot_id"] == lot:
                stmt = canonical.statement(
                    lot=lot, seq=r["seq"], prev=r["prev"], event=json.loads(r["event"]), signer=r["signer"]
                )
                ents.append((r["idx"], canonical.entry(stmt, r["sig"])))
        chains.append((lot, ents))
    proofs = {r["idx"]: merkle.inclusion_proof(leaves, r["idx"], size) for r in rows}
    anchor = {"chain_id": CHAIN_ID, "contract": CONTRACT, "tx_hash": TX, "block_number": 7}
    return chains, {KID[w]: PUBLIC[w] for w in ORGS}, size, merkle.root(leaves), proofs, anchor


def bundles(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    chains, keys, size, root, proofs, anchor = bundle_parts(rows, [RAW, MADE])
    v1 = build_bundle(RAW, chains[0][1], keys, size, root, proofs, anchor)
    v2_lot = build_multi_bundle("lot", MADE, [chains[1], chains[0]], keys, size, root, proofs, anchor)
    v2_ship = build_multi_bundle("shipment", SSCC, [chains[1], chains[0]], keys, size, root, proofs, anchor, [MADE])
    return {"v1": v1, "v2-lot": v2_lot, "v2-shipment": v2_ship}


Mut = Callable[[dict[str, Any], dict[str, Any]], Any]  # (bundle, chain) -> None


def bundle_cases() -> dict[str, tuple[str, dict[str, Any], Mut]]:
    """name -> (base bundle, expected {verdict, check, seq, index}, mutation of bundle and chain)."""

    def ok() -> dict[str, Any]:
        return {"verdict": "verified", "check": None, "seq": None, "index": None}

    def bad(check: str, seq: int | None = None, index: int | None = None, lot: str | None = None) -> dict[str, Any]:
        return {"verdict": "tampered", "check": check, "seq": seq, "index": index} | ({"lot": lot} if lot else {})

    def v1e(b: dict[str, Any], i: int) -> dict[str, Any]:
        return b["entries"][i]  # type: ignore[no-any-return]

    def flip_sig(b: dict[str, Any], c: dict[str, Any]) -> None:
        v1e(b, 1)["entry"]["sig"] = flip_b64(v1e(b, 1)["entry"]["sig"])

    def edit_event(b: dict[str, Any], c: dict[str, Any]) -> None:
        v1e(b, 1)["entry"]["event"]["bizStep"] = "ocop:cooling"

    def swap(b: dict[str, Any], c: dict[str, Any]) -> None:
        b["entries"][1], b["entries"][2] = b["entries"][2], b["entries"][1]

    def flip_proof(b: dict[str, Any], c: dict[str, Any]) -> None:
        p = v1e(b, 1)["proof"]
        p[0] = ("0" if p[0][0] != "0" else "1") + p[0][1:]

    def other_key(b: dict[str, Any], c: dict[str, Any]) -> None:  # the farm's key replaced by another
        farm = next(k for k in b["keys"] if k["key_id"] == KID["F"])
        farm["public_key"] = base64.b64encode(PUBLIC["P"]).decode()

    def unrelated_chain(b: dict[str, Any], c: dict[str, Any]) -> None:  # OTHER's history, not an input
        chains, *_ = bundle_parts(ROWS, [OTHER])
        proofs = {r["idx"]: merkle.inclusion_proof(LEAVES(), r["idx"], len(ROWS)) for r in ROWS}
        b["chains"].append(
            {
                "lot": OTHER,
                "entries": [{"index": i, "entry": e, "proof": [h.hex() for h in proofs[i]]} for i, e in chains[0][1]],
            }
        )

    def noncanonical_key(b: dict[str, Any], c: dict[str, Any]) -> None:
        text = b["keys"][0]["public_key"]  # 32 bytes: 43 characters and "=", the last one carries 2 unused bits
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        b["keys"][0]["public_key"] = text[:42] + alphabet[alphabet.index(text[42]) ^ 1] + text[43:]

    def root_changed(b: dict[str, Any], c: dict[str, Any]) -> None:
        c["roots"][str(b["tree_head"]["size"])] = "44" * 32

    def shipment_lists_unpacked(b: dict[str, Any], c: dict[str, Any]) -> None:
        b["lots"] = [MADE, RAW]

    return {
        "valid/v1-lot": ("v1", ok(), lambda b, c: None),
        "valid/v2-lot-with-upstream-input-lot": ("v2-lot", ok(), lambda b, c: None),
        "valid/v2-shipment": ("v2-shipment", ok(), lambda b, c: None),
        "valid/v1-contract-pinned": ("v1", ok(), lambda b, c: c.__setitem__("pin", CONTRACT.lower())),
        "invalid/format-not-an-object": ("v1", bad("format"), lambda b, c: c.__setitem__("replace", [1, 2])),
        "invalid/format-unknown-version": ("v1", bad("format"), lambda b, c: b.__setitem__("version", 3)),
        "invalid/format-entry-missing-a-key": ("v1", bad("format"), lambda b, c: v1e(b, 0)["entry"].pop("prev")),
        "invalid/format-public-key-not-canonical-base64": ("v1", bad("format"), noncanonical_key),
        "invalid/key-does-not-hash-to-signer": ("v1", bad("key", 0, 0), other_key),
        "invalid/signature-byte-flipped": ("v1", bad("signature", 1, 2), flip_sig),
        "invalid/signature-event-edited": ("v1", bad("signature", 1, 2), edit_event),
        "invalid/chain-entries-swapped": ("v1", bad("chain", 2, 4), swap),
        "invalid/chain-middle-entry-dropped": ("v1", bad("chain", 2, 4), lambda b, c: b["entries"].pop(1)),
        "invalid/chain-lot-renamed": ("v1", bad("chain", 0, 0), lambda b, c: b.__setitem__("lot", OTHER)),
        "invalid/inclusion-proof-hash-flipped": ("v1", bad("inclusion", 1, 2), flip_proof),
        "invalid/inclusion-proof-hash-dropped": ("v1", bad("inclusion", 1, 2), lambda b, c: v1e(b, 1)["proof"].pop()),
        "invalid/inclusion-tree-size-changed": (
            "v1",
            bad("inclusion", 0, 0),
            lambda b, c: b["tree_head"].__setitem__("size", 4),
        ),
        "invalid/inclusion-index-beyond-the-tree": (
            "v1",
            bad("inclusion", 2, 13),
            lambda b, c: v1e(b, 2).__setitem__("index", 13),
        ),
        "invalid/lineage-input-lot-left-out": ("v2-lot", bad("lineage", 1, 6, MADE), lambda b, c: b["chains"].pop(1)),
        "invalid/lineage-unrelated-lot-added": ("v2-lot", bad("lineage", lot=OTHER), unrelated_chain),
        "invalid/membership-listed-lot-never-packed": (
            "v2-shipment",
            bad("membership", lot=RAW),
            shipment_lists_unpacked,
        ),
        "invalid/membership-shipment-lot-left-out": (
            "v2-shipment",
            bad("membership", lot=MADE),
            lambda b, c: b["chains"].pop(0),
        ),
        "invalid/anchor-root-differs-on-chain": ("v1", bad("anchor"), root_changed),
        "invalid/anchor-no-root-for-the-size": ("v1", bad("anchor"), lambda b, c: c.__setitem__("roots", {})),
        "invalid/anchor-rpc-serves-another-chain": ("v1", bad("anchor"), lambda b, c: c.__setitem__("chain_id", 1)),
        "invalid/anchor-contract-not-the-pinned-one": (
            "v1",
            bad("anchor"),
            lambda b, c: c.__setitem__("pin", "0x" + "11" * 20),
        ),
        "invalid/anchor-tx-unknown": ("v1", bad("anchor_tx"), lambda b, c: c.__setitem__("txs", {})),
        "invalid/anchor-tx-in-another-block": (
            "v1",
            bad("anchor_tx"),
            lambda b, c: c["txs"][TX].__setitem__("block_number", 8),
        ),
        "invalid/anchor-tx-reverted": ("v1", bad("anchor_tx"), lambda b, c: c["txs"][TX].__setitem__("success", False)),
    }


def write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    rows = build_log(honest_plan())
    ROWS[:] = rows
    for sub in ("lots", "bundles"):
        shutil.rmtree(HERE / sub, ignore_errors=True)
    for name, (lot, expected, mutate) in lot_cases().items():
        d = copy.deepcopy(lot_data(rows, lot if lot in OWNER else RAW))
        mutate(d)
        write(HERE / "lots" / f"{name}.json", {"case": name, "expected": expected, "data": d})
    bases = bundles(rows)
    for name, (base, expected, mutate) in bundle_cases().items():
        b, c = copy.deepcopy(bases[base]), chain_json(rows)
        mutate(b, c)
        bundle: Any = c.pop("replace", b)
        write(HERE / "bundles" / f"{name}.json", {"case": name, "expected": expected, "chain": c, "bundle": bundle})
    print(f"wrote {len(lot_cases())} lot cases and {len(bundle_cases())} bundle cases", file=sys.stderr)


if __name__ == "__main__":
    main()
