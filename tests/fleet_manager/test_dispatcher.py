"""Dispatcher: order lifecycle driven through a real SQLite store, vehicles played by an in-memory fake.

The fake adapter is only for the dispatcher's pure logic (which order goes where, which status
follows which vehicle report); the adapters themselves are tested over their real protocols.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet_manager.adapters.base import (
    Geofence,
    LinkStatus,
    Mission,
    MissionEvent,
    MissionOutcome,
    MissionResult,
    StepKind,
    VehicleAdapter,
    VehicleKind,
    VehicleState,
)
from fleet_manager.customs_forecast import CustomsForecastConfig, CustomsForecaster
from fleet_manager.dispatcher import DispatcherConfig
from fleet_manager.domain.orders import Address, Order, OrderStatus, Recipient
from fleet_manager.fleet import Fleet, VehicleProfile
from fleet_manager.operator_commands import AdapterCommander
from fleet_manager.planning import FleetPlanner
from fleet_manager.runtime import HubServices, build_hub
from fleet_manager.store import fleet as fleet_store
from fleet_manager.store import lockers as locker_store
from fleet_manager.store import order_queries
from fleet_manager.store import orders as order_store
from fleet_manager.store.db import Database
from fleet_manager.world import load_world
from mission_planner.clock import Clock

pytestmark = pytest.mark.timeout(60)
HUB = "hub-test"


class FakeVehicle(VehicleAdapter):
    """Flies every mission instantly: one release event per DELIVER step, then SUCCEEDED (or a scripted failure)."""

    def __init__(self, vehicle_id: str, kind: VehicleKind, lat: float, lon: float) -> None:
        self.vehicle_id = vehicle_id
        self.kind = kind
        self.state = VehicleState(vehicle_id, kind, 0.0, lat, lon, battery_remaining_pct=100.0,
                                  battery_remaining_wh=500.0, link=LinkStatus.CONNECTED)
        self.missions: list[Mission] = []
        self.commands: list[str] = []
        self.fly_targets: list[tuple[float, float, float]] = []  # fly_to's (lat, lon, altitude above home)
        self.fail_before_delivery = False
        self.silent = False  # never reports again (lost link)
        self._events: list[asyncio.Queue[MissionEvent | None]] = []
        self._result: asyncio.Future[MissionResult] | None = None

    async def connect(self, timeout_s: float = 30.0) -> None:
        return None

    async def close(self) -> None:
        for queue in self._events:
            queue.put_nowait(None)

    def latest_state(self) -> VehicleState | None:
        return self.state

    async def telemetry(self) -> AsyncIterator[VehicleState]:
        yield self.state

    async def mission_events(self) -> AsyncIterator[MissionEvent]:
        queue: asyncio.Queue[MissionEvent | None] = asyncio.Queue()
        self._events.append(queue)
        while (item := await queue.get()) is not None:
            yield item

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        return None

    async def start_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        self.missions.append(mission)
        self._result = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(self._fly, mission)

    async def replace_mission(self, mission: Mission, *, geofence: Geofence | None = None) -> None:
        await self.start_mission(mission, geofence=geofence)

    def _fly(self, mission: Mission) -> None:
        assert self._result is not None
        if self.silent:
            return
        if self.fail_before_delivery:
            self._result.set_result(MissionResult(mission.mission_id, MissionOutcome.FAILED, error_msg="motor fault"))
            return
        for index, step in enumerate(mission.steps):
            if step.kind is StepKind.DELIVER:
                event = MissionEvent(mission.mission_id, 0.0, index, "payload_released", step.order_id or "",
                                     step.latitude_deg, step.longitude_deg)
                for queue in self._events:
                    queue.put_nowait(event)
        asyncio.get_running_loop().call_later(
            0.05, self._result.set_result,
            MissionResult(mission.mission_id, MissionOutcome.SUCCEEDED, steps_completed=len(mission.steps)),
        )

    async def wait_mission(self, timeout_s: float) -> MissionResult:
        assert self._result is not None
        return await asyncio.wait_for(asyncio.shield(self._result), timeout_s)

    async def pause(self) -> None:
        self.commands.append("pause")

    async def fly_to(self, latitude_deg: float, longitude_deg: float, altitude_m: float) -> None:
        self.commands.append("fly_to")
        self.fly_targets.append((latitude_deg, longitude_deg, altitude_m))

    async def resume(self) -> None:
        self.commands.append("resume")

    async def return_home(self) -> None:
        self.commands.append("return")

    async def land(self) -> None:
        self.commands.append("land")


class Recipients:
    """Scripted presence answers (default: at home)."""

    def __init__(self) -> None:
        self.absent: set[str] = set()

    async def is_present(self, order: Order) -> bool:
        return order.reference not in self.absent


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    return load_world("helsinki")


def fake_drone_hub(database: Database, world):  # type: ignore[no-untyped-def]
    """One hub with one FakeVehicle drone at the hub: (hub services, drone, recipients, clock)."""
    clock = Clock(start_s=1_749_704_400.0, speedup=1.0)
    drone = FakeVehicle("drone-1", VehicleKind.DRONE, world.hub.latitude_deg, world.hub.longitude_deg)
    fleet = Fleet()
    fleet.add(HUB, drone, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0,
                                         cruise_altitude_m=60.0, reserve_pct=25.0),
              home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    planner = FleetPlanner(world.frame, walk_graph=world.walk_graph, street_graph=world.street_graph,
                           hub_xy=(world.hub.x_m, world.hub.y_m))
    recipients = Recipients()
    hub = build_hub(hub_id=HUB, database=database, fleet=fleet, world=world, clock=clock, recipients=recipients,
                    planner=planner, dispatcher_config=DispatcherConfig(hub_id=HUB, lookahead_s=math.inf))
    return hub, drone, recipients, clock


@pytest.fixture
def setup(tmp_path: Path, world):  # type: ignore[no-untyped-def]
    database = Database(f"sqlite:///{tmp_path / 'fm.db'}")
    database.migrate()
    with database.transaction() as session:
        for locker in world.lockers:
            locker_store.upsert_locker(session, locker_id=locker.site_id, hub_id=HUB, name=locker.name,
                                       address=locker.name, latitude_deg=locker.latitude_deg,
                                       longitude_deg=locker.longitude_deg)
    hub, drone, recipients, clock = fake_drone_hub(database, world)
    yield database, hub, drone, recipients, clock
    database.dispose()


def _create(database: Database, world, reference: str, *, cleared: bool = True, weight_kg: float = 1.0,  # type: ignore[no-untyped-def]
            hub_id: str = HUB) -> str:
    target = world.addresses[5]
    with database.transaction() as session:
        order, _ = order_store.create_order(
            session,
            new=order_store.NewOrder(
                hub_id=hub_id, recipient=Recipient("Aino"), reference=reference, weight_kg=weight_kg,
                destination=Address(target.latitude_deg, target.longitude_deg, street=target.address),
                customs_cleared=cleared,
            ),
            actor="backend", at_s=1_749_704_400.0,
        )
    return order.order_id


def _order(database: Database, order_id: str) -> Order:
    with database.read() as session:
        return order_store.get_order(session, order_id=order_id)


async def _settle(hub: HubServices, timeout_s: float = 30.0) -> None:
    # A deadline, not a count of polls: under CI load a runner can take several seconds of wall time
    # (100 polls of 20 ms failed 3 runs in 15 on a busy 2-core machine).
    deadline = asyncio.get_running_loop().time() + timeout_s
    while hub.missions.running:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"mission runner did not finish within {timeout_s} s")
        await asyncio.sleep(0.02)


async def test_ready_order_is_flown_and_delivered(setup, world) -> None:  # type: ignore[no-untyped-def]
    """A cleared order goes planned -> assigned -> loaded -> out_for_delivery -> delivered, by the dispatcher."""
    database, hub, drone, _recipients, _clock = setup
    order_id = _create(database, world, "ref-1")
    await hub.dispatcher.start()
    sorties = await hub.dispatcher.cycle()
    assert [s.order_ids for s in sorties] == [(order_id,)]
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    with database.read() as session:
        history = order_queries.list_order_events(session, order_id=order_id)
        missions = fleet_store.list_missions(session, hub_ids=[HUB])
    path = [e.to_status.value for e in history]
    assert path[-5:] == ["planned", "assigned", "loaded", "out_for_delivery", "delivered"]
    assert {e.actor for e in history[-5:]} == {"dispatcher"}
    assert missions[0].status is fleet_store.MissionStatus.SUCCEEDED
    mission = drone.missions[0]
    assert mission.steps[0].kind is StepKind.TAKEOFF and mission.steps[-1].kind is StepKind.RETURN


async def test_uncleared_parcel_is_never_dispatched(setup, world) -> None:  # type: ignore[no-untyped-def]
    """A parcel waiting for customs stays put however idle the fleet is."""
    database, hub, drone, _recipients, _clock = setup
    order_id = _create(database, world, "ref-customs", cleared=False)
    await hub.dispatcher.start()
    assert await hub.dispatcher.cycle() == []
    assert drone.missions == []
    assert _order(database, order_id).status is OrderStatus.AWAITING_CUSTOMS


async def test_absent_recipient_then_reschedule_then_locker(setup, world) -> None:  # type: ignore[no-untyped-def]
    """Recipient absent -> attempt_failed; unanswered -> rescheduled; absent again -> nearest locker."""
    database, hub, _drone, recipients, clock = setup
    recipients.absent.add("ref-away")
    order_id = _create(database, world, "ref-away")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.ATTEMPT_FAILED
    later_s = clock.now() + hub.lifecycle.policy.answer_grace_s + 1
    await hub.lifecycle.follow_up_failed_attempts(busy_vehicle_ids=frozenset(), now_s=later_s)
    assert _order(database, order_id).status is OrderStatus.RESCHEDULED
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.ATTEMPT_FAILED
    await hub.lifecycle.follow_up_failed_attempts(busy_vehicle_ids=frozenset(), now_s=later_s + 10_000)
    order = _order(database, order_id)
    assert order.status is OrderStatus.DIVERTED_TO_LOCKER and order.locker_id is not None
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.DELIVERED_TO_LOCKER


async def test_vehicle_failure_returns_parcel_for_reassignment(setup, world) -> None:  # type: ignore[no-untyped-def]
    """A mission that fails before the drop brings the parcel back; another vehicle (not the failed one) takes it."""
    database, hub, drone, _recipients, _clock = setup
    drone.fail_before_delivery = True
    order_id = _create(database, world, "ref-fail")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    with database.read() as session:
        path = [e.to_status.value for e in order_queries.list_order_events(session, order_id=order_id)]
    assert path[-2:] == ["returned_to_hub", "ready"]
    assert await hub.dispatcher.cycle() == []  # not straight back to the drone that failed it
    spare = FakeVehicle("drone-2", VehicleKind.DRONE, world.hub.latitude_deg, world.hub.longitude_deg)
    hub.dispatcher.fleet.add(HUB, spare, hub.dispatcher.fleet.get("drone-1").profile,
                         home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    order = _order(database, order_id)
    assert order.status is OrderStatus.DELIVERED and order.vehicle_id == "drone-2"


async def test_too_heavy_for_drone_waits_for_another_mode(setup, world) -> None:  # type: ignore[no-untyped-def]
    """A 12 kg parcel is not given to a 2.5 kg drone."""
    database, hub, drone, _recipients, _clock = setup
    _create(database, world, "ref-heavy", weight_kg=12.0)
    await hub.dispatcher.start()
    assert await hub.dispatcher.cycle() == []
    assert drone.missions == []


async def test_operator_commands_reach_the_adapter(setup) -> None:  # type: ignore[no-untyped-def]
    """pause/resume/return/land queued through the store are executed on the vehicle's adapter."""
    database, hub, drone, _recipients, clock = setup
    await hub.dispatcher.start()
    for kind in (fleet_store.CommandKind.PAUSE, fleet_store.CommandKind.RESUME, fleet_store.CommandKind.RETURN,
                 fleet_store.CommandKind.LAND):
        with database.transaction() as session:
            command = fleet_store.request_command(session, vehicle_id="drone-1", command=kind, requested_by="op",
                                                  reason="test", at_s=clock.now())
        await AdapterCommander(hub.dispatcher.fleet).execute(command)
    assert drone.commands == ["pause", "resume", "return", "land"]


async def test_lost_vehicle_is_abandoned_and_parcel_replanned(setup, world) -> None:  # type: ignore[no-untyped-def]
    """A vehicle that goes silent mid-mission is given up on request; its parcel becomes dispatchable again."""
    database, hub, drone, _recipients, _clock = setup
    drone.silent = True
    order_id = _create(database, world, "ref-lost")
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await asyncio.sleep(0.2)
    assert _order(database, order_id).status is OrderStatus.OUT_FOR_DELIVERY
    assert hub.missions.abandon("drone-1", "link lost")
    assert not hub.missions.abandon("drone-1", "link lost")  # once
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.READY


def _cold(database: Database, world, reference: str, minutes: float) -> str:  # type: ignore[no-untyped-def]
    order_id = _create(database, world, reference)
    with database.transaction() as session:
        from fleet_manager.store.models import OrderRow

        row = session.get(OrderRow, order_id)
        assert row is not None
        row.handling = {"cold_chain": {"min_temp_c": 2.0, "max_temp_c": 8.0,
                                       "max_minutes_out_of_conditioning": minutes}}
    return order_id


async def test_cold_chain_order_refused_with_the_reason_then_flown_in_an_insulated_box(  # type: ignore[no-untyped-def]
    setup, world
) -> None:
    """The only drone has no insulated box: the cold parcel is not flown, the order says why and the backend is
    told (order.unplannable); once the drone's profile has one, it is delivered within its 20 minutes."""
    database, hub, _drone, _recipients, clock = setup
    order_id = _cold(database, world, "ref-cold", minutes=20.0)
    await hub.dispatcher.start()
    assert await hub.dispatcher.cycle() == []
    order = _order(database, order_id)
    assert order.status is OrderStatus.READY
    assert order.unplannable_reason == "cold chain: no vehicle in this fleet has an insulated box for it"
    with database.read() as session:
        from fleet_manager.store import outbox

        told = [e for e in outbox.events_after(session, after_seq=0, hub_ids=[HUB])
                if e.type.endswith("order.unplannable")]
    assert [e.data["reason"] for e in told] == [order.unplannable_reason]
    vehicle = next(iter(hub.dispatcher.fleet.vehicles(HUB)))
    vehicle.profile = vehicle.profile.with_changes(cold_chain=True)
    hub.planner.invalidate()
    sorties = await hub.dispatcher.cycle()
    assert [s.order_ids for s in sorties] == [(order_id,)]
    assert sorties[0].eta_s[order_id] - clock.now() <= 20 * 60
    await _settle(hub)
    delivered = _order(database, order_id)
    assert delivered.status is OrderStatus.DELIVERED and delivered.unplannable_reason == ""


async def test_a_parcel_only_a_busy_vehicle_can_carry_waits_for_it_without_telling_the_backend_it_is_refused(  # type: ignore[no-untyped-def]
    setup, world
) -> None:
    """drone-1 has the insulated box and is out on a trip; drone-2, idle, has none. The cold parcel waits with a
    transient reason naming the busy drone, and no order.unplannable goes to the backend (it is not refused: the
    fleet can carry it); once drone-1 is back it flies."""
    database, hub, drone, _recipients, _clock = setup
    insulated = next(iter(hub.dispatcher.fleet.vehicles(HUB)))
    insulated.profile = insulated.profile.with_changes(cold_chain=True)
    plain = FakeVehicle("drone-2", VehicleKind.DRONE, world.hub.latitude_deg, world.hub.longitude_deg)
    hub.dispatcher.fleet.add(HUB, plain, VehicleProfile(max_payload_kg=2.5, battery_wh=500.0, speed_m_s=12.0,
                                                        cruise_altitude_m=60.0, reserve_pct=25.0),
                             home_latitude_deg=world.hub.latitude_deg, home_longitude_deg=world.hub.longitude_deg)
    order_id = _cold(database, world, "ref-cold-busy", minutes=20.0)
    await hub.dispatcher.start()
    hub.dispatcher.missions.riding.add("drone-1")  # out on a trip
    assert await hub.dispatcher.cycle() == []
    reason = _order(database, order_id).unplannable_reason
    assert reason.startswith("left out while drone-1 is out: cold chain"), reason
    with database.read() as session:
        from fleet_manager.store import outbox

        assert not [e for e in outbox.events_after(session, after_seq=0, hub_ids=[HUB])
                    if e.type.endswith("order.unplannable")]
    hub.dispatcher.missions.riding.discard("drone-1")  # back
    sorties = await hub.dispatcher.cycle()
    assert [(s.vehicle_id, s.order_ids) for s in sorties] == [("drone-1", (order_id,))]
    await _settle(hub)
    assert _order(database, order_id).status is OrderStatus.DELIVERED
    assert drone.missions and not plain.missions


async def test_departure_records_the_leg_facts_learning_reads(setup, world) -> None:  # type: ignore[no-untyped-def]
    """The mission runner writes each parcel's planned leg (duration, route length, stop, bearing) into the
    out_for_delivery event, and the fixed ETA window (no model) into the order."""
    database, hub, _drone, _recipients, _clock = setup
    order_id = _create(database, world, "ref-facts")
    await hub.dispatcher.start()
    assert await hub.dispatcher.cycle()
    for _ in range(250):  # the runner writes the departure within a few event-loop turns
        with database.read() as session:
            history = order_queries.list_order_events(session, order_id=order_id)
        if any(e.to_status is OrderStatus.OUT_FOR_DELIVERY for e in history):
            break
        await asyncio.sleep(0.02)
    depart = next((e for e in history if e.to_status is OrderStatus.OUT_FOR_DELIVERY), None)
    assert depart is not None, "the vehicle never departed within 5 s"
    assert depart.details["planned_duration_s"] > 0 and depart.details["planned_distance_m"] > 0
    assert depart.details["stop_index"] == 0 and 0 <= depart.details["bearing_deg"] < 360
    eta = _order(database, order_id).eta
    assert eta["source"] == "fixed" and eta["expected_s"] == depart.details["eta_s"]
    await _settle(hub)


async def test_parcel_forecast_to_clear_soon_is_planned_in_but_never_started(setup, world) -> None:  # type: ignore[no-untyped-def]
    """With customs forecasts, a parcel due to clear in 2 min is in the plan and its drone waits for it; once
    cleared it flies. A forecast long overdue is not trusted: that parcel stays out of the plan."""
    database, hub, drone, _recipients, clock = setup
    hub.dispatcher.customs = CustomsForecaster(database=database, clock=clock, hub_id=HUB,
                                               config=CustomsForecastConfig(None))
    soon = _create(database, world, "ref-soon", cleared=False)
    stale = _create(database, world, "ref-stale", cleared=False)
    now_s = clock.now()
    with database.transaction() as session:
        for order_id, cleared_at_s in ((soon, now_s + 120.0), (stale, now_s - 3600.0)):
            order_store.set_customs_forecast(session, order_id=order_id, forecast={
                "expected_clearance_s": 600.0, "expected_cleared_at_s": cleared_at_s, "held_long": False})
    await hub.dispatcher.start()
    assert await hub.dispatcher.cycle() == []
    plan = hub.planner.plan_in_force()
    assert plan is not None and soon in plan.plan.planned_order_ids and stale not in plan.plan.planned_order_ids
    assert drone.missions == [] and _order(database, soon).status is OrderStatus.AWAITING_CUSTOMS
    assert _order(database, soon).unplannable_reason == ""
    with database.transaction() as session:
        order_store.mark_customs_cleared(session, order_id=soon, actor="customs", at_s=clock.now())
    sorties = await hub.dispatcher.cycle()
    assert [s.order_ids for s in sorties] == [(soon,)]
    await _settle(hub)


async def test_cancelling_a_loaded_order_recalls_its_vehicle(setup, world) -> None:  # type: ignore[no-untyped-def]
    """Cancelled while the drone takes it on board: the drone is recalled and the parcel not dropped at the door."""
    database, hub, drone, _recipients, clock = setup
    order_id = _create(database, world, "ref-cancel-loaded")
    entered, gate = asyncio.Event(), asyncio.Event()
    start = drone.start_mission

    async def slow_start(mission: Mission, *, geofence: Geofence | None = None) -> None:
        entered.set()
        await gate.wait()  # the autopilot is still taking the upload
        await start(mission, geofence=geofence)

    drone.start_mission = slow_start  # type: ignore[method-assign]
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await asyncio.wait_for(entered.wait(), 10.0)
    assert _order(database, order_id).status is OrderStatus.LOADED
    with database.transaction() as session:
        order_store.cancel_order(session, order_id=order_id, actor="backend", reason="changed mind", at_s=clock.now())
    gate.set()
    await _settle(hub)
    assert "return" in drone.commands
    assert _order(database, order_id).status is OrderStatus.CANCELLED
    with database.read() as session:
        mission = fleet_store.list_missions(session, hub_ids=[HUB])[0]
    assert "cancelled while loaded: vehicle recalled" in mission.details["recall"], mission.details


async def test_an_order_cancelled_before_the_vehicle_starts_keeps_the_vehicle_home(setup, world) -> None:  # type: ignore[no-untyped-def]
    """Cancelled between loading and the start: the mission is not started and is settled with the reason."""
    database, hub, drone, _recipients, clock = setup
    order_id = _create(database, world, "ref-cancel-early")
    load = hub.lifecycle.load

    async def load_then_cancel(**kwargs: object) -> list[str]:
        loaded = await load(**kwargs)  # type: ignore[arg-type]
        with database.transaction() as session:
            order_store.cancel_order(session, order_id=order_id, actor="backend", reason="", at_s=clock.now())
        return loaded

    hub.lifecycle.load = load_then_cancel  # type: ignore[method-assign]
    await hub.dispatcher.start()
    await hub.dispatcher.cycle()
    await _settle(hub)
    assert drone.missions == []
    with database.read() as session:
        mission = fleet_store.list_missions(session, hub_ids=[HUB])[0]
    assert mission.status is fleet_store.MissionStatus.CANCELED
    assert "cancelled before departure" in mission.details["reason"]
