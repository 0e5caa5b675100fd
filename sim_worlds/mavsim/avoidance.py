"""ArduCopter's fence path planner (OA_TYPE 2, Dijkstra's): fly around exclusion zones in AUTO, GUIDED and RTL.

What ArduCopter does (`AC_Avoidance/AP_OADijkstra.cpp`, `AP_OAPathPlanner.cpp`, `AC_WPNav/AC_WPNav_OA.cpp`): with
OA_TYPE 2 and the polygon fence enabled, the waypoint controller asks the planner for a way from the vehicle to
its destination. The planner builds a visibility graph of the fence's points pushed out by OA_MARGIN_MAX
(each exclusion polygon's vertices outward, each exclusion circle as eight points around radius + margin,
inclusion polygons' vertices inward), joins the vehicle and the destination to it, and takes the shortest way
whose legs cross no fence. The vehicle then flies that path point by point (the next point once within 2 m or
past the leg's finish line); the path is rebuilt when the destination or the fence changes. No path (the
destination or the vehicle inside an exclusion, no way between) is an error: the vehicle stops and
"Dijkstra: could not find path" goes to the GCS every 5 s. The RTL's return leg uses the same controller, so a
drone whose link is lost, or whose fence breach or battery failsafe sends it home, keeps out of every zone its
autopilot holds. OA_TYPE takes effect at boot ("Dijkstra OA requires reboot" until then).

Here the fence shapes come in the home frame (metres) from `fence.Fence`; shapely tests legs against them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx
from shapely.geometry import LineString, Point, Polygon
from shapely.ops import unary_union
from shapely.prepared import PreparedGeometry, prep

from sim_worlds.mavsim.fence import FenceShape

OA_TYPE_DIJKSTRA = 2
OA_TYPE_DIJKSTRA_BENDYRULER = 3
CIRCLE_POINTS = 8  # AP_OADijkstra: an exclusion circle becomes this many points around it
NEAR_POINT_M = 2.0  # AP_OADijkstra: within this of a path point the next one is taken
ERROR_REPORT_S = 5.0  # OA_DIJKSTRA_ERROR_REPORTING_INTERVAL_MS


class NoPath(Exception):
    """The planner found no way to the destination (ArduPilot's DIJKSTRA_ERROR_COULD_NOT_FIND_PATH)."""


@dataclass
class FenceAvoidance:
    """The path planner of one vehicle: built at boot with OA_TYPE, fed the fence and the controller's target."""

    oa_type_at_boot: int
    _fence_version: int = -1
    _blocked: PreparedGeometry | None = None
    _inclusion: PreparedGeometry | None = None
    _nodes: list[tuple[float, float]] = field(default_factory=list)
    _graph: nx.Graph | None = None
    _destination: tuple[float, float] | None = None
    _path: list[tuple[float, float]] = field(default_factory=list)
    _index: int = 0
    last_error_s: float = -math.inf

    @property
    def enabled(self) -> bool:
        """Dijkstra's runs (OA_TYPE 2 or 3 at boot)."""
        return self.oa_type_at_boot in (OA_TYPE_DIJKSTRA, OA_TYPE_DIJKSTRA_BENDYRULER)

    def pre_arm_failure(self, oa_type_now: int) -> str | None:
        """ArduCopter's pre-arm text when OA_TYPE was changed to a planner since boot."""
        if oa_type_now in (OA_TYPE_DIJKSTRA, OA_TYPE_DIJKSTRA_BENDYRULER) and not self.enabled:
            return "Dijkstra OA requires reboot"
        return None

    def waypoint(self, shapes: list[FenceShape], fence_version: int, margin_m: float,
                 here: tuple[float, float], destination: tuple[float, float]) -> tuple[float, float] | None:
        """The point to fly to now on the way to `destination`; None when the straight leg is clear (or there is
        no fence). Raises NoPath when there is no way round."""
        if fence_version != self._fence_version:
            self._load(shapes, margin_m)
            self._fence_version = fence_version
            self._destination = None
        if self._blocked is None and self._inclusion is None:
            return None
        if destination != self._destination:
            self._destination = destination
            self._path = self._shortest_path(here, destination)
            self._index = 1
        # the path's last point is the destination itself: the controller flies there as it would without OA
        while self._index < len(self._path) - 1:
            point = self._path[self._index]
            previous = self._path[self._index - 1] if self._index > 1 else None
            if math.dist(here, point) <= NEAR_POINT_M or (previous is not None and _past(previous, point, here)):
                self._index += 1
                continue
            return point
        return None

    def forget_destination(self) -> None:
        """The controller's target was dropped (a new mode or leg): the next call plans afresh."""
        self._destination = None

    def _load(self, shapes: list[FenceShape], margin_m: float) -> None:
        exclusions = [_shape(s) for s in shapes if not s.inclusion]
        inclusions = [_shape(s) for s in shapes if s.inclusion and s.polygon_m]
        self._blocked = prep(unary_union(exclusions)) if exclusions else None
        self._inclusion = prep(unary_union(inclusions)) if inclusions else None
        nodes: list[tuple[float, float]] = []
        for shape in shapes:
            if shape.inclusion and shape.polygon_m:
                inner = Polygon(shape.polygon_m).buffer(-margin_m, join_style="mitre")
                nodes.extend(_vertices(inner))
            elif not shape.inclusion and shape.polygon_m:
                nodes.extend(_vertices(Polygon(shape.polygon_m).buffer(margin_m, join_style="mitre")))
            elif not shape.inclusion:
                # the eight points of an octagon whose sides keep radius + margin from the centre
                reach = (shape.radius_m + margin_m) / math.cos(math.pi / CIRCLE_POINTS)
                cx, cy = shape.centre_m
                nodes.extend((cx + reach * math.cos(2 * math.pi * k / CIRCLE_POINTS),
                              cy + reach * math.sin(2 * math.pi * k / CIRCLE_POINTS)) for k in range(CIRCLE_POINTS))
        self._nodes = [n for n in nodes if self._free(n)]
        self._graph = None  # built when a leg first needs it: most legs are clear

    def _free(self, point: tuple[float, float]) -> bool:
        if self._blocked is not None and self._blocked.contains(Point(point)):
            return False
        return self._inclusion is None or self._inclusion.contains(Point(point))

    def _clear(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """A leg that crosses no exclusion and stays inside the inclusion fence."""
        leg = LineString([a, b]) if a != b else Point(a)
        if self._blocked is not None and self._blocked.intersects(leg):
            return False
        return self._inclusion is None or self._inclusion.covers(leg)

    def _shortest_path(self, start: tuple[float, float], goal: tuple[float, float]) -> list[tuple[float, float]]:
        if self._clear(start, goal):
            return [start, goal]
        if not self._free(goal):
            raise NoPath("destination inside the fence")
        if self._graph is None:
            graph = nx.Graph()
            for i, a in enumerate(self._nodes):
                graph.add_node(i)
                for j in range(i):
                    if self._clear(a, self._nodes[j]):
                        graph.add_edge(i, j, weight=math.dist(a, self._nodes[j]))
            self._graph = graph
        graph = self._graph.copy()
        for end, point in (("start", start), ("goal", goal)):
            for i, node in enumerate(self._nodes):
                if self._clear(point, node):
                    graph.add_edge(end, i, weight=math.dist(point, node))
        try:
            route = nx.shortest_path(graph, "start", "goal", weight="weight")
        except (nx.NetworkXNoPath, nx.NodeNotFound) as exc:
            raise NoPath("could not find path") from exc
        return [start, *(self._nodes[i] for i in route[1:-1]), goal]


def _shape(shape: FenceShape) -> Polygon:
    if shape.polygon_m:
        return Polygon(shape.polygon_m)
    return Point(shape.centre_m).buffer(shape.radius_m, quad_segs=16)


def _vertices(polygon: object) -> list[tuple[float, float]]:
    parts = getattr(polygon, "geoms", [polygon])
    return [(x, y) for part in parts if isinstance(part, Polygon) and not part.is_empty
            for x, y in list(part.exterior.coords)[:-1]]


def _past(origin: tuple[float, float], point: tuple[float, float], here: tuple[float, float]) -> bool:
    """Location::past_interval_finish_line: beyond the line through `point` square to the leg origin -> point."""
    dx, dy = point[0] - origin[0], point[1] - origin[1]
    return (here[0] - point[0]) * dx + (here[1] - point[1]) * dy > 0.0
