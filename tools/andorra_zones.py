"""Derive the Andorra world's airspace zones from what its OpenStreetMap extract shows; write them as GeoJSON.

    python tools/andorra_zones.py -o fleet_manager/world/worlds/andorra_zones.geojson

Each zone names the OSM element it comes from and the reason it exists. Geometry: areas are
grown by a margin then simplified with a tolerance no larger than that margin, so the zone
always covers the mapped area (and stays a single-ring polygon of a few dozen corners, which
keeps the drone planner's visibility graph small); lines (cableways) and points (heliports)
become corridors/discs of the given radius. Buffers are done in the world's local metric frame
(origin = the hub, as in andorra.yaml) and converted back to WGS84 with 6 decimals (~0.1 m).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyrosm
import shapely
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from mission_planner.geodesy import LocalFrame

logger = logging.getLogger("andorra_zones")
WORLD_DIR = Path(__file__).resolve().parent.parent / "fleet_manager" / "world" / "worlds"
ORIGIN = (42.51090, 1.53420)  # the hub in andorra.yaml
EXTRACT_BOUNDS = (1.419, 42.436, 1.734, 42.634)  # lon/lat box of andorra.osm.pbf (pyrosm bounding box)

# (OSM type, id, zone id, kind, lower_m, upper_m, grow_m, extra properties, name, reason)
ZONES: list[tuple[str, int, str, str, float, float, float, dict[str, Any], str, str]] = [
    ("node", 26609114, "heliport-andorra-la-vella", "no_fly", 0, 120, 400, {},
     "Andorra la Vella heliport (La Margineda)",
     "OSM aeroway=aerodrome, IATA ALV: helicopters approach and depart low over the valley; 400 m around it."),
    ("way", 174888984, "helipad-grau-roig", "no_fly", 0, 120, 200, {},
     "Grau Roig helipad",
     "OSM aeroway=helipad at the Grau Roig ski station: rescue helicopters land here; 200 m around it."),
    ("way", 202640157, "parc-natural-sorteny", "restricted", 0, 120, 50, {"allowed_operators": ["park-authority"]},
     "Parc Natural de la Vall de Sorteny",
     "OSM leisure=nature_reserve: protected valley; drone flights need the park's authorisation (wildlife)."),
    ("way", 208554732, "parc-natural-comapedrosa", "restricted", 0, 120, 50,
     {"allowed_operators": ["park-authority"]},
     "Parc Natural Comunal de les Valls del Comapedrosa",
     "OSM leisure=nature_reserve: protected high valleys; drone flights need the park's authorisation (wildlife)."),
    ("way", 6275507, "parc-central-daytime", "no_fly", 0, 40, 10,
     {"time_windows": [{"daily_start": "07:00", "daily_end": "20:00"}]},
     "Parc Central, Andorra la Vella (daytime)",
     "OSM leisure=park in the town centre, crowded by day: closed below 40 m 08:00-21:00 local (UTC+1); "
     "drones cruising 50-70 m above ground pass over it."),
    ("way", 52172905, "cableway-funicamp", "no_fly", 0, 120, 40, {},
     "Funicamp gondola (Encamp - Grau Roig)",
     "OSM aerialway=gondola: its cables span the slope at drone cruise height; 40 m either side."),
    ("way", 6563683, "cableway-canillo", "no_fly", 0, 120, 40, {},
     "TC8 Canillo gondola",
     "OSM aerialway=gondola: its cables span the slope at drone cruise height; 40 m either side."),
    ("way", 6561468, "cableway-soldeu", "no_fly", 0, 120, 40, {},
     "Soldeu gondola",
     "OSM aerialway=gondola: its cables span the slope at drone cruise height; 40 m either side."),
    ("way", 52110420, "cableway-el-tarter", "no_fly", 0, 120, 40, {},
     "TC10 El Tarter gondola",
     "OSM aerialway=gondola: its cables span the slope at drone cruise height; 40 m either side."),
    ("way", 29376254, "cableway-la-massana", "no_fly", 0, 120, 40, {},
     "La Massana - Pal cable car",
     "OSM aerialway=cable_car: its cables span the valley at drone cruise height; 40 m either side."),
    ("way", 52114952, "cableway-arinsal-pal", "no_fly", 0, 120, 40, {},
     "Arinsal - Pal gondola",
     "OSM aerialway=gondola: its cables span the ridge at drone cruise height; 40 m either side."),
    ("way", 29376356, "cableway-els-orriols", "no_fly", 0, 120, 40, {},
     "Els Orriols gondola (Arinsal)",
     "OSM aerialway=gondola: its cables span the slope at drone cruise height; 40 m either side."),
]


def _osm_geometries(osm: pyrosm.OSM) -> dict[tuple[str, int], BaseGeometry]:
    found: dict[tuple[str, int], BaseGeometry] = {}
    for key in ("aeroway", "leisure", "aerialway"):
        gdf = osm.get_data_by_custom_criteria(
            custom_filter={key: True}, keep_nodes=True, keep_ways=True, keep_relations=True
        )
        for record in gdf.to_dict("records"):
            found[(str(record["osm_type"]), int(record["id"]))] = record["geometry"]
    return found


def _ring(polygon: Polygon, frame: LocalFrame) -> list[list[float]]:
    ring = []
    for x_m, y_m in polygon.exterior.coords:
        latitude_deg, longitude_deg = frame.to_wgs84(x_m, y_m)
        ring.append([round(longitude_deg, 6), round(latitude_deg, 6)])
    ring[-1] = ring[0]
    return ring


def build(pbf: Path) -> dict[str, Any]:
    """The zones as a GeoJSON FeatureCollection."""
    frame = LocalFrame.at(*ORIGIN)

    def to_local(geometry: BaseGeometry) -> BaseGeometry:
        def project(lonlat: np.ndarray) -> np.ndarray:
            return np.column_stack(frame.to_local_many(lonlat[:, 1], lonlat[:, 0]))

        return shapely.transform(geometry, project)

    geometries = _osm_geometries(pyrosm.OSM(str(pbf)))
    west, south, east, north = EXTRACT_BOUNDS
    area = to_local(box(west, south, east, north)).buffer(-100.0, join_style="mitre").simplify(1.0)
    features = [
        {
            "type": "Feature",
            "properties": {
                "id": "operating-area", "kind": "operating_area", "lower_m": 0, "upper_m": 120,
                "name": "FinalMile Andorra operating area",
                "reason": "The mapped OSM extract's box less 100 m: drones never fly off the map or the elevation "
                "model (120 m above ground = EU open-category ceiling). The extract has no national border "
                "relation, so the box includes slivers of Spain and France.",
            },
            "geometry": {"type": "Polygon", "coordinates": [_ring(area, frame)]},
        }
    ]
    for osm_type, osm_id, zone_id, kind, lower_m, upper_m, grow_m, extra, name, reason in ZONES:
        source = geometries.get((osm_type, osm_id))
        if source is None:
            raise SystemExit(f"OSM {osm_type} {osm_id} ({zone_id}) is not in {pbf}")
        grown = to_local(source).buffer(grow_m)
        polygon = grown.simplify(min(grow_m, 60.0) * 0.5).buffer(0)
        if not isinstance(polygon, Polygon) or not polygon.covers(to_local(source)):
            raise SystemExit(f"{zone_id}: simplified zone does not cover OSM {osm_type} {osm_id}")
        properties = {
            "id": zone_id, "kind": kind, "lower_m": lower_m, "upper_m": upper_m, "name": name,
            "reason": reason, "osm": f"{osm_type}/{osm_id}", **extra,
        }
        features.append(
            {"type": "Feature", "properties": properties,
             "geometry": {"type": "Polygon", "coordinates": [_ring(Polygon(polygon.exterior), frame)]}}
        )
        logger.info("%s: %d corners, %.2f km²", zone_id, len(polygon.exterior.coords) - 1, polygon.area / 1e6)
    return {"type": "FeatureCollection", "features": features}


def main(argv: list[str] | None = None) -> int:
    """Write the zones file; exit code 0 on success."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pbf", type=Path, default=WORLD_DIR / "andorra.osm.pbf")
    parser.add_argument("-o", "--output", type=Path, default=WORLD_DIR / "andorra_zones.geojson")
    args = parser.parse_args(argv)
    collection = build(args.pbf)
    lines = ",\n".join("    " + json.dumps(f, ensure_ascii=False) for f in collection["features"])
    args.output.write_text('{\n  "type": "FeatureCollection",\n  "features": [\n' + lines + "\n  ]\n}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
