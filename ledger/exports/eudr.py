"""EU Deforestation Regulation (EU) 2023/1115 geolocation: the production plots behind a shipment.

A GeoJSON FeatureCollection (RFC 7946, WGS84 longitude/latitude, six decimal places) with one
feature per production plot, i.e. per raw lot (a lot not made from other lots) in the shipment's
lineage. Article 2(28) and 9(1)(d): a plot of 4 hectares or more must be described by a
polygon; a single point is allowed only below 4 ha. The export refuses (``InputError`` naming
the lot and its plot) when a plot is missing, a point is given for 4 ha or more, or a point
comes without the area that would allow it.

Each feature carries the producer, product, harvest period, area, country, origin and the
ledger's reference to the signed commissioning entry. Plot data comes from that signed entry.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from ledger.errors import InputError
from ledger.exports import data

POLYGON_FROM_HA = 4.0


def _round(value: Any) -> Any:
    if isinstance(value, list):
        return [_round(v) for v in value]
    return round(float(value), 6)


def check_plot(lot_id: str, plot: dict[str, Any] | None, area_ha: float | None, code: str | None) -> None:
    """Raise unless the plot satisfies the EUDR point/polygon rule."""
    name = f"lot {lot_id}" + (f" (plot {code})" if code else "")
    if not plot:
        raise InputError(f"EUDR: {name} has no production plot geolocation: expected a Point or Polygon", field="plot")
    if plot.get("type") == "Polygon":
        return
    if plot.get("type") != "Point":
        raise InputError(f"EUDR: {name} plot must be a Point or Polygon, got {plot.get('type')!r}", field="plot")
    if area_ha is None:
        raise InputError(
            f"EUDR: {name} is a Point without an area: a point is allowed only below {POLYGON_FROM_HA:g} ha; "
            "give plot_area_ha or a Polygon",
            field="plot_area_ha",
        )
    if area_ha >= POLYGON_FROM_HA:
        raise InputError(
            f"EUDR: {name} covers {area_ha:g} ha: expected a Polygon for plots of {POLYGON_FROM_HA:g} ha or more, "
            "got a Point",
            field="plot",
        )


def feature(lot: data.LotEvents) -> dict[str, Any]:
    o = lot.origin
    check_plot(lot.lot_id, o.get("plot"), o.get("plot_area_ha"), o.get("growing_area_code"))
    plot = o["plot"]
    first = lot.entries[0][0]
    start, end = o.get("harvest_start"), o.get("harvest_end")
    return {
        "type": "Feature",
        "geometry": {"type": plot["type"], "coordinates": _round(plot["coordinates"])},
        "properties": {
            "lot": lot.lot_id,
            "productionPlace": o.get("growing_area_code"),
            "producer": lot.producer,
            "product": lot.product,
            "productVi": lot.product_vi,
            "harvestStart": str(start) if start else None,
            "harvestEnd": str(end) if end else None,
            "area": o.get("plot_area_ha"),
            "areaUnit": "ha",
            "country": "VN",
            "province": o.get("origin_province"),
            "commune": o.get("origin_commune"),
            "quantity": lot.quantity,
            "unit": lot.unit,
            "ledgerLogIndex": int(first.idx),
            "ledgerEntryHash": bytes(first.leaf_hash).hex(),
        },
    }


def is_raw(lot: data.LotEvents) -> bool:
    return not any(ev["type"] == "TransformationEvent" for _, ev in lot.entries)


def feature_collection(conn: Connection, *, sscc: str | None = None, lot: str | None = None) -> dict[str, Any]:
    """The plots behind a shipment (or a lot): every raw lot in its lineage, as GeoJSON."""
    lots = [le for le in data.load_lots(conn, data.lots_for(conn, lot=lot, sscc=sscc)) if is_raw(le)]
    if not lots:
        raise InputError("EUDR: no production lots found behind this shipment")
    return {
        "type": "FeatureCollection",
        "properties": {"sscc": sscc, "lot": lot, "crs": "EPSG:4326 (WGS84), decimal degrees, 6 decimals"},
        "features": [feature(le) for le in lots],
    }
