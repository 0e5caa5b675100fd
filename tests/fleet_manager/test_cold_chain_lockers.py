"""A failed cold-chain attempt never goes to a plain locker: a conditioned one, or the hub's cold store (SQL on
SQLite and PostgreSQL, through the order lifecycle that follows failed attempts up)."""

from __future__ import annotations

import pytest

from fleet_manager.domain.errors import Conflict
from fleet_manager.domain.orders import Address, DeliveryMode, Order, OrderStatus, Recipient
from fleet_manager.handover import AlwaysPresent
from fleet_manager.order_lifecycle import AttemptPolicy, OrderLifecycle
from fleet_manager.store import lockers, orders
from fleet_manager.store.db import Database
from mission_planner.clock import Clock

T0 = 1_790_000_000.0
S = OrderStatus
COLD = {"cold_chain": {"min_temp_c": 2.0, "max_temp_c": 8.0, "max_minutes_out_of_conditioning": 60.0}}
DOOR = (60.1698, 24.9330)


def _lockers(database: Database, hub_id: str, *, conditioned: bool) -> None:
    """A plain locker at the door and (optionally) a conditioned one 2 km away."""
    with database.transaction() as session:
        lockers.upsert_locker(session, locker_id=f"plain-{hub_id}", hub_id=hub_id, name="Plain", address="Kamppi 1",
                              latitude_deg=DOOR[0], longitude_deg=DOOR[1])
        if conditioned:
            lockers.upsert_locker(session, locker_id=f"chilled-{hub_id}", hub_id=hub_id, name="Chilled",
                                  address="Far st 1", latitude_deg=60.1850, longitude_deg=24.9600, conditioned=True)


def _failed_attempt(database: Database, hub_id: str, handling: dict[str, object]) -> str:
    """A parcel out on a robot whose recipient was not at home."""
    new = orders.NewOrder(hub_id=hub_id, recipient=Recipient("Aino"), destination=Address(*DOOR), weight_kg=1.0,
                          customs_cleared=True, handling=handling)
    with database.transaction() as session:
        order, _created = orders.create_order(session, new=new, actor="backend:test", at_s=T0)
    steps = [(S.PLANNED, {}), (S.ASSIGNED, {}), (S.LOADED, {}), (S.OUT_FOR_DELIVERY, {"mode": DeliveryMode.ROBOT}),
             (S.ATTEMPT_FAILED, {})]
    for number, (status, extra) in enumerate(steps):
        with database.transaction() as session:
            orders.transition_order(session, order_id=order.order_id, to_status=status, actor="dispatcher",
                                    reason=status.value, at_s=T0 + number, **extra)  # type: ignore[arg-type]
    return order.order_id


async def _follow_up(database: Database, hub_id: str) -> None:
    lifecycle = OrderLifecycle(database=database, clock=Clock(start_s=T0), hub_id=hub_id, recipients=AlwaysPresent(),
                               policy=AttemptPolicy(max_attempts=1, answer_grace_s=60.0))
    await lifecycle.follow_up_failed_attempts(busy_vehicle_ids=frozenset(), now_s=T0 + 3600)


def _order(database: Database, order_id: str) -> Order:
    with database.read() as session:
        return orders.get_order(session, order_id=order_id)


async def test_cold_chain_parcel_goes_to_the_conditioned_locker_not_the_nearer_plain_one(
    database: Database, hub_id: str
) -> None:
    """The plain locker is at the door, the conditioned one 2 km off: the cold parcel goes to the conditioned one,
    a plain parcel to the plain one."""
    _lockers(database, hub_id, conditioned=True)
    cold = _failed_attempt(database, hub_id, COLD)
    plain = _failed_attempt(database, hub_id, {})
    await _follow_up(database, hub_id)
    assert _order(database, cold).status is S.DIVERTED_TO_LOCKER
    assert _order(database, cold).locker_id == f"chilled-{hub_id}"
    assert _order(database, plain).locker_id == f"plain-{hub_id}"


async def test_without_a_conditioned_locker_the_cold_parcel_stays_in_the_hubs_cold_store(
    database: Database, hub_id: str
) -> None:
    """Only a plain locker: the cold parcel is returned to the hub (never the plain locker), with the reason."""
    _lockers(database, hub_id, conditioned=False)
    cold = _failed_attempt(database, hub_id, COLD)
    await _follow_up(database, hub_id)
    order = _order(database, cold)
    assert order.status is S.RETURNED_TO_HUB and order.locker_id is None
    with database.read() as session:
        from fleet_manager.store import order_queries

        last = order_queries.list_order_events(session, order_id=cold)[-1]
    assert "cold-chain parcel kept in the hub's cold store" in last.reason


def test_recipient_cannot_send_a_cold_parcel_to_a_plain_locker(database: Database, hub_id: str) -> None:
    """Asking for the plain locker by id is refused (409 at the API), naming the locker."""
    _lockers(database, hub_id, conditioned=True)
    cold = _failed_attempt(database, hub_id, COLD)
    with pytest.raises(Conflict, match=f"locker 'plain-{hub_id}' is not conditioned"), \
            database.transaction() as session:
        orders.redirect_to_locker(session, order_id=cold, actor="backend:test", at_s=T0 + 10,
                                  locker_id=f"plain-{hub_id}")
    with database.transaction() as session:
        chosen = orders.redirect_to_locker(session, order_id=cold, actor="backend:test", at_s=T0 + 11)
    assert chosen.locker_id == f"chilled-{hub_id}"


def test_unplannable_reason_is_kept_told_once_and_cleared(database: Database, hub_id: str) -> None:
    """The planner's reason lands on the order with one order.unplannable event; a transient one is not told;
    planned later, the reason is cleared."""
    from fleet_manager.store import outbox, planning_notes

    new = orders.NewOrder(hub_id=hub_id, recipient=Recipient("Aino"), destination=Address(*DOOR), weight_kg=1.0,
                          customs_cleared=True, handling=COLD)
    with database.transaction() as session:
        order, _created = orders.create_order(session, new=new, actor="backend:test", at_s=T0)
    why = "cold chain: no vehicle in this fleet has an insulated box for it"
    for step in range(2):  # the same reason twice: told once
        with database.transaction() as session:
            refused = planning_notes.record_unplannable(session, hub_id=hub_id, order_ids=[order.order_id],
                                                        reasons={order.order_id: why}, at_s=T0 + 10 + step)
        assert refused == ([order.order_id] if step == 0 else [])
    assert _order(database, order.order_id).unplannable_reason == why
    with database.transaction() as session:
        planning_notes.record_unplannable(session, hub_id=hub_id, order_ids=[order.order_id],
                                          reasons={order.order_id: "left out: no feasible or worthwhile slot"},
                                          at_s=T0 + 20)
        planning_notes.record_unplannable(session, hub_id=hub_id, order_ids=[order.order_id], reasons={},
                                          at_s=T0 + 30)
    assert _order(database, order.order_id).unplannable_reason == ""
    with database.read() as session:
        told = [e for e in outbox.events_after(session, after_seq=0, hub_ids=[hub_id])
                if e.type.endswith("order.unplannable")]
    assert [e.data["reason"] for e in told] == [why]
