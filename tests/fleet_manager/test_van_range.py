"""A van's charge bounds its trips: the planner gives it no trip its charge above the reserve does not cover,
and the van charges at the hub until it does (the van simulator over the van adapter's TCP link)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fm_helpers import serving_runtime

from fleet_manager.adapters.base import VehicleKind, VehicleState
from fleet_manager.config import Role, Settings
from fleet_manager.fleet import FleetVehicle, VehicleProfile
from fleet_manager.planning import FleetPlanner
from fleet_manager.sorties import FleetSlot
from fleet_manager.store.db import upgrade
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.timeout(240)]
HUB = "hub-van-range"
KEYS = {"backend": "bk-vanrange-Zq7Lm2Xc9Vb4Nt8Hw1Jd6Fs3", "operator": "op-vanrange-Kp5Ry0Tg3Wc8Mb2Qx7Vn4Hd9"}
BATTERY_WH, RESERVE_PCT, WH_PER_KM = 60_000.0, 10.0, 250.0
RESERVE_WH = BATTERY_WH * RESERVE_PCT / 100.0


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


def test_the_planner_sees_a_vans_charge_as_the_distance_it_may_drive(world: World) -> None:
    """30 % of 60 kWh with a 10 % reserve at 250 Wh/km: 48 km; below the reserve: 0; unknown charge: not limited."""
    hub = world.hub
    profile = VehicleProfile(max_payload_kg=300.0, battery_wh=BATTERY_WH, speed_m_s=10.0, reserve_pct=RESERVE_PCT,
                             energy_wh_per_km=WH_PER_KM)
    adapter = SimpleNamespace(vehicle_id="van-1", kind=VehicleKind.VAN)
    van = FleetVehicle(adapter, "h", profile, hub.latitude_deg, hub.longitude_deg)  # type: ignore[arg-type]
    planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                           hub_xy=(hub.x_m, hub.y_m))

    def range_m(**battery: float | None) -> float | None:
        state = VehicleState("van-1", VehicleKind.VAN, 0.0, hub.latitude_deg, hub.longitude_deg, **battery)
        spec = planner.vehicle_spec(FleetSlot(van, state=state))
        assert spec is not None
        return spec.range_m

    assert range_m(battery_remaining_pct=30.0) == pytest.approx(48_000.0)
    assert range_m(battery_remaining_wh=18_000.0) == pytest.approx(48_000.0)
    assert range_m(battery_remaining_wh=5_000.0) == 0.0
    assert range_m() is None


@pytest.mark.sim
async def test_a_van_too_low_for_the_trip_charges_at_the_hub_then_delivers_above_its_reserve(
        world: World, tmp_path: Path) -> None:
    """A parcel at the far edge of the map and a van 200 Wh above its reserve: the van is not sent (the order
    says why it is not planned), charges at the hub's charger, then delivers it and comes back with its reserve
    intact; its reported charge never goes below the reserve."""
    from fleet_manager.fleet_file import parse_fleet
    from fleet_manager.runtime import Runtime
    from sim_worlds.day import free_port

    clock = Clock(start_s=dt.datetime(2025, 6, 12, 7, 0, tzinfo=dt.UTC).timestamp(), speedup=60.0)
    hub = world.hub
    target = max(world.addresses, key=lambda b: math.hypot(b.x_m - hub.x_m, b.y_m - hub.y_m))
    vans = build_vans(world, 1, stop_duration_s=30.0, battery_wh=BATTERY_WH, energy_wh_per_km=WH_PER_KM,
                      charge_w=22_000.0)
    vans[0].remaining_wh = RESERVE_WH + 200.0  # 0.8 km of driving: not the ~3 km there and back
    van_server = VanFleetServer(vans, clock)
    van_url = f"tcp:127.0.0.1:{await van_server.start()}"
    fleet_file = parse_fleet({
        "hubs": [{"hub_id": HUB, "world": "helsinki", "recipient_presence": {"kind": "always"}}],
        "vehicles": [{"vehicle_id": "van-1", "kind": "van", "url": van_url,
                      "profile": {"battery_wh": BATTERY_WH, "reserve_pct": RESERVE_PCT,
                                  "energy_wh_per_km": WH_PER_KM, "capacity_parcels": 20}}],
    }, "test fleet")
    port = free_port()
    settings = Settings(database_url=upgrade(f"sqlite:///{tmp_path / 'fm.db'}"), hub_id=HUB, port=port,
                        api_keys={KEYS["backend"]: frozenset({Role.BACKEND}),
                                  KEYS["operator"]: frozenset({Role.OPERATOR})})
    runtime = await Runtime.start(settings, fleet_file, clock=clock)
    adapter = runtime.fleet.get("van-1").adapter
    missions = runtime.hub.missions
    charges: list[tuple[float, float, str | None]] = []  # (wh, metres from the hub, mission)

    async def record() -> None:
        async for state in adapter.telemetry():
            if state.battery_remaining_wh is not None:
                x_m, y_m = world.frame.to_local(state.latitude_deg, state.longitude_deg)
                charges.append((state.battery_remaining_wh, math.hypot(x_m - hub.x_m, y_m - hub.y_m),
                                state.mission_id))

    recorder = asyncio.create_task(record())
    loop = asyncio.get_running_loop()
    try:
        backend = {"Authorization": f"Bearer {KEYS['backend']}"}
        async with serving_runtime(runtime, port) as base, httpx.AsyncClient(base_url=base, timeout=20) as http:
            response = await http.post(
                "/v1/orders", headers={**backend, "Idempotency-Key": "van-range-1"},
                json={"reference": "van-range-1", "recipient": {"name": "Aino"}, "weight_kg": 2.0,
                      "customs_cleared": True,
                      "destination": {"latitude_deg": target.latitude_deg, "longitude_deg": target.longitude_deg}})
            assert response.status_code == 201, response.text
            order_id = response.json()["order_id"]
            deadline = loop.time() + 30.0
            while not (order := (await http.get(f"/v1/orders/{order_id}", headers=backend)).json())\
                    .get("unplannable_reason"):
                assert loop.time() < deadline, f"no reason given for the unplanned order: {order}"
                assert missions.running_mission("van-1") is None, "the van was sent without the charge for it"
                await asyncio.sleep(0.1)
            assert "farther than the charge of van-1 takes it now" in order["unplannable_reason"], order
            while missions.running_mission("van-1") is None:
                assert loop.time() < deadline + 60.0, "the van never left after charging"
                await asyncio.sleep(0.1)
            deadline = loop.time() + 120.0
            while (status := (await http.get(f"/v1/orders/{order_id}", headers=backend)).json()["status"]) \
                    != "delivered":
                assert loop.time() < deadline, f"order still {status}"
                await asyncio.sleep(0.25)
            while missions.running_mission("van-1") is not None:
                assert loop.time() < deadline, "the van did not come back"
                await asyncio.sleep(0.25)
    finally:
        recorder.cancel()
        await van_server.close()

    on_trip = [(wh, away_m) for wh, away_m, mission_id in charges if mission_id is not None]
    assert on_trip and max(away_m for _wh, away_m in on_trip) > 1_000.0, "the van did not drive to the parcel"
    left_with_wh = on_trip[0][0]
    assert left_with_wh > RESERVE_WH + 500.0, f"it left with {left_with_wh:.0f} Wh: it had not charged"
    assert min(wh for wh, _d, _m in charges) >= RESERVE_WH, "the van's charge went below its reserve"
