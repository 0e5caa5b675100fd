"""Choosing a van's route through reported traffic, and the via points that make a free-flow navigation drive it."""

from __future__ import annotations

import networkx as nx
import pytest

from mission_planner.ground_paths import GroundNetwork
from mission_planner.traffic_routes import compare_routes, via_nodes


def _ladder() -> nx.Graph:
    """Two parallel streets from A to B: the top one (through t1, t2) short and fast, the bottom one longer."""
    graph = nx.Graph()
    points = {"a": (0, 0), "t1": (100, 10), "t2": (200, 10), "b": (300, 0), "d1": (100, -80), "d2": (200, -80)}
    for node, (x, y) in points.items():
        graph.add_node(node, x_m=float(x), y_m=float(y))
    for u, v, length in [("a", "t1", 100), ("t1", "t2", 100), ("t2", "b", 100),
                         ("a", "d1", 130), ("d1", "d2", 100), ("d2", "b", 130)]:
        graph.add_edge(u, v, length_m=float(length), speed_m_s=10.0)
    return graph


def test_a_closed_segment_makes_the_detour_pay_and_one_via_point_steers_it() -> None:
    graph = _ladder()
    freeflow = GroundNetwork(graph, speed_m_s=10.0, use_edge_speed=True)
    closed = GroundNetwork(graph, speed_m_s=10.0, use_edge_speed=True, edge_factors={("t1", "t2"): 0.05})
    comparison = compare_routes(freeflow, closed, (0.0, 0.0), [(300.0, 0.0)], [(300.0, 0.0)])
    assert comparison.stay_s == pytest.approx(10 + 200 + 10)  # through the closure at 0.5 m/s
    assert comparison.best_s == pytest.approx(36.0) and comparison.best_m == pytest.approx(360.0)
    assert comparison.best_legs == (("a", "d1", "d2", "b"),)
    vias = via_nodes(freeflow, comparison.best_legs[0])
    assert len(vias) == 1 and vias[0] in ("d1", "d2")
    driven = ["a"]
    for node in [*vias, "b"]:  # what a free-flow navigation drives through the via point
        driven += list(freeflow.path(driven[-1], node).nodes[1:])
    assert driven == ["a", "d1", "d2", "b"]
    # Free flow everywhere: nothing to gain, no via points needed.
    same = compare_routes(freeflow, freeflow, (0.0, 0.0), [(300.0, 0.0)], [(300.0, 0.0)])
    assert same.saving_s == pytest.approx(0.0) and via_nodes(freeflow, same.best_legs[0]) == []


def test_driven_targets_include_earlier_via_points() -> None:
    """A van already sent through d1 drives the detour: its remaining time is the detour's, no saving left."""
    graph = _ladder()
    freeflow = GroundNetwork(graph, speed_m_s=10.0, use_edge_speed=True)
    closed = GroundNetwork(graph, speed_m_s=10.0, use_edge_speed=True, edge_factors={("t1", "t2"): 0.05})
    comparison = compare_routes(freeflow, closed, (0.0, 0.0), [(100.0, -80.0), (300.0, 0.0)], [(300.0, 0.0)])
    assert comparison.stay_s == pytest.approx(comparison.best_s)
