"""The order state machine: every legal transition is accepted, every other pair refused."""

from __future__ import annotations

import itertools

import pytest

from fleet_manager.domain import IllegalTransition, OrderStatus, check_transition
from fleet_manager.domain.orders import DeliveryMode
from fleet_manager.domain.state_machine import CANCELLABLE, CLEARED_ONLY, DISPATCHABLE, TERMINAL, TRANSITIONS

S = OrderStatus
LEGAL = {(t.source, t.target) for t in TRANSITIONS}
ILLEGAL = [pair for pair in itertools.product(S, S) if pair not in LEGAL]


def _mode_for(target: OrderStatus) -> DeliveryMode:
    return DeliveryMode.ROBOT if target is S.HANDED_OFF else DeliveryMode.DRONE


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL), ids=lambda s: s.value)
def test_every_legal_transition_is_accepted(source: OrderStatus, target: OrderStatus) -> None:
    """Each edge of the table passes for a cleared parcel with a delivery mode."""
    edge = check_transition("o1", source, target, customs_cleared=True, mode=_mode_for(target))
    assert (edge.source, edge.target) == (source, target)
    assert edge.why


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=lambda s: s.value)
def test_every_illegal_transition_is_refused(source: OrderStatus, target: OrderStatus) -> None:
    """Any pair not in the table raises IllegalTransition naming both statuses."""
    with pytest.raises(IllegalTransition) as info:
        check_transition("o1", source, target, customs_cleared=True, mode=DeliveryMode.DRONE)
    assert f"{source.value} -> {target.value}" in str(info.value)


@pytest.mark.parametrize("edge", [t for t in TRANSITIONS if t.target in CLEARED_ONLY], ids=lambda t: t.target.value)
def test_uncleared_parcel_never_gets_past_customs(edge: object) -> None:
    """Without customs clearance no edge into a dispatchable or later status is allowed."""
    assert hasattr(edge, "source")
    with pytest.raises(IllegalTransition, match="customs"):
        check_transition("o1", edge.source, edge.target, customs_cleared=False, mode=DeliveryMode.DRONE)  # type: ignore[attr-defined]


def test_dispatchable_statuses_all_need_clearance() -> None:
    """The dispatcher's statuses are reachable only after clearance."""
    assert DISPATCHABLE <= CLEARED_ONLY


def test_out_for_delivery_needs_a_mode_and_handoff_leaves_the_van() -> None:
    """A parcel going out has a mode; a hand-off goes to a drone or robot, never to a van."""
    with pytest.raises(IllegalTransition, match="mode"):
        check_transition("o1", S.LOADED, S.OUT_FOR_DELIVERY, customs_cleared=True, mode=None)
    with pytest.raises(IllegalTransition, match="van"):
        check_transition("o1", S.OUT_FOR_DELIVERY, S.HANDED_OFF, customs_cleared=True, mode=DeliveryMode.VAN)


def test_terminal_and_cancellable_sets() -> None:
    """Delivered, picked up and cancelled end the lifecycle; nothing on a vehicle can be cancelled."""
    assert {S.DELIVERED, S.PICKED_UP, S.CANCELLED} == TERMINAL
    assert not CANCELLABLE & {S.OUT_FOR_DELIVERY, S.HANDED_OFF, S.DELIVERED_TO_LOCKER}
    assert {S.RECEIVED, S.AWAITING_CUSTOMS, S.READY, S.PLANNED, S.ASSIGNED} <= CANCELLABLE


def test_every_status_is_reachable_from_received() -> None:
    """The table has no orphan status."""
    reached, frontier = {S.RECEIVED}, [S.RECEIVED]
    while frontier:
        source = frontier.pop()
        for edge in TRANSITIONS:
            if edge.source is source and edge.target not in reached:
                reached.add(edge.target)
                frontier.append(edge.target)
    assert reached == set(S)
