"""Gazebo hand-over: a world as an SDFormat 1.9 `<world>` for Gazebo (gz-sim) and ArduPilot's Gazebo plugin.

The world's local frame is x east, y north (ENU), the same axes Gazebo's world frame uses when
`spherical_coordinates/world_frame_orientation` is ENU, so building footprints go in unchanged and a
drone spawned at (x_m, y_m) reports the latitude/longitude the planner expects. Gazebo maps its
frame with a local tangent plane and the world uses an azimuthal equidistant projection; inside a
few kilometres of the origin the two differ by millimetres.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shapely.geometry import Polygon

from fleet_manager.world import Building, Site, World
from mission_planner.errors import WorldError

logger = logging.getLogger(__name__)

SDF_VERSION = "1.9"
_GROUND_MARGIN_M = 200.0
# Footprint points closer than this are merged: OSM ways sometimes repeat a node, and Gazebo's
# polyline triangulation rejects zero-length edges.
_MIN_EDGE_M = 0.05

_BUILDING_RGBA = "0.72 0.70 0.66 1"
_HUB_RGBA = "0.95 0.55 0.10 1"
_LOCKER_RGBA = "0.15 0.40 0.85 1"
_GROUND_RGBA = "0.35 0.38 0.33 1"


@dataclass(frozen=True)
class SdfOptions:
    """What the exported world contains beyond the world model itself."""

    ground_elevation_m: float = 0.0  # AMSL at the origin (the world model has no terrain); same as SITL --home alt
    hub_pad_size_m: float = 6.0
    locker_size_m: tuple[float, float, float] = (1.8, 0.6, 2.0)  # width, depth, height
    include_gz_systems: bool = True  # physics, sensors, user-commands, scene-broadcaster, IMU, NavSat

    def __post_init__(self) -> None:
        if not math.isfinite(self.ground_elevation_m):
            raise WorldError(f"ground_elevation_m must be a finite number, got {self.ground_elevation_m!r}")
        if self.hub_pad_size_m <= 0:
            raise WorldError(f"hub_pad_size_m must be > 0, got {self.hub_pad_size_m!r}")
        if any(size <= 0 for size in self.locker_size_m):
            raise WorldError(f"locker_size_m must be three positive sizes, got {self.locker_size_m!r}")


def sitl_home(world: World, options: SdfOptions | None = None) -> str:
    """The ArduPilot SITL `--home lat,lon,alt,heading` string that matches the exported world's origin."""
    opts = options or SdfOptions()
    frame = world.frame
    return f"{frame.origin_latitude_deg:.7f},{frame.origin_longitude_deg:.7f},{opts.ground_elevation_m:g},0"


def world_to_sdf(world: World, options: SdfOptions | None = None) -> ET.ElementTree:
    """Build the SDF document of a world: ground, extruded buildings, hub and lockers, spherical coordinates."""
    opts = options or SdfOptions()
    root = ET.Element("sdf", version=SDF_VERSION)
    # XML comments may not contain "--", so the SITL option is named without its dashes.
    root.append(ET.Comment(f" FinalMile world {world.name!r}; ArduPilot SITL home: {sitl_home(world, opts)} "))
    world_el = ET.SubElement(root, "world", name=world.name)
    _physics(world_el)
    if opts.include_gz_systems:
        _gz_systems(world_el)
    _scene_and_sun(world_el)
    _spherical_coordinates(world_el, world, opts)
    _ground_plane(world_el, _ground_size_m(world))
    skipped = 0
    for building in world.buildings:
        model = _building_model(building)
        if model is None:
            skipped += 1
            continue
        world_el.append(model)
    if skipped:
        logger.warning("world %s: %d building footprints were degenerate and left out", world.name, skipped)
    world_el.append(_hub_model(world.hub, opts.hub_pad_size_m))
    for locker in world.lockers:
        world_el.append(_locker_model(locker, opts.locker_size_m))
    ET.indent(root, space="  ")
    return ET.ElementTree(root)


def export_sdf(world: World, path: Path, options: SdfOptions | None = None) -> Path:
    """Write the world's SDF file (parent folders are created); returns the path written."""
    tree = world_to_sdf(world, options)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    tree.write(temporary, encoding="utf-8", xml_declaration=True)
    temporary.replace(path)  # never leave a half-written world behind
    return path


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def _physics(world_el: ET.Element) -> None:
    physics = _sub(world_el, "physics", name="1ms", type="ignore")
    _sub(physics, "max_step_size", "0.001")
    _sub(physics, "real_time_factor", "1.0")


def _gz_systems(world_el: ET.Element) -> None:
    # The set ArduPilot's own gz worlds load, plus NavSat so GPS sensors use spherical_coordinates.
    for filename, name in (
        ("gz-sim-physics-system", "gz::sim::systems::Physics"),
        ("gz-sim-sensors-system", "gz::sim::systems::Sensors"),
        ("gz-sim-user-commands-system", "gz::sim::systems::UserCommands"),
        ("gz-sim-scene-broadcaster-system", "gz::sim::systems::SceneBroadcaster"),
        ("gz-sim-imu-system", "gz::sim::systems::Imu"),
        ("gz-sim-navsat-system", "gz::sim::systems::NavSat"),
    ):
        plugin = _sub(world_el, "plugin", filename=filename, name=name)
        if name.endswith("Sensors"):
            _sub(plugin, "render_engine", "ogre2")


def _scene_and_sun(world_el: ET.Element) -> None:
    scene = _sub(world_el, "scene")
    _sub(scene, "ambient", "0.8 0.8 0.8 1")
    _sub(scene, "background", "0.75 0.82 0.90 1")
    _sub(scene, "shadows", "true")
    sun = _sub(world_el, "light", type="directional", name="sun")
    _sub(sun, "cast_shadows", "true")
    _sub(sun, "pose", "0 0 300 0 0 0")
    _sub(sun, "diffuse", "0.85 0.85 0.85 1")
    _sub(sun, "specular", "0.3 0.3 0.3 1")
    _sub(sun, "direction", "-0.4 0.3 -0.85")


def _spherical_coordinates(world_el: ET.Element, world: World, opts: SdfOptions) -> None:
    spherical = _sub(world_el, "spherical_coordinates")
    _sub(spherical, "surface_model", "EARTH_WGS84")
    _sub(spherical, "world_frame_orientation", "ENU")
    _sub(spherical, "latitude_deg", f"{world.frame.origin_latitude_deg:.8f}")
    _sub(spherical, "longitude_deg", f"{world.frame.origin_longitude_deg:.8f}")
    _sub(spherical, "elevation", f"{opts.ground_elevation_m:g}")
    _sub(spherical, "heading_deg", "0")


def _ground_size_m(world: World) -> float:
    """Side of a square ground plane centred on the origin that covers every building, site and street node."""
    extent_m = 0.0
    for building in world.buildings:
        min_x, min_y, max_x, max_y = building.footprint.bounds
        extent_m = max(extent_m, abs(min_x), abs(min_y), abs(max_x), abs(max_y))
    for site in (world.hub, *world.lockers):
        extent_m = max(extent_m, abs(site.x_m), abs(site.y_m))
    for _, data in world.street_graph.nodes(data=True):
        extent_m = max(extent_m, abs(float(data["x_m"])), abs(float(data["y_m"])))
    return 2.0 * (extent_m + _GROUND_MARGIN_M)


def _material(parent: ET.Element, rgba: str) -> None:
    material = _sub(parent, "material")
    _sub(material, "ambient", rgba)
    _sub(material, "diffuse", rgba)
    _sub(material, "specular", "0.1 0.1 0.1 1")


def _ground_plane(world_el: ET.Element, size_m: float) -> None:
    model = _sub(world_el, "model", name="ground_plane")
    _sub(model, "static", "true")
    link = _sub(model, "link", name="link")
    for tag, name in (("collision", "collision"), ("visual", "visual")):
        element = _sub(link, tag, name=name)
        plane = _sub(_sub(element, "geometry"), "plane")
        _sub(plane, "normal", "0 0 1")
        _sub(plane, "size", f"{size_m:.1f} {size_m:.1f}")
        if tag == "visual":
            _material(element, _GROUND_RGBA)


def _clean_ring(coordinates: Iterable[tuple[float, ...]], origin_x_m: float, origin_y_m: float) -> list[str]:
    """Ring points relative to the model origin, as SDF `x y` strings, without the closing repeat."""
    points: list[tuple[float, float]] = []
    for coordinate in coordinates:
        x_m, y_m = coordinate[0] - origin_x_m, coordinate[1] - origin_y_m
        if points and math.hypot(x_m - points[-1][0], y_m - points[-1][1]) < _MIN_EDGE_M:
            continue
        points.append((x_m, y_m))
    if len(points) > 1 and math.hypot(points[0][0] - points[-1][0], points[0][1] - points[-1][1]) < _MIN_EDGE_M:
        points.pop()
    return [f"{x_m:.3f} {y_m:.3f}" for x_m, y_m in points]


def _polylines(footprint: Polygon, origin_x_m: float, origin_y_m: float) -> list[list[str]]:
    """Outer ring first, then courtyards (Gazebo extrudes inner polylines as holes)."""
    rings = [footprint.exterior, *footprint.interiors]
    result = []
    for ring in rings:
        points = _clean_ring(ring.coords, origin_x_m, origin_y_m)
        if len(points) >= 3:
            result.append(points)
    return result


def _building_model(building: Building) -> ET.Element | None:
    """A static model whose visual and collision are the footprint extruded to the building's height."""
    if not building.height_m > 0:
        raise WorldError(f"building {building.building_id!r}: height_m must be > 0, got {building.height_m!r}")
    centroid = building.footprint.centroid
    rings = _polylines(building.footprint, centroid.x, centroid.y)
    if not rings:
        return None
    model = ET.Element("model", name=building.building_id)
    _sub(model, "static", "true")
    _sub(model, "pose", f"{centroid.x:.3f} {centroid.y:.3f} 0 0 0 0")
    link = _sub(model, "link", name="link")
    for tag in ("collision", "visual"):
        element = _sub(link, tag, name=tag)
        geometry = _sub(element, "geometry")
        for ring in rings:
            polyline = _sub(geometry, "polyline")
            for point in ring:
                _sub(polyline, "point", point)
            _sub(polyline, "height", f"{building.height_m:.2f}")
        if tag == "visual":
            _material(element, _BUILDING_RGBA)
    if building.address or building.name:
        # Where a person reads what the block is (Gazebo shows it in the entity tree's properties).
        label = building.address or building.name
        model.insert(0, ET.Comment(f" {_comment_safe(label)} "))
    return model


def _comment_safe(text: str) -> str:
    return text.replace("--", "- -")


def _box_model(name: str, x_m: float, y_m: float, size_m: Sequence[float], rgba: str, comment: str) -> ET.Element:
    width_m, depth_m, height_m = size_m
    model = ET.Element("model", name=name)
    model.append(ET.Comment(f" {_comment_safe(comment)} "))
    _sub(model, "static", "true")
    _sub(model, "pose", f"{x_m:.3f} {y_m:.3f} {height_m / 2:.3f} 0 0 0")
    link = _sub(model, "link", name="link")
    for tag in ("collision", "visual"):
        element = _sub(link, tag, name=tag)
        box = _sub(_sub(element, "geometry"), "box")
        _sub(box, "size", f"{width_m:g} {depth_m:g} {height_m:g}")
        if tag == "visual":
            _material(element, rgba)
    return model


def _hub_model(hub: Site, pad_size_m: float) -> ET.Element:
    """The hub as a flat landing pad: drones spawn and land here."""
    return _box_model(hub.site_id, hub.x_m, hub.y_m, (pad_size_m, pad_size_m, 0.1), _HUB_RGBA, hub.name)


def _locker_model(locker: Site, size_m: tuple[float, float, float]) -> ET.Element:
    """A parcel locker bank as a box standing on the ground."""
    return _box_model(locker.site_id, locker.x_m, locker.y_m, size_m, _LOCKER_RGBA, locker.name)
