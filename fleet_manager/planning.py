"""The dispatcher's bridge to `mission_planner`: fleet snapshot + open orders -> a plan -> sorties with missions.

No planning logic lives here: the assignment, routing, timing and energy come from
`mission_planner.plan_fleet_result` (PyVRP core) and `mission_planner.replan`. This module only
translates: fleet vehicles -> `VehicleSpec` (current position and charge for idle vehicles; home
and a forecast return time for busy ones, if a caller passes them: the dispatcher passes only
idle vehicles), stored orders -> `OrderSpec` (drop point or locker, window), and the first trip of
each idle vehicle's route -> an adapter `Mission`. Two things the planner assumes that the fleet
may not honour are checked here: every trip starting on a swapped battery (a trip the present
charge cannot cover goes to another vehicle) and per-order vehicle exclusions after a failure.

Between full plans (every `full_plan_period_s`, or whenever the fleet differs from what the
previous plan assumed) new and withdrawn orders go through `replan`, which keeps the trips
already flying and answers within `replan_budget_s`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.drone_paths import DronePath, DronePathPlanner
from mission_planner.energy import MultirotorModel, ReservePolicy, RobotModel, Wind
from mission_planner.fleet import FleetTravel, OrderSpec, SafeSite, VehicleSpec, plan_fleet_result
from mission_planner.geodesy import LocalFrame
from mission_planner.ground_paths import GroundNetwork
from mission_planner.model import Locker, Objective, ObjectiveKind
from mission_planner.plan import Leg, LegKind, Plan, VehicleRoute
from mission_planner.replan import CancelOrder, Event, NewOrder, PlanState, VehicleDown, replan
from mission_planner.solver import Result
from mission_planner.travel import DroneTravel, GroundTravel

from .adapters.base import Mission, VehicleKind, VehicleState
from .domain.orders import DeliveryMode, Order, OrderStatus
from .fleet import FleetVehicle, VehicleProfile
from .missions import MissionBuildError, carried_drone_trip, drone_trip, ground_trip, trip_order_ids, with_wait_after

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenOrder:
    """An order the dispatcher may plan, with its drop point (recipient or locker) in WGS84."""

    order_id: str
    latitude_deg: float
    longitude_deg: float
    weight_kg: float
    window_start_s: float | None = None
    window_end_s: float | None = None
    avoid_vehicle_ids: frozenset[str] = frozenset()  # vehicles that failed this order recently


@dataclass(frozen=True)
class FleetSlot:
    """A vehicle the planner may give work: idle now (`busy_until_s` None) or busy until a forecast time.

    `state` is the telemetry snapshot taken in the event loop (adapters are not thread-safe and the
    planner runs in a worker thread).
    """

    vehicle: FleetVehicle
    busy_until_s: float | None = None
    state: VehicleState | None = None

    @property
    def idle(self) -> bool:
        """Free to start a mission now."""
        return self.busy_until_s is None


@dataclass(frozen=True)
class Handoff:
    """A drone the van launches at one of its stops: the van waits (WAIT step) until the drone is back."""

    drone_id: str
    wait_step_index: int  # the van mission's WAIT step at the launch stop
    sortie: Sortie  # the drone's own mission, started once the van has launched it


@dataclass(frozen=True)
class Sortie:
    """One mission for one vehicle and the orders it carries."""

    vehicle_id: str
    mode: DeliveryMode
    mission: Mission
    order_ids: tuple[str, ...]
    eta_s: dict[str, float]  # order -> expected hand-over time
    planned_energy_wh: float
    planned_end_s: float = math.inf  # when the vehicle is expected back (the RETURN leg's end)
    handoffs: tuple[Handoff, ...] = ()  # van only: drones it carries and launches on the way
    details: Mapping[str, object] = field(default_factory=dict)  # extra facts for the stored mission

    @property
    def all_order_ids(self) -> tuple[str, ...]:
        """The orders of this mission and of the drones launched from it."""
        return self.order_ids + tuple(o for h in self.handoffs for o in h.sortie.order_ids)


@dataclass(frozen=True)
class PlanningConfig:
    """Knobs of the translation and of the planner calls."""

    drone_safety_margin_m: float = 25.0
    path_horizon_s: float = 3600.0  # zones active within this of departure are avoided
    vertical_margin_m: float = 10.0
    time_budget_s: float = 2.0  # full plan (solver wall time), at most
    replan_budget_s: float = 0.5  # incremental re-plan after new/withdrawn orders, at most
    budget_per_order_s: float = 0.002  # small problems converge fast: budget = min(cap, floor + this x orders)
    budget_floor_s: float = 0.1
    full_plan_period_s: float = 120.0  # replan() at most this long after the last full plan
    dispatch_slack_s: float = 60.0  # a trip planned to start within this of now starts now
    late_after_s: float = 600.0  # orders due sooner than this are planned without a deadline (late beats never)
    objective: ObjectiveKind = ObjectiveKind.DURATION  # deliver soon: vehicle-seconds, not euros
    min_spare_charge_fraction: float = 0.03  # idle drones/robots with less above their reserve are not planned
    seed: int = 0


@dataclass
class _LastPlan:
    """What the plan in force assumed, to decide between `replan` and a full plan."""

    result: Result
    full_at_s: float
    airspace_key: tuple[str, ...]
    specs: dict[str, OrderSpec]
    idle_ids: frozenset[str]
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
    ) -> None:
        self.frame = frame
        self.hub_xy = hub_xy
        self.wind = wind or Wind()  # the planner's energy model has no wind yet; kept for the path planner callers
        self.config = config or PlanningConfig()
        hub_lat, hub_lon = frame.to_wgs84(*hub_xy)
        self.hub = SafeSite(hub_id, hub_lat, hub_lon, hub_xy[0], hub_xy[1])
        self.lockers: tuple[SafeSite, ...] = ()
        self._locker_positions: dict[str, tuple[float, float]] = {}
        self._walk = GroundNetwork(walk_graph, speed_m_s=1.5)  # type: ignore[arg-type]
        self._streets = GroundNetwork(street_graph, speed_m_s=8.0, use_edge_speed=True)  # type: ignore[arg-type]
        self._drone_paths: DronePathPlanner | None = None
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
                vertical_margin_m=self.config.vertical_margin_m,
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

    def reroute_path(
        self, airspace: Airspace, cruise_altitude_m: float, start_xy: tuple[float, float],
        goal_xy: tuple[float, float], now_s: float
    ) -> DronePath:
        """A safe path for a drone already flying (PathError when there is none)."""
        end_s = now_s + self.config.path_horizon_s
        return self.drone_paths(airspace, cruise_altitude_m).path(start_xy, goal_xy, start_s=now_s, end_s=end_s)

    def next_mission_id(self, vehicle_id: str, now_s: float) -> str:
        """A unique, readable mission id."""
        self._sequence += 1
        return f"{vehicle_id}-{int(now_s)}-{self._sequence}"

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
    ) -> OpenOrder:
        """A stored order as the planner sees it: its drop point (the locker once diverted) and window.

        `lookahead_s` is also how early before its window a parcel may arrive.
        """
        latitude_deg, longitude_deg = order.destination.latitude_deg, order.destination.longitude_deg
        if order.status is OrderStatus.DIVERTED_TO_LOCKER and order.locker_id in self._locker_positions:
            latitude_deg, longitude_deg = self._locker_positions[order.locker_id]
        earliest_s = None if order.window_start_s is None else order.window_start_s - lookahead_s
        return OpenOrder(order.order_id, latitude_deg, longitude_deg, order.weight_kg, earliest_s,
                         order.window_end_s, avoid_vehicle_ids)

    def travel(self, airspace: Airspace, vehicles: Sequence[FleetVehicle]) -> FleetTravel:
        """The planner's world (paths, matrices caches) for this airspace and fleet; rebuilt when either changes.

        The models come from every profile seen so far (not only the vehicles idle this cycle), so the
        caches survive cycles where, say, no robot is free.
        """
        for vehicle in vehicles:
            self._profiles.setdefault(vehicle.vehicle_id, (vehicle.kind, vehicle.profile))
        known = sorted(self._profiles.items())
        drones = [p for _id, (kind, p) in known if kind is VehicleKind.DRONE]
        robots = [p for _id, (kind, p) in known if kind is VehicleKind.ROBOT]
        drone_model = MultirotorModel()
        if drones:  # one drone type per hub: the first profile stands for all
            p = drones[0]
            drone_model = MultirotorModel(
                battery_capacity_wh=p.battery_wh, max_payload_kg=max(p.max_payload_kg for p in drones),
                cruise_airspeed_m_s=p.speed_m_s,
            )
        robot_model = RobotModel()
        if robots:
            p = robots[0]
            robot_model = RobotModel(wh_per_km=p.energy_wh_per_km or 30.0, battery_capacity_wh=p.battery_wh,
                                     max_payload_kg=max(p.max_payload_kg for p in robots), speed_m_s=p.speed_m_s)
        reserve = ReservePolicy(max((p.reserve_pct for _id, (kind, p) in known if kind is not VehicleKind.VAN),
                                    default=20.0) / 100.0)
        cruise_m = drones[0].cruise_altitude_m if drones else 60.0
        key = (*sorted(z.zone_id for z in airspace.zones), drone_model, robot_model, reserve, cruise_m, self.lockers)
        if self._travel is None or key != self._travel_key:
            self._travel = FleetTravel(
                frame=self.frame, hub=self.hub, lockers=self.lockers, airspace=airspace,
                drone=DroneTravel(self.drone_paths(airspace, cruise_m), drone_model,
                                  start_s=None, end_s=None),
                robot=GroundTravel(self._walk), van=GroundTravel(self._streets),
                robot_model=robot_model, reserve=reserve,
            )
            self._travel_key = key
            self._last = None
        return self._travel

    def vehicle_spec(self, slot: FleetSlot) -> VehicleSpec | None:
        """The planner's view of one vehicle (None when it reports no position)."""
        vehicle = slot.vehicle
        profile = vehicle.profile
        kind = vehicle.kind
        common = {"capacity_kg": profile.max_payload_kg, "capacity_parcels": profile.capacity_parcels,
                  "carried_by": vehicle.carried_by}
        if not slot.idle:  # a running mission ends at home; the battery is swapped there
            return VehicleSpec(vehicle.vehicle_id, kind, vehicle.home_latitude_deg, vehicle.home_longitude_deg,
                               available_from_s=slot.busy_until_s, **common)  # type: ignore[arg-type]
        state = slot.state
        if state is None:
            return None
        charge_wh = _charge_wh(slot)
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

    def affordable(self, slot: FleetSlot, legs: Sequence[Leg]) -> bool:
        """Whether the vehicle's present charge covers the trip and keeps its reserve.

        The planner assumes every drone/robot trip starts on a swapped (full) battery; a vehicle
        that was not swapped or charged flies on what telemetry says is left.
        """
        charge_wh = _charge_wh(slot)
        if slot.vehicle.kind is VehicleKind.VAN or charge_wh is None:
            return True
        profile = slot.vehicle.profile
        reserve = ReservePolicy(profile.reserve_pct / 100.0)
        return reserve.is_feasible(profile.battery_wh, charge_wh, sum(leg.energy_wh for leg in legs))

    def usable(self, slot: FleetSlot) -> bool:
        """Worth planning: not so drained that even a short trip would eat into the reserve."""
        charge_wh = _charge_wh(slot)
        if slot.vehicle.kind is VehicleKind.VAN or charge_wh is None:
            return True
        profile = slot.vehicle.profile
        spare_wh = charge_wh - ReservePolicy(profile.reserve_pct / 100.0).reserve_wh(profile.battery_wh)
        return spare_wh >= self.config.min_spare_charge_fraction * profile.battery_wh

    def order_spec(self, order: OpenOrder, now_s: float) -> OrderSpec:
        """The planner's view of one order: a deadline only while it can still be met (late beats never)."""
        latest_s = math.inf
        if order.window_end_s is not None and order.window_end_s > now_s + self.config.late_after_s:
            latest_s = order.window_end_s
        return OrderSpec(order.order_id, order.latitude_deg, order.longitude_deg, order.weight_kg,
                         earliest_s=order.window_start_s or 0.0, latest_s=latest_s)

    # ----- planning --------------------------------------------------------------------------------
    def plan(
        self, *, now_s: float, airspace: Airspace, slots: Sequence[FleetSlot], orders: Sequence[OpenOrder]
    ) -> list[Sortie]:
        """Plan (or re-plan) the fleet and return the trips idle vehicles should start now."""
        started = time.perf_counter()
        slots = [s for s in slots if not s.idle or self.usable(s)]
        vehicle_specs = [spec for spec in (self.vehicle_spec(s) for s in slots) if spec is not None]
        if not vehicle_specs or not any(s.idle for s in slots):
            return []  # nobody can be sent (all drained): the plan in force stays for the next cycle
        travel = self.travel(airspace, [s.vehicle for s in slots])
        specs = {o.order_id: self.order_spec(o, now_s) for o in orders}
        idle_ids = frozenset(s.vehicle.vehicle_id for s in slots if s.idle)
        events = self._replan_events(now_s, travel, vehicle_specs, specs, idle_ids)
        if events is None or self._last is None:
            result = plan_fleet_result(travel, vehicle_specs, list(specs.values()), now_s=now_s,
                                       seed=self.config.seed,
                                       time_budget_s=self.budget_s(self.config.time_budget_s, len(specs)),
                                       objective=Objective(self.config.objective))
            self._last = _LastPlan(result, now_s, self._airspace_key, specs, idle_ids)
            self.last_plan_kind = "full"
        elif events:
            result = replan(PlanState(self._last.result, now_s), events,
                            self.budget_s(self.config.replan_budget_s, len(specs)),
                            seed=self.config.seed)
            self._last.result = result
            self._last.specs = specs
            self.last_plan_kind = "replan"
        else:
            result = self._last.result  # nothing changed: trips planned for later may be due now
            self.last_plan_kind = "kept"
        short: set[str] = set()
        sorties, avoided = self._sorties(result.plan, slots, orders, now_s, short)
        self._last.dispatched.update(o for s in sorties for o in s.all_order_ids)
        if avoided:
            sorties += self._plan_avoided(travel, slots, avoided, {s.vehicle_id for s in sorties} | short, now_s)
        self._last.idle_ids = idle_ids - {s.vehicle_id for s in sorties}
        self.last_plan_wall_s = time.perf_counter() - started
        logger.debug("%s plan (%s): %d orders, %d vehicles, %d sorties in %.2f s", self.last_plan_kind,
                     self.last_plan_reason, len(specs), len(vehicle_specs), len(sorties), self.last_plan_wall_s)
        return sorties

    def _replan_events(
        self,
        now_s: float,
        travel: FleetTravel,
        vehicle_specs: Sequence[VehicleSpec],
        specs: Mapping[str, OrderSpec],
        idle_ids: frozenset[str],
    ) -> list[Event] | None:
        """The events that bring the plan in force up to date, or None when only a full plan will do."""
        last = self._last
        reason = self._stale_reason(now_s, vehicle_specs, specs, idle_ids)
        self.last_plan_reason = reason
        if last is None or reason:
            return None
        vehicle_ids = frozenset(v.vehicle_id for v in vehicle_specs)
        planned_ids = frozenset(v.vehicle_id for v in last.result.problem.vehicles)
        # vehicles sent out since (or gone): their trips finish, they take no new work
        events: list[Event] = [VehicleDown(v) for v in sorted(planned_ids - vehicle_ids)]
        known = {o.order_id for o in last.result.problem.orders}
        events += [CancelOrder(o) for o in sorted(known - specs.keys() - last.dispatched)]
        for order_id in sorted(specs.keys() - known):
            events.append(_new_order(specs[order_id], travel))
        return events

    def _stale_reason(
        self, now_s: float, vehicle_specs: Sequence[VehicleSpec], specs: Mapping[str, OrderSpec],
        idle_ids: frozenset[str],
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
        planned_ids = frozenset(v.vehicle_id for v in last.result.problem.vehicles)
        if not {v.vehicle_id for v in vehicle_specs} <= planned_ids:
            return "a vehicle joined"
        for route in last.result.plan.routes:
            for leg in route.legs:
                if leg.kind is LegKind.DROPOFF and leg.start_s < now_s and not set(leg.order_ids) <= last.dispatched:
                    return f"{route.vehicle_id} should have left with {', '.join(leg.order_ids)}"
        if any(specs[o] != last.specs[o] for o in specs.keys() & last.specs.keys()):
            return "an order was rescheduled or diverted to a locker"
        return ""

    def _sorties(
        self, plan: Plan, slots: Sequence[FleetSlot], orders: Sequence[OpenOrder], now_s: float, short: set[str]
    ) -> tuple[list[Sortie], list[OpenOrder]]:
        """First undispatched trip of each idle vehicle, if due; orders planned on a vehicle they avoid.

        Vehicles whose charge cannot cover their trip are added to `short`.
        """
        by_id = {o.order_id: o for o in orders}
        dispatched = self._last.dispatched if self._last is not None else set()
        sorties: list[Sortie] = []
        avoided: list[OpenOrder] = []
        for slot in slots:
            if not slot.idle or slot.vehicle.carried_by is not None:
                continue  # carried drones go out with their van's sortie
            route = plan.route(slot.vehicle.vehicle_id)
            if route is None:
                continue
            trip = _first_open_trip(route, dispatched)
            if trip is None or trip[0].start_s > now_s + self.config.dispatch_slack_s:
                continue
            vehicle_id = slot.vehicle.vehicle_id
            if slot.vehicle.kind is VehicleKind.VAN:
                trip = self._without_carried_orders(trip, plan, slots, vehicle_id)
            if not self.affordable(slot, trip):  # re-planned on the others with the orders that avoid someone
                short.add(vehicle_id)
                avoided += [replace(by_id[o], avoid_vehicle_ids=by_id[o].avoid_vehicle_ids | {vehicle_id})
                            for o in trip_order_ids(trip) if o in by_id]
                continue
            bad = [o for o in trip_order_ids(trip) if o in by_id and vehicle_id in by_id[o].avoid_vehicle_ids]
            avoided += [by_id[o] for o in bad]
            unknown = [o for o in trip_order_ids(trip) if o not in by_id]
            legs = tuple(leg for leg in trip if not set(leg.order_ids) & {*bad, *unknown})
            if not trip_order_ids(legs):
                continue
            try:
                sortie = self.sortie(slot.vehicle, legs, now_s)
            except MissionBuildError as exc:
                logger.warning("%s: %s", vehicle_id, exc)
                continue
            if slot.vehicle.kind is VehicleKind.VAN:
                weights = {o.order_id: o.weight_kg for o in orders}
                sortie = self._with_handoffs(sortie, legs, plan, slots, now_s, dispatched, weights)
            sorties.append(sortie)
        return sorties, avoided

    def _without_carried_orders(
        self, trip: tuple[Leg, ...], plan: Plan, slots: Sequence[FleetSlot], van_id: str
    ) -> tuple[Leg, ...]:
        """The van's trip without the stops its drones are planned to serve.

        The handoff planner's re-timed van route can keep the first stop a drone took over; a drone
        trip that is skipped leaves its order for the next cycle.
        """
        carried: set[str] = set()
        for slot in slots:
            if slot.vehicle.carried_by == van_id and (route := plan.route(slot.vehicle.vehicle_id)) is not None:
                carried.update(trip_order_ids(route.legs))
        return tuple(leg for leg in trip if leg.kind is not LegKind.DROPOFF or not set(leg.order_ids) & carried)

    def _with_handoffs(
        self, sortie: Sortie, van_legs: Sequence[Leg], plan: Plan, slots: Sequence[FleetSlot], now_s: float,
        dispatched: set[str], weights: Mapping[str, float],
    ) -> Sortie:
        """The van's sortie with the drone trips it launches: one per drone, launched and recovered at one stop.

        Trips recovered at another stop, launched at the hub, or sharing a stop with an earlier one are
        left out (their orders are planned again next cycle).
        """
        handoffs: list[Handoff] = []
        mission = sortie.mission
        used_stops: set[tuple[float, float]] = set()
        stops = {leg.to_xy_m: leg for leg in van_legs if leg.kind is LegKind.DROPOFF}
        if not stops:
            return sortie
        for slot in slots:
            drone = slot.vehicle
            if not slot.idle or drone.carried_by != sortie.vehicle_id or drone.kind is not VehicleKind.DRONE:
                continue
            route = plan.route(drone.vehicle_id)
            if route is None:
                continue
            for legs in route.trips():
                launch = next((leg for leg in legs if leg.kind is LegKind.LAUNCH), None)
                recovery = next((leg for leg in legs if leg.kind is LegKind.RECOVERY), None)
                if launch is None or recovery is None or set(trip_order_ids(legs)) & dispatched:
                    continue
                dropoff = next(leg for leg in legs if leg.kind is LegKind.DROPOFF)
                stop = stops.get(launch.from_xy_m)
                if stop is None:  # launched at the depot: from the van stop nearest the drop instead
                    stop = min(stops.values(), key=lambda leg: math.dist(leg.to_xy_m, dropoff.to_xy_m))
                if stop.to_xy_m != launch.from_xy_m or recovery.to_xy_m != launch.from_xy_m:
                    legs = tuple(self._anchored_at(legs, stop.to_xy_m, weights.get(dropoff.order_ids[0], 0.0)))
                why = ("another drone launches at that stop" if stop.to_xy_m in used_stops
                       else "its charge cannot cover the trip from and back to that stop"
                       if not self.affordable(slot, legs) else "")
                if why:
                    logger.info("%s: trip of %s with %s skipped: %s", sortie.vehicle_id, drone.vehicle_id,
                                ", ".join(trip_order_ids(legs)), why)
                    continue
                try:
                    drone_sortie = self.sortie(drone, legs, now_s)
                except MissionBuildError as exc:
                    logger.warning("%s: %s", drone.vehicle_id, exc)
                    continue
                mission, wait_index = with_wait_after(mission, stop.order_ids[-1])
                handoffs = [replace(h, wait_step_index=h.wait_step_index + (h.wait_step_index >= wait_index))
                            for h in handoffs]
                handoffs.append(Handoff(drone.vehicle_id, wait_index, drone_sortie))
                used_stops.add(stop.to_xy_m)
                break  # one sortie per drone and van trip: it is back aboard before the van moves on
        if not handoffs:
            return sortie
        return replace(sortie, mission=mission, handoffs=tuple(sorted(handoffs, key=lambda h: h.wait_step_index)))

    def _plan_avoided(
        self,
        travel: FleetTravel,
        slots: Sequence[FleetSlot],
        avoided: Sequence[OpenOrder],
        taken: set[str],
        now_s: float,
    ) -> list[Sortie]:
        """Orders a vehicle recently failed: planned again on the idle vehicles they do not avoid."""
        sorties: list[Sortie] = []
        groups: dict[frozenset[str], list[OpenOrder]] = {}
        for order in avoided:
            groups.setdefault(order.avoid_vehicle_ids, []).append(order)
        for avoid, group in groups.items():
            free = [s for s in slots if s.idle and s.vehicle.vehicle_id not in avoid | taken]
            specs = [spec for spec in (self.vehicle_spec(s) for s in free) if spec is not None]
            if not specs:
                continue
            result = plan_fleet_result(travel, specs, [self.order_spec(o, now_s) for o in group], now_s=now_s,
                                       seed=self.config.seed,
                                       time_budget_s=self.budget_s(self.config.replan_budget_s, len(group)),
                                       objective=Objective(self.config.objective))
            for slot in free:
                route = result.plan.route(slot.vehicle.vehicle_id)
                trip = _first_open_trip(route, set()) if route is not None else None
                if (trip is None or trip[0].start_s > now_s + self.config.dispatch_slack_s
                        or not self.affordable(slot, trip)):
                    continue
                try:
                    sortie = self.sortie(slot.vehicle, trip, now_s)
                except MissionBuildError as exc:
                    logger.warning("%s: %s", slot.vehicle.vehicle_id, exc)
                    continue
                sorties.append(sortie)
                taken.add(slot.vehicle.vehicle_id)
                if self._last is not None:
                    self._last.dispatched.update(sortie.order_ids)
        return sorties

    def _anchored_at(self, legs: Sequence[Leg], stop_xy: tuple[float, float], payload_kg: float) -> list[Leg]:
        """The trip launched from and recovered at one van stop (the van waits there while the drone is out).

        The planner's handoff may launch at the depot or recover at a later stop; only launch and
        recovery at the same stop is executed so far and the planner has no option for it, so the
        flights out and back are re-routed here (safe paths, energy) and `affordable` judges them.
        """
        if self._travel is None:
            raise MissionBuildError("no travel model for the re-anchored drone trip")
        drone = self._travel.drone
        anchored: list[Leg] = []
        for leg in legs:
            if leg.kind is LegKind.LAUNCH:
                leg = replace(leg, from_xy_m=stop_xy, to_xy_m=stop_xy)
            elif leg.kind is LegKind.DROPOFF:
                path = drone.path(stop_xy, leg.to_xy_m)
                leg = replace(leg, from_xy_m=stop_xy, distance_m=path.horizontal_m,
                              energy_wh=path.energy_wh(drone.model, payload_kg), waypoints=path.waypoints)
            elif leg.kind is LegKind.RECOVERY:
                path = drone.path(leg.from_xy_m, stop_xy)
                leg = replace(leg, to_xy_m=stop_xy, distance_m=path.horizontal_m,
                              energy_wh=path.energy_wh(drone.model, 0.0), waypoints=path.waypoints)
            anchored.append(leg)
        return anchored

    def sortie(self, vehicle: FleetVehicle, legs: Sequence[Leg], now_s: float) -> Sortie:
        """One planned trip -> the adapter mission and what the dispatcher records about it."""
        mission_id = self.next_mission_id(vehicle.vehicle_id, now_s)
        profile = vehicle.profile
        if vehicle.kind is VehicleKind.DRONE and vehicle.carried_by is not None:
            mission = carried_drone_trip(mission_id, legs, self.frame, cruise_altitude_m=profile.cruise_altitude_m,
                                         cruise_speed_m_s=profile.speed_m_s)
        elif vehicle.kind is VehicleKind.DRONE:
            mission = drone_trip(mission_id, legs, self.frame, cruise_altitude_m=profile.cruise_altitude_m,
                                 cruise_speed_m_s=profile.speed_m_s)
        else:
            # Robots and vans stop on the footpath / street node nearest the door (a centroid is off their map).
            network = self._walk if vehicle.kind is VehicleKind.ROBOT else self._streets
            mission = ground_trip(mission_id, legs, lambda xy: _node_wgs84(network, xy),
                                  cruise_speed_m_s=profile.speed_m_s if vehicle.kind is VehicleKind.ROBOT else None)
        # The plan's clock started when it was made; shift the trip to start now.
        shift_s = now_s - legs[0].start_s
        eta = {o: leg.arrival_s + shift_s for leg in legs if leg.kind is LegKind.DROPOFF for o in leg.order_ids}
        return Sortie(vehicle.vehicle_id, _MODES[vehicle.kind], mission, trip_order_ids(legs), eta,
                      sum(leg.energy_wh for leg in legs), legs[-1].end_s + shift_s)


def _first_open_trip(route: VehicleRoute, dispatched: set[str]) -> tuple[Leg, ...] | None:
    """The route's first trip that delivers something not yet dispatched."""
    for trip in route.trips():
        order_ids = trip_order_ids(trip)
        if order_ids and not set(order_ids) & dispatched:
            return tuple(leg for leg in trip if leg.kind is not LegKind.CHARGE)
    return None


def _charge_wh(slot: FleetSlot) -> float | None:
    """Charge left (Wh) by telemetry, None when unknown."""
    state = slot.state
    if state is None:
        return None
    if state.battery_remaining_wh is not None:
        return state.battery_remaining_wh
    if state.battery_remaining_pct is not None:
        return slot.vehicle.profile.battery_wh * state.battery_remaining_pct / 100.0
    return None


def _new_order(spec: OrderSpec, travel: FleetTravel) -> NewOrder:
    x_m, y_m = travel.to_local(spec.latitude_deg, spec.longitude_deg)
    locker = None
    if spec.locker_site_id is not None:
        site = next(s for s in travel.lockers if s.site_id == spec.locker_site_id)
        locker = Locker(site.site_id, site.x_m, site.y_m)
    return NewOrder(spec.order_id, x_m, y_m, spec.weight_kg, spec.size_class, spec.earliest_s, spec.latest_s,
                    spec.priority, spec.customs_cleared, spec.recipient_from_s, spec.recipient_until_s, locker)


def _node_wgs84(network: GroundNetwork, xy: tuple[float, float]) -> tuple[float, float]:
    node = network.graph.nodes[network.nearest_node(*xy)]
    return float(node["latitude_deg"]), float(node["longitude_deg"])
