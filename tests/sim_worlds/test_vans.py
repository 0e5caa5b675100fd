"""Simulated vans driven through the van adapter over the real JSON-over-TCP protocol."""

from __future__ import annotations

import asyncio
import math

import pytest

from fleet_manager.adapters.base import Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.van_adapter import VanAdapter
from fleet_manager.errors import CommandRefused
from mission_planner.clock import Clock
from sim_worlds.vans import VanFleetServer, build_vans
from sim_worlds.world import load_world

pytestmark = [pytest.mark.sim, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def _distance_m(world, lat1: float, lon1: float, lat2: float, lon2: float) -> float:  # type: ignore[no-untyped-def]
    x1, y1 = world.frame.to_local(lat1, lon1)
    x2, y2 = world.frame.to_local(lat2, lon2)
    return math.hypot(x2 - x1, y2 - y1)


async def test_van_delivers_and_returns(world) -> None:  # type: ignore[no-untyped-def]
    """A van drives to a recipient, hands the parcel over, returns to the hub; odometer and battery move."""
    server = VanFleetServer(build_vans(world, 1, stop_duration_s=60), Clock(start_s=0.0, speedup=300))
    port = await server.start()
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=5)
        start = adapter.latest_state()
        assert start is not None and start.mode == "IDLE"
        target = world.addresses[10]
        events: list[str] = []

        async def collect() -> None:
            async for event in adapter.mission_events():
                events.append(f"{event.what}:{event.detail}")

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0)
        mission = Mission(
            "m-1",
            (
                MissionStep(StepKind.DELIVER, target.latitude_deg, target.longitude_deg, order_id="o-1"),
                MissionStep(StepKind.RETURN),
            ),
        )
        await adapter.start_mission(mission)
        result = await adapter.wait_mission(timeout_s=30)
        collector.cancel()
        assert result.outcome is MissionOutcome.SUCCEEDED and result.steps_completed == 2
        assert "parcel_handed_over:o-1" in events
        end = adapter.latest_state()
        assert end is not None
        assert _distance_m(world, end.latitude_deg, end.longitude_deg, start.latitude_deg, start.longitude_deg) < 5
        assert adapter.odometer_m > 100
        assert end.battery_remaining_wh is not None and start.battery_remaining_wh is not None
        assert end.battery_remaining_wh < start.battery_remaining_wh
    finally:
        await adapter.close()
        await server.close()


async def test_van_refuses_flying_and_pauses(world) -> None:  # type: ignore[no-untyped-def]
    """A van refuses TAKEOFF with its own reason; pause holds it still; resume continues."""
    server = VanFleetServer(build_vans(world, 1), Clock(start_s=0.0, speedup=20))
    port = await server.start()
    adapter = VanAdapter("van-1", f"tcp:127.0.0.1:{port}")
    try:
        await adapter.connect(timeout_s=5)
        with pytest.raises(CommandRefused, match="not something a van does"):
            await adapter.start_mission(Mission("m-x", (MissionStep(StepKind.TAKEOFF, altitude_m=30),)))
        far = max(world.addresses, key=lambda b: math.hypot(b.x_m, b.y_m))
        await adapter.start_mission(Mission("m-2", (MissionStep(StepKind.GOTO, far.latitude_deg, far.longitude_deg),)))
        await asyncio.sleep(0.6)
        await adapter.pause()
        await asyncio.sleep(0.4)
        held = adapter.latest_state()
        await asyncio.sleep(0.6)
        still = adapter.latest_state()
        assert held is not None and still is not None and still.mode == "PAUSED"
        assert _distance_m(world, held.latitude_deg, held.longitude_deg, still.latitude_deg, still.longitude_deg) < 1
        await adapter.resume()
        await asyncio.sleep(0.6)
        moved = adapter.latest_state()
        assert moved is not None
        assert _distance_m(world, still.latitude_deg, still.longitude_deg, moved.latitude_deg, moved.longitude_deg) > 5
    finally:
        await adapter.close()
        await server.close()


async def test_unknown_van_is_refused(world) -> None:  # type: ignore[no-untyped-def]
    """Saying hello with an unknown id gets no telemetry: connect times out naming the van."""
    server = VanFleetServer(build_vans(world, 1), Clock())
    port = await server.start()
    adapter = VanAdapter("van-9", f"tcp:127.0.0.1:{port}")
    try:
        with pytest.raises(Exception, match="van-9"):
            await adapter.connect(timeout_s=1)
    finally:
        await adapter.close()
        await server.close()
