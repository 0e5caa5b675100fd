"""Drone paths: shortest route at cruise altitude that never enters a buffered exclusion zone.

A path is: vertical climb at the start, a polyline at cruise altitude, vertical descent at the
goal. Over terrain (a planner given an `ElevationGrid`) the cruise follows the ground: every
vertex is at cruise altitude above the ground under it, and vertices are added along each leg
where a straight leg between them would leave ``cruise ± vertical_margin_m`` above the ground
(itself inside the hard band ``[min_clearance_m, max_clearance_m]``, 30..120 m by default); see
`mission_planner.terrain_following` for the sampling and its error bound. Without terrain
(flat worlds such as Helsinki) nothing of this applies and paths are exactly as before.

The polyline comes from a visibility graph over the exclusion zones that are active (in time
and at cruise altitude) grown by the safety margin, and over the operating area shrunk by it,
searched with A* (networkx). Because a shortest path in a polygonal domain bends only at
obstacle corners, the graph finds a path whenever one exists with clearance
``safety_margin_m + clearance_m`` (up to the polygonal approximation of round buffers, made
conservative below).

Geometry detail: segments are checked against zones grown by ``margin + clearance/2``; graph
corners are placed on polygons grown by ``(margin + clearance) / cos(π/16)``, whose edges (chords
of the round buffer) therefore stay at least ``margin + clearance`` away from every zone.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union
from shapely.prepared import PreparedGeometry, prep

from . import wind_flight
from .airspace import Airspace
from .energy import MultirotorModel, Wind
from .errors import PathError, PlanningError
from .geodesy import bearing_deg
from .terrain import ElevationGrid
from .terrain_following import cruise_profile

_QUAD_SEGS = 4
_CHORD_FACTOR = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))


@dataclass(frozen=True)
class Waypoint:
    """A 3-D point in the world's local frame: metres east, north, and above the ground under it.

    `ground_elevation_m` is the ground's height above sea level under the point in worlds with
    terrain, 0 in flat worlds (where altitudes are above the take-off ground).
    """

    x_m: float
    y_m: float
    altitude_m: float
    ground_elevation_m: float = 0.0

    @property
    def elevation_m(self) -> float:
        """Altitude above the world's datum: above sea level with terrain, above the take-off ground without."""
        return self.ground_elevation_m + self.altitude_m


@dataclass(frozen=True)
class DronePath:
    """Climb, cruise polyline, descent; all waypoints in the local frame (see `Waypoint`).

    `above_sea_level` is True over terrain: waypoint elevations are then metres above sea level,
    and energy uses the air density of the International Standard Atmosphere at each leg's height.
    """

    waypoints: tuple[Waypoint, ...]
    cruise_altitude_m: float
    above_sea_level: bool = False

    @property
    def horizontal_m(self) -> float:
        """Length of the cruise part over the ground."""
        return sum(math.hypot(b.x_m - a.x_m, b.y_m - a.y_m) for a, b in itertools.pairwise(self.waypoints))

    @property
    def vertical_m(self) -> float:
        """Total climb plus descent."""
        return sum(abs(b.elevation_m - a.elevation_m) for a, b in itertools.pairwise(self.waypoints))

    @property
    def climb_m(self) -> float:
        """Total climb (the sum of the rises between waypoints)."""
        return sum(max(0.0, b.elevation_m - a.elevation_m) for a, b in itertools.pairwise(self.waypoints))

    def points_m(self) -> list[tuple[float, float, float]]:
        """Waypoints as (x_m, y_m, altitude_m) tuples (the form `Airspace.path_conflicts` takes)."""
        return [(w.x_m, w.y_m, w.altitude_m) for w in self.waypoints]

    def flight_time_s(self, model: MultirotorModel, wind: Wind | None = None) -> float:
        """Time (s) to fly the path at the model's cruise airspeed and vertical rates.

        A leg between waypoints at different heights is flown as `MultirotorModel.sloped_leg_time_s`
        describes (slower along the track where the climb or descent rate limits it); a vertical leg
        at the climb or descent rate.
        """
        total = 0.0
        for a, b in itertools.pairwise(self.waypoints):
            ground_m = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
            rise_m = b.elevation_m - a.elevation_m
            if ground_m > 0:
                head, cross = _components(wind, a, b)
                total += model.sloped_leg_time_s(ground_m, rise_m, headwind_m_s=head, crosswind_m_s=cross)
            else:
                total += model.vertical_time_s(rise_m)
        return total

    def energy_wh(self, model: MultirotorModel, payload_kg: float, wind: Wind | None = None) -> float:
        """Energy (Wh) to fly the path carrying `payload_kg`: level, sloped (climb or descent while flying on)
        and vertical legs, each at the air density of its mean height when the path is `above_sea_level`."""
        total = 0.0
        for a, b in itertools.pairwise(self.waypoints):
            ground_m = math.hypot(b.x_m - a.x_m, b.y_m - a.y_m)
            rise_m = b.elevation_m - a.elevation_m
            leg_model = model.at_altitude((a.elevation_m + b.elevation_m) / 2.0) if self.above_sea_level else model
            if ground_m > 0:
                head, cross = _components(wind, a, b)
                total += leg_model.sloped_leg_energy_wh(
                    payload_kg, ground_m, rise_m, headwind_m_s=head, crosswind_m_s=cross
                )
            else:
                total += leg_model.vertical_energy_wh(payload_kg, rise_m)
        return total

    def energy_in_wind_wh(self, model: MultirotorModel, payload_kg: float, ground_speed_m_s: float,
                          wind_m_s: tuple[float, float]) -> float:
        """Energy (Wh) to fly the path as the autopilot flies it in the wind `wind_m_s` (east, north): ground speed
        held along each leg (`wind_flight`), at the air density of each leg's mean height when `above_sea_level`."""
        total = 0.0
        for a, b in itertools.pairwise(self.waypoints):
            leg_model = model.at_altitude((a.elevation_m + b.elevation_m) / 2.0) if self.above_sea_level else model
            total += wind_flight.leg_energy_wh(leg_model, payload_kg, (a.x_m, a.y_m, a.elevation_m),
                                               (b.x_m, b.y_m, b.elevation_m), ground_speed_m_s, wind_m_s)
        return total


def _components(wind: Wind | None, a: Waypoint, b: Waypoint) -> tuple[float, float]:
    if wind is None or wind.speed_m_s == 0:
        return 0.0, 0.0
    return wind.components(bearing_deg(b.x_m - a.x_m, b.y_m - a.y_m))


@dataclass
class _Scene:
    """Visibility graph and collision geometry for one set of active zones at one altitude."""

    blocked: PreparedGeometry | None
    allowed: PreparedGeometry | None
    endpoint_blocked: PreparedGeometry | None
    corners: list[tuple[float, float]]
    graph: nx.Graph = field(default_factory=nx.Graph)
    blocked_geometry: BaseGeometry | None = None
    allowed_geometry: BaseGeometry | None = None
    endpoint_geometry: BaseGeometry | None = None
    corner_distance_m: np.ndarray | None = None  # all-pairs shortest paths over the corner graph

    def clear_mask(self, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Vectorised `segment_clear` for arrays of segment endpoints, shape (n, 2) each."""
        lines = shapely.linestrings(np.stack([starts, ends], axis=1))
        ok = np.ones(len(starts), dtype=bool)
        if self.blocked_geometry is not None:
            ok &= ~shapely.intersects(self.blocked_geometry, lines)
        if self.allowed_geometry is not None:
            ok &= shapely.covers(self.allowed_geometry, lines)
        return ok

    def endpoint_mask(self, points: np.ndarray) -> np.ndarray:
        """Vectorised `endpoint_clear`."""
        geoms = shapely.points(points)
        ok = np.ones(len(points), dtype=bool)
        if self.endpoint_geometry is not None:
            ok &= ~shapely.intersects(self.endpoint_geometry, geoms)
        if self.allowed_geometry is not None:
            ok &= shapely.covers(self.allowed_geometry, geoms)
        return ok

    def segment_clear(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        line = LineString([a, b]) if a != b else Point(a)
        if self.blocked is not None and self.blocked.intersects(line):
            return False
        return self.allowed is None or self.allowed.covers(line)

    def endpoint_clear(self, p: tuple[float, float]) -> bool:
        point = Point(p)
        if self.endpoint_blocked is not None and self.endpoint_blocked.intersects(point):
            return False
        return self.allowed is None or self.allowed.covers(point)


class DronePathPlanner:
    """Plans drone paths over one airspace; caches a visibility graph per set of active zones.

    The caller keeps the planner (and with it the cache): there is no global state.
    """

    def __init__(
        self,
        airspace: Airspace,
        *,
        safety_margin_m: float = 20.0,
        cruise_altitude_m: float = 60.0,
        vertical_margin_m: float = 10.0,
        clearance_m: float = 1.0,
        operator: str | None = None,
        terrain: ElevationGrid | None = None,
        min_clearance_m: float = 30.0,
        max_clearance_m: float = 120.0,
        terrain_step_m: float = 10.0,
        ceiling_amsl_m: float | None = None,
    ) -> None:
        """`terrain` (None for flat worlds) makes the cruise follow the ground within
        ``cruise_altitude_m ± vertical_margin_m``, which must lie inside ``[min_clearance_m, max_clearance_m]``
        above the ground; the ground under each leg is sampled at most `terrain_step_m` apart (and at every
        grid line). `ceiling_amsl_m` refuses legs that would climb higher above sea level (thin air)."""
        for name, value in (
            ("safety_margin_m", safety_margin_m),
            ("vertical_margin_m", vertical_margin_m),
            ("clearance_m", clearance_m),
        ):
            if not math.isfinite(value) or value < 0:
                raise PlanningError(f"{name} must be a finite number >= 0, got {value!r}")
        if not math.isfinite(cruise_altitude_m) or cruise_altitude_m <= 0:
            raise PlanningError(f"cruise_altitude_m must be > 0, got {cruise_altitude_m!r}")
        if terrain is not None:
            low_m, high_m = cruise_altitude_m - vertical_margin_m, cruise_altitude_m + vertical_margin_m
            if not (0 <= min_clearance_m <= low_m and high_m <= max_clearance_m):
                raise PlanningError(
                    f"cruise {cruise_altitude_m:g} ± {vertical_margin_m:g} m must lie within min_clearance_m="
                    f"{min_clearance_m:g} and max_clearance_m={max_clearance_m:g} m above the ground"
                )
            if not (math.isfinite(terrain_step_m) and terrain_step_m > 0):
                raise PlanningError(f"terrain_step_m must be a finite number > 0, got {terrain_step_m!r}")
        if ceiling_amsl_m is not None and not math.isfinite(ceiling_amsl_m):
            raise PlanningError(f"ceiling_amsl_m must be finite or None, got {ceiling_amsl_m!r}")
        self.airspace = airspace
        self.safety_margin_m = safety_margin_m
        self.cruise_altitude_m = cruise_altitude_m
        self.vertical_margin_m = vertical_margin_m
        self.clearance_m = clearance_m
        self.operator = operator
        self.terrain = terrain
        self.min_clearance_m = min_clearance_m
        self.max_clearance_m = max_clearance_m
        self.terrain_step_m = terrain_step_m
        self.ceiling_amsl_m = ceiling_amsl_m
        self._scenes: dict[tuple[frozenset[str], frozenset[str]], _Scene] = {}

    def path(
        self,
        start_xy: tuple[float, float],
        goal_xy: tuple[float, float],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> DronePath:
        """Shortest safe path from `start_xy` to `goal_xy` (local m) for zones active during [start_s, end_s].

        `start_s=None` treats every zone as active (conservative). Raises PathError when an
        endpoint is inside a buffered zone or outside the operating area, or no path exists.
        """
        scene = self._scene(start_s, end_s)
        start = (float(start_xy[0]), float(start_xy[1]))
        goal = (float(goal_xy[0]), float(goal_xy[1]))
        for name, point in (("start", start), ("goal", goal)):
            if not scene.endpoint_clear(point):
                raise PathError(
                    f"{name} ({point[0]:.1f}, {point[1]:.1f}) is inside a buffered exclusion zone "
                    f"(margin {self.safety_margin_m} m) or outside the operating area"
                )
        polyline = self._route(scene, start, goal)
        altitude = self.cruise_altitude_m
        if self.terrain is not None:
            return self._over_terrain(self.terrain, polyline)
        waypoints = (
            Waypoint(start[0], start[1], 0.0),
            *(Waypoint(x, y, altitude) for x, y in polyline),
            Waypoint(goal[0], goal[1], 0.0),
        )
        return DronePath(waypoints, altitude)

    def _over_terrain(self, terrain: ElevationGrid, polyline: list[tuple[float, float]]) -> DronePath:
        """Climb, the terrain-following cruise over `polyline`, descent (waypoints carry their ground height)."""
        vertices = cruise_profile(
            terrain,
            polyline,
            target_agl_m=self.cruise_altitude_m,
            low_agl_m=self.cruise_altitude_m - self.vertical_margin_m,
            high_agl_m=self.cruise_altitude_m + self.vertical_margin_m,
            step_m=self.terrain_step_m,
        )
        if self.ceiling_amsl_m is not None:
            top = max(vertices, key=lambda v: v.ground_m + v.height_agl_m)
            if top.ground_m + top.height_agl_m + self.vertical_margin_m > self.ceiling_amsl_m:
                raise PathError(
                    f"path from ({polyline[0][0]:.1f}, {polyline[0][1]:.1f}) to ({polyline[-1][0]:.1f}, "
                    f"{polyline[-1][1]:.1f}) must climb to {top.ground_m + top.height_agl_m:.0f} m above sea level "
                    f"at ({top.x_m:.0f}, {top.y_m:.0f}), above the drone's ceiling {self.ceiling_amsl_m:g} m"
                )
        first, last = vertices[0], vertices[-1]
        waypoints = (
            Waypoint(first.x_m, first.y_m, 0.0, first.ground_m),
            *(Waypoint(v.x_m, v.y_m, v.height_agl_m, v.ground_m) for v in vertices),
            Waypoint(last.x_m, last.y_m, 0.0, last.ground_m),
        )
        return DronePath(waypoints, self.cruise_altitude_m, above_sea_level=True)

    def horizontal_distance_m(
        self,
        start_xy: tuple[float, float],
        goal_xy: tuple[float, float],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> float:
        """Cruise length (m) of the safe path, or +inf when there is none."""
        try:
            return self.path(start_xy, goal_xy, start_s=start_s, end_s=end_s).horizontal_m
        except PathError:
            return math.inf

    def distance_matrix_m(
        self,
        points_xy: list[tuple[float, float]],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> np.ndarray:
        """Matrix of safe cruise lengths (m) between points; +inf where no path exists."""
        return self.distance_rows_m(points_xy, points_xy, start_s=start_s, end_s=end_s)

    def distance_rows_m(
        self,
        sources_xy: list[tuple[float, float]],
        targets_xy: list[tuple[float, float]],
        *,
        start_s: float | None = None,
        end_s: float | None = None,
    ) -> np.ndarray:
        """Safe cruise lengths (m) from each source to each target; +inf where no path exists.

        The same answer as `path(...).horizontal_m` for every pair, computed at once: straight
        segments where clear, else the best (source -> visible corner -> corner graph -> visible
        corner -> target) combination (min-plus products over the corner graph's shortest paths).
        """
        scene = self._scene(start_s, end_s)
        sources = np.asarray(sources_xy, dtype=float).reshape(-1, 2)
        targets = np.asarray(targets_xy, dtype=float).reshape(-1, 2)
        n_s, n_t = len(sources), len(targets)
        result = np.full((n_s, n_t), np.inf)
        if n_s == 0 or n_t == 0:
            return result
        euclid = np.hypot(sources[:, None, 0] - targets[None, :, 0], sources[:, None, 1] - targets[None, :, 1])
        direct = scene.clear_mask(np.repeat(sources, n_t, axis=0), np.tile(targets, (n_s, 1))).reshape(n_s, n_t)
        result[direct] = euclid[direct]
        corners = np.asarray(scene.corners, dtype=float).reshape(-1, 2)
        if len(corners) and not direct.all():
            between = self._corner_distances(scene)
            to_source = self._visible_distances(scene, sources, corners)  # (n_s, c)
            to_target = self._visible_distances(scene, targets, corners)  # (n_t, c)
            through = np.min(to_source[:, :, None] + between[None, :, :], axis=1)  # (n_s, c)
            via = np.min(through[:, None, :] + to_target[None, :, :], axis=2)  # (n_s, n_t)
            result = np.where(direct, result, via)
        same = euclid == 0.0
        result[same] = 0.0
        result[~scene.endpoint_mask(sources), :] = np.inf
        result[:, ~scene.endpoint_mask(targets)] = np.inf
        return result

    @staticmethod
    def _visible_distances(scene: _Scene, points: np.ndarray, corners: np.ndarray) -> np.ndarray:
        n, c = len(points), len(corners)
        clear = scene.clear_mask(np.repeat(points, c, axis=0), np.tile(corners, (n, 1))).reshape(n, c)
        distance = np.hypot(points[:, None, 0] - corners[None, :, 0], points[:, None, 1] - corners[None, :, 1])
        return np.where(clear, distance, np.inf)

    @staticmethod
    def _corner_distances(scene: _Scene) -> np.ndarray:
        if scene.corner_distance_m is None:
            index = {corner: i for i, corner in enumerate(scene.corners)}
            size = len(scene.corners)
            matrix = np.full((size, size), np.inf)
            np.fill_diagonal(matrix, 0.0)
            for a, b, weight in scene.graph.edges(data="weight"):
                if a in index and b in index:
                    matrix[index[a], index[b]] = matrix[index[b], index[a]] = weight
            # Floyd-Warshall, one vectorised relaxation per corner: the same lengths as Dijkstra from every
            # corner, but in numpy (a mountain world's hundreds of corners: well under a second instead of
            # ~15 s of networkx Dijkstra runs)
            for k in range(size):
                np.minimum(matrix, matrix[:, k, None] + matrix[None, k, :], out=matrix)
            scene.corner_distance_m = matrix
        return scene.corner_distance_m

    def _route(self, scene: _Scene, start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
        if scene.segment_clear(start, goal):
            return [start, goal]
        graph = scene.graph
        start_node, goal_node = ("start",), ("goal",)
        try:
            for label, point in ((start_node, start), (goal_node, goal)):
                graph.add_node(label, xy=point)
                for corner in scene.corners:
                    if scene.segment_clear(point, corner):
                        graph.add_edge(label, corner, weight=math.dist(point, corner))

            def heuristic(u: object, v: object) -> float:
                return math.dist(graph.nodes[u]["xy"], graph.nodes[v]["xy"])

            try:
                nodes = nx.astar_path(graph, start_node, goal_node, heuristic=heuristic, weight="weight")
            except nx.NetworkXNoPath as exc:
                raise PathError(
                    f"no safe drone path from ({start[0]:.1f}, {start[1]:.1f}) to ({goal[0]:.1f}, {goal[1]:.1f})"
                ) from exc
            return [graph.nodes[n]["xy"] for n in nodes]
        finally:
            graph.remove_nodes_from([start_node, goal_node])

    def _scene(self, start_s: float | None, end_s: float | None) -> _Scene:
        altitude = self.cruise_altitude_m
        cruise_zones = self.airspace.exclusion_zones(
            start_s=start_s,
            end_s=end_s,
            operator=self.operator,
            low_m=max(0.0, altitude - self.vertical_margin_m),
            high_m=altitude + self.vertical_margin_m,
        )
        column_zones = self.airspace.exclusion_zones(
            start_s=start_s, end_s=end_s, operator=self.operator, low_m=0.0, high_m=altitude + self.vertical_margin_m
        )
        key = (frozenset(z.zone_id for z in cruise_zones), frozenset(z.zone_id for z in column_zones))
        scene = self._scenes.get(key)
        if scene is None:
            scene = self._build_scene([z.polygon for z in cruise_zones], [z.polygon for z in column_zones])
            self._scenes[key] = scene
        return scene

    def _build_scene(self, cruise: list[Polygon], column: list[Polygon]) -> _Scene:
        check_m = self.safety_margin_m + self.clearance_m / 2.0
        corner_m = (self.safety_margin_m + self.clearance_m) * _CHORD_FACTOR
        blocked = unary_union([p.buffer(check_m) for p in cruise]) if cruise else None
        endpoint_blocked = unary_union([p.buffer(check_m) for p in column]) if column else None
        area = self.airspace.operating_area()
        allowed = area.buffer(-check_m) if area is not None else None
        if allowed is not None and allowed.is_empty:
            raise PlanningError(f"the operating area is narrower than twice the safety margin ({check_m:.1f} m)")
        outlines: list[BaseGeometry] = [p.buffer(corner_m, quad_segs=_QUAD_SEGS) for p in cruise]
        if area is not None:
            outlines.append(area.buffer(-corner_m, quad_segs=_QUAD_SEGS))
        for geometry in (blocked, allowed, endpoint_blocked):
            if geometry is not None:
                shapely.prepare(geometry)
        scene = _Scene(
            blocked=prep(blocked) if blocked is not None else None,
            allowed=prep(allowed) if allowed is not None else None,
            endpoint_blocked=prep(endpoint_blocked) if endpoint_blocked is not None else None,
            corners=[],
            blocked_geometry=blocked,
            allowed_geometry=allowed,
            endpoint_geometry=endpoint_blocked,
        )
        corners: list[tuple[float, float]] = []
        for outline in outlines:
            for polygon in getattr(outline, "geoms", [outline]):
                if polygon.is_empty:
                    continue
                for ring in (polygon.exterior, *polygon.interiors):
                    corners.extend((float(x), float(y)) for x, y in list(ring.coords)[:-1])
        scene.corners = [c for c in dict.fromkeys(corners) if scene.segment_clear(c, c)]
        for corner in scene.corners:
            scene.graph.add_node(corner, xy=corner)
        for a, b in itertools.combinations(scene.corners, 2):
            if scene.segment_clear(a, b):
                scene.graph.add_edge(a, b, weight=math.dist(a, b))
        return scene
