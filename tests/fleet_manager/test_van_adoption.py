"""A van keeps driving while the fleet manager is down; the next process adopts its mission over the van link.

The real van simulator (`sim_worlds.vans`, the driver-app protocol over TCP): one adapter starts a
two-drop mission and goes away after the first hand-over (a kill -9 of the service); a new adapter
asks the van, which still names the mission in its state: RUNNING from the step it reports, the
first drop already handed over, and the second hand-over and the result come to the new adapter,
without the mission being sent again. Once the van is idle, the same question says ABSENT.
"""

from __future__ import annotations

import asyncio

import pytest

from fleet_manager.adapters.base import HeldMission, Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.van_adapter import VanAdapter
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from sim_worlds.vans import VanFleetServer, build_vans

pytestmark = [pytest.mark.sim, pytest.mark.timeout(120)]


async def test_a_van_mission_is_adopted_by_the_next_process_and_followed_to_its_end() -> None:
    world = load_world("helsinki")
    server = VanFleetServer(build_vans(world, 1, stop_duration_s=60), Clock(start_s=0.0, speedup=60))
    port = await server.start()
    url = f"tcp:127.0.0.1:{port}"
    first, second = world.addresses[10], world.addresses[20]
    mission = Mission("m-van", (
        MissionStep(StepKind.DELIVER, first.latitude_deg, first.longitude_deg, order_id="o-1"),
        MissionStep(StepKind.DELIVER, second.latitude_deg, second.longitude_deg, order_id="o-2"),
        MissionStep(StepKind.RETURN)))
    before = VanAdapter("van-1", url)
    after = VanAdapter("van-1", url)
    try:
        await before.connect(timeout_s=10)
        await before.start_mission(mission)
        async for event in before.mission_events():  # the first hand-over, then the service "dies"
            if event.what == "parcel_handed_over" and event.detail == "o-1":
                break
        await before.close()

        await after.connect(timeout_s=10)
        events: list[str] = []

        async def collect() -> None:
            async for event in after.mission_events():
                events.append(f"{event.what}:{event.detail}")

        collector = asyncio.create_task(collect())
        await asyncio.sleep(0)
        report = await after.adopt_mission(mission)
        assert report.held is HeldMission.RUNNING, report
        assert report.handed_over_steps == (0,) and report.steps_completed >= 1, report
        result = await after.wait_mission(timeout_s=120)
        collector.cancel()
        assert result.mission_id == "m-van" and result.outcome is MissionOutcome.SUCCEEDED, result
        assert "parcel_handed_over:o-2" in events and "parcel_handed_over:o-1" not in events, events
        idle = await after.adopt_mission(mission)
        assert idle.held is HeldMission.ABSENT and "no mission" in idle.detail, idle
    finally:
        await after.close()
        await server.close()
