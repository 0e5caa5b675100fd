"""The simulated world's real street traffic: what the simulated vans actually meet.

Kept apart from the fleet manager's belief on purpose: the van simulator slows its vans by this
truth, while the planner knows only what a traffic feed posts to `POST /v1/traffic` (the traffic
simulator, `sim_worlds.traffic_sim`, posts each event, possibly late or never). Events use the
feed's own geometry (street segments whose midpoint lies within `radius_m` of a point,
`fleet_manager.traffic.TrafficReport`), so a posted report covers the same segments as the truth.

Wire form (the van simulator's sim-control message, no hello needed):

    {"type": "traffic", "request_id": 1, "events": [{"report_id", "kind", "latitude_deg", "longitude_deg",
     "radius_m", "speed_factor", "starts_at_s", "ends_at_s"}, ...]}   (replaces the events known so far)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from fleet_manager.traffic import CLOSED_SPEED_FACTOR, TrafficReport
from mission_planner.errors import FinalMileError
from mission_planner.geodesy import LocalFrame


class TrafficEventError(FinalMileError):
    """A traffic event the simulator cannot use (a field missing or out of range)."""


def event_from_wire(message: Mapping[str, Any]) -> TrafficReport:
    """One event from its JSON form; TrafficEventError naming the field otherwise."""
    try:
        event = TrafficReport(
            report_id=str(message["report_id"]), kind=str(message["kind"]),
            latitude_deg=float(message["latitude_deg"]), longitude_deg=float(message["longitude_deg"]),
            radius_m=float(message["radius_m"]), speed_factor=float(message["speed_factor"]),
            starts_at_s=float(message["starts_at_s"]), ends_at_s=float(message["ends_at_s"]),
        )
    except KeyError as exc:
        raise TrafficEventError(f"traffic event needs {exc.args[0]!r}") from exc
    except (TypeError, ValueError) as exc:
        raise TrafficEventError(f"traffic event has a bad value: {exc}") from exc
    if not 0.0 <= event.speed_factor <= 1.0 or event.radius_m <= 0 or event.ends_at_s <= event.starts_at_s:
        raise TrafficEventError(f"traffic event {event.report_id!r}: speed_factor must be in [0, 1], radius_m > 0 "
                                "and ends_at_s after starts_at_s")
    return event


def event_to_wire(event: TrafficReport) -> dict[str, Any]:
    """The JSON form of one event."""
    return asdict(event)


@dataclass
class StreetTraffic:
    """The events in the world (current, past and coming); `factor_at` is the speed factor where a van drives."""

    frame: LocalFrame
    events: list[TrafficReport] = field(default_factory=list)
    _centres: list[tuple[float, float]] = field(default_factory=list)

    def replace(self, events: Iterable[TrafficReport]) -> None:
        """Know exactly these events from now on."""
        self.events = list(events)
        self._centres = [self.frame.to_local(e.latitude_deg, e.longitude_deg) for e in self.events]

    def factor_at(self, a_xy: tuple[float, float], b_xy: tuple[float, float], now_s: float) -> float:
        """Speed factor on the street segment a-b at `now_s` (overlapping events multiply; a closed street
        still crawls at the feed's closed factor, as the planner assumes)."""
        mid_x, mid_y = (a_xy[0] + b_xy[0]) / 2, (a_xy[1] + b_xy[1]) / 2
        factor = 1.0
        for event, (cx, cy) in zip(self.events, self._centres, strict=True):
            if event.active(now_s) and math.hypot(mid_x - cx, mid_y - cy) <= event.radius_m:
                factor *= max(event.speed_factor, CLOSED_SPEED_FACTOR)
        return factor
