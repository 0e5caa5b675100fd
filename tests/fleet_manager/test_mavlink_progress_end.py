"""A started MAVLink mission ends at any disarmed heartbeat, not only at a change from armed (pure logic, fakes).

A drone a failsafe lands during a radio drop may be heard disarmed first after its run started (the take-off
and the switch to AUTO were confirmed, then the link dropped): no armed-to-disarmed change ever comes, and the
run stayed open until the mission timeout, its parcels claimed (the kind of stuck mission safety day 35 showed).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from fleet_manager.adapters.base import Mission, MissionEvent, MissionOutcome, MissionStep, StepKind
from fleet_manager.adapters.fanout import Fanout
from fleet_manager.adapters.mavlink_codec import COPTER_MODES, mission_plan
from fleet_manager.adapters.mavlink_progress import MissionProgress
from fleet_manager.adapters.mavlink_telemetry import TelemetryData
from mission_planner.clock import Clock

AUTO = COPTER_MODES["AUTO"]


def _progress(telemetry: TelemetryData, events: Fanout[MissionEvent]) -> MissionProgress:
    session = SimpleNamespace(vehicle_id="drone-1", texts_within=lambda _s: [])
    commands = SimpleNamespace(commanded_mode=AUTO)
    return MissionProgress(session, telemetry, commands, events, Clock())  # type: ignore[arg-type]


async def test_a_started_run_first_heard_disarmed_ends_once() -> None:
    """Heard disarmed (never armed since the start) three times: the run ends FAILED once, with the step it got to."""
    telemetry = TelemetryData(custom_mode=AUTO, armed=False, mission_seq=1)
    events: Fanout[MissionEvent] = Fanout(16)
    progress = _progress(telemetry, events)
    mission = Mission("m-1", (MissionStep(StepKind.TAKEOFF, altitude_m=30.0),
                              MissionStep(StepKind.GOTO, 60.17, 24.94, altitude_m=30.0),
                              MissionStep(StepKind.RETURN)))
    run = progress.new_run(mission, mission_plan(mission, home=(60.16, 24.93, 0.0)))
    run.started = True
    progress.run = run
    ended: list[MissionEvent] = []

    async def follow() -> None:
        async for event in events.subscribe():
            if event.what == "mission_ended":
                ended.append(event)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0)
    for _ in range(3):
        progress.on_heartbeat(was_armed=False, old_mode=AUTO)
    result = await asyncio.wait_for(asyncio.shield(run.result), 5.0)
    await asyncio.sleep(1.5)  # any second end would have come by now
    follower.cancel()
    assert result.outcome is MissionOutcome.FAILED and "disarmed at step 0" in result.error_msg
    assert len(ended) == 1


async def test_a_run_heard_armed_does_not_end() -> None:
    """Armed heartbeats of a started run end nothing (the check is for a drone standing disarmed)."""
    telemetry = TelemetryData(custom_mode=AUTO, armed=True, mission_seq=1)
    progress = _progress(telemetry, Fanout(16))
    mission = Mission("m-2", (MissionStep(StepKind.TAKEOFF, altitude_m=30.0), MissionStep(StepKind.RETURN)))
    run = progress.new_run(mission, mission_plan(mission, home=(60.16, 24.93, 0.0)))
    run.started = True
    progress.run = run
    progress.on_heartbeat(was_armed=True, old_mode=AUTO)
    await asyncio.sleep(1.5)
    assert not run.result.done()
