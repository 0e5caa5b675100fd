"""The three fleets of the comparison: the same vehicles wherever they are used, only who carries whom changes;
and a carried vehicle's ride on its van is the van's distance, not its own."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest

from fleet_manager.adapters.base import VehicleKind, VehicleState
from sim_worlds.fleet_setup import scenario_fleet
from sim_worlds.fleet_variants import COMPARED, FleetVariant, with_fleet_variant
from sim_worlds.scenario import ScenarioError, load_scenario
from sim_worlds.tracks import TrackRecorder


def _carriers(scenario):  # type: ignore[no-untyped-def]
    """{vehicle: van} of the fleet file a run of `scenario` writes, and the vehicles in it by kind."""
    fleet = scenario.fleet
    fleet_file = scenario_fleet(
        scenario, drone_urls=[f"tcp:127.0.0.1:{5760 + 10 * i}" for i in range(fleet.drones.count)],
        robot_count=fleet.robots.count,
        van_urls=[(f"van-{i + 1}", "tcp:127.0.0.1:7100") for i in range(fleet.vans.count)],
        recipient_presence_url=None)
    kinds: dict[str, int] = {}
    for vehicle in fleet_file.vehicles:
        kinds[vehicle.kind.value] = kinds.get(vehicle.kind.value, 0) + 1
    return {v.vehicle_id: v.carried_by for v in fleet_file.vehicles if v.carried_by}, kinds


def test_andorra_day_three_ways_with_the_same_vehicles() -> None:
    scenario = load_scenario("andorra_day")
    assert scenario.fleet_comparison and [v.value for v in COMPARED] == ["vans_only", "hub_drones", "handoff"]
    vans_only, hub, handoff = (with_fleet_variant(scenario, v) for v in COMPARED)
    for variant in (vans_only, hub, handoff):  # the demand, seed, prices and vans never change
        assert (variant.demand, variant.seed, variant.prices, variant.duration_s) == (
            scenario.demand, scenario.seed, scenario.prices, scenario.duration_s)
        assert variant.fleet.vans.count == 4 and variant.fleet.vans.capacity_parcels == 40
    assert _carriers(vans_only) == ({}, {"van": 4})
    assert _carriers(hub) == ({}, {"drone": 8, "robot": 2, "van": 4})
    carried, kinds = _carriers(handoff)
    assert kinds == {"drone": 8, "robot": 2, "van": 4}
    assert carried == {"drone-1": "van-1", "drone-2": "van-1", "drone-3": "van-2", "drone-4": "van-2",
                       "drone-5": "van-3", "drone-6": "van-3", "drone-7": "van-4", "drone-8": "van-4",
                       "robot_1": "van-1", "robot_2": "van-2"}
    assert with_fleet_variant(scenario, FleetVariant.SCENARIO) is scenario


def test_handoff_needs_vans() -> None:
    scenario = load_scenario("andorra_day")
    no_vans = scenario.model_copy(update={"fleet": scenario.fleet.model_copy(
        update={"vans": scenario.fleet.vans.model_copy(update={"count": 0})})})
    with pytest.raises(ScenarioError, match="needs vans"):
        with_fleet_variant(no_vans, FleetVariant.HANDOFF)


def _state(vehicle_id: str, kind: VehicleKind, stamp_s: float, east_m: float, *, armed: bool) -> VehicleState:
    return VehicleState(vehicle_id, kind, stamp_s, 60.0, 24.9 + east_m / 55_000.0, armed=armed)


@pytest.mark.parametrize("kind", [VehicleKind.DRONE, VehicleKind.ROBOT])
def test_a_carried_vehicle_riding_its_van_travels_no_distance_of_its_own(kind: VehicleKind) -> None:
    from mission_planner.geodesy import LocalFrame

    world = SimpleNamespace(frame=LocalFrame.at(60.0, 24.9), terrain=None)
    profile = SimpleNamespace(reserve_pct=20.0)
    carried = SimpleNamespace(vehicle_id="c", kind=kind, carried_by="van-1", mission_id=None, profile=profile)
    hub = SimpleNamespace(vehicle_id="h", kind=kind, carried_by=None, mission_id=None, profile=profile)
    recorder = TrackRecorder([carried, hub], world, lambda: None, SimpleNamespace(now=lambda: 0.0))  # type: ignore[arg-type]
    recorder._check_fence = lambda vehicle_id, state: None  # type: ignore[method-assign]  # no airspace here
    for vehicle in (carried, hub):
        for second in range(5):  # 100 m east, 25 m a report, disarmed with no mission: riding / pushed around
            recorder.observe(vehicle, _state(vehicle.vehicle_id, kind, float(second), 25.0 * second, armed=False))
    assert recorder.tracks["c"].distance_m == 0.0
    assert recorder.tracks["h"].distance_m == pytest.approx(100.0, rel=0.02)
    carried.mission_id = "m-1"  # launched: on its own now
    for second in range(5, 9):
        recorder.observe(carried, _state("c", kind, float(second), 25.0 * second, armed=True))
    assert recorder.tracks["c"].distance_m == pytest.approx(100.0, rel=0.02)


def test_a_vehicle_reporting_less_charge_than_its_reserve_is_a_breach_with_how_low() -> None:
    """The day's KPIs name every vehicle whose reported charge went under its profile's reserve."""
    from mission_planner.geodesy import LocalFrame
    from sim_worlds.tracks import reserve_breaches

    world = SimpleNamespace(frame=LocalFrame.at(60.0, 24.9), terrain=None)
    vehicles = [SimpleNamespace(vehicle_id=v, kind=VehicleKind.DRONE, carried_by=None, mission_id=None,
                                profile=SimpleNamespace(reserve_pct=25.0)) for v in ("drone-1", "drone-2")]
    recorder = TrackRecorder(vehicles, world, lambda: None, SimpleNamespace(now=lambda: 0.0))  # type: ignore[arg-type]
    recorder._check_fence = lambda vehicle_id, state: None  # type: ignore[method-assign]
    for vehicle, lows in zip(vehicles, ((80.0, 26.0, 90.0), (70.0, 6.7, 100.0)), strict=True):
        for second, pct in enumerate(lows):
            state = _state(vehicle.vehicle_id, VehicleKind.DRONE, float(second), 0.0, armed=True)
            recorder.observe(vehicle, dataclasses.replace(state, battery_remaining_pct=pct))
    assert reserve_breaches(recorder.tracks) == ["drone-2: 6.7 % (reserve 25 %)"]
