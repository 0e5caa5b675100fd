"""Two missions sent to one flying drone at once: the second replaces the first, and the records say so.

Found on the safety days (seed 19035, every run): a pop-up zone appearing over a drone gave it two recalls in one
monitor pass (the zone reaction and the geofence check). Both `MissionControl.replace_mission` calls took the
running mission as the one they replaced before either had switched the drone, so the first replacement was never
marked replaced: it stayed 'running' in the store for good (drone-3-1749705850-14 and its like in the day's store).
"""

from __future__ import annotations

import asyncio

from test_dispatcher import HUB, _create, _settle, setup, world  # noqa: F401  (fixtures)
from test_zone_recall import SlowStartDrone

from fleet_manager.adapters.base import Geofence, Mission, MissionOutcome, MissionResult, MissionStep, StepKind
from fleet_manager.store import fleet as fleet_store


class SlowUploadDrone(SlowStartDrone):
    """Flies each mission until it is replaced or `land_now()`; a replacement takes a moment to go up (the upload)
    before the drone switches to it."""

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        await asyncio.sleep(0.05)
        assert self._result is not None
        self._result.set_result(MissionResult(self.missions[-1].mission_id, MissionOutcome.CANCELED))
        self.replaced.append(mission)
        self.missions.append(mission)
        self._result = asyncio.get_running_loop().create_future()

    def land_now(self) -> None:
        assert self._result is not None
        mission = self.missions[-1]
        self._result.set_result(MissionResult(mission.mission_id, MissionOutcome.SUCCEEDED,
                                              steps_completed=len(mission.steps)))


async def test_two_recalls_at_once_leave_one_mission_running_and_the_runner_on_it(setup, world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    database, hub, fake, _recipients, _clock = setup
    drone = SlowUploadDrone(fake)
    vehicle = hub.missions.fleet.get("drone-1")
    vehicle.adapter = drone
    _create(database, world, "ref-two-recalls")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    running = hub.missions.running_mission("drone-1")
    assert running is not None
    first = running.mission
    home = MissionStep(StepKind.RETURN)
    recalls = [Mission(f"drone-1-recall-{n}", (MissionStep(StepKind.GOTO, world.hub.latitude_deg,
                                                               world.hub.longitude_deg, altitude_m=60.0), home))
               for n in (1, 2)]
    await asyncio.gather(*(hub.missions.replace_mission(vehicle, recall) for recall in recalls))
    await asyncio.sleep(0.2)  # the runner has heard both ends by now
    assert hub.missions.running_mission("drone-1") is running, "the trip is not over: the drone flies"
    assert running.mission.mission_id == drone.missions[-1].mission_id
    drone.land_now()
    await _settle(hub)
    with database.read() as session:
        status = {m.mission_id: fleet_store.get_mission(session, mission_id=m.mission_id).status.value
                  for m in (first, *recalls)}
    assert status == {first.mission_id: "canceled", recalls[0].mission_id: "canceled",
                      recalls[1].mission_id: "succeeded"}
