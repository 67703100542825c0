"""Random single mutations of a built ledger (``tests/hardening/lab.py``), one per database copy.

``plan(built, n, seed)`` draws ``n`` mutations from the classes in ``CLASSES`` (seeded, so a run
is reproducible); ``run_one`` applies one to a fresh copy of the database and reports whether the
audit found it and, where a lot is affected, whether that lot's verdict is ``tampered`` naming the
entry. ``EXCLUDED`` lists what is deliberately not mutated, each with the reason it is not
security-relevant.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select, update

from ledger.core import canonical, merkle
from ledger.core.statements import KINDS
from ledger.store import log as store
from ledger.store.db import make_engine
from ledger.store.keys import KeyRing
from ledger.store.models import Anchor, LogEntry, LogHead, Lot, Organization, Product, SigningKey, TreeNode
from tests.hardening import lab

E = LogEntry.__table__  # type: ignore[attr-defined]
N = TreeNode.__table__  # type: ignore[attr-defined]
H = LogHead.__table__  # type: ignore[attr-defined]
A = Anchor.__table__  # type: ignore[attr-defined]
K = SigningKey.__table__  # type: ignore[attr-defined]
L = Lot.__table__  # type: ignore[attr-defined]
O = Organization.__table__  # type: ignore[attr-defined]  # noqa: E741
P = Product.__table__  # type: ignore[attr-defined]

EXCLUDED = {
    "log_entry.recorded_at": "server bookkeeping, never read: the signed time is the event's recordTime",
    "log_head.updated_at": "bookkeeping timestamp of the last append; carries no signed meaning",
    "anchor.tx_hash/raw_tx/nonce/sender/block_*/gas_used/error/created_at/updated_at": (
        "receipt metadata: verdicts and the audit trust the contract's rootAt(size), not the stored receipt"
    ),
    "anchor.status / anchor row deleted": (
        "removes a claim, never adds one: the verdict asks the contract for its latest anchor, not the table"
    ),
    "signing_key.status/sealed_private_key/created_at/retired_at": (
        "which key signs next (availability), not what was signed: verification uses the public key and revoked_at"
    ),
    "signing_key.revocation_reason": "free text for operators",
    "signing_key.revoked_at cleared": (
        "verdicts read revocations from the key's signed log entries (format v2), not from this column"
    ),
    "lot.created_at": "row bookkeeping; the signed commissioning event carries the lot's times",
    "setting a column to its current value": "a no-op (mutations that change nothing are redrawn)",
}


@dataclass
class Mutation:
    cls: str
    what: str
    apply: Callable[[Connection], None]
    lot: str | None = None
    names: set[int] = field(default_factory=set)  # log indexes the verdict may name
    seq: int | None = None  # or the seq of a missing entry


@dataclass
class Outcome:
    cls: str
    what: str
    audit: bool
    verdict: bool
    detail: str = ""

    @property
    def detected(self) -> bool:
        return self.audit and self.verdict


# --- snapshot of the built ledger ----------------------------------------------------------


@dataclass
class Snapshot:
    entries: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    keys: list[dict[str, Any]]
    lots: list[dict[str, Any]]
    anchors: list[dict[str, Any]]
    orgs: list[dict[str, Any]]
    size: int
    products: list[dict[str, Any]] = field(default_factory=list)
    v2_entries: list[dict[str, Any]] = field(default_factory=list)  # organizations, keys, products (format v2)


def snapshot(built: lab.Built) -> Snapshot:
    engine = make_engine(f"sqlite:///{built.path}")
    try:
        with engine.connect() as c:

            def rows(t: Any) -> list[dict[str, Any]]:
                return [dict(r._mapping) for r in c.execute(select(t))]

            head = store.read_head(c)
            entries = rows(E)
            events = [x for x in entries if x["event_type"] not in KINDS]
            v2 = [x for x in entries if x["event_type"] in KINDS]
            return Snapshot(events, rows(N), rows(K), rows(L), rows(A), rows(O), head.size, rows(P), v2)
    finally:
        engine.dispose()


def _flip(b: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(b))
    return b[:i] + bytes([b[i] ^ (1 << rng.randrange(8))]) + b[i + 1 :]


def _str_change(s: str, rng: random.Random) -> str:
    if not s:
        return "x"
    i = rng.randrange(len(s))
    c = s[i]
    alt = "0123456789abcdef" if c in "0123456789abcdef" else "ABCDEFGHIJKLMNOPQRSTUVWXYZxyz"
    new = rng.choice([a for a in alt if a != c])
    return s[:i] + new + s[i + 1 :]


def _set(t: Any, key: dict[str, Any], **values: Any) -> Callable[[Connection], None]:
    cond = [t.c[k] == v for k, v in key.items()]

    def go(conn: Connection) -> None:
        res = conn.execute(update(t).where(*cond).values(**values))
        assert res.rowcount == 1, f"mutation touched {res.rowcount} rows"

    return go


def _del(t: Any, key: dict[str, Any]) -> Callable[[Connection], None]:
    def go(conn: Connection) -> None:
        assert conn.execute(delete(t).where(*[t.c[k] == v for k, v in key.items()])).rowcount == 1

    return go


# --- log_entry -----------------------------------------------------------------------------


def _edit_event(ev: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    ev = json.loads(json.dumps(ev))
    choice = rng.randrange(5)
    if choice == 0:
        ev["eventTime"] = ev["eventTime"].replace("2026", "2025")
    elif choice == 1:
        ev["ocop:note"] = "sửa lại"
    elif choice == 2 and ev.get("quantityList"):
        ev["quantityList"][0]["quantity"] = ev["quantityList"][0].get("quantity", 0) + 1
    elif choice == 3:
        ev["recordTime"] = ev["recordTime"].replace("2026-08-01", "2026-07-31")
    else:
        ev["disposition"] = "recalled"
    return ev


def m_entry_column(s: Snapshot, rng: random.Random) -> Mutation:
    r = rng.choice(s.entries)
    col = rng.choice(
        ["lot_id", "seq", "prev", "event", "event_type", "biz_step", "event_time", "signer", "sig"] * 2
        + ["leaf_hash", "idx"]
    )
    key = {"idx": r["idx"]}
    other = rng.choice([x for x in s.entries if x["idx"] != r["idx"]])
    new: Any
    if col == "idx":
        new = s.size + rng.randint(1, 50)
    elif col == "seq":
        new = r["seq"] + rng.choice([-2, -1, 1, 2, 1000])
        if any(x["lot_id"] == r["lot_id"] and x["seq"] == new for x in s.entries):
            new = r["seq"] + 1000
    elif col == "leaf_hash":
        new = _flip(bytes(r["leaf_hash"]), rng)
    elif col == "event":
        ev = json.loads(r["event"])
        new = canonical.canonicalize(_edit_event(ev, rng)).decode() if rng.random() < 0.8 else r["event"] + " "
    elif col == "prev" and r["prev"] is None:
        new = other["leaf_hash"].hex()
    elif col in ("lot_id", "signer", "biz_step", "event_type", "event_time") and rng.random() < 0.5:
        new = other[col] if other[col] != r[col] else _str_change(str(r[col]), rng)
    else:
        new = _str_change(str(r[col]), rng)
    if col == "lot_id":  # a (lot, seq) that already exists would break the table's unique key, not test a check
        taken = {(x["lot_id"], x["seq"]) for x in [*s.entries, *s.v2_entries]}
        while (new, r["seq"]) in taken or new == r["lot_id"]:
            new = _str_change(str(r[col]), rng)
    return Mutation(
        f"log_entry.{col}", f"idx {r['idx']} {col}", _set(E, key, **{col: new}), r["lot_id"], {r["idx"]}, r["seq"]
    )


def m_entry_delete(s: Snapshot, rng: random.Random) -> Mutation:
    r = rng.choice(s.entries)
    later = {x["idx"] for x in s.entries if x["lot_id"] == r["lot_id"] and x["seq"] == r["seq"] + 1}
    return Mutation(
        "log_entry.delete", f"idx {r['idx']}", _del(E, {"idx": r["idx"]}), r["lot_id"], {r["idx"], *later}, r["seq"]
    )


def m_entry_swap(s: Snapshot, rng: random.Random) -> Mutation:
    a, b = rng.sample(s.entries, 2)
    cols = [c for c in a if c != "idx"]

    def go(conn: Connection) -> None:
        conn.execute(update(E).where(E.c.idx == a["idx"]).values(idx=-1))
        conn.execute(update(E).where(E.c.idx == b["idx"]).values(idx=a["idx"]))
        conn.execute(update(E).where(E.c.idx == -1).values(idx=b["idx"]))

    del cols
    return Mutation("log_entry.swap", f"idx {a['idx']} <-> {b['idx']}", go, a["lot_id"], {a["idx"], b["idx"]}, a["seq"])


def _foreign_signer(conn: Connection, s: Snapshot, owner_org: int, rng: random.Random) -> Any:
    kinds = {o["id"]: o["kind"] for o in s.orgs}
    others = [o for o in kinds if o != owner_org and kinds[o] in ("cooperative", "company", "inspector", "exporter")]
    org = rng.choice(others)
    signer = KeyRing(lab.MASTER_KEY).active_signer(conn, org)
    assert signer is not None
    return signer, kinds[org]


def _forged_event(ev: dict[str, Any], kind: str) -> dict[str, Any]:
    ev = dict(ev)
    # a step the foreign organization's role may NOT sign on someone else's lot
    ev["bizStep"] = "ocop:harvesting" if kind in ("inspector", "exporter") else "ocop:grading"
    ev["ocop:note"] = "forged"
    return ev


def m_forge_replace(s: Snapshot, rng: random.Random) -> Mutation:
    r = rng.choice(s.entries)
    owner = next(x["org_id"] for x in s.lots if x["lot_id"] == r["lot_id"])

    def go(conn: Connection) -> None:
        signer, kind = _foreign_signer(conn, s, owner, rng)
        ev = _forged_event(json.loads(r["event"]), kind)
        stmt = canonical.statement(lot=r["lot_id"], seq=r["seq"], prev=r["prev"], event=ev, signer=signer.key_id)
        sig = signer.sign(canonical.statement_bytes(stmt))
        leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, sig)))
        conn.execute(
            update(E)
            .where(E.c.idx == r["idx"])
            .values(
                event=canonical.canonicalize(ev).decode(),
                biz_step=ev["bizStep"],
                signer=signer.key_id,
                sig=sig,
                leaf_hash=leaf,
            )
        )

    return Mutation("forged.replace_resigned", f"idx {r['idx']}", go, r["lot_id"], {r["idx"]}, r["seq"])


def m_forge_append(s: Snapshot, rng: random.Random) -> Mutation:
    """A whole forged append: entry, subtree hashes, lot head and log head all made consistent."""
    lot = rng.choice(s.lots)
    last = max((x for x in s.entries if x["lot_id"] == lot["lot_id"]), key=lambda x: x["seq"])

    def go(conn: Connection) -> None:
        signer, kind = _foreign_signer(conn, s, lot["org_id"], rng)
        ev = _forged_event(json.loads(last["event"]), kind)
        ev.pop("ocop:inputs", None)
        ev["type"] = "ObjectEvent"
        seq, prev = last["seq"] + 1, bytes(last["leaf_hash"]).hex()
        stmt = canonical.statement(lot=lot["lot_id"], seq=seq, prev=prev, event=ev, signer=signer.key_id)
        sig = signer.sign(canonical.statement_bytes(stmt))
        leaf = merkle.leaf_hash(canonical.entry_bytes(canonical.entry(stmt, sig)))
        head = store.read_head(conn)
        entry = store.NewEntry(
            head.size,
            lot["lot_id"],
            seq,
            prev,
            canonical.canonicalize(ev).decode(),
            ev,
            signer.key_id,
            sig,
            leaf,
            last["recorded_at"],
        )
        store.write_entries(conn, head, store.load_frontier(conn, head.size), [entry])

    return Mutation("forged.append_other_org_key", lot["lot_id"], go, lot["lot_id"], {s.size}, last["seq"] + 1)


# --- tree_node / log_head ------------------------------------------------------------------


def _lot_at(s: Snapshot, idx: int) -> dict[str, Any] | None:
    return next((x for x in s.entries if x["idx"] == idx), None)


def _sibling_lot(s: Snapshot, level: int, idx: int) -> tuple[str | None, set[int]]:
    """A lot whose inclusion proofs read node (level, idx): one with a leaf under its sibling."""
    sib = idx ^ 1
    lo, hi = sib << level, min((sib + 1) << level, s.size)
    if lo >= s.size:
        return None, set()
    # the first lot event under the sibling (its leftmost leaves may be format v2 master-data entries)
    r = next((x for x in sorted(s.entries, key=lambda x: x["idx"]) if lo <= x["idx"] < hi), None)
    if r is None:
        return None, set()
    return r["lot_id"], {x["idx"] for x in s.entries if x["lot_id"] == r["lot_id"]} | set(range(lo, hi))


def m_node(s: Snapshot, rng: random.Random) -> Mutation:
    n = rng.choice(s.nodes)
    key = {"level": n["level"], "idx": n["idx"]}
    lot, names = _sibling_lot(s, n["level"], n["idx"])
    kind = rng.choice(["hash", "hash", "delete", "move", "swap"])
    if kind == "hash":
        fn = _set(N, key, hash=_flip(bytes(n["hash"]), rng))
    elif kind == "delete":
        fn = _del(N, key)
    elif kind == "move":
        fn = _set(N, key, idx=n["idx"] + 10_000)
    else:
        o = rng.choice([x for x in s.nodes if x["level"] == n["level"] and x["idx"] != n["idx"]] or [n])
        if o is n:
            return m_node(s, rng)

        def fn(conn: Connection) -> None:
            conn.execute(update(N).where(N.c.level == n["level"], N.c.idx == n["idx"]).values(hash=o["hash"]))
            conn.execute(update(N).where(N.c.level == o["level"], N.c.idx == o["idx"]).values(hash=n["hash"]))

    return Mutation(f"tree_node.{kind}", f"level {n['level']} idx {n['idx']}", fn, lot, names)


def m_head(s: Snapshot, rng: random.Random) -> Mutation:
    last = _lot_at(s, s.size - 1)
    assert last is not None
    if rng.random() < 0.5:
        d = rng.choice([-3, -1, 1, 5])
        lot_names = {x["idx"] for x in s.entries if x["lot_id"] == last["lot_id"]}
        return Mutation(
            "log_head.size",
            f"size {s.size}{d:+d}",
            _set(H, {"id": 1}, size=s.size + d),
            last["lot_id"],
            lot_names | set(range(s.size - 3, s.size)),
            last["seq"],
        )

    def go(conn: Connection) -> None:
        root = conn.execute(select(H.c.root)).scalar_one()
        conn.execute(update(H).values(root=_flip(bytes(root), rng)))

    lot_names = {x["idx"] for x in s.entries if x["lot_id"] == last["lot_id"]}
    return Mutation("log_head.root", "root bit flip", go, last["lot_id"], lot_names)


# --- anchors, keys, lots -------------------------------------------------------------------


def m_anchor(s: Snapshot, rng: random.Random) -> Mutation:
    a = rng.choice([x for x in s.anchors if x["status"] == "confirmed"])
    key = {"id": a["id"]}
    col = rng.choice(["root", "tree_size", "chain_id", "contract"])
    taken = {x["tree_size"] for x in s.anchors}
    if col == "root":
        new: Any = _flip(bytes(a["root"]), rng)
    elif col == "tree_size":
        new = rng.choice([n for n in range(1, s.size + 20) if n not in taken])
    elif col == "chain_id":
        new = a["chain_id"] + rng.choice([1, 1000])
    else:
        new = _str_change(a["contract"], rng)
    return Mutation(f"anchor.{col}", f"anchor {a['tree_size']}", _set(A, key, **{col: new}))


def _signed_by(s: Snapshot, kid: str) -> list[dict[str, Any]]:
    return [x for x in s.entries if x["signer"] == kid]


def m_key(s: Snapshot, rng: random.Random) -> Mutation:
    k = rng.choice([x for x in s.keys if _signed_by(s, x["key_id"])])
    used = _signed_by(s, k["key_id"])
    e = rng.choice(used)
    lot_names = {x["idx"] for x in used if x["lot_id"] == e["lot_id"]}
    key = {"id": k["id"]}
    col = rng.choice(["public_key", "key_id", "org_id", "revoked_at", "delete"])
    if col == "public_key":
        fn = _set(K, key, public_key=_flip(bytes(k["public_key"]), rng))
    elif col == "key_id":
        fn = _set(K, key, key_id=_str_change(k["key_id"], rng))
    elif col == "org_id":
        from ledger.service import may_sign

        new_org = rng.choice([o for o in s.orgs if o["id"] != k["org_id"]])
        fn = _set(K, key, org_id=new_org["id"])
        # the lot to verify: one with an entry the key's new organization may not sign
        owner = {x["lot_id"]: x["org_id"] for x in s.lots}
        moved = {"org_id": new_org["id"], "org_kind": new_org["kind"]}
        bad = [x for x in used if not may_sign(moved, x["biz_step"], owner[x["lot_id"]])]
        e = bad[0] if bad else e
        lot_names = {x["idx"] for x in used if x["lot_id"] == e["lot_id"]}
        if not bad:  # every entry stays one the new owner may sign: no verdict changes, the audit must still see it
            return Mutation("signing_key.org_id", k["key_id"][:20], fn)
    elif col == "revoked_at":
        # revoked before the key's first use: every entry it signed was "recorded after revocation"
        first = min(json.loads(x["event"])["recordTime"] for x in used)
        from datetime import datetime

        fn = _set(
            K,
            key,
            revoked_at=datetime.fromisoformat(first.replace("Z", "+00:00")) - timedelta(seconds=1),
            status="revoked",
        )
    else:
        fn = _del(K, key)
    if col in ("public_key", "org_id", "revoked_at") and _logged(s, f"key:{k['key_id']}"):
        # verdicts take a key's public key, owner and revocation from its signed log entries (format v2):
        # the edited row changes no verdict; the audit, which compares the row, must see it
        return Mutation(f"signing_key.{col}", k["key_id"][:20], fn)
    return Mutation(f"signing_key.{col}", k["key_id"][:20], fn, e["lot_id"], lot_names)


def _logged(s: Snapshot, subject: str) -> list[int]:
    """Log indexes of a format v2 subject's entries."""
    return [x["idx"] for x in s.v2_entries if x["lot_id"] == subject]


def m_v2_entry(s: Snapshot, rng: random.Random) -> Mutation:
    """A signed organization, key or product entry edited in place: the audit finds it; for a product,
    its lots' verdicts are tampered naming the entry."""
    r = rng.choice(s.v2_entries)
    col = rng.choice(["event", "sig", "signer", "leaf_hash"])
    new: Any
    if col == "event":
        body = json.loads(r["event"])
        body["ocop:extra"] = "sửa lại"  # any added or changed field breaks the signature
        new = canonical.canonicalize(body).decode()
    elif col == "leaf_hash":
        new = _flip(bytes(r["leaf_hash"]), rng)
    else:
        new = _str_change(str(r[col]), rng)
    lot = None
    gtin = None
    if r["event_type"] == "product":
        gtin = r["lot_id"].removeprefix("product:")
    elif r["event_type"] == "attestation":  # about a product: the pages of its lots show who vouches
        gtin = json.loads(r["event"])["about"]["id"]
    if gtin is not None:
        product = next(p for p in s.products if p["gtin"] == gtin)
        lot = next((x["lot_id"] for x in s.lots if x["product_id"] == product["id"]), None)
    return Mutation(
        f"v2.{r['event_type']}.{col}", f"idx {r['idx']}", _set(E, {"idx": r["idx"]}, **{col: new}), lot, {r["idx"]}
    )


# the product and producer facts the scan page, the shipment page and the certificate show
PRODUCT_FACTS: dict[str, Callable[[Any], Any]] = {
    "name_vi": lambda cur: cur + " giả",
    "name_en": lambda cur: (cur or "") + " fake",
    "category": lambda cur: "coffee" if cur != "coffee" else "tea",
    "ocop_stars": lambda cur: 5 if cur != 5 else 3,
    "ocop_year": lambda cur: 2019 if cur != 2019 else 2020,
    "certifications": lambda cur: [*(cur or []), {"scheme": "GlobalGAP", "certificate_no": "GG-FAKE"}],
    "name_zh": lambda cur: (cur or "") + " 假",
    "name_ja": lambda cur: (cur or "") + " 偽",
    "brand": lambda cur: (cur or "Nhãn") + " giả",
    "net_content": lambda cur: {"value": 500, "unit": "GRM"} if cur is None else {**cur, "value": cur["value"] + 1},
    "images": lambda cur: [*(cur or []), {"sha256": "ab" * 32, "media_type": "image/png"}],
}


def m_product(s: Snapshot, rng: random.Random) -> Mutation:
    """A product fact edited in the table: every lot of it is tampered, naming the product entry."""
    product = rng.choice([p for p in s.products if _logged(s, f"product:{p['gtin']}")])
    col = rng.choice(sorted(PRODUCT_FACTS))
    lot = rng.choice([x for x in s.lots if x["product_id"] == product["id"]] or [None])
    fn = _set(P, {"id": product["id"]}, **{col: PRODUCT_FACTS[col](product[col])})
    names = set(_logged(s, f"product:{product['gtin']}"))
    return Mutation(f"product.{col}", product["gtin"], fn, lot["lot_id"] if lot else None, names)


def m_producer(s: Snapshot, rng: random.Random) -> Mutation:
    """The producer's name, province or kind edited in the table: its lots are tampered, naming the org entry."""
    owners = {p["org_id"] for p in s.products if _logged(s, f"product:{p['gtin']}")}
    org = rng.choice([o for o in s.orgs if o["id"] in owners])
    col = rng.choice(["name", "province", "kind"])
    new = {"name": org["name"] + " giả", "province": "Bến Tre" if org["province"] != "Bến Tre" else "Cà Mau",
           "kind": "authority"}[col]  # fmt: skip
    products = {p["id"] for p in s.products if p["org_id"] == org["id"]}
    lot = rng.choice([x for x in s.lots if x["product_id"] in products])
    names = set(_logged(s, f"org:{org['slug']}"))
    return Mutation(f"organization.{col}", org["slug"], _set(O, {"id": org["id"]}, **{col: new}), lot["lot_id"], names)


LOT_COLS = [
    "origin_province",
    "origin_commune",
    "growing_area_code",
    "packing_house_code",
    "plot",
    "plot_area_ha",
    "harvest_start",
    "harvest_end",
    "quantity",
    "unit",
    "last_seq",
    "head_hash",
    "org_id",
    "product_id",
    "code",
    "lot_id",
]


def m_lot(s: Snapshot, rng: random.Random) -> Mutation:
    lot = rng.choice(s.lots)
    key = {"id": lot["id"]}
    names = {x["idx"] for x in s.entries if x["lot_id"] == lot["lot_id"]}
    col = rng.choice([*LOT_COLS, "delete", "swap"])
    if col == "delete":
        return Mutation("lot.delete", lot["lot_id"], _del(L, key), lot["lot_id"], names)
    if col == "swap":
        o = rng.choice([x for x in s.lots if x["id"] != lot["id"] and x["product_id"] == lot["product_id"]])
        f = ["origin_commune", "plot_area_ha", "quantity", "harvest_start", "plot"]
        return Mutation(
            "lot.swap_fields",
            f"{lot['lot_id']} <-> {o['lot_id']}",
            _set(L, key, **{c: o[c] for c in f}),
            lot["lot_id"],
            names,
        )
    cur = lot[col]
    new: Any
    if col == "plot":
        new = {"type": "Point", "coordinates": [108.0, 11.0]}
    elif col in ("plot_area_ha", "quantity"):
        new = (cur or 0) + rng.choice([0.5, 1, 100])
    elif col in ("harvest_start", "harvest_end"):
        new = (cur or lot["created_at"].date()) + timedelta(days=rng.choice([-1, 1, 30]))
    elif col == "last_seq":
        new = cur + rng.choice([-1, 1, 5])
    elif col == "org_id":
        new = rng.choice([o["id"] for o in s.orgs if o["id"] != cur])
    elif col == "product_id":
        others = {x["product_id"] for x in s.lots} - {cur}
        others -= {x["product_id"] for x in s.lots if x["code"] == lot["code"]}  # (product_id, code) is unique
        if not others:
            return m_lot(s, rng)
        new = rng.choice(sorted(others))
    elif col == "unit":
        new = "LBR" if cur != "LBR" else "KGM"
    elif col == "lot_id":
        new = lot["lot_id"][:-1] + ("Z" if lot["lot_id"][-1] != "Z" else "Y")
    else:
        new = _str_change(str(cur or ""), rng)
    if col == "code" and any(x["product_id"] == lot["product_id"] and x["code"] == new for x in s.lots):
        return m_lot(s, rng)  # the unique constraint refuses it
    if new == cur:
        return m_lot(s, rng)
    return Mutation(f"lot.{col}", lot["lot_id"], _set(L, key, **{col: new}), lot["lot_id"], names)


# weight: how often each generator is drawn
CLASSES: list[tuple[Callable[[Snapshot, random.Random], Mutation], int]] = [
    (m_entry_column, 30),
    (m_entry_delete, 6),
    (m_entry_swap, 6),
    (m_forge_replace, 6),
    (m_forge_append, 6),
    (m_node, 12),
    (m_head, 4),
    (m_anchor, 6),
    (m_key, 8),
    (m_lot, 16),
    (m_product, 12),
    (m_producer, 6),
    (m_v2_entry, 8),
]


def plan(s: Snapshot, n: int, seed: int) -> list[Mutation]:
    rng = random.Random(seed)
    gens = [g for g, w in CLASSES for _ in range(w)]
    return [rng.choice(gens)(s, rng) for _ in range(n)]


def run_one(built: lab.Built, m: Mutation, work: Path) -> Outcome:
    url = lab.copy(built, work / "m.db")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            m.apply(conn)
    finally:
        engine.dispose()
    report, verdict = lab.check(url, built, m.lot, work)
    ok_audit = not report.ok
    ok_verdict, detail = True, ""
    if verdict is not None:
        f = verdict.failure
        # "naming the entry": the failure carries the log index of the entry that fails (or, for a
        # deleted newest entry, the seq that is missing)
        ok_verdict = verdict.verdict == "tampered" and f is not None and (f.index is not None or f.seq is not None)
        if not ok_verdict:
            detail = f"verdict {verdict.verdict} failure {f}"
    if not ok_audit:
        detail += " audit found nothing"
    return Outcome(m.cls, m.what, ok_audit, ok_verdict, detail.strip())


def table(outcomes: list[Outcome]) -> str:
    by: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by.setdefault(o.cls, []).append(o)
    lines = [f"{'mutation class':34} {'detected':>8} / {'total':<5}  rate", "-" * 60]
    for cls in sorted(by):
        got = sum(o.detected for o in by[cls])
        lines.append(f"{cls:34} {got:>8} / {len(by[cls]):<5}  {100 * got / len(by[cls]):5.1f} %")
    got = sum(o.detected for o in outcomes)
    lines += [
        "-" * 60,
        f"{'TOTAL':34} {got:>8} / {len(outcomes):<5}  {100 * got / max(1, len(outcomes)):5.1f} %",
        "",
        "not security-relevant (excluded by design):",
    ]
    lines += [f"  {k}: {v}" for k, v in EXCLUDED.items()]
    return "\n".join(lines)


def _run_share(built: lab.Built, n: int, seed: int, share: int, shares: int, work: Path) -> list[Outcome]:
    """Run every ``shares``-th mutation of the plan, starting at ``share`` (the plan is rebuilt: same seed)."""
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for i, m in enumerate(plan(snapshot(built), n, seed)):
        if i % shares != share:
            continue
        try:
            out.append(run_one(built, m, work))
        except Exception as exc:  # a mutation that errors is reported as missed, with the error
            out.append(Outcome(m.cls, m.what, False, False, f"error {type(exc).__name__}: {exc}"[:300]))
    return out


def run_all(built: lab.Built, n: int, seed: int, work: Path, processes: int = 2) -> list[Outcome]:
    """All ``n`` mutations of the plan, on ``processes`` processes (forked; each on its own copies)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        futures = [pool.submit(_run_share, built, n, seed, k, processes, work / f"w{k}") for k in range(processes)]
        return [o for f in futures for o in f.result()]
