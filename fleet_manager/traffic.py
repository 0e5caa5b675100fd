"""Street traffic the planner drives vans through: reported congestion and incidents, and the hour's rush.

A report (`POST /v1/traffic`) covers the street segments whose midpoint lies within `radius_m` of a
point, from `starts_at_s` to `ends_at_s`, and multiplies their speed by `speed_factor` (0.05 for a
closed street: closed to planning is still drivable in an emergency). `edge_factors` turns the
active reports into per-edge factors for `mission_planner.ground_paths.GroundNetwork`.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import networkx as nx

from mission_planner.geodesy import LocalFrame

CLOSED_SPEED_FACTOR = 0.05


@dataclass(frozen=True)
class TrafficReport:
    """Congestion or an incident on the streets around a point, for a time."""

    report_id: str
    kind: str  # "congestion" | "incident"
    latitude_deg: float
    longitude_deg: float
    radius_m: float
    speed_factor: float
    starts_at_s: float
    ends_at_s: float

    def active(self, at_s: float) -> bool:
        """True while the report applies."""
        return self.starts_at_s <= at_s < self.ends_at_s


def edge_factors(graph: nx.Graph, frame: LocalFrame, reports: Iterable[TrafficReport],
                 at_s: float) -> dict[tuple[Hashable, Hashable], float]:
    """Speed factor per street edge from the reports active at `at_s` (overlapping reports multiply)."""
    factors: dict[tuple[Hashable, Hashable], float] = {}
    for report in reports:
        if not report.active(at_s):
            continue
        cx, cy = frame.to_local(report.latitude_deg, report.longitude_deg)
        factor = max(report.speed_factor, CLOSED_SPEED_FACTOR)
        for u, v in graph.edges():
            a, b = graph.nodes[u], graph.nodes[v]
            mid_x, mid_y = (a["x_m"] + b["x_m"]) / 2, (a["y_m"] + b["y_m"]) / 2
            if math.hypot(mid_x - cx, mid_y - cy) <= report.radius_m:
                factors[(u, v)] = factors.get((u, v), 1.0) * factor
    return factors
