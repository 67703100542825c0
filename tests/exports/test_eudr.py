"""EUDR GeoJSON and due diligence statement data, read back as a partner (and TRACES) would.

The file: a FeatureCollection whose features carry exactly the EU file description's properties
(ProducerName, ProducerCountry, ProductionPlace, Area for points), WGS-84 [longitude, latitude] with six
decimals, a Point only below 4 ha, a Polygon (closed ring) from 4 ha, and a declared area that agrees
with the polygon's geodesic area within 10 %. The area is recomputed here with an independent formula
(spherical excess on the authalic sphere), not with the exporter's own function.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

import pytest

from ledger.errors import InputError
from ledger.exports import eudr, eudr_dds
from ledger.service import Ledger
from ledger.store.db import read_tx
from tests.exports.scenario import POLYGON, Scene

EU_PROPERTIES = {"ProducerName", "ProducerCountry", "ProductionPlace", "Area"}
AUTHALIC_RADIUS_M = 6371007.181


def collection(ledger: Ledger, **kw: Any) -> dict[str, Any]:
    with read_tx(ledger.engine) as conn:
        return json.loads(json.dumps(eudr.feature_collection(conn, **kw)))  # as the file a partner receives


def sphere_area_ha(ring: list[list[float]]) -> float:
    """Area of a small lon/lat ring on the authalic sphere (independent of the exporter's geodesic code)."""
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(ring, ring[1:], strict=False):
        total += math.radians(lon2 - lon1) * (2 + math.sin(math.radians(lat1)) + math.sin(math.radians(lat2)))
    return abs(total) * AUTHALIC_RADIUS_M**2 / 2 / 10_000


def decimals(x: float) -> int:
    return max(0, -Decimal(repr(x)).as_tuple().exponent)  # type: ignore[operator]


def check_as_partner(fc: dict[str, Any]) -> None:
    assert fc["type"] == "FeatureCollection" and fc["features"]
    for f in fc["features"]:
        assert f["type"] == "Feature"
        props, geom = f["properties"], f["geometry"]
        assert set(props) <= EU_PROPERTIES and {"ProducerName", "ProducerCountry", "ProductionPlace"} <= set(props)
        assert len(props["ProducerCountry"]) == 2 and props["ProducerCountry"].isupper()
        positions = [geom["coordinates"]] if geom["type"] == "Point" else geom["coordinates"][0]
        for lon, lat in positions:
            assert -180 <= lon <= 180 and -90 <= lat <= 90
            assert decimals(lon) <= 6 and decimals(lat) <= 6
        if geom["type"] == "Point":
            assert props["Area"] < 4
        else:
            assert geom["type"] == "Polygon" and positions[0] == positions[-1] and len(positions) >= 4
            assert "Area" not in props


def test_plots_behind_shipment(ledger: Ledger, scene: Scene) -> None:
    fc = collection(ledger, sscc=scene.sscc)
    check_as_partner(fc)
    point, poly = fc["features"]
    assert point["id"] == scene.raw1
    assert point["geometry"] == {"type": "Point", "coordinates": [106.123457, 10.234568]}
    assert point["properties"] == {
        "ProducerName": "HTX Sầu riêng Cái Mơn",
        "ProducerCountry": "VN",
        "ProductionPlace": "VN-BTCM-0007",
        "Area": 2.5,
    }
    assert poly["geometry"]["type"] == "Polygon" and poly["properties"]["ProductionPlace"] == "VN-BTCM-0008"
    assert poly["geometry"]["coordinates"][0][0] == [106.123123, 10.2101]
    assert sphere_area_ha(poly["geometry"]["coordinates"][0]) == pytest.approx(6.0, rel=0.01)
    assert scene.frozen not in {f["id"] for f in fc["features"]}


def test_geodesic_area_matches_an_independent_formula() -> None:
    ring = POLYGON["coordinates"][0]
    assert eudr.polygon_area_ha(POLYGON) == pytest.approx(sphere_area_ha(ring), rel=0.005)
    wide = {
        "type": "Polygon",
        "coordinates": [[[106.0, 10.0], [106.008, 10.0], [106.008, 10.007], [106.0, 10.007], [106.0, 10.0]]],
    }
    assert eudr.polygon_area_ha(wide) == pytest.approx(68.5, rel=0.01)


@pytest.mark.parametrize(
    ("plot", "area", "ok"),
    [
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 3.99, True),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 4.0, False),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 12, False),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, None, False),
        ({"type": "Point", "coordinates": [10.2, 206.1]}, 1.0, False),
        (POLYGON, 6.0, True),
        (POLYGON, 6.5, True),
        (POLYGON, None, True),
        (POLYGON, 6.7, False),
        (POLYGON, 0.5, False),
        ({"type": "Polygon", "coordinates": [[[106.1, 10.2], [106.2, 10.2], [106.2, 10.3]]]}, None, False),
        (
            {"type": "Polygon", "coordinates": [[[106.1, 10.2], [106.2, 10.2], [106.1, 10.2], [106.1, 10.2]]]},
            None,
            False,
        ),
        (None, 1.0, False),
    ],
    ids=[
        "point-3.99ha",
        "point-4ha",
        "point-12ha",
        "point-no-area",
        "point-lat-lon-swapped",
        "polygon-6ha-exact",
        "polygon-within-10pc",
        "polygon-no-declared-area",
        "polygon-beyond-10pc",
        "polygon-declared-small",
        "polygon-open-ring",
        "polygon-zero-area",
        "no-plot",
    ],
)
def test_point_polygon_and_area_rules(plot: Any, area: Any, ok: bool) -> None:
    if ok:
        eudr.check_plot("L1", plot, area, "VN-X-1")
    else:
        with pytest.raises(InputError, match=r"lot L1 \(plot VN-X-1\)"):
            eudr.check_plot("L1", plot, area, "VN-X-1")


def test_area_error_says_declared_and_found() -> None:
    with pytest.raises(InputError, match=r"declared 0\.5 ha but its polygon covers 6\.00 ha .*within 10%"):
        eudr.check_plot("L1", POLYGON, 0.5, "VN-X-1")


def _new_lot(ledger: Ledger, scene: Scene, code: str, **plot: Any) -> str:
    lot = {"gtin": scene.raw1[:14], "code": code, "event_time": "2026-07-05T06:00:00+07:00", **plot}
    return str(ledger.create_lot("htx-cai-mon", lot)["lot_id"])


def test_export_refuses_big_point_naming_the_plot(ledger: Ledger, scene: Scene) -> None:
    point = {"type": "Point", "coordinates": [106.2, 10.3]}
    big = _new_lot(ledger, scene, "CM-BIG-9", plot=point, plot_area_ha=7.5, growing_area_code="VN-BTCM-0099")
    with pytest.raises(InputError, match=rf"lot {big} \(plot VN-BTCM-0099\) covers 7.5 ha: expected a Polygon"):
        collection(ledger, lot=big)


def test_export_refuses_sixty_hectares_declared_six(ledger: Ledger, scene: Scene) -> None:
    ring = [[106.0, 10.0], [106.0075, 10.0], [106.0075, 10.0073], [106.0, 10.0073], [106.0, 10.0]]
    plot = {"type": "Polygon", "coordinates": [ring]}
    lot = _new_lot(ledger, scene, "CM-WIDE-1", plot=plot, plot_area_ha=6, growing_area_code="VN-BTCM-0100")
    with pytest.raises(InputError, match=r"declared 6 ha but its polygon covers 6[0-9]\.\d\d ha"):
        collection(ledger, lot=lot)


def test_dds_refuses_a_product_outside_annex_i(ledger: Ledger, scene: Scene) -> None:
    with read_tx(ledger.engine) as conn, pytest.raises(InputError, match="not a commodity of Regulation"):
        eudr_dds.statement(conn, sscc=scene.sscc)
