"""Shortest walking routes on a world's walk graph, and positions along them (no ROS)."""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

from mission_planner.errors import FinalMileError


class RouteError(FinalMileError):
    """No walking route to the goal: `reason` is 'goal_off_graph', 'start_off_graph' or 'no_path'."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class Pose2D:
    """A position in the world's local metric frame and a heading (radians, counter-clockwise from east)."""

    x_m: float
    y_m: float
    yaw_rad: float


@dataclass(frozen=True)
class Route:
    """A polyline from start to goal through walk-graph nodes, with cumulative distances."""

    points: tuple[tuple[float, float], ...]
    cumulative_m: tuple[float, ...]
    node_ids: tuple[int, ...]

    @classmethod
    def through(cls, points: list[tuple[float, float]], node_ids: list[int]) -> Route:
        """A route through `points` (consecutive duplicates dropped)."""
        kept: list[tuple[float, float]] = []
        for point in points:
            if not kept or math.dist(kept[-1], point) > 1e-6:
                kept.append(point)
        if not kept:
            raise RouteError("no_path", "a route needs at least one point")
        cumulative = [0.0]
        for a, b in itertools.pairwise(kept):
            cumulative.append(cumulative[-1] + math.dist(a, b))
        return cls(tuple(kept), tuple(cumulative), tuple(node_ids))

    @property
    def length_m(self) -> float:
        """Total length of the route."""
        return self.cumulative_m[-1]

    @property
    def goal(self) -> tuple[float, float]:
        """The last point."""
        return self.points[-1]

    def pose_at(self, distance_m: float) -> Pose2D:
        """The pose `distance_m` along the route (clamped to its ends), heading along the segment."""
        if len(self.points) == 1:
            x_m, y_m = self.points[0]
            return Pose2D(x_m, y_m, 0.0)
        distance_m = min(max(distance_m, 0.0), self.length_m)
        index = min(bisect.bisect_right(self.cumulative_m, distance_m) - 1, len(self.points) - 2)
        (ax, ay), (bx, by) = self.points[index], self.points[index + 1]
        segment_m = self.cumulative_m[index + 1] - self.cumulative_m[index]
        fraction = 0.0 if segment_m <= 0 else (distance_m - self.cumulative_m[index]) / segment_m
        return Pose2D(ax + (bx - ax) * fraction, ay + (by - ay) * fraction, math.atan2(by - ay, bx - ax))


class WalkRouter:
    """Plans routes on an undirected walk graph whose nodes carry `x_m`, `y_m` and edges `length_m`."""

    def __init__(self, walk_graph: nx.Graph, *, max_snap_m: float = 50.0) -> None:
        if max_snap_m <= 0:
            raise ValueError(f"max_snap_m must be > 0, got {max_snap_m}")
        if walk_graph.number_of_nodes() == 0:
            raise RouteError("no_path", "the walk graph has no nodes")
        self.graph = walk_graph
        self.max_snap_m = max_snap_m
        self._ids = np.array(list(walk_graph.nodes), dtype=np.int64)
        self._xy = np.array([(walk_graph.nodes[n]["x_m"], walk_graph.nodes[n]["y_m"]) for n in self._ids])

    def nearest_node(self, x_m: float, y_m: float) -> tuple[int, float]:
        """(node id, distance in m) of the walk node closest to a local point."""
        d2 = (self._xy[:, 0] - x_m) ** 2 + (self._xy[:, 1] - y_m) ** 2
        index = int(np.argmin(d2))
        return int(self._ids[index]), math.sqrt(float(d2[index]))

    def node_xy(self, node_id: int) -> tuple[float, float]:
        """Local coordinates of a node."""
        data = self.graph.nodes[node_id]
        return float(data["x_m"]), float(data["y_m"])

    def plan(self, start_xy: tuple[float, float], goal_xy: tuple[float, float]) -> Route:
        """Shortest route start → nearest node → … → nearest node → goal; RouteError if off the graph."""
        start_node, start_gap_m = self.nearest_node(*start_xy)
        goal_node, goal_gap_m = self.nearest_node(*goal_xy)
        if goal_gap_m > self.max_snap_m:
            raise RouteError(
                "goal_off_graph",
                f"goal ({goal_xy[0]:.1f}, {goal_xy[1]:.1f}) m is {goal_gap_m:.0f} m from the nearest walkway "
                f"(limit {self.max_snap_m:.0f} m)",
            )
        if start_gap_m > self.max_snap_m:
            raise RouteError(
                "start_off_graph",
                f"robot at ({start_xy[0]:.1f}, {start_xy[1]:.1f}) m is {start_gap_m:.0f} m from the nearest walkway",
            )
        try:
            node_ids = nx.shortest_path(self.graph, start_node, goal_node, weight="length_m")
        except nx.NetworkXNoPath as exc:
            raise RouteError("no_path", f"no walkway connects node {start_node} to node {goal_node}") from exc
        points = [start_xy, *(self.node_xy(n) for n in node_ids), goal_xy]
        return Route.through(points, list(node_ids))


def plan_route(walk_graph: nx.Graph, start_xy: tuple[float, float], goal_xy: tuple[float, float]) -> Route:
    """One-off shortest walking route (builds a WalkRouter; keep one for repeated planning)."""
    return WalkRouter(walk_graph).plan(start_xy, goal_xy)
