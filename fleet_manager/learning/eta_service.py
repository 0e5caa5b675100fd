"""The service's ETA windows: from the newest trained model when one is loaded, else the fixed margin.

`OrderLifecycle` asks it at departure and again after each hand-over of the mission (the
remaining parcels' windows are refreshed with the time already spent). Without a model it gives
exactly today's window: the planner's ETA ± `DEFAULT_ETA_SPREAD_S`, and it never sends
`arriving_soon` (no prediction to trust).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..adapters.base import Mission, StepKind
from ..domain.notifications import DEFAULT_ETA_SPREAD_S
from . import leg_facts as facts
from .eta_model import EtaModel, LegQuery
from .model_store import ModelSet

FIXED_SOURCE = "fixed"


@dataclass(frozen=True)
class Departure:
    """What the lifecycle knows about one parcel's leg when it asks for a window."""

    order_id: str
    mode: str
    depart_at_s: float
    planned_eta_s: float | None
    leg: Mapping[str, Any]  # leg_facts keys written at departure
    weight_kg: float
    legs_in_flight: int


def leg_plans(mission: Mission, start: tuple[float, float] | None, planned_eta_s: Mapping[str, float],
              now_s: float) -> dict[str, dict[str, float]]:
    """Per parcel of `mission`: planned duration and route length to its stop, stop index, bearing from the start.

    The route length is straight-line between the mission's waypoints (the planner's street route is
    not kept with the mission); `start` is the vehicle's position, else the mission's first waypoint.
    """
    waypoints: list[tuple[str, tuple[float, float]]] = []
    for step in mission.steps:
        if step.kind in (StepKind.GOTO, StepKind.DELIVER) and step.latitude_deg is not None \
                and step.longitude_deg is not None:
            order_id = step.order_id or "" if step.kind is StepKind.DELIVER else ""
            waypoints.append((order_id, (step.latitude_deg, step.longitude_deg)))
    if not waypoints:
        return {}
    origin = start or waypoints[0][1]
    lengths = facts.route_lengths_m(origin, waypoints)
    plans: dict[str, dict[str, float]] = {}
    for index, (order_id, point) in enumerate((o, p) for o, p in waypoints if o):
        plan: dict[str, float] = {facts.STOP_INDEX_KEY: float(index),
                                  facts.BEARING_KEY: round(facts.bearing_deg(origin, point), 1),
                                  facts.PLANNED_DISTANCE_KEY: round(lengths[order_id], 1)}
        if order_id in planned_eta_s:
            plan[facts.PLANNED_DURATION_KEY] = round(max(planned_eta_s[order_id] - now_s, 0.0), 1)
        plans[order_id] = plan
    return plans


class EtaService:
    """ETA windows for a hub's parcels."""

    def __init__(self, models: ModelSet | None = None, *, arriving_soon_s: float = 600.0) -> None:
        self.model: EtaModel | None = models.eta if models is not None else None
        self.source = f"model:{models.version}" if models is not None and models.eta is not None else FIXED_SOURCE
        self.arriving_soon_s = arriving_soon_s

    @property
    def predicts(self) -> bool:
        """True when a trained model gives the windows."""
        return self.model is not None

    def window(self, departure: Departure, now_s: float) -> dict[str, Any] | None:
        """The parcel's window as stored in `orders.eta` (epoch seconds and source); None without a planned ETA."""
        if departure.planned_eta_s is None:
            return None
        if self.model is None:
            eta_s = departure.planned_eta_s
            return {"earliest_s": max(now_s, eta_s - DEFAULT_ETA_SPREAD_S), "expected_s": eta_s,
                    "latest_s": eta_s + DEFAULT_ETA_SPREAD_S, "source": self.source, "updated_at_s": now_s}
        leg = departure.leg

        def number(key: str) -> float:
            value = leg.get(key)
            return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan

        planned_s = number(facts.PLANNED_DURATION_KEY)
        if math.isnan(planned_s):
            planned_s = max(departure.planned_eta_s - departure.depart_at_s, 0.0)
        wind, wind_from, bearing = (number(facts.WIND_SPEED_KEY), number(facts.WIND_DIRECTION_KEY),
                                    number(facts.BEARING_KEY))
        query = LegQuery(
            mode=departure.mode, depart_at_s=departure.depart_at_s, planned_duration_s=planned_s,
            planned_distance_m=number(facts.PLANNED_DISTANCE_KEY), stop_index=number(facts.STOP_INDEX_KEY),
            elapsed_s=max(now_s - departure.depart_at_s, 0.0), wind_speed_m_s=wind,
            headwind_m_s=wind * math.cos(math.radians(bearing - wind_from)),
            ambient_temp_c=number(facts.AMBIENT_TEMP_KEY), weight_kg=departure.weight_kg,
            legs_in_flight=float(departure.legs_in_flight),
        )
        predicted = self.model.predict([query])[0]
        return {"earliest_s": max(now_s, predicted.earliest_s), "expected_s": max(now_s, predicted.expected_s),
                "latest_s": max(now_s, predicted.latest_s), "source": self.source, "updated_at_s": now_s}

    def arriving_soon(self, eta: Mapping[str, Any], now_s: float) -> float | None:
        """Minutes to announce when this window says the parcel arrives within the threshold, else None."""
        if self.model is None or eta.get("arriving_soon_sent"):
            return None
        remaining_s = float(eta["expected_s"]) - now_s
        return max(1.0, round(remaining_s / 60.0)) if remaining_s <= self.arriving_soon_s else None
