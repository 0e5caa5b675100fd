"""A drone lets a parcel go only once the recipient is known to take it (issue #19).

The drone used to descend and open its gripper, and only then did the fleet manager ask whether
anybody was home: `attempt_failed` was recorded for a parcel lying at the door. Now each drop holds
over the door (NAV_LOITER_UNLIM) while the fleet manager asks the recipient-presence service; present:
it jumps to the descent and the gripper opens; away: it jumps past the gripper and flies on with the
parcel. Flown through the dispatcher, the MAVLink adapter over UDP and the simulator, whose own
gripper log says what was released where.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fleet_manager.adapters.base import Mission, MissionStep, StepKind
from fleet_manager.adapters.mavlink_adapter import MavlinkAdapter
from fleet_manager.adapters.mavlink_codec import mission_plan
from fleet_manager.adapters.mavlink_link import mavlink
from fleet_manager.dispatcher import DispatcherConfig
from fleet_manager.domain.orders import Address, Order, Recipient
from fleet_manager.errors import CommandRefused
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.planning import FleetPlanner
from fleet_manager.runtime import build_hub
from fleet_manager.store import order_queries
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from mission_planner.clock import Clock
from mission_planner.geodesy import LocalFrame
from sim_worlds.mavsim.process import MavsimProcess

pytestmark = [pytest.mark.sim, pytest.mark.timeout(300)]
HUB = "hub-drop-test"
SPEEDUP = 10.0


class Recipients:
    """The backend's presence answers: references in `away` are not at home; every question is counted."""

    def __init__(self, away: set[str]) -> None:
        self.away = away
        self.asked: list[str] = []

    async def is_present(self, order: Order) -> bool:
        self.asked.append(order.reference or "")
        return order.reference not in self.away


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


@pytest.fixture
def mavsim(world, tmp_path: Path) -> Iterator[tuple[MavsimProcess, Path]]:  # type: ignore[no-untyped-def]
    log = tmp_path / "mavsim-events.jsonl"
    home = (world.hub.latitude_deg, world.hub.longitude_deg, 10.0)
    # the sim day's fence (polygons the fleet manager uploads + a ceiling), not the 150 m circle of the defaults
    params = {"FENCE_ENABLE": 1, "FENCE_TYPE": 5, "FENCE_ACTION": 1, "FENCE_ALT_MAX": 120}
    with MavsimProcess(1, speedup=SPEEDUP, home=home, params=params, extra_args=("--event-log", str(log))) as sim:
        yield sim, log


def _releases(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if '"payload_released"' in line]


def _create(database: Database, reference: str, latitude_deg: float, longitude_deg: float) -> str:
    with database.transaction() as session:
        order, _ = order_store.create_order(
            session,
            new=order_store.NewOrder(hub_id=HUB, recipient=Recipient("Aino"), reference=reference, weight_kg=1.0,
                                     destination=Address(latitude_deg, longitude_deg, street="door"),
                                     customs_cleared=True),
            actor="backend", at_s=1_749_704_400.0,
        )
    return order.order_id


def _path(database: Database, order_id: str) -> list[str]:
    with database.read() as session:
        return [e.to_status.value for e in order_queries.list_order_events(session, order_id=order_id)]


async def test_absent_recipient_keeps_the_parcel_aboard_present_one_gets_it(  # type: ignore[no-untyped-def]
    world, mavsim, tmp_path: Path
) -> None:
    """Away: attempt_failed and the gripper never opens at that door; home: released there, delivered."""
    sim, log = mavsim
    frame = world.frame
    hub_xy = (world.hub.x_m, world.hub.y_m)
    doors = sorted((a for a in world.addresses if 150.0 < math.dist(hub_xy, (a.x_m, a.y_m)) < 450.0),
                   key=lambda a: math.dist(hub_xy, (a.x_m, a.y_m)))
    away_door, home_door = doors[0], next(d for d in doors if math.dist((d.x_m, d.y_m), (doors[0].x_m,
                                                                                          doors[0].y_m)) > 60.0)
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    drone = MavlinkAdapter("drone-1", f"udpout:127.0.0.1:{sim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP))
    await drone.connect(timeout_s=30)
    try:
        await drone.wait_ready(timeout_s=300)
        clock = Clock(speedup=SPEEDUP)
        fleet = Fleet()
        fleet.add(HUB, drone, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=10.0,
                                             cruise_altitude_m=30.0, reserve_pct=25.0),
                  home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
        planner = FleetPlanner(frame, walk_graph=world.walk_graph, street_graph=world.street_graph, hub_xy=hub_xy)
        recipients = Recipients(away={"ref-away"})
        hub = build_hub(hub_id=HUB, database=database, fleet=fleet, world=world, clock=clock, recipients=recipients,
                        planner=planner, dispatcher_config=DispatcherConfig(hub_id=HUB, lookahead_s=math.inf))
        away_id = _create(database, "ref-away", away_door.latitude_deg, away_door.longitude_deg)
        home_id = _create(database, "ref-home", home_door.latitude_deg, home_door.longitude_deg)
        await hub.dispatcher.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180.0
        while not ({"attempt_failed"} <= set(_path(database, away_id)) and "delivered" in _path(database, home_id)):
            assert loop.time() < deadline, (_path(database, away_id), _path(database, home_id))
            if not hub.missions.running:
                await hub.dispatcher.cycle()
            await asyncio.sleep(0.2)
        while hub.missions.running:  # the drone flies home with the parcel nobody took
            assert loop.time() < deadline, "the drone's mission did not end"
            await asyncio.sleep(0.2)
    finally:
        await drone.close()
        database.dispose()
    releases = _releases(log)
    assert len(releases) == 1, releases
    released_at = frame.to_local(releases[0]["latitude_deg"], releases[0]["longitude_deg"])
    assert math.dist(released_at, (home_door.x_m, home_door.y_m)) < 15.0, released_at
    assert _path(database, home_id)[-2:] == ["out_for_delivery", "delivered"]
    assert "delivered" not in _path(database, away_id)
    assert recipients.asked.count("ref-home") == 1  # asked once, before the release; not again after it


@pytest.mark.timeout(180)
async def test_a_drop_decision_is_refused_once_a_failsafe_took_the_drone_away(mavsim) -> None:  # type: ignore[no-untyped-def]
    """A late 'release' for a drone that left its hold (RTL) is refused: it must not go back to the door."""
    sim, log = mavsim
    drone = MavlinkAdapter("drone-1", f"udpout:127.0.0.1:{sim.udp_ports[0]}", clock=Clock(speedup=SPEEDUP))
    await drone.connect(timeout_s=30)
    try:
        await drone.wait_ready(timeout_s=300)
        state = drone.latest_state()
        assert state is not None
        frame = LocalFrame.at(state.latitude_deg, state.longitude_deg)
        door = frame.to_wgs84(60.0, 0.0)
        mission = Mission("m-hold", (MissionStep(StepKind.TAKEOFF, altitude_m=15.0),
                                     MissionStep(StepKind.DELIVER, *door, altitude_m=15.0, order_id="o-1",
                                                 confirm_release=True),
                                     MissionStep(StepKind.RETURN)))
        plan = mission_plan(mission)
        hold = plan.drop_hold_seqs[0]
        assert plan.items[hold].command == mavlink.MAV_CMD_NAV_LOITER_UNLIM
        events = drone.mission_events()
        await drone.start_mission(mission)
        at_drop = await asyncio.wait_for(_next(events, "at_drop"), timeout=120)
        assert at_drop.step_index == 1 and at_drop.detail == "o-1"
        await asyncio.sleep(1.0)  # it holds: no release while nobody has answered
        assert _releases(log) == []
        await drone.return_home()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (drone.latest_state() is None or drone.latest_state().mode != "RTL"):  # type: ignore[union-attr]
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        with pytest.raises(CommandRefused, match="not holding at the drop"):
            await drone.confirm_drop("m-hold", 1, release=True)
        await drone.wait_mission(timeout_s=600)
    finally:
        await drone.close()
    assert _releases(log) == []


async def _next(events: Any, what: str) -> Any:
    async for event in events:
        if event.what == what:
            return event
    raise AssertionError(f"no {what} event")
