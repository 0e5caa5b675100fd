"""Walking routes of the sim robot: shortest paths on the walk graph and positions along them."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from sim_worlds.robots.route import Route, RouteError, WalkRouter


def _grid() -> nx.Graph:
    """A 3×3 grid of 100 m blocks with the middle-right edge missing."""
    graph = nx.Graph()
    for i in range(3):
        for j in range(3):
            graph.add_node(i * 3 + j, x_m=100.0 * i, y_m=100.0 * j)
    for i in range(3):
        for j in range(3):
            if i < 2:
                graph.add_edge(i * 3 + j, (i + 1) * 3 + j, length_m=100.0)
            if j < 2:
                graph.add_edge(i * 3 + j, i * 3 + j + 1, length_m=100.0)
    graph.remove_edge(4, 7)
    return graph


def test_route_is_the_shortest_walkway_path_and_ends_at_the_goal() -> None:
    """From (0,0) to (200,200) the route runs along walkways: 400 m, through grid nodes only."""
    route = WalkRouter(_grid()).plan((0.0, 0.0), (200.0, 200.0))
    assert route.length_m == pytest.approx(400.0)
    assert route.points[0] == (0.0, 0.0) and route.goal == (200.0, 200.0)
    for (ax, ay), (bx, by) in zip(route.points, route.points[1:], strict=False):
        assert ax == bx or ay == by  # axis-aligned: never cuts across a block


def test_pose_along_the_route_interpolates_and_heads_along_the_segment() -> None:
    """Halfway along a 2-segment L the pose is at the corner; heading follows the segment."""
    route = Route.through([(0.0, 0.0), (100.0, 0.0), (100.0, 100.0)], [])
    assert (route.pose_at(50.0).x_m, route.pose_at(50.0).yaw_rad) == (pytest.approx(50.0), pytest.approx(0.0))
    late = route.pose_at(150.0)
    assert (late.x_m, late.y_m, late.yaw_rad) == (pytest.approx(100.0), pytest.approx(50.0), pytest.approx(math.pi / 2))
    assert route.pose_at(1e9).y_m == pytest.approx(100.0)  # clamped at the goal


def test_goal_far_from_any_walkway_is_refused_with_the_distance() -> None:
    """A goal 500 m off the grid is 'goal_off_graph' and the message names how far it is."""
    with pytest.raises(RouteError) as caught:
        WalkRouter(_grid(), max_snap_m=30.0).plan((0.0, 0.0), (700.0, 200.0))
    assert caught.value.reason == "goal_off_graph"
    assert "500 m from the nearest walkway" in str(caught.value)


def test_disconnected_goal_has_no_path() -> None:
    """A walkway island cannot be reached: 'no_path'."""
    graph = _grid()
    graph.add_node(99, x_m=1000.0, y_m=1000.0)
    with pytest.raises(RouteError) as caught:
        WalkRouter(graph).plan((0.0, 0.0), (1000.0, 1000.0))
    assert caught.value.reason == "no_path"
