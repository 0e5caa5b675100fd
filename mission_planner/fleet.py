"""The dispatcher's entry point: `plan_fleet(travel, vehicles, orders, now_s=..., seed=..., time_budget_s=...)`.

Inputs are WGS84 (what telemetry and the order API speak); everything inside is local metres.

    travel = FleetTravel.for_world(world)            # once per world (and per airspace change): keeps caches
    plan = plan_fleet(travel, vehicles, orders, now_s=clock.now(), seed=0, time_budget_s=5.0)
    for route in plan.routes:                        # one per vehicle with work
        for leg in route.legs:                       # PICKUP / DROPOFF / RETURN / CHARGE / LAUNCH / RECOVERY
            leg.to_latitude_deg, leg.to_longitude_deg, leg.arrival_s, leg.waypoints_wgs84(travel.frame)

Vans that carry drones or robots (``VehicleSpec.carried_by``) get launch and recovery legs from
the handoff planner (`mission_planner.van_handoff`) after the core solve; ``handoff=HandoffPolicy(...)``
says which handoffs the caller can execute (recovery at the launch stop only, launches at the hub).

What the planner honours besides places and windows: each vehicle's present charge
(``VehicleSpec.battery_wh``: its first trip must fit it, later trips start on a swapped battery; a van's
``VehicleSpec.range_m``: its trip must fit the charge it has), per-order vehicle exclusions
(``OrderSpec.avoid_vehicle_ids``), and the speeds of the vehicle profiles (`DEFAULT_PROFILES` unless the
travel models say otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pyvrp.stop import MultipleCriteria, StoppingCriterion

from .airspace import Airspace
from .drone_paths import DronePathPlanner
from .energy import MultirotorModel, ReservePolicy, RobotModel
from .errors import PlanningError
from .geodesy import LocalFrame
from .ground_paths import GroundNetwork
from .model import Locker, Model, Objective, Order, SizeClass, VehicleKind
from .plan import Plan, VehicleRoute
from .profiles import DEFAULT_PROFILES
from .solver import MaxIterations, MaxRuntime, Result, solve
from .travel import DroneTravel, GroundTravel, Travel
from .van_handoff import HandoffPolicy, apply_handoff

AT_HUB_RADIUS_M = 30.0


HUB_RELOAD_S = 120.0  # a battery swap (drones, robots) or a reload at the hub, as the planner counts it

@dataclass(frozen=True)
class SafeSite:
    """A named place (hub, locker) in WGS84 and local metres."""

    site_id: str
    latitude_deg: float
    longitude_deg: float
    x_m: float
    y_m: float


@dataclass
class FleetTravel:
    """Everything the planner needs about a world, with its caches (build once, keep, pass to `plan_fleet`)."""

    frame: LocalFrame
    hub: SafeSite
    lockers: tuple[SafeSite, ...]
    airspace: Airspace
    drone: DroneTravel
    robot: GroundTravel
    van: GroundTravel
    robot_model: RobotModel = field(default_factory=RobotModel)
    reserve: ReservePolicy = field(default_factory=ReservePolicy)

    @classmethod
    def for_world(
        cls,
        world: Any,
        *,
        airspace: Airspace | None = None,
        safety_margin_m: float = 20.0,
        cruise_altitude_m: float = 60.0,
        drone_model: MultirotorModel | None = None,
        robot_model: RobotModel | None = None,
        operator: str | None = None,
    ) -> FleetTravel:
        """Build from a `fleet_manager.world.World` (frame, airspace, walk/street graphs, hub, lockers)."""
        space = airspace if airspace is not None else world.airspace
        robots = robot_model if robot_model is not None else RobotModel()

        def site(raw: Any) -> SafeSite:
            return SafeSite(raw.site_id, raw.latitude_deg, raw.longitude_deg, raw.x_m, raw.y_m)

        planner = DronePathPlanner(
            space, safety_margin_m=safety_margin_m, cruise_altitude_m=cruise_altitude_m, operator=operator
        )
        return cls(
            frame=world.frame,
            hub=site(world.hub),
            lockers=tuple(site(locker) for locker in world.lockers),
            airspace=space,
            drone=DroneTravel(planner, drone_model if drone_model is not None else MultirotorModel()),
            robot=GroundTravel(GroundNetwork(world.walk_graph, speed_m_s=robots.speed_m_s)),
            van=GroundTravel(
                GroundNetwork(
                    world.street_graph, speed_m_s=DEFAULT_PROFILES[VehicleKind.VAN].speed_m_s, use_edge_speed=True
                )
            ),
            robot_model=robots,
        )

    def by_kind(self) -> dict[VehicleKind, Travel]:
        """The travel model of each vehicle kind."""
        return {VehicleKind.DRONE: self.drone, VehicleKind.ROBOT: self.robot, VehicleKind.VAN: self.van}

    def to_local(self, latitude_deg: float, longitude_deg: float) -> tuple[float, float]:
        """WGS84 -> local metres."""
        return self.frame.to_local(latitude_deg, longitude_deg)

    def locker_sites(self) -> dict[str, Locker]:
        """The lockers as the model knows them (site id -> `Locker`)."""
        return {site.site_id: Locker(site.site_id, site.x_m, site.y_m) for site in self.lockers}


@dataclass(frozen=True)
class VehicleSpec:
    """A vehicle as the fleet snapshot knows it. Zero/None fields take the kind's defaults (`DEFAULT_PROFILES`)."""

    vehicle_id: str
    kind: VehicleKind
    latitude_deg: float
    longitude_deg: float
    battery_wh: float | None = None  # current charge; None = full
    available_from_s: float | None = None  # busy until (committed legs end)
    carried_by: str | None = None  # van id for drones/robots riding a van
    shift_end_s: float = math.inf
    capacity_kg: float | None = None
    capacity_parcels: int | None = None
    cold_chain: bool | None = None  # has an insulated box; None = the kind's default profile
    ride_shock_g: float | None = None  # shock its ride puts on a parcel; None = the kind's default profile
    range_m: float | None = None  # how far its charge takes it before it must recharge (vans); None = not limited


@dataclass(frozen=True)
class OrderSpec:
    """An open order as the store knows it. Times are epoch seconds."""

    order_id: str
    latitude_deg: float
    longitude_deg: float
    weight_kg: float
    size_class: SizeClass = SizeClass.S
    earliest_s: float = 0.0
    latest_s: float = math.inf
    priority: int = 1
    customs_cleared: bool = True
    recipient_from_s: float | None = None
    recipient_until_s: float | None = None
    locker_site_id: str | None = None
    avoid_vehicle_ids: frozenset[str] = frozenset()  # vehicles not to give it (they failed it recently)
    max_out_s: float | None = None  # cold chain: longest time from the hub's cold store to hand-over
    max_shock_g: float | None = None  # fragile: shock limit


def add_order_spec(model: Model, spec: OrderSpec, frame: LocalFrame, lockers: Mapping[str, Locker]) -> Order:
    """Add one `OrderSpec` to `model`: its drop point in the local `frame`, its fallback locker from `lockers`."""
    x_m, y_m = frame.to_local(spec.latitude_deg, spec.longitude_deg)
    locker = None
    if spec.locker_site_id is not None:
        locker = lockers.get(spec.locker_site_id)
        if locker is None:
            raise PlanningError(f"order {spec.order_id!r}: unknown locker_site_id {spec.locker_site_id!r}")
    return model.add_order(
        spec.order_id,
        x_m,
        y_m,
        weight_kg=spec.weight_kg,
        size_class=spec.size_class,
        earliest_s=spec.earliest_s,
        latest_s=spec.latest_s,
        priority=spec.priority,
        customs_cleared=spec.customs_cleared,
        recipient_from_s=spec.recipient_from_s,
        recipient_until_s=spec.recipient_until_s,
        locker=locker,
        avoid_vehicle_ids=spec.avoid_vehicle_ids,
        max_out_s=spec.max_out_s,
        max_shock_g=spec.max_shock_g,
    )


def build_model(
    travel: FleetTravel,
    vehicles: Sequence[VehicleSpec],
    orders: Sequence[OrderSpec],
    *,
    now_s: float,
    objective: Objective | None = None,
    hub_reload_s: float = HUB_RELOAD_S,
) -> Model:
    """The `Model` `plan_fleet` solves: one hub depot, the vehicles, and the orders with locker fallbacks."""
    model = Model(objective)
    hub = model.add_depot(travel.hub.x_m, travel.hub.y_m, name=travel.hub.site_id, reload_s=hub_reload_s)
    for spec in vehicles:
        kind = VehicleKind(spec.kind)
        defaults = DEFAULT_PROFILES[kind]
        x_m, y_m = travel.to_local(spec.latitude_deg, spec.longitude_deg)
        away = math.hypot(x_m - hub.x_m, y_m - hub.y_m) > AT_HUB_RADIUS_M and spec.carried_by is None
        if kind is VehicleKind.DRONE:
            speed, capacity_wh, wh_per_km = (
                travel.drone.model.cruise_airspeed_m_s,
                travel.drone.model.battery_capacity_wh,
                0.0,
            )
        elif kind is VehicleKind.ROBOT:
            robot = travel.robot_model
            speed, capacity_wh, wh_per_km = robot.speed_m_s, robot.battery_capacity_wh, robot.wh_per_km
        else:
            speed, capacity_wh, wh_per_km = travel.van.network.speed_m_s, 0.0, defaults.energy_wh_per_km
        model.add_vehicle(
            spec.vehicle_id,
            kind,
            hub,
            capacity_kg=spec.capacity_kg if spec.capacity_kg is not None else defaults.max_payload_kg,
            capacity_parcels=spec.capacity_parcels or defaults.capacity_parcels,
            speed_m_s=speed,
            service_s=defaults.service_s,
            shift_start_s=now_s,
            shift_end_s=max(spec.shift_end_s, now_s + 1.0),
            battery_capacity_wh=capacity_wh,
            battery_wh=spec.battery_wh,
            cost_per_km=defaults.cost_per_km,
            cost_per_hour=defaults.cost_per_hour,
            fixed_cost=defaults.fixed_cost,
            wh_per_km=wh_per_km,
            carried_by=spec.carried_by,
            available_from_s=spec.available_from_s,
            start_xy_m=(x_m, y_m) if away else None,
            cold_chain=defaults.cold_chain if spec.cold_chain is None else spec.cold_chain,
            ride_shock_g=defaults.ride_shock_g if spec.ride_shock_g is None else spec.ride_shock_g,
            range_m=math.inf if spec.range_m is None else spec.range_m,
        )
    lockers = travel.locker_sites()
    for order in orders:
        add_order_spec(model, order, travel.frame, lockers)
    return model


def plan_fleet(
    travel: FleetTravel,
    vehicles: Sequence[VehicleSpec],
    orders: Sequence[OrderSpec],
    *,
    now_s: float,
    seed: int = 0,
    time_budget_s: float = 5.0,
    max_iterations: int | None = None,
    objective: Objective | None = None,
    handoff: HandoffPolicy | None = None,
) -> Plan:
    """Plan the fleet: which vehicle delivers which order, in what order, when, with what energy.

    Orders not cleared by customs are never planned; impossible orders come back in
    `Plan.unplanned` with the reason. Deterministic for a seed up to the time limit: with `max_iterations`
    the search also stops after that many iterations, so a budget that is not reached gives the same plan on
    any machine and under any load (tests, benchmarks; the handoff search has `HandoffPolicy.search_iterations`).
    `handoff` limits the van handoffs to what the caller can execute (default: any the planner finds).
    """
    return plan_fleet_result(
        travel,
        vehicles,
        orders,
        now_s=now_s,
        seed=seed,
        time_budget_s=time_budget_s,
        max_iterations=max_iterations,
        objective=objective,
        handoff=handoff,
    ).plan


def plan_fleet_result(
    travel: FleetTravel,
    vehicles: Sequence[VehicleSpec],
    orders: Sequence[OrderSpec],
    *,
    now_s: float,
    seed: int = 0,
    time_budget_s: float = 5.0,
    max_iterations: int | None = None,
    objective: Objective | None = None,
    handoff: HandoffPolicy | None = None,
) -> Result:
    """Like `plan_fleet`, but returns the full `Result` (problem, solver solution) for re-planning."""
    if not math.isfinite(time_budget_s) or time_budget_s <= 0:
        raise PlanningError(f"time_budget_s must be > 0, got {time_budget_s!r}")
    if max_iterations is not None and max_iterations < 1:
        raise PlanningError(f"max_iterations must be >= 1, got {max_iterations!r}")
    stop: StoppingCriterion = MaxRuntime(time_budget_s)
    if max_iterations is not None:
        stop = MultipleCriteria([stop, MaxIterations(max_iterations)])
    model = build_model(travel, vehicles, orders, now_s=now_s, objective=objective)
    problem = model.problem(
        travel.by_kind(),
        now_s=now_s,
        reserve=travel.reserve,
        safe_landing_xy=[(travel.hub.x_m, travel.hub.y_m)] + [(s.x_m, s.y_m) for s in travel.lockers],
        frame=travel.frame,
        lockers=travel.locker_sites(),
    )
    result = solve(problem, stop, seed=seed)
    plan = apply_handoff(problem, result.plan, travel.reserve, handoff)
    return replace(result, plan=with_wgs84(plan, travel.frame))


def with_wgs84(plan: Plan, frame: LocalFrame) -> Plan:
    """The same plan with every leg's destination also in WGS84."""
    routes = []
    for route in plan.routes:
        legs = []
        for leg in route.legs:
            latitude_deg, longitude_deg = frame.to_wgs84(*leg.to_xy_m)
            legs.append(replace(leg, to_latitude_deg=latitude_deg, to_longitude_deg=longitude_deg))
        routes.append(VehicleRoute(route.vehicle_id, route.kind, tuple(legs)))
    return replace(plan, routes=tuple(routes))
