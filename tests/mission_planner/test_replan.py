"""Re-planning: committed legs are kept, new orders planned, cancellations and breakdowns honoured."""

from __future__ import annotations

import pytest

from mission_planner.errors import PlanningError
from mission_planner.fleet import OrderSpec
from mission_planner.geodesy import LocalFrame
from mission_planner.model import Model, Objective, ObjectiveKind, VehicleKind
from mission_planner.plan import LegKind
from mission_planner.replan import CancelOrder, PlanState, VehicleDown, committed_legs, replan
from mission_planner.solver import MaxIterations, solve
from mission_planner.travel import EuclideanTravel

TRAVEL = {VehicleKind.DRONE: EuclideanTravel(15.0), VehicleKind.VAN: EuclideanTravel(8.0)}
FRAME = LocalFrame.at(60.1715, 24.9381)


def _late(order_id: str = "late", x_m: float = 500.0, y_m: float = -200.0, **extra: object) -> OrderSpec:
    """A new order at local (x_m, y_m), in the WGS84 the planner's OrderSpec speaks."""
    latitude_deg, longitude_deg = FRAME.to_wgs84(x_m, y_m)
    return OrderSpec(order_id, latitude_deg, longitude_deg, 1.0, **extra)  # type: ignore[arg-type]


@pytest.fixture
def state() -> PlanState:
    """Two drones and a van, eight orders, planned at t=0; 'now' is just after the first drone set off."""
    model = Model(Objective(ObjectiveKind.ENERGY))  # drones are cheap in energy: they get the light parcels
    hub = model.add_depot(0, 0, reload_s=60)
    model.add_vehicle("d1", VehicleKind.DRONE, hub, capacity_kg=2, speed_m_s=15, service_s=30)
    model.add_vehicle("d2", VehicleKind.DRONE, hub, capacity_kg=2, speed_m_s=15, service_s=30)
    model.add_vehicle(
        "van", VehicleKind.VAN, hub, capacity_kg=200, capacity_parcels=20, speed_m_s=8, service_s=90, wh_per_km=250
    )
    for i in range(8):
        model.add_order(
            f"o{i}", 300 + 150 * i, 100 * (i % 3), weight_kg=1.0 if i % 2 else 5.0, size_class="S" if i % 2 else "L"
        )
    result = solve(model.problem(TRAVEL, frame=FRAME), MaxIterations(200), seed=0)
    first_flight_s = min(leg.start_s for r in result.plan.routes if r.kind is VehicleKind.DRONE for leg in r.legs)
    return PlanState(result, now_s=first_flight_s + 1.0)


def test_committed_legs_are_kept_verbatim(state: PlanState) -> None:
    """Legs started before 'now' (whole drone trips) appear unchanged at the head of each new route."""
    new = replan(state, [_late()], time_budget_s=1.0)
    for route in state.result.plan.routes:
        kept = committed_legs(route, state.now_s)
        assert kept, route.vehicle_id
        again = new.plan.route(route.vehicle_id)
        assert again is not None and again.legs[: len(kept)] == kept
        later = again.legs[len(kept) :]
        assert all(leg.start_s >= kept[-1].end_s - 1e-6 for leg in later)


def test_new_order_is_planned_and_nothing_is_lost(state: PlanState) -> None:
    """The new order is delivered, and every old order still is (committed or re-planned)."""
    new = replan(state, [_late()], time_budget_s=1.0)
    assert sorted(new.plan.planned_order_ids) == sorted([*state.result.plan.planned_order_ids, "late"])
    assert new.is_feasible()
    drop = next(leg for r in new.plan.routes for leg in r.legs
                if leg.kind is LegKind.DROPOFF and leg.order_ids == ("late",))
    assert abs(drop.to_xy_m[0] - 500.0) < 0.01 and abs(drop.to_xy_m[1] + 200.0) < 0.01
    assert drop.to_latitude_deg is not None  # placed with the problem's frame, and given back in WGS84 too


def test_new_order_keeps_its_vehicle_exclusions(state: PlanState) -> None:
    """An OrderSpec that avoids the van and one drone is planned on the other drone only."""
    new = replan(state, [_late(avoid_vehicle_ids=frozenset({"van", "d1"}))], time_budget_s=1.0)
    assert [r.vehicle_id for r in new.plan.routes if "late" in r.order_ids] == ["d2"]


def test_new_order_needs_a_problem_with_a_frame() -> None:
    """A problem built without a frame cannot place a WGS84 order: a clear error naming the order."""
    model = Model()
    hub = model.add_depot(0, 0)
    model.add_vehicle("d1", VehicleKind.DRONE, hub, capacity_kg=2, speed_m_s=15)
    model.add_order("o1", 300, 0, weight_kg=1.0)
    result = solve(model.problem(TRAVEL), MaxIterations(50), seed=0)
    with pytest.raises(PlanningError, match=r"'late'.*frame"):
        replan(PlanState(result, now_s=0.0), [_late()], time_budget_s=0.5)


def test_cancelled_order_disappears_unless_already_under_way(state: PlanState) -> None:
    """Cancelling an order not yet started removes it from the plan."""
    started = {
        o
        for r in state.result.plan.routes
        for leg in committed_legs(r, state.now_s)
        if leg.kind is LegKind.DROPOFF
        for o in leg.order_ids
    }
    victim = next(o for o in state.result.plan.planned_order_ids if o not in started)
    new = replan(state, [CancelOrder(victim)], time_budget_s=0.5)
    assert victim not in new.plan.planned_order_ids


def test_vehicle_down_gets_no_new_work(state: PlanState) -> None:
    """A broken-down drone finishes its committed trip and gets nothing else; its orders move to others."""
    busy = next(r for r in state.result.plan.routes if r.kind is VehicleKind.DRONE and committed_legs(r, state.now_s))
    new = replan(state, [VehicleDown(busy.vehicle_id)], time_budget_s=0.5)
    kept = committed_legs(busy, state.now_s)
    again = new.plan.route(busy.vehicle_id)
    assert again is not None and again.legs == kept
    assert set(busy.order_ids) <= set(new.plan.planned_order_ids)
