"""FleetPlanner: the dispatcher's translation to and from `mission_planner` on the Helsinki world.

What is checked is what the dispatcher relies on: only idle vehicles get trips, a trip becomes a
mission that flies the planner's own 3-D corners, new orders between full plans go through
`replan`, a vehicle that failed an order does not get it back (not even through `replan`), a drained
drone gets no trip its charge cannot cover, a stored order becomes the planner's `OrderSpec`,
van-carried legs are refused by the plain drone mission builder.
"""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest

from fleet_manager.adapters.base import LinkStatus, StepKind, VehicleKind, VehicleState
from fleet_manager.domain.orders import Address, Order, OrderStatus, Recipient
from fleet_manager.fleet import FleetVehicle, VehicleProfile
from fleet_manager.missions import MissionBuildError, drone_trip
from fleet_manager.planning import FleetPlanner, FleetSlot, PlanningConfig
from fleet_manager.world import load_world
from mission_planner.energy import ReservePolicy
from mission_planner.fleet import OrderSpec
from mission_planner.plan import Leg, LegKind
from mission_planner.profiles import DEFAULT_PROFILES

pytestmark = pytest.mark.timeout(120)
NOW_S = 1_749_704_400.0
DRONE = VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0, cruise_altitude_m=60.0, reserve_pct=25.0)
ROBOT = VehicleProfile(max_payload_kg=10.0, battery_wh=800.0, speed_m_s=1.5, energy_wh_per_km=30.0, reserve_pct=15.0)


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _planner(world) -> FleetPlanner:  # type: ignore[no-untyped-def]
    return FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                        hub_xy=(world.hub.x_m, world.hub.y_m),
                        config=PlanningConfig(time_budget_s=0.5, replan_budget_s=0.3))


def _slot(world, vehicle_id: str, kind: VehicleKind, busy_until_s: float | None = None) -> FleetSlot:  # type: ignore[no-untyped-def]
    hub = world.hub
    adapter = SimpleNamespace(vehicle_id=vehicle_id, kind=kind)
    profile = DRONE if kind is VehicleKind.DRONE else ROBOT
    vehicle = FleetVehicle(adapter, "hub", profile, hub.latitude_deg, hub.longitude_deg)  # type: ignore[arg-type]
    state = VehicleState(vehicle_id, kind, NOW_S, hub.latitude_deg, hub.longitude_deg, battery_remaining_pct=100.0,
                         link=LinkStatus.CONNECTED)
    return FleetSlot(vehicle, busy_until_s, state if busy_until_s is None else None)


def _order(world, order_id: str, index: int, **extra) -> OrderSpec:  # type: ignore[no-untyped-def]
    building = world.addresses[index]
    return OrderSpec(order_id, building.latitude_deg, building.longitude_deg, extra.pop("weight_kg", 1.0), **extra)


def _stored(world, order_id: str, index: int, **extra) -> Order:  # type: ignore[no-untyped-def]
    """An order as the store hands it out."""
    building = world.addresses[index]
    return Order(order_id, "hub", extra.pop("status", OrderStatus.READY), order_id, Recipient("R"),
                 Address(building.latitude_deg, building.longitude_deg), 1.0, True, NOW_S, NOW_S, 1, **extra)


def _far_address(world) -> int:  # type: ignore[no-untyped-def]
    """An address a drone reaches only around a zone (its straight line from the hub is blocked)."""
    hub = world.hub
    planner = _planner(world).drone_paths(world.airspace, 60.0)
    for index, building in enumerate(world.addresses):
        try:
            path = planner.path((hub.x_m, hub.y_m), (building.x_m, building.y_m), start_s=NOW_S, end_s=NOW_S + 3600)
        except Exception:
            continue
        if len(path.waypoints) > 4:
            return index
    raise AssertionError("no address behind a zone in the Helsinki world")


def test_drone_trip_flies_the_planners_corners(world) -> None:  # type: ignore[no-untyped-def]
    """A drone order behind a zone: the mission's GOTO steps are the planner's 3-D corners, then DELIVER, home."""
    planner = _planner(world)
    index = _far_address(world)
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[_slot(world, "drone-1", VehicleKind.DRONE)],
                           orders=[_order(world, "o-1", index)])
    assert [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", ("o-1",))]
    steps = sorties[0].mission.steps
    kinds = [step.kind for step in steps]
    assert kinds[0] is StepKind.TAKEOFF and kinds[-1] is StepKind.RETURN
    deliver = kinds.index(StepKind.DELIVER)
    assert kinds[1:deliver].count(StepKind.GOTO) >= 3  # climb column, at least one corner, goal column
    building = world.addresses[index]
    assert math.isclose(steps[deliver].latitude_deg, building.latitude_deg, abs_tol=1e-6)
    assert all(step.altitude_m and step.altitude_m > 20 for step in steps if step.kind is StepKind.GOTO)
    assert sorties[0].eta_s["o-1"] > NOW_S and sorties[0].planned_end_s > sorties[0].eta_s["o-1"]
    assert sorties[0].payload_kg == {"o-1": 1.0}  # the battery check prices the way home with it aboard


def test_busy_vehicles_get_no_trip(world) -> None:  # type: ignore[no-untyped-def]
    """A vehicle still on a mission is planned for later but never sent; the idle one takes the order."""
    planner = _planner(world)
    slots = [_slot(world, "drone-1", VehicleKind.DRONE, busy_until_s=NOW_S + 900), _slot(world, "robot-1",
                                                                                         VehicleKind.ROBOT)]
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=[_order(world, "o-1", 3)])
    assert all(s.vehicle_id == "robot-1" for s in sorties)


def test_new_order_between_full_plans_is_replanned(world) -> None:  # type: ignore[no-untyped-def]
    """With the fleet unchanged, an order arriving after the plan goes through replan and out to an idle vehicle."""
    planner = _planner(world)
    slots = [_slot(world, f"drone-{i}", VehicleKind.DRONE) for i in range(3)]
    first = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=[_order(world, "o-1", 3)])
    assert planner.last_plan_kind == "full" and len(first) == 1
    idle = [s for s in slots if s.vehicle.vehicle_id != first[0].vehicle_id]  # the dispatcher's view now
    second = planner.plan(now_s=NOW_S + 30, airspace=world.airspace, slots=idle, orders=[_order(world, "o-2", 8)])
    assert planner.last_plan_kind == "replan"
    assert [s.order_ids for s in second] == [("o-2",)] and second[0].vehicle_id != first[0].vehicle_id


def test_order_is_not_given_back_to_the_vehicle_that_failed_it(world) -> None:  # type: ignore[no-untyped-def]
    """An order avoiding drone-0 goes to another idle drone, whatever the plan preferred."""
    planner = _planner(world)
    slots = [_slot(world, f"drone-{i}", VehicleKind.DRONE) for i in range(2)]
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots,
                           orders=[_order(world, "o-1", 3, avoid_vehicle_ids=frozenset({"drone-0"}))])
    assert [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", ("o-1",))]


def test_overdue_order_is_still_planned(world) -> None:  # type: ignore[no-untyped-def]
    """An order whose window already closed is delivered late rather than never."""
    planner = _planner(world)
    order = planner.open_order(_stored(world, "o-late", 3, window_end_s=NOW_S - 60), now_s=NOW_S, lookahead_s=900)
    assert order.latest_s == math.inf
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[_slot(world, "drone-1", VehicleKind.DRONE)],
                           orders=[order])
    assert [s.order_ids for s in sorties] == [("o-late",)]


def test_van_carried_legs_are_refused(world) -> None:  # type: ignore[no-untyped-def]
    """LAUNCH/RECOVERY legs (drones riding a van) have no adapter mission yet: a clear error, not a wrong flight."""
    leg = Leg(LegKind.LAUNCH, "drone-1", NOW_S, NOW_S, NOW_S, (0.0, 0.0), (10.0, 10.0), order_ids=("o-1",))
    with pytest.raises(MissionBuildError, match="launch"):
        drone_trip("m-1", [leg], world.frame, cruise_altitude_m=60.0)


def test_drained_drone_is_not_sent(world) -> None:  # type: ignore[no-untyped-def]
    """The planner assumes swapped batteries; a drone with hardly more than its reserve left gets no trip."""
    planner = _planner(world)
    drained = _slot(world, "drone-1", VehicleKind.DRONE)
    assert drained.state is not None
    drained = FleetSlot(drained.vehicle, None, replace(drained.state, battery_remaining_pct=26.0))
    assert not planner.usable(drained)
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace,
                           slots=[drained, _slot(world, "robot-1", VehicleKind.ROBOT)],
                           orders=[_order(world, "o-1", 3)])
    assert all(s.vehicle_id == "robot-1" for s in sorties)
    assert planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[drained], orders=[_order(world, "o-2", 8)]) == []


def test_chained_replans_keep_vehicles_sent_out_earlier(world) -> None:  # type: ignore[no-untyped-def]
    """Three orders arriving one by one between full plans: each replan sends the next idle drone, and the
    trips of drones sent by earlier replans stay in the plan (no vehicle is lost from it)."""
    planner = _planner(world)
    slots = [_slot(world, f"drone-{i}", VehicleKind.DRONE) for i in range(4)]
    sent: list[str] = []
    for number, index in enumerate((3, 8, 12)):
        idle = [s for s in slots if s.vehicle.vehicle_id not in sent]
        sorties = planner.plan(now_s=NOW_S + 10 * number, airspace=world.airspace, slots=idle,
                               orders=[_order(world, f"o-{number}", index)])
        assert planner.last_plan_kind == ("full" if number == 0 else "replan")
        assert [s.order_ids for s in sorties] == [(f"o-{number}",)]
        sent.append(sorties[0].vehicle_id)
    assert len(set(sent)) == 3


def test_caches_survive_a_cycle_without_some_vehicle_kind(world) -> None:  # type: ignore[no-untyped-def]
    """Once the drone is out, a cycle with only the robot idle still updates the plan in force (no rebuild)."""
    planner = _planner(world)
    slots = [_slot(world, "drone-0", VehicleKind.DRONE), _slot(world, "robot-0", VehicleKind.ROBOT)]
    first = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=[_order(world, "o-1", 3)])
    assert len(first) == 1
    idle = [s for s in slots if s.vehicle.vehicle_id != first[0].vehicle_id]
    planner.plan(now_s=NOW_S + 10, airspace=world.airspace, slots=idle, orders=[_order(world, "o-2", 8)])
    assert planner.last_plan_kind == "replan", planner.last_plan_reason


def test_stored_order_becomes_the_planners_order(world) -> None:  # type: ignore[no-untyped-def]
    """open_order: the door (or the locker once diverted), the window opened the lookahead early, a deadline
    while it can be met, and the vehicles to avoid — all in the planner's own OrderSpec."""
    planner = _planner(world)
    locker_lat, locker_lon = world.lockers[0].latitude_deg, world.lockers[0].longitude_deg
    planner.set_lockers({"locker-1": (locker_lat, locker_lon)})
    stored = _stored(world, "o-1", 3, window_start_s=NOW_S + 3600, window_end_s=NOW_S + 7200)
    spec = planner.open_order(stored, now_s=NOW_S, lookahead_s=900, avoid_vehicle_ids=frozenset({"drone-2"}))
    building = world.addresses[3]
    assert isinstance(spec, OrderSpec)
    assert (spec.latitude_deg, spec.longitude_deg) == (building.latitude_deg, building.longitude_deg)
    assert (spec.earliest_s, spec.latest_s) == (NOW_S + 2700, NOW_S + 7200)
    assert spec.avoid_vehicle_ids == frozenset({"drone-2"})
    diverted = replace(stored, status=OrderStatus.DIVERTED_TO_LOCKER, locker_id="locker-1")
    spec = planner.open_order(diverted, now_s=NOW_S, lookahead_s=900)
    assert (spec.latitude_deg, spec.longitude_deg) == (locker_lat, locker_lon) and not spec.avoid_vehicle_ids


def test_order_failed_by_the_only_idle_drone_waits_for_another(world) -> None:  # type: ignore[no-untyped-def]
    """With only the avoided drone idle, the order is not planned on it at all (neither trip nor plan)."""
    planner = _planner(world)
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[_slot(world, "drone-0", VehicleKind.DRONE)],
                           orders=[_order(world, "o-1", 3, avoid_vehicle_ids=frozenset({"drone-0"}))])
    assert sorties == []
    result = planner.plan_in_force()
    assert result is not None and "o-1" in result.plan.unplanned and not result.plan.planned_order_ids


def test_replanned_order_keeps_its_exclusion(world) -> None:  # type: ignore[no-untyped-def]
    """An order arriving between full plans that avoids the idle drones' first choice goes to the other one,
    through replan (no second solve)."""
    planner = _planner(world)
    slots = [_slot(world, f"drone-{i}", VehicleKind.DRONE) for i in range(3)]
    first = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=[_order(world, "o-1", 3)])
    idle = [s for s in slots if s.vehicle.vehicle_id != first[0].vehicle_id]
    avoid = frozenset({idle[0].vehicle.vehicle_id})
    second = planner.plan(now_s=NOW_S + 30, airspace=world.airspace, slots=idle,
                          orders=[_order(world, "o-2", 8, avoid_vehicle_ids=avoid)])
    assert planner.last_plan_kind == "replan"
    assert [(s.vehicle_id, s.order_ids) for s in second] == [(idle[1].vehicle.vehicle_id, ("o-2",))]


def _drained(world, vehicle_id: str, pct: float) -> FleetSlot:  # type: ignore[no-untyped-def]
    slot = _slot(world, vehicle_id, VehicleKind.DRONE)
    assert slot.state is not None
    return FleetSlot(slot.vehicle, None, replace(slot.state, battery_remaining_pct=pct))


def _far_and_near(world) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """Two addresses: the farthest from the hub and the nearest (by straight line)."""
    hub = world.hub
    by_distance = sorted(range(len(world.addresses)), key=lambda i: math.dist(
        (world.addresses[i].x_m, world.addresses[i].y_m), (hub.x_m, hub.y_m)))
    return by_distance[-1], by_distance[0]


def test_drained_drone_gets_only_a_trip_its_charge_covers(world) -> None:  # type: ignore[no-untyped-def]
    """A drone with a partly drained pack and a full one: the far parcel, which the drained one cannot fly with
    its reserve, goes to the full one; whatever the drained one is sent on, its charge covers with the reserve."""
    planner = _planner(world)
    far, near = _far_and_near(world)
    orders = [_order(world, "o-far", far, weight_kg=2.5), _order(world, "o-near", near)]
    # the planner keeps its energy margin above the drone's reserve (see the next test)
    reserve = ReservePolicy(DRONE.reserve_pct / 100.0 + PlanningConfig().energy_margin_fraction)
    full = planner.plan(now_s=NOW_S, airspace=world.airspace, orders=orders,
                        slots=[_slot(world, "drone-x", VehicleKind.DRONE), _slot(world, "drone-y", VehicleKind.DRONE)])
    energy_wh = {s.order_ids: s.planned_energy_wh for s in full}
    assert energy_wh[("o-far",)] > 1.5 * energy_wh[("o-near",)]
    # a charge that keeps the reserve on the near trip but not on the far one
    spare_wh = (energy_wh[("o-far",)] + energy_wh[("o-near",)]) / 2
    pct = 100.0 * (reserve.reserve_wh(DRONE.battery_wh) + spare_wh) / DRONE.battery_wh
    planner = _planner(world)
    drained, charged = _drained(world, "drone-1", pct), _slot(world, "drone-2", VehicleKind.DRONE)
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[drained, charged], orders=orders)
    by_vehicle = {s.vehicle_id: s for s in sorties}
    assert by_vehicle["drone-2"].order_ids == ("o-far",)
    assert by_vehicle["drone-1"].order_ids == ("o-near",)
    charge_wh = DRONE.battery_wh * pct / 100.0
    assert reserve.is_feasible(DRONE.battery_wh, charge_wh, by_vehicle["drone-1"].planned_energy_wh)


def test_a_trip_is_planned_to_land_with_the_energy_margin_above_the_reserve(world) -> None:  # type: ignore[no-untyped-def]
    """The charge a drone needs to be sent on a trip is `energy_margin_fraction` of its battery higher than without
    the margin: planned to the reserve itself, hub drones landed under it on the Andorra day."""
    far, _near = _far_and_near(world)
    orders = [_order(world, "o-far", far, weight_kg=2.5)]

    def sent(margin: float, pct: float) -> bool:
        planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                               hub_xy=(world.hub.x_m, world.hub.y_m),
                               config=PlanningConfig(time_budget_s=0.5, replan_budget_s=0.3,
                                                     energy_margin_fraction=margin))
        sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, orders=orders,
                               slots=[_drained(world, "drone-1", pct)])
        return [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", ("o-far",))]

    low, high = DRONE.reserve_pct, 100.0  # the least charge (%) that sends it without a margin, to 0.5 %
    while high - low > 0.5:
        middle = (low + high) / 2
        low, high = (low, middle) if sent(0.0, middle) else (middle, high)
    margin = PlanningConfig().energy_margin_fraction
    assert margin > 0 and high + 100.0 * margin + 1.0 <= 100.0
    assert not sent(margin, high), "sent on the trip with no margin above its reserve"
    assert not sent(margin, high + 100.0 * margin - 1.0)
    assert sent(margin, high + 100.0 * margin + 1.0)


def test_drone_too_drained_for_any_trip_waits_for_its_swap(world) -> None:  # type: ignore[no-untyped-def]
    """Above the 'usable' floor but short of every trip: the planner puts a battery swap first, nothing is sent;
    once telemetry shows the new pack, the next cycle plans afresh and sends it."""
    planner = _planner(world)
    far, _near = _far_and_near(world)
    pct = DRONE.reserve_pct + 4.0  # 20 Wh above the reserve: less than any trip to the farthest address
    drained = _drained(world, "drone-1", pct)
    assert planner.usable(drained)
    orders = [_order(world, "o-far", far, weight_kg=2.5)]
    assert planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[drained], orders=orders) == []
    result = planner.plan_in_force()
    assert result is not None
    route = result.plan.route("drone-1")
    assert route is not None and route.legs[0].kind is LegKind.CHARGE
    swapped = _drained(world, "drone-1", 100.0)
    sorties = planner.plan(now_s=NOW_S + 60, airspace=world.airspace, slots=[swapped], orders=orders)
    assert planner.last_plan_kind == "full" and "charge" in planner.last_plan_reason
    assert [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", ("o-far",))]


def test_speeds_come_from_the_vehicle_profiles(world) -> None:  # type: ignore[no-untyped-def]
    """Walking and driving speeds are the robots' and vans' profile speeds; a kind nobody has takes the defaults."""
    planner = _planner(world)
    robot = _slot(world, "robot-1", VehicleKind.ROBOT).vehicle
    robot.profile = ROBOT.with_changes(speed_m_s=2.2)
    travel = planner.travel(world.airspace, [robot])
    assert travel.robot.network.speed_m_s == 2.2 and travel.robot_model.speed_m_s == 2.2
    assert travel.van.network.speed_m_s == DEFAULT_PROFILES[VehicleKind.VAN].speed_m_s


def _van_carrying(world, kind: VehicleKind, carried_ids: tuple[str, ...]) -> list[FleetSlot]:  # type: ignore[no-untyped-def]
    """Idle van-1 at the hub and the idle vehicles of `kind` it carries."""
    hub = world.hub
    van_state = VehicleState("van-1", VehicleKind.VAN, NOW_S, hub.latitude_deg, hub.longitude_deg,
                             link=LinkStatus.CONNECTED)
    van = FleetVehicle(SimpleNamespace(vehicle_id="van-1", kind=VehicleKind.VAN), "hub",  # type: ignore[arg-type]
                       DEFAULT_PROFILES[VehicleKind.VAN], hub.latitude_deg, hub.longitude_deg)
    slots = [FleetSlot(van, None, van_state)]
    for vehicle_id in carried_ids:
        slot = _slot(world, vehicle_id, kind)
        slot.vehicle.carried_by = "van-1"
        slots.append(slot)
    return slots


def test_van_sortie_carries_its_drones_launched_and_recovered_at_its_stops(world) -> None:  # type: ignore[no-untyped-def]
    """A van with two drones aboard: the drones' trips ride on the van's sortie as handoffs, each with a WAIT right
    after the van's DELIVER at the stop the planner launches it from and at the one it recovers it at (the same
    or a later one); a drone recovered at a later stop lands where the van stands there; no parcel is on two
    missions."""
    planner = _planner(world)
    slots = _van_carrying(world, VehicleKind.DRONE, ("drone-1", "drone-2"))
    orders = [_order(world, f"o-{i}", index) for i, index in enumerate(range(0, 60, 5))]
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=orders)
    assert [s.vehicle_id for s in sorties] == ["van-1"]
    van_sortie = sorties[0]
    assert van_sortie.handoffs, "no drone launched from the van: the test would prove nothing"
    steps = van_sortie.mission.steps
    for handoff in van_sortie.handoffs:
        for index, order_id in ((handoff.launch_step_index, handoff.launch_order_id),
                                (handoff.recovery_step_index, handoff.recovery_order_id)):
            assert steps[index].kind is StepKind.DELIVER and steps[index].order_id == order_id
            assert steps[index + 1].kind is StepKind.WAIT
        assert handoff.recovery_step_index >= handoff.launch_step_index
        drone_steps = handoff.sortie.mission.steps
        assert drone_steps[0].kind is StepKind.TAKEOFF and StepKind.DELIVER in [s.kind for s in drone_steps]
        if handoff.later_stop:
            kerb = steps[handoff.recovery_step_index]
            assert drone_steps[-1].kind is StepKind.LAND
            assert (drone_steps[-1].latitude_deg, drone_steps[-1].longitude_deg) == (kerb.latitude_deg,
                                                                                     kerb.longitude_deg)
        else:
            assert drone_steps[-1].kind is StepKind.RETURN
    back_at: dict[str, int] = {}  # a drone's next trip launches where (or after) the van took it back
    for handoff in sorted(van_sortie.handoffs, key=lambda h: h.launch_step_index):
        assert handoff.launch_step_index >= back_at.get(handoff.vehicle_id, -1)
        back_at[handoff.vehicle_id] = handoff.recovery_step_index
    assert sorted(van_sortie.all_order_ids) == sorted(set(van_sortie.all_order_ids))
    assert set(van_sortie.all_order_ids) <= {o.order_id for o in orders}
    # each drone's mission knows what its parcels weigh (its battery check prices them aboard)
    assert all(h.sortie.payload_kg == dict.fromkeys(h.sortie.order_ids, 1.0) for h in van_sortie.handoffs)


def test_van_sortie_carries_its_robots_to_doors_near_its_stops(world) -> None:  # type: ignore[no-untyped-def]
    """A van with two robots aboard: each robot trip rides on the van's sortie as a handoff: the robot walks from
    the launch stop to the door (DELIVER), then to where the van stands at its recovery stop (GOTO there)."""
    planner = _planner(world)
    slots = _van_carrying(world, VehicleKind.ROBOT, ("robot_1", "robot_2"))
    orders = [_order(world, f"o-{i}", index) for i, index in enumerate(range(0, 60, 3))]
    sorties = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=slots, orders=orders)
    assert [s.vehicle_id for s in sorties] == ["van-1"]
    van_steps = sorties[0].mission.steps
    assert sorties[0].handoffs, "no robot launched from the van: the test would prove nothing"
    for handoff in sorties[0].handoffs:
        assert handoff.vehicle_id.startswith("robot_") and handoff.sortie.mode.value == "robot"
        steps = handoff.sortie.mission.steps
        assert [s.kind for s in steps] == [StepKind.DELIVER, StepKind.GOTO]
        assert steps[0].order_id == handoff.sortie.order_ids[0]
        kerb = van_steps[handoff.recovery_step_index]
        assert (steps[1].latitude_deg, steps[1].longitude_deg) == (kerb.latitude_deg, kerb.longitude_deg)
        assert van_steps[handoff.launch_step_index + 1].kind is StepKind.WAIT
