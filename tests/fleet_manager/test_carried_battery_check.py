"""The battery check of a van-launched drone counts the flight to where its mission ends, beside the van.

On a 4 h Andorra handoff day, 4 of 10 van-launched drones were recalled for their battery ("500 Wh left, 394 Wh
needed to finish plus 125 Wh reserve") right after launch or right after their drop, with a full or ample pack:
the check added a flight from the mission's end to the drone's fleet home, the hub, kilometres down the valley,
where a van-launched drone never flies. The recalled trips delivered nothing, and one recall ended with the van
standing at its recovery stop for the rest of the day.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from test_dispatcher import setup, world  # noqa: F401  (fixtures)

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.energy_home import landing_energy_wh, route_energy_wh

OUT_M = 4_000.0  # the drone works this far east of the hub, with its van


def _flying(hub, drone, place, mission: Mission, east_m: float):  # type: ignore[no-untyped-def]
    """(monitor, drone-1, its state): flying 60 m up `east_m` east of the hub of world `place`, running `mission`."""
    hub.missions.running["drone-1"] = SimpleNamespace(mission=mission, order_ids=[], resolved=set(), payload_kg={},
                                                      launched_from="van-1")
    here = place.frame.to_wgs84(place.hub.x_m + east_m, place.hub.y_m)
    flying = dataclasses.replace(drone.state, latitude_deg=here[0], longitude_deg=here[1], relative_altitude_m=60.0,
                                 armed=True)
    return hub.monitor, hub.missions.fleet.get("drone-1"), flying


async def test_a_van_launched_drone_is_not_recalled_for_a_flight_to_the_hub_it_will_not_fly(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    _database, hub, drone, _recipients, _clock = setup
    van_stop = world.frame.to_wgs84(world.hub.x_m + OUT_M + 300.0, world.hub.y_m)
    # after its drop: on its way to land beside the van 300 m on, its pack well above that and the reserve,
    # far below a flight of 4 km back to the hub
    mission = Mission("m-carried", (
        MissionStep(StepKind.GOTO, *van_stop, altitude_m=60.0),
        MissionStep(StepKind.LAND, *van_stop)))
    monitor, vehicle, flying = _flying(hub, drone, world, mission, OUT_M)
    model = monitor._energy_model(vehicle)
    reserve_wh = vehicle.profile.battery_wh * vehicle.profile.reserve_pct / 100.0
    margin_wh = monitor._margin_wh(model)
    hub.missions.running["drone-1"].launched_from = "van-1"
    to_van_wh = monitor._energy_to_finish_wh(vehicle, flying, model)
    hub.missions.running["drone-1"].launched_from = None  # a trip from the hub
    to_hub_wh = monitor._energy_to_finish_wh(vehicle, flying, model)
    assert to_hub_wh > to_van_wh + 20.0  # the hub is kilometres further than the van
    left_wh = to_van_wh + reserve_wh + margin_wh + 10.0
    assert left_wh < to_hub_wh + reserve_wh  # a drone of the hub would have to come in now
    drone.state = dataclasses.replace(flying, battery_remaining_wh=left_wh)

    hub.missions.running["drone-1"].launched_from = "van-1"
    monitor._check_battery(vehicle, drone.state)
    assert not [a for a in monitor.alerts if a.kind == "low_battery"], [a.message for a in monitor.alerts]

    # the same drone flying from the hub, with the same charge, must come home now: the check still bites
    hub.missions.running["drone-1"].launched_from = None  # a trip from the hub
    monitor._check_battery(vehicle, drone.state)
    assert [a.kind for a in monitor.alerts] == ["low_battery"]


async def test_a_van_launched_drone_recovered_where_it_was_launched_counts_its_rtl_to_the_launch_point(  # type: ignore[no-untyped-def]
        setup, world) -> None:  # noqa: F811
    """Recovered at its launch stop, the mission ends with a RETURN (the RTL to its launch point, the top of its
    first climb): that flight is counted, the hub is not."""
    _database, hub, drone, _recipients, _clock = setup
    launch = world.frame.to_wgs84(world.hub.x_m + OUT_M, world.hub.y_m)
    mission = Mission("m-same-stop", (
        MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
        MissionStep(StepKind.GOTO, *launch, altitude_m=60.0),
        MissionStep(StepKind.RETURN)))
    monitor, vehicle, flying = _flying(hub, drone, world, mission, OUT_M + 900.0)
    model = monitor._energy_model(vehicle)
    hub.missions.running["drone-1"].launched_from = "van-1"
    route = monitor.remaining_route(vehicle, flying)
    assert route is not None
    end_x, end_y = route.coords[-1]
    assert abs(end_x - (world.hub.x_m + OUT_M)) < 1.0 and abs(end_y - world.hub.y_m) < 1.0
    assert route.length > 850.0  # the way back to the launch point is counted
    assert monitor._energy_to_finish_wh(vehicle, flying, model) > 0.0


async def test_a_van_launched_drone_landing_at_a_lower_stop_counts_its_landing_from_its_height_above_that_stop(  # type: ignore[no-untyped-def]
        setup, world) -> None:  # noqa: F811
    """Its altitudes stay relative to its launch stop (home keeps its height when moved to the van's recovery stop);
    the van waits at a stop 200 m lower. Above the column of that stop, 60 m above its ground (-140 m relative to
    home), the landing is 60 m of descent, the last 10 at LAND_SPEED: counted as a landing from -140 m above home,
    none of it was, and in mavsim over Andorra the drone recalled there landed with 23 % against its 25 %."""
    _database, hub, drone, _recipients, _clock = setup
    van_stop = world.frame.to_wgs84(world.hub.x_m + OUT_M, world.hub.y_m)
    mission = Mission("m-lower-stop", (
        MissionStep(StepKind.GOTO, *van_stop, altitude_m=-140.0, ground_above_home_m=-200.0),
        MissionStep(StepKind.LAND, *van_stop, ground_above_home_m=-200.0)))
    monitor, vehicle, flying = _flying(hub, drone, world, mission, OUT_M)
    flying = dataclasses.replace(flying, relative_altitude_m=-140.0)
    model = monitor._energy_model(vehicle)
    landing_wh = landing_energy_wh(model, 0.0, 60.0)
    assert monitor._energy_to_finish_wh(vehicle, flying, model) == pytest.approx(landing_wh, rel=0.01)
    # and a stop 200 m higher: 60 m of descent there, not the 260 m above home
    higher = Mission("m-higher-stop", (
        MissionStep(StepKind.GOTO, *van_stop, altitude_m=260.0, ground_above_home_m=200.0),
        MissionStep(StepKind.LAND, *van_stop, ground_above_home_m=200.0)))
    monitor, vehicle, flying = _flying(hub, drone, world, higher, OUT_M)
    flying = dataclasses.replace(flying, relative_altitude_m=260.0)
    assert monitor._energy_to_finish_wh(vehicle, flying, model) == pytest.approx(landing_wh, rel=0.01)


async def test_a_parcel_aboard_is_priced_until_its_drop_and_to_the_end_when_it_is_not_dropped(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """2 kg aboard, its drop 1 km on, the van 1 km further: the way to the drop is priced loaded, the rest empty (as
    the planner prices the trip); recalled (a mission without the drop), the parcel is carried to the end."""
    _database, hub, drone, _recipients, _clock = setup
    frame, x_m, y_m = world.frame, world.hub.x_m + OUT_M, world.hub.y_m
    drop, van_stop = frame.to_wgs84(x_m + 1_000.0, y_m), frame.to_wgs84(x_m + 2_000.0, y_m)
    delivering = Mission("m-drop", (
        MissionStep(StepKind.DELIVER, *drop, altitude_m=60.0, order_id="o-1"),
        MissionStep(StepKind.GOTO, *van_stop, altitude_m=60.0),
        MissionStep(StepKind.LAND, *van_stop)))
    monitor, vehicle, flying = _flying(hub, drone, world, delivering, OUT_M)
    model = monitor._energy_model(vehicle)
    empty_wh = monitor._energy_to_finish_wh(vehicle, flying, model)
    running = hub.missions.running["drone-1"]
    running.order_ids, running.payload_kg = ["o-1"], {"o-1": 2.0}
    loaded_wh = monitor._energy_to_finish_wh(vehicle, flying, model)
    points = monitor._remaining_points(vehicle, flying)
    wind = (0.0, 0.0)
    expected_wh = route_energy_wh(model, [2.0, 0.0, 0.0, 0.0], points, vehicle.profile.speed_m_s, wind)
    assert loaded_wh == pytest.approx(expected_wh) and loaded_wh > empty_wh + 1.0
    assert loaded_wh < route_energy_wh(model, 2.0, points, vehicle.profile.speed_m_s, wind)
    recalled = Mission("m-recall", (MissionStep(StepKind.GOTO, *van_stop, altitude_m=60.0),
                                    MissionStep(StepKind.LAND, *van_stop)))
    running.mission = recalled
    points = monitor._remaining_points(vehicle, flying)
    assert monitor._energy_to_finish_wh(vehicle, flying, model) == pytest.approx(
        route_energy_wh(model, 2.0, points, vehicle.profile.speed_m_s, wind))


async def test_the_steps_a_drone_has_flown_past_are_not_priced(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """The check prices from the step the drone reports flying to. Counted from the mission's start (a recall's has
    no DELIVER) or from its drop, the Andorra handoff day's drone-5, 1.4 km from the hub at the end of its recall,
    was recalled again for "253 Wh needed" (the whole 6 km way home; the rest drew ~55 Wh in mavsim), and the
    first recall, on its way home past its drop, priced the climb back to the drop (234 Wh; ~185 Wh drawn)."""
    _database, hub, drone, _recipients, _clock = setup
    frame, x_m, y_m = world.frame, world.hub.x_m, world.hub.y_m
    corners = [frame.to_wgs84(x_m + east_m, y_m) for east_m in (OUT_M, 3_000.0, 2_000.0, 1_000.0, 0.0)]
    recall = Mission("m-recall", (*(MissionStep(StepKind.GOTO, *corner, altitude_m=60.0) for corner in corners),
                                  MissionStep(StepKind.RETURN)))
    monitor, vehicle, flying = _flying(hub, drone, world, recall, 500.0)
    hub.missions.running["drone-1"].launched_from = None  # a hub drone: home is the hub
    model = monitor._energy_model(vehicle)
    wind = (0.0, 0.0)
    flying = dataclasses.replace(flying, mission_id="m-recall", mission_step=4)  # its last leg, to the hub
    points = monitor._remaining_points(vehicle, flying)
    assert [round(x - x_m) for x, _y, _z in points] == [500, 0, 0]
    assert monitor._energy_to_finish_wh(vehicle, flying, model) == pytest.approx(
        route_energy_wh(model, 0.0, points, vehicle.profile.speed_m_s, wind))
    # a report of another mission (the one just replaced) says nothing of this one's progress: all of it is priced
    other = dataclasses.replace(flying, mission_id="m-before", mission_step=4)
    assert [round(x - x_m) for x, _y, _z in monitor._remaining_points(vehicle, other)][:3] == [500, 4_000, 3_000]

    # past its drop, on its way home: the way back to the drop is not priced
    drop = frame.to_wgs84(x_m + OUT_M, y_m)
    trip = Mission("m-trip", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
                              MissionStep(StepKind.DELIVER, *drop, altitude_m=60.0, order_id="o-1"),
                              *(MissionStep(StepKind.GOTO, *corner, altitude_m=60.0) for corner in corners),
                              MissionStep(StepKind.RETURN)))
    running = hub.missions.running["drone-1"]
    running.mission, running.order_ids, running.resolved = trip, ["o-1"], {"o-1"}
    flying = dataclasses.replace(flying, mission_id="m-trip", mission_step=6)  # to the hub
    assert [round(x - x_m) for x, _y, _z in monitor._remaining_points(vehicle, flying)] == [500, 0, 0]


async def test_a_van_launched_drone_flying_below_its_launch_stop_is_still_battery_checked(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Its home is the launch stop; on its way down a valley to a lower stop (or to the hub) it reports an altitude
    hundreds of metres below home. Taken for on the ground, it had no battery check for half such a flight."""
    _database, hub, drone, _recipients, _clock = setup
    van_stop = world.frame.to_wgs84(world.hub.x_m + OUT_M + 300.0, world.hub.y_m)
    mission = Mission("m-down", (
        MissionStep(StepKind.GOTO, *van_stop, altitude_m=-250.0),
        MissionStep(StepKind.LAND, *van_stop, ground_above_home_m=-300.0)))
    monitor, vehicle, flying = _flying(hub, drone, world, mission, OUT_M)
    below = dataclasses.replace(flying, relative_altitude_m=-240.0)
    reserve_wh = vehicle.profile.battery_wh * vehicle.profile.reserve_pct / 100.0
    drone.state = dataclasses.replace(below, battery_remaining_wh=reserve_wh)  # nothing above the reserve
    monitor._check_battery(vehicle, drone.state)
    assert [a.kind for a in monitor.alerts] == ["low_battery"]
    monitor.alerts.clear()
    monitor._recalled.clear()
    landed = dataclasses.replace(drone.state, armed=False)  # down beside the van: disarmed, no check
    monitor._check_battery(vehicle, landed)
    assert monitor.alerts == []
