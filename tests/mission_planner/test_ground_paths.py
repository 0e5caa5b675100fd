"""Ground paths: shortest times on walk/street graphs, one-way streets, cached matrices, unreachable nodes."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from mission_planner.errors import PathError, PlanningError
from mission_planner.ground_paths import GroundNetwork


def _grid() -> nx.DiGraph:
    graph = nx.DiGraph()
    for node, (x, y) in {1: (0, 0), 2: (100, 0), 3: (100, 100), 4: (0, 100), 5: (500, 500)}.items():
        graph.add_node(node, x_m=x, y_m=y)
    graph.add_edge(1, 2, length_m=100.0, speed_m_s=10.0)
    graph.add_edge(2, 3, length_m=100.0, speed_m_s=10.0)
    graph.add_edge(3, 4, length_m=100.0, speed_m_s=10.0)
    graph.add_edge(4, 1, length_m=100.0, speed_m_s=10.0)  # one-way ring
    graph.add_edge(1, 3, length_m=150.0, speed_m_s=5.0)  # shorter but slower
    return graph


def test_fastest_path_respects_one_way_streets_and_edge_speeds() -> None:
    """1->3: via 2 takes 20 s (200 m) and beats the 150 m slow street (30 s); 3->1 must go round via 4."""
    network = GroundNetwork(_grid(), speed_m_s=8.0, use_edge_speed=True)
    forward = network.path(1, 3)
    assert forward.nodes == (1, 2, 3) and forward.duration_s == pytest.approx(20.0) and forward.length_m == 200.0
    back = network.path(3, 1)
    assert back.nodes == (3, 4, 1) and back.length_m == 200.0


def test_matrices_are_cached_and_mark_unreachable_nodes() -> None:
    """Node 5 is isolated: +inf both ways; the second call reuses the trees."""
    network = GroundNetwork(_grid(), speed_m_s=8.0, use_edge_speed=True)
    distance, duration = network.matrices([1, 3, 5])
    assert distance[0, 1] == 200.0 and duration[0, 1] == pytest.approx(20.0)
    assert math.isinf(distance[0, 2]) and math.isinf(duration[2, 0])
    trees = dict(network._trees)
    network.matrices([1, 3, 5])
    assert all(network._trees[k] is trees[k] for k in trees)
    with pytest.raises(PathError, match="no ground path"):
        network.path(1, 5)


def test_point_matrices_add_the_straight_snap_legs() -> None:
    """Points 10 m off nodes 1 and 3 cost 2 × 10 m more than the node-to-node path."""
    network = GroundNetwork(_grid().to_undirected(), speed_m_s=2.0)
    distance, duration = network.point_matrices([(-10.0, 0.0), (110.0, 100.0)])
    assert distance[0, 1] == pytest.approx(150.0 + 20.0)  # undirected walk: the 150 m street is shortest
    assert duration[0, 1] == pytest.approx(170.0 / 2.0)
    assert distance[0, 0] == 0.0


def test_bad_speed_is_refused() -> None:
    """speed_m_s must be positive."""
    with pytest.raises(PlanningError, match="speed_m_s"):
        GroundNetwork(_grid(), speed_m_s=0.0)


def test_helsinki_matrices_are_finite_between_addresses() -> None:
    """On the real walk graph every pair of the first 10 addresses is connected, lengths ≥ straight line."""
    from fleet_manager.world import load_world

    world = load_world("helsinki")
    network = GroundNetwork(world.walk_graph, speed_m_s=1.5)
    points = [(b.x_m, b.y_m) for b in world.addresses[:10]]
    distance, _ = network.point_matrices(points)
    assert (distance < math.inf).all()
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            assert distance[i, j] >= math.dist(a, b) - 1e-6


def test_traffic_slows_all_streets_and_reroutes_around_a_congested_segment() -> None:
    """A rush-hour factor scales every time; a jam on 2->3 makes the slow direct street the faster way."""
    rush = GroundNetwork(_grid(), speed_m_s=8.0, use_edge_speed=True, speed_factor=0.5)
    assert rush.path(1, 3).nodes == (1, 2, 3) and rush.path(1, 3).duration_s == pytest.approx(40.0)
    jammed = GroundNetwork(_grid(), speed_m_s=8.0, use_edge_speed=True, edge_factors={(2, 3): 0.2})
    detour = jammed.path(1, 3)
    assert detour.nodes == (1, 3) and detour.duration_s == pytest.approx(30.0)
    assert jammed.matrices([1, 3])[1][0, 1] == pytest.approx(30.0)
    with pytest.raises(PlanningError, match="speed_factor"):
        GroundNetwork(_grid(), speed_m_s=8.0, speed_factor=0.0)
    with pytest.raises(PlanningError, match="edge speed factors"):
        GroundNetwork(_grid(), speed_m_s=8.0, edge_factors={(1, 2): -1.0})
