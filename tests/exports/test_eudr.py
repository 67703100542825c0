"""EUDR GeoJSON: the plots behind a shipment, and the 4 ha point/polygon rule."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.errors import InputError
from ledger.exports import eudr
from ledger.service import Ledger
from ledger.store.db import read_tx
from tests.exports.scenario import POLYGON, Scene


def collection(ledger: Ledger, **kw: Any) -> dict[str, Any]:
    with read_tx(ledger.engine) as conn:
        return eudr.feature_collection(conn, **kw)


def test_plots_behind_shipment(ledger: Ledger, scene: Scene) -> None:
    fc = collection(ledger, sscc=scene.sscc)
    assert fc["type"] == "FeatureCollection"
    point, poly = fc["features"]
    assert point["geometry"] == {"type": "Point", "coordinates": [106.123457, 10.234568]}
    assert (
        point["properties"].items()
        >= {
            "lot": scene.raw1,
            "producer": "HTX Sầu riêng Cái Mơn",
            "harvestStart": "2026-07-01",
            "harvestEnd": "2026-07-03",
            "area": 2.5,
            "country": "VN",
            "productionPlace": "VN-BTCM-0007",
        }.items()
    )
    assert poly["geometry"]["type"] == "Polygon" and poly["properties"]["area"] == 6
    assert poly["geometry"]["coordinates"][0][0] == [106.123123, 10.2101]
    assert all(len(str(c).split(".")[-1]) <= 6 for ring in poly["geometry"]["coordinates"] for p in ring for c in p)
    assert scene.frozen not in {f["properties"]["lot"] for f in fc["features"]}


@pytest.mark.parametrize(
    ("plot", "area", "ok"),
    [
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 3.99, True),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 4.0, False),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, 12, False),
        ({"type": "Point", "coordinates": [106.1, 10.2]}, None, False),
        (POLYGON, 4.0, True),
        (POLYGON, 0.5, True),
        (POLYGON, None, True),
        (None, 1.0, False),
    ],
    ids=[
        "point-3.99ha",
        "point-4ha",
        "point-12ha",
        "point-no-area",
        "polygon-4ha",
        "polygon-small",
        "polygon-no-area",
        "no-plot",
    ],
)
def test_point_polygon_rule(plot: Any, area: Any, ok: bool) -> None:
    if ok:
        eudr.check_plot("L1", plot, area, "VN-X-1")
    else:
        with pytest.raises(InputError, match=r"lot L1 \(plot VN-X-1\)"):
            eudr.check_plot("L1", plot, area, "VN-X-1")


def test_export_refuses_big_point_naming_the_plot(ledger: Ledger, scene: Scene) -> None:
    big = ledger.create_lot(
        "htx-cai-mon",
        {
            "gtin": scene.raw1[:14],
            "code": "CM-BIG-9",
            "plot": {"type": "Point", "coordinates": [106.2, 10.3]},
            "plot_area_ha": 7.5,
            "growing_area_code": "VN-BTCM-0099",
            "event_time": "2026-07-05T06:00:00+07:00",
        },
    )["lot_id"]
    with pytest.raises(InputError, match=rf"lot {big} \(plot VN-BTCM-0099\) covers 7.5 ha: expected a Polygon"):
        collection(ledger, lot=big)
