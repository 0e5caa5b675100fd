"""The simulated cold-chain box: warming toward its surroundings (hub, vehicle, doorstep), as parcels move."""

from __future__ import annotations

import math

import pytest

from mission_planner.clock import Clock
from sim_worlds.demand import DemandOrder
from sim_worlds.parcel_sensors import DOORSTEP_OFFSET_C, VEHICLE_OFFSET_C, ParcelSensors
from sim_worlds.scenario import load_scenario


def _order(*, failing: bool = False, door: bool = False) -> DemandOrder:
    return DemandOrder(reference="cold-1", release_s=0.0, building_id="b", address="a", latitude_deg=60.17,
                       longitude_deg=24.94, x_m=0.0, y_m=0.0, size_class="small", weight_kg=1.0, window_start_s=0.0,
                       window_end_s=3600.0, customs_delay_s=None, recipient_name="A", recipient_phone="",
                       presence_probability=1.0, allow_leave_at_door=door, prefers_locker=False, cold_chain=True,
                       failing_box=failing)


@pytest.fixture
def setup():  # type: ignore[no-untyped-def]
    scenario = load_scenario("helsinki_day")
    clock = Clock(start_s=scenario.epoch_at(scenario.start_time.replace(hour=12)), speedup=1.0)
    sensors = ParcelSensors(scenario, clock=clock, host="127.0.0.1", port=1, topic_prefix="t")
    return scenario, clock, sensors


def test_a_good_box_keeps_cool_in_the_hub_and_warms_in_a_van(setup) -> None:  # type: ignore[no-untyped-def]
    """5 °C in the cold store stays 4-5 °C; an hour in a van at noon warms it by (T_van - 5)(1 - e^-1/4)."""
    scenario, clock, sensors = setup
    sensors.track(_order(), "o1")
    box = sensors.boxes["o1"]
    hour_s = 3600.0
    assert 4.0 <= sensors.reading(box, clock.now() + hour_s)["temperature_c"] <= 5.0
    start_c = box.temperature_c
    sensors.on_status("o1", "out_for_delivery", "van")
    later_s = box.updated_s + hour_s
    van_c = scenario.ambient_temp_c(later_s) + VEHICLE_OFFSET_C["van"]
    expected = van_c + (start_c - van_c) * math.exp(-hour_s / (scenario.demand.cold_chain.box_time_constant_min * 60))
    assert sensors.reading(box, later_s)["temperature_c"] == pytest.approx(expected, abs=0.02)
    assert expected < scenario.demand.cold_chain.max_temp_c  # within the hour it may spend out


def test_a_failing_box_arrives_warm_and_heats_fast(setup) -> None:  # type: ignore[no-untyped-def]
    """A spent pack: above the range from the first reading; on a doorstep it nears ambient + sun within an hour."""
    scenario, clock, sensors = setup
    sensors.track(_order(failing=True, door=True), "o2")
    box = sensors.boxes["o2"]
    assert sensors.reading(box, clock.now())["temperature_c"] > scenario.demand.cold_chain.max_temp_c
    sensors.on_status("o2", "delivered", "robot")
    assert box.where == "doorstep"
    later_s = box.updated_s + 3600.0
    doorstep_c = scenario.ambient_temp_c(later_s) + DOORSTEP_OFFSET_C
    assert sensors.reading(box, later_s)["temperature_c"] > doorstep_c - 1.0


def test_delivered_by_hand_ends_the_sensing(setup) -> None:  # type: ignore[no-untyped-def]
    """Handed to the recipient (not left at the door): the box stops publishing; unknown orders are ignored."""
    _scenario, _clock, sensors = setup
    sensors.track(_order(), "o3")
    sensors.on_status("o3", "delivered", "drone")
    assert sensors.boxes["o3"].where == "done"
    sensors.on_status("unknown", "delivered", "drone")
