"""FDA FSMA 204 (21 CFR 1 subpart S) electronic sortable spreadsheet: CTEs and their KDEs.

One row per Critical Tracking Event of the lots asked for (a lot or a shipment, with the lots
they were made from, or every lot with an event in a date range):

- Harvesting: an ``ocop:harvesting`` event, or else the signed harvest period and growing area
  of a raw lot's commissioning event;
- Cooling (``ocop:cooling``), Initial Packing (``packing`` of the lot itself), Shipping
  (``shipping``/``departing``), Receiving (``receiving``/``arriving``/``accepting``),
  Transformation (a TransformationEvent, with its input lot codes and quantities).

Key Data Elements per row: the traceability lot code (GTIN + lot), its source (the producer),
product description, quantity and unit, where (location description and id), when (date,
time with offset), the previous source / next recipient, input lot codes, the reference
documents (business transactions and ``ocop:documents``), and the ledger's log index and leaf
hash so each row can be proven. Rows are sorted by date, time and lot code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, select

from ledger.errors import InputError
from ledger.exports import data
from ledger.exports.sanitize import is_number, sheet_cell
from ledger.store.models import LogEntry

_entry = LogEntry.__table__  # type: ignore[attr-defined]
COLUMNS = [
    "Traceability Lot Code",
    "Traceability Lot Code Source",
    "Product Description",
    "Critical Tracking Event",
    "Event Date",
    "Event Time",
    "Quantity",
    "Unit of Measure",
    "Location Description",
    "Location Identifier",
    "Immediate Previous Source",
    "Immediate Subsequent Recipient",
    "Input Traceability Lot Codes",
    "Growing Area / Field",
    "Reference Document Type",
    "Reference Document Number",
    "Ledger Log Index",
    "Ledger Entry Hash",
    "Missing KDEs",
]
_TLC, _SRC, _DESC, _QTY, _UOM = (
    "Traceability Lot Code",
    "Traceability Lot Code Source",
    "Product Description",
    "Quantity",
    "Unit of Measure",
)
_WHERE, _DATE, _REF = "Location Description", "Event Date", ("Reference Document Type", "Reference Document Number")
# The KDEs 21 CFR 1.1325-1.1350 require for each CTE, as columns of this sheet. Shipping: the
# "Location Description" is the ship-from location, "Immediate Subsequent Recipient" the ship-to;
# receiving: "Location Description" is where it was received, "Immediate Previous Source" the ship-from.
REQUIRED_KDES: dict[str, tuple[str, ...]] = {
    "Harvesting": (_DESC, _QTY, _UOM, _WHERE, "Growing Area / Field", _DATE, "Immediate Subsequent Recipient", *_REF),
    "Cooling": (_DESC, _QTY, _UOM, _WHERE, _DATE, *_REF),
    "Initial Packing": (_TLC, _DESC, _QTY, _UOM, _WHERE, _DATE, _SRC, *_REF),
    "Shipping": (_TLC, _QTY, _UOM, _DESC, "Immediate Subsequent Recipient", _WHERE, _DATE, _SRC, *_REF),
    "Receiving": (_TLC, _QTY, _UOM, _DESC, "Immediate Previous Source", _WHERE, _DATE, _SRC, *_REF),
    "Transformation": ("Input Traceability Lot Codes", _TLC, _QTY, _UOM, _DESC, _WHERE, _DATE, _SRC, *_REF),
}
_CTE = {
    "ocop:harvesting": "Harvesting",
    "ocop:cooling": "Cooling",
    "shipping": "Shipping",
    "departing": "Shipping",
    "receiving": "Receiving",
    "arriving": "Receiving",
    "accepting": "Receiving",
}


def _cte(lot: data.LotEvents, ev: dict[str, Any]) -> str | None:
    if ev["type"] == "TransformationEvent":
        return "Transformation"
    if ev["type"] == "ObjectEvent" and ev["bizStep"] == "packing":  # only a raw commodity is initially packed
        made = any(e["type"] == "TransformationEvent" for _, e in lot.entries)
        return "Transformation" if made else "Initial Packing"
    if ev["type"] == "AggregationEvent":
        return None
    return _CTE.get(ev["bizStep"])


def _quantity(lot: data.LotEvents, ev: dict[str, Any]) -> tuple[Any, Any]:
    for key in ("quantityList", "childQuantityList", "outputQuantityList"):
        for q in ev.get(key, []):
            if q.get("lot") in (lot.lot_id, None):
                return q.get("quantity"), q.get("uom")
    return lot.quantity, lot.unit


def _where(loc: dict[str, Any] | None) -> tuple[str, str]:
    if not loc:
        return "", ""
    parts = [loc.get(k) for k in ("name", "commune", "province") if loc.get(k)]
    return ", ".join(str(p) for p in parts), str(loc.get("id", ""))


def _refs(ev: dict[str, Any]) -> tuple[str, str]:
    types, numbers = [], []
    for b in ev.get("bizTransactionList", []):
        types.append(str(b.get("type")))
        numbers.append(str(b.get("bizTransaction")))
    for d in ev.get("ocop:documents", []):
        types.append(str(d.get("type")))
        numbers.append(str(d.get("name") or d.get("uri") or f"sha256:{d.get('sha256')}"))
    return "; ".join(types), "; ".join(numbers)


def _parties(ev: dict[str, Any], key: str, item: str) -> str:
    return "; ".join(str(s.get(item)) for s in ev.get(key, []))


def _input(q: dict[str, Any]) -> str:
    qty = q.get("quantity")
    amount = f"{qty:g}" if is_number(qty) else str(qty)
    return f"{q.get('lot')} ({amount} {q.get('uom', '')})".strip()


def _origin(lot: data.LotEvents) -> str:
    o = lot.origin
    return ", ".join(str(o[k]) for k in ("origin_commune", "origin_province") if o.get(k))


def _row(lot: data.LotEvents, r: Any, ev: dict[str, Any], cte: str) -> dict[str, Any]:
    when = str(ev["eventTime"])
    qty, uom = _quantity(lot, ev)
    where, where_id = _where(ev.get("readPoint") or ev.get("bizLocation"))
    if cte == "Harvesting" and not where:
        where = _origin(lot)
    ref_type, ref_no = _refs(ev)
    inputs = [_input(q) for q in ev.get("inputQuantityList", [])]
    return {
        "Traceability Lot Code": lot.lot_id,
        "Traceability Lot Code Source": f"{lot.producer}"
        + (f", {lot.producer_province}" if lot.producer_province else ""),
        "Product Description": lot.product if lot.product_vi == lot.product else f"{lot.product} ({lot.product_vi})",
        "Critical Tracking Event": cte,
        "Event Date": when[:10],
        "Event Time": when[11:],
        "Quantity": qty,
        "Unit of Measure": uom,
        "Location Description": where,
        "Location Identifier": where_id,
        "Immediate Previous Source": _parties(ev, "sourceList", "source"),
        "Immediate Subsequent Recipient": _parties(ev, "destinationList", "destination"),
        "Input Traceability Lot Codes": "; ".join(inputs),
        "Growing Area / Field": lot.origin.get("growing_area_code") or "" if cte == "Harvesting" else "",
        "Reference Document Type": ref_type,
        "Reference Document Number": ref_no,
        "Ledger Log Index": int(r.idx),
        "Ledger Entry Hash": bytes(r.leaf_hash).hex(),
    }


def missing_kdes(row: dict[str, Any]) -> list[str]:
    """The KDEs this row's CTE requires that it lacks (empty cells)."""
    required = REQUIRED_KDES.get(str(row.get("Critical Tracking Event")), ())
    return [k for k in required if row.get(k) is None or str(row.get(k)).strip() == ""]


def _marked(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"Missing KDEs": "; ".join(missing_kdes(row))}


def _harvest_from_commissioning(lot: data.LotEvents, r: Any, ev: dict[str, Any]) -> dict[str, Any] | None:
    o = lot.origin
    start, end = o.get("harvest_start"), o.get("harvest_end")
    if start is None and end is None:
        return None
    row = _row(lot, r, ev, "Harvesting")
    period = f"{start}" if end in (None, start) else f"{start}..{end}"
    row["Event Date"] = str(end or start)
    row["Event Time"] = ""
    row["Location Description"] = _origin(lot)
    row["Location Identifier"] = ""
    row["Reference Document Type"] = "harvest period" + (
        f"; {row['Reference Document Type']}" if row["Reference Document Type"] else ""
    )
    row["Reference Document Number"] = period + (
        f"; {row['Reference Document Number']}" if row["Reference Document Number"] else ""
    )
    return row


def lot_rows(lot: data.LotEvents) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    harvested = any(ev["bizStep"] == "ocop:harvesting" for _, ev in lot.entries)
    transformed = any(ev["type"] == "TransformationEvent" for _, ev in lot.entries)
    for r, ev in lot.entries:
        if ev["bizStep"] == "commissioning" and not harvested and not transformed:
            h = _harvest_from_commissioning(lot, r, ev)
            if h:
                rows.append(h)
            continue
        cte = _cte(lot, ev)
        if cte:
            rows.append(_row(lot, r, ev, cte))
    return rows


def _sort(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(
        rows, key=lambda x: (x["Event Date"], x["Event Time"], x["Traceability Lot Code"], x["Ledger Log Index"])
    )


def rows_for(
    conn: Connection,
    *,
    lot: str | None = None,
    sscc: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[dict[str, Any]]:
    """The CTE rows for a lot or a shipment (with upstream lots), or for a date range."""
    if lot is None and sscc is None:
        if start is None or end is None:
            raise InputError("give a lot, a shipment (SSCC) or a date range (start and end)")
        if end < start:
            raise InputError(f"date range is reversed: expected start <= end, got {start} > {end}", field="end")
        lots = _lots_in_range(conn, start, end)
    else:
        lots = data.lots_for(conn, lot=lot, sscc=sscc)
    rows = [row for le in data.load_lots(conn, lots) for row in lot_rows(le)]
    if start is not None:
        rows = [r for r in rows if str(start) <= r["Event Date"]]
    if end is not None:
        rows = [r for r in rows if r["Event Date"] <= str(end)]
    return _sort([_marked(r) for r in rows])


def missing_ctes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Receiving CTEs a processor should have: an input lot shipped by another source with no Receiving row."""
    received = {r[_TLC] for r in rows if r["Critical Tracking Event"] == "Receiving"}
    shown = {r[_TLC]: r[_SRC] for r in rows}
    out = []
    for r in rows:
        if r["Critical Tracking Event"] != "Transformation":
            continue
        for part in filter(None, str(r["Input Traceability Lot Codes"]).split("; ")):
            lot = part.rsplit(" (", 1)[0]
            if lot in shown and lot not in received and shown[lot] != r[_SRC]:
                out.append({"lot": lot, "cte": "Receiving", "at": r[_SRC], "before": r[_DATE]})
    return out


def gaps(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything missing: one item per row with missing KDEs and per missing receiving CTE."""
    out: list[dict[str, Any]] = [
        {"lot": r[_TLC], "cte": r["Critical Tracking Event"], "date": r[_DATE], "missing": missing_kdes(r)}
        for r in rows
        if missing_kdes(r)
    ]
    out += [
        {"lot": g["lot"], "cte": "Receiving", "date": g["before"], "missing": [f"the Receiving CTE at {g['at']}"]}
        for g in missing_ctes(rows)
    ]
    return out


def check_complete(rows: list[dict[str, Any]]) -> None:
    """``--strict``: refuse (``InputError`` listing them) when any KDE or receiving CTE is missing."""
    found = gaps(rows)
    if found:
        first = found[0]
        raise InputError(
            f"FSMA 204 export refused: {len(found)} CTE(s) lack required KDEs; first: {first['lot']} "
            f"{first['cte']} {first['date']}: missing {', '.join(first['missing'])}",
            field="strict",
            details=[
                {"field": f"{g['lot']} {g['cte']} {g['date']}", "message": ", ".join(g["missing"])} for g in found
            ],
        )


def _day(d: date, days: int) -> str | None:
    """``d`` moved by ``days`` as ISO text; None past either end of the calendar (no bound there)."""
    try:
        return (d + timedelta(days=days)).isoformat()
    except OverflowError:
        return None


def _lots_in_range(conn: Connection, start: date, end: date) -> list[str]:
    # event_time is the time as recorded, with its own offset: look one day wider on each side.
    # At the calendar's ends there is no bound (a sentinel text would sort by the database's collation)
    lo, hi = _day(start, -1), _day(end, 2)
    q = select(_entry.c.lot_id).distinct()
    if lo is not None:
        q = q.where(_entry.c.event_time >= lo)
    if hi is not None:
        q = q.where(_entry.c.event_time < hi)
    return sorted(r[0] for r in conn.execute(q))


def _cells(row: dict[str, Any]) -> list[Any]:
    """The row's values in column order, each made safe for a spreadsheet (``sanitize.sheet_cell``)."""
    return [sheet_cell(row.get(k)) for k in COLUMNS]


def to_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a byte-order mark (so spreadsheet programs read Vietnamese correctly)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    w.writerows(_cells(row) for row in rows)
    return buf.getvalue().encode("utf-8-sig")


def to_xlsx(rows: Iterable[dict[str, Any]], title: str = "FSMA 204 traceability") -> bytes:
    """An XLSX workbook: the CTE sheet (bold frozen header, auto-filter, sized columns, missing KDE
    cells filled yellow) and a "Missing KDEs" summary sheet."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.styles import Font, PatternFill  # type: ignore[import-untyped]

    rows = list(rows)
    missing = PatternFill(fill_type="solid", start_color=MISSING_FILL, end_color=MISSING_FILL)

    wb = Workbook()
    ws = wb.active
    ws.title = "CTEs"
    ws.append(COLUMNS)
    for c in ws[1]:
        c.font = Font(bold=True)
    n = 1
    for row in rows:
        n += 1
        for col, value in enumerate(_cells(row), start=1):
            cell = ws.cell(row=n, column=col, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # text is never a formula, whatever it starts with
        for name in missing_kdes(row):
            ws.cell(row=n, column=COLUMNS.index(name) + 1).fill = missing
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{ws.cell(row=1, column=len(COLUMNS)).column_letter}{n}"
    for i, name in enumerate(COLUMNS, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(14, min(48, len(name) + 4))
    _summary_sheet(wb.create_sheet("Missing KDEs"), rows, Font)
    wb.properties.title = title
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


MISSING_FILL = "FFFF00"
SUMMARY_COLUMNS = ["Traceability Lot Code", "Critical Tracking Event", "Event Date", "Missing KDEs"]


def _summary_sheet(ws: Any, rows: list[dict[str, Any]], font: Any) -> None:
    ws.append(SUMMARY_COLUMNS)
    for c in ws[1]:
        c.font = font(bold=True)
    for g in gaps(rows):
        ws.append(
            [sheet_cell(g["lot"]), sheet_cell(g["cte"]), sheet_cell(g["date"]), sheet_cell("; ".join(g["missing"]))]
        )
    if ws.max_row == 1:
        ws.append(["", "", "", "none: every CTE has its required KDEs"])
    ws.freeze_panes = "A2"
