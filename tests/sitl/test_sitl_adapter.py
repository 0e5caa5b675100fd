"""The fleet manager's MAVLink adapter flying real ArduCopter SITL (marker `sitl`).

Needs FINALMILE_SITL_BINARY; skipped with the reason otherwise. SITL runs at speed-up 10 and the
adapter's clock matches it. One fleet of three SITL drones is shared by the module (at most three
SITL processes at once); the refusal-before-EKF test runs first on its own single, unready drone.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fleet_manager.adapters.base import (
    FencePolygon,
    Geofence,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionStep,
    StepKind,
)
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_codec import FENCE, MISSION
from fleet_manager.adapters.mavlink_link import mavlink
from fleet_manager.errors import CommandRefused
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.sitl import SitlFleet

pytestmark = [pytest.mark.sitl, pytest.mark.slow]

SPEEDUP = 10.0


@pytest.fixture(scope="module")
def fleet(make_sitl_fleet: Callable[..., SitlFleet]) -> Iterator[SitlFleet]:
    """Three ready SITL drones (delivery parameters set and read back), killed after the module."""
    # OA_TYPE 0 here: with FinalMile's OA_TYPE 2 ArduCopter's Dijkstra's stops a drone short of a waypoint outside
    # the inclusion fence (no path) instead of letting it breach, and the breach test checks FENCE_ACTION itself
    sitl = make_sitl_fleet(3, speedup=SPEEDUP, params={"OA_TYPE": 0})
    try:
        yield sitl
    finally:
        sitl.stop()


def _frame(fleet: SitlFleet, index: int) -> LocalFrame:
    lat, lon, _, _ = fleet.vehicles[index].home
    return LocalFrame.at(lat, lon)


def _delivery(frame: LocalFrame, mission_id: str, x_m: float, y_m: float, altitude_m: float = 20.0) -> Mission:
    lat, lon = frame.to_wgs84(x_m, y_m)
    return Mission(
        mission_id,
        (
            MissionStep(StepKind.TAKEOFF, altitude_m=altitude_m),
            MissionStep(StepKind.DELIVER, lat, lon, altitude_m=altitude_m, order_id=f"{mission_id}-parcel"),
            MissionStep(StepKind.RETURN),
        ),
    )


def _fence(frame: LocalFrame, half_m: float) -> Geofence:
    corners = [(-half_m, -half_m), (half_m, -half_m), (half_m, half_m), (-half_m, half_m)]
    return Geofence(polygons=(FencePolygon(tuple(frame.to_wgs84(x, y) for x, y in corners), inclusion=True),))


async def _connect(url: str, name: str) -> MavlinkAdapter:
    adapter = MavlinkAdapter(name, url, clock=Clock(speedup=SPEEDUP))
    await adapter.connect(timeout_s=30)
    return adapter


async def _fly(adapter: MavlinkAdapter, mission: Mission, geofence: Geofence | None) -> tuple[Any, list[MissionEvent]]:
    events: list[MissionEvent] = []

    async def collect() -> None:
        async for event in adapter.mission_events():
            events.append(event)

    collector = asyncio.create_task(collect())
    await adapter.wait_ready(timeout_s=120)
    await adapter.start_mission(mission, geofence=geofence)
    result = await adapter.wait_mission(timeout_s=600)
    await asyncio.sleep(0.1)
    collector.cancel()
    return result, events


def _release_miss_m(frame: LocalFrame, mission: Mission, events: list[MissionEvent]) -> float:
    released = [e for e in events if e.what == "payload_released"]
    assert len(released) == 1, [e.what for e in events]
    drop = mission.steps[1]
    assert drop.latitude_deg is not None and drop.longitude_deg is not None
    assert released[0].latitude_deg is not None and released[0].longitude_deg is not None
    x1, y1 = frame.to_local(drop.latitude_deg, drop.longitude_deg)
    x2, y2 = frame.to_local(released[0].latitude_deg, released[0].longitude_deg)
    return math.hypot(x2 - x1, y2 - y1)


@pytest.mark.timeout(180)
async def test_arming_before_the_ekf_has_a_position_is_refused_with_arducopters_text(
    make_sitl_fleet: Callable[..., SitlFleet],
) -> None:
    """A fresh SITL drone refuses to arm: MAV_RESULT_FAILED plus ArduCopter's own 'Arm: ...' STATUSTEXT."""
    sitl = make_sitl_fleet(1, speedup=1, wait_armable=False)
    try:
        drone = await _connect(sitl.urls[0], "fresh")
        try:
            await drone.set_mode("GUIDED")  # ArduCopter accepts GUIDED while disarmed, even without position
            with pytest.raises(CommandRefused) as refusal:
                await drone.arm()
            assert refusal.value.result_code == mavlink.MAV_RESULT_FAILED
            assert refusal.value.result_name == "MAV_RESULT_FAILED"
            assert refusal.value.status_text and refusal.value.status_text.startswith("Arm: ")
            assert not drone.latest_state().armed  # type: ignore[union-attr]
        finally:
            await drone.close()
    finally:
        sitl.stop()


@pytest.mark.timeout(300)
async def test_three_sitl_drones_fly_deliveries_at_once(fleet: SitlFleet) -> None:
    """One process drives three SITL drones concurrently; each uploads, flies, releases near its drop, lands."""
    drones = [await _connect(url, f"sitl-{i}") for i, url in enumerate(fleet.urls)]
    try:
        frames = [_frame(fleet, i) for i in range(3)]
        missions = [_delivery(frames[i], f"concurrent-{i}", 60 * (i + 1), 40) for i in range(3)]
        fence = [_fence(frames[i], 300) for i in range(3)]
        outcomes = await asyncio.gather(*(_fly(d, m, f) for d, m, f in zip(drones, missions, fence, strict=True)))
        for i, (result, events) in enumerate(outcomes):
            assert result.outcome is MissionOutcome.SUCCEEDED, (i, result)
            assert _release_miss_m(frames[i], missions[i], events) < 5.0
            state = drones[i].latest_state()
            assert state is not None and not state.armed
    finally:
        for drone in drones:
            await drone.close()


@pytest.mark.timeout(240)
async def test_full_sortie_with_gripper_release_and_read_back(fleet: SitlFleet) -> None:
    """Fence and mission read back from ArduCopter as uploaded; gripper opens within a few metres of the drop."""
    frame = _frame(fleet, 0)
    drone = await _connect(fleet.urls[0], "sortie")
    try:
        mission = _delivery(frame, "sortie", 120, -50)
        result, events = await _fly(drone, mission, _fence(frame, 300))
        assert result.outcome is MissionOutcome.SUCCEEDED, result
        assert result.steps_completed == 3
        assert [e.step_index for e in events if e.what == "step_reached"] == [0, 1, 2]
        assert _release_miss_m(frame, mission, events) < 5.0
        assert len(await drone.download_items(MISSION)) == 7
        assert len(await drone.download_items(FENCE)) == 4
        assert any("Gripper" in text for text in drone.recent_status_texts())
        state = drone.latest_state()
        assert state is not None and not state.armed and state.relative_altitude_m < 0.5
    finally:
        await drone.close()


@pytest.mark.timeout(240)
async def test_fence_breach_triggers_arducopters_fence_action(fleet: SitlFleet) -> None:
    """A waypoint beyond the inclusion fence: ArduCopter switches to RTL itself (FENCE_ACTION=1), reported."""
    frame = _frame(fleet, 1)
    drone = await _connect(fleet.urls[1], "breach")
    try:
        result, events = await _fly(drone, _delivery(frame, "breach", 0, 250), _fence(frame, 60))
        failsafes = [e for e in events if e.what == "failsafe"]
        assert failsafes and "RTL" in failsafes[0].detail, [(e.what, e.detail) for e in events]
        assert result.outcome is MissionOutcome.FAILED
        assert not any(e.what == "payload_released" for e in events)
    finally:
        await drone.close()


@pytest.mark.timeout(240)
async def test_battery_failsafe_returns_the_drone(fleet: SitlFleet) -> None:
    """Voltage under BATT_LOW_VOLT in flight: BATT_FS_LOW_ACT=RTL sends the drone home; reported as a failsafe."""
    frame = _frame(fleet, 2)
    drone = await _connect(fleet.urls[2], "battery")
    events: list[MissionEvent] = []

    async def collect() -> None:
        async for event in drone.mission_events():
            events.append(event)

    collector = asyncio.create_task(collect())
    try:
        await drone.wait_ready(timeout_s=120)
        await drone.start_mission(_delivery(frame, "battery", 400, 0, altitude_m=30))
        await drone.set_parameter("BATT_LOW_VOLT", 13.0)  # the 12.6 V pack is now "low"
        result = await drone.wait_mission(timeout_s=600)
        failsafes = [e for e in events if e.what == "failsafe"]
        assert failsafes and ("RTL" in failsafes[0].detail or "LAND" in failsafes[0].detail)
        assert result.outcome is MissionOutcome.FAILED
    finally:
        collector.cancel()
        await drone.set_parameter("BATT_LOW_VOLT", 10.5)
        await drone.close()


@pytest.mark.timeout(120)
async def test_invalid_fence_is_refused_with_arducopters_code_and_text(fleet: SitlFleet) -> None:
    """An exclusion polygon with two vertices: MAV_MISSION_ERROR and 'Invalid vertex count (2)' from the firmware."""
    frame = _frame(fleet, 0)
    drone = await _connect(fleet.urls[0], "bad-fence")
    try:
        bad = Geofence(polygons=(FencePolygon((frame.to_wgs84(0, 0), frame.to_wgs84(50, 0)), inclusion=False),))
        with pytest.raises(CommandRefused) as refusal:
            await drone.upload_geofence(bad)
        assert refusal.value.result_code == mavlink.MAV_MISSION_ERROR
        assert "Invalid vertex count (2)" in (refusal.value.status_text or "")
    finally:
        await drone.close()


@pytest.mark.timeout(300)
async def test_drops_hold_for_the_decision_and_only_a_confirmed_one_descends_and_releases(fleet: SitlFleet) -> None:
    """Real ArduCopter holds on NAV_LOITER_UNLIM over each door; DO_SET_MISSION_CURRENT past the gripper keeps the
    parcel (it never descends there), to the descent releases it."""
    frame = _frame(fleet, 1)
    drone = await _connect(fleet.urls[1], "drop-hold")
    away, home = frame.to_wgs84(80, 0), frame.to_wgs84(80, 80)
    mission = Mission("drop-hold", (
        MissionStep(StepKind.TAKEOFF, altitude_m=20.0),
        MissionStep(StepKind.DELIVER, *away, altitude_m=20.0, order_id="away", confirm_release=True),
        MissionStep(StepKind.DELIVER, *home, altitude_m=20.0, order_id="home", confirm_release=True),
        MissionStep(StepKind.RETURN)))
    lowest_at_away_m = math.inf
    events: list[MissionEvent] = []

    async def decide() -> None:
        async for event in drone.mission_events():
            events.append(event)
            if event.what == "at_drop":
                await drone.confirm_drop("drop-hold", event.step_index, release=event.detail == "home")

    async def watch() -> None:
        nonlocal lowest_at_away_m
        async for state in drone.telemetry():
            if state.armed and math.dist(frame.to_local(state.latitude_deg, state.longitude_deg), (80, 0)) < 5:
                lowest_at_away_m = min(lowest_at_away_m, state.relative_altitude_m)

    try:
        await drone.wait_ready(timeout_s=120)
        tasks = [asyncio.create_task(decide()), asyncio.create_task(watch())]
        await asyncio.sleep(0)
        await drone.start_mission(mission, geofence=_fence(frame, 300))
        result = await drone.wait_mission(timeout_s=900)
        await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        assert result.outcome is MissionOutcome.SUCCEEDED, result
        assert [(e.step_index, e.detail) for e in events if e.what == "at_drop"] == [(1, "away"), (2, "home")]
        assert [e.step_index for e in events if e.what == "payload_released"] == [2]
        assert lowest_at_away_m > 15.0, lowest_at_away_m  # held at cruise height over the away door
    finally:
        await drone.close()
