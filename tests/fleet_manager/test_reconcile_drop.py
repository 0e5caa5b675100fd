"""A restart between a drone's release at the door and the hand-over write (issue #19).

The mission runner records `releasing_step` in the mission's details before it jumps the drone from its
hold over the door to the descent. A process that dies after that jump, before the hand-over is written,
leaves an order `out_for_delivery` whose parcel is on the doorstep. The next process reconciles the drone
(MAVLink over UDP to mavsim): released and recorded, it is delivered on the record (asking the recipient
again could turn a parcel lying at the door into `attempt_failed`); a drone still holding over the door
never got the jump, so the recipient is asked anew and that answer alone counts.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_drop_presence import Recipients, _create, _path, _releases

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.domain.orders import DeliveryMode
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.reconcile import reconcile_in_flight
from fleet_manager.runtime import HubServices, build_hub
from fleet_manager.store.db import Database
from fleet_manager.world import World, load_world
from mission_planner.clock import Clock
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
HUB = "hub-drop-test"  # the hub of test_drop_presence's orders
SPEEDUP = 10.0
REFERENCE = "ref-door"


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("helsinki")


@pytest.fixture
def mavsim(world: World, tmp_path: Path) -> Iterator[tuple[MavsimProcess, Path]]:
    log = tmp_path / "mavsim-events.jsonl"
    home = (world.hub.latitude_deg, world.hub.longitude_deg, 10.0)
    with MavsimProcess(1, speedup=SPEEDUP, home=home, extra_args=("--event-log", str(log))) as sim:
        yield sim, log


async def _process(world: World, database: Database, url: str, recipients: Recipients) -> tuple[HubServices,
                                                                                                 MavlinkAdapter]:
    """One fleet-manager process: its own link to the drone and its own hub services on the shared store."""
    drone = MavlinkAdapter("drone-1", url, clock=Clock(speedup=SPEEDUP))
    await drone.connect(timeout_s=30)
    fleet = Fleet()
    fleet.add(HUB, drone, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=10.0,
                                         cruise_altitude_m=30.0, reserve_pct=25.0),
              home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    hub = build_hub(hub_id=HUB, database=database, fleet=fleet, world=world, clock=Clock(speedup=SPEEDUP),
                    recipients=recipients)
    return hub, drone


async def _until(condition, what: str, timeout_s: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("released", [True, False], ids=["released-then-crash", "crash-while-holding"])
async def test_a_restart_delivers_a_recorded_release_and_asks_only_at_a_door_still_held(  # type: ignore[no-untyped-def]
    world, mavsim, tmp_path: Path, released: bool
) -> None:
    sim, log = mavsim
    hub_xy = (world.hub.x_m, world.hub.y_m)
    door = min((a for a in world.addresses if 150.0 < math.dist(hub_xy, (a.x_m, a.y_m)) < 450.0),
               key=lambda a: math.dist(hub_xy, (a.x_m, a.y_m)))
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    url = f"udpout:127.0.0.1:{sim.udp_ports[0]}"
    order_id = _create(database, REFERENCE, door.latitude_deg, door.longitude_deg)
    mission = Mission("m-door", (MissionStep(StepKind.TAKEOFF, altitude_m=30.0),
                                 MissionStep(StepKind.DELIVER, door.latitude_deg, door.longitude_deg, altitude_m=30.0,
                                             order_id=order_id, confirm_release=True),
                                 MissionStep(StepKind.RETURN)))
    # The first process: the recipient is at home when the drone reaches the door.
    first, first_drone = await _process(world, database, url, Recipients(away=set()))
    try:
        await first_drone.wait_ready(timeout_s=300)
        await first.lifecycle.load(mission=mission, vehicle_id="drone-1", mode=DeliveryMode.DRONE,
                                   order_ids=[order_id], details={"mode": "drone"})
        events = first_drone.mission_events()
        await first_drone.start_mission(mission)
        await first.lifecycle.depart(mission_id="m-door", vehicle_id="drone-1", mode=DeliveryMode.DRONE,
                                     order_ids=[order_id], eta_s={})
        async for event in events:
            if event.what == "at_drop":
                break
        if released:  # what the runner does once the recipient said yes: record, then jump to the descent
            assert await first.lifecycle.recipient_takes(order_id)
            await first.lifecycle.note_mission(mission_id="m-door", details={"releasing_step": 1})
            await first_drone.confirm_drop("m-door", 1, release=True)
            await _until(lambda: _releases(log), "the gripper opening at the door")
    finally:
        await first_drone.close()  # the process is gone: no hand-over was written
    assert _path(database, order_id)[-1] == "out_for_delivery"

    # The second process: the recipient has gone in meanwhile.
    recipients = Recipients(away={REFERENCE})
    second, drone = await _process(world, database, url, recipients)
    try:
        report = await reconcile_in_flight(database=database, hub_id=HUB, fleet=second.dispatcher.fleet,
                                           missions=second.missions, lifecycle=second.lifecycle)
        assert [m.verdict for m in report.missions] == ["adopted"], report
        final = "delivered" if released else "attempt_failed"
        await _until(lambda: _path(database, order_id)[-1] == final, f"the order {final}")
        await _until(lambda: not second.missions.running, "the adopted mission's end", timeout_s=180.0)
    finally:
        await drone.close()
        database.dispose()
    path = _path(database, order_id)
    assert path.count("out_for_delivery") == 1 and path[-1] == final, path
    assert recipients.asked == ([] if released else [REFERENCE])  # asked only where nothing was let go yet
    assert len(_releases(log)) == (1 if released else 0)  # the parcel nobody took flies home aboard
