"""The dispatcher's bridge to `mission_planner`: fleet snapshot + open orders -> sorties with missions.

Paths and energy come from the planner library (`DronePathPlanner`, `GroundNetwork`,
`MultirotorModel`, `RobotModel`, `ReservePolicy`). The assignment here is a greedy,
earliest-deadline-first insertion: each open order goes to the available vehicle that finishes
it soonest within its energy budget; vans batch what drones and robots cannot take (too heavy,
no safe flight path) or what is about to miss its window. The planner's VRP `plan()` entry
point replaces `assign_greedy` when it lands (same inputs, same `Sortie` output).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

from mission_planner.airspace import Airspace, ZoneKind
from mission_planner.drone_paths import DronePath, DronePathPlanner
from mission_planner.energy import MultirotorModel, ReservePolicy, RobotModel, Wind
from mission_planner.errors import PlanningError
from mission_planner.geodesy import LocalFrame
from mission_planner.ground_paths import GroundNetwork

from .adapters.base import Mission, VehicleKind
from .domain.orders import DeliveryMode
from .fleet import FleetVehicle
from .missions import Stop, drone_sortie, ground_tour

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenOrder:
    """An order the dispatcher may plan, with its drop point (recipient or locker) in the local frame."""

    order_id: str
    x_m: float
    y_m: float
    latitude_deg: float
    longitude_deg: float
    weight_kg: float
    window_end_s: float | None
    avoid_vehicle_ids: frozenset[str] = frozenset()  # vehicles that failed this order recently


@dataclass(frozen=True)
class Sortie:
    """One mission for one vehicle and the orders it carries."""

    vehicle_id: str
    mode: DeliveryMode
    mission: Mission
    order_ids: tuple[str, ...]
    eta_s: dict[str, float]  # order -> expected hand-over time
    planned_energy_wh: float


@dataclass(frozen=True)
class PlanningConfig:
    """Knobs of the assignment."""

    drone_safety_margin_m: float = 25.0
    robot_max_one_way_m: float = 1500.0
    robot_preferred_below_m: float = 450.0  # closer than this, a robot is cheaper than a drone
    van_min_batch: int = 4
    van_urgent_before_end_s: float = 2700.0  # orders this close to their window end may go by van alone
    drop_hover_s: float = 30.0
    robot_stop_s: float = 60.0
    path_horizon_s: float = 3600.0  # zones active within this of departure are avoided
    vertical_margin_m: float = 10.0


class FleetPlanner:
    """Holds the per-world planning state (path caches, ground networks) across cycles; no I/O."""

    def __init__(
        self,
        frame: LocalFrame,
        *,
        walk_graph: object,
        street_graph: object,
        hub_xy: tuple[float, float],
        wind: Wind | None = None,
        config: PlanningConfig | None = None,
    ) -> None:
        self.frame = frame
        self.hub_xy = hub_xy
        self.wind = wind or Wind()
        self.config = config or PlanningConfig()
        self._walk = GroundNetwork(walk_graph, speed_m_s=1.5)  # type: ignore[arg-type]
        self._streets = GroundNetwork(street_graph, speed_m_s=8.0, use_edge_speed=True)  # type: ignore[arg-type]
        self._drone_paths: DronePathPlanner | None = None
        self._airspace_key: tuple[str, ...] = ()
        self._sequence = 0

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

    def next_mission_id(self, vehicle_id: str, now_s: float) -> str:
        """A unique, readable mission id."""
        self._sequence += 1
        return f"{vehicle_id}-{int(now_s)}-{self._sequence}"

    # ----- assignment ------------------------------------------------------------------------------
    def assign_greedy(
        self, *, now_s: float, airspace: Airspace, vehicles: Sequence[FleetVehicle], orders: Sequence[OpenOrder]
    ) -> list[Sortie]:
        """Sorties for the available vehicles, earliest deadline first."""
        free = {v.vehicle_id: v for v in vehicles if v.is_available()}
        pending = sorted(orders, key=lambda o: (o.window_end_s or math.inf, o.order_id))
        sorties: list[Sortie] = []
        leftovers: list[OpenOrder] = []
        for order in pending:
            best: tuple[float, Sortie] | None = None
            for vehicle in free.values():
                if vehicle.kind is VehicleKind.VAN or vehicle.vehicle_id in order.avoid_vehicle_ids:
                    continue
                option = self._single(vehicle, order, now_s, airspace)
                if option is not None and (best is None or option[0] < best[0]):
                    best = option
            if best is None:
                leftovers.append(order)
                continue
            sorties.append(best[1])
            del free[best[1].vehicle_id]
        vans = [v for v in free.values() if v.kind is VehicleKind.VAN]
        for van in vans:
            batch = self._van_batch(van, leftovers, now_s)
            if batch is None:
                continue
            sorties.append(batch)
            taken = set(batch.order_ids)
            leftovers = [o for o in leftovers if o.order_id not in taken]
        return sorties

    def _single(
        self, vehicle: FleetVehicle, order: OpenOrder, now_s: float, airspace: Airspace
    ) -> tuple[float, Sortie] | None:
        profile = vehicle.profile
        if order.weight_kg > profile.max_payload_kg:
            return None
        state = vehicle.state()
        if state is None:
            return None
        start_xy = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        charge_wh = state.battery_remaining_wh
        if charge_wh is None and state.battery_remaining_pct is not None:
            charge_wh = profile.battery_wh * state.battery_remaining_pct / 100.0
        if charge_wh is None:
            return None
        reserve = ReservePolicy(profile.reserve_pct / 100.0)
        if vehicle.kind is VehicleKind.DRONE:
            return self._drone_option(vehicle, order, now_s, airspace, start_xy, charge_wh, reserve)
        if vehicle.kind is VehicleKind.ROBOT:
            return self._robot_option(vehicle, order, now_s, start_xy, charge_wh, reserve)
        return None

    def _drone_option(
        self,
        vehicle: FleetVehicle,
        order: OpenOrder,
        now_s: float,
        airspace: Airspace,
        start_xy: tuple[float, float],
        charge_wh: float,
        reserve: ReservePolicy,
    ) -> tuple[float, Sortie] | None:
        profile = vehicle.profile
        planner = self.drone_paths(airspace, profile.cruise_altitude_m)
        try:
            end_s = now_s + self.config.path_horizon_s
            outbound = planner.path(start_xy, (order.x_m, order.y_m), start_s=now_s, end_s=end_s)
            inbound = planner.path((order.x_m, order.y_m), start_xy, start_s=now_s, end_s=end_s)
        except PlanningError:
            return None
        model = MultirotorModel(
            battery_capacity_wh=profile.battery_wh,
            max_payload_kg=max(profile.max_payload_kg, order.weight_kg),
            cruise_airspeed_m_s=profile.speed_m_s,
        )
        energy_wh = (
            outbound.energy_wh(model, order.weight_kg, self.wind)
            + model.hover_energy_wh(order.weight_kg, self.config.drop_hover_s)
            + inbound.energy_wh(model, 0.0, self.wind)
        )
        if not reserve.is_feasible(profile.battery_wh, charge_wh, energy_wh):
            return None
        out_s = outbound.flight_time_s(model, self.wind)
        eta_s = now_s + out_s
        distance_m = outbound.horizontal_m
        if distance_m < self.config.robot_preferred_below_m:
            out_s *= 2.5  # leave short hops to the robots when one is free
        stop = Stop(order.order_id, order.latitude_deg, order.longitude_deg)
        mission = drone_sortie(
            self.next_mission_id(vehicle.vehicle_id, now_s),
            stop,
            outbound,
            inbound,
            self.frame,
            cruise_speed_m_s=profile.speed_m_s,
        )
        sortie = Sortie(vehicle.vehicle_id, DeliveryMode.DRONE, mission, (order.order_id,), {order.order_id: eta_s},
                        energy_wh)
        return out_s, sortie

    def _robot_option(
        self,
        vehicle: FleetVehicle,
        order: OpenOrder,
        now_s: float,
        start_xy: tuple[float, float],
        charge_wh: float,
        reserve: ReservePolicy,
    ) -> tuple[float, Sortie] | None:
        profile = vehicle.profile
        try:
            source = self._walk.nearest_node(*start_xy)
            target = self._walk.nearest_node(order.x_m, order.y_m)
            path = self._walk.path(source, target)
        except PlanningError:
            return None
        if path.length_m > self.config.robot_max_one_way_m:
            return None
        model = RobotModel(
            wh_per_km=profile.energy_wh_per_km or 30.0,
            battery_capacity_wh=profile.battery_wh,
            max_payload_kg=profile.max_payload_kg,
            speed_m_s=profile.speed_m_s,
        )
        energy_wh = model.energy_wh(path.length_m, order.weight_kg) + model.energy_wh(path.length_m)
        if not reserve.is_feasible(profile.battery_wh, charge_wh, energy_wh):
            return None
        out_s = model.time_s(path.length_m)
        # The robot stops on the footpath nearest the door (a building centroid is off its map).
        kerb = self._walk.graph.nodes[target]
        mission = ground_tour(
            self.next_mission_id(vehicle.vehicle_id, now_s),
            [Stop(order.order_id, float(kerb["latitude_deg"]), float(kerb["longitude_deg"]))],
            cruise_speed_m_s=profile.speed_m_s,
        )
        sortie = Sortie(vehicle.vehicle_id, DeliveryMode.ROBOT, mission, (order.order_id,),
                        {order.order_id: now_s + out_s}, energy_wh)
        return out_s, sortie

    def _van_batch(self, van: FleetVehicle, orders: Sequence[OpenOrder], now_s: float) -> Sortie | None:
        config = self.config
        fits = [o for o in orders if o.weight_kg <= van.profile.max_payload_kg and van.vehicle_id not in
                o.avoid_vehicle_ids]
        if not fits:
            return None
        urgent = any(o.window_end_s is not None and o.window_end_s - now_s < config.van_urgent_before_end_s
                     for o in fits)
        if len(fits) < config.van_min_batch and not urgent:
            return None
        state = van.state()
        if state is None:
            return None
        position = self.frame.to_local(state.latitude_deg, state.longitude_deg)
        chosen: list[OpenOrder] = []
        remaining = list(fits)
        eta: dict[str, float] = {}
        clock_s = now_s
        total_m = 0.0
        # Nearest neighbour on the street network; the VRP planner improves on this.
        while remaining and len(chosen) < van.profile.capacity_parcels:
            source = self._streets.nearest_node(*position)
            best: tuple[float, float, OpenOrder] | None = None
            for order in remaining:
                try:
                    leg = self._streets.path(source, self._streets.nearest_node(order.x_m, order.y_m))
                except PlanningError:
                    continue
                if best is None or leg.duration_s < best[0]:
                    best = (leg.duration_s, leg.length_m, order)
            if best is None:
                break
            duration_s, length_m, order = best
            clock_s += duration_s
            eta[order.order_id] = clock_s
            clock_s += 120.0
            total_m += length_m
            chosen.append(order)
            remaining.remove(order)
            position = (order.x_m, order.y_m)
        if not chosen:
            return None
        stops = []
        for order in chosen:
            kerb = self._streets.graph.nodes[self._streets.nearest_node(order.x_m, order.y_m)]
            stops.append(Stop(order.order_id, float(kerb["latitude_deg"]), float(kerb["longitude_deg"])))
        mission = ground_tour(self.next_mission_id(van.vehicle_id, now_s), stops)
        energy_wh = total_m / 1000.0 * (van.profile.energy_wh_per_km or 250.0)
        return Sortie(van.vehicle_id, DeliveryMode.VAN, mission, tuple(o.order_id for o in chosen), eta, energy_wh)

    def reroute_path(
        self, airspace: Airspace, cruise_altitude_m: float, start_xy: tuple[float, float],
        goal_xy: tuple[float, float], now_s: float
    ) -> DronePath:
        """A safe path for a drone already flying (PathError when there is none)."""
        end_s = now_s + self.config.path_horizon_s
        return self.drone_paths(airspace, cruise_altitude_m).path(start_xy, goal_xy, start_s=now_s, end_s=end_s)
