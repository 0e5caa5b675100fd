"""Start-up reconciliation, verdict by verdict, over a real store with a scripted vehicle (the MAVLink
adoption itself is tested against mavsim with kill -9 in test_restart_reconcile.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_dispatcher import HUB, _create, _order, fake_drone_hub

from fleet_manager.adapters.base import AdoptionReport, HeldMission, Mission, MissionOutcome, MissionStep, StepKind
from fleet_manager.domain.orders import DeliveryMode, OrderStatus
from fleet_manager.errors import AdapterError
from fleet_manager.reconcile import UNSETTLED_PREFIX, reconcile_in_flight
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store.db import Database
from fleet_manager.world import load_world

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


@pytest.fixture
def hub_with_mission(tmp_path: Path, world) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A hub whose store has mission m-1 for drone-1 carrying one order, loaded (not yet departed)."""
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    hub, drone, _recipients, _clock = fake_drone_hub(database, world)
    order_id = _create(database, world, "ref-reconcile")
    target = world.addresses[5]
    mission = Mission("m-1", (MissionStep(StepKind.TAKEOFF, altitude_m=60.0),
                              MissionStep(StepKind.DELIVER, target.latitude_deg, target.longitude_deg,
                                          order_id=order_id),
                              MissionStep(StepKind.RETURN)))
    yield database, hub, drone, order_id, mission
    database.dispose()


async def _load(hub: Any, mission: Mission, order_id: str, *, depart: bool) -> None:
    await hub.lifecycle.load(mission=mission, vehicle_id="drone-1", mode=DeliveryMode.DRONE, order_ids=[order_id],
                             details={"mode": "drone"})
    if depart:
        await hub.lifecycle.depart(mission_id="m-1", vehicle_id="drone-1", mode=DeliveryMode.DRONE,
                                   order_ids=[order_id], eta_s={})


async def _reconcile(hub: Any) -> Any:
    return await reconcile_in_flight(database=hub.dispatcher.database, hub_id=HUB, fleet=hub.dispatcher.fleet,
                                     missions=hub.missions, lifecycle=hub.lifecycle)


def _mission(database: Database) -> fleet_store.MissionRecord:
    with database.read() as session:
        return fleet_store.get_mission(session, mission_id="m-1")


async def test_a_mission_that_ended_while_nobody_listened_is_settled_with_its_delivery(hub_with_mission) -> None:  # type: ignore[no-untyped-def]
    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=True)

    async def ended(asked: Mission) -> AdoptionReport:
        return AdoptionReport(asked.mission_id, HeldMission.ENDED, 3, (1,), MissionOutcome.SUCCEEDED, "landed")

    drone.adopt_mission = ended
    report = await _reconcile(hub)
    assert [m.verdict for m in report.missions] == ["settled"]
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    assert _mission(database).status is fleet_store.MissionStatus.SUCCEEDED


async def test_a_pending_mission_the_vehicle_does_not_hold_is_requeued(hub_with_mission) -> None:  # type: ignore[no-untyped-def]
    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=False)

    async def absent(asked: Mission) -> AdoptionReport:
        return AdoptionReport(asked.mission_id, HeldMission.ABSENT, detail="the drone holds another mission")

    drone.adopt_mission = absent
    report = await _reconcile(hub)
    assert [m.verdict for m in report.missions] == ["requeued"]
    assert _order(database, order_id).status is OrderStatus.READY
    record = _mission(database)
    assert record.status is fleet_store.MissionStatus.FAILED and "another mission" in record.details["reason"]


async def test_a_vehicle_that_cannot_report_its_mission_is_recalled_and_the_mission_settled(hub_with_mission) -> None:  # type: ignore[no-untyped-def]
    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=True)
    report = await _reconcile(hub)  # the fake has no adopt_mission
    assert [m.verdict for m in report.missions] == ["settled"]
    assert "return" in drone.commands
    assert _order(database, order_id).status is OrderStatus.READY
    assert "cannot be adopted" in _mission(database).details["reason"]


async def test_a_vehicle_that_cannot_be_asked_keeps_its_mission_and_gets_no_work(hub_with_mission) -> None:  # type: ignore[no-untyped-def]
    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=True)

    async def unreachable(asked: Mission) -> AdoptionReport:
        raise AdapterError("drone-1", "adopt_mission()", "no link")

    drone.adopt_mission = unreachable
    report = await _reconcile(hub)
    assert [m.verdict for m in report.missions] == ["unsettled"]
    vehicle = hub.dispatcher.fleet.get("drone-1")
    assert vehicle.out_of_service.startswith(UNSETTLED_PREFIX) and not vehicle.is_available()
    assert _order(database, order_id).status is OrderStatus.OUT_FOR_DELIVERY
    assert _mission(database).status is fleet_store.MissionStatus.RUNNING
