"""The Helsinki world is built from the real OSM extract and its hand-placed sites make sense."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import networkx as nx
import pytest
from shapely.geometry import Point

from fleet_manager.world import load_world
from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.errors import AirspaceError, WorldError


@pytest.fixture(scope="module")
def world():
    return load_world("helsinki")


@pytest.fixture(scope="module")
def zones_geojson() -> dict:
    return json.loads((resources.files("fleet_manager.world") / "worlds" / "helsinki_zones.geojson").read_text())


def test_streets_walkways_and_addresses_come_from_osm(world) -> None:
    """Real extract: thousands of walk edges, a driveable one-way-aware street graph, ~90 addresses."""
    summary = world.summary()
    assert summary["walk_edges"] > 2000
    assert summary["street_edges"] > 1000
    assert 60 <= summary["buildings_with_address"] <= 120
    assert nx.is_connected(world.walk_graph)
    assert nx.is_strongly_connected(world.street_graph)
    streets = {d["name"] for _, _, d in world.street_graph.edges(data=True)}
    assert {"Mannerheimintie", "Pohjoisesplanadi", "Unioninkatu"} <= streets
    assert any(b.address == "Aleksanterinkatu 52" and b.name == "Stockmann" for b in world.addresses)


def test_every_edge_length_matches_its_endpoints(world) -> None:
    """Edge lengths (OSM geometry) are never shorter than the straight line between their nodes (1 % for the sphere)."""
    for graph in (world.walk_graph, world.street_graph):
        for u, v, data in graph.edges(data=True):
            a, b = graph.nodes[u], graph.nodes[v]
            straight = ((a["x_m"] - b["x_m"]) ** 2 + (a["y_m"] - b["y_m"]) ** 2) ** 0.5
            assert data["length_m"] >= straight * 0.99 - 0.05  # pyrosm lengths are haversine


def test_hub_lockers_and_zones_sit_inside_the_extract(world) -> None:
    """Hand-placed sites are on the map, each with a reason; the hub is inside the operating area."""
    operating_area = world.airspace.of_kind(ZoneKind.OPERATING_AREA)[0].polygon
    assert operating_area.contains(Point(world.hub.x_m, world.hub.y_m))
    assert len(world.lockers) >= 3
    for site in (world.hub, *world.lockers):
        assert site.reason
        assert 60.160 < site.latitude_deg < 60.180 and 24.930 < site.longitude_deg < 24.955
        node = world.nearest_walk_node(site.x_m, site.y_m)
        n = world.walk_graph.nodes[node]
        assert Point(n["x_m"], n["y_m"]).distance(Point(site.x_m, site.y_m)) < 60.0
    for zone in world.airspace.zones:
        assert zone.reason and zone.name
    kinds = {z.kind for z in world.airspace.zones}
    assert {ZoneKind.NO_FLY, ZoneKind.RESTRICTED, ZoneKind.OPERATING_AREA} <= kinds
    assert any(z.time_windows for z in world.airspace.zones)


def test_local_frame_round_trips_the_hub(world) -> None:
    """WGS84 -> local -> WGS84 is exact to the millimetre; the hub is the origin."""
    x_m, y_m = world.frame.to_local(world.hub.latitude_deg, world.hub.longitude_deg)
    assert abs(x_m) < 5 and abs(y_m) < 5
    lat, lon = world.frame.to_wgs84(x_m, y_m)
    assert lat == pytest.approx(world.hub.latitude_deg, abs=1e-8)
    assert lon == pytest.approx(world.hub.longitude_deg, abs=1e-8)


def _with_zone_change(zones_geojson: dict, zone_id: str, **changes) -> dict:
    data = copy.deepcopy(zones_geojson)
    for feature in data["features"]:
        if feature["properties"]["id"] == zone_id:
            for key, value in changes.items():
                if key == "coordinates":
                    feature["geometry"]["coordinates"] = value
                else:
                    feature["properties"][key] = value
    return data


BOWTIE = [[[24.940, 60.170], [24.945, 60.172], [24.945, 60.170], [24.940, 60.172], [24.940, 60.170]]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"coordinates": BOWTIE},
            "invalid polygon",
        ),
        ({"coordinates": [[[24.940, 60.170], [24.945, 60.170], [24.945, 60.172], [24.940, 60.172]]]}, "not closed"),
        ({"lower_m": 100, "upper_m": 50}, "lower_m=100"),
        ({"kind": "no_parking"}, "unknown kind"),
        ({"time_windows": [{"start": "2026-11-23T10:00:00+00:00", "end": "2026-11-23T09:00:00+00:00"}]}, "time window"),
    ],
)
def test_invalid_zone_is_rejected_naming_the_zone(world, zones_geojson, change, message) -> None:
    """Self-intersecting, unclosed, inverted-band, unknown-kind or backwards-window zones name the zone."""
    data = _with_zone_change(zones_geojson, "railway-yard", **change)
    with pytest.raises(AirspaceError, match=message) as raised:
        Airspace.from_geojson(data, world.frame)
    assert "railway-yard" in str(raised.value)


def test_unknown_world_lists_the_available_ones() -> None:
    with pytest.raises(WorldError, match="helsinki"):
        load_world("atlantis")


def test_world_show_prints_summary_and_writes_a_picture(tmp_path: Path) -> None:
    """`finalmile world show helsinki` exits 0, names the hub and writes a real PNG."""
    picture = tmp_path / "helsinki.png"
    result = subprocess.run(
        [sys.executable, "-m", "fleet_manager.cli", "world", "show", "helsinki", "--picture", str(picture)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Postitalo" in result.stdout and "with street addresses" in result.stdout
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size > 50_000  # a drawn map, not an empty canvas
