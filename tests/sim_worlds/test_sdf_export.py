"""Gazebo SDF export of a world: what Gazebo and ArduPilot's plugin will read from the file.

Structure is checked with lxml always; the file is also parsed by libsdformat itself (`gz sdf -k`
or `ign sdf -k`, Debian's `ignition-tools` + `libsdformat-dev`) when that tool is installed.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree
from shapely.geometry import Polygon

from fleet_manager.cli import main as finalmile
from fleet_manager.world import World, load_world
from mission_planner.errors import WorldError
from sim_worlds.sdf_export import SdfOptions, sitl_home, world_to_sdf


@pytest.fixture(scope="module")
def world() -> World:
    """The default Helsinki world (real OSM extract)."""
    return load_world("helsinki")


@pytest.fixture(scope="module")
def exported(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file written by `finalmile world export-sdf helsinki -o ...`, the command a user runs."""
    path = tmp_path_factory.mktemp("sdf") / "helsinki.sdf"
    assert finalmile(["world", "export-sdf", "helsinki", "-o", str(path), "--elevation-m", "12"]) == 0
    return path


@pytest.fixture(scope="module")
def root(exported: Path) -> etree._Element:
    """The parsed <sdf> root element."""
    return etree.parse(str(exported)).getroot()


def _models(root: etree._Element) -> dict[str, etree._Element]:
    return {model.get("name"): model for model in root.findall("./world/model")}


def _pose_xyz(model: etree._Element) -> tuple[float, float, float]:
    x_m, y_m, z_m, *_ = (float(v) for v in model.findtext("pose", "0 0 0 0 0 0").split())
    return x_m, y_m, z_m


def test_document_is_sdformat_1_9_or_newer_with_one_named_world(root: etree._Element) -> None:
    """The root is <sdf version=1.9+> holding exactly one <world name="helsinki">."""
    assert root.tag == "sdf"
    major, minor = (int(part) for part in root.get("version").split("."))
    assert (major, minor) >= (1, 9)
    worlds = root.findall("world")
    assert [w.get("name") for w in worlds] == ["helsinki"]


def test_spherical_coordinates_put_the_origin_at_the_worlds_lat_lon_in_enu(
    root: etree._Element, world: World
) -> None:
    """Gazebo's lat/lon origin equals the world's frame origin, axes ENU, elevation as given."""
    spherical = root.find("./world/spherical_coordinates")
    assert spherical is not None
    assert spherical.findtext("surface_model") == "EARTH_WGS84"
    assert spherical.findtext("world_frame_orientation") == "ENU"
    assert float(spherical.findtext("latitude_deg")) == pytest.approx(world.frame.origin_latitude_deg, abs=1e-7)
    assert float(spherical.findtext("longitude_deg")) == pytest.approx(world.frame.origin_longitude_deg, abs=1e-7)
    assert float(spherical.findtext("elevation")) == 12.0
    assert float(spherical.findtext("heading_deg")) == 0.0


def test_ground_plane_covers_every_building(root: etree._Element, world: World) -> None:
    """A static ground plane whose square reaches past the farthest building corner."""
    ground = _models(root)["ground_plane"]
    assert ground.findtext("static") == "true"
    size_m = float(ground.findtext("./link/collision/geometry/plane/size").split()[0])
    farthest_m = max(max(abs(c) for c in b.footprint.bounds) for b in world.buildings)
    assert size_m / 2 > farthest_m


def test_every_building_is_its_footprint_extruded_to_its_height(root: etree._Element, world: World) -> None:
    """One static model per OSM building; polyline points + pose rebuild the footprint; height = height_m."""
    models = _models(root)
    assert len(models) == len(set(models))
    building_models = {name: m for name, m in models.items() if name.startswith("osm-")}
    assert len(building_models) == len(world.buildings)
    for building in world.buildings:
        model = building_models[building.building_id]
        assert model.findtext("static") == "true"
        x_m, y_m, z_m = _pose_xyz(model)
        assert z_m == 0.0
        for tag in ("collision", "visual"):
            polylines = model.findall(f"./link/{tag}/geometry/polyline")
            assert polylines, f"{building.building_id} has no {tag} polyline"
            for polyline in polylines:
                assert float(polyline.findtext("height")) == pytest.approx(building.height_m, abs=0.01)
            outer = [tuple(float(v) for v in p.text.split()) for p in polylines[0].findall("point")]
            rebuilt = Polygon([(x_m + px, y_m + py) for px, py in outer])
            assert rebuilt.symmetric_difference(Polygon(building.footprint.exterior)).area < 0.01 * rebuilt.area + 1


def test_heights_come_from_the_world_model_not_one_default(root: etree._Element, world: World) -> None:
    """OSM heights/levels survive: the tallest exported building is the world's tallest."""
    heights = [float(h.text) for h in root.iterfind("./world/model/link/visual/geometry/polyline/height")]
    assert max(heights) == pytest.approx(max(b.height_m for b in world.buildings), abs=0.01)
    assert len({round(h, 1) for h in heights}) > 3


def test_hub_and_lockers_are_models_at_their_sites(root: etree._Element, world: World) -> None:
    """The hub pad and each locker bank stand where the world puts them."""
    models = _models(root)
    for site in (world.hub, *world.lockers):
        model = models[site.site_id]
        x_m, y_m, _ = _pose_xyz(model)
        assert math.hypot(x_m - site.x_m, y_m - site.y_m) < 0.01
        assert model.find("./link/collision/geometry/box/size") is not None


def test_sitl_home_matches_the_spherical_origin(world: World) -> None:
    """The --home string printed for SITL is the same origin and elevation the SDF carries."""
    home = sitl_home(world, SdfOptions(ground_elevation_m=12.0)).split(",")
    assert float(home[0]) == pytest.approx(world.frame.origin_latitude_deg, abs=1e-7)
    assert float(home[1]) == pytest.approx(world.frame.origin_longitude_deg, abs=1e-7)
    assert float(home[2]) == 12.0


def test_gz_systems_can_be_left_out(world: World) -> None:
    """--no-gz-systems drops the gz-sim plugins (for tools that load the world without gz-sim)."""
    with_systems = world_to_sdf(world).getroot().findall("./world/plugin")
    without = world_to_sdf(world, SdfOptions(include_gz_systems=False)).getroot().findall("./world/plugin")
    assert any(p.get("filename") == "gz-sim-physics-system" for p in with_systems)
    assert without == []


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"ground_elevation_m": float("nan")}, "ground_elevation_m"),
        ({"hub_pad_size_m": 0.0}, "hub_pad_size_m"),
        ({"locker_size_m": (1.0, -1.0, 2.0)}, "locker_size_m"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, object], field: str) -> None:
    """A bad export option is a WorldError naming the option."""
    with pytest.raises(WorldError, match=field):
        SdfOptions(**options)  # type: ignore[arg-type]


def _sdf_checker() -> list[str] | None:
    for tool in ("gz", "ign"):
        path = shutil.which(tool)
        if path is None:
            continue
        probe = subprocess.run([path, "sdf", "--help"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode == 0 and "-k" in probe.stdout + probe.stderr:
            return [path, "sdf", "-k"]
    return None


@pytest.mark.timeout(120)
def test_libsdformat_accepts_the_file(exported: Path) -> None:
    """libsdformat's own checker (`gz sdf -k` / `ign sdf -k`) reports the world valid."""
    checker = _sdf_checker()
    if checker is None:
        pytest.skip("no `gz sdf` / `ign sdf` tool (Debian: apt-get install ignition-tools libsdformat-dev)")
    result = subprocess.run([*checker, str(exported)], capture_output=True, text=True, timeout=110, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid" in result.stdout
