"""Ground paths on a world's walk graph (robots) and street graph (vans), with cached matrices.

`GroundNetwork` wraps one networkx graph whose nodes carry ``x_m``/``y_m`` and whose edges carry
``length_m`` (and, on streets, ``speed_m_s``). Shortest-path trees are computed once per source
node and kept in the network object the caller holds — there is no module-level cache.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from .errors import PathError, PlanningError


@dataclass(frozen=True)
class GroundPath:
    """A shortest path: node ids, its length and its travel time."""

    nodes: tuple[Hashable, ...]
    length_m: float
    duration_s: float


class GroundNetwork:
    """Shortest paths and distance/time matrices on one graph (walk or street).

    `speed_m_s` is the travel speed; when `use_edge_speed` is true an edge's own ``speed_m_s``
    attribute (vans on posted limits) is used instead, so time and distance minimise separately
    only in distance here: paths are shortest by time, their length is reported alongside.
    """

    def __init__(
        self, graph: nx.Graph, *, speed_m_s: float, use_edge_speed: bool = False, speed_factor: float = 1.0,
        edge_factors: Mapping[tuple[Hashable, Hashable], float] | None = None,
    ) -> None:
        if not math.isfinite(speed_m_s) or speed_m_s <= 0:
            raise PlanningError(f"speed_m_s must be > 0, got {speed_m_s!r}")
        if not math.isfinite(speed_factor) or speed_factor <= 0:
            raise PlanningError(f"speed_factor must be > 0, got {speed_factor!r}")
        bad = [(edge, f) for edge, f in (edge_factors or {}).items() if not math.isfinite(f) or f <= 0]
        if bad:
            raise PlanningError(f"edge speed factors must be > 0, got {bad[0][1]!r} for edge {bad[0][0]!r}")
        # Traffic: every speed times `speed_factor` (the hour's rush), an edge's also times its own factor
        # (congestion or an incident on that street segment, either direction).
        self.speed_factor = speed_factor
        self.edge_factors = dict(edge_factors or {})
        if graph.number_of_nodes() == 0:
            raise PlanningError("ground graph has no nodes")
        self.graph = graph
        self.speed_m_s = speed_m_s
        self.use_edge_speed = use_edge_speed
        self._trees: dict[Hashable, tuple[dict[Hashable, float], dict[Hashable, float]]] = {}
        ids = list(graph.nodes)
        self._ids = ids
        self._index = {node: i for i, node in enumerate(ids)}
        self._adjacent: list[list[tuple[int, float, float]]] | None = None
        self._xy = np.array([(graph.nodes[n]["x_m"], graph.nodes[n]["y_m"]) for n in ids], dtype=float)

    def _edge_time_s(self, u: Hashable, v: Hashable, data: dict[str, float]) -> float:
        speed = float(data.get("speed_m_s", self.speed_m_s)) if self.use_edge_speed else self.speed_m_s
        factor = self.speed_factor
        if self.edge_factors:
            factor *= self.edge_factors.get((u, v), self.edge_factors.get((v, u), 1.0))
        return float(data["length_m"]) / (speed * factor)

    def nearest_node(self, x_m: float, y_m: float) -> Hashable:
        """The graph node closest to a local point (straight-line)."""
        d2 = (self._xy[:, 0] - x_m) ** 2 + (self._xy[:, 1] - y_m) ** 2
        return self._ids[int(np.argmin(d2))]

    def _adjacency(self) -> list[list[tuple[int, float, float]]]:
        if self._adjacent is None:
            adjacent: list[list[tuple[int, float, float]]] = [[] for _ in self._ids]
            directed = self.graph.is_directed()
            for u, v, data in self.graph.edges(data=True):
                time_s = self._edge_time_s(u, v, data)
                length_m = float(data["length_m"])
                adjacent[self._index[u]].append((self._index[v], time_s, length_m))
                if not directed:
                    adjacent[self._index[v]].append((self._index[u], time_s, length_m))
            self._adjacent = adjacent
        return self._adjacent

    def _tree(self, source: Hashable) -> tuple[dict[Hashable, float], dict[Hashable, float]]:
        """Fastest times and their path lengths from `source` to every reachable node (Dijkstra, cached)."""
        tree = self._trees.get(source)
        if tree is None:
            if source not in self._index:
                raise PathError(f"node {source!r} is not in the graph")
            adjacent = self._adjacency()
            start = self._index[source]
            best = {start: 0.0}
            length = {start: 0.0}
            done: set[int] = set()
            heap = [(0.0, start)]
            while heap:
                time_s, node = heapq.heappop(heap)
                if node in done:
                    continue
                done.add(node)
                for neighbour, edge_s, edge_m in adjacent[node]:
                    candidate = time_s + edge_s
                    if candidate < best.get(neighbour, math.inf):
                        best[neighbour] = candidate
                        length[neighbour] = length[node] + edge_m
                        heapq.heappush(heap, (candidate, neighbour))
            ids = self._ids
            tree = ({ids[i]: t for i, t in best.items()}, {ids[i]: m for i, m in length.items()})
            self._trees[source] = tree
        return tree

    def path(self, source: Hashable, target: Hashable) -> GroundPath:
        """Fastest path between two nodes; PathError when they are not connected."""
        try:
            duration_s, nodes = nx.single_source_dijkstra(self.graph, source, target, weight=self._edge_time_s)
        except (nx.NetworkXNoPath, nx.NodeNotFound) as exc:
            raise PathError(f"no ground path from node {source!r} to node {target!r}") from exc
        length_m = sum(self.graph.edges[a, b]["length_m"] for a, b in itertools.pairwise(nodes))
        return GroundPath(tuple(nodes), float(length_m), float(duration_s))

    def edge_time_s(self, u: Hashable, v: Hashable, data: dict[str, float]) -> float:
        """Seconds to drive one edge (networkx weight signature) at this network's speeds and traffic."""
        return self._edge_time_s(u, v, data)

    def path_time_s(self, nodes: Sequence[Hashable]) -> float:
        """Travel time along consecutive nodes at this network's speeds (a route driven as given, not re-chosen)."""
        return float(sum(self._edge_time_s(a, b, self.graph.edges[a, b]) for a, b in itertools.pairwise(nodes)))

    def matrices(self, nodes: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
        """(distance_m, duration_s) matrices between `nodes`; +inf where unreachable. Cached per source."""
        size = len(nodes)
        distance = np.full((size, size), math.inf)
        duration = np.full((size, size), math.inf)
        for i, source in enumerate(nodes):
            times, lengths = self._tree(source)
            for j, target in enumerate(nodes):
                if target in times:
                    duration[i, j] = times[target]
                    distance[i, j] = lengths[target]
        return distance, duration

    def point_matrices(self, points_xy: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        """Matrices between local points, each snapped to its nearest node (the snap leg walked straight)."""
        nodes = [self.nearest_node(x, y) for x, y in points_xy]
        distance, duration = self.matrices(nodes)
        snap_m = np.array([math.dist(p, self._xy[self._index[n]]) for p, n in zip(points_xy, nodes, strict=True)])
        extra_m = snap_m[:, None] + snap_m[None, :]
        np.fill_diagonal(extra_m, 0.0)
        return distance + extra_m, duration + extra_m / (self.speed_m_s * self.speed_factor)
