"""Production plots from a phone or a file: GeoJSON or KML in, a GeoJSON geometry and its area out (pure).

``plot_from_file`` reads the first Point or Polygon of a GeoJSON document (geometry, Feature or
FeatureCollection) or of a KML file; ``area_ha`` is the polygon's area on the authalic sphere
(Chamberlain & Duquette, "Some algorithms for polygons on a sphere", JPL 2007), within a fraction
of a percent of the geodesic area for plots of a farm's size.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

from ledger.core.records import validate_geometry
from ledger.errors import InputError

MAX_PLOT_FILE = 1024 * 1024
AUTHALIC_RADIUS_M = 6371007.181
_KML_NS = re.compile(r"^\{[^}]*\}")


def plot_from_file(data: bytes) -> dict[str, Any]:
    """The plot geometry in a GeoJSON or KML file (sniffed from its content)."""
    if len(data) > MAX_PLOT_FILE:
        raise InputError(f"plot file too large: expected at most 1 MB, got {len(data)} bytes", field="plot_file")
    try:
        text = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise InputError("plot file is not UTF-8 text: expected GeoJSON or KML", field="plot_file") from exc
    geom = _from_kml(text) if text.startswith("<") else _from_geojson(text)
    try:
        return validate_geometry(geom)
    except ValueError as exc:
        raise InputError(f"plot file: {exc}", field="plot_file") from exc


def _from_geojson(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise InputError(f"plot file is neither GeoJSON nor KML: {exc}", field="plot_file") from exc
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features") or []
        doc = feats[0] if isinstance(feats, list) and feats else None
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        doc = doc.get("geometry")
    if not isinstance(doc, dict):
        raise InputError("plot file: expected a GeoJSON geometry, Feature or FeatureCollection", field="plot_file")
    return {"type": doc.get("type"), "coordinates": doc.get("coordinates")}


def _from_kml(text: str) -> dict[str, Any]:
    if "<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper():
        raise InputError("plot file: KML with a DOCTYPE or entities is refused", field="plot_file")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD or entities (refused above)
    except ET.ParseError as exc:
        raise InputError(f"plot file is not valid KML: {exc}", field="plot_file") from exc
    for el in root.iter():
        tag = _KML_NS.sub("", el.tag)
        if tag in ("Polygon", "Point"):
            coords = next((c for c in el.iter() if _KML_NS.sub("", c.tag) == "coordinates"), None)
            points = _kml_positions(coords.text if coords is not None else "")
            if tag == "Point":
                return {"type": "Point", "coordinates": points[0] if points else None}
            return {"type": "Polygon", "coordinates": [points]}
    raise InputError("plot file: the KML holds no Polygon or Point", field="plot_file")


def _kml_positions(text: str | None) -> list[list[float]]:
    out = []
    for tup in (text or "").split():
        parts = tup.split(",")
        try:
            out.append([float(parts[0]), float(parts[1])])
        except (ValueError, IndexError) as exc:
            raise InputError(f"plot file: bad KML coordinate {tup[:40]!r}", field="plot_file") from exc
    return out


def area_ha(geom: dict[str, Any]) -> float | None:
    """Area of a Polygon in hectares (holes subtracted); None for a Point."""
    if geom.get("type") != "Polygon":
        return None
    rings = geom["coordinates"]
    total = _ring_area(rings[0]) - sum(_ring_area(r) for r in rings[1:])
    return round(max(total, 0.0) / 10_000, 4)


def _ring_area(ring: list[list[float]]) -> float:
    s = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(ring, ring[1:], strict=False):
        s += math.radians(lon2 - lon1) * (2 + math.sin(math.radians(lat1)) + math.sin(math.radians(lat2)))
    return abs(s) * AUTHALIC_RADIUS_M**2 / 2
