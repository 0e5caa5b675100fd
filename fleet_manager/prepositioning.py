"""Pre-positioning: before a forecast demand peak, idle vans drive out to staging points near the demand.

The demand forecast (`learning.demand_model.DemandForecast`, trained by `finalmile learn`) gives the
expected orders per area and local hour. A peak hour is one expecting at least `peak_ratio` times
the mean of the hours with any demand. From `lead_s` before a peak hour begins, the vans idle at the
hub with at least `min_van_charge_pct` battery are sent (a mission of one GOTO, through the mission
control like any other) to staging points: the demand-weighted centres of the peak hour's areas,
grouped into as many clusters as there are such vans, each moved to the nearest street node. A van
ends its staging mission idle there. Parcels are loaded at the hub, so the planner starts a staged
van at the hub once driven back and its next mission goes via the hub (`sorties.staged_van_start`):
an empty staged van gains nothing on orders still at the hub (measured in `python -m benchmarks
prediction`, rows `prepositioning`). Each staging is event `fleet.staged` (live stream; not a
webhook) with the points and the forecast.

A van that carries drones or robots is staged with them: they must be idle at the hub with at least
`min_carried_charge_pct` (else the van waits at the hub), board there before it leaves (event
`vehicle.loaded`, as at a handoff mission's start) and ride aboard to the staging point. They stay
aboard: the van's next handoff mission does not board them again (`VanChoreography.load` skips
vehicles aboard) and unloads them when back. Its parcels are still loaded at the hub, so that
mission too goes via the hub first: launching at the staging point itself would need parcels
aboard before the orders exist, which this does not do.
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import Any

import networkx as nx

from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from mission_planner.ground_paths import GroundNetwork

from .adapters.base import Carrier, Mission, MissionStep, StepKind, VehicleKind
from .domain.orders import DeliveryMode
from .errors import AdapterError
from .fleet import Fleet, FleetVehicle
from .learning.demand_model import DemandForecast, area_centre
from .mission_control import MissionControl
from .sorties import Sortie, at_hub, van_away_from_hub_m
from .store import outbox
from .store.db import Database

logger = logging.getLogger(__name__)

STAGED = "fleet.staged"
_CLUSTER_ROUNDS = 20


@dataclass(frozen=True)
class StagingConfig:
    """When and how vans are staged before a forecast peak (FINALMILE_STAGING_*)."""

    enabled: bool = True
    lead_s: float = 1800.0
    peak_ratio: float = 1.5
    min_van_charge_pct: float = 80.0
    min_carried_charge_pct: float = 90.0  # a carrier's drones and robots must be this charged to go with it
    check_period_wall_s: float = 2.0


@dataclass(frozen=True)
class StagingPoint:
    """Where a van waits for a peak, and the demand it is there for."""

    latitude_deg: float
    longitude_deg: float
    expected_orders: float
    areas: tuple[str, ...]


def staging_points(forecast: DemandForecast, hour: int, count: int, frame: LocalFrame,
                   streets: GroundNetwork) -> list[StagingPoint]:
    """Up to `count` staging points for a local hour, busiest first (weighted k-means over the areas' centres,
    seeded with the busiest areas; each centre moved to the nearest street node)."""
    demand = forecast.at_hour(hour)
    if not demand or count <= 0:
        return []
    areas = sorted(demand, key=lambda a: (-demand[a], a))
    xy = {a: frame.to_local(*area_centre(a)) for a in areas}
    centres = [xy[a] for a in areas[:count]]
    groups: list[list[str]] = []
    for _round in range(_CLUSTER_ROUNDS):
        groups = [[] for _ in centres]
        for area in areas:
            nearest = min(range(len(centres)), key=lambda i: math.dist(xy[area], centres[i]))
            groups[nearest].append(area)
        moved = [(sum(xy[a][0] * demand[a] for a in g) / sum(demand[a] for a in g),
                  sum(xy[a][1] * demand[a] for a in g) / sum(demand[a] for a in g)) if g else c
                 for g, c in zip(groups, centres, strict=True)]
        if moved == centres:
            break
        centres = moved
    points = []
    for group, (x_m, y_m) in zip(groups, centres, strict=True):
        if not group:
            continue
        node = streets.graph.nodes[streets.nearest_node(x_m, y_m)]
        latitude_deg, longitude_deg = frame.to_wgs84(float(node["x_m"]), float(node["y_m"]))
        points.append(StagingPoint(latitude_deg, longitude_deg, round(sum(demand[a] for a in group), 3),
                                   tuple(sorted(group))))
    return sorted(points, key=lambda p: -p.expected_orders)


class Stager:
    """Stages one hub's idle vans before forecast peaks (a background job)."""

    def __init__(self, *, database: Database, fleet: Fleet, missions: MissionControl, clock: Clock,
                 frame: LocalFrame, street_graph: nx.Graph, hub_id: str, forecast: DemandForecast,
                 config: StagingConfig | None = None) -> None:
        self.database = database
        self.fleet = fleet
        self.missions = missions
        self.clock = clock
        self.frame = frame
        self.streets = GroundNetwork(street_graph, speed_m_s=10.0, use_edge_speed=True)
        self.hub_id = hub_id
        self.forecast = forecast
        self.config = config or StagingConfig()
        self.peak_hours = frozenset(forecast.peak_hours(self.config.peak_ratio))
        self.staged: dict[float, list[tuple[str, StagingPoint]]] = {}  # peak start (epoch s) -> van, point

    async def run(self, _service: object = None) -> None:
        """Check every `check_period_wall_s` until cancelled."""
        if not self.config.enabled:
            return
        while True:
            try:
                await self.check()
            except Exception:  # one bad check must not end the job
                logger.exception("staging check failed")
            await asyncio.sleep(self.config.check_period_wall_s)

    def next_peak(self, now_s: float) -> tuple[float, int] | None:
        """(start epoch s, local hour) of the next peak hour starting within `lead_s`, if any."""
        hour_start_s = math.floor(now_s / 3600.0) * 3600.0  # whole-hour UTC offsets: local hours start here too
        for ahead in (1, 2):
            start_s = hour_start_s + ahead * 3600.0
            if start_s - now_s > self.config.lead_s:
                break
            hour = self.forecast.local_hour(start_s)
            if hour in self.peak_hours:
                return start_s, hour
        return None

    async def check(self) -> list[tuple[str, StagingPoint]]:
        """Stage the idle, charged vans at the hub for the coming peak (once per peak)."""
        now_s = self.clock.now()
        peak = self.next_peak(now_s)
        if peak is None or peak[0] in self.staged:
            return []
        start_s, hour = peak
        vans = [v for v in self.fleet if self._ready(v)]
        points = staging_points(self.forecast, hour, len(vans), self.frame, self.streets)
        chosen: list[tuple[str, StagingPoint]] = []
        for point in points:  # busiest point first, to the nearest free van
            here = self.frame.to_local(point.latitude_deg, point.longitude_deg)
            van = min(vans, key=lambda v: math.dist(here, self._xy(v)), default=None)
            if van is None:
                break
            vans.remove(van)
            if not await self._board(van):
                continue
            step = MissionStep(StepKind.GOTO, point.latitude_deg, point.longitude_deg)
            mission = Mission(f"{van.vehicle_id}-stage-{int(now_s)}", (step,), cruise_speed_m_s=van.profile.speed_m_s)
            sortie = Sortie(van.vehicle_id, DeliveryMode.VAN, mission, (), {}, 0.0,
                            details={"staging_for_peak_at_s": start_s, "expected_orders": point.expected_orders})
            if await self.missions.start(sortie) is not None:
                chosen.append((van.vehicle_id, point))
        self.staged[start_s] = chosen
        if chosen:
            await self._record(start_s, hour, chosen, now_s)
            logger.info("staged %s for the %02d:00 peak", ", ".join(v for v, _p in chosen), hour)
        return chosen

    def _ready(self, vehicle: FleetVehicle) -> bool:
        state = vehicle.state()
        if vehicle.kind is not VehicleKind.VAN or state is None or self.missions.is_busy(vehicle.vehicle_id) \
                or vehicle.out_of_service:
            return False
        if not all(self._carried_ready(v, vehicle) for v in self.fleet if v.carried_by == vehicle.vehicle_id):
            return False  # a carrier goes only with all its drones and robots, idle and charged at the hub
        charged = state.battery_remaining_pct is None or state.battery_remaining_pct >= self.config.min_van_charge_pct
        return charged and not van_away_from_hub_m(vehicle, state, self.frame)

    def _carried_ready(self, carried: FleetVehicle, van: FleetVehicle) -> bool:
        """A carried drone or robot can ride out with its van to a staging point: aboard already, or idle at the hub
        and charged."""
        if isinstance(van.adapter, Carrier) and carried.vehicle_id in van.adapter.carried:
            return True
        state = carried.state()
        if state is None or carried.out_of_service or self.missions.is_busy(carried.vehicle_id):
            return False
        if not at_hub(carried, state, self.frame):
            return False
        return state.battery_remaining_pct is not None and \
            state.battery_remaining_pct >= self.config.min_carried_charge_pct

    async def _board(self, van: FleetVehicle) -> bool:
        """Stow the van's drones and robots at the hub before it leaves for its staging point (each one event
        `vehicle.loaded`); False (the van stays) when one cannot be boarded."""
        carried = sorted(v.vehicle_id for v in self.fleet if v.carried_by == van.vehicle_id)
        if not carried:
            return True
        adapter = van.adapter
        if not isinstance(adapter, Carrier):
            logger.warning("%s: not staged: its adapter cannot load %s", van.vehicle_id, ", ".join(carried))
            return False
        for vehicle_id in carried:
            if vehicle_id in adapter.carried:
                continue
            try:
                await adapter.load(vehicle_id)
            except AdapterError as exc:
                logger.warning("%s: not staged: could not load %s: %s", van.vehicle_id, vehicle_id, exc)
                return False
            await self.missions.lifecycle.carrying_event("loaded", van_id=van.vehicle_id, vehicle_id=vehicle_id,
                                                         data={"for_staging": True})
        return True

    def _xy(self, vehicle: FleetVehicle) -> tuple[float, float]:
        state = vehicle.state()
        if state is None:
            return self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        return self.frame.to_local(state.latitude_deg, state.longitude_deg)

    async def _record(self, start_s: float, hour: int, chosen: list[tuple[str, StagingPoint]], now_s: float) -> None:
        data: dict[str, Any] = {
            "peak_starts_at_s": start_s, "local_hour": hour,
            "expected_orders": round(self.forecast.hour_total(hour), 2),
            "points": [{"vehicle_id": v, "latitude_deg": p.latitude_deg, "longitude_deg": p.longitude_deg,
                        "expected_orders": p.expected_orders, "areas": list(p.areas),
                        "carried": sorted(c.vehicle_id for c in self.fleet if c.carried_by == v)}
                       for v, p in chosen],
        }
        await self.database.write_async(lambda s: outbox.append_event(
            s, hub_id=self.hub_id, event_type=STAGED, subject=f"hubs/{self.hub_id}", data=data, at_s=now_s,
            webhook=False))
