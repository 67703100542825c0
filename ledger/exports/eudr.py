"""EU Deforestation Regulation (EU) 2023/1115 geolocation: the production plots behind a shipment.

The GeoJSON file the EU information system (TRACES) takes for a due diligence statement, as its
"EUDR GeoJSON file description" specifies: a ``FeatureCollection`` (RFC 7946, WGS-84 longitude,
latitude in decimal degrees, six decimal places) with one ``Feature`` per production plot, i.e. per raw
lot (a lot not made from other lots) in the shipment's lineage, whose properties are exactly the EU's:

- ``ProducerName``: the producer (cooperative or farm) of the lot;
- ``ProducerCountry``: the country of production, ISO 3166-1 alpha-2 (``VN``);
- ``ProductionPlace``: the plot's name or code (the lot's growing-area code);
- ``Area``: hectares, given with a ``Point`` (a plot below 4 ha may be a single point).

The feature's ``id`` is the ledger's lot id. Article 2(28) and 9(1)(d): a plot of 4 hectares or more
must be a ``Polygon``. The export refuses (``InputError`` naming the lot and its plot) a missing plot, a
point for 4 ha or more or without its area, a polygon that is not a closed ring of at least four
positions or has coordinates outside WGS-84 ranges, and a declared area that differs from the polygon's
geodesic area on the WGS-84 ellipsoid (GeographicLib) by more than ``AREA_TOLERANCE`` (10 %).
Plot data comes from the lot's signed commissioning entry.
"""

from __future__ import annotations

from typing import Any

from geographiclib.geodesic import Geodesic
from sqlalchemy import Connection

from ledger.errors import InputError
from ledger.exports import data

POLYGON_FROM_HA = 4.0
AREA_TOLERANCE = 0.10
"""Largest relative difference allowed between a polygon's declared area and its geodesic area."""
COUNTRY = "VN"
DECIMALS = 6


def _round(value: Any) -> Any:
    if isinstance(value, list):
        return [_round(v) for v in value]
    return round(float(value), DECIMALS)


def _ring_area_m2(ring: list[Any]) -> float:
    poly = Geodesic.WGS84.Polygon()
    for lon, lat in (p[:2] for p in ring[:-1]):
        poly.AddPoint(float(lat), float(lon))
    _, _, area = poly.Compute(False, True)
    return abs(float(area))


def polygon_area_ha(geometry: dict[str, Any]) -> float:
    """The geodesic area (WGS-84 ellipsoid) of a GeoJSON Polygon, holes subtracted, in hectares."""
    outer, *holes = geometry["coordinates"]
    return (_ring_area_m2(outer) - sum(_ring_area_m2(h) for h in holes)) / 10_000


def _check_positions(name: str, rings: Any) -> None:
    if not isinstance(rings, list) or not rings:
        raise InputError(f"EUDR: {name} polygon needs a list of rings, got {rings!r}", field="plot")
    for ring in rings:
        if not isinstance(ring, list) or len(ring) < 4 or ring[0] != ring[-1]:
            raise InputError(
                f"EUDR: {name} polygon ring must be closed with at least 4 positions (first = last), got {ring!r}",
                field="plot",
            )
        for p in ring:
            _check_position(name, p)


def _check_position(name: str, p: Any) -> None:
    ok = isinstance(p, list) and len(p) >= 2 and all(isinstance(c, int | float) for c in p[:2])
    if not ok or not (-180 <= p[0] <= 180 and -90 <= p[1] <= 90):
        raise InputError(
            f"EUDR: {name} has a position {p!r}: expected [longitude, latitude] in WGS-84 degrees", field="plot"
        )


def check_area(name: str, plot: dict[str, Any], area_ha: float | None) -> None:
    """Raise when the declared area and the polygon's geodesic area differ by more than the tolerance."""
    true_ha = polygon_area_ha(plot)
    if true_ha <= 0:
        raise InputError(f"EUDR: {name} polygon encloses no area: expected at least 3 distinct corners", field="plot")
    if area_ha is None:
        return
    if abs(area_ha - true_ha) > AREA_TOLERANCE * true_ha:
        raise InputError(
            f"EUDR: {name} is declared {area_ha:g} ha but its polygon covers {true_ha:.2f} ha "
            f"(geodesic, WGS-84): expected within {AREA_TOLERANCE:.0%}; correct the area or the polygon",
            field="plot_area_ha",
        )


def check_plot(lot_id: str, plot: dict[str, Any] | None, area_ha: float | None, code: str | None) -> None:
    """Raise unless the plot satisfies the EUDR point/polygon rule and its declared area is right."""
    name = f"lot {lot_id}" + (f" (plot {code})" if code else "")
    if not plot:
        raise InputError(f"EUDR: {name} has no production plot geolocation: expected a Point or Polygon", field="plot")
    if plot.get("type") == "Polygon":
        _check_positions(name, plot.get("coordinates"))
        check_area(name, plot, area_ha)
        return
    if plot.get("type") != "Point":
        raise InputError(f"EUDR: {name} plot must be a Point or Polygon, got {plot.get('type')!r}", field="plot")
    _check_position(name, plot.get("coordinates"))
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
    """One plot as the EU information system's GeoJSON feature."""
    o = lot.origin
    check_plot(lot.lot_id, o.get("plot"), o.get("plot_area_ha"), o.get("growing_area_code"))
    plot = o["plot"]
    place = o.get("growing_area_code") or o.get("origin_commune") or o.get("origin_province") or lot.lot_id
    properties: dict[str, Any] = {"ProducerName": lot.producer, "ProducerCountry": COUNTRY, "ProductionPlace": place}
    if plot["type"] == "Point":
        properties["Area"] = o["plot_area_ha"]
    return {
        "type": "Feature",
        "id": lot.lot_id,
        "geometry": {"type": plot["type"], "coordinates": _round(plot["coordinates"])},
        "properties": properties,
    }


def is_raw(lot: data.LotEvents) -> bool:
    return not any(ev["type"] == "TransformationEvent" for _, ev in lot.entries)


def raw_lots(conn: Connection, *, sscc: str | None = None, lot: str | None = None) -> list[data.LotEvents]:
    """The production lots behind a shipment (or a lot): every raw lot in its lineage."""
    lots = [le for le in data.load_lots(conn, data.lots_for(conn, lot=lot, sscc=sscc)) if is_raw(le)]
    if not lots:
        raise InputError("EUDR: no production lots found behind this shipment")
    return lots


def feature_collection(conn: Connection, *, sscc: str | None = None, lot: str | None = None) -> dict[str, Any]:
    """The plots behind a shipment (or a lot) as the EU information system's GeoJSON."""
    return collection_of(raw_lots(conn, sscc=sscc, lot=lot))


def collection_of(lots: list[data.LotEvents]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [feature(le) for le in lots]}
