"""CSV import for cooperatives: one row per event, validated whole, stored all or nothing.

The template is ``docs/import-template.csv`` and its columns are documented in
``docs/import.md``. Every row is checked first (shape, dates, units, GS1 codes, plot GeoJSON)
and every error is reported with its CSV row number (the header is row 1) and column; only
when no row has an error are all of them appended in one transaction through the ledger's
append path, which may still refuse the batch (unknown lot, wrong signer) - then the error
names the row too, and nothing is stored.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ledger.core import bounds, policy
from ledger.core.events import normalize_event
from ledger.core.records import LotCreate, input_error
from ledger.errors import InputError
from ledger.store.append import MAX_BATCH, Submission, append
from ledger.store.db import write_tx

COLUMNS = [
    "lot",
    "event_type",
    "action",
    "biz_step",
    "disposition",
    "event_time",
    "quantity",
    "uom",
    "location_id",
    "location_name",
    "location_province",
    "input_lots",
    "parent_sscc",
    "ship_to",
    "ship_from",
    "document_type",
    "document_name",
    "document_sha256",
    "biz_transaction_type",
    "biz_transaction",
    "note",
    "gtin",
    "code",
    "origin_province",
    "origin_commune",
    "growing_area_code",
    "plot_geojson",
    "plot_area_ha",
    "harvest_start",
    "harvest_end",
]
LOT_COLUMNS = COLUMNS[21:]
# event field (dotted path prefix after "event.") -> CSV column
_FIELD_COLUMN = [
    ("type", "event_type"),
    ("action", "action"),
    ("bizStep", "biz_step"),
    ("disposition", "disposition"),
    ("eventTime", "event_time"),
    ("quantityList", "quantity"),
    ("childQuantityList", "quantity"),
    ("inputQuantityList", "input_lots"),
    ("outputQuantityList", "quantity"),
    ("readPoint", "location_id"),
    ("parentID", "parent_sscc"),
    ("destinationList", "ship_to"),
    ("sourceList", "ship_from"),
    ("ocop:documents", "document_sha256"),
    ("bizTransactionList", "biz_transaction"),
    ("ocop:note", "note"),
]
_LOT_FIELD_COLUMN = {"plot": "plot_geojson", "unit": "uom", "event_time": "event_time", "quantity": "quantity"}


def _column(field: str) -> str:
    """The CSV column an error's dotted field path points at ('' if none)."""
    path = re.sub(r"^(events\.\d+\.)?(entry\.)?(event\.|row\.?)?", "", field)
    for name, col in _FIELD_COLUMN:
        if path == name or path.startswith(name + "."):
            return "uom" if path.endswith(".uom") and name != "inputQuantityList" else col
    head = path.split(".")[0]
    return _LOT_FIELD_COLUMN.get(head, head if head in COLUMNS else "")


def _location(r: dict[str, str]) -> dict[str, Any] | None:
    if not r.get("location_id"):
        return None
    loc = {"id": r["location_id"]}
    if r.get("location_name"):
        loc["name"] = r["location_name"]
    if r.get("location_province"):
        loc["province"] = r["location_province"]
    return loc


def _number(value: str, column: str) -> float:
    try:
        return float(value.replace(",", "."))
    except ValueError as exc:
        raise _RowError(column, f"expected a number, got {value!r}") from exc


class _RowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column = column


def _inputs(value: str) -> list[dict[str, Any]]:
    out = []
    for part in filter(None, (p.strip() for p in value.split("|"))):
        bits = part.split(":")
        if len(bits) != 3:
            raise _RowError("input_lots", f"expected LOT:QUANTITY:UNIT separated by |, got {part!r}")
        out.append({"lot": bits[0], "quantity": _number(bits[1], "input_lots"), "uom": bits[2]})
    return out


def event_from_row(r: dict[str, str]) -> dict[str, Any]:
    """The EPCIS-shaped event a CSV row describes (not yet validated)."""
    from ledger.store.shipments import sscc_uri

    kind = r.get("event_type") or "ObjectEvent"
    ev: dict[str, Any] = {"type": kind, "bizStep": r.get("biz_step", ""), "eventTime": r.get("event_time", "")}
    if kind != "TransformationEvent":
        ev["action"] = r.get("action") or "OBSERVE"
    for src, dst in (("disposition", "disposition"), ("note", "ocop:note")):
        if r.get(src):
            ev[dst] = r[src]
    if r.get("quantity"):
        key = {"AggregationEvent": "childQuantityList", "TransformationEvent": "outputQuantityList"}.get(
            kind, "quantityList"
        )
        ev[key] = [{"lot": r["lot"], "quantity": _number(r["quantity"], "quantity"), "uom": r.get("uom") or "KGM"}]
    if loc := _location(r):
        ev["readPoint"] = loc
    if r.get("input_lots"):
        ev["inputQuantityList"] = _inputs(r["input_lots"])
    if r.get("parent_sscc"):
        try:
            ev["parentID"] = sscc_uri(r["parent_sscc"])
        except InputError as exc:
            raise _RowError("parent_sscc", str(exc)) from exc
    if r.get("ship_to"):
        ev["destinationList"] = [{"type": "location", "destination": r["ship_to"]}]
    if r.get("ship_from"):
        ev["sourceList"] = [{"type": "location", "source": r["ship_from"]}]
    if r.get("document_sha256") or r.get("document_type"):
        doc = {"type": r.get("document_type") or "document", "sha256": r.get("document_sha256", "")}
        ev["ocop:documents"] = [doc | ({"name": r["document_name"]} if r.get("document_name") else {})]
    if r.get("biz_transaction"):
        ev["bizTransactionList"] = [
            {"type": r.get("biz_transaction_type") or "po", "bizTransaction": r["biz_transaction"]}
        ]
    return ev


def lot_from_row(r: dict[str, str]) -> LotCreate:
    data: dict[str, Any] = {k: r[k] for k in LOT_COLUMNS if r.get(k) and k != "plot_geojson"}
    if r.get("plot_geojson"):
        try:
            data["plot"] = bounds.loads(r["plot_geojson"], where="plot_geojson", limit=8)
        except InputError as exc:
            raise _RowError("plot_geojson", f"expected GeoJSON, got {r['plot_geojson'][:40]!r}: {exc}") from exc
    if r.get("quantity"):
        data |= {"quantity": _number(r["quantity"], "quantity"), "unit": r.get("uom") or "KGM"}
    if r.get("event_time"):
        data["event_time"] = r["event_time"]
    try:
        return LotCreate.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc, "row") from exc


def parse(text: str, now: datetime) -> tuple[list[Submission], list[dict[str, Any]]]:
    """Check every row; return the submissions (org id 0, set later) and the errors."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    unknown = sorted(set(reader.fieldnames or []) - set(COLUMNS))
    if unknown or not reader.fieldnames:
        raise InputError(f"CSV header: unknown columns {unknown}; expected a subset of {COLUMNS}", field="header")
    subs: list[Submission] = []
    errors: list[dict[str, Any]] = []
    for n, raw in enumerate(_rows(reader, text), start=2):
        r = {k: (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            subs.append(_row(r, len(subs), now))
        except _RowError as exc:
            errors.append({"row": n, "column": exc.column, "message": str(exc)})
        except InputError as exc:
            for d in exc.details or [{"field": exc.field or "", "message": str(exc)}]:
                errors.append({"row": n, "column": _column(str(d.get("field", ""))), "message": str(d.get("message"))})
    if not subs and not errors:
        errors.append({"row": 2, "column": "", "message": "no rows: expected at least one event"})
    if len(subs) > MAX_BATCH:
        errors.append({"row": MAX_BATCH + 2, "column": "", "message": f"too many rows: at most {MAX_BATCH} per file"})
    return subs, errors


def _rows(reader: csv.DictReader[str], text: str) -> Iterator[dict[str | Any, Any]]:
    """The reader's rows; a malformed row or an over-long field (``csv.field_size_limit``) is an
    ``InputError`` naming the row and, when it can be found, the column."""
    n = 1
    try:
        for n, row in enumerate(reader, start=2):  # noqa: B007
            yield row
    except csv.Error as exc:
        row_no = n + 1
        column = _long_column(text, reader.line_num, list(reader.fieldnames or []))
        where = f"row {row_no}, column {column or '-'}"
        raise InputError(
            f"CSV {where}: {exc} (expected fields of at most {csv.field_size_limit()} characters)",
            field="csv",
            details=[{"row": row_no, "column": column, "message": str(exc)}],
        ) from exc


def _long_column(text: str, line_num: int, names: list[str]) -> str:
    """The column of the first over-long field at or near line ``line_num`` (best effort; '' if unknown)."""
    limit = csv.field_size_limit()
    for line in text.lstrip("\ufeff").splitlines()[max(line_num - 2, 1) :]:
        for i, cell in enumerate(line.split(",")):
            if len(cell) > limit:
                return names[i] if i < len(names) else ""
    return ""


def _row(r: dict[str, str], index: int, now: datetime) -> Submission:
    if r.get("biz_step") == "commissioning":
        lot = lot_from_row(r)
        return Submission(lot=lot.lot_id, actor_org_id=0, create=lot, index=index)
    if not r.get("lot"):
        raise _RowError("lot", "expected the lot id (GTIN-14.lot code) this event is about")
    ev = event_from_row(r)
    normalize_event(ev, now=now, where="row")  # validate here; the append path normalizes again
    return Submission(lot=r["lot"], actor_org_id=0, event=ev, index=index)


def import_csv(ledger: Any, org: str | int, text: str, *, role: str | None = None) -> list[dict[str, Any]]:
    """Validate every row, then store every event in one transaction, or raise and store nothing.

    ``role`` is the caller's API-key role (None: the organization itself); ``ledger.core.policy``
    decides on every row in the append path, as for any other event."""
    now = ledger.clock()
    subs, errors = parse(text, now)
    if errors:
        raise InputError(_summary(errors), field="csv", details=errors)
    rows = {s.index: i + 2 for i, s in enumerate(subs)}
    with write_tx(ledger.engine) as conn:
        org_id = ledger._org_id(conn, org)
        for s in subs:
            s.actor_org_id, s.role = org_id, role
        try:
            return list(append(conn, subs, ledger.keyring, now))
        except policy.Denied as exc:
            row = rows.get(int(str(exc.details[0]["index"])), 0) if exc.details else 0
            denied = str(exc.details[0]["message"]) if exc.details else str(exc)
            raise policy.Denied(
                f"row {row}: {denied}; nothing stored", actor=exc.actor, lot=exc.lot, step=exc.step, reason=exc.reason
            ) from exc
        except InputError as exc:
            details = [
                {
                    "row": rows.get(int(str(d.get("index", -1))), 0),
                    "column": _column(str(d.get("field", ""))),
                    "message": d.get("message"),
                }
                for d in exc.details
            ] or [{"row": 0, "column": _column(exc.field or ""), "message": str(exc)}]
            raise InputError(_summary(details), field="csv", details=details) from exc


def _summary(errors: list[dict[str, Any]]) -> str:
    first = errors[0]
    where = f"row {first['row']}, column {first['column'] or '-'}"
    return f"{len(errors)} error(s) in the CSV, nothing stored; first: {where}: {first['message']}"
