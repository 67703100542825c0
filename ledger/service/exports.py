"""Exports and imports through the facade: lineage, shipments (read, pack, unpack), FSMA 204, EUDR
(GeoJSON and due diligence statement), EPCIS 2.0 documents, certificates, CSV import, QR codes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, Literal

from ledger.core.verify import AnchorCheck
from ledger.exports import certificate, epcis, eudr, eudr_dds, fsma204, qr
from ledger.exports.csv_import import import_csv
from ledger.service.bundles import Bundles
from ledger.store import lineage, shipments

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Exports(Bundles):
    def lineage(self, lot_id: str, direction: Literal["up", "down"] = "up") -> dict[str, Any]:
        """Lots this lot was made from (up) or made into (down), recursively, with quantities."""
        with self._read() as conn:
            return dict(lineage.lineage(conn, lot_id, direction))

    def shipment(self, sscc: str) -> dict[str, Any]:
        """The shipment and its lots, derived from the signed aggregation events (not verified here)."""
        with self._read() as conn:
            return dict(shipments.get_shipment(conn, sscc))

    def pack(
        self,
        org: str | int,
        sscc: str,
        lots: Sequence[str | Mapping[str, Any]],
        *,
        event_time: str,
        read_point: Mapping[str, Any] | None = None,
        role: str | None = None,
    ) -> list[dict[str, Any]]:
        """Pack lots into the shipment: one signed AggregationEvent (ADD) per lot, all or nothing."""
        return shipments.pack(self, org, sscc, lots, event_time=event_time, read_point=read_point, role=role)

    def unpack(
        self, org: str | int, sscc: str, lots: Sequence[str] | None, *, event_time: str, role: str | None = None
    ) -> list[dict[str, Any]]:
        """Take lots (default all) out of the shipment: one signed AggregationEvent (DELETE) per lot."""
        return shipments.unpack(self, org, sscc, lots, event_time=event_time, role=role)

    def eudr_dds(self, *, lot: str | None = None, sscc: str | None = None) -> dict[str, Any]:
        """EUDR due diligence statement data for a lot or the lots in a shipment."""
        with self._read() as conn:
            return dict(eudr_dds.statement(conn, lot=lot, sscc=sscc))

    def fsma204(
        self,
        *,
        lot: str | None = None,
        sscc: str | None = None,
        start: date | None = None,
        end: date | None = None,
        format: Literal["csv", "xlsx"] = "csv",
        strict: bool = False,
    ) -> tuple[bytes, str]:
        """The FDA FSMA 204 sortable spreadsheet and its media type; ``strict`` refuses (InputError
        listing every gap) when any required KDE is missing."""
        with self._read() as conn:
            rows = fsma204.rows_for(conn, lot=lot, sscc=sscc, start=start, end=end)
        if strict:
            fsma204.check_complete(rows)
        if format == "xlsx":
            return fsma204.to_xlsx(rows), XLSX
        return fsma204.to_csv(rows), "text/csv; charset=utf-8"

    def eudr_geojson(self, *, sscc: str | None = None, lot: str | None = None) -> dict[str, Any]:
        """EUDR GeoJSON FeatureCollection of the production plots behind a shipment or lot."""
        with self._read() as conn:
            return eudr.feature_collection(conn, sscc=sscc, lot=lot)

    def epcis_lot(self, lot_id: str, *, upstream: bool = False) -> dict[str, Any]:
        """The lot's events (and with ``upstream`` its input lots') as an EPCIS 2.0 document."""
        with self._read() as conn:
            return epcis.lot_document(conn, lot_id, upstream=upstream)

    def epcis_shipment(self, sscc: str) -> dict[str, Any]:
        """Every event of the lots in a shipment and of their input lots as an EPCIS 2.0 document."""
        with self._read() as conn:
            return epcis.shipment_document(conn, sscc)

    def certificate_pdf(self, base_url: str, anchor_check: AnchorCheck | None = None, **subject: Any) -> bytes:
        """The provenance certificate PDF of a lot (``lot=``) or shipment (``sscc=``); verification runs here."""
        return certificate.render(certificate.build(self, base_url=base_url, anchor_check=anchor_check, **subject))

    def import_csv(
        self, org: str | int, text: str, *, role: str | None = None, lang: str = "en"
    ) -> list[dict[str, Any]]:
        """CSV import: every row checked, then all stored or none; errors in Vietnamese and English."""
        return import_csv(self, org, text, role=role, lang=lang)

    @staticmethod
    def qr_code(kind: Literal["png", "svg"], url: str, caption: str | None = None) -> bytes:
        """A QR code (PNG or SVG) of ``url``, with ``caption`` printed under it."""
        return (qr.png if kind == "png" else qr.svg)(url, caption)
