"""What the telemetry recorder stores per vehicle: the snapshot plus what the fleet manager knows (a van's cargo)."""

from __future__ import annotations

from types import SimpleNamespace

from fleet_manager.adapters.base import VehicleKind, VehicleState
from fleet_manager.fleet import FleetVehicle
from fleet_manager.telemetry_recorder import state_json
from mission_planner.profiles import DEFAULT_PROFILES


def _vehicle(vehicle_id: str, kind: VehicleKind, **adapter: object) -> FleetVehicle:
    return FleetVehicle(SimpleNamespace(vehicle_id=vehicle_id, kind=kind, **adapter), "hub",  # type: ignore[arg-type]
                        DEFAULT_PROFILES[kind], 60.17, 24.94)


def test_a_van_state_lists_what_it_carries_and_a_carried_drone_its_van() -> None:
    """The van's stored state names the drones/robots aboard (the dashboard draws its cargo); the drone's, its van
    and whether it charges; a vehicle that carries nothing has no 'carried'."""
    van = _vehicle("van-1", VehicleKind.VAN, carried=("drone-1", "robot_1"))
    van.order_ids = ("o-1", "o-2")
    data = state_json(VehicleState("van-1", VehicleKind.VAN, 1.0, 60.17, 24.94), van)
    assert data["carried"] == ["drone-1", "robot_1"] and data["order_ids"] == ["o-1", "o-2"]
    drone = _vehicle("drone-1", VehicleKind.DRONE)
    drone.carried_by = "van-1"
    data = state_json(VehicleState("drone-1", VehicleKind.DRONE, 1.0, 60.17, 24.94, charging=False), drone)
    assert "carried" not in data and data["carried_by"] == "van-1" and data["charging"] is False


def test_a_vehicle_back_on_its_link_wakes_the_planning_cycle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Located at start-up, then its link drops and comes back (a drone whose simulator rebooted): the planning
    cycle is told each time it becomes plannable, not only after its first GPS fix. An order placed as it came
    back waited for the periodic plan (120 s) before."""
    import asyncio
    import dataclasses

    from fleet_manager.adapters.base import LinkStatus
    from fleet_manager.fleet import Fleet
    from fleet_manager.store.db import Database
    from fleet_manager.telemetry_recorder import TelemetryRecorder

    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    state = VehicleState("drone-1", VehicleKind.DRONE, 1.0, 60.17, 24.94, position_valid=False)
    fleet = Fleet()
    fleet.add("hub", SimpleNamespace(vehicle_id="drone-1", kind=VehicleKind.DRONE,  # type: ignore[arg-type]
                                     latest_state=lambda: state),
              DEFAULT_PROFILES[VehicleKind.DRONE], home_latitude_deg=60.17, home_longitude_deg=24.94)
    wakes: list[float] = []
    recorder = TelemetryRecorder(database=database, fleet=fleet, hub_id="hub",
                                 on_vehicle_located=lambda: wakes.append(1.0))

    def seen(**change: object) -> int:
        nonlocal state
        state = dataclasses.replace(state, **change)  # type: ignore[arg-type]
        asyncio.run(recorder.record_once())
        return len(wakes)

    assert seen() == 0  # booting: no fix yet
    assert seen(position_valid=True) == 1  # the fix
    assert seen(stamp_s=2.0) == 1  # nothing new
    assert seen(link=LinkStatus.LOST) == 1  # the link drops: the last position stays
    assert seen(link=LinkStatus.CONNECTED) == 2  # back: plannable again
    database.dispose()
