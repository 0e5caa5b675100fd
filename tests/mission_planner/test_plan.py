"""Plan shapes: `VehicleRoute.trips()` is the one grouping of legs into trips."""

from __future__ import annotations

from mission_planner.model import Model, VehicleKind
from mission_planner.plan import Leg, LegKind, VehicleRoute
from mission_planner.replan import PlanState, committed_legs, replan
from mission_planner.solver import MaxIterations, solve
from mission_planner.travel import EuclideanTravel

TRAVEL = {VehicleKind.DRONE: EuclideanTravel(15.0)}


def _drone_route() -> VehicleRoute:
    model = Model()
    hub = model.add_depot(0, 0, reload_s=60)
    model.add_vehicle("d1", VehicleKind.DRONE, hub, capacity_kg=2, speed_m_s=15, service_s=30)
    for i in range(3):
        model.add_order(f"o{i}", 300 + 150 * i, 100, weight_kg=1.0)
    route = solve(model.problem(TRAVEL), MaxIterations(100), seed=0).plan.route("d1")
    assert route is not None
    return route


def test_a_drone_trip_runs_from_its_swap_and_pickup_to_its_way_home() -> None:
    """Three single-parcel trips: each is [CHARGE,] PICKUP, DROPOFF, RETURN, and `Leg.trip` agrees."""
    trips = _drone_route().trips()
    assert [[leg.kind for leg in trip] for trip in trips] == [
        [LegKind.PICKUP, LegKind.DROPOFF, LegKind.RETURN],
        [LegKind.CHARGE, LegKind.PICKUP, LegKind.DROPOFF, LegKind.RETURN],
        [LegKind.CHARGE, LegKind.PICKUP, LegKind.DROPOFF, LegKind.RETURN],
    ]
    assert all(len({leg.trip for leg in trip}) == 1 for trip in trips)


def test_replanned_route_splits_where_the_vehicle_set_out_again() -> None:
    """After a replan the new legs number their trips from 0 again; trips() still splits them from the kept trip,
    and the kept trip includes the flight home."""
    model = Model()
    hub = model.add_depot(0, 0, reload_s=60)
    model.add_vehicle("d1", VehicleKind.DRONE, hub, capacity_kg=2, speed_m_s=15, service_s=30)
    model.add_order("o0", 600, 0, weight_kg=1.0)
    model.add_order("o1", 0, 600, weight_kg=1.0)
    result = solve(model.problem(TRAVEL), MaxIterations(100), seed=0)
    first = result.plan.routes[0]
    now_s = first.legs[1].start_s + 1.0  # flying the first parcel out
    kept = committed_legs(first, now_s)
    assert [leg.kind for leg in kept] == [LegKind.PICKUP, LegKind.DROPOFF, LegKind.RETURN]
    again = replan(PlanState(result, now_s), [], time_budget_s=0.3).plan.route("d1")
    assert again is not None
    trips = again.trips()
    assert trips[0] == kept and len(trips) == 2 and trips[1][-1].kind is LegKind.RETURN


def test_van_launched_sorties_are_trips_of_their_own() -> None:
    """A carried drone's legs: every LAUNCH starts a trip (there is no depot pickup between sorties)."""
    legs = []
    for number, start_s in enumerate((0.0, 1000.0)):
        legs += [
            Leg(LegKind.LAUNCH, "vd", start_s, start_s, start_s + 60, (0, 0), (0, 0), order_ids=(f"o{number}",)),
            Leg(LegKind.DROPOFF, "vd", start_s + 60, start_s + 200, start_s + 230, (0, 0), (900, 0),
                order_ids=(f"o{number}",)),
            Leg(LegKind.RECOVERY, "vd", start_s + 230, start_s + 300, start_s + 360, (900, 0), (0, 0)),
        ]
    trips = VehicleRoute("vd", VehicleKind.DRONE, tuple(legs)).trips()
    assert [[leg.kind for leg in trip] for trip in trips] == [[LegKind.LAUNCH, LegKind.DROPOFF, LegKind.RECOVERY]] * 2
