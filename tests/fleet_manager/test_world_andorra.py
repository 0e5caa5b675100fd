"""The Andorra world: streets and walkways from the real extract, hub, lockers and zones with reasons, delivery
points for unaddressed buildings, van speeds from the posted limits, terrain, and `finalmile world show`."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import networkx as nx
import pytest
from shapely.geometry import Point

from fleet_manager.world import load_world
from fleet_manager.world.model import VanSpeed
from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.drone_paths import DronePathPlanner
from mission_planner.errors import WorldError

BOUNDS = (1.419, 42.436, 1.734, 42.634)  # lon/lat box of the extract


@pytest.fixture(scope="module")
def world():
    return load_world("andorra")


def test_streets_and_walkways_come_from_the_extract_and_are_connected(world) -> None:
    """~394 km of roads as one strongly connected street graph, a connected walk graph, named valley roads."""
    summary = world.summary()
    assert summary["street_nodes"] > 15_000 and 700 < summary["street_km"] < 800
    assert summary["walk_nodes"] > 30_000
    assert nx.is_strongly_connected(world.street_graph)
    assert nx.is_connected(world.walk_graph)
    names = {d["name"] for _, _, d in world.street_graph.edges(data=True)}
    assert {"Avinguda Meritxell", "Avinguda Carlemany", "Port d'Envalira"} <= names


def test_hub_and_lockers_are_real_sites_inside_the_world(world) -> None:
    """Each site has a reason, lies in the extract's box, inside the operating area and on the terrain, and is
    within reach of the street graph (vans) — the hub in the central valley, lockers in eight villages."""
    area = world.airspace.of_kind(ZoneKind.OPERATING_AREA)[0].polygon
    assert "Duana" in world.hub.name and "customs" in world.hub.reason
    assert len(world.lockers) == 8
    assert any("La Poste" in locker.name for locker in world.lockers)
    for site in (world.hub, *world.lockers):
        assert site.reason
        assert BOUNDS[0] < site.longitude_deg < BOUNDS[2] and BOUNDS[1] < site.latitude_deg < BOUNDS[3]
        assert area.contains(Point(site.x_m, site.y_m))
        assert world.terrain.covers(site.x_m, site.y_m)
        node = world.street_graph.nodes[world.nearest_street_node(site.x_m, site.y_m)]
        assert Point(node["x_m"], node["y_m"]).distance(Point(site.x_m, site.y_m)) < 150.0


def test_zones_are_valid_have_reasons_and_leave_every_site_reachable_by_drone(world) -> None:
    """The zones file parses (valid polygons, bands, windows), every zone names its OSM element and reason, and a
    drone can fly from the hub to every locker (terrain-following, around the zones)."""
    raw = json.loads((resources.files("fleet_manager.world") / "worlds" / "andorra_zones.geojson").read_text())
    Airspace.from_geojson(raw, world.frame)
    kinds = {z.kind for z in world.airspace.zones}
    assert {ZoneKind.NO_FLY, ZoneKind.RESTRICTED, ZoneKind.OPERATING_AREA} <= kinds
    for zone in world.airspace.zones:
        assert zone.reason and zone.name
    for feature in raw["features"][1:]:
        assert feature["properties"]["osm"].split("/")[0] in ("node", "way")
    ids = {z.zone_id for z in world.airspace.zones}
    assert {"heliport-andorra-la-vella", "helipad-grau-roig", "parc-natural-sorteny"} <= ids
    planner = DronePathPlanner(world.airspace, terrain=world.terrain)
    for locker in world.lockers:
        path = planner.path((world.hub.x_m, world.hub.y_m), (locker.x_m, locker.y_m))
        assert world.airspace.is_path_clear(
            [(w.x_m, w.y_m, w.altitude_m) for w in path.waypoints], margin_m=planner.safety_margin_m - 0.5
        ), locker.site_id


def test_buildings_without_a_street_address_get_a_delivery_point_and_a_label(world) -> None:
    """None of the extract's buildings has addr:street; each gets a point on its outline (the side facing the
    nearest street) and a label naming that street and the settlement; all are delivery points."""
    assert world.summary()["buildings_with_address"] == 0
    assert len(world.addresses) == len(world.buildings) > 250
    on_street = 0
    for building in world.buildings:
        point = building.delivery_point
        assert point is not None and point.label
        assert building.footprint.exterior.distance(Point(point.x_m, point.y_m)) < 0.01 or point.x_m == pytest.approx(
            building.footprint.centroid.x
        )
        on_street += "(no number)" in point.label
    assert on_street > 0.6 * len(world.buildings)
    labels = {b.delivery_point.label for b in world.buildings if b.delivery_point}
    assert any(label.endswith("Encamp") and "(no number)" in label for label in labels)


def test_van_speeds_use_posted_limits_and_road_class_defaults(world) -> None:
    """A posted 90 km/h road is driven at 0.7 × 90; an unposted residential street at 0.7 × 30 (the world's
    settings); the smallest of several posted limits counts."""
    speed = VanSpeed.from_spec({"posted_speed_factor": 0.7, "missing_maxspeed_kmh": {"residential": 30, "other": 40}})
    assert speed.speed_m_s("90", "primary") == pytest.approx(90 / 3.6 * 0.7)
    assert speed.speed_m_s(None, "residential") == pytest.approx(30 / 3.6 * 0.7)
    assert speed.speed_m_s(None, "track") == pytest.approx(40 / 3.6 * 0.7)
    assert speed.speed_m_s("90;30;90;30", "primary") == pytest.approx(30 / 3.6 * 0.7)
    speeds = {round(d["speed_m_s"] * 3.6 / 0.7) for _, _, d in world.street_graph.edges(data=True)}
    assert {20, 30, 40, 50, 60, 80, 90} <= speeds
    with pytest.raises(WorldError, match="posted_speed_factor"):
        VanSpeed.from_spec({"posted_speed_factor": 0})


def test_helsinki_keeps_its_urban_factor() -> None:
    """Helsinki's streets are still driven at 0.6 × the posted limit, 30 km/h where none is posted."""
    helsinki = load_world("helsinki")
    assert helsinki.terrain is None
    for _, _, data in helsinki.street_graph.edges(data=True):
        assert round(data["speed_m_s"] * 3.6 / 0.6) in (30, 40)


def test_world_show_draws_the_terrain_and_prints_the_summary(tmp_path: Path) -> None:
    """`finalmile world show andorra` exits 0, names the hub and the terrain, and writes a real PNG."""
    picture = tmp_path / "andorra.png"
    result = subprocess.run(
        [sys.executable, "-m", "fleet_manager.cli", "world", "show", "andorra", "--picture", str(picture)],
        capture_output=True, text=True, timeout=180, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Duana" in result.stdout and "terrain:" in result.stdout and "2911 m above sea level" in result.stdout
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 200_000  # hillshade, streets and zones, not an empty canvas
