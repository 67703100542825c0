"""CSV import for cooperatives: one row per event, validated whole, stored all or nothing.

The template is ``docs/import-template.csv`` and its columns are documented in
``docs/import.md``. Cells are separated by ``,`` or ``;`` (the header line decides). Every row is
checked (shape, dates, units, GS1 codes, plot GeoJSON) and appended in one transaction through
the ledger's append path; every error - the rows' own and those only the ledger sees (unknown
lot) - is reported in one pass with its spreadsheet row number (the header is row 1) and column,
in Vietnamese and English, and then nothing is stored. A refusal by the authorization policy is
a 403 naming the row.
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
from ledger.errors import InputError, LedgerError, PermissionDenied
from ledger.exports import import_messages as msg
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


def _separator(header_line: str) -> str:
    """``;`` (what Excel writes in vi-VN and most EU locales) or ``,``: whichever the header uses more."""
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _records(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]], list[dict[str, Any]]]:
    """The header and the data rows, each with its spreadsheet row number (the header is row 1,
    a blank line is a row too, a quoted cell spanning lines is still one row)."""
    text = text.lstrip("\ufeff")
    sep = _separator(text.partition("\n")[0])
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    header = [h.strip() for h in next(reader, [])]
    unknown = sorted(set(header) - set(COLUMNS))
    if unknown or not any(header):
        found = f"unknown columns {unknown}" if any(header) else "no header line"
        raise InputError(f"CSV header: {found}; expected a subset of {COLUMNS}, separated by , or ;", field="header")
    rows: list[tuple[int, dict[str, str]]] = []
    errors: list[dict[str, Any]] = []
    for n, rec in _numbered(reader, text, header, sep):
        extra = [c for c in rec[len(header) :] if c.strip()]
        if extra:
            en = f"expected at most {len(header)} cells (one per header column), got {len(rec)}"
            vi = f"cần tối đa {len(header)} ô (mỗi cột tiêu đề một ô), nhận {len(rec)}"
            errors.append(msg.error(n, "", en, vi))
        elif any(c.strip() for c in rec):
            rows.append((n, {k: v.strip() for k, v in zip(header, rec, strict=False)}))
    return header, rows, errors


def parse(text: str, now: datetime) -> tuple[list[Submission], list[dict[str, Any]]]:
    """Check every row; return the submissions (org id 0, set later, ``index`` = spreadsheet row)
    and the errors (both languages)."""
    _, rows, errors = _records(text)
    subs: list[Submission] = []
    for n, r in rows:
        try:
            subs.append(_row(r, n, now))
        except _RowError as exc:
            errors.append(msg.error(n, exc.column, str(exc)))
        except InputError as exc:
            for d in exc.details or [{"field": exc.field or "", "message": str(exc)}]:
                errors.append(msg.error(n, _column(str(d.get("field", ""))), str(d.get("message"))))
    if not rows and not errors:
        errors.append(
            msg.error(2, "", "no rows: expected at least one event", "không có dòng nào: cần ít nhất một sự kiện")
        )
    if len(subs) > MAX_BATCH:
        en = f"too many rows: at most {MAX_BATCH} per file"
        errors.append(msg.error(MAX_BATCH + 2, "", en, f"quá nhiều dòng: tối đa {MAX_BATCH} dòng mỗi tệp"))
    errors.sort(key=lambda e: int(e["row"]))
    return subs, errors


def _numbered(reader: Any, text: str, header: list[str], sep: str) -> Iterator[tuple[int, list[str]]]:
    """The reader's records with their spreadsheet row numbers; a malformed record or an over-long
    field (``csv.field_size_limit``) stops the reading: an ``InputError`` naming the row and, when it
    can be found, the column (the rows after it cannot be read reliably)."""
    n = 1
    try:
        for n, rec in enumerate(reader, start=2):  # noqa: B007
            yield n, rec
    except csv.Error as exc:
        row_no, limit = n + 1, csv.field_size_limit()
        column = _long_column(text, reader.line_num, header, sep)
        en = f"{exc} (expected fields of at most {limit} characters)"
        vi = f"không đọc được dòng: {exc} (mỗi ô tối đa {limit} ký tự)"
        raise InputError(
            f"CSV row {row_no}, column {column or '-'}: {en}",
            field="csv",
            details=msg.in_language([msg.error(row_no, column, en, vi)], "en"),
        ) from exc


def _long_column(text: str, line_num: int, names: list[str], sep: str) -> str:
    """The column of the first over-long field at or near line ``line_num`` (best effort; '' if unknown)."""
    limit = csv.field_size_limit()
    for line in text.lstrip("\ufeff").splitlines()[max(line_num - 2, 1) :]:
        for i, cell in enumerate(line.split(sep)):
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


def import_csv(
    ledger: Any, org: str | int, text: str, *, role: str | None = None, lang: str = "en"
) -> list[dict[str, Any]]:
    """Validate every row, then store every event in one transaction, or raise and store nothing.

    Errors come in one pass: the rows' own errors and those only the ledger can see (unknown
    lot) together, each in Vietnamese and English (``message`` in ``lang``). ``role`` is the
    caller's API-key role (None: the organization itself); ``ledger.core.policy`` decides on every
    row in the append path, as for any other event, and its refusal (403) names the row.
    """
    now = ledger.clock()
    subs, errors = parse(text, now)
    if len(subs) > MAX_BATCH:
        raise InputError(msg.summary(errors, lang), field="csv", details=msg.in_language(errors, lang))
    try:
        with write_tx(ledger.engine) as conn:
            org_id = ledger._org_id(conn, org)
            for s in subs:
                s.actor_org_id, s.role = org_id, role
            recorded, errors = _append_all(conn, subs, errors, now, ledger.keyring)
            if errors:
                raise _Refused
            return recorded
    except _Refused:
        errors.sort(key=lambda e: int(e["row"]))
        raise InputError(msg.summary(errors, lang), field="csv", details=msg.in_language(errors, lang)) from None


class _Refused(Exception):
    """Rolls the import's transaction back when any row has an error."""


def _append_all(
    conn: Any, subs: list[Submission], errors: list[dict[str, Any]], now: datetime, keyring: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Append the rows without errors; a row the ledger refuses is reported and left out, and the
    rest are tried again (in a savepoint each time), so every refusal is found in one call. A
    policy refusal is not an input error: it stops the import at once (403, naming the row)."""
    failed = {e["row"] for e in errors}
    pending = [s for s in subs if s.index not in failed]
    for _ in range(_MAX_ROUNDS):
        if not pending:
            return [], errors
        try:
            with conn.begin_nested():
                recorded = list(append(conn, pending, keyring, now))
                if errors:
                    raise _Refused
                return recorded, errors
        except _Refused:
            return [], errors
        except policy.Denied as exc:
            raise _denied_row(exc) from exc
        except PermissionDenied:  # any other refusal stays a refusal (403), never an input error
            raise
        except LedgerError as exc:
            refused = _refusals(exc, {s.index for s in pending})
            errors.extend(refused)
            rows = {e["row"] for e in refused}
            if not rows & {s.index for s in pending}:
                return [], errors
            pending = [s for s in pending if s.index not in rows]
    return [], errors


def _denied_row(exc: policy.Denied) -> policy.Denied:
    """The policy's refusal naming the spreadsheet row (a submission's index is its row)."""
    row = int(str(exc.details[0]["index"])) if exc.details else 0
    denied = str(exc.details[0]["message"]) if exc.details else str(exc)
    return policy.Denied(
        f"row {row}: {denied}; nothing stored", actor=exc.actor, lot=exc.lot, step=exc.step, reason=exc.reason
    )


_MAX_ROUNDS = 50


def _refusals(exc: LedgerError, rows: set[int]) -> list[dict[str, Any]]:
    details = list(getattr(exc, "details", []) or [])
    out = [
        msg.error(int(str(d.get("index", 0))), _column(str(d.get("field", ""))), str(d.get("message")))
        for d in details
        if int(str(d.get("index", -1))) in rows
    ]
    return out or [msg.error(0, _column(getattr(exc, "field", "") or ""), str(exc))]
