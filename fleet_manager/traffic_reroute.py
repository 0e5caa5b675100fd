"""Live traffic re-routing: vans on the road change route when reported traffic on the rest of it costs too much.

Every `check_period_wall_s` the re-router reads the hub's traffic reports in force (`POST /v1/traffic`:
congestion and incidents per street segment; the planner's only knowledge of the streets) and, for
each van on a mission, times the rest of its route as the van will drive it (free-flow choice
between the points it was sent to, like its navigation) through that traffic, against the fastest
route through it (`mission_planner.traffic_routes`). When the new route saves at least
`min_saving_s` and `min_saving_ratio` of the remaining time, the van gets a replacement mission over
its adapter's link: the same remaining steps with GOTO via points that make its navigation follow
the new route. Each re-route is event `vehicle.rerouted` (stream and webhooks) with its reason.

A van is weighed again only when its mission or the set of reports in force changes, and not while
it is held at a stop for the drones or robots it carries. Every stop stays in the new mission, so
launch and recovery stops keep their place; the new mission's steps are mapped to those of the
van's first mission (`RerouteDecision.step_origin`, kept with the running mission) so that the
choreography, which waits on step indices of the first mission, still launches and recovers at
its stops. The parcels still aboard get new ETA windows for the new route through the traffic
(`OrderLifecycle.rerouted_etas`; API `eta`, and `eta_windows` in the event). The hour's rush
factor (`learning.traffic_profile`) is one factor per hour for every street alike, so it never
changes the choice; it is left out of the times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from mission_planner.clock import Clock
from mission_planner.errors import PathError, PlanningError
from mission_planner.geodesy import LocalFrame
from mission_planner.ground_paths import GroundNetwork
from mission_planner.traffic_routes import RouteComparison, compare_routes, via_nodes

from .adapters.base import Mission, MissionStep, StepKind, VehicleKind
from .charge import charge_left_wh, van_range_m
from .errors import AdapterError
from .fleet import Fleet, FleetVehicle
from .mission_control import MissionControl
from .sorties import FleetSlot
from .store import outbox
from .store import traffic as traffic_store
from .store.db import Database
from .traffic import TrafficReport, edge_factors

logger = logging.getLogger(__name__)

REROUTED = "vehicle.rerouted"


@dataclass(frozen=True)
class TrafficRerouteConfig:
    """When a van changes route for traffic (FINALMILE_TRAFFIC_REROUTE_*)."""

    enabled: bool = True
    min_saving_s: float = 120.0  # the new route must save this much of the remaining drive ...
    min_saving_ratio: float = 0.1  # ... and this share of it
    check_period_wall_s: float = 1.0


@dataclass(frozen=True)
class TrafficReroute:
    """One re-route: the van, its new mission, and why."""

    vehicle_id: str
    mission_id: str
    replaces: str
    report_ids: tuple[str, ...]
    comparison: RouteComparison

    def event_data(self, reports: list[TrafficReport]) -> dict[str, Any]:
        """The body of event `vehicle.rerouted`."""
        kinds = sorted({r.kind for r in reports if r.report_id in self.report_ids})
        c = self.comparison
        return {"vehicle_id": self.vehicle_id, "mission_id": self.mission_id, "replaces": self.replaces,
                "reason": f"traffic ({', '.join(kinds)}) on the remaining route: new route saves {c.saving_s:.0f} s",
                "report_ids": list(self.report_ids), "remaining_s_through_traffic": round(c.stay_s, 1),
                "remaining_s_new_route": round(c.best_s, 1), "saving_s": round(c.saving_s, 1),
                "remaining_m_old_route": round(c.stay_m, 1), "remaining_m_new_route": round(c.best_m, 1)}


class TrafficRerouter:
    """Watches one hub's vans against the reported traffic and re-routes them (a background job)."""

    def __init__(self, *, database: Database, fleet: Fleet, missions: MissionControl, clock: Clock,
                 frame: LocalFrame, street_graph: nx.Graph, hub_id: str,
                 config: TrafficRerouteConfig | None = None) -> None:
        self.database = database
        self.fleet = fleet
        self.missions = missions
        self.clock = clock
        self.frame = frame
        self.street_graph = street_graph
        self.hub_id = hub_id
        self.config = config or TrafficRerouteConfig()
        self.reroutes: list[TrafficReroute] = []
        self._weighed: dict[str, tuple[str, tuple[str, ...]]] = {}  # van -> (mission, reports) last weighed
        self._networks: dict[tuple[float, tuple[str, ...]], GroundNetwork] = {}
        self._sequence = 0

    async def run(self, _service: object = None) -> None:
        """Check every `check_period_wall_s` until cancelled."""
        if not self.config.enabled:
            return
        while True:
            await asyncio.sleep(self.config.check_period_wall_s)
            try:
                await self.check()
            except Exception:  # one bad check (a store hiccup) must not end the watch
                logger.exception("traffic re-route check failed")

    async def check(self) -> list[TrafficReroute]:
        """Weigh every van on a mission against the traffic in force now; re-route those it pays for."""
        now_s = self.clock.now()
        reports = await self.database.read_async(
            lambda s: traffic_store.list_reports(s, hub_id=self.hub_id, not_over_at_s=now_s))
        active = [r for r in reports if r.active(now_s)]
        key = tuple(sorted(r.report_id for r in active))
        done: list[TrafficReroute] = []
        for vehicle in self.fleet:
            if vehicle.kind is not VehicleKind.VAN or not key:
                continue
            running = self.missions.running_mission(vehicle.vehicle_id)
            if running is None or self.missions.choreography.holding(vehicle.vehicle_id):
                continue  # held at a stop for its drones or robots: weighed again once it drives on
            mission = running.mission
            if self._weighed.get(vehicle.vehicle_id) == (mission.mission_id, key):
                continue
            state = vehicle.state()
            if state is None or state.mission_id != mission.mission_id or state.mission_step is None:
                continue  # the van has not taken this mission yet: weigh it once it reports it
            self._weighed[vehicle.vehicle_id] = (mission.mission_id, key)
            decision = await asyncio.to_thread(self._decide, vehicle, mission, running.step_origin,
                                               state.mission_step, (state.latitude_deg, state.longitude_deg),
                                               active, key, now_s)
            if decision is None:
                continue
            new_mission, comparison = decision.mission, decision.comparison
            range_m = van_range_m(vehicle.profile, charge_left_wh(FleetSlot(vehicle, state=state)))
            if not within_charge(comparison, range_m):
                logger.warning("%s: the traffic detour (%.1f km left) is farther than its charge takes it (%.1f km "
                               "above the reserve): driving on", vehicle.vehicle_id, comparison.best_m / 1000,
                               (range_m or 0.0) / 1000)
                continue
            try:
                await self.missions.replace_mission(vehicle, new_mission, step_origin=decision.step_origin)
            except AdapterError as exc:
                logger.warning("%s: traffic re-route refused (%s): driving on", vehicle.vehicle_id, exc)
                continue
            self._weighed[vehicle.vehicle_id] = (new_mission.mission_id, key)
            reroute = TrafficReroute(vehicle.vehicle_id, new_mission.mission_id, mission.mission_id, key, comparison)
            # the parcels still aboard get windows for the new route through the traffic (API `eta`, the event)
            windows = await self.missions.lifecycle.rerouted_etas(
                drive_to_stop_s={o: d for o, d in decision.drive_to_stop_s.items() if o in running.aboard})
            await self._record(reroute, active, now_s, windows)
            self.reroutes.append(reroute)
            done.append(reroute)
            logger.info("%s: re-routed for traffic (%s), saves %.0f s", vehicle.vehicle_id, ", ".join(key),
                        comparison.saving_s)
        return done

    def _decide(self, vehicle: FleetVehicle, mission: Mission, step_origin: tuple[int | None, ...] | None,
                step_index: int, position: tuple[float, float], active: list[TrafficReport], key: tuple[str, ...],
                now_s: float) -> RerouteDecision | None:
        """The replacement mission and its comparison, or None when driving on is as good (or no route exists)."""
        freeflow = self._network(vehicle.profile.speed_m_s, (), active, now_s)
        traffic = self._network(vehicle.profile.speed_m_s, key, active, now_s)
        home = self.frame.to_local(vehicle.home_latitude_deg, vehicle.home_longitude_deg)
        self._sequence += 1
        try:
            return reroute_mission(
                freeflow, traffic, self.frame, mission, step_index, self.frame.to_local(*position), home,
                self.config, f"{vehicle.vehicle_id}-{int(now_s)}-t{self._sequence}", step_origin)
        except (PathError, PlanningError) as exc:
            logger.warning("%s: no street route for a traffic re-route: %s", vehicle.vehicle_id, exc)
            return None

    def _network(self, speed_m_s: float, key: tuple[str, ...], active: list[TrafficReport],
                 now_s: float) -> GroundNetwork:
        """The street network at free flow (`key` empty) or through the reports `key` names (kept per key)."""
        cache_key = (speed_m_s, key)
        network = self._networks.get(cache_key)
        if network is None:
            factors = edge_factors(self.street_graph, self.frame, active, now_s) if key else {}
            network = GroundNetwork(self.street_graph, speed_m_s=speed_m_s, use_edge_speed=True, edge_factors=factors)
            if key:  # only the traffic in force is worth keeping beside free flow
                self._networks = {k: n for k, n in self._networks.items() if not k[1]}
            self._networks[cache_key] = network
        return network

    async def _record(self, reroute: TrafficReroute, reports: list[TrafficReport], now_s: float,
                      windows: dict[str, dict[str, Any]]) -> None:
        data = {**reroute.event_data(reports), "eta_windows": windows}
        await self.database.write_async(lambda s: outbox.append_event(
            s, hub_id=self.hub_id, event_type=REROUTED, subject=f"vehicles/{reroute.vehicle_id}", data=data,
            at_s=now_s))


@dataclass(frozen=True)
class RerouteDecision:
    """A replacement mission, why it pays, and what it changes for the van's choreography and parcels."""

    mission: Mission
    comparison: RouteComparison
    # per step of `mission`: the step of the van's first mission it stands for (None: a via point of a re-route)
    step_origin: tuple[int | None, ...]
    # per parcel still to hand over: (drive s to its stop on the new route through traffic, extra s over free flow)
    drive_to_stop_s: dict[str, tuple[float, float]]


def within_charge(comparison: RouteComparison, range_m: float | None) -> bool:
    """Whether the van may take the faster route: its charge above the reserve covers it (None: not limited), or it
    is no longer than the route it drives now (the planner gave it that one within its charge)."""
    return range_m is None or comparison.best_m <= max(range_m, comparison.stay_m)


def reroute_mission(
    freeflow: GroundNetwork, traffic: GroundNetwork, frame: LocalFrame, mission: Mission, step_index: int,
    position_xy: tuple[float, float], home_xy: tuple[float, float], config: TrafficRerouteConfig, mission_id: str,
    step_origin: Sequence[int | None] | None = None,
) -> RerouteDecision | None:
    """A van's replacement mission through `traffic` from step `step_index` on and the comparison behind it, or
    None when driving on is as good (PathError when a stop cannot be reached).

    The remaining steps stay as they are (launch and recovery stops of carried vehicles included); GOTO via
    points are put before each stop so that the van's free-flow navigation drives the new legs. `step_origin`
    maps the steps of `mission` to those of the van's first mission (None when `mission` is the first); an
    earlier re-route's via points (origin None) are dropped, every other step is a stop the van still makes.
    """
    origin = list(step_origin) if step_origin is not None else list(range(len(mission.steps)))
    if len(origin) != len(mission.steps):
        raise PlanningError(f"step origin has {len(origin)} entries for the {len(mission.steps)} steps of "
                            f"mission {mission.mission_id}")
    remaining = list(zip(mission.steps[step_index:], origin[step_index:], strict=True))

    def target(step: MissionStep) -> tuple[float, float] | None:
        if step.kind is StepKind.RETURN:
            return home_xy
        if step.kind in (StepKind.GOTO, StepKind.DELIVER) and step.latitude_deg is not None \
                and step.longitude_deg is not None:
            return frame.to_local(step.latitude_deg, step.longitude_deg)
        return None

    driven = [xy for step, _o in remaining if (xy := target(step)) is not None]
    stop_steps = [(step, xy) for step, o in remaining if o is not None and (xy := target(step)) is not None]
    if not stop_steps:
        return None
    comparison = compare_routes(freeflow, traffic, position_xy, driven, [xy for _s, xy in stop_steps])
    saving_s = comparison.saving_s
    if saving_s < config.min_saving_s or saving_s < config.min_saving_ratio * comparison.stay_s:
        return None
    graph = freeflow.graph
    steps: list[MissionStep] = []
    new_origin: list[int | None] = []
    legs = iter(comparison.best_legs)
    for step, step_origin_index in remaining:
        if step_origin_index is None:
            continue  # an earlier re-route's via points: the new legs bring their own
        if target(step) is not None:
            for node in via_nodes(freeflow, next(legs)):
                latitude_deg, longitude_deg = frame.to_wgs84(graph.nodes[node]["x_m"], graph.nodes[node]["y_m"])
                steps.append(MissionStep(StepKind.GOTO, latitude_deg, longitude_deg))
                new_origin.append(None)
        steps.append(step)
        new_origin.append(step_origin_index)
    drive_to_stop_s = {
        step.order_id: (round(best_s, 1), round(best_s - free_s, 1))
        for (step, _xy), best_s, free_s in zip(stop_steps, comparison.best_arrival_s, comparison.freeflow_arrival_s,
                                               strict=True)
        if step.kind is StepKind.DELIVER and step.order_id}
    return RerouteDecision(Mission(mission_id, tuple(steps), cruise_speed_m_s=mission.cruise_speed_m_s), comparison,
                           tuple(new_origin), drive_to_stop_s)
