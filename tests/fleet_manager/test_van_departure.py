"""Van consolidation: a van at the hub whose trip is due waits for more parcels while every parcel's window allows.

What the dispatcher sees from `FleetPlanner.plan` on the Helsinki world: no van sortie while the van may
wait, then a sortie with the parcels that came in meanwhile; the van goes at once when a parcel's planned
hand-over comes near its window's end, when a parcel has no deadline, when it is full, after waiting as
long as its trip's drive out and back, or after the longest wait; and with a zero wait it goes as soon as
a trip is due (the behaviour before).
"""

from __future__ import annotations

import pytest
from test_planning import NOW_S, _order, _planner, _van_carrying

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.planning import FleetPlanner
from fleet_manager.van_departure import VanConsolidation
from fleet_manager.world import load_world

pytestmark = pytest.mark.timeout(120)
HOUR_S = 3600.0


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _van(world, planner: FleetPlanner, orders, now_s: float = NOW_S) -> list[str]:  # type: ignore[no-untyped-def]
    """The parcels van-1 leaves with this cycle ([] while it waits)."""
    sorties = planner.plan(now_s=now_s, airspace=world.airspace, slots=_van_alone(world), orders=orders)
    return sorted(o for s in sorties if s.vehicle_id == "van-1" for o in s.all_order_ids)


def _van_alone(world):  # type: ignore[no-untyped-def]
    return _van_carrying(world, VehicleKind.DRONE, ())


def test_a_van_waits_for_more_parcels_at_most_its_trips_drive_out_and_back(world) -> None:  # type: ignore[no-untyped-def]
    """Rent or buy: one parcel with three hours to spare; the van waits at most as long as its drive from the hub
    to the stop and back (what a second parcel on the same trip would save), then leaves."""
    first = [_order(world, "o-1", 3, earliest_s=NOW_S, latest_s=NOW_S + 3 * HOUR_S)]
    eager = _planner(world)
    eager.departures.policy = VanConsolidation(max_hold_s=0.0)
    (trip,) = eager.plan(now_s=NOW_S, airspace=world.airspace, slots=_van_alone(world), orders=first)
    stem_s = (trip.eta_s["o-1"] - NOW_S) + (trip.planned_end_s - trip.eta_s["o-1"])
    assert 60.0 < stem_s < 1800.0
    planner = _planner(world)
    assert _van(world, planner, first) == []
    assert _van(world, planner, first, NOW_S + stem_s / 2) == []
    assert _van(world, planner, first, NOW_S + stem_s + 60.0) == ["o-1"]


def test_a_waiting_van_leaves_with_the_parcels_that_came_in_meanwhile(world) -> None:  # type: ignore[no-untyped-def]
    planner = _planner(world)
    first = [_order(world, "o-1", 3, earliest_s=NOW_S, latest_s=NOW_S + 3 * HOUR_S)]
    assert _van(world, planner, first) == []
    later = [*first, *(_order(world, f"o-{i}", 3 + 7 * i, earliest_s=NOW_S, latest_s=NOW_S + 3 * HOUR_S)
                       for i in range(2, 6))]
    # the longest wait (30 min) is over: it leaves with everything that came in meanwhile
    assert _van(world, planner, later, NOW_S + 1800.0) == sorted(o.order_id for o in later)


def test_a_van_leaves_at_once_when_a_parcel_is_due_soon_or_has_no_deadline(world) -> None:  # type: ignore[no-untyped-def]
    planner = _planner(world)
    roomy = _order(world, "o-1", 3, earliest_s=NOW_S, latest_s=NOW_S + 3 * HOUR_S)
    soon = _order(world, "o-2", 10, earliest_s=NOW_S, latest_s=NOW_S + 0.5 * HOUR_S)  # less than 30 min to spare
    assert _van(world, planner, [roomy, soon]) == ["o-1", "o-2"]
    open_ended = _order(world, "o-3", 17)  # no window (or one so close the planner dropped it): late beats never
    assert _van(world, _planner(world), [roomy, open_ended]) == ["o-1", "o-3"]


def test_a_full_van_leaves_at_once(world) -> None:  # type: ignore[no-untyped-def]
    planner = _planner(world)
    orders = [_order(world, f"o-{i}", 3 + 5 * i, earliest_s=NOW_S, latest_s=NOW_S + 5 * HOUR_S) for i in range(4)]
    slots = _van_alone(world)
    van = slots[0].vehicle
    van.profile = van.profile.with_changes(capacity_parcels=4)
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=orders)
    assert [len(s.all_order_ids) for s in sorties if s.vehicle_id == "van-1"] == [4]


def test_without_consolidation_a_van_leaves_as_soon_as_a_trip_is_due(world) -> None:  # type: ignore[no-untyped-def]
    planner = _planner(world)
    planner.departures.policy = VanConsolidation(max_hold_s=0.0)
    first = [_order(world, "o-1", 3, earliest_s=NOW_S, latest_s=NOW_S + 3 * HOUR_S)]
    assert _van(world, planner, first) == ["o-1"]
