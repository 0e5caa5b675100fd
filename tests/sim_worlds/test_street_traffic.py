"""The simulated world's street traffic: the van simulator's vans really slow where it is, and a scenario's
rush hours and incidents become world events and feed reports on their own schedules."""

from __future__ import annotations

import datetime as dt

import pytest

from fleet_manager.traffic import TrafficReport
from fleet_manager.world import World, load_world
from sim_worlds.scenario import load_scenario
from sim_worlds.street_traffic import StreetTraffic, TrafficEventError, event_from_wire, event_to_wire
from sim_worlds.traffic_sim import day_events
from sim_worlds.vans import build_vans

NOW_S = 1_749_711_600.0


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


def _drive_time_s(world: World, traffic: StreetTraffic, target: object) -> float:
    """Simulated seconds a van takes from the hub to `target` (1 s steps)."""
    van = build_vans(world, 1, traffic=traffic, stop_duration_s=0.0)[0]
    latitude_deg, longitude_deg = world.frame.to_wgs84(target.x_m, target.y_m)  # type: ignore[attr-defined]
    van.start_mission({"mission_id": "m", "steps": [{"kind": "goto", "latitude_deg": latitude_deg,
                                                     "longitude_deg": longitude_deg}]}, NOW_S)
    elapsed_s = 0.0
    while van.mission is not None:
        van.advance(1.0, NOW_S + elapsed_s)
        elapsed_s += 1.0
        assert elapsed_s < 4 * 3600, "the van never arrived"
    return elapsed_s


def test_van_simulator_drives_slower_through_a_jam_and_only_while_it_lasts(world: World) -> None:
    target = max(world.addresses, key=lambda b: (b.x_m - world.hub.x_m) ** 2 + (b.y_m - world.hub.y_m) ** 2)
    free = _drive_time_s(world, StreetTraffic(world.frame), target)
    jam = TrafficReport("jam", "congestion", world.hub.latitude_deg, world.hub.longitude_deg, 2000.0, 0.5,
                        NOW_S - 60, NOW_S + 10 * 3600)
    jammed = StreetTraffic(world.frame)
    jammed.replace([jam])
    assert _drive_time_s(world, jammed, target) == pytest.approx(2 * free, rel=0.05)
    later = StreetTraffic(world.frame)
    later.replace([TrafficReport("later", "congestion", jam.latitude_deg, jam.longitude_deg, 2000.0, 0.5,
                                 NOW_S + 10 * 3600, NOW_S + 11 * 3600)])
    assert _drive_time_s(world, later, target) == pytest.approx(free, abs=2.0)


def test_traffic_events_round_trip_and_bad_ones_are_refused() -> None:
    event = TrafficReport("x", "incident", 60.17, 24.93, 50.0, 0.0, NOW_S, NOW_S + 600)
    assert event_from_wire(event_to_wire(event)) == event
    with pytest.raises(TrafficEventError, match="radius_m"):
        event_from_wire({**event_to_wire(event), "radius_m": -1})
    with pytest.raises(TrafficEventError, match="'kind'"):
        event_from_wire({k: v for k, v in event_to_wire(event).items() if k != "kind"})


def test_scenario_rush_hours_and_incidents_become_world_events_with_feed_times(world: World) -> None:
    base = load_scenario("helsinki_day")
    scenario = base.model_copy(update={"traffic": base.traffic.model_validate({
        "rush_hours": [{"start": "08:30", "end": "09:30", "van_speed_factor": 0.5}],
        "incidents": [{"incident_id": "crash", "starts_at": "09:00", "duration_s": 1800, "latitude_deg": 60.17,
                       "longitude_deg": 24.93, "reported_after_s": 300},
                      {"incident_id": "unseen", "starts_at": "10:00", "duration_s": 600, "latitude_deg": 60.16,
                       "longitude_deg": 24.94, "reported": False}]})})
    events = {e.event.report_id: e for e in day_events(scenario, world.hub.latitude_deg, world.hub.longitude_deg)}
    assert set(events) == {"rush-1", "crash", "unseen"}
    nine = scenario.epoch_at(dt.time(9, 0))
    assert events["crash"].event.starts_at_s == nine and events["crash"].post_at_s == nine + 300
    assert events["crash"].event.speed_factor == 0.05 and events["unseen"].post_at_s is None
    assert events["rush-1"].event.speed_factor == 0.5 and events["rush-1"].event.radius_m == 2000.0

