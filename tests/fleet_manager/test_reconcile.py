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


def _record_telemetry(database: Database, *, mission_id: str, mission_step: int | None) -> None:
    """What the telemetry recorder stored before the crash: drone-1 on `mission_id` at `mission_step`."""
    from mission_planner.model import VehicleKind

    with database.transaction() as session:
        fleet_store.upsert_vehicle(session, vehicle_id="drone-1", hub_id=HUB, kind=VehicleKind.DRONE, at_s=0.0)
        fleet_store.update_vehicle_state(session, vehicle_id="drone-1", stamp_s=1_749_704_500.0,
                                         state={"mission_id": mission_id, "mission_step": mission_step,
                                                "armed": True, "relative_altitude_m": 60.0})


async def _absent(asked: Mission) -> AdoptionReport:
    return AdoptionReport(asked.mission_id, HeldMission.ABSENT, detail="the drone holds no mission (rebooted)")


async def test_a_departed_drone_without_its_mission_past_the_drop_in_the_record_delivered_it(hub_with_mission) -> None:  # type: ignore[no-untyped-def]
    """The last stored telemetry shows the drone beyond its DELIVER step: handed over, not flown again."""
    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=True)
    _record_telemetry(database, mission_id="m-1", mission_step=2)
    drone.adopt_mission = _absent
    report = await _reconcile(hub)
    assert [m.verdict for m in report.missions] == ["settled"], report
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    assert _mission(database).status is fleet_store.MissionStatus.FAILED


@pytest.mark.parametrize("recorded", [None, 1], ids=["no-telemetry", "before-the-drop"])
async def test_a_departed_drone_without_its_mission_and_no_proof_puts_the_parcel_in_review(  # type: ignore[no-untyped-def]
        hub_with_mission, tmp_path: Path, recorded: int | None) -> None:
    """Unsure whether the drop happened: needs_review with the reason and a webhook; never ready (flown twice);
    the operator then confirms over the API."""
    from fastapi.testclient import TestClient
    from fm_helpers import API_KEYS_ENV, auth

    from fleet_manager.api.app import create_app
    from fleet_manager.config import Settings
    from fleet_manager.store import order_queries

    database, hub, drone, order_id, mission = hub_with_mission
    await _load(hub, mission, order_id, depart=True)
    if recorded is not None:
        _record_telemetry(database, mission_id="m-1", mission_step=recorded)
    drone.adopt_mission = _absent
    report = await _reconcile(hub)
    assert [(m.verdict, m.order_ids) for m in report.missions] == [("review", (order_id,))], report
    assert _order(database, order_id).status is OrderStatus.NEEDS_REVIEW
    with database.read() as session:
        last = order_queries.list_order_events(session, order_id=order_id)[-1]
        events = outbox_events(session)
    assert "no longer holds mission m-1" in last.reason and "unknown" in last.reason, last.reason
    assert any(e["data"].get("to_status") == "needs_review" for e in events), events
    assert _mission(database).status is fleet_store.MissionStatus.FAILED
    await hub.dispatcher.cycle()
    assert drone.missions == [] and _order(database, order_id).status is OrderStatus.NEEDS_REVIEW

    settings = Settings(database_url=hub.dispatcher.database.url.render_as_string(hide_password=False),
                        api_keys=API_KEYS_ENV, hub_id=HUB)  # type: ignore[arg-type]
    with TestClient(create_app(settings, database=database)) as client:
        listed = client.get("/v1/delivery-reviews", headers=auth("viewer"))
        assert [o["order_id"] for o in listed.json()] == [order_id], listed.text
        refused = client.post(f"/v1/orders/{order_id}/delivery-review", headers=auth("viewer"),
                              json={"delivered": True, "reason": "photo"})
        assert refused.status_code == 403, refused.text
        decided = client.post(f"/v1/orders/{order_id}/delivery-review", headers=auth("operator"),
                              json={"delivered": recorded is None, "reason": "recipient confirmed by phone"})
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == ("delivered" if recorded is None else "ready")
        again = client.post(f"/v1/orders/{order_id}/delivery-review", headers=auth("operator"),
                            json={"delivered": True, "reason": "twice"})
        assert again.status_code == 409, again.text


def outbox_events(session: Any) -> list[dict[str, Any]]:
    """Every event in the outbox (type and data)."""
    from sqlalchemy import select

    from fleet_manager.store.models import OutboxRow

    return [{"type": row.type, "data": row.data, "webhook": row.webhook} for row in session.scalars(select(OutboxRow))]


@pytest.mark.parametrize("launches", [False, True], ids=["plain-route", "launches-a-drone"])
async def test_a_van_is_adopted_unless_its_sortie_launches_vehicles(hub_with_mission, world, launches: bool) -> None:  # type: ignore[no-untyped-def]
    """A van that reports the mission is followed; a van sortie with launch/recovery stops (WAIT) is recalled,
    since the choreography of the vehicles it carries is not rebuilt after a restart."""
    from test_dispatcher import FakeVehicle

    from fleet_manager.fleet import VehicleProfile
    from mission_planner.model import VehicleKind

    database, hub, _drone, order_id, _mission_unused = hub_with_mission
    van = FakeVehicle("van-1", VehicleKind.VAN, world.hub.latitude_deg, world.hub.longitude_deg)
    hub.dispatcher.fleet.add(HUB, van, VehicleProfile(max_payload_kg=600.0, battery_wh=60_000.0, speed_m_s=8.0,
                                                      capacity_parcels=120),
                             home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    target = world.addresses[5]
    wait = MissionStep(StepKind.WAIT, target.latitude_deg, target.longitude_deg, duration_s=60.0)
    stops = (wait,) if launches else ()
    mission = Mission("m-1", (*stops, MissionStep(StepKind.DELIVER, target.latitude_deg, target.longitude_deg,
                                                  order_id=order_id), MissionStep(StepKind.RETURN)))
    await hub.lifecycle.load(mission=mission, vehicle_id="van-1", mode=DeliveryMode.VAN, order_ids=[order_id],
                             details={"mode": "van"})
    await hub.lifecycle.depart(mission_id="m-1", vehicle_id="van-1", mode=DeliveryMode.VAN, order_ids=[order_id],
                               eta_s={})

    async def driving(asked: Mission) -> AdoptionReport:
        return AdoptionReport(asked.mission_id, HeldMission.RUNNING, 0, (), detail="the van drives it, at step 0")

    van.adopt_mission = driving
    report = await _reconcile(hub)
    if launches:
        assert [m.verdict for m in report.missions] == ["settled"] and "return" in van.commands, report
        assert _order(database, order_id).status is OrderStatus.READY
    else:
        assert [m.verdict for m in report.missions] == ["adopted"] and "return" not in van.commands, report
        assert hub.missions.running_mission("van-1") is not None
        assert _order(database, order_id).status is OrderStatus.OUT_FOR_DELIVERY
