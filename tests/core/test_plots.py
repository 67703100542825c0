"""Plots from GeoJSON and KML files, and their area."""

from __future__ import annotations

import json
import math

import pytest

from ledger.core.plots import area_ha, plot_from_file
from ledger.errors import InputError

# a square of 100 m x 100 m at the equator on the authalic sphere is 1 ha to a fraction of a percent
D = 100 / (6371007.181 * math.pi / 180)
SQUARE = [[108.0, 0.0], [108.0 + D, 0.0], [108.0 + D, D], [108.0, D], [108.0, 0.0]]


def test_area_of_a_one_hectare_square() -> None:
    assert area_ha({"type": "Polygon", "coordinates": [SQUARE]}) == pytest.approx(1.0, rel=1e-3)
    assert area_ha({"type": "Point", "coordinates": [108.0, 11.0]}) is None


def test_a_hole_is_subtracted() -> None:
    d = D / 2
    hole = [[108.0, 0.0], [108.0, d], [108.0 + d, d], [108.0 + d, 0.0], [108.0, 0.0]]
    assert area_ha({"type": "Polygon", "coordinates": [SQUARE, hole]}) == pytest.approx(0.75, rel=1e-3)


@pytest.mark.parametrize(
    "doc",
    [
        {"type": "Polygon", "coordinates": [SQUARE]},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [SQUARE]}},
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE]}}],
        },
    ],
)
def test_geojson_forms(doc: dict[str, object]) -> None:
    geom = plot_from_file(json.dumps(doc).encode())
    assert geom["type"] == "Polygon" and len(geom["coordinates"][0]) == 5


def test_kml_polygon() -> None:
    coords = " ".join(f"{lon},{lat},0" for lon, lat in SQUARE)
    kml = (
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Placemark>'
        f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}</coordinates></LinearRing>"
        "</outerBoundaryIs></Polygon></Placemark></kml>"
    )
    geom = plot_from_file(kml.encode())
    assert area_ha(geom) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not json", "neither GeoJSON nor KML"),
        (b'{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', "expected a Point or Polygon"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><kml/>', "DOCTYPE or entities"),
        (b"<kml><Placemark/></kml>", "no Polygon or Point"),
        (b"<kml><Polygon><coordinates>1,2 3,4 5,6 1,2</coordinates></Polygon>", "not valid KML"),
        (b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0.5]]]}', "must end where it starts"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_bad_files_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        plot_from_file(data)
