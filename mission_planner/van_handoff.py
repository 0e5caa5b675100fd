"""Apply van handoff to a solved plan: drones/robots riding a van take over some of its stops.

For each van that carries drones (or robots), its planned stops become a handoff tour; parcels
that fit a carrier move to sorties launched at one van stop and recovered at the same or a later
one, as the caller's `HandoffPolicy` allows (what it can execute: recovery at the launch stop
only, launches at the hub or not, how many carriers a stop sets down, how many sorties a carrier
flies per van trip).

- Recovery at a later stop (`Recovery.LATER_STOP`, the default): `handoff.improve` moves parcels
  to sorties while the van's route gets shorter (greedy); then the sortie search runs from that
  plan for `HandoffPolicy.search_s` (`van_search`: the live rules, the independent validator) and
  its schedule replaces the greedy one when it brings the van back sooner. The van must come back
  no later than before.
- Recovery at the launch stop (`Recovery.SAME_STOP`): the same search picks the parcels that suit
  a carrier; each is then flown from one stop — its launch stop, or, when the policy forbids
  launches at the hub, the van stop nearest the drop — and back to it while the van waits there.
  The van is re-timed with those waits, so it may come back later than without handoffs.

A sortie must keep the battery reserve (energy of the flight plus hovering while it waits for the
van); a carrier flies its sorties of one van trip on the charge it left with (`Vehicle.battery_wh`:
there is no swap aboard the van), so each sortie goes to a carrier whose remaining charge covers
it, and a sortie no carrier can fly stays with the van. Every order must still be delivered
inside its window; otherwise the van's route stays as it was.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from . import handling
from .energy import ReservePolicy
from .errors import PlanningError
from .handoff import HandoffParams, HandoffSchedule, Sortie, SortieCheck, improve, simulate
from .hub_return import homebound
from .model import Order, Problem, Vehicle, VehicleKind
from .plan import Leg, LegKind, Plan, VehicleRoute
from .travel import DroneTravel
from .van_search import CarrierLimits, handoff_problem, search_schedule, windows_from

logger = logging.getLogger(__name__)

LAUNCH_S = 60.0
RECOVERY_S = 60.0


class Recovery(StrEnum):
    """Where a carrier gets back aboard its van."""

    SAME_STOP = "same_stop"  # at the stop it was launched from: the van waits there until it is back
    LATER_STOP = "later_stop"  # at that stop or one of the next `HandoffParams.max_stops_apart`


@dataclass(frozen=True)
class HandoffPolicy:
    """Which van handoffs a plan may contain: what the caller can execute.

    The default allows everything the handoff planner can do. `launches_per_stop` (None: as many as
    the van carries) limits the carriers set down at one stop; `sorties_per_carrier` (None: as many
    as its battery allows) the sorties one carrier flies per van trip.
    """

    recovery: Recovery = Recovery.LATER_STOP
    launch_at_depot: bool = True  # a carrier may leave the van at the hub, before its first stop
    recovery_at_depot: bool = True  # a carrier may come back to the hub, the van's trip's end, to be recovered
    launches_per_stop: int | None = None
    sorties_per_carrier: int | None = None
    search_s: float = 0.25  # sortie search after the greedy plan (later-stop recovery); 0: greedy only
    search_iterations: int | None = None  # also stop the search after this many moves (deterministic per seed)
    spare_packs: int = 0  # charged drone packs aboard the van, one swapped in at each drone recovery
    # a drone's last sortie of the van trip may end at the hub, where it lands on arrival (`hub_return`)
    return_to_hub: bool = False

    def __post_init__(self) -> None:
        try:
            Recovery(self.recovery)
        except ValueError as exc:
            raise PlanningError(f"recovery must be one of {', '.join(Recovery)}, got {self.recovery!r}") from exc
        if not (math.isfinite(self.search_s) and self.search_s >= 0):
            raise PlanningError(f"search_s must be finite and >= 0, got {self.search_s!r}")
        if not isinstance(self.spare_packs, int) or self.spare_packs < 0:
            raise PlanningError(f"spare_packs must be an int >= 0, got {self.spare_packs!r}")
        for name in ("launches_per_stop", "sorties_per_carrier", "search_iterations"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise PlanningError(f"{name} must be None or an int >= 1, got {value!r}")


SortieEnergy = Callable[[int, int, int, float], float]  # (launch node, customer, recovery node, airborne_s) -> Wh


def apply_handoff(
    problem: Problem, plan: Plan, reserve: ReservePolicy | None = None, policy: HandoffPolicy | None = None
) -> Plan:
    """The plan with carried drones/robots launched from their vans where that shortens the van's route.

    Drones are placed first, then robots on what is left of the van's route: the stops where drones are
    launched or recovered stay the van's, and the robots' placement is kept only if every drone trip
    still finds its launch and recovery stops on the re-timed van route (`launch_and_recovery_stops`)."""
    reserve = reserve if reserve is not None else ReservePolicy()
    policy = policy if policy is not None else HandoffPolicy()
    routes = list(plan.routes)
    for number, route in enumerate(plan.routes):
        if route.kind is not VehicleKind.VAN:
            continue
        carried = [v for v in problem.vehicles if v.carried_by == route.vehicle_id]
        placed: list[VehicleRoute] = []  # carried routes of the kinds placed so far
        for kind in (VehicleKind.DRONE, VehicleKind.ROBOT):
            carriers = [v for v in carried if v.kind is kind]
            if not carriers or kind not in problem.matrices:
                continue
            anchors = frozenset(xy for r in placed for trip in r.trips() for xy in _trip_ends(trip))
            van_route, carrier_routes = _handoff_one(problem, routes[number], carriers, reserve, policy, anchors)
            if placed and not _all_anchored(placed, van_route):
                continue  # this kind's sorties would strand the earlier ones: the van keeps those stops
            routes[number] = van_route
            routes.extend(carrier_routes)
            placed.extend(carrier_routes)
    return replace(plan, routes=tuple(routes))


def launch_and_recovery_stops(trip: Sequence[Leg], stops: Sequence[Leg]) -> tuple[Leg, Leg] | None:
    """The van stops a carried trip leaves from and comes back to: the last stop at the launch point the van
    reaches by the launch, and the first stop at the recovery point from there on that the van reaches by the
    recovery's end. None when either is not one of the van's stops (the dispatcher cannot execute the trip)."""
    recovery = next((leg for leg in trip if leg.kind is LegKind.RECOVERY), None)
    first = _launch_stop(trip, stops)
    if recovery is None or first is None:
        return None
    at_recovery = [n for n in range(first, len(stops)) if stops[n].to_xy_m == recovery.to_xy_m
                   and stops[n].arrival_s <= recovery.end_s + 1e-6]
    if not at_recovery:
        return None
    return stops[first], stops[at_recovery[-1]]


def homebound_launch_stop(trip: Sequence[Leg], stops: Sequence[Leg], hub_xy: tuple[float, float]) -> Leg | None:
    """The van stop a carried trip that ends at the hub (`hub_return`) leaves from; None for any other trip, or when
    its launch point is not one of the van's stops."""
    recovery = next((leg for leg in trip if leg.kind is LegKind.RECOVERY), None)
    if recovery is None or recovery.to_xy_m != hub_xy:
        return None
    first = _launch_stop(trip, stops)
    return stops[first] if first is not None else None


def _launch_stop(trip: Sequence[Leg], stops: Sequence[Leg]) -> int | None:
    """Index in `stops` of the last stop at a carried trip's launch point the van reaches by the launch."""
    launch = trip[0]
    at_launch = [n for n, leg in enumerate(stops) if leg.to_xy_m == launch.from_xy_m
                 and leg.arrival_s <= launch.start_s + 1e-6]
    return at_launch[-1] if at_launch else None


def _trip_ends(trip: Sequence[Leg]) -> tuple[tuple[float, float], ...]:
    """Where a carried trip leaves its van and where it gets back aboard."""
    return (trip[0].from_xy_m, *(leg.to_xy_m for leg in trip if leg.kind is LegKind.RECOVERY))


def _all_anchored(carried: Sequence[VehicleRoute], van_route: VehicleRoute) -> bool:
    """Every trip of `carried` is launched and recovered at stops of `van_route` (or flies home to the hub from
    one of its stops)."""
    stops = [leg for leg in van_route.legs if leg.kind is LegKind.DROPOFF and leg.order_ids]
    hub_xy = next((leg.to_xy_m for leg in van_route.legs if leg.kind is LegKind.PICKUP), None)
    return all(launch_and_recovery_stops(trip, stops) is not None
               or (hub_xy is not None and homebound_launch_stop(trip, stops, hub_xy) is not None)
               for r in carried for trip in r.trips())


def _handoff_one(
    problem: Problem,
    route: VehicleRoute,
    carriers: list[Vehicle],
    reserve: ReservePolicy,
    policy: HandoffPolicy,
    anchors: frozenset[tuple[float, float]] = frozenset(),
) -> tuple[VehicleRoute, list[VehicleRoute]]:
    """`anchors`: points where other carriers leave or rejoin the van, whose stops stay the van's."""
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
        if any(order.allows(c) for c in carriers)
        and leg.to_xy_m not in anchors
        and problem.eligible[kind][order.index][int(leg.at_locker)]
        and math.isfinite(carrier_time[0, i + 1])
    }
    if not eligible:
        return route, []
    travel = problem.travel.get(kind)
    carrier = carriers[0]

    def estimate_wh(launch: int, customer: int, recovery: int, airborne_s: float) -> float:
        """A sortie's energy from the matrices (fast; `_fit_carriers` prices the chosen ones on their paths)."""
        payload = stop_orders[customer - 1].weight_kg
        out_m = float(carrier_distance[launch, customer])  # tour entries index `nodes`
        back_m = float(carrier_distance[customer, recovery])
        if not (math.isfinite(out_m) and math.isfinite(back_m)):
            return math.inf  # a launch or recovery stop the carrier cannot reach (airspace, graph)
        if isinstance(travel, DroneTravel):
            flight_s = float(carrier_time[launch, customer] + carrier_time[customer, recovery])
            return travel.sortie_energy_wh(payload, out_m, back_m) + travel.model.hover_energy_wh(
                0.0, max(0.0, airborne_s - flight_s - carrier.service_s)
            )
        return carrier.wh_per_km * (out_m + back_m) / 1000.0

    def check_for(depot_launch: bool) -> SortieCheck:
        def check(launch: int, customer: int, recovery: int, airborne_s: float) -> bool:
            if launch == 0 and not depot_launch:
                return False
            if recovery == 0 and not policy.recovery_at_depot:
                return False
            energy_wh = estimate_wh(launch, customer, recovery, airborne_s)
            order = stop_orders[customer - 1]
            return any(order.allows(c) and _can_fly(c, c.battery_wh, energy_wh, reserve) for c in carriers)

        return check

    points = problem.points

    def sortie_wh(launch: int, customer: int, recovery: int, airborne_s: float) -> float:
        waiting_s = _waiting_s(problem, carrier, nodes, (launch, customer, recovery), airborne_s)
        out_legs = _sortie_legs(
            problem,
            carrier,
            points[nodes[launch]],
            stops[customer - 1],
            points[nodes[recovery]],
            stop_orders[customer - 1],
            waiting_s,
        )
        return sum(energy for _m, energy, _w in out_legs)

    params = HandoffParams(
        carriers=len(carriers),
        launch_s=LAUNCH_S,
        recovery_s=RECOVERY_S,
        van_service_s=van.service_s,
        carrier_service_s=carrier.service_s,
    )
    tour = [*range(len(nodes)), 0]
    start_s = pickup.end_s
    same_stop = policy.recovery is Recovery.SAME_STOP
    pairs: list[tuple[int, int]] = []
    if same_stop:
        # which parcels suit a carrier: the later-stop search; each is then flown from one stop, the van waiting
        pairs = _anchored(
            improve(tour, van_time, carrier_time, eligible, params, check=check_for(True)), carrier_time, policy
        )
        # launched and recovered at one stop: the carriers out at once are the ones a stop sets down
        params = replace(params, max_stops_apart=0, carriers=min(len(carriers), policy.launches_per_stop or 1_000))
    greedy: HandoffSchedule | None = None
    candidates = set(eligible)
    while True:
        if same_stop:
            found = _same_stop_schedule(tour, pairs, van_time, carrier_time, params, check_for(policy.launch_at_depot))
        else:
            found = improve(tour, van_time, carrier_time, candidates, params, check=check_for(policy.launch_at_depot))
        if found is None or not found.sorties:
            break
        fitted = _fit_carriers(
            found, carriers, [stop_orders[s.customer - 1] for s in found.sorties], sortie_wh, reserve, policy, params
        )
        kept = {s.customer for s in fitted}
        if len(kept) == len(found.sorties):
            greedy = replace(found, sorties=tuple(fitted))
            break
        # the parcels no carrier can fly stay with the van; plan again without them (timing may shift the others)
        candidates = kept
        pairs = [(stop, customer) for stop, customer in pairs if customer in kept]
    if greedy is not None and not _usable(greedy, route, start_s, stop_orders, same_stop):
        greedy = None
    schedule = greedy
    if not same_stop and policy.search_s > 0:
        setting = _LiveSetting(problem, carriers, stop_orders, nodes, start_s, reserve, policy)
        searched = _searched(setting, van_time, carrier_time, eligible, params, greedy)
        if (
            searched is not None
            and (greedy is None or searched.makespan_s < greedy.makespan_s - 1e-6)
            and _usable(searched, route, start_s, stop_orders, same_stop)
            and _charges_at_launch(searched, carriers, sortie_wh, reserve, policy, params) is not None
        ):
            schedule = searched
    if schedule is None:
        return route, []
    if policy.return_to_hub and kind is VehicleKind.DRONE:
        schedule = _homebound(schedule, carriers, carrier_time, sortie_wh, reserve, policy, params)
    return _legs(problem, route, pickup, stops, stop_orders, nodes, schedule, carriers, start_s, params)


def _homebound(
    schedule: HandoffSchedule,
    carriers: Sequence[Vehicle],
    carrier_time: np.ndarray,
    sortie_wh: SortieEnergy,
    reserve: ReservePolicy,
    policy: HandoffPolicy,
    params: HandoffParams,
) -> HandoffSchedule:
    """`schedule` with the drones whose last sortie can end at the hub (`hub_return.homebound`) flying home."""
    at_launch = _charges_at_launch(schedule, carriers, sortie_wh, reserve, policy, params)
    if at_launch is None:
        return schedule

    def fits(number: int, sortie: Sortie) -> bool:
        launch = schedule.tour[sortie.launch_pos]
        airborne_s = sortie.recovered_s - params.recovery_s - (sortie.launch_s + params.launch_s)
        energy_wh = sortie_wh(launch, sortie.customer, 0, airborne_s)
        return _can_fly(carriers[sortie.carrier], at_launch[number], energy_wh, reserve)

    return homebound(schedule, carrier_time, params, fits)


def _usable(
    schedule: HandoffSchedule, route: VehicleRoute, start_s: float, stop_orders: list[Order], same_stop: bool
) -> bool:
    """The van comes back no later than planned (later-stop recovery) and every parcel keeps its window."""
    if not same_stop and start_s + schedule.makespan_s > route.end_s + 1e-6:
        return False
    return _windows_kept(schedule, stop_orders, start_s)


@dataclass(frozen=True)
class _LiveSetting:
    """What the search's live rules are built from (see `van_search`)."""

    problem: Problem
    carriers: list[Vehicle]
    stop_orders: list[Order]
    nodes: list[int]
    start_s: float
    reserve: ReservePolicy
    policy: HandoffPolicy


def _searched(
    setting: _LiveSetting,
    van_time: np.ndarray,
    carrier_time: np.ndarray,
    eligible: set[int],
    params: HandoffParams,
    greedy: HandoffSchedule | None,
) -> HandoffSchedule | None:
    """The sortie search's schedule for this van trip, started from the greedy one (None: nothing better)."""
    carriers, stop_orders, policy = setting.carriers, setting.stop_orders, setting.policy
    size = len(setting.nodes)
    allowed = np.zeros((len(carriers), size), dtype=bool)
    for k, carrier in enumerate(carriers):
        for node in eligible:
            allowed[k, node] = stop_orders[node - 1].allows(carrier)
    capacity = tuple(c.battery_capacity_wh if c.battery_capacity_wh > 0 else math.inf for c in carriers)
    limits = CarrierLimits(
        allowed,
        charge_wh=tuple(
            c.battery_wh if math.isfinite(cap) else math.inf for c, cap in zip(carriers, capacity, strict=True)
        ),
        capacity_wh=capacity,
        reserve_wh=tuple(setting.reserve.reserve_wh(cap) if math.isfinite(cap) else 0.0 for cap in capacity),
        hover_w=_hover_w(setting.problem, carriers[0]),
        spare_packs=policy.spare_packs if carriers[0].kind is VehicleKind.DRONE else 0,
    )
    windows = []
    for order in stop_orders:
        early, late = order.home_window_s()
        if order.max_out_s is not None:  # a cold-chain parcel's time out of the hub's store
            late = min(late, setting.start_s + order.max_out_s)
        windows.append((early, late))
    try:
        truck_problem = handoff_problem(
            van_time,
            carrier_time,
            eligible,
            params,
            launch_at_depot=policy.launch_at_depot,
            recovery_at_depot=policy.recovery_at_depot,
            windows_s=windows_from(windows, setting.start_s),
            limits=limits,
            sortie_wh=_flight_wh_table(setting.problem, carriers[0], setting.nodes, stop_orders, eligible),
        )
    except PlanningError:
        logger.exception("handoff search: the van trip cannot be stated as a truck-drone problem")
        return None
    return search_schedule(
        truck_problem,
        greedy,
        seed=0,
        time_limit_s=policy.search_s,
        max_iterations=policy.search_iterations,
        launches_per_stop=policy.launches_per_stop,
        sorties_per_carrier=policy.sorties_per_carrier,
    )


def _hover_w(problem: Problem, carrier: Vehicle) -> float:
    """Power (W) of a carrier waiting for the van: a drone hovers empty; a robot standing still uses ~nothing."""
    travel = problem.travel.get(carrier.kind)
    return travel.model.hover_power_w(0.0) if isinstance(travel, DroneTravel) else 0.0


def _flight_wh_table(
    problem: Problem, carrier: Vehicle, nodes: list[int], stop_orders: list[Order], eligible: set[int]
) -> np.ndarray:
    """(nodes, nodes, nodes) energy of each sortie [launch, customer, recovery] from the matrices, hovering for the
    van left out (the chosen sorties are priced on their paths afterwards, `_charges_at_launch`). The model's sortie
    energy is a fixed part plus one term per leg, so it is built from the legs: 2 n calls per customer."""
    size = len(nodes)
    distance = problem.matrices[carrier.kind].distance_m[np.ix_(nodes, nodes)]
    table = np.full((size, size, size), math.inf)
    travel = problem.travel.get(carrier.kind)
    for customer in eligible:
        payload = stop_orders[customer - 1].weight_kg
        out_m, back_m = distance[:, customer], distance[customer, :]
        if isinstance(travel, DroneTravel):
            base = travel.sortie_energy_wh(payload, 0.0, 0.0)
            out = np.array([travel.sortie_energy_wh(payload, m, 0.0) if math.isfinite(m) else math.inf for m in out_m])
            back = np.array([travel.sortie_energy_wh(payload, 0.0, m) - base if math.isfinite(m) else math.inf
                             for m in back_m])
        else:
            out = carrier.wh_per_km * np.asarray(out_m, dtype=float) / 1000.0
            back = carrier.wh_per_km * np.asarray(back_m, dtype=float) / 1000.0
        table[:, customer, :] = out[:, None] + back[None, :]
    return table


def _charges_at_launch(
    schedule: HandoffSchedule,
    carriers: Sequence[Vehicle],
    sortie_wh: SortieEnergy,
    reserve: ReservePolicy,
    policy: HandoffPolicy,
    params: HandoffParams,
) -> dict[int, float] | None:
    """The charge (Wh) each sortie's carrier leaves with (by index in `schedule.sorties`); None when a sortie would
    not keep its carrier's reserve. Each carrier flies its sorties on its paths' energy (hovering included), a
    charged pack swapped in at each drone recovery while the van has one (the search priced them from the
    matrices)."""
    charge = [c.battery_wh for c in carriers]
    spare = policy.spare_packs if carriers and carriers[0].kind is VehicleKind.DRONE else 0
    at_launch: dict[int, float] = {}
    for number, sortie in sorted(enumerate(schedule.sorties), key=lambda ns: ns[1].recovered_s):
        carrier = carriers[sortie.carrier]
        launch, recovery = schedule.tour[sortie.launch_pos], schedule.tour[sortie.recovery_pos]
        airborne_s = sortie.recovered_s - params.recovery_s - (sortie.launch_s + params.launch_s)
        energy_wh = sortie_wh(launch, sortie.customer, recovery, airborne_s)
        at_launch[number] = charge[sortie.carrier]
        if not _can_fly(carrier, charge[sortie.carrier], energy_wh, reserve):
            return None
        charge[sortie.carrier] -= energy_wh
        if spare > 0:
            spare -= 1
            charge[sortie.carrier] = carrier.battery_capacity_wh
    return at_launch


def _anchored(schedule: HandoffSchedule, carrier_time: np.ndarray, policy: HandoffPolicy) -> list[tuple[int, int]]:
    """(launch stop, customer) of each sortie flown from one stop: its launch stop, or (a launch at the hub the
    policy forbids) the van stop nearest the drop; at most `launches_per_stop` per stop, earliest launches first."""
    van_stops = list(schedule.tour[1:-1])
    used: dict[int, int] = {}
    pairs = []
    for sortie in sorted(schedule.sorties, key=lambda s: s.launch_s):
        stop = schedule.tour[sortie.launch_pos]
        if stop == 0 and not policy.launch_at_depot:
            if not van_stops:
                continue
            stop = min(van_stops, key=lambda node: float(carrier_time[node, sortie.customer]))
        if policy.launches_per_stop is not None and used.get(stop, 0) >= policy.launches_per_stop:
            continue
        used[stop] = used.get(stop, 0) + 1
        pairs.append((stop, sortie.customer))
    return pairs


def _same_stop_schedule(
    tour: Sequence[int],
    pairs: Sequence[tuple[int, int]],
    van_time: np.ndarray,
    carrier_time: np.ndarray,
    params: HandoffParams,
    check: SortieCheck,
) -> HandoffSchedule | None:
    """The van tour without the sortie customers, each sortie launched and recovered at its stop, timed."""
    if not pairs:
        return None
    customers = {customer for _stop, customer in pairs}
    van_tour = [node for node in tour if node not in customers]
    position = {node: number for number, node in enumerate(van_tour[:-1])}
    sorties = [Sortie(position[stop], customer, position[stop]) for stop, customer in pairs]
    return simulate(van_tour, sorties, van_time, carrier_time, params, check)


def _can_fly(carrier: Vehicle, charge_wh: float, energy_wh: float, reserve: ReservePolicy) -> bool:
    """Whether `carrier` holding `charge_wh` can fly a sortie of `energy_wh` and keep its reserve."""
    if not math.isfinite(energy_wh):
        return False
    if carrier.battery_capacity_wh <= 0:
        return True  # no battery limit modelled
    return reserve.is_feasible(carrier.battery_capacity_wh, max(0.0, charge_wh), energy_wh)


def _fit_carriers(
    schedule: HandoffSchedule,
    carriers: Sequence[Vehicle],
    orders: Sequence[Order],
    sortie_wh: SortieEnergy,
    reserve: ReservePolicy,
    policy: HandoffPolicy,
    params: HandoffParams,
) -> list[Sortie]:
    """The sorties a carrier can fly, each with its carrier: in launch order, to a carrier that is aboard, allowed
    for the order, under its sortie limit, with the most charge left that covers the sortie. Others are left out."""
    charge = [c.battery_wh for c in carriers]
    flown = [0] * len(carriers)
    aboard_from = [-math.inf] * len(carriers)
    fitted: list[Sortie] = []
    for sortie, order in sorted(zip(schedule.sorties, orders, strict=True), key=lambda so: so[0].launch_s):
        launch, recovery = schedule.tour[sortie.launch_pos], schedule.tour[sortie.recovery_pos]
        airborne_s = sortie.recovered_s - params.recovery_s - (sortie.launch_s + params.launch_s)
        energy_wh = sortie_wh(launch, sortie.customer, recovery, airborne_s)
        options = [
            i
            for i, carrier in enumerate(carriers)
            if order.allows(carrier)
            and aboard_from[i] <= sortie.launch_s + 1e-6
            and (policy.sorties_per_carrier is None or flown[i] < policy.sorties_per_carrier)
            and _can_fly(carrier, charge[i], energy_wh, reserve)
        ]
        if not options:
            continue
        chosen = max(options, key=lambda i: (charge[i], -i))
        charge[chosen] -= energy_wh
        flown[chosen] += 1
        aboard_from[chosen] = sortie.recovered_s
        fitted.append(replace(sortie, carrier=chosen))
    return fitted


def _sortie_legs(
    problem: Problem,
    carrier: Vehicle,
    launch_xy: tuple[float, float],
    drop: Leg,
    recovery_xy: tuple[float, float],
    order: Order,
    waiting_s: float,
) -> tuple[tuple[float, float, tuple], tuple[float, float, tuple]]:
    """(distance_m, energy_wh, waypoints) out to the drop and back to the van.

    Drones fly the safe paths (in the plan's wind, `DroneTravel.wind_m_s`); the drop carries the hover while the
    parcel is lowered, the way back the hover while the drone waits `waiting_s` for the van.
    """
    kind = carrier.kind
    travel = problem.travel.get(kind)
    out_m = out_path_length(problem, kind, launch_xy, drop.to_xy_m)
    back_m = out_path_length(problem, kind, drop.to_xy_m, recovery_xy)
    if isinstance(travel, DroneTravel):
        model = travel.model
        out_path = travel.path(launch_xy, drop.to_xy_m)
        back_path = travel.path(drop.to_xy_m, recovery_xy)
        payload_kg = order.weight_kg
        out_wh = travel.path_energy_wh(out_path, payload_kg) + model.hover_energy_wh(payload_kg, travel.drop_hover_s)
        back_wh = travel.path_energy_wh(back_path, 0.0) + model.hover_energy_wh(0.0, waiting_s)
        return (out_m, out_wh, out_path.waypoints), (back_m, back_wh, back_path.waypoints)
    return (
        (out_m, carrier.wh_per_km * out_m / 1000.0, ()),
        (back_m, carrier.wh_per_km * back_m / 1000.0, ()),
    )


def _waiting_s(
    problem: Problem, carrier: Vehicle, nodes: Sequence[int], sortie_nodes: tuple[int, int, int], airborne_s: float
) -> float:
    """Airborne time of a sortie (launch, customer, recovery: indices into `nodes`) not spent flying or dropping."""
    launch, customer, recovery = (nodes[n] for n in sortie_nodes)
    duration = problem.matrices[carrier.kind].duration_s
    flight_s = float(duration[launch, customer] + duration[customer, recovery])
    return max(0.0, airborne_s - flight_s - carrier.service_s)


def _windows_kept(schedule: HandoffSchedule, stop_orders: list, start_s: float) -> bool:
    """Every parcel still reaches its door inside its window, and a cold-chain one within its time out of
    conditioning counted from the van leaving the hub (`start_s`), whether the van or a carrier hands it over."""
    for position, node in enumerate(schedule.tour[1:-1], start=1):
        order = stop_orders[node - 1]
        _, late = order.home_window_s()
        if start_s + schedule.arrival_s[position] > late:
            return False
        if not handling.reaches_in_time(order, schedule.arrival_s[position]):
            return False
    for sortie in schedule.sorties:
        order = stop_orders[sortie.customer - 1]
        early, late = order.home_window_s()
        if not early <= start_s + sortie.delivered_s <= late:
            return False
        if not handling.reaches_in_time(order, sortie.delivered_s):
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
    for number, sortie in enumerate(schedule.sorties):
        carrier = carriers[sortie.carrier]
        launch_xy = points[nodes[tour[sortie.launch_pos]]]
        drop = stops[sortie.customer - 1]
        recovery_xy = points[nodes[tour[sortie.recovery_pos]]]
        order = stop_orders[sortie.customer - 1]
        launch_at = start_s + sortie.launch_s
        delivered_at = start_s + sortie.delivered_s
        recovered_at = start_s + sortie.recovered_s
        airborne_s = sortie.recovered_s - params.recovery_s - (sortie.launch_s + params.launch_s)
        waiting_s = _waiting_s(
            problem, carrier, nodes, (tour[sortie.launch_pos], sortie.customer, tour[sortie.recovery_pos]), airborne_s
        )
        (out_m, out_energy, out_waypoints), (back_m, back_energy, back_waypoints) = _sortie_legs(
            problem, carrier, launch_xy, drop, recovery_xy, order, waiting_s
        )
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
