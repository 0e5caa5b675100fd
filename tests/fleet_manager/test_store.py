"""The store on SQLite (WAL) and PostgreSQL: migrations, order lifecycle with audit and outbox, queries."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from fleet_manager.adapters.base import VehicleKind
from fleet_manager.config import Settings
from fleet_manager.domain import Address, Conflict, IdempotencyMismatch, IllegalTransition, NotFound, Recipient
from fleet_manager.domain.orders import DeliveryMode, OrderStatus
from fleet_manager.store import fleet, lockers, order_queries, orders, outbox, zones
from fleet_manager.store.db import Database
from fleet_manager.store.models import Base, OrderEventRow, OutboxRow
from mission_planner.airspace import AirspaceError
from mission_planner.geodesy import LocalFrame

S = OrderStatus
T0 = 1_790_000_000.0


def _new(hub_id: str, *, cleared: bool = False, door: bool = False) -> orders.NewOrder:
    return orders.NewOrder(
        hub_id=hub_id,
        recipient=Recipient("Aino Virtanen", "+358401234567"),
        destination=Address(60.1699, 24.9384, "Mannerheimintie 1", "Helsinki", "00100"),
        weight_kg=1.5,
        customs_cleared=cleared,
        reference="EST-1",
        allow_leave_at_door=door,
    )


def _create(db: Database, hub_id: str, **kwargs: bool) -> str:
    with db.transaction() as session:
        order, created = orders.create_order(session, new=_new(hub_id, **kwargs), actor="backend:test", at_s=T0)
    assert created
    return order.order_id


def _move(db: Database, order_id: str, status: OrderStatus, at_s: float, **kwargs: object) -> None:
    with db.transaction() as session:
        orders.transition_order(
            session,
            order_id=order_id,
            to_status=status,
            actor="dispatcher",
            reason=f"to {status.value}",
            at_s=at_s,
            **kwargs,  # type: ignore[arg-type]
        )


def test_migrations_create_exactly_the_models(database: Database) -> None:
    """Alembic head and the SQLAlchemy models agree (no autogenerate diff)."""
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    database.migrate()  # idempotent


def test_sqlite_default_is_a_wal_file_under_var(tmp_path: object) -> None:
    """The default URL is a SQLite file under var/, and the journal is WAL."""
    assert Settings().database_url.endswith("var/finalmile.db")
    db = Database(f"sqlite:///{tmp_path}/x.db")
    with db.read() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    db.dispose()


def test_created_order_waits_for_customs_with_audit_and_outbox(database: Database, hub_id: str) -> None:
    """A new uncleared order is awaiting_customs; each change has an audit row and an outbox event of the same id."""
    order_id = _create(database, hub_id)
    with database.read() as session:
        order = orders.get_order(session, order_id=order_id)
        events = order_queries.list_order_events(session, order_id=order_id)
        outbox_ids = set(session.scalars(select(OutboxRow.event_id).where(OutboxRow.subject == f"orders/{order_id}")))
        assert order_queries.list_dispatchable_orders(session, hub_id=hub_id) == []
    assert order.status is S.AWAITING_CUSTOMS and not order.customs_cleared
    assert [(e.from_status, e.to_status) for e in events] == [(None, S.RECEIVED), (S.RECEIVED, S.AWAITING_CUSTOMS)]
    assert all(e.at_s == T0 and e.actor and e.reason for e in events)
    assert {e.event_id for e in events} <= outbox_ids


def test_customs_clearance_makes_it_dispatchable_once(database: Database, hub_id: str) -> None:
    """Clearing customs moves awaiting_customs → ready; repeating it is a no-op."""
    order_id = _create(database, hub_id)
    for _ in range(2):
        with database.transaction() as session:
            order = orders.mark_customs_cleared(session, order_id=order_id, actor="backend:x", at_s=T0 + 5)
    assert order.status is S.READY
    with database.read() as session:
        assert [o.order_id for o in order_queries.list_dispatchable_orders(session, hub_id=hub_id)] == [order_id]
        assert len(order_queries.list_order_events(session, order_id=order_id)) == 3


def test_uncleared_order_cannot_be_planned(database: Database, hub_id: str) -> None:
    """Trying to plan a parcel still in customs is refused and changes nothing."""
    order_id = _create(database, hub_id)
    with pytest.raises(IllegalTransition):
        _move(database, order_id, S.PLANNED, T0 + 1)
    with database.read() as session:
        assert orders.get_order(session, order_id=order_id).status is S.AWAITING_CUSTOMS
        assert len(order_queries.list_order_events(session, order_id=order_id)) == 2


def test_full_delivery_is_audited_with_time_actor_reason(database: Database, hub_id: str) -> None:
    """ready → planned → assigned → loaded → out_for_delivery (van) → handed_off (drone) → delivered."""
    order_id = _create(database, hub_id, cleared=True)
    steps: list[tuple[OrderStatus, dict[str, object]]] = [
        (S.PLANNED, {}),
        (S.ASSIGNED, {"vehicle_id": "van-1", "mission_id": "m-1"}),
        (S.LOADED, {}),
        (S.OUT_FOR_DELIVERY, {"mode": DeliveryMode.VAN, "details": {"eta_s": T0 + 1800}}),
        (S.HANDED_OFF, {"mode": DeliveryMode.DRONE, "vehicle_id": "drone-3"}),
        (S.DELIVERED, {"details": {"latitude_deg": 60.17, "longitude_deg": 24.938}}),
    ]
    for index, (status, kwargs) in enumerate(steps, start=1):
        _move(database, order_id, status, T0 + 60 * index, **kwargs)
    with database.read() as session:
        order = orders.get_order(session, order_id=order_id)
        events = order_queries.list_order_events(session, order_id=order_id)
        notes = orders.list_notifications(session, order_id=order_id)
    assert order.status is S.DELIVERED and order.mode is DeliveryMode.DRONE and order.vehicle_id == "drone-3"
    assert [e.to_status for e in events][-6:] == [s for s, _ in steps]
    assert [e.at_s for e in events][-6:] == [T0 + 60 * i for i in range(1, 7)]
    assert {e.actor for e in events[-6:]} == {"dispatcher"}
    kinds = [n["kind"] for n in notes]
    assert kinds == ["out_for_delivery", "delivered"]
    assert notes[0]["payload"]["eta_earliest_s"] < T0 + 1800 < notes[0]["payload"]["eta_latest_s"]
    proof = notes[1]["payload"]["proof"]
    assert proof["vehicle_id"] == "drone-3" and proof["latitude_deg"] == 60.17 and proof["photo_id"]
    with pytest.raises(IllegalTransition):
        _move(database, order_id, S.CANCELLED, T0 + 999)


def test_idempotency_key_returns_the_first_order(database: Database, hub_id: str) -> None:
    """Same key and body → same order; same key, other body → IdempotencyMismatch."""
    key = ("backend-a", f"key-{hub_id}", "hash-1")
    with database.transaction() as session:
        first, created = orders.create_order(session, new=_new(hub_id), actor="b", at_s=T0, idempotency=key)
    with database.transaction() as session:
        again, created_again = orders.create_order(session, new=_new(hub_id), actor="b", at_s=T0 + 1, idempotency=key)
    assert created and not created_again and again.order_id == first.order_id
    with pytest.raises(IdempotencyMismatch), database.transaction() as session:
        orders.create_order(session, new=_new(hub_id), actor="b", at_s=T0, idempotency=(key[0], key[1], "other"))
    with database.read() as session:
        assert len(order_queries.list_orders(session, hub_ids=[hub_id]).orders) == 1


def test_stale_version_is_a_conflict_not_an_overwrite(database: Database, hub_id: str) -> None:
    """A writer acting on an old read is refused."""
    order_id = _create(database, hub_id, cleared=True)
    with database.read() as session:
        version = orders.get_order(session, order_id=order_id).version
    _move(database, order_id, S.PLANNED, T0 + 1)
    with pytest.raises(Conflict, match="changed"), database.transaction() as session:
        orders.transition_order(
            session,
            order_id=order_id,
            to_status=S.CANCELLED,
            actor="x",
            reason="r",
            at_s=T0 + 2,
            expected_version=version,
        )


def test_list_orders_filters_and_pages(database: Database, hub_id: str) -> None:
    """Status filter, since filter and cursor paging see every order once."""
    ids = [_create(database, hub_id, cleared=i % 2 == 0) for i in range(7)]
    with database.read() as session:
        seen, cursor = [], None
        while True:
            page = order_queries.list_orders(session, hub_ids=[hub_id], limit=3, cursor=cursor)
            seen += [o.order_id for o in page.orders]
            cursor = page.next_cursor
            if cursor is None:
                break
        ready = order_queries.list_orders(session, hub_ids=[hub_id], statuses=[S.READY]).orders
        later = order_queries.list_orders(session, hub_ids=[hub_id], since_s=T0 + 1).orders
        other_hub = order_queries.list_orders(session, hub_ids=["no-such-hub"]).orders
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    assert len(ready) == 4 and later == [] and other_hub == []


def test_recipient_not_home_goes_to_a_locker(database: Database, hub_id: str) -> None:
    """attempt_failed → diverted_to_locker (nearest, code hashed) → delivered_to_locker → picked up with the code."""
    with database.transaction() as session:
        lockers.upsert_locker(
            session,
            locker_id=f"far-{hub_id}",
            hub_id=hub_id,
            name="Far",
            address="Far st 1",
            latitude_deg=60.19,
            longitude_deg=24.99,
        )
        lockers.upsert_locker(
            session,
            locker_id=f"near-{hub_id}",
            hub_id=hub_id,
            name="Near",
            address="Kamppi 1",
            latitude_deg=60.1698,
            longitude_deg=24.9330,
        )
    order_id = _create(database, hub_id, cleared=True)
    for status in (S.PLANNED, S.ASSIGNED, S.LOADED):
        _move(database, order_id, status, T0 + 1)
    _move(database, order_id, S.OUT_FOR_DELIVERY, T0 + 2, mode=DeliveryMode.ROBOT)
    _move(database, order_id, S.ATTEMPT_FAILED, T0 + 3)
    _move(database, order_id, S.DIVERTED_TO_LOCKER, T0 + 4)
    with database.read() as session:
        order = orders.get_order(session, order_id=order_id)
        event = session.scalars(
            select(OutboxRow).where(
                OutboxRow.type == "com.finalmile.notification.diverted_to_locker",
                OutboxRow.subject == f"orders/{order_id}",
            )
        ).one()
        stored_note = orders.list_notifications(session, order_id=order_id)[-1]
        event_data = dict(event.data)
        session.expunge(event)
    sealed = event_data["pickup_code"]  # the outbox keeps the code sealed, never in plain text
    code = database.sealer.unseal(sealed, bound_to=event.event_id)
    assert code is not None and code not in sealed and sealed.startswith("sealed:v1:")
    assert order.locker_id == f"near-{hub_id}" and order.attempts == 1
    assert len(code) == 6 and code.isdigit()
    assert event_data["locker"]["address"] == "Kamppi 1"
    assert "pickup_code" not in stored_note["payload"]
    with database.read() as session:
        row = session.get(lockers.PickupCodeRow, order_id)
        assert row is not None and code not in row.code_hash
    _move(database, order_id, S.DELIVERED_TO_LOCKER, T0 + 5)
    wrong = "000000" if code != "000000" else "111111"
    with database.transaction() as session:
        check, _ = orders.pickup_at_locker(
            session, locker_id=order.locker_id, order_id=order_id, code=wrong, at_s=T0 + 6, max_wrong=5
        )
    assert not check.accepted and check.attempts_left == 4
    with database.transaction() as session:
        check, picked = orders.pickup_at_locker(
            session, locker_id=order.locker_id, order_id=order_id, code=code, at_s=T0 + 7, max_wrong=5
        )
    assert check.accepted and picked is not None and picked.status is S.PICKED_UP


def test_zones_are_validated_stored_and_loaded(database: Database, hub_id: str) -> None:
    """A valid zone round-trips into an Airspace; a bad one raises AirspaceError naming it."""
    frame = LocalFrame.at(60.1715, 24.9381)
    ring = [[24.940, 60.170], [24.944, 60.170], [24.944, 60.172], [24.940, 60.172], [24.940, 60.170]]
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"id": "tfr-1", "kind": "no_fly", "upper_m": 120},
    }
    with database.transaction() as session:
        zones.create_zone(session, hub_id=hub_id, feature=feature, frame=frame, actor="op", at_s=T0)
    with pytest.raises(Conflict), database.transaction() as session:
        zones.create_zone(session, hub_id=hub_id, feature=feature, frame=frame, actor="op", at_s=T0)
    bad = {**feature, "properties": {"id": "bowtie", "kind": "no_fly", "upper_m": 120}}
    bad["geometry"] = {
        "type": "Polygon",
        "coordinates": [[[24.94, 60.17], [24.944, 60.172], [24.944, 60.17], [24.94, 60.172], [24.94, 60.17]]],
    }
    with pytest.raises(AirspaceError, match="bowtie"), database.transaction() as session:
        zones.create_zone(session, hub_id=hub_id, feature=bad, frame=frame, actor="op", at_s=T0)
    with database.read() as session:
        airspace = zones.load_airspace(session, hub_id=hub_id, frame=frame)
    assert [z.zone_id for z in airspace.zones] == ["tfr-1"]
    with database.transaction() as session:
        zones.delete_zone(session, hub_id=hub_id, zone_id="tfr-1", actor="op", at_s=T0)
    with pytest.raises(NotFound), database.transaction() as session:
        zones.delete_zone(session, hub_id=hub_id, zone_id="tfr-1", actor="op", at_s=T0)


def test_vehicles_commands_missions_and_restart_requeue(database: Database, hub_id: str) -> None:
    """Vehicle state keeps the newest stamp; commands queue; orphaned planned orders go back to ready."""
    vid = f"drone-{hub_id}"
    with database.transaction() as session:
        fleet.upsert_vehicle(session, vehicle_id=vid, hub_id=hub_id, kind=VehicleKind.DRONE, at_s=T0)
        fleet.update_vehicle_state(session, vehicle_id=vid, state={"battery_remaining_pct": 80}, stamp_s=T0 + 10)
        fleet.update_vehicle_state(session, vehicle_id=vid, state={"battery_remaining_pct": 99}, stamp_s=T0 + 5)
        command = fleet.request_command(
            session, vehicle_id=vid, command=fleet.CommandKind.PAUSE, requested_by="op", reason="test", at_s=T0
        )
        fleet.create_mission(
            session,
            mission_id=f"m-{hub_id}",
            hub_id=hub_id,
            vehicle_id=vid,
            order_ids=[],
            steps=[{"kind": "takeoff"}],
            at_s=T0,
        )
        fleet.update_mission(session, mission_id=f"m-{hub_id}", status=fleet.MissionStatus.RUNNING, at_s=T0 + 1)
    with database.read() as session:
        assert fleet.get_vehicle(session, vehicle_id=vid).state == {"battery_remaining_pct": 80}
        queued = fleet.list_commands(session, hub_ids=[hub_id], statuses=[fleet.CommandStatus.QUEUED])
        assert [c.command_id for c in queued] == [command.command_id]
        assert fleet.list_missions(session, hub_ids=[hub_id])[0].status is fleet.MissionStatus.RUNNING
    live = _create(database, hub_id, cleared=True)
    orphan = _create(database, hub_id, cleared=True)
    _move(database, live, S.PLANNED, T0 + 2, mission_id=f"m-{hub_id}")
    _move(database, orphan, S.PLANNED, T0 + 2)
    with database.transaction() as session:
        requeued = orders.requeue_orphaned_orders(session, hub_id=hub_id, actor="recovery", at_s=T0 + 3)
    assert requeued == [orphan]


def test_dead_letter_and_retry_bookkeeping(database: Database, hub_id: str) -> None:
    """Attempts are logged; a dead-lettered event can be queued again."""
    with database.transaction() as session:
        event_id = outbox.append_event(session, hub_id=hub_id, event_type="test.ping", subject="x", data={}, at_s=T0)
    with database.transaction() as session:
        outbox.record_attempt(
            session, event_id=event_id, at_s=T0, status_code=500, error="HTTP 500", delivered=False, next_attempt_s=None
        )
    with database.read() as session:
        assert [e.event_id for e in outbox.list_dead_letters(session, hub_ids=[hub_id])] == [event_id]
        assert outbox.due_webhook_events(session, hub_ids=[hub_id], now_s=T0 + 100) == []
    with database.transaction() as session:
        outbox.retry_dead_letter(session, event_id=event_id, hub_ids=[hub_id], at_s=T0 + 1)
    with database.read() as session:
        assert [e.event_id for e in outbox.due_webhook_events(session, hub_ids=[hub_id], now_s=T0 + 1)] == [event_id]
        assert outbox.list_attempts(session, event_id=event_id)[0][2] == 500
        assert (
            session.scalar(select(func.count()).select_from(OrderEventRow).where(OrderEventRow.hub_id == hub_id)) == 0
        )
