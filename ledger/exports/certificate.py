"""Provenance certificate (PDF, Vietnamese and English) for a lot or a shipment, for buyers abroad.

It shows the product, producer, OCOP stars, origin, the timeline of signed events, the lots it
was made from, the verification verdict, the anchor on chain (chain id, contract, transaction,
block, tree size and root) and a QR code of the GS1 Digital Link to check it online.

Text is set in DejaVu Sans (Vietnamese glyphs): Debian's ``fonts-dejavu-core`` package, or a
TTF passed as ``font_path``. Rendering is ReportLab; nothing else is needed.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger.errors import ConfigError
from ledger.exports.pdf_fonts import fix_to_unicode, shown
from ledger.exports.sanitize import pdf_text

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
)
STEPS = {
    "commissioning": ("Tạo lô", "Lot created"),
    "ocop:harvesting": ("Thu hoạch", "Harvesting"),
    "ocop:cooling": ("Làm lạnh", "Cooling"),
    "ocop:drying": ("Sấy", "Drying"),
    "ocop:fermenting": ("Lên men", "Fermenting"),
    "ocop:roasting": ("Rang", "Roasting"),
    "ocop:grinding": ("Xay", "Grinding"),
    "ocop:freezing": ("Cấp đông", "Freezing"),
    "packing": ("Đóng gói", "Packing"),
    "unpacking": ("Dỡ kiện", "Unpacking"),
    "inspecting": ("Kiểm định", "Inspection"),
    "sampling": ("Lấy mẫu", "Sampling"),
    "storing": ("Lưu kho", "Storage"),
    "loading": ("Xếp hàng", "Loading"),
    "shipping": ("Xuất hàng", "Shipping"),
    "receiving": ("Nhận hàng", "Receiving"),
    "transporting": ("Vận chuyển", "Transport"),
}
MAX_TEXT = 300
"""Longest text (characters) a certificate shows in one paragraph; longer text ends with "…"."""
VERDICTS = {
    "verified": ("ĐÃ XÁC MINH", "VERIFIED"),
    "pending": ("HỢP LỆ, CHỜ NEO", "VALID, ANCHOR PENDING"),
    "tampered": ("BỊ SỬA ĐỔI", "TAMPERED"),
    "not_found": ("KHÔNG TÌM THẤY", "NOT FOUND"),
    "unverifiable": ("KHÔNG KIỂM CHỨNG ĐƯỢC", "UNVERIFIABLE"),
}


@dataclass
class Certificate:
    """Everything a certificate shows, as plain values."""

    subject: str  # "lot 0893….CODE" or "shipment SSCC …"
    url: str
    products: list[dict[str, Any]]  # name_vi, name_en, stars, year, producer, origin, lot
    timeline: list[dict[str, Any]]  # time, step, lot, location, index
    verdict: str
    verdict_detail: str = ""
    anchor: dict[str, Any] | None = None
    inputs: list[str] = field(default_factory=list)
    issued: datetime = field(default_factory=lambda: datetime.now(UTC))
    log_key_id: str | None = None  # the operator's log key (trust roots, /.well-known/ocop-ledger.json)


def find_font(font_path: Path | None = None) -> Path:
    for p in ([font_path] if font_path else []) + list(FONT_CANDIDATES):
        if p is not None and p.is_file():
            return p
    raise ConfigError(
        "no TTF font with Vietnamese glyphs found: install Debian's fonts-dejavu-core "
        f"(expected {FONT_CANDIDATES[0]}) or pass font_path"
    )


def _register(font_path: Path | None) -> tuple[str, str]:
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
    from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]

    fix_to_unicode()
    regular = find_font(font_path)
    bold = regular.with_name(regular.stem + "-Bold" + regular.suffix)
    if "OcopSans" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont("OcopSans", str(regular)))
        pdfmetrics.registerFont(TTFont("OcopSans-Bold", str(bold if bold.is_file() else regular)))
    return "OcopSans", "OcopSans-Bold"


def step_label(step: str) -> str:
    vi, en = STEPS.get(step, (step, step))
    return f"{vi} / {en}"


def render(cert: Certificate, font_path: Path | None = None) -> bytes:
    """The certificate as PDF bytes (A4)."""
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.platypus import Paragraph, Spacer  # type: ignore[import-untyped]

    font, bold = _register(font_path)
    body = ParagraphStyle("b", fontName=font, fontSize=9, leading=12)
    head = ParagraphStyle("h", fontName=bold, fontSize=16, leading=20, spaceAfter=4)
    sub = ParagraphStyle("s", fontName=bold, fontSize=11, leading=14, spaceBefore=8, spaceAfter=3)

    def m(text: Any) -> str:  # any text as paragraph markup that shows it literally
        return pdf_text(shown(_bounded(text), font))

    def p(text: str, st: Any = body) -> Any:
        return Paragraph(m(text), st)

    story: list[Any] = [
        p("GIẤY CHỨNG NHẬN NGUỒN GỐC / CERTIFICATE OF PROVENANCE", head),
        p(f"{cert.subject}  ·  Cấp ngày / Issued {cert.issued:%Y-%m-%d %H:%M} UTC"),
    ]
    story += _verdict_part(cert, p, head)
    story += _products_part(cert, p, sub, m, body)
    story += _timeline_part(cert, p, sub)
    story.append(p("Neo trên blockchain / Blockchain anchor", sub))
    story.append(p(_anchor_text(cert.anchor)))
    story.append(p(_trust_text(cert)))
    story += [
        Spacer(1, 6),
        p(
            "Mỗi sự kiện được ký Ed25519, liên kết chuỗi băm và ghi vào nhật ký Merkle công khai (RFC 9162). "
            "Each event is Ed25519-signed, hash-chained and logged in a public Merkle log (RFC 9162)."
        ),
    ]
    return _pdf(story, cert.subject)


Para = Callable[..., Any]
"""``p(text, style=body)``: a paragraph of escaped text, as ``render`` builds it."""


def _verdict_part(cert: Certificate, p: Para, head: Any) -> list[Any]:
    """The verdict in its colour, the detail and the link, beside the QR code of the link."""
    from reportlab.graphics.barcode.qr import QrCodeWidget  # type: ignore[import-untyped]
    from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import Table

    vi, en = VERDICTS.get(cert.verdict, (cert.verdict, cert.verdict))
    color = colors.HexColor(
        "#1b7f3b"
        if cert.verdict == "verified"
        else "#b26a00"
        if cert.verdict in ("pending", "unverifiable")
        else "#b00020"
    )
    verdict_style = ParagraphStyle("v", parent=head, textColor=color, fontSize=14)
    qr = QrCodeWidget(cert.url)
    x0, y0, x1, y1 = qr.getBounds()
    size = 32 * mm
    d = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    d.add(qr)
    left = [
        p(f"Kết quả kiểm tra / Verdict: {vi} / {en}", verdict_style),
        p(cert.verdict_detail),
        p(f"Kiểm tra trực tuyến / Check online: {cert.url}"),
    ]
    return [Table([[left, d]], colWidths=[140 * mm, 36 * mm], style=[("VALIGN", (0, 0), (-1, -1), "TOP")])]


def _products_part(cert: Certificate, p: Para, sub: Any, m: Callable[[Any], str], body: Any) -> list[Any]:
    """Each product with its producer, OCOP stars and origin; then the input lots, if any.

    ``m`` turns any text into literal paragraph markup; the product's name is bold around it."""
    from reportlab.platypus import Paragraph

    story: list[Any] = [p("Sản phẩm / Product", sub)]
    for prod in cert.products:
        stars = (
            f"{'★' * int(prod['stars'])} OCOP {prod['stars']} sao / stars ({prod.get('year')}), {_vouch(prod)}"
            if prod.get("stars")
            else "OCOP: —"
        )
        story += [
            Paragraph(
                f"<b>{m(prod['name_vi'])}</b> / {m(prod.get('name_en') or '')} — lô / lot {m(prod['lot'])}", body
            ),
            p(f"Nhà sản xuất / Producer: {prod['producer']}  ·  {stars}"),
            *(
                [
                    p(
                        f"Thương hiệu / Brand: {prod.get('brand') or '—'}  ·  Khối lượng tịnh / Net content: "
                        f"{prod.get('net_content') or '—'}"
                    )
                ]
                if prod.get("brand") or prod.get("net_content")
                else []
            ),  # fmt: skip
            p(f"Xuất xứ / Origin: {prod.get('origin') or '—'}"),
            *(p(f"Mã số / Code: {line}") for line in prod.get("codes", [])),
        ]
    if cert.inputs:
        story += [p("Nguyên liệu từ các lô / Made from lots", sub), p(", ".join(cert.inputs))]
    return story


def _timeline_part(cert: Certificate, p: Para, sub: Any) -> list[Any]:
    """The timeline as a table: time, step, lot, location, log index."""
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import Table, TableStyle

    rows = [[p("Thời gian / Time"), p("Bước / Step"), p("Lô / Lot"), p("Địa điểm / Location"), p("#")]]
    for t in cert.timeline:
        rows.append(
            [p(t["time"]), p(step_label(t["step"])), p(t["lot"]), p(t.get("location") or ""), p(str(t["index"]))]
        )
    tbl = Table(rows, colWidths=[28 * mm, 32 * mm, 54 * mm, 50 * mm, 14 * mm], repeatRows=1)
    tbl.setStyle(
        TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke)])
    )
    return [p("Hành trình / Timeline", sub), tbl]


def _pdf(story: list[Any], subject: str) -> bytes:
    """The story laid out on A4 pages."""
    from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=16 * mm,
        rightMargin=16 * mm,
        topMargin=14 * mm,
        bottomMargin=14 * mm,
        title=f"OCOP provenance certificate — {subject}",
        author="OCOP Ledger",
    )
    doc.build(story)
    return buf.getvalue()


def _bounded(text: Any) -> str:
    """At most ``MAX_TEXT`` characters: a table row must fit on one page (ReportLab cannot split it)."""
    s = str(text)
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT - 1] + "…"


def _trust_text(cert: Certificate) -> str:
    """Which roots this certificate's verdict trusts: the operator's published chain, contract and log key."""
    a = cert.anchor or {}
    return (
        f"Gốc tin cậy / Trusted roots (/.well-known/ocop-ledger.json): chain id {a.get('chain_id', '–')} · "
        f"contract {a.get('contract', '–')} · log key {cert.log_key_id or '–'}"
    )


def _anchor_text(anchor: dict[str, Any] | None) -> str:
    if not anchor:
        return "Chưa neo / Not anchored yet: the newest entries wait for the next anchor."
    return (
        f"Chuỗi / Chain id {anchor.get('chain_id')} · Hợp đồng / Contract {anchor.get('contract')} · "
        f"Giao dịch / Transaction {anchor.get('tx_hash')} · Khối / Block {anchor.get('block_number')} · "
        f"Kích thước cây / Tree size {anchor.get('tree_size')} · Gốc / Root {anchor.get('root')}"
    )


def timeline(lots: Sequence[Any]) -> list[dict[str, Any]]:
    """The events of the given ``data.LotEvents`` as timeline rows, ordered by event time."""
    out = []
    for lot in lots:
        for r, ev in lot.entries:
            loc = ev.get("readPoint") or ev.get("bizLocation") or {}
            out.append(
                {
                    "time": str(ev["eventTime"])[:16].replace("T", " "),
                    "sort": _instant(ev["eventTime"]),
                    "step": ev["bizStep"],
                    "lot": lot.lot_id,
                    "location": ", ".join(str(loc[k]) for k in ("name", "province") if loc.get(k)),
                    "index": int(r.idx),
                }
            )
    return sorted(out, key=lambda t: (t["sort"], t["index"]))


def _instant(value: Any) -> float:
    """Seconds from 0001-01-01 UTC (negative before it), to order events; unreadable times sort first."""
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return -math.inf
    offset = t.utcoffset() or timedelta(0)
    return (t.replace(tzinfo=None) - datetime.min).total_seconds() - offset.total_seconds()


def _vouch(prod: Mapping[str, Any]) -> str:
    """Who vouches for the OCOP rating: an authority's attestation, or the producer's own declaration."""
    by = prod.get("stars_by")
    if by:
        return f"chứng thực bởi / attested by {by}"
    return "do nhà sản xuất tự công bố / declared by the producer"


# --- building a certificate from the ledger ----------------------------------------------


def _product(lot: Any, signed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A product line: from the product's signed version in force at the lot's commissioning when the
    verification gave one (``LotReport.product``), else the row (an unverified ledger)."""
    o = lot.origin
    origin = ", ".join(str(o[k]) for k in ("origin_commune", "origin_province") if o.get(k))
    if o.get("harvest_start"):
        origin += f"; thu hoạch / harvest {o['harvest_start']}..{o.get('harvest_end') or ''}"
    out = {
        "name_vi": lot.product_vi,
        "name_en": lot.product_en,
        "stars": lot.ocop_stars,
        "year": lot.ocop_year,
        "producer": lot.producer,
        "origin": origin or lot.producer_province,
        "lot": lot.lot_id,
        "brand": None,
        "net_content": None,
    }
    if signed:
        net = signed.get("net_content")
        out |= {
            "name_vi": signed["names"]["vi"],
            "name_en": signed["names"].get("en"),
            "stars": (signed.get("declared") or {}).get("ocop_stars"),
            "year": (signed.get("declared") or {}).get("ocop_year"),
            "brand": signed.get("brand"),
            "net_content": f"{net['value']} {net['unit']}" if net else None,
        }
    return out


def _codes(found: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The codes line: each code with who vouches for it, or the mismatch warning (``ledger.core.codes``)."""
    from ledger.core import codes

    names = {
        "growing_area_code": "mã vùng trồng / growing area",
        "packing_house_code": "mã cơ sở đóng gói / packing house",
    }
    parts = []
    for kind, fact in found.items():
        if fact["status"] == "attested":
            who = f"chứng thực bởi / attested by {', '.join(fact['attested_by'])}"
        elif fact["status"] == "declared":
            who = "do nhà sản xuất công bố / declared by the producer"
        else:
            who = "CẢNH BÁO / WARNING: " + codes.mismatch_text(kind, fact)
        parts.append(f"{names[kind]} {fact['code']}: {who}")
    return {"codes": parts, "code_status": {k: f["status"] for k, f in found.items()}}


def _declared(prod: Mapping[str, Any]) -> dict[str, Any]:
    return {"ocop_stars": prod.get("stars"), "ocop_year": prod.get("year")}


def _ilmd(lot: Any) -> dict[str, Any]:
    """The code fields of the lot's signed commissioning ``ilmd`` (as ``ledger.core.codes`` reads them)."""
    o = {} if lot is None else lot.origin
    return {"ocop:growingAreaCode": o.get("growing_area_code"), "ocop:packingHouseCode": o.get("packing_house_code")}


def _stars(v: Mapping[str, Any]) -> dict[str, Any]:
    return {"stars": v["stars"], "year": v["year"], "stars_by": v["by"]}


def _verdict(reports: Sequence[Any]) -> tuple[str, str]:
    verdicts = [r.verdict for r in reports]
    for v in ("tampered", "not_found", "unverifiable", "pending"):
        bad = [r for r in reports if r.verdict == v]
        if bad:
            f = bad[0].failure
            why = f" — {f.check} at log index {f.index}: {f.message}" if f else ""
            return v, f"{len(bad)}/{len(verdicts)} lot(s) {v}: {bad[0].lot}{why}"
    return "verified", f"{len(verdicts)} lot(s): every event signed, chained, included and anchored"


def build(
    ledger: Any,
    *,
    base_url: str,
    lot: str | None = None,
    sscc: str | None = None,
    anchor_check: Any = None,
    now: datetime | None = None,
) -> Certificate:
    """Gather a lot's (or shipment's) certificate from the ledger; verification runs here."""
    from ledger import attestations
    from ledger.core import gs1
    from ledger.exports import data
    from ledger.store.anchors import covering_anchor
    from ledger.store.db import read_tx

    with read_tx(ledger.engine) as conn:
        roots = data.lots_for(conn, lot=lot, sscc=sscc, upstream=False)
        everything = data.lots_for(conn, lot=lot, sscc=sscc, upstream=True)
        lots = data.load_lots(conn, everything)
        by_lot = {le.lot_id: le for le in lots}
        last = max((int(r.idx) for le in lots for r, _ in le.entries), default=0)
        anchor = covering_anchor(conn, last)
    reports = [ledger.verify_lot(x, anchor_check) for x in everything]
    signed = {r.lot: r.product for r in reports}  # the product version in force at each lot's commissioning
    shown = {x: _product(by_lot[x], signed.get(x)) for x in roots}
    with read_tx(ledger.engine) as conn:
        vouched = {x: attestations.stars_vouched(conn, x, _declared(shown[x])) for x in roots}
        coded = {x: attestations.codes_vouched(conn, x, _ilmd(by_lot.get(x))) for x in roots}
    verdict, detail = _verdict(reports)
    if lot is not None:
        gtin, code = gs1.split_lot_id(lot)
        subject, url = f"Lô / Lot {lot}", gs1.digital_link(base_url, gtin, code)
    else:
        subject, url = f"Lô hàng / Shipment SSCC {sscc}", gs1.sscc_link(base_url, str(sscc))
    return Certificate(
        subject=subject,
        url=url,
        products=[shown[x] | _stars(vouched[x]) | _codes(coded[x]) for x in roots],
        timeline=timeline(lots),
        verdict=verdict,
        verdict_detail=detail,
        anchor=anchor,
        inputs=[x for x in everything if x not in roots],
        issued=now or datetime.now(UTC),
        log_key_id=ledger.trust_roots()["key_id"] if hasattr(ledger, "trust_roots") else None,
    )
