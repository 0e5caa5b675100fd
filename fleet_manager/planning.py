"""The dispatcher's translation to and from `mission_planner`: fleet and store rows in, adapter missions out.

All planning — assignment, routing, timing, energy, van handoff, re-planning — is
`mission_planner.plan_fleet_result` and `mission_planner.replan`; this module translates:

- in: a stored `Order` -> the planner's `OrderSpec` (`open_order`: drop point, or the locker once
  diverted; window opened `lookahead_s` early; no deadline once it can no longer be met, since late
  beats never; the vehicles that failed it recently); a fleet vehicle -> `VehicleSpec` (idle: where
  it is and its present charge; busy: home and when it is back, if a caller passes busy ones — the
  dispatcher does not; a drone or robot with hardly anything above its reserve is not offered);
  the vehicle profiles -> the travel models (drone energy model, robot Wh/km, walking and driving
  speeds); the van handoffs the dispatcher can execute -> the planner's `HandoffPolicy` (launch at
  a van stop, recovery at that stop or a later one, as many trips per carried vehicle as its pack allows);
- out: the first open trip of each idle vehicle's route (`VehicleRoute.trips()`) -> an adapter
  `Mission` in a `Sortie`; the trips of a van's drones and robots ride on its sortie as `Handoff`s
  (a WAIT of the launch / recovery time after the DELIVER at each of the two stops; the carried
  vehicle's mission ends where the van stands at the recovery stop). A route that starts with a
  battery swap is not sent: the hub swaps the pack, and the changed charge brings a new plan.

It keeps the plan in force between cycles and picks the planner call: a full plan every
`full_plan_period_s`, or whenever the fleet, a charge or an order differs from what the plan
assumed; otherwise new and withdrawn orders go through `replan`, which keeps the trips already
flying and answers within `replan_budget_s`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.drone_paths import DronePathPlanner
from mission_planner.energy import MultirotorModel, ReservePolicy, RobotModel, Wind
from mission_planner.fleet import FleetTravel, OrderSpec, SafeSite, VehicleSpec, plan_fleet_result
from mission_planner.geodesy import LocalFrame
from mission_planner.ground_paths import GroundNetwork
from mission_planner.model import Objective
from mission_planner.plan import Leg, LegKind, Plan
from mission_planner.profiles import DEFAULT_PROFILES
from mission_planner.replan import CancelOrder, Event, PlanState, VehicleDown, replan
from mission_planner.solver import Result
from mission_planner.terrain import ElevationGrid
from mission_planner.travel import DroneTravel, GroundTravel

from . import sorties as van_staging
from .adapters.base import VehicleKind
from .charge import charge_left_wh, van_range_m
from .domain.handling import Handling
from .domain.orders import DeliveryMode, Order, OrderStatus
from .fleet import FleetVehicle, VehicleProfile
from .missions import (
    MissionBuildError,
    carried_drone_trip,
    carried_robot_trip,
    drone_trip,
    ground_trip,
    trip_order_ids,
)
from .planning_config import PlanningConfig
from .sorties import (
    FleetSlot,
    Sortie,
    first_open_trip,
    waits_for_swap,
)
from .traffic import TrafficReport, edge_factors
from .van_departure import VanDepartures
from .van_handoff_sorties import with_handoffs

logger = logging.getLogger(__name__)


_Traffic = tuple[float, dict[tuple[Hashable, Hashable], float], tuple[object, ...]]  # factor, edge factors, key


@dataclass
class _LastPlan:
    """What the plan in force assumed, to decide between `replan` and a full plan."""

    result: Result
    full_at_s: float
    airspace_key: tuple[str, ...]
    specs: dict[str, OrderSpec]
    idle_ids: frozenset[str]
    charges: dict[str, float]  # idle vehicle -> charge as a fraction of its battery (when telemetry tells)
    dispatched: set[str] = field(default_factory=set)  # orders whose trips were started


_MODES = {
    VehicleKind.DRONE: DeliveryMode.DRONE,
    VehicleKind.ROBOT: DeliveryMode.ROBOT,
    VehicleKind.VAN: DeliveryMode.VAN,
}


class FleetPlanner:
    """Holds the per-world planning state (travel caches, the plan in force) across cycles; no I/O."""

    def __init__(
        self,
        frame: LocalFrame,
        *,
        walk_graph: object,
        street_graph: object,
        hub_xy: tuple[float, float],
        wind: Wind | None = None,
        config: PlanningConfig | None = None,
        hub_id: str = "hub",
        terrain: ElevationGrid | None = None,
    ) -> None:
        """`terrain` (the world's elevation model, None for flat worlds) makes drone paths follow the ground and
        mission altitudes relative to the take-off ground (see `fleet_manager.missions.drone_trip`)."""
        self.frame = frame
        self.terrain = terrain
        self.hub_xy = hub_xy
        self.wind = wind or Wind()  # the planner's energy model has no wind yet; kept for the path planner callers
        self.config = config or PlanningConfig()
        self.departures = VanDepartures(self.config.van_consolidation, frame)  # vans wait at the hub for fuller loads
        hub_lat, hub_lon = frame.to_wgs84(*hub_xy)
        self.hub = SafeSite(hub_id, hub_lat, hub_lon, hub_xy[0], hub_xy[1])
        self.lockers: tuple[SafeSite, ...] = ()
        self._locker_positions: dict[str, tuple[float, float]] = {}
        self._graphs = {VehicleKind.ROBOT: walk_graph, VehicleKind.VAN: street_graph}
        self._ground: dict[VehicleKind, GroundNetwork] = {}  # walk (robots) and street (vans) networks
        self._ground_traffic: dict[VehicleKind, tuple[object, ...]] = {}  # the traffic each network was built for
        self._van_speed_at: Callable[[float], float] | None = None
        self._traffic_reports: tuple[TrafficReport, ...] = ()
        self._drone_paths: DronePathPlanner | None = None
        self._paths_lock = threading.Lock()  # plans run in worker threads: one at a time on this path planner (GEOS
        # prepared geometry is not thread-safe, libgeos/geos#825); re-routes have their own (reroute_paths)
        self._airspace_key: tuple[str, ...] = ()
        self._travel: FleetTravel | None = None
        self._travel_key: tuple[object, ...] = ()
        self._profiles: dict[str, tuple[VehicleKind, VehicleProfile]] = {}
        self._last: _LastPlan | None = None
        self._sequence = 0
        self.last_plan_kind = ""  # "full" or "replan" (what the last `plan` call did)
        self.last_plan_wall_s = 0.0
        self.last_plan_reason = ""  # why the last plan was a full one

    # ----- airspace --------------------------------------------------------------------------------
    def drone_paths(self, airspace: Airspace, cruise_altitude_m: float) -> DronePathPlanner:
        """A path planner for the current zones (rebuilt when the set of zones changes)."""
        key = (*sorted(z.zone_id for z in airspace.zones), str(cruise_altitude_m))
        if self._drone_paths is None or key != self._airspace_key:
            self._drone_paths = DronePathPlanner(
                airspace, safety_margin_m=self.config.drone_safety_margin_m, cruise_altitude_m=cruise_altitude_m,
                vertical_margin_m=self.config.vertical_margin_m, terrain=self.terrain,
            )
            self._airspace_key = key
        return self._drone_paths

    def fence_airspace(self, airspace: Airspace, cruise_altitude_m: float, now_s: float) -> Airspace:
        """What the drone's own fence must hold for a mission from `now_s`: the zones its path avoided.

        Autopilot fences have no altitude bands or time windows, so only zones that block somewhere
        below cruise altitude (plus the vertical margin) during the planning horizon go in; a zone the
        path legitimately overflies or that opens later would trip the fence.
        """
        blocking = airspace.exclusion_zones(
            start_s=now_s, end_s=now_s + self.config.path_horizon_s, low_m=0.0,
            high_m=cruise_altitude_m + self.config.vertical_margin_m,
        )
        return Airspace(airspace.frame, (*airspace.of_kind(ZoneKind.OPERATING_AREA), *blocking))

    def next_mission_id(self, vehicle_id: str, now_s: float) -> str:
        """A unique, readable mission id."""
        self._sequence += 1
        return f"{vehicle_id}-{int(now_s)}-{self._sequence}"

    def set_traffic(self, *, van_speed_at: Callable[[float], float] | None = None,
                    reports: Sequence[TrafficReport] | None = None) -> None:
        """Street traffic for vans: the learnt speed factor by time (`van_speed_at`), the reported congestion
        and incidents (`reports`). Either left as None keeps what was set before."""
        if van_speed_at is not None:
            self._van_speed_at = van_speed_at
        if reports is not None:
            self._traffic_reports = tuple(reports)

    def _van_traffic(self, now_s: float | None) -> _Traffic:
        """(speed factor, per-edge factors, cache key) of the street network at `now_s`."""
        if now_s is None:
            return 1.0, {}, ()
        factor = round(self._van_speed_at(now_s) * 20) / 20 if self._van_speed_at else 1.0  # 5 % steps
        factor = max(factor, 0.05)
        active = tuple(r.report_id for r in self._traffic_reports if r.active(now_s))
        edges = edge_factors(self._graphs[VehicleKind.VAN], self.frame, self._traffic_reports, now_s) if active \
            else {}
        return factor, edges, (factor, active)

    def set_lockers(self, lockers: Mapping[str, tuple[float, float]]) -> None:
        """The hub's lockers (id -> lat, lon): safe landing points, and where diverted parcels go."""
        self._locker_positions = dict(lockers)
        sites = []
        for locker_id, (latitude_deg, longitude_deg) in sorted(lockers.items()):
            x_m, y_m = self.frame.to_local(latitude_deg, longitude_deg)
            sites.append(SafeSite(locker_id, latitude_deg, longitude_deg, x_m, y_m))
        self.lockers = tuple(sites)
        self._travel = None

    def plan_in_force(self) -> Result | None:
        """The planner result the next cycle starts from (None before the first plan or after `invalidate`)."""
        return self._last.result if self._last is not None else None

    def invalidate(self) -> None:
        """Forget the plan in force: the next `plan` call plans from scratch."""
        self._last = None

    # ----- translation into the planner's inputs ---------------------------------------------------
    def open_order(
        self, order: Order, *, now_s: float, lookahead_s: float, avoid_vehicle_ids: frozenset[str] = frozenset()
    ) -> OrderSpec:
        """A stored order as the planner sees it: its drop point (the locker once diverted), its window, and the
        vehicles not to give it (`avoid_vehicle_ids`: they failed it recently).

        `lookahead_s` is also how early before its window a parcel may arrive; a deadline closer than
        `late_after_s` is dropped (late beats never).
        """
        latitude_deg, longitude_deg = order.destination.latitude_deg, order.destination.longitude_deg
        if order.status is OrderStatus.DIVERTED_TO_LOCKER and order.locker_id in self._locker_positions:
            latitude_deg, longitude_deg = self._locker_positions[order.locker_id]
        earliest_s = 0.0 if order.window_start_s is None else order.window_start_s - lookahead_s
        latest_s = math.inf
        if order.window_end_s is not None and order.window_end_s > now_s + self.config.late_after_s:
            latest_s = order.window_end_s
        handling = Handling.from_json(order.handling)
        return OrderSpec(order.order_id, latitude_deg, longitude_deg, order.weight_kg, earliest_s=earliest_s,
                         latest_s=latest_s, avoid_vehicle_ids=frozenset(avoid_vehicle_ids),
                         max_out_s=handling.max_out_s, max_shock_g=handling.max_shock_g)

    def travel(self, airspace: Airspace, vehicles: Sequence[FleetVehicle], now_s: float | None = None) -> FleetTravel:
        """The planner's world (paths, matrices caches) for this airspace and fleet; rebuilt when either changes.

        The models come from every profile seen so far (not only the vehicles idle this cycle), so the
        caches survive cycles where, say, no robot is free. One profile per kind stands for all (the
        first seen); kinds nobody has take `DEFAULT_PROFILES`.
        """
        for vehicle in vehicles:
            self._profiles.setdefault(vehicle.vehicle_id, (vehicle.kind, vehicle.profile))
        known = sorted(self._profiles.items())
        seen = {kind: [p for _id, (k, p) in known if k is kind] for kind in VehicleKind}
        drone = seen[VehicleKind.DRONE][0] if seen[VehicleKind.DRONE] else DEFAULT_PROFILES[VehicleKind.DRONE]
        robot = seen[VehicleKind.ROBOT][0] if seen[VehicleKind.ROBOT] else DEFAULT_PROFILES[VehicleKind.ROBOT]
        van = seen[VehicleKind.VAN][0] if seen[VehicleKind.VAN] else DEFAULT_PROFILES[VehicleKind.VAN]
        drone_model = MultirotorModel(
            battery_capacity_wh=drone.battery_wh, cruise_airspeed_m_s=drone.speed_m_s,
            max_payload_kg=max((p.max_payload_kg for p in seen[VehicleKind.DRONE]), default=drone.max_payload_kg),
        )
        robot_model = RobotModel(
            wh_per_km=robot.energy_wh_per_km or DEFAULT_PROFILES[VehicleKind.ROBOT].energy_wh_per_km,
            battery_capacity_wh=robot.battery_wh, speed_m_s=robot.speed_m_s,
            max_payload_kg=max((p.max_payload_kg for p in seen[VehicleKind.ROBOT]), default=robot.max_payload_kg),
        )
        reserve_pct = max((p.reserve_pct for _id, (kind, p) in known if kind is not VehicleKind.VAN),
                          default=DEFAULT_PROFILES[VehicleKind.DRONE].reserve_pct)
        reserve = ReservePolicy(min(0.95, reserve_pct / 100.0 + self.config.energy_margin_fraction))
        walk = self._network(VehicleKind.ROBOT, robot.speed_m_s)
        van_factor, van_edges, traffic_key = self._van_traffic(now_s)
        streets = self._network(VehicleKind.VAN, van.speed_m_s, traffic=(van_factor, van_edges, traffic_key))
        key = (*sorted(z.zone_id for z in airspace.zones), drone_model, robot_model, reserve, drone.cruise_altitude_m,
               self.lockers, walk.speed_m_s, streets.speed_m_s, traffic_key)
        if self._travel is None or key != self._travel_key:
            self._travel = FleetTravel(
                frame=self.frame, hub=self.hub, lockers=self.lockers, airspace=airspace,
                drone=DroneTravel(self.drone_paths(airspace, drone.cruise_altitude_m), drone_model,
                                  start_s=None, end_s=None),
                robot=GroundTravel(walk), van=GroundTravel(streets), robot_model=robot_model, reserve=reserve,
            )
            self._travel_key = key
            self._last = None
        return self._travel

    def _ground_m(self, point: tuple[float, float] | None) -> float | None:
        """The ground (m above sea level) at `point` (lat, lon); None without terrain or a point."""
        if self.terrain is None or point is None:
            return None
        return float(self.terrain.elevation_at(*self.frame.to_local(*point)))

    def _network(
        self, kind: VehicleKind, speed_m_s: float | None = None,
        traffic: _Traffic = (1.0, {}, ()),
    ) -> GroundNetwork:
        """The walk (robots) or street (vans) network at the profile's speed and in `traffic` (speed factor,
        edge factors, their key); kept while both stay."""
        network = self._ground.get(kind)
        if network is not None and speed_m_s in (None, network.speed_m_s) \
                and self._ground_traffic.get(kind, ()) == traffic[2]:
            return network
        network = GroundNetwork(self._graphs[kind],  # type: ignore[arg-type]
                                speed_m_s=speed_m_s or (network.speed_m_s if network is not None
                                                        else DEFAULT_PROFILES[kind].speed_m_s),
                                use_edge_speed=kind is VehicleKind.VAN,  # vans: posted limits where known
                                speed_factor=traffic[0], edge_factors=traffic[1])
        self._ground[kind] = network
        self._ground_traffic[kind] = traffic[2]
        return network

    def vehicle_spec(self, slot: FleetSlot) -> VehicleSpec | None:
        """The planner's view of one vehicle (None when it reports no position)."""
        vehicle = slot.vehicle
        profile = vehicle.profile
        kind = vehicle.kind
        common = {"capacity_kg": profile.max_payload_kg, "capacity_parcels": profile.capacity_parcels,
                  "carried_by": slot.carried_by, "cold_chain": profile.cold_chain,
                  "ride_shock_g": profile.ride_shock_g, "shift_end_s": slot.back_by_s}
        if not slot.idle:  # a running mission ends at home; the battery is swapped there
            return VehicleSpec(vehicle.vehicle_id, kind, vehicle.home_latitude_deg, vehicle.home_longitude_deg,
                               available_from_s=slot.busy_until_s, **common)  # type: ignore[arg-type]
        state = slot.state
        if state is None:
            return None
        charge_wh = charge_left_wh(slot)
        if kind is VehicleKind.VAN:  # charges at the hub for hours: its next trip must fit the charge it has
            common["range_m"] = van_range_m(profile, charge_wh)
        if (start := van_staging.staged_van_start(vehicle, state, self.frame)) is not None:  # to the hub to load first
            return VehicleSpec(vehicle.vehicle_id, kind, **start, **common)  # type: ignore[arg-type]
        battery_wh = None
        if vehicle.kind is not VehicleKind.VAN and charge_wh is not None:
            battery_wh = max(0.0, min(charge_wh, profile.battery_wh))
        return VehicleSpec(vehicle.vehicle_id, kind, state.latitude_deg, state.longitude_deg, battery_wh=battery_wh,
                           **common)  # type: ignore[arg-type]

    def budget_s(self, cap_s: float, order_count: int) -> float:
        """Solver time for a problem of `order_count` orders: grows with the problem, never above `cap_s`.

        The dispatcher waits for the plan (and, in an accelerated simulation, the clock runs on).
        """
        return min(cap_s, self.config.budget_floor_s + self.config.budget_per_order_s * order_count)

    def usable(self, slot: FleetSlot) -> bool:
        """Worth planning: not so drained that even a short trip would eat into the reserve."""
        charge_wh = charge_left_wh(slot)
        if slot.vehicle.kind is VehicleKind.VAN or charge_wh is None:
            return True
        profile = slot.vehicle.profile
        spare_wh = charge_wh - ReservePolicy(profile.reserve_pct / 100.0).reserve_wh(profile.battery_wh)
        return spare_wh >= self.config.min_spare_charge_fraction * profile.battery_wh

    # ----- planning --------------------------------------------------------------------------------
    def plan(
        self, *, now_s: float, airspace: Airspace, slots: Sequence[FleetSlot], orders: Sequence[OrderSpec],
        wind_m_s: tuple[float, float] = (0.0, 0.0),
    ) -> list[Sortie]:
        """Plan (or re-plan) the fleet and return the trips idle vehicles should start now.

        `orders` are what `open_order` made of the dispatcher's open orders; `wind_m_s` (east, north) is the
        wind the drones' trips are reckoned in (the drones' own estimate; see `DroneTravel.wind_m_s`).
        """
        with self._paths_lock:
            started = time.perf_counter()
            slots = [s for s in slots if not s.idle or self.usable(s)]
            vehicle_specs = [spec for spec in (self.vehicle_spec(s) for s in slots) if spec is not None]
            if not vehicle_specs or not any(s.idle for s in slots):
                return []  # nobody can be sent (all drained): the plan in force stays for the next cycle
            travel = self.travel(airspace, [s.vehicle for s in slots], now_s)
            travel.drone.wind_m_s = wind_m_s
            specs = {o.order_id: o for o in orders}
            idle_ids = frozenset(s.vehicle.vehicle_id for s in slots if s.idle)
            charges = {s.vehicle.vehicle_id: charge_wh / s.vehicle.profile.battery_wh for s in slots
                       if s.idle and (charge_wh := charge_left_wh(s)) is not None and s.vehicle.profile.battery_wh > 0}
            events = self._replan_events(now_s, vehicle_specs, specs, idle_ids, charges)
            if events is None or self._last is None:
                slots, result = self._full_plan(travel, slots, specs, now_s)
                self._last = _LastPlan(result, now_s, self._airspace_key, specs, idle_ids, charges)
                self.last_plan_kind = "full"
            elif events:
                result = replan(PlanState(self._last.result, now_s), events,
                                self.budget_s(self.config.replan_budget_s, len(specs)),
                                seed=self.config.seed, handoff=self.config.handoff)
                self._last.result = result
                self._last.specs = specs
                self.last_plan_kind = "replan"
            else:
                result = self._last.result  # nothing changed: trips planned for later may be due now
                self.last_plan_kind = "kept"
            sorties = self.trips_due(result.plan, slots, specs, now_s)
            self._last.dispatched.update(o for s in sorties for o in s.all_order_ids)
            self._last.idle_ids = idle_ids - {s.vehicle_id for s in sorties}
            self.last_plan_wall_s = time.perf_counter() - started
            # how often the plan flies carried vehicles from the vans, and how many go out: the handoff's use
            carried_trips = sum(1 for route in result.plan.routes for trip in route.trips()
                                if trip and trip[0].kind is LegKind.LAUNCH)
            logger.log(logging.INFO if sorties else logging.DEBUG,
                       "%s plan (%s): %d orders, %d vehicles, %d carried trips planned; %d sorties (%d handoffs, "
                       "%s parcels) in %.2f s", self.last_plan_kind, self.last_plan_reason, len(specs),
                       len(vehicle_specs), carried_trips, len(sorties), sum(len(s.handoffs) for s in sorties),
                       "/".join(str(len(s.all_order_ids)) for s in sorties), self.last_plan_wall_s)
            return sorties

    def _full_plan(
        self, travel: FleetTravel, slots: Sequence[FleetSlot], specs: Mapping[str, OrderSpec], now_s: float
    ) -> tuple[list[FleetSlot], Result]:
        """A plan from scratch, and the slots it was made for.

        With `PlanningConfig.hub_first`, the drones and robots riding a van that stands idle at the hub are first
        planned as hub vehicles: those that get a trip due now fly it from the hub, and only the others ride the
        van's trip. A carried drone flies several hub trips in the time its van's trip launches it once or twice,
        so it goes with the van only when the hub has no work for it now."""
        def solve(with_slots: Sequence[FleetSlot]) -> Result:
            vehicle_specs = [spec for spec in (self.vehicle_spec(s) for s in with_slots) if spec is not None]
            return plan_fleet_result(travel, vehicle_specs, list(specs.values()), now_s=now_s, seed=self.config.seed,
                                     time_budget_s=self.budget_s(self.config.time_budget_s, len(specs)),
                                     objective=Objective(self.config.objective), handoff=self.config.handoff)

        carried = {s.vehicle.vehicle_id for s in slots if s.idle and s.carried_by is not None}
        if not carried or not self.config.hub_first:
            return list(slots), solve(slots)
        as_hub = [replace(s, from_hub=True) if s.vehicle.vehicle_id in carried else s for s in slots]
        at_hub = solve(as_hub)
        due_s = now_s + self.config.dispatch_slack_s
        busy = {v for v in carried if (route := at_hub.plan.route(v)) is not None
                and (trip := first_open_trip(route, set())) is not None and trip[0].start_s <= due_s}
        if busy:
            logger.info("carried %s fly from the hub: the plan has a trip for them there now", ", ".join(sorted(busy)))
        if busy == carried:
            return as_hub, at_hub
        chosen = [replace(s, from_hub=True) if s.vehicle.vehicle_id in busy else s for s in slots]
        return chosen, solve(chosen)

    def _replan_events(
        self,
        now_s: float,
        vehicle_specs: Sequence[VehicleSpec],
        specs: Mapping[str, OrderSpec],
        idle_ids: frozenset[str],
        charges: Mapping[str, float],
    ) -> list[Event] | None:
        """The events that bring the plan in force up to date, or None when only a full plan will do."""
        last = self._last
        reason = self._stale_reason(now_s, vehicle_specs, specs, idle_ids, charges)
        self.last_plan_reason = reason
        if last is None or reason:
            return None
        vehicle_ids = frozenset(v.vehicle_id for v in vehicle_specs)
        planned_ids = frozenset(v.vehicle_id for v in last.result.problem.vehicles)
        # vehicles sent out since (or gone): their trips finish, they take no new work
        events: list[Event] = [VehicleDown(v) for v in sorted(planned_ids - vehicle_ids)]
        known = {o.order_id for o in last.result.problem.orders}
        events += [CancelOrder(o) for o in sorted(known - specs.keys() - last.dispatched)]
        events += [specs[o] for o in sorted(specs.keys() - known)]
        return events

    def _stale_reason(
        self, now_s: float, vehicle_specs: Sequence[VehicleSpec], specs: Mapping[str, OrderSpec],
        idle_ids: frozenset[str], charges: Mapping[str, float],
    ) -> str:
        """Why the plan in force cannot just be updated ("" when `replan` will do)."""
        last = self._last
        if last is None:
            return "no plan in force"
        if now_s - last.full_at_s >= self.config.full_plan_period_s:
            return "periodic full plan"
        if last.airspace_key != self._airspace_key:
            return "airspace changed"
        if idle_ids != last.idle_ids:
            return "a vehicle came back or left"  # the plan's start states are wrong
        planned = {v.vehicle_id: v for v in last.result.problem.vehicles}
        if not {v.vehicle_id for v in vehicle_specs} <= planned.keys():
            return "a vehicle joined"
        if any(v.carried_by != planned[v.vehicle_id].carried_by for v in vehicle_specs):
            return "a carried vehicle flies from the hub while its van is out, or its van is back"
        changed = [v for v, charge in charges.items()
                   if abs(charge - last.charges.get(v, charge)) >= self.config.recharge_fraction]
        if changed:
            return f"the charge of {', '.join(sorted(changed))} changed"  # a battery swap, mostly
        for route in last.result.plan.routes:
            for leg in () if self.departures.waiting(route.vehicle_id) else route.legs:  # a held van left none
                if leg.kind is LegKind.DROPOFF and leg.start_s < now_s and not set(leg.order_ids) <= last.dispatched:
                    return f"{route.vehicle_id} should have left with {', '.join(leg.order_ids)}"
        if any(specs[o] != last.specs[o] for o in specs.keys() & last.specs.keys()):
            return "an order changed (rescheduled, diverted to a locker, or a vehicle to avoid)"
        return ""

    def trips_due(
        self, plan: Plan, slots: Sequence[FleetSlot], specs: Mapping[str, OrderSpec], now_s: float
    ) -> list[Sortie]:
        """The first undispatched trip of each idle vehicle in `plan`, if it is due, as a sortie (vans with the
        trips of the drones and robots they carry); `specs` are the orders the dispatcher still offers."""
        dispatched = self._last.dispatched if self._last is not None else set()
        sorties: list[Sortie] = []
        waiting: set[str] = set()  # vans held at the hub for more parcels
        for slot in slots:
            if not slot.idle or slot.carried_by is not None:
                continue  # carried drones go out with their van's sortie
            route = plan.route(slot.vehicle.vehicle_id)
            trip = first_open_trip(route, dispatched) if route is not None else None
            if route is None or trip is None or waits_for_swap(route, trip):
                continue
            legs = tuple(leg for leg in trip if leg.kind is not LegKind.CHARGE)
            if legs[0].start_s > now_s + self.config.dispatch_slack_s:
                continue
            # parcels the dispatcher no longer offers (claimed meanwhile) stay off the mission
            legs = tuple(leg for leg in legs if set(leg.order_ids) <= specs.keys())
            if not trip_order_ids(legs):
                continue
            try:
                sortie = van_staging.via_hub_if_away(self.sortie(slot.vehicle, legs, now_s), slot, self.frame)
            except MissionBuildError as exc:
                logger.warning("%s: %s", slot.vehicle.vehicle_id, exc)
                continue
            if slot.vehicle.kind is VehicleKind.VAN:
                taken = dispatched | (set(plan.planned_order_ids) - specs.keys())
                sortie = with_handoffs(sortie, legs, plan, slots, now_s, taken, self.sortie)
                if self.departures.waits(slot, sortie, specs, now_s):
                    waiting.add(slot.vehicle.vehicle_id)
                    continue
            sorties.append(_weighed(sortie, specs))
        self.departures.forget_others(waiting)
        return sorties

    def sortie(
        self, vehicle: FleetVehicle, legs: Sequence[Leg], now_s: float, *, meet_at: tuple[float, float] | None = None,
        plan_start_s: float | None = None, launch_at: tuple[float, float] | None = None,
    ) -> Sortie:
        """One planned trip -> the adapter mission and what the dispatcher records about it.

        `meet_at` (lat, lon): a van-carried vehicle's trip ends there, beside its van at the recovery stop;
        `launch_at` (lat, lon): where the van stands to launch it (a drone's altitudes: above the ground there).
        `plan_start_s`: when the plan has the trip (for a carried one: its van's trip) start; it starts now."""
        mission_id = self.next_mission_id(vehicle.vehicle_id, now_s)
        profile = vehicle.profile
        carried = vehicle.carried_by is not None and any(leg.kind is LegKind.LAUNCH for leg in legs)
        if vehicle.kind is VehicleKind.DRONE and carried:
            launch_xy = legs[0].from_xy_m
            recovery_xy = next((leg.to_xy_m for leg in legs if leg.kind is LegKind.RECOVERY), launch_xy)
            home_ground_m = self._ground_m(launch_at)
            mission = carried_drone_trip(mission_id, legs, self.frame, cruise_altitude_m=profile.cruise_altitude_m,
                                         cruise_speed_m_s=profile.speed_m_s, home_ground_m=home_ground_m,
                                         land_at=meet_at if recovery_xy != launch_xy else None,
                                         land_ground_m=self._ground_m(meet_at))
        elif vehicle.kind is VehicleKind.ROBOT and carried:
            if meet_at is None:
                raise MissionBuildError(f"carried trip of {vehicle.vehicle_id} needs the van's recovery stop")
            network = self._network(vehicle.kind)
            mission = carried_robot_trip(mission_id, legs, lambda xy: _node_wgs84(network, xy), meet_at=meet_at,
                                         cruise_speed_m_s=profile.speed_m_s)
        elif vehicle.kind is VehicleKind.DRONE:
            mission = drone_trip(mission_id, legs, self.frame, cruise_altitude_m=profile.cruise_altitude_m,
                                 cruise_speed_m_s=profile.speed_m_s)
        else:
            # Robots and vans stop on the footpath / street node nearest the door (a centroid is off their map).
            network = self._network(vehicle.kind)
            mission = ground_trip(mission_id, legs, lambda xy: _node_wgs84(network, xy),
                                  cruise_speed_m_s=profile.speed_m_s if vehicle.kind is VehicleKind.ROBOT else None,
                                  confirm_release=vehicle.kind is VehicleKind.ROBOT)
        # The plan's clock started when it was made; shift the trip (a carried one: its van's) to start now.
        shift_s = now_s - (legs[0].start_s if plan_start_s is None else plan_start_s)
        eta = {o: leg.arrival_s + shift_s for leg in legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids}
        return Sortie(vehicle.vehicle_id, _MODES[vehicle.kind], mission, trip_order_ids(legs), eta,
                      sum(leg.energy_wh for leg in legs), legs[-1].end_s + shift_s)


def _weighed(sortie: Sortie, specs: Mapping[str, OrderSpec]) -> Sortie:
    """`sortie` and the sorties of the vehicles its van launches with their parcels' weights: a drone's battery check
    prices its way home with what it carries (a refused drop or a recall brings the parcel back)."""
    handoffs = tuple(replace(h, sortie=_weighed(h.sortie, specs)) for h in sortie.handoffs)
    weights = {o: specs[o].weight_kg for o in sortie.order_ids if o in specs}
    return replace(sortie, payload_kg=weights, handoffs=handoffs)


def _node_wgs84(network: GroundNetwork, xy: tuple[float, float]) -> tuple[float, float]:
    node = network.graph.nodes[network.nearest_node(*xy)]
    return float(node["latitude_deg"]), float(node["longitude_deg"])
