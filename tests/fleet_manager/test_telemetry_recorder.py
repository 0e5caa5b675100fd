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
