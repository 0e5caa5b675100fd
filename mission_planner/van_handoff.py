"""Apply van handoff to a solved plan: drones/robots riding a van take over some of its stops.

For each van that carries drones (or robots), its planned stops become the tour of
`handoff.improve`; parcels that fit the carrier move to sorties launched at one van stop and
recovered at the same or a later one. A sortie must keep the battery reserve (energy of the
flight plus hovering while it waits for the van). The result is kept only when every order is
still delivered inside its window and the van comes back no later than before; otherwise the
van's route stays as it was.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .energy import ReservePolicy
from .handoff import HandoffParams, HandoffSchedule, improve
from .model import Problem, Vehicle, VehicleKind
from .plan import Leg, LegKind, Plan, VehicleRoute
from .travel import DroneTravel

LAUNCH_S = 60.0
RECOVERY_S = 60.0


def apply_handoff(problem: Problem, plan: Plan, reserve: ReservePolicy | None = None) -> Plan:
    """The plan with carried drones/robots launched from their vans where that shortens the van's route."""
    reserve = reserve if reserve is not None else ReservePolicy()
    routes = list(plan.routes)
    for number, route in enumerate(plan.routes):
        if route.kind is not VehicleKind.VAN:
            continue
        carried = [v for v in problem.vehicles if v.carried_by == route.vehicle_id]
        for kind in (VehicleKind.DRONE, VehicleKind.ROBOT):
            carriers = [v for v in carried if v.kind is kind]
            if carriers and kind in problem.matrices:
                van_route, carrier_routes = _handoff_one(problem, routes[number], carriers, reserve)
                routes[number] = van_route
                routes.extend(carrier_routes)
    return replace(plan, routes=tuple(routes))


def _handoff_one(
    problem: Problem, route: VehicleRoute, carriers: list[Vehicle], reserve: ReservePolicy
) -> tuple[VehicleRoute, list[VehicleRoute]]:
    van = problem.vehicle(route.vehicle_id)
    kind = carriers[0].kind
    stops = [leg for leg in route.legs if leg.kind is LegKind.DROPOFF and len(leg.order_ids) == 1]
    pickup = next((leg for leg in route.legs if leg.kind is LegKind.PICKUP), None)
    if pickup is None or len(stops) < 2:
        return route, []
    index = {xy: i for i, xy in enumerate(problem.points)}
    depot_point = index[pickup.to_xy_m]
    nodes = [depot_point] + [index[leg.to_xy_m] for leg in stops]
    van_time = problem.matrices[VehicleKind.VAN].duration_s[np.ix_(nodes, nodes)]
    carrier_time = problem.matrices[kind].duration_s[np.ix_(nodes, nodes)]
    carrier_distance = problem.matrices[kind].distance_m[np.ix_(nodes, nodes)]
    orders = {o.order_id: o for o in problem.orders}
    stop_orders = [orders[leg.order_ids[0]] for leg in stops]
    eligible = {
        i + 1
        for i, (leg, order) in enumerate(zip(stops, stop_orders, strict=True))
        if all(order.fits(c) for c in carriers)
        and problem.eligible[kind][order.index][int(leg.at_locker)]
        and math.isfinite(carrier_time[0, i + 1])
    }
    if not eligible:
        return route, []
    travel = problem.travel.get(kind)
    carrier = carriers[0]

    def energy_ok(launch: int, customer: int, recovery: int, airborne_s: float) -> bool:
        payload = stop_orders[customer - 1].weight_kg
        out_m = float(carrier_distance[launch, customer])  # tour entries index `nodes`
        back_m = float(carrier_distance[customer, recovery])
        if not (math.isfinite(out_m) and math.isfinite(back_m)):
            return False  # a launch or recovery stop the carrier cannot reach (airspace, graph)
        if isinstance(travel, DroneTravel):
            model = travel.model
            flight_s = float(carrier_time[launch, customer] + carrier_time[customer, recovery])
            energy = travel.sortie_energy_wh(payload, out_m, back_m) + model.hover_energy_wh(
                0.0, max(0.0, airborne_s - flight_s - carrier.service_s)
            )
        else:
            energy = carrier.wh_per_km * (out_m + back_m) / 1000.0
        if carrier.battery_capacity_wh <= 0:
            return True
        return reserve.is_feasible(carrier.battery_capacity_wh, carrier.battery_capacity_wh, energy)

    params = HandoffParams(
        carriers=len(carriers),
        launch_s=LAUNCH_S,
        recovery_s=RECOVERY_S,
        van_service_s=van.service_s,
        carrier_service_s=carrier.service_s,
    )
    tour = [*range(len(nodes)), 0]
    schedule = improve(tour, van_time, carrier_time, eligible, params, check=energy_ok)
    start_s = pickup.end_s
    if not schedule.sorties or start_s + schedule.makespan_s > route.end_s + 1e-6:
        return route, []
    if not _windows_kept(schedule, stop_orders, start_s):
        return route, []
    return _legs(problem, route, pickup, stops, stop_orders, nodes, schedule, carriers, start_s, params)


def _windows_kept(schedule: HandoffSchedule, stop_orders: list, start_s: float) -> bool:
    for position, node in enumerate(schedule.tour[1:-1], start=1):
        order = stop_orders[node - 1]
        _, late = order.home_window_s()
        if start_s + schedule.arrival_s[position] > late:
            return False
    for sortie in schedule.sorties:
        order = stop_orders[sortie.customer - 1]
        early, late = order.home_window_s()
        if not early <= start_s + sortie.delivered_s <= late:
            return False
    return True


def _legs(
    problem: Problem,
    route: VehicleRoute,
    pickup: Leg,
    stops: list[Leg],
    stop_orders: list,
    nodes: list[int],
    schedule: HandoffSchedule,
    carriers: list[Vehicle],
    start_s: float,
    params: HandoffParams,
) -> tuple[VehicleRoute, list[VehicleRoute]]:
    points = problem.points
    # The route up to and including the pickup; every stop after it comes from the tour. (Selecting by time
    # kept the first stop twice when the pickup takes no time, as for a van starting away from the hub.)
    van_legs: list[Leg] = list(route.legs[: route.legs.index(pickup) + 1])
    tour = schedule.tour
    for position in range(1, len(tour)):
        node = tour[position]
        previous = points[nodes[tour[position - 1]]]
        here = points[nodes[node]]
        depart = start_s + schedule.departure_s[position - 1]
        arrive = start_s + schedule.arrival_s[position]
        end = start_s + (schedule.departure_s[position] if position < len(tour) - 1 else schedule.makespan_s)
        distance = float(problem.matrices[VehicleKind.VAN].distance_m[nodes[tour[position - 1]], nodes[node]])
        if position == len(tour) - 1:
            van_legs.append(Leg(LegKind.RETURN, route.vehicle_id, depart, arrive, end, previous, here, distance))
        else:
            original = stops[node - 1]
            van_legs.append(
                replace(original, start_s=depart, arrival_s=arrive, end_s=end, from_xy_m=previous, distance_m=distance)
            )
    carrier_routes: dict[str, list[Leg]] = {c.vehicle_id: [] for c in carriers}
    kind = carriers[0].kind
    travel = problem.travel.get(kind)
    for number, sortie in enumerate(schedule.sorties):
        carrier = carriers[sortie.carrier]
        launch_xy = points[nodes[tour[sortie.launch_pos]]]
        drop = stops[sortie.customer - 1]
        recovery_xy = points[nodes[tour[sortie.recovery_pos]]]
        order = stop_orders[sortie.customer - 1]
        launch_at = start_s + sortie.launch_s
        delivered_at = start_s + sortie.delivered_s
        recovered_at = start_s + sortie.recovered_s
        out_m = out_path_length(problem, kind, launch_xy, drop.to_xy_m)
        back_m = out_path_length(problem, kind, drop.to_xy_m, recovery_xy)
        out_waypoints: tuple = ()
        back_waypoints: tuple = ()
        if isinstance(travel, DroneTravel):
            out_path = travel.path(launch_xy, drop.to_xy_m)
            back_path = travel.path(drop.to_xy_m, recovery_xy)
            out_waypoints, back_waypoints = out_path.waypoints, back_path.waypoints
            out_energy = out_path.energy_wh(travel.model, order.weight_kg)
            back_energy = back_path.energy_wh(travel.model, 0.0)
        else:
            out_energy = carrier.wh_per_km * out_m / 1000.0
            back_energy = carrier.wh_per_km * back_m / 1000.0
        legs = carrier_routes[carrier.vehicle_id]
        legs.append(
            Leg(
                LegKind.LAUNCH,
                carrier.vehicle_id,
                launch_at,
                launch_at,
                launch_at + params.launch_s,
                launch_xy,
                launch_xy,
                order_ids=(order.order_id,),
                trip=number,
            )
        )
        legs.append(
            Leg(
                LegKind.DROPOFF,
                carrier.vehicle_id,
                launch_at + params.launch_s,
                delivered_at,
                delivered_at + params.carrier_service_s,
                launch_xy,
                drop.to_xy_m,
                out_m,
                out_energy,
                (order.order_id,),
                drop.at_locker,
                number,
                out_waypoints,
            )
        )
        legs.append(
            Leg(
                LegKind.RECOVERY,
                carrier.vehicle_id,
                delivered_at + params.carrier_service_s,
                recovered_at - params.recovery_s,
                recovered_at,
                drop.to_xy_m,
                recovery_xy,
                back_m,
                back_energy,
                (),
                False,
                number,
                back_waypoints,
            )
        )
    carrier_out = [
        VehicleRoute(vehicle_id, kind, tuple(sorted(legs, key=lambda leg: leg.start_s)))
        for vehicle_id, legs in carrier_routes.items()
        if legs
    ]
    return VehicleRoute(route.vehicle_id, route.kind, tuple(van_legs)), carrier_out


def out_path_length(problem: Problem, kind: VehicleKind, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance (m) between two problem points for a vehicle kind."""
    index = {xy: i for i, xy in enumerate(problem.points)}
    value = float(problem.matrices[kind].distance_m[index[a], index[b]])
    return value if math.isfinite(value) else 0.0
