"""The consumer page: view model, rendering, and the headers it is served with.

The page is plain HTML with one inline stylesheet whose SHA-256 is in the Content-Security-Policy;
no script, no external resource. Rendered pages are cached like verdicts: per lot, the tree size
its verdict was computed at, newest anchor and language.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.i18n import CHAINS, TEXT, check_label, step_label
from api.services import Services
from ledger.core import codes
from ledger.core.verify import LotReport
from ledger.service import sscc_uri
from ledger.service.console import photo_state

TEMPLATES = Path(__file__).parent / "templates"


class Pages:
    """Templates, the inline CSS and its CSP hash; built once by the app factory."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), auto_reload=False
        )
        self.css = (TEMPLATES / "page.css").read_text(encoding="utf-8")
        digest = base64.b64encode(hashlib.sha256(self.css.encode()).digest()).decode()
        self.csp = (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )

    def headers(self, lang: str) -> dict[str, str]:
        return {
            "Content-Security-Policy": self.csp,
            "Content-Language": lang,
            "Vary": "Accept, Accept-Language",
            "Cache-Control": "no-cache",
        }

    def render(self, name: str, **ctx: Any) -> str:
        return self.env.get_template(name).render(css=self.css, **ctx)


def lot_view(svc: Services, lot_id: str, report: LotReport, lang: str, names: str | None = None) -> dict[str, Any]:
    """Everything the page shows about a lot, in ``lang``; ``names`` (zh, ja): the product's name in that
    language when its signed version has one."""
    t = TEXT[lang]
    lot = svc.lot_json(lot_id)
    product, producer = lot["product"], lot["producer"]
    checks = {e.seq: e for e in report.entries}
    signers = _signer_orgs(svc, {str(e["entry"]["signer"]) for e in lot["entries"]})
    timeline = []
    for e in lot["entries"]:
        ent = e["entry"]
        ev = ent["event"]
        c = checks.get(e["seq"])
        state = "unchecked" if report.verdict == "tampered" else "pending"
        if c is not None:
            state = (
                "failed" if "failed" in c.checks.values() else ("ok" if c.checks.get("anchor") == "ok" else "pending")
            )
        timeline.append(
            {
                "seq": e["seq"],
                "what": step_label(str(ev.get("bizStep")), lang),
                "when": _when(str(ev.get("eventTime", ""))),
                "when_iso": ev.get("eventTime"),
                "where": _where(ev, lot if ev.get("bizStep") == "commissioning" else None),
                "quantity": _quantity(ev),
                "note": ev.get("ocop:note"),
                "documents": [d.get("name") or d.get("type") for d in _docs(ev) if d.get("type") != "photo"],
                "photos": [
                    {"sha256": d["sha256"], "state": photo_state(svc.photos(), str(d["sha256"]))}
                    for d in _docs(ev)
                    if d.get("type") == "photo" and "sha256" in d
                ],
                "who": signers.get(str(ent["signer"]), str(ent["signer"])[:20] + "…"),
                "state": state,
                "state_text": t[f"event_{state}"],
            }
        )
    product, vouch = signed_product(product, report, lang)
    first = lot["entries"][0]["entry"]["event"] if lot["entries"] else {}
    ilmd = first.get("ilmd") if first.get("bizStep") == "commissioning" else None
    name = product["name_vi"] if lang == "vi" or not product.get("name_en") else product["name_en"]
    name_lang = lang
    if names is not None and product.get(f"name_{names}"):
        name, name_lang = product[f"name_{names}"], names
    return {
        "product_name_lang": name_lang,
        "net_content": _num(product["net_content"]["value"], product["net_content"]["unit"])
        if product.get("net_content")
        else None,
        "images": [
            {"sha256": i["sha256"], "state": photo_state(svc.photos(), str(i["sha256"]))}
            for i in product.get("images") or []
        ],
        "lot": lot,
        "vouch": vouch,
        "attested": attested_view(svc, lot_id, lang, codes.plot_id(ilmd)),
        "codes": codes_view(svc, lot_id, ilmd, lang),
        "product_name": name,
        "product": product,
        "producer": producer,
        "harvest": _dates(lot.get("harvest_start"), lot.get("harvest_end")),
        "quantity": _num(lot["quantity"], lot["unit"]) if lot.get("quantity") else None,
        "timeline": list(reversed(timeline)),
        **lineage_view(svc, lot_id, lang),
    }


def _docs(ev: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in ev.get("ocop:documents", []) if isinstance(d, dict)]


def signed_product(product: dict[str, Any], report: LotReport, lang: str) -> tuple[dict[str, Any], str | None]:
    """The product facts as signed in the log at the lot's commissioning (when the report verified them)
    and who vouches for the stars and certifications: the producer's declaration (or the operator's
    migration); attested facts come with the attestations."""
    body = report.product
    if body is None:
        return product, None
    declared = body.get("declared") or {}
    shown = {
        **product,
        "name_vi": body["names"]["vi"],
        "name_en": body["names"].get("en"),
        "name_zh": body["names"].get("zh"),
        "name_ja": body["names"].get("ja"),
        "category": body.get("category"),
        "brand": body.get("brand"),
        "net_content": body.get("net_content"),
        "images": body.get("images") or [],
        "ocop_stars": declared.get("ocop_stars"),
        "ocop_year": declared.get("ocop_year"),
        "certifications": declared.get("certifications") or [],
    }
    if not (shown["ocop_stars"] or shown["certifications"]):
        return shown, None
    return shown, TEXT[lang]["declared_by_operator" if body.get("migrated") else "declared_by_producer"]


def attested_view(svc: Services, lot_id: str, lang: str, plot: str | None = None) -> list[dict[str, str]]:
    """Each fact an authority attests about the lot, its product or its plot, and who: from the log alone."""
    t = TEXT[lang]
    found = svc.ledger.lot_attestations(lot_id, plot)
    return [
        {
            "fact": t[f"claim_{a['claim']['type']}"].format(**a["claim"]),
            "by": f"{t['attested_by']} {a['authority_name']}",
        }
        for a in found
    ]


def codes_view(svc: Services, lot_id: str, ilmd: Any, lang: str) -> list[dict[str, str]]:
    """The growing-area and packing-house codes: the signed declaration against the authorities' attestations,
    with who vouches ("attested by", "declared by the producer") or a mismatch warning (not a tampering)."""
    t = TEXT[lang]
    out = []
    for kind, fact in svc.ledger.codes_vouched(lot_id, ilmd if isinstance(ilmd, dict) else None).items():
        others = "; ".join(t["code_attests"].format(by=c["by"], code=c["code"]) for c in fact["conflicts"])
        if fact["status"] == "mismatch":
            key = "code_mismatch" if fact["declared"] is not None else "code_conflict"
            says = t[key].format(declared=fact["declared"], code=fact["code"], others=others)
        elif fact["status"] == "attested":
            says = f"{t['attested_by']} {', '.join(fact['attested_by'])}"
        else:
            says = t["code_declared"]
        term = t["growing_area" if kind == "growing_area_code" else "packing_house"]
        out.append({"term": term, "code": fact["code"], "says": says, "status": fact["status"]})
    return out


def _rating(svc: Services, lot_id: str, product: dict[str, Any], lang: str) -> dict[str, Any]:
    """The OCOP stars shown for a lot and who vouches for them, in ``lang``."""
    v = svc.ledger.stars_vouched(lot_id, product)
    t = TEXT[lang]
    text = f"{t['attested_by']} {v['by']}" if v["by"] else (t["declared_by_producer"] if v["stars"] else None)
    return {"stars": v["stars"], "text": text}


def lot_path(lot_id: str) -> str:
    """The lot's Digital Link path on this server (``/`` in a lot code sent as ``%2F``)."""
    return f"/01/{lot_id[:14]}/10/{quote(lot_id[15:], safe='')}"


def lineage_view(svc: Services, lot_id: str, lang: str) -> dict[str, Any]:
    """What the lot was made from (``made_from``) and what was made from it (``made_into``), one
    step each way, with the signed quantities; each item links to its own page."""
    near = svc.ledger.neighbours(lot_id)
    up, down, info = near["up"], near["down"], near["summaries"]

    def item(other: str, qty: Any, uom: Any, used: str | None = None) -> dict[str, Any]:
        s = info.get(other, {})
        name = s.get("product_vi") if lang == "vi" else s.get("product")
        return {
            "lot_id": other,
            "code": other[15:],
            "product": name or other[:14],
            "quantity": _num(qty, uom) if qty is not None else None,
            "used": used,
            "url": lot_path(other),
        }

    made_from = [item(e.input_lot, e.input_quantity, e.input_uom) for e in up]
    made_into = [
        item(
            e.output_lot,
            e.output_quantity,
            e.output_uom,
            _num(e.input_quantity, e.input_uom) if e.input_quantity is not None else None,
        )
        for e in down
    ]
    return {"made_from": made_from, "made_into": made_into}


_BADGE = {
    "verified": "ok",
    "pending": "pending",
    "unverifiable": "unchecked",
    "tampered": "failed",
    "not_found": "unchecked",
}


def shipment_view(svc: Services, data: dict[str, Any], reports: dict[str, LotReport], lang: str) -> dict[str, Any]:
    """Everything the shipment page shows: the shipment and each lot in it with its verdict."""
    t = TEXT[lang]
    lots = []
    destination = data.get("destination")
    uri = sscc_uri(str(data["sscc"]))
    for m in data["lots"]:
        lot_id = str(m["lot"])
        report = reports.get(lot_id)
        verdict = report.verdict if report is not None else "not_found"
        lot = svc.lot_json(lot_id) if verdict != "not_found" else None
        item: dict[str, Any] = {
            "lot_id": lot_id,
            "code": lot_id[15:],
            "url": lot_path(lot_id),
            "verdict": verdict,
            "badge": _BADGE.get(verdict, "unchecked"),
            "verdict_text": t[verdict],
            "quantity": _num(m["quantity"], m.get("uom")) if m.get("quantity") is not None else None,
        }
        if report is not None and report.failure is not None:
            f = report.failure
            item["failure"] = (
                f"{t['failed_at']} #{f.seq if f.seq is not None else '–'} · {t['check']}: {check_label(f.check, lang)}"
            )
        if lot is not None:
            product, producer = lot["product"], lot["producer"]
            shown, _ = signed_product(product, report, lang) if report is not None else (product, None)
            rating = _rating(svc, lot_id, shown, lang)
            item |= {
                "product": shown["name_vi"] if lang == "vi" or not shown.get("name_en") else shown["name_en"],
                "stars": rating["stars"],
                "vouch": rating["text"],
                "producer": producer["name"],
                "province": lot.get("origin_province") or producer.get("province"),
            }
            if not destination:
                for e in reversed(lot["entries"]):
                    ev = e["entry"]["event"]
                    if ev.get("bizStep") == "shipping" and uri in ev.get("epcList", []):
                        dests = [d.get("destination") for d in ev.get("destinationList", []) if isinstance(d, dict)]
                        destination = ", ".join(str(d) for d in dests if d) or None
                        break
        lots.append(item)
    return {
        "sscc": data["sscc"],
        "kind": data.get("description") or t["ship_kind_default"],
        "owner": (data.get("owner") or {}).get("name"),
        "destination": destination,
        "lots": lots,
    }


def verdict_view(svc: Services, report: LotReport | None, verdict: str, lang: str) -> dict[str, Any]:
    t = TEXT[lang]
    out: dict[str, Any] = {"verdict": verdict, "title": t[verdict], "text": t[f"{verdict}_long"]}
    if report is not None and report.failure is not None:
        f = report.failure
        out["failure"] = (
            f"{t['failed_at']} #{f.seq if f.seq is not None else '–'} · {t['check']}: {check_label(f.check, lang)}"
        )
        out["failure_detail"] = f.message
    anchor = (report.anchor if report else None) or {}
    if verdict in ("verified", "pending", "tampered") and anchor.get("chain_id") and anchor.get("tree_size"):
        tx = anchor.get("tx_hash")
        out["anchor"] = {
            "chain": CHAINS.get(int(anchor["chain_id"]), f"chain {anchor['chain_id']}"),
            "chain_id": anchor["chain_id"],
            "block": anchor.get("block_number"),
            "tx": tx,
            "tx_short": f"{tx[:10]}…{tx[-8:]}" if tx else None,
            "tx_url": anchor.get("explorer_tx_url") or svc.explorer_tx(tx),
            "contract": anchor.get("contract"),
            "tree_size": anchor.get("tree_size"),
        }
    return out


def _signer_orgs(svc: Services, kids: set[str]) -> dict[str, str]:
    return svc.ledger.signer_names(kids)


def _when(iso: str) -> str:
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return t.strftime("%d/%m/%Y %H:%M")


def _where(ev: dict[str, Any], lot: dict[str, Any] | None) -> str | None:
    for key in ("bizLocation", "readPoint"):
        loc = ev.get(key)
        if isinstance(loc, dict):
            parts = [loc.get("name"), loc.get("commune"), loc.get("province")]
            text = ", ".join(str(p) for p in parts if p)
            if text:
                return text
    if lot:
        parts = [lot.get("origin_commune"), lot.get("origin_province")]
        return ", ".join(str(p) for p in parts if p) or None
    return None


_UNITS = {
    "KGM": "kg", "TNE": "t", "LTR": "l", "H87": "", "GRM": "g", "MGM": "mg", "MLT": "ml", "CLT": "cl", "DLT": "dl",
}  # fmt: skip


def _num(q: Any, uom: Any) -> str:
    value = f"{float(q):,.3f}".rstrip("0").rstrip(".").replace(",", " ")
    unit = _UNITS.get(str(uom), str(uom))
    return f"{value} {unit}".strip()


def _quantity(ev: dict[str, Any]) -> str | None:
    for key in ("quantityList", "outputQuantityList", "childQuantityList"):
        items = ev.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict) and "quantity" in items[0]:
            return _num(items[0]["quantity"], items[0].get("uom"))
    return None


def _dates(a: Any, b: Any) -> str | None:
    def fmt(d: Any) -> str:
        try:
            return datetime.fromisoformat(str(d)).strftime("%d/%m/%Y")
        except ValueError:
            return str(d)

    if a and b and a != b:
        return f"{fmt(a)} – {fmt(b)}"
    return fmt(a or b) if (a or b) else None
