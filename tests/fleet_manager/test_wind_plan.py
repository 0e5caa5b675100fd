"""Drone trips are planned in the wind the drones report, as the autopilot flies them (ground speed held).

The plan reckoned still air while the live battery check reckons the reported wind: on the full Andorra day
(5 m/s, gusts 3) drones were sent with a pack the plan found enough and recalled by the check moments after
take-off ("300 Wh left, 162 Wh needed to finish plus 125 Wh reserve"), 71 times in one day.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from test_planning import NOW_S, _order, _planner, _slot

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.energy_home import route_energy_wh
from fleet_manager.planning import FleetSlot
from fleet_manager.world import load_world
from mission_planner.wind_flight import wind_vector_m_s

pytestmark = pytest.mark.timeout(120)
WIND = wind_vector_m_s(8.0, 270.0)  # 8 m/s from the west


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _drone_travel(world, planner):  # type: ignore[no-untyped-def]
    slot = _slot(world, "drone-1", VehicleKind.DRONE)
    return planner.travel(world.airspace, [slot.vehicle], NOW_S).drone


def _trip_wh(travel, world, index: int, wind: tuple[float, float]) -> float:  # type: ignore[no-untyped-def]
    hub, place = world.hub, world.addresses[index]
    travel.wind_m_s = wind
    try:
        return float(travel.trip_energy_wh(1.0, (hub.x_m, hub.y_m), (place.x_m, place.y_m),
                                           math.dist((hub.x_m, hub.y_m), (place.x_m, place.y_m)),
                                           math.dist((hub.x_m, hub.y_m), (place.x_m, place.y_m))))
    finally:
        travel.wind_m_s = (0.0, 0.0)


def test_a_trip_in_wind_costs_what_the_live_check_reckons_for_the_same_flight(world) -> None:  # type: ignore[no-untyped-def]
    """Upwind and back costs more than still air, and the plan's figure is the live check's (`energy_home`, the
    same legs) for the outbound path; still air keeps the still-air sortie."""
    planner = _planner(world)
    travel = _drone_travel(world, planner)
    hub = world.hub
    index = max(range(len(world.addresses)), key=lambda i: world.addresses[i].x_m)  # the easternmost: a long trip
    place = world.addresses[index]
    still_wh = _trip_wh(travel, world, index, (0.0, 0.0))
    windy_wh = _trip_wh(travel, world, index, WIND)
    assert windy_wh > still_wh * 1.08
    assert still_wh == pytest.approx(travel.sortie_energy_wh(1.0, *(2 * [math.dist((hub.x_m, hub.y_m),
                                                                                     (place.x_m, place.y_m))])))
    out = travel.path((hub.x_m, hub.y_m), (place.x_m, place.y_m))
    live_out_wh = route_energy_wh(travel.model, 1.0, [(w.x_m, w.y_m, w.elevation_m) for w in out.waypoints],
                                  travel.model.cruise_airspeed_m_s, WIND)
    planned_out_wh = out.energy_in_wind_wh(travel.model, 1.0, travel.model.cruise_airspeed_m_s, WIND)
    assert planned_out_wh == pytest.approx(live_out_wh, rel=1e-9)


def test_a_drone_whose_charge_covers_a_trip_only_in_still_air_is_not_sent_on_it_in_wind(world) -> None:  # type: ignore[no-untyped-def]
    """A drone with a pack between the still-air and the windy need of a trip is sent in still air; in the wind
    it reports it is not sent on that trip now (the live check would call it back at once)."""
    planner = _planner(world)
    travel = _drone_travel(world, planner)
    index = max(range(len(world.addresses)), key=lambda i: world.addresses[i].x_m)
    still_wh = _trip_wh(travel, world, index, (0.0, 0.0))
    windy_wh = _trip_wh(travel, world, index, WIND)
    drone = _slot(world, "drone-1", VehicleKind.DRONE)
    assert drone.state is not None
    profile = drone.vehicle.profile
    # the reserve and the plan's energy margin above it stay in the pack
    kept_wh = profile.battery_wh * (profile.reserve_pct / 100.0 + planner.config.energy_margin_fraction)
    charge_wh = kept_wh + (still_wh + windy_wh) / 2.0 + 15.0  # 15 Wh: the landing-point margin of the plan
    drone = FleetSlot(drone.vehicle, None, replace(drone.state, battery_remaining_wh=charge_wh,
                                                   battery_remaining_pct=100.0 * charge_wh / 500.0))
    order = _order(world, "o-1", index)
    calm = planner.plan(now_s=NOW_S, airspace=world.airspace, slots=[drone], orders=[order])
    assert [(s.vehicle_id, s.order_ids) for s in calm] == [("drone-1", ("o-1",))]
    windy = _planner(world).plan(now_s=NOW_S, airspace=world.airspace, slots=[drone], orders=[order], wind_m_s=WIND)
    assert not [s for s in windy if "o-1" in s.order_ids], "sent on a trip its pack covers only in still air"
