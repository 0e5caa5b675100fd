"""Whether a van on the road should change its route for the traffic it now meets, and the new route's via points.

Pure: two street networks of the same graph, one at free-flow speeds (how a van's navigation picks
its way between the points it is sent to) and one through today's reported traffic (congestion and
incidents per edge). `compare_routes` times the van's remaining route as it will drive it against
the fastest route through the traffic; `via_nodes` finds the fewest intermediate nodes that make a
free-flow navigation follow the new route.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import networkx as nx

from .errors import PathError
from .ground_paths import GroundNetwork


@dataclass(frozen=True)
class RouteComparison:
    """The remaining route as driven (`stay_*`) against the fastest route through the traffic (`best_*`)."""

    stay_s: float
    stay_m: float
    best_s: float
    best_m: float
    best_legs: tuple[tuple[Hashable, ...], ...]  # node path per leg of the fastest route, one per target
    best_arrival_s: tuple[float, ...] = ()  # drive time to each stop along the fastest route through the traffic
    freeflow_arrival_s: tuple[float, ...] = ()  # drive time to each stop at free flow (what a plan assumed)

    @property
    def saving_s(self) -> float:
        """Seconds the fastest route saves over driving on through the traffic."""
        return self.stay_s - self.best_s


def _length_m(graph: nx.Graph, nodes: Sequence[Hashable]) -> float:
    return float(sum(graph.edges[a, b]["length_m"] for a, b in itertools.pairwise(nodes)))


def compare_routes(
    freeflow: GroundNetwork, traffic: GroundNetwork, start_xy: tuple[float, float],
    driven_targets_xy: Sequence[tuple[float, float]], stop_targets_xy: Sequence[tuple[float, float]],
) -> RouteComparison:
    """Time the van's route through its `driven_targets_xy` (free-flow choice between them, as its navigation
    drives) in today's `traffic`, against the fastest route through the traffic visiting `stop_targets_xy`.

    The driven targets are the stops plus any via points the van was sent before; the stops are the
    places it must reach (parcels, home). PathError when a target cannot be reached.
    """
    graph = freeflow.graph
    start = freeflow.nearest_node(*start_xy)
    stay_nodes: list[Hashable] = [start]
    for xy in driven_targets_xy:
        target = freeflow.nearest_node(*xy)
        stay_nodes.extend(freeflow.path(stay_nodes[-1], target).nodes[1:])
    legs: list[tuple[Hashable, ...]] = []
    best_arrival_s: list[float] = []
    freeflow_arrival_s: list[float] = []
    here = start
    for xy in stop_targets_xy:
        leg = traffic.path(here, traffic.nearest_node(*xy)).nodes
        best_arrival_s.append((best_arrival_s[-1] if best_arrival_s else 0.0) + traffic.path_time_s(leg))
        freeflow_arrival_s.append((freeflow_arrival_s[-1] if freeflow_arrival_s else 0.0)
                                  + freeflow.path(here, leg[-1]).duration_s)
        legs.append(leg)
        here = leg[-1]
    best_nodes = [start, *(node for leg in legs for node in leg[1:])]
    return RouteComparison(
        stay_s=traffic.path_time_s(stay_nodes), stay_m=_length_m(graph, stay_nodes),
        best_s=traffic.path_time_s(best_nodes), best_m=_length_m(graph, best_nodes), best_legs=tuple(legs),
        best_arrival_s=tuple(best_arrival_s), freeflow_arrival_s=tuple(freeflow_arrival_s),
    )


def via_nodes(freeflow: GroundNetwork, leg: Sequence[Hashable]) -> list[Hashable]:
    """The fewest inner nodes of `leg` such that free-flow fastest paths between consecutive ones (start, vias,
    end) drive exactly `leg`; empty when the free-flow path already is `leg`.

    Greedy: from an anchor, the leg is followed as far as the free-flow tree from the anchor agrees
    with it; the last agreeing node becomes the next anchor.
    """
    if len(leg) < 3:
        return []
    graph = freeflow.graph
    vias: list[Hashable] = []
    anchor = 0
    end = len(leg) - 1
    while anchor < end:
        try:
            _times, paths = nx.single_source_dijkstra(graph, leg[anchor], weight=freeflow.edge_time_s)
        except nx.NodeNotFound as exc:
            raise PathError(f"node {leg[anchor]!r} is not in the street graph") from exc
        reach = anchor + 1
        while reach < end and list(paths.get(leg[reach + 1], ())) == list(leg[anchor:reach + 2]):
            reach += 1
        if reach == end:
            break
        # (A single edge that is not itself free-flow fastest is pinned at its end all the same: the
        # navigation then drives its own way to that node, the closest a node via can steer it.)
        vias.append(leg[reach])
        anchor = reach
    return vias
